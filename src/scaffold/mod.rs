//! A new access repository, as the files `gitgrant init` writes: the policy
//! filled in for one GitHub repository and one AWS account, the generated
//! CODEOWNERS and schemas, the three workflows that call gitgrant's reusable
//! ones, the request form, and the IAM policies of the reconciler's role.
//!
//! Pure: the files are values, built and checked before anything is written.

use crate::codeowners::{CODEOWNERS_PATH, generate};
use crate::names;
use crate::policy::{POLICY_PATH, Policy};
use crate::providers::{github_trust_policy, pretty};
use crate::snapshot::{Content, SourceFile};

/// The check workflow, the same in every access repository.
pub const CHECK_WORKFLOW: &str = include_str!("gitgrant-check.yml");
/// The reconcile workflow, the same in every access repository: the role it
/// assumes is a repository variable, and one job reconciles every provider.
pub const RECONCILE_WORKFLOW: &str = include_str!("gitgrant-reconcile.yml");
/// The request form's workflow, the same in every access repository.
pub const PORTAL_WORKFLOW: &str = include_str!("gitgrant-portal.yml");
const POLICY_TEMPLATE: &str = include_str!("gitgrant.yaml");
const README_TEMPLATE: &str = include_str!("README.md");

/// Where the check workflow lives in an access repository.
pub const CHECK_WORKFLOW_PATH: &str = ".github/workflows/gitgrant-check.yml";
/// Where the reconcile workflow lives in an access repository.
pub const RECONCILE_WORKFLOW_PATH: &str = ".github/workflows/gitgrant-reconcile.yml";
/// Where the request form's workflow lives in an access repository.
pub const PORTAL_WORKFLOW_PATH: &str = ".github/workflows/gitgrant-portal.yml";
/// The trust policy of the reconciler's role.
pub const TRUST_POLICY_PATH: &str = "aws/trust-policy.json";
/// The permission policy of the reconciler's role.
pub const RECONCILER_POLICY_PATH: &str = "aws/reconciler-policy.json";
/// The branch a new access repository reconciles, and its role trusts.
pub const DEFAULT_BRANCH: &str = "main";

/// What a new access repository is made for.
#[derive(Debug, Clone)]
pub struct Target {
    /// `owner/name` of the GitHub repository.
    pub repository: String,
    /// The 12-digit AWS account id.
    pub account: String,
    /// `@org/team` or `@login` that owns the policy; `@<owner>/security` when
    /// `None`.
    pub security_team: Option<String>,
}

/// Why the files could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ScaffoldError {
    /// The repository is not `owner/name`.
    #[error("`{0}` is not a GitHub repository as owner/name, such as acme/access")]
    Repository(String),
    /// The account is not 12 digits.
    #[error("`{0}` is not an AWS account id: 12 digits, such as 111111111111")]
    Account(String),
    /// The security team is not a code owner.
    #[error("`{0}` is not a code owner: @org/team or @login, such as @acme/security")]
    SecurityTeam(String),
    /// The filled-in policy does not validate: a bug in the template.
    #[error("the starter gitgrant.yaml does not validate (a gitgrant bug): {0}")]
    Template(String),
}

/// One file of the new repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct File {
    /// Path relative to the repository's top, with `/` separators.
    pub path: String,
    /// Its text.
    pub text: String,
}

