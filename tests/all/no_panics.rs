//! Bad input gets a rule id and exit 2, never a panic (exit 101): commit
//! dates at the ends of what git takes, leap seconds, byte-order marks,
//! control characters, huge flags, and a reader that leaves early. Each test
//! is named after what broke; the last one generates files and histories.

use std::path::Path;
use std::process::{Output, Stdio};

use proptest::prelude::*;
use serde_json::Value;

use crate::support::{GitRepo, copy_tree, fixtures, git, gitgrant, grant_yaml};

const GRANT: &str = "grants/prod-readonly/alice-1.yaml";
const NOW: &str = "2026-11-23T12:00:00Z";

/// `gitgrant ARGS --repo DIR`, whatever its exit code.
fn run(dir: &Path, args: &[&str]) -> Output {
    gitgrant()
        .args(args)
        .arg("--repo")
        .arg(dir)
        .output()
        .unwrap()
}

/// Asserts the exit code, showing stderr when it differs.
fn assert_exit(out: &Output, code: i32, what: &str) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "{what}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn assert_no_panic(out: &Output, what: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(101), "{what} panicked: {stderr}");
    assert!(!stderr.contains("panicked"), "{what}: {stderr}");
}

/// Exit code and JSON of a command that must not panic.
fn json(dir: &Path, args: &[&str]) -> (i32, Value) {
    let out = run(dir, args);
    assert_no_panic(&out, &format!("{args:?}"));
    let v = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{args:?} printed no JSON ({e}): {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().unwrap_or(-1), v)
}

fn rules(violations: &Value) -> Vec<&str> {
    violations
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["rule"].as_str().unwrap())
        .collect()
}

/// A repository whose one grant (`duration: 2h`) landed in a commit made
/// with `GIT_COMMITTER_DATE=date`.
fn landed_at(date: &str) -> GitRepo {
    let repo = GitRepo::policy_only("2026-11-20T09:00:00Z");
    let grant = grant_yaml("alice", "prod-readonly", "duration: 2h");
    repo.commit(&[(GRANT, Some(&grant))], "Grant alice (#2)", date);
    repo
}

/// Adds a commit on main with a committer time git's own commands refuse
/// to write (`seconds` may be negative), made as raw object text.
fn commit_dated(repo: &GitRepo, seconds: i64, message: &str) {
    git(&repo.path, &["add", "-A"], None);
    let tree = git(&repo.path, &["write-tree"], None);
    let text = format!(
        "tree {}\nparent {}\nauthor T <t@example.com> {seconds} +0000\ncommitter T <t@example.com> {seconds} +0000\n\n{message}\n",
        tree.trim(),
        repo.head()
    );
    let file = repo.dir.path().join("commit.txt");
    std::fs::write(&file, text).unwrap();
    let id = git(
        &repo.path,
        &[
            "hash-object",
            "-t",
            "commit",
            "-w",
            "--literally",
            file.to_str().unwrap(),
        ],
        None,
    );
    git(
        &repo.path,
        &["update-ref", "refs/heads/main", id.trim()],
        None,
    );
}

