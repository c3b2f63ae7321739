//! `steward model train | list | get | alias | cancel`: the model registry from the command
//! line. `train` starts a job and, unless `--no-wait`, follows it with a progress bar
//! (iterations and loss) until it is ready, failed or cancelled, then prints the version.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Value, json};

use crate::Remote;
use crate::client::Client;
use crate::error::CliError;

/// How often `train` polls the version while it runs.
const POLL_MS: u64 = 250;

#[derive(clap::Subcommand)]
#[allow(clippy::large_enum_variant, reason = "parsed once per process")]
pub enum ModelCommand {
    /// Train a model version from a data set version.
    Train {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        name: String,
        /// als, bpr, item_knn or popularity.
        #[arg(long)]
        algorithm: String,
        /// The data set, as NAME or NAME@VERSION (default: its latest ready version).
        #[arg(long)]
        dataset: String,
        /// The column of subject pseudonyms.
        #[arg(long, default_value = "subject")]
        user_column: String,
        #[arg(long)]
        item_column: String,
        #[arg(long)]
        weight_column: Option<String>,
        #[arg(long)]
        time_column: Option<String>,
        /// The algorithm's parameters as a JSON object, e.g. '{"factors": 64, "iterations": 10}'.
        #[arg(long)]
        params: Option<String>,
        /// Evaluate on a split: time, leave_last or random.
        #[arg(long)]
        split: Option<String>,
        /// The held-out fraction (time, random) or count (leave_last).
        #[arg(long)]
        holdout: Option<f64>,
        /// Cutoffs, comma-separated.
        #[arg(long, default_value = "10")]
        k: String,
        #[arg(long)]
        seed: Option<u64>,
        #[arg(long, default_value = "model_training")]
        purpose: String,
        /// Answer with the queued version instead of following the job.
        #[arg(long)]
        no_wait: bool,
        #[command(flatten)]
        remote: Remote,
    },
    /// List the tenant's models.
    List {
        #[arg(long)]
        tenant: String,
        #[command(flatten)]
        remote: Remote,
    },
    /// Show a model (every version and its aliases), or one version.
    Get {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        name: String,
        /// A version number or latest.
        #[arg(long)]
        version: Option<String>,
        #[command(flatten)]
        remote: Remote,
    },
    /// Point an alias (production, candidate, ...) at a ready version; rollback is a move back.
    Alias {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        name: String,
        #[arg(long)]
        alias: String,
        #[arg(long)]
        version: u32,
        #[command(flatten)]
        remote: Remote,
    },
    /// Cancel a queued or running job.
    Cancel {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        name: String,
        #[arg(long)]
        version: u32,
        #[command(flatten)]
        remote: Remote,
    },
}

fn print(value: &Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_default()
    );
}

pub fn run(command: ModelCommand) -> Result<(), CliError> {
    match command {
        ModelCommand::Train {
            tenant,
            name,
            algorithm,
            dataset,
            user_column,
            item_column,
            weight_column,
            time_column,
            params,
            split,
            holdout,
            k,
            seed,
            purpose,
            no_wait,
            remote,
        } => {
            let (dataset_name, version) = match dataset.split_once('@') {
                Some((n, v)) => (
                    n.to_owned(),
                    v.parse::<u64>().map(Value::from).map_err(|_| {
                        CliError::Usage("--dataset NAME@VERSION takes a version number".into())
                    })?,
                ),
                None => (dataset, json!("latest")),
            };
            let params: Value = match params {
                Some(text) => serde_json::from_str(&text)
                    .map_err(|_| CliError::Usage("--params must be a JSON object".into()))?,
                None => json!({}),
            };
            let mut body = json!({
                "name": name,
                "algorithm": algorithm,
                "dataset": {"name": dataset_name, "version": version},
                "columns": {"user": user_column, "item": item_column, "weight": weight_column, "time": time_column},
                "params": params,
                "purpose": purpose,
            });
            if let Some(split) = split {
                let ks: Vec<usize> = k
                    .split(',')
                    .map(|x| x.trim().parse())
                    .collect::<Result<_, _>>()
                    .map_err(|_| {
                        CliError::Usage("--k takes comma-separated whole numbers".into())
                    })?;
                body["evaluation"] = json!({"split": split, "holdout": holdout, "k": ks});
            }
            if let Some(seed) = seed {
                body["seed"] = json!(seed);
            }
            let client = Client::new(&remote);
            let accepted = client.send_json(
                "POST",
                &format!("/v1/tenants/{tenant}/models?purpose={purpose}"),
                &body,
            )?;
            if no_wait {
                print(&accepted);
                return Ok(());
            }
            let version = accepted["version"]
                .as_u64()
                .ok_or_else(|| CliError::Http("the answer names no version".into()))?;
            let done = follow(
                &client,
                &format!("/v1/tenants/{tenant}/models/{name}/versions/{version}?purpose={purpose}"),
            )?;
            print(&done);
            match done["state"].as_str() {
                Some("ready") => Ok(()),
                state => Err(CliError::Api {
                    status: 200,
                    code: done["error"].as_str().unwrap_or("not_ready").to_owned(),
                    detail: format!("the job ended {}", state.unwrap_or("unknown")),
                }),
            }
        }
        ModelCommand::List { tenant, remote } => {
            print(&Client::new(&remote).get(&format!("/v1/tenants/{tenant}/models"))?);
            Ok(())
        }
        ModelCommand::Get {
            tenant,
            name,
            version,
            remote,
        } => {
            let path = match version {
                Some(v) => format!("/v1/tenants/{tenant}/models/{name}/versions/{v}"),
                None => format!("/v1/tenants/{tenant}/models/{name}"),
            };
            print(&Client::new(&remote).get(&path)?);
            Ok(())
        }
        ModelCommand::Alias {
            tenant,
            name,
            alias,
            version,
            remote,
        } => {
            print(&Client::new(&remote).send_json(
                "PUT",
                &format!("/v1/tenants/{tenant}/models/{name}/aliases/{alias}"),
                &json!({"version": version}),
            )?);
            Ok(())
        }
        ModelCommand::Cancel {
            tenant,
            name,
            version,
            remote,
        } => {
            print(&Client::new(&remote).send_json(
                "POST",
                &format!("/v1/tenants/{tenant}/models/{name}/versions/{version}/cancel"),
                &json!({}),
            )?);
            Ok(())
        }
    }
}

/// Polls a version until it leaves queued/training/evaluating, drawing its progress.
fn follow(client: &Client, path: &str) -> Result<Value, CliError> {
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg:24} {bar:30} {pos}/{len} {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    loop {
        let version = client.get(path)?;
        let state = version["state"].as_str().unwrap_or("").to_owned();
        if !matches!(state.as_str(), "queued" | "training" | "evaluating") {
            bar.finish_and_clear();
            return Ok(version);
        }
        let progress = &version["progress"];
        let phase = progress["phase"].as_str().unwrap_or(&state);
        bar.set_length(progress["iterations"].as_u64().unwrap_or(0));
        bar.set_position(progress["iteration"].as_u64().unwrap_or(0));
        bar.set_message(match progress["loss"].as_f64() {
            Some(loss) => format!("{phase} loss {loss:.4}"),
            None => phase.to_owned(),
        });
        bar.tick();
        std::thread::sleep(Duration::from_millis(POLL_MS));
    }
}
