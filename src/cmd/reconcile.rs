//! `gitgrant plan` and `gitgrant reconcile`: parse the arguments, run the
//! library's engine (ARCHITECTURE.md, "The data flow of a run"), render what it planned and did.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use gitgrant::engine::{self, Applied};
use gitgrant::exit;
use gitgrant::git::{CommitId, Repo};
use gitgrant::github::GitHub;
use gitgrant::grant::fmt_time;
use gitgrant::plan::Plan;
use gitgrant::providers::Calls;
use gitgrant::rule::Violation;
use gitgrant::run::{self, RemovalMode, RemovalRow, Run};
use serde::Serialize;

/// What both commands read and how.
#[derive(Debug, clap::Args)]
pub struct Target {
    /// Judge windows as of this time (RFC 3339 with an offset) instead of now.
    #[arg(long, value_parser = super::parse_time)]
    now: Option<DateTime<Utc>>,
    /// Only this provider (account), so large organisations can shard runs.
    #[arg(long, env = "GITGRANT_PROVIDER")]
    provider: Option<String>,
    /// The default branch of the access repository.
    #[arg(long, env = "GITGRANT_BRANCH", default_value = "main")]
    branch: String,
    /// IAM list calls ask for pages of this many items (IAM's maximum).
    #[arg(long, hide = true, env = "GITGRANT_IAM_PAGE_SIZE", default_value_t = gitgrant::providers::IAM_MAX_PAGE_SIZE)]
    iam_page_size: i32,
}

impl Target {
    /// An empty `GITGRANT_PROVIDER` (a workflow's unset input) means all.
    fn unset_empty(&mut self) {
        self.provider = self.provider.take().filter(|p| !p.is_empty());
    }

    fn options(&self) -> engine::Options {
        engine::Options {
            now: super::now_or(self.now),
            provider: self.provider.clone(),
            branch: self.branch.clone(),
            iam_page_size: self.iam_page_size,
        }
    }
}

/// Output of plan and reconcile.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Format {
    /// For people.
    Human,
    /// JSON, and nothing else, on stdout.
    Json,
    /// Markdown, as a pull-request comment or a job summary shows it.
    Markdown,
}

/// Show what `reconcile` would change in the cloud, and change nothing.
#[derive(Debug, clap::Args)]
pub struct PlanArgs {
    #[command(flatten)]
    target: Target,
    /// Output.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    format: Format,
    /// Exit 3 when there are changes to make (0 when none, 1 on errors).
    #[arg(long)]
    detailed_exitcode: bool,
}

/// Make the cloud match the access repository: apply active grants, revoke
/// ended, deleted and unexplained ones, then remove the files of ended
/// grants in commits of their own.
///
/// Grants are read from the branch in the git database, never the working
/// tree. Each change is applied on its own: one failure does not stop the
/// others, and the run then exits 1. Re-running converges.
#[derive(Debug, clap::Args)]
pub struct ReconcileArgs {
    #[command(flatten)]
    target: Target,
    /// Plan and report, but change nothing in the cloud or in git.
    #[arg(long)]
    dry_run: bool,
    /// Fetch the branch from this remote first, and push the removal
    /// commits to it.
    #[arg(long, value_name = "REMOTE")]
    push: Option<String>,
    /// Where the removal commits go: `git` makes them in the local
    /// repository (and pushes them with --push); `api` makes them through
    /// GitHub's Git Data API and fast-forwards the branch (GitHub signs them;
    /// the job holds no push credentials); `pr` opens one pull request with
    /// them and turns on auto-merge, for a branch protected against the bot.
    #[arg(long, value_enum, env = "GITGRANT_REMOVAL", default_value_t = RemovalMode::Git)]
    removal: RemovalMode,
    /// Output.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    format: Format,
}

#[derive(Serialize)]
struct PlanOutput<'a> {
    now: String,
    commit: String,
    plan: &'a Plan,
    invalid: &'a [Violation],
    errors: &'a [gitgrant::plan::Unreadable],
    calls: BTreeMap<String, Calls>,
}

fn invalid_policy(
    repo: &Repo,
    tip: CommitId,
    v: &[Violation],
    format: Format,
) -> anyhow::Result<u8> {
    eprintln!("error: gitgrant.yaml is invalid at {tip}; nothing was planned or changed");
    match format {
        // JSON, and nothing else, on stdout.
        Format::Json => outln!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "commit": tip.to_string(),
                "invalid_policy": v,
            }))?
        ),
        _ => super::print_violations(&repo.snapshot(tip)?, v),
    }
    Ok(exit::INVALID)
}

