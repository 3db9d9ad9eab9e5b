//! How IAM Identity Center carries a grant, as pure values: the permission
//! set's name and description, its inline policy and the quotas checked
//! before any call. Nothing here calls AWS.
//!
//! The inline policy carries the role's statements, each with the grant's
//! window on `aws:CurrentTime`, and two explicit denies of every action:
//! before the window starts and from the moment it ends. An explicit deny
//! wins over every allow, so at the window's end the permission set's
//! managed policies stop working too, and so do sessions already open
//! (IAM evaluates the condition on every request) — whether or not a
//! reconciler run comes.

use serde_json::{Value, json};

use chrono::{DateTime, Utc};

use crate::grant::{GrantId, Window, fmt_time};
use crate::providers::aws_iam::config::{Effect, Statement};

/// The most characters of a permission set's name.
pub const MAX_NAME_CHARS: usize = 32;
/// The most characters of a permission set's inline policy, whitespace
/// removed.
pub const MAX_INLINE_CHARS: usize = 10_240;
/// The most managed and customer-managed policies one permission set holds,
/// the two counted together (IAM Identity Center's default quota; moto
/// counts them together too).
pub const MAX_ATTACHED_POLICIES: usize = 20;
/// The most permission sets one instance holds (IAM Identity Center's
/// default quota; AWS can raise it, gitgrant then refuses early).
pub const MAX_PERMISSION_SETS: usize = 3_500;
/// The readable start of every permission set gitgrant makes.
pub const NAME_PREFIX: &str = "gitgrant-";

/// The permission set's name for grant `id` of `repository`:
/// `gitgrant-` and 23 hex digits (92 bits) of SHA-256 over the repository,
/// role and name separated by NUL bytes (which none of them may contain).
///
/// Permission set names are unique per instance and at most 32 characters
/// of `[\w+=,.@-]`, so no readable role or grant name fits beside a hash
/// that tells every (repository, role, name) apart; the description names
/// the repository and the grant for people instead. 92 bits make an
/// accidental meeting among an instance's 3,500 permission sets
/// vanishingly unlikely; a deliberate one (two names found to share a hash)
/// only gets a grant refused: a permission set is ours only when its name
/// *and* its description record the same grant of this repository, so a
/// collision can never adopt someone else's permission set.
pub fn permission_set_name(repository: &str, id: &GrantId) -> String {
    let hex = crate::names::hash_hex(
        &[repository, &id.role, &id.name],
        MAX_NAME_CHARS - NAME_PREFIX.len(),
    );
    format!("{NAME_PREFIX}{hex}")
}

/// The permission set's description: it names the grant and the
/// repository, which is how a later run (and a person in the console) knows
/// whose it is.
pub fn description(repository: &str, id: &GrantId) -> String {
    format!("gitgrant grant {id} of {repository}")
}

/// The grant a permission set records, when its description is one
/// gitgrant writes for `repository` and its name is the one that grant
/// gets. Anything else is not ours and is never touched.
pub fn owned_grant(repository: &str, name: &str, description: &str) -> Option<GrantId> {
    let rest = description.strip_prefix("gitgrant grant ")?;
    let (id, repo) = rest.split_once(" of ")?;
    if repo != repository {
        return None;
    }
    let id = id.parse::<GrantId>().ok()?;
    (permission_set_name(repository, &id) == name).then_some(id)
}

/// The window's conditions, as every allowed statement carries them.
fn window_conditions(window: Window) -> Value {
    json!({
        "DateGreaterThan": { "aws:CurrentTime": fmt_time(window.start) },
        "DateLessThan": { "aws:CurrentTime": fmt_time(window.end) },
    })
}

/// The two denies of every action outside the window.
pub fn window_denies(window: Window) -> [Value; 2] {
    [
        json!({
            "Sid": "GitgrantDenyBeforeTheWindow",
            "Effect": "Deny",
            "Action": "*",
            "Resource": "*",
            "Condition": { "DateLessThan": { "aws:CurrentTime": fmt_time(window.start) } },
        }),
        json!({
            "Sid": "GitgrantDenyFromTheWindowsEnd",
            "Effect": "Deny",
            "Action": "*",
            "Resource": "*",
            "Condition": { "DateGreaterThanEquals": { "aws:CurrentTime": fmt_time(window.end) } },
        }),
    ]
}

