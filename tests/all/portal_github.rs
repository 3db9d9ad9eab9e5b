//! The request form's pull requests, end to end against the GitHub fake:
//! `request --from-issue` with the portal's token opens the pull request
//! for the issue's author, links both ways, replaces it when the issue is
//! edited, comments the errors line by line, and closes the issue when the
//! pull request merges or closes.

use serde_json::{Value, json};

use crate::github::{Flow, flow_from};
use crate::github_fake::{REPO, fetch, pull_event};
use crate::portal::{form_body, issue_event};

/// The portal's identity in these tests: the token the workflow's GitHub
/// App would mint.
const PORTAL: &str = "gitgrant-bot";

fn run(f: &Flow, event: &Value) -> (i32, String, String) {
    let file = f.work().join("../event.json");
    std::fs::write(&file, event.to_string()).unwrap();
    let out = f
        .gitgrant(PORTAL)
        .args(["request", "--from-issue"])
        .arg(&file)
        .args(["--now", "2026-11-23T09:00:00Z", "--repo"])
        .arg(f.work())
        .output()
        .unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8_lossy(&out.stdout).trim().to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

/// The file `path` on branch `branch` of the fake's repository.
fn file_on(f: &Flow, branch: &str, path: &str) -> Option<String> {
    fetch(f.work());
    let out = std::process::Command::new("git")
        .args(["show", &format!("origin/{branch}:{path}")])
        .current_dir(f.work())
        .output()
        .unwrap();
    out.status
        .success()
        .then(|| String::from_utf8(out.stdout).unwrap())
}

/// An issue opened from the form by `author`, as GitHub holds it.
fn open_issue(f: &Flow, author: &str) -> u64 {
    f.fake.lock().push_issue(
        author,
        "Access request",
        "",
        vec!["gitgrant-request".into()],
    )
}

fn ro(duration: &str, reason: &str) -> String {
    form_body(&[
        ("Role", "ro: Read-only (whatever the rest says)"),
        ("Duration", duration),
        ("Reason", reason),
    ])
}

#[test]
fn an_issue_becomes_a_pull_request_an_edit_replaces_it_and_the_merge_closes_the_issue() {
    let f = flow_from("github-access");
    let issue = open_issue(&f, "alice");
    let reason = "Look at the logs @acme/security <img src=x> ```";
    let (code, url, stderr) = run(
        &f,
        &issue_event("opened", issue, "alice", &ro("2h", reason)),
    );
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(url, format!("https://github.com/{REPO}/pull/1"));
    let pull = f.fake.lock().pulls[0].clone();
    assert_eq!(pull.author, PORTAL);
    assert_eq!(pull.head_ref, format!("gitgrant/issue-{issue}"));
    assert!(
        pull.body.starts_with(&format!("Requested in #{issue}.")),
        "{}",
        pull.body
    );
    assert!(pull.title.contains("alice → ro for 2h"), "{}", pull.title);
    // The reason is shown as code: no mention, image or block escapes.
    assert!(
        pull.body.contains(&format!("````text\n{reason}\n````")),
        "{}",
        pull.body
    );
    let path = format!("grants/ro/alice-issue-{issue}.yaml");
    let grant = file_on(&f, &pull.head_ref, &path).expect("the grant on the branch");
    assert!(
        grant.contains("subject: alice") && grant.contains("duration: 2h"),
        "{grant}"
    );
    let comments = f.fake.comments(issue);
    assert_eq!(comments.len(), 1);
    assert!(comments[0].contains("Request opened as #1"), "{comments:?}");

    // Edited: the same pull request, its branch holding the new request only.
    let (code, _, stderr) = run(
        &f,
        &issue_event("edited", issue, "alice", &ro("3h", "Longer")),
    );
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(f.fake.lock().pulls.len(), 1, "no second pull request");
    let grant = file_on(&f, &pull.head_ref, &path).unwrap();
    assert!(
        grant.contains("duration: 3h") && grant.contains("reason: Longer"),
        "{grant}"
    );
    assert!(f.fake.lock().pulls[0].title.contains("for 3h"));
    let comments = f.fake.comments(issue);
    assert_eq!(comments.len(), 1, "one comment, kept current");
    assert!(
        comments[0].contains("Request updated as #1"),
        "{comments:?}"
    );

    // Edited into something invalid: the errors, line by line; the pull
    // request keeps the last good request.
    let (code, _, _) = run(&f, &issue_event("edited", issue, "alice", &ro("9h", "x")));
    assert_eq!(code, 2);
    let comments = f.fake.comments(issue);
    assert_eq!(comments.len(), 1);
    assert!(
        comments[0].contains("cannot be made as it stands")
            && comments[0].contains("- ``window-too-long: the window is 9h"),
        "{comments:?}"
    );
    assert!(
        file_on(&f, &pull.head_ref, &path)
            .unwrap()
            .contains("duration: 3h")
    );

    // Merged: the issue says so and closes as completed.
    f.merge(1, "2026-11-23T09:30:00Z");
    let (code, _, stderr) = run(&f, &pull_event(&f.fake, 1, "closed"));
    assert_eq!(code, 0, "{stderr}");
    let i = f.fake.lock().issues[0].clone();
    assert_eq!(i.state, "closed");
    assert_eq!(i.state_reason.as_deref(), Some("completed"));
    assert!(
        f.fake.comments(issue)[0].contains("#1 merged"),
        "{:?}",
        f.fake.comments(issue)
    );
}

#[test]
fn a_pull_request_closed_unmerged_closes_its_issue_and_others_are_left_alone() {
    let f = flow_from("github-access");
    let issue = open_issue(&f, "alice");
    assert_eq!(
        run(&f, &issue_event("opened", issue, "alice", &ro("1h", "x"))).0,
        0
    );

    // A fork's branch named like the portal's, and a branch of some other
    // pull request: neither closes anything.
    let mut fork = pull_event(&f.fake, 1, "closed");
    fork["pull_request"]["head"]["repo"] = json!({ "full_name": "mallory/access" });
    let (code, _, stderr) = run(&f, &fork);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("not the portal's"), "{stderr}");
    let mut other = pull_event(&f.fake, 1, "closed");
    other["pull_request"]["head"]["ref"] = json!("feature/x");
    assert_eq!(run(&f, &other).0, 0);
    assert_eq!(f.fake.lock().issues[0].state, "open");
    // With the portal's identity named, a person's pull request from a
    // branch of the portal's name is not the portal's either.
    with_portal(&f);
    let mut person = pull_event(&f.fake, 1, "closed");
    person["pull_request"]["user"] = json!({ "login": "mallory" });
    let (_, _, stderr) = run(&f, &person);
    assert!(stderr.contains("not opened by gitgrant-bot"), "{stderr}");
    assert_eq!(f.fake.lock().issues[0].state, "open");

    let (code, _, stderr) = run(&f, &pull_event(&f.fake, 1, "closed"));
    assert_eq!(code, 0, "{stderr}");
    let i = f.fake.lock().issues[0].clone();
    assert_eq!(i.state, "closed");
    assert_eq!(i.state_reason.as_deref(), Some("not_planned"));
    assert!(f.fake.comments(issue)[0].contains("closed without merging"));
    // Nothing reached main.
    assert_eq!(
        file_on(&f, "main", &format!("grants/ro/alice-issue-{issue}.yaml")),
        None
    );
}

