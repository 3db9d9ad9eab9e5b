//! The azure-pim kind through the real binary, against the local stand-in
//! of ARM's PIM methods and Entra's token endpoint (azure_fake.rs): a
//! grant becomes a schedule request with the exact window, a steady run
//! reads and writes nothing, an early delete is an `AdminRemove`, Azure's
//! own end is cleaned up in git with no failing call, and assignments
//! gitgrant did not make are never touched.

use std::path::Path;

use serde_json::{Value, json};

use crate::azure_fake::{FakeAzure, RECONCILER_OID, SUBSCRIPTION, definition_id};
use crate::gcp_run::{json_of, text_of};
use crate::support::{GitRepo, grant_yaml};

const ALICE: &str = "11111111-1111-4111-8111-111111111111";
const BOB: &str = "22222222-2222-4222-8222-222222222222";

/// The policy, with the stand-in's endpoint as the management endpoint.
fn policy(endpoint: &str, extra_roles: &str) -> String {
    format!(
        r#"version: 1
repository: acme/access
security_team: "@acme/security"
providers:
  azure-prod:
    type: azure-pim
    tenant_id: 72f988bf-86f1-41af-91ab-2d7cd011db47
    scope: {SUBSCRIPTION}
    management_endpoint: {endpoint}
people:
  alice: {{ azure_object_id: {ALICE} }}
  bob: {{ azure_object_id: {BOB} }}
roles:
  prod-contributor:
    description: Contributor in production
    provider: azure-prod
    max_duration: 4h
    approvers: ["@acme/platform"]
    permissions:
      azure_roles: [Contributor, "Storage Blob Data Reader"]
{extra_roles}"#
    )
}

/// The repository with alice's 2h grant landed at 10:00.
fn setup(fake: &FakeAzure, extra_roles: &str) -> GitRepo {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(
        tmp.path().join("gitgrant.yaml"),
        policy(&fake.endpoint(), extra_roles),
    )
    .unwrap();
    let repo = GitRepo::from_template(tmp.path(), "2026-11-23T08:00:00Z", "Access policy (#1)");
    repo.commit(
        &[(
            "grants/prod-contributor/alice-1.yaml",
            Some(&grant_yaml("alice", "prod-contributor", "duration: 2h")),
        )],
        "alice: prod-contributor (#2)",
        "2026-11-23T10:00:00Z",
    );
    repo
}

/// `gitgrant reconcile --now NOW`, the stand-in's clock set to NOW.
fn reconcile(dir: &Path, fake: &FakeAzure, now: &str) -> (i32, Value) {
    fake.set_now(now);
    json_of(
        &["reconcile", "--now", now, "--format", "json"],
        dir,
        &fake.env(),
    )
}

/// The stand-in with foreign assignments, and the repository after a run
/// at 10:30 that made alice's assignments.
fn granted() -> (FakeAzure, GitRepo) {
    let fake = FakeAzure::start("2026-11-23T10:30:00Z");
    let repo = setup(&fake, "");
    let (code, json) = reconcile(&repo.path, &fake, "2026-11-23T10:30:00Z");
    assert_eq!(code, 0, "{json:#}");
    (fake, repo)
}

/// The audit's JSON at `now`.
fn audit(dir: &Path, now: &str) -> Value {
    json_of(&["audit", "--format", "json", "--now", now], dir, &[]).1
}

/// A successful run at `now` that makes no schedule request: its JSON.
fn without_a_request(repo: &GitRepo, fake: &FakeAzure, now: &str) -> Value {
    let puts = fake.count("PutRoleAssignmentScheduleRequest");
    let (code, json) = reconcile(&repo.path, fake, now);
    assert_eq!(code, 0, "{json:#}");
    assert_eq!(
        fake.count("PutRoleAssignmentScheduleRequest"),
        puts,
        "{json:#}"
    );
    json
}

/// The PUT bodies of the schedule requests sent, in order.
fn requests_sent(fake: &FakeAzure) -> Vec<Value> {
    fake.puts()
        .iter()
        .map(|p| p[1]["properties"].clone())
        .collect()
}

