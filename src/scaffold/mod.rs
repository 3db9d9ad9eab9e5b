//! A new access repository, as the files `gitgrant init` writes: the policy
//! filled in for one GitHub repository and an AWS account, a Google Cloud
//! resource or both, the generated CODEOWNERS and schemas, the three
//! workflows that call gitgrant's reusable ones, the request form, and what
//! the reconciler needs in each cloud (the IAM policies of its AWS role, the
//! custom role of its Google service account).
//!
//! Pure: the files are values, built and checked before anything is written.

use crate::codeowners::{CODEOWNERS_PATH, generate};
use crate::names;
use crate::policy::{POLICY_PATH, Policy};
use crate::providers::{github_trust_policy, pretty};
use crate::snapshot::{Content, SourceFile};

/// The check workflow, the same in every access repository.
pub const CHECK_WORKFLOW: &str = include_str!("gitgrant-check.yml");
/// The reconcile workflow's template: the credentials it passes (repository
/// variables) and its opening comment depend on the clouds; one job
/// reconciles every provider.
const RECONCILE_TEMPLATE: &str = include_str!("gitgrant-reconcile.yml");
/// The request form's workflow, the same in every access repository.
pub const PORTAL_WORKFLOW: &str = include_str!("gitgrant-portal.yml");
const POLICY_TEMPLATE: &str = include_str!("gitgrant.yaml");
const AWS_ROLES: &str = include_str!("aws-roles.yaml");
const GCP_ROLES: &str = include_str!("gcp-roles.yaml");
const README_TEMPLATE: &str = include_str!("README.md");
const README_AWS: &str = include_str!("readme-aws.md");
const README_GCP: &str = include_str!("readme-gcp.md");

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
/// The custom role of the reconciler's Google service account: what
/// `gitgrant iam-policy` prints for the gcp-iam provider.
pub const RECONCILER_ROLE_PATH: &str = "gcp/reconciler-role.json";
/// The branch a new access repository reconciles, and its role trusts.
pub const DEFAULT_BRANCH: &str = "main";
/// The starter policy's AWS provider.
pub const AWS_PROVIDER: &str = "aws";
/// The starter policy's Google Cloud provider.
pub const GCP_PROVIDER: &str = "gcp";
/// The repository variable holding the AWS role's ARN.
pub const AWS_ROLE_VARIABLE: &str = "GITGRANT_AWS_ROLE";
/// The repository variable holding the workload identity provider's name.
pub const GCP_PROVIDER_VARIABLE: &str = "GITGRANT_GCP_WORKLOAD_IDENTITY_PROVIDER";
/// The repository variable holding the Google service account's email.
pub const GCP_ACCOUNT_VARIABLE: &str = "GITGRANT_GCP_SERVICE_ACCOUNT";

/// What a new access repository is made for: an AWS account, a Google
/// Cloud resource, or both.
#[derive(Debug, Clone)]
pub struct Target {
    /// `owner/name` of the GitHub repository.
    pub repository: String,
    /// The 12-digit AWS account id, when it manages one.
    pub account: Option<String>,
    /// The Google Cloud resource whose allow policy it manages, when it
    /// manages one: `projects/<id>`, `folders/<n>` or `organizations/<n>`.
    pub gcp_resource: Option<String>,
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
    /// The Google Cloud resource is not one whose allow policy gitgrant
    /// manages.
    #[error("`{0}` is not a Google Cloud resource: {1}")]
    GcpResource(String, String),
    /// Neither an AWS account nor a Google Cloud resource.
    #[error("nothing to manage: give an AWS account, a Google Cloud resource, or both")]
    NoCloud,
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

/// The words and pieces that differ with the clouds a repository manages.
struct Clouds<'a> {
    account: Option<&'a str>,
    resource: Option<&'a str>,
}

