//! The words a plan is made of that every provider kind uses: why a
//! resource goes, what a change does, a refusal, a provider that could not
//! be read. Kinds import these, never the plan itself, which names them.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::grant::Window;

/// Why a grant's resource is revoked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RevokeReason {
    /// Its grant's window has ended.
    Expired,
    /// Its grant's file was deleted (an early revoke).
    Deleted,
    /// No grant explains it: it is removed from the cloud.
    Drift,
    /// Its grant file no longer passes validation: it is not applied.
    Invalid,
    /// Its grant's window has not started yet (a later `starts`).
    NotStarted,
    /// It carries an active grant under the name gitgrant used before names
    /// were made injective; it goes once the grant's new one is made.
    Renamed,
    /// A session fence no grant needs any more: every session it ended has
    /// expired.
    Unneeded,
}

impl fmt::Display for RevokeReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RevokeReason::Expired => "expired",
            RevokeReason::Deleted => "deleted",
            RevokeReason::Drift => "drift",
            RevokeReason::Invalid => "invalid",
            RevokeReason::NotStarted => "not-started",
            RevokeReason::Renamed => "renamed",
            RevokeReason::Unneeded => "unneeded",
        })
    }
}

/// Why the grants that no active grant explains should go, by grant id
/// (`role/name`): ended, deleted, invalid. A resource whose grant is not
/// here is drift.
pub type Known = BTreeMap<String, RevokeReason>;

/// What a change does, as the plan, the run's JSON and notifications name
/// it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Gives a grant its access.
    Grant,
    /// Changes access already given (a new window, repaired drift).
    Update,
    /// Takes access away.
    Revoke,
    /// Makes, rewrites or deletes a session fence.
    Fence,
}

impl Action {
    /// Whether the change gives (or keeps giving) a grant its access.
    pub fn gives_access(self) -> bool {
        matches!(self, Action::Grant | Action::Update)
    }

    /// Its name: `grant`, `update`, `revoke`, `fence`.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Grant => "grant",
            Action::Update => "update",
            Action::Revoke => "revoke",
            Action::Fence => "fence",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A grant that cannot be applied, decided before any call: it would break a
/// quota, or its subject has no identity in the account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Refusal {
    /// The grant id.
    pub grant: String,
    /// The provider.
    pub provider: String,
    /// Why, in words.
    pub why: String,
}

/// A provider that could not be read: nothing is planned or changed there,
/// and the plan never says that it matches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unreadable {
    /// The provider.
    pub provider: String,
    /// What went wrong, in one line.
    pub error: String,
}

/// What every kind's change tells the plan and the run. Each kind's
/// `Change` implements it; the plan's own `Change` forwards to it.
pub trait KindChange {
    /// The provider the change is made in.
    fn provider(&self) -> &str;

    /// The grant it is for, or the resource's name when no grant is known.
    fn grant(&self) -> &str;

    /// When it is applied relative to the others, lowest first: by
    /// default revocations (what they free counts for the rest), then
    /// updates and fences, then grants.
    fn apply_order(&self) -> u8 {
        match self.action() {
            Action::Revoke => 0,
            Action::Update | Action::Fence => 1,
            Action::Grant => 2,
        }
    }

    /// What the change does.
    fn action(&self) -> Action;

    /// Why a revocation happens; `None` for a grant or an update.
    fn revoke_reason(&self) -> Option<RevokeReason>;

    /// Whether it repairs tampering (drift): a security event.
    fn is_drift(&self) -> bool;

    /// `+` for a grant, `~` for an update (and by default a fence), `-`
    /// for a revocation.
    fn sign(&self) -> char {
        match self.action() {
            Action::Grant => '+',
            Action::Update | Action::Fence => '~',
            Action::Revoke => '-',
        }
    }

    /// The change in words, without its sign.
    fn text(&self) -> String;

    /// The change in one line, as the plan and the run's summary show it:
    /// its [`sign`](KindChange::sign), then its [`text`](KindChange::text).
    fn line(&self) -> String {
        format!("{} {}", self.sign(), self.text())
    }
}

/// A grant that is no longer active (its window ended, or its file is
/// invalid or was removed), as git tells it: its statements are derived
/// from this, never only read back from a fence a role session could have
/// rewritten.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndedGrant {
    /// The grant id.
    pub grant: String,
    /// Its subject (a GitHub login of `people`).
    pub subject: String,
    /// Its window as the file gave it.
    pub window: Window,
    /// When its access ended: the window's end, or the removing commit's
    /// time when that came first.
    pub end: DateTime<Utc>,
    /// Whether an earlier run of gitgrant's wrote its statements: its file
    /// was removed by the reconciler's own removal commit, and the run
    /// that made it had fenced the grant from git before removing the file.
    pub fenced_before: bool,
}

/// A grant whose role sessions no fence ends: they live until their own
/// expiry (at most 12 h), whatever the grant's window says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unfenced {
    /// The grant id.
    pub grant: String,
    /// The provider the grant applies in.
    pub provider: String,
    /// The role it lets the subject assume.
    pub role: String,
    /// Why it cannot be fenced.
    pub why: String,
}
