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
pub mod html;
pub mod render;
pub mod stream;
mod widening;

#[cfg(test)]
mod tests;

pub use filter::{Filter, filter};

/// The version of the JSON format; it changes only when a field changes
/// meaning or goes away (new fields may appear in any version).
pub const FORMAT_VERSION: u32 = 1;

/// How the audit judges a history.
#[derive(Debug, Clone)]
pub struct Options {
    /// How long after a window's end the grant file may still be present
    /// before its removal counts as late (`late-removal`). The reconciler
    /// runs on a schedule, so some lag is normal.
    pub late_after: TimeDelta,
    /// The keys whose signatures make a removal commit the reconciler's
    /// (the allowed-signers file at the tip); `None`: no commit is.
    pub allowed: Option<crate::signing::AllowedSigners>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            late_after: TimeDelta::hours(1),
            allowed: None,
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

/// [`audit`] over commits as they come, holding only the lifecycles (and
/// the last commit, the tip): a walk in another thread can feed it.
pub fn audit_stream(
    history: impl IntoIterator<Item = HistoryCommit>,
    now: DateTime<Utc>,
    options: &Options,
) -> Audit {
    let mut fold = fold::Fold::new(options);
    let mut last = None;
    for commit in history {
        fold.commit(&commit);
        last = Some(commit);
    }
    fold.finish(last.as_ref(), now)
}

/// The audit of `history` (oldest first) up to each of `at`: a commit of
/// it, and the moment to judge as of there. One fold serves every moment:
/// it is copied at each commit asked about. A commit the history does not
/// hold has no audit.
pub fn audits_at(
    history: impl IntoIterator<Item = HistoryCommit>,
    at: &[(String, DateTime<Utc>)],
    options: &Options,
) -> Vec<((String, DateTime<Utc>), Audit)> {
    let mut fold = fold::Fold::new(options);
    let mut out = Vec::new();
    for commit in history {
        fold.commit(&commit);
        for (c, t) in at.iter().filter(|(c, _)| *c == commit.id) {
            out.push(((c.clone(), *t), fold.clone().finish(Some(&commit), *t)));
        }
        if out.len() == at.len() {
            break;
        }
    }
    out
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
    /// How access ended, summed over the lifecycles with a `revocation`.
    pub revocation: RevocationSummary,
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
    /// How the cloud carried it, by that policy: "policy attached to IAM
    /// user … in account …" or "permission set in accounts … for Identity
    /// Center user …".
    pub access: Option<String>,
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
    /// How long after the grant should have ended access really ended: for
    /// a lifecycle that ended, or whose window is over though its file is
    /// still present. Null while it is scheduled or active, and when it has
    /// no known window.
    pub revocation: Option<Revocation>,
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
    /// What approved the grant, in words: `rule on-call`, the code owners
    /// who counted (`bob, carol`), `break-glass`. From the reconciler's
    /// evidence note or removal trailers without a network; from GitHub
    /// with `--github`. Absent when nothing recorded or approved it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved_by: Option<String>,
    /// Where `approved_by` comes from: `note`, `trailer` or `github`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved_by_source: Option<String>,
    /// The reconciler's evidence note for this grant on its landing commit
    /// (`refs/notes/gitgrant`), as recorded: a claim anyone with write
    /// access could have pushed; `--github` checks it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recorded: Option<crate::git::notes::Record>,
    /// The subject's identities and email under the policy at the landing
    /// ([`crate::policy::Policy::known_as`]): a person renamed in `people`
    /// keeps their history for auto-approval. Not part of the output.
    #[serde(skip)]
    #[schemars(skip)]
    pub known_as: Vec<String>,
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
    /// How strongly the landing commit shows, from git alone, that it came
    /// through a GitHub pull request.
    pub evidence: GitEvidence,
}

/// How strongly a commit shows, from the repository's history alone, that it
/// landed through a GitHub pull request; weakest first. Git records what a
/// commit claims, not who pushed it: only GitHub (`audit --github`) knows
/// whether a pull request was merged and approved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum GitEvidence {
    /// Nothing names a pull request, or the commit contradicts the one its
    /// message names (a `Merge pull request #N` title on a commit with one
    /// parent: GitHub's merge commits have two). A direct push.
    None,
    /// The message names pull request #N as GitHub writes it (the merge
    /// title on a commit with two parents, or a title ending `(#N)`), but
    /// GitHub did not write the commit: its committer is not
    /// `GitHub <noreply@github.com>`, or it has no OpenPGP signature.
    /// Anyone who can push can make such a commit.
    Message,
    /// As `message`, and committed by `GitHub <noreply@github.com>` with an
    /// OpenPGP signature, as GitHub's merge and squash buttons write
    /// commits. The strongest evidence git alone holds, but the signature is
    /// not verified (that needs GitHub's public key), so a forged one counts
    /// too.
    GithubSigned,
}

