//! The audit fold over hand-built histories.

use std::collections::BTreeMap;
use std::hash::{DefaultHasher, Hash, Hasher};

use chrono::{DateTime, TimeDelta, Utc};

use super::render::{self, Format};
use super::*;
use crate::history::{FileChange, FileVersion, HistoryCommit};
use crate::snapshot::Content;

// ---------------------------------------------------------------------------
// A small history builder

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// A 40-character commit id from a short label, so that snapshots stay readable.
fn commit_id(label: &str) -> String {
    format!("{label:0<40}")
}

fn version(text: &str) -> FileVersion {
    let mut h = DefaultHasher::new();
    text.hash(&mut h);
    FileVersion {
        blob: format!("{:016x}", h.finish()),
        content: Content::Bytes(text.as_bytes().to_vec()),
    }
}

/// Builds a first-parent history, oldest first, keeping track of what each
/// path holds so that changes get their `old` side.
#[derive(Default)]
struct History {
    commits: Vec<HistoryCommit>,
    tree: BTreeMap<String, FileVersion>,
}

impl History {
    /// A plain commit.
    fn commit(&mut self, label: &str, time: &str, message: &str) -> &mut Self {
        self.commits.push(HistoryCommit {
            id: commit_id(label),
            time: t(time),
            offset_minutes: 0,
            later: None,
            author: "Alice <alice@example.com>".to_string(),
            committer: "Alice <alice@example.com>".to_string(),
            signature: None,
            ssh_signed: None,
            message: message.to_string(),
            parents: 1,
            merged_head: None,
            changes: Vec::new(),
            truncated: false,
        });
        self
    }

    /// A merge commit of pull request `pr`, as GitHub writes it: two
    /// parents, committed by GitHub and signed.
    fn merge(&mut self, label: &str, time: &str, pr: u64) -> &mut Self {
        self.commit(
            label,
            time,
            &format!("Merge pull request #{pr} from alice/grant\n\nAsk for access"),
        );
        let last = self.last();
        last.parents = 2;
        last.merged_head = Some(commit_id(&format!("{label}head")));
        last.committer = "GitHub <noreply@github.com>".to_string();
        last.signature = Some(crate::history::Signature::OpenPgp);
        self
    }

    /// The reconciler's removal commit for an expired grant.
    fn expire(&mut self, label: &str, time: &str, grant: &str, revoked_at: &str) -> &mut Self {
        let message = format!(
            "gitgrant: expire {grant}\n\nAccess ended.\n\n\
             Gitgrant-Grant: {grant}\nGitgrant-Reason: expired\nGitgrant-Revoked-At: {revoked_at}\n"
        );
        self.commit(label, time, &message)
            .signed()
            .delete(&format!("grants/{grant}.yaml"))
    }

    /// Signs the last commit with the reconciler's (test) key.
    fn signed(&mut self) -> &mut Self {
        let last = self.last();
        let payload = last.message.clone().into_bytes();
        let armour = crate::signing::test_key::signer()
            .sign(crate::signing::COMMIT_NAMESPACE, &payload)
            .unwrap();
        last.ssh_signed = Some(Box::new(crate::history::SshSigned { armour, payload }));
        self
    }

    fn truncated(&mut self) -> &mut Self {
        self.last().truncated = true;
        self
    }

    fn add(&mut self, path: &str, text: &str) -> &mut Self {
        self.put(path, None, Some(version(text)))
    }

    fn modify(&mut self, path: &str, text: &str) -> &mut Self {
        let old = self.tree.get(path).cloned();
        assert!(old.is_some(), "modify of absent {path}");
        self.put(path, old, Some(version(text)))
    }

    fn delete(&mut self, path: &str) -> &mut Self {
        let old = self.tree.get(path).cloned();
        assert!(old.is_some(), "delete of absent {path}");
        self.put(path, old, None)
    }

    fn put(&mut self, path: &str, old: Option<FileVersion>, new: Option<FileVersion>) -> &mut Self {
        match &new {
            Some(v) => self.tree.insert(path.to_string(), v.clone()),
            None => self.tree.remove(path),
        };
        let changes = &mut self.last().changes;
        changes.push(FileChange {
            path: path.to_string(),
            old,
            new,
        });
        changes.sort_by(|a, b| a.path.cmp(&b.path));
        self
    }

    fn last(&mut self) -> &mut HistoryCommit {
        self.commits.last_mut().expect("a commit first")
    }

    /// The audit, believing the test key's signatures.
    fn audit(&self, now: &str) -> Audit {
        let options = Options {
            allowed: Some(crate::signing::test_key::allowed()),
            ..Options::default()
        };
        audit(&self.commits, t(now), &options)
    }
}

const POLICY: &str = r#"version: 1
repository: acme/access
security_team: "@acme/security"
providers:
  aws-prod:
    type: aws-iam
    account: "111111111111"
people:
  alice: { aws_iam_user: alice }
  bob: { aws_iam_user: bob }
roles:
  prod-readonly:
    description: Read-only access to production
    provider: aws-prod
    max_duration: 8h
    approvers: ["@acme/sre-leads"]
    min_approvals: 1
    permissions:
      statements:
        - { effect: Allow, actions: ["logs:GetLogEvents"], resources: ["*"] }
  prod-admin:
    description: Administrative access to production
    provider: aws-prod
    max_duration: 4h
    approvers: ["@acme/platform-leads", "@acme/security"]
    min_approvals: 2
    permissions:
      statements:
        - { effect: Allow, actions: ["ec2:*"], resources: ["*"] }
"#;

/// The policy with `from` replaced by `to` (which must change it).
fn policy_with(from: &str, to: &str) -> String {
    assert!(POLICY.contains(from), "{from} not in the policy");
    POLICY.replacen(from, to, 1)
}

fn grant(subject: &str, role: &str, timing: &str) -> String {
    format!("subject: {subject}\nrole: {role}\nreason: \"INC-1: checkout latency\"\n{timing}\n")
}

const ALICE: &str = "grants/prod-readonly/alice-1.yaml";

/// A history whose first commit holds the policy.
fn with_policy() -> History {
    let mut h = History::default();
    h.commit("0", "2026-11-20T09:00:00Z", "Initial policy (#1)")
        .add("gitgrant.yaml", POLICY);
    h
}

fn rules(a: &Audit) -> Vec<&'static str> {
    a.findings.iter().map(|f| f.rule.id()).collect()
}

fn only<'a>(a: &'a Audit, id: &str) -> &'a Lifecycle {
    let found: Vec<&Lifecycle> = a.lifecycles.iter().filter(|l| l.id == id).collect();
    assert_eq!(found.len(), 1, "lifecycles of {id}: {found:#?}");
    found[0]
}

// ---------------------------------------------------------------------------
// Lifecycles

#[test]
fn base_policy_is_valid() {
    let file = crate::snapshot::SourceFile {
        path: "gitgrant.yaml".to_string(),
        content: Content::Bytes(POLICY.as_bytes().to_vec()),
    };
    let (policy, violations) = crate::validate::read_policy(&file);
    assert!(policy.is_some());
    assert_eq!(violations, vec![]);
}

#[test]
fn merged_grant_removed_by_the_reconciler_is_expired_with_no_findings() {
    let mut h = with_policy();
    h.merge("a1", "2026-11-22T10:00:00Z", 12)
        .add(ALICE, &grant("alice", "prod-readonly", "duration: 2h"));
    h.expire(
        "a2",
        "2026-11-22T12:05:00Z",
        "prod-readonly/alice-1",
        "2026-11-22T12:04:31Z",
    );
    let a = h.audit("2026-11-23T00:00:00Z");
    assert_eq!(rules(&a), Vec::<&str>::new());
    let l = only(&a, "prod-readonly/alice-1");
    assert_eq!(l.subject.as_deref(), Some("alice"));
    assert_eq!(l.role.as_deref(), Some("prod-readonly"));
    assert_eq!(l.provider.as_deref(), Some("aws-prod"));
    assert_eq!(l.requested.pr, Some(12));
    assert_eq!(l.requested.commit, commit_id("a1head"));
    assert_eq!(l.landed.commit, commit_id("a1"));
    assert_eq!(
        l.window,
        Some(Window {
            start: t("2026-11-22T10:00:00Z"),
            end: t("2026-11-22T12:00:00Z"),
        })
    );
    let end = l.end.as_ref().unwrap();
    assert_eq!(end.reason, "expired");
    assert!(end.by_reconciler);
    assert_eq!(end.revoked_at, t("2026-11-22T12:04:31Z"));
    assert_eq!(l.state, State::Ended);
    insta::assert_snapshot!("normal_lifecycle_json", render::json(&a));
}

