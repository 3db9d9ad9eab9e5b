//! The gcp-iam kind through the real binary, against the local stand-in of
//! Resource Manager's IAM methods (gcp_fake.rs): a grant becomes one
//! conditional binding per role whose condition is the window, foreign
//! bindings stay byte for byte, a steady run reads once and writes nothing,
//! and expiry removes the binding and the file.

use std::path::Path;

use serde_json::{Value, json};

use crate::gcp_fake::FakeGcp;
use crate::support::{GitRepo, grant_yaml};

const PROJECT: &str = "projects/acme-prod";

const POLICY: &str = r#"version: 1
repository: acme/access
security_team: "@acme/security"
providers:
  gcp-prod:
    type: gcp-iam
    resource: projects/acme-prod
people:
  alice: { gcp_member: "user:alice@acme.com" }
roles:
  prod-logs:
    description: Logs in production
    provider: gcp-prod
    max_duration: 8h
    approvers: ["@acme/sre"]
    permissions:
      gcp_roles: [roles/logging.viewer]
      gcp_condition: "resource.name.startsWith('projects/_/buckets/acme-logs')"
"#;

/// A policy of bindings gitgrant does not own: one of them with gitgrant's
/// look of a title, but another repository's marker.
fn foreign() -> Value {
    json!({
        "version": 3,
        "bindings": [
            {"role": "roles/owner", "members": ["user:root@acme.com"]},
            {"role": "roles/logging.viewer", "members": ["user:alice@acme.com"], "condition": {
                "title": "gitgrant 00000000000000000000000000000000 prod-logs/alice-1",
                "description": "gitgrant repository=evil/access grant=prod-logs/alice-1",
                "expression": "request.time < timestamp(\"2030-01-01T00:00:00Z\")"}},
        ],
        "auditConfigs": [{"service": "allServices", "auditLogConfigs": [{"logType": "DATA_READ"}]}]
    })
}

/// The repository with alice's 2h grant landed at 10:00.
fn setup() -> GitRepo {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("gitgrant.yaml"), POLICY).unwrap();
    let repo = GitRepo::from_template(tmp.path(), "2026-11-23T08:00:00Z", "Access policy (#1)");
    repo.commit(
        &[(
            "grants/prod-logs/alice-1.yaml",
            Some(&grant_yaml("alice", "prod-logs", "duration: 2h")),
        )],
        "alice: prod-logs (#2)",
        "2026-11-23T10:00:00Z",
    );
    repo
}

/// The stand-in with foreign bindings, and the repository after a run at
/// 10:30 that gave alice's grant its binding.
fn granted() -> (FakeGcp, GitRepo) {
    let fake = FakeGcp::start();
    fake.policy(PROJECT, foreign());
    let repo = setup();
    let (code, json) = reconcile(&repo.path, &fake, "2026-11-23T10:30:00Z");
    assert_eq!(code, 0, "{json:#}");
    (fake, repo)
}

/// `gitgrant ARGS --repo DIR` with `env`, run to its end.
pub(crate) fn run_in(args: &[&str], dir: &Path, env: &[(String, String)]) -> std::process::Output {
    crate::support::gitgrant_process()
        .args(args)
        .arg("--repo")
        .arg(dir)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .unwrap()
}

/// `gitgrant ARGS --repo DIR` with `env`: its exit code and the JSON it
/// printed.
pub(crate) fn json_of(args: &[&str], dir: &Path, env: &[(String, String)]) -> (i32, Value) {
    let out = run_in(args, dir, env);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let json = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "gitgrant {args:?} printed no JSON ({e}): {stdout}\nstderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().unwrap_or(-1), json)
}

/// `gitgrant ARGS --repo DIR` with `env`: its exit code, and what it
/// printed on stdout and stderr together.
pub(crate) fn text_of(
    args: &[&str],
    dir: &Path,
    env: &[(String, String)],
) -> (Option<i32>, String) {
    let out = run_in(args, dir, env);
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code(), text)
}

