//! Session fences against moto, through the real binary: the role a grant
//! lets alice assume carries gitgrant's fence, which denies her sessions of
//! it from the window's end (or an early revoke) on; the documents gitgrant
//! wrote are replayed through the IAM evaluator of `oracle.rs`, since moto
//! evaluates no condition.

use serde_json::Value;

use crate::moto::{Moto, block_on, moto, policies};
use crate::oracle::{Decision, Request, evaluate};
use crate::reconcile::{PATH, run, run_env, setup, writes};
use crate::support::GitRepo;

/// The role the fixture's `ro` role lets its grants assume.
const ROLE: &str = "ReadOnly";

/// Creates the target role, with a policy of someone else's attached;
/// returns the role's unique id.
fn target_role(iam: &aws_sdk_iam::Client) -> String {
    let id = block_on(async {
        let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111111111111:root"},"Action":"sts:AssumeRole"}]}"#;
        let role = iam
            .create_role()
            .role_name(ROLE)
            .assume_role_policy_document(trust)
            .send()
            .await
            .unwrap();
        role.role().unwrap().role_id().to_string()
    });
    attach_theirs(iam, "read-data", "s3:*");
    id
}

/// Creates a policy of someone else's allowing `action`, attached to the
/// target role.
fn attach_theirs(iam: &aws_sdk_iam::Client, name: &str, action: &str) {
    block_on(async {
        let doc = format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"{action}","Resource":"*"}}]}}"#
        );
        let created = iam
            .create_policy()
            .policy_name(name)
            .policy_document(doc)
            .send()
            .await
            .unwrap();
        let arn = created.policy().unwrap().arn().unwrap();
        iam.attach_role_policy()
            .role_name(ROLE)
            .policy_arn(arn)
            .send()
            .await
            .unwrap();
    })
}

/// The managed policies attached to the role, by name.
fn attached(iam: &aws_sdk_iam::Client) -> Vec<String> {
    block_on(async {
        let list = iam
            .list_attached_role_policies()
            .role_name(ROLE)
            .send()
            .await
            .unwrap();
        let mut names: Vec<String> = list
            .attached_policies()
            .iter()
            .filter_map(|p| p.policy_name().map(str::to_string))
            .collect();
        names.sort();
        names
    })
}

/// The fence policies gitgrant holds: (name, document).
fn fences(iam: &aws_sdk_iam::Client) -> Vec<(String, Value)> {
    policies(iam, PATH)
        .into_iter()
        .filter(|p| p.name.starts_with("gitgrant-fence."))
        .map(|p| (p.name, p.document))
        .collect()
}

/// The fixture with alice's 2h grant of `ro` (10:00–12:00) landed, and the
/// target role; the role's unique id.
fn fenced_setup(m: &Moto) -> (GitRepo, aws_sdk_iam::Client, String) {
    let (repo, iam) = setup(m);
    let id = target_role(&iam);
    repo.land_grants(2, 1, &[("alice", "ro", "duration: 2h")]);
    (repo, iam, id)
}

fn reconcile(repo: &GitRepo, m: &Moto, now: &str) -> Value {
    let (code, json) = run(&repo.path, &m.url, &["reconcile", "--now", now]);
    assert_eq!(code, 0, "{json:#}");
    json
}

/// A call of the target role's session named `session`, issued at
/// `issued`, made at `now`.
fn call(role_id: &str, session: &str, issued: &str, now: &str) -> Request {
    Request::new("s3:GetObject", "arn:aws:s3:::prod/k", now)
        .with("aws:userid", &format!("{role_id}:{session}"))
        .with("aws:TokenIssueTime", issued)
}

