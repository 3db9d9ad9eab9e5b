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
// The partition is captured whatever it is, so that an ARN in another
// partition is refused as such rather than as malformed. A path holds
// printable ASCII (IAM's rule) but no wildcard: `*` or `?` in a role ARN
// would let the grant assume roles nobody named.
static ROLE_ARN: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"^arn:([a-z-]+):iam::([0-9]{12}):role/([\x21-\x29\x2b-\x3e\x40-\x7e]{1,512}/)?[A-Za-z0-9+=,.@_-]{1,64}$",
    )
});
static ACTION: LazyLock<Regex> = LazyLock::new(|| re(r"^(\*|[a-z0-9][a-z0-9-]*:[A-Za-z0-9*?]+)$"));
static RESOURCE_ARN: LazyLock<Regex> =
    LazyLock::new(|| re(r"^arn:(\*|[a-z-]+):[a-z0-9*-]*:[a-z0-9*-]*:([0-9]{12}|\*)?:.+$"));

/// The only AWS partition gitgrant supports: every ARN it builds (policies,
/// users, roles, the OIDC provider) starts `arn:aws:`, so a grant naming an
/// `aws-cn` or `aws-us-gov` ARN would be applied to the wrong partition.
pub const PARTITION: &str = "aws";

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

/// Whether two IAM user (or role) names name the same identity. IAM names
/// are unique case-insensitively: `Alice` and `alice` cannot both exist in
/// one account, and IAM finds either by the other's name.
pub fn same_iam_name(a: &str, b: &str) -> bool {
    iam_name_key(a) == iam_name_key(b)
}

/// The form of an IAM name under which names IAM treats as one compare
/// equal (see [`same_iam_name`]): for keys of maps of identities.
pub fn iam_name_key(name: &str) -> String {
    // IAM names are ASCII (`[A-Za-z0-9+=,.@_-]`), so ASCII folding is IAM's rule.
    name.to_ascii_lowercase()
}

/// A parsed IAM role ARN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoleArn<'a> {
    /// The partition, such as `aws` or `aws-cn`.
    pub partition: &'a str,
    /// The 12-digit account id.
    pub account: &'a str,
}

/// The parts of an IAM role ARN in any partition, or `None` when `s` is not
/// one (wildcards in the path or name make it not one).
pub fn parse_role_arn(s: &str) -> Option<RoleArn<'_>> {
    let c = ROLE_ARN.captures(s)?;
    Some(RoleArn {
        partition: c.get(1)?.as_str(),
        account: c.get(2)?.as_str(),
    })
}

/// The account of an IAM role ARN in the `aws` partition, or `None` when
/// `s` is not one.
pub fn role_arn_account(s: &str) -> Option<&str> {
    parse_role_arn(s)
        .filter(|a| a.partition == PARTITION)
        .map(|a| a.account)
}

/// The partition of an ARN other than `aws` (and not the wildcard `*`):
/// `Some("aws-cn")` for `arn:aws-cn:…`, `None` for `arn:aws:…`, `arn:*:…`
/// and anything that is not an ARN.
pub fn foreign_partition(s: &str) -> Option<&str> {
    let partition = s.strip_prefix("arn:")?.split(':').next()?;
    (partition != PARTITION && partition != "*").then_some(partition)
}

/// An IAM action such as `logs:GetLogEvents`, `s3:Get*` or `*`.
pub fn is_action(s: &str) -> bool {
    ACTION.is_match(s)
}

/// An IAM resource: `*` or an ARN (wildcards allowed) in the `aws`
/// partition or any partition (`arn:*:`).
pub fn is_resource(s: &str) -> bool {
    s == "*" || (RESOURCE_ARN.is_match(s) && foreign_partition(s).is_none())
}

/// The first `chars` hex digits of SHA-256 over `parts`, each followed by a
/// NUL byte (which none of them can contain), so that the parts stay
/// apart: `["ab", "c"]` and `["a", "bc"]` differ. What gitgrant's cloud
/// names and event ids end in; changing it renames them.
pub fn hash_hex(parts: &[&str], chars: usize) -> String {
    use sha2::{Digest as _, Sha256};
    let mut h = Sha256::new();
    for part in parts {
        h.update(part.as_bytes());
        h.update([0]);
    }
    let mut hex: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
    hex.truncate(chars);
    hex
}

