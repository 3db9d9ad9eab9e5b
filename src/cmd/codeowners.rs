//! `gitgrant codeowners`.

use gitgrant::codeowners::{CODEOWNERS_PATH, generate};

/// Its options: `--check`.
pub type Args = super::GeneratedArgs;

pub fn run(g: &super::Global, args: Args) -> anyhow::Result<u8> {
    super::generate(g, args, "gitgrant codeowners", |policy| {
        vec![(CODEOWNERS_PATH, generate(policy))]
    })
}
