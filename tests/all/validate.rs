//! `gitgrant validate` against the example access repository and against
//! every bad-input fixture under `tests/fixtures/bad/`.
//!
//! A bad-input case is a folder whose files are laid over
//! `tests/fixtures/base/` (a small valid access repository). Its `expect` file
//! lists the violations that must be reported, one per line:
//! `<rule-id> <file>:<line>:<col>` (or just `<rule-id> <file>`). A `remove`
//! file lists base paths to delete first. Files too big or too odd to keep in
//! git are made by `make_special`.

use std::path::Path;

use serde_json::Value;

use crate::support::{NOW, copy_tree, examples, fixtures, gitgrant};

struct Expected {
    rule: String,
    file: String,
    pos: Option<(u64, u64)>,
}

fn expectations(case: &Path) -> Vec<Expected> {
    let text = std::fs::read_to_string(case.join("expect")).expect("every case has an expect file");
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let (rule, place) = l.split_once(' ').expect("`rule file[:line:col]`");
            let mut parts = place.trim().rsplitn(3, ':');
            let (file, pos) = match (parts.next(), parts.next(), parts.next()) {
                (Some(col), Some(line), Some(file)) if col.parse::<u64>().is_ok() => (
                    file.to_string(),
                    Some((line.parse().unwrap(), col.parse().unwrap())),
                ),
                _ => (place.trim().to_string(), None),
            };
            Expected {
                rule: rule.to_string(),
                file,
                pos,
            }
        })
        .collect()
}

/// Files that a case needs but that are better made than committed.
fn make_special(case_name: &str, repo: &Path) {
    if case_name == "file-too-large" {
        let mut text =
            String::from("subject: alice\nrole: prod-readonly\nduration: 1h\nreason: |\n");
        while text.len() <= 70 * 1024 {
            text.push_str("  padding padding padding padding padding padding padding padding\n");
        }
        std::fs::write(repo.join("grants/prod-readonly/huge.yaml"), text).unwrap();
    }
}

fn lay_out_case(case: &Path, repo: &Path) {
    copy_tree(&fixtures().join("base"), repo);
    if let Ok(list) = std::fs::read_to_string(case.join("remove")) {
        for rel in list.lines().filter(|l| !l.is_empty()) {
            std::fs::remove_file(repo.join(rel)).unwrap();
        }
    }
    copy_tree(case, repo);
    for meta in ["expect", "remove"] {
        let _ = std::fs::remove_file(repo.join(meta));
    }
    make_special(case.file_name().unwrap().to_str().unwrap(), repo);
}

fn validate_json(repo: &Path) -> (i32, Value) {
    let out = gitgrant()
        .args(["validate", "--now", NOW, "--format", "json", "--repo"])
        .arg(repo)
        .output()
        .unwrap();
    let code = out.status.code().expect("gitgrant exits, it is not killed");
    let json = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "--format json prints only JSON ({e}); stdout:\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (code, json)
}

#[test]
fn the_example_access_repository_is_valid() {
    let (code, json) = validate_json(&examples().join("access-repo"));
    assert_eq!(code, 0, "{json:#}");
    assert_eq!(json["valid"], true);
    assert!(json["grants"].as_array().unwrap().len() >= 4, "{json:#}");
}

/// What is wrong with how `gitgrant validate` treats one bad-input case:
/// an exit other than 2, an expected violation not reported where its
/// `expect` file says (with a help line), or the base's valid grant lost.
fn case_failures(case: &Path) -> Vec<String> {
    let name = case.file_name().unwrap().to_string_lossy().to_string();
    let dir = tempfile::tempdir().unwrap();
    lay_out_case(case, dir.path());
    let (code, json) = validate_json(dir.path());
    let mut failures = Vec::new();
    if code != 2 {
        failures.push(format!("{name}: exit {code}, not 2"));
    }
    let found = json["violations"].as_array().unwrap();
    for e in expectations(case) {
        let hit = found.iter().any(|v| {
            v["rule"] == e.rule.as_str()
                && v["file"] == e.file.as_str()
                && e.pos.is_none_or(|(l, c)| v["line"] == l && v["col"] == c)
                && !v["help"].as_str().unwrap_or_default().is_empty()
        });
        if !hit {
            failures.push(format!(
                "{name}: expected {} at {}:{:?}; got {}",
                e.rule,
                e.file,
                e.pos,
                serde_json::to_string(found).unwrap()
            ));
        }
    }
    // Nothing is lost: the base repository's valid grant is still accepted
    // whenever the policy itself is sound.
    let policy_broken = found.iter().any(|v| v["file"] == "gitgrant.yaml");
    let kept = json["grants"]
        .as_array()
        .unwrap()
        .iter()
        .any(|g| g["id"] == "prod-readonly/alice-20261123-0001");
    if !policy_broken && !kept && !name.starts_with("base-") {
        failures.push(format!(
            "{name}: the untouched valid grant was not accepted"
        ));
    }
    failures
}

