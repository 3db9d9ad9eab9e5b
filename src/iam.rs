//! How a grant is carried by AWS IAM (DESIGN §2), as pure values: the managed
//! policy's name, path, tags and document. Every statement carries the
//! grant's window as `aws:CurrentTime` conditions, so AWS ends access on time
//! even when no reconciler run comes.
//!
//! The reconciler's AWS adapter sends these values; nothing here calls AWS.

use serde_json::{Value, json};

use crate::grant::{Grant, GrantId, Window, fmt_time};
use crate::policy::{Effect, Policy, Role};

/// The most characters of a managed policy document, whitespace removed.
pub const MAX_DOCUMENT_CHARS: usize = 6144;
/// The most characters of a managed policy name.
pub const MAX_NAME_CHARS: usize = 128;
/// The most versions a managed policy keeps.
pub const MAX_VERSIONS: usize = 5;

/// The IAM path that marks a policy as this access repository's: gitgrant
/// changes or deletes policies under it and nowhere else.
pub fn ownership_path(policy: &Policy) -> String {
    format!("/gitgrant/{}/{}/", policy.owner, policy.name)
}

/// The managed policy's name for a grant: `gitgrant-<role>-<name>`. Role and
/// grant names are `[a-z0-9-]` already; a name over IAM's 128 characters is
/// cut and ends in a hash of the whole, so two long names never collide.
pub fn policy_name(id: &GrantId) -> String {
    let name = format!("gitgrant-{}-{}", id.role, id.name);
    if name.len() <= MAX_NAME_CHARS {
        return name;
    }
    // FNV-1a: stable across runs and platforms, unlike std's hasher.
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
pub fn document(role: &Role, window: Window) -> Value {
    let mut statements = Vec::new();
    if !role.permissions.assume_roles.is_empty() {
        let mut conditions = window_conditions(window, role.require_mfa);
        conditions.insert(
            "StringEquals".into(),
            json!({ "sts:RoleSessionName": "${aws:username}" }),
        );
        statements.push(json!({
            "Sid": "AssumeRoles",
            "Effect": "Allow",
            "Action": "sts:AssumeRole",
            "Resource": role.permissions.assume_roles,
            "Condition": conditions,
        }));
    }
    for (i, s) in role.permissions.statements.iter().enumerate() {
        statements.push(json!({
            "Sid": format!("Statement{i}"),
            "Effect": match s.effect { Effect::Allow => "Allow", Effect::Deny => "Deny" },
            "Action": s.actions,
            "Resource": s.resources,
            "Condition": window_conditions(window, role.require_mfa),
        }));
    }
    json!({ "Version": "2012-10-17", "Statement": statements })
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
                    "iam:GetPolicyVersion",
                    "iam:ListEntitiesForPolicy",
                    "iam:ListPolicyVersions",
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
                    "iam:DetachRolePolicy",
                    "iam:DetachUserPolicy"
                ],
                "Resource": [
                    format!("arn:aws:iam::{account}:user/*"),
                    format!("arn:aws:iam::{account}:role/*")
                ],
                "Condition": { "ArnLike": { "iam:PolicyARN": owned } }
            },
            {
                "Sid": "ReadStateInPages",
                "Effect": "Allow",
                "Action": [
                    "iam:GetAccountAuthorizationDetails",
                    "iam:GetAccountSummary",
                    "iam:ListPolicies"
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
    use crate::grant::Timing;
    use crate::policy::{RawPermissions, Statement};
    use chrono::{DateTime, Utc};

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    fn role(mfa: bool, statements: Vec<Statement>) -> Role {
        Role {
            name: "prod-readonly".into(),
            description: "d".into(),
            provider: "aws-prod".into(),
            max_duration: "8h".parse().unwrap(),
            approvers: vec![],
            min_approvals: 1,
            requesters: vec![],
            require_ticket: None,
            require_mfa: mfa,
            break_glass: false,
            permissions: RawPermissions {
                assume_roles: vec!["arn:aws:iam::111111111111:role/ProdReadOnly".into()],
                statements,
            },
        }
    }

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
            window(),
        );
        insta::assert_snapshot!(serde_json::to_string_pretty(&doc).unwrap());
        for s in doc["Statement"].as_array().unwrap() {
            assert_eq!(s["Condition"]["DateGreaterThan"]["aws:CurrentTime"], WINDOW);
            assert_eq!(
                s["Condition"]["DateLessThan"]["aws:CurrentTime"],
                "2026-11-22T12:00:00Z"
            );
            assert_eq!(s["Condition"]["Bool"]["aws:MultiFactorAuthPresent"], "true");
        }
        let no_mfa = document(&role(false, vec![]), window());
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
        let doc = document(&role(false, vec![many]), window());
        let why = document_quota(&doc).expect("over the quota");
        assert!(why.contains("over IAM's 6144"), "{why}");
        assert!(document_quota(&document(&role(false, vec![]), window())).is_none());
    }

    #[test]
    fn names_and_paths() {
        let grant = Grant {
            id: GrantId {
                role: "prod-readonly".into(),
                name: "alice-20261122-7f3a".into(),
            },
            subject: "alice".into(),
            reason: "r".into(),
            ticket: None,
            timing: Timing::Duration("2h".parse().unwrap()),
        };
        assert_eq!(
            policy_name(&grant.id),
            "gitgrant-prod-readonly-alice-20261122-7f3a"
        );
        let long = |last: char| Grant {
            id: GrantId {
                role: "r".repeat(63),
                name: format!("{}{last}", "n".repeat(62)),
            },
            ..grant.clone()
        };
        let (a, b) = (policy_name(&long('a').id), policy_name(&long('b').id));
        assert_eq!(a.len(), MAX_NAME_CHARS);
        assert_ne!(a, b, "names differing only past the cut must not collide");
    }
}
