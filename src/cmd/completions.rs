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
    // clap_complete panics when its writer fails: it writes to memory, and
    // stdout gets the script the way every command writes.
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "gitgrant", &mut script);
    out!("{}", String::from_utf8_lossy(&script));
    Ok(gitgrant::exit::SUCCESS)
}