/// What the audit of `dir` says of its first lifecycle: the violations'
/// rule ids and the findings' rule ids.
fn audit_rules(dir: &Path) -> (Vec<String>, Vec<String>) {
    let (code, v) = json(dir, &["audit", "--format", "json", "--now", NOW]);
    assert_eq!(code, 0, "{v:#}");
    let ids = |a: &Value| {
        a.as_array()
            .unwrap()
            .iter()
            .map(|x| x["rule"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    (ids(&v["lifecycles"][0]["violations"]), ids(&v["findings"]))
}

/// The grant in `dir` is invalid for its landing time, the audit says so,
/// and expire leaves it alone: its window is unknown, not ended.
fn assert_landing_out_of_range(dir: &Path, what: &str) {
    let (violations, findings) = audit_rules(dir);
    assert!(
        violations.contains(&"landing-time-out-of-range".to_string()),
        "{what}: {violations:?}"
    );
    assert!(
        findings.contains(&"invalid-grant".to_string()),
        "{what}: {findings:?}"
    );
    let args = ["expire", "--dry-run", "--format", "json", "--now", NOW];
    let (code, v) = json(dir, &args);
    assert_eq!(code, 0, "{what}: {v:#}");
    assert_eq!(v["removals"], serde_json::json!([]), "{what}");
}

#[test]
fn a_landing_commit_dated_at_the_end_of_time_is_an_invalid_grant_not_a_panic() {
    // chrono's last second, the largest date `git fsck --strict` passes,
    // one far past chrono's calendar, and 9999-12-31T23:59:59Z, whose 2h
    // window IAM could not write.
    for date in [
        "@8210266876799 +0000",
        "@9223372036854775807 +0000",
        "@99999999999999 +0000",
        "@253402300799 +0000",
    ] {
        let repo = landed_at(date);
        assert_landing_out_of_range(&repo.path, date);
        for format in ["table", "csv", "markdown"] {
            let out = run(&repo.path, &["audit", "--format", format, "--now", NOW]);
            assert_no_panic(&out, &format!("audit --format {format} ({date})"));
            assert_exit(&out, 0, format);
        }
        let out = run(&repo.path, &["audit", "--at", NOW]);
        assert_no_panic(&out, &format!("audit --at ({date})"));

        // The history keeps the commit after the file is gone.
        repo.commit(&[(GRANT, None)], "Revoke (#3)", "2026-11-23T11:00:00Z");
        let (_, findings) = audit_rules(&repo.path);
        assert!(
            findings.contains(&"invalid-grant".to_string()),
            "{date}: {findings:?}"
        );
    }
}

#[test]
fn a_landing_commit_dated_before_the_calendar_is_an_invalid_grant_not_a_panic() {
    let repo = GitRepo::policy_only("2026-11-20T09:00:00Z");
    let grant = grant_yaml("alice", "prod-readonly", "duration: 2h");
    std::fs::create_dir_all(repo.path.join("grants/prod-readonly")).unwrap();
    std::fs::write(repo.path.join(GRANT), grant).unwrap();
    commit_dated(&repo, -99_999_999_999_999, "Grant alice (#2)");
    assert_landing_out_of_range(&repo.path, "far before year 0");
}

#[test]
fn a_late_after_longer_than_the_calendar_is_never_late_and_does_not_panic() {
    let repo = landed_at("2026-11-23T09:00:00Z");
    let (code, v) = json(
        &repo.path,
        &[
            "audit",
            "--format",
            "json",
            "--now",
            "2026-12-23T00:00:00Z",
            "--late-after",
            "99999999d",
        ],
    );
    assert_eq!(code, 0);
    assert_eq!(v["findings"], serde_json::json!([]), "{v:#}");
    // Without the flag, the same grant is a late removal.
    let (_, v) = json(
        &repo.path,
        &["audit", "--format", "json", "--now", "2026-12-23T00:00:00Z"],
    );
    assert!(v["findings"].to_string().contains("late-removal"), "{v:#}");
}

/// A working tree with the base policy and one grant file of `text`.
fn tree_with_grant(text: &[u8]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        fixtures().join("base/gitgrant.yaml"),
        dir.path().join("gitgrant.yaml"),
    )
    .unwrap();
    std::fs::create_dir_all(dir.path().join("grants/prod-readonly")).unwrap();
    std::fs::write(dir.path().join(GRANT), text).unwrap();
    dir
}

#[test]
fn a_leap_second_is_refused_because_iam_refuses_it() {
    let dir = tree_with_grant(
        b"subject: alice\nrole: prod-readonly\nreason: x\nstarts: 2026-11-23T11:00:00Z\nexpires: 2026-11-23T13:59:60Z\n",
    );
    let (code, v) = json(dir.path(), &["validate", "--format", "json", "--now", NOW]);
    assert_eq!(code, 2, "{v:#}");
    assert_eq!(rules(&v["violations"]), ["invalid-time"]);
    let violation = &v["violations"][0];
    assert_eq!(
        (&violation["line"], &violation["col"]),
        (&5.into(), &10.into())
    );
    assert!(
        violation["help"].as_str().unwrap().contains("second 60"),
        "{violation}"
    );

    let out = run(dir.path(), &["validate", "--now", "2026-11-22T23:59:60Z"]);
    assert_no_panic(&out, "--now with a leap second");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("leap second"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_byte_order_mark_validates_like_the_same_file_without_it() {
    for text in [
        // Valid.
        "subject: alice\nrole: prod-readonly\nreason: x\nduration: 2h\n",
        // With a violation on the first line, where the mark is.
        "subject: zed\nrole: prod-readonly\nreason: x\nduration: 2h\n",
        // A serde error.
        "role: prod-readonly\nreason: x\nduration: 2h\n",
    ] {
        let plain = tree_with_grant(text.as_bytes());
        let marked = tree_with_grant(format!("\u{feff}{text}").as_bytes());
        let args = ["validate", "--format", "json", "--now", NOW];
        let (a, b) = (json(plain.path(), &args), json(marked.path(), &args));
        assert_eq!(a, b, "{text}");
        // People see the same lines and columns.
        let human =
            |d: &Path| String::from_utf8(run(d, &["validate", "--now", NOW]).stdout).unwrap();
        assert_eq!(human(plain.path()), human(marked.path()), "{text}");
    }
}

#[test]
fn control_characters_in_reasons_and_commit_messages_are_shown_not_run() {
    let repo = GitRepo::policy_only("2026-11-20T09:00:00Z");
    let grant = "subject: alice\nrole: prod-readonly\nreason: \"owned \\e[2J\\e]0;pwned\\a \\u009b31m\"\nticket: \"T\\r-1\"\nduration: 2h\n";
    repo.commit(
        &[(GRANT, Some(grant))],
        "Grant \x1b[31malice\x1b[0m\rhidden",
        "2026-11-23T09:00:00Z",
    );
    for format in ["table", "markdown", "csv"] {
        let out = run(&repo.path, &["audit", "--format", format, "--now", NOW]);
        assert_no_panic(&out, format);
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(
            !text.chars().any(|c| c.is_control() && c != '\n'),
            "{format}: {text:?}"
        );
        // The table shows no reason, and cuts findings to its width.
        if format != "table" {
            assert!(text.contains("u{1b}"), "{format}: {text}");
        }
        // Every lifecycle is one line.
        if format == "csv" {
            assert_eq!(text.lines().count(), 2, "{text}");
        }
    }

    // New grant files may not hold them at all.
    let dir = tree_with_grant(grant.as_bytes());
    let (code, v) = json(dir.path(), &["validate", "--format", "json", "--now", NOW]);
    assert_eq!(code, 2);
    assert_eq!(
        rules(&v["violations"]),
        ["control-character", "control-character"],
        "{v:#}"
    );
    let out = run(dir.path(), &["validate", "--now", NOW]);
    assert!(!String::from_utf8_lossy(&out.stdout).contains('\x1b'));
}

/// Runs `gitgrant ARGS --repo DIR` with a stdout pipe whose reading end is
/// closed before it starts, so every write fails with a broken pipe.
fn run_with_stdout_closed(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    // assert_cmd takes no stdout of ours: the binary as support runs it.
    let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("gitgrant"));
    for var in [
        "GITGRANT_REPO",
        "GITGRANT_BRANCH",
        "GITHUB_STEP_SUMMARY",
        "GITGRANT_LOG",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("NO_COLOR", "1")
        .args(args)
        .arg("--repo")
        .arg(dir)
        .envs(env.iter().copied())
        .stdout(writer)
        .stderr(Stdio::piped());
    cmd.output().unwrap()
}

#[test]
fn a_reader_that_leaves_early_ends_the_output_quietly() {
    let repo = landed_at("2026-11-23T09:00:00Z");
    for args in [
        &["validate", "--now", NOW][..],
        &["validate", "--format", "json", "--now", NOW],
        &["audit", "--now", NOW],
        &["audit", "--format", "json", "--now", NOW],
        &["audit", "--format", "markdown", "--now", NOW],
        &["expire", "--dry-run", "--now", NOW],
        &["completions", "bash"],
    ] {
        let open = run(&repo.path, args);
        let closed = run_with_stdout_closed(&repo.path, args, &[]);
        assert_no_panic(&closed, &format!("{args:?}"));
        let stderr = String::from_utf8_lossy(&closed.stderr);
        assert!(stderr.is_empty(), "{args:?}: {stderr}");
        assert_eq!(closed.status.code(), open.status.code(), "{args:?}");
    }
    // An invalid tree keeps its exit code too.
    let dir = tree_with_grant(b"subject: zed\n");
    let closed = run_with_stdout_closed(dir.path(), &["validate", "--now", NOW], &[]);
    assert_no_panic(&closed, "validate of an invalid tree");
    assert_eq!(closed.status.code(), Some(2));
}

// ---------------------------------------------------------------------------
// Generated input

/// Grant file texts: random bytes, and near-valid YAML with odd times,
/// offsets, durations and text.
fn grant_text() -> impl Strategy<Value = Vec<u8>> {
    let time = prop_oneof![
        Just("2026-11-23T10:00:00Z".to_string()),
        Just("2026-11-22T23:59:60Z".to_string()),
        Just("9999-12-31T23:59:59-23:59".to_string()),
        Just("0000-01-01T00:00:00+23:59".to_string()),
        Just("2026-11-23T10:00:00.999999999Z".to_string()),
        Just("2026-11-23T10:00:00".to_string()),
        Just("+262143-01-01T00:00:00Z".to_string()),
        (
            0u32..10_000,
            1u32..13,
            1u32..29,
            0u32..24,
            0u32..61,
            -1439i32..1440
        )
            .prop_map(|(y, mo, d, h, s, off)| format!(
                "{y:04}-{mo:02}-{d:02}T{h:02}:00:{s:02}{}{:02}:{:02}",
                if off < 0 { '-' } else { '+' },
                off.abs() / 60,
                off.abs() % 60
            )),
    ];
    let duration = prop_oneof![
        Just("2h".to_string()),
        Just("99999999d".to_string()),
        Just("999999999999d23h59m".to_string()),
        Just("0m".to_string()),
        "[0-9]{1,14}[dhm]",
    ];
    let text = prop_oneof![
        Just("x".to_string()),
        "\\PC{0,40}",
        "[\\x00-\\x1f\\x7f\u{80}-\u{9f}\u{202e}a]{1,8}",
        Just("y".repeat(70_000)),
    ];
    let yaml = (
        any::<bool>(),
        text.clone(),
        prop_oneof![Just(None), text.prop_map(Some)],
        prop_oneof![
            duration.prop_map(|d| format!("duration: {d}\n")),
            (time.clone(), time).prop_map(|(s, e)| format!("starts: {s}\nexpires: {e}\n")),
            Just("duration: 2h\nexpires: 2026-11-23T10:00:00Z\n".to_string()),
            Just(String::new()),
        ],
    )
        .prop_map(|(bom, reason, ticket, timing)| {
            let mut s = String::new();
            if bom {
                s.push('\u{feff}');
            }
            s.push_str("subject: alice\nrole: prod-readonly\n");
            s.push_str(&format!(
                "reason: {}\n",
                serde_json::to_string(&reason).unwrap()
            ));
            if let Some(t) = ticket {
                s.push_str(&format!("ticket: {}\n", serde_json::to_string(&t).unwrap()));
            }
            s.push_str(&timing);
            s.into_bytes()
        });
    prop_oneof![
        1 => proptest::collection::vec(any::<u8>(), 0..200),
        1 => "\\PC{0,120}".prop_map(String::into_bytes),
        6 => yaml,
    ]
}

/// Committer times at the extremes of what git (and chrono) take.
fn commit_time() -> impl Strategy<Value = i64> {
    prop_oneof![
        Just(1_795_424_400),
        Just(0),
        Just(253_402_300_799),
        Just(8_210_266_876_799),
        Just(8_210_266_876_800),
        Just(i64::MAX),
        Just(-8_334_601_228_800),
        Just(-1),
        any::<i64>(),
    ]
}

/// A copy of one repository holding only the base policy: made once, so
/// that each case spends its time in gitgrant rather than in `git init`.
fn policy_repo() -> GitRepo {
    static TEMPLATE: std::sync::OnceLock<GitRepo> = std::sync::OnceLock::new();
    let template = TEMPLATE.get_or_init(|| GitRepo::policy_only("2026-11-20T09:00:00Z"));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("work");
    copy_tree(&template.path, &path);
    GitRepo { dir, path }
}

/// The commands that need no AWS, run on one generated repository: each
/// case runs one output format of `validate` and of `audit` (the cases
/// cover them all), to stay within a minute.
fn commands(format: usize) -> Vec<Vec<&'static str>> {
    let validate = ["human", "json", "github"][format % 3];
    let audit = ["table", "json", "csv", "markdown", "html"][format % 5];
    vec![
        vec!["validate", "--format", validate, "--now", NOW],
        vec!["audit", "--format", audit, "--now", NOW],
        vec![
            "audit",
            "--at",
            "9999-12-31T23:59:59Z",
            "--late-after",
            "99999999d",
        ],
        vec!["expire", "--dry-run", "--now", NOW],
        vec!["codeowners", "--check"],
        vec!["portal", "--check"],
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn no_generated_grant_file_or_history_makes_a_command_panic(
        landed in grant_text(),
        edited in grant_text(),
        times in (commit_time(), commit_time()),
        format in 0usize..12,
    ) {
        let repo = policy_repo();
        std::fs::create_dir_all(repo.path.join("grants/prod-readonly")).unwrap();
        std::fs::write(repo.path.join(GRANT), &landed).unwrap();
        commit_dated(&repo, times.0, "Grant alice (#2)");
        std::fs::write(repo.path.join(GRANT), &edited).unwrap();
        commit_dated(&repo, times.1, "Edit \x1b[2J (#3)");
        for args in commands(format) {
            let out = run(&repo.path, &args);
            let stderr = String::from_utf8_lossy(&out.stderr);
            prop_assert_ne!(out.status.code(), Some(101), "{:?}: {}", args, stderr);
            prop_assert!(!stderr.contains("panicked"), "{:?}: {}", args, stderr);
        }
    }
}

// ---------------------------------------------------------------------------
// Against moto

mod aws {
    use super::*;
    use crate::moto::{moto, policies};
    use crate::reconcile::{PATH, aws_cmd, setup};

    const RO: &str = "grants/ro/alice-1.yaml";

    /// `gitgrant ARGS --repo DIR` against moto at `url`.
    fn aws_run(url: &str, dir: &Path, args: &[&str]) -> Output {
        aws_cmd(url)
            .args(args)
            .arg("--repo")
            .arg(dir)
            .output()
            .unwrap()
    }

    #[test]
    fn a_plan_over_a_grant_landed_at_the_end_of_time_applies_nothing_and_does_not_panic() {
        let m = moto();
        let (repo, iam) = setup(&m);
        let grant = grant_yaml("alice", "ro", "duration: 2h");
        repo.commit(
            &[(RO, Some(&grant))],
            "Grant alice (#2)",
            "@8210266876799 +0000",
        );
        for command in ["plan", "reconcile"] {
            let out = aws_run(
                &m.url,
                &repo.path,
                &[command, "--now", NOW, "--format", "json"],
            );
            assert_no_panic(&out, command);
            assert_exit(&out, 2, command);
            let v: Value = serde_json::from_slice(&out.stdout).unwrap();
            assert!(
                v["invalid"]
                    .to_string()
                    .contains("landing-time-out-of-range"),
                "{command}: {v:#}"
            );
        }
        assert!(policies(&iam, PATH).is_empty());
    }

    #[test]
    fn a_window_in_fractions_of_a_second_is_enforced_inward_by_iam() {
        let m = moto();
        let (repo, iam) = setup(&m);
        let grant = grant_yaml(
            "alice",
            "ro",
            "starts: 2026-11-23T10:00:00.5Z\nexpires: 2026-11-23T11:59:59.5Z",
        );
        repo.pull_request(
            2,
            &[(RO, Some(&grant))],
            "2026-11-23T09:00:00Z",
            "2026-11-23T09:30:00Z",
        );
        let out = aws_run(
            &m.url,
            &repo.path,
            &["reconcile", "--now", "2026-11-23T11:00:00Z"],
        );
        assert_exit(&out, 0, "reconcile");
        let applied = policies(&iam, PATH);
        assert_eq!(applied.len(), 1);
        // Every statement that grants carries the window (a deny guarding
        // gitgrant's own policies needs none).
        let granting: Vec<&Value> = applied[0].document["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["Effect"] == "Allow")
            .collect();
        assert!(!granting.is_empty());
        for s in granting {
            let c = &s["Condition"];
            assert_eq!(
                c["DateGreaterThan"]["aws:CurrentTime"], "2026-11-23T10:00:01Z",
                "{s}"
            );
            assert_eq!(
                c["DateLessThan"]["aws:CurrentTime"], "2026-11-23T11:59:59Z",
                "{s}"
            );
        }
    }

    #[test]
    fn a_reconcile_whose_reader_left_still_writes_its_step_summary_and_exit_code() {
        let m = moto();
        let (repo, iam) = setup(&m);
        repo.land_grants(2, 1, &[("alice", "ro", "duration: 1h")]);
        let summary = repo.dir.path().join("summary.md");
        let out = run_with_stdout_closed(
            &repo.path,
            &["reconcile", "--now", "2026-11-23T10:30:00Z"],
            &[
                ("AWS_ENDPOINT_URL", m.url.as_str()),
                ("AWS_ACCESS_KEY_ID", "testing"),
                ("AWS_SECRET_ACCESS_KEY", "testing"),
                ("AWS_REGION", "us-east-1"),
                ("GITHUB_STEP_SUMMARY", summary.to_str().unwrap()),
            ],
        );
        assert_no_panic(&out, "reconcile");
        assert_exit(&out, 0, "reconcile");
        let text = std::fs::read_to_string(&summary).unwrap();
        assert!(text.contains("Applied 1 of 1 changes."), "{text}");
        assert_eq!(policies(&iam, PATH).len(), 1);
    }
}
