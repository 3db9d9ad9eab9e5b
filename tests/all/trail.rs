//! The trail in git (issue 15): evidence notes on landing commits, the
//! removal commit's approval trailers, an audit that reads them with no
//! network, and a reconciler that never takes a note's word for anything.
//! The real binary, the GitHub fake over a real bare repository, moto.

use serde_json::{Value, json};

use crate::github::{Flow, aws, flow_from, text, users_of};
use crate::support::{git, gitgrant, grant_yaml};

const RO_ALICE: &str = "grants/ro/alice-1.yaml";

/// The evidence note on `commit` in the bare remote, as JSON.
fn note(f: &Flow, commit: &str) -> Option<Value> {
    let out = std::process::Command::new("git")
        .args(["notes", "--ref", "gitgrant", "show", commit])
        .current_dir(&f.bare)
        .output()
        .unwrap();
    // The note's JSON, without the signature after it.
    let text = String::from_utf8(out.stdout).unwrap();
    let json = text.split("-----BEGIN SSH SIGNATURE-----").next().unwrap();
    out.status
        .success()
        .then(|| serde_json::from_str(json).unwrap())
}

/// alice's 2h read-only grant, approved by carol and merged at 09:00;
/// returns the landing (merge) commit.
fn approved_grant(f: &Flow) -> String {
    let n = f.grant_pr("alice", "a", "alice", "ro", "2h");
    f.fake.review(n, "carol", "APPROVED");
    f.merge(n, "2026-11-23T09:00:00Z")
}

