//! The syntax of the names and identifiers gitgrant files contain.

use std::sync::LazyLock;

use regex::Regex;

fn re(pattern: &str) -> Regex {
    Regex::new(pattern).expect("built-in pattern compiles")
}

static SLUG: LazyLock<Regex> = LazyLock::new(|| re(r"^[a-z0-9][a-z0-9-]{0,62}$"));
static TEAM: LazyLock<Regex> =
    LazyLock::new(|| re(r"^@[A-Za-z0-9][A-Za-z0-9-]*/[A-Za-z0-9][A-Za-z0-9_.-]*$"));
static REPOSITORY: LazyLock<Regex> =
    LazyLock::new(|| re(r"^[A-Za-z0-9][A-Za-z0-9-]{0,38}/[A-Za-z0-9_.-]{1,100}$"));
static ACCOUNT: LazyLock<Regex> = LazyLock::new(|| re(r"^[0-9]{12}$"));
static IAM_NAME: LazyLock<Regex> = LazyLock::new(|| re(r"^[A-Za-z0-9+=,.@_-]{1,64}$"));
static ROLE_ARN: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"^arn:aws(-cn|-us-gov)?:iam::([0-9]{12}):role/([\x21-\x7e]{1,512}/)?[A-Za-z0-9+=,.@_-]{1,64}$",
    )
});
static ACTION: LazyLock<Regex> = LazyLock::new(|| re(r"^(\*|[a-z0-9][a-z0-9-]*:[A-Za-z0-9*?]+)$"));
static RESOURCE_ARN: LazyLock<Regex> = LazyLock::new(|| {
    re(r"^arn:(\*|aws(-cn|-us-gov)?):[a-z0-9*-]*:[a-z0-9*-]*:([0-9]{12}|\*)?:.+$")
});

/// A grant file stem or role name: `[a-z0-9][a-z0-9-]{0,62}`.
pub fn is_slug(s: &str) -> bool {
    SLUG.is_match(s)
}

/// A GitHub login: letters, digits and single hyphens, not at either end,
/// at most 39 characters. gitgrant keeps logins in lower case.
pub fn is_login(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 39
        && !s.starts_with('-')
        && !s.ends_with('-')
        && !s.contains("--")
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// A code owner: `@org/team` or `@login`.
pub fn is_owner(s: &str) -> bool {
    TEAM.is_match(s)
        || s.strip_prefix('@')
            .is_some_and(|l| is_login(&l.to_lowercase()))
}

/// `owner/name` of a GitHub repository.
pub fn is_repository(s: &str) -> bool {
    REPOSITORY.is_match(s) && !s.ends_with(".git")
}

/// A 12-digit AWS account id.
pub fn is_account(s: &str) -> bool {
    ACCOUNT.is_match(s)
}

/// An IAM user or role name.
pub fn is_iam_name(s: &str) -> bool {
    IAM_NAME.is_match(s)
}

/// The account of an IAM role ARN, or `None` when `s` is not one.
pub fn role_arn_account(s: &str) -> Option<&str> {
    ROLE_ARN
        .captures(s)
        .and_then(|c| c.get(2))
        .map(|m| m.as_str())
}

/// An IAM action such as `logs:GetLogEvents`, `s3:Get*` or `*`.
pub fn is_action(s: &str) -> bool {
    ACTION.is_match(s)
}

/// An IAM resource: `*` or an ARN (wildcards allowed).
pub fn is_resource(s: &str) -> bool {
    s == "*" || RESOURCE_ARN.is_match(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(is_slug("prod-readonly") && is_slug("a") && !is_slug("-a") && !is_slug("Prod"));
        assert!(!is_slug(&"a".repeat(64)) && is_slug(&"a".repeat(63)));
        assert!(is_login("alice") && is_login("bob-2") && !is_login("a--b") && !is_login("Alice"));
        assert!(is_owner("@acme/sre-leads") && is_owner("@alice") && !is_owner("acme/sre"));
        assert!(is_repository("acme/access") && !is_repository("acme") && !is_repository("a/b/c"));
        assert!(is_account("111111111111") && !is_account("1111"));
    }

    #[test]
    fn arns_and_actions() {
        assert_eq!(
            role_arn_account("arn:aws:iam::111111111111:role/ProdReadOnly"),
            Some("111111111111")
        );
        assert!(role_arn_account("arn:aws:iam::111111111111:role/team/x/Admin").is_some());
        assert!(role_arn_account("arn:aws:iam::1111:role/x").is_none());
        assert!(role_arn_account("arn:aws:iam::111111111111:user/x").is_none());
        assert!(role_arn_account("arn:aws:iam:111111111111:role/x").is_none());
        assert!(is_action("logs:GetLogEvents") && is_action("s3:Get*") && is_action("*"));
        assert!(!is_action("logs") && !is_action("logs:") && !is_action("Logs Get"));
        assert!(is_resource("*") && is_resource("arn:aws:s3:::bucket/*"));
        assert!(is_resource(
            "arn:aws:logs:eu-west-1:111111111111:log-group:*"
        ));
        assert!(!is_resource("bucket"));
    }
}