/// `gitgrant reconcile --now NOW` against the fake: its exit code and JSON.
fn reconcile(dir: &Path, fake: &FakeGcp, now: &str) -> (i32, Value) {
    json_of(
        &["reconcile", "--now", now, "--format", "json"],
        dir,
        &fake.env(),
    )
}

/// The audit's JSON at 13:00, after every window of the tests.
fn audit(dir: &Path) -> Value {
    json_of(
        &["audit", "--format", "json", "--now", "2026-11-23T13:00:00Z"],
        dir,
        &[],
    )
    .1
}

/// The stored policy's bindings that are not `role` for `member` with
/// gitgrant's marker for acme/access.
fn ours(policy: &Value) -> Vec<Value> {
    policy["bindings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| {
            b["condition"]["description"]
                .as_str()
                .is_some_and(|d| d.starts_with("gitgrant repository=acme/access "))
        })
        .cloned()
        .collect()
}

#[test]
fn a_grant_is_a_binding_whose_condition_is_its_window_and_foreign_bindings_stay_byte_for_byte() {
    let fake = FakeGcp::start();
    fake.policy(PROJECT, foreign());
    let repo = setup();
    // The plan says it in Google's words.
    let (_, text) = text_of(
        &["plan", "--now", "2026-11-23T10:30:00Z"],
        &repo.path,
        &fake.env(),
    );
    assert!(
        text.contains("role roles/logging.viewer on projects/acme-prod for user:alice@acme.com"),
        "{text}"
    );
    let (code, json) = reconcile(&repo.path, &fake, "2026-11-23T10:30:00Z");
    assert_eq!(code, 0, "{json:#}");
    let stored = fake.stored(PROJECT);
    let mine = ours(&stored);
    assert_eq!(mine.len(), 1, "{stored:#}");
    assert_eq!(mine[0]["role"], "roles/logging.viewer");
    assert_eq!(mine[0]["members"], json!(["user:alice@acme.com"]));
    assert_eq!(
        mine[0]["condition"]["expression"],
        "request.time >= timestamp(\"2026-11-23T10:00:00Z\") && request.time < timestamp(\"2026-11-23T12:00:00Z\") \
         && (resource.name.startsWith('projects/_/buckets/acme-logs'))"
    );
    assert_eq!(
        mine[0]["condition"]["description"],
        "gitgrant repository=acme/access grant=prod-logs/alice-1"
    );
    // Every binding gitgrant does not own, and the audit configuration,
    // as they were, in their order, byte for byte.
    let written = fake.raw_writes();
    assert_eq!(written.len(), 1, "one setIamPolicy for the run");
    let before = foreign();
    for b in before["bindings"].as_array().unwrap() {
        // The bytes the stand-in answered (Google's key order), not a
        // re-rendering of them.
        let text = crate::gcp_fake::google_json(b);
        assert!(
            written[0].contains(&text),
            "{text} not written back as read: {}",
            written[0]
        );
    }
    assert_eq!(stored["auditConfigs"], before["auditConfigs"]);
    assert_eq!(stored["bindings"][0], before["bindings"][0]);
    assert_eq!(stored["bindings"][1], before["bindings"][1]);
    assert_eq!(fake.writes_without_etag(), 0);
    assert_eq!(fake.writes()[0]["policy"]["version"], 3);
}

#[test]
fn a_second_run_reads_once_and_writes_nothing() {
    let (fake, repo) = granted();
    let (reads, writes) = (fake.count("getIamPolicy"), fake.count("setIamPolicy"));
    let (code, json) = reconcile(&repo.path, &fake, "2026-11-23T10:40:00Z");
    assert_eq!(code, 0, "{json:#}");
    assert_eq!(fake.count("getIamPolicy"), reads + 1, "{json:#}");
    assert_eq!(fake.count("setIamPolicy"), writes, "{json:#}");
    assert_eq!(
        json["calls"]["gcp-prod"]["reads"]["cloudresourcemanager:getIamPolicy"], 1,
        "{json:#}"
    );
    assert!(
        json["calls"]["gcp-prod"]["writes"]
            .as_object()
            .is_none_or(|w| w.is_empty()),
        "{json:#}"
    );
}

