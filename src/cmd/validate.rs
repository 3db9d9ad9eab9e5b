//! `gitgrant validate`.

use chrono::{DateTime, Utc};
use gitgrant::exit;
use gitgrant::grant::{Grant, Timing, fmt_time};
use gitgrant::validate::Validation;
use serde::Serialize;

/// Check gitgrant.yaml and every grant file in the access repository.
///
/// Reads the working tree (or any directory), so a grant can be checked before
/// it is committed. A grant whose window has ended is listed as expired, not
/// rejected: the reconciler removes it.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Judge windows as of this time (RFC 3339 with an offset) instead of now.
    #[arg(long, value_parser = super::parse_time)]
    now: Option<DateTime<Utc>>,
    /// Output: human, json, or github (workflow annotations).
    #[arg(long, value_enum, default_value_t = Format::Human)]
    format: Format,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Format {
    Human,
    Json,
    Github,
}

/// Where a grant in a working tree stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
enum State {
    /// Starts when it lands on the default branch.
    OnLanding,
    /// Its explicit window has not begun.
    Scheduled,
    /// Its explicit window contains now.
    Active,
    /// Its window has ended; the reconciler removes it.
    Expired,
}

fn state(g: &Grant, now: DateTime<Utc>) -> State {
    match g.timing {
        Timing::Window { expires, .. } if expires <= now => State::Expired,
        Timing::Window {
            starts: Some(s), ..
        } if s > now => State::Scheduled,
        Timing::Window {
            starts: Some(_), ..
        } => State::Active,
        _ => State::OnLanding,
    }
}

#[derive(Serialize)]
struct GrantRow<'a> {
    id: String,
    path: String,
    subject: &'a str,
    role: &'a str,
    provider: Option<String>,
    state: State,
    #[serde(skip_serializing_if = "Option::is_none")]
    duration: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    starts: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    expires: Option<String>,
}

#[derive(Serialize)]
struct Output<'a> {
    valid: bool,
    now: String,
    grants: Vec<GrantRow<'a>>,
    rejected: &'a [String],
    violations: &'a [gitgrant::rule::Violation],
}

fn rows(v: &Validation, now: DateTime<Utc>) -> Vec<GrantRow<'_>> {
    v.grants
        .iter()
        .map(|g| {
            let (duration, starts, expires) = match g.timing {
                Timing::Duration(d) => (Some(d.to_string()), None, None),
                Timing::Window { starts, expires } => {
                    (None, starts.map(fmt_time), Some(fmt_time(expires)))
                }
            };
            GrantRow {
                id: g.id.to_string(),
                path: g.id.path(),
                subject: &g.subject,
                role: g.role(),
                provider: v
                    .policy
                    .as_ref()
                    .and_then(|p| p.roles.get(g.role()))
                    .map(|r| r.providers_text()),
                state: state(g, now),
                duration,
                starts,
                expires,
            }
        })
        .collect()
}

pub fn run(g: &super::Global, args: Args) -> anyhow::Result<u8> {
    let now = super::now_or(args.now);
    let (snapshot, v) = super::load(g, now)?;
    let rows = rows(&v, now);
    match args.format {
        Format::Json => {
            let out = Output {
                valid: v.is_valid(),
                now: fmt_time(now),
                grants: rows,
                rejected: &v.rejected,
                violations: &v.violations,
            };
            outln!("{}", serde_json::to_string_pretty(&out)?);
        }
        Format::Github => {
            out!("{}", gitgrant::report::github(&v.violations));
            outln!("{}", summary(&v, &rows));
        }
        Format::Human => {
            super::print_violations(&snapshot, &v.violations);
            for r in &rows {
                let when = match (&r.duration, &r.starts, &r.expires) {
                    (Some(d), _, _) => format!("{d} from landing"),
                    (_, Some(s), Some(e)) => format!("{s} → {e}"),
                    (_, _, Some(e)) => format!("landing → {e}"),
                    _ => String::new(),
                };
                let state = serde_json::to_value(r.state)?;
                outln!(
                    "{:<11} {:<44} {:<12} {when}",
                    state.as_str().unwrap_or_default(),
                    r.id,
                    r.subject
                );
            }
            outln!("{}", summary(&v, &rows));
        }
    }
    Ok(if v.is_valid() {
        exit::SUCCESS
    } else {
        exit::INVALID
    })
}

fn summary(v: &Validation, rows: &[GrantRow]) -> String {
    let count = |s: State| rows.iter().filter(|r| r.state == s).count();
    let grants = format!(
        "{} grants ({} on landing, {} scheduled, {} active, {} expired)",
        rows.len(),
        count(State::OnLanding),
        count(State::Scheduled),
        count(State::Active),
        count(State::Expired),
    );
    if v.is_valid() {
        format!("valid: gitgrant.yaml and {grants}")
    } else {
        format!(
            "invalid: {} errors; {} grant files rejected; {grants} valid",
            v.violations.len(),
            v.rejected.len()
        )
    }
}
