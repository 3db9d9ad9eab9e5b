//! Calls at scale: a steady-state run over 1,000 applied grants reads the
//! account in pages, never per grant, and writes nothing.

use std::collections::BTreeMap;

use crate::moto::{block_on, iam, moto};
use crate::proxy::{Faults, Proxy};
use crate::reconcile::{ACCOUNT, iam_reads, reconcile, run_env, writes};
use crate::support::{GitRepo, fixtures};

/// Grants, and the people they are spread over (ten each: IAM's default
/// quota of managed policies per user).
const GRANTS: usize = 1000;
const PEOPLE: usize = 100;

/// A repository with `GRANTS` active grants, merged at 10:00, and the
/// account with its users.
pub fn thousand_grants(url: &str) -> GitRepo {
    let iam = iam(url, ACCOUNT);
    block_on(async {
        for p in 0..PEOPLE {
            iam.create_user()
                .user_name(format!("user{p}"))
                .send()
                .await
                .unwrap();
        }
    });
    let mut policy = std::fs::read_to_string(fixtures().join("reconcile/gitgrant.yaml")).unwrap();
    let people: String = (0..PEOPLE)
        .map(|p| format!("  user{p}: {{ aws_iam_user: user{p} }}\n"))
        .collect();
    policy = policy.replace("people:\n", &format!("people:\n{people}"));
    let repo = GitRepo::from_template(
        &fixtures().join("reconcile"),
        "2026-11-23T08:00:00Z",
        "Access policy (#1)",
    );
    let files: Vec<(String, String)> = (0..GRANTS)
        .map(|i| {
            let who = format!("user{}", i % PEOPLE);
            (
                format!("grants/ro/{who}-{i}.yaml"),
                format!("subject: {who}\nrole: ro\nreason: Scale test {i}\nduration: 8h\n"),
            )
        })
        .collect();
    let mut changes: Vec<(&str, Option<&str>)> = files
        .iter()
        .map(|(p, c)| (p.as_str(), Some(c.as_str())))
        .collect();
    changes.push(("gitgrant.yaml", Some(&policy)));
    repo.pull_request(2, &changes, "2026-11-23T09:00:00Z", "2026-11-23T10:00:00Z");
    repo
}

#[test]
fn a_steady_state_run_over_1000_grants_reads_in_pages_and_writes_nothing() {
    let m = moto();
    let repo = thousand_grants(&m.url);
    let json = reconcile(&repo.path, &m.url, "2026-11-23T10:30:00Z");
    assert_eq!(json["plan"]["changes"].as_array().unwrap().len(), GRANTS);
    assert_eq!(
        writes(&json),
        2 * GRANTS as u64,
        "two writes per grant: {:#}",
        json["calls"]
    );

    let json = reconcile(&repo.path, &m.url, "2026-11-23T11:00:00Z");
    assert!(json["plan"]["changes"].as_array().unwrap().is_empty());
    assert_eq!(writes(&json), 0);
    // ⌈N/1000⌉ + 2 at most: one page of the account, and the quota.
    assert!(
        iam_reads(&json) <= GRANTS.div_ceil(1000) as u64 + 2,
        "{:#}",
        json["calls"]
    );

    // IAM pages at most 1,000 items; moto answers in one page whatever the
    // page size, so a proxy pages it as IAM does, 100 items a page:
    // 1,000 policies and 100 users are 11 pages, and GetAccountSummary one
    // more — ⌈N/100⌉ + 2.
    let proxy = Proxy::start(
        &m.url,
        Faults {
            page_gaad: true,
            ..Faults::default()
        },
    );
    let (code, json) = run_env(
        &repo.path,
        &proxy.url(),
        &["reconcile", "--now", "2026-11-23T11:30:00Z"],
        &[("GITGRANT_IAM_PAGE_SIZE", "100")],
    );
    assert_eq!(code, 0, "{json:#}");
    assert!(json["plan"]["changes"].as_array().unwrap().is_empty());
    assert_eq!(writes(&json), 0);
    let pages = proxy
        .stats()
        .actions
        .iter()
        .filter(|a| a.as_str() == "GetAccountAuthorizationDetails")
        .count();
    assert_eq!(pages, 11, "{:#}", json["calls"]);
    assert_eq!(iam_reads(&json), GRANTS.div_ceil(100) as u64 + 2);
}

