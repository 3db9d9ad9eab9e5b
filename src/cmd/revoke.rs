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

/// A pull request to open: one commit of `changes` (`None` deletes) on a
/// new `branch`.
pub struct Proposal<'a> {
    /// The new branch.
    pub branch: &'a str,
    /// Files written (`Some`) or deleted (`None`).
    pub changes: &'a [(String, Option<String>)],
    /// The commit message.
    pub message: &'a str,
    /// The pull request's title.
    pub title: &'a str,
    /// Its body.
    pub body: &'a str,
    /// Turn on auto-merge once it is open.
    pub auto_merge: bool,
}

/// The default branch's name and the commit it points at, which a pull
/// request gitgrant opens starts from.
pub async fn default_branch(gh: &GitHub) -> anyhow::Result<(String, String)> {
    let default = gh.repository_info().await?.default_branch;
    let base = gh
        .branch_sha(&default)
        .await?
        .with_context(|| format!("the default branch {default} does not exist on GitHub"))?;
    Ok((default, base))
}

/// Makes the proposal's branch off the default branch with its commit
/// through the Git Data API, and opens a pull request from it. Returns the
/// pull request's URL.
pub fn open_pull_request(policy: &Policy, p: Proposal<'_>) -> anyhow::Result<String> {
    let Proposal {
        branch,
        changes,
        message,
        title,
        body,
        auto_merge,
    } = p;
    super::runtime()?.block_on(async {
        let gh = GitHub::from_env(Some(&policy.repository()))?;
        let (default, base) = default_branch(&gh).await?;
        for (path, content) in changes {
            if content.is_none() && gh.blob_sha(path, &default).await?.is_none() {
                anyhow::bail!("{path} is not on {default}: nothing to revoke");
            }
        }
        let commit = gh.make_commit(&base, changes, message).await?;
        gh.create_branch(branch, &commit).await?;
        let pull = gh.open_pull(branch, &default, title, body).await?;
        eprintln!("opened pull request #{}", pull.number);
        if auto_merge {
            if gh.auto_merge(&pull).await? {
                eprintln!(
                    "merged #{} at once: its required checks had passed",
                    pull.number
                );
            } else {
                eprintln!(
                    "auto-merge is on for #{}: it merges when its required checks pass",
                    pull.number
                );
            }
        }
        Ok(pull.html_url)
    })
}

pub fn run(g: &super::Global, args: Args) -> anyhow::Result<u8> {
    let Ok(id) = args.grant.parse::<GrantId>() else {
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
        Proposal {
            branch: &format!("gitgrant/revoke/{id}-{stamp}"),
            changes: &[(id.path(), None)],
            message: &format!("gitgrant: revoke {id} early\n\n{}", args.reason),
            title: &format!("Revoke {id} early"),
            body: &body,
            auto_merge: false,
        },
    )?;
    outln!("{url}");
    Ok(exit::SUCCESS)
}