#[test]
fn an_edit_moving_the_end_later_is_extended_and_recorded() {
    let mut h = with_policy();
    h.merge("a1", "2026-11-22T10:00:00Z", 12).add(
        ALICE,
        &grant("alice", "prod-readonly", "expires: 2026-11-22T12:00:00Z"),
    );
    h.merge("a2", "2026-11-22T11:00:00Z", 13).add(
        "grants/prod-readonly/bob-1.yaml",
        &grant("bob", "prod-readonly", "duration: 4h"),
    );
    h.merge("a3", "2026-11-22T11:30:00Z", 14).modify(
        ALICE,
        &grant("alice", "prod-readonly", "expires: 2026-11-22T15:00:00Z"),
    );
    // A shortening is recorded, not a finding; a duration still counts from landing.
    h.merge("a4", "2026-11-22T12:00:00Z", 15).modify(
        "grants/prod-readonly/bob-1.yaml",
        &grant("bob", "prod-readonly", "duration: 2h"),
    );
    let a = h.audit("2026-11-22T12:30:00Z");
    assert_eq!(rules(&a), vec!["extended"]);
    let f = &a.findings[0];
    assert_eq!(f.grant.as_deref(), Some("prod-readonly/alice-1"));
    assert_eq!(f.commit, commit_id("a3"));
    assert!(f.message.contains("end moved later by 3h"), "{}", f.message);

    let alice = only(&a, "prod-readonly/alice-1");
    assert_eq!(alice.edits.len(), 1);
    let edit = &alice.edits[0];
    assert_eq!(edit.pr, Some(14));
    assert_eq!(edit.before.unwrap().end, t("2026-11-22T12:00:00Z"));
    assert_eq!(edit.after.unwrap().end, t("2026-11-22T15:00:00Z"));
    assert_eq!(edit.changed, vec!["window"]);
    assert_eq!(alice.window.unwrap().end, t("2026-11-22T15:00:00Z"));
    assert_eq!(alice.landed.window.unwrap().end, t("2026-11-22T12:00:00Z"));
    assert_eq!(alice.state, State::Active);
    assert_eq!(alice.findings, vec![FindingRule::Extended]);

    let bob = only(&a, "prod-readonly/bob-1");
    assert_eq!(
        bob.window,
        Some(Window {
            start: t("2026-11-22T11:00:00Z"),
            end: t("2026-11-22T13:00:00Z"),
        }),
        "a duration edit counts from the original landing, not the edit"
    );
    assert_eq!(bob.edits[0].before.unwrap().end, t("2026-11-22T15:00:00Z"));
}

#[test]
fn an_extension_after_the_window_ended_leaves_a_gap_for_at() {
    let mut h = with_policy();
    h.merge("a1", "2026-11-22T10:00:00Z", 12)
        .add(ALICE, &grant("alice", "prod-readonly", "duration: 1h"));
    h.merge("a2", "2026-11-22T12:00:00Z", 13)
        .modify(ALICE, &grant("alice", "prod-readonly", "duration: 4h"));
    let a = h.audit("2026-11-22T13:00:00Z");
    let l = only(&a, "prod-readonly/alice-1");
    assert!(l.usable_at(t("2026-11-22T10:30:00Z")));
    // Between the first window's end and the edit, nobody had extended it yet.
    assert!(!l.usable_at(t("2026-11-22T11:30:00Z")));
    assert!(l.usable_at(t("2026-11-22T12:30:00Z")));
}

#[test]
fn removal_by_a_plain_commit_before_expiry_is_revoked_early() {
    let mut h = with_policy();
    h.merge("a1", "2026-11-22T10:00:00Z", 12)
        .add(ALICE, &grant("alice", "prod-readonly", "duration: 2h"));
    h.merge("a2", "2026-11-22T10:30:00Z", 13).delete(ALICE);
    let a = h.audit("2026-11-23T00:00:00Z");
    assert_eq!(rules(&a), Vec::<&str>::new());
    let end = only(&a, "prod-readonly/alice-1").end.clone().unwrap();
    assert_eq!(end.reason, "revoked-early");
    assert!(!end.by_reconciler);
    assert_eq!(end.revoked_at, t("2026-11-22T10:30:00Z"));
}

#[test]
fn removal_by_hand_after_expiry_is_removed() {
    let mut h = with_policy();
    h.merge("a1", "2026-11-22T10:00:00Z", 12)
        .add(ALICE, &grant("alice", "prod-readonly", "duration: 2h"));
    h.commit("a2", "2026-11-22T12:30:00Z", "Clean up alice (#13)")
        .delete(ALICE);
    let a = h.audit("2026-11-23T00:00:00Z");
    assert_eq!(rules(&a), Vec::<&str>::new());
    assert_eq!(
        only(&a, "prod-readonly/alice-1")
            .end
            .as_ref()
            .unwrap()
            .reason,
        "removed"
    );
}

#[test]
fn reconciler_trailers_for_another_grant_do_not_count() {
    let mut h = with_policy();
    h.merge("a1", "2026-11-22T10:00:00Z", 12)
        .add(ALICE, &grant("alice", "prod-readonly", "duration: 2h"));
    h.commit(
        "a2",
        "2026-11-22T10:30:00Z",
        "gitgrant: expire prod-readonly/bob-1\n\nx\n\nGitgrant-Grant: prod-readonly/bob-1\nGitgrant-Reason: expired\n",
    )
    .delete(ALICE);
    let a = h.audit("2026-11-23T00:00:00Z");
    let end = only(&a, "prod-readonly/alice-1").end.clone().unwrap();
    assert_eq!(end.reason, "revoked-early");
    assert!(!end.by_reconciler);
}

#[test]
fn a_grant_landed_without_a_pull_request_is_a_direct_push() {
    let mut h = with_policy();
    h.commit("a1", "2026-11-22T10:00:00Z", "give myself access")
        .add(ALICE, &grant("alice", "prod-readonly", "duration: 2h"));
    // A squash merge names its pull request at the end of the summary.
    h.commit("a2", "2026-11-22T10:05:00Z", "Grant bob (#7)")
        .add(
            "grants/prod-readonly/bob-1.yaml",
            &grant("bob", "prod-readonly", "duration: 2h"),
        );
    // An edit pushed directly is as unreviewed as a landing.
    h.commit("a3", "2026-11-22T10:10:00Z", "tweak")
        .modify(ALICE, &grant("alice", "prod-readonly", "duration: 3h"));
    let a = h.audit("2026-11-22T11:00:00Z");
    assert_eq!(rules(&a), vec!["direct-push", "direct-push", "extended"]);
    assert_eq!(a.findings[0].commit, commit_id("a1"));
    assert_eq!(a.findings[1].commit, commit_id("a3"));
    assert!(
        a.findings
            .iter()
            .all(|f| f.grant.as_deref() == Some("prod-readonly/alice-1"))
    );
    assert_eq!(only(&a, "prod-readonly/bob-1").requested.pr, Some(7));
    assert_eq!(only(&a, "prod-readonly/alice-1").requested.pr, None);
}

#[test]
fn a_direct_commit_titled_as_a_pull_request_merge_is_a_direct_push() {
    let mut h = with_policy();
    // What GitHub's merge button would title it, but a merge has two parents.
    h.commit(
        "a1",
        "2026-11-22T10:00:00Z",
        "Merge pull request #12 from alice/grant",
    )
    .add(ALICE, &grant("alice", "prod-readonly", "duration: 2h"));
    let a = h.audit("2026-11-22T11:00:00Z");
    assert_eq!(rules(&a), vec!["direct-push"]);
    assert!(a.findings[0].message.contains("one parent"), "{a:#?}");
    let l = only(&a, "prod-readonly/alice-1");
    assert_eq!(l.landed.evidence, GitEvidence::None);
    // The claim is kept as written, for the auditor to see.
    assert_eq!(l.requested.pr, Some(12));
}

#[test]
fn evidence_of_a_pull_request_is_as_strong_as_what_github_wrote() {
    let mut h = with_policy();
    // As GitHub's merge button writes it.
    h.merge("a1", "2026-11-22T10:00:00Z", 12)
        .add(ALICE, &grant("alice", "prod-readonly", "duration: 2h"));
    // A two-parent merge titled as GitHub would, but made and pushed by a person.
    h.merge("a2", "2026-11-22T10:01:00Z", 13).add(
        "grants/prod-readonly/bob-1.yaml",
        &grant("bob", "prod-readonly", "duration: 2h"),
    );
    h.last().committer = "Mallory <mallory@example.com>".to_string();
    // A squash merge by GitHub: one parent, `(#N)`, committed and signed by GitHub.
    h.commit("a3", "2026-11-22T10:02:00Z", "Grant alice more (#14)")
        .add(
            "grants/prod-readonly/alice-3.yaml",
            &grant("alice", "prod-readonly", "duration: 2h"),
        );
    h.last().committer = "GitHub <noreply@github.com>".to_string();
    h.last().signature = Some(crate::history::Signature::OpenPgp);
    // GitHub's committer named, but no signature: not written by GitHub.
    h.merge("a4", "2026-11-22T10:03:00Z", 15).add(
        "grants/prod-readonly/alice-4.yaml",
        &grant("alice", "prod-readonly", "duration: 2h"),
    );
    h.last().signature = None;
    // Signed, but with SSH: GitHub signs with OpenPGP.
    h.merge("a5", "2026-11-22T10:04:00Z", 16).add(
        "grants/prod-readonly/alice-5.yaml",
        &grant("alice", "prod-readonly", "duration: 2h"),
    );
    h.last().signature = Some(crate::history::Signature::Ssh);
    let a = h.audit("2026-11-22T11:00:00Z");
    let evidence = |id: &str| only(&a, id).landed.evidence;
    assert_eq!(evidence("prod-readonly/alice-1"), GitEvidence::GithubSigned);
    assert_eq!(evidence("prod-readonly/bob-1"), GitEvidence::Message);
    assert_eq!(evidence("prod-readonly/alice-3"), GitEvidence::GithubSigned);
    assert_eq!(evidence("prod-readonly/alice-4"), GitEvidence::Message);
    assert_eq!(evidence("prod-readonly/alice-5"), GitEvidence::Message);
    // Weaker evidence is reported in the lifecycle, not as a finding.
    assert_eq!(rules(&a), Vec::<&str>::new());
}

