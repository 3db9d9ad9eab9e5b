//! One whole run, as the library does it: [`reconcile`] is prepare →
//! judge approvals → plan ([`engine::prepare`]) → apply → break-glass
//! review issues → removals → the trail of evidence notes →
//! notifications; [`expire`] is the removals alone. The command line only
//! parses its arguments into a [`Setup`], calls one of them and renders
//! what it returns.

pub mod render;

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::engine::{self, Applied, EngineError, Prepare, Prepared};
use crate::git::{CommitId, GitError, Repo, notes};
use crate::notify::Delivery;
use crate::removal::Removal;
use crate::rule::Violation;
use crate::signing::Signer;

/// Where removal commits are made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RemovalMode {
    /// In the local repository.
    Git,
    /// Through the GitHub API, fast-forwarding the branch.
    Api,
    /// Through the GitHub API, in a pull request with auto-merge.
    Pr,
}

/// How a reconcile run reaches the world: what the command line read from
/// its arguments and the environment.
#[derive(Debug, Clone)]
pub struct Setup {
    /// What the engine reads and how (the branch, the time, the shard).
    pub options: engine::Options,
    /// Plan and report, but change nothing in the cloud or in git.
    pub dry_run: bool,
    /// The remote the branch is fetched from first, and the removals and
    /// notes pushed to.
    pub push: Option<String>,
    /// Where the removal commits go.
    pub removal: RemovalMode,
}

/// One grant file the run removed, or would have.
#[derive(Debug, Clone, Serialize)]
pub struct RemovalRow {
    /// The grant id (`role/name`).
    pub grant: String,
    /// Its file.
    pub path: String,
    /// The removal commit; `None` when the file was already gone or changed
    /// on the branch, or on a dry run.
    pub commit: Option<String>,
}

/// What a reconcile run did.
#[derive(Debug)]
pub struct Outcome {
    /// The run as prepared: the policy, the plan, the approvals.
    pub prepared: Box<Prepared>,
    /// Each change applied, in order, and how it went.
    pub applied: Vec<Applied>,
    /// Break-glass review issues by grant id.
    pub reviews: BTreeMap<crate::grant::GrantId, String>,
    /// The files of ended grants.
    pub removals: Vec<RemovalRow>,
    /// The pull request the removals are in (`--removal pr`).
    pub removal_pull_request: Option<String>,
    /// Each notification sent or attempted.
    pub deliveries: Vec<Delivery>,
    /// What went wrong without failing the run, one line each.
    pub warnings: Vec<String>,
}

/// A reconcile run's result.
#[derive(Debug)]
pub enum Run {
    /// The run happened.
    Done(Box<Outcome>),
    /// gitgrant.yaml is invalid at `tip`: nothing was planned or changed.
    InvalidPolicy {
        /// The commit read.
        tip: CommitId,
        /// Why the policy is invalid.
        violations: Vec<Violation>,
    },
}

/// The branch a run works on, and the remote it is fetched from and pushed
/// to, if any.
#[derive(Debug, Clone, Copy)]
struct Branch<'a> {
    name: &'a str,
    push: Option<&'a str>,
}

impl Branch<'_> {
    /// The branch's tip, fetched from the remote first when there is one.
    fn base(self, repo: &Repo) -> Result<CommitId, GitError> {
        match self.push {
            Some(remote) => repo.fetch(remote, self.name),
            None => repo.branch_tip(self.name),
        }
    }
}

/// Prepares a run at the branch's tip and changes nothing: what `gitgrant
/// plan` shows.
pub async fn plan(repo: &Repo, options: &engine::Options) -> Result<Run, EngineError> {
    let tip = repo.branch_tip(&options.branch)?;
    let signing = engine::signing(repo, tip, options.now)?;
    Ok(match engine::prepare(repo, tip, options, signing).await? {
        Prepare::Ready(prepared) => Run::Done(Box::new(Outcome {
            prepared,
            applied: Vec::new(),
            reviews: BTreeMap::new(),
            removals: Vec::new(),
            removal_pull_request: None,
            deliveries: Vec::new(),
            warnings: Vec::new(),
        })),
        Prepare::InvalidPolicy(violations) => Run::InvalidPolicy { tip, violations },
    })
}

