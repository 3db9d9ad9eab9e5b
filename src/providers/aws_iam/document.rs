//! How AWS IAM carries a grant (docs/providers/aws-iam.md, "How AWS carries a grant"), as pure values: the managed
//! policy's name, path, tags and document. Every statement carries the
//! grant's window as `aws:CurrentTime` conditions, so AWS ends access on time
//! even when no reconciler run comes.
//!
//! The adapter (`api`) sends these values; nothing here calls AWS.

use serde_json::{Value, json};

use super::config::Effect;
use crate::grant::{Grant, GrantId, Window, fmt_time};
use crate::policy::{Policy, Role};

/// The most characters of a managed policy document, whitespace removed.
pub const MAX_DOCUMENT_CHARS: usize = 6144;
/// The most characters of a managed policy name.
pub const MAX_NAME_CHARS: usize = 128;
/// The most versions a managed policy keeps.
pub const MAX_VERSIONS: usize = 5;
/// Hex digits of the name's hash: 128 bits of SHA-256.
const HASH_HEX: usize = 32;

/// The IAM path that marks a policy as this access repository's: gitgrant
/// changes or deletes policies under it and nowhere else.
pub fn ownership_path(policy: &Policy) -> String {
    format!("/gitgrant/{}/{}/", policy.owner, policy.name)
}

/// The managed policy's name for grant `id` of `repository`:
/// `gitgrant.<role>.<name>.<hash>`.
///
/// IAM policy names are unique per account whatever their path, so the name
/// must tell apart every (repository, role, name). The readable part joins
/// role and name with `.`, which neither may contain (`[a-z0-9-]`), so it
/// alone is injective within one repository; the hash is the first 128 bits
/// of SHA-256 over `repository`, role and name separated by NUL bytes
/// (which none of them can contain), so it tells repositories apart and
/// stays unique when a long readable part is cut to fit IAM's 128
/// characters. Two names meet only if SHA-256 collides in 128 bits.
pub fn policy_name(repository: &str, id: &GrantId) -> String {
    let hash = crate::names::hash_hex(&[repository, &id.role, &id.name], HASH_HEX);
    let readable = format!("gitgrant.{}.{}", id.role, id.name);
    let room = MAX_NAME_CHARS - HASH_HEX - 1;
    let cut = &readable[..readable.len().min(room)];
    format!("{cut}.{hash}")
}

/// The name gitgrant gave a grant's policy before names were made
/// injective (`gitgrant-<role>-<name>`, cut and ending in 32 bits of FNV
/// when long). A policy under this repository's path with this name, whose
/// description records the same grant, is migrated: the new policy is made
/// first, then the old one is deleted, so access never lapses.
pub fn legacy_policy_name(id: &GrantId) -> String {
    let name = format!("gitgrant-{}-{}", id.role, id.name);
    if name.len() <= MAX_NAME_CHARS {
        return name;
    }
    let hash = name.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("{}-{:08x}", &name[..MAX_NAME_CHARS - 9], hash as u32)
}

/// The tags set on a grant's policy, for people reading the console
/// (ownership is the path, never the tags).
pub fn tags(policy: &Policy, grant: &Grant, window: Window, commit: &str) -> Vec<(String, String)> {
    vec![
        ("gitgrant:grant".into(), grant.id.to_string()),
        ("gitgrant:subject".into(), grant.subject.clone()),
        ("gitgrant:expires".into(), fmt_time(window.end)),
        ("gitgrant:commit".into(), commit.to_string()),
        ("gitgrant:repository".into(), policy.repository()),
    ]
}

/// The conditions every statement carries: the window, and MFA when the role
/// requires it.
fn window_conditions(window: Window, require_mfa: bool) -> serde_json::Map<String, Value> {
    let window = window.enforced();
    let mut c = serde_json::Map::new();
    c.insert(
        "DateGreaterThan".into(),
        json!({ "aws:CurrentTime": fmt_time(window.start) }),
    );
    c.insert(
        "DateLessThan".into(),
        json!({ "aws:CurrentTime": fmt_time(window.end) }),
    );
    if require_mfa {
        c.insert(
            "Bool".into(),
            json!({ "aws:MultiFactorAuthPresent": "true" }),
        );
    }
    c
}

