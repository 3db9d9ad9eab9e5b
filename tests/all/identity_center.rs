//! IAM Identity Center against moto, through the real binary: a grant is a
//! permission set of its own, windowed and denying everything outside the
//! window, assigned to the subject's Identity Store user in each account of
//! the role.

use std::path::Path;

use aws_sdk_ssoadmin::types::{PrincipalType, TargetType};
use serde_json::Value;

use crate::moto::{Moto, block_on, moto};
use crate::reconcile::run;
use crate::support::{GitRepo, grant_yaml};

/// moto's account for the test credentials: the instance's account.
const INSTANCE_ACCOUNT: &str = "123456789012";
pub const ACCOUNTS: [&str; 2] = ["111111111111", "222222222222"];

/// moto's instance, clients to it, and users made in its identity store.
pub struct Instance {
    pub arn: String,
    pub store: String,
    pub admin: aws_sdk_ssoadmin::Client,
    pub users: std::collections::BTreeMap<String, String>,
}

async fn config(url: &str) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(url)
        .region(aws_config::Region::from_static("us-east-1"))
        .credentials_provider(aws_sdk_ssoadmin::config::Credentials::new(
            "testing", "testing", None, None, "test",
        ))
        .load()
        .await
}

/// Reads the instance moto holds and creates `users` in its identity store.
pub fn instance(m: &Moto, users: &[&str]) -> Instance {
    block_on(async {
        let base = config(&m.url).await;
        let admin = aws_sdk_ssoadmin::Client::new(&base);
        let store_client = aws_sdk_identitystore::Client::new(&base);
        let list = admin.list_instances().send().await.unwrap();
        let i = &list.instances()[0];
        let arn = i.instance_arn().unwrap().to_string();
        let store = i.identity_store_id().unwrap().to_string();
        let mut ids = std::collections::BTreeMap::new();
        for u in users {
            let made = store_client
                .create_user()
                .identity_store_id(&store)
                .user_name(*u)
                .display_name(*u)
                .name(
                    aws_sdk_identitystore::types::Name::builder()
                        .given_name("Test")
                        .family_name(*u)
                        .build(),
                )
                .send()
                .await
                .unwrap();
            ids.insert(u.to_string(), made.user_id().to_string());
        }
        Instance {
            arn,
            store,
            admin,
            users: ids,
        }
    })
}

pub fn policy(i: &Instance) -> String {
    format!(
        r#"version: 1
repository: acme/access
security_team: "@acme/security"
providers:
  sso:
    type: aws-identity-center
    account: "{INSTANCE_ACCOUNT}"
    region: us-east-1
    instance_arn: {arn}
    identity_store_id: {store}
people:
  alice: {{ aws_sso_user: alice@acme.com }}
  bob: {{ aws_sso_user: bob@acme.com }}
  ghost: {{ aws_sso_user: ghost@acme.com }}
roles:
  prod-admin:
    description: Operations over two accounts
    provider: sso
    accounts: ["{a}", "{b}"]
    max_duration: 8h
    session_duration: 2h
    approvers: ["@acme/security"]
    requesters: ["*"]
    permissions:
      managed_policies: [arn:aws:iam::aws:policy/ReadOnlyAccess]
      customer_managed_policies: [{{ name: ProdOps, path: /ops/ }}]
      statements:
        - {{ effect: Allow, actions: ["s3:GetObject"], resources: ["*"] }}
"#,
        arn = i.arn,
        store = i.store,
        a = ACCOUNTS[0],
        b = ACCOUNTS[1],
    )
}

/// A repository with the policy, and alice's 2h grant landed at 10:00.
pub fn setup(m: &Moto) -> (GitRepo, Instance) {
    let i = instance(m, &["alice@acme.com", "bob@acme.com"]);
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("gitgrant.yaml"), policy(&i)).unwrap();
    let repo = GitRepo::from_template(tmp.path(), "2026-11-23T08:00:00Z", "Access policy (#1)");
    repo.commit(
        &[(
            "grants/prod-admin/alice-1.yaml",
            Some(&grant_yaml("alice", "prod-admin", "duration: 2h")),
        )],
        "alice: prod-admin (#2)",
        "2026-11-23T10:00:00Z",
    );
    (repo, i)
}

