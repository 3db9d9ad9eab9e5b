//! `gitgrant schema`.

use gitgrant::exit;

/// Write the JSON Schemas of the file formats to schema/.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Change nothing; fail when a schema file differs from the types.
    #[arg(long)]
    check: bool,
}

pub fn run(g: &super::Global, args: Args) -> anyhow::Result<u8> {
    let mut fresh = true;
    for file in gitgrant::schema::all() {
        fresh &= super::write_generated(g, file.path, &file.text, args.check, "gitgrant schema")?;
    }
    Ok(if fresh { exit::SUCCESS } else { exit::ERROR })
}
