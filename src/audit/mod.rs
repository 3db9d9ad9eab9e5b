//! The audit: every grant's lifecycle, rebuilt from the access repository's
//! history alone, and the findings an auditor should look at.
//!
//! [`audit`] folds the default branch's first-parent history (oldest first,
//! as [`crate::history`] describes it) into an [`Audit`] value: for each grant
//! file, when it was requested and landed, the window it gave, every edit,
//! and how and when it ended; for the history as a whole, [`Finding`]s with
//! stable rule ids ([`FindingRule`]). [`filter()`] narrows an audit (subject,
//! role, time range, "who could use which role at TIME"); [`render`] prints
//! it as a table, JSON, CSV or Markdown.
//!
//! Like the rest of the core, nothing here reads git or the clock: the
//! history and `now` are arguments.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, TimeDelta, Utc};
use schemars::JsonSchema;
use serde::Serialize;

pub use crate::grant::Window;
use crate::grant::ser_time;
use crate::history::HistoryCommit;

mod filter;
mod fold;
pub mod render;
mod widening;

#[cfg(test)]
mod tests;

pub use filter::{Filter, filter};

/// The version of the JSON format; it changes only when a field changes
/// meaning or goes away (new fields may appear in any version).
pub const FORMAT_VERSION: u32 = 1;

/// How the audit judges a history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// How long after a window's end the grant file may still be present
    /// before its removal counts as late (`late-removal`). The reconciler
    /// runs on a schedule, so some lag is normal.
    pub late_after: TimeDelta,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            late_after: TimeDelta::hours(1),
        }
    }
}

/// Folds the default branch's first-parent history, oldest first, into every
/// grant's lifecycle and the findings, as of `now`.
pub fn audit(history: &[HistoryCommit], now: DateTime<Utc>, options: &Options) -> Audit {
    let mut fold = fold::Fold::new(options);
    for commit in history {
        fold.commit(commit);
    }
    fold.finish(history.last(), now)
}

/// The result of an audit: what `gitgrant audit --format json` prints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
#[schemars(title = "gitgrant audit", rename = "Audit")]
pub struct Audit {
    /// The format version: 1.
    #[schemars(range(min = 1, max = 1))]
    pub version: u32,
    /// The newest commit of the history audited (full id), or null for an
    /// empty history.
    pub tip: Option<String>,
    /// The time the audit was made as of: states and late removals of grants
    /// still present are judged at this instant.
    #[serde(serialize_with = "ser_time")]
    #[schemars(with = "DateTime<Utc>")]
    pub now: DateTime<Utc>,
    /// Every grant lifecycle, sorted by landing time, then id.
    pub lifecycles: Vec<Lifecycle>,
    /// Every finding, sorted by time, then rule id.
    pub findings: Vec<Finding>,
}

/// One grant file's life on the default branch: from the commit that added
/// it to the commit that removed it. A grant id used again after its file
/// was removed starts a new lifecycle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Lifecycle {
    /// `<role>/<name>`, from the file's path (for a path not of that shape,
    /// the path without `grants/` and `.yaml`).
    pub id: String,
    /// 1 for the first lifecycle of this id, 2 for the next after it ended, …
    pub occurrence: u32,
    /// The grant file's path.
    pub path: String,
    /// The person given access, as the file named them when it landed.
    pub subject: Option<String>,
    /// The role: the folder the file is in.
    pub role: Option<String>,
    /// The role's provider in the policy as it was when the grant landed.
    pub provider: Option<String>,
    /// Why, as written.
    pub reason: Option<String>,
    /// The ticket, if given.
    pub ticket: Option<String>,
    /// Where the grant was asked for.
    pub requested: Request,
    /// Where and when the grant landed on the default branch.
    pub landed: Landing,
    /// The window of access as of the latest version of the file; null when
    /// the file could not be read.
    pub window: Option<Window>,
    /// Every change to the file after it landed, oldest first.
    pub edits: Vec<Edit>,
    /// How the lifecycle ended; null while the file is still present.
    pub end: Option<End>,
    /// Where the grant stands as of the audit's `now`.
    pub state: State,
    /// Why the grant file could not be read at all (as landed or as last
    /// edited); null when it could.
    pub unreadable: Option<String>,
    /// Every validation problem of every version of the file, against the
    /// policy as it was at that commit.
    pub violations: Vec<GrantViolation>,
    /// The rule ids of this lifecycle's findings, in the order they arose.
    pub findings: Vec<FindingRule>,
    /// Approval evidence from GitHub (`audit --github`): the pull request,
    /// the code owners whose approval counted, and each review's verdict.
    /// Absent without `--github`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<crate::approval::Found>,
}