#[test]
fn every_bad_input_fixture_is_rejected_with_its_rule_and_location() {
    let mut cases: Vec<_> = std::fs::read_dir(fixtures().join("bad"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    cases.sort();
    assert!(cases.len() >= 40, "only {} bad-input cases", cases.len());
    let failures: Vec<String> = cases.iter().flat_map(|c| case_failures(c)).collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Runs one bad-input case, asserting what its `expect` file says, and
/// returns the JSON report for further checks.
fn rejected(case: &str) -> Value {
    let case = fixtures().join("bad").join(case);
    let failures = case_failures(&case);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    let dir = tempfile::tempdir().unwrap();
    lay_out_case(&case, dir.path());
    validate_json(dir.path()).1
}

/// A string field of a violation.
fn text<'a>(v: &'a Value, field: &str) -> &'a str {
    v[field].as_str().unwrap_or_default()
}

/// The violations of one rule in a report.
fn violations_of<'a>(json: &'a Value, rule: &str) -> Vec<&'a Value> {
    json["violations"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v["rule"] == rule)
        .collect()
}

#[test]
fn a_grant_assuming_roles_for_a_person_mapped_to_an_iam_role_is_refused() {
    let json = rejected("assume-roles-need-user");
    let [v] = violations_of(&json, "assume-roles-need-user")[..] else {
        panic!("one assume-roles-need-user violation: {json:#}");
    };
    assert!(text(v, "message").contains("IAM role Carol"), "{v}");
    assert!(text(v, "help").contains("aws_iam_user"), "{v}");
    // The same person may still be granted a role made of statements.
    let accepted = json["grants"].as_array().unwrap();
    assert!(
        accepted.iter().any(|g| g["id"] == "prod-logs/carol-2"),
        "{json:#}"
    );
}

#[test]
fn a_role_arn_with_a_wildcard_is_refused_as_assume_role_and_in_assume_roles() {
    let json = rejected("policy-role-arn-wildcard");
    let found = violations_of(&json, "invalid-arn");
    assert_eq!(found.len(), 2, "{json:#}");
    for v in found {
        assert!(text(v, "message").contains("wildcard"), "{v}");
    }
}

#[test]
fn an_arn_in_another_aws_partition_is_refused() {
    let json = rejected("policy-other-partition");
    let arns = violations_of(&json, "invalid-arn");
    assert_eq!(arns.len(), 2, "{json:#}");
    for v in arns {
        assert!(text(v, "message").contains("partition"), "{v}");
        assert!(text(v, "help").contains("only the `aws` partition"), "{v}");
    }
    let [resource] = violations_of(&json, "invalid-resource")[..] else {
        panic!("one invalid-resource violation: {json:#}");
    };
    assert!(
        text(resource, "help").contains("aws partition"),
        "{resource}"
    );
}

#[test]
fn two_people_mapped_to_one_iam_user_in_different_case_are_duplicates() {
    let json = rejected("policy-duplicate-identity-case");
    let [v] = violations_of(&json, "duplicate-identity")[..] else {
        panic!("one duplicate-identity violation: {json:#}");
    };
    let message = text(v, "message");
    assert!(
        message.contains("IAM user Alice") && message.contains("IAM user alice"),
        "{message}"
    );
}

