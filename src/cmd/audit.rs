//! `gitgrant audit`: every grant's lifecycle, rebuilt from history alone.

use std::collections::HashMap;
use std::io::{IsTerminal, Write as _};

use chrono::{DateTime, Utc};
use gitgrant::approval::github::{EditOf, WithEdits};
use gitgrant::audit::{self, Filter, Options, render::Format};
use gitgrant::duration::GrantDuration;
use gitgrant::exit;
use gitgrant::git::Repo;
use gitgrant::policy::Policy;
use gitgrant::snapshot::SourceFile;

/// Rebuild every grant's lifecycle from the default branch's first-parent
/// history: requested, landed, window, edits, end; and findings such as
/// direct pushes, extensions, late removals and policy widening.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The branch (or any revision) whose history to read.
    #[arg(long, env = "GITGRANT_BRANCH", default_value = "main")]
    branch: String,
    /// Judge still-present grants as of this time instead of now.
    #[arg(long, value_parser = super::parse_time)]
    now: Option<DateTime<Utc>>,
    /// Output: table, json, csv, markdown, or html (one self-contained page with a timeline).
    #[arg(long, default_value = "table")]
    format: Format,
    /// Only grants of this person.
    #[arg(long)]
    subject: Option<String>,
    /// Only grants of this role.
    #[arg(long)]
    role: Option<String>,
    /// Only grants whose time overlaps from this time on.
    #[arg(long, value_parser = super::parse_time)]
    since: Option<DateTime<Utc>>,
    /// Only grants whose time overlaps before this time.
    #[arg(long, value_parser = super::parse_time)]
    until: Option<DateTime<Utc>>,
    /// Who could use which role at TIME: grants in force then.
    #[arg(long, value_parser = super::parse_time, value_name = "TIME")]
    at: Option<DateTime<Utc>>,
    /// How long after expiry a removal counts as late.
    #[arg(long, default_value = "1h")]
    late_after: GrantDuration,
    /// Ask GitHub for each grant's pull request and approvals (needs
    /// GITHUB_TOKEN): adds approvers and pull-request numbers, and flags
    /// self-approval and missing approvals.
    #[arg(long)]
    github: bool,
}

pub fn run(g: &super::Global, args: Args) -> anyhow::Result<u8> {
    let now = super::now_or(args.now);
    let repo = Repo::open(&g.repo)?;
    let tip = repo.resolve(&args.branch)?;
    let stderr = std::io::stderr();
    let show = stderr.is_terminal() && !g.quiet;
    let mut progress = |n: usize| {
        if show {
            let _ = write!(stderr.lock(), "\rreading history: {n} commits");
        }
    };
    // The keys whose signatures make evidence the reconciler's: the
    // allowed-signers file as the audited branch has it now.
    let allowed = repo
        .text_at(tip, gitgrant::signing::ALLOWED_SIGNERS_PATH)?
        .map(|t| gitgrant::signing::AllowedSigners::parse(&t))
        .transpose()?;
    let options = Options {
        late_after: args.late_after.to_delta(),
        allowed,
    };
    let filter = Filter {
        subject: args.subject,
        role: args.role,
        since: args.since,
        until: args.until,
        at: args.at,
    };
    let notes = repo.notes(options.allowed.as_ref());
    // JSON and CSV are written while the history is read: a lifecycle
    // leaves memory once it is out (`audit::stream`). GitHub's evidence
    // needs every lifecycle at once (a rule counts a subject's others).
    if matches!(args.format, Format::Json | Format::Csv) && !args.github {
        let tip_id = tip.to_string();
        repo.history_streamed(tip, false, &mut progress, |rx| {
            let stream = audit::stream::Stream::new(rx.into_iter(), now, &options, &notes, &filter);
            if args.format == Format::Json {
                super::write_stdout_with(|w| audit::stream::json_to(w, Some(&tip_id), now, stream));
            } else {
                super::write_stdout_with(|w| audit::stream::csv_to(w, stream));
            }
        })?;
        if show {
            let _ = write!(stderr.lock(), "\r\x1b[K");
        }
        return Ok(exit::SUCCESS);
    }
    // Two cores: one thread walks the history and reads the files that
    // changed, this one folds the commits into lifecycles as they come.
    let mut full = repo.history_streamed(tip, false, &mut progress, |rx| {
        audit::audit_stream(rx, now, &options)
    })?;
    if show {
        let _ = write!(stderr.lock(), "\r\x1b[K");
    }
    audit::add_recorded(&mut full, &notes);
    if args.github {
        let found = approvals(&repo, &args.branch, &full)?;
        let found = found
            .into_iter()
            .map(|w| {
                w.map(|w| {
                    let edits = w.edits.into_iter().map(|e| (e.commit, e.found)).collect();
                    (w.landing, edits)
                })
            })
            .collect();
        audit::add_approvals(&mut full, found);
    }
    let shown = audit::filter(full, &filter);
    match args.format {
        // Written as it is made.
        Format::Json => super::write_stdout_with(|w| audit::render::json_to(w, &shown)),
        // The report links commits and pull requests where origin is a
        // GitHub-style remote.
        Format::Html => {
            let links = repo
                .remote_url("origin")
                .and_then(|u| audit::html::web_address(&u));
            out!("{}", audit::html::html(&shown, links.as_deref()));
        }
        format => out!("{}", audit::render::render(&shown, format)),
    }
    // The process ends here: freeing a long history's lifecycles one by one
    // would only delay the exit.
    std::mem::forget(shown);
    Ok(exit::SUCCESS)
}