/// Every file of a new access repository for `target`, in a stable order.
pub fn files(target: &Target) -> Result<Vec<File>, ScaffoldError> {
    let Target {
        repository,
        account,
        ..
    } = target;
    if !names::is_repository(repository) {
        return Err(ScaffoldError::Repository(repository.clone()));
    }
    if !names::is_account(account) {
        return Err(ScaffoldError::Account(account.clone()));
    }
    let owner = repository.split('/').next().unwrap_or_default();
    let team = target
        .security_team
        .clone()
        .unwrap_or_else(|| format!("@{owner}/security"));
    if !names::is_owner(&team) {
        return Err(ScaffoldError::SecurityTeam(team));
    }
    let fill = |text: &str| {
        text.replace("@REPOSITORY@", repository)
            .replace("@ACCOUNT@", account)
            .replace("@SECURITY_TEAM@", &team)
    };

    let policy_text = fill(POLICY_TEMPLATE);
    let policy = parse_policy(&policy_text)?;
    let mut files = vec![
        File {
            path: POLICY_PATH.into(),
            text: policy_text,
        },
        File {
            path: "README.md".into(),
            text: fill(README_TEMPLATE),
        },
        File {
            path: "grants/.gitkeep".into(),
            text: String::new(),
        },
        File {
            path: CODEOWNERS_PATH.into(),
            text: generate(&policy),
        },
        File {
            path: CHECK_WORKFLOW_PATH.into(),
            text: CHECK_WORKFLOW.into(),
        },
        File {
            path: RECONCILE_WORKFLOW_PATH.into(),
            text: RECONCILE_WORKFLOW.into(),
        },
        File {
            path: PORTAL_WORKFLOW_PATH.into(),
            text: PORTAL_WORKFLOW.into(),
        },
        File {
            path: crate::portal::FORM_PATH.into(),
            text: crate::portal::issue_form(&policy),
        },
        File {
            path: TRUST_POLICY_PATH.into(),
            text: pretty(&github_trust_policy(account, repository, DEFAULT_BRANCH)),
        },
        File {
            path: RECONCILER_POLICY_PATH.into(),
            // The template's one provider is the account's aws-iam one.
            text: policy
                .providers
                .values()
                .map(|p| pretty(&crate::providers::reconciler_policy(&policy, p)))
                .collect(),
        },
    ];
    files.extend(crate::schema::all().into_iter().map(|s| File {
        path: s.path.into(),
        text: s.text,
    }));
    Ok(files)
}

/// Reads the filled-in template as `gitgrant validate` would.
fn parse_policy(text: &str) -> Result<Policy, ScaffoldError> {
    let file = SourceFile {
        path: POLICY_PATH.into(),
        content: Content::Bytes(text.as_bytes().to_vec()),
    };
    match crate::validate::read_policy(&file) {
        (Some(policy), v) if v.is_empty() => Ok(policy),
        (_, v) => Err(ScaffoldError::Template(
            v.iter()
                .map(|v| format!("{} ({})", v.message, v.rule.id()))
                .collect::<Vec<_>>()
                .join("; "),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(repository: &str, account: &str) -> Target {
        Target {
            repository: repository.into(),
            account: account.into(),
            security_team: None,
        }
    }

    #[test]
    fn the_starter_policy_is_filled_in_for_the_repository_and_account() {
        let files = files(&target("acme/access", "111111111111")).unwrap();
        let text = |p: &str| &files.iter().find(|f| f.path == p).unwrap().text;
        let policy = parse_policy(text(POLICY_PATH)).unwrap();
        assert_eq!(policy.repository(), "acme/access");
        assert_eq!(policy.security_team, "@acme/security");
        assert_eq!(
            crate::providers::aws::account(&policy.providers["aws"]),
            "111111111111"
        );
        assert!(text(CODEOWNERS_PATH).contains("/grants/readonly/ @acme/security"));
        assert!(text(TRUST_POLICY_PATH).contains("\"repo:acme/access:ref:refs/heads/main\""),);
        assert!(text(RECONCILER_POLICY_PATH).contains("policy/gitgrant/acme/access/*"));
        for f in &files {
            for placeholder in ["@REPOSITORY@", "@ACCOUNT@", "@SECURITY_TEAM@"] {
                assert!(
                    !f.text.contains(placeholder),
                    "{placeholder} left in {}",
                    f.path
                );
            }
        }
    }

    #[test]
    fn bad_names_are_refused_before_anything_is_made() {
        assert!(matches!(
            files(&target("acme", "111111111111")),
            Err(ScaffoldError::Repository(_))
        ));
        assert!(matches!(
            files(&target("acme/access", "11111111111")),
            Err(ScaffoldError::Account(_))
        ));
        assert!(matches!(
            files(&target("acme/access", "1111111111a1")),
            Err(ScaffoldError::Account(_))
        ));
        let mut t = target("acme/access", "111111111111");
        t.security_team = Some("acme/security".into());
        assert!(matches!(files(&t), Err(ScaffoldError::SecurityTeam(_))));
    }
}
