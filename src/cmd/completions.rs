//! `gitgrant completions`.

use clap::CommandFactory;

/// Print a shell completion script.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The shell: bash, zsh, fish, elvish or powershell.
    shell: clap_complete::Shell,
}

pub fn run(args: Args) -> anyhow::Result<u8> {
    let mut cmd = super::Cli::command();
    clap_complete::generate(args.shell, &mut cmd, "gitgrant", &mut std::io::stdout());
    Ok(gitgrant::exit::SUCCESS)
}
