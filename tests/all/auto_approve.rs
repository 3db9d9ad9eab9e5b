//! Auto-approval by policy, end to end: the real binary, the GitHub fake,
//! the PagerDuty and Opsgenie fakes (tests/all/oncall_fake.rs) and a real
//! moto_server. A rule approves a grant with no review when every condition
//! holds at the moment it lands; the check says so beforehand, and the
//! reconciler judges again, from git and the schedule, never from the
//! check's verdict.

use std::ffi::OsStr;
use std::process::Output;

use serde_json::{Value, json};

use crate::github::{Flow, aws, flow_from, text, users_of};
use crate::hostile::{Behaviour, Hostile};
use crate::moto::Moto;
use crate::oncall_fake::{FakeOnCall, Fault};
use crate::support::{git, grant_yaml};

/// The access repository of these tests, its on-call fakes, and moto.
struct Setup {
    f: Flow,
    oncall: FakeOnCall,
    m: Moto,
    iam: aws_sdk_iam::Client,
}

fn setup() -> Setup {
    let (m, iam) = aws();
    let f = flow_from("auto-approve-access");
    f.fake.lock().teams.insert(
        "acme/sre".into(),
        vec!["alice".into(), "bob".into(), "carol".into()],
    );
    Setup {
        f,
        oncall: FakeOnCall::start(),
        m,
        iam,
    }
}

/// The setup with alice on call in PABC123 all Monday 23 November 2026 (UTC).
fn alice_on_call_on_monday() -> Setup {
    let s = setup();
    s.oncall.shift(
        "PABC123",
        "alice@acme.com",
        "2026-11-23T00:00:00Z",
        "2026-11-24T00:00:00Z",
    );
    s
}

/// A grant of `role` for `subject` with a ticket, for `duration`.
fn grant(subject: &str, role: &str, duration: &str) -> String {
    grant_yaml(
        subject,
        role,
        &format!("ticket: INC-7\nduration: {duration}"),
    )
}

impl Setup {
    /// A pull request by `subject` for their own grant; returns its number.
    fn pr(&self, subject: &str, role: &str, duration: &str) -> u64 {
        let path = format!("grants/{role}/{subject}-1.yaml");
        let text = grant(subject, role, duration);
        self.f.open_pr(
            subject,
            &format!("{role}-{subject}"),
            &[(&path, Some(&text))],
        )
    }

    /// `gitgrant check` on `pull_request` as of `now`, with the on-call fakes.
    fn check(&self, n: u64, event: &str, now: &str) -> Output {
        let env = self.oncall.env();
        let env: Vec<(&str, &OsStr)> = env
            .iter()
            .map(|(k, v)| (k.as_str(), OsStr::new(v)))
            .collect();
        self.f.check_at(n, event, "gitgrant-bot", now, &env)
    }

    /// The check exits `code` and prints `words`.
    fn expect_check(&self, n: u64, now: &str, code: i32, words: &str) -> String {
        let out = self.check(n, "pull_request", now);
        let all = text(&out);
        assert_eq!(out.status.code(), Some(code), "{all}");
        assert!(all.contains(words), "{words:?} not in {all}");
        all
    }

    fn reconcile(&self, now: &str) -> (i32, Value) {
        self.f.reconcile_env(&self.m, now, &[], &self.oncall.env())
    }

    /// A reconcile at `now` succeeds and leaves exactly `users`' grants
    /// applied; returns its JSON.
    fn expect_applied(&self, now: &str, users: &[&str]) -> Value {
        let (code, json) = self.reconcile(now);
        assert_eq!(code, 0, "{json:#}");
        assert_eq!(users_of(&self.iam), [users], "{json:#}");
        json
    }
}

