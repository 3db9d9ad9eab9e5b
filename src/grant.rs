//! Grant files (`grants/<role>/<name>.yaml`): the raw file format and the
//! validated grant.

use std::fmt;

use chrono::{DateTime, Utc};
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
        let rest = path.strip_prefix("grants/")?.strip_suffix(".yaml")?;
        let (role, name) = rest.split_once('/')?;
        (crate::names::is_slug(role) && crate::names::is_slug(name)).then(|| GrantId {
            role: role.to_string(),
            name: name.to_string(),
        })
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
    /// default branch. `None` for a `starts`-less or `duration` grant whose
    /// landing time is unknown.
    pub fn window(&self, landed: Option<DateTime<Utc>>) -> Option<Window> {
        match self.timing {
            Timing::Duration(d) => landed.map(|l| Window {
                start: l,
                end: l + d.to_delta(),
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

    /// Where the grant stands at `now`; an unlanded grant is judged as if it
    /// landed at `now`.
    pub fn status(&self, landed: Option<DateTime<Utc>>, now: DateTime<Utc>) -> Status {
        let w = self
            .window(landed.or(Some(now)))
            .expect("a landing time gives every grant a window");
        if now >= w.end {
            Status::Expired
        } else if now < w.start {
            Status::Scheduled
        } else {
            Status::Active
        }
    }
}
