//! The request form: an issue opened from `.github/ISSUE_TEMPLATE/
//! gitgrant-request.yml` becomes a grant file for its author, through the
//! real binary (`request --from-issue EVENT --no-pr` here; the pull request
//! side against the GitHub fake in `portal_github`).

use std::path::Path;

use serde_json::{Value, json};

use crate::support::{copy_tree, examples, gitgrant};

const NOW: &str = "2026-11-23T12:00:00Z";

/// A form's fields: `(label, value)`.
type Fields<'a> = &'a [(&'a str, &'a str)];

fn repo() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_tree(&examples().join("access-repo"), dir.path());
    dir
}

/// The dropdown option the form offers for `role`, as GitHub puts it into
/// the body.
pub fn option(repo: &Path, role: &str) -> String {
    let form: Value = serde_yaml::from_str(
        &std::fs::read_to_string(repo.join(".github/ISSUE_TEMPLATE/gitgrant-request.yml")).unwrap(),
    )
    .unwrap();
    let dropdown = form["body"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["type"] == "dropdown")
        .unwrap();
    dropdown["attributes"]["options"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .find(|o| o.starts_with(&format!("{role}: ")))
        .unwrap_or_else(|| panic!("no option for {role}"))
        .to_string()
}

/// The body GitHub renders from the form: `### Label` sections, with
/// `_No response_` for the optional fields left empty.
pub fn form_body(fields: &[(&str, &str)]) -> String {
    let mut body = String::new();
    for label in ["Role", "Duration", "Starts", "Expires", "Reason", "Ticket"] {
        let value = fields
            .iter()
            .find(|(l, _)| *l == label)
            .map_or("_No response_", |(_, v)| v);
        body.push_str(&format!("### {label}\n\n{value}\n\n"));
    }
    body
}

/// An `issues` event as GitHub writes it to GITHUB_EVENT_PATH.
pub fn issue_event(action: &str, number: u64, author: &str, body: &str) -> Value {
    json!({
        "action": action,
        "issue": {
            "number": number,
            "title": "Access request",
            "body": body,
            "state": "open",
            "user": { "login": author, "type": "User" },
            "labels": [{ "name": "gitgrant-request" }],
            "html_url": format!("https://github.com/acme/access/issues/{number}"),
        },
        "repository": { "full_name": "acme/access", "default_branch": "main" },
        "sender": { "login": author },
    })
}

/// Runs `request --from-issue` over `event` with `--no-pr`: (exit code,
/// stdout, stderr).
fn from_issue(repo: &Path, event: &Value) -> (i32, String, String) {
    let file = repo.join("event.json");
    std::fs::write(&file, event.to_string()).unwrap();
    let out = gitgrant()
        .args(["request", "--no-pr", "--from-issue"])
        .arg(&file)
        .args(["--now", NOW, "--repo"])
        .arg(repo)
        .output()
        .unwrap();
    std::fs::remove_file(&file).unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8_lossy(&out.stdout).trim().to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

fn grant_of(repo: &Path, rel: &str) -> Value {
    serde_yaml::from_str(&std::fs::read_to_string(repo.join(rel)).unwrap()).unwrap()
}

fn grants(repo: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for role in std::fs::read_dir(repo.join("grants")).unwrap() {
        let role = role.unwrap().path();
        if role.is_dir() {
            for f in std::fs::read_dir(&role).unwrap() {
                out.push(f.unwrap().path().display().to_string());
            }
        }
    }
    out.sort();
    out
}

#[test]
fn a_form_for_every_role_shape_becomes_a_valid_grant_for_the_issues_author() {
    let dir = repo();
    let cases: [(&str, &str, Fields); 4] = [
        // Anyone, a duration, no ticket.
        (
            "erin",
            "prod-readonly",
            &[("Duration", "2h"), ("Reason", "INC-9: the logs")],
        ),
        // Requested by team (the check asks GitHub), a ticket required.
        (
            "alice",
            "prod-admin",
            &[
                ("Duration", "1h"),
                ("Reason", "Rotate keys"),
                ("Ticket", "CHG-42"),
            ],
        ),
        // Identity Center, named requesters.
        (
            "dave",
            "prod-operator",
            &[("Duration", "4h"), ("Reason", "Deploy\nthe fix")],
        ),
        // A window instead of a duration, and a ticket.
        (
            "vendor-globex",
            "staging-vendor",
            &[
                ("Starts", "2026-11-24T09:00:00+01:00"),
                ("Expires", "2026-11-25T09:00:00+01:00"),
                ("Reason", "Pipeline maintenance"),
                ("Ticket", "VND-7"),
            ],
        ),
    ];
    for (n, (author, role, fields)) in cases.iter().enumerate() {
        let number = 10 + n as u64;
        let option = option(dir.path(), role);
        let mut all = vec![("Role", option.as_str())];
        all.extend_from_slice(fields);
        let (code, rel, stderr) = from_issue(
            dir.path(),
            &issue_event("opened", number, author, &form_body(&all)),
        );
        assert_eq!(code, 0, "{role}: {stderr}");
        assert_eq!(rel, format!("grants/{role}/{author}-issue-{number}.yaml"));
        let grant = grant_of(dir.path(), &rel);
        assert_eq!(grant["subject"], *author, "{role}");
        assert_eq!(grant["role"], *role);
        for (label, value) in *fields {
            let key = label.to_lowercase();
            assert_eq!(grant[key.as_str()].as_str(), Some(*value), "{role} {label}");
        }
    }
    let valid = gitgrant()
        .args(["validate", "--now", NOW, "--repo"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(
        valid.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&valid.stdout),
        String::from_utf8_lossy(&valid.stderr)
    );
}

#[test]
fn garbage_an_unknown_role_and_a_role_the_author_may_not_ask_for_write_nothing() {
    let dir = repo();
    let before = grants(dir.path());
    let readonly = option(dir.path(), "prod-readonly");
    let operator = option(dir.path(), "prod-operator");
    let cases: Vec<(&str, String, &[&str])> = vec![
        // Edited by hand into prose.
        (
            "erin",
            "I need prod access now, please!!".into(),
            &[
                "the form's `Role` is missing or empty",
                "the form's `Reason` is missing or empty",
            ],
        ),
        // An empty body (GitHub sends null).
        (
            "erin",
            String::new(),
            &["the form's `Role` is missing or empty"],
        ),
        // A role that is not in the dropdown.
        (
            "erin",
            form_body(&[
                ("Role", "root: everything"),
                ("Duration", "1h"),
                ("Reason", "x"),
            ]),
            &["`root: everything` is not a role of this access repository"],
        ),
        // Break-glass roles are not offered by the form.
        (
            "alice",
            form_body(&[
                ("Role", "prod-break-glass: x"),
                ("Duration", "1h"),
                ("Reason", "x"),
            ]),
            &["is not a role of this access repository"],
        ),
        // prod-operator takes requests from alice and dave only.
        (
            "erin",
            form_body(&[("Role", &operator), ("Duration", "1h"), ("Reason", "x")]),
            &["role `prod-operator` does not take requests from erin"],
        ),
        // Over the role's maximum, and no ticket where one is needed.
        (
            "erin",
            form_body(&[("Role", &readonly), ("Duration", "9h"), ("Reason", "x")]),
            &["window-too-long"],
        ),
        // Both a duration and a window.
        (
            "erin",
            form_body(&[
                ("Role", &readonly),
                ("Duration", "1h"),
                ("Expires", "2026-11-24T09:00:00Z"),
                ("Reason", "x"),
            ]),
            &["duration-and-window"],
        ),
    ];
    for (author, body, expected) in cases {
        let mut event = issue_event("opened", 7, author, &body);
        if body.is_empty() {
            event["issue"]["body"] = Value::Null;
        }
        let (code, out, stderr) = from_issue(dir.path(), &event);
        assert_eq!(code, 2, "{body:?}: {out} {stderr}");
        assert!(out.is_empty(), "{out}");
        assert!(stderr.contains("cannot be made into a request"), "{stderr}");
        for e in expected {
            assert!(stderr.contains(e), "{body:?}: wanted {e:?} in {stderr}");
        }
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    assert_eq!(grants(dir.path()), before, "nothing was written");
}

#[test]
fn the_subject_is_the_author_whatever_the_body_says() {
    let dir = repo();
    let option = option(dir.path(), "prod-readonly");
    // A section the form does not have, naming someone else, is ignored;
    // "someone else" in a field is only text.
    let mut body = form_body(&[
        ("Role", &option),
        ("Duration", "2h"),
        ("Reason", "for mallory\nsubject: mallory"),
    ]);
    body.push_str("### Subject\n\nmallory\n");
    let (code, rel, stderr) = from_issue(dir.path(), &issue_event("opened", 3, "Erin", &body));
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(rel, "grants/prod-readonly/erin-issue-3.yaml");
    let grant = grant_of(dir.path(), &rel);
    assert_eq!(grant["subject"], "erin");
    assert_eq!(grant["reason"], "for mallory\nsubject: mallory");
    assert_eq!(
        grant.as_object().unwrap().len(),
        4,
        "subject, role, reason, duration: {grant:?}"
    );
}

#[test]
fn injection_attempts_in_every_field_stay_data() {
    let dir = repo();
    let option = option(dir.path(), "staging-vendor");
    let shell = "$(touch /tmp/gitgrant-pwned) `id` ; rm -rf / && echo";
    let yaml = "x\"\nsubject: mallory\nrole: prod-admin\n---\n&a [*a]";
    let markdown =
        "<img src=https://evil.example/p.png> [click](javascript:alert(1)) @acme/security ```";
    // Each field in turn carries an attack; the rest are fine.
    let fine: [(&str, &str); 4] = [
        ("Starts", "2026-11-24T09:00:00+01:00"),
        ("Expires", "2026-11-25T09:00:00+01:00"),
        ("Reason", "ok"),
        ("Ticket", "VND-7"),
    ];
    for attack in [shell, yaml, markdown] {
        for field in ["Role", "Duration", "Starts", "Expires", "Reason", "Ticket"] {
            let mut fields: Vec<(&str, &str)> = vec![("Role", option.as_str())];
            fields.extend(fine.iter().copied());
            fields.retain(|(l, _)| *l != field);
            fields.push((field, attack));
            let (code, rel, stderr) = from_issue(
                dir.path(),
                &issue_event("opened", 5, "vendor-globex", &form_body(&fields)),
            );
            assert!(!stderr.contains("panicked"), "{stderr}");
            if field == "Reason" {
                // A reason may say anything: it is stored as it was written.
                assert_eq!(code, 0, "{field} {attack:?}: {stderr}");
                let grant = grant_of(dir.path(), &rel);
                assert_eq!(grant["reason"].as_str(), Some(attack.trim()));
                assert_eq!(grant["subject"], "vendor-globex");
                assert_eq!(grant["role"], "staging-vendor");
                std::fs::remove_file(dir.path().join(&rel)).unwrap();
            } else {
                // Anywhere else it is refused, and nothing is written.
                assert_eq!(code, 2, "{field} {attack:?}: {rel} {stderr}");
                assert!(rel.is_empty());
            }
        }
    }
    assert!(!Path::new("/tmp/gitgrant-pwned").exists());
}

#[test]
fn a_closed_issue_or_an_unreadable_event_is_said_in_one_line() {
    let dir = repo();
    let mut event = issue_event("edited", 4, "erin", "");
    event["issue"]["state"] = json!("closed");
    let (code, _, stderr) = from_issue(dir.path(), &event);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("issue #4 is closed: nothing to do"),
        "{stderr}"
    );

    let file = dir.path().join("event.json");
    std::fs::write(&file, "{ not json").unwrap();
    let out = gitgrant()
        .args(["request", "--no-pr", "--from-issue"])
        .arg(&file)
        .arg("--repo")
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("is not a GitHub event (JSON)"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}
