//! `gitgrant init`.

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::Context as _;
use gitgrant::exit;
use gitgrant::scaffold::{
    AWS_ROLE_VARIABLE, File, GCP_ACCOUNT_VARIABLE, GCP_PROVIDER_VARIABLE, RECONCILER_ROLE_PATH,
    ScaffoldError, Target, files,
};

/// The role name the book (docs/adopting.md) and the next steps suggest for the reconciler.
const ROLE_NAME: &str = "gitgrant-reconciler";
/// The id the next steps suggest for the reconciler's Google custom role.
const CUSTOM_ROLE: &str = "gitgrantReconciler";

/// Create a new access repository in DIR for one GitHub repository and an
/// AWS account, a Google Cloud resource, or both.
///
/// Writes gitgrant.yaml (a starter policy with a provider and starter roles
/// for each cloud), .github/CODEOWNERS, the check and reconcile workflows,
/// the reconciler role's trust and permission policies in aws/, the custom
/// role of the reconciler's Google service account in gcp/, schema/ and a
/// README. Overwrites nothing: when any of these files exists, nothing is
/// written.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("cloud").required(true).multiple(true)))]
pub struct Args {
    /// The GitHub repository that will hold it.
    #[arg(long, value_name = "OWNER/NAME")]
    repository: String,
    /// The AWS account gitgrant will manage (12 digits).
    #[arg(long, value_name = "ID", group = "cloud")]
    account: Option<String>,
    /// The Google Cloud resource whose allow policy gitgrant will manage.
    #[arg(
        long,
        value_name = "projects/ID|folders/N|organizations/N",
        group = "cloud"
    )]
    gcp_resource: Option<String>,
    /// Who owns the policy and approves the starter roles' grants
    /// (default: @OWNER/security).
    #[arg(long, value_name = "@ORG/TEAM")]
    security_team: Option<String>,
    /// Where to create it; made when missing.
    #[arg(default_value = ".")]
    dir: PathBuf,
}

pub fn run(args: Args) -> anyhow::Result<u8> {
    let target = Target {
        repository: args.repository,
        account: args.account,
        gcp_resource: args.gcp_resource,
        security_team: args.security_team,
    };
    let files = match files(&target) {
        Ok(files) => files,
        Err(e @ ScaffoldError::Template(_)) => return Err(e.into()),
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(exit::INVALID);
        }
    };
    let existing: Vec<&File> = files
        .iter()
        .filter(|f| args.dir.join(&f.path).symlink_metadata().is_ok())
        .collect();
    if let Some(first) = existing.first() {
        let more = match existing.len() - 1 {
            0 => String::new(),
            n => format!(" (and {n} more)"),
        };
        eprintln!(
            "error: {} already exists{more}; gitgrant init overwrites nothing, so nothing was written: choose a new or empty directory",
            args.dir.join(&first.path).display()
        );
        return Ok(exit::INVALID);
    }
    for f in &files {
        write_new(&args.dir, f)?;
    }

    outln!(
        "Created the access repository {} in {}:",
        target.repository,
        args.dir.display()
    );
    for f in &files {
        outln!("  {}", f.path);
    }
    outln!("\nNext (docs/adopting.md in gitgrant's repository, \"Adopt it\"):");
    if let Some(account) = &target.account {
        outln!(
            "- AWS: create the IAM role {ROLE_NAME} in account {account} from aws/, and set the \
             repository variable {AWS_ROLE_VARIABLE} to arn:aws:iam::{account}:role/{ROLE_NAME}."
        );
    }
    if let Some(resource) = &target.gcp_resource {
        outln!("{}", gcp_steps(&target.repository, resource));
    }
    outln!(
        "- Push to {repository} and protect its main branch.",
        repository = target.repository,
    );
    Ok(exit::SUCCESS)
}

/// The steps of Workload Identity Federation for the reconciler on
/// `resource` (docs/providers/gcp-iam.md, "Setup").
fn gcp_steps(repository: &str, resource: &str) -> String {
    // Custom roles live in a project or an organization: a folder's is its
    // organization's.
    let (kind, id) = resource.split_once('/').unwrap_or(("projects", resource));
    let (scope, role, grant) = match kind {
        "projects" => (
            format!("--project={id}"),
            format!("projects/{id}/roles/{CUSTOM_ROLE}"),
            format!("gcloud projects add-iam-policy-binding {id}"),
        ),
        "organizations" => (
            format!("--organization={id}"),
            format!("organizations/{id}/roles/{CUSTOM_ROLE}"),
            format!("gcloud organizations add-iam-policy-binding {id}"),
        ),
        _ => (
            "--organization=ORG (the folder's organization)".to_string(),
            format!("organizations/ORG/roles/{CUSTOM_ROLE}"),
            format!("gcloud resource-manager folders add-iam-policy-binding {id}"),
        ),
    };
    format!(
        "- Google Cloud (docs/providers/gcp-iam.md, \"Setup with Workload Identity Federation\"):\n\
         \x20 1. Create a service account for the reconciler, and the custom role in {RECONCILER_ROLE_PATH}:\n\
         \x20    gcloud iam roles create {CUSTOM_ROLE} {scope} --file={RECONCILER_ROLE_PATH}\n\
         \x20    and grant it to the service account on {resource} only:\n\
         \x20    {grant} --member=serviceAccount:SA_EMAIL --role={role}\n\
         \x20 2. Create a workload identity pool and an OIDC provider for https://token.actions.githubusercontent.com\n\
         \x20    whose attribute condition admits only this repository's main branch:\n\
         \x20    assertion.repository == '{repository}' && assertion.ref == 'refs/heads/main'\n\
         \x20    and let it impersonate the service account (roles/iam.workloadIdentityUser on it).\n\
         \x20 3. Set the repository variables {GCP_PROVIDER_VARIABLE} to the provider's full name\n\
         \x20    (projects/NUMBER/locations/global/workloadIdentityPools/POOL/providers/PROVIDER)\n\
         \x20    and {GCP_ACCOUNT_VARIABLE} to the service account's email."
    )
}

/// Writes a file that must not exist yet: a file made meanwhile is an
/// error, never overwritten.
fn write_new(dir: &std::path::Path, f: &File) -> anyhow::Result<()> {
    let path = dir.join(&f.path);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .and_then(|mut file| file.write_all(f.text.as_bytes()))
        .with_context(|| format!("writing {}", path.display()))
}