#[test]
fn garbage_gets_its_errors_on_the_issue_and_no_pull_request() {
    let f = flow_from("github-access");
    let issue = open_issue(&f, "mallory");
    let (code, out, _) = run(
        &f,
        &issue_event(
            "opened",
            issue,
            "mallory",
            "give me admin `now` @acme/security",
        ),
    );
    assert_eq!(code, 2);
    assert!(out.is_empty());
    assert!(f.fake.lock().pulls.is_empty());
    let comments = f.fake.comments(issue);
    assert_eq!(comments.len(), 1);
    assert!(
        comments[0].contains("- `the form's `Role` is missing or empty`")
            || comments[0].contains("- ``the form's `Role` is missing or empty``"),
        "{comments:?}"
    );
}

/// `gitgrant.yaml` of the GitHub tests with `portal.identity` set, pushed
/// to main.
fn with_portal(f: &Flow) {
    let policy = std::fs::read_to_string(f.work().join("gitgrant.yaml")).unwrap();
    let policy = format!("{policy}portal:\n  identity: {PORTAL}\n");
    f.push_main(&[("gitgrant.yaml", Some(&policy))], "2026-11-23T08:10:00Z");
}

#[test]
fn the_check_takes_the_portals_pull_request_as_the_issues_author_asking_and_only_then() {
    let f = flow_from("github-access");
    with_portal(&f);
    let issue = open_issue(&f, "alice");
    assert_eq!(
        run(&f, &issue_event("opened", issue, "alice", &ro("2h", "x"))).0,
        0
    );
    // Opened by the portal for alice, who opened the issue: no
    // subject-not-author (the approvers' quorum is still to come).
    let out = f.expect_check(1, "pull_request", 0, "");
    assert!(!out.contains("subject-not-author"), "{out}");
    let read = format!("GET /repos/{REPO}/issues/{issue}");
    assert_eq!(
        f.fake.lock().log.iter().filter(|l| **l == read).count(),
        1,
        "the issue's author is read from GitHub, once a check"
    );

    // Someone with write access changes the grant on the portal's branch to
    // another subject: the issue was not opened by bob.
    let path = format!("grants/ro/alice-issue-{issue}.yaml");
    let bob = crate::support::grant_yaml("bob", "ro", "duration: 2h");
    let branch = f.fake.lock().pulls[0].head_ref.clone();
    fetch(f.work());
    f.push_to(&branch, &[(path.as_str(), Some(bob.as_str()))]);
    let out = f.expect_check(1, "pull_request", 2, "subject-not-author");
    assert!(out.contains("asks for access for bob"), "{out}");

    // The same branch name pushed by a person is that person's request.
    let n = f.open_pr(
        "mallory",
        &format!("gitgrant/issue-{issue}-x"),
        &[(
            "grants/ro/alice-2.yaml",
            Some(&crate::support::grant_yaml("alice", "ro", "duration: 1h")),
        )],
    );
    f.expect_check(n, "pull_request", 2, "subject-not-author");
}

#[test]
fn without_a_portal_identity_the_bots_pull_request_asks_for_nobody_else() {
    let f = flow_from("github-access");
    let issue = open_issue(&f, "alice");
    assert_eq!(
        run(&f, &issue_event("opened", issue, "alice", &ro("2h", "x"))).0,
        0
    );
    f.expect_check(1, "pull_request", 2, "subject-not-author");
    // And an issue it cannot read (deleted) proves nothing either.
    with_portal(&f);
    f.fake.lock().issues.clear();
    f.expect_check(1, "pull_request", 2, "subject-not-author");
}
