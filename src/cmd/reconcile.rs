//! `gitgrant plan` and `gitgrant reconcile`: parse the arguments, run the
//! library's engine (ARCHITECTURE.md, "The data flow of a run"), render what it planned and did.

use std::collections::{BTreeMap, HashMap};

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use gitgrant::engine::{self, Applied, Prepare, Prepared};
use gitgrant::exit;
use gitgrant::git::{CommitId, Repo, notes};
use gitgrant::github::GitHub;
use gitgrant::grant::fmt_time;
use gitgrant::plan::Plan;
use gitgrant::providers::Calls;
use gitgrant::removal::Removal;
use gitgrant::rule::Violation;
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
    #[arg(long, hide = true, env = "GITGRANT_IAM_PAGE_SIZE", default_value_t = gitgrant::providers::aws_iam::MAX_PAGE_SIZE)]
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

/// Prepares a run with the engine; `Err` with the exit code when the
/// policy itself is invalid (printed here).
fn prepare(
    rt: &tokio::runtime::Runtime,
    repo: &Repo,
    tip: CommitId,
    t: &Target,
    format: Format,
    signing: gitgrant::signing::Signing,
) -> anyhow::Result<Result<Box<Prepared>, u8>> {
    Ok(
        match rt.block_on(engine::prepare(repo, tip, &t.options(), signing))? {
            Prepare::Ready(p) => Ok(p),
            Prepare::InvalidPolicy(v) => Err(invalid_policy(repo, tip, &v, format)?),
        },
    )
}

