//! The GitHub side, end to end: the real binary against the stateful GitHub
//! fake (tests/all/github_fake.rs), whose git data is a real bare
//! repository, and — for reconcile — a real moto_server.

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::{Value, json};

use crate::github_fake::{FakeGitHub, Fault, REPO, fetch, pull_event, sync_main};
use crate::support::{GitRepo, fixtures, git, gitgrant, grant_yaml};

const LOGINS: &[&str] = &[
    "alice",
    "bob",
    "carol",
    "dave",
    "erin",
    "mallory",
    "gitgrant-bot",
];

/// An access repository on a fake GitHub.
pub(crate) struct Flow {
    pub(crate) repo: GitRepo,
    pub(crate) bare: PathBuf,
    pub(crate) fake: FakeGitHub,
    _rt: tokio::runtime::Runtime,
}

fn flow() -> Flow {
    flow_from("github-access")
}

/// An access repository made from the fixture `template`, on a fake
/// GitHub with the users and teams of the GitHub tests.
pub(crate) fn flow_from(template: &str) -> Flow {
    let repo = GitRepo::from_template(
        &fixtures().join(template),
        "2026-11-23T08:00:00Z",
        "Access policy (#1)",
    );
    let bare = repo.with_bare_remote();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let fake = rt.block_on(FakeGitHub::start(&bare, LOGINS));
    {
        let mut s = fake.lock();
        s.teams
            .insert("acme/sre-leads".into(), vec!["carol".into(), "dave".into()]);
        s.teams.insert("acme/security".into(), vec!["erin".into()]);
        s.teams.insert("acme/oncall".into(), vec!["dave".into()]);
    }
    Flow {
        repo,
        bare,
        fake,
        _rt: rt,
    }
}

impl Flow {
    pub(crate) fn work(&self) -> &Path {
        &self.repo.path
    }

    /// Pushes `files` on a new branch off GitHub's main and opens a pull
    /// request by `author`.
    pub(crate) fn open_pr(
        &self,
        author: &str,
        branch: &str,
        files: &[(&str, Option<&str>)],
    ) -> u64 {
        fetch(self.work());
        git(
            self.work(),
            &["checkout", "-q", "-B", branch, "origin/main"],
            None,
        );
        self.repo.commit(
            files,
            &format!("Request on {branch}"),
            "2026-11-23T08:30:00Z",
        );
        git(self.work(), &["push", "-q", "origin", branch], None);
        git(self.work(), &["checkout", "-q", "main"], None);
        self.fake.add_pull(author, branch, REPO)
    }

    /// A pull request by `author` on `branch` adding one grant,
    /// `grants/<role>/<subject>-1.yaml`, for `duration`.
    pub(crate) fn grant_pr(
        &self,
        author: &str,
        branch: &str,
        subject: &str,
        role: &str,
        duration: &str,
    ) -> u64 {
        let path = format!("grants/{role}/{subject}-1.yaml");
        let text = grant_yaml(subject, role, &format!("duration: {duration}"));
        self.open_pr(author, branch, &[(path.as_str(), Some(text.as_str()))])
    }

    /// A pull request by `who` asking for an hour of the admin role (two
    /// approvals needed).
    pub(crate) fn admin_pr(&self, who: &str) -> u64 {
        self.grant_pr(who, "adm", who, "admin", "1h")
    }

    /// Another commit on an open pull request's branch.
    pub(crate) fn push_to(&self, branch: &str, files: &[(&str, Option<&str>)]) {
        git(self.work(), &["checkout", "-q", branch], None);
        self.repo
            .commit(files, "More changes", "2026-11-23T08:40:00Z");
        git(self.work(), &["push", "-q", "origin", branch], None);
        git(self.work(), &["checkout", "-q", "main"], None);
    }

    /// Merges pull request `n` with a merge commit at `date`, as the merge
    /// button does, and tells the fake.
    pub(crate) fn merge(&self, n: u64, date: &str) -> String {
        let branch = self.fake.lock().pulls[n as usize - 1].head_ref.clone();
        sync_main(self.work());
        git(
            self.work(),
            &[
                "merge",
                "-q",
                "--no-ff",
                "-m",
                &format!("Merge pull request #{n} from acme/{branch}"),
                &format!("origin/{branch}"),
            ],
            Some(date),
        );
        git(self.work(), &["push", "-q", "origin", "main"], None);
        let sha = self.repo.head();
        self.fake.mark_merged(n, &sha, date);
        sha
    }

    /// Pushes straight to main, as an admin bypassing protection would.
    pub(crate) fn push_main(&self, files: &[(&str, Option<&str>)], date: &str) -> String {
        sync_main(self.work());
        let sha = self.repo.commit(files, "Direct change", date);
        git(self.work(), &["push", "-q", "origin", "main"], None);
        sha
    }

    pub(crate) fn gitgrant(&self, login: &str) -> assert_cmd::Command {
        let mut cmd = gitgrant();
        cmd.envs(self.fake.env(login));
        cmd
    }

    /// `gitgrant check` for `event` on pull request `n`, run as Actions runs
    /// it: in a checkout of the merge commit, with the event payload.
    pub(crate) fn check(&self, n: u64, event: &str, token_login: &str) -> Output {
        self.check_env(n, event, token_login, &[])
    }

    /// `gitgrant check` for `event` exits `code`, saying `words`; returns
    /// what it printed.
    pub(crate) fn expect_check(&self, n: u64, event: &str, code: i32, words: &str) -> String {
        let c = self.check(n, event, "gitgrant-bot");
        let out = text(&c);
        assert_eq!(c.status.code(), Some(code), "{out}");
        assert!(out.contains(words), "{words:?} not in {out}");
        out
    }

