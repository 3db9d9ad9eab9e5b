//! Grant files (`grants/<role>/<name>.yaml`): the raw file format and the
//! validated grant.

use std::fmt;

use chrono::{DateTime, Datelike as _, TimeDelta, Timelike as _, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::duration::GrantDuration;

/// The most characters a grant's `reason` may have.
pub const MAX_REASON_CHARS: usize = 1000;

/// A grant file as written: who, which role, why, for how long.
///
/// Give either `duration` (the clock starts when the grant lands on the
/// default branch) or `expires` (with an optional `starts`).
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "gitgrant grant", rename = "Grant")]
pub struct RawGrant {
    /// The person who gets access: a GitHub login from `people` in gitgrant.yaml.
    #[schemars(
        regex(pattern = r"^[a-z0-9](?:-?[a-z0-9])*$"),
        length(min = 1, max = 39)
    )]
    pub subject: String,
    /// The role to grant; must equal the name of the folder the file is in.
    #[schemars(regex(pattern = r"^[a-z0-9][a-z0-9-]{0,62}$"))]
    pub role: String,
    /// Why the access is needed, in a sentence a reviewer and an auditor can read.
    #[schemars(length(min = 1, max = 1000))]
    pub reason: String,
    /// A ticket or incident id; a role may require one matching a pattern.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket: Option<String>,
    /// How long access lasts from landing on the default branch: `30m`, `2h`, `1d`, `1h30m`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^([0-9]+d)?([0-9]+h)?([0-9]+m)?$"))]
    pub duration: Option<String>,
    /// When access starts (RFC 3339 with an offset); defaults to landing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<DateTime<Utc>>")]
    pub starts: Option<String>,
    /// When access ends (RFC 3339 with an offset, such as `2026-11-23T17:00:00Z`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<DateTime<Utc>>")]
    pub expires: Option<String>,
}

/// A grant's id: `<role>/<name>`, taken from its path.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GrantId {
    /// The role (folder name).
    pub role: String,
    /// The file stem.
    pub name: String,
}

impl GrantId {
    /// The grant file's path in the access repository.
    pub fn path(&self) -> String {
        format!("grants/{}/{}.yaml", self.role, self.name)
    }

    /// The id of the grant file at `path` (`grants/<role>/<name>.yaml`),
    /// when both names are valid.
    pub fn from_path(path: &str) -> Option<GrantId> {
        path.strip_prefix("grants/")?
            .strip_suffix(".yaml")?
            .parse()
            .ok()
    }
}

/// A text that is no grant id: not `<role>/<name>` of two valid names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is no grant id (`<role>/<name>`)")]
pub struct NotAGrantId(String);

impl std::str::FromStr for GrantId {
    type Err = NotAGrantId;

    /// `<role>/<name>`, both valid names.
    fn from_str(id: &str) -> Result<GrantId, NotAGrantId> {
        match id.split_once('/') {
            Some((role, name)) if crate::names::is_slug(role) && crate::names::is_slug(name) => {
                Ok(GrantId {
                    role: role.to_string(),
                    name: name.to_string(),
                })
            }
            _ => Err(NotAGrantId(id.to_string())),
        }
    }
}

impl fmt::Display for GrantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.role, self.name)
    }
}

impl Serialize for GrantId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// When a grant's access is in force, as the file states it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Timing {
    /// From landing, for this long.
    Duration(GrantDuration),
    /// From `starts` (or landing) until `expires`.
    Window {
        /// Start; `None` means at landing.
        starts: Option<DateTime<Utc>>,
        /// End.
        expires: DateTime<Utc>,
    },
}

impl Timing {
    /// The window a grant with this timing is in force for, given when it
    /// landed on the default branch. `None` for a `starts`-less or `duration` grant whose
    /// landing time is unknown, or [outside the calendar](in_calendar)
    /// together with its end: a commit date git took but no window can be
    /// computed from (validation rejects such a grant:
    /// `landing-time-out-of-range`).
    pub fn window(&self, landed: Option<DateTime<Utc>>) -> Option<Window> {
        let landed = landed.filter(|l| in_calendar(*l));
        match *self {
            Timing::Duration(d) => landed.and_then(|l| {
                Some(Window {
                    start: l,
                    end: l
                        .checked_add_signed(d.to_delta())
                        .filter(|e| in_calendar(*e))?,
                })
            }),
            Timing::Window {
                starts: Some(start),
                expires,
            } => Some(Window {
                start,
                end: expires,
            }),
            Timing::Window {
                starts: None,
                expires,
            } => landed.map(|start| Window {
                start,
                end: expires,
            }),
        }
    }