#[test]
fn an_edit_records_the_evidence_of_its_commit() {
    let mut h = with_policy();
    h.merge("a1", "2026-11-22T10:00:00Z", 12)
        .add(ALICE, &grant("alice", "prod-readonly", "duration: 2h"));
    h.commit(
        "a2",
        "2026-11-22T10:10:00Z",
        "Merge pull request #13 from alice/more",
    )
    .modify(ALICE, &grant("alice", "prod-readonly", "duration: 3h"));
    let a = h.audit("2026-11-22T11:00:00Z");
    let l = only(&a, "prod-readonly/alice-1");
    assert_eq!(l.edits[0].evidence, GitEvidence::None);
    assert_eq!(rules(&a), vec!["direct-push", "extended"]);
}

// ---------------------------------------------------------------------------
// The policy

#[test]
fn raising_max_duration_or_changing_approvers_widens_the_policy() {
    let mut h = with_policy();
    h.merge("p1", "2026-11-21T09:00:00Z", 2).modify(
        "gitgrant.yaml",
        &policy_with("max_duration: 8h", "max_duration: 24h"),
    );
    let both = policy_with("max_duration: 8h", "max_duration: 24h")
        .replace("min_approvals: 2", "min_approvals: 1")
        .replace(
            "[\"@acme/platform-leads\", \"@acme/security\"]",
            "[\"@acme/platform-leads\"]",
        );
    h.merge("p2", "2026-11-21T10:00:00Z", 3)
        .modify("gitgrant.yaml", &both);
    // Narrowing back is no finding. (Approvers are not restored: any change
    // of approvers counts, as CODEOWNERS lets any one of them approve.)
    let narrowed = policy_with(
        "[\"@acme/platform-leads\", \"@acme/security\"]",
        "[\"@acme/platform-leads\"]",
    );
    h.merge("p3", "2026-11-21T11:00:00Z", 4)
        .modify("gitgrant.yaml", &narrowed);
    let a = h.audit("2026-11-23T00:00:00Z");
    assert_eq!(rules(&a), vec!["policy-widened", "policy-widened"]);
    let first = &a.findings[0];
    assert_eq!(first.role.as_deref(), Some("prod-readonly"));
    assert_eq!(first.grant, None);
    assert_eq!(
        first.message,
        "role `prod-readonly`: max_duration raised from 8h to 1d"
    );
    let second = &a.findings[1];
    assert_eq!(second.role.as_deref(), Some("prod-admin"));
    assert_eq!(
        second.message,
        "role `prod-admin`: approvers changed from @acme/platform-leads, @acme/security \
         to @acme/platform-leads; min_approvals lowered from 2 to 1"
    );
}

/// What lands without review is decided by the auto-approval rules: a rule
/// added, or one whose conditions change (a history condition relaxed),
/// widens the policy; taking a rule away does not.
#[test]
fn an_auto_approval_rule_added_or_relaxed_widens_the_policy() {
    let rule = |count: u32| {
        format!(
            "min_approvals: 1\n    auto_approve:\n      - name: routine\n        max_duration: 1h\n        history: {{ held_before: true, max_grants: {{ count: {count}, per: 7d }} }}"
        )
    };
    let mut h = with_policy();
    h.merge("p1", "2026-11-21T09:00:00Z", 2)
        .modify("gitgrant.yaml", &policy_with("min_approvals: 1", &rule(3)));
    h.merge("p2", "2026-11-21T10:00:00Z", 3)
        .modify("gitgrant.yaml", &policy_with("min_approvals: 1", &rule(10)));
    h.merge("p3", "2026-11-21T11:00:00Z", 4)
        .modify("gitgrant.yaml", POLICY);
    let a = h.audit("2026-11-23T00:00:00Z");
    assert_eq!(
        rules(&a),
        vec!["policy-widened", "policy-widened"],
        "{:#?}",
        a.findings
    );
    assert_eq!(
        a.findings[0].message,
        "role `prod-readonly`: auto_approve: rule `routine` added (at most 1h, held the role before, at most 3 grant(s) of it per 7d)"
    );
    assert_eq!(
        a.findings[1].message,
        "role `prod-readonly`: auto_approve: rule `routine` changed from (at most 1h, held the role before, at most 3 grant(s) of it per 7d) to (at most 1h, held the role before, at most 10 grant(s) of it per 7d)"
    );
}

/// An Identity Center role widened through its own keys: a managed policy
/// (AdministratorAccess, say) or an account added is a widening the
/// auditor must see, as a statement added to an IAM role is.
#[test]
fn a_managed_policy_or_account_added_to_an_identity_center_role_widens_the_policy() {
    let ic = |managed: &str, accounts: &str| {
        policy_with(
            "people:\n",
            "  sso:\n    type: aws-identity-center\n    account: \"999999999999\"\n    \
             region: eu-west-1\n    instance_arn: arn:aws:sso:::instance/ssoins-1234567890abcdef\n    \
             identity_store_id: d-1234567890\npeople:\n",
        )
        .replace(
            "roles:\n",
            &format!(
                "roles:\n  sso-ops:\n    description: Operations\n    provider: sso\n    \
                 max_duration: 2h\n    approvers: [\"@acme/ops\"]\n    accounts: [{accounts}]\n    \
                 permissions:\n      managed_policies: [{managed}]\n"
            ),
        )
    };
    let mut h = History::default();
    h.commit("0", "2026-11-20T09:00:00Z", "Initial policy (#1)")
        .add(
            "gitgrant.yaml",
            &ic(
                "\"arn:aws:iam::aws:policy/ReadOnlyAccess\"",
                "\"111111111111\"",
            ),
        );
    h.merge("p1", "2026-11-21T09:00:00Z", 2).modify(
        "gitgrant.yaml",
        &ic(
            "\"arn:aws:iam::aws:policy/ReadOnlyAccess\", \"arn:aws:iam::aws:policy/AdministratorAccess\"",
            "\"111111111111\", \"222222222222\"",
        ),
    );
    let a = h.audit("2026-11-23T00:00:00Z");
    assert_eq!(rules(&a), vec!["policy-widened"], "{:?}", a.findings);
    assert_eq!(
        a.findings[0].message,
        "role `sso-ops`: permissions: managed_policies added: \
         arn:aws:iam::aws:policy/AdministratorAccess, accounts added: 222222222222"
    );
}

#[test]
fn a_role_added_widens_the_policy() {
    let mut h = with_policy();
    let added = policy_with(
        "roles:\n",
        "roles:\n  db-read:\n    description: Database reads\n    provider: aws-prod\n    \
         max_duration: 2h\n    approvers: [\"@acme/dba\"]\n    permissions:\n      statements:\n        \
         - { effect: Allow, actions: [\"rds:Describe*\"], resources: [\"*\"] }\n",
    );
    h.merge("p1", "2026-11-21T09:00:00Z", 2)
        .modify("gitgrant.yaml", &added);
    let a = h.audit("2026-11-23T00:00:00Z");
    assert_eq!(rules(&a), vec!["policy-widened"]);
    assert_eq!(
        a.findings[0].message,
        "role `db-read`: role added (max_duration 2h, approvers @acme/dba, min_approvals 1)"
    );
}

#[test]
fn a_grant_in_the_commit_that_changes_the_policy_is_flagged() {
    let mut h = with_policy();
    h.merge("a1", "2026-11-22T10:00:00Z", 12)
        .modify(
            "gitgrant.yaml",
            &policy_with("max_duration: 8h", "max_duration: 24h"),
        )
        .add(ALICE, &grant("alice", "prod-readonly", "duration: 20h"));
    let a = h.audit("2026-11-22T11:00:00Z");
    // Judged against the policy in the same tree: 20h fits the widened 24h.
    assert_eq!(
        rules(&a),
        vec!["grant-with-policy-change", "policy-widened"]
    );
    assert_eq!(
        a.findings[0].grant.as_deref(),
        Some("prod-readonly/alice-1")
    );
}