    /// [`Flow::check`] with more environment variables.
    pub(crate) fn check_env(
        &self,
        n: u64,
        event: &str,
        token_login: &str,
        env: &[(&str, &Path)],
    ) -> Output {
        let env: Vec<(&str, &std::ffi::OsStr)> =
            env.iter().map(|(k, v)| (*k, v.as_os_str())).collect();
        self.check_at(n, event, token_login, "2026-11-23T08:55:00Z", &env)
    }

    /// [`Flow::check`] as of `now`, with more environment variables.
    pub(crate) fn check_at(
        &self,
        n: u64,
        event: &str,
        token_login: &str,
        now: &str,
        env: &[(&str, &std::ffi::OsStr)],
    ) -> Output {
        let branch = self.fake.lock().pulls[n as usize - 1].head_ref.clone();
        fetch(self.work());
        git(
            self.work(),
            &["checkout", "-q", "--detach", "origin/main"],
            None,
        );
        git(
            self.work(),
            &[
                "merge",
                "-q",
                "--no-ff",
                "-m",
                "Merge into main",
                &format!("origin/{branch}"),
            ],
            Some("2026-11-23T08:50:00Z"),
        );
        let payload = pull_event(&self.fake, n, "synchronize");
        let event_path = self.repo.dir.path().join("event.json");
        std::fs::write(&event_path, payload.to_string()).unwrap();
        let out = self
            .gitgrant(token_login)
            .args(["check", "--now", now, "--repo"])
            .arg(self.work())
            .env("GITHUB_EVENT_NAME", event)
            .env("GITHUB_EVENT_PATH", &event_path)
            .envs(env.iter().copied())
            .output()
            .unwrap();
        git(self.work(), &["checkout", "-q", "main"], None);
        out
    }

    /// `gitgrant request ro --for 2h` by alice, through the API; must succeed.
    pub(crate) fn request_as_alice(&self, reason: &str) -> Output {
        let out = self
            .gitgrant("alice")
            .args([
                "request",
                "ro",
                "--for",
                "2h",
                "--reason",
                reason,
                "--subject",
                "alice",
                "--repo",
            ])
            .arg(self.work())
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out));
        out
    }

    /// `gitgrant approvals --pr N`: exit code and stdout.
    pub(crate) fn approvals(&self, n: u64) -> (i32, String) {
        let out = self
            .gitgrant("gitgrant-bot")
            .args(["approvals", "--pr", &n.to_string(), "--repo"])
            .arg(self.work())
            .output()
            .unwrap();
        (out.status.code().unwrap_or(-1), text(&out))
    }

    /// `gitgrant approvals --pr N` exits `code`, saying `words`.
    pub(crate) fn expect_approvals(&self, n: u64, code: i32, words: &str) {
        let (got, out) = self.approvals(n);
        assert_eq!(got, code, "{out}");
        assert!(out.contains(words), "{words:?} not in {out}");
    }
}

/// Why a reconcile's plan refused each grant it refused.
pub(crate) fn refusals(json: &Value) -> Vec<String> {
    json["plan"]["refused"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|r| r["why"].as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default()
}

pub(crate) fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

const RO_ALICE: &str = "grants/ro/alice-1.yaml";

fn ro(subject: &str) -> String {
    grant_yaml(subject, "ro", "duration: 2h")
}

#[test]
fn request_opens_a_pull_request_through_the_api_and_check_comments_once() {
    let f = flow();
    let out = f.request_as_alice("INC-7: latency");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("https://github.com/{REPO}/pull/1")
    );
    // The branch exists on GitHub, holding only the new grant file; nothing
    // was pushed with git and the work tree is untouched.
    let pull = f.fake.lock().pulls[0].clone();
    assert_eq!(pull.author, "alice");
    assert!(
        pull.head_ref.starts_with("gitgrant/request/ro/alice-"),
        "{}",
        pull.head_ref
    );
    for words in [
        "**alice** asks for the role **ro**",
        "`111111111111`",
        "for 2h",
        "INC-7: latency",
        "@acme/sre-leads",
        "1 approval(s)",
    ] {
        assert!(pull.body.contains(words), "{words} not in {}", pull.body);
    }
    fetch(f.work());
    let changed = git(
        f.work(),
        &[
            "diff",
            "--name-only",
            "origin/main",
            &format!("origin/{}", pull.head_ref),
        ],
        None,
    );
    assert!(
        changed.trim().starts_with("grants/ro/alice-") && changed.lines().count() == 1,
        "{changed}"
    );
    assert!(!f.work().join("grants").exists());

    // The check passes and writes one plan comment; a second run (a new
    // push) updates it instead of adding another.
    let c = f.check(1, "pull_request", "gitgrant-bot");
    assert_eq!(c.status.code(), Some(0), "{}", text(&c));
    let c = f.check(1, "pull_request", "gitgrant-bot");
    assert_eq!(c.status.code(), Some(0), "{}", text(&c));
    let comments = f.fake.comments(1);
    assert_eq!(comments.len(), 1, "{comments:?}");
    for words in [
        "**Grants** `ro` to **alice**",
        "IAM user `alice`",
        "account `111111111111`",
        "2h from the moment it merges",
        "Needs 1 approval(s)",
        "@acme/sre-leads",
    ] {
        assert!(
            comments[0].contains(words),
            "{words} not in {}",
            comments[0]
        );
    }
    assert_eq!(f.fake.seen("PATCH /repos/acme/access/issues/comments/"), 1);
}