    /// When the access runs, in words for a pull request that has not
    /// merged yet: `for 2h from the moment it merges`, `from … until …`.
    pub fn in_words(&self) -> String {
        match self {
            Timing::Duration(d) => format!("for {d} from the moment it merges"),
            Timing::Window {
                starts: Some(s),
                expires,
            } => format!("from {} until {}", fmt_time(*s), fmt_time(*expires)),
            Timing::Window {
                starts: None,
                expires,
            } => format!("from the moment it merges until {}", fmt_time(*expires)),
        }
    }
}

/// A half-open time window `[start, end)`, serialised as RFC 3339 UTC times
/// in whole seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, JsonSchema)]
pub struct Window {
    /// First instant of access.
    #[serde(serialize_with = "ser_time")]
    #[schemars(with = "DateTime<Utc>")]
    pub start: DateTime<Utc>,
    /// First instant without access.
    #[serde(serialize_with = "ser_time")]
    #[schemars(with = "DateTime<Utc>")]
    pub end: DateTime<Utc>,
}

/// Serialises a time as [`fmt_time`] writes it.
pub fn ser_time<S: serde::Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&fmt_time(*t))
}

impl Window {
    /// Whether `t` is inside the window.
    pub fn contains(&self, t: DateTime<Utc>) -> bool {
        self.start <= t && t < self.end
    }

    /// Whether the window shares an instant with `[since, until)` (an open
    /// bound is `None`).
    pub fn overlaps(&self, since: Option<DateTime<Utc>>, until: Option<DateTime<Utc>>) -> bool {
        until.is_none_or(|u| self.start < u) && since.is_none_or(|s| self.end > s)
    }

    /// The window's length, or `None` when it is empty.
    pub fn length(&self) -> Option<GrantDuration> {
        GrantDuration::from_delta(self.end - self.start)
    }

    /// The window IAM enforces: whole seconds, rounded inward (the start up
    /// to the next whole second, the end down), because IAM's date
    /// conditions take whole seconds and access must never reach outside
    /// the window the file asked for. A window shorter than a second can
    /// come out empty (`end <= start`), which grants nothing.
    pub fn enforced(&self) -> Window {
        let end = whole_second(self.end);
        let start = whole_second(self.start);
        let start = if start == self.start {
            start
        } else {
            // Nothing lies past the calendar's last second: an empty window.
            start
                .checked_add_signed(TimeDelta::seconds(1))
                .unwrap_or(end)
        };
        Window { start, end }
    }
}

/// `t` without its fraction of a second (a leap second counts as the
/// second before it).
fn whole_second(t: DateTime<Utc>) -> DateTime<Utc> {
    t.with_nanosecond(0).unwrap_or(t)
}

/// Why a time in a grant file or on the command line was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TimeError {
    /// Not RFC 3339 with an offset.
    #[error("not an RFC 3339 time with an offset")]
    NotRfc3339,
    /// Second 60: RFC 3339 allows it, IAM refuses the whole policy document.
    #[error("a leap second (second 60), which IAM does not accept")]
    LeapSecond,
    /// In UTC, outside the years 0000 to 9999.
    #[error("outside the years 0000 to 9999 once in UTC")]
    OutOfCalendar,
}

/// Reads a time as grant files and `--now` give it: RFC 3339 with an
/// offset, whose UTC form IAM can take (no leap second, a four-digit year).
pub fn parse_time(text: &str) -> Result<DateTime<Utc>, TimeError> {
    let t = DateTime::parse_from_rfc3339(text).map_err(|_| TimeError::NotRfc3339)?;
    // chrono keeps a leap second as a fraction of 1 s or more.
    if t.nanosecond() >= 1_000_000_000 {
        return Err(TimeError::LeapSecond);
    }
    let t = t.with_timezone(&Utc);
    if !in_calendar(t) {
        return Err(TimeError::OutOfCalendar);
    }
    Ok(t)
}

/// Whether gitgrant can write `t` where it goes: RFC 3339 and IAM's date
/// conditions take four-digit years, so every time gitgrant computes a
/// window from or prints into a policy lies in the years 0000 to 9999 (UTC).
pub fn in_calendar(t: DateTime<Utc>) -> bool {
    (0..=9999).contains(&t.year())
}

impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", fmt_time(self.start), fmt_time(self.end))
    }
}