/// The permission set's inline policy for a grant of a role with
/// `statements` in `window`. Its length does not depend on the window
/// (every time is 20 characters), so validation checks it with any.
pub fn inline_policy(statements: &[Statement], window: Window) -> Value {
    let mut statements: Vec<Value> = statements
        .iter()
        .enumerate()
        .map(|(i, s)| {
            json!({
                "Sid": format!("Statement{i}"),
                "Effect": match s.effect { Effect::Allow => "Allow", Effect::Deny => "Deny" },
                "Action": s.actions,
                "Resource": s.resources,
                "Condition": window_conditions(window),
            })
        })
        .collect();
    statements.extend(window_denies(window));
    json!({ "Version": "2012-10-17", "Statement": statements })
}

/// `policy` (an inline policy gitgrant wrote) with its window ending at
/// `now` wherever it ended later: every statement's `DateLessThan` and the
/// deny from the end's `DateGreaterThanEquals` on `aws:CurrentTime`.
pub fn ending_at(policy: &Value, now: DateTime<Utc>) -> Value {
    let now = fmt_time(now);
    let mut out = policy.clone();
    let statements = out.get_mut("Statement").and_then(Value::as_array_mut);
    for s in statements.into_iter().flatten() {
        for op in ["DateLessThan", "DateGreaterThanEquals"] {
            let t = s
                .get_mut("Condition")
                .and_then(|c| c.get_mut(op))
                .and_then(|o| o.get_mut("aws:CurrentTime"));
            // Times gitgrant writes are RFC 3339 in UTC: they order as text.
            if let Some(t) = t
                && t.as_str().is_some_and(|t| t > now.as_str())
            {
                *t = Value::String(now.clone());
            }
        }
    }
    out
}

/// A quota the permission set would break, in words, checked in the plan
/// before any call (moto enforces none).
pub fn quota(inline: &Value, attached: usize) -> Option<String> {
    let n = crate::providers::aws_iam::document::minified(inline)
        .chars()
        .count();
    if n > MAX_INLINE_CHARS {
        return Some(format!(
            "the inline policy is {n} characters without whitespace, over IAM Identity Center's {MAX_INLINE_CHARS}"
        ));
    }
    (attached > MAX_ATTACHED_POLICIES).then(|| {
        format!(
            "the permission set would hold {attached} managed policies, over IAM Identity Center's {MAX_ATTACHED_POLICIES}"
        )
    })
}

/// Whether `s` is a region name such as `eu-west-1`.
pub fn is_region(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() >= 3
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        })
        && parts
            .last()
            .is_some_and(|p| p.chars().all(|c| c.is_ascii_digit()))
}

/// Whether `s` is an instance ARN: `arn:aws:sso:::instance/ssoins-<hex>`.
pub fn is_instance_arn(s: &str) -> bool {
    s.strip_prefix("arn:aws:sso:::instance/ssoins-")
        .is_some_and(|id| {
            (1..=64).contains(&id.len()) && id.chars().all(|c| c.is_ascii_alphanumeric())
        })
}

/// Whether `s` is an Identity Store id: `d-<10 hex>` (or a UUID-like id of
/// letters, digits and hyphens, as some regions issue).
pub fn is_identity_store_id(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && s.contains('-')
}

/// Whether `s` can be an Identity Store UserName (1–128 printable
/// characters, no spaces at either end).
pub fn is_user_name(s: &str) -> bool {
    (1..=128).contains(&s.chars().count()) && s.trim() == s && !s.chars().any(char::is_control)
}

