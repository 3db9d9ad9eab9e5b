//! The reconcile loop (ARCHITECTURE.md, "The data flow of a run"), as a library: read the access
//! repository at the branch's tip from the git database, validate, compute
//! the desired state, read every provider in pages, plan — and apply change
//! by change, then find the files of the grants that ended.
//!
//! The engine does not know which cloud it talks to: providers of every kind
//! are reached through [`Connected`], and each kind plans its own changes.
//! Deciding and doing never interleave: [`prepare`] returns the whole plan
//! as a value before [`apply`] changes anything.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::approval::Found;
use crate::cas::Step;
use crate::desired::{Wanted, desired_state};
use crate::git::{CommitId, GitError, RemovedGrant, Repo, landing_times};
use crate::github::{GitHub, GitHubError};
use crate::grant::{Grant, GrantId};
use crate::plan::terms::EndedGrant;
use crate::plan::{Change, Known, Plan, Refusal, RevokeReason, Unreadable};
use crate::policy::Policy;
use crate::providers::{Connected, Observation, Observations, Reach};
use crate::removal::{Ended, Removal, RemovalReason};
use crate::rule::Violation;
use crate::signing::{AllowedSigners, Signer, Signing};

/// What a run reads and how.
#[derive(Debug, Clone)]
pub struct Options {
    /// The instant windows are judged at.
    pub now: DateTime<Utc>,
    /// Only this provider, when set.
    pub provider: Option<String>,
    /// The default branch.
    pub branch: String,
    /// IAM list calls ask for pages of this many items.
    pub iam_page_size: i32,
}

/// Why a run could not be prepared.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// Reading or writing git failed.
    #[error(transparent)]
    Git(#[from] GitError),
    /// A GitHub call failed.
    #[error(transparent)]
    GitHub(#[from] GitHubError),
    /// Removal commits through GitHub were asked for without a token.
    #[error(
        "--removal api and --removal pr make commits through GitHub: set GITHUB_TOKEN (contents: write)"
    )]
    RemovalNeedsGitHub,
    /// `--provider` names no provider of the policy.
    #[error("there is no provider {0} in gitgrant.yaml")]
    NoSuchProvider(String),
    /// The signing key or the allowed-signers file could not be read.
    #[error(transparent)]
    Signing(#[from] crate::signing::SigningError),
    /// Approval evidence could not be gathered.
    #[error(transparent)]
    Evidence(#[from] crate::approval::github::EvidenceError),
    /// The default branch is not on GitHub.
    #[error("branch {0} does not exist on GitHub")]
    NoBranch(String),
    /// The branch kept moving while removal commits were made.
    #[error("{0} kept moving on GitHub; removal commits were not landed (the next run retries)")]
    BranchKeptMoving(String),
    /// `require_approval` without a way to ask GitHub.
    #[error(
        "gitgrant.yaml sets require_approval: true, and approval evidence needs GitHub: \
         set GITHUB_TOKEN (contents: read and pull-requests: read); nothing was changed"
    )]
    ApprovalNeedsGitHub,
}

/// An active break-glass grant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BreakGlass {
    /// The grant id.
    pub grant: GrantId,
    /// Its subject.
    pub subject: String,
}

/// An active grant, as notifications name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveGrant {
    /// Its subject.
    pub subject: String,
    /// Its role.
    pub role: String,
    /// Where it applies, in words.
    pub targets: String,
    /// Its window.
    pub window: crate::grant::Window,
    /// The providers it applies in.
    pub providers: Vec<String>,
    /// Whether its role is break-glass.
    pub break_glass: bool,
    /// The pull request that landed it, when known (evidence or its note).
    pub pull_request: Option<u64>,
}

/// Everything decided before anything is changed.
#[derive(Debug)]
pub struct Prepared {
    /// The instant windows were judged at.
    pub now: DateTime<Utc>,
    /// The commit read.
    pub tip: CommitId,
    /// The validated policy.
    pub policy: Policy,
    /// The plan.
    pub plan: Plan,
    /// Violations of the grant files that are not applied.
    pub invalid: Vec<Violation>,
    /// The providers reached, by name.
    pub providers: BTreeMap<String, Connected>,
    /// Approval evidence by grant file, when GitHub was asked.
    pub approvals: BTreeMap<String, Found>,
    /// Active break-glass grants.
    pub break_glass: Vec<BreakGlass>,
    /// GitHub, when a token was given.
    pub github: Option<GitHub>,
    /// Every active grant, by id.
    pub active: BTreeMap<String, ActiveGrant>,
    /// The run's signing key and the keys whose notes it believes.
    pub signing: Signing,
    /// The branch's files and where each grant landed, as read once.
    pub tree: Tree,
}