#[test]
fn expiry_removes_the_binding_and_the_file_and_leaves_the_rest() {
    let (fake, repo) = granted();
    let (code, json) = reconcile(&repo.path, &fake, "2026-11-23T12:05:00Z");
    assert_eq!(code, 0, "{json:#}");
    let stored = fake.stored(PROJECT);
    assert!(ours(&stored).is_empty(), "{stored:#}");
    assert_eq!(stored["bindings"], foreign()["bindings"]);
    assert!(
        !repo.path.join("grants/prod-logs/alice-1.yaml").exists(),
        "{json:#}"
    );
    // Google's condition ended it at the window's end: no run, no
    // propagation to wait for.
    let audit = audit(&repo.path);
    let l = &audit["lifecycles"][0];
    assert_eq!(l["revocation"]["ended_by"], "cloud", "{l:#}");
    assert!(
        l["revocation"].get("propagation_seconds").is_none(),
        "{l:#}"
    );
}

#[test]
fn a_concurrent_writer_between_the_runs_read_and_write_loses_nothing() {
    let fake = FakeGcp::start();
    fake.policy(PROJECT, foreign());
    // Someone else grants carol a role between gitgrant's read for the
    // write (the run's second read; the first plans) and the write.
    fake.concurrent_write_after(PROJECT, 2, |p| {
        p["bindings"]
            .as_array_mut()
            .unwrap()
            .push(json!({"role": "roles/viewer", "members": ["user:carol@acme.com"]}));
    });
    let repo = setup();
    let (code, json) = reconcile(&repo.path, &fake, "2026-11-23T10:30:00Z");
    assert_eq!(code, 0, "{json:#}");
    let stored = fake.stored(PROJECT);
    let bindings = stored["bindings"].as_array().unwrap();
    assert!(
        bindings.contains(&json!({"role": "roles/viewer", "members": ["user:carol@acme.com"]})),
        "the other writer's change was lost: {stored:#}"
    );
    assert_eq!(ours(&stored).len(), 1, "{stored:#}");
    assert_eq!(bindings[0], foreign()["bindings"][0]);
    assert!(fake.count("setIamPolicy") >= 2, "{:?}", fake.calls());
    assert_eq!(fake.writes_without_etag(), 0);
}

#[test]
fn throttling_and_unavailability_converge_in_one_run() {
    let fake = FakeGcp::start();
    fake.policy(PROJECT, foreign());
    fake.faults(crate::gcp_fake::Fault::Throttled, 2);
    fake.faults(crate::gcp_fake::Fault::Unavailable, 1);
    let repo = setup();
    let (code, json) = reconcile(&repo.path, &fake, "2026-11-23T10:30:00Z");
    assert_eq!(code, 0, "{json:#}");
    assert_eq!(ours(&fake.stored(PROJECT)).len(), 1);
    assert!(
        json["calls"]["gcp-prod"]["retries"].as_u64().unwrap_or(0) >= 3,
        "{json:#}"
    );
}

#[test]
fn an_early_delete_removes_the_binding_before_its_window_ends() {
    let (fake, repo) = granted();
    repo.commit(
        &[("grants/prod-logs/alice-1.yaml", None)],
        "Revoke alice's prod-logs early (#3)",
        "2026-11-23T10:45:00Z",
    );
    let (code, json) = reconcile(&repo.path, &fake, "2026-11-23T11:00:00Z");
    assert_eq!(code, 0, "{json:#}");
    let stored = fake.stored(PROJECT);
    assert!(ours(&stored).is_empty(), "{stored:#}");
    assert_eq!(stored["bindings"], foreign()["bindings"]);
    let revoked =
        json["applied"].as_array().unwrap().iter().any(|a| {
            a["action"] == "revoke" && a["grant"] == "prod-logs/alice-1" && a["ok"] == true
        });
    assert!(revoked, "{json:#}");
    // The audit: a run ended it, and Google's documented propagation time
    // is recorded beside the lag.
    let audit = audit(&repo.path);
    let l = &audit["lifecycles"][0];
    assert_eq!(l["revocation"]["ended_by"], "run", "{l:#}");
    assert_eq!(l["revocation"]["propagation_seconds"], 420, "{l:#}");
}

