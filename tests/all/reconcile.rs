//! `gitgrant reconcile` and `plan`: the real binary against a real
//! `moto_server`, over real git repositories.

use std::path::Path;

use gitgrant::providers::aws_iam::catalogue::catalogue;
use serde_json::Value;

use crate::moto::{self, SeenPolicy, create_users, iam, moto, plant_policy, policies};
use crate::support::{GitRepo, fixtures, git, grant_yaml};

/// This repository's ownership path.
pub const PATH: &str = "/gitgrant/acme/access/";
/// The account of the fixture's provider.
pub const ACCOUNT: &str = "111111111111";

/// The name of grant `id`'s policy (`role/name`) in this repository.
pub fn policy_of(id: &str) -> String {
    let id = gitgrant::grant::GrantId::from_path(&format!("grants/{id}.yaml")).unwrap();
    gitgrant::providers::aws_iam::policy_name("acme/access", &id)
}

/// A repository holding the reconcile fixture's policy, and the account
/// with its users.
pub fn setup(m: &moto::Moto) -> (GitRepo, aws_sdk_iam::Client) {
    let iam = iam(&m.url, ACCOUNT);
    create_users(&iam, &["alice", "bob", "carol", "erin"]);
    let repo = GitRepo::from_template(
        &fixtures().join("reconcile"),
        "2026-11-23T08:00:00Z",
        "Access policy (#1)",
    );
    (repo, iam)
}

/// `gitgrant ARGS --repo DIR --format json` against `url`: exit code and
/// the JSON it printed.
pub fn run(dir: &Path, url: &str, args: &[&str]) -> (i32, Value) {
    run_env(dir, url, args, &[])
}

/// [`run`], with more environment variables.
pub fn run_env(dir: &Path, url: &str, args: &[&str], env: &[(&str, &str)]) -> (i32, Value) {
    let out = aws_cmd(url)
        .args(args)
        .args(["--format", "json", "--repo"])
        .arg(dir)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let json = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "gitgrant {args:?} printed no JSON ({e}): {stdout}\nstderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().unwrap_or(-1), json)
}

/// The real binary with static test credentials for moto at `url`.
pub fn aws_cmd(url: &str) -> assert_cmd::Command {
    assert_cmd::Command::from_std(aws_process(url))
}

/// [`aws_cmd`] as a process to spawn and stop.
pub fn aws_process(url: &str) -> std::process::Command {
    let mut cmd = crate::support::gitgrant_process();
    cmd.env("AWS_ENDPOINT_URL", url)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_PROFILE");
    cmd
}

/// `reconcile --now NOW`, which must succeed.
pub fn reconcile(dir: &Path, url: &str, now: &str) -> Value {
    let (code, json) = run(dir, url, &["reconcile", "--now", now]);
    assert_eq!(code, 0, "{json:#}");
    json
}

/// Write calls the run made in aws-prod.
pub fn writes(json: &Value) -> u64 {
    json["calls"]["aws-prod"]["writes"]
        .as_object()
        .map_or(0, |m| m.values().map(|v| v.as_u64().unwrap()).sum())
}

/// IAM read calls the run made in aws-prod.
pub fn iam_reads(json: &Value) -> u64 {
    json["calls"]["aws-prod"]["reads"]
        .as_object()
        .map_or(0, |m| {
            m.iter()
                .filter(|(k, _)| k.starts_with("iam:"))
                .map(|(_, v)| v.as_u64().unwrap())
                .sum()
        })
}

/// `action grant` for each change of the plan.
pub fn changes(json: &Value) -> Vec<String> {
    json["plan"]["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let grant = c["desired"]["grant"]
                .as_str()
                .or(c["grant"].as_str())
                .or(c["observed"]["name"].as_str())
                .unwrap();
            match c["reason"].as_str() {
                Some(r) => format!("{} {grant} ({r})", c["action"].as_str().unwrap()),
                None => format!("{} {grant}", c["action"].as_str().unwrap()),
            }
        })
        .collect()
}

fn tag<'a>(p: &'a SeenPolicy, key: &str) -> Option<&'a str> {
    p.tags
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

