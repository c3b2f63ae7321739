//! `steward receipt verify FILE`: checks an erasure receipt offline: the Ed25519 signature
//! (by `--public-key` if given, the deployment's head key, else by the key the receipt names),
//! the audit inclusion proof of the completion record, and, with `--salt` and `--subject`
//! (the pseudonym), that the receipt is about that subject. Exit 0 valid, 1 not.

use serde_json::{Value, json};
use std::path::PathBuf;
use steward_audit::VerifyingKey;

use crate::error::CliError;

#[derive(clap::Subcommand)]
pub enum ReceiptCommand {
    Verify {
        file: PathBuf,
        /// The deployment's public key (hex), e.g. `public_key` of GET .../audit/head.
        #[arg(long)]
        public_key: Option<String>,
        /// The salt the erasure request answered with (hex).
        #[arg(long, requires = "subject")]
        salt: Option<String>,
        /// The subject's pseudonym (hex).
        #[arg(long, requires = "salt")]
        subject: Option<String>,
    },
}

fn hex32(text: &str, what: &str) -> Result<Vec<u8>, CliError> {
    data_encoding::HEXLOWER_PERMISSIVE
        .decode(text.as_bytes())
        .map_err(|_| CliError::Usage(format!("--{what}: expected hex")))
}

/// Ok(true): valid.
pub fn run(command: ReceiptCommand) -> Result<bool, CliError> {
    let ReceiptCommand::Verify {
        file,
        public_key,
        salt,
        subject,
    } = command;
    let text = std::fs::read_to_string(&file).map_err(CliError::io(file.display()))?;
    let receipt: Value = serde_json::from_str(&text)
        .map_err(|e| CliError::Usage(format!("{}: not JSON: {e}", file.display())))?;
    let trusted = match public_key {
        Some(k) => {
            let bytes: [u8; 32] = hex32(&k, "public-key")?
                .try_into()
                .map_err(|_| CliError::Usage("--public-key: expected 32 bytes".into()))?;
            Some(
                VerifyingKey::from_bytes(&bytes)
                    .map_err(|_| CliError::Usage("--public-key: not an Ed25519 key".into()))?,
            )
        }
        None => None,
    };
    let mut outcome = steward_engine::verify_receipt(&receipt, trusted.as_ref());
    if let (Ok(_), Some(salt), Some(subject)) = (&outcome, salt, subject) {
        let expected =
            steward_engine::subject_hash(&hex32(&salt, "salt")?, &hex32(&subject, "subject")?);
        if receipt["body"]["subject_hash"] != expected.as_str() {
            outcome = Err("the receipt is about another subject (subject_hash differs)".into());
        }
    }
    match outcome {
        Ok(check) => {
            println!(
                "{}",
                json!({"ok": true, "request_id": check.request_id, "tenant": check.tenant, "public_key": check.public_key, "audit_index": check.audit_index, "key_trusted": trusted.is_some()})
            );
            Ok(true)
        }
        Err(reason) => {
            println!("{}", json!({"ok": false, "error": reason}));
            Ok(false)
        }
    }
}
