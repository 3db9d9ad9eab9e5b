//! Command-line arguments and dispatch.

/// `print!` for commands: writes through [`write_stdout`], so that a reader
/// that leaves early ends the output quietly instead of panicking.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::cmd::write_stdout(format_args!($($arg)*))
    };
}

/// `println!` for commands, through [`write_stdout`].
macro_rules! outln {
    () => {
        $crate::cmd::write_stdout(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::cmd::write_stdout(format_args!("{}\n", format_args!($($arg)*)))
    };
}

mod approvals;
mod audit;
mod check;
mod codeowners;
mod completions;
mod expire;
mod from_issue;
mod iam_policy;
mod init;
mod portal;
mod reconcile;
mod reference;
mod request;
mod revoke;
mod schema;
mod validate;

use std::io::{IsTerminal, Write as _};
use std::path::PathBuf;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use clap::{Args, Parser, Subcommand};
use gitgrant::snapshot::Snapshot;
use gitgrant::validate::{Landings, Validation};

/// Just-in-time cloud access as GitOps: grants are pull requests, the cloud
/// enforces their expiry, and git history is the audit trail.
#[derive(Debug, Parser)]
#[command(
    name = "gitgrant",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    command: Command,
}

/// Options every command takes.
#[derive(Debug, Args)]
pub struct Global {
    /// The access repository (a directory with gitgrant.yaml).
    #[arg(long, global = true, env = "GITGRANT_REPO", default_value = ".")]
    pub repo: PathBuf,
    /// More log output on stderr (-v, -vv).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Only errors on stderr.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
}

#[derive(Debug, Subcommand)]
enum Command {
    Init(init::Args),
    Validate(validate::Args),
    /// Write .github/CODEOWNERS from gitgrant.yaml: each role's grants owned
    /// by its approvers, the policy and .github/ by the security team.
    Codeowners(codeowners::Args),
    /// Write the request form (.github/ISSUE_TEMPLATE/gitgrant-request.yml)
    /// from gitgrant.yaml, and the workflow that turns its issues into pull
    /// requests (.github/workflows/gitgrant-portal.yml).
    Portal(portal::Args),
    Schema(schema::Args),
    Request(request::Args),
    Revoke(revoke::Args),
    Check(check::Args),
    Approvals(approvals::Args),
    Expire(expire::Args),
    Audit(audit::Args),
    IamPolicy(iam_policy::Args),
    Plan(reconcile::PlanArgs),
    Reconcile(reconcile::ReconcileArgs),
    Completions(completions::Args),
    /// Write the book's command reference and validation-rule table
    /// (docs/reference/) from the CLI and the rules.
    #[command(hide = true)]
    Reference(reference::Args),
}

/// Output for commands that print data: for people, or JSON.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Format {
    /// For people.
    Human,
    /// JSON, and nothing else, on stdout.
    Json,
}

/// Runs the chosen command and returns its exit code.
pub fn run(cli: Cli) -> anyhow::Result<u8> {
    let g = &cli.global;
    match cli.command {
        Command::Init(a) => init::run(a),
        Command::Validate(a) => validate::run(g, a),
        Command::Codeowners(a) => codeowners::run(g, a),
        Command::Portal(a) => portal::run(g, a),
        Command::Schema(a) => schema::run(g, a),
        Command::Request(a) => request::run(g, a),
        Command::Revoke(a) => revoke::run(g, a),
        Command::Check(a) => check::run(g, a),
        Command::Approvals(a) => approvals::run(g, a),
        Command::Expire(a) => expire::run(g, a),
        Command::Audit(a) => audit::run(g, a),
        Command::IamPolicy(a) => iam_policy::run(g, a),
        Command::Plan(a) => reconcile::run_plan(g, a),
        Command::Reconcile(a) => reconcile::run_reconcile(g, a),
        Command::Completions(a) => completions::run(a),
        Command::Reference(a) => reference::run(g, a),
    }
}

/// Set once stdout cannot be written any more: the rest of the output is
/// dropped.
static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);

/// Why stdout failed, unless it was only that the reader left.
static STDOUT_ERROR: OnceLock<String> = OnceLock::new();

/// Every command's data goes to stdout through here (the `out!` and
/// `outln!` macros). Rust ignores SIGPIPE, so a reader that leaves early
/// (`gitgrant audit | head -1`) turns writes into `BrokenPipe` errors, on
/// which `print!` panics. Here the reader leaving ends the output quietly
/// and the command carries on: a reconcile still writes its step summary
/// and exits with its own code. Any other failure is kept for
/// [`stdout_error`].
pub fn write_stdout(args: std::fmt::Arguments) {
    if STDOUT_CLOSED.load(Ordering::Relaxed) {
        return;
    }
    let mut out = std::io::stdout().lock();
    // Flushed at once, so that a failure is seen here and not at exit.
    if let Err(e) = out.write_fmt(args).and_then(|()| out.flush()) {
        STDOUT_CLOSED.store(true, Ordering::Relaxed);
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            let _ = STDOUT_ERROR.set(e.to_string());
        }
    }
}

/// [`write_stdout`] for output made by a writer, such as a serialiser
/// writing a long document as it goes: buffered, flushed at the end, and a
/// failure handled alike.
pub fn write_stdout_with(write: impl FnOnce(&mut dyn std::io::Write) -> std::io::Result<()>) {
    if STDOUT_CLOSED.load(Ordering::Relaxed) {
        return;
    }
    let mut out = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    if let Err(e) = write(&mut out).and_then(|()| out.flush()) {
        STDOUT_CLOSED.store(true, Ordering::Relaxed);
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            let _ = STDOUT_ERROR.set(e.to_string());
        }
    }
}

