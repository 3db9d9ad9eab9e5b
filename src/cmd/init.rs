//! `gitgrant init`.

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::Context as _;
use gitgrant::exit;
use gitgrant::scaffold::{File, ScaffoldError, Target, files};

/// The role name the book (docs/adopting.md) and the next steps suggest for the reconciler.
const ROLE_NAME: &str = "gitgrant-reconciler";

/// Create a new access repository in DIR for one GitHub repository and one
/// AWS account.
///
/// Writes gitgrant.yaml (a starter policy with two roles), .github/CODEOWNERS,
/// the check and reconcile workflows, the reconciler role's trust and
/// permission policies in aws/, schema/ and a README. Overwrites nothing:
/// when any of these files exists, nothing is written.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The GitHub repository that will hold it.
    #[arg(long, value_name = "OWNER/NAME")]
    repository: String,
    /// The AWS account gitgrant will manage (12 digits).
    #[arg(long, value_name = "ID")]
    account: String,
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
    outln!(
        "\nNext (docs/adopting.md in gitgrant's repository, \"Adopt it\"): create the IAM role {ROLE_NAME} in account {account} from aws/, \
         set the repository variable GITGRANT_AWS_ROLE to arn:aws:iam::{account}:role/{ROLE_NAME}, \
         push to {repository} and protect its main branch.",
        account = target.account,
        repository = target.repository,
    );
    Ok(exit::SUCCESS)
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