fn assert_window(p: &SeenPolicy, start: &str, end: &str) {
    let statements = p.document["Statement"].as_array().unwrap();
    assert!(!statements.is_empty());
    for s in statements
        .iter()
        .filter(|s| !gitgrant::providers::aws_iam::document::is_guard(s))
    {
        assert_eq!(
            s["Condition"]["DateGreaterThan"]["aws:CurrentTime"], start,
            "{s}"
        );
        assert_eq!(
            s["Condition"]["DateLessThan"]["aws:CurrentTime"], end,
            "{s}"
        );
    }
}

#[test]
fn a_grant_is_applied_with_its_window_left_alone_when_nothing_changed_extended_and_revoked_on_expiry()
 {
    let m = moto();
    let (repo, iam) = setup(&m);
    repo.land_grants(2, 1, &[("alice", "ro", "duration: 2h")]);
    let landed = repo.head();

    // Applied: one policy, the window on every statement, tagged, attached.
    let json = reconcile(&repo.path, &m.url, "2026-11-23T10:30:00Z");
    assert_eq!(changes(&json), ["grant ro/alice-1"]);
    assert_eq!(writes(&json), 2, "CreatePolicy and AttachUserPolicy");
    let seen = policies(&iam, "/");
    assert_eq!(seen.len(), 1);
    let p = &seen[0];
    assert_eq!(p.name, policy_of("ro/alice-1"));
    assert_eq!(p.path, PATH);
    assert_eq!(p.users, ["alice"]);
    assert_window(p, "2026-11-23T10:00:00Z", "2026-11-23T12:00:00Z");
    assert_eq!(
        p.document["Statement"][0]["Condition"]["StringEquals"]["sts:RoleSessionName"],
        "${aws:username}"
    );
    assert_eq!(tag(p, "gitgrant:grant"), Some("ro/alice-1"));
    assert_eq!(tag(p, "gitgrant:subject"), Some("alice"));
    assert_eq!(tag(p, "gitgrant:expires"), Some("2026-11-23T12:00:00Z"));
    assert_eq!(tag(p, "gitgrant:repository"), Some("acme/access"));
    assert_eq!(tag(p, "gitgrant:commit"), Some(landed.as_str()));

    // Nothing new: nothing written, and the state read in two IAM calls.
    let json = reconcile(&repo.path, &m.url, "2026-11-23T10:45:00Z");
    assert_eq!(changes(&json), Vec::<String>::new());
    assert_eq!(writes(&json), 0);
    assert_eq!(iam_reads(&json), 2, "{:#}", json["calls"]);

    // Extended by a reviewed edit: a new default version with the new end.
    repo.pull_request(
        3,
        &[(
            "grants/ro/alice-1.yaml",
            Some(&grant_yaml("alice", "ro", "duration: 5h")),
        )],
        "2026-11-23T11:00:00Z",
        "2026-11-23T11:10:00Z",
    );
    let json = reconcile(&repo.path, &m.url, "2026-11-23T11:30:00Z");
    assert_eq!(changes(&json), ["update ro/alice-1"]);
    let p = &policies(&iam, "/")[0];
    assert_window(p, "2026-11-23T10:00:00Z", "2026-11-23T15:00:00Z");
    assert_eq!(
        p.versions, 1,
        "the previous version is deleted: a policy holds the one gitgrant wrote"
    );
    assert_eq!(tag(p, "gitgrant:expires"), Some("2026-11-23T15:00:00Z"));
    assert_eq!(p.users, ["alice"]);

    // Ended: detached, deleted, and the file removed in a commit of its own.
    let json = reconcile(&repo.path, &m.url, "2026-11-23T15:04:31Z");
    assert_eq!(changes(&json), ["revoke ro/alice-1 (expired)"]);
    assert_eq!(writes(&json), 2, "detach, delete: {:#}", json["calls"]);
    assert!(policies(&iam, "/").is_empty());
    assert_eq!(json["removals"][0]["path"], "grants/ro/alice-1.yaml");
    let log = git(
        &repo.path,
        &[
            "log",
            "-1",
            "--format=%s%n%(trailers:key=Gitgrant-Grant,key=Gitgrant-Reason,key=Gitgrant-Window)",
        ],
        None,
    );
    assert_eq!(
        log.trim(),
        "gitgrant: expire ro/alice-1\nGitgrant-Grant: ro/alice-1\nGitgrant-Window: 2026-11-23T10:00:00Z/2026-11-23T15:00:00Z\nGitgrant-Reason: expired"
    );
    assert!(!repo.path.join("grants/ro/alice-1.yaml").exists());

    let json = reconcile(&repo.path, &m.url, "2026-11-23T15:30:00Z");
    assert!(changes(&json).is_empty());
    assert_eq!(writes(&json), 0);
}