impl Prepared {
    /// The commit the grant file at `path` landed in.
    pub fn landed(&self, path: &str) -> Option<CommitId> {
        self.tree.landed_in.get(path).map(|l| l.commit)
    }
}

/// What a run reads of the branch's tip, once: its policy and grant files,
/// and the commit each grant file landed in.
#[derive(Debug, Clone)]
pub struct Tree {
    /// The policy and grant files at the tip.
    pub snapshot: crate::snapshot::Snapshot,
    /// Where and when each grant file landed, by path.
    pub landed_in: std::collections::HashMap<String, crate::git::Landing>,
}

impl Tree {
    /// Reads `tip`.
    pub fn read(repo: &Repo, tip: CommitId) -> Result<Tree, GitError> {
        let snapshot = repo.snapshot(tip)?;
        let paths: Vec<String> = snapshot.grants.iter().map(|f| f.path.clone()).collect();
        let landed_in = repo.landings(tip, &paths)?;
        Ok(Tree {
            snapshot,
            landed_in,
        })
    }
}

/// The key this run signs with ([`crate::signing::SIGNING_KEY_ENV`]) and
/// the allowed-signers file at `tip`. A key the file does not allow is
/// used all the same, with a warning: what it signs will read as
/// unverified until the file lists it.
pub fn signing(repo: &Repo, tip: CommitId, now: DateTime<Utc>) -> Result<Signing, EngineError> {
    let signer = Signer::from_env()?;
    let allowed = repo
        .text_at(tip, crate::signing::ALLOWED_SIGNERS_PATH)?
        .map(|t| AllowedSigners::parse(&t))
        .transpose()?;
    if let Some(s) = &signer {
        let allowed_now = allowed.as_ref().is_some_and(|a| {
            a.allows(s.public_key(), crate::signing::COMMIT_NAMESPACE, now)
                && a.allows(s.public_key(), crate::signing::NOTE_NAMESPACE, now)
        });
        if !allowed_now {
            tracing::warn!(
                "{} does not allow the signing key {} for the namespaces git and gitgrant: \
                 what this run signs reads as unverified until it does",
                crate::signing::ALLOWED_SIGNERS_PATH,
                s.public_text()
            );
        }
    }
    Ok(Signing { signer, allowed })
}

/// The outcome of preparing a run.
#[derive(Debug)]
pub enum Prepare {
    /// Planned.
    Ready(Box<Prepared>),
    /// `gitgrant.yaml` itself is invalid: nothing may be planned (an empty
    /// desired state would revoke everything).
    InvalidPolicy(Vec<Violation>),
}

