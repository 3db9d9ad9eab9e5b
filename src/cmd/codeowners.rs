//! `gitgrant codeowners`.

use gitgrant::codeowners::{CODEOWNERS_PATH, generate};
use gitgrant::exit;

/// Write .github/CODEOWNERS from gitgrant.yaml: each role's grants owned by its
/// approvers, the policy and .github/ by the security team.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Change nothing; fail when the file differs from what the policy gives.
    #[arg(long)]
    check: bool,
}

pub fn run(g: &super::Global, args: Args) -> anyhow::Result<u8> {
    let Some(policy) = super::load_policy(g)? else {
        return Ok(exit::INVALID);
    };
    let fresh = super::write_generated(
        g,
        CODEOWNERS_PATH,
        &generate(&policy),
        args.check,
        "gitgrant codeowners",
    )?;
    Ok(if fresh { exit::SUCCESS } else { exit::ERROR })
}
