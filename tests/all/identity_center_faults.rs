//! Identity Center through faults, against moto behind the loopback proxy:
//! an assignment AWS reports `FAILED`, throttling, `ConflictException` (one
//! update per account at a time), lost connections, and a run killed
//! midway. Each ends with the instance exactly as the grants say.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::Value;

use crate::faults::{converge, kill_when};
use crate::identity_center::{ACCOUNTS, Instance, Seen, foreign, name_of, ours, setup, sso_writes};
use crate::moto::moto;
use crate::proxy::{FAILURE_REASON, Faults, Proxy};
use crate::reconcile::run;

/// Asserts that `ps` is exactly grant `id`'s permission set for the user
/// `user`, windowed 10:00–12:00 and assigned in both accounts.
fn exactly(ps: &Seen, id: &str, user: &str) {
    assert_eq!(ps.name, name_of(id));
    assert_eq!(
        ps.description,
        format!("gitgrant grant {id} of acme/access")
    );
    assert_eq!(ps.session, "PT2H");
    let st = ps.inline["Statement"].as_array().expect("an inline policy");
    assert_eq!(st.len(), 3, "{:#}", ps.inline);
    assert_eq!(
        st[0]["Condition"]["DateLessThan"]["aws:CurrentTime"],
        "2026-11-23T12:00:00Z"
    );
    assert_eq!(ps.managed, ["arn:aws:iam::aws:policy/ReadOnlyAccess"]);
    assert_eq!(ps.customer, [("/ops/".to_string(), "ProdOps".to_string())]);
    // moto keeps a second copy of an assignment a retried request made
    // again (AWS does not); what counts is where it is assigned, to whom.
    let got: BTreeSet<&(String, String)> = ps.assignments.iter().collect();
    let want: Vec<(String, String)> = ACCOUNTS
        .iter()
        .map(|a| (a.to_string(), user.to_string()))
        .collect();
    assert_eq!(got, want.iter().collect(), "{}", ps.name);
}

/// The permission sets of ours, by name.
fn by_name(i: &Instance) -> Vec<Seen> {
    let mut sets = ours(i);
    sets.sort_by(|a, b| a.name.cmp(&b.name));
    sets
}

#[test]
fn a_failed_assignment_fails_its_change_with_awss_reason_and_the_next_run_makes_it() {
    let m = moto();
    let (repo, i) = setup(&m);
    let proxy = Proxy::start(
        &m.url,
        Faults {
            fail_assignments: 1,
            ..Faults::default()
        },
    );
    let (code, json) = run(
        &repo.path,
        &proxy.url(),
        &["reconcile", "--now", "2026-11-23T10:30:00Z"],
    );
    // Not reported as success: the change failed, with AWS's reason.
    assert_eq!(code, 1, "{json:#}");
    let applied = &json["applied"][0];
    assert_eq!(applied["ok"], false, "{json:#}");
    let error = applied["error"].as_str().unwrap();
    assert!(
        error.contains("CreateAccountAssignment") && error.contains(FAILURE_REASON),
        "{error}"
    );
    assert_eq!(proxy.stats().failed_assignments, 1);
    let sets = ours(&i);
    assert_eq!(sets.len(), 1);
    assert!(sets[0].assignments.is_empty(), "{:?}", sets[0]);

    // The next run finds the assignments missing and makes them.
    let (code, json) = run(
        &repo.path,
        &m.url,
        &["reconcile", "--now", "2026-11-23T10:35:00Z"],
    );
    assert_eq!(code, 0, "{json:#}");
    assert_eq!(json["plan"]["changes"][0]["action"], "update", "{json:#}");
    exactly(
        &ours(&i)[0],
        "prod-admin/alice-1",
        &i.users["alice@acme.com"],
    );
    let (code, json) = run(
        &repo.path,
        &m.url,
        &["reconcile", "--now", "2026-11-23T10:40:00Z"],
    );
    assert_eq!((code, sso_writes(&json)), (0, 0), "{json:#}");
}

#[test]
fn throttling_conflicts_and_lost_answers_are_retried_to_convergence() {
    let m = moto();
    let (repo, i) = setup(&m);
    repo.land_grants(3, 2, &[("bob", "prod-admin", "duration: 2h")]);
    let theirs = foreign(&i, "team-admins", "made by hand");
    let proxy = Proxy::start(
        &m.url,
        Faults {
            throttle: 0.10,
            server_error: 0.05,
            drop_request: 0.05,
            drop_response: 0.05,
            conflict: 0.25,
            seed: 7,
            ..Faults::default()
        },
    );
    let runs = converge(&repo, &proxy.url(), "2026-11-23T10:30:00Z", 6);
    let stats = proxy.stats();
    eprintln!("converged in {runs} runs through {stats:?}");
    assert!(stats.conflicts > 0 && stats.throttled > 0, "{stats:?}");
    let sets = by_name(&i);
    let mut want = [
        ("prod-admin/alice-1", "alice@acme.com"),
        ("prod-admin/bob-2", "bob@acme.com"),
    ];
    want.sort_by_key(|(id, _)| name_of(id));
    assert_eq!(sets.len(), 2, "{sets:#?}");
    for (ps, (id, user)) in sets.iter().zip(want) {
        exactly(ps, id, &i.users[user]);
    }

    // The revocations, through the same faults.
    converge(&repo, &proxy.url(), "2026-11-23T12:30:00Z", 6);
    assert!(ours(&i).is_empty(), "{:#?}", ours(&i));
    let left: Vec<String> = crate::identity_center::permission_sets(&i)
        .into_iter()
        .map(|p| p.arn)
        .collect();
    assert_eq!(left, [theirs]);
    for file in ["alice-1", "bob-2"] {
        assert!(
            !repo
                .path
                .join(format!("grants/prod-admin/{file}.yaml"))
                .exists()
        );
    }
}