/// Identity Center at scale: `IC_GRANTS` grants over `IC_PEOPLE` people, in
/// an instance that holds `IC_FOREIGN` permission sets that are not ours.
const IC_GRANTS: usize = 100;
const IC_PEOPLE: usize = 20;
const IC_FOREIGN: usize = 200;

/// The calls of one provider in a run's JSON, by operation.
fn calls_of(json: &serde_json::Value, provider: &str, kind: &str) -> BTreeMap<String, u64> {
    let calls = json["calls"][provider][kind].as_object();
    let calls = calls.into_iter().flatten();
    calls
        .map(|(op, n)| (op.clone(), n.as_u64().unwrap()))
        .collect()
}

#[test]
fn a_steady_state_identity_center_run_reads_what_the_formula_says_and_writes_nothing() {
    use crate::identity_center::{ACCOUNTS, foreign, instance, ours, policy};
    let m = moto();
    let people: Vec<String> = (0..IC_PEOPLE)
        .map(|p| format!("user{p}@acme.com"))
        .collect();
    let names: Vec<&str> = people.iter().map(String::as_str).collect();
    let i = instance(&m, &names);
    for n in 0..IC_FOREIGN {
        foreign(&i, &format!("team-{n}"), "made by hand");
    }
    let mapped: String = (0..IC_PEOPLE)
        .map(|p| format!("  user{p}: {{ aws_sso_user: user{p}@acme.com }}\n"))
        .collect();
    let tmp = tempfile::tempdir().unwrap();
    let text = policy(&i).replace("people:\n", &format!("people:\n{mapped}"));
    std::fs::write(tmp.path().join("gitgrant.yaml"), text).unwrap();
    let repo = GitRepo::from_template(tmp.path(), "2026-11-23T08:00:00Z", "Access policy (#1)");
    repo.land_grants(
        2,
        0,
        &(0..IC_GRANTS)
            .map(|n| {
                (
                    names[n % IC_PEOPLE].split('@').next().unwrap(),
                    "prod-admin",
                    "duration: 8h",
                )
            })
            .collect::<Vec<_>>(),
    );

    let json = reconcile(&repo.path, &m.url, "2026-11-23T10:30:00Z");
    let changes = json["plan"]["changes"].as_array().unwrap();
    assert_eq!((changes.len(), ours(&i).len()), (IC_GRANTS, IC_GRANTS));
    let json = reconcile(&repo.path, &m.url, "2026-11-23T11:00:00Z");
    assert!(
        json["plan"]["changes"].as_array().unwrap().is_empty(),
        "{json:#}"
    );
    assert_eq!(calls_of(&json, "sso", "writes"), BTreeMap::new());

    // 1 + S + ⌈M/100⌉ + M + N × (4 + A) for M permission sets in the
    // instance, N of them ours, A accounts each, S people mapped.
    // The policy's own alice, bob and ghost are mapped too (ghost has no
    // user: looked up all the same).
    let (n, a, s) = (
        IC_GRANTS as u64,
        ACCOUNTS.len() as u64,
        IC_PEOPLE as u64 + 3,
    );
    let m_all = (IC_GRANTS + IC_FOREIGN) as u64;
    let want: BTreeMap<String, u64> = [
        ("sts:GetCallerIdentity", 1),
        ("identitystore:GetUserId", s),
        ("sso admin:ListPermissionSets", m_all.div_ceil(100)),
        ("sso admin:DescribePermissionSet", m_all),
        ("sso admin:GetInlinePolicyForPermissionSet", n),
        ("sso admin:ListManagedPoliciesInPermissionSet", n),
        (
            "sso admin:ListCustomerManagedPolicyReferencesInPermissionSet",
            n,
        ),
        ("sso admin:ListAccountsForProvisionedPermissionSet", n),
        ("sso admin:ListAccountAssignments", n * a),
    ]
    .into_iter()
    .map(|(op, k)| (op.to_string(), k))
    .collect();
    let reads = calls_of(&json, "sso", "reads");
    eprintln!(
        "steady state over {n} grants among {m_all} permission sets: {} reads, {reads:?}",
        reads.values().sum::<u64>()
    );
    assert_eq!(reads, want, "{:#}", json["calls"]);
}
