//! Validation of what the policy says for the `aws-iam` kind: IAM role
//! ARNs, a person's IAM user or role, and the fences `require_fence` asks
//! for. Statements are checked in [`super::statements`].

use std::collections::BTreeMap;

use crate::names;
use crate::policy::{ProviderType, RawPolicy};
use crate::rule::Rule;
use crate::validate::Sink;

/// Checks one IAM role ARN, pushing what is wrong with it at `path`; its
/// account when it is a role ARN gitgrant can use.
pub(crate) fn check_role_arn<'a>(arn: &'a str, path: &str, s: &mut Sink) -> Option<&'a str> {
    match names::parse_role_arn(arn) {
        Some(parsed) if parsed.partition == names::PARTITION => Some(parsed.account),
        Some(parsed) => {
            s.at_help(
                Rule::InvalidArn,
                path,
                format!("`{arn}` is in the `{}` partition", parsed.partition),
                format!(
                    "gitgrant supports only the `{}` partition: write arn:{}:iam::<12-digit account>:role/<name>",
                    names::PARTITION,
                    names::PARTITION
                ),
            );
            None
        }
        // A wildcard would let the grant (or the reconciler) assume roles
        // that nobody named in a reviewed change.
        None if arn.contains(['*', '?']) => {
            s.at_help(
                Rule::InvalidArn,
                path,
                format!("`{arn}` has a wildcard; a role ARN names one role"),
                "write each role ARN in full, without `*` or `?`: arn:aws:iam::<12-digit account>:role/<name>".to_string(),
            );
            None
        }
        None => {
            s.at(
                Rule::InvalidArn,
                path,
                format!("`{arn}` is not an IAM role ARN"),
            );
            None
        }
    }
}

pub(crate) fn check_identity(
    user: &Option<String>,
    role: &Option<String>,
    path: &str,
    s: &mut Sink,
) {
    if user.is_some() && role.is_some() {
        s.at(
            Rule::InvalidIdentity,
            &format!("{path}.aws_iam_role"),
            "both aws_iam_user and aws_iam_role are set",
        );
    }
    for (key, name) in [("aws_iam_user", user), ("aws_iam_role", role)] {
        if let Some(name) = name
            && !names::is_iam_name(name)
        {
            s.at(
                Rule::InvalidIdentity,
                &format!("{path}.{key}"),
                format!("`{name}` is not a valid IAM name"),
            );
        }
    }
}

/// `require_fence` asks that every role a grant may assume be fenced: each
/// must lie in an account an `aws-iam` provider reconciles (`{account}`
/// always does).
pub(crate) fn check_fence(p: &RawPolicy, name: &str, role: &crate::policy::RawRole, s: &mut Sink) {
    if !role.aws_iam.require_fence {
        return;
    }
    let reconciled: Vec<&str> = p
        .providers
        .values()
        .filter(|pr| pr.kind == ProviderType::AwsIam)
        .filter_map(|pr| pr.aws_iam.account.as_deref())
        .collect();
    for (i, arn) in role.permissions.aws_iam.assume_roles.iter().enumerate() {
        let account = arn
            .strip_prefix("arn:aws:iam::")
            .and_then(|rest| rest.split(':').next())
            .unwrap_or_default();
        if account != super::assume::ACCOUNT_PLACEHOLDER && !reconciled.contains(&account) {
            s.at(
                Rule::UnfenceableRole,
                &format!("roles.{name}.permissions.assume_roles.{i}"),
                format!("role `{name}` requires a fence, but `{arn}` is in account {account}, which no aws-iam provider reconciles"),
            );
        }
    }
}

/// A role's IAM keys: each `assume_roles` entry a role ARN (`{account}`
/// standing for each provider's account), each statement one a grant may
/// carry.
pub(crate) fn check_permissions(name: &str, role: &crate::policy::RawRole, s: &mut Sink) {
    let path = format!("roles.{name}.permissions");
    let perms = &role.permissions.aws_iam;
    for (i, arn) in perms.assume_roles.iter().enumerate() {
        // `{account}` stands for each provider's account: any 12 digits
        // check the rest of the ARN.
        let arn = arn.replace(super::assume::ACCOUNT_PLACEHOLDER, "000000000000");
        check_role_arn(&arn, &format!("{path}.assume_roles.{i}"), s);
    }
    for (i, st) in perms.statements.iter().enumerate() {
        super::statements::check(
            name,
            st,
            &format!("{path}.statements.{i}"),
            role.allow_admin,
            s,
        );
    }
}

/// Every provider's account and the role the reconciler assumes there
/// (the keys of both AWS kinds), and one provider per kind and account.
pub(crate) fn check_providers(p: &RawPolicy, s: &mut Sink) {
    for (name, provider) in &p.providers {
        let path = format!("providers.{name}");
        let aws = &provider.aws_iam;
        if !crate::providers::aws::is_aws(provider.kind) {
            for (key, set) in [
                ("account", aws.account.is_some()),
                ("assume_role", aws.assume_role.is_some()),
            ] {
                if set {
                    s.at_key(
                        Rule::KindMismatch,
                        &format!("{path}.{key}"),
                        format!("`{key}` is for the AWS kinds; `{name}` is {}", provider.kind),
                    );
                }
            }
            continue;
        }
        let Some(account) = &aws.account else {
            s.at_key(
                Rule::InvalidAccount,
                &path,
                format!("provider `{name}` is {} but has no `account`", provider.kind),
            );
            continue;
        };
        if !names::is_account(account) {
            s.at(
                Rule::InvalidAccount,
                &format!("{path}.account"),
                format!("`{account}` is not a 12-digit AWS account id"),
            );
        }
        if let Some(arn) = &aws.assume_role {
            let at = format!("{path}.assume_role");
            match check_role_arn(arn, &at, s) {
                Some(other) if other != account => s.at(
                    Rule::InvalidArn,
                    &at,
                    format!(
                        "`{arn}` is in account {other}, not the provider's account {account}"
                    ),
                ),
                _ => {}
            }
        }
    }
    check_shared_accounts(p, s);
}

/// Two providers of one kind in one account would each see the other's
/// resources under this repository's ownership path as drift and revoke
/// them on every run, sharded or not: one account, one provider per kind.
fn check_shared_accounts(p: &RawPolicy, s: &mut Sink) {
    let mut first: BTreeMap<(ProviderType, &str), &str> = BTreeMap::new();
    for (name, provider) in &p.providers {
        let Some(account) = provider.aws_iam.account.as_deref() else {
            continue;
        };
        match first.get(&(provider.kind, account)) {
            Some(other) => s.at(
                Rule::SharedAccount,
                &format!("providers.{name}.account"),
                format!(
                    "providers `{other}` and `{name}` are both {} in account {}: each would revoke the other's grants as drift",
                    provider.kind, account
                ),
            ),
            None => {
                first.insert((provider.kind, account), name);
            }
        }
    }
}
