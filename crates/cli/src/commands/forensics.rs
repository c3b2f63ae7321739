//! `steward forensics scan`: an auditor's proof that nothing of a person remains, even for
//! someone holding the master key. Opens the (stopped) data directory with the master key,
//! scans every file's bytes and every stored event decoded, decrypted and opened, and prints
//! each hit as a JSON line. Exit 0: no hits; 1: hits. `model-row` prints what a model version
//! holds for one subject (its row of factors, as numbers and as the bytes on disk), so a scan
//! can look for exactly those bytes after an erasure.

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
        #[arg(long = "needle", required_unless_present = "hex_needles")]
        needles: Vec<String>,
        /// A binary needle as hex digits (e.g. a user's row of factors from `model-row`).
        #[arg(long = "needle-hex")]
        hex_needles: Vec<String>,
        /// Further files to scan raw (server logs kept outside the data directory).
        #[arg(long = "also")]
        also: Vec<PathBuf>,
    },
    /// Print a subject's row of factors in a model version (ALS, BPR) as JSON: the floats and
    /// their little-endian bytes in hex (what the model file holds). Exit 1 when it has none.
    ModelRow {
        #[arg(long)]
        data: PathBuf,
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        model: String,
        #[arg(long)]
        version: u32,
        /// The subject's pseudonym (64 hex digits).
        #[arg(long)]
        subject: String,
    },
}

fn open(data: &std::path::Path) -> Result<std::sync::Arc<Engine>, CliError> {
    let mut config = EngineConfig::new(data);
    config.background = false;
    Ok(Engine::open(config)?)
}

pub fn run(command: ForensicsCommand) -> Result<bool, CliError> {
    match command {
        ForensicsCommand::Scan {
            data,
            needles,
            hex_needles,
            also,
        } => scan(&data, needles, &hex_needles, &also),
        ForensicsCommand::ModelRow {
            data,
            tenant,
            model,
            version,
            subject,
        } => model_row(&data, &tenant, &model, version, &subject),
    }
}

fn scan(
    data: &std::path::Path,
    needles: Vec<String>,
    hex_needles: &[String],
    also: &[PathBuf],
) -> Result<bool, CliError> {
    let mut bytes: Vec<Vec<u8>> = needles.iter().map(|n| n.as_bytes().to_vec()).collect();
    let mut names = needles;
    for hex in hex_needles {
        bytes.push(
            data_encoding::HEXLOWER_PERMISSIVE
                .decode(hex.as_bytes())
                .map_err(|_| CliError::Usage("--needle-hex takes hex digits".into()))?,
        );
        names.push(format!("hex:{hex}"));
    }
    if bytes.iter().any(|n| n.len() < 4) {
        return Err(CliError::Usage(
            "a needle must be at least 4 bytes (shorter ones match by chance)".into(),
        ));
    }
    let engine = open(data)?;
    let hits = engine.forensic_scan(&bytes, also)?;
    for hit in &hits {
        println!(
            "{}",
            json!({"file": hit.file.display().to_string(), "needle": names[hit.needle], "layer": hit.layer, "offset": hit.offset})
        );
    }
    eprintln!("{} hit(s) for {} needle(s)", hits.len(), names.len());
    Ok(hits.is_empty())
}

fn model_row(
    data: &std::path::Path,
    tenant: &str,
    model: &str,
    version: u32,
    subject: &str,
) -> Result<bool, CliError> {
    let subject = pseudonym_bytes(subject)?;
    let engine = open(data)?;
    let (manifest, file) = steward_serve::open_model_file(&engine, tenant, model, version)
        .map_err(|e| CliError::Usage(format!("model {model} version {version}: {e}")))?;
    let Some(row) = file.user_row(&subject) else {
        println!(
            "{}",
            json!({"model": model, "version": version, "state": manifest.state.as_str(), "row": null})
        );
        return Ok(false);
    };
    let f = file.model().factors();
    let factors: Vec<f32> = file
        .model()
        .user_factors()
        .and_then(|all| all.get(row as usize * f..(row as usize + 1) * f))
        .map(<[f32]>::to_vec)
        .unwrap_or_default();
    let bytes: Vec<u8> = factors.iter().flat_map(|v| v.to_le_bytes()).collect();
    println!(
        "{}",
        json!({"model": model, "version": version, "state": manifest.state.as_str(), "row": row, "factors": factors, "bytes_hex": data_encoding::HEXLOWER.encode(&bytes)})
    );
    Ok(true)
}

/// A pseudonym's 32 bytes from its 64 hex digits.
fn pseudonym_bytes(text: &str) -> Result<[u8; 32], CliError> {
    let bytes = data_encoding::HEXLOWER_PERMISSIVE
        .decode(text.as_bytes())
        .map_err(|_| CliError::Usage("--subject takes a 64-hex-digit pseudonym".into()))?;
    bytes
        .try_into()
        .map_err(|_| CliError::Usage("--subject takes a 64-hex-digit pseudonym".into()))
}