#[test]
fn the_plan_comment_is_found_on_a_later_page_and_updated_in_place() {
    let f = flow();
    let n = f.grant_pr("alice", "req", "alice", "ro", "2h");
    {
        let mut s = f.fake.lock();
        for i in 0..5 {
            s.comments
                .push((n, 10 + i, "bob".into(), format!("chatter {i}")));
        }
    }
    assert!(f.check(n, "pull_request", "gitgrant-bot").status.success());
    assert!(f.check(n, "pull_request", "gitgrant-bot").status.success());
    let ours: Vec<String> = f
        .fake
        .comments(n)
        .into_iter()
        .filter(|c| c.contains("gitgrant:check"))
        .collect();
    assert_eq!(ours.len(), 1);
    // Six comments, two a page: the second check read all three pages.
    assert!(f.fake.seen("GET /repos/acme/access/issues/1/comments?") >= 6);
}

#[test]
fn a_grant_for_someone_else_is_rejected_on_its_line() {
    let f = flow();
    let n = f.grant_pr("mallory", "req", "alice", "ro", "2h");
    let out = f.expect_check(n, "pull_request", 2, "");
    assert!(
        out.contains("::error file=grants/ro/alice-1.yaml,line=1,col=10,")
            && out.contains("gitgrant subject-not-author"),
        "{out}"
    );
    assert!(f.fake.comments(n)[0].contains("subject-not-author"));
}

#[test]
fn a_named_requester_team_member_may_ask_for_others() {
    let f = flow();
    // dave is on @acme/oncall, which the ops role names in `requesters`.
    let n = f.grant_pr("dave", "req", "alice", "ops", "1h");
    // alice is not on @acme/oncall, so she cannot be an ops subject at all.
    f.expect_check(n, "pull_request", 2, "requester-not-allowed");
    let n = f.grant_pr("dave", "req2", "dave", "ops", "1h");
    f.expect_check(n, "pull_request", 0, "");
}

#[test]
fn policy_and_grants_in_one_pull_request_are_rejected() {
    let f = flow();
    let policy = std::fs::read_to_string(fixtures().join("github-access/gitgrant.yaml"))
        .unwrap()
        .replace("max_duration: 8h", "max_duration: 90d");
    let n = f.open_pr(
        "alice",
        "widen",
        &[
            ("gitgrant.yaml", Some(&policy)),
            (RO_ALICE, Some(&grant_yaml("alice", "ro", "duration: 30d"))),
        ],
    );
    let out = f.expect_check(n, "pull_request", 2, "");
    assert!(out.contains("gitgrant policy-with-grants"), "{out}");
    // Judged by the base branch's policy, the 30d window is too long.
    assert!(out.contains("window-too-long"), "{out}");
}

#[test]
fn codeowners_and_grants_in_one_pull_request_are_rejected() {
    let f = flow();
    let n = f.open_pr(
        "alice",
        "owners",
        &[
            (".github/CODEOWNERS", Some("* @alice\n")),
            (RO_ALICE, Some(&ro("alice"))),
        ],
    );
    f.expect_check(n, "pull_request", 2, "gitgrant policy-with-grants");
}

#[test]
fn a_pull_request_from_a_fork_is_checked_without_writing() {
    let f = flow();
    let n = f.grant_pr("mallory", "fork-req", "mallory", "ro", "2h");
    f.fake.lock().pulls[n as usize - 1].head_repo = "mallory/access".into();
    // A fork's token can only read; the check must not try to write.
    f.fake.lock().read_only.push("tok-gitgrant-bot".into());
    let summary = f.repo.dir.path().join("summary.md");
    std::fs::write(&summary, "").unwrap();
    let c = f.check_env(
        n,
        "pull_request",
        "gitgrant-bot",
        &[("GITHUB_STEP_SUMMARY", summary.as_path())],
    );
    assert_eq!(c.status.code(), Some(0), "{}", text(&c));
    assert!(f.fake.comments(n).is_empty());
    assert_eq!(f.fake.seen("POST"), 0);
    let s = std::fs::read_to_string(&summary).unwrap();
    assert!(s.contains("**Grants** `ro` to **mallory**"), "{s}");
}

#[test]
fn approvals_count_only_code_owners_at_the_final_head() {
    let f = flow();
    // Self-approval: alice is on no team, but even an owner cannot approve
    // their own access.
    f.fake
        .lock()
        .teams
        .get_mut("acme/sre-leads")
        .unwrap()
        .push("alice".into());
    let n = f.grant_pr("alice", "a", "alice", "ro", "2h");
    f.fake.review(n, "alice", "APPROVED");
    f.expect_approvals(n, 1, "alice: approved their own access");

    // A reviewer who is not a code owner of grants/ro/.
    f.fake.review(n, "bob", "APPROVED");
    f.expect_approvals(n, 1, "bob: not a code owner of the file");

    // A team code owner (carol is on @acme/sre-leads) — counts.
    f.fake.review(n, "carol", "APPROVED");
    f.expect_approvals(n, 0, "1 of 1 approval(s) from code owners (carol)");

    // A new push: carol's approval is of an older head and no longer counts.
    f.push_to(
        "a",
        &[(RO_ALICE, Some(&grant_yaml("alice", "ro", "duration: 1h")))],
    );
    f.expect_approvals(n, 1, "carol: approved an older commit");
}

#[test]
fn changes_requested_then_approved_counts_and_the_reverse_does_not() {
    let f = flow();
    let n = f.grant_pr("alice", "a", "alice", "ro", "2h");
    f.fake.review(n, "dave", "CHANGES_REQUESTED");
    assert_eq!(f.approvals(n).0, 1);
    f.fake.review(n, "dave", "APPROVED");
    f.fake.review(n, "dave", "COMMENTED");
    let (code, out) = f.approvals(n);
    assert_eq!(code, 0, "{out}");
    f.fake.review(n, "dave", "CHANGES_REQUESTED");
    f.expect_approvals(n, 1, "dave: requested changes");
}

