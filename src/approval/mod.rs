//! Approval: whether a grant may be applied, and why.
//!
//! - this file: the quorum of code-owner approvals a pull request gathered
//!   (pure: the reviews, the owners and the teams' members come from the
//!   caller), and what is known of a landed grant's approval ([`Found`]);
//! - [`rules`]: auto-approval rules and how they are judged on facts;
//! - [`history`]: a rule's `history` condition and how it is judged on
//!   the history before a landing (pure);
//! - [`past`]: reading that history with the audit's fold;
//! - [`oncall`]: the on-call schedules those facts come from;
//! - [`github`]: gathering the evidence from GitHub for grants landed on a
//!   branch (the reconciler, `approvals`, `audit --github`);
//! - [`pull`]: judging an open pull request (the check, `approvals --pr`,
//!   `request`).

pub mod github;
pub mod history;
pub mod oncall;
pub mod past;
pub mod pull;
pub mod rules;

use std::collections::{BTreeMap, BTreeSet};

use schemars::JsonSchema;
use serde::Serialize;

/// What a review counted as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// An approval that counts toward the quorum.
    Counted,
    /// The grant's subject approved their own access.
    SelfApproval,
    /// Approved an older head: commits came after it.
    StaleHead,
    /// Not a code owner of the grant's file.
    NotOwner,
    /// The reviewer's latest review asks for changes.
    ChangesRequested,
    /// The reviewer's approval was dismissed.
    Dismissed,
}

/// One reviewer's latest review, as judged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Judged {
    /// The reviewer's login, lower case.
    pub reviewer: String,
    /// What the review counted as.
    pub verdict: Verdict,
    /// The review's id on GitHub.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub review_id: Option<u64>,
    /// When it was submitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub submitted_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// The evidence for one grant file in one pull request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Evidence {
    /// The pull request's number.
    pub pr: u64,
    /// Who opened it.
    pub author: String,
    /// Its final head commit.
    #[serde(default)]
    pub head: String,
    /// The grant file.
    pub path: String,
    /// The code owners of the file under CODEOWNERS.
    pub owners: Vec<String>,
    /// Approvals needed (the role's `min_approvals`).
    pub required: u32,
    /// Approvers who count, lower case, sorted.
    pub approvers: Vec<String>,
    /// Each reviewer's latest review and what it counted as.
    pub reviews: Vec<Judged>,
    /// What the role's auto-approval rules say, judged at the landing
    /// (the check: now); absent when the quorum is met or the role has
    /// none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rules: Option<crate::approval::rules::Judgement>,
}

impl Evidence {
    /// Whether the quorum is met.
    pub fn met(&self) -> bool {
        self.approvers.len() as u64 >= u64::from(self.required)
    }

    /// The rule that approved the grant, when the quorum did not.
    pub fn approved_by_rule(&self) -> Option<&str> {
        self.rules.as_ref()?.approved_by.as_deref()
    }

    /// Whether the grant may be applied: its quorum, or a rule.
    pub fn approved(&self) -> bool {
        self.met() || self.approved_by_rule().is_some()
    }

    /// Whether the subject approved their own grant.
    pub fn self_approved(&self) -> bool {
        self.reviews
            .iter()
            .any(|j| j.verdict == Verdict::SelfApproval)
    }

    /// One line for people.
    pub fn summary(&self) -> String {
        let mut s = format!(
            "PR #{}: {} of {} approval(s) from code owners",
            self.pr,
            self.approvers.len(),
            self.required
        );
        if !self.approvers.is_empty() {
            s.push_str(&format!(" ({})", self.approvers.join(", ")));
        }
        let ignored: Vec<String> = self
            .reviews
            .iter()
            .filter(|j| j.verdict != Verdict::Counted)
            .map(|j| format!("{}: {}", j.reviewer, j.verdict.why()))
            .collect();
        if !ignored.is_empty() {
            s.push_str(&format!("; not counted: {}", ignored.join(", ")));
        }
        if let Some(j) = &self.rules {
            s.push_str(&format!("; {}", j.summary()));
        }
        s
    }
}

