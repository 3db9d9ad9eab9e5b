//! `gitgrant approvals`: the approval evidence behind grants — for one pull
//! request (the required status check on review events), or for every grant
//! on the default branch (what `reconcile` demands under `require_approval`).

use std::collections::BTreeMap;

use gitgrant::approval::{Found, Need};
use gitgrant::exit;
use gitgrant::git::{Landing, Repo};
use gitgrant::github::evidence::{
    Approvals, Ask, WithEdits, codeowners_at, edits_since, judge_rules, landed_items,
    landed_with_edits,
};
use gitgrant::github::{GitHub, Pull};
use gitgrant::grant::{Grant, GrantId};
use gitgrant::snapshot::{Content, SourceFile};

/// Show the approval evidence of grants: the pull request that landed each,
/// the code owners who approved its final head, and whether the role's
/// `min_approvals` is met. Exits 1 when a grant lacks its quorum.
///
/// With --pr N, judges that pull request's grant files (the status check for
/// `pull_request_review` events; `gitgrant check` runs it there too).
/// Without, judges every grant on the branch: its landing and each edit of
/// its file since, each on its own. Needs GITHUB_TOKEN.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// One pull request.
    #[arg(long)]
    pr: Option<u64>,
    /// The default branch of the access repository.
    #[arg(long, env = "GITGRANT_BRANCH", default_value = "main")]
    branch: String,
    /// Output.
    #[arg(long, value_enum, default_value_t = super::Format::Human)]
    format: super::Format,
}