impl GitEvidence {
    /// The name used in every output format.
    pub fn name(self) -> &'static str {
        match self {
            GitEvidence::None => "none",
            GitEvidence::Message => "message",
            GitEvidence::GithubSigned => "github-signed",
        }
    }
}

impl fmt::Display for GitEvidence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
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
    /// How strongly the commit shows, from git alone, that it came through
    /// a GitHub pull request.
    pub evidence: GitEvidence,
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
    /// Approval evidence of the edit from GitHub (`--github`): the pull
    /// request that landed its commit, or the role's rules judged on the
    /// file as it left it. Absent without `--github`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<crate::approval::Found>,
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
    /// grant and is signed by a key of the allowed-signers file: only then
    /// are its other trailers believed.
    pub by_reconciler: bool,
    /// What approved the grant, as the removal commit's
    /// `Gitgrant-Approved-By` trailer repeats it from the evidence note.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved_by: Option<String>,
    /// The pull request, from `Gitgrant-Pull-Request`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull_request: Option<u64>,
}

/// How and how late access really ended, against the end git asked for:
/// the window's end, or the removal of the file when that came first.
///
/// Every gitgrant IAM statement carries the window on `aws:CurrentTime`,
/// Identity Center permission sets deny everything from the window's end,
/// and the session fences of `assume_roles` end there too: a grant that ran
/// to its window's end was ended by the cloud, with no run needed (lag 0).
/// A file removed before its window's end (`revoked-early`), or a window
/// shortened by an edit, was ended by the next reconcile run, which git
/// does not record: its lag is unknown unless the history bounds it.
/// A kind with no timed grant (PostgreSQL) is always ended by a run, at
/// the window's end too; only the reconciler's removal commit says when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Revocation {
    /// What ended access: `cloud` (the window's own conditions) or `run`
    /// (a reconcile run deleting the policy and moving the fence's end).
    pub ended_by: EndedBy,
    /// Seconds from the intended end to the end of access: 0 when the cloud
    /// enforced it (or the reconciler's own removal commit says when it
    /// revoked); null when unknown, as for an early revoke, whose lag is the
    /// time until the next reconcile run.
    pub lag_seconds: Option<i64>,
    /// When `lag_seconds` is unknown, the most it can be: the cloud ends
    /// access at the latest window end any version of the file gave (or the
    /// reconciler's `Gitgrant-Revoked-At`), whatever runs did. Null when the
    /// lag is known.
    pub lag_at_most_seconds: Option<i64>,
    /// Role ARNs a grant of the role may assume (`assume_roles`, by the
    /// policy as it was when the grant landed) in an account no `aws-iam`
    /// provider reconciles, so that no session fence ends their sessions:
    /// those can outlive the end by up to 12 hours (the longest role
    /// session).
    pub unfenced: Vec<String>,
    /// When a run ended access (`ended_by: run`) in a cloud that documents
    /// how long a policy change takes to hold everywhere, that time in
    /// seconds, which the lag does not include: Google Cloud's is
    /// "typically 2 minutes, potentially 7 minutes or longer" (420).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub propagation_seconds: Option<i64>,
}

/// What ended a grant's access.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum EndedBy {
    /// AWS refused access at the window's end by itself.
    Cloud,
    /// A reconcile run revoked it (or had to apply a shortened window)
    /// before the window's end.
    Run,
}

impl EndedBy {
    /// The name used in every output format.
    pub fn name(self) -> &'static str {
        match self {
            EndedBy::Cloud => "cloud",
            EndedBy::Run => "run",
        }
    }
}