impl Clouds<'_> {
    /// `aws` when it manages an AWS account, `gcp` a Google resource,
    /// joined by `join` when both.
    fn say(&self, aws: &str, gcp: &str, join: &str) -> String {
        match (self.account, self.resource) {
            (Some(_), Some(_)) => format!("{aws}{join}{gcp}"),
            (Some(_), None) => aws.to_string(),
            _ => gcp.to_string(),
        }
    }

    /// `one` when it manages one cloud, `both` when two.
    fn or_both<'w>(&self, one: &'w str, both: &'w str) -> &'w str {
        if self.account.is_some() && self.resource.is_some() {
            both
        } else {
            one
        }
    }

    /// Who ends access by itself: `AWS`, `Google` or `each cloud`.
    fn ender(&self) -> String {
        self.or_both(&self.say("AWS", "Google", ""), "each cloud")
            .to_string()
    }

    /// The Google resource's kind, as its name says it: `project`.
    fn resource_kind(&self) -> &str {
        match self.resource.and_then(|r| r.split_once('/')) {
            Some(("folders", _)) => "folder",
            Some(("organizations", _)) => "organization",
            _ => "project",
        }
    }

    fn policy(&self) -> String {
        let managed = self.say(
            "the AWS account",
            &format!("the Google Cloud {}", self.resource_kind()),
            " and ",
        );
        let about = comment(
            &format!(
                "The policy of this access repository: {managed} gitgrant manages, the people \
                 who may ask for access, and the roles they can ask for. Changes to this file \
                 are reviewed by the security team (see .github/CODEOWNERS). After a change, \
                 run `gitgrant codeowners` and `gitgrant validate`."
            ),
            78,
        );
        let gets = format!(
            "{} that {} the access.",
            self.say("the IAM user (or role)", "the Google principal", " and "),
            self.or_both("gets", "get"),
        );
        let example = self.say(
            "aws_iam_user: alice",
            r#"gcp_member: "user:alice@example.com""#,
            ", ",
        );
        let people = [
            comment(&format!("GitHub login (lower case) -> {gets}"), 78),
            "# A person is added here, in a reviewed pull request, before asking for access:"
                .to_string(),
            format!("#   alice: {{ {example} }}"),
        ]
        .join("\n");
        let mut providers = String::new();
        if let Some(account) = self.account {
            providers +=
                &format!("  {AWS_PROVIDER}:\n    type: aws-iam\n    account: \"{account}\"\n");
        }
        if let Some(resource) = self.resource {
            providers +=
                &format!("  {GCP_PROVIDER}:\n    type: gcp-iam\n    resource: {resource}\n");
        }
        POLICY_TEMPLATE
            .replace("@ABOUT@", &about)
            .replace("@PROVIDERS@", &providers)
            .replace("@PEOPLE@", &people)
            .replace("@ROLES@", &self.say(AWS_ROLES, GCP_ROLES, "\n"))
    }

    fn reconcile_workflow(&self) -> String {
        let mut about = comment(
            &format!(
                "Generated by `gitgrant init`. Makes {} match main: on every push to main, \
                 every quarter of an hour (to start scheduled grants and to remove the files \
                 of ended ones; {} ends access on time by itself) and by hand.",
                self.say("AWS IAM", "Google Cloud IAM", " and "),
                self.ender(),
            ),
            76,
        );
        let mut credentials = Vec::new();
        if self.account.is_some() {
            about += "\n";
            about += &comment(
                &format!("The role it assumes is the repository variable {AWS_ROLE_VARIABLE}."),
                76,
            );
            credentials.push(format!(
                "      role-to-assume: ${{{{ vars.{AWS_ROLE_VARIABLE} }}}}"
            ));
        }
        if self.resource.is_some() {
            about += "\n";
            about += &comment(
                &format!(
                    "The Google service account it impersonates is the repository variable \
                     {GCP_ACCOUNT_VARIABLE}, through the workload identity provider in \
                     {GCP_PROVIDER_VARIABLE}."
                ),
                76,
            );
            credentials.push(format!(
                "      gcp-workload-identity-provider: ${{{{ vars.{GCP_PROVIDER_VARIABLE} }}}}"
            ));
            credentials.push(format!(
                "      gcp-service-account: ${{{{ vars.{GCP_ACCOUNT_VARIABLE} }}}}"
            ));
        }
        RECONCILE_TEMPLATE
            .replace("@ABOUT@", &about)
            .replace("@CREDENTIALS@", &credentials.join("\n"))
    }

    fn readme(&self) -> String {
        let title = self.say(
            &format!("AWS account {}", self.account.unwrap_or_default()),
            &format!("Google Cloud {}", self.resource.unwrap_or_default()),
            " and ",
        );
        README_TEMPLATE
            .replace("@TITLE@", &title)
            .replace(
                "@CLOUDS@",
                &self.say("AWS IAM", "Google Cloud IAM", " and "),
            )
            .replace("@ENDER@", &self.ender())
            .replace(
                "@WHAT@",
                &self.say(
                    "the account",
                    &format!("the {}", self.resource_kind()),
                    " and ",
                ),
            )
            .replace("@FOLDERS@", &self.say(README_AWS, README_GCP, ""))
            .replace(
                "@FIRST_ROLE@",
                self.account.map_or("gcp-readonly", |_| "readonly"),
            )
            .replace("@GCP_RESOURCE@", self.resource.unwrap_or_default())
    }
}

