//! Auto-approval from the access history itself (issue 27), end to end:
//! the real binary, the GitHub fake and a real moto_server. The rule
//! `routine` of `prod-readonly` (tests/fixtures/history-access) approves an
//! hour with no review for whoever has held the role before through an
//! approved grant, has had at most 3 grants of it in 7 days, and no audit
//! finding on their grants in 30 days. The check (as if it merged now) and
//! the reconciler (at the landing, on the history before it) must reach
//! the same verdict, and the attacks on it — a grant removed and re-added,
//! one split into several, a renamed subject, history rewritten on a
//! branch, a forged note — must not make a first-timer look routine.

use serde_json::Value;

use crate::github::{Flow, aws, flow_from, text, users_of};
use crate::moto::Moto;
use crate::support::{git, grant_yaml};

struct H {
    f: Flow,
    m: Moto,
    iam: aws_sdk_iam::Client,
}

fn setup() -> H {
    let (m, iam) = aws();
    H {
        f: flow_from("history-access"),
        m,
        iam,
    }
}

fn path(name: &str) -> String {
    format!("grants/prod-readonly/{name}.yaml")
}

impl H {
    /// A pull request by `who` adding an hour of prod-readonly for
    /// themselves in each of `names`.
    fn pr(&self, who: &str, names: &[&str]) -> u64 {
        let text = grant_yaml(who, "prod-readonly", "duration: 1h");
        let paths: Vec<String> = names.iter().map(|n| path(n)).collect();
        let files: Vec<(&str, Option<&str>)> = paths
            .iter()
            .map(|p| (p.as_str(), Some(text.as_str())))
            .collect();
        self.f.open_pr(who, &format!("{who}-{}", names[0]), &files)
    }

    /// `gitgrant check` on pull request `n` as of `now`: exit code and
    /// everything it printed.
    fn check(&self, n: u64, now: &str) -> (i32, String) {
        let out = self.f.check_at(n, "pull_request", "gitgrant-bot", now, &[]);
        (out.status.code().unwrap_or(-1), text(&out))
    }

    fn reconcile(&self, now: &str) -> (i32, Value) {
        self.f.reconcile(&self.m, now, &[])
    }

    /// `who`'s hour `name` pushed straight to main at 09:00 on `day`,
    /// refused by the reconciler at 09:30 and deleted at 09:40 (by another
    /// push): a direct-push finding on `who`'s grants.
    fn pushed(&self, who: &str, name: &str, day: &str) {
        let text = grant_yaml(who, "prod-readonly", "duration: 1h");
        let file = path(name);
        self.f.push_main(
            &[(file.as_str(), Some(text.as_str()))],
            &format!("{day}T09:00:00Z"),
        );
        let (code, json) = self.reconcile(&format!("{day}T09:30:00Z"));
        assert_eq!(code, 1, "{json:#}");
        self.f
            .push_main(&[(file.as_str(), None)], &format!("{day}T09:40:00Z"));
    }

    /// `who`'s hour `name`, approved by carol, merged at 09:00 on `day`,
    /// applied at 09:30 and revoked and removed on time at 10:05.
    fn reviewed(&self, who: &str, name: &str, day: &str) {
        let n = self.pr(who, &[name]);
        self.f.fake.review(n, "carol", "APPROVED");
        self.f.merge(n, &format!("{day}T09:00:00Z"));
        self.applied_then_ended(who, day);
    }

    /// A reconcile at 09:30 on `day` applies `who`'s grant, and one at
    /// 10:05 ends it on time.
    fn applied_then_ended(&self, who: &str, day: &str) {
        let (code, json) = self.reconcile(&format!("{day}T09:30:00Z"));
        assert_eq!(code, 0, "{json:#}");
        assert_eq!(users_of(&self.iam), [[who]], "{json:#}");
        let (code, json) = self.reconcile(&format!("{day}T10:05:00Z"));
        assert_eq!(code, 0, "{json:#}");
        assert!(users_of(&self.iam).is_empty(), "{json:#}");
    }

    /// `who`'s hour `name` on `day`: the check says the rule approves it at
    /// 08:55, it merges at 09:00 with no review and is applied and ended.
    fn routine(&self, who: &str, name: &str, day: &str) {
        let n = self.pr(who, &[name]);
        let (code, out) = self.check(n, &format!("{day}T08:55:00Z"));
        assert_eq!(code, 0, "{out}");
        assert!(out.contains("approved by rule routine"), "{out}");
        self.f.merge(n, &format!("{day}T09:00:00Z"));
        self.applied_then_ended(who, day);
    }