/// Reads, validates, observes and plans, with what the run signs with and
/// believes ([`signing`], loaded once by the caller).
pub async fn prepare(
    repo: &Repo,
    tip: CommitId,
    options: &Options,
    signing: Signing,
) -> Result<Prepare, EngineError> {
    let now = options.now;
    let tree = Tree::read(repo, tip)?;
    let (snapshot, landed_in) = (&tree.snapshot, &tree.landed_in);
    let landings = landing_times(landed_in);
    let validation = crate::validate::validate(snapshot, now, &landings);
    let policy_broken = validation
        .violations
        .iter()
        .any(|v| v.file == crate::policy::POLICY_PATH);
    let Some(policy) = validation.policy.clone().filter(|_| !policy_broken) else {
        return Ok(Prepare::InvalidPolicy(validation.violations));
    };
    if let Some(p) = &options.provider
        && !policy.providers.contains_key(p)
    {
        return Err(EngineError::NoSuchProvider(p.clone()));
    }
    let mut state = desired_state(
        &policy,
        &validation.grants,
        &landings,
        now,
        &tip.to_string(),
        options.provider.as_deref(),
    );
    let active: BTreeSet<String> = state.wanted.iter().map(|w| w.grant().to_string()).collect();
    let active_grants: Vec<&Grant> = validation
        .grants
        .iter()
        .filter(|g| active.contains(&g.id.to_string()))
        .collect();
    let break_glass = active_grants
        .iter()
        .filter(|g| policy.roles.get(g.role()).is_some_and(|r| r.break_glass))
        .map(|g| BreakGlass {
            grant: g.id.clone(),
            subject: g.subject.clone(),
        })
        .collect();

    let github = GitHub::from_env_if_token(Some(&policy.repository()))?;
    let (providers, observed, unreadable) = observe(&policy, options).await;

    // Why each resource that no active grant explains should go.
    let mut known = state.ended.clone();
    for path in &validation.rejected {
        if let Some(id) = GrantId::from_path(path) {
            known.insert(id.to_string(), RevokeReason::Invalid);
        }
    }
    explain_from_history(repo, tip, &policy, &observed, &active, &mut known)?;
    let removed = recent_removals(repo, tip, &signing, now)?;
    let fenced_ended = ended_for_fences(&policy, &validation.grants, &landings, &removed, now);

    // Nothing is planned in a provider that was not read: its grants are
    // neither granted nor refused, and the plan says it was not compared.
    without_unreadable(&mut state, &unreadable);
    let mut plan = crate::providers::plan(
        &policy,
        &state.wanted,
        &observed,
        crate::providers::Past {
            known: &known,
            ended: &fenced_ended,
        },
        now,
        state.refused.clone(),
    );

    // Under require_approval, a grant is created or changed only with
    // evidence of its quorum (or an auto-approval rule) from GitHub. Only
    // those grants are asked about: one already applied as its file says
    // was verified when it was created, so a run with nothing new asks
    // GitHub nothing. Without GitHub nothing is decided: the cloud still
    // ends every applied grant on time by itself.
    let mut approvals = BTreeMap::new();
    let changing: BTreeSet<&str> = plan
        .changes
        .iter()
        .filter(|c| c.action().gives_access())
        .map(|c| c.grant())
        .filter(|g| active.contains(*g))
        .collect();
    if policy.require_approval && !changing.is_empty() {
        let gh = github.as_ref().ok_or(EngineError::ApprovalNeedsGitHub)?;
        let grants: Vec<(&Grant, crate::git::Landing)> = active_grants
            .iter()
            .filter(|g| changing.contains(g.id.to_string().as_str()))
            .filter_map(|g| Some((*g, landed_in.get(&g.id.path())?.clone())))
            .collect();
        let all: Vec<(&Grant, crate::git::Landing)> = validation
            .grants
            .iter()
            .filter_map(|g| Some((g, landed_in.get(&g.id.path())?.clone())))
            .collect();
        // The landing and each edit since are judged on their own, each on
        // the file as its commit left it.
        let items = crate::approval::github::landed_items(&policy, &grants, &all);
        let mut edits = Vec::new();
        for item in &items {
            edits.push(match landed_in.get(&item.need.path) {
                Some(landing) => crate::approval::github::edits_since(
                    repo,
                    &policy,
                    tip,
                    &item.need.path,
                    landing,
                    now,
                )?,
                None => Vec::new(),
            });
        }
        let mut oncall = crate::approval::oncall::OnCall::from_env();
        let judged = crate::approval::github::landed_with_edits(
            repo,
            gh,
            &options.branch,
            &items,
            &edits,
            &mut oncall,
        )
        .await?;
        // A grant whose landing is approved keeps running as the last
        // evidenced version left its file; the first edit without evidence
        // and every later one are not applied.
        let mut kept: BTreeMap<String, (Option<Grant>, String)> = BTreeMap::new();
        for (i, (item, j)) in items.iter().zip(&judged).enumerate() {
            let path = &item.need.path;
            let Some(landing) = landed_in.get(path).filter(|_| j.landing.ok()) else {
                continue;
            };
            let Some(bad) = j.edits.iter().position(|e| !e.found.ok()) else {
                continue;
            };
            let good = match bad.checked_sub(1) {
                Some(before) => edits[i][before].commit,
                None => landing.commit,
            };
            let e = &edits[i][bad];
            let grant =
                crate::approval::github::grant_at(repo, &policy, good, path, landing.time, now)?;
            let why = format!(
                "the edit of {path} in {} has no approval evidence (require_approval): {}; {}",
                e.commit.short(),
                j.edits[bad].found.why(),
                match &grant {
                    Some(_) => format!("the grant stays as {} left it", good.short()),
                    None => format!("the file as {} left it is not valid", good.short()),
                }
            );
            kept.insert(path.clone(), (grant, why));
        }
        approvals = judged
            .into_iter()
            .map(|j| (j.landing.path().to_string(), j.landing))
            .collect();
        if approvals.values().any(|f| !f.ok()) || !kept.is_empty() {
            let grants_now: Vec<Grant> = validation
                .grants
                .iter()
                .filter_map(|g| match kept.get(&g.id.path()) {
                    Some((old, _)) => old.clone(),
                    None => Some(g.clone()),
                })
                .collect();
            let mut state = desired_state(
                &policy,
                &grants_now,
                &landings,
                now,
                &tip.to_string(),
                options.provider.as_deref(),
            );
            without_unreadable(&mut state, &unreadable);
            for (id, reason) in &state.ended {
                known.insert(id.clone(), *reason);
            }
            refuse_unapproved(&approvals, &mut state.wanted, &mut state.refused);
            for (path, (_, why)) in &kept {
                let Some(id) = GrantId::from_path(path) else {
                    continue;
                };
                for provider in policy
                    .roles
                    .get(&id.role)
                    .map(|r| r.providers.clone())
                    .unwrap_or_default()
                {
                    if unreadable.iter().any(|u| u.provider == provider) {
                        continue;
                    }
                    state.refused.push(Refusal {
                        grant: id.to_string(),
                        provider,
                        why: why.clone(),
                    });
                }
            }
            plan = crate::providers::plan(
                &policy,
                &state.wanted,
                &observed,
                crate::providers::Past {
                    known: &known,
                    ended: &fenced_ended,
                },
                now,
                state.refused,
            );
        }
    }
    plan.unreadable = unreadable;
    let invalid = validation
        .violations
        .into_iter()
        .filter(|v| validation.rejected.contains(&v.file))
        .collect();
    let active = active_grants
        .iter()
        .filter_map(|g| {
            let role = policy.roles.get(g.role())?;
            let path = g.id.path();
            let landing = landed_in.get(&path)?;
            let pull_request = match approvals.get(&path) {
                Some(Found::Judged(e)) => Some(e.pr),
                _ => repo
                    .signed_note(landing.commit, signing.allowed.as_ref())
                    .and_then(|n| n.grants.get(&path)?.pull_request),
            };
            Some((
                g.id.to_string(),
                ActiveGrant {
                    subject: g.subject.clone(),
                    role: role.name.clone(),
                    targets: crate::providers::targets_text(&policy, role),
                    window: g.window(Some(landing.time))?,
                    providers: role.providers.clone(),
                    break_glass: role.break_glass,
                    pull_request,
                },
            ))
        })
        .collect();
    Ok(Prepare::Ready(Box::new(Prepared {
        now,
        tip,
        policy,
        plan,
        invalid,
        providers,
        approvals,
        break_glass,
        github,
        active,
        signing,
        tree,
    })))
}

