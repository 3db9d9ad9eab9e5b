//! The IAM roles a grant lets its subject assume (`assume_roles`), in each
//! account it applies in, and which of them a session fence can end.

use crate::policy::{Policy, Provider, ProviderType, Role};

/// The placeholder for a provider's account in `assume_roles` ARNs.
pub const ACCOUNT_PLACEHOLDER: &str = "{account}";

/// The `aws-iam` provider that reconciles the account of the IAM role
/// `arn` (`arn:aws:iam::<account>:role/…`), which can fence it.
pub fn iam_provider_of<'a>(policy: &'a Policy, arn: &str) -> Option<&'a Provider> {
    let account = arn.strip_prefix("arn:aws:iam::")?.split(':').next()?;
    policy
        .providers
        .values()
        .find(|p| p.kind == ProviderType::AwsIam && crate::providers::aws::account(p) == account)
}

/// The role's `assume_roles` as they apply in `account`: `{account}`
/// replaced by it.
pub fn assume_roles_in(role: &Role, account: &str) -> Vec<String> {
    role.permissions
        .aws_iam
        .assume_roles
        .iter()
        .map(|a| a.replace(ACCOUNT_PLACEHOLDER, account))
        .collect()
}

/// The roles a grant of `role` lets the subject assume, in each provider
/// it applies in: `(provider, role ARN)`, `{account}` replaced by that
/// provider's account.
pub fn assumable<'a>(role: &'a Role, policy: &'a Policy) -> Vec<(&'a Provider, String)> {
    policy
        .targets(role)
        .filter(|p| p.kind == ProviderType::AwsIam)
        .flat_map(|p| {
            assume_roles_in(role, crate::providers::aws::account(p))
                .into_iter()
                .map(move |a| (p, a))
        })
        .collect()
}

/// The resources of `role`'s Allow statements that let the grantee call
/// `sts:AssumeRole` (which validation refuses, but a policy of before
/// has): no fence ends those sessions, on either AWS kind.
pub fn assumed_through_statements(role: &Role) -> Vec<String> {
    role.permissions
        .aws_iam
        .statements
        .iter()
        .filter(|st| super::statements::assumes_roles(st))
        .flat_map(|st| st.resources.iter().cloned())
        .collect()
}

/// The roles of [`assumable`] gitgrant cannot fence: those in an account
/// no `aws-iam` provider of `policy` reconciles. Sessions of such a role
/// live until their own expiry, whatever the grant says. Also the
/// resources of [`assumed_through_statements`].
pub fn unfenced(role: &Role, policy: &Policy) -> Vec<String> {
    let mut out: Vec<String> = assumable(role, policy)
        .into_iter()
        .filter(|(_, arn)| iam_provider_of(policy, arn).is_none())
        .map(|(_, arn)| arn)
        .chain(assumed_through_statements(role))
        .collect();
    out.sort();
    out.dedup();
    out
}
