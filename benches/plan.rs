//! The planner's time for many grants: validation, the desired state and
//! the plan, all pure, with no cloud and no git.
//!
//! `cargo bench --bench plan [-- N]` (default 10,000 grants) prints the
//! median and best of several runs of each step. Under `cargo test` it runs
//! once on a few grants, as a smoke test.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use gitgrant::desired::{Wanted, desired_state};
use gitgrant::engine::plan;
use gitgrant::providers::Observation;
use gitgrant::providers::aws_iam::config::Identity;
use gitgrant::providers::aws_iam::{AttachQuota, Observation as IamObservation, Observed};
use gitgrant::snapshot::{Content, Snapshot, SourceFile};
use gitgrant::validate::{Landings, validate};

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().to_utc()
}

/// An access repository of `n` grants for `n / 5` people over four roles.
fn repository(n: usize) -> (Snapshot, Landings) {
    let people = (n / 5).max(1);
    let mut policy = String::from(
        "version: 1\nrepository: acme/access\nsecurity_team: \"@acme/security\"\nproviders:\n  aws-prod: { type: aws-iam, account: \"111111111111\" }\npeople:\n",
    );
    for p in 0..people {
        policy += &format!("  user{p}: {{ aws_iam_user: user{p} }}\n");
    }
    policy += "roles:\n";
    for r in 0..4 {
        policy += &format!(
            "  role{r}:\n    description: d\n    provider: aws-prod\n    max_duration: 8h\n    approvers: [\"@acme/x\"]\n    permissions:\n      assume_roles: [\"arn:aws:iam::111111111111:role/R{r}\"]\n      statements:\n        - {{ effect: Allow, actions: [\"logs:GetLogEvents\", \"s3:GetObject\"], resources: [\"*\"] }}\n"
        );
    }
    let mut grants = Vec::new();
    let mut landings = Landings::new();
    for i in 0..n {
        let path = format!("grants/role{}/user{}-{i}.yaml", i % 4, i % people);
        grants.push(SourceFile {
            path: path.clone(),
            content: Content::Bytes(
                format!(
                    "subject: user{}\nrole: role{}\nreason: Benchmark grant {i}\nduration: 4h\n",
                    i % people,
                    i % 4
                )
                .into_bytes(),
            ),
        });
        landings.insert(path, t("2026-11-23T10:00:00Z"));
    }
    let snapshot = Snapshot {
        policy: Some(SourceFile {
            path: "gitgrant.yaml".into(),
            content: Content::Bytes(policy.into_bytes()),
        }),
        grants,
    };
    (snapshot, landings)
}

fn time<T>(runs: usize, mut f: impl FnMut() -> T) -> (Duration, Duration, T) {
    let mut times = Vec::new();
    let mut last = None;
    for _ in 0..runs {
        let start = Instant::now();
        last = Some(f());
        times.push(start.elapsed());
    }
    times.sort();
    (times[times.len() / 2], times[0], last.unwrap())
}

fn main() {
    let benching = std::env::args().any(|a| a == "--bench");
    let n: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(if benching { 10_000 } else { 20 });
    let runs = if benching { 7 } else { 1 };
    let now = t("2026-11-23T12:00:00Z");
    let (snapshot, landings) = repository(n);

    let (v_med, v_best, v) = time(runs, || validate(&snapshot, now, &landings));
    assert!(v.is_valid(), "{:?}", v.violations.first());
    let policy = v.policy.as_ref().unwrap();
    let (d_med, d_best, state) = time(runs, || {
        desired_state(policy, &v.grants, &landings, now, "0123abc", None)
    });
    assert_eq!(state.wanted.len(), n);

    // Steady state: every policy exists as wanted; nothing to do.
    let mut identities = BTreeMap::new();
    let observed: Vec<Observed> = state
        .wanted
        .iter()
        .filter_map(|w| match w {
            Wanted::AwsIam(d) => Some(d),
            _ => None,
        })
        .map(|d| {
            *identities.entry(d.attach_to.clone()).or_insert(0) += 1;
            Observed {
                provider: d.provider.clone(),
                name: d.name.clone(),
                path: d.path.clone(),
                arn: format!("arn:aws:iam::111111111111:policy{}{}", d.path, d.name),
                grant: Some(d.grant.clone()),
                document: d.document.clone(),
                default_version: "v1".into(),
                attached: vec![d.attach_to.clone()],
                groups: vec![],
                old_versions: vec![],
            }
        })
        .collect();
    let steady = BTreeMap::from([(
        "aws-prod".to_string(),
        Observation::AwsIam(IamObservation {
            policies: observed,
            identities: identities.clone(),
            quota: AttachQuota::default(),
            roles: BTreeMap::new(),
            iam_writers: Default::default(),
        }),
    )]);
    let known = BTreeMap::new();
    let (s_med, s_best, p) = time(runs, || {
        plan(policy, &state.wanted, &steady, &known, now, vec![])
    });
    assert!(p.is_empty() && p.refused.is_empty());

    // A new account: every grant to create.
    let empty = BTreeMap::from([(
        "aws-prod".to_string(),
        Observation::AwsIam(IamObservation {
            policies: vec![],
            identities: identities
                .keys()
                .map(|i: &Identity| (i.clone(), 0))
                .collect(),
            quota: AttachQuota::default(),
            roles: BTreeMap::new(),
            iam_writers: Default::default(),
        }),
    )]);
    let (e_med, e_best, p) = time(runs, || {
        plan(policy, &state.wanted, &empty, &known, now, vec![])
    });
    assert_eq!(p.changes.len(), n);

    println!("planner, {n} grants, {runs} runs (median / best):");
    for (what, med, best) in [
        ("validate", v_med, v_best),
        ("desired state", d_med, d_best),
        ("plan, steady state", s_med, s_best),
        ("plan, all new", e_med, e_best),
    ] {
        println!(
            "  {what:<20} {:>9.3} ms / {:>9.3} ms",
            med.as_secs_f64() * 1e3,
            best.as_secs_f64() * 1e3
        );
    }
    println!(
        "  desired state + steady plan: {:.3} s (median)",
        (d_med + s_med).as_secs_f64()
    );
}