    /// Pull request `n` (merged at 09:00 on `day` without review): the check
    /// at 08:55 and the reconciler at 09:30 both refuse it, each saying
    /// `why`. Nothing is applied.
    fn both_refuse(&self, n: u64, day: &str, why: &str) {
        let (code, out) = self.check(n, &format!("{day}T08:55:00Z"));
        assert_eq!(code, 1, "{out}");
        assert!(out.contains(why), "the check: {why:?} not in {out}");
        self.f.merge(n, &format!("{day}T09:00:00Z"));
        let (code, json) = self.reconcile(&format!("{day}T09:30:00Z"));
        assert_eq!(code, 1, "{json:#}");
        assert!(users_of(&self.iam).is_empty(), "{json:#}");
        let refused = crate::github::refusals(&json);
        assert!(
            !refused.is_empty() && refused.iter().all(|r| r.contains(why)),
            "the reconciler: {why:?} not in {refused:?}"
        );
    }
}

#[test]
fn a_routine_grant_is_approved_by_history_with_no_review_and_the_audit_names_the_rule() {
    let h = setup();
    // Alice's first hour needs a human: she has never held the role.
    let n = h.pr("alice", &["alice-1"]);
    let (code, out) = h.check(n, "2026-11-23T08:55:00Z");
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("alice has never held prod-readonly"), "{out}");
    h.f.fake.review(n, "carol", "APPROVED");
    h.f.merge(n, "2026-11-23T09:00:00Z");
    h.applied_then_ended("alice", "2026-11-23");

    // Two days later the same hour is routine: no review, applied.
    let n = h.pr("alice", &["alice-2"]);
    let (code, out) = h.check(n, "2026-11-25T08:55:00Z");
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("approved by rule routine"), "{out}");
    let comment = h.f.fake.comments(n).pop().unwrap();
    assert!(
        comment.contains("Auto-approved by rule `routine`")
            && comment.contains(
                "held prod-readonly/alice-1 before; 2 grant(s) of the role in the rule's period, this one included; no audit finding within clean_for"
            ),
        "{comment}"
    );
    h.f.merge(n, "2026-11-25T09:00:00Z");
    let (code, json) = h.reconcile("2026-11-25T09:30:00Z");
    assert_eq!(code, 0, "{json:#}");
    assert_eq!(users_of(&h.iam), [["alice"]], "{json:#}");
    let rules = &json["approvals"][path("alice-2")]["rules"];
    assert_eq!(rules["approved_by"], "routine", "{json:#}");
    assert_eq!(
        rules["rules"][0]["history"]["held"],
        "prod-readonly/alice-1"
    );
    assert_eq!(rules["rules"][0]["history"]["grants_in_period"], 2);

    // Offline, the audit believes the reconciler's signed note: the rule,
    // and the history facts it was judged on.
    let out =
        h.f.gitgrant("gitgrant-bot")
            .args(["audit", "--format", "json", "--branch", "origin/main"])
            .args(["--now", "2026-11-25T09:45:00Z", "--repo"])
            .arg(h.f.work())
            .output()
            .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let offline: Value = serde_json::from_slice(&out.stdout).unwrap();
    let l = offline["lifecycles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["id"] == "prod-readonly/alice-2")
        .unwrap();
    assert_eq!(l["approved_by"], "rule routine", "{l:#}");
    assert_eq!(l["approved_by_source"], "note", "{l:#}");
    let recorded = &l["recorded"]["approved"]["history"];
    assert_eq!(recorded["held"], "prod-readonly/alice-1", "{l:#}");
    assert_eq!(recorded["grants_in_period"], 2, "{l:#}");

    // The audit asks GitHub again and judges the same history alike.
    let audit = h.f.audit_github("2026-11-25T09:45:00Z");
    let l = audit["lifecycles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["id"] == "prod-readonly/alice-2")
        .unwrap();
    assert_eq!(l["approved_by"], "rule routine", "{l:#}");
    let judged = &l["approval"]["rules"]["rules"][0];
    assert_eq!(judged["history"]["held"], "prod-readonly/alice-1", "{l:#}");
    assert_eq!(judged["unmet"], serde_json::json!([]), "{l:#}");
}

#[test]
fn a_first_timer_is_refused_by_the_check_and_the_reconciler_alike() {
    let h = setup();
    let n = h.pr("bob", &["bob-1"]);
    h.both_refuse(n, "2026-11-23", "bob has never held prod-readonly");
    let comment = h.f.fake.comments(n).pop().unwrap();
    assert!(
        comment.contains("- rule `routine`: bob has never held prod-readonly"),
        "{comment}"
    );
}

#[test]
fn a_subject_with_a_recent_finding_is_refused_with_it() {
    let h = setup();
    h.reviewed("dave", "dave-1", "2026-11-23");
    // A day later dave's next hour is pushed straight to main: refused by
    // the reconciler, and a direct-push finding on dave's grants.
    h.pushed("dave", "dave-2", "2026-11-24");
    // Dave has held the role, and is under the rate, but not clean.
    let n = h.pr("dave", &["dave-3"]);
    h.both_refuse(
        n,
        "2026-11-25",
        "dave's grant prod-readonly/dave-2 landed by a direct push",
    );
}

#[test]
fn the_fourth_grant_in_a_week_goes_to_a_human() {
    let h = setup();
    h.reviewed("alice", "alice-1", "2026-11-23");
    h.routine("alice", "alice-2", "2026-11-24");
    h.routine("alice", "alice-3", "2026-11-25");
    let n = h.pr("alice", &["alice-4"]);
    h.both_refuse(
        n,
        "2026-11-26",
        "alice's 4th grant of prod-readonly in 7d, over the rule's 3",
    );
}

#[test]
fn a_grant_split_into_several_short_ones_counts_each_against_the_rate() {
    let h = setup();
    h.reviewed("alice", "alice-1", "2026-11-23");
    // Three hours in one pull request are three grants: with the one
    // before, four in the week.
    let n = h.pr("alice", &["alice-a", "alice-b", "alice-c"]);
    h.both_refuse(
        n,
        "2026-11-25",
        "alice's 4th grant of prod-readonly in 7d, over the rule's 3",
    );
}

#[test]
fn a_grant_removed_and_re_added_does_not_make_a_first_timer_look_routine() {
    let h = setup();
    // Mallory pushes her own hour straight to main (the reconciler refuses
    // it), removes it, and asks again under the same name.
    h.pushed("mallory", "mallory-1", "2026-11-23");
    let n = h.pr("mallory", &["mallory-1"]);
    h.both_refuse(
        n,
        "2026-11-25",
        "mallory has never held prod-readonly (their grant prod-readonly/mallory-1 does not count: it landed by a direct push)",
    );
}

#[test]
fn a_forged_note_does_not_make_a_first_timer_look_routine() {
    let h = setup();
    // Bob's first hour merged without review: the reconciler refused it.
    let n = h.pr("bob", &["bob-1"]);
    let landing = h.f.merge(n, "2026-11-23T09:00:00Z");
    let (code, _) = h.reconcile("2026-11-23T09:30:00Z");
    assert_eq!(code, 1);
    // Bob, who may push, writes a note saying carol approved it.
    let forged = serde_json::json!({
        "version": 1,
        "grants": { path("bob-1"): {
            "grant": "prod-readonly/bob-1", "pull_request": n,
            "approved": { "by": "reviews", "approvals": [{ "reviewer": "carol" }] },
            "verified_at": "2026-11-23T09:10:00Z", "run": "local"
        } }
    });
    crate::support::put_note(&h.f.bare, &landing, &forged.to_string());
    h.f.push_main(&[(path("bob-1").as_str(), None)], "2026-11-23T10:05:00Z");
    let n = h.pr("bob", &["bob-2"]);
    h.both_refuse(
        n,
        "2026-11-25",
        "bob has never held prod-readonly (their grant prod-readonly/bob-1 does not count: no approval of it that the reconciler signed)",
    );
}

#[test]
fn history_rewritten_on_a_branch_is_not_the_history_judged() {
    let h = setup();
    // Bob's branch first adds an hour of his dated a week earlier, then
    // removes it in a commit with the reconciler's trailers, then asks.
    let branch = "bob-rewritten";
    let work = h.f.work();
    crate::github_fake::fetch(work);
    git(work, &["checkout", "-q", "-B", branch, "origin/main"], None);
    let old = grant_yaml("bob", "prod-readonly", "duration: 1h");
    h.f.repo.commit(
        &[(path("bob-0").as_str(), Some(old.as_str()))],
        "Merge pull request #90 from acme/bob-0",
        "2026-11-16T09:00:00Z",
    );
    h.f.repo.commit(
        &[(path("bob-0").as_str(), None)],
        "Remove expired grant prod-readonly/bob-0\n\nGitgrant-Grant: prod-readonly/bob-0\nGitgrant-Reason: expired\nGitgrant-Approved-By: carol\nGitgrant-Pull-Request: 90",
        "2026-11-16T10:05:00Z",
    );
    let new = grant_yaml("bob", "prod-readonly", "duration: 1h");
    h.f.repo.commit(
        &[(path("bob-1").as_str(), Some(new.as_str()))],
        "Request",
        "2026-11-23T08:30:00Z",
    );
    git(work, &["push", "-q", "origin", branch], None);
    git(work, &["checkout", "-q", "main"], None);
    let n = h.f.fake.add_pull("bob", branch, "acme/access");
    h.both_refuse(n, "2026-11-23", "bob has never held prod-readonly");
}

#[test]
fn a_renamed_subject_keeps_the_findings_against_them() {
    let h = setup();
    // Mallory's hour pushed straight to main is a direct-push finding.
    h.pushed("mallory", "mallory-1", "2026-11-23");
    // Then `people` calls the same IAM user erin.
    let policy = std::fs::read_to_string(h.f.work().join("gitgrant.yaml"))
        .unwrap()
        .replace(
            "mallory: { aws_iam_user: mallory }",
            "erin: { aws_iam_user: mallory }",
        );
    h.f.push_main(
        &[("gitgrant.yaml", Some(policy.as_str()))],
        "2026-11-24T09:00:00Z",
    );
    let n = h.pr("erin", &["erin-1"]);
    h.both_refuse(
        n,
        "2026-11-25",
        "erin's grant prod-readonly/mallory-1 landed by a direct push",
    );
}

#[test]
fn a_history_condition_that_cannot_be_judged_is_refused_where_it_is_written() {
    let policy =
        std::fs::read_to_string(crate::support::fixtures().join("history-access/gitgrant.yaml"))
            .unwrap();
    let broken = policy
        .replace(
            "max_grants: { count: 3, per: 7d }",
            "max_grants: { count: 0, per: 7 days }",
        )
        .replace("clean_for: 30d", "clean_for: a month")
        .replace(
            "permissions:",
            "  - name: empty\n        max_duration: 1h\n        history: {}\n    permissions:",
        );
    let found: Vec<(String, String, u64)> = crate::support::violations_of_policy(&broken)
        .iter()
        .map(|v| {
            (
                v["rule"].as_str().unwrap().to_string(),
                v["message"].as_str().unwrap().to_string(),
                v["line"].as_u64().unwrap_or_default(),
            )
        })
        .collect();
    let line = |needle: &str| broken.lines().position(|l| l.contains(needle)).unwrap() as u64 + 1;
    let expect = [
        (
            "auto-approve",
            "max_grants.count is at least 1",
            line("count: 0"),
        ),
        ("invalid-duration", "", line("count: 0")),
        ("invalid-duration", "", line("clean_for: a month")),
        (
            "auto-approve",
            "history names no condition",
            line("history: {}"),
        ),
    ];
    for (rule, words, at) in expect {
        assert!(
            found
                .iter()
                .any(|(r, m, l)| r == rule && m.contains(words) && *l == at),
            "{rule} {words:?} at line {at} not in {found:#?}"
        );
    }
    assert_eq!(found.len(), expect.len(), "{found:#?}");
}

#[test]
fn a_request_says_which_history_condition_holds_or_fails() {
    let h = setup();
    h.reviewed("alice", "alice-1", "2026-11-23");
    crate::github_fake::sync_main(h.f.work());
    let request = |who: &str| {
        let out =
            h.f.gitgrant(who)
                .args(["request", "prod-readonly", "--for", "1h", "--no-pr"])
                .args(["--reason", "Routine look at the fleet", "--subject", who])
                .args(["--now", "2026-11-25T09:00:00Z", "--repo"])
                .arg(h.f.work())
                .output()
                .unwrap();
        assert!(out.status.success(), "{}", text(&out));
        text(&out)
    };
    let out = request("alice");
    assert!(
        out.contains("rule `routine` would approve this request if it merged now"),
        "{out}"
    );
    let out = request("bob");
    assert!(
        out.contains("routine: bob has never held prod-readonly"),
        "{out}"
    );
}
