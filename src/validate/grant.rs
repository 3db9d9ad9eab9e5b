//! The checks of grant files against the policy.

use chrono::{DateTime, NaiveDateTime, Utc};

use super::{Landings, Sink, parse_file, point};
use crate::duration::{GrantDuration, HARD_CAP};
use crate::grant::{Grant, GrantId, MAX_REASON_CHARS, RawGrant, TimeError, Timing, fmt_time};
use crate::names;
use crate::policy::{Policy, Requester, Role};
use crate::report::visible;
use crate::rule::{Rule, Violation};
use crate::snapshot::SourceFile;
use crate::yaml::Pos;

pub(super) struct GrantContext<'a> {
    pub(super) policy: Option<&'a Policy>,
    pub(super) now: DateTime<Utc>,
    pub(super) landings: &'a Landings,
}

/// One parsed grant file and what the checks need to know about it.
struct GrantFile<'a> {
    raw: &'a RawGrant,
    /// The role named by the folder, when the path has the right shape.
    folder_role: Option<&'a str>,
    policy: Option<&'a Policy>,
    /// The folder's role in the policy.
    role: Option<&'a Role>,
}

type GrantCheck = fn(&GrantFile, &mut Sink);

/// The per-field checks of a grant, by name, in the order they run. Timing is
/// checked apart, because the grant is built from its result.
static GRANT_CHECKS: &[(&str, GrantCheck)] = &[
    ("subject", check_subject),
    ("role", check_role),
    ("reason", check_reason),
    ("ticket", check_ticket),
];

pub(super) fn check_grant_files(
    files: &[SourceFile],
    ctx: &GrantContext,
) -> Vec<(Option<Grant>, Vec<Violation>)> {
    // Files are independent: split them across the machine's cores.
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    if workers < 2 || files.len() < 512 {
        return files.iter().map(|f| check_grant_file(f, ctx)).collect();
    }
    let chunk = files.len().div_ceil(workers);
    std::thread::scope(|scope| {
        let handles: Vec<_> = files
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || {
                    part.iter()
                        .map(|f| check_grant_file(f, ctx))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("grant checks do not panic"))
            .collect()
    })
}

/// The grant id a path stands for, pushing what is wrong with the path.
fn check_path(path: &str, out: &mut Vec<Violation>) -> Option<GrantId> {
    let mut v = |rule: Rule, message: String| {
        out.push(Violation {
            rule,
            file: path.to_string(),
            span: point(Pos::START),
            message,
            help: rule.help().to_string(),
        })
    };
    let parts: Vec<&str> = path.split('/').collect();
    match parts.as_slice() {
        ["grants", role, file] => {
            let stem = file.strip_suffix(".yaml");
            match stem {
                Some(stem) if names::is_slug(stem) => {
                    return Some(GrantId {
                        role: role.to_string(),
                        name: stem.to_string(),
                    });
                }
                Some(_) => v(
                    Rule::GrantFileName,
                    format!("`{file}` is not a valid grant file name"),
                ),
                None => v(
                    Rule::GrantFileName,
                    format!("`{file}` does not end in .yaml"),
                ),
            }
        }
        ["grants", _] => v(
            Rule::GrantPath,
            "a file directly in grants/; it must be in a role's folder".to_string(),
        ),
        _ => v(
            Rule::GrantPath,
            "a file nested below a role's folder; grants are grants/<role>/<name>.yaml".to_string(),
        ),
    }
    None
}

pub(super) fn check_grant_file(
    file: &SourceFile,
    ctx: &GrantContext,
) -> (Option<Grant>, Vec<Violation>) {
    let mut out = Vec::new();
    let id = check_path(&file.path, &mut out);
    let Some(doc) = parse_file::<RawGrant>(file, &mut out) else {
        return (None, out);
    };
    let folder_role = file.path.split('/').nth(1).filter(|_| id.is_some());
    let gf = GrantFile {
        raw: &doc.value,
        folder_role,
        policy: ctx.policy,
        role: folder_role.and_then(|r| ctx.policy.and_then(|p| p.roles.get(r))),
    };
    let mut sink = Sink::new(&file.path, &doc.spans);
    for (_name, check) in GRANT_CHECKS {
        check(&gf, &mut sink);
    }
    let timing = check_timing(&gf, &file.path, ctx, &mut sink);
    out.append(&mut sink.out);
    // The grant as written, whenever it can be read at all: validation accepts
    // it only without violations, while the audit accounts for it regardless.
    let grant = match (id, timing) {
        (Some(id), Some(timing)) => Some(Grant {
            id,
            subject: gf.raw.subject.clone(),
            reason: gf.raw.reason.clone(),
            ticket: gf.raw.ticket.clone(),
            timing,
        }),
        _ => None,
    };
    (grant, out)
}