fn all_calls(
    providers: &BTreeMap<String, gitgrant::providers::Connected>,
) -> BTreeMap<String, Calls> {
    providers
        .iter()
        .map(|(n, p)| (n.clone(), p.calls()))
        .collect()
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
    let tip = repo.branch_tip(&args.target.branch)?;
    let rt = super::runtime()?;
    let signing = engine::signing(&repo, tip, super::now_or(args.target.now))?;
    let p = match prepare(&rt, &repo, tip, &args.target, args.format, signing)? {
        Ok(p) => p,
        Err(code) => return Ok(code),
    };
    match args.format {
        Format::Json => {
            let out = PlanOutput {
                now: fmt_time(p.now),
                commit: p.tip.to_string(),
                plan: &p.plan,
                invalid: &p.invalid,
                errors: &p.plan.unreadable,
                calls: all_calls(&p.providers),
            };
            outln!("{}", serde_json::to_string_pretty(&out)?);
        }
        Format::Human => {
            report_invalid(&repo, tip, &p.invalid)?;
            out!("{}", p.plan);
        }
        Format::Markdown => out!("{}", markdown(&p, None, &[])),
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
    reviews: &'a BTreeMap<String, String>,
    pushed_to: Option<&'a str>,
    calls: BTreeMap<String, Calls>,
    notifications: &'a [gitgrant::notify::Delivery],
}

#[derive(Debug, Serialize)]
struct RemovalRow {
    grant: String,
    path: String,
    commit: Option<String>,
}

pub fn run_reconcile(g: &super::Global, mut args: ReconcileArgs) -> anyhow::Result<u8> {
    args.target.unset_empty();
    let repo = Repo::open(&g.repo)?;
    let base = match &args.push {
        Some(remote) => repo.fetch(remote, &args.target.branch)?,
        None => repo.branch_tip(&args.target.branch)?,
    };
    // The evidence notes of earlier runs: what they verified and which
    // break-glass review issues exist, so that nothing is asked twice.
    let notes_remote = args.push.clone().or_else(|| {
        (args.removal != RemovalMode::Git && repo.has_remote("origin")).then(|| "origin".into())
    });
    let now = super::now_or(args.target.now);
    let signing = engine::signing(&repo, base, now)?;
    if let Some(remote) = &notes_remote
        && let Err(e) = repo.fetch_notes(remote, now, signing.keys())
    {
        eprintln!("warning: the evidence notes could not be fetched from {remote}: {e}");
    }
    let rt = super::runtime()?;
    let p = match prepare(&rt, &repo, base, &args.target, args.format, signing)? {
        Ok(p) => p,
        Err(code) => return Ok(code),
    };

    // Apply: one change at a time, each on its own.
    let applied = if args.dry_run {
        Vec::new()
    } else {
        rt.block_on(engine::apply(&p))
    };
    // Break-glass grants: each active one has a review issue, opened once
    // and then recorded in its evidence note.
    let mut reviews = engine::recorded_reviews(&repo, &p);
    let unreviewed: Vec<&engine::BreakGlass> = p
        .break_glass
        .iter()
        .filter(|b| !reviews.contains_key(&b.grant))
        .collect();
    if unreviewed.is_empty() || args.dry_run {
    } else if let Some(gh) = &p.github {
        reviews.extend(rt.block_on(engine::review_issues(gh, &p, &unreviewed))?);
    } else {
        eprintln!(
            "warning: {} break-glass grant(s) are active and no GITHUB_TOKEN was given: no review issue was opened",
            unreviewed.len()
        );
    }
    // What this run verified and applied, as evidence notes on the landing
    // commits (written here, then pushed with the removals).
    let records = gitgrant::trail::records(&p, &applied, &reviews, &gitgrant::trail::run_name());
    // The notes this run changed, to push with the removals.
    let mut changed = BTreeMap::new();
    if !args.dry_run {
        changed = repo.write_notes(notes::batch(&records, &[], p.now), p.now, p.signing.keys())?;
    }
    // Remove the files of ended grants — those of providers this run read,
    // and whose revocation did not fail.
    let due = engine::removals_due(&repo, base, &p, &applied, &reviews)?;
    let mut removal_pr = None;
    let (_tip, made) = if args.dry_run || due.is_empty() {
        (base, Vec::new())
    } else if args.removal != RemovalMode::Git {
        let gh = p.github.as_ref().context(
            "--removal api and --removal pr make commits through GitHub: set GITHUB_TOKEN (contents: write)",
        )?;
        let (made, pr) = rt.block_on(engine::api_removals(
            gh,
            &args.target.branch,
            args.removal == RemovalMode::Pr,
            &due,
            p.signing.signer.as_ref(),
            p.now,
        ))?;
        removal_pr = pr;
        (base, made)
    } else if let Some(remote) = &args.push {
        let out = repo.push_removals(
            remote,
            &args.target.branch,
            &due,
            p.now,
            p.signing.signer.as_ref(),
        )?;
        (out.tip, shas(out.made))
    } else {
        let (tip, made) = repo.commit_removals(base, &due, p.now, p.signing.signer.as_ref())?;
        repo.advance_branch(&args.target.branch, base, tip)?;
        (tip, shas(made))
    };
    // Tell people, once each: what was applied, ends soon, was revoked,
    // refused, repaired or failed. A channel that fails never fails the run.
    let mut deliveries = Vec::new();
    let mut sent = Vec::new();
    if !args.dry_run && !p.policy.notify.is_empty() {
        let notices = gitgrant::notify::notices(&p, &applied, &due);
        let anchors: Vec<CommitId> = notices.iter().map(|n| n.anchor).collect();
        let before = gitgrant::notify::already_sent(&repo, &anchors, p.signing.keys());
        let run = gitgrant::trail::run_name();
        for (d, anchor) in rt.block_on(gitgrant::notify::send(&p, &notices, &before, &run)) {
            if let Some(a) = anchor {
                sent.push((a, format!("{}:{}", d.channel, d.id)));
            }
            if d.status != "sent" {
                eprintln!(
                    "warning: notification {} {} to {} {}: {}",
                    d.event.name(),
                    d.grant,
                    d.channel,
                    d.status,
                    d.error.as_deref().unwrap_or_default()
                );
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
        if let Some(remote) = &args.push {
            repo.push_notes(remote, p.now, p.signing.keys())?;
        } else if args.removal != RemovalMode::Git
            && let Some(gh) = &p.github
        {
            rt.block_on(gitgrant::trail::api_notes(
                gh,
                &changed,
                p.now,
                p.signing.keys(),
            ))?;
        }
    }
    let made: HashMap<&str, String> = made
        .iter()
        .map(|(r, c)| (r.path.as_str(), c.clone()))
        .collect();
    let removals: Vec<RemovalRow> = due
        .iter()
        .map(|r| RemovalRow {
            grant: r.grant.clone(),
            path: r.path.clone(),
            commit: made.get(r.path.as_str()).cloned(),
        })
        .collect();

    let calls = all_calls(&p.providers);
    match args.format {
        Format::Json => {
            let out = ReconcileOutput {
                now: fmt_time(p.now),
                branch: &args.target.branch,
                commit: p.tip.to_string(),
                dry_run: args.dry_run,
                plan: &p.plan,
                applied: &applied,
                invalid: &p.invalid,
                errors: &p.plan.unreadable,
                removals: &removals,
                removal_pull_request: removal_pr.as_deref(),
                github_calls: p.github.as_ref().map(GitHub::calls),
                approvals: &p.approvals,
                reviews: &reviews,
                pushed_to: args.push.as_deref().filter(|_| !args.dry_run),
                calls: calls.clone(),
                notifications: &deliveries,
            };
            outln!("{}", serde_json::to_string_pretty(&out)?);
        }
        Format::Human => {
            report_invalid(&repo, base, &p.invalid)?;
            out!("{}", p.plan);
            out!("{}", human_summary(&args, &applied, &removals, &calls));
            for (channel, counts) in gitgrant::notify::summary(&deliveries) {
                let counts: Vec<String> = counts.iter().map(|(k, v)| format!("{v} {k}")).collect();
                outln!("Notified {channel}: {}.", counts.join(", "));
            }
        }
        Format::Markdown => out!("{}", markdown(&p, Some(&applied), &removals)),
    }
    super::append_step_summary(&markdown(&p, Some(&applied), &removals))?;
    let failures = applied.iter().filter(|a| !a.ok).count();
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

fn human_summary(
    args: &ReconcileArgs,
    applied: &[Applied],
    removals: &[RemovalRow],
    calls: &BTreeMap<String, Calls>,
) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    if args.dry_run {
        let _ = writeln!(s, "\nDry run: nothing was changed.");
    } else {
        for a in applied.iter().filter(|a| !a.ok) {
            let _ = writeln!(
                s,
                "\nfailed: {} {} in {}: {}",
                a.action,
                a.grant,
                a.provider,
                a.error.as_deref().unwrap_or_default()
            );
        }
        let ok = applied.iter().filter(|a| a.ok).count();
        let _ = writeln!(s, "\nApplied {ok} of {} changes.", applied.len());
    }
    for r in removals {
        match &r.commit {
            Some(c) => {
                let _ = writeln!(s, "Removed {} in {}.", r.grant, &c[..7.min(c.len())]);
            }
            None if args.dry_run => {
                let _ = writeln!(s, "Would remove {}.", r.grant);
            }
            None => {
                let _ = writeln!(
                    s,
                    "Left {}: already removed or changed on the branch.",
                    r.grant
                );
            }
        }
    }
    for (provider, c) in calls {
        let _ = writeln!(s, "Calls to {provider}: {c}.");
    }
    s
}

/// The plan (and, after a run, what happened) as Markdown for a job summary
/// or a pull-request comment.
fn markdown(p: &Prepared, applied: Option<&[Applied]>, removals: &[RemovalRow]) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "### gitgrant at `{}` ({})\n",
        &p.tip.to_string()[..12],
        fmt_time(p.now)
    );
    if p.plan.is_empty() {
        let _ = writeln!(s, "No changes: the cloud matches the access repository.\n");
    } else {
        let _ = writeln!(s, "| | grant | provider | what |\n|---|---|---|---|");
        for c in &p.plan.changes {
            let text = c.line();
            let (sign, rest) = text.split_at(1);
            let _ = writeln!(
                s,
                "| `{sign}` | `{}` | {} | {} |",
                c.grant(),
                c.provider(),
                rest.trim().replace('|', "\\|")
            );
        }
        s.push('\n');
    }
    for r in &p.plan.refused {
        let _ = writeln!(
            s,
            "- **refused** `{}` in {}: {}",
            r.grant, r.provider, r.why
        );
    }
    for e in &p.plan.unreadable {
        let _ = writeln!(s, "- **error** provider {}: {}", e.provider, e.error);
    }
    for v in &p.invalid {
        let _ = writeln!(
            s,
            "- **invalid** `{}` line {}: {} ({})",
            v.file, v.span.start.line, v.message, v.rule
        );
    }
    if let Some(applied) = applied {
        let failed: Vec<&Applied> = applied.iter().filter(|a| !a.ok).collect();
        let _ = writeln!(
            s,
            "\nApplied {} of {} changes.",
            applied.len() - failed.len(),
            applied.len()
        );
        for a in failed {
            let _ = writeln!(
                s,
                "- **failed** {} `{}`: {}",
                a.action,
                a.grant,
                a.error.as_deref().unwrap_or_default()
            );
        }
    }
    for r in removals {
        if let Some(c) = &r.commit {
            let _ = writeln!(s, "- removed `{}` in {}", r.path, &c[..12.min(c.len())]);
        }
    }
    s
}

fn shas(made: Vec<(Removal, CommitId)>) -> Vec<(Removal, String)> {
    made.into_iter().map(|(r, c)| (r, c.to_string())).collect()
}