#[test]
fn a_deleted_grant_file_is_revoked_early_and_said_so() {
    let m = moto();
    let (repo, iam) = setup(&m);
    repo.land_grants(2, 1, &[("bob", "admin", "duration: 8h")]);
    reconcile(&repo.path, &m.url, "2026-11-23T10:30:00Z");
    let p = &policies(&iam, PATH)[0];
    for s in p.document["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| !gitgrant::providers::aws_iam::document::is_guard(s))
    {
        assert_eq!(s["Condition"]["Bool"]["aws:MultiFactorAuthPresent"], "true");
    }
    repo.pull_request(
        3,
        &[("grants/admin/bob-1.yaml", None)],
        "2026-11-23T11:00:00Z",
        "2026-11-23T11:05:00Z",
    );
    let json = reconcile(&repo.path, &m.url, "2026-11-23T11:10:00Z");
    assert_eq!(changes(&json), ["revoke admin/bob-1 (deleted)"]);
    assert!(policies(&iam, "/").is_empty());
    assert!(json["removals"].as_array().unwrap().is_empty());
}

#[test]
fn policies_gitgrant_does_not_own_are_untouched_and_drift_under_its_path_is_revoked() {
    let m = moto();
    let (repo, iam) = setup(&m);
    let foreign = [
        ("/gitgrant/other/access/", "gitgrant-ro-erin-1"),
        ("/gitgrant/", "gitgrant-plain"),
        ("/", "team-readonly"),
        ("/gitgrant/acme/access-2/", "gitgrant-lookalike"),
        ("/gitgrant/acme/access/nested/", "gitgrant-nested"),
    ];
    for (path, name) in foreign {
        plant_policy(&iam, path, name, "erin");
    }
    plant_policy(&iam, PATH, "gitgrant-ro-stray", "erin");
    repo.land_grants(2, 1, &[("carol", "ro", "duration: 1h")]);
    let json = reconcile(&repo.path, &m.url, "2026-11-23T10:30:00Z");
    assert_eq!(
        changes(&json),
        ["grant ro/carol-1", "revoke gitgrant-ro-stray (drift)"]
    );
    let seen = policies(&iam, "/");
    let left: Vec<(&str, &str, &[String])> = seen
        .iter()
        .map(|p| (p.path.as_str(), p.name.as_str(), p.users.as_slice()))
        .collect();
    let erin = ["erin".to_string()];
    let carol = ["carol".to_string()];
    assert_eq!(
        left,
        [
            ("/gitgrant/acme/access-2/", "gitgrant-lookalike", &erin[..]),
            (
                "/gitgrant/acme/access/nested/",
                "gitgrant-nested",
                &erin[..]
            ),
            ("/gitgrant/", "gitgrant-plain", &erin[..]),
            ("/gitgrant/other/access/", "gitgrant-ro-erin-1", &erin[..]),
            (PATH, &policy_of("ro/carol-1")[..], &carol[..]),
            ("/", "team-readonly", &erin[..]),
        ]
    );
    // Expired later: only ours goes, again.
    let json = reconcile(&repo.path, &m.url, "2026-11-23T12:00:00Z");
    assert_eq!(changes(&json), ["revoke ro/carol-1 (expired)"]);
    assert_eq!(policies(&iam, "/").len(), foreign.len());
}

#[test]
fn many_extensions_stay_within_iams_five_versions() {
    let m = moto();
    let (repo, iam) = setup(&m);
    repo.pull_request(
        2,
        &[(
            "grants/ro/alice-1.yaml",
            Some(&grant_yaml("alice", "ro", "duration: 1h")),
        )],
        "2026-11-23T09:00:00Z",
        "2026-11-23T09:00:00Z",
    );
    reconcile(&repo.path, &m.url, "2026-11-23T09:10:00Z");
    for hours in 2..=8 {
        let pr = 10 + hours;
        repo.pull_request(
            pr,
            &[(
                "grants/ro/alice-1.yaml",
                Some(&grant_yaml("alice", "ro", &format!("duration: {hours}h"))),
            )],
            &format!("2026-11-23T09:{pr}:00Z"),
            &format!("2026-11-23T09:{pr}:30Z"),
        );
        let json = reconcile(&repo.path, &m.url, "2026-11-23T09:59:00Z");
        assert_eq!(changes(&json), ["update ro/alice-1"]);
        assert!(writes(&json) <= 4, "{:#}", json["calls"]);
        let p = &policies(&iam, PATH)[0];
        assert!(p.versions <= 5, "{} versions", p.versions);
        assert_window(
            p,
            "2026-11-23T09:00:00Z",
            &format!("2026-11-23T{:02}:00:00Z", 9 + hours),
        );
    }
}

#[test]
fn an_eleventh_managed_policy_is_refused_in_the_plan_before_any_call() {
    let m = moto();
    let (repo, iam) = setup(&m);
    // alice has nine policies of other tools already.
    for i in 0..9 {
        plant_policy(&iam, "/team/", &format!("team-{i}"), "alice");
    }
    repo.land_grants(
        2,
        1,
        &[
            ("alice", "ro", "duration: 2h"),
            ("alice", "ro", "duration: 2h"),
        ],
    );
    let (code, json) = run(
        &repo.path,
        &m.url,
        &["plan", "--now", "2026-11-23T10:30:00Z"],
    );
    assert_eq!(code, 1, "{json:#}");
    assert_eq!(writes(&json), 0);
    assert_eq!(changes(&json), ["grant ro/alice-1"]);
    let refused = &json["plan"]["refused"][0];
    assert_eq!(refused["grant"], "ro/alice-2");
    assert!(
        refused["why"].as_str().unwrap().contains(
            "managed policy number 11 attached to IAM user alice, over the account's quota of 10"
        ),
        "{refused}"
    );
    let (code, json) = run(
        &repo.path,
        &m.url,
        &["reconcile", "--now", "2026-11-23T10:30:00Z"],
    );
    assert_eq!(code, 1, "a refused grant fails the run");
    assert_eq!(
        writes(&json),
        2,
        "only alice-1 is applied: {:#}",
        json["calls"]
    );
    let ours: Vec<String> = policies(&iam, PATH).into_iter().map(|p| p.name).collect();
    assert_eq!(ours, [policy_of("ro/alice-1")]);
}

#[test]
fn a_policy_document_over_6144_characters_is_refused_before_any_call() {
    let m = moto();
    let (repo, iam) = setup(&m);
    // Real actions, as validation refuses made-up ones: every EC2 read and
    // list, some 7,000 characters.
    let actions: Vec<String> = catalogue()
        .expand("ec2:*")
        .into_iter()
        .filter(|a| !a.level().changes())
        .map(|a| format!("\"{a}\""))
        .collect();
    let policy = std::fs::read_to_string(repo.path.join("gitgrant.yaml")).unwrap()
        + &format!(
            "  wide:\n    description: Too many actions for one managed policy\n    provider: aws-prod\n    max_duration: 8h\n    approvers: [\"@acme/security\"]\n    permissions:\n      statements:\n        - {{ effect: Allow, actions: [{}], resources: [\"*\"] }}\n",
            actions.join(", ")
        );
    repo.pull_request(
        2,
        &[
            ("gitgrant.yaml", Some(&policy)),
            (
                "grants/wide/bob-1.yaml",
                Some(&grant_yaml("bob", "wide", "duration: 2h")),
            ),
        ],
        "2026-11-23T09:00:00Z",
        "2026-11-23T10:00:00Z",
    );
    let (code, json) = run(
        &repo.path,
        &m.url,
        &["reconcile", "--now", "2026-11-23T10:30:00Z"],
    );
    assert_eq!(code, 1, "{json:#}");
    assert_eq!(writes(&json), 0);
    let why = json["plan"]["refused"][0]["why"].as_str().unwrap();
    assert!(
        why.contains("over IAM's 6144 for a managed policy"),
        "{why}"
    );
    assert!(policies(&iam, "/").is_empty());
}

#[test]
fn an_invalid_grant_is_reported_and_never_applied_while_the_others_are() {
    let m = moto();
    let (repo, iam) = setup(&m);
    repo.pull_request(
        2,
        &[
            (
                "grants/ro/alice-1.yaml",
                Some(&grant_yaml("alice", "ro", "duration: 2h")),
            ),
            // Longer than the role allows.
            (
                "grants/ro/bob-1.yaml",
                Some(&grant_yaml("bob", "ro", "duration: 9h")),
            ),
        ],
        "2026-11-23T09:00:00Z",
        "2026-11-23T10:00:00Z",
    );
    let (code, json) = run(
        &repo.path,
        &m.url,
        &["reconcile", "--now", "2026-11-23T10:30:00Z"],
    );
    assert_eq!(code, 2, "{json:#}");
    assert_eq!(json["invalid"][0]["file"], "grants/ro/bob-1.yaml");
    let ours: Vec<String> = policies(&iam, PATH).into_iter().map(|p| p.name).collect();
    assert_eq!(ours, [policy_of("ro/alice-1")]);
}

#[test]
fn an_invalid_policy_stops_the_run_and_json_stays_json() {
    let m = moto();
    let (repo, iam) = setup(&m);
    repo.land_grants(2, 1, &[("alice", "ro", "duration: 2h")]);
    repo.commit(
        &[("gitgrant.yaml", Some("version: 2\n"))],
        "Break the policy",
        "2026-11-23T10:05:00Z",
    );
    let (code, json) = run(
        &repo.path,
        &m.url,
        &["reconcile", "--now", "2026-11-23T10:30:00Z"],
    );
    assert_eq!(code, 2, "{json:#}");
    assert_eq!(
        json["invalid_policy"][0]["file"], "gitgrant.yaml",
        "{json:#}"
    );
    assert!(policies(&iam, "/").is_empty(), "nothing was applied");
}

#[test]
fn credentials_for_another_account_change_nothing() {
    let m = moto();
    let (repo, iam) = setup(&m);
    // No role to assume: moto's own default account answers, not 111111111111.
    let policy = std::fs::read_to_string(repo.path.join("gitgrant.yaml"))
        .unwrap()
        .replace(
            "    assume_role: arn:aws:iam::111111111111:role/gitgrant-reconciler\n",
            "",
        );
    repo.pull_request(
        2,
        &[
            ("gitgrant.yaml", Some(&policy)),
            (
                "grants/ro/alice-1.yaml",
                Some(&grant_yaml("alice", "ro", "duration: 2h")),
            ),
        ],
        "2026-11-23T09:00:00Z",
        "2026-11-23T10:00:00Z",
    );
    let (code, json) = run(
        &repo.path,
        &m.url,
        &["reconcile", "--now", "2026-11-23T10:30:00Z"],
    );
    assert_eq!(code, 1);
    let error = json["errors"][0]["error"].as_str().unwrap();
    assert!(
        error.contains(
            "the credentials are for account 123456789012, but gitgrant.yaml says 111111111111"
        ),
        "{error}"
    );
    assert!(policies(&iam, "/").is_empty());
    // And an ended grant's file stays until its provider has been reached.
    let (code, json) = run(
        &repo.path,
        &m.url,
        &["reconcile", "--now", "2026-11-23T13:00:00Z"],
    );
    assert_eq!(code, 1);
    assert!(json["removals"].as_array().unwrap().is_empty());
    assert!(repo.path.join("grants/ro/alice-1.yaml").exists());
}

#[test]
fn a_dry_run_changes_nothing_and_plan_says_whether_changes_are_pending() {
    let m = moto();
    let (repo, iam) = setup(&m);
    repo.land_grants(2, 1, &[("alice", "ro", "duration: 1h")]);
    let (code, _) = run(
        &repo.path,
        &m.url,
        &[
            "plan",
            "--detailed-exitcode",
            "--now",
            "2026-11-23T10:30:00Z",
        ],
    );
    assert_eq!(code, 3, "changes pending");
    let (code, json) = run(
        &repo.path,
        &m.url,
        &["reconcile", "--dry-run", "--now", "2026-11-23T10:30:00Z"],
    );
    assert_eq!(code, 0);
    assert_eq!(changes(&json), ["grant ro/alice-1"]);
    assert_eq!(writes(&json), 0);
    assert!(policies(&iam, "/").is_empty());

    reconcile(&repo.path, &m.url, "2026-11-23T10:30:00Z");
    let (code, _) = run(
        &repo.path,
        &m.url,
        &[
            "plan",
            "--detailed-exitcode",
            "--now",
            "2026-11-23T10:40:00Z",
        ],
    );
    assert_eq!(code, 0, "nothing pending");

    // Ended, in a dry run: neither revoked nor removed from git.
    let head = repo.head();
    let (code, json) = run(
        &repo.path,
        &m.url,
        &["reconcile", "--dry-run", "--now", "2026-11-23T12:00:00Z"],
    );
    assert_eq!(code, 0);
    assert_eq!(changes(&json), ["revoke ro/alice-1 (expired)"]);
    assert_eq!(writes(&json), 0);
    assert_eq!(policies(&iam, PATH).len(), 1);
    assert_eq!(repo.head(), head);
}

#[test]
fn inside_github_actions_the_run_appends_markdown_to_the_step_summary() {
    let m = moto();
    let (repo, _iam) = setup(&m);
    repo.land_grants(2, 1, &[("alice", "ro", "duration: 1h")]);
    let summary = repo.dir.path().join("summary.md");
    std::fs::write(&summary, "earlier step\n").unwrap();
    let (code, _) = run_env(
        &repo.path,
        &m.url,
        &["reconcile", "--now", "2026-11-23T10:30:00Z"],
        &[("GITHUB_STEP_SUMMARY", summary.to_str().unwrap())],
    );
    assert_eq!(code, 0);
    let text = std::fs::read_to_string(&summary).unwrap();
    assert!(
        text.starts_with("earlier step\n### gitgrant at `"),
        "{text}"
    );
    assert!(
        text.contains("| `+` | `ro/alice-1` | aws-prod | grant   ro/alice-1 to IAM user alice in aws-prod from 2026-11-23T10:00:00Z until 2026-11-23T11:00:00Z |"),
        "{text}"
    );
    assert!(text.contains("Applied 1 of 1 changes."), "{text}");
}

/// A second account, aws-dev (222222222222), with alice in it: its IAM
/// client and the repository's policy with the provider added.
fn with_dev_account(m: &moto::Moto, repo: &GitRepo) -> (aws_sdk_iam::Client, String) {
    let dev = iam(&m.url, "222222222222");
    create_users(&dev, &["alice"]);
    let policy = std::fs::read_to_string(repo.path.join("gitgrant.yaml"))
        .unwrap()
        .replace(
            "people:\n",
            "  aws-dev:\n    type: aws-iam\n    account: \"222222222222\"\n    assume_role: arn:aws:iam::222222222222:role/gitgrant-reconciler\npeople:\n",
        );
    (dev, policy)
}

#[test]
fn a_run_sharded_to_one_provider_leaves_the_other_accounts_grants_alone() {
    let m = moto();
    let (repo, prod) = setup(&m);
    let (dev, policy) = with_dev_account(&m, &repo);
    let policy = policy
        + "  dev:\n    description: Development\n    provider: aws-dev\n    max_duration: 8h\n    approvers: [\"@acme/dev-leads\"]\n    permissions:\n      assume_roles: [arn:aws:iam::222222222222:role/Dev]\n";
    repo.pull_request(
        2,
        &[
            ("gitgrant.yaml", Some(&policy)),
            (
                "grants/ro/alice-1.yaml",
                Some(&grant_yaml("alice", "ro", "duration: 1h")),
            ),
            (
                "grants/dev/alice-2.yaml",
                Some(&grant_yaml("alice", "dev", "duration: 1h")),
            ),
        ],
        "2026-11-23T09:00:00Z",
        "2026-11-23T10:00:00Z",
    );
    let shard = |now: &str| {
        let (code, json) = run(
            &repo.path,
            &m.url,
            &["reconcile", "--provider", "aws-dev", "--now", now],
        );
        assert_eq!(code, 0, "{json:#}");
        assert!(json["calls"]["aws-prod"].is_null(), "aws-prod was called");
        json
    };
    let json = shard("2026-11-23T10:30:00Z");
    assert_eq!(changes(&json), ["grant dev/alice-2"]);
    assert_eq!(policies(&dev, PATH).len(), 1);
    assert!(policies(&prod, "/").is_empty());

    // The prod shard applies its own, and does not see dev's as drift.
    let (code, json) = run(
        &repo.path,
        &m.url,
        &[
            "reconcile",
            "--provider",
            "aws-prod",
            "--now",
            "2026-11-23T10:30:00Z",
        ],
    );
    assert_eq!(code, 0, "{json:#}");
    assert_eq!(changes(&json), ["grant ro/alice-1"]);
    assert_eq!(policies(&prod, PATH).len(), 1);
    assert_eq!(policies(&dev, PATH).len(), 1);

    // Both ended: the dev shard revokes and removes only dev's.
    let json = shard("2026-11-23T11:30:00Z");
    assert_eq!(changes(&json), ["revoke dev/alice-2 (expired)"]);
    assert!(!repo.path.join("grants/dev/alice-2.yaml").exists());
    assert!(repo.path.join("grants/ro/alice-1.yaml").exists());
    assert_eq!(policies(&prod, PATH).len(), 1);
}

#[test]
fn a_role_over_two_accounts_is_granted_in_each_with_its_own_account_and_revoked_in_both() {
    let m = moto();
    let (repo, prod) = setup(&m);
    let (dev, policy) = with_dev_account(&m, &repo);
    let policy = policy
        + "  ops:\n    description: Operations in both accounts\n    provider: [aws-prod, aws-dev]\n    max_duration: 8h\n    approvers: [\"@acme/sre-leads\"]\n    permissions:\n      assume_roles: [\"arn:aws:iam::{account}:role/Ops\"]\n";
    repo.pull_request(
        2,
        &[
            ("gitgrant.yaml", Some(&policy)),
            (
                "grants/ops/alice-1.yaml",
                Some(&grant_yaml("alice", "ops", "duration: 1h")),
            ),
        ],
        "2026-11-23T09:00:00Z",
        "2026-11-23T10:00:00Z",
    );
    let json = reconcile(&repo.path, &m.url, "2026-11-23T10:30:00Z");
    assert_eq!(changes(&json), ["grant ops/alice-1", "grant ops/alice-1"]);
    for (client, account) in [(&prod, ACCOUNT), (&dev, "222222222222")] {
        let seen = policies(client, PATH);
        assert_eq!(seen.len(), 1, "one policy in {account}");
        assert_eq!(seen[0].users, ["alice"]);
        assert_eq!(
            seen[0].document["Statement"][0]["Resource"][0],
            format!("arn:aws:iam::{account}:role/Ops"),
            "{{account}} is the account the policy is in"
        );
        assert_window(&seen[0], "2026-11-23T10:00:00Z", "2026-11-23T11:00:00Z");
    }
    let json = reconcile(&repo.path, &m.url, "2026-11-23T10:40:00Z");
    assert!(changes(&json).is_empty(), "{json:#}");
    assert_eq!(writes(&json), 0);

    // Ended: revoked in both, and the file removed once.
    let json = reconcile(&repo.path, &m.url, "2026-11-23T11:30:00Z");
    assert_eq!(
        changes(&json),
        [
            "revoke ops/alice-1 (expired)",
            "revoke ops/alice-1 (expired)"
        ]
    );
    assert!(policies(&prod, PATH).is_empty() && policies(&dev, PATH).is_empty());
    assert!(!repo.path.join("grants/ops/alice-1.yaml").exists());
    let message = git(&repo.path, &["log", "-1", "--format=%B"], None);
    assert!(
        message.contains("Gitgrant-Provider: aws-prod, aws-dev"),
        "{message}"
    );
}
