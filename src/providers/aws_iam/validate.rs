//! Validation of what the policy says for the `aws-iam` kind: IAM role
//! ARNs, a person's IAM user or role, and the fences `require_fence` asks
//! for. Statements are checked in [`super::statements`].

use crate::names;
use crate::policy::RawPolicy;
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
    if !role.require_fence {
        return;
    }
    let reconciled: Vec<&str> = p
        .providers
        .values()
        .filter(|pr| pr.kind == crate::policy::ProviderType::AwsIam)
        .map(|pr| pr.account.as_str())
        .collect();
    for (i, arn) in role.permissions.assume_roles.iter().enumerate() {
        let account = arn
            .strip_prefix("arn:aws:iam::")
            .and_then(|rest| rest.split(':').next())
            .unwrap_or_default();
        if account != crate::policy::ACCOUNT_PLACEHOLDER && !reconciled.contains(&account) {
            s.at(
                Rule::UnfenceableRole,
                &format!("roles.{name}.permissions.assume_roles.{i}"),
                format!("role `{name}` requires a fence, but `{arn}` is in account {account}, which no aws-iam provider reconciles"),
            );
        }
    }
}