#[test]
fn a_run_killed_midway_is_completed_by_the_next() {
    let m = moto();
    let (repo, i) = setup(&m);
    let who = ["alice", "bob"];
    let grants: Vec<(&str, &str, &str)> = (0..6)
        .map(|n| (who[n % 2], "prod-admin", "duration: 2h"))
        .collect();
    repo.land_grants(3, 2, &grants);

    // Slow enough to be stopped half way, after a few permission sets.
    let proxy = Proxy::start(
        &m.url,
        Faults {
            delay: Duration::from_millis(60),
            ..Faults::default()
        },
    );
    // Stopped while the third permission set has its inline policy but is
    // neither attached nor assigned: its attachment is on its way.
    kill_when(&repo, &proxy, "2026-11-23T10:30:00Z", |actions| {
        let made = actions.iter().filter(|a| *a == "CreatePermissionSet");
        made.count() == 3
            && actions.last().map(String::as_str) == Some("AttachManagedPolicyToPermissionSet")
    });
    let half = ours(&i);
    let whole = |ps: &Seen| ps.assignments.len() == 2 && ps.inline != Value::Null;
    assert!(
        half.len() == 3 && half.iter().filter(|ps| whole(ps)).count() == 2,
        "{half:#?}"
    );

    // The next run completes the work; the one after has nothing to do.
    let (code, json) = run(
        &repo.path,
        &m.url,
        &["reconcile", "--now", "2026-11-23T10:31:00Z"],
    );
    assert_eq!(code, 0, "{json:#}");
    let sets = ours(&i);
    assert_eq!(sets.len(), 7, "{sets:#?}");
    for n in 1..=7 {
        let person = if n == 1 { "alice" } else { who[(n - 2) % 2] };
        let id = format!("prod-admin/{person}-{n}");
        let ps = sets.iter().find(|p| p.name == name_of(&id)).unwrap();
        exactly(ps, &id, &i.users[&format!("{person}@acme.com")]);
    }
    let (code, json) = run(
        &repo.path,
        &m.url,
        &["reconcile", "--now", "2026-11-23T10:32:00Z"],
    );
    assert_eq!((code, sso_writes(&json)), (0, 0), "{json:#}");
}

/// Every read, and the creation of a permission set (which AWS refuses to
/// repeat: a name is made once), so that only the other writes lose answers.
pub const READS: [&str; 13] = [
    "GetCallerIdentity",
    "GetUserId",
    "ListPermissionSets",
    "DescribePermissionSet",
    "GetInlinePolicyForPermissionSet",
    "ListManagedPoliciesInPermissionSet",
    "ListCustomerManagedPolicyReferencesInPermissionSet",
    "ListAccountsForProvisionedPermissionSet",
    "ListAccountAssignments",
    "DescribeAccountAssignmentCreationStatus",
    "DescribeAccountAssignmentDeletionStatus",
    "DescribePermissionSetProvisioningStatus",
    "CreatePermissionSet",
];

#[test]
fn a_write_whose_answer_was_lost_is_done_when_retried() {
    let m = moto();
    let (repo, i) = setup(&m);
    repo.land_grants(3, 2, &[("bob", "prod-admin", "duration: 2h")]);
    // Writes reach moto and their answers are lost: the SDK sends them
    // again, and Identity Center answers "already attached" (conflict) or
    // "not found" for what the first one did.
    let proxy = Proxy::start(
        &m.url,
        Faults {
            drop_response: 0.4,
            seed: 3,
            exempt: READS.to_vec(),
            ..Faults::default()
        },
    );
    let (code, json) = run(
        &repo.path,
        &proxy.url(),
        &["reconcile", "--now", "2026-11-23T10:30:00Z"],
    );
    let lost = proxy.stats().dropped_responses;
    assert!(lost > 2, "{:?}", proxy.stats());
    assert_eq!(code, 0, "{json:#}");
    let sets = by_name(&i);
    assert_eq!(sets.len(), 2, "{sets:#?}");
    for ps in &sets {
        let id = &ps.description
            ["gitgrant grant ".len()..ps.description.len() - " of acme/access".len()];
        let user = if id.contains("alice") {
            "alice@acme.com"
        } else {
            "bob@acme.com"
        };
        exactly(ps, id, &i.users[user]);
    }
    let (code, json) = run(
        &repo.path,
        &proxy.url(),
        &["reconcile", "--now", "2026-11-23T12:30:00Z"],
    );
    assert_eq!(code, 0, "{json:#}");
    assert!(ours(&i).is_empty(), "{:#?}", ours(&i));
    assert!(
        proxy.stats().dropped_responses > lost,
        "{:?}",
        proxy.stats()
    );
}
