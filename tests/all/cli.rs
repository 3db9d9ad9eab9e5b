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

#[test]
fn iam_policy_scopes_every_write_to_this_repositorys_path() {
    let out = gitgrant()
        .args(["iam-policy", "--repo"])
        .arg(examples().join("access-repo"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let all: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for (provider, account) in [
        ("aws-prod", "111111111111"),
        ("aws-staging", "222222222222"),
    ] {
        let owned = format!("arn:aws:iam::{account}:policy/gitgrant/acme/access/*");
        for st in all[provider]["Statement"].as_array().unwrap() {
            let actions: Vec<&str> = st["Action"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a.as_str().unwrap())
                .collect();
            let writes = actions.iter().any(|a| {
                ["Create", "Delete", "Attach", "Detach", "Tag"]
                    .iter()
                    .any(|w| a.contains(w))
            });
            if writes {
                let scoped = st["Resource"] == owned.as_str()
                    || st["Condition"]["ArnLike"]["iam:PolicyARN"] == owned.as_str();
                assert!(scoped, "{provider}: unscoped write in {st}");
            } else {
                assert!(
                    actions
                        .iter()
                        .all(|a| a.starts_with("iam:Get") || a.starts_with("iam:List"))
                );
            }
        }
    }
}