/// A time as gitgrant prints it: RFC 3339 in UTC, whole seconds.
pub fn fmt_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Where a grant stands at some instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Its window has not begun.
    Scheduled,
    /// Its window contains the instant.
    Active,
    /// Its window has ended: the reconciler revokes it and removes the file.
    Expired,
}

/// A validated grant.
#[derive(Debug, Clone, Serialize)]
pub struct Grant {
    /// `<role>/<name>`.
    pub id: GrantId,
    /// The GitHub login of the person who gets access.
    pub subject: String,
    /// Why, as written.
    pub reason: String,
    /// Ticket id, if given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ticket: Option<String>,
    /// When, as written.
    pub timing: Timing,
}

impl Grant {
    /// The role name (same as `id.role`).
    pub fn role(&self) -> &str {
        &self.id.role
    }

    /// The window this grant is in force for, given when it landed on the
    /// default branch: see [`Timing::window`].
    pub fn window(&self, landed: Option<DateTime<Utc>>) -> Option<Window> {
        self.timing.window(landed)
    }

    /// Where the grant stands at `now`; an unlanded grant is judged as if it
    /// landed at `now`.
    pub fn status(&self, landed: Option<DateTime<Utc>>, now: DateTime<Utc>) -> Status {
        // With a landing time, only a window outside the calendar is
        // missing: it never begins.
        let Some(w) = self.window(landed.or(Some(now))) else {
            return Status::Scheduled;
        };
        if now >= w.end {
            Status::Expired
        } else if now < w.start {
            Status::Scheduled
        } else {
            Status::Active
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    fn window(start: &str, end: &str) -> Window {
        Window {
            start: t(start),
            end: t(end),
        }
    }

    #[test]
    fn fractional_seconds_are_enforced_inward_never_outward() {
        let w = window("2026-11-22T10:00:00.5Z", "2026-11-22T12:00:00.999Z");
        assert_eq!(
            w.enforced(),
            window("2026-11-22T10:00:01Z", "2026-11-22T12:00:00Z")
        );
        // Whole seconds stay as they are.
        let whole = window("2026-11-22T10:00:00Z", "2026-11-22T12:00:00Z");
        assert_eq!(whole.enforced(), whole);
        // The enforced window lies inside the one asked for.
        let e = w.enforced();
        assert!(w.start <= e.start && e.end <= w.end, "{e}");
    }

    #[test]
    fn a_window_within_one_second_is_enforced_as_empty() {
        let w = window("2026-11-22T10:00:00.2Z", "2026-11-22T10:00:00.8Z");
        let e = w.enforced();
        assert!(e.end <= e.start, "{e}");
        assert_eq!(e.length(), None);
        assert!(!e.contains(t("2026-11-22T10:00:00Z")));
        assert!(!e.contains(t("2026-11-22T10:00:00.5Z")));
        // The last fraction of the calendar cannot round up: still empty.
        let last = Window {
            start: DateTime::<Utc>::MAX_UTC,
            end: DateTime::<Utc>::MAX_UTC,
        };
        assert!(last.enforced().end <= last.enforced().start);
    }

    #[test]
    fn a_duration_landing_at_the_end_of_chronos_calendar_has_no_window_and_no_panic() {
        let grant = Grant {
            id: GrantId {
                role: "r".into(),
                name: "a".into(),
            },
            subject: "alice".into(),
            reason: "x".into(),
            ticket: None,
            timing: Timing::Duration("2h".parse().unwrap()),
        };
        let end = DateTime::<Utc>::MAX_UTC;
        assert_eq!(grant.window(Some(end)), None);
        assert_eq!(
            grant.status(Some(end), t("2026-11-22T10:00:00Z")),
            Status::Scheduled
        );
    }

    #[test]
    fn leap_seconds_and_years_iam_cannot_write_are_refused() {
        assert_eq!(
            parse_time("2026-11-22T23:59:60Z"),
            Err(TimeError::LeapSecond)
        );
        assert_eq!(
            parse_time("2026-11-23T00:59:60+01:00"),
            Err(TimeError::LeapSecond)
        );
        assert_eq!(
            parse_time("9999-12-31T23:59:59-01:00"),
            Err(TimeError::OutOfCalendar)
        );
        assert_eq!(parse_time("2026-11-22"), Err(TimeError::NotRfc3339));
        assert_eq!(
            parse_time("2026-11-22T23:59:59.5Z"),
            Ok(t("2026-11-22T23:59:59.5Z"))
        );
    }
}
