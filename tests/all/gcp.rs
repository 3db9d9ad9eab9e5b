//! The Google Cloud client (`providers::gcp_iam::api`) against the local
//! fake of Resource Manager's IAM methods (gcp_fake.rs): reads at version
//! 3, writes with the etag read, a concurrent writer whose change survives,
//! throttling that converges, and the writes gitgrant never makes.

use std::time::Duration;

use chrono::{TimeZone, Utc};
use gitgrant::grant::{GrantId, Window};
use gitgrant::providers::gcp_iam::api::{Client, GcpError, Outcome};
use gitgrant::providers::gcp_iam::document::{self, Binding, Policy};
use serde_json::{Value, json};

use crate::gcp_fake::{FakeGcp, Fault};

const REPO: &str = "acme/access";
const PROJECT: &str = "projects/acme-prod";

/// One runtime per test: the credentials' token cache is a task of the
/// runtime the client was made on.
fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// A client of the fake, with the credentials file its environment names.
fn client(rt: &tokio::runtime::Runtime, fake: &FakeGcp) -> Client {
    let env = fake.env();
    let creds: Value = serde_json::from_str(&std::fs::read_to_string(&env[0].1).unwrap()).unwrap();
    rt.block_on(Client::new(&fake.endpoint(), creds))
        .unwrap()
        .with_backoff(Duration::from_millis(5))
}

fn window() -> Window {
    Window {
        start: Utc.with_ymd_and_hms(2026, 12, 4, 9, 0, 0).unwrap(),
        end: Utc.with_ymd_and_hms(2026, 12, 4, 17, 0, 0).unwrap(),
    }
}

fn grant(id: &str, role: &str) -> Binding {
    let id: GrantId = id.parse().unwrap();
    document::binding(REPO, &id, role, "user:alice@acme.com", window(), None).unwrap()
}

/// A policy with foreign bindings, one of them with gitgrant's title but
/// another repository's marker.
fn foreign() -> Value {
    json!({
        "version": 3,
        "bindings": [
            {"role": "roles/owner", "members": ["user:root@acme.com"]},
            {"role": "roles/viewer", "members": ["user:bob@acme.com"], "condition": {
                "title": "gitgrant 00000000000000000000000000000000 prod-logs/alice-1",
                "description": "gitgrant repository=evil/access grant=prod-logs/alice-1",
                "expression": "request.time < timestamp(\"2030-01-01T00:00:00Z\")"}},
        ],
        "auditConfigs": [{"service": "allServices", "auditLogConfigs": [{"logType": "DATA_READ"}]}]
    })
}

/// The plan a run makes: add `add`, remove `remove`, nothing when that
/// changes nothing.
fn plan(add: Vec<Binding>, remove: Vec<Binding>) -> impl FnMut(&Policy) -> Option<Policy> {
    move |read: &Policy| {
        let next = document::merge(read, REPO, &add, &remove);
        (next.bindings != read.bindings).then_some(next)
    }
}

#[test]
fn a_read_asks_for_version_3_and_sees_the_conditions() {
    let fake = FakeGcp::start();
    let rt = rt();
    fake.policy(PROJECT, foreign());
    let p = rt.block_on(client(&rt, &fake).get_policy(PROJECT)).unwrap();
    assert_eq!(p.version, 3);
    assert!(p.etag.is_some());
    assert!(p.bindings[1].fields().condition.is_some());
    assert_eq!(
        fake.reads(),
        vec![json!({"options": {"requestedPolicyVersion": 3}})]
    );
    assert_eq!(fake.count("token"), 1);
}

