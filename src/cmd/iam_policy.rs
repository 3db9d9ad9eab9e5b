//! `gitgrant iam-policy`.

use gitgrant::exit;

/// Print the least-privilege IAM policy the reconciler needs in each AWS
/// account of gitgrant.yaml: it may change only policies under this access
/// repository's path, and attach only those. For an Identity Center
/// provider: the `sso:` and `identitystore:` actions the reconciler uses.
/// For a Google Cloud provider: the custom role to grant its service
/// account on the resource (reading and setting its allow policy). For an
/// Azure provider: the custom role for its scope. For a PostgreSQL
/// provider: the SQL that sets up the reconciler's own role (with
/// `--provider`, as a script to run).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only this provider's account; prints its policy document alone.
    #[arg(long)]
    provider: Option<String>,
}

pub fn run(g: &super::Global, args: Args) -> anyhow::Result<u8> {
    let Some(policy) = super::load_policy(g)? else {
        return Ok(exit::INVALID);
    };
    let out = match &args.provider {
        Some(name) => {
            let Some(p) = policy.providers.get(name) else {
                eprintln!("error: no provider `{name}` in gitgrant.yaml");
                return Ok(exit::INVALID);
            };
            gitgrant::providers::reconciler_policy(&policy, p)
        }
        None => serde_json::Value::Object(
            policy
                .providers
                .values()
                .map(|p| {
                    (
                        p.name.clone(),
                        gitgrant::providers::reconciler_policy(&policy, p),
                    )
                })
                .collect(),
        ),
    };
    match &out {
        // A kind whose setup is a script (PostgreSQL's SQL) prints it as is.
        serde_json::Value::String(script) => out!("{}", script.trim_end()),
        _ => out!("{}", gitgrant::providers::pretty(&out)),
    }
    Ok(exit::SUCCESS)
}
