//! The git layer on real repositories: landing times, `gitgrant expire` with
//! and without a bare remote, trailers readable by plain git, and two
//! concurrent runs pushing to the same remote.

use std::path::Path;

use gitgrant::git::Repo;

use crate::support::{GitRepo, fixtures, git, grant_yaml, run_ok};

const A: &str = "grants/prod-readonly/alice-20261123-0001.yaml";
const B: &str = "grants/prod-readonly/bob-20261123-0002.yaml";

fn base() -> GitRepo {
    GitRepo::from_template(
        &fixtures().join("base"),
        "2026-11-20T09:00:00Z",
        "Initial policy (#1)",
    )
}

fn landing(repo: &GitRepo, path: &str) -> String {
    let r = Repo::open(&repo.path).unwrap();
    let tip = r.branch_tip("main").unwrap();
    let l = r.landings(tip, &[path.to_string()]).unwrap();
    gitgrant::grant::fmt_time(l[path].time)
}

#[test]
fn landing_is_the_first_commit_of_the_unbroken_run_on_the_first_parent_chain() {
    let repo = base();
    // Requested on a branch on the 21st, merged on the 22nd: the clock starts at the merge.
    git(&repo.path, &["checkout", "-q", "-b", "bob-grant"], None);
    repo.commit(
        &[(B, Some(&grant_yaml("bob", "prod-readonly", "duration: 2h")))],
        "Request",
        "2026-11-21T08:00:00Z",
    );
    repo.merge(
        "bob-grant",
        "Merge pull request #7 from bob/grant",
        "2026-11-22T10:00:00+02:00",
    );
    assert_eq!(landing(&repo, B), "2026-11-22T08:00:00Z");
    // Unrelated commits and an edit of the grant do not move its landing.
    repo.commit(&[("README.md", Some("x"))], "Docs", "2026-11-22T09:00:00Z");
    repo.commit(
        &[(B, Some(&grant_yaml("bob", "prod-readonly", "duration: 4h")))],
        "Extend (#8)",
        "2026-11-22T09:30:00Z",
    );
    assert_eq!(landing(&repo, B), "2026-11-22T08:00:00Z");
    // Removed and added again: it lands anew.
    repo.commit(&[(B, None)], "Revoke (#9)", "2026-11-22T09:40:00Z");
    repo.commit(
        &[(B, Some(&grant_yaml("bob", "prod-readonly", "duration: 1h")))],
        "Again (#10)",
        "2026-11-22T11:00:00Z",
    );
    assert_eq!(landing(&repo, B), "2026-11-22T11:00:00Z");
    // The base grant has been there since the first commit.
    assert_eq!(landing(&repo, A), "2026-11-20T09:00:00Z");
}

#[test]
fn an_uncommitted_grant_is_never_read_from_the_working_tree() {
    let repo = base();
    std::fs::write(
        repo.path.join(B),
        grant_yaml("bob", "prod-readonly", "expires: 2026-11-20T10:00:00Z"),
    )
    .unwrap();
    let r = Repo::open(&repo.path).unwrap();
    let snap = r.snapshot(r.branch_tip("main").unwrap()).unwrap();
    assert!(snap.grants.iter().all(|f| f.path != B));
    assert!(snap.grants.iter().any(|f| f.path == A));
}

fn expire(dir: &Path, now: &str, extra: &[&str]) -> serde_json::Value {
    let args = [&["expire", "--format", "json", "--now", now][..], extra].concat();
    serde_json::from_str(&run_ok(&args, dir)).unwrap()
}