impl Verdict {
    /// Why a review did not count, in words.
    pub fn why(self) -> &'static str {
        match self {
            Verdict::Counted => "counted",
            Verdict::SelfApproval => "approved their own access",
            Verdict::StaleHead => "approved an older commit",
            Verdict::NotOwner => "not a code owner of the file",
            Verdict::ChangesRequested => "requested changes",
            Verdict::Dismissed => "approval dismissed",
        }
    }
}

/// What is known of one grant's approval.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum Found {
    /// Landed by a pull request, judged.
    Judged(Evidence),
    /// Landed by a commit that no merged pull request contains.
    NoPullRequest {
        /// The grant file.
        path: String,
        /// The commit it landed in.
        commit: String,
    },
    /// A break-glass role: lands without review.
    BreakGlass {
        /// The grant file.
        path: String,
    },
}

impl Found {
    /// The grant file.
    pub fn path(&self) -> &str {
        match self {
            Found::Judged(e) => &e.path,
            Found::NoPullRequest { path, .. } | Found::BreakGlass { path } => path,
        }
    }

    /// Whether the grant may be applied.
    pub fn ok(&self) -> bool {
        match self {
            Found::Judged(e) => e.approved(),
            Found::NoPullRequest { .. } => false,
            Found::BreakGlass { .. } => true,
        }
    }

    /// What approved the grant: `rule on-call`, the counted code owners
    /// (`bob, carol`), `break-glass`; `None` when nothing did.
    pub fn approved_by(&self) -> Option<String> {
        match self {
            Found::Judged(e) if e.met() => Some(e.approvers.join(", ")),
            Found::Judged(e) => e.approved_by_rule().map(|r| format!("rule {r}")),
            Found::BreakGlass { .. } => Some("break-glass".to_string()),
            Found::NoPullRequest { .. } => None,
        }
    }

    /// What the evidence says, in words.
    pub fn why(&self) -> String {
        match self {
            Found::Judged(e) => e.summary(),
            Found::NoPullRequest { commit, .. } => format!(
                "landed in {} without a merged pull request",
                &commit[..12.min(commit.len())]
            ),
            Found::BreakGlass { .. } => "break-glass role, no review needed".to_string(),
        }
    }

    /// One line for people: verdict, file, why.
    pub fn line(&self) -> String {
        let verdict = if self.ok() { "ok  " } else { "FAIL" };
        format!("{verdict} {}: {}", self.path(), self.why())
    }
}

/// A grant file whose approvals are to be judged.
#[derive(Debug, Clone)]
pub struct Need {
    /// The grant file.
    pub path: String,
    /// Its subject, who may not approve it.
    pub subject: String,
    /// The role's `min_approvals`.
    pub required: u32,
    /// The role's approvers, lower case: who owns the file when CODEOWNERS
    /// leaves it unowned (roles with auto-approval rules, whose quorum the
    /// required check and the reconciler enforce instead of GitHub).
    pub approvers: Vec<String>,
}

impl Need {
    /// Who may approve the file: its owners under `codeowners`, or, where
    /// CODEOWNERS names none, the role's approvers.
    pub fn owners<'a>(&'a self, codeowners: &'a crate::codeowners::Codeowners) -> &'a [String] {
        match codeowners.owners(&self.path) {
            [] => &self.approvers,
            owners => owners,
        }
    }
}