/// `text` as `#` comment lines of at most `width` columns, broken between
/// words (a longer word stands on a line of its own).
fn comment(text: &str, width: usize) -> String {
    let mut lines = Vec::new();
    let mut line = String::from("#");
    for word in text.split_whitespace() {
        if line.len() > 1 && line.len() + 1 + word.len() > width {
            lines.push(std::mem::replace(&mut line, String::from("#")));
        }
        line.push(' ');
        line.push_str(word);
    }
    lines.push(line);
    lines.join("\n")
}

/// Every file of a new access repository for `target`, in a stable order.
pub fn files(target: &Target) -> Result<Vec<File>, ScaffoldError> {
    let Target {
        repository,
        account,
        gcp_resource,
        ..
    } = target;
    if !names::is_repository(repository) {
        return Err(ScaffoldError::Repository(repository.clone()));
    }
    if account.is_none() && gcp_resource.is_none() {
        return Err(ScaffoldError::NoCloud);
    }
    if let Some(account) = account.as_ref().filter(|a| !names::is_account(a)) {
        return Err(ScaffoldError::Account(account.clone()));
    }
    if let Some(resource) = gcp_resource {
        crate::providers::check_gcp_resource(resource)
            .map_err(|why| ScaffoldError::GcpResource(resource.clone(), why))?;
    }
    let owner = repository.split('/').next().unwrap_or_default();
    let team = target
        .security_team
        .clone()
        .unwrap_or_else(|| format!("@{owner}/security"));
    if !names::is_owner(&team) {
        return Err(ScaffoldError::SecurityTeam(team));
    }
    let clouds = Clouds {
        account: account.as_deref(),
        resource: gcp_resource.as_deref(),
    };
    let fill = |text: &str| {
        text.replace("@REPOSITORY@", repository)
            .replace("@ACCOUNT@", account.as_deref().unwrap_or_default())
            .replace("@SECURITY_TEAM@", &team)
    };

    let policy_text = fill(&clouds.policy());
    let policy = parse_policy(&policy_text)?;
    let mut files = vec![
        File {
            path: POLICY_PATH.into(),
            text: policy_text,
        },
        File {
            path: "README.md".into(),
            text: fill(&clouds.readme()),
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
            text: clouds.reconcile_workflow(),
        },
        File {
            path: PORTAL_WORKFLOW_PATH.into(),
            text: PORTAL_WORKFLOW.into(),
        },
        File {
            path: crate::portal::FORM_PATH.into(),
            text: crate::portal::issue_form(&policy),
        },
    ];
    let reconciler = |provider: &str| {
        policy
            .providers
            .get(provider)
            .map(|p| pretty(&crate::providers::reconciler_policy(&policy, p)))
            .unwrap_or_default()
    };
    if let Some(account) = account {
        files.push(File {
            path: TRUST_POLICY_PATH.into(),
            text: pretty(&github_trust_policy(account, repository, DEFAULT_BRANCH)),
        });
        files.push(File {
            path: RECONCILER_POLICY_PATH.into(),
            text: reconciler(AWS_PROVIDER),
        });
    }
    if gcp_resource.is_some() {
        files.push(File {
            path: RECONCILER_ROLE_PATH.into(),
            text: reconciler(GCP_PROVIDER),
        });
    }
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
            account: Some(account.into()),
            gcp_resource: None,
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

    fn google(account: Option<&str>) -> Target {
        Target {
            repository: "acme/access".into(),
            account: account.map(Into::into),
            gcp_resource: Some("projects/acme-prod".into()),
            security_team: None,
        }
    }

    fn text<'a>(files: &'a [File], path: &str) -> &'a str {
        &files
            .iter()
            .find(|f| f.path == path)
            .unwrap_or_else(|| panic!("{path} not written"))
            .text
    }

    fn no_placeholder_left(files: &[File]) {
        let placeholder = regex::Regex::new("@[A-Z][A-Z_]*@").unwrap();
        for f in files {
            assert!(
                !placeholder.is_match(&f.text),
                "a placeholder left in {}",
                f.path
            );
        }
    }

    #[test]
    fn a_google_cloud_repository_binds_on_its_resource_and_its_workflow_impersonates() {
        let files = files(&google(None)).unwrap();
        let policy = parse_policy(text(&files, POLICY_PATH)).unwrap();
        let names: Vec<&String> = policy.providers.keys().collect();
        assert_eq!(names, [GCP_PROVIDER]);
        assert_eq!(policy.providers[GCP_PROVIDER].kind.to_string(), "gcp-iam");
        assert!(policy.roles.contains_key("gcp-readonly"));
        assert!(text(&files, POLICY_PATH).contains("    resource: projects/acme-prod\n"));
        let role: serde_json::Value =
            serde_json::from_str(text(&files, RECONCILER_ROLE_PATH)).unwrap();
        assert_eq!(
            role["includedPermissions"],
            serde_json::json!([
                "resourcemanager.projects.getIamPolicy",
                "resourcemanager.projects.setIamPolicy"
            ])
        );
        let workflow = text(&files, RECONCILE_WORKFLOW_PATH);
        assert!(workflow.contains(
            "      gcp-workload-identity-provider: ${{ vars.GITGRANT_GCP_WORKLOAD_IDENTITY_PROVIDER }}\n      gcp-service-account: ${{ vars.GITGRANT_GCP_SERVICE_ACCOUNT }}\n"
        ));
        assert!(!workflow.contains("role-to-assume"), "{workflow}");
        assert!(!files.iter().any(|f| f.path.starts_with("aws/")));
        assert!(
            text(&files, "README.md")
                .starts_with("# acme/access — access to Google Cloud projects/acme-prod\n")
        );
        no_placeholder_left(&files);
    }

    #[test]
    fn an_aws_account_and_a_google_resource_together_get_both_providers_and_credentials() {
        let files = files(&google(Some("111111111111"))).unwrap();
        let policy = parse_policy(text(&files, POLICY_PATH)).unwrap();
        let names: Vec<&String> = policy.providers.keys().collect();
        assert_eq!(names, [AWS_PROVIDER, GCP_PROVIDER]);
        let roles: Vec<&String> = policy.roles.keys().collect();
        assert_eq!(roles, ["admin", "gcp-readonly", "readonly"]);
        let workflow = text(&files, RECONCILE_WORKFLOW_PATH);
        for input in [
            "role-to-assume: ${{ vars.GITGRANT_AWS_ROLE }}",
            "gcp-workload-identity-provider: ${{ vars.GITGRANT_GCP_WORKLOAD_IDENTITY_PROVIDER }}",
            "gcp-service-account: ${{ vars.GITGRANT_GCP_SERVICE_ACCOUNT }}",
        ] {
            assert!(workflow.contains(input), "{input} missing:\n{workflow}");
        }
        // Each cloud's reconciler file holds its own provider's, not both.
        assert!(text(&files, RECONCILER_POLICY_PATH).contains("policy/gitgrant/acme/access/*"));
        assert!(!text(&files, RECONCILER_POLICY_PATH).contains("resourcemanager"));
        assert!(
            text(&files, RECONCILER_ROLE_PATH).contains("resourcemanager.projects.setIamPolicy")
        );
        assert!(text(&files, TRUST_POLICY_PATH).contains("repo:acme/access:ref:refs/heads/main"));
        no_placeholder_left(&files);
    }

    #[test]
    fn a_bad_google_resource_or_no_cloud_at_all_is_refused() {
        for bad in [
            "projects/ACME",
            "projects/acme-prod\npeople: {}",
            "buckets/x",
            "folders/abc",
        ] {
            let mut t = google(None);
            t.gcp_resource = Some(bad.into());
            assert!(
                matches!(files(&t), Err(ScaffoldError::GcpResource(r, _)) if r == bad),
                "{bad}"
            );
        }
        let mut t = google(None);
        t.gcp_resource = None;
        assert!(matches!(files(&t), Err(ScaffoldError::NoCloud)));
    }

    #[test]
    fn comments_break_between_words_within_the_width() {
        assert_eq!(comment("a bb ccc dddd", 8), "# a bb\n# ccc\n# dddd");
        assert_eq!(comment("unbreakable-word x", 5), "# unbreakable-word\n# x");
    }
}