/// `state` without what it wants or refuses in providers not read.
fn without_unreadable(state: &mut crate::desired::DesiredState, unreadable: &[Unreadable]) {
    state
        .wanted
        .retain(|w| !unreadable.iter().any(|u| u.provider == w.provider()));
    state
        .refused
        .retain(|r| !unreadable.iter().any(|u| u.provider == r.provider));
}

/// Grants without approval evidence are refused, in every provider.
fn refuse_unapproved(
    approvals: &BTreeMap<String, Found>,
    wanted: &mut Vec<Wanted>,
    refused: &mut Vec<Refusal>,
) {
    let unapproved: BTreeMap<&str, String> = approvals
        .values()
        .filter(|f| !f.ok())
        .map(|f| (f.path(), f.why()))
        .collect();
    wanted.retain(|w| {
        let path = w.grant().parse::<GrantId>().map(|id| id.path()).ok();
        match path.as_deref().and_then(|p| unapproved.get(p)) {
            Some(why) => {
                refused.push(Refusal {
                    grant: w.grant().to_string(),
                    provider: w.provider().to_string(),
                    why: format!(
                        "no approval evidence (require_approval): {}: {why}",
                        path.as_deref().unwrap_or_default()
                    ),
                });
                false
            }
            None => true,
        }
    });
}

/// Reaches and reads every provider the run covers. One that cannot be
/// reached or read is reported, never taken as empty.
async fn observe(
    policy: &Policy,
    options: &Options,
) -> (BTreeMap<String, Connected>, Observations, Vec<Unreadable>) {
    let reach = Reach::from_env(options.iam_page_size).await;
    let mut providers = BTreeMap::new();
    let mut observed = Observations::new();
    let mut unreadable = Vec::new();
    for (name, p) in &policy.providers {
        if options.provider.as_ref().is_some_and(|only| only != name) {
            continue;
        }
        let read = async {
            let connected = Connected::connect(&reach, policy, p).await?;
            let o = connected.observe().await?;
            Ok::<_, crate::providers::ProviderError>((connected, o))
        };
        match read.await {
            Ok((connected, o)) => {
                observed.insert(name.clone(), o);
                providers.insert(name.clone(), connected);
            }
            Err(e) => {
                tracing::error!("provider {name}: {e}");
                unreadable.push(Unreadable {
                    provider: name.clone(),
                    error: e.to_string(),
                });
            }
        }
    }
    (providers, observed, unreadable)
}