/// A grant that landed, as the evidence lookup needs it.
#[derive(Debug, Clone)]
pub struct Landed {
    /// What must be approved.
    pub need: Need,
    /// Whether the role is break-glass (no review needed).
    pub break_glass: bool,
    /// The commit it landed in (full id).
    pub commit: String,
    /// Its window as it is now, when the caller knows it: a rule must fit
    /// the longer of this and the window it landed with.
    pub window: Option<crate::grant::Window>,
    /// The windows of the subject's other grants of the role on the
    /// branch: a rule counts those that adjoin this one with it.
    pub neighbours: Vec<crate::grant::Window>,
    /// When the grant landed, when `commit` is a later edit of its file.
    pub landed_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl Need {
    /// A grant of `role` for `subject`, in file `path`.
    pub fn new(role: &crate::policy::Role, path: String, subject: String) -> Need {
        Need {
            path,
            subject,
            required: role.min_approvals,
            approvers: role.approvers.iter().map(|a| a.to_lowercase()).collect(),
        }
    }
}

impl Landed {
    /// A grant of `role` for `subject`, in file `path`, landed in `commit`.
    pub fn new(
        role: &crate::policy::Role,
        path: String,
        subject: String,
        commit: String,
    ) -> Landed {
        Landed {
            need: Need::new(role, path, subject),
            break_glass: role.break_glass,
            commit,
            window: None,
            neighbours: Vec::new(),
            landed_at: None,
        }
    }
}

/// A review, as far as the evidence needs it. Pass them oldest first.
#[derive(Debug, Clone)]
pub struct ReviewFact {
    /// Who wrote it.
    pub reviewer: String,
    /// `APPROVED`, `CHANGES_REQUESTED`, `DISMISSED`, `COMMENTED`, `PENDING`.
    pub state: crate::github::ReviewState,
    /// The head it was submitted at.
    pub commit: Option<String>,
    /// Its id on GitHub.
    pub id: Option<u64>,
    /// When it was submitted.
    pub submitted_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// What is known about the pull request that landed a grant file.
#[derive(Debug, Clone)]
pub struct PullFacts<'a> {
    /// Its number.
    pub pr: u64,
    /// Who opened it.
    pub author: &'a str,
    /// Its final head commit.
    pub head: &'a str,
    /// Its reviews, oldest first.
    pub reviews: &'a [ReviewFact],
}

/// Judges a pull request's reviews for one grant file.
///
/// Each reviewer's latest review counts (a comment does not replace an
/// approval or a change request, as on GitHub). It counts when it approves
/// the pull request's final head, its author is not `subject`, and they own
/// the file: listed in `owners` as `@login`, or a member of an `@org/team`
/// listed there (`members`, keyed `org/team` in lower case).
pub fn evaluate(
    pull: &PullFacts,
    path: &str,
    subject: &str,
    owners: &[String],
    members: &BTreeMap<String, BTreeSet<String>>,
    required: u32,
) -> Evidence {
    use crate::github::ReviewState as S;
    let mut latest: BTreeMap<String, &ReviewFact> = BTreeMap::new();
    for r in pull.reviews {
        if matches!(r.state, S::Commented | S::Pending) {
            continue;
        }
        latest.insert(r.reviewer.to_lowercase(), r);
    }
    let owns = |login: &str| {
        owners.iter().any(|o| match o.strip_prefix('@') {
            Some(o) if o.contains('/') => members.get(o).is_some_and(|m| m.contains(login)),
            Some(o) => o == login,
            None => false,
        })
    };
    let subject = subject.to_lowercase();
    let mut reviews = Vec::new();
    let mut approvers = Vec::new();
    for (reviewer, r) in latest {
        let verdict = match r.state {
            S::ChangesRequested => Verdict::ChangesRequested,
            S::Dismissed => Verdict::Dismissed,
            _ if reviewer == subject => Verdict::SelfApproval,
            _ if r.commit.as_deref() != Some(pull.head) => Verdict::StaleHead,
            _ if !owns(&reviewer) => Verdict::NotOwner,
            _ => Verdict::Counted,
        };
        if verdict == Verdict::Counted {
            approvers.push(reviewer.clone());
        }
        reviews.push(Judged {
            reviewer,
            verdict,
            review_id: r.id,
            submitted_at: r.submitted_at,
        });
    }
    Evidence {
        pr: pull.pr,
        author: pull.author.to_lowercase(),
        head: pull.head.to_string(),
        path: path.to_string(),
        owners: owners.to_vec(),
        required,
        approvers,
        reviews,
        rules: None,
    }
}

/// The `org/team` names among `owners` whose members must be looked up.
pub fn teams(owners: &[String]) -> Vec<(String, String)> {
    owners
        .iter()
        .filter_map(|o| o.strip_prefix('@')?.split_once('/'))
        .map(|(org, team)| (org.to_lowercase(), team.to_lowercase()))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::github::ReviewState as S;

    fn review(who: &str, state: S, commit: &str) -> ReviewFact {
        ReviewFact {
            reviewer: who.into(),
            state,
            commit: Some(commit.into()),
            id: None,
            submitted_at: None,
        }
    }

    fn judge(reviews: &[ReviewFact], owners: &[&str], required: u32) -> Evidence {
        let members = BTreeMap::from([(
            "acme/sre-leads".to_string(),
            BTreeSet::from(["carol".to_string(), "dave".to_string()]),
        )]);
        let owners: Vec<String> = owners.iter().map(|s| s.to_string()).collect();
        evaluate(
            &PullFacts {
                pr: 7,
                author: "alice",
                head: "h2",
                reviews,
            },
            "grants/prod-readonly/alice-1.yaml",
            "alice",
            &owners,
            &members,
            required,
        )
    }

    #[test]
    fn an_owner_approving_the_final_head_counts() {
        let e = judge(&[review("bob", S::Approved, "h2")], &["@bob"], 1);
        assert!(e.met());
        assert_eq!(e.approvers, ["bob"]);
    }

    #[test]
    fn self_approval_never_counts_even_by_an_owner() {
        let e = judge(&[review("Alice", S::Approved, "h2")], &["@alice"], 1);
        assert!(!e.met());
        assert!(e.self_approved());
    }

    #[test]
    fn an_approval_of_an_older_head_is_ignored() {
        let e = judge(&[review("bob", S::Approved, "h1")], &["@bob"], 1);
        assert!(!e.met());
        assert_eq!(e.reviews[0].verdict, Verdict::StaleHead);
    }

    #[test]
    fn the_latest_review_wins_and_comments_do_not_replace_it() {
        // Changes requested, then approved: counts.
        let e = judge(
            &[
                review("bob", S::ChangesRequested, "h1"),
                review("bob", S::Approved, "h2"),
                review("bob", S::Commented, "h2"),
            ],
            &["@bob"],
            1,
        );
        assert!(e.met());
        // Approved, then changes requested: does not.
        let e = judge(
            &[
                review("bob", S::Approved, "h2"),
                review("bob", S::ChangesRequested, "h2"),
            ],
            &["@bob"],
            1,
        );
        assert!(!e.met());
        assert_eq!(e.reviews[0].verdict, Verdict::ChangesRequested);
    }

    #[test]
    fn team_owners_count_through_their_members_only() {
        let e = judge(
            &[
                review("carol", S::Approved, "h2"),
                review("mallory", S::Approved, "h2"),
            ],
            &["@acme/sre-leads"],
            2,
        );
        assert_eq!(e.approvers, ["carol"]);
        assert!(!e.met(), "quorum 2 with one owner's approval");
        assert_eq!(e.reviews[1].verdict, Verdict::NotOwner);
        let e = judge(
            &[
                review("carol", S::Approved, "h2"),
                review("dave", S::Approved, "h2"),
            ],
            &["@acme/sre-leads"],
            2,
        );
        assert!(e.met());
    }

    #[test]
    fn teams_are_listed_once_in_lower_case() {
        let owners = vec!["@Acme/SRE".into(), "@bob".into(), "@acme/sre".into()];
        assert_eq!(teams(&owners), [("acme".into(), "sre".into())]);
    }
}