#[test]
fn a_quorum_of_two_is_not_met_by_one() {
    let f = flow();
    let n = f.admin_pr("alice");
    f.fake.review(n, "bob", "APPROVED");
    f.expect_approvals(n, 1, "1 of 2 approval(s)");
    f.fake.review(n, "carol", "APPROVED");
    f.expect_approvals(n, 0, "2 of 2 approval(s) from code owners (bob, carol)");
}

#[test]
fn the_review_event_check_is_the_quorum_status() {
    let f = flow();
    let n = f.admin_pr("alice");
    f.fake.review(n, "bob", "APPROVED");
    f.expect_check(
        n,
        "pull_request_review",
        1,
        "FAIL grants/admin/alice-1.yaml: PR #1: 1 of 2",
    );
    f.fake.review(n, "dave", "APPROVED");
    f.expect_check(n, "pull_request_review", 0, "");
}

#[test]
fn a_secondary_rate_limit_is_waited_out() {
    let f = flow();
    let n = f.grant_pr("alice", "a", "alice", "ro", "2h");
    f.fake.review(n, "carol", "APPROVED");
    let body: Value = serde_json::from_str(
        &std::fs::read_to_string(fixtures().join("github/error-secondary-rate-limit.json"))
            .unwrap(),
    )
    .unwrap();
    f.fake.lock().faults.push(Fault {
        method: "GET",
        path: "/pulls/1/reviews",
        times: 1,
        status: 403,
        body,
        headers: vec![
            ("retry-after", "1".into()),
            ("x-ratelimit-remaining", "4000".into()),
        ],
    });
    let started = std::time::Instant::now();
    let (code, out) = f.approvals(n);
    assert_eq!(code, 0, "{out}");
    assert_eq!(f.fake.seen("GET /repos/acme/access/pulls/1/reviews"), 2);
    assert!(
        started.elapsed() >= std::time::Duration::from_secs(1),
        "it waited as told"
    );
}

#[test]
fn a_forbidden_answer_without_rate_limit_headers_fails_clearly() {
    let f = flow();
    let n = f.grant_pr("alice", "a", "alice", "ro", "2h");
    f.fake.lock().faults.push(Fault {
        method: "GET",
        path: "/pulls/1/reviews",
        times: 1,
        status: 403,
        body: json!({ "message": "Resource not accessible by integration" }),
        headers: vec![],
    });
    let (code, out) = f.approvals(n);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("GitHub answered 403") && out.contains("Resource not accessible"),
        "{out}"
    );
    assert_eq!(f.fake.seen("GET /repos/acme/access/pulls/1/reviews"), 1);
}

#[test]
fn approvals_of_every_grant_on_the_branch_through_a_github_enterprise_base() {
    let f = flow();
    let n = f.grant_pr("alice", "a", "alice", "ro", "2h");
    f.fake.review(n, "carol", "APPROVED");
    f.merge(n, "2026-11-23T09:00:00Z");
    f.push_main(
        &[("grants/ro/bob-1.yaml", Some(&ro("bob")))],
        "2026-11-23T09:10:00Z",
    );
    let out = f
        .gitgrant("gitgrant-bot")
        .env("GITHUB_API_URL", format!("{}/api/v3", f.fake.server.uri()))
        .args(["approvals", "--format", "json", "--repo"])
        .arg(f.work())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let found: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(found[RO_ALICE]["status"], "judged");
    assert_eq!(found[RO_ALICE]["approvers"], json!(["carol"]));
    assert_eq!(found["grants/ro/bob-1.yaml"]["status"], "no-pull-request");
    // Every request went under the Enterprise base.
    let log = f.fake.lock().log.clone();
    assert!(
        !log.is_empty() && log.iter().all(|l| l.contains(" /api/v3/")),
        "{log:?}"
    );
}

#[test]
fn revoke_opens_a_pull_request_that_deletes_the_grant() {
    let f = flow();
    let n = f.grant_pr("alice", "a", "alice", "ro", "2h");
    f.merge(n, "2026-11-23T09:00:00Z");
    let out = f
        .gitgrant("bob")
        .args([
            "revoke",
            "ro/alice-1",
            "--reason",
            "incident over",
            "--repo",
        ])
        .arg(f.work())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let pull = f.fake.lock().pulls[1].clone();
    assert_eq!(pull.author, "bob");
    fetch(f.work());
    let diff = git(
        f.work(),
        &[
            "diff",
            "--name-status",
            "origin/main",
            &format!("origin/{}", pull.head_ref),
        ],
        None,
    );
    assert_eq!(diff.trim(), format!("D\t{RO_ALICE}"));
    // A grant that is not there is refused before anything is made.
    let out = f
        .gitgrant("bob")
        .args(["revoke", "ro/nobody-1", "--reason", "x", "--repo"])
        .arg(f.work())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).contains("grants/ro/nobody-1.yaml is not on main"),
        "{}",
        text(&out)
    );
    assert_eq!(f.fake.lock().pulls.len(), 2);
}

// ---- With a real moto_server: reconcile in GitHub mode. ----

use crate::moto::{Moto, create_users, iam, moto, policies};
use crate::reconcile::{ACCOUNT, PATH, aws_cmd, run_env};

/// moto with this policy's users, and its IAM client.
pub(crate) fn aws() -> (Moto, aws_sdk_iam::Client) {
    let m = moto();
    let client = iam(&m.url, ACCOUNT);
    create_users(&client, &["alice", "bob", "carol", "dave", "mallory"]);
    (m, client)
}

impl Flow {
    /// `gitgrant reconcile --now NOW --removal api EXTRA…` as the bot, on
    /// a checkout of GitHub's main (Actions' checkout on push).
    pub(crate) fn reconcile(&self, m: &Moto, now: &str, extra: &[&str]) -> (i32, Value) {
        self.reconcile_env(m, now, extra, &[])
    }

