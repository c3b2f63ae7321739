//! `steward backup` and `steward restore`: a sealed, checked copy of a data directory, and a
//! new directory from one with the erasure ledger replayed before anything serves it.

use serde_json::json;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use steward_engine::backup;
use steward_engine::erasure_ledger::read_ledger;
use steward_engine::steward_crypto::{self, MasterKey};

use crate::Remote;
use crate::client::Client;
use crate::commands::serve::{self, ServeArgs};
use crate::error::CliError;

#[derive(clap::Args)]
pub struct BackupArgs {
    /// The data directory. When a server holds it, the backup is made online by that server
    /// (--url and the operator key in --key / STEWARD_KEY); otherwise directly, with the
    /// directory's lock held.
    #[arg(long)]
    pub data: PathBuf,
    /// The backup file to write (refused if it exists).
    #[arg(long)]
    pub out: PathBuf,
    #[command(flatten)]
    pub remote: Remote,
}

#[derive(clap::Args)]
pub struct RestoreArgs {
    /// The backup file.
    #[arg(long = "in")]
    pub input: PathBuf,
    /// The erasure ledger of the deployment the backup came from (its `--erasure-ledger`, by
    /// default DATA/erasure.ledger): erasures carried out after the backup are replayed.
    #[arg(long, conflicts_with = "no_erasure_ledger")]
    pub from_erasure_ledger: Option<PathBuf>,
    /// Restore without replaying a ledger (the ledger is lost): subjects erased after the
    /// backup come back until erased again. Must be said explicitly.
    #[arg(long)]
    pub no_erasure_ledger: bool,
    /// The master key file the backup was sealed under (else STEWARD_MASTER_KEY).
    #[arg(long)]
    pub master_key_file: Option<PathBuf>,
    /// How long to wait for the replayed erasures to reach done before handing over (the
    /// server finishes any still open at its start; they are unreadable already).
    #[arg(long, default_value_t = 600)]
    pub wait_s: u64,
    /// The new data directory (`--data`, which must not exist) and the options it will be
    /// served with.
    #[command(flatten)]
    pub serve: ServeArgs,
}

fn master_from(file: Option<&Path>) -> Result<MasterKey, CliError> {
    match file {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(CliError::io(path.display()))?;
            MasterKey::from_hex(&text).map_err(|e| CliError::Engine(e.into()))
        }
        None => {
            if std::env::var_os(steward_crypto::MASTER_KEY_ENV).is_none() {
                return Err(CliError::Usage(
                    "the master key is needed: --master-key-file or STEWARD_MASTER_KEY".into(),
                ));
            }
            MasterKey::load(Path::new("/nonexistent")).map_err(|e| CliError::Engine(e.into()))
        }
    }
}

pub fn backup_run(args: BackupArgs) -> Result<(), CliError> {
    if args.out.exists() {
        return Err(CliError::Usage(format!(
            "{} exists; a backup never overwrites a file",
            args.out.display()
        )));
    }
    let partial = args.out.with_extension("partial");
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&partial)
        .map_err(CliError::io(partial.display()))?;
    let outcome = (|| {
        let online = steward_engine::data_dir_in_use(&args.data);
        if online {
            let mut out = BufWriter::new(&file);
            Client::new(&args.remote).post_to_writer("/v1/backup", &mut out)?;
            out.flush().map_err(CliError::io(partial.display()))?;
        } else {
            let (out, _) = backup::backup_offline(&args.data, BufWriter::new(&file))?;
            out.into_inner()
                .map_err(|e| CliError::io(partial.display())(e.into_error()))?;
        }
        file.sync_all().map_err(CliError::io(partial.display()))?;
        // Read back whole under this directory's master key: what is kept is proven intact.
        let master = steward_crypto::MasterKey::load(&args.data.join("master.key"))
            .map_err(|e| CliError::Engine(e.into()))?;
        let check = std::fs::File::open(&partial).map_err(CliError::io(partial.display()))?;
        let summary = backup::verify(check, &master)?;
        Ok::<_, CliError>((online, summary))
    })();
    let (online, summary) = match outcome {
        Ok(done) => done,
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            return Err(e);
        }
    };
    std::fs::rename(&partial, &args.out).map_err(CliError::io(args.out.display()))?;
    let bytes = std::fs::metadata(&args.out)
        .map(|m| m.len())
        .unwrap_or_default();
    println!(
        "{}",
        json!({
            "file": args.out.display().to_string(),
            "bytes": bytes,
            "online": online,
            "files": summary.files,
            "data_bytes": summary.data_bytes,
            "tenants": summary.tenants,
            "created_at": summary.backup_created_at,
            "verified": true,
        })
    );
    Ok(())
}