/// One reconcile run: make the cloud match the branch, remove the files of
/// ended grants, record the trail and tell people.
pub async fn reconcile(repo: &Repo, setup: &Setup) -> Result<Run, EngineError> {
    let branch = &setup.options.branch;
    let on = Branch {
        name: branch,
        push: setup.push.as_deref(),
    };
    let base = on.base(repo)?;
    let mut warnings = Vec::new();
    // The evidence notes of earlier runs: what they verified and which
    // break-glass review issues exist, so that nothing is asked twice.
    let notes_remote = setup.push.clone().or_else(|| {
        (setup.removal != RemovalMode::Git && repo.has_remote("origin")).then(|| "origin".into())
    });
    let now = setup.options.now;
    let signing = engine::signing(repo, base, now)?;
    if let Some(remote) = &notes_remote
        && let Err(e) = repo.fetch_notes(remote, now, signing.keys())
    {
        warnings.push(format!(
            "the evidence notes could not be fetched from {remote}: {e}"
        ));
    }
    let p = match engine::prepare(repo, base, &setup.options, signing).await? {
        Prepare::Ready(p) => p,
        Prepare::InvalidPolicy(violations) => {
            return Ok(Run::InvalidPolicy {
                tip: base,
                violations,
            });
        }
    };

    // Apply: one change at a time, each on its own.
    let applied = if setup.dry_run {
        Vec::new()
    } else {
        engine::apply(&p).await
    };
    // Break-glass grants: each active one has a review issue, opened once
    // and then recorded in its evidence note.
    let mut reviews = engine::recorded_reviews(repo, &p);
    let unreviewed: Vec<&engine::BreakGlass> = p
        .break_glass
        .iter()
        .filter(|b| !reviews.contains_key(&b.grant))
        .collect();
    if unreviewed.is_empty() || setup.dry_run {
    } else if let Some(gh) = &p.github {
        reviews.extend(engine::review_issues(gh, &p, &unreviewed).await?);
    } else {
        warnings.push(format!(
            "{} break-glass grant(s) are active and no GITHUB_TOKEN was given: no review issue was opened",
            unreviewed.len()
        ));
    }
    // What this run verified and applied, as evidence notes on the landing
    // commits (written here, then pushed with the removals).
    let records = crate::trail::records(&p, &applied, &reviews, &crate::trail::run_name());
    let mut changed = BTreeMap::new();
    if !setup.dry_run {
        changed = repo.write_notes(notes::batch(&records, &[], p.now), p.now, p.signing.keys())?;
    }
    // Remove the files of ended grants — those of providers this run read,
    // and whose revocation did not fail.
    let due = engine::removals_due(repo, base, &p, &applied, &reviews)?;
    let mut removal_pull_request = None;
    let made: Vec<(Removal, String)> = if setup.dry_run || due.is_empty() {
        Vec::new()
    } else if setup.removal != RemovalMode::Git {
        let gh = p.github.as_ref().ok_or(EngineError::RemovalNeedsGitHub)?;
        let (made, pr) = engine::api_removals(
            gh,
            branch,
            setup.removal == RemovalMode::Pr,
            &due,
            p.signing.signer.as_ref(),
            p.now,
        )
        .await?;
        removal_pull_request = pr;
        made
    } else {
        let (_, made) = remove_in_git(repo, on, base, &due, p.now, p.signing.signer.as_ref())?;
        made.into_iter().map(|(r, c)| (r, c.to_string())).collect()
    };
    // Tell people, once each: what was applied, ends soon, was revoked,
    // refused, repaired or failed. A channel that fails never fails the run.
    let mut deliveries = Vec::new();
    if !setup.dry_run && !p.policy.notify.is_empty() {
        let notices = crate::notify::notices(&p, &applied, &due);
        let anchors: Vec<CommitId> = notices.iter().map(|n| n.anchor).collect();
        let before = crate::notify::already_sent(repo, &anchors, p.signing.keys());
        let run = crate::trail::run_name();
        let mut sent = Vec::new();
        for (d, anchor) in crate::notify::send(&p, &notices, &before, &run).await {
            if let Some(a) = anchor {
                sent.push((a, format!("{}:{}", d.channel, d.id)));
            }
            if d.status != crate::notify::Status::Sent {
                warnings.push(format!(
                    "notification {} {} to {} {}: {}",
                    d.event.name(),
                    d.grant,
                    d.channel,
                    d.status,
                    d.error.as_deref().unwrap_or_default()
                ));
            }
            deliveries.push(d);
        }
        for (commit, note) in
            repo.write_notes(notes::batch(&[], &sent, p.now), p.now, p.signing.keys())?
        {
            changed.entry(commit).or_default().absorb(&note);
        }
    }
    // The notes go where the removals went.
    if !changed.is_empty() {
        if let Some(remote) = &setup.push {
            repo.push_notes(remote, p.now, p.signing.keys())?;
        } else if setup.removal != RemovalMode::Git
            && let Some(gh) = &p.github
        {
            crate::trail::api_notes(gh, &changed, p.now, p.signing.keys()).await?;
        }
    }
    let made: HashMap<&str, &String> = made.iter().map(|(r, c)| (r.path.as_str(), c)).collect();
    let removals = due
        .iter()
        .map(|r| RemovalRow {
            grant: r.grant.clone(),
            path: r.path.clone(),
            commit: made.get(r.path.as_str()).map(|c| (*c).clone()),
        })
        .collect();
    Ok(Run::Done(Box::new(Outcome {
        prepared: p,
        applied,
        reviews,
        removals,
        removal_pull_request,
        deliveries,
        warnings,
    })))
}