/// A permission set as a test inspects it.
#[derive(Debug)]
pub struct Seen {
    pub arn: String,
    pub name: String,
    pub description: String,
    pub session: String,
    pub inline: Value,
    pub managed: Vec<String>,
    pub customer: Vec<(String, String)>,
    /// (account, principal id)
    pub assignments: Vec<(String, String)>,
}

pub fn permission_sets(i: &Instance) -> Vec<Seen> {
    block_on(async {
        let mut out = Vec::new();
        let (mut arns, mut token) = (Vec::new(), None);
        loop {
            let page = i
                .admin
                .list_permission_sets()
                .instance_arn(&i.arn)
                .set_next_token(token)
                .send()
                .await
                .unwrap();
            arns.extend(page.permission_sets().iter().cloned());
            token = page.next_token().map(str::to_string);
            if token.is_none() {
                break;
            }
        }
        for arn in &arns {
            let d = i
                .admin
                .describe_permission_set()
                .instance_arn(&i.arn)
                .permission_set_arn(arn)
                .send()
                .await
                .unwrap();
            let ps = d.permission_set().unwrap();
            let inline = i
                .admin
                .get_inline_policy_for_permission_set()
                .instance_arn(&i.arn)
                .permission_set_arn(arn)
                .send()
                .await
                .unwrap();
            let managed = i
                .admin
                .list_managed_policies_in_permission_set()
                .instance_arn(&i.arn)
                .permission_set_arn(arn)
                .send()
                .await
                .unwrap();
            let customer = i
                .admin
                .list_customer_managed_policy_references_in_permission_set()
                .instance_arn(&i.arn)
                .permission_set_arn(arn)
                .send()
                .await
                .unwrap();
            let mut assignments = Vec::new();
            for account in ACCOUNTS {
                let a = i
                    .admin
                    .list_account_assignments()
                    .instance_arn(&i.arn)
                    .account_id(account)
                    .permission_set_arn(arn)
                    .send()
                    .await
                    .unwrap();
                for x in a.account_assignments() {
                    assignments.push((
                        x.account_id().unwrap().to_string(),
                        x.principal_id().unwrap().to_string(),
                    ));
                }
            }
            out.push(Seen {
                arn: arn.clone(),
                name: ps.name().unwrap_or_default().to_string(),
                description: ps.description().unwrap_or_default().to_string(),
                session: ps.session_duration().unwrap_or_default().to_string(),
                inline: inline
                    .inline_policy()
                    .filter(|p| !p.is_empty())
                    .map_or(Value::Null, |p| serde_json::from_str(p).unwrap()),
                managed: managed
                    .attached_managed_policies()
                    .iter()
                    .map(|p| p.arn().unwrap().to_string())
                    .collect(),
                customer: customer
                    .customer_managed_policy_references()
                    .iter()
                    .map(|r| (r.path().unwrap_or("/").to_string(), r.name().to_string()))
                    .collect(),
                assignments,
            });
        }
        out
    })
}

pub fn ours(i: &Instance) -> Vec<Seen> {
    permission_sets(i)
        .into_iter()
        .filter(|p| p.description.contains("of acme/access"))
        .collect()
}

pub fn name_of(id: &str) -> String {
    let id = gitgrant::grant::GrantId::from_path(&format!("grants/{id}.yaml")).unwrap();
    gitgrant::providers::aws_identity_center::document::permission_set_name("acme/access", &id)
}

fn reconcile(dir: &Path, m: &Moto, now: &str) -> Value {
    let (code, json) = run(dir, &m.url, &["reconcile", "--now", now]);
    assert_eq!(code, 0, "{json:#}");
    json
}

pub fn sso_writes(json: &Value) -> u64 {
    json["calls"]["sso"]["writes"]
        .as_object()
        .map_or(0, |m| m.values().map(|v| v.as_u64().unwrap()).sum())
}