/// The candidate nearest to `word` by edit distance (ignoring ASCII case),
/// if it is near enough to be a slip: at most a third of the word's length,
/// at least one edit. Ties go to the first in alphabetical order (ignoring
/// ASCII case), so answers are stable. What a "did you mean" suggests.
pub fn closest<'a>(word: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (word.chars().count() / 3).max(1);
    candidates
        .map(|c| (edit_distance(word, c), c))
        .filter(|(d, _)| *d <= limit)
        .min_by(|(d1, c1), (d2, c2)| {
            let folded = |c: &str| {
                c.bytes()
                    .map(|b| b.to_ascii_lowercase())
                    .collect::<Vec<u8>>()
            };
            d1.cmp(d2).then_with(|| folded(c1).cmp(&folded(c2)))
        })
        .map(|(_, c)| c)
}

/// Levenshtein distance, ignoring ASCII case.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, x) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, y) in b.iter().enumerate() {
            let substitute = diagonal + usize::from(!x.eq_ignore_ascii_case(y));
            diagonal = row[j + 1];
            row[j + 1] = substitute.min(row[j] + 1).min(row[j + 1] + 1);
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {

    #[test]
    fn hash_hex_is_sha256_over_nul_terminated_parts() {
        // As `printf 'acme/access\0ro\0alice-1\0' | sha256sum` gives it: the
        // names already in the cloud depend on these bytes.
        assert_eq!(
            hash_hex(&["acme/access", "ro", "alice-1"], 64),
            "78ef9668724ec9dee31c92addeab2897c686cf2774f9141d9e200479559467e4"
        );
        assert_eq!(hash_hex(&["ab", "c"], 8), "629c2f14");
        assert_eq!(hash_hex(&["a", "bc"], 8), "aa795aa4");
    }

    use super::*;

    #[test]
    fn edit_distance_counts_single_edits() {
        assert_eq!(edit_distance("logz", "logs"), 1);
        assert_eq!(edit_distance("GetLogEvent", "getlogevents"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }

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

    #[test]
    fn role_arns_with_wildcards_are_not_role_arns() {
        for arn in [
            "arn:aws:iam::111111111111:role/*",
            "arn:aws:iam::111111111111:role/Prod*",
            "arn:aws:iam::111111111111:role/Prod?",
            "arn:aws:iam::111111111111:role/*/Admin",
            "arn:aws:iam::111111111111:role/team?/Admin",
        ] {
            assert_eq!(parse_role_arn(arn), None, "{arn}");
        }
        assert!(role_arn_account("arn:aws:iam::111111111111:role/a-b/c.d/Admin").is_some());
    }

    #[test]
    fn only_the_aws_partition_is_supported() {
        let cn = "arn:aws-cn:iam::111111111111:role/Admin";
        assert_eq!(parse_role_arn(cn).map(|a| a.partition), Some("aws-cn"));
        assert_eq!(role_arn_account(cn), None);
        assert_eq!(foreign_partition(cn), Some("aws-cn"));
        assert_eq!(
            foreign_partition("arn:aws-us-gov:s3:::bucket"),
            Some("aws-us-gov")
        );
        assert_eq!(foreign_partition("arn:aws:s3:::bucket"), None);
        assert_eq!(foreign_partition("arn:*:s3:::bucket"), None);
        assert_eq!(foreign_partition("*"), None);
        assert!(!is_resource("arn:aws-us-gov:s3:::bucket/*"));
        assert!(!is_resource("arn:aws-cn:s3:::bucket/*"));
        assert!(is_resource("arn:*:s3:::bucket/*"));
    }

    #[test]
    fn iam_names_are_one_identity_whatever_their_case() {
        assert!(same_iam_name("Alice", "alice") && same_iam_name("ALICE", "alicE"));
        assert!(!same_iam_name("alice", "alice2"));
        assert_eq!(iam_name_key("Deploy-Bot"), iam_name_key("deploy-bot"));
    }
}