#[test]
fn a_window_over_the_max_at_landing_is_flagged_though_a_later_policy_allows_it() {
    let mut h = with_policy();
    h.merge("a1", "2026-11-22T10:00:00Z", 12)
        .add(ALICE, &grant("alice", "prod-readonly", "duration: 12h"));
    h.merge("p1", "2026-11-22T11:00:00Z", 13).modify(
        "gitgrant.yaml",
        &policy_with("max_duration: 8h", "max_duration: 1d"),
    );
    h.merge("a2", "2026-11-22T12:00:00Z", 14).add(
        "grants/prod-readonly/bob-1.yaml",
        &grant("bob", "prod-readonly", "duration: 12h"),
    );
    let a = h.audit("2026-11-22T13:00:00Z");
    assert_eq!(rules(&a), vec!["window-over-max", "policy-widened"]);
    let f = &a.findings[0];
    assert_eq!(f.grant.as_deref(), Some("prod-readonly/alice-1"));
    assert_eq!(
        f.message,
        "window is 12h, longer than role `prod-readonly` allowed then (8h): \
         2026-11-22T10:00:00Z/2026-11-22T22:00:00Z"
    );
    // The validation rule is on the lifecycle; `invalid-grant` does not repeat it.
    let alice = only(&a, "prod-readonly/alice-1");
    assert_eq!(alice.violations.len(), 1);
    assert_eq!(alice.violations[0].rule, "window-too-long");
    assert!(only(&a, "prod-readonly/bob-1").findings.is_empty());
}

#[test]
fn an_unreadable_policy_is_invalid_and_the_last_readable_one_stays_in_force() {
    let mut h = with_policy();
    h.merge("p1", "2026-11-21T09:00:00Z", 2)
        .modify("gitgrant.yaml", "version: 1\nroles: [");
    h.merge("a1", "2026-11-22T10:00:00Z", 12)
        .add(ALICE, &grant("alice", "prod-readonly", "duration: 12h"));
    h.merge("p2", "2026-11-22T11:00:00Z", 13)
        .delete("gitgrant.yaml");
    let a = h.audit("2026-11-22T12:00:00Z");
    assert_eq!(
        rules(&a),
        vec!["invalid-policy", "window-over-max", "invalid-policy"]
    );
    assert!(
        a.findings[0]
            .message
            .starts_with("gitgrant.yaml does not validate: yaml-syntax")
    );
    assert_eq!(a.findings[2].message, "gitgrant.yaml was removed");
    assert_eq!(
        only(&a, "prod-readonly/alice-1").provider.as_deref(),
        Some("aws-prod")
    );
}

// ---------------------------------------------------------------------------
// Ids and paths

#[test]
fn a_name_used_again_after_its_lifecycle_ended_is_re_added() {
    let mut h = with_policy();
    h.merge("a1", "2026-11-22T10:00:00Z", 12)
        .add(ALICE, &grant("alice", "prod-readonly", "duration: 2h"));
    h.expire(
        "a2",
        "2026-11-22T12:01:00Z",
        "prod-readonly/alice-1",
        "2026-11-22T12:00:40Z",
    );
    h.merge("a3", "2026-11-23T09:00:00Z", 20)
        .add(ALICE, &grant("alice", "prod-readonly", "duration: 1h"));
    let a = h.audit("2026-11-23T09:30:00Z");
    assert_eq!(rules(&a), vec!["re-added"]);
    let lifecycles: Vec<(u32, State)> = a
        .lifecycles
        .iter()
        .map(|l| (l.occurrence, l.state))
        .collect();
    assert_eq!(lifecycles, vec![(1, State::Ended), (2, State::Active)]);
    assert_eq!(a.findings[0].occurrence, Some(2));
    assert_eq!(
        a.findings[0].message,
        "grant id used again; its lifecycle #1 ended at 2026-11-22T12:01:00Z (expired)"
    );
    assert_eq!(a.lifecycles[0].findings, vec![]);
    assert_eq!(a.lifecycles[1].findings, vec![FindingRule::ReAdded]);
}

#[test]
fn a_grant_moved_to_another_role_keeps_both_lifecycles() {
    let mut h = with_policy();
    let text = grant("alice", "prod-readonly", "duration: 2h");
    h.merge("a1", "2026-11-22T10:00:00Z", 12).add(ALICE, &text);
    h.merge("a2", "2026-11-22T10:30:00Z", 13)
        .delete(ALICE)
        .add("grants/prod-admin/alice-1.yaml", &text);
    let a = h.audit("2026-11-22T11:00:00Z");
    assert_eq!(rules(&a), vec!["invalid-grant", "moved"]);
    let moved = &a.findings[1];
    assert_eq!(moved.grant.as_deref(), Some("prod-admin/alice-1"));
    assert_eq!(
        moved.message,
        "moved from grants/prod-readonly/alice-1.yaml (same content)"
    );
    // The content still says prod-readonly: the move itself makes it invalid.
    assert!(a.findings[0].message.contains("role-folder-mismatch"));
    let old = only(&a, "prod-readonly/alice-1");
    assert_eq!(old.end.as_ref().unwrap().reason, "revoked-early");
    let new = only(&a, "prod-admin/alice-1");
    assert_eq!(new.role.as_deref(), Some("prod-admin"));
    assert_eq!(new.state, State::Active);
}

#[test]
fn a_rename_within_a_role_is_moved_too_because_it_restarts_the_clock() {
    let mut h = with_policy();
    let text = grant("alice", "prod-readonly", "duration: 2h");
    h.merge("a1", "2026-11-22T10:00:00Z", 12).add(ALICE, &text);
    h.merge("a2", "2026-11-22T11:30:00Z", 13)
        .delete(ALICE)
        .add("grants/prod-readonly/alice-2.yaml", &text);
    let a = h.audit("2026-11-22T12:00:00Z");
    assert_eq!(rules(&a), vec!["moved"]);
    assert_eq!(
        only(&a, "prod-readonly/alice-2").window.unwrap().end,
        t("2026-11-22T13:30:00Z")
    );
}

// ---------------------------------------------------------------------------
// Late removals

#[test]
fn removal_more_than_the_lag_after_expiry_is_late() {
    let mut h = with_policy();
    h.merge("a1", "2026-11-22T10:00:00Z", 12)
        .add(ALICE, &grant("alice", "prod-readonly", "duration: 2h"));
    h.merge("a2", "2026-11-22T10:05:00Z", 13).add(
        "grants/prod-readonly/bob-1.yaml",
        &grant("bob", "prod-readonly", "duration: 2h"),
    );
    // Within the lag: on time.
    h.expire(
        "a3",
        "2026-11-22T13:00:00Z",
        "prod-readonly/alice-1",
        "2026-11-22T12:59:00Z",
    );
    h.expire(
        "a4",
        "2026-11-22T15:35:00Z",
        "prod-readonly/bob-1",
        "2026-11-22T15:34:00Z",
    );
    let a = h.audit("2026-11-23T00:00:00Z");
    assert_eq!(rules(&a), vec!["late-removal"]);
    let f = &a.findings[0];
    assert_eq!(f.grant.as_deref(), Some("prod-readonly/bob-1"));
    assert_eq!(f.commit, commit_id("a4"));
    assert_eq!(
        f.message,
        "removed 3h30m after its window ended at 2026-11-22T12:05:00Z"
    );

    // A longer lag accepts it.
    let lenient = Options {
        late_after: TimeDelta::hours(4),
        allowed: Some(crate::signing::test_key::allowed()),
    };
    assert!(
        audit(&h.commits, t("2026-11-23T00:00:00Z"), &lenient)
            .findings
            .is_empty()
    );
}

#[test]
fn grants_still_present_get_their_state_and_late_ones_a_finding() {
    let mut h = with_policy();
    h.merge("a1", "2026-11-22T08:00:00Z", 12)
        .add(ALICE, &grant("alice", "prod-readonly", "duration: 1h"));
    h.merge("a2", "2026-11-22T10:00:00Z", 13).add(
        "grants/prod-readonly/bob-1.yaml",
        &grant("bob", "prod-readonly", "duration: 1h"),
    );
    h.merge("a3", "2026-11-22T10:10:00Z", 14).add(
        "grants/prod-readonly/bob-2.yaml",
        &grant("bob", "prod-readonly", "duration: 2h"),
    );
    h.merge("a4", "2026-11-22T10:20:00Z", 15).add(
        "grants/prod-readonly/bob-3.yaml",
        &grant(
            "bob",
            "prod-readonly",
            "starts: 2026-11-24T09:00:00Z\nexpires: 2026-11-24T10:00:00Z",
        ),
    );
    let a = h.audit("2026-11-22T11:30:00Z");
    let states: Vec<(&str, State)> = a
        .lifecycles
        .iter()
        .map(|l| (l.id.as_str(), l.state))
        .collect();
    assert_eq!(
        states,
        vec![
            ("prod-readonly/alice-1", State::Expired),
            ("prod-readonly/bob-1", State::Expired),
            ("prod-readonly/bob-2", State::Active),
            ("prod-readonly/bob-3", State::Scheduled),
        ]
    );
    // alice ended at 09:00, 2h30m ago; bob-1 at 11:00, within the lag.
    assert_eq!(rules(&a), vec!["late-removal"]);
    let f = &a.findings[0];
    assert_eq!(f.grant.as_deref(), Some("prod-readonly/alice-1"));
    assert_eq!(f.commit, commit_id("a4"));
    assert_eq!(f.time, t("2026-11-22T11:30:00Z"));
    insta::assert_snapshot!("present_grants_table", render::table(&a));
}