#[test]
fn iam_policy_prints_the_custom_role_the_reconciler_needs_on_the_resource() {
    let repo = setup();
    let (code, role) = json_of(&["iam-policy", "--provider", "gcp-prod"], &repo.path, &[]);
    assert_eq!(code, 0, "{role:#}");
    assert_eq!(
        role["includedPermissions"],
        json!([
            "resourcemanager.projects.getIamPolicy",
            "resourcemanager.projects.setIamPolicy"
        ])
    );
    assert_eq!(role["stage"], "GA");
}

/// One role over an AWS account and a Google project: one grant, one
/// window, carried by each cloud in its own way, in one run.
#[test]
fn a_role_over_aws_and_google_carries_one_window_in_both() {
    use crate::moto::{create_users, iam, moto, policies};
    let m = moto();
    let aws = iam(&m.url, crate::reconcile::ACCOUNT);
    create_users(&aws, &["alice"]);
    let fake = FakeGcp::start();
    fake.policy(PROJECT, foreign());
    let both = POLICY
        .replace(
            "providers:\n",
            &format!(
                "providers:\n  aws-prod:\n    type: aws-iam\n    account: \"{a}\"\n    \
                 assume_role: arn:aws:iam::{a}:role/gitgrant-reconciler\n",
                a = crate::reconcile::ACCOUNT
            ),
        )
        .replace(
            "alice: { gcp_member: \"user:alice@acme.com\" }",
            "alice: { aws_iam_user: alice, gcp_member: \"user:alice@acme.com\" }",
        )
        .replace("    provider: gcp-prod\n", "    provider: [aws-prod, gcp-prod]\n")
        .replace(
            "    permissions:\n",
            "    permissions:\n      statements:\n        - { effect: Allow, actions: [\"logs:GetLogEvents\"], resources: [\"*\"] }\n",
        );
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("gitgrant.yaml"), &both).unwrap();
    let repo = GitRepo::from_template(tmp.path(), "2026-11-23T08:00:00Z", "Access policy (#1)");
    repo.commit(
        &[(
            "grants/prod-logs/alice-1.yaml",
            Some(&grant_yaml("alice", "prod-logs", "duration: 2h")),
        )],
        "alice: prod-logs (#2)",
        "2026-11-23T10:00:00Z",
    );
    let mut env = fake.env();
    env.extend(
        [
            ("AWS_ENDPOINT_URL", m.url.as_str()),
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
            ("AWS_REGION", "us-east-1"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string())),
    );
    let run = |now: &str| {
        json_of(
            &["reconcile", "--now", now, "--format", "json"],
            &repo.path,
            &env,
        )
    };
    let (code, json) = run("2026-11-23T10:30:00Z");
    assert_eq!(code, 0, "{json:#}");
    let iam_policies = policies(&aws, crate::reconcile::PATH);
    assert_eq!(iam_policies.len(), 1, "{json:#}");
    assert_eq!(iam_policies[0].users, ["alice"]);
    let mine = ours(&fake.stored(PROJECT));
    assert_eq!(mine.len(), 1, "{json:#}");
    // The same window in both clouds.
    assert!(
        iam_policies[0]
            .document
            .to_string()
            .contains("2026-11-23T12:00:00Z"),
        "{}",
        iam_policies[0].document
    );
    assert!(
        mine[0]["condition"]["expression"]
            .as_str()
            .unwrap()
            .contains("timestamp(\"2026-11-23T12:00:00Z\")")
    );
    // At the end both go, and the file with them.
    let (code, json) = run("2026-11-23T12:05:00Z");
    assert_eq!(code, 0, "{json:#}");
    assert!(
        policies(&aws, crate::reconcile::PATH).is_empty(),
        "{json:#}"
    );
    assert!(ours(&fake.stored(PROJECT)).is_empty(), "{json:#}");
    assert!(!repo.path.join("grants/prod-logs/alice-1.yaml").exists());
}