/// The grants recorded on observed resources that no active grant and no
/// known reason explain: when history removed their file, they were
/// deleted (an early revoke) or expired, not drift. Also the grants of
/// Identity Center permission sets read unclaimed (a tampered marker),
/// found by the name each removed grant file's grant gets, so
/// the kind claims and the plan revokes them.
fn explain_from_history(
    repo: &Repo,
    tip: CommitId,
    policy: &Policy,
    observed: &Observations,
    active: &BTreeSet<String>,
    known: &mut Known,
) -> Result<(), GitError> {
    let repository = policy.repository();
    let gone: BTreeSet<String> = observed
        .values()
        .flat_map(|o| o.recorded_grants(&repository))
        .filter(|id| !active.contains(id) && !known.contains_key(id))
        .collect();
    let reason = |message: &str| {
        if crate::removal::Trailers::read(message).says_expired() {
            RevokeReason::Expired
        } else {
            RevokeReason::Deleted
        }
    };
    if !gone.is_empty() {
        // What the cloud records is only a name: ids that are none are left.
        let (ids, files): (Vec<String>, Vec<String>) = gone
            .into_iter()
            .filter_map(|id| Some((id.parse::<GrantId>().ok()?.path(), id)))
            .map(|(path, id)| (id, path))
            .unzip();
        let removed = repo.removals(tip, &files)?;
        for (id, file) in ids.into_iter().zip(&files) {
            if let Some((_, message)) = removed.get(file) {
                known.insert(id, reason(message));
            }
        }
    }
    // A permission set of gitgrant's name whose marker was tampered with
    // is read unclaimed (grant ""); the name is all that is left of its
    // grant. One no active or known grant gets may be a grant whose file
    // history removed (a revoke pull request): each removed file's name
    // is tried, newest first, until every such set is placed (another
    // repository's sets on the instance never are: the walk then reads
    // the whole first-parent history).
    let named = |id: &str| {
        id.parse::<GrantId>()
            .ok()
            .map(|g| crate::providers::name_of(&repository, &g))
    };
    let explained: BTreeSet<String> = active
        .iter()
        .chain(known.keys())
        .filter_map(|id| named(id))
        .collect();
    let mut unclaimed: BTreeSet<&String> = observed
        .values()
        .flat_map(Observation::unclaimed)
        .filter(|name| !explained.contains(*name))
        .collect();
    if unclaimed.is_empty() {
        return Ok(());
    }
    repo.each_removed_grant(tip, |path, message| {
        if let Some(id) = GrantId::from_path(path).map(|g| g.to_string())
            && let Some(name) = named(&id)
            && unclaimed.remove(&name)
        {
            known.entry(id).or_insert_with(|| reason(message));
        }
        !unclaimed.is_empty()
    })?;
    Ok(())
}

/// The grant files removed by commits of the last 12 hours (the longest
/// session a fence may still have to end), each with whether the removal
/// is the reconciler's own: the commit names the grant in its
/// `Gitgrant-Grant` trailer and, when this run signs, a key of the allowed
/// signers signed it (unsigned, the trailer is believed only by a run
/// without a key, as the notes' `sent` is).
fn recent_removals(
    repo: &Repo,
    tip: CommitId,
    signing: &Signing,
    now: DateTime<Utc>,
) -> Result<Vec<(RemovedGrant, bool)>, GitError> {
    let since = now
        .checked_sub_signed(crate::providers::ENDED_LOOKBACK)
        .unwrap_or(now);
    let removed = repo.removed_since(tip, since)?;
    Ok(removed
        .into_iter()
        .map(|r| {
            let id = GrantId::from_path(&r.file.path).map(|id| id.to_string());
            let named = id.is_some()
                && crate::removal::Trailers::read(&r.message).grant.as_deref() == id.as_deref();
            let signed = match (&signing.signer, &signing.allowed) {
                (None, _) => true,
                (Some(_), Some(allowed)) => repo.signed_by(r.commit, allowed),
                (Some(_), None) => false,
            };
            let by_reconciler = named && signed;
            (r, by_reconciler)
        })
        .collect())
}