impl fmt::Display for EndedBy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How access ended over an audit's lifecycles: those with a
/// [`Revocation`] (ended, or expired and awaiting removal).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, JsonSchema)]
pub struct RevocationSummary {
    /// Lifecycles whose access has ended.
    pub grants: u32,
    /// Of those, ended by the cloud at the window's end.
    pub cloud_enforced: u32,
    /// Of those, ended by a reconcile run: early, or in a kind with no
    /// timed grant (PostgreSQL).
    pub by_run: u32,
    /// Of those, with roles whose sessions no fence ends (up to 12 hours
    /// more).
    pub unfenced: u32,
    /// The longest lag in seconds; 0 with no grants; null when any lag is
    /// unknown.
    pub max_lag_seconds: Option<i64>,
}

impl RevocationSummary {
    /// The summary of these lifecycles.
    pub fn of(lifecycles: &[Lifecycle]) -> Self {
        let mut s = RevocationSummary::none();
        for l in lifecycles {
            s.add(l);
        }
        s
    }

    /// The summary of no lifecycle.
    pub fn none() -> Self {
        RevocationSummary {
            max_lag_seconds: Some(0),
            ..RevocationSummary::default()
        }
    }

    /// Counts one more lifecycle in.
    pub fn add(&mut self, l: &Lifecycle) {
        let Some(r) = &l.revocation else { return };
        self.grants += 1;
        match r.ended_by {
            EndedBy::Cloud => self.cloud_enforced += 1,
            EndedBy::Run => self.by_run += 1,
        }
        if !r.unfenced.is_empty() {
            self.unfenced += 1;
        }
        self.max_lag_seconds = self
            .max_lag_seconds
            .zip(r.lag_seconds)
            .map(|(a, b)| a.max(b));
    }