/// `gitgrant audit --format json` of `dir`'s `branch`, with GitHub
/// unreachable (nothing listens on the API URL).
fn offline_audit(dir: &std::path::Path, branch: &str, extra: &[&str]) -> Value {
    let out = gitgrant()
        .env("GITHUB_API_URL", "http://127.0.0.1:9/")
        .env("GITHUB_TOKEN", "unused")
        .args(["audit", "--format", "json", "--branch", branch])
        .args(["--now", "2026-11-23T12:00:00Z"])
        .args(extra)
        .arg("--repo")
        .arg(dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn the_reconciler_records_its_evidence_in_a_note_and_the_removal_trailers() {
    let (m, client) = aws();
    let f = flow_from("github-access");
    let landing = approved_grant(&f);
    let (code, json) = f.reconcile(&m, "2026-11-23T09:30:00Z", &[]);
    assert_eq!(code, 0, "{json:#}");
    assert_eq!(users_of(&client), [["alice"]]);

    // The note, written through the Git Data API onto the landing commit.
    let n = note(&f, &landing).expect("a note on the landing commit");
    // A note says its format's version: 1, never the 0 of an empty note.
    assert_eq!(n["version"], 1, "{n:#}");
    let r = &n["grants"][RO_ALICE];
    assert_eq!(r["grant"], "ro/alice-1", "{n:#}");
    assert_eq!(r["pull_request"], 1);
    assert_eq!(r["head"], f.fake.head_sha(1));
    assert_eq!(r["approved"]["by"], "reviews");
    assert_eq!(r["approved"]["approvals"][0]["reviewer"], "carol");
    assert!(r["approved"]["approvals"][0]["review_id"].is_u64(), "{n:#}");
    assert_eq!(r["verified_at"], "2026-11-23T09:30:00Z");

    // Nothing new: no GitHub request at all, and the note is not rewritten.
    let notes_tip = git(&f.bare, &["rev-parse", "refs/notes/gitgrant"], None);
    let (code, json) = f.reconcile(&m, "2026-11-23T10:00:00Z", &[]);
    assert_eq!(code, 0, "{json:#}");
    assert_eq!(json["github_calls"], json!([0, 0, 0]), "{json:#}");
    assert_eq!(
        git(&f.bare, &["rev-parse", "refs/notes/gitgrant"], None),
        notes_tip
    );

    // The removal commit repeats the evidence on the protected branch.
    let (code, json) = f.reconcile(&m, "2026-11-23T11:30:00Z", &[]);
    assert_eq!(code, 0, "{json:#}");
    let removal = git(&f.bare, &["log", "-1", "--format=%B", "main"], None);
    assert!(
        removal.contains("Gitgrant-Approved-By: carol\n"),
        "{removal}"
    );
    assert!(removal.contains("Gitgrant-Pull-Request: #1\n"), "{removal}");
}

#[test]
fn a_clone_audits_every_approver_with_github_unreachable() {
    let (m, _client) = aws();
    let f = flow_from("github-access");
    approved_grant(&f);
    // Bob's grant lands later and is still active at the audit.
    let n = f.grant_pr("bob", "b", "bob", "ro", "4h");
    f.fake.review(n, "dave", "APPROVED");
    f.merge(n, "2026-11-23T09:10:00Z");
    let (code, json) = f.reconcile(&m, "2026-11-23T09:30:00Z", &[]);
    assert_eq!(code, 0, "{json:#}");
    let (code, json) = f.reconcile(&m, "2026-11-23T11:30:00Z", &[]);
    assert_eq!(code, 0, "{json:#}");

    let dir = tempfile::tempdir().unwrap();
    let clone = dir.path().join("clone");
    git(
        dir.path(),
        &["clone", "-q", f.bare.to_str().unwrap(), "clone"],
        None,
    );
    // A plain clone has no notes: the ended grant's approver comes from its
    // removal commit; the active one's is unknown.
    let audit = offline_audit(&clone, "origin/main", &[]);
    let by = |a: &Value, id: &str| {
        let l = a["lifecycles"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["id"] == id)
            .unwrap()
            .clone();
        (l["approved_by"].clone(), l["approved_by_source"].clone())
    };
    assert_eq!(by(&audit, "ro/alice-1"), (json!("carol"), json!("trailer")));
    assert_eq!(by(&audit, "ro/bob-1"), (Value::Null, Value::Null));
    // With the notes fetched, every approver is there.
    git(
        &clone,
        &[
            "fetch",
            "-q",
            "origin",
            "refs/notes/gitgrant:refs/notes/gitgrant",
        ],
        None,
    );
    let audit = offline_audit(&clone, "origin/main", &[]);
    assert_eq!(by(&audit, "ro/alice-1"), (json!("carol"), json!("note")));
    assert_eq!(by(&audit, "ro/bob-1"), (json!("dave"), json!("note")));
    let table = gitgrant()
        .args(["audit", "--format", "markdown", "--branch", "origin/main"])
        .args(["--now", "2026-11-23T12:00:00Z"])
        .arg("--repo")
        .arg(&clone)
        .output()
        .unwrap();
    assert!(
        text(&table).contains("#2, approved by dave"),
        "{}",
        text(&table)
    );
}

/// Replaces the note on `commit` in the bare remote, as anyone who may
/// push could.
fn forge_note(f: &Flow, commit: &str, path: &str, grant: &str, reviewer: &str) {
    let forged = json!({
        "version": 1,
        "grants": { path: {
            "grant": grant, "pull_request": 1,
            "approved": { "by": "reviews", "approvals": [{ "reviewer": reviewer }] },
            "verified_at": "2026-11-23T09:00:00Z", "run": "local"
        } }
    });
    crate::support::put_note(&f.bare, commit, &forged.to_string());
}

#[test]
fn a_forged_note_is_not_the_audits_approver_offline_or_online() {
    let (m, _client) = aws();
    let f = flow_from("github-access");
    let landing = approved_grant(&f);
    let (code, json) = f.reconcile(&m, "2026-11-23T09:30:00Z", &[]);
    assert_eq!(code, 0, "{json:#}");
    forge_note(&f, &landing, RO_ALICE, "ro/alice-1", "mallory");
    git(
        f.work(),
        &[
            "fetch",
            "-q",
            "origin",
            "+refs/notes/gitgrant:refs/notes/gitgrant",
        ],
        None,
    );
    // The forged note replaced the reconciler's signed one: offline, no
    // approver is believed and the note is reported.
    let offline = offline_audit(f.work(), "origin/main", &[]);
    assert_eq!(offline["lifecycles"][0]["approved_by"], Value::Null);
    let unverified = |a: &Value| -> Vec<String> {
        a["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|x| x["rule"] == "unverified-evidence")
            .map(|x| x["message"].as_str().unwrap().to_string())
            .collect()
    };
    let found = unverified(&offline);
    assert_eq!(found.len(), 1, "{offline:#}");
    assert!(found[0].contains("says mallory approved it"), "{found:?}");
    // GitHub gives the real approver.
    let audit = f.audit_github("2026-11-23T10:00:00Z");
    assert_eq!(audit["lifecycles"][0]["approved_by"], "carol", "{audit:#}");
    assert_eq!(unverified(&audit).len(), 1, "{audit:#}");
}

#[test]
fn a_forged_note_does_not_get_an_unapproved_grant_applied() {
    let (m, client) = aws();
    let f = flow_from("github-access");
    // Pushed straight to main, with a note claiming carol approved it.
    let landing = f.push_main(
        &[(RO_ALICE, Some(&grant_yaml("alice", "ro", "duration: 2h")))],
        "2026-11-23T09:00:00Z",
    );
    forge_note(&f, &landing, RO_ALICE, "ro/alice-1", "carol");
    let (code, json) = f.reconcile(&m, "2026-11-23T09:30:00Z", &[]);
    assert_eq!(code, 1, "{json:#}");
    assert!(users_of(&client).is_empty(), "nothing applied: {json:#}");
    assert!(
        json["plan"]["refused"][0]["why"]
            .as_str()
            .unwrap()
            .contains("without a merged pull request"),
        "{json:#}"
    );
}

#[test]
fn push_mode_pushes_the_notes_with_the_removals() {
    let (m, client) = aws();
    let f = flow_from("github-access");
    let landing = approved_grant(&f);
    let (code, json) = f.reconcile(
        &m,
        "2026-11-23T09:30:00Z",
        &["--removal", "git", "--push", "origin"],
    );
    assert_eq!(code, 0, "{json:#}");
    assert_eq!(users_of(&client), [["alice"]]);
    let n = note(&f, &landing).expect("the note was pushed");
    assert_eq!(
        n["grants"][RO_ALICE]["approved"]["approvals"][0]["reviewer"],
        "carol"
    );
    let (code, json) = f.reconcile(
        &m,
        "2026-11-23T11:30:00Z",
        &["--removal", "git", "--push", "origin"],
    );
    assert_eq!(code, 0, "{json:#}");
    let removal = git(&f.bare, &["log", "-1", "--format=%B", "main"], None);
    assert!(
        removal.contains("Gitgrant-Approved-By: carol\n"),
        "{removal}"
    );
    // Committed here and pushed: signed all the same.
    assert!(git_verifies(&f, &removal_commit(&f)));
}

#[test]
fn notes_fetch_from_a_remote_without_notes_is_nothing_and_push_creates_them() {
    let repo = crate::support::GitRepo::policy_only("2026-11-20T09:00:00Z");
    let bare = repo.with_bare_remote();
    let r = gitgrant::git::Repo::open(&repo.path).unwrap();
    let now = chrono::Utc::now();
    assert_eq!(
        r.fetch_notes("origin", now, Default::default()).unwrap(),
        None
    );
    let tip = r.resolve("HEAD").unwrap();
    let record = gitgrant::git::notes::Record {
        grant: "ro/alice-1".into(),
        pull_request: Some(3),
        head: None,
        approved: gitgrant::git::notes::Approved::Rule {
            rule: "on-call".into(),
            history: None,
        },
        verified_at: now,
        run: "local".into(),
    };
    let write = |record: &gitgrant::git::notes::Record| {
        let batch = gitgrant::git::notes::batch(
            &[(tip, "grants/ro/alice-1.yaml".into(), record.clone())],
            &[],
            now,
        );
        !r.write_notes(batch, now, Default::default())
            .unwrap()
            .is_empty()
    };
    assert!(write(&record));
    // The same record again writes nothing.
    assert!(!write(&record));
    // Another approval replaces it; the same one again (a later run's
    // verification) does not.
    let later = gitgrant::git::notes::Record {
        verified_at: now + chrono::TimeDelta::hours(1),
        ..record.clone()
    };
    assert!(!write(&later), "the first verification stays");
    let by_reviews = gitgrant::git::notes::Record {
        approved: gitgrant::git::notes::Approved::Reviews { approvals: vec![] },
        ..record.clone()
    };
    assert!(
        write(&by_reviews),
        "a record of another approval replaces it"
    );
    assert!(write(&record));
    r.push_notes("origin", now, Default::default()).unwrap();
    let pushed = git(
        &bare,
        &["notes", "--ref", "gitgrant", "show", &tip.to_string()],
        None,
    );
    assert!(pushed.contains("\"rule\": \"on-call\""), "{pushed}");
}

/// The commit on GitHub's main that removed `path`.
fn removal_commit(f: &Flow) -> String {
    git(&f.bare, &["rev-parse", "main"], None)
        .trim()
        .to_string()
}

/// `git verify-commit` of `commit` in the bare remote, with the allowed
/// signers of the fixture: plain git, as an auditor would run it.
fn git_verifies(f: &Flow, commit: &str) -> bool {
    let signers = crate::support::fixtures().join("github-access/.github/allowed_signers");
    let out = std::process::Command::new("git")
        .arg("-c")
        .arg(format!("gpg.ssh.allowedSignersFile={}", signers.display()))
        .args(["verify-commit", "--raw", commit])
        .current_dir(&f.bare)
        .output()
        .unwrap();
    eprintln!("git verify-commit {commit}: {}", text(&out));
    out.status.success()
}

#[test]
fn a_forged_note_before_expiry_is_not_copied_into_the_removal_commit() {
    let (m, _client) = aws();
    let f = flow_from("github-access");
    let landing = approved_grant(&f);
    let (code, json) = f.reconcile(&m, "2026-11-23T09:30:00Z", &[]);
    assert_eq!(code, 0, "{json:#}");
    // Before expiry, someone with push access replaces the reconciler's
    // signed note with one that names mallory.
    forge_note(&f, &landing, RO_ALICE, "ro/alice-1", "mallory");
    // The next run starts from a fresh checkout, as in Actions: no notes
    // but the remote's.
    git(f.work(), &["update-ref", "-d", "refs/notes/gitgrant"], None);
    let (code, json) = f.reconcile(&m, "2026-11-23T11:30:00Z", &[]);
    assert_eq!(code, 0, "{json:#}");
    let removal = git(&f.bare, &["log", "-1", "--format=%B", "main"], None);
    assert!(
        removal.contains("Gitgrant-Grant: ro/alice-1\n"),
        "{removal}"
    );
    assert!(!removal.contains("mallory"), "{removal}");
    assert!(!removal.contains("Gitgrant-Approved-By"), "{removal}");
    // The removal is the reconciler's: signed, as plain git can check.
    assert!(git_verifies(&f, &removal_commit(&f)));
}

#[test]
fn the_reconcilers_removal_is_signed_and_believed_and_a_key_not_allowed_is_not() {
    let (m, _client) = aws();
    let f = flow_from("github-access");
    approved_grant(&f);
    assert_eq!(f.reconcile(&m, "2026-11-23T09:30:00Z", &[]).0, 0);
    assert_eq!(f.reconcile(&m, "2026-11-23T11:30:00Z", &[]).0, 0);
    let signed = removal_commit(&f);
    assert!(git_verifies(&f, &signed));
    git(f.work(), &["fetch", "-q", "origin"], None);
    let audit = offline_audit(f.work(), "origin/main", &[]);
    let l = &audit["lifecycles"][0];
    assert_eq!(l["end"]["by_reconciler"], true, "{audit:#}");
    assert_eq!(l["end"]["reason"], "expired");
    assert_eq!(l["approved_by"], "carol", "{audit:#}");
    assert_eq!(audit["findings"], json!([]), "{audit:#}");

    // The same run with a key the allowed-signers file does not list
    // (mallory's): its removal reads as unverified, its trailers as claims.
    // (One moto per test: the first grant's policy is gone by now.)
    let m2 = &m;
    let g = flow_from("github-access");
    approved_grant(&g);
    let mallory = [(
        "GITGRANT_SIGNING_KEY".to_string(),
        crate::support::signing_key("mallory"),
    )];
    assert_eq!(
        g.reconcile_env(m2, "2026-11-23T09:30:00Z", &[], &mallory).0,
        0
    );
    assert_eq!(
        g.reconcile_env(m2, "2026-11-23T11:30:00Z", &[], &mallory).0,
        0
    );
    assert!(!git_verifies(&g, &removal_commit(&g)));
    git(g.work(), &["fetch", "-q", "origin"], None);
    let audit = offline_audit(g.work(), "origin/main", &[]);
    let l = &audit["lifecycles"][0];
    assert_eq!(l["end"]["by_reconciler"], false, "{audit:#}");
    assert_eq!(l["approved_by"], Value::Null, "{audit:#}");
    let rules: Vec<&Value> = audit["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| &x["rule"])
        .collect();
    assert!(rules.contains(&&json!("unverified-evidence")), "{audit:#}");
}

#[test]
fn a_merge_message_typed_with_removal_trailers_is_not_the_reconcilers_removal() {
    let (m, _client) = aws();
    let f = flow_from("github-access");
    approved_grant(&f);
    assert_eq!(f.reconcile(&m, "2026-11-23T09:30:00Z", &[]).0, 0);
    // 40 minutes in, the file is deleted by a commit whose message claims
    // to be the reconciler's: expired, revoked before it landed, approved
    // by mallory.
    sync(&f);
    f.repo.commit(
        &[(RO_ALICE, None)],
        "gitgrant: expire ro/alice-1\n\nAccess ended.\n\n\
         Gitgrant-Grant: ro/alice-1\nGitgrant-Reason: expired\n\
         Gitgrant-Revoked-At: 2026-11-23T08:00:00Z\nGitgrant-Approved-By: mallory\n",
        "2026-11-23T09:40:00Z",
    );
    git(f.work(), &["push", "-q", "origin", "main"], None);
    let audit = offline_audit(f.work(), "main", &[]);
    let l = &audit["lifecycles"][0];
    assert_eq!(l["end"]["by_reconciler"], false, "{audit:#}");
    assert_eq!(l["end"]["reason"], "revoked-early", "{audit:#}");
    assert_eq!(l["end"]["revoked_at"], "2026-11-23T09:40:00Z", "{audit:#}");
    assert_ne!(l["approved_by"], "mallory", "{audit:#}");
    let findings: Vec<(String, String)> = audit["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| {
            (
                x["rule"].as_str().unwrap().to_string(),
                x["message"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let of = |rule: &str| -> Vec<&String> {
        findings
            .iter()
            .filter(|(r, _)| r == rule)
            .map(|(_, m)| m)
            .collect()
    };
    assert_eq!(of("unverified-evidence").len(), 1, "{findings:?}");
    let implausible = of("implausible-removal");
    assert_eq!(implausible.len(), 2, "{findings:?}");
    assert!(
        implausible[0].contains(
            "says expired at 2026-11-23T09:40:00Z, before the window's end 2026-11-23T11:00:00Z"
        ),
        "{implausible:?}"
    );
    assert!(
        implausible[1].contains("says revoked at 2026-11-23T08:00:00Z, before the grant landed"),
        "{implausible:?}"
    );
}

/// The work tree's main at GitHub's.
fn sync(f: &Flow) {
    git(f.work(), &["fetch", "-q", "origin"], None);
    git(f.work(), &["reset", "-q", "--hard", "origin/main"], None);
}

/// A repository where bob's grant landed as pull request #2, with a note
/// on its landing commit, written by someone who may push, naming
/// `reviewer` as its approver.
fn forged_approver(reviewer: &str) -> crate::support::GitRepo {
    let repo = crate::support::GitRepo::policy_only("2026-11-20T09:00:00Z");
    let path = "grants/prod-readonly/bob-1.yaml";
    repo.pull_request(
        2,
        &[(
            path,
            Some(&grant_yaml("bob", "prod-readonly", "duration: 2h")),
        )],
        "2026-11-21T08:00:00Z",
        "2026-11-21T09:00:00Z",
    );
    let head = repo.head();
    let forged = json!({
        "version": 1,
        "commit": head,
        "grants": { path: {
            "grant": "prod-readonly/bob-1", "pull_request": 2,
            "approved": { "by": "reviews", "approvals": [{ "reviewer": reviewer }] },
            "verified_at": "2026-11-21T09:00:00Z", "run": "local"
        } }
    });
    // Signed with the reconciler's key by ssh-keygen itself, as if the text
    // had reached a record the reconciler vouches for: what renders it must
    // hold even then (an unsigned note is not shown as an approver at all).
    let text = format!("{forged}\n");
    let note = format!("{text}{}", ssh_sign(&text, "gitgrant"));
    git(
        &repo.path,
        &["notes", "--ref", "gitgrant", "add", "-m", &note, &head],
        None,
    );
    repo
}

/// `data` signed in `namespace` by `ssh-keygen -Y sign` with the fixtures'
/// reconciler key: the armoured signature.
fn ssh_sign(data: &str, namespace: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("key");
    std::fs::write(&key, crate::support::signing_key("reconciler")).unwrap();
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let file = dir.path().join("data");
    std::fs::write(&file, data).unwrap();
    let out = std::process::Command::new("ssh-keygen")
        .args(["-q", "-Y", "sign", "-n", namespace, "-f"])
        .arg(&key)
        .arg(&file)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    std::fs::read_to_string(dir.path().join("data.sig")).unwrap()
}

/// The `|` of `line` that GitHub reads as cell borders (not `\|`).
fn borders(line: &str) -> usize {
    let mut n = 0;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                chars.next();
            }
            '|' => n += 1,
            _ => {}
        }
    }
    n
}

#[test]
fn a_forged_note_cannot_add_rows_or_markup_to_the_markdown_audit() {
    let repo =
        forged_approver("carol | x | y\n| forged | row | <img src=x> [a](https://evil.example)");
    let md = crate::support::run_ok(
        &[
            "audit",
            "--format",
            "markdown",
            "--now",
            "2026-11-23T12:00:00Z",
        ],
        &repo.path,
    );
    let rows: Vec<&str> = md.lines().filter(|l| l.starts_with('|')).collect();
    assert_eq!(rows.len(), 3, "header, rule and bob's row only: {md}");
    assert!(rows.iter().all(|r| borders(r) == 10), "{md}");
    assert!(!md.contains("<img"), "{md}");
    assert!(!md.contains("[a](https"), "{md}");
    assert!(rows[2].contains("approved by carol"), "{md}");
}

#[test]
fn a_forged_note_cannot_put_a_formula_in_the_csv_audit() {
    let formula = "=HYPERLINK(\"https://evil.example\",\"carol\")";
    let repo = forged_approver(formula);
    let csv = crate::support::run_ok(
        &["audit", "--format", "csv", "--now", "2026-11-23T12:00:00Z"],
        &repo.path,
    );
    let mut reader = ::csv::Reader::from_reader(csv.as_bytes());
    let column = reader
        .headers()
        .unwrap()
        .iter()
        .position(|h| h == "approvers")
        .unwrap();
    let row = reader.records().next().unwrap().unwrap();
    assert_eq!(&row[column], format!("'{formula}"), "{csv}");
}