/// Why writing to stdout failed, when it failed for another reason than the
/// reader leaving: the command's output is incomplete.
pub fn stdout_error() -> Option<&'static str> {
    STDOUT_ERROR.get().map(String::as_str)
}

/// Logs go to stderr; data goes to stdout.
pub fn init_logging(g: &Global) {
    // The SDKs' own warnings (a region or token not found on the way to
    // credentials, say) are detail: gitgrant says what went wrong in one
    // line, and -v shows the rest.
    let level = match (g.quiet, g.verbose) {
        (true, _) => "error",
        (_, 0) => "error,gitgrant=warn",
        (_, 1) => "warn,gitgrant=info",
        (_, 2) => "info,gitgrant=debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("GITGRANT_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(color_on(&std::io::stderr()))
        .without_time()
        .with_target(false)
        .init();
}

/// Whether to colour output going to `stream`: a terminal, and `NO_COLOR`
/// unset or empty.
pub fn color_on(stream: &impl IsTerminal) -> bool {
    stream.is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// `--now`: an RFC 3339 time with an offset. Times without one are refused,
/// never guessed.
pub fn parse_time(s: &str) -> Result<DateTime<Utc>, String> {
    gitgrant::grant::parse_time(s).map_err(|e| match e {
        gitgrant::grant::TimeError::LeapSecond => {
            format!("{e}; write the second before or after it")
        }
        _ => format!("{e}; write an RFC 3339 time with an offset, such as 2026-11-23T09:00:00Z"),
    })
}

/// The current time, or `--now`.
pub fn now_or(now: Option<DateTime<Utc>>) -> DateTime<Utc> {
    now.unwrap_or_else(Utc::now)
}

/// Reads and validates the access repository's working tree.
pub fn load(g: &Global, now: DateTime<Utc>) -> anyhow::Result<(Snapshot, Validation)> {
    let snapshot = Snapshot::from_dir(&g.repo)
        .with_context(|| format!("reading the access repository at {}", g.repo.display()))?;
    let validation = gitgrant::validate::validate(&snapshot, now, &Landings::new());
    Ok((snapshot, validation))
}

/// Reads and checks gitgrant.yaml alone. On violations (or no file) prints
/// them and returns `None`: the caller exits with [`exit::INVALID`].
///
/// [`exit::INVALID`]: gitgrant::exit::INVALID
pub fn load_policy(g: &Global) -> anyhow::Result<Option<gitgrant::policy::Policy>> {
    let snapshot = Snapshot::from_dir(&g.repo)
        .with_context(|| format!("reading the access repository at {}", g.repo.display()))?;
    let (policy, errors) = match &snapshot.policy {
        // Only the policy is needed: the grants are not read.
        Some(file) => gitgrant::validate::read_policy(file),
        None => (None, Vec::new()),
    };
    if let Some(policy) = policy.filter(|_| errors.is_empty()) {
        return Ok(Some(policy));
    }
    eprintln!("error: gitgrant.yaml is missing or invalid; fix it first");
    print_violations(&snapshot, &errors);
    Ok(None)
}

/// Prints violations for a person on stdout.
pub fn print_violations(snapshot: &Snapshot, v: &[gitgrant::rule::Violation]) {
    out!(
        "{}",
        gitgrant::report::human(v, snapshot, color_on(&std::io::stdout()))
    );
}

/// `--check` of a command that writes files generated from the policy.
#[derive(Debug, clap::Args)]
pub struct GeneratedArgs {
    /// Change nothing; fail when a file differs from what the policy gives.
    #[arg(long)]
    check: bool,
}

/// Writes (or with `--check`, compares) the files `make` gives from the
/// policy: success when every one is current, an error when one drifted.
pub fn generate(
    g: &Global,
    args: GeneratedArgs,
    how: &str,
    make: impl FnOnce(&gitgrant::policy::Policy) -> Vec<(&'static str, String)>,
) -> anyhow::Result<u8> {
    let Some(policy) = load_policy(g)? else {
        return Ok(gitgrant::exit::INVALID);
    };
    let mut fresh = true;
    for (rel, text) in make(&policy) {
        fresh &= write_generated(g, rel, &text, args.check, how)?;
    }
    Ok(if fresh {
        gitgrant::exit::SUCCESS
    } else {
        gitgrant::exit::ERROR
    })
}

/// Compares a generated file with what the repository holds; writes it
/// unless `check`. Returns whether it was up to date.
pub fn write_generated(
    g: &Global,
    rel: &str,
    text: &str,
    check: bool,
    how: &str,
) -> anyhow::Result<bool> {
    let path = g.repo.join(rel);
    let current = std::fs::read_to_string(&path).ok();
    let fresh = current.as_deref() == Some(text);
    if check {
        if !fresh {
            eprintln!(
                "{rel} is {}: run `{how}`",
                if current.is_some() {
                    "out of date"
                } else {
                    "missing"
                }
            );
        }
        return Ok(fresh);
    }
    if !fresh {
        write_file(&path, text)?;
        tracing::info!("wrote {rel}");
    }
    Ok(true)
}

/// Writes `text` to `path`, making its directories first.
pub fn write_file(path: &std::path::Path, text: &str) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

/// The async runtime the cloud and GitHub commands run on. octocrab's client
/// must be built inside it (`enter` it, or build within `block_on`).
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// Appends Markdown to the job summary when Actions gives one
/// (`GITHUB_STEP_SUMMARY`).
pub fn append_step_summary(markdown: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY").filter(|p| !p.is_empty()) else {
        return Ok(());
    };
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .with_context(|| format!("opening $GITHUB_STEP_SUMMARY ({})", path.display()))?;
    f.write_all(markdown.as_bytes())
        .context("writing $GITHUB_STEP_SUMMARY")
}