fn assign(i: &Instance, arn: &str, account: &str, principal: &str) {
    block_on(async {
        i.admin
            .create_account_assignment()
            .instance_arn(&i.arn)
            .target_id(account)
            .target_type(TargetType::AwsAccount)
            .permission_set_arn(arn)
            .principal_type(PrincipalType::User)
            .principal_id(principal)
            .send()
            .await
            .unwrap();
    })
}

pub fn foreign(i: &Instance, name: &str, description: &str) -> String {
    block_on(async {
        i.admin
            .create_permission_set()
            .instance_arn(&i.arn)
            .name(name)
            .description(description)
            .session_duration("PT1H")
            .send()
            .await
            .unwrap()
            .permission_set()
            .unwrap()
            .permission_set_arn()
            .unwrap()
            .to_string()
    })
}

#[test]
fn a_grant_is_a_windowed_permission_set_assigned_in_every_account_of_the_role() {
    let m = moto();
    let (repo, i) = setup(&m);
    // The plan says where the permission set goes.
    let out = crate::reconcile::aws_cmd(&m.url)
        .args(["plan", "--now", "2026-11-23T10:30:00Z", "--repo"])
        .arg(&repo.path)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("+ grant   prod-admin/alice-1 to Identity Center user alice@acme.com in sso: permission set gitgrant-")
            && text.contains("in accounts 111111111111, 222222222222 from 2026-11-23T10:00:00Z until 2026-11-23T12:00:00Z"),
        "{text}"
    );
    let json = reconcile(&repo.path, &m, "2026-11-23T10:30:00Z");
    let sets = ours(&i);
    assert_eq!(sets.len(), 1, "{sets:?}\n{json:#}");
    let ps = &sets[0];
    assert_eq!(ps.name, name_of("prod-admin/alice-1"));
    assert_eq!(
        ps.description,
        "gitgrant grant prod-admin/alice-1 of acme/access"
    );
    assert_eq!(ps.session, "PT2H");
    let st = ps.inline["Statement"].as_array().unwrap();
    assert_eq!(
        st[0],
        serde_json::json!({
            "Sid": "Statement0",
            "Effect": "Allow",
            "Action": ["s3:GetObject"],
            "Resource": ["*"],
            "Condition": {
                "DateGreaterThan": {"aws:CurrentTime": "2026-11-23T10:00:00Z"},
                "DateLessThan": {"aws:CurrentTime": "2026-11-23T12:00:00Z"}
            }
        })
    );
    assert_eq!(
        st[1]["Condition"],
        serde_json::json!({"DateLessThan": {"aws:CurrentTime": "2026-11-23T10:00:00Z"}})
    );
    assert_eq!(
        st[2]["Condition"],
        serde_json::json!({"DateGreaterThanEquals": {"aws:CurrentTime": "2026-11-23T12:00:00Z"}})
    );
    assert!(
        st[1..]
            .iter()
            .all(|s| s["Effect"] == "Deny" && s["Action"] == "*")
    );
    assert_eq!(ps.managed, ["arn:aws:iam::aws:policy/ReadOnlyAccess"]);
    assert_eq!(ps.customer, [("/ops/".to_string(), "ProdOps".to_string())]);
    // IAM's decisions over the inline policy gitgrant wrote, beside what
    // the managed policy allows (moto evaluates none): the managed
    // policy's permissions work in the window and are denied outside it,
    // live sessions included.
    use crate::oracle::{Decision, Request, evaluate};
    let managed = serde_json::json!({"Statement": [{"Effect": "Allow", "Action": "ec2:Describe*", "Resource": "*"}]});
    let at = |now| {
        let call = Request::new("ec2:DescribeInstances", "*", now);
        evaluate(&[&ps.inline, &managed], &call)
    };
    assert_eq!(at("2026-11-23T09:59:59Z"), Decision::Deny);
    assert_eq!(at("2026-11-23T11:59:59Z"), Decision::Allow);
    assert_eq!(at("2026-11-23T12:00:01Z"), Decision::Deny);
    assert_eq!(
        evaluate(
            &[&managed],
            &Request::new("ec2:DescribeInstances", "*", "2026-11-23T12:00:01Z")
        ),
        Decision::Allow,
        "without the denies the managed policy would outlive the window"
    );
    let alice = &i.users["alice@acme.com"];
    let mut want: Vec<(String, String)> = ACCOUNTS
        .iter()
        .map(|a| (a.to_string(), alice.clone()))
        .collect();
    want.sort();
    let mut got = ps.assignments.clone();
    got.sort();
    assert_eq!(got, want);

    // A second run writes nothing.
    let again = reconcile(&repo.path, &m, "2026-11-23T10:40:00Z");
    assert_eq!(sso_writes(&again), 0, "{again:#}");
    assert!(
        again["plan"]["changes"].as_array().unwrap().is_empty(),
        "{again:#}"
    );
}