/// Where a grant was asked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Request {
    /// The commit the change was requested at: the head of the merged pull
    /// request for a merge commit, else the landing commit itself.
    pub commit: String,
    /// The pull request number the landing commit's message names, if any.
    pub pr: Option<u64>,
}

/// Where and when a grant landed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Landing {
    /// The first first-parent commit that contains the file.
    pub commit: String,
    /// That commit's time: a `duration` grant's clock starts here.
    #[serde(serialize_with = "ser_time")]
    #[schemars(with = "DateTime<Utc>")]
    pub time: DateTime<Utc>,
    /// Blob id of the file as it landed.
    pub blob: String,
    /// The window as it landed (before any edit).
    pub window: Option<Window>,
    /// The file was already present where the history starts (a truncated
    /// history): it landed at or before this commit, and the time is a bound.
    pub before_history: bool,
}

/// A change to a grant file after it landed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Edit {
    /// The commit that changed the file.
    pub commit: String,
    /// That commit's time.
    #[serde(serialize_with = "ser_time")]
    #[schemars(with = "DateTime<Utc>")]
    pub time: DateTime<Utc>,
    /// The pull request the commit's message names, if any.
    pub pr: Option<u64>,
    /// Blob id of the file after the edit.
    pub blob: String,
    /// The window before the edit.
    pub before: Option<Window>,
    /// The window after it (a `duration` still counts from the landing).
    pub after: Option<Window>,
    /// The subject after the edit.
    pub subject: Option<String>,
    /// Which of `subject`, `reason`, `ticket`, `window` the edit changed.
    pub changed: Vec<String>,
}

/// How a lifecycle ended: the commit that removed the grant file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct End {
    /// The commit that removed the file.
    pub commit: String,
    /// That commit's time.
    #[serde(serialize_with = "ser_time")]
    #[schemars(with = "DateTime<Utc>")]
    pub time: DateTime<Utc>,
    /// `expired` (or another `Gitgrant-Reason`) for a reconciler's removal
    /// commit; else `revoked-early` when removed before the window's end, and
    /// `removed` when removed by hand after it (or with no known window).
    pub reason: String,
    /// When access was revoked in the cloud: `Gitgrant-Revoked-At`, else the
    /// commit's time.
    #[serde(serialize_with = "ser_time")]
    #[schemars(with = "DateTime<Utc>")]
    pub revoked_at: DateTime<Utc>,
    /// The commit carries the reconciler's `Gitgrant-Grant` trailer for this
    /// grant.
    pub by_reconciler: bool,
}

/// Where a grant stands as of the audit's `now`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Present; its window has not begun.
    Scheduled,
    /// Present; its window contains `now`.
    Active,
    /// Present; its window is over: awaiting removal.
    Expired,
    /// The file has been removed (see `end`).
    Ended,
    /// Present, but the file cannot be read, so it has no window.
    Unknown,
}