    /// The summary line every format but CSV prints: `revocation: 3 grants,
    /// cloud-enforced 2, max lag unknown, 1 ended by a run`.
    pub fn line(&self) -> String {
        let lag = self.max_lag_seconds.map_or_else(
            || "unknown".to_string(),
            |s| fold::fmt_delta(TimeDelta::seconds(s)),
        );
        let mut line = format!(
            "revocation: {} grant{}, cloud-enforced {}, max lag {lag}",
            self.grants,
            if self.grants == 1 { "" } else { "s" },
            self.cloud_enforced
        );
        if self.by_run > 0 {
            line.push_str(&format!(", {} ended by a run", self.by_run));
        }
        if self.unfenced > 0 {
            line.push_str(&format!(
                ", {} with unfenced role sessions (up to 12h more)",
                self.unfenced
            ));
        }
        line
    }
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
    ($( $(#[$doc:meta])* $variant:ident = $id:literal, $help:literal; )*) => {
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

            /// What the finding means and what to do about it, for people.
            pub fn help(self) -> &'static str {
                match self { $(FindingRule::$variant => $help,)* }
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
    /// A grant landed (or was edited) in a commit that names no pull
    /// request, or that contradicts the one it names: a `Merge pull request
    /// #N` title on a commit with one parent.
    DirectPush = "direct-push",
        "git shows no pull request for this commit: its message names none, or it is titled as a merge but has one parent. Git records what a commit claims, not who pushed it: a commit made outside GitHub can copy any title, committer and signature, and gitgrant never verifies signatures (see the lifecycle's `evidence`). So the absence of this finding is no proof of review; `audit --github` asks GitHub";
    /// A grant's window was longer than its role's `max_duration` in the
    /// policy as it was at the commit that landed (or edited) it.
    WindowOverMax = "window-over-max",
        "the grant gave more time than its role allowed when it landed; ask who approved it";
    /// A grant file was removed (or is still present) more than the allowed
    /// lag after its window ended.
    LateRemoval = "late-removal",
        "the reconciler did not remove the file in time; AWS ends the access at the window's end regardless, but check that reconcile runs";
    /// An edit moved a grant's window end later (or its start earlier).
    Extended = "extended",
        "an edit gave more time to a grant that had landed; an extension should be a new grant";
    /// A policy change added a role or widened one: a longer
    /// `max_duration`, other approvers, fewer approvals, and the like.
    PolicyWidened = "policy-widened",
        "gitgrant.yaml gave more access; check that the security team approved the change";
    /// A grant was added or edited in the same commit that changed
    /// gitgrant.yaml.
    GrantWithPolicyChange = "grant-with-policy-change",
        "a grant landed with the policy that judged it; policy and grants belong in separate pull requests";
    /// A grant file did not validate against the policy at its commit.
    InvalidGrant = "invalid-grant",
        "the reconciler refuses an invalid grant, but it should not have landed";
    /// gitgrant.yaml did not validate at a commit (or was removed).
    InvalidPolicy = "invalid-policy",
        "while the policy is invalid nothing is applied; the last readable policy judges grants here";
    /// The history stops at a commit whose parent is missing: grants present
    /// there landed at or before it.
    HistoryTruncated = "history-truncated",
        "the history is cut (a shallow clone, or a force-push): audit a full clone";
    /// A grant file was removed and a file with the same content added at
    /// another path in one commit.
    Moved = "moved",
        "a moved grant starts its clock again at the new path";
    /// A grant id was used again after an earlier lifecycle of it ended.
    ReAdded = "re-added",
        "a grant id used twice makes the history harder to read; new grants get new names";
    /// The grant's subject approved their own pull request (`--github`).
    SelfApproval = "self-approval",
        "the subject's own approval does not count towards the quorum";
    /// The grant landed without a pull request, or without its role's
    /// quorum of code-owner approvals at the final head (`--github`).
    MissingApproval = "missing-approval",
        "GitHub has no approval of the grant by enough of its role's code owners at the final head";
    /// An edit of a landed grant's file without its own approval evidence:
    /// no merged pull request with the role's quorum at its final head, and
    /// no auto-approval rule that holds for the file as the edit left it
    /// (`--github`). The reconciler does not apply such an edit.
    UnapprovedEdit = "unapproved-edit",
        "an edit needs its own approval, as the landing did: the reconciler kept the grant as the last approved version left it; find who made the edit";
    /// The evidence recorded in git (note or trailers) says another thing
    /// approved the grant than GitHub does (`--github`).
    EvidenceMismatch = "evidence-mismatch",
        "the recorded evidence disagrees with GitHub: find who wrote refs/notes/gitgrant or the removal commit, and trust GitHub's answer";
    /// An evidence note, or a commit with the reconciler's removal
    /// trailers, that no key of `.github/allowed_signers` signed: what it
    /// says is not believed.
    UnverifiedEvidence = "unverified-evidence",
        "anyone with push access can write a note or a commit message: only what the reconciler's key signed counts; if the reconciler wrote it, give it a signing key (GITGRANT_SIGNING_KEY) listed in .github/allowed_signers, else find who wrote it";
    /// A removal commit whose trailers contradict the history: `expired`
    /// before the window's end, or a `Gitgrant-Revoked-At` before the
    /// landing or after the commit itself.
    ImplausibleRemoval = "implausible-removal",
        "the removal's trailers say what cannot be: find who wrote the commit; the audit uses the commit's own time and the window instead";
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

    /// The instants at which [`usable_at`](Lifecycle::usable_at) holds, as
    /// disjoint windows in time order: each version of the file's window,
    /// cut to the time that version was in force, from landing to removal.
    pub fn usable_intervals(&self) -> Vec<Window> {
        let versions: Vec<(DateTime<Utc>, Option<Window>)> =
            std::iter::once((self.landed.time, self.landed.window))
                .chain(self.edits.iter().map(|e| (e.time, e.after)))
                .collect();
        let mut out: Vec<Window> = Vec::new();
        for (i, (from, window)) in versions.iter().enumerate() {
            let until = versions
                .get(i + 1)
                .map(|(t, _)| *t)
                .into_iter()
                .chain(self.end.as_ref().map(|e| e.time))
                .min();
            let Some(w) = window else { continue };
            let start = w.start.max(*from);
            let end = until.map_or(w.end, |u| u.min(w.end));
            if start < end {
                match out.last_mut() {
                    Some(last) if last.end == start => last.end = end,
                    _ => out.push(Window { start, end }),
                }
            }
        }
        out
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

/// Adds what git records of each lifecycle's approval: the evidence note
/// on its landing commit (`notes`, by commit id), else its removal
/// commit's `Gitgrant-Approved-By` trailer.
pub fn add_recorded(
    audit: &mut Audit,
    notes: &std::collections::BTreeMap<String, (crate::git::notes::Note, crate::git::notes::Trust)>,
) {
    for l in &mut audit.lifecycles {
        record(l, notes, &mut audit.findings);
    }
}

/// What git records of one lifecycle's approval (see [`add_recorded`]);
/// a note nobody signed adds a finding to `findings`.
pub fn record(
    l: &mut Lifecycle,
    notes: &std::collections::BTreeMap<String, (crate::git::notes::Note, crate::git::notes::Trust)>,
    findings: &mut Vec<Finding>,
) {
    use crate::git::notes::Trust;
    {
        let (record, trust) = notes
            .get(&l.landed.commit)
            .and_then(|(n, trust)| Some((n.grants.get(&l.path)?, *trust)))
            .filter(|(r, _)| r.grant == l.id)
            .map_or((None, Trust::Signed), |(r, t)| (Some(r.clone()), t));
        // A record nobody signed is reported, never believed.
        let record = match (record, trust) {
            (Some(r), Trust::Unsigned) => {
                let message = format!(
                    "the evidence note on {} says {} approved it, but no key of {} signed the note",
                    l.landed.commit.get(..7).unwrap_or(&l.landed.commit),
                    crate::report::visible(&r.approved.text()),
                    crate::signing::ALLOWED_SIGNERS_PATH
                );
                landing_finding(findings, l, FindingRule::UnverifiedEvidence, message);
                None
            }
            (r, _) => r,
        };
        if let Some(r) = &record {
            l.approved_by = Some(r.approved.text());
            l.approved_by_source = Some("note".into());
        } else if let Some(by) = l.end.as_ref().and_then(|e| e.approved_by.clone()) {
            l.approved_by = Some(by);
            l.approved_by_source = Some("trailer".into());
        }
        l.recorded = record;
    }
}

/// A finding about a lifecycle, placed at its landing, and its rule on the
/// lifecycle.
fn landing_finding(
    findings: &mut Vec<Finding>,
    l: &mut Lifecycle,
    rule: FindingRule,
    message: String,
) {
    findings.push(Finding {
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
}

/// What GitHub says of one lifecycle: its landing's evidence, and each
/// later edit's by its commit.
pub type Approvals = (
    crate::approval::Found,
    Vec<(String, crate::approval::Found)>,
);

/// Adds approval evidence to an audit: `found` holds, for each lifecycle in
/// order, what GitHub says of the pull request that landed it and of each
/// later edit, by its commit (`None` where it was not asked). Self-approval,
/// missing approvals and edits without evidence become findings.
pub fn add_approvals(audit: &mut Audit, found: Vec<Option<Approvals>>) {
    use crate::approval::Found;
    for (l, f) in audit.lifecycles.iter_mut().zip(found) {
        let Some((landing, edits)) = f else { continue };
        for (commit, e) in edits {
            let Some(edit) = l.edits.iter_mut().find(|x| x.commit == commit) else {
                continue;
            };
            if !e.ok() {
                audit.findings.push(Finding {
                    rule: FindingRule::UnapprovedEdit,
                    grant: Some(l.id.clone()),
                    occurrence: Some(l.occurrence),
                    role: l.role.clone(),
                    commit: edit.commit.clone(),
                    time: edit.time,
                    message: format!("edited without approval: {}", e.why()),
                });
                if !l.findings.contains(&FindingRule::UnapprovedEdit) {
                    l.findings.push(FindingRule::UnapprovedEdit);
                }
            }
            edit.approval = Some(e);
        }
        let f = landing;
        let mut found = Vec::new();
        let mut finding = |rule: FindingRule, message: String| found.push((rule, message));
        match &f {
            Found::Judged(e) => {
                if e.self_approved() {
                    let rule = e
                        .approved_by_rule()
                        .map(|r| format!(" (it did not count; rule {r} approved the grant)"))
                        .unwrap_or_default();
                    finding(
                        FindingRule::SelfApproval,
                        format!(
                            "{} approved their own access in PR #{}{rule}",
                            l.subject.as_deref().unwrap_or("the subject"),
                            e.pr
                        ),
                    );
                }
                if !e.approved() {
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
        let github = f.approved_by();
        if let Some(recorded) = l.approved_by.clone()
            && github.as_deref() != Some(recorded.as_str())
        {
            finding(
                FindingRule::EvidenceMismatch,
                format!(
                    "git records it as approved by {recorded} ({}), GitHub says {}",
                    l.approved_by_source.as_deref().unwrap_or("git"),
                    github.as_deref().unwrap_or("nothing approved it")
                ),
            );
        }
        for (rule, message) in found {
            landing_finding(&mut audit.findings, l, rule, message);
        }
        l.approved_by = github;
        l.approved_by_source = l.approved_by.as_ref().map(|_| "github".to_string());
        l.approval = Some(f);
    }
    fold::sort_findings(&mut audit.findings);
}