// ---------------------------------------------------------------------------
// Odd input

#[test]
fn a_malformed_grant_keeps_its_lifecycle_with_invalid_grant() {
    let mut h = with_policy();
    h.merge("a1", "2026-11-22T10:00:00Z", 12)
        .add(ALICE, "subject: alice\nreason: [unclosed\n");
    h.merge("a2", "2026-11-22T10:05:00Z", 13).add(
        "grants/prod-readonly/bob-1.yaml",
        "subject: bob\nrole: prod-readonly\nreason: r\nduration: 2 hours\n",
    );
    h.merge("a3", "2026-11-22T10:10:00Z", 14)
        .add("grants/stray.yaml", "\u{0}\u{1}junk");
    h.merge("a4", "2026-11-22T11:00:00Z", 15).delete(ALICE);
    let a = h.audit("2026-11-22T12:00:00Z");
    assert_eq!(
        rules(&a),
        vec!["invalid-grant", "invalid-grant", "invalid-grant"]
    );
    let alice = only(&a, "prod-readonly/alice-1");
    assert_eq!(alice.subject, None, "junk YAML gives nothing to go by");
    assert_eq!(alice.window, None);
    assert_eq!(
        alice.landed.blob,
        version("subject: alice\nreason: [unclosed\n").blob
    );
    assert!(
        alice
            .unreadable
            .as_deref()
            .unwrap()
            .starts_with("the grant file could not be read: yaml-syntax"),
        "{:?}",
        alice.unreadable
    );
    assert_eq!(alice.end.as_ref().unwrap().reason, "removed");
    assert_eq!(alice.state, State::Ended);

    // Unreadable as a grant, but its subject can still be made out.
    let bob = only(&a, "prod-readonly/bob-1");
    assert_eq!(bob.subject.as_deref(), Some("bob"));
    assert_eq!(bob.state, State::Unknown);
    assert_eq!(bob.violations[0].rule, "invalid-duration");

    let stray = only(&a, "stray");
    assert_eq!(stray.role, None);
    assert_eq!(stray.state, State::Unknown);
    assert!(!stray.usable_at(t("2026-11-22T10:30:00Z")));
}

#[test]
fn placeholders_are_passed_over() {
    let mut h = with_policy();
    h.commit("a1", "2026-11-22T10:00:00Z", "scaffold")
        .add("grants/prod-readonly/.gitkeep", "");
    let a = h.audit("2026-11-22T12:00:00Z");
    assert!(a.lifecycles.is_empty());
    assert!(a.findings.is_empty());
}

#[test]
fn a_truncated_first_commit_lands_what_it_holds_without_a_direct_push() {
    let mut h = History::default();
    h.commit(
        "t0",
        "2026-11-22T10:00:00Z",
        "gitgrant: expire prod-readonly/x",
    )
    .truncated()
    .add("gitgrant.yaml", POLICY)
    .add(ALICE, &grant("alice", "prod-readonly", "duration: 2h"));
    h.expire(
        "a1",
        "2026-11-22T12:00:30Z",
        "prod-readonly/alice-1",
        "2026-11-22T12:00:10Z",
    );
    let a = h.audit("2026-11-23T00:00:00Z");
    assert_eq!(rules(&a), vec!["history-truncated"]);
    assert_eq!(a.findings[0].grant, None);
    assert_eq!(a.findings[0].commit, commit_id("t0"));
    let l = only(&a, "prod-readonly/alice-1");
    assert!(l.landed.before_history);
    assert_eq!(l.provider.as_deref(), Some("aws-prod"));
    assert_eq!(l.end.as_ref().unwrap().reason, "expired");
}

#[test]
fn windows_with_odd_offsets_are_compared_in_utc() {
    let mut h = with_policy();
    // 15:45+05:45 is 10:00Z; 19:45+05:45 is 14:00Z: 4h, inside prod-readonly's 8h.
    h.merge("a1", "2026-11-22T09:00:00Z", 12).add(
        ALICE,
        &grant(
            "alice",
            "prod-readonly",
            "starts: 2026-11-22T15:45:00+05:45\nexpires: 2026-11-22T19:45:00+05:45",
        ),
    );
    // 10:00-09:30 is 19:30Z: a window of 9h30m from landing at 10:00Z.
    h.merge("a2", "2026-11-22T10:00:00Z", 13).add(
        "grants/prod-readonly/bob-1.yaml",
        &grant("bob", "prod-readonly", "expires: 2026-11-22T10:00:00-09:30"),
    );
    let a = h.audit("2026-11-22T13:59:59Z");
    let alice = only(&a, "prod-readonly/alice-1");
    assert_eq!(
        alice.window,
        Some(Window {
            start: t("2026-11-22T10:00:00Z"),
            end: t("2026-11-22T14:00:00Z"),
        })
    );
    assert_eq!(alice.state, State::Active);
    assert!(!alice.usable_at(t("2026-11-22T09:59:59Z")));
    assert!(alice.usable_at(t("2026-11-22T15:45:00+05:45")));
    assert!(!alice.usable_at(t("2026-11-22T19:45:00+05:45")));
    assert_eq!(rules(&a), vec!["window-over-max"]);
    assert!(
        a.findings[0].message.contains("is 9h30m"),
        "{}",
        a.findings[0].message
    );
    assert!(render::json(&a).contains("\"end\": \"2026-11-22T19:30:00Z\""));
}

#[test]
fn json_times_are_utc_whole_seconds() {
    let mut h = with_policy();
    h.merge("a1", "2026-11-22T10:00:00Z", 12)
        .add(ALICE, &grant("alice", "prod-readonly", "duration: 2h"));
    let a = h.audit("2026-11-22T10:30:00.123456789+01:00");
    let json = render::json(&a);
    assert!(json.contains("\"now\": \"2026-11-22T09:30:00Z\""), "{json}");
    assert!(!json.contains(".123"));
}

// ---------------------------------------------------------------------------
// Filters

/// alice: landed 10:00, window 10:00-12:00, removed 11:00 (revoked early).
/// bob: landed 10:30, window 10:30-12:30, still present. A policy widening at 09:00.
fn two_grants() -> Audit {
    let mut h = with_policy();
    h.merge("p1", "2026-11-22T09:00:00Z", 2).modify(
        "gitgrant.yaml",
        &policy_with("max_duration: 4h", "max_duration: 6h"),
    );
    h.merge("a1", "2026-11-22T10:00:00Z", 12)
        .add(ALICE, &grant("alice", "prod-readonly", "duration: 2h"));
    h.commit("a2", "2026-11-22T10:30:00Z", "bob pushes").add(
        "grants/prod-admin/bob-1.yaml",
        &grant("bob", "prod-admin", "duration: 2h"),
    );
    h.merge("a3", "2026-11-22T11:00:00Z", 13).delete(ALICE);
    h.audit("2026-11-22T12:00:00Z")
}

fn ids(a: &Audit) -> Vec<&str> {
    a.lifecycles.iter().map(|l| l.id.as_str()).collect()
}

#[test]
fn at_lists_who_could_use_a_role_at_that_instant() {
    let a = two_grants();
    let at = |s: &str| {
        filter(
            a.clone(),
            &Filter {
                at: Some(t(s)),
                ..Filter::default()
            },
        )
    };
    assert_eq!(
        ids(&at("2026-11-22T09:59:59Z")),
        Vec::<&str>::new(),
        "before landing"
    );
    assert_eq!(
        ids(&at("2026-11-22T10:00:00Z")),
        vec!["prod-readonly/alice-1"]
    );
    assert_eq!(
        ids(&at("2026-11-22T10:45:00Z")),
        vec!["prod-readonly/alice-1", "prod-admin/bob-1"]
    );
    assert_eq!(
        ids(&at("2026-11-22T11:00:00Z")),
        vec!["prod-admin/bob-1"],
        "alice was removed at 11:00, inside her window"
    );
    assert_eq!(
        ids(&at("2026-11-22T12:30:00Z")),
        Vec::<&str>::new(),
        "after the window"
    );

    let during = at("2026-11-22T10:45:00Z");
    // Findings follow: bob's direct push, and the widening before that instant.
    let kept: Vec<&str> = during.findings.iter().map(|f| f.rule.id()).collect();
    assert_eq!(kept, vec!["policy-widened", "direct-push"]);
}

