//! The words a plan is made of that every provider kind uses: why a
//! resource goes, what a change does, a refusal, a provider that could not
//! be read. Kinds import these, never the plan itself, which names them.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

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