/// Commits `due` on `base` and moves `branch` there, or, with `push`,
/// pushes them to that remote (rebuilt on its tip when it moved).
fn remove_in_git(
    repo: &Repo,
    on: Branch,
    base: CommitId,
    due: &[Removal],
    now: DateTime<Utc>,
    signer: Option<&Signer>,
) -> Result<(CommitId, Vec<(Removal, CommitId)>), GitError> {
    match on.push {
        Some(remote) => {
            let out = repo.push_removals(remote, on.name, due, now, signer)?;
            Ok((out.tip, out.made))
        }
        None => {
            let (tip, made) = repo.commit_removals(base, due, now, signer)?;
            repo.advance_branch(on.name, base, tip)?;
            Ok((tip, made))
        }
    }
}

/// What [`expire`] did.
#[derive(Debug)]
pub struct Expired {
    /// The branch's tip before.
    pub base: CommitId,
    /// Its tip after.
    pub tip: CommitId,
    /// Each ended grant, the end of its window, and its removal commit.
    pub removals: Vec<(RemovalRow, DateTime<Utc>)>,
}

/// Removes the files of grants whose window ended by `now`, one commit per
/// grant, without touching the cloud (`gitgrant expire`).
pub fn expire(
    repo: &Repo,
    branch: &str,
    push: Option<&str>,
    dry_run: bool,
    now: DateTime<Utc>,
) -> Result<Expired, EngineError> {
    let on = Branch { name: branch, push };
    let base = on.base(repo)?;
    let signing = engine::signing(repo, base, now)?;
    let tree = engine::Tree::read(repo, base)?;
    let due = engine::ended_files(
        repo,
        base,
        &tree,
        now,
        &Default::default(),
        signing.allowed.as_ref(),
    )?;
    let removals: Vec<Removal> = due.iter().map(|(r, _)| r.clone()).collect();
    let (tip, made) = if dry_run || removals.is_empty() {
        (base, Vec::new())
    } else {
        remove_in_git(repo, on, base, &removals, now, signing.signer.as_ref())?
    };
    let removals = due
        .into_iter()
        .map(|(r, end)| {
            let commit = made
                .iter()
                .find(|(m, _)| m.path == r.path)
                .map(|(_, c)| c.to_string());
            (
                RemovalRow {
                    grant: r.grant,
                    path: r.path,
                    commit,
                },
                end,
            )
        })
        .collect();
    Ok(Expired {
        base,
        tip,
        removals,
    })
}