#[test]
fn subject_role_and_time_range_filters() {
    let a = two_grants();
    let by = |f: Filter| filter(a.clone(), &f);

    let bob = by(Filter {
        subject: Some("bob".to_string()),
        ..Filter::default()
    });
    assert_eq!(ids(&bob), vec!["prod-admin/bob-1"]);
    assert_eq!(
        rules(&bob),
        vec!["direct-push"],
        "no general findings with a subject"
    );

    let admin = by(Filter {
        role: Some("prod-admin".to_string()),
        ..Filter::default()
    });
    assert_eq!(ids(&admin), vec!["prod-admin/bob-1"]);
    assert_eq!(rules(&admin), vec!["policy-widened", "direct-push"]);
    let readonly = by(Filter {
        role: Some("prod-readonly".to_string()),
        ..Filter::default()
    });
    assert_eq!(ids(&readonly), vec!["prod-readonly/alice-1"]);
    assert_eq!(rules(&readonly), Vec::<&str>::new());

    // alice was on the branch 10:00-11:00; bob from 10:30 on.
    let range = |since: &str, until: &str| {
        by(Filter {
            since: Some(t(since)),
            until: Some(t(until)),
            ..Filter::default()
        })
    };
    assert_eq!(
        ids(&range("2026-11-22T08:00:00Z", "2026-11-22T10:00:00Z")),
        Vec::<&str>::new()
    );
    assert_eq!(
        rules(&range("2026-11-22T08:00:00Z", "2026-11-22T10:00:00Z")),
        vec!["policy-widened"]
    );
    assert_eq!(
        ids(&range("2026-11-22T08:00:00Z", "2026-11-22T10:00:01Z")),
        vec!["prod-readonly/alice-1"]
    );
    // After alice's removal but inside her (unused) window: her window overlaps.
    assert_eq!(
        ids(&range("2026-11-22T11:30:00Z", "2026-11-22T11:45:00Z")),
        vec!["prod-readonly/alice-1", "prod-admin/bob-1"]
    );
    assert_eq!(
        ids(&range("2026-11-22T12:00:00Z", "2026-11-23T00:00:00Z")),
        vec!["prod-admin/bob-1"]
    );
    assert_eq!(by(Filter::default()), a);
}

// ---------------------------------------------------------------------------
// Output formats

fn mixed() -> Audit {
    let mut h = with_policy();
    h.merge("a1", "2026-11-22T10:00:00Z", 12).add(
        ALICE,
        "subject: alice\nrole: prod-readonly\nreason: \"=HYPERLINK(\\\"x\\\") | [click](http://e.vil) <b>\"\n\
         ticket: INC-1\nduration: 2h\n",
    );
    h.commit("a2", "2026-11-22T10:05:00Z", "quick fix").add(
        "grants/prod-admin/bob-with-a-rather-long-grant-name-20261122-abcdef0123456789.yaml",
        &grant("bob", "prod-admin", "duration: 6h"),
    );
    h.expire(
        "a3",
        "2026-11-22T12:03:00Z",
        "prod-readonly/alice-1",
        "2026-11-22T12:02:00Z",
    );
    h.audit("2026-11-22T13:00:00Z")
}

#[test]
fn the_table_fits_in_100_columns() {
    let a = mixed();
    let table = render::table(&a);
    for line in table.lines() {
        assert!(line.chars().count() <= render::TABLE_WIDTH, "{line:?}");
    }
    assert!(table.contains("prod-admin/bob-with-a-rather-long-grant-name-"));
    assert!(table.contains('…'));
    insta::assert_snapshot!("mixed_table", table);
}

#[test]
fn csv_has_a_row_per_lifecycle_and_defuses_formulas() {
    let a = mixed();
    let text = render::csv(&a);
    let mut reader = ::csv::Reader::from_reader(text.as_bytes());
    assert_eq!(
        reader.headers().unwrap().iter().collect::<Vec<_>>(),
        render::CSV_HEADER
    );
    let rows: Vec<::csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 2);
    let alice = &rows[0];
    assert_eq!(&alice[0], "prod-readonly/alice-1");
    assert!(alice[4].starts_with("'=HYPERLINK"), "{:?}", &alice[4]);
    assert_eq!(&alice[6], "12");
    assert_eq!(&alice[13], "ended");
    assert_eq!(&alice[14], "expired");
    assert_eq!(&alice[16], "2026-11-22T12:03:00Z");
    let bob = &rows[1];
    assert_eq!(&bob[6], "");
    assert_eq!(&bob[11], "2026-11-22T16:05:00Z");
    assert_eq!(&bob[13], "active");
    assert_eq!(&bob[17], "direct-push;window-over-max");
}

#[test]
fn markdown_escapes_what_grant_files_say() {
    let a = mixed();
    let md = render::markdown(&a);
    assert!(!md.contains("[click](http"), "{md}");
    assert!(!md.contains("<b>"), "{md}");
    insta::assert_snapshot!("mixed_markdown", md);
}

#[test]
fn formats_parse_by_name_and_an_empty_history_renders() {
    for f in Format::ALL {
        assert_eq!(f.name().parse::<Format>(), Ok(*f));
    }
    assert!("yaml".parse::<Format>().is_err());
    let empty = audit(&[], t("2026-11-22T13:00:00Z"), &Options::default());
    assert_eq!(empty.tip, None);
    assert!(render::json(&empty).contains("\"tip\": null"));
    assert_eq!(
        render::table(&empty),
        "No grants in the history.\n\nrevocation: 0 grants, cloud-enforced 0, max lag 0s\n\nNo findings.\n"
    );
    assert_eq!(render::csv(&empty).lines().count(), 1);
    for rule in FindingRule::ALL {
        assert_eq!(rule.id().parse::<FindingRule>(), Ok(*rule));
        assert_eq!(
            serde_json::to_value(rule).unwrap(),
            serde_json::json!(rule.id())
        );
    }
}

// ---------------------------------------------------------------------------
// Times at the ends of the calendar

#[test]
fn a_grant_landed_at_the_end_of_chronos_calendar_is_invalid_with_no_window() {
    let mut h = with_policy();
    h.merge("a1", "2026-11-22T10:00:00Z", 2)
        .add(ALICE, &grant("alice", "prod-readonly", "duration: 2h"));
    // A removal (no window to compare with) and an add at chrono's last
    // instant, as git can record them.
    h.commit("a2", "2026-11-22T11:00:00Z", "Revoke (#3)")
        .delete(ALICE);
    h.merge("a3", "2026-11-22T12:00:00Z", 4)
        .add(ALICE, &grant("alice", "prod-readonly", "duration: 2h"));
    h.last().time = DateTime::<Utc>::MAX_UTC;
    let a = h.audit("2026-11-23T00:00:00Z");
    let second = &a.lifecycles[1];
    assert_eq!(second.window, None);
    assert_eq!(second.state, State::Unknown);
    assert!(
        second
            .violations
            .iter()
            .any(|v| v.rule == "landing-time-out-of-range"),
        "{:?}",
        second.violations
    );
    assert!(rules(&a).contains(&"invalid-grant"), "{:?}", rules(&a));
}

#[test]
fn a_late_after_past_the_calendar_is_never_late() {
    let mut h = with_policy();
    h.merge("a1", "2026-11-22T10:00:00Z", 2)
        .add(ALICE, &grant("alice", "prod-readonly", "duration: 2h"));
    let options = Options {
        late_after: TimeDelta::MAX,
        ..Default::default()
    };
    let a = audit(&h.commits, t("9999-12-31T23:59:59Z"), &options);
    assert!(a.findings.is_empty(), "{:?}", a.findings);
    assert_eq!(only(&a, "prod-readonly/alice-1").state, State::Expired);
}

// ---------------------------------------------------------------------------
// Revocation: how long after the intended end access really ended

fn revocation(a: &Audit, id: &str) -> Option<Revocation> {
    only(a, id).revocation.clone()
}

#[test]
fn an_expired_grant_was_ended_by_the_cloud_with_no_lag() {
    let mut h = with_policy();
    h.merge("a1", "2026-11-22T10:00:00Z", 12)
        .add(ALICE, &grant("alice", "prod-readonly", "duration: 2h"));
    // The reconciler came 5 minutes late: AWS had refused access at 12:00.
    h.expire(
        "a2",
        "2026-11-22T12:05:00Z",
        "prod-readonly/alice-1",
        "2026-11-22T12:04:31Z",
    );
    let a = h.audit("2026-11-23T00:00:00Z");
    let r = revocation(&a, "prod-readonly/alice-1").unwrap();
    assert_eq!(r.ended_by, EndedBy::Cloud);
    assert_eq!(r.lag_seconds, Some(0));
    assert_eq!(r.lag_at_most_seconds, None);
    assert!(r.unfenced.is_empty());
    assert_eq!(
        a.revocation.line(),
        "revocation: 1 grant, cloud-enforced 1, max lag 0s"
    );
}

#[test]
fn removal_by_hand_after_the_end_and_a_grant_awaiting_removal_are_cloud_enforced() {
    let mut h = with_policy();
    h.merge("a1", "2026-11-22T10:00:00Z", 12)
        .add(ALICE, &grant("alice", "prod-readonly", "duration: 2h"));
    h.merge("a2", "2026-11-22T10:00:00Z", 13).add(
        "grants/prod-readonly/bob-1.yaml",
        &grant("bob", "prod-readonly", "duration: 1h"),
    );
    h.commit("a3", "2026-11-22T12:30:00Z", "Clean up alice (#14)")
        .delete(ALICE);
    let a = h.audit("2026-11-22T13:00:00Z");
    for id in ["prod-readonly/alice-1", "prod-readonly/bob-1"] {
        let r = revocation(&a, id).unwrap();
        assert_eq!(
            (r.ended_by, r.lag_seconds),
            (EndedBy::Cloud, Some(0)),
            "{id}"
        );
    }
    assert_eq!(only(&a, "prod-readonly/bob-1").state, State::Expired);
}