/// Whether `s` is the ARN of an AWS-managed policy.
pub fn is_aws_managed_policy(s: &str) -> bool {
    s.strip_prefix("arn:aws:iam::aws:policy/")
        .is_some_and(|rest| {
            !rest.is_empty()
                && rest
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+=,.@-_/".contains(c))
                && !rest.ends_with('/')
        })
}

/// Whether `s` is an IAM path: `/`, or `/a/b/`.
pub fn is_policy_path(s: &str) -> bool {
    s.starts_with('/')
        && s.ends_with('/')
        && s.len() <= 512
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "+=,.@-_/".contains(c))
        && !s.contains("//")
}

/// The least the reconciler needs for an Identity Center provider: the
/// `sso:` reads and writes of the adapter on this instance, its permission
/// sets and the accounts `accounts`, and `identitystore:GetUserId` in its
/// Identity Store. Permission-set ARNs carry no name, so writes cannot be
/// narrowed to gitgrant's own; the adapter's ownership check does that.
pub fn reconciler_policy(
    instance_arn: &str,
    identity_store_id: &str,
    account: &str,
    accounts: &[String],
) -> Value {
    let instance_id = instance_arn.rsplit('/').next().unwrap_or_default();
    let mut resources = vec![
        instance_arn.to_string(),
        format!("arn:aws:sso:::permissionSet/{instance_id}/*"),
    ];
    resources.extend(
        accounts
            .iter()
            .map(|a| format!("arn:aws:sso:::account/{a}")),
    );
    json!({
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "ManageThisRepositorysPermissionSets",
                "Effect": "Allow",
                "Action": [
                    "sso:AttachCustomerManagedPolicyReferenceToPermissionSet",
                    "sso:AttachManagedPolicyToPermissionSet",
                    "sso:CreateAccountAssignment",
                    "sso:CreatePermissionSet",
                    "sso:DeleteAccountAssignment",
                    "sso:DeletePermissionSet",
                    "sso:DescribeAccountAssignmentCreationStatus",
                    "sso:DescribeAccountAssignmentDeletionStatus",
                    "sso:DescribePermissionSet",
                    "sso:DescribePermissionSetProvisioningStatus",
                    "sso:DetachCustomerManagedPolicyReferenceFromPermissionSet",
                    "sso:DetachManagedPolicyFromPermissionSet",
                    "sso:GetInlinePolicyForPermissionSet",
                    "sso:ListAccountAssignments",
                    "sso:ListAccountsForProvisionedPermissionSet",
                    "sso:ListCustomerManagedPolicyReferencesInPermissionSet",
                    "sso:ListManagedPoliciesInPermissionSet",
                    "sso:ListPermissionSets",
                    "sso:ProvisionPermissionSet",
                    "sso:PutInlinePolicyToPermissionSet",
                    "sso:UpdatePermissionSet"
                ],
                "Resource": resources
            },
            {
                "Sid": "ResolveSubjects",
                "Effect": "Allow",
                "Action": ["identitystore:GetUserId"],
                "Resource": [
                    format!("arn:aws:identitystore::{account}:identitystore/{identity_store_id}"),
                    "arn:aws:identitystore:::user/*"
                ]
            }
        ]
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::aws_iam::config::Statement;
    use chrono::{DateTime, Utc};

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    fn id(role: &str, name: &str) -> GrantId {
        format!("{role}/{name}").parse::<GrantId>().unwrap()
    }

    #[test]
    fn names_fit_identity_centers_rules_and_never_meet() {
        let valid = |n: &str| {
            (1..=MAX_NAME_CHARS).contains(&n.len())
                && n.chars()
                    .all(|c| c.is_alphanumeric() || c == '_' || "+=,.@-".contains(c))
        };
        let a = permission_set_name("acme/access", &id("prod", "admin-x"));
        let b = permission_set_name("acme/access", &id("prod-admin", "x"));
        let c = permission_set_name("acme/other", &id("prod", "admin-x"));
        assert!(valid(&a), "{a}");
        assert_eq!(a.len(), MAX_NAME_CHARS);
        assert_ne!(a, b);
        assert_ne!(a, c);
        // Long ids still fit.
        let long = permission_set_name("acme/access", &id(&"r".repeat(63), &"n".repeat(63)));
        assert!(valid(&long), "{long}");
    }

    #[test]
    fn ownership_needs_the_name_and_a_description_of_this_repository() {
        let g = id("prod", "alice-1");
        let name = permission_set_name("acme/access", &g);
        let ours = description("acme/access", &g);
        assert_eq!(owned_grant("acme/access", &name, &ours), Some(g.clone()));
        // Another repository's description, or a look-alike name: not ours.
        assert_eq!(
            owned_grant("acme/access", &name, &description("evil/access", &g)),
            None
        );
        assert_eq!(
            owned_grant("acme/access", "gitgrant-0000000000000000000000a", &ours),
            None
        );
        // A description recording another grant under this name: not ours.
        let other = description("acme/access", &id("prod", "bob-1"));
        assert_eq!(owned_grant("acme/access", &name, &other), None);
    }

    #[test]
    fn every_statement_carries_the_window_and_every_action_is_denied_outside_it() {
        let w = Window {
            start: t("2026-11-22T10:00:00Z"),
            end: t("2026-11-22T12:00:00Z"),
        };
        let doc = inline_policy(
            &[Statement {
                effect: Effect::Allow,
                actions: vec!["s3:GetObject".into()],
                resources: vec!["*".into()],
            }],
            w,
        );
        let st = doc["Statement"].as_array().unwrap();
        assert_eq!(st.len(), 3);
        assert_eq!(
            st[0]["Condition"],
            json!({
                "DateGreaterThan": {"aws:CurrentTime": "2026-11-22T10:00:00Z"},
                "DateLessThan": {"aws:CurrentTime": "2026-11-22T12:00:00Z"}
            })
        );
        assert_eq!(st[1]["Effect"], "Deny");
        assert_eq!(st[1]["Action"], "*");
        assert_eq!(
            st[1]["Condition"],
            json!({"DateLessThan": {"aws:CurrentTime": "2026-11-22T10:00:00Z"}})
        );
        assert_eq!(
            st[2]["Condition"],
            json!({"DateGreaterThanEquals": {"aws:CurrentTime": "2026-11-22T12:00:00Z"}})
        );
        // A role of managed policies only still gets the denies.
        assert_eq!(
            inline_policy(&[], w)["Statement"].as_array().unwrap().len(),
            2
        );
    }

    #[test]
    fn quotas_are_checked_before_any_call() {
        let w = Window {
            start: t("2026-11-22T10:00:00Z"),
            end: t("2026-11-22T12:00:00Z"),
        };
        let big = Statement {
            effect: Effect::Allow,
            actions: (0..600).map(|i| format!("s3:GetObject{i}")).collect(),
            resources: vec!["*".into()],
        };
        let doc = inline_policy(&[big], w);
        assert!(quota(&doc, 0).unwrap().contains("10240"));
        let small = inline_policy(&[], w);
        assert_eq!(quota(&small, 20), None);
        assert!(quota(&small, 21).unwrap().contains("21 managed policies"));
    }

    #[test]
    fn references_and_instance_fields_are_checked() {
        assert!(is_aws_managed_policy(
            "arn:aws:iam::aws:policy/AdministratorAccess"
        ));
        assert!(is_aws_managed_policy(
            "arn:aws:iam::aws:policy/job-function/ViewOnlyAccess"
        ));
        assert!(!is_aws_managed_policy(
            "arn:aws:iam::111111111111:policy/Mine"
        ));
        assert!(is_instance_arn(
            "arn:aws:sso:::instance/ssoins-1234567890abcdef"
        ));
        assert!(!is_instance_arn("arn:aws:sso:::instance/"));
        assert!(is_identity_store_id("d-1234567890"));
        assert!(is_region("eu-west-1"));
        assert!(!is_region("eu-west"));
        assert!(is_policy_path("/"));
        assert!(is_policy_path("/ops/"));
        assert!(!is_policy_path("ops"));
    }
}
