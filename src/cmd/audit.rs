//! `gitgrant audit`: every grant's lifecycle, rebuilt from history alone.

use std::io::{IsTerminal, Write as _};

use chrono::{DateTime, Utc};
use gitgrant::audit::{self, Filter, Options, render::Format};
use gitgrant::duration::GrantDuration;
use gitgrant::exit;
use gitgrant::git::Repo;

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
    /// Output: table, json, csv or markdown.
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
    let history = repo.history(tip, &mut progress)?;
    if show {
        let _ = write!(stderr.lock(), "\r\x1b[K");
    }
    let options = Options {
        late_after: args.late_after.to_delta(),
    };
    let full = audit::audit(&history, now, &options);
    let filter = Filter {
        subject: args.subject,
        role: args.role,
        since: args.since,
        until: args.until,
        at: args.at,
    };
    let shown = audit::filter(&full, &filter);
    print!("{}", audit::render::render(&shown, args.format));
    Ok(exit::SUCCESS)
}
