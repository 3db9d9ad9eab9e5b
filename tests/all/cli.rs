//! The command line itself: version, completions, and refusals of bad flags.

use crate::support::{examples, gitgrant};

#[test]
fn version_names_the_crate_version() {
    let out = gitgrant().arg("--version").output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        String::from_utf8(out.stdout).unwrap().trim(),
        format!("gitgrant {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn completions_cover_the_subcommands() {
    let out = gitgrant().args(["completions", "bash"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let script = String::from_utf8(out.stdout).unwrap();
    for sub in ["validate", "request", "codeowners", "schema"] {
        assert!(
            script.contains(sub),
            "{sub} missing from the bash completions"
        );
    }
}

#[test]
fn a_time_without_offset_is_refused_not_guessed() {
    let out = gitgrant()
        .args(["validate", "--now", "2026-11-23T12:00:00", "--repo"])
        .arg(examples().join("access-repo"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("with an offset"));
}

#[test]
fn request_without_a_subject_says_how_to_give_one() {
    let dir = tempfile::tempdir().unwrap();
    crate::support::copy_tree(&examples().join("access-repo"), dir.path());
    let out = gitgrant()
        .args([
            "request",
            "prod-readonly",
            "--for",
            "1h",
            "--reason",
            "x",
            "--repo",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--subject"));
}

#[test]
fn a_missing_repository_is_an_error_not_a_panic() {
    let out = gitgrant()
        .args(["validate", "--repo", "/nonexistent/gitgrant-test"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("reading the access repository at /nonexistent/gitgrant-test"),
        "{stderr}"
    );
}