#[test]
fn an_extension_rewrites_the_inline_policy_and_expiry_removes_everything() {
    let m = moto();
    let (repo, i) = setup(&m);
    reconcile(&repo.path, &m, "2026-11-23T10:30:00Z");
    repo.commit(
        &[(
            "grants/prod-admin/alice-1.yaml",
            Some(&grant_yaml("alice", "prod-admin", "duration: 4h")),
        )],
        "alice: prod-admin for 4h (#3)",
        "2026-11-23T11:00:00Z",
    );
    let json = reconcile(&repo.path, &m, "2026-11-23T11:10:00Z");
    let ps = &ours(&i)[0];
    assert_eq!(
        ps.inline["Statement"][2]["Condition"]["DateGreaterThanEquals"]["aws:CurrentTime"],
        "2026-11-23T14:00:00Z",
        "{json:#}"
    );
    assert_eq!(ps.assignments.len(), 2);

    // At the end: assignments and the permission set go, and the file.
    let json = reconcile(&repo.path, &m, "2026-11-23T14:05:00Z");
    assert!(ours(&i).is_empty(), "{json:#}");
    let log = crate::support::git(&repo.path, &["log", "-1", "--format=%B"], None);
    assert!(log.contains("Gitgrant-Grant: prod-admin/alice-1"), "{log}");
    assert!(log.contains("Gitgrant-Reason: expired"), "{log}");
    // The audit says how the cloud carried it.
    let out = crate::support::gitgrant()
        .args([
            "audit",
            "--format",
            "json",
            "--now",
            "2026-11-23T14:05:00Z",
            "--repo",
        ])
        .arg(&repo.path)
        .output()
        .unwrap();
    let audit: Value = serde_json::from_slice(&out.stdout).unwrap();
    let l = &audit["lifecycles"][0];
    assert_eq!(
        l["access"],
        "permission set in accounts `111111111111`, `222222222222` for Identity Center user `alice@acme.com` (sso)",
        "{l:#}"
    );
    // And the request's words, as the pull request and the check say them.
    let snapshot = gitgrant::snapshot::Snapshot::from_dir(&repo.path).unwrap();
    let (p, _) = gitgrant::validate::read_policy(snapshot.policy.as_ref().unwrap());
    let p = p.unwrap();
    let role = &p.roles["prod-admin"];
    assert_eq!(
        gitgrant::providers::targets_text(&p, role),
        "a permission set in AWS accounts `111111111111`, `222222222222` (sso)"
    );
    let tip = crate::support::git(&repo.path, &["ls-tree", "-r", "--name-only", "main"], None);
    assert!(!tip.contains("alice-1.yaml"), "{tip}");
}

