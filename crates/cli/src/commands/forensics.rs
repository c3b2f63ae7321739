//! `steward forensics scan`: an auditor's proof that nothing of a person remains, even for
//! someone holding the master key. Opens the (stopped) data directory with the master key,
//! scans every file's bytes and every stored event decoded, decrypted and opened, and prints
//! each hit as a JSON line. Exit 0: no hits; 1: hits.

use serde_json::json;
use std::path::PathBuf;
use steward_engine::{Engine, EngineConfig};

use crate::error::CliError;

#[derive(clap::Subcommand)]
pub enum ForensicsCommand {
    /// Search the data directory for each needle (text; a 64-hex-digit pseudonym is also
    /// searched as its 32 raw bytes). Stop the server first: the scan takes the directory lock.
    Scan {
        #[arg(long)]
        data: PathBuf,
        #[arg(long = "needle", required = true)]
        needles: Vec<String>,
        /// Further files to scan raw (server logs kept outside the data directory).
        #[arg(long = "also")]
        also: Vec<PathBuf>,
    },
}

pub fn run(command: ForensicsCommand) -> Result<bool, CliError> {
    let ForensicsCommand::Scan { data, needles, also } = command;
    if needles.iter().any(|n| n.len() < 4) {
        return Err(CliError::Usage("a needle must be at least 4 bytes (shorter ones match by chance)".into()));
    }
    let mut config = EngineConfig::new(&data);
    config.background = false;
    let engine = Engine::open(config)?;
    let bytes: Vec<Vec<u8>> = needles.iter().map(|n| n.as_bytes().to_vec()).collect();
    let hits = engine.forensic_scan(&bytes, &also)?;
    for hit in &hits {
        println!("{}", json!({"file": hit.file.display().to_string(), "needle": needles[hit.needle], "layer": hit.layer, "offset": hit.offset}));
    }
    eprintln!("{} hit(s) for {} needle(s)", hits.len(), needles.len());
    Ok(hits.is_empty())
}
