//! What an attacker who can open pull requests, or who holds a grant, tried
//! against the reconciler — each test named after the attempt, run through
//! the real binary against a real `moto_server`.

use serde_json::Value;

use crate::moto::{block_on, create_users, iam, moto, policies};
use crate::reconcile::{ACCOUNT, PATH, aws_cmd, changes, policy_of, reconcile, run, writes};
use crate::support::{GitRepo, fixtures};

/// The reconcile fixture's policy with `more` appended under `roles:`.
fn policy_with_roles(more: &str) -> String {
    let base = std::fs::read_to_string(fixtures().join("reconcile/gitgrant.yaml")).unwrap();
    format!("{base}{more}")
}

/// A repository whose policy is `policy`, with users in the account.
fn setup_with(m: &crate::moto::Moto, policy: &str) -> (GitRepo, aws_sdk_iam::Client) {
    let client = iam(&m.url, ACCOUNT);
    create_users(&client, &["alice", "bob", "carol", "erin"]);
    let repo = GitRepo::from_template(
        &fixtures().join("reconcile"),
        "2026-11-23T08:00:00Z",
        "Access policy (#1)",
    );
    repo.commit(
        &[("gitgrant.yaml", Some(policy))],
        "Roles (#2)",
        "2026-11-23T08:30:00Z",
    );
    (repo, client)
}

const WEAK_AND_STRONG: &str = r#"  prod:
    description: Production logs
    provider: aws-prod
    max_duration: 8h
    approvers: ["@acme/sre-leads"]
    permissions:
      statements:
        - { effect: Allow, actions: ["logs:GetLogEvents"], resources: ["*"] }
  prod-admin:
    description: Production buckets
    provider: aws-prod
    max_duration: 8h
    approvers: ["@acme/security"]
    permissions:
      statements:
        - { effect: Allow, actions: ["s3:DeleteBucket"], resources: ["arn:aws:s3:::prod-*"] }
"#;