/// What IAM decides for `request` by a session of the role: the role's
/// own permissions and every fence gitgrant wrote.
fn decide(iam: &aws_sdk_iam::Client, request: &Request) -> Decision {
    let theirs =
        serde_json::json!({"Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]});
    let fences = fences(iam);
    let mut docs: Vec<&Value> = fences.iter().map(|(_, d)| d).collect();
    docs.push(&theirs);
    evaluate(&docs, request)
}

#[test]
fn a_grants_role_carries_a_fence_that_ends_the_subjects_sessions_at_the_end() {
    let m = moto();
    let (repo, iam, role_id) = fenced_setup(&m);
    let json = reconcile(&repo, &m, "2026-11-23T10:30:00Z");
    let fenced = fences(&iam);
    assert_eq!(fenced.len(), 1, "{json:#}");
    let (name, doc) = &fenced[0];
    assert!(name.ends_with(".0"), "{name}");
    assert_eq!(
        doc["Statement"][0],
        serde_json::json!({
            "Sid": doc["Statement"][0]["Sid"],
            "Effect": "Deny",
            "Action": "*",
            "Resource": "*",
            "Condition": {
                "StringEquals": { "aws:userid": format!("{role_id}:alice") },
                "DateGreaterThanEquals": { "aws:TokenIssueTime": "2026-11-23T10:00:00Z" },
                "DateLessThan": { "aws:TokenIssueTime": "2026-11-23T12:00:00Z" },
                "DateGreaterThan": { "aws:CurrentTime": "2026-11-23T12:00:00Z" },
            }
        })
    );
    // Attached to the role beside its own policy, which is untouched.
    assert_eq!(attached(&iam), [name.clone(), "read-data".to_string()]);
    // The plan said so, in its own words.
    let lines: Vec<&str> = json["plan"]["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["action"].as_str())
        .collect();
    assert_eq!(lines, ["grant", "grant"], "{json:#}");

    // IAM's decisions over what gitgrant wrote: alice's session issued a
    // minute before the end works until the end, and not after; bob's
    // session of the same role is untouched, and so is a session alice
    // gets later from a standing right.
    let issued = "2026-11-23T11:59:00Z";
    let at = |session, issued, now| decide(&iam, &call(&role_id, session, issued, now));
    assert_eq!(at("alice", issued, "2026-11-23T11:59:59Z"), Decision::Allow);
    assert_eq!(at("alice", issued, "2026-11-23T12:00:01Z"), Decision::Deny);
    assert_eq!(at("bob", issued, "2026-11-23T12:00:01Z"), Decision::Allow);
    let later = "2026-11-23T13:00:00Z";
    assert_eq!(at("alice", later, "2026-11-23T13:05:00Z"), Decision::Allow);

    // A second run writes nothing.
    let json = reconcile(&repo, &m, "2026-11-23T10:40:00Z");
    assert_eq!(writes(&json), 0, "{json:#}");
}

#[test]
fn an_early_revoke_ends_live_sessions_on_that_run_and_the_fence_goes_twelve_hours_later() {
    let m = moto();
    let (repo, iam, role_id) = fenced_setup(&m);
    reconcile(&repo, &m, "2026-11-23T10:30:00Z");
    let issued = "2026-11-23T10:35:00Z";
    let at = |now| decide(&iam, &call(&role_id, "alice", issued, now));
    assert_eq!(at("2026-11-23T11:06:00Z"), Decision::Allow);

    repo.commit(
        &[("grants/ro/alice-1.yaml", None)],
        "Revoke alice early (#3)",
        "2026-11-23T11:00:00Z",
    );
    let json = reconcile(&repo, &m, "2026-11-23T11:05:00Z");
    let fenced = fences(&iam);
    let c = &fenced[0].1["Statement"][0]["Condition"];
    assert_eq!(
        (
            &c["DateLessThan"]["aws:TokenIssueTime"],
            &c["DateGreaterThan"]["aws:CurrentTime"]
        ),
        (
            &"2026-11-23T12:00:00Z".into(),
            &"2026-11-23T11:00:00Z".into()
        ),
        "{json:#}"
    );
    // The session alice started at 10:35 is refused from that run on, and
    // so is one she started after the removal, before the run.
    assert_eq!(at("2026-11-23T11:05:01Z"), Decision::Deny);
    let late = call(
        &role_id,
        "alice",
        "2026-11-23T11:02:00Z",
        "2026-11-23T11:05:01Z",
    );
    assert_eq!(decide(&iam, &late), Decision::Deny);

    // Kept while a session it ended could live (12 h past the last moment
    // one could be issued), then gone, and the role's own policy never
    // touched.
    reconcile(&repo, &m, "2026-11-23T23:59:00Z");
    assert_eq!(fences(&iam).len(), 1);
    let json = reconcile(&repo, &m, "2026-11-24T00:01:00Z");
    assert!(fences(&iam).is_empty(), "{json:#}");
    assert_eq!(attached(&iam), ["read-data"]);
    let actions: Vec<&str> = json["plan"]["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["reason"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(actions, ["unneeded"], "{json:#}");
}

#[test]
fn a_full_role_refuses_the_fence_before_any_call_and_a_foreign_role_goes_unfenced() {
    let m = moto();
    let (repo, iam, _) = fenced_setup(&m);
    // Nine more policies: ten in all, IAM's default quota per role.
    for n in 0..9 {
        attach_theirs(&iam, &format!("other-{n}"), "s3:ListBucket");
    }
    let (code, json) = run(
        &repo.path,
        &m.url,
        &["plan", "--now", "2026-11-23T10:30:00Z"],
    );
    // A refusal is exit 1: something the repository asks for cannot be done.
    assert_eq!(code, 1, "{json:#}");
    let refused = &json["plan"]["refused"][0];
    assert!(
        refused["grant"]
            .as_str()
            .unwrap()
            .starts_with("fence:arn:aws:iam::111111111111:role/ReadOnly")
            && refused["why"].as_str().unwrap().contains("quota of 10"),
        "{json:#}"
    );
    assert_eq!(writes(&json), 0);
    assert_eq!(attached(&iam).len(), 10);

    // A role in an account no provider reconciles cannot be fenced: the
    // plan says so.
    let policy = std::fs::read_to_string(repo.path.join("gitgrant.yaml")).unwrap();
    let policy = policy.replace(
        "assume_roles: [arn:aws:iam::111111111111:role/ReadOnly]",
        "assume_roles: [arn:aws:iam::999999999999:role/Elsewhere]",
    );
    repo.commit(
        &[("gitgrant.yaml", Some(&policy))],
        "Policy: ro assumes a role elsewhere (#4)",
        "2026-11-23T10:00:00Z",
    );
    let (_, json) = run(
        &repo.path,
        &m.url,
        &["plan", "--now", "2026-11-23T10:30:00Z"],
    );
    let unfenced = &json["plan"]["unfenced"][0];
    assert_eq!(unfenced["grant"], "ro/alice-1", "{json:#}");
    assert_eq!(unfenced["role"], "arn:aws:iam::999999999999:role/Elsewhere");

    // Where a role requires the fence, that policy is refused outright.
    let strict = policy.replace(
        "    approvers: [\"@acme/sre-leads\"]\n",
        "    approvers: [\"@acme/sre-leads\"]\n    require_fence: true\n",
    );
    assert_ne!(strict, policy);
    std::fs::write(repo.path.join("gitgrant.yaml"), &strict).unwrap();
    let out = crate::support::gitgrant()
        .args(["validate", "--format", "json", "--repo"])
        .arg(&repo.path)
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(2), "{report:#}");
    let rules: Vec<&str> = report["violations"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v["rule"].as_str())
        .collect();
    assert_eq!(rules, ["unfenceable-role"], "{report:#}");
}

#[test]
fn a_statement_goes_twelve_hours_after_its_end_while_the_others_stay() {
    let m = moto();
    let (repo, iam) = setup(&m);
    target_role(&iam);
    repo.land_grants(
        2,
        1,
        &[
            ("alice", "ro", "duration: 2h"),
            ("bob", "ro", "duration: 8h"),
        ],
    );
    let sessions = |iam: &aws_sdk_iam::Client| {
        let fenced = fences(iam);
        let mut who: Vec<String> = fenced
            .iter()
            .flat_map(|(_, d)| d["Statement"].as_array().unwrap().clone())
            .map(|s| {
                let id = s["Condition"]["StringEquals"]["aws:userid"]
                    .as_str()
                    .unwrap();
                id.split_once(':').unwrap().1.to_string()
            })
            .collect();
        who.sort();
        who
    };
    reconcile(&repo, &m, "2026-11-23T10:30:00Z");
    assert_eq!(sessions(&iam), ["alice", "bob"]);
    // alice's grant ended at 12:00; her statement stays until midnight.
    reconcile(&repo, &m, "2026-11-23T12:30:00Z");
    assert_eq!(sessions(&iam), ["alice", "bob"]);
    let json = reconcile(&repo, &m, "2026-11-24T00:01:00Z");
    assert_eq!(sessions(&iam), ["bob"], "{json:#}");
}

#[test]
fn a_subject_written_in_another_case_than_iam_spells_her_cannot_keep_her_sessions_past_the_end() {
    // `people` says `Alice`; IAM's user is `alice`. IAM accepts either for
    // the grant, and `${aws:username}` pins her sessions to `alice`: the
    // fence must name that spelling, as `aws:userid` compares it exactly.
    let m = moto();
    let (repo, iam) = setup(&m);
    let role_id = target_role(&iam);
    let policy = std::fs::read_to_string(repo.path.join("gitgrant.yaml")).unwrap();
    let policy = policy.replace(
        "alice: { aws_iam_user: alice }",
        "alice: { aws_iam_user: Alice }",
    );
    repo.commit(
        &[("gitgrant.yaml", Some(&policy))],
        "People: alice as HR spells her (#2)",
        "2026-11-23T09:00:00Z",
    );
    repo.land_grants(3, 1, &[("alice", "ro", "duration: 2h")]);
    let json = reconcile(&repo, &m, "2026-11-23T10:30:00Z");
    let fenced = fences(&iam);
    assert_eq!(fenced.len(), 1, "{json:#}");
    assert_eq!(
        fenced[0].1["Statement"][0]["Condition"]["StringEquals"]["aws:userid"],
        format!("{role_id}:alice")
    );
    let at = |now| decide(&iam, &call(&role_id, "alice", "2026-11-23T11:59:00Z", now));
    assert_eq!(at("2026-11-23T11:59:59Z"), Decision::Allow);
    assert_eq!(at("2026-11-23T12:00:01Z"), Decision::Deny, "{json:#}");
}

/// What a role session that can write IAM does to the fence on its own
/// role: a new default version without gitgrant's statements.
fn strip_fences(iam: &aws_sdk_iam::Client) {
    let harmless = r#"{"Version":"2012-10-17","Statement":[{"Sid":"Nothing","Effect":"Deny","Action":"s3:GetObject","Resource":"arn:aws:s3:::nothing"}]}"#;
    for (name, _) in fences(iam) {
        let arn = format!("arn:aws:iam::111111111111:policy{PATH}{name}");
        block_on(async {
            iam.create_policy_version()
                .policy_arn(&arn)
                .policy_document(harmless)
                .set_as_default(true)
                .send()
                .await
                .unwrap();
        });
    }
}

#[test]
fn a_role_session_that_strips_its_own_fence_in_the_last_minute_gets_it_back_as_drift() {
    let m = moto();
    let (repo, iam, role_id) = fenced_setup(&m);
    reconcile(&repo, &m, "2026-11-23T10:30:00Z");
    // alice's session of the role, issued at 11:58, writes IAM: at 11:59
    // it strips the fence, hoping to live on past 12:00.
    strip_fences(&iam);
    let at = |now| decide(&iam, &call(&role_id, "alice", "2026-11-23T11:58:00Z", now));
    assert_eq!(at("2026-11-23T12:05:01Z"), Decision::Allow, "stripped");

    // The first run after the end puts the statement back from git, and
    // says the fence was tampered with.
    let json = reconcile(&repo, &m, "2026-11-23T12:05:00Z");
    assert_eq!(at("2026-11-23T12:05:01Z"), Decision::Deny, "{json:#}");
    let fence = fence_change(&json);
    assert_eq!(fence["action"], "update", "{json:#}");
    let drift = fence["drift"].to_string();
    assert!(
        drift.contains("alice") && drift.contains("ro/alice-1") && drift.contains("missing"),
        "{json:#}"
    );

    // After the file's removal too (that run's own commit), git still
    // knows the statement until 12 h past the end.
    let tree = crate::support::git(&repo.path, &["ls-tree", "-r", "--name-only", "main"], None);
    assert!(!tree.contains("alice-1"), "{tree}");
    strip_fences(&iam);
    let json = reconcile(&repo, &m, "2026-11-23T13:00:00Z");
    assert_eq!(at("2026-11-23T13:00:01Z"), Decision::Deny, "{json:#}");
    assert!(
        json["plan"]["changes"].to_string().contains("missing"),
        "{json:#}"
    );
}

#[test]
fn assuming_a_role_that_can_write_iam_is_refused_without_allow_admin() {
    // A session of a role that can write IAM could strip the fence on it
    // (or chain into roles no fence reaches): the grant must not be
    // applied unless the role says the organisation accepts that.
    let m = moto();
    let (repo, iam, _) = fenced_setup(&m);
    attach_theirs(&iam, "manage-iam", "iam:*");
    let (code, json) = run(
        &repo.path,
        &m.url,
        &["reconcile", "--now", "2026-11-23T10:30:00Z"],
    );
    assert_eq!(code, 1, "{json:#}");
    let refused = &json["plan"]["refused"][0];
    assert_eq!(refused["grant"], "ro/alice-1", "{json:#}");
    assert!(
        refused["why"].as_str().unwrap().contains("can write IAM")
            && refused["why"].as_str().unwrap().contains("allow_admin"),
        "{json:#}"
    );
    assert_eq!(writes(&json), 0, "{json:#}");

    // With allow_admin on the role, it is granted, fenced as ever.
    let policy = std::fs::read_to_string(repo.path.join("gitgrant.yaml")).unwrap();
    let admin = policy.replacen(
        "    approvers: [\"@acme/sre-leads\"]\n",
        "    approvers: [\"@acme/sre-leads\"]\n    allow_admin: true\n",
        1,
    );
    assert_ne!(admin, policy);
    repo.commit(
        &[("gitgrant.yaml", Some(&admin))],
        "Policy: ro may reach an IAM-writing role (#4)",
        "2026-11-23T10:31:00Z",
    );
    let json = reconcile(&repo, &m, "2026-11-23T10:35:00Z");
    assert_eq!(fences(&iam).len(), 1, "{json:#}");
}

/// What a role session that can write IAM does to the fence on its own
/// role: detaches it, and with `delete` deletes it too.
fn remove_fences(iam: &aws_sdk_iam::Client, delete: bool) {
    for (name, _) in fences(iam) {
        let arn = format!("arn:aws:iam::111111111111:policy{PATH}{name}");
        block_on(async {
            iam.detach_role_policy()
                .role_name(ROLE)
                .policy_arn(&arn)
                .send()
                .await
                .unwrap();
            if delete {
                iam.delete_policy().policy_arn(&arn).send().await.unwrap();
            }
        });
    }
}

/// A channel for drift events whose URL is not set: each event is
/// reported in the run's JSON all the same (`unconfigured`).
fn watch_drift(repo: &GitRepo) {
    let policy = std::fs::read_to_string(repo.path.join("gitgrant.yaml")).unwrap();
    let notify = "notify:\n  - name: security\n    kind: slack\n    url_env: GITGRANT_TEST_DRIFT_URL\n    events: [drift]\n";
    repo.commit(
        &[("gitgrant.yaml", Some(&format!("{policy}{notify}")))],
        "Tell security of drift (#3)",
        "2026-11-23T10:05:00Z",
    );
}

/// [`fenced_setup`] with [`watch_drift`], reconciled at 10:30: alice's
/// grant and its fence applied.
fn watched_setup(m: &Moto) -> (GitRepo, aws_sdk_iam::Client, String) {
    let (repo, iam, role_id) = fenced_setup(m);
    watch_drift(&repo);
    reconcile(&repo, m, "2026-11-23T10:30:00Z");
    (repo, iam, role_id)
}

/// The plan's fence change (there is one role).
fn fence_change(json: &Value) -> Value {
    json["plan"]["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| {
            c["desired"]["grant"]
                .as_str()
                .is_some_and(|g| g.starts_with("fence:"))
        })
        .unwrap_or_else(|| panic!("no fence change: {json:#}"))
        .clone()
}

/// The grants of the run's `drift` events.
fn drift_events(json: &Value) -> Vec<String> {
    json["notifications"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|n| n["event"] == "drift")
        .map(|n| n["grant"].as_str().unwrap().to_string())
        .collect()
}

/// `gitgrant plan --detailed-exitcode` as people read it: exit code and
/// the plan's text.
fn plan_text(repo: &GitRepo, m: &Moto, now: &str) -> (i32, String) {
    let out = crate::reconcile::aws_cmd(&m.url)
        .args(["plan", "--detailed-exitcode", "--now", now, "--repo"])
        .arg(&repo.path)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    (out.status.code().unwrap_or(-1), text)
}

const FENCE: &str = "fence:arn:aws:iam::111111111111:role/ReadOnly";

/// A run at `now` after alice's fence was deleted: it makes the fence
/// again, says her statement is drift, and sends the `drift` event.
fn remade_as_drift(repo: &GitRepo, m: &Moto, now: &str) -> Value {
    let json = reconcile(repo, m, now);
    remade(&json);
    json
}

/// [`remade_as_drift`]'s checks of the run's output `json`.
fn remade(json: &Value) {
    let fence = fence_change(json);
    assert_eq!(fence["action"], "grant", "{json:#}");
    assert!(
        fence["drift"].to_string().contains("ro/alice-1"),
        "{json:#}"
    );
    assert_eq!(drift_events(json), [FENCE], "{json:#}");
}

#[test]
fn a_grantee_who_deletes_her_fence_gets_it_back_reported_as_drift() {
    let m = moto();
    let (repo, iam, role_id) = watched_setup(&m);
    // alice's session of the role, issued at 10:40, writes IAM: it deletes
    // the fence, hoping to live on past 12:00.
    remove_fences(&iam, true);
    assert!(fences(&iam).is_empty());

    // The plan says so, and exits as for any change to make.
    let (code, text) = plan_text(&repo, &m, "2026-11-23T10:45:00Z");
    assert_eq!(code, 3, "{text}");
    assert!(
        text.contains("+ fence   arn:aws:iam::111111111111:role/ReadOnly")
            && text.contains(
                "drift: the statement fencing alice's sessions of grant ro/alice-1 was missing (the fence was deleted)"
            ),
        "{text}"
    );

    // The run makes it again, and tells security.
    let json = remade_as_drift(&repo, &m, "2026-11-23T10:45:00Z");
    let at = |now| decide(&iam, &call(&role_id, "alice", "2026-11-23T10:40:00Z", now));
    assert_eq!(at("2026-11-23T12:00:01Z"), Decision::Deny, "{json:#}");
}

#[test]
fn a_grantee_who_detaches_her_fence_gets_it_attached_again_as_drift() {
    let m = moto();
    let (repo, iam, _) = watched_setup(&m);
    remove_fences(&iam, false);
    let name = fences(&iam)[0].0.clone();
    assert!(!attached(&iam).contains(&name));

    let json = reconcile(&repo, &m, "2026-11-23T10:45:00Z");
    let fence = fence_change(&json);
    assert_eq!(fence["action"], "update", "{json:#}");
    assert!(
        fence["drift"]
            .to_string()
            .contains("detached from role ReadOnly"),
        "{json:#}"
    );
    assert_eq!(drift_events(&json), [FENCE], "{json:#}");
    assert!(attached(&iam).contains(&name), "{json:#}");
}

#[test]
fn a_grantee_who_deletes_her_fence_after_the_end_gets_it_back_as_drift_until_twelve_hours_later() {
    let m = moto();
    let (repo, iam, role_id) = watched_setup(&m);
    let at = |now| decide(&iam, &call(&role_id, "alice", "2026-11-23T11:58:00Z", now));
    // In the last minute; the first run after the end finds her grant's
    // policy still there (it revokes it now): the fence was made before it.
    remove_fences(&iam, true);
    let json = remade_as_drift(&repo, &m, "2026-11-23T12:05:00Z");
    assert_eq!(at("2026-11-23T12:05:01Z"), Decision::Deny, "{json:#}");

    // Her policy and her file are gone now; the run that removed the file
    // (its commit says so) had written the statement: deleted again, it is
    // drift again.
    let tree = crate::support::git(&repo.path, &["ls-tree", "-r", "--name-only", "main"], None);
    assert!(!tree.contains("alice-1"), "{tree}");
    remove_fences(&iam, true);
    let json = remade_as_drift(&repo, &m, "2026-11-23T13:00:00Z");
    assert_eq!(at("2026-11-23T13:00:01Z"), Decision::Deny, "{json:#}");
}

#[test]
fn a_grant_that_ended_between_two_runs_gets_its_first_fence_without_drift() {
    let m = moto();
    let (repo, iam) = setup(&m);
    target_role(&iam);
    watch_drift(&repo);
    // bob's grant is fenced; alice's lands and ends between two runs.
    repo.land_grants(2, 1, &[("bob", "ro", "duration: 4h")]);
    reconcile(&repo, &m, "2026-11-23T10:30:00Z");
    repo.commit(
        &[(
            "grants/ro/alice-2.yaml",
            Some(&crate::support::grant_yaml("alice", "ro", "duration: 1h")),
        )],
        "alice: ro (#4)",
        "2026-11-23T10:40:00Z",
    );
    let json = reconcile(&repo, &m, "2026-11-23T11:45:00Z");
    let fence = fence_change(&json);
    assert_eq!(fence["action"], "update", "{json:#}");
    assert!(
        fence
            .get("drift")
            .is_none_or(|d| d == &serde_json::json!([])),
        "{json:#}"
    );
    assert!(drift_events(&json).is_empty(), "{json:#}");
    assert!(fences(&iam)[0].1.to_string().contains(":alice"), "{json:#}");
}

#[test]
fn the_first_fence_made_for_a_grant_that_ended_unapplied_is_no_drift() {
    // Nobody's fence yet: the first run after the end of a grant never
    // applied makes it from git, and that is no drift.
    let m = moto();
    let (repo, iam, _) = fenced_setup(&m);
    watch_drift(&repo);
    let json = reconcile(&repo, &m, "2026-11-23T12:05:00Z");
    let fence = fence_change(&json);
    assert_eq!(fence["action"], "grant", "{json:#}");
    assert!(fence.get("drift").is_none(), "{json:#}");
    assert!(drift_events(&json).is_empty(), "{json:#}");
    assert_eq!(fences(&iam).len(), 1, "{json:#}");
}

#[test]
fn a_grantee_who_deletes_her_fence_after_the_reconcilers_signed_removal_gets_it_back_as_drift() {
    // The reconciler signs: a removal commit counts as its own only when
    // an allowed key signed it, which its own are.
    let m = moto();
    let (repo, iam, _) = fenced_setup(&m);
    watch_drift(&repo);
    let signers = std::fs::read_to_string(
        crate::support::fixtures().join("github-access/.github/allowed_signers"),
    )
    .unwrap();
    repo.commit(
        &[(".github/allowed_signers", Some(&signers))],
        "The reconciler's key (#5)",
        "2026-11-23T10:06:00Z",
    );
    let key = crate::support::signing_key("reconciler");
    let signed = |now| {
        let args = ["reconcile", "--now", now];
        let (code, json) = run_env(&repo.path, &m.url, &args, &[("GITGRANT_SIGNING_KEY", &key)]);
        assert_eq!(code, 0, "{json:#}");
        json
    };
    signed("2026-11-23T10:30:00Z");
    signed("2026-11-23T12:05:00Z");
    let tree = crate::support::git(&repo.path, &["ls-tree", "-r", "--name-only", "main"], None);
    assert!(!tree.contains("alice-1"), "{tree}");

    remove_fences(&iam, true);
    remade(&signed("2026-11-23T13:00:00Z"));
}