    /// [`Flow::reconcile`] with more environment variables.
    pub(crate) fn reconcile_env(
        &self,
        m: &Moto,
        now: &str,
        extra: &[&str],
        more: &[(String, String)],
    ) -> (i32, Value) {
        sync_main(self.work());
        let mut env = self.fake.env("gitgrant-bot");
        // The reconciler signs with the key the fixtures' allowed-signers
        // files list, as a repository secret would give it.
        env.push((
            "GITGRANT_SIGNING_KEY".into(),
            crate::support::signing_key("reconciler"),
        ));
        env.extend(more.iter().cloned());
        let env: Vec<(&str, &str)> = env.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
        let mut args = vec!["reconcile", "--now", now];
        if !extra.contains(&"--removal") {
            args.extend(["--removal", "api"]);
        }
        args.extend(extra);
        run_env(self.work(), &m.url, &args, &env)
    }

    /// GitHub's main, fetched: the message of each commit, newest first.
    pub(crate) fn main_log(&self) -> Vec<String> {
        fetch(self.work());
        git(
            self.work(),
            &[
                "log",
                "--first-parent",
                "--format=%an%n%B%x00",
                "origin/main",
            ],
            None,
        )
        .split('\0')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
    }

    /// `gitgrant audit --github --format json` of GitHub's main.
    pub(crate) fn audit_github(&self, now: &str) -> Value {
        let out = self
            .gitgrant("gitgrant-bot")
            .args([
                "audit",
                "--github",
                "--format",
                "json",
                "--branch",
                "origin/main",
                "--now",
                now,
                "--repo",
            ])
            .arg(self.work())
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out));
        serde_json::from_slice(&out.stdout).unwrap()
    }

    pub(crate) fn on_main(&self, path: &str) -> bool {
        fetch(self.work());
        git(
            self.work(),
            &["ls-tree", "-r", "--name-only", "origin/main"],
            None,
        )
        .lines()
        .any(|l| l == path)
    }
}

pub(crate) fn users_of(client: &aws_sdk_iam::Client) -> Vec<Vec<String>> {
    policies(client, PATH)
        .into_iter()
        .map(|p| p.users)
        .collect()
}