#[test]
fn a_grant_is_written_with_the_etag_read_and_foreign_bindings_unchanged() {
    let fake = FakeGcp::start();
    let rt = rt();
    fake.policy(PROJECT, foreign());
    let etag = fake.etag(PROJECT);
    let c = client(&rt, &fake);
    let wanted = grant("prod-logs/alice-1", "roles/logging.viewer");
    let out = rt
        .block_on(c.read_modify_write(PROJECT, plan(vec![wanted.clone()], vec![])))
        .unwrap();
    assert!(matches!(out, Outcome::Written(_)));
    let writes = fake.writes();
    assert_eq!(writes.len(), 1);
    assert_eq!(writes[0]["policy"]["etag"], json!(etag));
    assert_eq!(writes[0]["policy"]["version"], json!(3));
    // On the wire, each foreign binding is the bytes the fake answered
    // (Google's key order), not a re-rendering of it.
    let before = foreign();
    for b in before["bindings"].as_array().unwrap() {
        let text = crate::gcp_fake::google_json(b);
        assert!(
            fake.raw_writes()[0].contains(&text),
            "{text} not in {}",
            fake.raw_writes()[0]
        );
    }
    let stored = fake.stored(PROJECT);
    assert_eq!(stored["bindings"][0], before["bindings"][0]);
    assert_eq!(stored["bindings"][1], before["bindings"][1]);
    assert_eq!(
        stored["bindings"][2]["condition"]["expression"],
        json!(
            r#"request.time >= timestamp("2026-12-04T09:00:00Z") && request.time < timestamp("2026-12-04T17:00:00Z")"#
        )
    );
    assert_eq!(stored["auditConfigs"], before["auditConfigs"]);
    assert_eq!(fake.writes_without_etag(), 0);
}

/// Someone with access to the policy plants a binding with gitgrant's
/// title prefix and the grant id of a real grant, hoping a run adopts it
/// (and so keeps or rewrites it) or that gitgrant's revoke removes their
/// rival's: neither the look-alike (another repository's marker) nor a
/// binding whose description is not exactly gitgrant's is ever claimed.
#[test]
fn a_look_alike_binding_is_never_claimed_nor_removed() {
    let fake = FakeGcp::start();
    let rt = rt();
    let mut policy = foreign();
    let wanted = grant("prod-logs/alice-1", "roles/logging.viewer");
    let mut forged: Value = serde_json::from_str(wanted.raw()).unwrap();
    forged["members"] = json!(["user:mallory@acme.com"]);
    forged["condition"]["description"] =
        json!("gitgrant repository=acme/access grant=prod-logs/alice-1 ");
    policy["bindings"]
        .as_array_mut()
        .unwrap()
        .push(forged.clone());
    fake.policy(PROJECT, policy.clone());
    let c = client(&rt, &fake);
    let read = rt.block_on(c.get_policy(PROJECT)).unwrap();
    assert_eq!(read.ours(REPO).count(), 0);
    let planted: Vec<Binding> = read.bindings.clone();
    let out = rt
        .block_on(c.read_modify_write(PROJECT, plan(vec![], planted)))
        .unwrap();
    assert!(matches!(out, Outcome::Unchanged(_)));
    assert_eq!(fake.count("setIamPolicy"), 0);
    assert_eq!(fake.stored(PROJECT)["bindings"], policy["bindings"]);
}

#[test]
fn a_second_run_makes_one_read_and_no_write() {
    let fake = FakeGcp::start();
    let rt = rt();
    fake.policy(PROJECT, foreign());
    let wanted = grant("prod-logs/alice-1", "roles/logging.viewer");
    rt.block_on(client(&rt, &fake).read_modify_write(PROJECT, plan(vec![wanted.clone()], vec![])))
        .unwrap();
    let c = client(&rt, &fake);
    let out = rt
        .block_on(c.read_modify_write(PROJECT, plan(vec![wanted], vec![])))
        .unwrap();
    assert!(matches!(out, Outcome::Unchanged(_)));
    let calls = c.calls();
    assert_eq!(
        calls.reads.get("cloudresourcemanager:getIamPolicy"),
        Some(&1)
    );
    assert_eq!(calls.total_writes(), 0);
    assert_eq!(calls.to_string(), "1 reads, 0 writes");
}