/// The grants no longer active whose role sessions a fence may still have
/// to end at `now`, as git tells them: those in the tree whose window has
/// ended, and those whose file a commit of the last 12 hours removed
/// (`removed`, from [`recent_removals`]; their end is the removal's time
/// when it came before the window's end).
///
/// A grant whose file the reconciler's own removal commit removed was
/// fenced by that run ([`EndedGrant::fenced_before`]): it had
/// fenced the ended grant from git before removing the file.
fn ended_for_fences(
    policy: &Policy,
    grants: &[Grant],
    landings: &crate::validate::Landings,
    removed: &[(RemovedGrant, bool)],
    now: DateTime<Utc>,
) -> Vec<EndedGrant> {
    let ended = |g: &Grant, landed: Option<DateTime<Utc>>, removed: Option<DateTime<Utc>>| {
        let window = g.window(landed)?;
        let end = removed.map_or(window.end, |r| r.min(window.end));
        (end <= now).then(|| EndedGrant {
            grant: g.id.to_string(),
            subject: g.subject.clone(),
            window,
            end,
            fenced_before: false,
        })
    };
    // An active grant's window has not ended: none is among them.
    let mut out: Vec<EndedGrant> = grants
        .iter()
        .filter_map(|g| ended(g, landings.get(&g.id.path()).copied(), None))
        .collect();
    for (r, by_reconciler) in removed {
        let (grant, _) = crate::validate::read_grant(Some(policy), &r.file, now, r.landed);
        if let Some(mut e) = grant.and_then(|g| ended(&g, r.landed, Some(r.removed_at)))
            && !out.iter().any(|o| o.grant == e.grant)
        {
            e.fenced_before = *by_reconciler;
            out.push(e);
        }
    }
    out
}

/// Each kind plans its own providers; the plan is where they meet.
pub fn plan(
    policy: &Policy,
    wanted: &[Wanted],
    observed: &Observations,
    known: &Known,
    now: DateTime<Utc>,
    refused: Vec<Refusal>,
) -> Plan {
    crate::providers::plan(
        policy,
        wanted,
        observed,
        crate::providers::Past { known, ended: &[] },
        now,
        refused,
    )
}

/// The outcome of one change.
#[derive(Debug, Clone, Serialize)]
pub struct Applied {
    /// The grant (or resource) it was for.
    pub grant: String,
    /// The provider.
    pub provider: String,
    /// What it did.
    pub action: crate::plan::Action,
    /// Whether it succeeded.
    pub ok: bool,
    /// Why not, in one line.
    pub error: Option<String>,
}

/// Applies the plan, one change at a time in apply order, each on its
/// own: one failure does not stop the others. A provider whose kind
/// batches gets all its changes in one call, after the others.
pub async fn apply(p: &Prepared) -> Vec<Applied> {
    let mut applied = Vec::new();
    let mut order: Vec<&Change> = p.plan.changes.iter().collect();
    order.sort_by_key(|c| c.apply_order());
    let mut batched: BTreeMap<&str, Vec<&Change>> = BTreeMap::new();
    for c in order {
        let Some(provider) = p.providers.get(c.provider()) else {
            continue;
        };
        if provider.batches() {
            batched.entry(c.provider()).or_default().push(c);
            continue;
        }
        let result = provider.apply(c).await;
        applied.push(outcome(c, result));
    }
    for (name, changes) in batched {
        let results = p.providers[name].apply_all(&changes).await;
        for (c, result) in changes.into_iter().zip(results) {
            applied.push(outcome(c, result));
        }
    }
    applied
}

/// One change's outcome, logged.
fn outcome(c: &Change, result: Result<(), crate::providers::ProviderError>) -> Applied {
    match &result {
        Err(e) => tracing::error!("{}: {e}", c.line()),
        Ok(()) => tracing::info!("{}", c.line()),
    }
    Applied {
        grant: c.grant().to_string(),
        provider: c.provider().to_string(),
        action: c.action(),
        ok: result.is_ok(),
        error: result.err().map(|e| e.to_string()),
    }
}

/// The removals due at `tip`: every readable grant whose window has ended
/// at `now`, with its window's end. `reviews` links break-glass grants (by
/// id) to their review issue.
pub fn ended_files(
    repo: &Repo,
    tip: CommitId,
    tree: &Tree,
    now: DateTime<Utc>,
    reviews: &BTreeMap<GrantId, String>,
    allowed: Option<&AllowedSigners>,
) -> Result<Vec<(Removal, DateTime<Utc>)>, GitError> {
    let snapshot = &tree.snapshot;
    let policy = snapshot
        .policy
        .as_ref()
        .and_then(|f| crate::validate::read_policy(f).0);
    let landings = &tree.landed_in;
    let mut out = Vec::new();
    for file in &snapshot.grants {
        let landing = landings.get(&file.path);
        let (grant, _) =
            crate::validate::read_grant(policy.as_ref(), file, now, landing.map(|l| l.time));
        let (Some(grant), Some(landing)) = (grant, landing) else {
            continue;
        };
        let Some(window) = grant.window(Some(landing.time)) else {
            continue;
        };
        if window.end > now {
            continue;
        }
        let providers = policy
            .as_ref()
            .and_then(|p| p.roles.get(grant.role()))
            .map_or("unknown".to_string(), |r| r.providers_text());
        // The evidence note, copied into the protected branch's history.
        // Only a note the reconciler signed: what anyone could have
        // written never reaches the protected branch as evidence.
        let record = repo
            .signed_note(landing.commit, allowed)
            .and_then(|n| n.grants.get(&file.path).cloned());
        let review = reviews
            .get(&grant.id)
            .cloned()
            .or_else(|| match &record.as_ref()?.approved {
                crate::git::notes::Approved::BreakGlass { review } => review.clone(),
                _ => None,
            });
        let message = crate::removal::message(&Ended {
            grant: &grant,
            provider: &providers,
            window,
            landed: &landing.commit.short(),
            revoked_at: now,
            reason: RemovalReason::Expired,
            review: review.as_deref(),
            approved_by: record.as_ref().map(|r| r.approved.text()),
            pull_request: record.as_ref().and_then(|r| r.pull_request),
        });
        let Some(blob) = repo.blob_at(tip, &file.path)? else {
            continue;
        };
        out.push((
            Removal {
                grant: grant.id.to_string(),
                path: file.path.clone(),
                blob,
                message,
            },
            window.end,
        ));
    }
    Ok(out)
}