#[test]
fn expire_commits_one_removal_per_grant_with_trailers_plain_git_reads() {
    let repo = base();
    repo.commit(
        &[(
            B,
            Some(&grant_yaml(
                "bob",
                "prod-readonly",
                "starts: 2026-11-21T09:00:00Z\nexpires: 2026-11-21T11:00:00Z",
            )),
        )],
        "Grant bob (#2)",
        "2026-11-20T12:00:00Z",
    );
    let bare = repo.with_bare_remote();
    // Alice's 2h grant landed 2026-11-20T09:00Z; bob's window ended 2026-11-21T11:00Z.
    let dry = expire(
        &repo.path,
        "2026-11-22T00:00:00Z",
        &["--push", "origin", "--dry-run"],
    );
    assert_eq!(dry["removals"].as_array().unwrap().len(), 2);
    assert_eq!(
        git(&bare, &["rev-list", "--count", "main"], None).trim(),
        "2",
        "a dry run changes nothing"
    );

    let out = expire(&repo.path, "2026-11-22T00:00:00Z", &["--push", "origin"]);
    let removals = out["removals"].as_array().unwrap();
    assert_eq!(removals.len(), 2);
    assert!(removals.iter().all(|r| r["commit"].is_string()));

    let listed = git(
        &bare,
        &[
            "log",
            "--format=%(trailers:key=Gitgrant-Grant,valueonly)",
            "main",
        ],
        None,
    );
    let mut ids: Vec<&str> = listed.lines().filter(|l| !l.is_empty()).collect();
    ids.sort();
    assert_eq!(
        ids,
        [
            "prod-readonly/alice-20261123-0001",
            "prod-readonly/bob-20261123-0002"
        ]
    );
    let bob = git(&bare, &["log", "-1", "--format=%B", "--", B], None);
    assert!(
        bob.starts_with("gitgrant: expire prod-readonly/bob-20261123-0002\n"),
        "{bob}"
    );
    for trailer in [
        "Gitgrant-Subject: bob",
        "Gitgrant-Provider: aws-prod",
        "Gitgrant-Window: 2026-11-21T09:00:00Z/2026-11-21T11:00:00Z",
        "Gitgrant-Reason: expired",
        "Gitgrant-Revoked-At: 2026-11-22T00:00:00Z",
    ] {
        assert!(bob.contains(trailer), "{trailer} missing in:\n{bob}");
    }
    // The local branch and working tree follow, and a second run has nothing to do.
    assert!(!repo.path.join(B).exists());
    assert_eq!(git(&repo.path, &["status", "--porcelain"], None), "");
    let again = expire(&repo.path, "2026-11-22T00:00:00Z", &["--push", "origin"]);
    assert!(again["removals"].as_array().unwrap().is_empty());
}

#[test]
fn a_moved_remote_gets_rebuilt_removals_and_a_changed_grant_is_left() {
    let repo = base();
    let bare = repo.with_bare_remote();
    // Meanwhile, on another clone, alice's grant is edited (a new window)
    // and pushed: this run decided on the old version.
    let other = repo.dir.path().join("other");
    git(
        repo.dir.path(),
        &["clone", "-q", bare.to_str().unwrap(), "other"],
        None,
    );
    let r = Repo::open(&repo.path).unwrap();
    let tip = r.branch_tip("main").unwrap();
    let removals = {
        let snapshot_blob = r.blob_at(tip, A).unwrap().unwrap();
        vec![gitgrant::removal::Removal {
            grant: "prod-readonly/alice-20261123-0001".into(),
            path: A.into(),
            blob: snapshot_blob,
            message: "gitgrant: expire prod-readonly/alice-20261123-0001\n".into(),
        }]
    };
    std::fs::write(
        other.join(A),
        grant_yaml("alice", "prod-readonly", "expires: 2026-11-30T12:00:00Z"),
    )
    .unwrap();
    git(
        &other,
        &["commit", "-qam", "Extend alice (#3)"],
        Some("2026-11-20T10:30:00Z"),
    );
    git(&other, &["push", "-q", "origin", "main"], None);

    let now = chrono::DateTime::parse_from_rfc3339("2026-11-20T12:00:00Z")
        .unwrap()
        .to_utc();
    let out = r
        .push_removals("origin", "main", &removals, now, None)
        .unwrap();
    assert!(out.made.is_empty(), "the changed grant must not be removed");
    assert_eq!(
        git(&bare, &["log", "-1", "--format=%s", "main"], None).trim(),
        "Extend alice (#3)"
    );
}

#[test]
fn two_concurrent_expire_runs_neither_lose_nor_duplicate_a_removal() {
    let repo = base();
    let mut files = Vec::new();
    for i in 0..6 {
        let path = format!("grants/prod-readonly/bob-20261123-{i:04}.yaml");
        let end = format!("expires: 2026-11-20T1{i}:30:00Z");
        files.push((path, grant_yaml("bob", "prod-readonly", &end)));
    }
    let refs: Vec<(&str, Option<&str>)> = files
        .iter()
        .map(|(p, t)| (p.as_str(), Some(t.as_str())))
        .collect();
    repo.commit(&refs, "Grants (#2)", "2026-11-20T09:30:00Z");
    let bare = repo.with_bare_remote();
    // Run A sees fewer grants expired than run B: together they must remove
    // every grant exactly once.
    repo.race_expire(&bare, &["2026-11-20T13:00:00Z", "2026-11-21T00:00:00Z"]);
    let log = git(
        &bare,
        &[
            "log",
            "--format=%(trailers:key=Gitgrant-Grant,valueonly)",
            "main",
        ],
        None,
    );
    let mut ids: Vec<&str> = log.lines().filter(|l| !l.is_empty()).collect();
    ids.sort();
    let before = ids.len();
    ids.dedup();
    assert_eq!(before, ids.len(), "a removal was duplicated: {log}");
    // All six of bob's, and alice's 2h grant from the first commit.
    assert_eq!(ids.len(), 7, "{log}");
    let remaining = git(
        &bare,
        &["ls-tree", "-r", "--name-only", "main", "grants/"],
        None,
    );
    assert_eq!(remaining.trim(), "", "grants left on main: {remaining}");
}