impl State {
    /// The name used in every output format.
    pub fn name(self) -> &'static str {
        match self {
            State::Scheduled => "scheduled",
            State::Active => "active",
            State::Expired => "expired",
            State::Ended => "ended",
            State::Unknown => "unknown",
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A validation problem of one version of a grant file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct GrantViolation {
    /// The commit where the file had this problem.
    pub commit: String,
    /// The validation rule's id, as `gitgrant validate` reports it.
    pub rule: String,
    /// What is wrong.
    pub message: String,
}

/// Something in the history an auditor should look at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Finding {
    /// What kind of finding: a stable id.
    pub rule: FindingRule,
    /// The grant it is about, if any.
    pub grant: Option<String>,
    /// Which lifecycle of that grant id (see `Lifecycle.occurrence`).
    pub occurrence: Option<u32>,
    /// The role it is about, if any.
    pub role: Option<String>,
    /// The commit it was found at (for a grant still present, the tip).
    pub commit: String,
    /// When: the commit's time (for a grant still present, `now`).
    #[serde(serialize_with = "ser_time")]
    #[schemars(with = "DateTime<Utc>")]
    pub time: DateTime<Utc>,
    /// One line saying what was found.
    pub message: String,
}

macro_rules! finding_rules {
    ($( $(#[$doc:meta])* $variant:ident = $id:literal; )*) => {
        /// A kind of audit finding. Its id is stable: scripts and people match on it.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, JsonSchema)]
        pub enum FindingRule {
            $( $(#[$doc])* #[serde(rename = $id)] $variant, )*
        }

        impl FindingRule {
            /// Every rule, in declaration order.
            pub const ALL: &'static [FindingRule] = &[$(FindingRule::$variant),*];

            /// The stable id, such as `late-removal`.
            pub fn id(self) -> &'static str {
                match self { $(FindingRule::$variant => $id,)* }
            }
        }

        impl FromStr for FindingRule {
            type Err = String;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($id => Ok(FindingRule::$variant),)*
                    _ => Err(format!("no audit finding `{s}`")),
                }
            }
        }
    };
}

finding_rules! {
    /// A grant landed (or was edited) in a commit whose message names no
    /// pull request: it may not have been reviewed.
    DirectPush = "direct-push";
    /// A grant's window was longer than its role's `max_duration` in the
    /// policy as it was at the commit that landed (or edited) it.
    WindowOverMax = "window-over-max";
    /// A grant file was removed (or is still present) more than the allowed
    /// lag after its window ended.
    LateRemoval = "late-removal";
    /// An edit moved a grant's window end later (or its start earlier).
    Extended = "extended";
    /// A policy change added a role or widened one: a longer
    /// `max_duration`, other approvers, fewer approvals, and the like.
    PolicyWidened = "policy-widened";
    /// A grant was added or edited in the same commit that changed
    /// gitgrant.yaml.
    GrantWithPolicyChange = "grant-with-policy-change";
    /// A grant file did not validate against the policy at its commit.
    InvalidGrant = "invalid-grant";
    /// gitgrant.yaml did not validate at a commit (or was removed).
    InvalidPolicy = "invalid-policy";
    /// The history stops at a commit whose parent is missing: grants present
    /// there landed at or before it.
    HistoryTruncated = "history-truncated";
    /// A grant file was removed and a file with the same content added at
    /// another path in one commit.
    Moved = "moved";
    /// A grant id was used again after an earlier lifecycle of it ended.
    ReAdded = "re-added";
    /// The grant's subject approved their own pull request (`--github`).
    SelfApproval = "self-approval";
    /// The grant landed without a pull request, or without its role's
    /// quorum of code-owner approvals at the final head (`--github`).
    MissingApproval = "missing-approval";
}

impl fmt::Display for FindingRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

impl Lifecycle {
    /// The window in force at `t`: that of the latest version of the file
    /// committed at or before `t` (the landed version before that).
    pub fn window_at(&self, t: DateTime<Utc>) -> Option<Window> {
        self.edits
            .iter()
            .rev()
            .find(|e| e.time <= t)
            .map_or(self.landed.window, |e| e.after)
    }

    /// Whether the subject could use the role at `t`: the grant had landed,
    /// had not been removed, and the window then in force contains `t`.
    pub fn usable_at(&self, t: DateTime<Utc>) -> bool {
        self.landed.time <= t
            && self.end.as_ref().is_none_or(|e| t < e.time)
            && self.window_at(t).is_some_and(|w| w.contains(t))
    }

    /// Every window the file gave, as landed and after each edit.
    pub fn windows(&self) -> impl Iterator<Item = Window> + '_ {
        self.landed
            .window
            .iter()
            .chain(self.edits.iter().filter_map(|e| e.after.as_ref()))
            .copied()
    }

    /// Whether `login` is the subject as landed or after any edit.
    pub fn names_subject(&self, login: &str) -> bool {
        self.subject.as_deref() == Some(login)
            || self
                .edits
                .iter()
                .any(|e| e.subject.as_deref() == Some(login))
    }
}

/// Adds approval evidence to an audit: `found` holds, for each lifecycle in
/// order, what GitHub says of the pull request that landed it (`None` where
/// it was not asked). Self-approval and missing approvals become findings.
pub fn add_approvals(audit: &mut Audit, found: Vec<Option<crate::approval::Found>>) {
    use crate::approval::Found;
    for (l, f) in audit.lifecycles.iter_mut().zip(found) {
        let Some(f) = f else { continue };
        let mut finding = |rule: FindingRule, message: String| {
            audit.findings.push(Finding {
                rule,
                grant: Some(l.id.clone()),
                occurrence: Some(l.occurrence),
                role: l.role.clone(),
                commit: l.landed.commit.clone(),
                time: l.landed.time,
                message,
            });
            if !l.findings.contains(&rule) {
                l.findings.push(rule);
            }
        };
        match &f {
            Found::Judged(e) => {
                if e.self_approved() {
                    finding(
                        FindingRule::SelfApproval,
                        format!(
                            "{} approved their own access in PR #{}",
                            l.subject.as_deref().unwrap_or("the subject"),
                            e.pr
                        ),
                    );
                }
                if !e.met() {
                    finding(FindingRule::MissingApproval, e.summary());
                }
            }
            Found::NoPullRequest { commit, .. } => finding(
                FindingRule::MissingApproval,
                format!(
                    "landed in {} without a merged pull request",
                    &commit[..12.min(commit.len())]
                ),
            ),
            Found::BreakGlass { .. } => {}
        }
        l.approval = Some(f);
    }
    fold::sort_findings(&mut audit.findings);
}