#[test]
fn request_to_removal_end_to_end_with_approval_evidence() {
    let (m, client) = aws();
    let f = flow();
    f.request_as_alice("INC-9");
    assert!(f.check(1, "pull_request", "gitgrant-bot").status.success());
    f.fake.review(1, "carol", "APPROVED");
    assert!(
        f.check(1, "pull_request_review", "gitgrant-bot")
            .status
            .success()
    );
    f.merge(1, "2026-11-23T09:00:00Z");

    let (code, json) = f.reconcile(&m, "2026-11-23T09:30:00Z", &[]);
    assert_eq!(code, 0, "{json:#}");
    assert_eq!(users_of(&client), [["alice"]]);
    // Evidence for one grant: its pull request, the reviews, the owning
    // team's members — one page each; then its evidence note (the notes
    // ref, a blob, a tree, a commit, the new ref).
    assert_eq!(json["github_calls"], json!([8, 0, 0]), "{json:#}");
    let evidence = json["approvals"]
        .as_object()
        .unwrap()
        .values()
        .next()
        .unwrap()
        .clone();
    assert_eq!(evidence["status"], "judged");
    assert_eq!(evidence["approvers"], json!(["carol"]));
    assert_eq!(evidence["pr"], 1);

    // Two hours later: revoked, and the file removed by a commit made
    // through the Git Data API, authored and signed as gitgrant (the
    // signature covers the author and committer it names).
    let (code, json) = f.reconcile(&m, "2026-11-23T11:30:00Z", &[]);
    assert_eq!(code, 0, "{json:#}");
    assert!(policies(&client, PATH).is_empty());
    let log = f.main_log();
    assert!(
        log[0].starts_with("gitgrant\ngitgrant: expire ro/alice-"),
        "{}",
        log[0]
    );
    assert!(log[0].contains("Gitgrant-Reason: expired"), "{}", log[0]);
    let removed = json["removals"][0]["commit"].as_str().unwrap().to_string();
    assert_eq!(
        git(f.work(), &["rev-parse", "origin/main"], None).trim(),
        removed
    );
    assert_eq!(
        f.fake.seen("PATCH /repos/acme/access/git/refs/heads/main"),
        1
    );

    // The audit, with GitHub, names the approver and the pull request.
    let audit = f.audit_github("2026-11-23T12:00:00Z");
    let l = &audit["lifecycles"][0];
    assert_eq!(l["approval"]["status"], "judged", "{l:#}");
    assert_eq!(l["approval"]["approvers"], json!(["carol"]));
    assert_eq!(l["approval"]["pr"], 1);
    let rules: Vec<&str> = audit["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["rule"].as_str().unwrap())
        .collect();
    let md = f
        .gitgrant("gitgrant-bot")
        .args([
            "audit",
            "--github",
            "--format",
            "markdown",
            "--branch",
            "origin/main",
            "--now",
            "2026-11-23T12:00:00Z",
            "--repo",
        ])
        .arg(f.work())
        .output()
        .unwrap();
    let csv = f
        .gitgrant("gitgrant-bot")
        .args([
            "audit",
            "--github",
            "--format",
            "csv",
            "--branch",
            "origin/main",
            "--now",
            "2026-11-23T12:00:00Z",
            "--repo",
        ])
        .arg(f.work())
        .output()
        .unwrap();
    let csv = String::from_utf8_lossy(&csv.stdout).into_owned();
    assert!(
        csv.lines()
            .next()
            .unwrap()
            .ends_with(",findings,approvers,access,revocation,lag_seconds,unfenced"),
        "{csv}"
    );
    let row = csv.lines().nth(1).unwrap();
    assert!(
        row.ends_with(
            ",carol,policy attached to IAM user `alice` in account `111111111111` (aws-prod),cloud,0,"
        ),
        "{csv}"
    );
    assert!(
        String::from_utf8_lossy(&md.stdout).contains("| #1, approved by carol |"),
        "{}",
        text(&md)
    );
    assert!(
        !rules.contains(&"missing-approval") && !rules.contains(&"self-approval"),
        "{rules:?}"
    );
}

#[test]
fn without_approval_evidence_nothing_is_granted() {
    let (m, client) = aws();
    let f = flow();
    // Pushed straight to main: no pull request at all.
    f.push_main(&[(RO_ALICE, Some(&ro("alice")))], "2026-11-23T09:00:00Z");
    // Merged with one approval of two.
    let n = f.admin_pr("bob");
    f.fake.review(n, "carol", "APPROVED");
    f.fake.review(n, "bob", "APPROVED");
    f.merge(n, "2026-11-23T09:05:00Z");
    let (code, json) = f.reconcile(&m, "2026-11-23T09:30:00Z", &[]);
    assert_eq!(code, 1, "{json:#}");
    assert!(policies(&client, PATH).is_empty(), "nothing applied");
    let refused: Vec<String> = json["plan"]["refused"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["why"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(refused.len(), 2, "{refused:?}");
    assert!(
        refused
            .iter()
            .any(|w| w.contains("without a merged pull request")),
        "{refused:?}"
    );
    assert!(
        refused
            .iter()
            .any(|w| w.contains("1 of 2") && w.contains("bob: approved their own access")),
        "{refused:?}"
    );

    // The audit flags both.
    let audit = f.audit_github("2026-11-23T09:30:00Z");
    let rules: Vec<&str> = audit["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["rule"].as_str().unwrap())
        .collect();
    assert!(
        rules.contains(&"missing-approval") && rules.contains(&"self-approval"),
        "{rules:?}"
    );
}

#[test]
fn without_a_token_require_approval_changes_nothing() {
    let (m, client) = aws();
    let f = flow();
    let n = f.grant_pr("alice", "a", "alice", "ro", "2h");
    f.fake.review(n, "carol", "APPROVED");
    f.merge(n, "2026-11-23T09:00:00Z");
    sync_main(f.work());
    let out = aws_cmd(&m.url)
        .args(["reconcile", "--now", "2026-11-23T09:30:00Z", "--repo"])
        .arg(f.work())
        .output()
        .unwrap();
    let t = text(&out);
    assert!(
        t.contains("require_approval: true") && t.contains("GITHUB_TOKEN"),
        "{t}"
    );
    let code = out.status.code();
    assert_eq!(code, Some(1));
    assert!(policies(&client, PATH).is_empty());
}

#[test]
fn a_removal_commit_is_rebuilt_when_the_branch_moves() {
    let (m, _client) = aws();
    let f = flow();
    let bob = "grants/ro/bob-1.yaml";
    let n = f.grant_pr("alice", "a", "alice", "ro", "2h");
    f.fake.review(n, "carol", "APPROVED");
    f.merge(n, "2026-11-23T09:00:00Z");
    let n = f.open_pr("bob", "b", &[(bob, Some(&ro("bob")))]);
    f.fake.review(n, "dave", "APPROVED");
    f.merge(n, "2026-11-23T09:01:00Z");
    assert_eq!(f.reconcile(&m, "2026-11-23T09:30:00Z", &[]).0, 0);
    // While the reconciler makes its commits, someone else's merge removes
    // bob's grant first.
    f.fake.lock().move_before_update = Some(vec![bob.to_string()]);
    let (code, json) = f.reconcile(&m, "2026-11-23T11:30:00Z", &[]);
    assert_eq!(code, 0, "{json:#}");
    assert_eq!(
        f.fake.seen("PATCH /repos/acme/access/git/refs/heads/main"),
        2
    );
    assert!(!f.on_main(RO_ALICE) && !f.on_main(bob));
    let log = f.main_log();
    let ours: Vec<&String> = log
        .iter()
        .filter(|l| l.contains("Gitgrant-Grant:"))
        .collect();
    assert_eq!(ours.len(), 1, "{log:#?}");
    assert!(
        ours[0].contains("Gitgrant-Grant: ro/alice-1"),
        "{}",
        ours[0]
    );
    assert!(log[1].contains("Someone else's merge"), "{log:#?}");
    let rows = json["removals"].as_array().unwrap();
    let left: Vec<&Value> = rows.iter().filter(|r| r["commit"].is_null()).collect();
    assert_eq!(left.len(), 1, "{rows:?}");
    assert_eq!(left[0]["path"], bob);
}

/// alice's break-glass grant `break/alice-1` (1h), merged from `branch`
/// at `date`: the landing commit.
fn land_break_glass(f: &Flow, branch: &str, date: &str) -> String {
    let path = "grants/break/alice-1.yaml";
    let n = f.open_pr(
        "alice",
        branch,
        &[(path, Some(&grant_yaml("alice", "break", "duration: 1h")))],
    );
    f.merge(n, date)
}

#[test]
fn break_glass_applies_at_once_opens_one_review_issue_and_links_it() {
    let (m, client) = aws();
    let f = flow();
    let landing = land_break_glass(&f, "bg", "2026-11-23T09:00:00Z");
    let (code, json) = f.reconcile(&m, "2026-11-23T09:05:00Z", &[]);
    assert_eq!(code, 0, "{json:#}");
    assert_eq!(users_of(&client), [["alice"]]);
    let issues = f.fake.lock().issues.clone();
    assert_eq!(issues.len(), 1);
    let crate::github_fake::IssueRec {
        number,
        title,
        body,
        labels,
        author,
        ..
    } = &issues[0];
    assert_eq!(author, "gitgrant-bot", "opened by the reconciler's token");
    // The title names the landing commit: a grant id used again gets an
    // issue of its own.
    assert_eq!(
        *title,
        format!(
            "Break-glass review: break/alice-1 (landed in {})",
            &landing[..7]
        )
    );
    assert!(
        body.contains("@acme/sre-leads @acme/security") && body.contains("@alice"),
        "{body}"
    );
    assert_eq!(labels, &["gitgrant-break-glass".to_string()]);
    // A later run finds it again rather than opening another.
    assert_eq!(f.reconcile(&m, "2026-11-23T09:20:00Z", &[]).0, 0);
    assert_eq!(f.fake.lock().issues.len(), 1);
    // The removal commit links it.
    let (code, json) = f.reconcile(&m, "2026-11-23T10:30:00Z", &[]);
    assert_eq!(code, 0, "{json:#}");
    assert!(policies(&client, PATH).is_empty());
    let log = f.main_log();
    assert!(
        log[0].contains(&format!(
            "Gitgrant-Review: https://github.com/acme/access/issues/{number}"
        )),
        "{}",
        log[0]
    );
}

#[test]
fn removal_by_pull_request_merges_when_clean_and_waits_for_auto_merge_otherwise() {
    let (m, _client) = aws();
    let f = flow();
    let n = f.grant_pr("alice", "a", "alice", "ro", "2h");
    f.fake.review(n, "carol", "APPROVED");
    f.merge(n, "2026-11-23T09:00:00Z");
    assert_eq!(f.reconcile(&m, "2026-11-23T09:30:00Z", &[]).0, 0);
    // Branch protection requires checks still running: auto-merge is set
    // and main is untouched.
    let (code, json) = f.reconcile(&m, "2026-11-23T11:30:00Z", &["--removal", "pr"]);
    assert_eq!(code, 0, "{json:#}");
    let pr = f.fake.lock().pulls.last().unwrap().clone();
    assert!(
        pr.auto_merge && pr.merged_at.is_none() && pr.head_ref == "gitgrant/removals",
        "{pr:?}"
    );
    assert_eq!(
        json["removal_pull_request"],
        format!("https://github.com/{REPO}/pull/{}", pr.number)
    );
    assert!(f.on_main(RO_ALICE));
    // Nothing to wait for: GitHub says the pull request is clean, so it is
    // merged at once.
    f.fake.lock().clean_status = true;
    let (code, json) = f.reconcile(&m, "2026-11-23T11:40:00Z", &["--removal", "pr"]);
    assert_eq!(code, 0, "{json:#}");
    assert!(!f.on_main(RO_ALICE));
    // The same pull request, not a second one.
    assert_eq!(f.fake.lock().pulls.last().unwrap().number, pr.number);
    assert!(f.fake.lock().pulls.last().unwrap().merged_at.is_some());
}

#[test]
fn the_check_refuses_pull_request_target() {
    let f = flow();
    let n = f.grant_pr("alice", "a", "alice", "ro", "2h");
    f.expect_check(n, "pull_request_target", 2, "not pull_request_target");
    assert_eq!(f.fake.seen("POST"), 0);
}

#[test]
fn grants_landed_together_cost_one_evidence_lookup() {
    let (m, client) = aws();
    let f = flow();
    let (bob, carol) = (ro("bob"), ro("carol"));
    let n = f.open_pr(
        "dave",
        "three",
        &[
            (RO_ALICE, Some(&ro("alice"))),
            ("grants/ro/bob-1.yaml", Some(&bob)),
            ("grants/ro/carol-1.yaml", Some(&carol)),
        ],
    );
    f.fake.review(n, "dave", "APPROVED");
    f.merge(n, "2026-11-23T09:00:00Z");
    let (code, json) = f.reconcile(&m, "2026-11-23T09:30:00Z", &[]);
    assert_eq!(code, 0, "{json:#}");
    assert_eq!(policies(&client, PATH).len(), 3);
    // One pull request lookup, one page of reviews, one team — for three
    // grants; then their evidence note through the Git Data API: the notes
    // ref (none yet), a blob, a tree, a commit and the new ref.
    assert_eq!(json["github_calls"], json!([8, 0, 0]), "{json:#}");
    // Nothing new: the next run asks GitHub nothing.
    let (code, json) = f.reconcile(&m, "2026-11-23T09:45:00Z", &[]);
    assert_eq!(code, 0, "{json:#}");
    assert_eq!(json["github_calls"], json!([0, 0, 0]), "{json:#}");
}

#[test]
fn a_spent_rate_limit_is_waited_for_before_the_next_call() {
    let f = flow();
    let n = f.grant_pr("alice", "a", "alice", "ro", "2h");
    f.fake.review(n, "carol", "APPROVED");
    // The first answer (the pull request itself) says the hour's budget is
    // spent until two seconds from now.
    let pull = pull_event(&f.fake, n, "opened")["pull_request"].clone();
    let reset = (chrono::Utc::now().timestamp() + 2).to_string();
    f.fake.lock().faults.push(Fault {
        method: "GET",
        path: "/pulls/1",
        times: 1,
        status: 200,
        body: pull,
        headers: vec![
            ("x-ratelimit-remaining", "0".into()),
            ("x-ratelimit-reset", reset),
        ],
    });
    let started = std::time::Instant::now();
    let (code, out) = f.approvals(n);
    assert_eq!(code, 0, "{out}");
    assert!(
        started.elapsed() >= std::time::Duration::from_secs(1),
        "it waited for the reset"
    );
    assert!(out.contains("1 of 1"), "{out}");
}

#[test]
fn the_plan_comment_says_a_deleted_grant_is_revoked_early() {
    let f = flow();
    let n = f.grant_pr("alice", "a", "alice", "ro", "2h");
    f.merge(n, "2026-11-23T09:00:00Z");
    let n = f.open_pr("bob", "revoke", &[(RO_ALICE, None)]);
    f.expect_check(n, "pull_request", 0, "");
    let comment = &f.fake.comments(n)[0];
    assert!(
        comment.contains("**Revokes** `ro/alice-1` early"),
        "{comment}"
    );
}

#[test]
fn a_closed_look_alike_review_issue_does_not_stand_for_a_break_glass_grant() {
    let (m, _client) = aws();
    let f = flow();
    // mallory opens (and closes) issues titled as the reviews would be,
    // with the label, before and after the grant lands.
    let look_alike = |title: &str| {
        let mut s = f.fake.lock();
        let n = s.push_issue(
            "mallory",
            title,
            "nothing to see",
            vec!["gitgrant-break-glass".into()],
        );
        let i = s.issues.iter_mut().find(|i| i.number == n).unwrap();
        i.state = "closed".into();
    };
    look_alike("Break-glass review: break/alice-1");
    let landing = land_break_glass(&f, "bg", "2026-11-23T09:00:00Z");
    look_alike(&format!(
        "Break-glass review: break/alice-1 (landed in {})",
        &landing[..7]
    ));
    let (code, json) = f.reconcile(&m, "2026-11-23T09:05:00Z", &[]);
    assert_eq!(code, 0, "{json:#}");
    let issues = f.fake.lock().issues.clone();
    let ours: Vec<_> = issues
        .iter()
        .filter(|i| i.author == "gitgrant-bot")
        .collect();
    assert_eq!(ours.len(), 1, "{issues:?}");
    assert_eq!(ours[0].state, "open");
}

#[test]
fn a_grant_id_used_again_gets_a_review_issue_of_its_own() {
    let (m, _client) = aws();
    let f = flow();
    let path = "grants/break/alice-1.yaml";
    land_break_glass(&f, "bg", "2026-11-23T09:00:00Z");
    assert_eq!(f.reconcile(&m, "2026-11-23T09:05:00Z", &[]).0, 0);
    // Ended and removed; the first review is done and closed.
    assert_eq!(f.reconcile(&m, "2026-11-23T10:30:00Z", &[]).0, 0);
    assert!(!f.on_main(path));
    f.fake.lock().issues[0].state = "closed".into();
    // The same id lands again.
    land_break_glass(&f, "bg2", "2026-11-23T11:00:00Z");
    assert_eq!(f.reconcile(&m, "2026-11-23T11:05:00Z", &[]).0, 0);
    let issues = f.fake.lock().issues.clone();
    assert_eq!(issues.len(), 2, "{issues:?}");
    assert_eq!(issues[1].state, "open", "{issues:?}");
}

/// `comment` with its code spans (backtick runs of equal length) taken
/// out: what GitHub would render as Markdown and HTML.
fn outside_code(comment: &str) -> String {
    let mut out = String::new();
    let mut rest = comment;
    while let Some(i) = rest.find('`') {
        out.push_str(&rest[..i]);
        let run = rest[i..].len() - rest[i..].trim_start_matches('`').len();
        let fence = "`".repeat(run);
        let after = &rest[i + run..];
        match after.find(&fence) {
            Some(j) => rest = &after[j + run..],
            None => {
                rest = after;
                out.push_str(&fence);
            }
        }
    }
    out.push_str(rest);
    out
}

#[test]
fn a_reason_that_opens_an_html_comment_cannot_hide_what_the_grant_needs() {
    let f = flow();
    let reason = "@acme/security ![x](https://evil.example/p.png) [ok](https://evil.example) <!-- ";
    let text = grant_yaml("alice", "ro", "duration: 2h")
        .replace("reason: ", &format!("reason: \"{reason}\" #"));
    let n = f.open_pr("alice", "sneaky", &[(RO_ALICE, Some(&text))]);
    f.expect_check(n, "pull_request", 0, "");
    let comment = &f.fake.comments(n)[0];
    assert!(
        comment.contains(&format!("  Reason: `{reason}`\n")),
        "{comment}"
    );
    let shown = outside_code(comment);
    assert!(shown.contains("Needs 1 approval(s)"), "{shown}");
    assert_eq!(shown.matches("<!--").count(), 1, "only the marker: {shown}");
    for injected in ["@acme/security", "![x]", "](https://evil.example"] {
        assert!(!shown.contains(injected), "{injected} in {shown}");
    }
}

#[test]
fn a_forged_note_naming_a_review_issue_does_not_stand_for_the_break_glass_review() {
    let (m, _client) = aws();
    let f = flow();
    let path = "grants/break/alice-1.yaml";
    let landing = land_break_glass(&f, "bg", "2026-11-23T09:00:00Z");
    // Before the first run, a note claims the review issue exists.
    let forged = serde_json::json!({
        "version": 1,
        "grants": { path: {
            "grant": "break/alice-1",
            "approved": { "by": "break-glass", "review": "https://github.com/acme/access/issues/999" },
            "verified_at": "2026-11-23T09:01:00Z", "run": "local"
        } }
    });
    crate::support::put_note(&f.bare, &landing, &forged.to_string());
    let (code, json) = f.reconcile(&m, "2026-11-23T09:05:00Z", &[]);
    assert_eq!(code, 0, "{json:#}");
    let issues = f.fake.lock().issues.clone();
    assert_eq!(issues.len(), 1, "{issues:?}");
    assert_eq!(issues[0].author, "gitgrant-bot");
}