fn check_subject(g: &GrantFile, s: &mut Sink) {
    let subject = &g.raw.subject;
    if subject.trim().is_empty() {
        s.at(Rule::EmptyField, "subject", "`subject` is empty");
        return;
    }
    let Some(policy) = g.policy else { return };
    let Some(person) = policy.people.get(subject) else {
        let message = format!("`{subject}` is not in gitgrant.yaml `people`");
        // Logins are kept in lower case and matched exactly: `Alice` is
        // refused, never taken for `alice`, but the help says which it meant.
        let lower = subject.to_lowercase();
        if lower != *subject && policy.people.contains_key(&lower) {
            let help = format!("write the login in lower case, as in `people`: `{lower}`");
            s.at_help(Rule::UnknownSubject, "subject", message, help);
        } else {
            s.at(Rule::UnknownSubject, "subject", message);
        }
        return;
    };
    let Some(role) = g.role else { return };
    for provider in &role.providers {
        let Some(config) = policy.providers.get(provider) else {
            continue;
        };
        match person.identity_on(config) {
            None => s.at(
                Rule::SubjectNoIdentity,
                "subject",
                format!(
                    "`{subject}` has no identity on provider `{provider}` of role `{}`",
                    role.name
                ),
            ),
            Some(identity) => {
                if let Some((rule, why)) = crate::providers::unfit(role, identity) {
                    s.at(
                        rule,
                        "subject",
                        format!(
                            "`{subject}` is {} on provider `{provider}`, but role `{}` {why}",
                            identity.describe(),
                            role.name
                        ),
                    )
                }
            }
        }
    }
    if role.admits(subject) == crate::policy::Admission::No {
        s.at_help(
            Rule::RequesterNotAllowed,
            "subject",
            format!(
                "role `{}` does not admit `{subject}` as a subject",
                role.name
            ),
            format!(
                "role `{}` admits only: {}",
                role.name,
                role.requesters
                    .iter()
                    .map(|q| match q {
                        Requester::Anyone => "*",
                        Requester::Login(l) | Requester::Team(l) => l.as_str(),
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        );
    }
}

fn check_role(g: &GrantFile, s: &mut Sink) {
    let role = &g.raw.role;
    if role.trim().is_empty() {
        s.at(Rule::EmptyField, "role", "`role` is empty");
        return;
    }
    let Some(folder) = g.folder_role else { return };
    if role != folder {
        s.at(
            Rule::RoleFolderMismatch,
            "role",
            format!("`role` is `{role}` but the file is in grants/{folder}/"),
        );
    }
    if let Some(policy) = g.policy
        && g.role.is_none()
    {
        let known: Vec<&str> = policy.roles.keys().map(String::as_str).collect();
        s.at_help(
            Rule::UnknownRole,
            "role",
            format!("no role `{folder}` in gitgrant.yaml"),
            format!("roles are: {}", known.join(", ")),
        );
    }
}

/// Free text is printed for people (audit tables, step summaries, commit
/// messages): a control character in it could drive an auditor's terminal.
/// `allowed` are those the field may hold.
fn check_plain_text(field: &str, text: &str, allowed: &[char], s: &mut Sink) {
    let hidden = text
        .chars()
        .find(|c| crate::report::is_hidden(*c) && !allowed.contains(c));
    if let Some(c) = hidden {
        s.at(
            Rule::ControlCharacter,
            field,
            format!(
                "`{field}` holds the control character {}",
                visible(&c.to_string())
            ),
        );
    }
}

fn check_reason(g: &GrantFile, s: &mut Sink) {
    let reason = &g.raw.reason;
    // Line breaks and tabs come from YAML block scalars; the rest has no
    // place in a sentence.
    check_plain_text("reason", reason, &['\n', '\t'], s);
    if reason.trim().is_empty() {
        s.at(Rule::EmptyField, "reason", "`reason` is empty");
    } else {
        let n = reason.chars().count();
        if n > MAX_REASON_CHARS {
            s.at(
                Rule::ReasonTooLong,
                "reason",
                format!("`reason` has {n} characters, over {MAX_REASON_CHARS}"),
            );
        }
    }
}

fn check_ticket(g: &GrantFile, s: &mut Sink) {
    if let Some(t) = &g.raw.ticket {
        check_plain_text("ticket", t, &[], s);
    }
    if let Some(t) = &g.raw.ticket
        && t.trim().is_empty()
    {
        s.at(Rule::EmptyField, "ticket", "`ticket` is empty");
        return;
    }
    let Some(role) = g.role else { return };
    let Some(pattern) = &role.require_ticket else {
        return;
    };
    let shown = pattern
        .as_str()
        .trim_start_matches("^(?:")
        .trim_end_matches(")$");
    match &g.raw.ticket {
        None => s.at_help(
            Rule::TicketRequired,
            "",
            format!("role `{}` requires a ticket", role.name),
            format!("add `ticket:` with an id matching `{shown}`"),
        ),
        Some(t) if !pattern.is_match(t) => s.at_help(
            Rule::TicketMismatch,
            "ticket",
            format!("ticket `{}` does not match `{shown}`", visible(t)),
            format!("role `{}` takes tickets matching `{shown}`", role.name),
        ),
        Some(_) => {}
    }
}

fn parse_time(text: &str, field: &str, s: &mut Sink) -> Option<DateTime<Utc>> {
    let err = match crate::grant::parse_time(text) {
        Ok(t) => return Some(t),
        Err(e) => e,
    };
    let naive = NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f")
        .or_else(|_| NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f"))
        .is_ok()
        || chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").is_ok();
    let shown = visible(text);
    match err {
        TimeError::NotRfc3339 if naive => s.at(
            Rule::TimeWithoutOffset,
            field,
            format!("`{field}: {shown}` has no UTC offset"),
        ),
        TimeError::NotRfc3339 => s.at(
            Rule::InvalidTime,
            field,
            format!("`{shown}` is not an RFC 3339 time"),
        ),
        TimeError::LeapSecond => s.at_help(
            Rule::InvalidTime,
            field,
            format!("`{shown}` is a leap second"),
            "IAM does not accept second 60 and would refuse the policy on every run; write the second before or after it".to_string(),
        ),
        TimeError::OutOfCalendar => s.at_help(
            Rule::InvalidTime,
            field,
            format!("`{shown}` is outside the years 0000 to 9999 in UTC"),
            "IAM's date conditions take four-digit years; write a time in the years 0000 to 9999".to_string(),
        ),
    }
    None
}

fn check_timing(g: &GrantFile, path: &str, ctx: &GrantContext, s: &mut Sink) -> Option<Timing> {
    let raw = g.raw;
    let timing = match (&raw.duration, &raw.starts, &raw.expires) {
        (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
            let field = if raw.expires.is_some() {
                "expires"
            } else {
                "starts"
            };
            s.at_key(
                Rule::DurationAndWindow,
                field,
                format!("both `duration` and `{field}` are given"),
            );
            return None;
        }
        (None, _, None) => {
            s.at(
                Rule::NoDurationOrWindow,
                "",
                "neither `duration` nor `expires` is given",
            );
            return None;
        }
        (Some(text), None, None) => match text.parse::<GrantDuration>() {
            Err(e) => {
                s.at(Rule::InvalidDuration, "duration", e.to_string());
                return None;
            }
            Ok(d) if d > HARD_CAP => {
                s.at(
                    Rule::InvalidDuration,
                    "duration",
                    format!("duration {text} is longer than gitgrant's hard cap of {HARD_CAP}"),
                );
                return None;
            }
            Ok(d) => Timing::Duration(d),
        },
        (None, starts, Some(expires)) => {
            let starts = starts.as_ref().map(|t| parse_time(t, "starts", s));
            let expires = parse_time(expires, "expires", s);
            match (starts, expires) {
                (Some(Some(st)), Some(ex)) if st >= ex => {
                    s.at(
                        Rule::WindowInverted,
                        "starts",
                        "`starts` is not before `expires`",
                    );
                    return None;
                }
                (Some(None), _) | (_, None) => return None,
                (starts, Some(expires)) => Timing::Window {
                    starts: starts.flatten(),
                    expires,
                },
            }
        }
    };
    check_landing_time(path, timing, ctx, s);
    check_window_length(g, path, timing, ctx, s);
    Some(timing)
}

/// A window that starts at landing needs a landing time it can be computed
/// from and written into IAM's conditions: git accepts committer dates
/// hundreds of thousands of years away, IAM takes four-digit years.
fn check_landing_time(path: &str, timing: Timing, ctx: &GrantContext, s: &mut Sink) {
    let field = match timing {
        Timing::Duration(_) => "duration",
        Timing::Window { starts: None, .. } => "expires",
        Timing::Window {
            starts: Some(_), ..
        } => return,
    };
    let Some(&landed) = ctx.landings.get(path) else {
        return;
    };
    // No window for a landing no window can be computed from.
    if timing.window(Some(landed)).is_some() {
        return;
    }
    s.at(
        Rule::LandingTimeOutOfRange,
        field,
        format!(
            "the grant landed in a commit dated {}: its window would not lie within the years 0000 to 9999",
            fmt_time(landed)
        ),
    );
}

/// A grant's window may never exceed its role's `max_duration`. A window
/// that starts at landing is measured from the landing time, or — before it
/// has landed — from `now`, the soonest it could land.
fn check_window_length(
    g: &GrantFile,
    path: &str,
    timing: Timing,
    ctx: &GrantContext,
    s: &mut Sink,
) {
    let Some(role) = g.role else { return };
    let landed = ctx.landings.get(path).copied();
    let (length, field) = match timing {
        Timing::Duration(d) => (Some(d), "duration"),
        Timing::Window { starts, expires } => {
            let start = starts.or(landed).unwrap_or(ctx.now);
            // A starts-less grant already past its expiry is reported as expired, not too long.
            (GrantDuration::from_delta(expires - start), "expires")
        }
    };
    if let Some(length) = length
        && length > role.max_duration
    {
        s.at(
            Rule::WindowTooLong,
            field,
            format!(
                "the window is {length}, longer than role `{}` allows ({})",
                role.name, role.max_duration
            ),
        );
    }
}