fn absolute(path: &Path) -> Result<PathBuf, CliError> {
    std::path::absolute(path).map_err(CliError::io(path.display()))
}

pub fn restore_run(args: RestoreArgs) -> Result<(), CliError> {
    let entries = match (&args.from_erasure_ledger, args.no_erasure_ledger) {
        (Some(path), _) => read_ledger(path).map_err(|e| CliError::Usage(e.to_string()))?,
        (None, true) => Vec::new(),
        (None, false) => {
            return Err(CliError::Usage(
                "--from-erasure-ledger PATH is needed (the source deployment's erasure ledger), \
                 or --no-erasure-ledger to restore knowing erased subjects may come back"
                    .into(),
            ));
        }
    };
    let master = master_from(args.master_key_file.as_deref())?;
    let input = std::fs::File::open(&args.input).map_err(CliError::io(args.input.display()))?;
    let config = serve::engine_config(&args.serve);
    let own = absolute(&config.erasure_ledger_path())?;
    let target = absolute(&args.serve.data)?;
    let source = args.from_erasure_ledger.as_deref();
    // Before the directory takes its name: the ledger it keeps going with, and the marker
    // that makes every open replay it until one completes (a kill below loses nothing).
    let mut prepare = |partial: &Path| -> Result<(), backup::BackupError> {
        let Some(source) = source else {
            return Ok(());
        };
        let io = |e: std::io::Error| backup::BackupError::Io(format!("the erasure ledger: {e}"));
        let same = std::fs::canonicalize(source).ok() == std::fs::canonicalize(&own).ok();
        if !same {
            let place = match own.strip_prefix(&target) {
                Ok(inside) => partial.join(inside),
                Err(_) if own.exists() => {
                    return Err(backup::BackupError::Io(format!(
                        "{} already holds another erasure ledger; serve the restore with \
                         --erasure-ledger naming a new path, or that ledger with --from-erasure-ledger",
                        own.display()
                    )));
                }
                Err(_) => own.clone(),
            };
            if let Some(dir) = place.parent() {
                std::fs::create_dir_all(dir).map_err(io)?;
            }
            std::fs::copy(source, &place).map_err(io)?;
            std::fs::File::open(&place)
                .and_then(|f| f.sync_all())
                .map_err(io)?;
        }
        steward_engine::mark_restore_pending(partial, &own).map_err(io)
    };
    let restored = backup::restore(input, &master, &args.serve.data, &mut prepare)?;
    // Tests: the process dies right after the directory appeared, before any replay.
    if std::env::var("STEWARD_FAULT_EXIT").as_deref() == Ok("restore-before-replay") {
        std::process::abort();
    }
    let key_in_env = std::env::var_os(steward_crypto::MASTER_KEY_ENV).is_some();
    // Opening the directory replays the ledger before anything could serve it.
    let state = serve::open(&args.serve)?;
    let report = state.engine.last_replay().unwrap_or_default();
    let deadline = Instant::now() + Duration::from_secs(args.wait_s);
    let mut pending: Vec<(String, String)> = report
        .tenants
        .iter()
        .flat_map(|(t, r)| r.erasures.iter().map(move |id| (t.clone(), id.clone())))
        .collect();
    let replayed = pending.len();
    while !pending.is_empty() && Instant::now() < deadline {
        pending.retain(|(tenant, id)| {
            !matches!(
                state.engine.erasure(tenant, id).map(|r| r.state),
                Ok(steward_engine::ErasureState::Done)
            )
        });
        if !pending.is_empty() {
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    state.close();
    println!(
        "{}",
        json!({
            "data_dir": args.serve.data.display().to_string(),
            "master_key_file": (!key_in_env).then(|| args.serve.data.join("master.key").display().to_string()),
            "restored": restored,
            "erasure_ledger": {
                "entries": report.entries,
                "entries_read_before_restore": entries.len(),
                "erasures_replayed": replayed,
                "erasures_not_done": pending.iter().map(|(t, id)| json!({"tenant": t, "id": id})).collect::<Vec<_>>(),
                "tenants": report.tenants,
                "tenants_absent": report.tenants_absent,
            },
        })
    );
    Ok(())
}
