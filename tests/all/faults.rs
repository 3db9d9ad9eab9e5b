//! Faults between gitgrant and AWS: throttling, 5xx, dropped connections
//! (before and after the change is made) and a run killed mid-apply, all
//! through the loopback proxy in front of a real moto_server.

use std::time::{Duration, Instant};

use crate::moto::{moto, plant_policy, policies};
use crate::proxy::{Faults, Proxy};
use crate::reconcile::{PATH, run, setup, writes};
use crate::support::GitRepo;

/// Runs reconcile through `url` until a run succeeds with nothing left to
/// change; returns how many runs it took.
pub fn converge(repo: &GitRepo, url: &str, now: &str, most: usize) -> usize {
    for n in 1..=most {
        let t = Instant::now();
        let (code, json) = run(&repo.path, url, &["reconcile", "--now", now]);
        eprintln!("run {n}: exit {code} in {:?}", t.elapsed());
        if code == 0 && json["plan"]["changes"].as_array().unwrap().is_empty() {
            return n;
        }
    }
    panic!("reconcile did not converge in {most} runs");
}

#[test]
fn reconcile_converges_through_throttling_server_errors_and_dropped_connections() {
    let m = moto();
    let (repo, iam) = setup(&m);
    let foreign = [
        ("/", "team-readonly"),
        ("/gitgrant/other/access/", "theirs"),
    ];
    for (path, name) in foreign {
        plant_policy(&iam, path, name, "erin");
    }
    repo.land_grants(
        2,
        1,
        &[
            ("alice", "ro", "duration: 2h"),
            ("bob", "ro", "duration: 2h"),
            ("carol", "ro", "duration: 2h"),
        ],
    );
    let proxy = Proxy::start(
        &m.url,
        Faults {
            throttle: 0.15,
            server_error: 0.10,
            drop_request: 0.05,
            drop_response: 0.05,
            seed: 42,
            ..Faults::default()
        },
    );
    let runs = converge(&repo, &proxy.url(), "2026-11-23T10:30:00Z", 6);
    let stats = proxy.stats();
    assert!(
        stats.throttled + stats.server_errors + stats.dropped_requests + stats.dropped_responses
            > 0,
        "no fault was injected: {stats:?}"
    );
    eprintln!("converged in {runs} runs through {stats:?}");

    let seen = policies(&iam, "/");
    let mut ours: Vec<(&str, &[String])> = seen
        .iter()
        .filter(|p| p.path == PATH)
        .map(|p| (p.name.as_str(), p.users.as_slice()))
        .collect();
    ours.sort_by_key(|(_, users)| users.to_vec());
    let (a, b, c) = (
        ["alice".to_string()],
        ["bob".to_string()],
        ["carol".to_string()],
    );
    assert_eq!(
        ours,
        [
            (&crate::reconcile::policy_of("ro/alice-1")[..], &a[..]),
            (&crate::reconcile::policy_of("ro/bob-2")[..], &b[..]),
            (&crate::reconcile::policy_of("ro/carol-3")[..], &c[..]),
        ]
    );
    for p in seen.iter().filter(|p| p.path == PATH) {
        assert_eq!(p.versions, 1, "{} has versions from retried writes", p.name);
    }
    let theirs: Vec<&str> = seen
        .iter()
        .filter(|p| p.path != PATH && p.users == ["erin"])
        .map(|p| p.name.as_str())
        .collect();
    assert_eq!(theirs, ["team-readonly", "theirs"]);

    // And the revocations, through the same faults.
    converge(&repo, &proxy.url(), "2026-11-23T12:30:00Z", 6);
    let left: Vec<String> = policies(&iam, "/").into_iter().map(|p| p.name).collect();
    assert_eq!(left, ["team-readonly", "theirs"]);
    for file in ["alice-1", "bob-2", "carol-3"] {
        assert!(!repo.path.join(format!("grants/ro/{file}.yaml")).exists());
    }
}

#[test]
fn a_run_killed_while_applying_is_followed_by_one_that_converges() {
    let m = moto();
    let (repo, iam) = setup(&m);
    let who = ["alice", "bob", "carol"];
    let grants: Vec<(&str, &str, &str)> = (0..12)
        .map(|i| (who[i % 3], "ro", "duration: 2h"))
        .collect();
    repo.land_grants(2, 0, &grants);

    // Slow enough to be stopped half way.
    let proxy = Proxy::start(
        &m.url,
        Faults {
            delay: Duration::from_millis(100),
            ..Faults::default()
        },
    );
    kill_when(&repo, &proxy, "2026-11-23T10:30:00Z", |actions| {
        let writes = actions
            .iter()
            .filter(|a| a.as_str() == "CreatePolicy" || a.as_str() == "AttachUserPolicy");
        writes.count() >= 7
    });
    let half = policies(&iam, PATH);
    assert!(
        !half.is_empty() && half.len() < 12,
        "{} policies",
        half.len()
    );

    // The next run completes the work; the one after has nothing to do.
    let (code, json) = run(
        &repo.path,
        &m.url,
        &["reconcile", "--now", "2026-11-23T10:31:00Z"],
    );
    assert_eq!(code, 0, "{json:#}");
    let all = policies(&iam, PATH);
    assert_eq!(all.len(), 12);
    assert!(all.iter().all(|p| p.users.len() == 1));
    let (code, json) = run(
        &repo.path,
        &m.url,
        &["reconcile", "--now", "2026-11-23T10:32:00Z"],
    );
    assert_eq!(code, 0);
    assert_eq!(writes(&json), 0);
}

/// Starts `reconcile --now NOW` through `proxy` and kills it once the
/// actions the proxy has received satisfy `midway`.
pub fn kill_when(repo: &GitRepo, proxy: &Proxy, now: &str, midway: impl Fn(&[String]) -> bool) {
    let mut child = crate::reconcile::aws_process(&proxy.url())
        .args(["reconcile", "--now", now, "--repo"])
        .arg(&repo.path)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while !midway(&proxy.stats().actions) {
        assert!(Instant::now() < deadline, "the run made too few calls");
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended too soon"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    child.kill().unwrap();
    child.wait().unwrap();
}