/// The actions of every document attached to `user`.
fn actions_of(client: &aws_sdk_iam::Client, user: &str) -> Vec<String> {
    policies(client, "/")
        .into_iter()
        .filter(|p| p.users.iter().any(|u| u == user))
        .flat_map(|p| {
            p.document["Statement"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|s| s["Effect"] == "Allow")
                .flat_map(|s| match &s["Action"] {
                    Value::String(a) => vec![a.clone()],
                    Value::Array(a) => a.iter().map(|v| v.as_str().unwrap().to_string()).collect(),
                    _ => vec![],
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn a_weak_roles_grantee_never_holds_the_strong_roles_actions() {
    // `prod` + `admin-carol-20261123-0b5e` and `prod-admin` +
    // `carol-20261123-0b5e` used to be one policy, flipping between the two
    // documents and subjects on every run.
    let m = moto();
    let (repo, client) = setup_with(&m, &policy_with_roles(WEAK_AND_STRONG));
    repo.pull_request(
        3,
        &[
            (
                "grants/prod/admin-carol-20261123-0b5e.yaml",
                Some("subject: bob\nrole: prod\nreason: Read the logs\nduration: 4h\n"),
            ),
            (
                "grants/prod-admin/carol-20261123-0b5e.yaml",
                Some("subject: carol\nrole: prod-admin\nreason: Clean up buckets\nduration: 4h\n"),
            ),
        ],
        "2026-11-23T09:00:00Z",
        "2026-11-23T10:00:00Z",
    );
    for (i, now) in [
        "2026-11-23T10:10:00Z",
        "2026-11-23T10:20:00Z",
        "2026-11-23T10:30:00Z",
    ]
    .iter()
    .enumerate()
    {
        let json = reconcile(&repo.path, &m.url, now);
        if i > 0 {
            assert_eq!(writes(&json), 0, "run {i} wrote: {:#}", json["calls"]);
        }
        let bob = actions_of(&client, "bob");
        let carol = actions_of(&client, "carol");
        assert_eq!(bob, ["logs:GetLogEvents"], "run {i}");
        assert_eq!(carol, ["s3:DeleteBucket"], "run {i}");
    }
    let ours: Vec<String> = policies(&client, PATH)
        .into_iter()
        .map(|p| p.name)
        .collect();
    assert_eq!(ours.len(), 2, "{ours:?}");
    assert!(ours.contains(&policy_of("prod/admin-carol-20261123-0b5e")));
    assert!(ours.contains(&policy_of("prod-admin/carol-20261123-0b5e")));
}

#[test]
fn two_providers_in_one_account_are_refused_before_anything_is_read() {
    let m = moto();
    let policy = std::fs::read_to_string(fixtures().join("reconcile/gitgrant.yaml"))
        .unwrap()
        .replace(
            "people:\n",
            "  aws-prod-again:\n    type: aws-iam\n    account: \"111111111111\"\npeople:\n",
        );
    let (repo, client) = setup_with(&m, &policy);
    repo.land_grants(3, 1, &[("alice", "ro", "duration: 1h")]);

    let out = crate::support::gitgrant()
        .args(["validate", "--repo"])
        .arg(&repo.path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{stdout}");
    assert!(stdout.contains("shared-account"), "{stdout}");
    assert!(stdout.contains("gitgrant.yaml:"), "{stdout}");
    assert!(
        stdout.contains("`aws-prod` and `aws-prod-again`"),
        "both providers are named: {stdout}"
    );

    let (code, json) = run(
        &repo.path,
        &m.url,
        &["reconcile", "--now", "2026-11-23T10:10:00Z"],
    );
    assert_eq!(code, 2, "{json:#}");
    assert!(
        json["invalid_policy"]
            .to_string()
            .contains("shared-account")
    );
    assert!(policies(&client, PATH).is_empty(), "nothing was applied");
}

#[test]
fn a_planted_policy_of_our_name_recording_another_grant_is_never_adopted() {
    // Someone with IAM write creates the policy a grant will get, under our
    // path, so that the grant would adopt (and attach) their document.
    let m = moto();
    let (repo, client) = setup_with(&m, &policy_with_roles(""));
    let name = policy_of("ro/alice-1");
    block_on(async {
        client
            .create_policy()
            .policy_name(&name)
            .path(PATH)
            .description("gitgrant grant admin/alice-1")
            .policy_document(
                r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#,
            )
            .send()
            .await
            .unwrap()
            .policy()
            .unwrap()
            .arn()
            .unwrap()
            .to_string()
    });
    repo.land_grants(3, 1, &[("alice", "ro", "duration: 1h")]);
    let (code, json) = run(
        &repo.path,
        &m.url,
        &["reconcile", "--now", "2026-11-23T10:10:00Z"],
    );
    assert_eq!(code, 1, "refused: {json:#}");
    let refused = json["plan"]["refused"].to_string();
    assert!(refused.contains("does not adopt"), "{refused}");
    // Alice never gets the planted document; the planted policy, which no
    // grant explains, is revoked as drift.
    assert!(actions_of(&client, "alice").is_empty());
    assert_eq!(changes(&json), [format!("revoke {name} (drift)")]);
}

#[test]
fn a_policy_under_its_old_name_is_replaced_without_a_gap_in_access() {
    let m = moto();
    let (repo, client) = setup_with(&m, &policy_with_roles(""));
    repo.land_grants(3, 1, &[("alice", "ro", "duration: 2h")]);
    // Applied by an older gitgrant, under gitgrant-ro-alice-1.
    let json = reconcile(&repo.path, &m.url, "2026-11-23T10:10:00Z");
    let new = policy_of("ro/alice-1");
    block_on(async {
        let arn = format!("arn:aws:iam::{ACCOUNT}:policy{PATH}{new}");
        let version = client
            .get_policy()
            .policy_arn(&arn)
            .send()
            .await
            .unwrap()
            .policy()
            .unwrap()
            .default_version_id()
            .unwrap()
            .to_string();
        let doc = client
            .get_policy_version()
            .policy_arn(&arn)
            .version_id(version)
            .send()
            .await
            .unwrap()
            .policy_version()
            .unwrap()
            .document()
            .unwrap()
            .to_string();
        let doc = percent_encoding::percent_decode_str(&doc)
            .decode_utf8_lossy()
            .into_owned();
        client
            .detach_user_policy()
            .user_name("alice")
            .policy_arn(&arn)
            .send()
            .await
            .unwrap();
        client
            .delete_policy()
            .policy_arn(&arn)
            .send()
            .await
            .unwrap();
        let old = client
            .create_policy()
            .policy_name("gitgrant-ro-alice-1")
            .path(PATH)
            .description("gitgrant grant ro/alice-1")
            .policy_document(doc)
            .send()
            .await
            .unwrap();
        client
            .attach_user_policy()
            .user_name("alice")
            .policy_arn(old.policy().unwrap().arn().unwrap())
            .send()
            .await
            .unwrap();
    });
    drop(json);
    let out = aws_cmd(&m.url)
        .args(["-v", "reconcile", "--now", "2026-11-23T10:20:00Z", "--repo"])
        .arg(&repo.path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("(renamed)"), "{stdout}");
    // The new policy was made before the old one went.
    let made = stderr.find("+ grant   ro/alice-1").expect("granted");
    let gone = stderr.find("(renamed)").expect("old one revoked");
    assert!(made < gone, "{stderr}");
    let ours: Vec<String> = policies(&client, PATH)
        .into_iter()
        .map(|p| p.name)
        .collect();
    assert_eq!(ours, [new]);
    assert_eq!(
        actions_of(&client, "alice"),
        ["sts:AssumeRole", "logs:GetLogEvents"]
    );
    let json = reconcile(&repo.path, &m.url, "2026-11-23T10:30:00Z");
    assert_eq!(writes(&json), 0, "{:#}", json["calls"]);
}

/// alice's 2h `ro` grant, landed at 10:00 and applied at 10:10: the
/// repository, the account's client and the policy's ARN.
fn alice_applied(m: &crate::moto::Moto) -> (GitRepo, aws_sdk_iam::Client, String) {
    let (repo, client) = setup_with(m, &policy_with_roles(""));
    repo.land_grants(3, 1, &[("alice", "ro", "duration: 2h")]);
    reconcile(&repo.path, &m.url, "2026-11-23T10:10:00Z");
    let arn = format!(
        "arn:aws:iam::{ACCOUNT}:policy{PATH}{}",
        policy_of("ro/alice-1")
    );
    (repo, client, arn)
}

#[test]
fn a_grant_policy_attached_to_a_group_is_detached_as_drift() {
    let m = moto();
    let (repo, client, arn) = alice_applied(&m);
    block_on(async {
        client
            .create_group()
            .group_name("everyone")
            .send()
            .await
            .unwrap();
        for u in ["bob", "erin"] {
            client
                .add_user_to_group()
                .group_name("everyone")
                .user_name(u)
                .send()
                .await
                .unwrap();
        }
        client
            .attach_group_policy()
            .group_name("everyone")
            .policy_arn(&arn)
            .send()
            .await
            .unwrap();
    });
    let json = reconcile(&repo.path, &m.url, "2026-11-23T10:20:00Z");
    let line = json["plan"]["changes"][0]["drift"].to_string();
    assert!(line.contains("IAM group(s) everyone"), "{json:#}");
    let attached = block_on(async {
        client
            .list_attached_group_policies()
            .group_name("everyone")
            .send()
            .await
            .unwrap()
            .attached_policies()
            .len()
    });
    assert_eq!(attached, 0, "detached from the group");
    let json = reconcile(&repo.path, &m.url, "2026-11-23T10:30:00Z");
    assert_eq!(writes(&json), 0, "{:#}", json["calls"]);
}

#[test]
fn a_tampered_version_is_deleted_with_every_version_gitgrant_did_not_write() {
    let m = moto();
    let (repo, client, arn) = alice_applied(&m);
    // The grantee writes `*` on `*` without the window as the default, and
    // leaves a spare tampered version behind it.
    block_on(async {
        for default in [false, true] {
            client
                .create_policy_version()
                .policy_arn(&arn)
                .policy_document(
                    r#"{"Version":"2012-10-17","Statement":[{"Sid":"Statement0","Effect":"Allow","Action":"*","Resource":"*"}]}"#,
                )
                .set_as_default(default)
                .send()
                .await
                .unwrap();
        }
    });
    let out = aws_cmd(&m.url)
        .args(["reconcile", "--now", "2026-11-23T10:20:00Z", "--repo"])
        .arg(&repo.path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("drift: statement Statement0"), "{stdout}");
    assert!(!stdout.contains("new window or permissions"), "{stdout}");
    let seen = policies(&client, PATH);
    assert_eq!(seen.len(), 1);
    assert_eq!(
        seen[0].versions, 1,
        "only the version gitgrant wrote is left"
    );
    assert!(!seen[0].document.to_string().contains(r#""Action":"*""#));
    let json = reconcile(&repo.path, &m.url, "2026-11-23T10:30:00Z");
    assert_eq!(writes(&json), 0, "{:#}", json["calls"]);
}

#[test]
fn without_credentials_plan_says_what_to_set_and_never_that_the_cloud_matches() {
    let repo = GitRepo::from_template(
        &fixtures().join("reconcile"),
        "2026-11-23T08:00:00Z",
        "Access policy (#1)",
    );
    let empty = tempfile::tempdir().unwrap();
    let out = crate::support::gitgrant()
        .args(["plan", "--now", "2026-11-23T10:10:00Z", "--repo"])
        .arg(&repo.path)
        // Nothing to find credentials in, and nowhere to ask for them.
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_ROLE_ARN")
        .env_remove("AWS_WEB_IDENTITY_TOKEN_FILE")
        .env("AWS_CONFIG_FILE", empty.path().join("config"))
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            empty.path().join("credentials"),
        )
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_REGION", "us-east-1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(!stdout.contains("the cloud matches"), "{stdout}");
    assert!(stdout.contains("AWS_PROFILE"), "{stdout}");
    for line in stdout.lines().chain(stderr.lines()) {
        assert!(
            line.chars().count() < 400,
            "a line of {} characters: {line}",
            line.len()
        );
    }
}

#[test]
fn every_iam_write_role_is_refused_without_allow_admin_and_nothing_is_applied() {
    // Each of these let a grantee strip the window from their own grant or
    // attach anything to themself, and each once validated and applied.
    let m = moto();
    let client = iam(&m.url, ACCOUNT);
    create_users(&client, &["alice", "bob", "carol", "erin"]);
    let attempts = [
        (r#"["*"]"#, r#"["arn:*:*:*:*:*"]"#, "admin-statement"),
        (r#"["*"]"#, r#"["arn:aws:*:*:*:*"]"#, "admin-statement"),
        (r#"["iam:*"]"#, r#"["*"]"#, "iam-write"),
        (r#"["iam:*Policy*"]"#, r#"["*"]"#, "iam-write"),
        (
            r#"["iam:CreatePolicyVersion", "iam:SetDefaultPolicyVersion"]"#,
            r#"["arn:aws:iam::111111111111:policy/gitgrant/*"]"#,
            "writes-gitgrant-policies",
        ),
        (
            r#"["iam:Attach*Policy"]"#,
            r#"["arn:aws:iam::111111111111:user/${aws:username}"]"#,
            "iam-write",
        ),
        (
            r#"["iam:Put*Policy"]"#,
            r#"["arn:aws:iam::111111111111:user/${aws:username}"]"#,
            "iam-write",
        ),
    ];
    for (actions, resources, rule) in attempts {
        let role = format!(
            "  sneaky:\n    description: Looks harmless\n    provider: aws-prod\n    max_duration: 1h\n    approvers: [\"@acme/sre-leads\"]\n    permissions:\n      statements:\n        - {{ effect: Allow, actions: {actions}, resources: {resources} }}\n"
        );
        let repo = GitRepo::from_template(
            &fixtures().join("reconcile"),
            "2026-11-23T08:00:00Z",
            "Access policy (#1)",
        );
        repo.commit(
            &[
                ("gitgrant.yaml", Some(&policy_with_roles(&role))),
                (
                    "grants/sneaky/alice-1.yaml",
                    Some("subject: alice\nrole: sneaky\nreason: r\nduration: 1h\n"),
                ),
            ],
            "Sneaky role and grant (#2)",
            "2026-11-23T10:00:00Z",
        );
        let (code, json) = run(
            &repo.path,
            &m.url,
            &["reconcile", "--now", "2026-11-23T10:10:00Z"],
        );
        assert_eq!(code, 2, "{actions} on {resources}: {json:#}");
        assert!(
            json["invalid_policy"].to_string().contains(rule),
            "{actions} on {resources} is refused by {rule}: {json:#}"
        );
        assert!(
            policies(&client, PATH).is_empty(),
            "{actions}: nothing applied"
        );
    }
}

#[test]
fn the_documents_gitgrant_wrote_end_access_by_themselves_and_forbid_rewriting_them() {
    use crate::oracle::{Decision, Request, evaluate};
    let m = moto();
    let (repo, client, arn) = alice_applied(&m);
    drop(repo);
    let seen = policies(&client, PATH);
    let doc = &seen[0].document;
    let logs = |now: &str| {
        Request::new(
            "logs:GetLogEvents",
            "arn:aws:logs:eu-west-1:111111111111:log-group:x",
            now,
        )
        .with("aws:username", "alice")
    };
    // Landed 10:00, 2h: the cloud refuses from 12:00 whether or not a run comes.
    assert_eq!(
        evaluate(&[doc], &logs("2026-11-23T09:59:59Z")),
        Decision::ImplicitDeny
    );
    assert_eq!(
        evaluate(&[doc], &logs("2026-11-23T11:59:59Z")),
        Decision::Allow
    );
    assert_eq!(
        evaluate(&[doc], &logs("2026-11-23T12:00:01Z")),
        Decision::ImplicitDeny
    );
    // AssumeRole only with the session named after the user.
    let assume = |session: &str| {
        Request::new(
            "sts:AssumeRole",
            "arn:aws:iam::111111111111:role/ReadOnly",
            "2026-11-23T11:00:00Z",
        )
        .with("aws:username", "alice")
        .with("sts:RoleSessionName", session)
    };
    assert_eq!(evaluate(&[doc], &assume("alice")), Decision::Allow);
    assert_eq!(
        evaluate(&[doc], &assume("admin-looking")),
        Decision::ImplicitDeny
    );
    // Even beside a policy that allows everything, the grant forbids
    // rewriting or detaching gitgrant's own policies.
    let everything =
        serde_json::json!({"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]});
    let rewrite = Request::new("iam:CreatePolicyVersion", &arn, "2026-11-23T11:00:00Z");
    assert_eq!(evaluate(&[doc, &everything], &rewrite), Decision::Deny);
    let detach = Request::new(
        "iam:DetachUserPolicy",
        "arn:aws:iam::111111111111:user/alice",
        "2026-11-23T11:00:00Z",
    )
    .with("iam:PolicyARN", &arn);
    assert_eq!(evaluate(&[doc, &everything], &detach), Decision::Deny);
    let other = Request::new(
        "iam:DetachUserPolicy",
        "arn:aws:iam::111111111111:user/alice",
        "2026-11-23T11:00:00Z",
    )
    .with(
        "iam:PolicyARN",
        "arn:aws:iam::111111111111:policy/team/theirs",
    );
    assert_eq!(evaluate(&[doc, &everything], &other), Decision::Allow);
}