#[test]
fn an_early_delete_revokes_the_permission_set() {
    let m = moto();
    let (repo, i) = setup(&m);
    reconcile(&repo.path, &m, "2026-11-23T10:30:00Z");
    repo.commit(
        &[("grants/prod-admin/alice-1.yaml", None)],
        "Revoke alice early (#4)",
        "2026-11-23T10:45:00Z",
    );
    // Through a proxy that records the order of the calls.
    let proxy = crate::proxy::Proxy::start(&m.url, crate::proxy::Faults::default());
    let (code, json) = run(
        &repo.path,
        &proxy.url(),
        &["reconcile", "--now", "2026-11-23T10:50:00Z"],
    );
    assert_eq!(code, 0, "{json:#}");
    assert!(ours(&i).is_empty(), "{json:#}");
    let change = &json["plan"]["changes"][0];
    assert_eq!(change["action"], "revoke", "{json:#}");
    assert_eq!(change["reason"], "deleted", "{json:#}");
    // The window is ended at the run's time and provisioned to the accounts
    // before any assignment goes: sessions already open are refused then.
    let cut = &change["cut"]["Statement"];
    let ends: Vec<&str> = cut
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["Condition"]["DateGreaterThanEquals"]["aws:CurrentTime"].as_str())
        .collect();
    assert_eq!(ends, ["2026-11-23T10:50:00Z"], "{json:#}");
    // A session open since 10:35 is refused from the run on.
    use crate::oracle::{Decision, Request, evaluate};
    let call = |now| Request::new("s3:GetObject", "arn:aws:s3:::b/k", now);
    assert_eq!(
        evaluate(&[&change["cut"]], &call("2026-11-23T10:49:59Z")),
        Decision::Allow
    );
    assert_eq!(
        evaluate(&[&change["cut"]], &call("2026-11-23T10:50:01Z")),
        Decision::Deny
    );
    let writes: Vec<String> = proxy
        .stats()
        .actions
        .into_iter()
        .filter(|a| !crate::identity_center_faults::READS.contains(&a.as_str()))
        .collect();
    assert_eq!(
        writes,
        [
            "PutInlinePolicyToPermissionSet",
            "ProvisionPermissionSet",
            "DeleteAccountAssignment",
            "DeleteAccountAssignment",
            "DeletePermissionSet"
        ]
    );
}

#[test]
fn foreign_permission_sets_and_their_assignments_are_never_touched() {
    let m = moto();
    let (repo, i) = setup(&m);
    // A look-alike name, and our exact name pattern with another
    // repository's description.
    let lookalike = foreign(&i, "gitgrant-0123456789abcdef0123456", "hand-made");
    let other_repo = foreign(
        &i,
        &name_of("prod-admin/bob-1"),
        "gitgrant grant prod-admin/bob-1 of evil/access",
    );
    let bob = i.users["bob@acme.com"].clone();
    assign(&i, &lookalike, ACCOUNTS[0], &bob);
    assign(&i, &other_repo, ACCOUNTS[0], &bob);
    reconcile(&repo.path, &m, "2026-11-23T10:30:00Z");
    reconcile(&repo.path, &m, "2026-11-23T14:05:00Z");
    let all = permission_sets(&i);
    assert_eq!(all.len(), 2, "{all:?}");
    for p in &all {
        assert_eq!(
            p.assignments,
            [(ACCOUNTS[0].to_string(), bob.clone())],
            "{p:?}"
        );
    }
}

#[test]
fn an_assignment_of_ours_to_someone_else_is_removed_as_drift() {
    let m = moto();
    let (repo, i) = setup(&m);
    reconcile(&repo.path, &m, "2026-11-23T10:30:00Z");
    let ps = &ours(&i)[0];
    let bob = i.users["bob@acme.com"].clone();
    assign(&i, &ps.arn, ACCOUNTS[1], &bob);
    let json = reconcile(&repo.path, &m, "2026-11-23T10:40:00Z");
    let change = &json["plan"]["changes"][0];
    assert_eq!(change["action"], "update", "{json:#}");
    assert!(
        change["drift"].as_array().is_some_and(|d| !d.is_empty()),
        "{json:#}"
    );
    let ps = &ours(&i)[0];
    assert!(!ps.assignments.iter().any(|(_, p)| *p == bob), "{ps:?}");
    assert_eq!(ps.assignments.len(), 2, "{ps:?}");
}

#[test]
fn a_subject_without_an_identity_store_user_is_refused() {
    let m = moto();
    let (repo, i) = setup(&m);
    repo.commit(
        &[(
            "grants/prod-admin/ghost-1.yaml",
            Some(&grant_yaml("ghost", "prod-admin", "duration: 1h")),
        )],
        "ghost: prod-admin (#5)",
        "2026-11-23T10:10:00Z",
    );
    let (code, json) = run(
        &repo.path,
        &m.url,
        &["reconcile", "--now", "2026-11-23T10:30:00Z"],
    );
    assert_eq!(code, 1, "{json:#}");
    let refused = json["plan"]["refused"].as_array().unwrap();
    assert_eq!(refused.len(), 1, "{json:#}");
    assert!(
        refused[0]["why"]
            .as_str()
            .unwrap()
            .contains("ghost@acme.com")
    );
    // alice's grant is applied all the same.
    assert_eq!(ours(&i).len(), 1);
}