/// A role that could strip the condition from its own binding (or mint
/// credentials that outlive the window) is refused unless the policy says
/// `allow_admin`, and a misspelt predefined role is refused with a
/// suggestion, both before anything reaches Google.
#[test]
fn a_google_role_that_can_set_iam_policy_is_refused_without_allow_admin() {
    let tmp = tempfile::tempdir().unwrap();
    let admin = POLICY.replace(
        "gcp_roles: [roles/logging.viewer]",
        "gcp_roles: [roles/resourcemanager.projectIamAdmin, roles/loging.viewer]",
    );
    std::fs::write(tmp.path().join("gitgrant.yaml"), &admin).unwrap();
    let (code, text) = text_of(&["validate"], tmp.path(), &[]);
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("error[gcp-admin-role]"), "{text}");
    assert!(
        text.contains("resourcemanager.projects.setIamPolicy"),
        "{text}"
    );
    assert!(
        text.contains("did you mean `roles/logging.viewer`?"),
        "{text}"
    );
    // With allow_admin the organisation accepts it: only the misspelling is left.
    let accepted = admin.replace(
        "    approvers: [\"@acme/sre\"]\n",
        "    approvers: [\"@acme/sre\"]\n    allow_admin: true\n",
    );
    std::fs::write(tmp.path().join("gitgrant.yaml"), &accepted).unwrap();
    let (_, text) = text_of(&["validate"], tmp.path(), &[]);
    assert!(!text.contains("gcp-admin-role"), "{text}");
    assert!(text.contains("error[gcp-role]"), "{text}");
}

/// A run stopped after Google took its write, before it heard so (and so
/// before the removal commit): the next run finds the binding gone, writes
/// nothing, and removes the file.
#[test]
fn a_run_killed_after_googles_write_is_completed_by_the_next() {
    let (fake, repo) = granted();
    fake.answer_writes_after(std::time::Duration::from_secs(60));
    let mut child = crate::support::gitgrant_process()
        .args(["reconcile", "--now", "2026-11-23T12:05:00Z", "--repo"])
        .arg(&repo.path)
        .envs(fake.env())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let writes = fake.count("setIamPolicy");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while fake.count("setIamPolicy") == writes && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        ours(&fake.stored(PROJECT)).is_empty(),
        "Google took the write"
    );
    assert!(
        repo.path.join("grants/prod-logs/alice-1.yaml").exists(),
        "the stopped run made no removal commit"
    );
    let fake_writes = fake.count("setIamPolicy");
    let fresh = FakeGcp::start();
    fresh.policy(PROJECT, fake.stored(PROJECT));
    let (code, json) = reconcile(&repo.path, &fresh, "2026-11-23T12:06:00Z");
    assert_eq!(code, 0, "{json:#}");
    assert_eq!(
        fresh.count("setIamPolicy"),
        0,
        "nothing left to write: {json:#}"
    );
    assert_eq!(fake.count("setIamPolicy"), fake_writes);
    assert!(
        !repo.path.join("grants/prod-logs/alice-1.yaml").exists(),
        "{json:#}"
    );
    assert_eq!(fresh.stored(PROJECT)["bindings"], foreign()["bindings"]);
}

/// What the check's comment, the request form, the portal, the run's
/// records and the audit say of a Google grant: Google's own words.
#[test]
fn a_google_grant_is_described_in_googles_words() {
    let repo = setup();
    let snapshot = gitgrant::snapshot::Snapshot::from_dir(&repo.path).unwrap();
    let (p, _) = gitgrant::validate::read_policy(snapshot.policy.as_ref().unwrap());
    let p = p.unwrap();
    let role = &p.roles["prod-logs"];
    assert_eq!(
        gitgrant::providers::targets_text(&p, role),
        "Google Cloud `projects/acme-prod` (gcp-prod)"
    );
    assert_eq!(
        gitgrant::providers::access_text(&p, role, "alice"),
        "role `roles/logging.viewer` on `projects/acme-prod` for principal `user:alice@acme.com` (gcp-prod)"
    );
    let audit = audit(&repo.path);
    assert_eq!(
        audit["lifecycles"][0]["access"],
        "role `roles/logging.viewer` on `projects/acme-prod` for principal `user:alice@acme.com` (gcp-prod)",
        "{audit:#}"
    );
}