/// The approval evidence of every lifecycle and of each edit of its file,
/// each judged under the policy at its commit's first parent. A rule
/// counts the subject's other lifecycles of the role that overlap or
/// adjoin the judged window with it, as the reconciler does.
fn approvals(
    repo: &Repo,
    branch: &str,
    audit: &audit::Audit,
) -> anyhow::Result<Vec<Option<WithEdits>>> {
    let mut items = Vec::new();
    let mut edits = Vec::new();
    let mut index = Vec::new();
    // The policy changes rarely: each version is parsed once.
    let mut policies: HashMap<Option<SourceFile>, Option<Policy>> = HashMap::new();
    for l in &audit.lifecycles {
        let file = repo.policy_at(repo.resolve(&l.landed.commit)?)?;
        let policy = policies.entry(file).or_insert_with_key(|f| {
            f.as_ref()
                .and_then(|f| gitgrant::validate::read_policy(f).0)
        });
        let role = l
            .role
            .as_ref()
            .zip(policy.as_ref())
            .and_then(|(r, p)| p.roles.get(r));
        match (role, &l.subject) {
            (Some(role), Some(subject)) => {
                index.push(Some(items.len()));
                let mut item = gitgrant::approval::Landed::new(
                    role,
                    l.path.clone(),
                    subject.clone(),
                    l.landed.commit.clone(),
                );
                item.neighbours = audit
                    .lifecycles
                    .iter()
                    .filter(|o| {
                        !std::ptr::eq(*o, l)
                            && o.role == l.role
                            && o.subject
                                .as_deref()
                                .zip(l.subject.as_deref())
                                .is_some_and(|(a, b)| a.eq_ignore_ascii_case(b))
                    })
                    .flat_map(|o| o.usable_intervals())
                    .collect();
                items.push(item);
                let mut of = Vec::new();
                for e in &l.edits {
                    of.push(EditOf {
                        commit: repo.resolve(&e.commit)?,
                        subject: e.subject.clone(),
                    });
                }
                edits.push(of);
            }
            _ => index.push(None),
        }
    }
    let rt = super::runtime()?;
    let found = rt.block_on(async {
        let policy_repo = audit_repository(repo, branch);
        let gh = gitgrant::github::GitHub::from_env(policy_repo.as_deref())?;
        let mut oncall = gitgrant::approval::oncall::OnCall::from_env();
        gitgrant::approval::github::landed_with_edits(
            repo,
            &gh,
            branch,
            &items,
            &edits,
            &mut oncall,
        )
        .await
    })?;
    Ok(index
        .into_iter()
        .map(|i| i.map(|i| found[i].clone()))
        .collect())
}

/// `repository` of gitgrant.yaml at the tip of `branch`, if readable.
fn audit_repository(repo: &Repo, branch: &str) -> Option<String> {
    let file = repo.policy_at(repo.resolve(branch).ok()?).ok()??;
    Some(gitgrant::validate::read_policy(&file).0?.repository())
}
