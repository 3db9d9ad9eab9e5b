//! Validation of what the policy says for the `aws-identity-center` kind:
//! each provider names its instance, each role its accounts, a person's
//! Identity Store user, and no field of one kind is used with another.

use crate::duration::GrantDuration;
use crate::names;
use super::config::MAX_SESSION;
use crate::policy::{ProviderType, RawPolicy};
use crate::rule::Rule;
use crate::validate::Sink;

pub(crate) fn check_sso_user(user: &Option<String>, path: &str, s: &mut Sink) {
    if let Some(name) = user
        && !crate::providers::aws_identity_center::document::is_user_name(name)
    {
        s.at(
            Rule::InvalidIdentity,
            &format!("{path}.aws_sso_user"),
            format!("`{name}` is not an Identity Store UserName"),
        );
    }
}

/// Identity Center's part of the policy: each provider names its instance,
/// each role its accounts, and no field of one kind is used with another.
pub(crate) fn check_identity_center(p: &RawPolicy, s: &mut Sink) {
    use crate::providers::aws_identity_center::document as ic;
    for (name, provider) in &p.providers {
        let path = format!("providers.{name}");
        let fields = [
            (
                "region",
                &provider.aws_identity_center.region,
                ic::is_region as fn(&str) -> bool,
            ),
            (
                "instance_arn",
                &provider.aws_identity_center.instance_arn,
                ic::is_instance_arn,
            ),
            (
                "identity_store_id",
                &provider.aws_identity_center.identity_store_id,
                ic::is_identity_store_id,
            ),
        ];
        let ic = provider.kind == ProviderType::AwsIdentityCenter;
        for (key, value, valid) in fields {
            match (ic, value) {
                (true, None) => s.at_key(
                    Rule::IdentityCenterProvider,
                    &path,
                    format!("provider `{name}` is aws-identity-center but has no `{key}`"),
                ),
                (true, Some(v)) if !valid(v) => s.at(
                    Rule::IdentityCenterProvider,
                    &format!("{path}.{key}"),
                    format!("`{v}` is not a valid {key}"),
                ),
                (false, Some(_)) => s.at_key(
                    Rule::IdentityCenterProvider,
                    &format!("{path}.{key}"),
                    format!(
                        "`{key}` is for aws-identity-center providers; `{name}` is {}",
                        provider.kind
                    ),
                ),
                (true, Some(_)) | (false, None) => {}
            }
        }
    }
    for (name, role) in &p.roles {
        let path = format!("roles.{name}");
        let kinds = role_kinds(p, role);
        let aws: Vec<ProviderType> = (kinds.iter().copied())
            .filter(|k| crate::providers::aws::is_aws(*k))
            .collect();
        if aws.len() > 1 {
            s.at(
                Rule::KindMismatch,
                &format!("{path}.provider"),
                format!("role `{name}` names providers of different AWS kinds: {aws:?}"),
            );
            continue;
        }
        if kinds.is_empty() {
            continue;
        }
        if aws.first() == Some(&ProviderType::AwsIdentityCenter) {
            check_ic_role(p, name, role, s);
            continue;
        }
        let perms = &role.permissions;
        let misuse = [
            ("accounts", !role.aws_identity_center.accounts.is_empty()),
            (
                "session_duration",
                role.aws_identity_center.session_duration.is_some(),
            ),
            (
                "permissions.managed_policies",
                !perms.aws_identity_center.managed_policies.is_empty(),
            ),
            (
                "permissions.customer_managed_policies",
                !perms
                    .aws_identity_center
                    .customer_managed_policies
                    .is_empty(),
            ),
        ];
        let words: Vec<&str> = kinds.iter().map(|k| k.name()).collect();
        for (key, used) in misuse {
            if used {
                let rule = if key == "accounts" {
                    Rule::RoleAccounts
                } else {
                    Rule::KindMismatch
                };
                s.at_key(
                    rule,
                    &format!("{path}.{key}"),
                    format!(
                        "`{key}` is for aws-identity-center roles; `{name}` is {}",
                        words.join(" and ")
                    ),
                );
            }
        }
    }
}