#[test]
fn iam_policy_prints_only_the_sso_and_identitystore_actions_the_reconciler_uses() {
    let m = moto();
    let (repo, _i) = setup(&m);
    let out = crate::support::run_ok(&["iam-policy", "--provider", "sso"], &repo.path);
    let doc: Value = serde_json::from_str(&out).unwrap();
    let actions: Vec<&str> = doc["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["Action"].as_array().unwrap())
        .map(|a| a.as_str().unwrap())
        .collect();
    assert!(actions.contains(&"sso:CreateAccountAssignment"), "{out}");
    assert!(actions.contains(&"identitystore:GetUserId"), "{out}");
    assert!(
        actions
            .iter()
            .all(|a| a.starts_with("sso:") || a.starts_with("identitystore:")),
        "{out}"
    );
    assert!(out.contains("arn:aws:sso:::account/111111111111"), "{out}");
}

/// The rules one policy breaks, by id, through `gitgrant validate`.
fn rules_of(policy: &str) -> Vec<String> {
    let mut rules: Vec<String> = crate::support::violations_of_policy(policy)
        .iter()
        .map(|v| v["rule"].as_str().unwrap().to_string())
        .collect();
    rules.sort();
    rules.dedup();
    rules
}

#[test]
fn identity_center_misuses_are_refused_with_their_rule() {
    let base = |provider: &str, role: &str| {
        format!(
            "version: 1\nrepository: acme/access\nsecurity_team: \"@acme/security\"\n\
             providers:\n  sso: {{ type: aws-identity-center, account: \"999999999999\"{provider} }}\n\
             \x20 iam: {{ type: aws-iam, account: \"111111111111\" }}\n\
             people:\n  alice: {{ aws_sso_user: alice@acme.com }}\n\
             roles:\n  r:\n    description: d\n    max_duration: 1h\n    approvers: [\"@acme/x\"]\n{role}"
        )
    };
    let full = ", region: eu-west-1, instance_arn: \"arn:aws:sso:::instance/ssoins-1234\", identity_store_id: d-1234567890";
    let stmt = "    permissions: { statements: [{ effect: Allow, actions: [\"s3:GetObject\"], resources: [\"*\"] }] }\n";
    // An Identity Center role without accounts.
    assert_eq!(
        rules_of(&base(full, &format!("    provider: sso\n{stmt}"))),
        ["role-accounts"]
    );
    // The instance's own account among them.
    assert_eq!(
        rules_of(&base(
            full,
            &format!("    provider: sso\n    accounts: [\"999999999999\"]\n{stmt}")
        )),
        ["role-accounts"]
    );
    // An instance without its fields.
    assert_eq!(
        rules_of(&base(
            "",
            &format!("    provider: sso\n    accounts: [\"111111111111\"]\n{stmt}")
        )),
        ["identity-center-provider"]
    );
    // An aws-iam role with managed policies.
    assert_eq!(
        rules_of(&base(
            full,
            "    provider: iam\n    permissions: { managed_policies: [\"arn:aws:iam::aws:policy/ReadOnlyAccess\"] }\n"
        )),
        ["kind-mismatch"]
    );
    // A session longer than 12h, and a managed policy that is not AWS's.
    assert_eq!(
        rules_of(&base(
            full,
            "    provider: sso\n    accounts: [\"111111111111\"]\n    session_duration: 13h\n    permissions: { managed_policies: [\"arn:aws:iam::111111111111:policy/Mine\"] }\n"
        )),
        ["policy-reference", "session-duration"]
    );
    // Statements whose inline policy is over 10,240 characters: refused in
    // the pull request, not first by the reconciler. 400 buckets are.
    let buckets: Vec<String> = (0..400)
        .map(|n| format!("\"arn:aws:s3:::acme-bucket-{n:03}/*\""))
        .collect();
    let big = format!(
        "    provider: sso\n    accounts: [\"111111111111\"]\n    permissions: {{ statements: [{{ effect: Allow, actions: [\"s3:GetObject\"], resources: [{}] }}] }}\n",
        buckets.join(", ")
    );
    assert_eq!(rules_of(&base(full, &big)), ["inline-policy-size"]);
    // 280 of them fit (about 9,780 characters).
    let fits = big.replace(&format!(", {}", buckets[280..].join(", ")), "");
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("gitgrant.yaml"), base(full, &fits)).unwrap();
    let out = crate::support::gitgrant()
        .args(["validate", "--repo"])
        .arg(tmp.path())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// Rewrites a permission set's description, as a grantee with sso:* can
/// (moto overwrites every field, named or not, so the session is given).
fn describe(i: &Instance, arn: &str, description: &str, session: &str) {
    block_on(async {
        i.admin
            .update_permission_set()
            .instance_arn(&i.arn)
            .permission_set_arn(arn)
            .description(description)
            .session_duration(session)
            .send()
            .await
            .unwrap();
    })
}

#[test]
fn a_grantee_who_adds_a_space_to_her_permission_sets_description_still_loses_it_at_the_end() {
    let m = moto();
    let (repo, i) = setup(&m);
    reconcile(&repo.path, &m, "2026-11-23T10:30:00Z");
    let ps = &ours(&i)[0];
    let (arn, marker, session) = (ps.arn.clone(), ps.description.clone(), ps.session.clone());
    // One space: the description no longer reads as gitgrant's marker.
    describe(&i, &arn, &format!("{marker} "), &session);

    // The next run finds it by its name, says so, and writes the marker back.
    let json = reconcile(&repo.path, &m, "2026-11-23T11:00:00Z");
    assert!(
        json["plan"]["changes"].to_string().contains("marker"),
        "{json:#}"
    );
    assert_eq!(ours(&i)[0].description, marker, "{json:#}");

    // Tampered again just before the end: the run at the end still
    // revokes it, and nothing of hers stays assigned.
    describe(&i, &arn, &format!("{marker} "), &session);
    let json = reconcile(&repo.path, &m, "2026-11-23T12:05:00Z");
    let left: Vec<Seen> = permission_sets(&i)
        .into_iter()
        .filter(|p| p.name == name_of("prod-admin/alice-1"))
        .collect();
    assert!(left.is_empty(), "{left:?}\n{json:#}");
}

#[test]
fn a_grantee_who_tampers_her_permission_sets_description_and_then_is_revoked_early_still_loses_it()
{
    let m = moto();
    let (repo, i) = setup(&m);
    reconcile(&repo.path, &m, "2026-11-23T10:30:00Z");
    let ps = &ours(&i)[0];
    let (arn, marker, session) = (ps.arn.clone(), ps.description.clone(), ps.session.clone());
    assert_eq!(ps.assignments.len(), 2, "{ps:?}");
    // Her session (sso:*) breaks the marker; then her grant is revoked by a
    // pull request that deletes the file, before any run saw the marker.
    describe(&i, &arn, &format!("{marker} "), &session);
    repo.commit(
        &[("grants/prod-admin/alice-1.yaml", None)],
        "Revoke alice early (#4)",
        "2026-11-23T10:45:00Z",
    );

    // The run finds the set by the name her grant gave it, and revokes it:
    // the assignments, then the set.
    let json = reconcile(&repo.path, &m, "2026-11-23T10:50:00Z");
    let left: Vec<Seen> = permission_sets(&i)
        .into_iter()
        .filter(|p| p.name == name_of("prod-admin/alice-1"))
        .collect();
    assert!(left.is_empty(), "{left:?}\n{json:#}");
    let change = &json["plan"]["changes"][0];
    assert_eq!(change["action"], "revoke", "{json:#}");
    assert_eq!(change["reason"], "deleted", "{json:#}");
    assert_eq!(
        change["observed"]["grant"], "prod-admin/alice-1",
        "{json:#}"
    );
}
