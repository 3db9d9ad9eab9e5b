//! `gitgrant approvals`: the approval evidence behind grants — for one pull
//! request (the required status check on review events), or for every grant
//! on the default branch (what `reconcile` demands under `require_approval`).

use std::collections::BTreeMap;

use gitgrant::approval::github::{WithEdits, edits_since, landed_items, landed_with_edits};
use gitgrant::exit;
use gitgrant::git::{Landing, Repo};
use gitgrant::github::GitHub;
use gitgrant::grant::Grant;

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
            super::check::report_pull(&repo, &gh, &ch, &pull, chrono::Utc::now()).await
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
    let mut oncall = gitgrant::approval::oncall::OnCall::from_env();
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
