//! `steward init`: a new data directory, its master key and the operator key (shown once).

use serde_json::json;
use std::path::Path;

use crate::error::CliError;

pub fn run(data: &Path, as_json: bool) -> Result<(), CliError> {
    let out = steward_engine::init(data)?;
    if as_json {
        println!(
            "{}",
            json!({"operator_key": out.operator_key, "data_dir": out.data_dir.display().to_string()})
        );
    } else {
        println!("Initialized {}", out.data_dir.display());
        match &out.master_key_file {
            Some(file) => println!(
                "Master key: {} (mode 0600; back it up, losing it loses the data)",
                file.display()
            ),
            None => println!("Master key: from STEWARD_MASTER_KEY"),
        }
        println!("Operator key (shown once): {}", out.operator_key);
    }
    Ok(())
}
