//! The `gitgrant` command line. Each subcommand lives in `cmd/`.

mod cmd;

use std::process::ExitCode;

use clap::Parser;

// mimalloc, also for libgit2's C allocations ("override"): the audit's
// history readers and its fold allocate on different threads, where the
// system allocator spent a third of the time.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
