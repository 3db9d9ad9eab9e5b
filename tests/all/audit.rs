//! `gitgrant audit` over real histories with pinned dates: the whole JSON
//! report is snapshotted, with commit ids named by their place in history so
//! the snapshots do not depend on hashing.

use std::path::Path;

use crate::support::{GitRepo, git, gitgrant, grant_yaml, run_ok};

const BOB: &str = "grants/prod-readonly/bob-20261121-00b0.yaml";

fn expire(dir: &Path, now: &str) {
    crate::support::run_signed(&["expire", "--now", now], dir);
}

/// The audit JSON with every commit id replaced by `C<n>` (n counting all
/// commits reachable from main, oldest first).
fn audit_json(dir: &Path, now: &str, extra: &[&str]) -> String {
    let args = [&["audit", "--format", "json", "--now", now][..], extra].concat();
    let mut text = run_ok(&args, dir);
    let ids = git(
        dir,
        &["rev-list", "--reverse", "--topo-order", "main"],
        None,
    );
    for (n, id) in ids.lines().enumerate() {
        text = text
            .replace(id, &format!("C{n}"))
            .replace(&id[..7], &format!("C{n}"));
    }
    text
}

fn findings(json: &str) -> Vec<String> {
    let v: serde_json::Value = serde_json::from_str(json).unwrap();
    v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["rule"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn normal_lifecycle() {
    let repo = GitRepo::policy_only("2026-11-20T09:00:00Z");
    let grant = grant_yaml("bob", "prod-readonly", "duration: 2h");
    repo.pull_request(
        2,
        &[(BOB, Some(&grant))],
        "2026-11-21T08:00:00Z",
        "2026-11-21T09:00:00Z",
    );
    expire(&repo.path, "2026-11-21T11:05:00Z");
    let json = audit_json(&repo.path, "2026-11-22T00:00:00Z", &[]);
    assert!(findings(&json).is_empty(), "{json}");
    // Removed 5 minutes late, but AWS refused access at the window's end.
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["lifecycles"][0]["revocation"]["ended_by"], "cloud");
    assert_eq!(v["lifecycles"][0]["revocation"]["lag_seconds"], 0);
    assert_eq!(v["revocation"]["cloud_enforced"], 1);
    insta::assert_snapshot!("normal_lifecycle", json);
}

#[test]
fn extension() {
    let repo = GitRepo::policy_only("2026-11-20T09:00:00Z");
    let two = grant_yaml("bob", "prod-readonly", "duration: 2h");
    let four = grant_yaml("bob", "prod-readonly", "duration: 4h");
    repo.pull_request(
        2,
        &[(BOB, Some(&two))],
        "2026-11-21T08:00:00Z",
        "2026-11-21T09:00:00Z",
    );
    repo.commit(
        &[(BOB, Some(&four))],
        "Extend bob's access (#3)",
        "2026-11-21T10:30:00Z",
    );
    expire(&repo.path, "2026-11-21T13:05:00Z");
    let json = audit_json(&repo.path, "2026-11-22T00:00:00Z", &[]);
    assert_eq!(findings(&json), ["extended"], "{json}");
    insta::assert_snapshot!("extension", json);
}

#[test]
fn early_revoke() {
    let repo = GitRepo::policy_only("2026-11-20T09:00:00Z");
    let grant = grant_yaml("bob", "prod-readonly", "duration: 8h");
    repo.pull_request(
        2,
        &[(BOB, Some(&grant))],
        "2026-11-21T08:00:00Z",
        "2026-11-21T09:00:00Z",
    );
    repo.commit(
        &[(BOB, None)],
        "Revoke bob: incident closed (#3)",
        "2026-11-21T10:00:00Z",
    );
    let json = audit_json(&repo.path, "2026-11-22T00:00:00Z", &[]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["lifecycles"][0]["end"]["reason"], "revoked-early");
    // Git has the deletion's time, not the next run's: the lag is unknown,
    // bounded by the window's end, when AWS refuses access regardless.
    let r = &v["lifecycles"][0]["revocation"];
    assert_eq!(r["ended_by"], "run", "{r:#}");
    assert!(r["lag_seconds"].is_null(), "{r:#}");
    assert_eq!(r["lag_at_most_seconds"], 7 * 3600, "{r:#}");
    assert!(v["revocation"]["max_lag_seconds"].is_null(), "{json}");
    insta::assert_snapshot!("early_revoke", json);
    let line = "revocation: 1 grant, cloud-enforced 0, max lag unknown, 1 ended by a run";
    for format in ["table", "markdown"] {
        let out = run_ok(
            &["audit", "--format", format, "--now", "2026-11-22T00:00:00Z"],
            &repo.path,
        );
        assert!(out.contains(line), "{format}: {out}");
    }
    // CSV has no summary line: the revocation is in each row's last columns.
    let csv = run_ok(
        &["audit", "--format", "csv", "--now", "2026-11-22T00:00:00Z"],
        &repo.path,
    );
    let mut lines = csv.lines();
    assert!(
        lines
            .next()
            .unwrap()
            .ends_with(",access,revocation,lag_seconds,unfenced"),
        "{csv}"
    );
    assert!(lines.next().unwrap().ends_with(",run,,"), "{csv}");
}

#[test]
fn direct_push() {
    let repo = GitRepo::policy_only("2026-11-20T09:00:00Z");
    let grant = grant_yaml("bob", "prod-readonly", "duration: 1h");
    repo.commit(
        &[(BOB, Some(&grant))],
        "give myself access",
        "2026-11-21T09:00:00Z",
    );
    expire(&repo.path, "2026-11-21T10:05:00Z");
    let json = audit_json(&repo.path, "2026-11-22T00:00:00Z", &[]);
    assert_eq!(findings(&json), ["direct-push"], "{json}");
    insta::assert_snapshot!("direct_push", json);
}

#[test]
fn policy_widening() {
    let repo = GitRepo::policy_only("2026-11-20T09:00:00Z");
    let policy = std::fs::read_to_string(repo.path.join("gitgrant.yaml")).unwrap();
    let wider = policy
        .replacen("max_duration: 8h", "max_duration: 24h", 1)
        .replacen("[\"@acme/sre-leads\"]", "[\"@acme/everyone\"]", 1);
    assert_ne!(policy, wider);
    let grant = grant_yaml("bob", "prod-readonly", "duration: 12h");
    // The policy is loosened and a grant that needs it rides along in one PR.
    repo.pull_request(
        2,
        &[("gitgrant.yaml", Some(&wider)), (BOB, Some(&grant))],
        "2026-11-21T08:00:00Z",
        "2026-11-21T09:00:00Z",
    );
    let json = audit_json(&repo.path, "2026-11-21T12:00:00Z", &[]);
    let rules = findings(&json);
    assert!(rules.contains(&"policy-widened".to_string()), "{json}");
    assert!(
        rules.contains(&"grant-with-policy-change".to_string()),
        "{json}"
    );
    insta::assert_snapshot!("policy_widening", json);
}

#[test]
fn re_added_name() {
    let repo = GitRepo::policy_only("2026-11-20T09:00:00Z");
    let grant = grant_yaml("bob", "prod-readonly", "duration: 2h");
    repo.pull_request(
        2,
        &[(BOB, Some(&grant))],
        "2026-11-21T08:00:00Z",
        "2026-11-21T09:00:00Z",
    );
    expire(&repo.path, "2026-11-21T11:05:00Z");
    repo.pull_request(
        3,
        &[(BOB, Some(&grant))],
        "2026-11-22T08:00:00Z",
        "2026-11-22T09:00:00Z",
    );
    let json = audit_json(&repo.path, "2026-11-22T10:00:00Z", &[]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(
        v["lifecycles"].as_array().unwrap().len(),
        2,
        "neither lifecycle is dropped"
    );
    assert_eq!(findings(&json), ["re-added"], "{json}");
    insta::assert_snapshot!("re_added_name", json);
    // Who could use prod-readonly at a time inside the second window: bob, once.
    let at = audit_json(
        &repo.path,
        "2026-11-22T10:00:00Z",
        &["--at", "2026-11-22T09:30:00Z"],
    );
    let v: serde_json::Value = serde_json::from_str(&at).unwrap();
    assert_eq!(v["lifecycles"].as_array().unwrap().len(), 1, "{at}");
    assert_eq!(v["lifecycles"][0]["occurrence"], 2);
}

#[test]
fn concurrent_expiry() {
    let repo = GitRepo::policy_only("2026-11-20T09:00:00Z");
    let grant = grant_yaml("bob", "prod-readonly", "duration: 1h");
    repo.pull_request(
        2,
        &[(BOB, Some(&grant))],
        "2026-11-21T08:00:00Z",
        "2026-11-21T09:00:00Z",
    );
    let bare = repo.with_bare_remote();
    repo.race_expire(&bare, &["2026-11-21T10:05:00Z", "2026-11-21T10:05:00Z"]);
    let json = audit_json(&bare, "2026-11-22T00:00:00Z", &[]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["lifecycles"].as_array().unwrap().len(), 1, "{json}");
    assert_eq!(v["lifecycles"][0]["end"]["reason"], "expired");
    assert!(findings(&json).is_empty(), "{json}");
    insta::assert_snapshot!("concurrent_expiry", json);
}

/// Junk under grants/, a grant moved between roles, odd offsets, and a
/// shallow clone whose oldest commit's parent is missing: the audit reports
/// them, never panics, and never drops a grant.
#[test]
fn odd_histories_are_reported_not_dropped() {
    let repo = GitRepo::policy_only("2026-11-20T09:00:00+05:45");
    repo.commit(
        &[("grants/prod-readonly/junk-1.yaml", Some("{{{ not: [yaml"))],
        "junk (#2)",
        "2026-11-20T10:00:00-03:30",
    );
    let grant = grant_yaml("vendor", "vendor-staging", "ticket: VND-1\nduration: 1d");
    repo.pull_request(
        3,
        &[("grants/vendor-staging/vendor-1.yaml", Some(&grant))],
        "2026-11-21T08:00:00Z",
        "2026-11-21T09:00:00+05:45",
    );
    git(
        &repo.path,
        &[
            "mv",
            "grants/vendor-staging/vendor-1.yaml",
            "grants/prod-readonly/vendor-1.yaml",
        ],
        None,
    );
    repo.commit(&[], "move (#4)", "2026-11-21T09:30:00Z");
    let json = audit_json(&repo.path, "2026-11-22T00:00:00Z", &[]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let ids: Vec<&str> = v["lifecycles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 3, "{ids:?}");
    for id in [
        "prod-readonly/junk-1",
        "vendor-staging/vendor-1",
        "prod-readonly/vendor-1",
    ] {
        assert!(ids.contains(&id), "{id} dropped: {ids:?}");
    }
    let rules = findings(&json);
    for rule in ["invalid-grant", "moved"] {
        assert!(rules.iter().any(|r| r == rule), "{rule} missing: {rules:?}");
    }
    // +05:45 on the merge: landed at 03:15 UTC.
    let landed = v["lifecycles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["id"] == "vendor-staging/vendor-1")
        .unwrap();
    assert_eq!(landed["landed"]["time"], "2026-11-21T03:15:00Z");

    // A shallow clone: history starts at a commit whose parent is missing.
    let shallow = repo.dir.path().join("shallow");
    let url = format!("file://{}", repo.path.display());
    git(
        repo.dir.path(),
        &["clone", "-q", "--depth", "2", &url, "shallow"],
        None,
    );
    let out = gitgrant()
        .args([
            "audit",
            "--format",
            "json",
            "--now",
            "2026-11-22T00:00:00Z",
            "--repo",
        ])
        .arg(&shallow)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json = String::from_utf8(out.stdout).unwrap();
    assert!(
        findings(&json).iter().any(|r| r == "history-truncated"),
        "{json}"
    );
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert!(v["lifecycles"].as_array().unwrap().len() >= 2, "{json}");
}

/// The lifecycle of `id` in an audit's JSON.
fn lifecycle(json: &str, id: &str) -> serde_json::Value {
    let v: serde_json::Value = serde_json::from_str(json).unwrap();
    v["lifecycles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["id"] == id)
        .unwrap_or_else(|| panic!("no lifecycle {id} in {json}"))
        .clone()
}

/// Rewrites main's tip as GitHub writes the commits of its merge and squash
/// buttons: committed by `GitHub <noreply@github.com>` and carrying an
/// OpenPGP signature. The signature here is made up: git cannot tell, and
/// gitgrant does not verify signatures.
fn as_written_by_github(dir: &Path) {
    let commit = git(dir, &["cat-file", "commit", "HEAD"], None);
    let mut out = String::new();
    let mut lines = commit.split_inclusive('\n');
    for line in lines.by_ref() {
        if let Some(rest) = line.strip_prefix("committer ") {
            let when = rest.rsplitn(3, ' ').take(2).collect::<Vec<_>>();
            out.push_str(&format!(
                "committer GitHub <noreply@github.com> {} {}",
                when[1], when[0]
            ));
            out.push_str(
                "gpgsig -----BEGIN PGP SIGNATURE-----\n \n wsBcBAABCAAQBQJnAAAACRBK7hj4Ov3rIwAAnmgIAJ0=\n =AAAA\n -----END PGP SIGNATURE-----\n",
            );
            break;
        }
        out.push_str(line);
    }
    out.extend(lines);
    let mut child = std::process::Command::new("git")
        .current_dir(dir)
        .args(["hash-object", "-t", "commit", "-w", "--stdin"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(out.as_bytes())
        .unwrap();
    let done = child.wait_with_output().unwrap();
    assert!(done.status.success());
    let id = String::from_utf8(done.stdout).unwrap();
    git(dir, &["update-ref", "refs/heads/main", id.trim()], None);
}

#[test]
fn a_direct_commit_titled_merge_pull_request_is_a_direct_push() {
    let repo = GitRepo::policy_only("2026-11-20T09:00:00Z");
    let grant = grant_yaml("bob", "prod-readonly", "duration: 1h");
    // GitHub's merge title on a commit with one parent: no merge at all.
    repo.commit(
        &[(BOB, Some(&grant))],
        "Merge pull request #7 from bob/grant",
        "2026-11-21T09:00:00Z",
    );
    let json = audit_json(&repo.path, "2026-11-21T09:30:00Z", &[]);
    assert_eq!(findings(&json), ["direct-push"], "{json}");
    let l = lifecycle(&json, "prod-readonly/bob-20261121-00b0");
    assert_eq!(l["landed"]["evidence"], "none", "{l:#}");
    // What the commit claims stays in the report.
    assert_eq!(l["requested"]["pr"], 7);
    let md = run_ok(
        &[
            "audit",
            "--format",
            "markdown",
            "--now",
            "2026-11-21T09:30:00Z",
        ],
        &repo.path,
    );
    assert!(md.contains("What the findings mean"), "{md}");
    assert!(md.contains("is no proof of review"), "{md}");
}

#[test]
fn a_merge_is_github_signed_only_when_committed_and_signed_as_github() {
    let repo = GitRepo::policy_only("2026-11-20T09:00:00Z");
    let grant = grant_yaml("bob", "prod-readonly", "duration: 1h");
    let alice = "grants/prod-readonly/alice-20261121-00a1.yaml";
    let grant_alice = grant_yaml("alice", "prod-readonly", "duration: 1h");
    // Merged on someone's machine and pushed: the message is all there is.
    repo.pull_request(
        2,
        &[(BOB, Some(&grant))],
        "2026-11-21T08:00:00Z",
        "2026-11-21T09:00:00Z",
    );
    repo.pull_request(
        3,
        &[(alice, Some(&grant_alice))],
        "2026-11-21T08:30:00Z",
        "2026-11-21T09:10:00Z",
    );
    as_written_by_github(&repo.path);
    let json = audit_json(&repo.path, "2026-11-21T09:30:00Z", &[]);
    assert!(findings(&json).is_empty(), "{json}");
    let bob = lifecycle(&json, "prod-readonly/bob-20261121-00b0");
    assert_eq!(bob["landed"]["evidence"], "message", "{bob:#}");
    let alice = lifecycle(&json, "prod-readonly/alice-20261121-00a1");
    assert_eq!(alice["landed"]["evidence"], "github-signed", "{alice:#}");
}

/// The audit of `dir`'s HEAD over every commit, after checking that the
/// streamed walk (which skips commits changing nothing read) gives `kept`
/// commits, oldest first, and the same audit.
fn streamed_and_full(dir: &Path, now: &str, kept: usize) -> gitgrant::audit::Audit {
    let r = gitgrant::git::Repo::open(dir).unwrap();
    let tip = r.resolve("HEAD").unwrap();
    let now = chrono::DateTime::parse_from_rfc3339(now).unwrap().to_utc();
    let options = gitgrant::audit::Options {
        late_after: chrono::TimeDelta::hours(1),
        ..Default::default()
    };
    let history = r.history(tip, &mut |_| {}).unwrap();
    assert!(
        history.windows(2).all(|w| w[0].time <= w[1].time),
        "oldest first"
    );
    let full = gitgrant::audit::audit(&history, now, &options);
    let mut streamed = Vec::new();
    r.history_each(tip, &mut |_| {}, &mut |c| {
        streamed.push(c);
        true
    })
    .unwrap();
    assert_eq!(
        streamed.len(),
        kept,
        "commits that change nothing read (but the tip) are skipped"
    );
    assert_eq!(gitgrant::audit::audit_stream(streamed, now, &options), full);
    full
}

#[test]
fn the_streamed_audit_reads_what_the_full_walk_reads() {
    // The command folds commits as a second thread walks, and skips commits
    // that change nothing it reads: the audit must come out the same.
    let repo = GitRepo::policy_only("2026-11-20T09:00:00Z");
    let a = grant_yaml("alice", "prod-readonly", "duration: 2h");
    let b = grant_yaml("bob", "prod-readonly", "duration: 4h");
    repo.commit(
        &[("README.md", Some("notes\n"))],
        "Docs (#2)",
        "2026-11-20T09:30:00Z",
    );
    repo.pull_request(
        3,
        &[("grants/prod-readonly/alice-1.yaml", Some(&a))],
        "2026-11-21T08:00:00Z",
        "2026-11-21T09:00:00Z",
    );
    repo.commit(
        &[("README.md", Some("more notes\n"))],
        "Docs (#4)",
        "2026-11-21T09:10:00Z",
    );
    repo.pull_request(
        5,
        &[("grants/prod-readonly/bob-1.yaml", Some(&b))],
        "2026-11-21T09:20:00Z",
        "2026-11-21T09:30:00Z",
    );
    let longer = grant_yaml("alice", "prod-readonly", "duration: 3h");
    repo.commit(
        &[("grants/prod-readonly/alice-1.yaml", Some(&longer))],
        "Extend (#6)",
        "2026-11-21T10:00:00Z",
    );
    repo.commit(
        &[("grants/prod-readonly/bob-1.yaml", None)],
        "Revoke bob (#7)",
        "2026-11-21T10:30:00Z",
    );
    repo.commit(
        &[("grants/prod-readonly/bob-2.yaml", Some(&b))],
        "bob again (#8)",
        "2026-11-21T11:00:00Z",
    );
    repo.commit(
        &[("README.md", Some("last\n"))],
        "Docs (#9)",
        "2026-11-21T11:30:00Z",
    );

    let full = streamed_and_full(&repo.path, "2026-11-22T00:00:00Z", 7);
    assert_eq!(full.lifecycles.len(), 3);
}

#[test]
fn a_long_history_read_by_two_threads_keeps_every_lifecycle_in_order() {
    // 3,000 commits (over two chunks per reader): grants added one a commit,
    // each removed 7 commits later, with documentation commits between,
    // made with `git fast-import`.
    let repo = GitRepo::policy_only("2026-11-20T09:00:00Z");
    let policy = std::fs::read_to_string(repo.path.join("gitgrant.yaml")).unwrap();
    let mut stream = String::new();
    let mut mark_time = 1_795_200_000u64;
    let blob = |s: &mut String, data: &str| {
        s.push_str(&format!("data {}\n{data}\n", data.len()));
    };
    let mut expected = Vec::new();
    for i in 0..3000u64 {
        mark_time += 60;
        stream.push_str(&format!(
            "commit refs/heads/main\ncommitter Dev <dev@example.com> {mark_time} +0000\n"
        ));
        blob(&mut stream, &format!("step {i}"));
        if i == 0 {
            stream.push_str("from refs/heads/main^0\n");
            stream.push_str("M 100644 inline gitgrant.yaml\n");
            blob(&mut stream, &policy);
        }
        match i % 3 {
            0 => {
                let name = format!("grants/prod-readonly/alice-{i}.yaml");
                stream.push_str(&format!("M 100644 inline {name}\n"));
                blob(
                    &mut stream,
                    &grant_yaml("alice", "prod-readonly", "duration: 2h"),
                );
                expected.push(format!("prod-readonly/alice-{i}"));
                if i >= 21 {
                    stream.push_str(&format!("D grants/prod-readonly/alice-{}.yaml\n", i - 21));
                }
            }
            _ => {
                stream.push_str("M 100644 inline README.md\n");
                blob(&mut stream, &format!("notes {i}\n"));
            }
        }
        stream.push('\n');
    }
    let mut child = std::process::Command::new("git")
        .args(["fast-import", "--quiet", "--force"])
        .current_dir(&repo.path)
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stream.as_bytes())
        .unwrap();
    assert!(child.wait().unwrap().success());

    let full = streamed_and_full(&repo.path, "2026-11-30T00:00:00Z", 1002);
    let mut ids: Vec<String> = full.lifecycles.iter().map(|l| l.id.clone()).collect();
    ids.sort();
    expected.sort();
    assert_eq!(ids, expected);
    let ended = full.lifecycles.iter().filter(|l| l.end.is_some()).count();
    assert_eq!(ended, 1000 - 7, "all but the last seven were removed");
}

#[test]
fn a_grant_that_assumed_a_role_through_statements_is_not_reported_as_ended_by_the_cloud_alone() {
    // A policy of before `assume-role-statement`: the role's statements
    // allow sts:AssumeRole, whose session no fence ended and which could
    // live 12 h past the window. The audit must say so, not just "lag 0".
    let repo = GitRepo::policy_only("2026-11-20T09:00:00Z");
    let policy = std::fs::read_to_string(repo.path.join("gitgrant.yaml")).unwrap();
    let old = policy.replace(
        "      assume_roles: [arn:aws:iam::111111111111:role/ProdReadOnly]\n",
        "      statements:\n        - { effect: Allow, actions: [\"sts:AssumeRole\"], resources: [\"arn:aws:iam::111111111111:role/ProdReadOnly\"] }\n",
    );
    assert_ne!(policy, old);
    repo.commit(
        &[("gitgrant.yaml", Some(&old))],
        "Policy: prod-readonly through a statement (#2)",
        "2026-11-20T10:00:00Z",
    );
    let grant = grant_yaml("bob", "prod-readonly", "duration: 2h");
    repo.pull_request(
        3,
        &[(BOB, Some(&grant))],
        "2026-11-21T08:00:00Z",
        "2026-11-21T09:00:00Z",
    );
    expire(&repo.path, "2026-11-21T11:05:00Z");
    let json = audit_json(&repo.path, "2026-11-22T00:00:00Z", &[]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let revocation = &v["lifecycles"][0]["revocation"];
    assert_eq!(
        revocation["unfenced"],
        serde_json::json!(["arn:aws:iam::111111111111:role/ProdReadOnly"]),
        "{json}"
    );
    assert_eq!(v["revocation"]["unfenced"], 1, "{json}");
    let text = run_ok(&["audit", "--now", "2026-11-22T00:00:00Z"], &repo.path);
    assert!(text.contains("1 with unfenced role sessions"), "{text}");
}

#[test]
fn the_audit_reads_the_same_with_gits_commit_graph_whole_or_stale() {
    // The walk takes ids, trees and times from git's commit-graph when
    // git wrote one (`git gc` does), and from the commits themselves for
    // those the graph does not list: the audit must not change.
    let repo = GitRepo::policy_only("2026-11-20T09:00:00Z");
    for (i, day) in ["21", "22", "23"].iter().enumerate() {
        repo.commit(
            &[(
                &format!("grants/prod-readonly/alice-{i}.yaml"),
                Some(&grant_yaml("alice", "prod-readonly", "duration: 2h")),
            )],
            &format!("alice {i} (#{})", i + 2),
            &format!("2026-11-{day}T10:00:00Z"),
        );
    }
    repo.commit(
        &[(
            BOB,
            Some(&grant_yaml("bob", "prod-readonly", "duration: 1h")),
        )],
        "bob (#9)",
        "2026-11-24T10:00:00Z",
    );
    let now = "2026-11-30T00:00:00Z";
    let without = audit_json(&repo.path, now, &[]);
    git(&repo.path, &["commit-graph", "write", "--reachable"], None);
    assert!(repo.path.join(".git/objects/info/commit-graph").exists());
    assert_eq!(audit_json(&repo.path, now, &[]), without);
    // Commits made after the graph was written are not in it.
    repo.commit(&[(BOB, None)], "Revoke bob (#10)", "2026-11-24T10:30:00Z");
    repo.commit(
        &[(
            "grants/prod-readonly/alice-9.yaml",
            Some(&grant_yaml("alice", "prod-readonly", "duration: 2h")),
        )],
        "alice 9 (#11)",
        "2026-11-25T10:00:00Z",
    );
    let stale = audit_json(&repo.path, now, &[]);
    std::fs::remove_file(repo.path.join(".git/objects/info/commit-graph")).unwrap();
    assert_eq!(stale, audit_json(&repo.path, now, &[]));
    assert!(stale.contains("prod-readonly/alice-9"), "{stale}");
}
