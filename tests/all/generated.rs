//! Generated files — JSON Schemas and CODEOWNERS — stay in step with the code
//! and the policy, and `--check` catches a drifted copy.

use std::path::Path;

use crate::support::{copy_tree, examples, gitgrant};

fn check(args: &[&str], repo: &Path) -> (i32, String) {
    let out = gitgrant()
        .args(args)
        .arg("--repo")
        .arg(repo)
        .output()
        .unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

#[test]
fn schemas_are_up_to_date() {
    for repo in [
        Path::new(env!("CARGO_MANIFEST_DIR")),
        &examples().join("access-repo"),
    ] {
        let (code, stderr) = check(&["schema", "--check"], repo);
        assert_eq!(
            code,
            0,
            "schemas in {} drifted: run `cargo run -- schema --repo {}`\n{stderr}",
            repo.display(),
            repo.display()
        );
    }
}

#[test]
fn example_codeowners_is_up_to_date() {
    let (code, stderr) = check(&["codeowners", "--check"], &examples().join("access-repo"));
    assert_eq!(
        code, 0,
        "run `cargo run -- codeowners --repo examples/access-repo`\n{stderr}"
    );
}

#[test]
fn check_fails_on_a_drifted_copy_and_the_writer_mends_it() {
    let dir = tempfile::tempdir().unwrap();
    copy_tree(&examples().join("access-repo"), dir.path());
    // A new role in the policy that CODEOWNERS does not know about yet.
    let policy = dir.path().join("gitgrant.yaml");
    let text = std::fs::read_to_string(&policy).unwrap().replace(
        "\nroles:\n",
        "\nroles:\n  db-readonly:\n    description: Read-only database access\n    provider: aws-prod\n    max_duration: 2h\n    approvers: [\"@acme/dba\"]\n    permissions:\n      statements:\n        - { effect: Allow, actions: [\"rds:Describe*\"], resources: [\"*\"] }\n",
    );
    std::fs::write(&policy, text).unwrap();
    let (code, stderr) = check(&["codeowners", "--check"], dir.path());
    assert_eq!(code, 1);
    assert!(stderr.contains("run `gitgrant codeowners`"), "{stderr}");
    let (code, _) = check(&["codeowners"], dir.path());
    assert_eq!(code, 0);
    let owners = std::fs::read_to_string(dir.path().join(".github/CODEOWNERS")).unwrap();
    assert!(
        owners.contains("/grants/db-readonly/ @acme/dba"),
        "{owners}"
    );
    assert_eq!(check(&["codeowners", "--check"], dir.path()).0, 0);

    // A hand-edited schema is caught too.
    let schema = dir.path().join("schema/grant.schema.json");
    std::fs::write(&schema, "{}\n").unwrap();
    let (code, stderr) = check(&["schema", "--check"], dir.path());
    assert_eq!(code, 1);
    assert!(
        stderr.contains("schema/grant.schema.json is out of date"),
        "{stderr}"
    );
}

#[test]
fn codeowners_puts_the_security_team_last_so_no_role_can_take_over_policy_files() {
    let owners =
        std::fs::read_to_string(examples().join("access-repo/.github/CODEOWNERS")).unwrap();
    let lines: Vec<&str> = owners
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .collect();
    assert_eq!(
        &lines[lines.len() - 3..],
        [
            "/gitgrant.yaml @acme/security",
            "/.github/ @acme/security",
            "/CODEOWNERS @acme/security"
        ]
    );
    assert!(lines.contains(&"/grants/prod-admin/ @acme/platform-leads @acme/security"));
    // A break-glass role's folder has no owners, so it can land without review.
    assert!(lines.contains(&"/grants/prod-break-glass/"));
}

#[test]
fn the_example_request_form_is_up_to_date_and_drift_is_caught_and_mended() {
    let (code, stderr) = check(&["portal", "--check"], &examples().join("access-repo"));
    assert_eq!(
        code, 0,
        "run `cargo run -- portal --repo examples/access-repo`\n{stderr}"
    );

    let dir = tempfile::tempdir().unwrap();
    copy_tree(&examples().join("access-repo"), dir.path());
    // A role's longer maximum is news to the form's dropdown.
    let policy = dir.path().join("gitgrant.yaml");
    let text = std::fs::read_to_string(&policy).unwrap();
    let text = text.replacen("max_duration: 8h", "max_duration: 12h", 1);
    std::fs::write(&policy, text).unwrap();
    let (code, stderr) = check(&["portal", "--check"], dir.path());
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains(
            ".github/ISSUE_TEMPLATE/gitgrant-request.yml is out of date: run `gitgrant portal`"
        ),
        "{stderr}"
    );
    // A workflow removed by hand is missing.
    std::fs::remove_file(dir.path().join(".github/workflows/gitgrant-portal.yml")).unwrap();
    let (_, stderr) = check(&["portal", "--check"], dir.path());
    assert!(
        stderr.contains(".github/workflows/gitgrant-portal.yml is missing"),
        "{stderr}"
    );
    assert_eq!(check(&["portal"], dir.path()).0, 0);
    let form = std::fs::read_to_string(
        dir.path()
            .join(".github/ISSUE_TEMPLATE/gitgrant-request.yml"),
    )
    .unwrap();
    assert!(form.contains("(at most 12h;"), "{form}");
    assert_eq!(check(&["portal", "--check"], dir.path()).0, 0);
}

#[test]
fn command_and_rule_references_are_up_to_date() {
    let (code, stderr) = check(
        &["reference", "--check"],
        Path::new(env!("CARGO_MANIFEST_DIR")),
    );
    assert_eq!(
        code, 0,
        "the book's generated reference drifted: run `cargo run -- reference`\n{stderr}"
    );
}

#[test]
fn reference_check_fails_on_a_drifted_page_and_the_writer_mends_it() {
    let dir = tempfile::tempdir().unwrap();
    let (code, _) = check(&["reference"], dir.path());
    assert_eq!(code, 0);
    let rules = dir.path().join("docs/reference/rules.md");
    let text = std::fs::read_to_string(&rules).unwrap();
    // Every rule is in the table, by its own id.
    assert!(text.contains("| `unknown-subject` |"), "{text}");
    std::fs::write(&rules, text.replace("| `unknown-subject` |", "| `gone` |")).unwrap();
    let (code, stderr) = check(&["reference", "--check"], dir.path());
    assert_eq!(code, 1);
    assert!(stderr.contains("run `cargo run -- reference`"), "{stderr}");
    let commands = std::fs::read_to_string(dir.path().join("docs/reference/commands.md")).unwrap();
    assert!(commands.contains("## gitgrant reconcile"), "{commands}");
    assert!(
        !commands.contains("## gitgrant reference"),
        "the generator is hidden"
    );
}