/// The files of ended grants this run may remove: those whose every
/// provider was read, and whose revocation did not fail.
pub fn removals_due(
    repo: &Repo,
    base: CommitId,
    p: &Prepared,
    applied: &[Applied],
    reviews: &BTreeMap<GrantId, String>,
) -> Result<Vec<Removal>, GitError> {
    let failed: BTreeSet<&str> = applied
        .iter()
        .filter(|a| !a.ok)
        .map(|a| a.grant.as_str())
        .collect();
    Ok(ended_files(
        repo,
        base,
        &p.tree,
        p.now,
        reviews,
        p.signing.allowed.as_ref(),
    )?
    .into_iter()
    .map(|(r, _)| r)
    .filter(|r| {
        let role = GrantId::from_path(&r.path).and_then(|id| p.policy.roles.get(&id.role));
        role.is_some_and(|role| role.providers.iter().all(|pr| p.providers.contains_key(pr)))
            && !failed.contains(r.grant.as_str())
    })
    .collect())
}

/// The label of break-glass review issues.
pub const REVIEW_LABEL: &str = "gitgrant-break-glass";

/// The title of a break-glass grant's review issue, before the grant id.
pub const REVIEW_TITLE: &str = "Break-glass review: ";

/// The environment variable naming the GitHub login gitgrant's token
/// acts as (`github-actions[bot]` for the workflow's `GITHUB_TOKEN`, the
/// App's `<slug>[bot]` for an App token).
pub const LOGIN_ENV: &str = "GITGRANT_GITHUB_LOGIN";

/// The login gitgrant's own issues are opened by ([`LOGIN_ENV`]).
fn own_login() -> String {
    std::env::var(LOGIN_ENV)
        .ok()
        .filter(|l| !l.is_empty())
        .unwrap_or_else(|| "github-actions[bot]".to_string())
}

/// The title of a break-glass grant's review issue: the grant and the
/// commit it landed in.
fn review_title(grant: &GrantId, landed: Option<&CommitId>) -> String {
    match landed {
        Some(c) => format!("{REVIEW_TITLE}{grant} (landed in {})", c.short()),
        None => format!("{REVIEW_TITLE}{grant}"),
    }
}

/// The review issue of each of `grants` (active break-glass grants), opened
/// if missing: grant id → issue URL. Issues are found again by label and title, so a
/// later run (and the removal commit) links the same one.
pub async fn review_issues(
    gh: &GitHub,
    p: &Prepared,
    grants: &[&BreakGlass],
) -> Result<BTreeMap<GrantId, String>, GitHubError> {
    let existing = gh.issues_with_label(REVIEW_LABEL).await?;
    let me = own_login();
    let mut out = BTreeMap::new();
    for b in grants {
        // The grant's issue names its landing commit, so a grant id used
        // again gets an issue of its own; only gitgrant's own identity's
        // issue counts, so a look-alike opened (and closed) by anyone else
        // silences nothing.
        let title = review_title(&b.grant, p.landed(&b.grant.path()).as_ref());
        if let Some(i) = existing
            .iter()
            .find(|i| i.title == title && i.user.as_ref().is_some_and(|u| u.login == me))
        {
            out.insert(b.grant.clone(), i.html_url.clone());
            continue;
        }
        let r = &p.policy.roles[&b.grant.role];
        let body = format!(
            "Break-glass access was granted without review and applied at {}.\n\n\
             - Grant: `{id}` (`grants/{id}.yaml`)\n- Subject: @{subject}\n- Role: `{role}` (provider `{}`)\n\n\
             {}: please review this use after the incident. Close the issue when done; \
             the grant's removal commit links it in a `Gitgrant-Review:` trailer.\n",
            crate::grant::fmt_time(p.now),
            r.providers_text(),
            r.reviewers(&p.policy.security_team).join(" "),
            id = b.grant,
            subject = b.subject,
            role = b.grant.role,
        );
        let issue = gh.open_issue(&title, &body, &[REVIEW_LABEL]).await?;
        tracing::info!(
            "opened review issue #{} for break-glass grant {}",
            issue.number,
            b.grant
        );
        out.insert(b.grant.clone(), issue.html_url);
    }
    out.retain(|g, _| grants.iter().any(|b| &b.grant == g));
    Ok(out)
}

