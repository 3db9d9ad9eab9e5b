//! `gitgrant request`: write a new grant file that passes validation.

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use gitgrant::exit;
use gitgrant::grant::{RawGrant, fmt_time};

/// Write a grant file for ROLE that passes validation, and print its path.
///
/// Give a duration (counted from when the grant lands on the default branch)
/// or an explicit window with --expires (and optionally --starts).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The role to ask for.
    role: String,
    /// How long, from landing: 30m, 2h, 1d, 1h30m.
    #[arg(long = "for", value_name = "DURATION", required_unless_present = "expires", conflicts_with_all = ["starts", "expires"])]
    duration: Option<String>,
    /// Why the access is needed.
    #[arg(long)]
    reason: String,
    /// Whose access (a GitHub login in gitgrant.yaml `people`).
    #[arg(long, env = "GITHUB_ACTOR")]
    subject: Option<String>,
    /// Ticket or incident id.
    #[arg(long)]
    ticket: Option<String>,
    /// Start of an explicit window (RFC 3339 with an offset).
    #[arg(long, value_parser = super::parse_time, requires = "expires")]
    starts: Option<DateTime<Utc>>,
    /// End of an explicit window (RFC 3339 with an offset).
    #[arg(long, value_parser = super::parse_time)]
    expires: Option<DateTime<Utc>>,
    /// Judge the window as of this time instead of now.
    #[arg(long, value_parser = super::parse_time, hide = true)]
    now: Option<DateTime<Utc>>,
}

pub fn run(g: &super::Global, args: Args) -> anyhow::Result<u8> {
    let now = super::now_or(args.now);
    let Some(subject) = args.subject.map(|s| s.to_lowercase()) else {
        eprintln!("error: say whose access this is with --subject LOGIN (or set GITHUB_ACTOR)");
        return Ok(exit::INVALID);
    };
    let Some(policy) = super::load_policy(g)? else {
        return Ok(exit::INVALID);
    };
    let raw = RawGrant {
        subject: subject.clone(),
        role: args.role.clone(),
        reason: args.reason,
        ticket: args.ticket,
        duration: args.duration,
        starts: args.starts.map(fmt_time),
        expires: args.expires.map(fmt_time),
    };
    let text = gitgrant::request::render(&raw);
    // A new random suffix until the name is free.
    let (rel, full) = loop {
        let rel = format!(
            "grants/{}/{}.yaml",
            args.role,
            gitgrant::request::grant_name(&subject, now)
        );
        let full = g.repo.join(&rel);
        if !full.exists() {
            break (rel, full);
        }
    };
    if let Err(violations) = gitgrant::validate::check_grant(&policy, &rel, text.as_bytes(), now) {
        let shown = gitgrant::snapshot::Snapshot {
            policy: None,
            grants: vec![gitgrant::snapshot::SourceFile {
                path: rel.clone(),
                content: gitgrant::snapshot::Content::Bytes(text.into_bytes()),
            }],
        };
        eprintln!("error: this request would not pass validation; nothing was written");
        super::print_violations(&shown, &violations);
        return Ok(exit::INVALID);
    }
    if let Some(dir) = full.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::write(&full, &text).with_context(|| format!("writing {}", full.display()))?;
    println!("{rel}");
    Ok(exit::SUCCESS)
}
