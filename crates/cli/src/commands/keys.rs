//! `steward keys rotate-master`: re-wrap tenant keys under a new master key (offline).

use std::path::PathBuf;

use crate::error::CliError;

#[derive(clap::Subcommand)]
pub enum KeysCommand {
    /// Generate a new master key and re-wrap every tenant key; data is not rewritten.
    RotateMaster {
        #[arg(long)]
        data: PathBuf,
    },
}

pub fn run(command: KeysCommand) -> Result<(), CliError> {
    match command {
        KeysCommand::RotateMaster { data } => {
            let fingerprint = steward_engine::rotate_master(&data)?;
            println!("master key rotated; new fingerprint {fingerprint}");
            Ok(())
        }
    }
}