/// The policy document of a grant of `role` in force for `window`.
///
/// `assume_roles` become one `sts:AssumeRole` statement whose session name is
/// pinned to the caller's user name, so every session is attributable. A
/// session started just before the window ends lives on until its own expiry
/// (at least 15 minutes): that residual window is AWS's, not gitgrant's.
pub fn document(role: &Role, account: &str, window: Window) -> Value {
    let mut statements = Vec::new();
    if !role.permissions.aws_iam.assume_roles.is_empty() {
        let mut conditions = window_conditions(window, role.require_mfa);
        conditions.insert(
            "StringEquals".into(),
            json!({ "sts:RoleSessionName": "${aws:username}" }),
        );
        statements.push(json!({
            "Sid": "AssumeRoles",
            "Effect": "Allow",
            "Action": "sts:AssumeRole",
            "Resource": super::assume::assume_roles_in(role, account),
            "Condition": conditions,
        }));
    }
    for (i, s) in role.permissions.aws_iam.statements.iter().enumerate() {
        statements.push(json!({
            "Sid": format!("Statement{i}"),
            "Effect": match s.effect { Effect::Allow => "Allow", Effect::Deny => "Deny" },
            "Action": s.actions,
            "Resource": s.resources,
            "Condition": window_conditions(window, role.require_mfa),
        }));
    }
    statements.extend(guard_statements());
    json!({ "Version": "2012-10-17", "Statement": statements })
}

/// Every gitgrant policy's path prefix in any account, for every access
/// repository.
const GITGRANT_POLICIES: &str = "arn:aws:iam::*:policy/gitgrant/*";

/// Defence in depth, in every grant document: the subject may never write
/// gitgrant's own policies or attach and detach them, so no grant can
/// rewrite itself (strip its window, say) whatever else the account lets
/// the subject do. Validation refuses roles that could; these denies hold
/// even if a role slipped through. They carry no window: outside it the
/// policy grants nothing anyway.
pub(crate) fn guard_statements() -> [Value; 2] {
    [
        json!({
            "Sid": "GitgrantPoliciesAreNotYours",
            "Effect": "Deny",
            "Action": [
                "iam:CreatePolicy",
                "iam:CreatePolicyVersion",
                "iam:DeletePolicy",
                "iam:DeletePolicyVersion",
                "iam:SetDefaultPolicyVersion",
                "iam:TagPolicy",
                "iam:UntagPolicy"
            ],
            "Resource": GITGRANT_POLICIES,
        }),
        json!({
            "Sid": "GitgrantAttachmentsAreNotYours",
            "Effect": "Deny",
            "Action": [
                "iam:AttachGroupPolicy",
                "iam:AttachRolePolicy",
                "iam:AttachUserPolicy",
                "iam:DetachGroupPolicy",
                "iam:DetachRolePolicy",
                "iam:DetachUserPolicy"
            ],
            "Resource": "*",
            "Condition": { "ArnLike": { "iam:PolicyARN": GITGRANT_POLICIES } },
        }),
    ]
}

/// Whether a statement of a policy document is one of the denies every
/// grant document carries.
pub fn is_guard(statement: &Value) -> bool {
    guard_statements().contains(statement)
}

/// The document as IAM stores and counts it: JSON without whitespace.
pub fn minified(document: &Value) -> String {
    serde_json::to_string(document).expect("JSON values serialise")
}

/// A quota a grant's policy would break, in words, checked before any call
/// (moto enforces none of them).
pub fn document_quota(document: &Value) -> Option<String> {
    let n = minified(document).chars().count();
    (n > MAX_DOCUMENT_CHARS).then(|| {
        format!(
            "the policy document is {n} characters without whitespace, over IAM's {MAX_DOCUMENT_CHARS} for a managed policy"
        )
    })
}

/// The least-privilege policy the reconciler itself needs in `account`:
/// managing policies only under this repository's path, attaching and
/// detaching only those, and the account-wide reads IAM offers no narrower
/// resource for.
pub fn reconciler_policy(policy: &Policy, account: &str) -> Value {
    let owned = format!("arn:aws:iam::{account}:policy{}*", ownership_path(policy));
    json!({
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "ManageThisRepositorysGrantPolicies",
                "Effect": "Allow",
                "Action": [
                    "iam:CreatePolicy",
                    "iam:CreatePolicyVersion",
                    "iam:DeletePolicy",
                    "iam:DeletePolicyVersion",
                    "iam:GetPolicy",
                    "iam:ListEntitiesForPolicy",
                    "iam:TagPolicy"
                ],
                "Resource": owned
            },
            {
                "Sid": "AttachOnlyThoseOnes",
                "Effect": "Allow",
                "Action": [
                    "iam:AttachRolePolicy",
                    "iam:AttachUserPolicy",
                    "iam:DetachGroupPolicy",
                    "iam:DetachRolePolicy",
                    "iam:DetachUserPolicy"
                ],
                "Resource": [
                    format!("arn:aws:iam::{account}:user/*"),
                    format!("arn:aws:iam::{account}:role/*"),
                    format!("arn:aws:iam::{account}:group/*")
                ],
                "Condition": { "ArnLike": { "iam:PolicyARN": owned } }
            },
            {
                "Sid": "ReadStateInPages",
                "Effect": "Allow",
                "Action": [
                    "iam:GetAccountAuthorizationDetails",
                    "iam:GetAccountSummary"
                ],
                "Resource": "*"
            }
        ]
    })
}