#[test]
fn an_on_call_engineers_hour_checks_green_merges_and_is_applied() {
    let s = setup();
    // Three people are on call at once: PagerDuty's answer comes in pages
    // (the fake gives two entries a page) and alice is on the second.
    s.oncall.shift(
        "PABC123",
        "dave@acme.com",
        "2026-11-23T00:00:00Z",
        "2026-11-24T00:00:00Z",
    );
    s.oncall.shift(
        "PABC123",
        "bob@acme.com",
        "2026-11-23T00:00:00Z",
        "2026-11-24T00:00:00Z",
    );
    // Alice's shift ends the moment her grant's hour does.
    s.oncall.shift(
        "PABC123",
        "ALICE@acme.com",
        "2026-11-23T06:00:00Z",
        "2026-11-23T10:00:00Z",
    );
    let n = s.pr("alice", "oncall-ro", "1h");
    // An hour is over office hours' 30 minutes, so only the on-call rule
    // can hold, and it does, with no review.
    let out = s.expect_check(n, "2026-11-23T08:55:00Z", 0, "is valid");
    assert!(out.contains("approved by rule on-call"), "{out}");
    let comment = s.f.fake.comments(n).pop().unwrap();
    assert!(
        comment.contains("Auto-approved by rule `on-call` if it merges now")
            && comment.contains("on call in PagerDuty schedule PABC123"),
        "{comment}"
    );
    let asked = s.oncall.requests();
    assert!(
        asked.iter().any(|r| r.contains("offset=2")),
        "the second page was read: {asked:?}"
    );
    assert!(
        asked
            .iter()
            .all(|r| r.contains("include%5B%5D=users") && r.contains("schedule_ids%5B%5D=PABC123")),
        "{asked:?}"
    );

    s.f.merge(n, "2026-11-23T09:00:00Z");
    // Judged over the window from the landing (09:00–10:00, on call
    // throughout): approved, and judged again alike at 09:30.
    let json = s.expect_applied("2026-11-23T09:30:00Z", &["alice"]);
    let evidence = json["approvals"]["grants/oncall-ro/alice-1.yaml"].clone();
    assert_eq!(evidence["rules"]["approved_by"], "on-call", "{evidence:#}");
    assert_eq!(evidence["rules"]["at"], "2026-11-23T09:00:00Z");
    assert_eq!(evidence["approvers"], json!([]));

    // The audit names the rule and finds nothing missing: it asks GitHub
    // and the schedule again, about the landing moment.
    let out =
        s.f.gitgrant("gitgrant-bot")
            .envs(s.oncall.env())
            .args([
                "audit",
                "--github",
                "--format",
                "json",
                "--branch",
                "origin/main",
            ])
            .args(["--now", "2026-11-23T09:45:00Z", "--repo"])
            .arg(&s.f.repo.path)
            .output()
            .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let audit: Value = serde_json::from_slice(&out.stdout).unwrap();
    let l = &audit["lifecycles"][0];
    assert_eq!(l["approved_by"], "rule on-call", "{l:#}");
    let rules: Vec<&str> = audit["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["rule"].as_str().unwrap())
        .collect();
    assert!(!rules.contains(&"missing-approval"), "{rules:?}");
}

#[test]
fn what_no_rule_approves_needs_the_human_quorum_and_is_refused_without_it() {
    let s = setup();
    s.oncall.shift(
        "PABC123",
        "alice@acme.com",
        "2026-11-01T00:00:00Z",
        "2026-12-01T00:00:00Z",
    );
    // (subject, duration, landing, why no rule holds)
    let cases = [
        // One minute over the on-call rule's hour (and over office hours'
        // 30 minutes).
        (
            "alice",
            "61m",
            "2026-11-23T16:30:00Z",
            "the window is 1h1m, over the rule's 1h",
        ),
        // Bob is in @acme/sre but not on call (17:45 in Berlin, office
        // hours, but an hour is over their 30 minutes).
        ("bob", "1h", "2026-11-23T16:45:00Z", "bob was not on call"),
        // Carol, 30 minutes with a ticket, landing at 18:01 in Berlin on a
        // Monday in winter (17:01 UTC).
        ("carol", "30m", "2026-11-23T17:01:00Z", "Mon 18:01"),
    ];
    let mut numbers = Vec::new();
    for (subject, duration, _, _) in cases {
        numbers.push(s.pr(subject, "oncall-ro", duration));
    }
    // Judged as if merged at its landing moment, the check fails each,
    // and says why.
    for ((_, _, landing, why), n) in cases.iter().zip(&numbers) {
        let out = s.expect_check(*n, landing, 1, why);
        assert!(out.contains("need their approvals"), "{out}");
        let comment = s.f.fake.comments(*n).pop().unwrap();
        assert!(
            comment.contains("No auto-approval rule holds if it merged now")
                && comment.contains(why),
            "{comment}"
        );
    }
    // Carol's grant checks green at 09:55 Berlin (office hours hold then),
    // but lands at 18:01: the reconciler judges the landing, not the check.
    s.expect_check(
        numbers[2],
        "2026-11-23T08:55:00Z",
        0,
        "approved by rule office-hours",
    );

    // The human path still works: a lead approves alice's 61 minutes.
    s.f.fake.review(numbers[0], "carol", "APPROVED");
    let out = s.check(numbers[0], "pull_request_review", "2026-11-23T08:56:00Z");
    assert!(out.status.success(), "{}", text(&out));

    for ((_, _, landing, _), n) in cases.iter().zip(&numbers) {
        s.f.merge(*n, landing);
    }
    let (code, json) = s.reconcile("2026-11-23T17:10:00Z");
    assert_eq!(code, 1, "{json:#}");
    assert_eq!(
        users_of(&s.iam),
        [["alice"]],
        "only the approved one: {json:#}"
    );
    let refused = crate::github::refusals(&json);
    assert_eq!(refused.len(), 2, "{refused:?}");
    for (subject, _, _, why) in &cases[1..] {
        assert!(
            refused
                .iter()
                .any(|r| r.contains(&format!("{subject}-1.yaml"))
                    && r.contains("no rule approves it")
                    && r.contains(why)),
            "{subject}: {why} not in {refused:?}"
        );
    }
}

#[test]
fn on_the_sunday_of_the_daylight_saving_change_office_hours_approve_nothing() {
    let s = setup();
    let n = s.pr("carol", "oncall-ro", "30m");
    // Sunday 29 March 2026, 12:00 in Berlin (CEST since 02:00).
    let out = s.expect_check(n, "2026-03-29T10:00:00Z", 1, "Sun 12:00");
    assert!(
        out.contains("outside mon,tue,wed,thu,fri 09:00–18:00 Europe/Berlin"),
        "{out}"
    );
    // The Monday after, 09:30 CEST is 07:30 UTC: approved.
    s.expect_check(
        n,
        "2026-03-30T07:30:00Z",
        0,
        "approved by rule office-hours",
    );
    s.f.merge(n, "2026-03-29T10:00:00Z");
    let (code, json) = s.reconcile("2026-03-29T10:10:00Z");
    assert_eq!(code, 1, "{json:#}");
    assert!(users_of(&s.iam).is_empty());
    assert!(
        crate::github::refusals(&json)[0].contains("Sun 12:00"),
        "{json:#}"
    );
}

#[test]
fn an_on_call_source_that_fails_or_times_out_approves_nothing() {
    let s = alice_on_call_on_monday();
    let n = s.pr("alice", "oncall-ro", "1h");
    s.oncall.fault(Some(Fault::Status(500)));
    let out = s.expect_check(n, "2026-11-23T19:00:00Z", 1, "could not be read");
    assert!(out.contains("PagerDuty answered 500"), "{out}");
    // Asked three times in all, then given up on.
    assert_eq!(s.oncall.requests().len(), 3);

    s.oncall
        .fault(Some(Fault::Delay(std::time::Duration::from_secs(3))));
    let out = s.expect_check(n, "2026-11-23T19:00:00Z", 1, "could not be read");
    assert!(
        out.contains("PagerDuty did not answer (timed out)"),
        "{out}"
    );

    // Merged anyway (by someone who can), the reconciler refuses it while
    // the schedule cannot be read.
    s.f.merge(n, "2026-11-23T19:00:00Z");
    s.oncall.fault(Some(Fault::Status(503)));
    let (code, json) = s.reconcile("2026-11-23T19:10:00Z");
    assert_eq!(code, 1, "{json:#}");
    assert!(users_of(&s.iam).is_empty());
    let refused = crate::github::refusals(&json);
    assert!(
        refused[0].contains("PagerDuty schedule PABC123 could not be read"),
        "{refused:?}"
    );
    // Once it answers again, the same landing is judged and approved.
    s.oncall.fault(None);
    s.expect_applied("2026-11-23T19:20:00Z", &["alice"]);
}

#[test]
fn an_opsgenie_schedule_approves_who_it_has_on_call() {
    let s = setup();
    s.oncall.shift(
        "og-sched-1",
        "bob@acme.com",
        "2026-11-23T08:00:00Z",
        "2026-11-23T20:00:00Z",
    );
    let bob = s.pr("bob", "og-ro", "2h");
    let carol = s.pr("carol", "og-ro", "2h");
    s.expect_check(bob, "2026-11-23T08:55:00Z", 0, "approved by rule on-call");
    s.expect_check(
        carol,
        "2026-11-23T08:55:00Z",
        1,
        "carol was not on call in Opsgenie schedule og-sched-1",
    );
    assert!(
        s.oncall.requests().iter().any(|r| r
            .starts_with("GET /og/v2/schedules/og-sched-1/timeline?")
            && r.contains("intervalUnit=days")
            && r.contains("date=2026-11-23T08%3A55%3A00Z")),
        "{:?}",
        s.oncall.requests()
    );
    s.f.merge(bob, "2026-11-23T09:00:00Z");
    s.expect_applied("2026-11-23T09:30:00Z", &["bob"]);
}

#[test]
fn a_pull_request_that_adds_a_rule_and_a_grant_together_is_rejected() {
    let s = setup();
    let policy = std::fs::read_to_string(s.f.repo.path.join("gitgrant.yaml")).unwrap();
    let loosened = policy.replace(
        "        max_duration: 2h\n        on_call: { opsgenie_schedule: og-sched-1 }",
        "        max_duration: 2h",
    );
    assert_ne!(policy, loosened);
    let g = grant("mallory", "og-ro", "1h");
    let n = s.f.open_pr(
        "mallory",
        "loosen",
        &[
            ("gitgrant.yaml", Some(&loosened)),
            ("grants/og-ro/mallory-1.yaml", Some(&g)),
        ],
    );
    s.expect_check(n, "2026-11-23T08:55:00Z", 2, "policy-with-grants");
}

#[test]
fn a_request_says_whether_a_rule_would_approve_it_and_can_turn_on_auto_merge() {
    let s = alice_on_call_on_monday();
    let request = |who: &str, duration: &str, extra: &[&str]| {
        let out =
            s.f.gitgrant(who)
                .envs(s.oncall.env())
                .args([
                    "request",
                    "oncall-ro",
                    "--for",
                    duration,
                    "--ticket",
                    "INC-7",
                ])
                .args(["--reason", "Incident", "--subject", who])
                .args(["--now", "2026-11-23T19:00:00Z"])
                .args(extra)
                .arg("--repo")
                .arg(&s.f.repo.path)
                .output()
                .unwrap();
        assert!(out.status.success(), "{}", text(&out));
        text(&out)
    };
    let yes = request("alice", "1h", &["--no-pr"]);
    assert!(
        yes.contains("rule `on-call` would approve this request"),
        "{yes}"
    );
    let no = request("alice", "2h", &["--no-pr"]);
    assert!(
        no.contains("no rule approves it") && no.contains("over the rule's 1h"),
        "{no}"
    );
    let opened = request("alice", "1h", &["--auto-merge"]);
    assert!(opened.contains("auto-merge is on for #1"), "{opened}");
    assert_eq!(s.f.fake.seen("POST /graphql"), 1);
    let body = s.f.fake.lock().pulls[0].body.clone();
    assert!(body.contains("**Auto-approval:** rule `on-call`"), "{body}");
}

#[test]
fn codeowners_leaves_auto_approve_roles_unowned_and_its_check_still_holds() {
    let s = setup();
    let work = &s.f.repo.path;
    let run = |args: &[&str]| {
        crate::support::gitgrant()
            .args(args)
            .arg("--repo")
            .arg(work)
            .output()
            .unwrap()
    };
    let out = run(&["codeowners", "--check"]);
    assert!(out.status.success(), "{}", text(&out));
    let file = std::fs::read_to_string(work.join(".github/CODEOWNERS")).unwrap();
    let lines: Vec<&str> = file.lines().filter(|l| l.starts_with("/grants/")).collect();
    assert_eq!(
        lines,
        [
            "/grants/og-ro/",
            "/grants/oncall-ro/",
            "/grants/ro/ @acme/sre-leads"
        ]
    );
    // Owning an auto-approve role by hand is drift: the check fails.
    std::fs::write(
        work.join(".github/CODEOWNERS"),
        file.replace(
            "/grants/oncall-ro/\n",
            "/grants/oncall-ro/ @acme/sre-leads\n",
        ),
    )
    .unwrap();
    let out = run(&["codeowners", "--check"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    git(work, &["checkout", "-q", "--", ".github/CODEOWNERS"], None);
}

#[test]
fn a_rule_that_cannot_be_judged_is_refused_where_it_is_written() {
    let policy = std::fs::read_to_string(
        crate::support::fixtures().join("auto-approve-access/gitgrant.yaml"),
    )
    .unwrap();
    let broken = policy
        .replace("email: bob@acme.com", "email: bob at acme")
        .replace("from: \"09:00\", to: \"18:00\"", "from: \"18:00\", to: \"09:00\"")
        .replace("time_zone: Europe/Berlin", "time_zone: Europe/Atlantis")
        .replace("max_duration: 2h\n", "max_duration: 9h\n")
        .replace(
            "on_call: { opsgenie_schedule: og-sched-1 }",
            "on_call: { opsgenie_schedule: og-sched-1, pagerduty_schedule: P1 }\n      - name: on-call\n        max_duration: 1h\n        require_ticket: true",
        );
    let violations = crate::support::violations_of_policy(&broken);
    let found: Vec<String> = violations
        .iter()
        .map(|v| {
            format!(
                "{} {}",
                v["rule"].as_str().unwrap(),
                v["message"].as_str().unwrap()
            )
        })
        .collect();
    let expect = [
        "invalid-email `bob at acme` is not an email address",
        // The zone is read after the times: the order is what fails first.
        "auto-approve `to` (09:00) must come after `from` (18:00) on the same day",
        "auto-approve the rule approves 9h, longer than the role's max_duration 8h",
        "auto-approve name exactly one schedule",
        "auto-approve role `og-ro` has two rules named `on-call`",
        "auto-approve role `og-ro` has no require_ticket pattern for the rule to check",
    ];
    for e in expect {
        assert!(
            found.iter().any(|f| f.starts_with(e)),
            "{e:?} not in {found:#?}"
        );
    }
    assert_eq!(found.len(), expect.len(), "{found:#?}");
    // Each points at its line: the email on bob's line of people.
    let line = broken
        .lines()
        .position(|l| l.contains("bob at acme"))
        .unwrap()
        + 1;
    let email = violations
        .iter()
        .find(|v| v["rule"] == "invalid-email")
        .unwrap();
    assert_eq!(email["line"], line, "{email:#}");
}

/// A grant of `role` for `subject` over `[starts, expires)`, with a ticket.
fn window_grant(subject: &str, role: &str, starts: &str, expires: &str) -> String {
    grant_yaml(
        subject,
        role,
        &format!("ticket: INC-7\nstarts: {starts}\nexpires: {expires}"),
    )
}

#[test]
fn a_rule_judged_at_the_landing_approves_no_window_booked_for_the_weekend() {
    let s = setup();
    // Alice is on call on Monday only; carol is never on call.
    s.oncall.shift(
        "PABC123",
        "alice@acme.com",
        "2026-11-23T00:00:00Z",
        "2026-11-24T00:00:00Z",
    );
    // While on call, alice asks for an hour on Saturday; during office
    // hours on Monday, carol asks for half an hour on Sunday night.
    let saturday = window_grant(
        "alice",
        "oncall-ro",
        "2026-11-28T10:00:00Z",
        "2026-11-28T11:00:00Z",
    );
    let alice = s.f.open_pr(
        "alice",
        "saturday",
        &[("grants/oncall-ro/alice-1.yaml", Some(&saturday))],
    );
    let sunday = window_grant(
        "carol",
        "oncall-ro",
        "2026-11-29T21:00:00Z",
        "2026-11-29T21:30:00Z",
    );
    let carol = s.f.open_pr(
        "carol",
        "sunday",
        &[("grants/oncall-ro/carol-1.yaml", Some(&sunday))],
    );
    s.expect_check(alice, "2026-11-23T09:00:00Z", 1, "starts when it lands");
    let out = s.expect_check(carol, "2026-11-23T09:00:00Z", 1, "starts when it lands");
    assert!(
        out.contains("Sun 22:00") && out.contains("reaches outside mon,tue,wed,thu,fri"),
        "{out}"
    );
    // Merged anyway on Monday morning, the reconciler refuses both, and
    // still does when the windows begin.
    s.f.merge(alice, "2026-11-23T09:00:00Z");
    s.f.merge(carol, "2026-11-23T09:01:00Z");
    for now in ["2026-11-28T10:10:00Z", "2026-11-29T21:10:00Z"] {
        let (code, json) = s.reconcile(now);
        assert_eq!(code, 1, "{json:#}");
        assert!(users_of(&s.iam).is_empty(), "{json:#}");
        let refused = crate::github::refusals(&json);
        assert!(
            refused.iter().all(|r| r.contains("starts when it lands")),
            "{refused:?}"
        );
    }
}

#[test]
fn four_back_to_back_hours_in_one_pull_request_get_no_hour_from_a_one_hour_rule() {
    let s = alice_on_call_on_monday();
    // 09:00–10:00 landing with the merge, then 10:00–11:00, 11:00–12:00,
    // 12:00–13:00: each file an hour, four hours of access together.
    let texts: Vec<(String, String)> = (0..4)
        .map(|i| {
            let path = format!("grants/oncall-ro/alice-{}.yaml", i + 1);
            let text = if i == 0 {
                grant("alice", "oncall-ro", "1h")
            } else {
                window_grant(
                    "alice",
                    "oncall-ro",
                    &format!("2026-11-23T{:02}:00:00Z", 9 + i),
                    &format!("2026-11-23T{:02}:00:00Z", 10 + i),
                )
            };
            (path, text)
        })
        .collect();
    let files: Vec<(&str, Option<&str>)> = texts
        .iter()
        .map(|(p, t)| (p.as_str(), Some(t.as_str())))
        .collect();
    let n = s.f.open_pr("alice", "four-hours", &files);
    s.expect_check(n, "2026-11-23T09:00:00Z", 1, "over the rule's 1h");
    s.f.merge(n, "2026-11-23T09:00:00Z");
    let (code, json) = s.reconcile("2026-11-23T09:10:00Z");
    assert_eq!(code, 1, "{json:#}");
    assert!(users_of(&s.iam).is_empty(), "{json:#}");
    assert!(
        crate::github::refusals(&json)
            .iter()
            .any(|r| r.contains("alice-1.yaml") && r.contains("over the rule's 1h")),
        "{json:#}"
    );
}

impl Setup {
    /// Alice's `ro` grant for `duration`, approved by carol and merged at
    /// 09:00; returns its pull request.
    fn alice_reviewed_by_carol(&self, duration: &str) -> u64 {
        let n = self.pr("alice", "ro", duration);
        self.f.fake.review(n, "carol", "APPROVED");
        self.f.merge(n, "2026-11-23T09:00:00Z");
        n
    }

    /// `gitgrant audit --github` as of `now`: its JSON.
    fn audit_github(&self, now: &str) -> Value {
        let out = self
            .f
            .gitgrant("gitgrant-bot")
            .envs(self.oncall.env())
            .args(["audit", "--github", "--format", "json"])
            .args(["--branch", "origin/main", "--now", now, "--repo"])
            .arg(&self.f.repo.path)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out));
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// `gitgrant approvals` of every grant on the branch: exit code and
    /// what it printed.
    fn approvals(&self) -> (i32, String) {
        let out = self
            .f
            .gitgrant("gitgrant-bot")
            .envs(self.oncall.env())
            .args(["approvals", "--repo"])
            .arg(&self.f.repo.path)
            .output()
            .unwrap();
        (out.status.code().unwrap_or(-1), text(&out))
    }
}

/// The audit's findings of `rule`, as (grant, message).
fn findings_of(audit: &Value, rule: &str) -> Vec<(String, String)> {
    audit["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule"] == rule)
        .map(|f| {
            (
                f["grant"].as_str().unwrap_or_default().to_string(),
                f["message"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

#[test]
fn four_back_to_back_hours_landed_together_are_missing_approval_in_the_audit() {
    let s = alice_on_call_on_monday();
    let texts: Vec<(String, String)> = (0..4)
        .map(|i| {
            (
                format!("grants/oncall-ro/alice-{}.yaml", i + 1),
                window_grant(
                    "alice",
                    "oncall-ro",
                    &format!("2026-11-23T{:02}:00:00Z", 9 + i),
                    &format!("2026-11-23T{:02}:00:00Z", 10 + i),
                ),
            )
        })
        .collect();
    let files: Vec<(&str, Option<&str>)> = texts
        .iter()
        .map(|(p, t)| (p.as_str(), Some(t.as_str())))
        .collect();
    // Landed past the check (an admin merge): four hours from a 1h rule.
    let n = s.f.open_pr("alice", "four-hours", &files);
    s.f.merge(n, "2026-11-23T09:00:00Z");
    // Each file alone is an hour on call; together they are four, and the
    // audit counts them together, as the reconciler does.
    let audit = s.audit_github("2026-11-23T14:00:00Z");
    let missing = findings_of(&audit, "missing-approval");
    assert_eq!(missing.len(), 4, "{missing:?}");
    assert!(
        missing
            .iter()
            .all(|(_, m)| m.contains("over the rule's 1h")),
        "{missing:?}"
    );
    let (code, out) = s.approvals();
    assert_eq!(code, 1, "{out}");
    assert_eq!(
        out.matches("FAIL grants/oncall-ro/alice-").count(),
        4,
        "{out}"
    );
}

#[test]
fn a_direct_push_that_widens_an_approved_grant_is_an_unapproved_edit_to_approvals_and_the_audit() {
    let s = setup();
    let path = "grants/ro/alice-1.yaml";
    let n = s.alice_reviewed_by_carol("1h");
    let (code, out) = s.approvals();
    assert_eq!(code, 0, "{out}");
    // Straight to main, past review: the same file now gives mallory 8h.
    s.f.push_main(
        &[(path, Some(&grant("mallory", "ro", "8h")))],
        "2026-11-23T09:10:00Z",
    );
    let (code, out) = s.approvals();
    assert_eq!(code, 1, "{out}");
    assert!(out.contains(&format!("ok   {path}: PR #{n}")), "{out}");
    assert!(
        out.contains(&format!("FAIL {path} (edited in "))
            && out.contains("without a merged pull request"),
        "{out}"
    );
    let audit = s.audit_github("2026-11-23T09:20:00Z");
    let edits = findings_of(&audit, "unapproved-edit");
    assert_eq!(edits.len(), 1, "{audit:#}");
    assert_eq!(edits[0].0, "ro/alice-1", "{edits:?}");
    let l = &audit["lifecycles"][0];
    assert_eq!(l["approved_by"], "carol", "the landing's evidence: {l:#}");
    assert_eq!(
        l["edits"][0]["approval"]["status"], "no-pull-request",
        "{l:#}"
    );
    assert!(
        findings_of(&audit, "missing-approval").is_empty(),
        "the landing was approved: {audit:#}"
    );
}

#[test]
fn deleting_someone_elses_grant_of_an_unowned_role_needs_its_subject_or_the_quorum() {
    let s = alice_on_call_on_monday();
    let n = s.pr("alice", "oncall-ro", "1h");
    s.f.merge(n, "2026-11-23T09:00:00Z");
    s.expect_applied("2026-11-23T09:05:00Z", &["alice"]);
    // CODEOWNERS leaves grants/oncall-ro/ unowned (rules approve there), so
    // no review guards a pull request that deletes alice's grant.
    let path = "grants/oncall-ro/alice-1.yaml";
    let mallory = s.f.open_pr("mallory", "revoke-alice", &[(path, None)]);
    let out = s.expect_check(mallory, "2026-11-23T09:10:00Z", 1, "need their approvals");
    assert!(
        out.contains(&format!("FAIL {path}: PR #{mallory}: 0 of 1 approval(s)")),
        "{out}"
    );
    let comment = s.f.fake.comments(mallory).pop().unwrap();
    assert!(
        comment
            .contains("deleting it needs 1 approval(s) at the latest commit from: @acme/sre-leads"),
        "{comment}"
    );
    // Alice may end her own access early.
    let own = s.f.open_pr("alice", "revoke-own", &[(path, None)]);
    s.expect_check(own, "2026-11-23T09:10:00Z", 0, "is valid");
    // A lead's approval of mallory's pull request is the role's quorum.
    s.f.fake.review(mallory, "carol", "APPROVED");
    let out = s.check(mallory, "pull_request_review", "2026-11-23T09:11:00Z");
    assert!(out.status.success(), "{}", text(&out));
}

#[test]
fn a_direct_push_that_turns_an_approved_grant_into_another_persons_gets_nothing_applied() {
    let s = setup();
    let path = "grants/ro/alice-1.yaml";
    s.alice_reviewed_by_carol("1h");
    s.expect_applied("2026-11-23T09:05:00Z", &["alice"]);
    // Straight to main, past review: the same file now gives mallory 8h.
    let widened = grant("mallory", "ro", "8h");
    s.f.push_main(&[(path, Some(&widened))], "2026-11-23T09:10:00Z");
    let (code, json) = s.reconcile("2026-11-23T09:15:00Z");
    assert_eq!(code, 1, "{json:#}");
    // Alice's approved hour keeps running; mallory gets nothing.
    assert_eq!(users_of(&s.iam), [["alice"]], "{json:#}");
    let refused = crate::github::refusals(&json);
    assert!(
        refused
            .iter()
            .any(|r| r.contains(&format!("the edit of {path} in"))
                && r.contains("has no approval evidence")
                && r.contains("without a merged pull request")
                && r.contains("the grant stays as")),
        "{refused:?}"
    );
    assert!(
        !json["approvals"][path]["approvers"]
            .as_array()
            .is_none_or(|a| a.is_empty()),
        "the landing's evidence is still carol's: {json:#}"
    );
}

#[test]
fn a_deletion_pushed_past_review_still_ends_the_access() {
    // Under require_approval a deletion needs no evidence: removing access
    // fails safe, and a doubted deletion kept running would be the
    // grantee's way to keep it.
    let s = setup();
    let path = "grants/ro/alice-1.yaml";
    s.alice_reviewed_by_carol("2h");
    s.expect_applied("2026-11-23T09:05:00Z", &["alice"]);
    s.f.push_main(&[(path, None)], "2026-11-23T09:10:00Z");
    let (code, json) = s.reconcile("2026-11-23T09:15:00Z");
    assert_eq!(code, 0, "{json:#}");
    assert!(users_of(&s.iam).is_empty(), "{json:#}");
    assert!(
        json["plan"]["changes"].to_string().contains("revoke"),
        "{json:#}"
    );
}

#[test]
fn a_reviewed_extension_of_an_auto_approved_grant_is_applied_and_nothing_is_revoked() {
    let s = alice_on_call_on_monday();
    let path = "grants/oncall-ro/alice-1.yaml";
    let n = s.pr("alice", "oncall-ro", "1h");
    s.f.merge(n, "2026-11-23T09:00:00Z");
    s.expect_applied("2026-11-23T09:05:00Z", &["alice"]);
    // Three hours are over the rule's one: a lead reviews the extension.
    let longer = grant("alice", "oncall-ro", "3h");
    let m = s.f.open_pr("alice", "extend", &[(path, Some(&longer))]);
    s.f.fake.review(m, "carol", "APPROVED");
    s.f.merge(m, "2026-11-23T09:30:00Z");
    let json = s.expect_applied("2026-11-23T09:35:00Z", &["alice"]);
    assert!(crate::github::refusals(&json).is_empty(), "{json:#}");
    let changes = json["plan"]["changes"].to_string();
    assert!(!changes.contains("revoke"), "{json:#}");
}

#[test]
fn an_hour_that_outlasts_the_on_call_shift_is_not_approved_by_the_on_call_rule() {
    let s = setup();
    // Alice's shift ends a quarter of an hour into the hour she asks for;
    // bob's two back-to-back shifts cover his hour without a gap.
    s.oncall.shift(
        "PABC123",
        "alice@acme.com",
        "2026-11-23T06:00:00Z",
        "2026-11-23T09:15:00Z",
    );
    s.oncall.shift(
        "PABC123",
        "bob@acme.com",
        "2026-11-23T06:00:00Z",
        "2026-11-23T09:30:00Z",
    );
    s.oncall.shift(
        "PABC123",
        "bob@acme.com",
        "2026-11-23T09:30:00Z",
        "2026-11-23T12:00:00Z",
    );
    let alice = s.pr("alice", "oncall-ro", "1h");
    let bob = s.pr("bob", "oncall-ro", "1h");
    s.expect_check(
        alice,
        "2026-11-23T09:00:00Z",
        1,
        "alice was not on call in PagerDuty schedule PABC123 for the whole window",
    );
    s.expect_check(bob, "2026-11-23T09:00:00Z", 0, "approved by rule on-call");
    s.f.merge(alice, "2026-11-23T09:00:00Z");
    s.f.merge(bob, "2026-11-23T09:01:00Z");
    let (code, json) = s.reconcile("2026-11-23T09:05:00Z");
    assert_eq!(code, 1, "{json:#}");
    assert_eq!(users_of(&s.iam), [["bob"]], "{json:#}");
    assert!(
        s.oncall
            .requests()
            .iter()
            .any(|r| r.contains("since=2026-11-23T09%3A00%3A00Z")
                && r.contains("until=2026-11-23T10%3A00%3A00Z")),
        "{:?}",
        s.oncall.requests()
    );
}

/// The check of alice's on-call grant with PagerDuty at `base` (a hostile
/// peer), and how long it took.
fn check_against(s: &Setup, base: &str) -> (Output, std::time::Duration) {
    let n = s.pr("alice", "oncall-ro", "1h");
    let mut env = s.oncall.env();
    env.retain(|(k, _)| k != "PAGERDUTY_API_URL");
    env.push(("PAGERDUTY_API_URL".into(), base.into()));
    let env: Vec<(&str, &OsStr)> = env
        .iter()
        .map(|(k, v)| (k.as_str(), OsStr::new(v)))
        .collect();
    let started = std::time::Instant::now();
    let out = s.f.check_at(
        n,
        "pull_request",
        "gitgrant-bot",
        "2026-11-23T19:00:00Z",
        &env,
    );
    (out, started.elapsed())
}

#[test]
fn a_schedule_that_says_more_forever_approves_nothing_after_a_bounded_read() {
    let s = setup();
    // Every page says there is more (132,208 requests in 60 s before the
    // cap); this peer gives up after 1,000 so that the test ends either way.
    let peer = Hostile::start(Behaviour::Repeat {
        body: json!({ "oncalls": [{ "user": { "email": "mallory@acme.com" } }], "more": true })
            .to_string(),
        limit: 1_000,
    });
    let (out, took) = check_against(&s, &peer.url);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(
        all.contains("PagerDuty's answer is too large (more than 100 pages)"),
        "{all}"
    );
    assert!(peer.requests() <= 100, "{} requests", peer.requests());
    assert!(took < std::time::Duration::from_secs(20), "{took:?}");
}

#[test]
fn a_schedule_that_streams_a_huge_page_approves_nothing_without_reading_it() {
    let s = setup();
    // A well-formed page padded to 256 MiB: read whole, it took memory in
    // proportion (a 1.5 GB page took 3 GB).
    let peer = Hostile::start(Behaviour::Stream {
        prefix: r#"{"oncalls":["#.into(),
        suffix: r#"],"more":false}"#.into(),
        total: 256 << 20,
    });
    let (out, took) = check_against(&s, &peer.url);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(
        all.contains("PagerDuty's answer is too large (a body over 4096 KiB)"),
        "{all}"
    );
    // The client hung up after its 4 MiB (what the sockets buffered aside).
    assert!(peer.written() < 64 << 20, "{} bytes taken", peer.written());
    assert!(took < std::time::Duration::from_secs(20), "{took:?}");
}