#[test]
fn a_concurrent_writer_between_the_read_and_the_write_loses_nothing() {
    let fake = FakeGcp::start();
    let rt = rt();
    fake.policy(PROJECT, foreign());
    let theirs = json!({"role": "roles/storage.admin", "members": ["group:storage@acme.com"]});
    let added = theirs.clone();
    fake.concurrent_write(PROJECT, move |p| {
        p["bindings"].as_array_mut().unwrap().push(added);
    });
    let c = client(&rt, &fake);
    let wanted = grant("prod-logs/alice-1", "roles/logging.viewer");
    let out = rt
        .block_on(c.read_modify_write(PROJECT, plan(vec![wanted], vec![])))
        .unwrap();
    assert!(matches!(out, Outcome::Written(_)));
    // The first write was stale (409 ABORTED); the second was planned over
    // the fresh read and carried its etag.
    assert_eq!(fake.count("getIamPolicy"), 2);
    assert_eq!(fake.count("setIamPolicy"), 2);
    let stored = fake.stored(PROJECT);
    let roles: Vec<&str> = stored["bindings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["role"].as_str().unwrap())
        .collect();
    assert_eq!(
        roles,
        [
            "roles/owner",
            "roles/viewer",
            "roles/storage.admin",
            "roles/logging.viewer"
        ]
    );
    assert_eq!(stored["bindings"][2], theirs);
    assert_eq!(c.calls().retries, 1);
    assert_eq!(fake.writes_without_etag(), 0);
}

#[test]
fn a_writer_that_never_stops_gets_a_bounded_retry_and_one_line() {
    let fake = FakeGcp::start();
    let rt = rt();
    fake.policy(PROJECT, foreign());
    let c = client(&rt, &fake);
    let mut n = 0;
    let wanted = grant("prod-logs/alice-1", "roles/logging.viewer");
    let mut inner = plan(vec![wanted], vec![]);
    let push = |n: usize| {
        move |p: &mut Value| {
            p["bindings"].as_array_mut().unwrap().push(json!({
                "role": "roles/browser", "members": [format!("user:u{n}@acme.com")]
            }));
        }
    };
    fake.concurrent_write(PROJECT, push(0));
    let e = rt
        .block_on(c.read_modify_write(PROJECT, |read: &Policy| {
            // Each time gitgrant reads, someone writes right after.
            n += 1;
            fake.concurrent_write(PROJECT, push(n));
            inner(read)
        }))
        .unwrap_err();
    assert!(matches!(e, GcpError::Contended { rounds: 5, .. }), "{e}");
    assert!(!e.to_string().contains('\n'));
    assert_eq!(fake.count("setIamPolicy"), 5);
}

#[test]
fn throttling_and_unavailability_converge() {
    let fake = FakeGcp::start();
    let rt = rt();
    fake.policy(PROJECT, foreign());
    fake.faults(Fault::Throttled, 2);
    let c = client(&rt, &fake);
    let wanted = grant("prod-logs/alice-1", "roles/logging.viewer");
    let mut rmw = plan(vec![wanted], vec![]);
    let mut first = true;
    let out = rt
        .block_on(c.read_modify_write(PROJECT, |read: &Policy| {
            if first {
                // Between the read and the write, Google is briefly unavailable.
                fake.faults(Fault::Unavailable, 2);
                first = false;
            }
            rmw(read)
        }))
        .unwrap();
    assert!(matches!(out, Outcome::Written(_)));
    assert_eq!(c.calls().retries, 4);
    assert_eq!(fake.count("getIamPolicy"), 3);
    assert_eq!(fake.count("setIamPolicy"), 3);
    assert_eq!(
        fake.stored(PROJECT)["bindings"].as_array().unwrap().len(),
        3
    );
}

#[test]
fn throttling_that_never_ends_is_one_line_and_bounded() {
    let fake = FakeGcp::start();
    let rt = rt();
    fake.policy(PROJECT, foreign());
    fake.faults(Fault::Throttled, 100);
    let e = rt
        .block_on(client(&rt, &fake).get_policy(PROJECT))
        .unwrap_err()
        .to_string();
    assert_eq!(fake.count("getIamPolicy"), 6);
    assert!(
        e.contains("RESOURCE_EXHAUSTED") && e.contains("after 6 attempts"),
        "{e}"
    );
    assert!(!e.contains('\n'));
}

#[test]
fn gitgrant_never_writes_version_1_nor_without_an_etag() {
    let fake = FakeGcp::start();
    let rt = rt();
    fake.policy(PROJECT, foreign());
    let c = client(&rt, &fake);
    let read = rt.block_on(c.get_policy(PROJECT)).unwrap();
    let wanted = grant("prod-logs/alice-1", "roles/logging.viewer");
    let mut blind = document::merge(&read, REPO, std::slice::from_ref(&wanted), &[]);
    blind.etag = None;
    let e = rt.block_on(c.set_policy(PROJECT, &blind)).unwrap_err();
    assert!(e.to_string().contains("no etag"), "{e}");
    let mut v1 = document::merge(&read, REPO, &[wanted], &[]);
    v1.version = 1;
    let e = rt.block_on(c.set_policy(PROJECT, &v1)).unwrap_err();
    assert!(e.to_string().contains("version 1"), "{e}");
    assert_eq!(fake.count("setIamPolicy"), 0);
    assert_eq!(fake.writes_without_etag(), 0);
}

#[test]
fn a_write_that_breaks_a_quota_is_refused_before_it_reaches_google() {
    let fake = FakeGcp::start();
    let rt = rt();
    fake.policy(PROJECT, foreign());
    let c = client(&rt, &fake);
    let many: Vec<Binding> = (0..21)
        .map(|i| grant(&format!("prod-logs/alice-{i}"), "roles/logging.viewer"))
        .collect();
    let e = rt
        .block_on(c.read_modify_write(PROJECT, plan(many, vec![])))
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("limit of 20 bindings of one role and one principal"),
        "{e}"
    );
    assert_eq!(fake.count("setIamPolicy"), 0);
}

