//! Calls at scale: a steady-state run over 1,000 applied grants reads the
//! account in pages, never per grant, and writes nothing.

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
