//! `gitgrant revoke`: open the pull request that deletes a grant, ending its
//! access early.

use anyhow::Context as _;
use gitgrant::exit;
use gitgrant::github::GitHub;
use gitgrant::grant::GrantId;
use gitgrant::policy::Policy;

/// End a grant early: open a pull request that deletes its file.
///
/// Once it merges, the next reconcile revokes the access (reason
/// `deleted`). Needs GITHUB_TOKEN or GH_TOKEN; nothing is pushed from here.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The grant, as `<role>/<name>`.
    grant: String,
    /// Why the access ends early.
    #[arg(long)]
    reason: String,
}

/// Makes a branch off the default branch with one commit of `changes`
/// (`None` deletes) through the Git Data API, and opens a pull request from
/// it. Returns the pull request's URL.
pub fn open_pull_request(
    policy: &Policy,
    branch: &str,
    changes: &[(String, Option<String>)],
    message: &str,
    title: &str,
    body: &str,
) -> anyhow::Result<String> {
    super::runtime()?.block_on(async {
        let gh = GitHub::from_env(Some(&policy.repository()))?;
        let default = gh.repository_info().await?.default_branch;
        let base = gh
            .branch_sha(&default)
            .await?
            .with_context(|| format!("the default branch {default} does not exist on GitHub"))?;
        for (path, content) in changes {
            if content.is_none() && gh.blob_sha(path, &default).await?.is_none() {
                anyhow::bail!("{path} is not on {default}: nothing to revoke");
            }
        }
        let commit = gh.make_commit(&base, changes, message).await?;
        gh.create_branch(branch, &commit).await?;
        let pull = gh.open_pull(branch, &default, title, body).await?;
        eprintln!("opened pull request #{}", pull.number);
        Ok(pull.html_url)
    })
}

pub fn run(g: &super::Global, args: Args) -> anyhow::Result<u8> {
    let Some(id) = GrantId::from_path(&format!("grants/{}.yaml", args.grant)) else {
        eprintln!(
            "error: `{}` is not a grant id; write it as <role>/<name>, as `gitgrant audit` shows it",
            args.grant
        );
        return Ok(exit::INVALID);
    };
    let Some(policy) = super::load_policy(g)? else {
        return Ok(exit::INVALID);
    };
    let body = format!(
        "Ends `{id}` early: merging this deletes the grant file, and the next reconcile \
         revokes the access.\n\n**Reason:** {}\n",
        args.reason.replace('\n', " ")
    );
    let stamp = chrono::Utc::now().format("%Y%m%d%H%M%S");
    let url = open_pull_request(
        &policy,
        &format!("gitgrant/revoke/{id}-{stamp}"),
        &[(id.path(), None)],
        &format!("gitgrant: revoke {id} early\n\n{}", args.reason),
        &format!("Revoke {id} early"),
        &body,
    )?;
    outln!("{url}");
    Ok(exit::SUCCESS)
}
