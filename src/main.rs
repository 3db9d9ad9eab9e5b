//! The `gitgrant` command line. Each subcommand lives in `cmd/`.

mod cmd;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cmd::Cli::parse();
    cmd::init_logging(&cli.global);
    match cmd::run(cli) {
        Ok(code) => match cmd::stdout_error() {
            // Output cut short is a failure, unless the command failed anyway.
            Some(e) => {
                eprintln!("error: writing to stdout: {e}");
                ExitCode::from(code.max(gitgrant::exit::ERROR))
            }
            None => ExitCode::from(code),
        },
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(gitgrant::exit::ERROR)
        }
    }
}