/// The review issue each active break-glass grant's evidence note records.
pub fn recorded_reviews(repo: &Repo, p: &Prepared) -> BTreeMap<GrantId, String> {
    p.break_glass
        .iter()
        .filter_map(|b| {
            let path = b.grant.path();
            let note = repo.signed_note(p.landed(&path)?, p.signing.allowed.as_ref())?;
            match &note.grants.get(&path)?.approved {
                crate::git::notes::Approved::BreakGlass { review: Some(r) } => {
                    Some((b.grant.clone(), r.clone()))
                }
                _ => None,
            }
        })
        .collect()
}

/// The branch removal pull requests come from.
pub const REMOVALS_BRANCH: &str = "gitgrant/removals";

/// Makes each removal commit through the Git Data API on the branch's tip
/// on GitHub, then fast-forwards the branch, or (`pull_request`) opens one
/// pull request with them and turns on auto-merge. When the branch moves
/// meanwhile, the commits are rebuilt on its new tip; a file changed or
/// already removed there is left. Returns the commits made and the pull
/// request's URL.
pub async fn api_removals(
    gh: &GitHub,
    branch: &str,
    pull_request: bool,
    due: &[Removal],
    signer: Option<&Signer>,
    time: DateTime<Utc>,
) -> Result<(Vec<(Removal, String)>, Option<String>), EngineError> {
    type Made = (Vec<(Removal, String)>, Option<String>);
    let done = crate::cas::retry_async("removal commits through GitHub", |_| async move {
        let tip = gh
            .branch_sha(branch)
            .await?
            .ok_or_else(|| EngineError::NoBranch(branch.to_string()))?;
        let mut parent = tip.clone();
        let mut made = Vec::new();
        for r in due {
            if gh.blob_sha(&r.path, &tip).await?.as_deref() != Some(r.blob.as_str()) {
                tracing::info!("{} was removed or changed on {branch}; left", r.path);
                continue;
            }
            let change = [(r.path.clone(), None)];
            parent = match signer {
                Some(signer) => {
                    gh.make_signed_commit(&parent, &change, &r.message, signer, time)
                        .await?
                }
                None => gh.make_commit(&parent, &change, &r.message).await?,
            };
            made.push((r.clone(), parent.clone()));
        }
        if made.is_empty() {
            return Ok(Step::Done((made, None)));
        }
        if pull_request {
            // One branch and one pull request for removals: a later run
            // moves the branch and reuses the pull request still open.
            let head = REMOVALS_BRANCH;
            if gh.branch_sha(head).await?.is_some() {
                gh.set_branch(head, &parent).await?;
            } else {
                gh.create_branch(head, &parent).await?;
            }
            let ids: Vec<&str> = made.iter().map(|(r, _)| r.grant.as_str()).collect();
            let pull = match gh.open_pull_from(head).await? {
                Some(p) => p,
                None => {
                    gh.open_pull(
                        head,
                        branch,
                        "gitgrant: remove the files of ended grants",
                        &format!(
                            "These grants have ended and their access is revoked; this removes their files, one commit each:\n\n{}\n",
                            ids.iter().map(|i| format!("- `{i}`")).collect::<Vec<_>>().join("\n")
                        ),
                    )
                    .await?
                }
            };
            let merged = gh.auto_merge(&pull).await?;
            tracing::info!(
                "removal pull request #{} {}",
                pull.number,
                if merged {
                    "merged"
                } else {
                    "set to auto-merge"
                }
            );
            return Ok(Step::Done((made, Some(pull.html_url))));
        }
        if gh.fast_forward(branch, &parent).await? {
            return Ok(Step::Done((made, None)));
        }
        Ok::<Step<Made>, EngineError>(Step::Moved(format!("{branch} moved on GitHub; rebuilding")))
    })
    .await?;
    done.ok_or_else(|| EngineError::BranchKeptMoving(branch.to_string()))
}
