//! `gitgrant plan` and `gitgrant reconcile`: the loop of DESIGN §3. Read the
//! access repository at the branch's tip from the git database, validate,
//! compute the desired state, read each provider's state in pages, plan —
//! and, for reconcile, apply change by change, then remove the files of the
//! grants that ended.

use std::collections::{BTreeMap, HashMap};

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use gitgrant::aws::AwsIam;
use gitgrant::desired::desired_state;
use gitgrant::exit;
use gitgrant::git::{CommitId, Repo, landing_times};
use gitgrant::github::GitHub;
use gitgrant::grant::{GrantId, fmt_time};
use gitgrant::history::{trailer, trailers};
use gitgrant::plan::{Change, Plan, RevokeReason, line, plan};
use gitgrant::policy::{Policy, ProviderType};
use gitgrant::provider::{Calls, Observation, Provider as _};
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
    #[arg(long, hide = true, env = "GITGRANT_IAM_PAGE_SIZE", default_value_t = gitgrant::aws::MAX_PAGE_SIZE)]
    iam_page_size: i32,
}

impl Target {
    /// An empty `GITGRANT_PROVIDER` (a workflow's unset input) means all.
    fn unset_empty(&mut self) {
        self.provider = self.provider.take().filter(|p| !p.is_empty());
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

/// The label of break-glass review issues.
const REVIEW_LABEL: &str = "gitgrant-break-glass";

/// The title of a break-glass grant's review issue, before the grant id.
const REVIEW_TITLE: &str = "Break-glass review: ";

/// A provider that could not be read: nothing is planned or changed there.
#[derive(Debug, Serialize)]
struct ProviderError {
    provider: String,
    error: String,
}

/// Everything decided before anything is changed.
struct Prepared {
    now: DateTime<Utc>,
    tip: CommitId,
    policy: Policy,
    plan: Plan,
    invalid: Vec<Violation>,
    providers: BTreeMap<String, AwsIam>,
    unreadable: Vec<ProviderError>,
    /// Approval evidence by grant file, when GitHub was asked.
    approvals: BTreeMap<String, gitgrant::approval::Found>,
    /// Active break-glass grants: id, subject, role.
    break_glass: Vec<(String, String, String)>,
    /// GitHub, when a token was given.
    github: Option<GitHub>,
}

/// Reads, validates and plans. `None` when the policy itself is invalid:
/// then nothing may be planned (an empty desired state would revoke
/// everything), the violations are printed and the caller exits 2.
async fn prepare(
    repo: &Repo,
    tip: CommitId,
    t: &Target,
) -> anyhow::Result<Result<Prepared, Vec<Violation>>> {
    let now = super::now_or(t.now);
    let snapshot = repo.snapshot(tip)?;
    let paths: Vec<String> = snapshot.grants.iter().map(|f| f.path.clone()).collect();
    let landed_in = repo.landings(tip, &paths)?;
    let landings = landing_times(&landed_in);
    let validation = gitgrant::validate::validate(&snapshot, now, &landings);
    let policy_broken = validation
        .violations
        .iter()
        .any(|v| v.file == gitgrant::policy::POLICY_PATH);
    let Some(policy) = validation.policy.clone().filter(|_| !policy_broken) else {
        return Ok(Err(validation.violations));
    };
    if let Some(p) = &t.provider
        && !policy.providers.contains_key(p)
    {
        anyhow::bail!("there is no provider {p} in gitgrant.yaml");
    }
    let mut state = desired_state(
        &policy,
        &validation.grants,
        &landings,
        now,
        &tip.to_string(),
        t.provider.as_deref(),
    );
    let active: std::collections::BTreeSet<&str> =
        state.policies.iter().map(|d| d.grant.as_str()).collect();
    let break_glass: Vec<(String, String, String)> = validation
        .grants
        .iter()
        .filter(|g| active.contains(g.id.to_string().as_str()))
        .filter(|g| policy.roles.get(g.role()).is_some_and(|r| r.break_glass))
        .map(|g| (g.id.to_string(), g.subject.clone(), g.role().to_string()))
        .collect();
    // Under require_approval, a grant applies only with evidence of its
    // quorum from GitHub. Without GitHub nothing is decided: AWS still ends
    // every applied grant on time by itself.
    let github = GitHub::from_env_if_token(Some(&policy.repository()))?;
    let mut approvals = BTreeMap::new();
    if policy.require_approval {
        let Some(gh) = &github else {
            anyhow::bail!(
                "gitgrant.yaml sets require_approval: true, and approval evidence needs GitHub: \
                 set GITHUB_TOKEN (contents: read and pull-requests: read); nothing was changed"
            );
        };
        let grants: Vec<(&gitgrant::grant::Grant, CommitId)> = validation
            .grants
            .iter()
            .filter(|g| active.contains(g.id.to_string().as_str()))
            .filter_map(|g| Some((g, landed_in.get(&g.id.path())?.commit)))
            .collect();
        let items = super::approvals::landed_items(&policy, &grants);
        approvals = super::approvals::landed(repo, gh, &t.branch, &items)
            .await?
            .into_iter()
            .map(|f| (f.path().to_string(), f))
            .collect();
        let unapproved: BTreeMap<String, String> = approvals
            .values()
            .filter(|f| !f.ok())
            .map(|f| (f.path().to_string(), f.why()))
            .collect();
        state.policies.retain(|d| {
            let path = format!("grants/{}.yaml", d.grant);
            match unapproved.get(&path) {
                Some(why) => {
                    state.refused.push(gitgrant::plan::Refusal {
                        grant: d.grant.clone(),
                        provider: d.provider.clone(),
                        why: format!("no approval evidence (require_approval): {}: {why}", path),
                    });
                    false
                }
                None => true,
            }
        });
    }

    let path = gitgrant::iam::ownership_path(&policy);
    let base = gitgrant::aws::base_config().await;
    let mut providers = BTreeMap::new();
    let mut observed: BTreeMap<String, Observation> = BTreeMap::new();
    let mut unreadable = Vec::new();
    for (name, p) in &policy.providers {
        if t.provider.as_ref().is_some_and(|only| only != name) {
            continue;
        }
        match p.kind {
            ProviderType::AwsIam => {}
        }
        let read = async {
            let aws = AwsIam::connect(&base, p, &path, t.iam_page_size).await?;
            let o = aws.observe().await?;
            Ok::<_, gitgrant::aws::AwsError>((aws, o))
        };
        match read.await {
            Ok((aws, o)) => {
                observed.insert(name.clone(), o);
                providers.insert(name.clone(), aws);
            }
            Err(e) => {
                tracing::error!("{e}");
                unreadable.push(ProviderError {
                    provider: name.clone(),
                    error: e.to_string(),
                });
            }
        }
    }

    // Why each observed policy that no active grant explains should go.
    let mut known = state.ended.clone();
    for path in &validation.rejected {
        if let Some(id) = GrantId::from_path(path) {
            known.insert(
                gitgrant::iam::policy_name(&id),
                (id.to_string(), RevokeReason::Invalid),
            );
        }
    }
    let wanted: std::collections::BTreeSet<&str> =
        state.policies.iter().map(|d| d.name.as_str()).collect();
    let gone: Vec<(String, String)> = observed
        .values()
        .flat_map(|o| &o.policies)
        .filter(|o| !wanted.contains(o.name.as_str()) && !known.contains_key(&o.name))
        .filter_map(|o| {
            let id = o.grant.as_deref()?;
            // A description is only believed when it matches the name.
            let id = GrantId::from_path(&format!("grants/{id}.yaml"))?;
            (gitgrant::iam::policy_name(&id) == o.name).then(|| (o.name.clone(), id.to_string()))
        })
        .collect();
    if !gone.is_empty() {
        let files: Vec<String> = gone
            .iter()
            .map(|(_, id)| format!("grants/{id}.yaml"))
            .collect();
        let removed = repo.removals(tip, &files)?;
        for ((name, id), file) in gone.into_iter().zip(&files) {
            if let Some((_, message)) = removed.get(file) {
                let reason = match trailer(&trailers(message), "Gitgrant-Reason") {
                    Some("expired") => RevokeReason::Expired,
                    _ => RevokeReason::Deleted,
                };
                known.insert(name, (id, reason));
            }
        }
    }
    let plan = plan(&state.policies, &observed, &known, state.refused);
    let invalid = validation
        .violations
        .into_iter()
        .filter(|v| validation.rejected.contains(&v.file))
        .collect();
    Ok(Ok(Prepared {
        now,
        tip,
        policy,
        plan,
        invalid,
        providers,
        unreadable,
        approvals,
        break_glass,
        github,
    }))
}

fn all_calls(providers: &BTreeMap<String, AwsIam>) -> BTreeMap<String, Calls> {
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
    errors: &'a [ProviderError],
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
    let p = match rt.block_on(prepare(&repo, tip, &args.target))? {
        Ok(p) => p,
        Err(v) => return invalid_policy(&repo, tip, &v, args.format),
    };
    match args.format {
        Format::Json => {
            let out = PlanOutput {
                now: fmt_time(p.now),
                commit: p.tip.to_string(),
                plan: &p.plan,
                invalid: &p.invalid,
                errors: &p.unreadable,
                calls: all_calls(&p.providers),
            };
            outln!("{}", serde_json::to_string_pretty(&out)?);
        }
        Format::Human => {
            report_invalid(&repo, tip, &p.invalid)?;
            report_unreadable(&p.unreadable);
            out!("{}", p.plan);
        }
        Format::Markdown => out!("{}", markdown(&p, None, &[])),
    }
    Ok(if !p.unreadable.is_empty() || !p.plan.refused.is_empty() {
        exit::ERROR
    } else if !p.invalid.is_empty() {
        exit::INVALID
    } else if args.detailed_exitcode && !p.plan.is_empty() {
        exit::CHANGES
    } else {
        exit::SUCCESS
    })
}

fn report_invalid(repo: &Repo, tip: CommitId, invalid: &[Violation]) -> anyhow::Result<()> {
    if !invalid.is_empty() {
        eprintln!("These grants are invalid and are not applied:");
        super::print_violations(&repo.snapshot(tip)?, invalid);
    }
    Ok(())
}

fn report_unreadable(errors: &[ProviderError]) {
    for e in errors {
        eprintln!(
            "error: provider {} could not be read; nothing is planned there: {}",
            e.provider, e.error
        );
    }
}

/// The outcome of one change.
#[derive(Debug, Serialize)]
struct Applied {
    grant: String,
    provider: String,
    action: &'static str,
    ok: bool,
    error: Option<String>,
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
    errors: &'a [ProviderError],
    removals: &'a [RemovalRow],
    removal_pull_request: Option<&'a str>,
    /// GitHub requests made: all, rate-limited, retried.
    github_calls: Option<(u64, u64, u64)>,
    approvals: &'a BTreeMap<String, gitgrant::approval::Found>,
    reviews: &'a BTreeMap<String, String>,
    pushed_to: Option<&'a str>,
    calls: BTreeMap<String, Calls>,
}

#[derive(Debug, Serialize)]
struct RemovalRow {
    grant: String,
    path: String,
    commit: Option<String>,
}

fn action(c: &Change) -> &'static str {
    match c {
        Change::Grant { .. } => "grant",
        Change::Update { .. } => "update",
        Change::Revoke { .. } => "revoke",
    }
}

pub fn run_reconcile(g: &super::Global, mut args: ReconcileArgs) -> anyhow::Result<u8> {
    args.target.unset_empty();
    let repo = Repo::open(&g.repo)?;
    let base = match &args.push {
        Some(remote) => repo.fetch(remote, &args.target.branch)?,
        None => repo.branch_tip(&args.target.branch)?,
    };
    let rt = super::runtime()?;
    let p = match rt.block_on(prepare(&repo, base, &args.target))? {
        Ok(p) => p,
        Err(v) => return invalid_policy(&repo, base, &v, args.format),
    };

    // Apply: revocations first (they free attachment places), one change at
    // a time, each on its own.
    let mut applied = Vec::new();
    if !args.dry_run {
        let mut order: Vec<&Change> = p.plan.changes.iter().collect();
        order.sort_by_key(|c| c.apply_order());
        for c in order {
            let Some(provider) = p.providers.get(c.provider()) else {
                continue;
            };
            let result = rt.block_on(provider.apply(c));
            if let Err(e) = &result {
                tracing::error!("{}: {e}", line(c));
            } else {
                tracing::info!("{}", line(c));
            }
            applied.push(Applied {
                grant: c.grant().to_string(),
                provider: c.provider().to_string(),
                action: action(c),
                ok: result.is_ok(),
                error: result.err().map(|e| e.to_string()),
            });
        }
    }

    // Remove the files of ended grants — those of providers this run read,
    // and whose revocation did not fail.
    let failed: Vec<&str> = applied
        .iter()
        .filter(|a| !a.ok)
        .map(|a| a.grant.as_str())
        .collect();
    // Break-glass grants: each active one has a review issue, opened once.
    let mut reviews: BTreeMap<String, String> = BTreeMap::new();
    if let Some(gh) = &p.github
        && !args.dry_run
    {
        reviews = rt.block_on(review_issues(gh, &p))?;
    } else if !p.break_glass.is_empty() && !args.dry_run {
        eprintln!(
            "warning: {} break-glass grant(s) are active and no GITHUB_TOKEN was given: no review issue was opened",
            p.break_glass.len()
        );
    }
    let due: Vec<Removal> = super::expire::due(&repo, base, p.now, &reviews)?
        .into_iter()
        .map(|(r, _)| r)
        .filter(|r| {
            let provider = GrantId::from_path(&r.path)
                .and_then(|id| p.policy.roles.get(&id.role))
                .map(|role| role.provider.as_str());
            provider.is_some_and(|pr| p.providers.contains_key(pr))
                && !failed.contains(&r.grant.as_str())
        })
        .collect();
    let mut removal_pr = None;
    let (_tip, made) = if args.dry_run || due.is_empty() {
        (base, Vec::new())
    } else if args.removal != RemovalMode::Git {
        let gh = p.github.as_ref().context(
            "--removal api and --removal pr make commits through GitHub: set GITHUB_TOKEN (contents: write)",
        )?;
        let (made, pr) = rt.block_on(api_removals(gh, &args, &due))?;
        removal_pr = pr;
        (base, made)
    } else if let Some(remote) = &args.push {
        let out = repo.push_removals(remote, &args.target.branch, &due, p.now, 8)?;
        (out.tip, shas(out.made))
    } else {
        let (tip, made) = repo.commit_removals(base, &due, p.now)?;
        repo.advance_branch(&args.target.branch, base, tip)?;
        (tip, shas(made))
    };
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
                errors: &p.unreadable,
                removals: &removals,
                removal_pull_request: removal_pr.as_deref(),
                github_calls: p.github.as_ref().map(GitHub::calls),
                approvals: &p.approvals,
                reviews: &reviews,
                pushed_to: args.push.as_deref().filter(|_| !args.dry_run),
                calls: calls.clone(),
            };
            outln!("{}", serde_json::to_string_pretty(&out)?);
        }
        Format::Human => {
            report_invalid(&repo, base, &p.invalid)?;
            report_unreadable(&p.unreadable);
            out!("{}", p.plan);
            out!("{}", human_summary(&args, &applied, &removals, &calls));
        }
        Format::Markdown => out!("{}", markdown(&p, Some(&applied), &removals)),
    }
    super::append_step_summary(&markdown(&p, Some(&applied), &removals))?;
    let failures = applied.iter().filter(|a| !a.ok).count();
    Ok(
        if failures > 0 || !p.unreadable.is_empty() || !p.plan.refused.is_empty() {
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
            let text = line(c);
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
    for e in &p.unreadable {
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

/// The review issue of every active break-glass grant, opened if missing:
/// grant id → issue URL. Issues are found again by label and title, so a
/// later run (and the removal commit) links the same one.
async fn review_issues(gh: &GitHub, p: &Prepared) -> anyhow::Result<BTreeMap<String, String>> {
    let existing = gh.issues_with_label(REVIEW_LABEL).await?;
    let mut out = BTreeMap::new();
    for i in &existing {
        if let Some(id) = i.title.strip_prefix(REVIEW_TITLE) {
            out.insert(id.to_string(), i.html_url.clone());
        }
    }
    for (id, subject, role) in &p.break_glass {
        if out.contains_key(id) {
            continue;
        }
        let r = &p.policy.roles[role];
        let body = format!(
            "Break-glass access was granted without review and applied at {}.\n\n\
             - Grant: `{id}` (`grants/{id}.yaml`)\n- Subject: @{subject}\n- Role: `{role}` (provider `{}`)\n\n\
             {}: please review this use after the incident. Close the issue when done; \
             the grant's removal commit links it in a `Gitgrant-Review:` trailer.\n",
            fmt_time(p.now),
            r.provider,
            r.reviewers(&p.policy.security_team).join(" ")
        );
        let issue = gh
            .open_issue(&format!("{REVIEW_TITLE}{id}"), &body, &[REVIEW_LABEL])
            .await?;
        tracing::info!(
            "opened review issue #{} for break-glass grant {id}",
            issue.number
        );
        out.insert(id.clone(), issue.html_url);
    }
    Ok(out)
}

/// Makes each removal commit through the Git Data API on the branch's tip
/// on GitHub, then fast-forwards the branch (`api`) or opens a pull request
/// with auto-merge (`pr`). When the branch moves meanwhile, the commits are
/// rebuilt on its new tip; a file changed or already removed there is left.
async fn api_removals(
    gh: &GitHub,
    args: &ReconcileArgs,
    due: &[Removal],
) -> anyhow::Result<(Vec<(Removal, String)>, Option<String>)> {
    let branch = &args.target.branch;
    for attempt in 1..=8 {
        let tip = gh
            .branch_sha(branch)
            .await?
            .with_context(|| format!("branch {branch} does not exist on GitHub"))?;
        let mut parent = tip.clone();
        let mut made = Vec::new();
        for r in due {
            if gh.blob_sha(&r.path, &tip).await?.as_deref() != Some(r.blob.as_str()) {
                tracing::info!("{} was removed or changed on {branch}; left", r.path);
                continue;
            }
            parent = gh
                .make_commit(&parent, &[(r.path.clone(), None)], &r.message)
                .await?;
            made.push((r.clone(), parent.clone()));
        }
        if made.is_empty() {
            return Ok((made, None));
        }
        if args.removal == RemovalMode::Pr {
            // One branch and one pull request for removals: a later run
            // moves the branch and reuses the pull request still open.
            let head = "gitgrant/removals";
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
            return Ok((made, Some(pull.html_url)));
        }
        if gh.fast_forward(branch, &parent).await? {
            return Ok((made, None));
        }
        tracing::warn!(
            "{branch} moved on GitHub during removal commits (attempt {attempt}); rebuilding"
        );
    }
    anyhow::bail!(
        "{branch} kept moving on GitHub; removal commits were not landed (the next run retries)"
    )
}