/// GitHub Actions' OIDC issuer, as IAM names its identity provider.
pub const GITHUB_OIDC_PROVIDER: &str = "token.actions.githubusercontent.com";

/// The trust policy of the role a GitHub Actions job of `repository` assumes
/// through GitHub's OIDC provider in `account`: only for jobs running on
/// `branch` (the `sub` claim), only for tokens minted for STS (`aud`). A job
/// on any other branch, a pull request or another repository is refused by
/// AWS, whatever its workflow file says.
pub fn github_trust_policy(account: &str, repository: &str, branch: &str) -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "GitHubActionsOfThisAccessRepositorysDefaultBranch",
                "Effect": "Allow",
                "Principal": {
                    "Federated": format!("arn:aws:iam::{account}:oidc-provider/{GITHUB_OIDC_PROVIDER}")
                },
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {
                    "StringEquals": {
                        format!("{GITHUB_OIDC_PROVIDER}:aud"): "sts.amazonaws.com",
                        format!("{GITHUB_OIDC_PROVIDER}:sub"): format!("repo:{repository}:ref:refs/heads/{branch}")
                    }
                }
            }
        ]
    })
}

/// A JSON document as gitgrant writes it to a file: pretty, ending in a
/// newline (the same text `gitgrant iam-policy` prints).
pub fn pretty(document: &Value) -> String {
    let mut text = serde_json::to_string_pretty(document).expect("JSON values serialise");
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::RawPermissions;
    use crate::providers::aws_iam::config::Statement;
    use chrono::{DateTime, Utc};

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    fn role(mfa: bool, statements: Vec<Statement>) -> Role {
        Role {
            name: "prod-readonly".into(),
            description: "d".into(),
            providers: vec!["aws-prod".into()],
            max_duration: "8h".parse().unwrap(),
            approvers: vec![],
            min_approvals: 1,
            requesters: vec![],
            require_ticket: None,
            require_mfa: mfa,
            break_glass: false,
            allow_admin: false,
            permissions: RawPermissions {
                aws_iam: super::super::config::RawPermissions {
                    assume_roles: vec!["arn:aws:iam::{account}:role/ProdReadOnly".into()],
                    statements,
                },
                ..RawPermissions::default()
            },
            keys: crate::policy::RoleKeys::default(),
            auto_approve: vec![],
        }
    }

    const ACCOUNT: &str = "111111111111";
    const WINDOW: &str = "2026-11-22T10:00:00Z";

    fn window() -> Window {
        Window {
            start: t(WINDOW),
            end: t("2026-11-22T12:00:00Z"),
        }
    }

    #[test]
    fn every_statement_carries_the_window_and_mfa_when_required() {
        let doc = document(
            &role(
                true,
                vec![Statement {
                    effect: Effect::Allow,
                    actions: vec!["logs:GetLogEvents".into()],
                    resources: vec!["*".into()],
                }],
            ),
            ACCOUNT,
            window(),
        );
        insta::assert_snapshot!(serde_json::to_string_pretty(&doc).unwrap());
        let statements = doc["Statement"].as_array().unwrap();
        assert_eq!(
            statements[0]["Resource"][0], "arn:aws:iam::111111111111:role/ProdReadOnly",
            "{{account}} is the provider's account"
        );
        for s in statements.iter().filter(|s| !is_guard(s)) {
            assert_eq!(s["Condition"]["DateGreaterThan"]["aws:CurrentTime"], WINDOW);
            assert_eq!(
                s["Condition"]["DateLessThan"]["aws:CurrentTime"],
                "2026-11-22T12:00:00Z"
            );
            assert_eq!(s["Condition"]["Bool"]["aws:MultiFactorAuthPresent"], "true");
        }
        let no_mfa = document(&role(false, vec![]), ACCOUNT, window());
        assert!(no_mfa["Statement"][0]["Condition"].get("Bool").is_none());
        assert_eq!(
            no_mfa["Statement"][0]["Condition"]["StringEquals"]["sts:RoleSessionName"],
            "${aws:username}"
        );
    }

    #[test]
    fn a_document_over_6144_characters_is_refused_before_any_call() {
        let many = Statement {
            effect: Effect::Allow,
            actions: (0..400)
                .map(|i| format!("s3:GetObjectVersion{i}"))
                .collect(),
            resources: vec!["*".into()],
        };
        let doc = document(&role(false, vec![many]), ACCOUNT, window());
        let why = document_quota(&doc).expect("over the quota");
        assert!(why.contains("over IAM's 6144"), "{why}");
        assert!(document_quota(&document(&role(false, vec![]), ACCOUNT, window())).is_none());
    }

    fn id(role: &str, name: &str) -> GrantId {
        GrantId {
            role: role.into(),
            name: name.into(),
        }
    }

    #[test]
    fn every_document_denies_writing_gitgrants_own_policies() {
        let doc = document(&role(false, vec![]), ACCOUNT, window());
        let guards: Vec<&Value> = doc["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| is_guard(s))
            .collect();
        assert_eq!(guards.len(), 2);
        for g in &guards {
            assert_eq!(g["Effect"], "Deny");
        }
        let actions = |g: &Value| -> Vec<String> {
            g["Action"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a.as_str().unwrap().to_string())
                .collect()
        };
        assert!(actions(guards[0]).contains(&"iam:CreatePolicyVersion".to_string()));
        assert!(actions(guards[0]).contains(&"iam:SetDefaultPolicyVersion".to_string()));
        assert_eq!(guards[0]["Resource"], "arn:aws:iam::*:policy/gitgrant/*");
        assert!(actions(guards[1]).contains(&"iam:DetachUserPolicy".to_string()));
        assert_eq!(
            guards[1]["Condition"]["ArnLike"]["iam:PolicyARN"],
            "arn:aws:iam::*:policy/gitgrant/*"
        );
    }

    #[test]
    fn a_weak_role_and_a_strong_role_whose_joined_names_meet_get_different_policies() {
        // `prod` + `admin-carol-…` and `prod-admin` + `carol-…` were both
        // gitgrant-prod-admin-carol-20261123-0b5e.
        let weak = id("prod", "admin-carol-20261123-0b5e");
        let strong = id("prod-admin", "carol-20261123-0b5e");
        assert_eq!(legacy_policy_name(&weak), legacy_policy_name(&strong));
        assert_ne!(
            policy_name("acme/access", &weak),
            policy_name("acme/access", &strong)
        );
        assert!(policy_name("acme/access", &weak).starts_with("gitgrant.prod.admin-carol-"));
    }

    #[test]
    fn the_same_grant_in_two_repositories_gets_two_names() {
        let g = id("ro", "alice-1");
        assert_ne!(
            policy_name("acme/access", &g),
            policy_name("acme/other", &g)
        );
        assert_eq!(
            policy_name("acme/access", &g),
            policy_name("acme/access", &g)
        );
    }

    #[test]
    fn names_fit_iam_and_long_ones_differ_past_the_cut() {
        let long = |last: char| id(&"r".repeat(63), &format!("{}{last}", "n".repeat(62)));
        let (a, b) = (
            policy_name("acme/access", &long('a')),
            policy_name("acme/access", &long('b')),
        );
        assert_eq!(a.len(), MAX_NAME_CHARS);
        assert_ne!(a, b, "names differing only past the cut must not collide");
        let iam_name = regex::Regex::new(r"^[\w+=,.@-]{1,128}$").unwrap();
        assert!(iam_name.is_match(&a), "{a}");
    }

    proptest::proptest! {
        /// Over generated role and grant names (the slugs validation
        /// admits), two different grants never share a policy name.
        #[test]
        fn resource_names_never_collide(
            a_role in "[a-z0-9][a-z0-9-]{0,62}",
            a_name in "[a-z0-9][a-z0-9-]{0,62}",
            b_role in "[a-z0-9][a-z0-9-]{0,62}",
            b_name in "[a-z0-9][a-z0-9-]{0,62}",
        ) {
            let (a, b) = (id(&a_role, &a_name), id(&b_role, &b_name));
            proptest::prop_assume!(a != b);
            proptest::prop_assert_ne!(
                policy_name("acme/access", &a),
                policy_name("acme/access", &b)
            );
        }

        /// The attack itself: one hyphenated string split into role and
        /// name at two places. The old names met; the new ones never do.
        #[test]
        fn one_string_split_two_ways_never_collides(
            x in "[a-z0-9][a-z0-9-]{0,20}",
            y in "[a-z0-9][a-z0-9-]{0,20}",
            z in "[a-z0-9][a-z0-9-]{0,20}",
        ) {
            let a = id(&x, &format!("{y}-{z}"));
            let b = id(&format!("{x}-{y}"), &z);
            proptest::prop_assert_eq!(legacy_policy_name(&a), legacy_policy_name(&b));
            proptest::prop_assert_ne!(
                policy_name("acme/access", &a),
                policy_name("acme/access", &b)
            );
        }
    }
}