#[test]
fn bad_credentials_and_missing_permissions_say_what_to_set() {
    let fake = FakeGcp::start();
    let rt = rt();
    fake.policy(PROJECT, foreign());
    let bad = json!({"type": "authorized_user", "client_id": "x", "client_secret": "y",
        "refresh_token": "stolen", "token_uri": format!("{}token", fake.endpoint())});
    let c = rt.block_on(Client::new(&fake.endpoint(), bad)).unwrap();
    let e = rt.block_on(c.get_policy(PROJECT)).unwrap_err().to_string();
    assert!(e.contains("GOOGLE_APPLICATION_CREDENTIALS"), "{e}");
    assert!(!e.contains('\n'), "{e}");
    let e = rt
        .block_on(client(&rt, &fake).get_policy("folders/123456"))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("PERMISSION_DENIED") && e.contains("resourcemanager.folders.getIamPolicy"),
        "{e}"
    );
}

/// The fake itself follows Google's version rules, so a client that asked
/// for version 1 or wrote it would be caught.
#[test]
fn the_fake_hides_conditions_from_version_1_and_refuses_to_store_them() {
    let fake = FakeGcp::start();
    let rt = rt();
    fake.policy(PROJECT, foreign());
    let http = reqwest::Client::new();
    let url = |m: &str| format!("{}v3/{PROJECT}:{m}", fake.endpoint());
    let token = crate::gcp_fake::TOKEN;
    let (v1, refused) = rt.block_on(async {
        let v1: Value = http
            .post(url("getIamPolicy"))
            .bearer_auth(token)
            .json(&json!({}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let mut policy = v1.clone();
        policy["bindings"][1] = foreign()["bindings"][1].clone();
        let r = http
            .post(url("setIamPolicy"))
            .bearer_auth(token)
            .json(&json!({"policy": policy}))
            .send()
            .await
            .unwrap();
        (v1, (r.status().as_u16(), r.json::<Value>().await.unwrap()))
    });
    assert_eq!(v1["version"], json!(1));
    let role = v1["bindings"][1]["role"].as_str().unwrap();
    assert!(role.starts_with("roles/viewer_withcond_"), "{role}");
    assert!(v1["bindings"][1].get("condition").is_none());
    assert_eq!(refused.0, 400);
    assert_eq!(refused.1["error"]["status"], json!("INVALID_ARGUMENT"));
}

#[test]
fn workload_identity_federation_credentials_reach_google() {
    let fake = FakeGcp::start();
    let rt = rt();
    fake.policy(PROJECT, foreign());
    let creds = fake.external_account(crate::gcp_fake::OIDC_TOKEN);
    let c = rt.block_on(Client::new(&fake.endpoint(), creds)).unwrap();
    let p = rt.block_on(c.get_policy(PROJECT)).unwrap();
    assert_eq!(p.bindings.len(), 2);
    assert_eq!(fake.count("sts"), 1);
    // An OIDC token the provider does not accept: one line, what to set.
    let creds = fake.external_account("someone-elses-token");
    let c = rt.block_on(Client::new(&fake.endpoint(), creds)).unwrap();
    let e = rt.block_on(c.get_policy(PROJECT)).unwrap_err().to_string();
    assert!(
        e.contains("workload identity provider") && !e.contains('\n'),
        "{e}"
    );
}