#[test]
fn an_early_revoke_was_ended_by_a_run_whose_lag_git_does_not_record() {
    let mut h = with_policy();
    h.merge("a1", "2026-11-22T10:00:00Z", 12)
        .add(ALICE, &grant("alice", "prod-readonly", "duration: 2h"));
    h.merge("a2", "2026-11-22T10:30:00Z", 13).delete(ALICE);
    let a = h.audit("2026-11-23T00:00:00Z");
    let r = revocation(&a, "prod-readonly/alice-1").unwrap();
    assert_eq!(r.ended_by, EndedBy::Run);
    assert_eq!(r.lag_seconds, None, "no run time in the history");
    // The window's own conditions end access at 12:00 whatever runs did.
    assert_eq!(r.lag_at_most_seconds, Some(90 * 60));
    assert_eq!(a.revocation.max_lag_seconds, None);
    assert_eq!(
        a.revocation.line(),
        "revocation: 1 grant, cloud-enforced 0, max lag unknown, 1 ended by a run"
    );
    let json: serde_json::Value = serde_json::from_str(&render::json(&a)).unwrap();
    assert_eq!(
        json["lifecycles"][0]["revocation"],
        serde_json::json!({
            "ended_by": "run",
            "lag_seconds": null,
            "lag_at_most_seconds": 5400,
            "unfenced": [],
        })
    );
}

#[test]
fn a_reconciler_removal_before_the_end_says_when_the_run_revoked() {
    let mut h = with_policy();
    h.merge("a1", "2026-11-22T10:00:00Z", 12)
        .add(ALICE, &grant("alice", "prod-readonly", "duration: 2h"));
    h.commit(
        "a2",
        "2026-11-22T10:31:00Z",
        "gitgrant: revoke prod-readonly/alice-1\n\nx\n\nGitgrant-Grant: prod-readonly/alice-1\n\
         Gitgrant-Reason: invalid\nGitgrant-Revoked-At: 2026-11-22T10:30:00Z\n",
    )
    .signed()
    .delete(ALICE);
    let a = h.audit("2026-11-23T00:00:00Z");
    let r = revocation(&a, "prod-readonly/alice-1").unwrap();
    assert_eq!((r.ended_by, r.lag_seconds), (EndedBy::Run, Some(0)));
}

const PG_POLICY: &str = r#"version: 1
repository: acme/access
security_team: "@acme/security"
providers:
  pg: { type: postgres, url_env: GITGRANT_PG }
people:
  alice: { postgres_user: alice }
roles:
  prod-readonly:
    description: Read the sales schema
    provider: pg
    max_duration: 8h
    approvers: ["@acme/sre"]
    permissions:
      postgres: { schemas: { sales: [SELECT] } }
"#;

#[test]
fn a_postgres_grant_is_ended_by_a_run_even_at_its_windows_end_and_only_the_reconciler_says_when() {
    let mut h = History::default();
    h.commit("0", "2026-11-20T09:00:00Z", "Initial policy (#1)")
        .add("gitgrant.yaml", PG_POLICY);
    h.merge("a1", "2026-11-22T10:00:00Z", 12)
        .add(ALICE, &grant("alice", "prod-readonly", "duration: 2h"));
    h.merge("a2", "2026-11-22T10:00:00Z", 13).add(
        "grants/prod-readonly/bob-1.yaml",
        &grant("alice", "prod-readonly", "duration: 1h"),
    );
    // alice-1: the reconciler's signed removal, five minutes late; bob-1
    // (alice's too): removed by hand after its end, so no one says when.
    h.expire(
        "a3",
        "2026-11-22T12:05:00Z",
        "prod-readonly/alice-1",
        "2026-11-22T12:05:00Z",
    );
    h.commit("a4", "2026-11-22T12:30:00Z", "Clean up (#14)")
        .delete("grants/prod-readonly/bob-1.yaml");
    let a = h.audit("2026-11-23T00:00:00Z");
    let r = revocation(&a, "prod-readonly/alice-1").unwrap();
    assert_eq!(
        (r.ended_by, r.lag_seconds, r.lag_at_most_seconds),
        (EndedBy::Run, Some(300), None)
    );
    let r = revocation(&a, "prod-readonly/bob-1").unwrap();
    assert_eq!(
        (r.ended_by, r.lag_seconds, r.lag_at_most_seconds),
        (EndedBy::Run, None, None)
    );
    assert_eq!(
        a.revocation.line(),
        "revocation: 2 grants, cloud-enforced 0, max lag unknown, 2 ended by a run"
    );
}

#[test]
fn a_window_shortened_by_an_edit_needed_a_run_to_end_on_time() {
    let mut h = with_policy();
    h.merge("a1", "2026-11-22T10:00:00Z", 12)
        .add(ALICE, &grant("alice", "prod-readonly", "duration: 4h"));
    h.merge("a2", "2026-11-22T10:30:00Z", 13)
        .modify(ALICE, &grant("alice", "prod-readonly", "duration: 1h"));
    h.expire(
        "a3",
        "2026-11-22T11:05:00Z",
        "prod-readonly/alice-1",
        "2026-11-22T11:05:00Z",
    );
    let a = h.audit("2026-11-23T00:00:00Z");
    let r = revocation(&a, "prod-readonly/alice-1").unwrap();
    // Until a run applied the edit, the cloud held the 14:00 end; the
    // reconciler's removal revoked at 11:05 at the latest.
    assert_eq!(r.ended_by, EndedBy::Run);
    assert_eq!(r.lag_seconds, None);
    assert_eq!(r.lag_at_most_seconds, Some(5 * 60));
}

#[test]
fn active_scheduled_and_unreadable_grants_have_no_revocation_yet() {
    let mut h = with_policy();
    h.merge("a1", "2026-11-22T10:00:00Z", 12)
        .add(ALICE, &grant("alice", "prod-readonly", "duration: 2h"));
    h.merge("a2", "2026-11-22T10:00:00Z", 13).add(
        "grants/prod-readonly/bob-1.yaml",
        &grant(
            "bob",
            "prod-readonly",
            "starts: 2026-11-23T10:00:00Z\nexpires: 2026-11-23T11:00:00Z",
        ),
    );
    h.merge("a3", "2026-11-22T10:00:00Z", 14)
        .add("grants/prod-readonly/junk.yaml", "{{{ not: [yaml");
    let a = h.audit("2026-11-22T11:00:00Z");
    assert_eq!(only(&a, "prod-readonly/bob-1").state, State::Scheduled);
    for l in &a.lifecycles {
        assert_eq!(l.revocation, None, "{}", l.id);
    }
    assert_eq!(
        a.revocation,
        RevocationSummary {
            max_lag_seconds: Some(0),
            ..Default::default()
        }
    );
    assert_eq!(
        a.revocation.line(),
        "revocation: 0 grants, cloud-enforced 0, max lag 0s"
    );
}

/// The policy with a role that may assume a role in the reconciled account
/// and one in an account no provider reconciles.
fn cross_account_policy() -> String {
    policy_with(
        "        - { effect: Allow, actions: [\"ec2:*\"], resources: [\"*\"] }\n",
        "        - { effect: Allow, actions: [\"ec2:*\"], resources: [\"*\"] }\n  \
         deploy:\n    description: Deploy to production and the vendor account\n    \
         provider: aws-prod\n    max_duration: 4h\n    approvers: [\"@acme/sre-leads\"]\n    \
         min_approvals: 1\n    permissions:\n      assume_roles:\n        \
         - \"arn:aws:iam::{account}:role/Deploy\"\n        \
         - arn:aws:iam::333333333333:role/VendorDeploy\n",
    )
}

