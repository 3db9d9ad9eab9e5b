//! `gitgrant expire`: remove the files of grants whose window has ended.

use chrono::{DateTime, Utc};
use gitgrant::exit;
use gitgrant::git::Repo;
use gitgrant::grant::fmt_time;
use serde::Serialize;

/// Remove the files of grants whose window has ended, one commit per grant
/// with `Gitgrant-*` trailers, read from the branch in the git database (not
/// the working tree).
///
/// With --push, the branch is fetched from REMOTE first and the commits are
/// pushed back; when the remote moves meanwhile, they are rebuilt on its new
/// tip, never duplicating a removal or removing a grant changed there.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Judge windows as of this time (RFC 3339 with an offset) instead of now.
    #[arg(long, value_parser = super::parse_time)]
    now: Option<DateTime<Utc>>,
    /// Fetch the branch from this remote, and push the removal commits to it.
    #[arg(long, value_name = "REMOTE")]
    push: Option<String>,
    /// The default branch of the access repository.
    #[arg(long, env = "GITGRANT_BRANCH", default_value = "main")]
    branch: String,
    /// Show what would be removed; commit nothing.
    #[arg(long)]
    dry_run: bool,
    /// Output: human or json.
    #[arg(long, value_enum, default_value_t = super::Format::Human)]
    format: super::Format,
}

#[derive(Serialize)]
struct Row {
    grant: String,
    path: String,
    window_end: String,
    commit: Option<String>,
}

#[derive(Serialize)]
struct Output {
    now: String,
    branch: String,
    base: String,
    tip: String,
    dry_run: bool,
    pushed_to: Option<String>,
    removals: Vec<Row>,
}

pub fn run(g: &super::Global, args: Args) -> anyhow::Result<u8> {
    let now = super::now_or(args.now);
    let repo = Repo::open(&g.repo)?;
    let done = gitgrant::run::expire(&repo, &args.branch, args.push.as_deref(), args.dry_run, now)?;
    let made = done
        .removals
        .iter()
        .filter(|(r, _)| r.commit.is_some())
        .count();
    let (base, tip) = (done.base, done.tip);
    let rows: Vec<Row> = done
        .removals
        .into_iter()
        .map(|(r, end)| Row {
            grant: r.grant,
            path: r.path,
            window_end: fmt_time(end),
            commit: r.commit,
        })
        .collect();
    match args.format {
        super::Format::Json => {
            let out = Output {
                now: fmt_time(now),
                branch: args.branch.clone(),
                base: base.to_string(),
                tip: tip.to_string(),
                dry_run: args.dry_run,
                pushed_to: args.push.clone().filter(|_| !args.dry_run),
                removals: rows,
            };
            outln!("{}", serde_json::to_string_pretty(&out)?);
        }
        super::Format::Human => {
            for r in &rows {
                let what = match (&r.commit, args.dry_run) {
                    (_, true) => "would be removed".to_string(),
                    (Some(c), _) => format!("removed in {}", &c[..7]),
                    (None, _) => "already removed or changed on the branch; left".to_string(),
                };
                outln!("expired {} (ended {}): {what}", r.grant, r.window_end);
            }
            let where_ = match &args.push {
                Some(remote) => format!("{remote}/{}", args.branch),
                None => args.branch.clone(),
            };
            outln!(
                "{} grants expired; {} removal commits on {where_}{}",
                rows.len(),
                made,
                if args.dry_run { " (dry run)" } else { "" }
            );
        }
    }
    Ok(exit::SUCCESS)
}