#[test]
fn a_grant_is_one_schedule_request_per_role_with_the_exact_window() {
    let fake = FakeAzure::start("2026-11-23T10:30:00Z");
    let repo = setup(&fake, "");
    // The plan says it in Azure's words.
    let (_, text) = text_of(
        &["plan", "--now", "2026-11-23T10:30:00Z"],
        &repo.path,
        &fake.env(),
    );
    assert!(
        text.contains(&format!(
            "role Contributor at {SUBSCRIPTION} for Entra user {ALICE}"
        )),
        "{text}"
    );
    let (code, json) = reconcile(&repo.path, &fake, "2026-11-23T10:30:00Z");
    assert_eq!(code, 0, "{json:#}");
    let sent = requests_sent(&fake);
    assert_eq!(sent.len(), 2, "{sent:?}");
    for (p, role) in sent.iter().zip(["Contributor", "Storage Blob Data Reader"]) {
        assert_eq!(p["requestType"], "AdminAssign");
        assert_eq!(p["principalId"], ALICE);
        assert_eq!(p["roleDefinitionId"], definition_id(SUBSCRIPTION, role));
        assert_eq!(
            p["scheduleInfo"],
            json!({"startDateTime": "2026-11-23T10:00:00Z",
                   "expiration": {"type": "AfterDateTime", "endDateTime": "2026-11-23T12:00:00Z"}})
        );
        let why = p["justification"].as_str().unwrap();
        assert!(
            why.starts_with("[gitgrant acme/access prod-contributor/alice-1] "),
            "{why}"
        );
    }
    // The request names are the same for the same grant, role and window:
    // a retried request is the same request.
    let names: Vec<String> = fake
        .puts()
        .iter()
        .map(|p| p[0].as_str().unwrap().to_string())
        .collect();
    assert_ne!(names[0], names[1]);
    let in_force = fake.in_force();
    assert_eq!(in_force.len(), 2);
    assert!(in_force.iter().all(|s| s.principal == ALICE));
    // The requests PIM holds name the reconciler as their requestor.
    assert!(
        fake.requests()
            .iter()
            .all(|r| r["properties"]["requestorId"] == RECONCILER_OID)
    );
}

#[test]
fn a_second_run_reads_and_writes_nothing() {
    let (fake, repo) = granted();
    let json = without_a_request(&repo, &fake, "2026-11-23T10:40:00Z");
    let calls = &json["calls"]["azure-prod"];
    assert!(
        calls["writes"].as_object().is_none_or(|w| w.is_empty()),
        "{json:#}"
    );
    // Three listings, each paged (two items a page here).
    for list in [
        "ListRoleDefinitions",
        "ListRoleAssignmentScheduleRequests",
        "ListRoleAssignmentScheduleInstances",
    ] {
        assert!(
            calls["reads"][format!("authorization:{list}")]
                .as_u64()
                .unwrap_or(0)
                >= 1,
            "{json:#}"
        );
    }
    assert_eq!(
        calls["reads"]["authorization:ListRoleAssignmentScheduleInstances"], 1,
        "two instances fit one page: {json:#}"
    );
    assert_eq!(
        calls["reads"]["authorization:ListRoleDefinitions"], 3,
        "six built-in roles in pages of two: {json:#}"
    );
}

#[test]
fn an_early_delete_is_an_admin_remove_and_the_audit_records_azures_delay() {
    let (fake, repo) = granted();
    repo.commit(
        &[("grants/prod-contributor/alice-1.yaml", None)],
        "Revoke alice's prod-contributor early (#3)",
        "2026-11-23T10:45:00Z",
    );
    let (code, json) = reconcile(&repo.path, &fake, "2026-11-23T11:00:00Z");
    assert_eq!(code, 0, "{json:#}");
    let sent = requests_sent(&fake);
    let removes: Vec<&Value> = sent
        .iter()
        .filter(|p| p["requestType"] == "AdminRemove")
        .collect();
    assert_eq!(removes.len(), 2, "{sent:?}");
    assert!(removes.iter().all(|p| p["principalId"] == ALICE));
    assert!(fake.in_force().is_empty());
    let audit = audit(&repo.path, "2026-11-23T13:00:00Z");
    let l = &audit["lifecycles"][0];
    assert_eq!(l["revocation"]["ended_by"], "run", "{l:#}");
    assert_eq!(l["revocation"]["propagation_seconds"], 600, "{l:#}");
}