fn check_ic_role(p: &RawPolicy, name: &str, role: &crate::policy::RawRole, s: &mut Sink) {
    use crate::providers::aws_identity_center::document as ic;
    let path = format!("roles.{name}");
    let perms = &role.permissions;
    if role.aws_identity_center.accounts.is_empty() {
        s.at_key(
            Rule::RoleAccounts,
            &path,
            format!("aws-identity-center role `{name}` has no `accounts`"),
        );
    }
    let instance_accounts: Vec<&str> = role
        .provider
        .names()
        .iter()
        .filter_map(|n| p.providers.get(*n).and_then(|pr| pr.aws_iam.account.as_deref()))
        .collect();
    for (i, account) in role.aws_identity_center.accounts.iter().enumerate() {
        let at = format!("{path}.accounts.{i}");
        if !names::is_account(account) {
            s.at(
                Rule::RoleAccounts,
                &at,
                format!("`{account}` is not a 12-digit AWS account id"),
            );
        } else if instance_accounts.contains(&account.as_str()) {
            s.at(
                Rule::RoleAccounts,
                &at,
                format!("`{account}` holds the Identity Center instance: a grantee there could rewrite permission sets"),
            );
        } else if role.aws_identity_center.accounts[..i].contains(account) {
            s.at(
                Rule::RoleAccounts,
                &at,
                format!("account `{account}` is named twice"),
            );
        }
    }
    if let Some(d) = &role.aws_identity_center.session_duration {
        match d.parse::<GrantDuration>() {
            Err(e) => s.at(
                Rule::SessionDuration,
                &format!("{path}.session_duration"),
                e.to_string(),
            ),
            Ok(d) if d > MAX_SESSION => s.at(
                Rule::SessionDuration,
                &format!("{path}.session_duration"),
                format!("session_duration {d} is above IAM Identity Center's 12h"),
            ),
            Ok(_) => {}
        }
    }
    if !perms.aws_iam.assume_roles.is_empty() {
        s.at_key(
            Rule::KindMismatch,
            &format!("{path}.permissions.assume_roles"),
            format!("`assume_roles` is for aws-iam roles; `{name}` is aws-identity-center (give it statements or managed_policies)"),
        );
    }
    if role.require_mfa {
        s.at(
            Rule::KindMismatch,
            &format!("{path}.require_mfa"),
            "Identity Center sessions never carry aws:MultiFactorAuthPresent: require MFA at sign-in in Identity Center instead",
        );
    }
    for (i, arn) in perms
        .aws_identity_center
        .managed_policies
        .iter()
        .enumerate()
    {
        if !ic::is_aws_managed_policy(arn) {
            s.at(
                Rule::PolicyReference,
                &format!("{path}.permissions.managed_policies.{i}"),
                format!("`{arn}` is not an AWS-managed policy ARN"),
            );
        }
    }
    for (i, c) in perms
        .aws_identity_center
        .customer_managed_policies
        .iter()
        .enumerate()
    {
        if !names::is_iam_name(&c.name) || !ic::is_policy_path(&c.path) {
            s.at(
                Rule::PolicyReference,
                &format!("{path}.permissions.customer_managed_policies.{i}"),
                format!(
                    "`{}{}` is not a customer-managed policy path and name",
                    c.path, c.name
                ),
            );
        }
    }
    // The policy's length does not depend on the window: any will do.
    let any = crate::grant::Window {
        start: chrono::DateTime::UNIX_EPOCH,
        end: chrono::DateTime::UNIX_EPOCH,
    };
    if let Some(why) = ic::quota(&ic::inline_policy(&perms.aws_iam.statements, any), 0) {
        s.at_key(
            Rule::InlinePolicySize,
            &format!("{path}.permissions.statements"),
            format!("a grant of role `{name}`: {why}"),
        );
    }
    let attached = perms.aws_identity_center.managed_policies.len()
        + perms.aws_identity_center.customer_managed_policies.len();
    if attached > ic::MAX_ATTACHED_POLICIES {
        s.at_key(
            Rule::PolicyReference,
            &format!("{path}.permissions"),
            format!(
                "role `{name}` attaches {attached} policies; a permission set holds at most {}",
                ic::MAX_ATTACHED_POLICIES
            ),
        );
    }
}

/// The kinds of the providers a role names (those defined), once each.
fn role_kinds(p: &RawPolicy, role: &crate::policy::RawRole) -> Vec<ProviderType> {
    let mut kinds: Vec<ProviderType> = role
        .provider
        .names()
        .iter()
        .filter_map(|n| p.providers.get(*n).map(|pr| pr.kind))
        .collect();
    kinds.sort();
    kinds.dedup();
    kinds
}
