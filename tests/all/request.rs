//! `gitgrant request` writes a grant that `gitgrant validate` accepts, and
//! writes nothing when the request could not pass.

use crate::support::{copy_tree, examples, gitgrant};

const NOW: &str = "2026-11-23T12:00:00Z";

fn repo() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_tree(&examples().join("access-repo"), dir.path());
    dir
}

#[test]
fn request_then_validate_round_trips_for_both_shapes() {
    let dir = repo();
    let requests: [&[&str]; 2] = [
        &[
            "request",
            "--no-pr",
            "prod-readonly",
            "--for",
            "2h",
            "--subject",
            "erin",
            "--reason",
            "INC-9: look at: the \"logs\"",
        ],
        &[
            "request",
            "--no-pr",
            "staging-vendor",
            "--subject",
            "dave",
            "--ticket",
            "VND-12",
            "--reason",
            "Pipeline fix",
            "--starts",
            "2026-11-24T09:00:00+01:00",
            "--expires",
            "2026-11-25T09:00:00+01:00",
        ],
    ];
    let mut paths = Vec::new();
    for args in requests {
        let out = gitgrant()
            .args(args)
            .args(["--now", NOW, "--repo"])
            .arg(dir.path())
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let path = String::from_utf8(out.stdout).unwrap().trim().to_string();
        let name = path.rsplit('/').next().unwrap();
        let subject = args[args.iter().position(|a| *a == "--subject").unwrap() + 1];
        // <subject>-<yyyymmdd>-<4 hex>.yaml
        let hex = name
            .strip_prefix(&format!("{subject}-20261123-"))
            .and_then(|rest| rest.strip_suffix(".yaml"))
            .unwrap_or_else(|| panic!("{path}"));
        assert!(
            hex.len() == 4 && hex.bytes().all(|b| b.is_ascii_hexdigit()),
            "{path}"
        );
        paths.push(path);
    }
    let out = gitgrant()
        .args(["validate", "--format", "json", "--now", NOW, "--repo"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let grants = json["grants"].as_array().unwrap();
    let erin = grants
        .iter()
        .find(|g| g["path"] == paths[0].as_str())
        .unwrap();
    assert_eq!(
        (erin["subject"].as_str(), erin["duration"].as_str()),
        (Some("erin"), Some("2h"))
    );
    let dave = grants
        .iter()
        .find(|g| g["path"] == paths[1].as_str())
        .unwrap();
    assert_eq!(dave["starts"], "2026-11-24T08:00:00Z");
    assert_eq!(dave["expires"], "2026-11-25T08:00:00Z");
    let text = std::fs::read_to_string(dir.path().join(&paths[0])).unwrap();
    assert!(
        text.starts_with("# yaml-language-server: $schema=../../schema/grant.schema.json\n"),
        "{text}"
    );
    assert!(
        text.contains("INC-9: look at: the \\\"logs\\\"")
            || text.contains("'INC-9: look at: the \"logs\"'"),
        "{text}"
    );
}

/// Runs a request that must be refused as invalid (exit 2); returns what it
/// printed on stdout and stderr together.
fn refused(dir: &std::path::Path, args: &[&str]) -> String {
    let out = gitgrant()
        .args(args)
        .args(["--now", NOW, "--repo"])
        .arg(dir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn a_request_that_would_not_validate_writes_nothing() {
    let dir = repo();
    let before = std::fs::read_dir(dir.path().join("grants/prod-readonly"))
        .unwrap()
        .count();
    // 9h is over prod-readonly's max_duration of 8h.
    let all = refused(
        dir.path(),
        &[
            "request",
            "--no-pr",
            "prod-readonly",
            "--for",
            "9h",
            "--subject",
            "erin",
            "--reason",
            "x",
        ],
    );
    assert!(all.contains("window-too-long"), "{all}");
    assert_eq!(
        std::fs::read_dir(dir.path().join("grants/prod-readonly"))
            .unwrap()
            .count(),
        before
    );
}

#[test]
fn a_request_for_someone_the_role_does_not_admit_is_refused() {
    let dir = repo();
    let all = refused(
        dir.path(),
        &[
            "request",
            "--no-pr",
            "staging-vendor",
            "--for",
            "1d",
            "--subject",
            "alice",
            "--ticket",
            "VND-1",
            "--reason",
            "x",
        ],
    );
    assert!(all.contains("requester-not-allowed"), "{all}");
}