#[test]
fn an_assignment_azure_ended_is_cleaned_up_in_git_without_a_failing_call() {
    let (fake, repo) = granted();
    // Azure ended it: nothing to remove.
    let json = without_a_request(&repo, &fake, "2026-11-23T12:05:00Z");
    assert!(
        !repo
            .path
            .join("grants/prod-contributor/alice-1.yaml")
            .exists(),
        "{json:#}"
    );
    let message = crate::support::git(&repo.path, &["log", "-1", "--format=%B"], None);
    assert!(
        message.contains("Gitgrant-Grant: prod-contributor/alice-1"),
        "{message}"
    );
    let audit = audit(&repo.path, "2026-11-23T13:00:00Z");
    assert_eq!(
        audit["lifecycles"][0]["revocation"]["ended_by"], "cloud",
        "{audit:#}"
    );
}

#[test]
fn assignments_gitgrant_did_not_make_are_never_touched() {
    let fake = FakeAzure::start("2026-11-23T10:30:00Z");
    let other = "55555555-5555-4555-8555-555555555555";
    // A permanent Owner of the platform team's, bob's time-bound Reader
    // from another tool, and a look-alike: bob's Contributor whose
    // justification carries this repository's marker but that another
    // principal requested.
    fake.foreign(
        other,
        "Owner",
        ("2026-01-01T00:00:00Z", None),
        other,
        "break-glass owner",
    );
    fake.foreign(
        BOB,
        "Reader",
        ("2026-11-23T09:00:00Z", Some("2026-11-23T18:00:00Z")),
        other,
        "on call",
    );
    fake.foreign(
        BOB,
        "Contributor",
        ("2026-11-23T09:00:00Z", Some("2026-11-23T18:00:00Z")),
        other,
        "[gitgrant acme/access prod-contributor/bob-1] forged",
    );
    let repo = setup(&fake, "");
    for now in [
        "2026-11-23T10:30:00Z",
        "2026-11-23T11:00:00Z",
        "2026-11-23T12:05:00Z",
    ] {
        let (code, json) = reconcile(&repo.path, &fake, now);
        assert_eq!(code, 0, "{json:#}");
    }
    let sent = requests_sent(&fake);
    assert!(
        sent.iter().all(|p| p["principalId"] == ALICE),
        "a request for someone else's assignment: {sent:?}"
    );
    let left: Vec<(String, String)> = fake
        .in_force()
        .iter()
        .map(|s| {
            (
                s.principal.clone(),
                s.role.rsplit('/').next().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(left.len(), 3, "{left:?}");
}

#[test]
fn an_assignment_someone_else_removed_before_its_end_is_made_again_as_drift() {
    let (fake, repo) = granted();
    let other = "55555555-5555-4555-8555-555555555555";
    fake.remove_as(other, ALICE, "Contributor");
    assert_eq!(fake.in_force().len(), 1);
    fake.set_now("2026-11-23T10:50:00Z");
    let (_, text) = text_of(
        &["plan", "--now", "2026-11-23T10:50:00Z"],
        &repo.path,
        &fake.env(),
    );
    assert!(
        text.contains("drift: the assignment") && text.contains("role Contributor"),
        "{text}"
    );
    let (code, json) = reconcile(&repo.path, &fake, "2026-11-23T10:50:00Z");
    assert_eq!(code, 0, "{json:#}");
    assert_eq!(fake.in_force().len(), 2, "{json:#}");
    let last = requests_sent(&fake).pop().unwrap();
    assert_eq!(last["requestType"], "AdminAssign");
    assert_eq!(
        last["scheduleInfo"]["expiration"]["endDateTime"],
        "2026-11-23T12:00:00Z"
    );
    // And then it is in place: the next run writes nothing.
    without_a_request(&repo, &fake, "2026-11-23T11:00:00Z");
}

#[test]
fn throttling_converges_in_one_run() {
    let fake = FakeAzure::start("2026-11-23T10:30:00Z");
    fake.faults(429, 2);
    fake.faults(503, 1);
    let repo = setup(&fake, "");
    let (code, json) = reconcile(&repo.path, &fake, "2026-11-23T10:30:00Z");
    assert_eq!(code, 0, "{json:#}");
    assert_eq!(fake.in_force().len(), 2);
    assert!(
        json["calls"]["azure-prod"]["retries"].as_u64().unwrap_or(0) >= 3,
        "{json:#}"
    );
}

#[test]
fn a_request_pim_took_whose_answer_was_lost_is_the_same_request_when_retried() {
    let fake = FakeAzure::start("2026-11-23T10:30:00Z");
    fake.lose_answers(1);
    let repo = setup(&fake, "");
    let (code, json) = reconcile(&repo.path, &fake, "2026-11-23T10:30:00Z");
    assert_eq!(code, 0, "{json:#}");
    // The retry asked for the same request by name; PIM said it exists,
    // and it is gitgrant's own: one request, one assignment per role.
    let names: Vec<Value> = fake.puts().iter().map(|p| p[0].clone()).collect();
    assert_eq!(names.len(), 3, "{names:?}");
    assert_eq!(names[0], names[1]);
    assert_eq!(fake.requests().len(), 2);
    assert_eq!(fake.in_force().len(), 2);
    assert_eq!(fake.count("GetRoleAssignmentScheduleRequest"), 1);
}

#[test]
fn credentials_entra_refuses_are_one_line_that_says_what_to_set() {
    let fake = FakeAzure::start("2026-11-23T10:30:00Z");
    let repo = setup(&fake, "");
    let wrong = repo.path.join("../wrong-token");
    std::fs::write(&wrong, "not-the-job-token").unwrap();
    let mut env = fake.env();
    env.retain(|(k, _)| k != "AZURE_FEDERATED_TOKEN_FILE");
    env.push((
        "AZURE_FEDERATED_TOKEN_FILE".into(),
        wrong.display().to_string(),
    ));
    let (code, text) = text_of(
        &["reconcile", "--now", "2026-11-23T10:30:00Z"],
        &repo.path,
        &env,
    );
    assert_ne!(code, Some(0), "{text}");
    assert_ne!(code, Some(101), "{text}");
    let line = text
        .lines()
        .find(|l| l.contains("azure-prod"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        line.contains("AZURE_CLIENT_ID") && line.contains("AADSTS700213"),
        "{text}"
    );
    assert!(fake.puts().is_empty());
    // Without the variables at all: which one to set.
    let env: Vec<(String, String)> = fake
        .env()
        .into_iter()
        .filter(|(k, _)| k != "AZURE_CLIENT_ID")
        .collect();
    let (_, text) = text_of(
        &["reconcile", "--now", "2026-11-23T10:30:00Z"],
        &repo.path,
        &env,
    );
    assert!(text.contains("AZURE_CLIENT_ID is not set"), "{text}");
    assert!(
        repo.path
            .join("grants/prod-contributor/alice-1.yaml")
            .exists()
    );
}

#[test]
fn a_window_longer_than_the_roles_pim_setting_says_which_setting_to_change() {
    let fake = FakeAzure::start("2026-11-23T10:30:00Z");
    fake.max_active("Contributor", 60);
    let repo = setup(&fake, "");
    let (code, text) = text_of(
        &["reconcile", "--now", "2026-11-23T10:30:00Z"],
        &repo.path,
        &fake.env(),
    );
    assert_ne!(code, Some(0), "{text}");
    assert_ne!(code, Some(101), "{text}");
    assert!(text.contains("ExpirationRule"), "{text}");
    assert!(
        text.contains("role Contributor") && text.contains("Expire active assignments after"),
        "{text}"
    );
    assert!(
        repo.path
            .join("grants/prod-contributor/alice-1.yaml")
            .exists()
    );
}

#[test]
fn owner_is_refused_without_allow_admin() {
    let fake = FakeAzure::start("2026-11-23T10:30:00Z");
    let repo = setup(
        &fake,
        r#"  prod-owner:
    description: Owner in production
    provider: azure-prod
    max_duration: 1h
    approvers: ["@acme/platform"]
    permissions:
      azure_roles: [Owner]
"#,
    );
    let (code, text) = text_of(&["validate"], &repo.path, &[]);
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("azure-admin-role"), "{text}");
    assert!(text.contains("gitgrant.yaml:"), "{text}");
}

#[test]
fn a_custom_role_that_writes_role_assignments_is_refused_at_run_time() {
    let fake = FakeAzure::start("2026-11-23T10:30:00Z");
    let guid = "3c3c3c3c-1111-4222-8333-444455556666";
    fake.custom_role(
        "Deployment Operator",
        guid,
        &[
            "Microsoft.Resources/deployments/*",
            "Microsoft.Authorization/roleAssignments/write",
        ],
    );
    let repo = setup(
        &fake,
        r#"  prod-deploy:
    description: Deployments
    provider: azure-prod
    max_duration: 1h
    approvers: ["@acme/platform"]
    permissions:
      azure_roles: [Deployment Operator]
"#,
    );
    repo.commit(
        &[(
            "grants/prod-deploy/bob-1.yaml",
            Some(&grant_yaml("bob", "prod-deploy", "duration: 1h")),
        )],
        "bob: prod-deploy (#4)",
        "2026-11-23T10:10:00Z",
    );
    let (_, json) = reconcile(&repo.path, &fake, "2026-11-23T10:30:00Z");
    let refused = json.to_string();
    assert!(refused.contains("can write role assignments"), "{json:#}");
    assert!(requests_sent(&fake).iter().all(|p| p["principalId"] != BOB));
}

#[test]
fn iam_policy_prints_the_custom_role_the_reconciler_needs_at_the_scope() {
    let fake = FakeAzure::start("2026-11-23T10:30:00Z");
    let repo = setup(&fake, "");
    let (code, role) = json_of(&["iam-policy", "--provider", "azure-prod"], &repo.path, &[]);
    assert_eq!(code, 0, "{role:#}");
    assert_eq!(role["AssignableScopes"], json!([SUBSCRIPTION]));
    assert!(role["Actions"].as_array().unwrap().contains(&json!(
        "Microsoft.Authorization/roleAssignmentScheduleRequests/write"
    )));
}

/// What the check's comment, the request form, the portal, the run's
/// records and the audit say of an Azure grant: Azure's own words.
#[test]
fn an_azure_grant_is_described_in_azures_words() {
    let (_fake, repo) = granted();
    let snapshot = gitgrant::snapshot::Snapshot::from_dir(&repo.path).unwrap();
    let (p, _) = gitgrant::validate::read_policy(snapshot.policy.as_ref().unwrap());
    let p = p.unwrap();
    let role = &p.roles["prod-contributor"];
    assert_eq!(
        gitgrant::providers::targets_text(&p, role),
        format!("Azure `{SUBSCRIPTION}` (azure-prod)")
    );
    let words = format!(
        "role `Contributor`, `Storage Blob Data Reader` at `{SUBSCRIPTION}` for Entra user `{ALICE}` (azure-prod)"
    );
    assert_eq!(gitgrant::providers::access_text(&p, role, "alice"), words);
    let audit = audit(&repo.path, "2026-11-23T11:00:00Z");
    assert_eq!(audit["lifecycles"][0]["access"], words, "{audit:#}");
}

/// Each Azure key written wrong is its own error, at its own line, with
/// its rule; Azure keys on another kind are refused where they are.
#[test]
fn azure_keys_written_wrong_are_errors_at_their_line() {
    let tmp = tempfile::tempdir().unwrap();
    let text = policy("http://management.azure.com", "")
        .replace(
            "tenant_id: 72f988bf-86f1-41af-91ab-2d7cd011db47",
            "tenant_id: acme.onmicrosoft.com",
        )
        .replace(
            &format!("{{ azure_object_id: {BOB} }}"),
            "{ azure_object_id: bob@acme.com }",
        )
        .replace(
            "azure_roles: [Contributor, \"Storage Blob Data Reader\"]",
            "azure_roles: [Contributor, contributor, \"a/b\"]",
        )
        + "  gcp-logs:\n    description: Logs\n    provider: gcp-prod\n    max_duration: 1h\n    approvers: [\"@acme/sre\"]\n    permissions:\n      gcp_roles: [roles/logging.viewer]\n      azure_roles: [Reader]\n";
    let text = text.replace(
        "people:\n",
        "  gcp-prod:\n    type: gcp-iam\n    resource: projects/acme-prod\n    scope: /subscriptions/x\npeople:\n",
    );
    std::fs::write(tmp.path().join("gitgrant.yaml"), &text).unwrap();
    let line_of = |needle: &str| {
        text.lines()
            .position(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("{needle} not in the policy"))
            + 1
    };
    let (code, out) = text_of(&["validate"], tmp.path(), &[]);
    assert_eq!(code, Some(2), "{out}");
    for (rule, needle) in [
        ("azure-provider", "tenant_id: acme"),
        ("azure-provider", "management_endpoint: http:"),
        ("azure-provider", "scope: /subscriptions/x"),
        ("invalid-identity", "bob@acme.com"),
        ("azure-role", "azure_roles: [Contributor, contributor"),
        ("kind-mismatch", "azure_roles: [Reader]"),
    ] {
        // Each error is its line, then ` --> file:line:col`.
        let at = format!("--> gitgrant.yaml:{}:", line_of(needle));
        let lines: Vec<&str> = out.lines().collect();
        assert!(
            lines
                .windows(2)
                .any(|w| w[0].starts_with(&format!("error[{rule}]")) && w[1].contains(&at)),
            "no {rule} at {at}:\n{out}"
        );
    }
}