#[test]
fn github_format_annotates_the_offending_line() {
    let case = fixtures().join("bad/unknown-subject");
    let dir = tempfile::tempdir().unwrap();
    lay_out_case(&case, dir.path());
    let out = gitgrant()
        .args(["validate", "--now", NOW, "--format", "github", "--repo"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        stdout.contains(
            "::error file=grants/prod-readonly/zed-1.yaml,line=1,col=10,endLine=1,endColumn=13,title=gitgrant unknown-subject::"
        ),
        "{stdout}"
    );
}

#[test]
fn human_format_shows_rule_location_source_line_and_help() {
    let case = fixtures().join("bad/unknown-subject");
    let dir = tempfile::tempdir().unwrap();
    lay_out_case(&case, dir.path());
    let out = gitgrant()
        .args(["validate", "--now", NOW, "--repo"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stdout = String::from_utf8(out.stdout).unwrap();
    for needle in [
        "error[unknown-subject]",
        "grants/prod-readonly/zed-1.yaml:1:10",
        "subject: zed",
        "help: add the person to `people`",
        "invalid: 1 errors",
    ] {
        assert!(stdout.contains(needle), "missing {needle:?} in:\n{stdout}");
    }
}

#[test]
fn an_expired_grant_is_listed_not_rejected() {
    let dir = tempfile::tempdir().unwrap();
    copy_tree(&fixtures().join("base"), dir.path());
    std::fs::write(
        dir.path().join("grants/prod-readonly/bob-20261101-0002.yaml"),
        "subject: bob\nrole: prod-readonly\nreason: Old\nstarts: 2026-11-01T09:00:00Z\nexpires: 2026-11-01T10:00:00Z\n",
    )
    .unwrap();
    let (code, json) = validate_json(dir.path());
    assert_eq!(code, 0, "{json:#}");
    let bob = json["grants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["id"] == "prod-readonly/bob-20261101-0002")
        .unwrap();
    assert_eq!(bob["state"], "expired");
}

/// Runs `gitgrant validate` in the human format on a bad-input case.
fn validate_human(case: &str) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    lay_out_case(&fixtures().join("bad").join(case), dir.path());
    let out = gitgrant()
        .args(["validate", "--now", NOW, "--repo"])
        .arg(dir.path())
        .output()
        .unwrap();
    (out.status.code(), String::from_utf8(out.stdout).unwrap())
}

fn assert_contains_all(stdout: &str, needles: &[&str]) {
    for needle in needles {
        assert!(stdout.contains(needle), "missing {needle:?} in:\n{stdout}");
    }
}

/// `error[<rule>]: …` with `--> <place>` on the line below.
fn assert_reported(stdout: &str, rule: &str, place: &str) {
    let lines: Vec<&str> = stdout.lines().collect();
    let found = lines.windows(2).any(|w| {
        w[0].starts_with(&format!("error[{rule}]: ")) && w[1].trim() == format!("--> {place}")
    });
    assert!(found, "no {rule} at {place} in:\n{stdout}");
}

#[test]
fn a_misspelt_action_is_refused_with_a_did_you_mean() {
    let (code, stdout) = validate_human("policy-misspelt-action");
    assert_eq!(code, Some(2), "{stdout}");
    assert_reported(&stdout, "unknown-action", "gitgrant.yaml:33:54");
    assert_contains_all(
        &stdout,
        &[
            "did you mean `logs:GetLogEvents`?",
            "help: check the spelling against AWS's Service Authorization Reference",
        ],
    );
}

#[test]
fn an_unknown_service_is_refused() {
    let (code, stdout) = validate_human("policy-unknown-service");
    assert_eq!(code, Some(2), "{stdout}");
    assert_reported(&stdout, "unknown-action", "gitgrant.yaml:33:38");
    assert_contains_all(&stdout, &["no service with the prefix `logz`"]);
}

#[test]
fn a_role_with_iam_star_is_refused_without_allow_admin() {
    let (code, stdout) = validate_human("policy-iam-star");
    assert_eq!(code, Some(2), "{stdout}");
    assert_reported(&stdout, "iam-write", "gitgrant.yaml:33:38");
    assert_reported(&stdout, "writes-gitgrant-policies", "gitgrant.yaml:33:38");
    assert_contains_all(
        &stdout,
        &[
            " more",
            "help: a grantee who can write IAM can remove the window from their own grant",
        ],
    );
}

#[test]
fn create_policy_version_on_gitgrants_own_path_is_refused_even_with_allow_admin() {
    let (code, stdout) = validate_human("policy-create-policy-version-with-allow-admin");
    assert_eq!(code, Some(2), "{stdout}");
    assert_reported(&stdout, "writes-gitgrant-policies", "gitgrant.yaml:34:38");
    assert_contains_all(
        &stdout,
        &[
            "iam:CreatePolicyVersion, iam:SetDefaultPolicyVersion",
            "help: not even `allow_admin: true` permits this",
        ],
    );
    assert!(!stdout.contains("error[iam-write]"), "{stdout}");
}

#[test]
fn a_subject_spelled_in_another_case_than_its_login_is_refused() {
    let json = rejected("subject-other-case");
    let [v] = violations_of(&json, "unknown-subject")[..] else {
        panic!("one unknown-subject violation: {json:#}");
    };
    assert!(v["help"].as_str().unwrap().contains("`alice`"), "{v}");
}

#[test]
fn a_role_that_assumes_a_role_through_statements_is_refused_even_with_allow_admin_and_require_fence()
 {
    // The session sts:AssumeRole returns would hold the Deploy role's
    // permissions up to 12 h past the window, under any name, unfenced.
    let (code, stdout) = validate_human("policy-assume-role-in-statements");
    assert_eq!(code, Some(2), "{stdout}");
    assert_reported(&stdout, "assume-role-statement", "gitgrant.yaml:44:38");
    assert_contains_all(
        &stdout,
        &[
            "sts:AssumeRole",
            "help: a role session outlives the grant's window",
            "`assume_roles`",
        ],
    );
}

#[test]
fn a_role_that_can_rewrite_identity_center_permission_sets_and_users_needs_allow_admin() {
    // A grantee with sso:* could edit her own permission set (its inline
    // policy, its description) and keep it assigned past the window.
    let (code, stdout) = validate_human("policy-identity-center-writes");
    assert_eq!(code, Some(2), "{stdout}");
    assert_reported(&stdout, "iam-write", "gitgrant.yaml:42:38");
    assert_reported(&stdout, "iam-write", "gitgrant.yaml:43:38");
    assert_contains_all(&stdout, &["sso:", "identitystore:", "Identity Center"]);
}