/// Judges an open pull request's grant files as if it merged at `now`:
/// each grant's quorum of approvals at the head (with `gh`; without, no
/// review counts), and, short of it, its role's auto-approval rules under
/// the base branch's policy. `grants` are the pull request's validated
/// grants (on `pull_request`, only those of roles with rules: CODEOWNERS
/// guards the others).
pub async fn judge_pull(
    repo: &Repo,
    mut approvals: Option<&mut Approvals<'_>>,
    ch: &super::check::Changes,
    grants: &[&Grant],
    pull: &Pull,
    now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<Vec<Found>> {
    let owners = codeowners_at(repo, ch.base);
    let mut oncall = gitgrant::oncall::OnCall::from_env();
    // Who asked (the author for the request form's pull requests);
    // nobody when that cannot be told, and then no rule holds.
    let author = gitgrant::github::evidence::requester(approvals.as_deref_mut(), &ch.policy, pull)
        .await?
        .unwrap_or_default();
    // The base's grants, each with its landing, and the pull request's
    // (landing now): a rule counts adjoining windows of one subject and
    // role together.
    let base = repo.snapshot(ch.base)?;
    let base_paths: Vec<String> = base.grants.iter().map(|f| f.path.clone()).collect();
    let base_landings = repo.landings(ch.base, &base_paths)?;
    let base_grants: Vec<(Grant, Option<chrono::DateTime<chrono::Utc>>)> = base
        .grants
        .iter()
        .filter(|f| !ch.deleted.contains(&f.path) && !grants.iter().any(|g| g.id.path() == f.path))
        .filter_map(|f| {
            let landed = base_landings.get(&f.path).map(|l| l.time);
            let g = gitgrant::validate::read_grant(Some(&ch.policy), f, now, landed).0?;
            Some((g, landed))
        })
        .collect();
    let mut found = Vec::new();
    for g in grants {
        let Some(role) = ch.policy.roles.get(g.role()) else {
            continue;
        };
        if role.break_glass {
            found.push(Found::BreakGlass { path: g.id.path() });
            continue;
        }
        let need = Need::new(role, g.id.path(), g.subject.clone());
        let mut e = judge_need(approvals.as_deref_mut(), pull, &need, &owners).await?;
        if !e.met() && !role.auto_approve.is_empty() {
            let neighbours = gitgrant::github::evidence::neighbours(
                g,
                base_grants
                    .iter()
                    .map(|(o, l)| (o, *l))
                    .chain(grants.iter().map(|o| (*o, Some(now)))),
            );
            let ask = Ask {
                neighbours: &neighbours,
                ..Ask::landing_at(&ch.policy, role, g, &author, now)
            };
            e.rules = Some(judge_rules(approvals.as_deref_mut(), &mut oncall, ask).await?);
        }
        found.push(Found::Judged(e));
    }
    // A deletion revokes someone's access: CODEOWNERS guards it where it
    // owns the file; where it leaves the file unowned (roles with rules,
    // break-glass roles) the grant's subject, or a requester for others,
    // may delete it, and anyone else needs the role's quorum.
    for path in &ch.deleted {
        let Some(role) = GrantId::from_path(path).and_then(|id| ch.policy.roles.get(&id.role))
        else {
            continue;
        };
        if !owners.owners(path).is_empty() {
            continue;
        }
        let subject = match repo.text_at(ch.base, path)? {
            Some(text) => {
                let file = SourceFile {
                    path: path.clone(),
                    content: Content::Bytes(text.into_bytes()),
                };
                gitgrant::validate::read_grant(Some(&ch.policy), &file, now, None)
                    .0
                    .map(|g| g.subject.to_lowercase())
            }
            None => None,
        };
        if subject.as_deref() == Some(author.as_str())
            || super::check::may_ask_for_others(approvals.as_deref_mut(), &role.requesters, &author)
                .await?
        {
            continue;
        }
        let mut need = Need::new(role, path.clone(), subject.unwrap_or_default());
        need.required = need.required.max(1);
        if need.approvers.is_empty() {
            need.approvers = vec![ch.policy.security_team.to_lowercase()];
        }
        let e = judge_need(approvals.as_deref_mut(), pull, &need, &owners).await?;
        found.push(Found::Judged(e));
    }
    Ok(found)
}

/// `need` judged on `pull`'s reviews (with GitHub; without, no review
/// counts).
async fn judge_need(
    approvals: Option<&mut Approvals<'_>>,
    pull: &Pull,
    need: &Need,
    owners: &gitgrant::codeowners::Codeowners,
) -> anyhow::Result<gitgrant::approval::Evidence> {
    Ok(match approvals {
        Some(a) => a
            .judge(pull, std::slice::from_ref(need), owners)
            .await?
            .remove(0),
        None => gitgrant::approval::evaluate(
            &gitgrant::approval::PullFacts {
                pr: pull.number,
                author: &pull.user.login,
                head: &pull.head.sha,
                reviews: &[],
            },
            &need.path,
            &need.subject,
            need.owners(owners),
            &BTreeMap::new(),
            need.required,
        ),
    })
}

/// Judges an open pull request's grant files; prints and returns the exit
/// code (1 until every grant has its quorum or a rule that approves it).
pub async fn report_pull(
    repo: &Repo,
    gh: &GitHub,
    ch: &super::check::Changes,
    pull: &Pull,
    now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<u8> {
    let validation =
        gitgrant::validate::validate(&ch.grants, now, &gitgrant::validate::Landings::new());
    let mut approvals = Approvals::new(gh);
    let grants: Vec<&Grant> = validation.grants.iter().collect();
    let found = judge_pull(repo, Some(&mut approvals), ch, &grants, pull, now).await?;
    for f in &found {
        outln!("{}", f.line());
    }
    if found.is_empty() {
        outln!(
            "pull request #{} changes no grant: nothing to approve",
            pull.number
        );
    }
    Ok(if found.iter().all(Found::ok) {
        exit::SUCCESS
    } else {
        exit::ERROR
    })
}

pub fn run(g: &super::Global, args: Args) -> anyhow::Result<u8> {
    let repo = Repo::open(&g.repo)?;
    let rt = super::runtime()?;
    let tip = repo.branch_tip(&args.branch)?;
    let snapshot = repo.snapshot(tip)?;
    let Some(policy) = snapshot
        .policy
        .as_ref()
        .and_then(|f| gitgrant::validate::read_policy(f).0)
    else {
        eprintln!(
            "error: gitgrant.yaml on {} is missing or invalid",
            args.branch
        );
        return Ok(exit::INVALID);
    };
    // octocrab's client needs the runtime to exist when it is built.
    let _in_runtime = rt.enter();
    let gh = GitHub::from_env(Some(&policy.repository()))?;
    if let Some(n) = args.pr {
        return rt.block_on(async {
            let pull = gh.pull(n).await?;
            let ch = super::check::changes(&repo, &pull, &format!("refs/pull/{n}/merge"))
                .or_else(|_| super::check::changes(&repo, &pull, &pull.head.sha))?;
            report_pull(&repo, &gh, &ch, &pull, chrono::Utc::now()).await
        });
    }
    let paths: Vec<String> = snapshot.grants.iter().map(|f| f.path.clone()).collect();
    let landings = repo.landings(tip, &paths)?;
    let now = chrono::Utc::now();
    let mut grants = Vec::new();
    for f in &snapshot.grants {
        let landing = landings.get(&f.path);
        if let (Some(grant), Some(l)) = (
            gitgrant::validate::read_grant(Some(&policy), f, now, landing.map(|l| l.time)).0,
            landing,
        ) {
            grants.push((grant, l.clone()));
        }
    }
    let refs: Vec<(&Grant, Landing)> = grants.iter().map(|(g, l)| (g, l.clone())).collect();
    let items = landed_items(&policy, &refs, &refs);
    // Every edit since a grant landed needs its own evidence, as in the
    // reconciler.
    let mut edits = Vec::new();
    for item in &items {
        edits.push(match landings.get(&item.need.path) {
            Some(l) => edits_since(&repo, &policy, tip, &item.need.path, l, now)?,
            None => Vec::new(),
        });
    }
    let mut oncall = gitgrant::oncall::OnCall::from_env();
    let found: BTreeMap<String, WithEdits> = rt
        .block_on(landed_with_edits(
            &repo,
            &gh,
            &args.branch,
            &items,
            &edits,
            &mut oncall,
        ))?
        .into_iter()
        .map(|f| (f.landing.path().to_string(), f))
        .collect();
    match args.format {
        super::Format::Json => outln!("{}", serde_json::to_string_pretty(&found)?),
        super::Format::Human => {
            for line in found.values().flat_map(WithEdits::lines) {
                outln!("{line}");
            }
        }
    }
    Ok(if found.values().all(WithEdits::ok) {
        exit::SUCCESS
    } else {
        exit::ERROR
    })
}