#[test]
fn roles_assumed_outside_every_reconciled_account_are_unfenced() {
    let mut h = History::default();
    h.commit("0", "2026-11-20T09:00:00Z", "Initial policy (#1)")
        .add("gitgrant.yaml", &cross_account_policy());
    let deploy = "grants/deploy/alice-1.yaml";
    h.merge("a1", "2026-11-22T10:00:00Z", 12)
        .add(deploy, &grant("alice", "deploy", "duration: 2h"));
    h.merge("a2", "2026-11-22T10:00:00Z", 13).add(
        "grants/prod-readonly/bob-1.yaml",
        &grant("bob", "prod-readonly", "duration: 1h"),
    );
    h.merge("a3", "2026-11-22T10:30:00Z", 14)
        .delete("grants/prod-readonly/bob-1.yaml");
    h.expire(
        "a4",
        "2026-11-22T12:05:00Z",
        "deploy/alice-1",
        "2026-11-22T12:05:00Z",
    );
    let a = h.audit("2026-11-23T00:00:00Z");
    assert_eq!(rules(&a), Vec::<&str>::new());
    let r = revocation(&a, "deploy/alice-1").unwrap();
    assert_eq!(r.ended_by, EndedBy::Cloud);
    assert_eq!(
        r.unfenced,
        vec!["arn:aws:iam::333333333333:role/VendorDeploy"]
    );
    assert!(
        revocation(&a, "prod-readonly/bob-1")
            .unwrap()
            .unfenced
            .is_empty()
    );
    assert_eq!(
        a.revocation,
        RevocationSummary {
            grants: 2,
            cloud_enforced: 1,
            by_run: 1,
            unfenced: 1,
            max_lag_seconds: None,
        }
    );
    assert_eq!(
        a.revocation.line(),
        "revocation: 2 grants, cloud-enforced 1, max lag unknown, 1 ended by a run, \
         1 with unfenced role sessions (up to 12h more)"
    );
    // A filter sums what it keeps.
    let kept = filter(
        a.clone(),
        &Filter {
            role: Some("deploy".to_string()),
            ..Filter::default()
        },
    );
    assert_eq!(
        kept.revocation.line(),
        "revocation: 1 grant, cloud-enforced 1, max lag 0s, 1 with unfenced role sessions (up to 12h more)"
    );
    // Every format carries it: the table and Markdown as the line, CSV per row.
    assert!(render::table(&a).contains(&a.revocation.line()));
    assert!(render::markdown(&a).contains("revocation: 2 grants, cloud-enforced 1"));
    let csv = render::csv(&a);
    let mut reader = ::csv::Reader::from_reader(csv.as_bytes());
    let rows: Vec<::csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    let n = render::CSV_HEADER.len();
    let deploy_row = rows.iter().find(|r| &r[0] == "deploy/alice-1").unwrap();
    assert_eq!(
        deploy_row.iter().skip(n - 3).collect::<Vec<_>>(),
        ["cloud", "0", "arn:aws:iam::333333333333:role/VendorDeploy"]
    );
    let bob_row = rows
        .iter()
        .find(|r| &r[0] == "prod-readonly/bob-1")
        .unwrap();
    assert_eq!(
        bob_row.iter().skip(n - 3).collect::<Vec<_>>(),
        ["run", "", ""]
    );
}

// ---------------------------------------------------------------------------
// The streamed audit

/// `commits` with each one's [`HistoryCommit::later`], as the walk sets it.
fn with_later(mut commits: Vec<HistoryCommit>) -> Vec<HistoryCommit> {
    let mut earliest: Option<DateTime<Utc>> = None;
    for c in commits.iter_mut().rev() {
        c.later = earliest;
        earliest = Some(earliest.map_or(c.time, |e| e.min(c.time)));
    }
    commits
}

/// The collected audit's JSON and CSV, and the streamed audit's, for
/// `filter`; and how many commits the stream had read when it gave its
/// first lifecycle.
fn both_ways(
    h: &History,
    now: &str,
    filter: &Filter,
) -> ((String, String), (String, String), usize) {
    let options = Options {
        allowed: Some(crate::signing::test_key::allowed()),
        ..Options::default()
    };
    let notes = stream::Notes::new();
    let mut collected = audit(&h.commits, t(now), &options);
    add_recorded(&mut collected, &notes);
    let collected = super::filter(collected, filter);
    let mut json = Vec::new();
    render::json_to(&mut json, &collected).unwrap();
    let csv = render::render(&collected, Format::Csv);
    let commits = with_later(h.commits.clone());
    let read = std::cell::Cell::new(0);
    let counted = || {
        commits
            .clone()
            .into_iter()
            .inspect(|_| read.set(read.get() + 1))
    };
    let mut streamed = stream::Stream::new(counted(), t(now), &options, &notes, filter);
    let first = streamed.next().map(|_| read.get()).unwrap_or(usize::MAX);
    let mut s_json = Vec::new();
    let stream = stream::Stream::new(counted(), t(now), &options, &notes, filter);
    stream::json_to(&mut s_json, collected.tip.as_deref(), t(now), stream).unwrap();
    let mut s_csv = Vec::new();
    let stream = stream::Stream::new(counted(), t(now), &options, &notes, filter);
    stream::csv_to(&mut s_csv, stream).unwrap();
    let text = |b: Vec<u8>| String::from_utf8(b).unwrap();
    ((text(json), csv), (text(s_json), text(s_csv)), first)
}

/// alice's two hours of prod-readonly, landed by a merge and expired by
/// the reconciler.
fn alice_for_two_hours() -> History {
    let mut h = with_policy();
    h.merge("a1", "2026-11-22T10:00:00Z", 2)
        .add(ALICE, &grant("alice", "prod-readonly", "duration: 2h"));
    h.expire(
        "a2",
        "2026-11-22T12:01:00Z",
        "prod-readonly/alice-1",
        "2026-11-22T12:00:30Z",
    );
    h
}

/// A history whose commits are dated out of order (a rebase, a clock
/// skewed), with lifecycles that end early, late, by the reconciler, one
/// re-added, one edited longer, one pushed directly and one still open.
fn a_busy_history_dated_out_of_order() -> History {
    let mut h = alice_for_two_hours();
    let g = |s: &str| grant(s, "prod-readonly", "duration: 2h");
    // Dated before the commit it follows.
    h.merge("b1", "2026-11-22T09:00:00Z", 3)
        .add("grants/prod-readonly/bob-1.yaml", &g("bob"));
    h.commit("b2", "2026-11-22T16:00:00Z", "Remove bob's grant by hand")
        .delete("grants/prod-readonly/bob-1.yaml");
    h.merge("a3", "2026-11-23T10:00:00Z", 4)
        .add(ALICE, &g("alice"));
    h.commit("c1", "2026-11-23T10:30:00Z", "carol, pushed directly")
        .add(
            "grants/prod-admin/carol-1.yaml",
            &grant("bob", "prod-admin", "duration: 1h"),
        );
    h.merge("a4", "2026-11-23T10:40:00Z", 5)
        .modify(ALICE, &g("alice").replace("2h", "3h"));
    h.commit(
        "c2",
        "2026-11-23T08:00:00Z",
        "Remove carol's, dated earlier still",
    )
    .delete("grants/prod-admin/carol-1.yaml");
    h.expire(
        "a5",
        "2026-11-23T13:05:00Z",
        "prod-readonly/alice-1",
        "2026-11-23T13:00:10Z",
    );
    h.merge("d1", "2026-11-24T10:00:00Z", 6)
        .add("grants/prod-readonly/dave-1.yaml", &g("alice"));
    h.merge("e1", "2026-11-24T11:00:00Z", 7)
        .add("grants/prod-readonly/erin-1.yaml", &g("bob"));
    h.commit("e2", "2026-11-24T11:30:00Z", "erin's removed early")
        .delete("grants/prod-readonly/erin-1.yaml");
    h
}

#[test]
fn the_streamed_audit_is_the_collected_one_byte_for_byte_on_a_history_dated_out_of_order() {
    let h = a_busy_history_dated_out_of_order();
    for filter in [
        Filter::default(),
        Filter {
            subject: Some("bob".into()),
            ..Filter::default()
        },
        Filter {
            at: Some(t("2026-11-23T10:45:00Z")),
            ..Filter::default()
        },
        Filter {
            since: Some(t("2026-11-23T00:00:00Z")),
            until: Some(t("2026-11-24T00:00:00Z")),
            ..Filter::default()
        },
    ] {
        let (collected, streamed, _) = both_ways(&h, "2026-11-25T00:00:00Z", &filter);
        assert_eq!(collected.0, streamed.0, "JSON, {filter:?}");
        assert_eq!(collected.1, streamed.1, "CSV, {filter:?}");
    }
    let (collected, _, _) = both_ways(&h, "2026-11-25T00:00:00Z", &Filter::default());
    // The history exercises what it should: several lifecycles and findings.
    let a: serde_json::Value = serde_json::from_str(&collected.0).unwrap();
    assert!(a["lifecycles"].as_array().unwrap().len() >= 6, "{a:#}");
    assert!(a["findings"].as_array().unwrap().len() >= 3, "{a:#}");
}

#[test]
fn a_lifecycle_leaves_the_stream_before_the_history_is_read_to_its_end() {
    // Dated in order: the first grant's lifecycle is out as soon as it has
    // ended and nothing later can sort before it.
    let mut h = alice_for_two_hours();
    for (i, day) in (23..=28).enumerate() {
        h.commit(
            &format!("x{i}"),
            &format!("2026-11-{day}T09:00:00Z"),
            "Unrelated (#9)",
        )
        .add(&format!("notes/{i}.md"), "x");
    }
    let total = h.commits.len();
    let (collected, streamed, first) = both_ways(&h, "2026-11-29T00:00:00Z", &Filter::default());
    assert_eq!(collected, streamed);
    assert!(
        first <= 4,
        "the first lifecycle came after {first} of {total} commits"
    );
    // A history dated out of order holds it back until no later commit
    // can sort before it: here, the last one is dated earliest.
    h.commit("late", "2026-11-21T00:00:00Z", "Dated before everything")
        .add("notes/z.md", "z");
    let total = h.commits.len();
    let (collected, streamed, first) = both_ways(&h, "2026-11-29T00:00:00Z", &Filter::default());
    assert_eq!(collected, streamed);
    assert_eq!(
        first, total,
        "nothing may leave before the commit dated earliest"
    );
}