pub fn run_plan(g: &super::Global, mut args: PlanArgs) -> anyhow::Result<u8> {
    args.target.unset_empty();
    let repo = Repo::open(&g.repo)?;
    let rt = super::runtime()?;
    let p = match rt.block_on(run::plan(&repo, &args.target.options()))? {
        Run::Done(o) => o.prepared,
        Run::InvalidPolicy { tip, violations } => {
            return invalid_policy(&repo, tip, &violations, args.format);
        }
    };
    let tip = p.tip;
    match args.format {
        Format::Json => {
            let out = PlanOutput {
                now: fmt_time(p.now),
                commit: p.tip.to_string(),
                plan: &p.plan,
                invalid: &p.invalid,
                errors: &p.plan.unreadable,
                calls: run::render::calls(&p),
            };
            outln!("{}", serde_json::to_string_pretty(&out)?);
        }
        Format::Human => {
            report_invalid(&repo, tip, &p.invalid)?;
            out!("{}", p.plan);
        }
        Format::Markdown => out!("{}", run::render::markdown(&p, None, &[])),
    }
    Ok(
        if !p.plan.unreadable.is_empty() || !p.plan.refused.is_empty() {
            exit::ERROR
        } else if !p.invalid.is_empty() {
            exit::INVALID
        } else if args.detailed_exitcode && !p.plan.is_empty() {
            exit::CHANGES
        } else {
            exit::SUCCESS
        },
    )
}

fn report_invalid(repo: &Repo, tip: CommitId, invalid: &[Violation]) -> anyhow::Result<()> {
    if !invalid.is_empty() {
        eprintln!("These grants are invalid and are not applied:");
        super::print_violations(&repo.snapshot(tip)?, invalid);
    }
    Ok(())
}

#[derive(Serialize)]
struct ReconcileOutput<'a> {
    now: String,
    branch: &'a str,
    commit: String,
    dry_run: bool,
    plan: &'a Plan,
    applied: &'a [Applied],
    invalid: &'a [Violation],
    errors: &'a [gitgrant::plan::Unreadable],
    removals: &'a [RemovalRow],
    removal_pull_request: Option<&'a str>,
    /// GitHub requests made: all, rate-limited, retried.
    github_calls: Option<(u64, u64, u64)>,
    approvals: &'a BTreeMap<String, gitgrant::approval::Found>,
    reviews: &'a BTreeMap<gitgrant::grant::GrantId, String>,
    pushed_to: Option<&'a str>,
    calls: BTreeMap<String, Calls>,
    notifications: &'a [gitgrant::notify::Delivery],
}

pub fn run_reconcile(g: &super::Global, mut args: ReconcileArgs) -> anyhow::Result<u8> {
    args.target.unset_empty();
    let repo = Repo::open(&g.repo)?;
    let rt = super::runtime()?;
    let setup = run::Setup {
        options: args.target.options(),
        dry_run: args.dry_run,
        push: args.push.clone(),
        removal: args.removal,
    };
    let o = match rt.block_on(run::reconcile(&repo, &setup))? {
        Run::Done(o) => o,
        Run::InvalidPolicy { tip, violations } => {
            return invalid_policy(&repo, tip, &violations, args.format);
        }
    };
    for w in &o.warnings {
        eprintln!("warning: {w}");
    }
    let p = &o.prepared;
    let calls = run::render::calls(p);
    match args.format {
        Format::Json => {
            let out = ReconcileOutput {
                now: fmt_time(p.now),
                branch: &args.target.branch,
                commit: p.tip.to_string(),
                dry_run: args.dry_run,
                plan: &p.plan,
                applied: &o.applied,
                invalid: &p.invalid,
                errors: &p.plan.unreadable,
                removals: &o.removals,
                removal_pull_request: o.removal_pull_request.as_deref(),
                github_calls: p.github.as_ref().map(GitHub::calls),
                approvals: &p.approvals,
                reviews: &o.reviews,
                pushed_to: args.push.as_deref().filter(|_| !args.dry_run),
                calls: calls.clone(),
                notifications: &o.deliveries,
            };
            outln!("{}", serde_json::to_string_pretty(&out)?);
        }
        Format::Human => {
            report_invalid(&repo, p.tip, &p.invalid)?;
            out!("{}", p.plan);
            out!("{}", run::render::summary(&o, args.dry_run));
        }
        Format::Markdown => out!(
            "{}",
            run::render::markdown(p, Some(&o.applied), &o.removals)
        ),
    }
    super::append_step_summary(&run::render::markdown(p, Some(&o.applied), &o.removals))?;
    let failures = o.applied.iter().filter(|a| !a.ok).count();
    Ok(
        if failures > 0 || !p.plan.unreadable.is_empty() || !p.plan.refused.is_empty() {
            exit::ERROR
        } else if !p.invalid.is_empty() {
            exit::INVALID
        } else {
            exit::SUCCESS
        },
    )
}
