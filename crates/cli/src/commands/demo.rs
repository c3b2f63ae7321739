//! `steward demo`: a ready-to-use server with a demo tenant and generated music-streaming events.
//!
//! Keys are created afresh on every run and printed; none is written to disk.

use indicatif::{ProgressBar, ProgressStyle};
use std::path::PathBuf;
use steward_access::Role;
use steward_engine::{Engine, IngestOptions};

use crate::commands::serve::{ServeArgs, runtime, serve};
use crate::error::CliError;

const TENANT: &str = "demo";
const BATCH_EVENTS: usize = 5_000;

#[derive(clap::Args)]
pub struct DemoArgs {
    #[arg(long, default_value = "steward-demo")]
    pub data: PathBuf,
    #[arg(long, default_value = "127.0.0.1:7700")]
    pub listen: String,
    /// Events to generate on first run.
    #[arg(long, default_value_t = 50_000)]
    pub events: u64,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

pub fn run(args: DemoArgs) -> Result<(), CliError> {
    let first_run = !args.data.join("STEWARD").exists();
    let operator_key = if first_run {
        Some(steward_engine::init(&args.data)?.operator_key)
    } else {
        None
    };
    let serve_args = ServeArgs {
        data: args.data.clone(),
        listen: args.listen.clone(),
        flush_interval_ms: 5_000,
        no_encrypt_at_rest: false,
        rate_limit: None,
        audit_head_interval_ms: steward_engine::AUDIT_HEAD_INTERVAL_MS,
        retention_check_interval_ms: 60_000,
        erasure_purge_after_s: 3600,
        erasure_ledger: None,
        openlineage_url: None,
        opt_out_grace_s: 24 * 3600,
        erasure_marks_only: false,
        model_memory_budget_mb: steward_serve::limits::MEMORY_BUDGET_BYTES_DEFAULT >> 20,
        model_retrain_after_s: 0,
        model_jobs: steward_serve::limits::JOBS_MAX_DEFAULT,
        serving_memory_mb: steward_serve::limits::SERVING_MEMORY_BYTES_DEFAULT >> 20,
        models: None,
        chat_url: None,
        chat_model: None,
        chat_timeout_s: steward_serve::limits::REMOTE_CHAT_TIMEOUT_DEFAULT.as_secs(),
        connections: Default::default(),
    };
    let state = crate::commands::serve::open(&serve_args)?;
    let engine = state.engine.clone();
    if !engine.list_tenants()?.iter().any(|t| t.id == TENANT) {
        engine.create_tenant(TENANT)?;
    }
    for (event_type, document) in steward_gen::music_schemas() {
        engine.put_schema(TENANT, &event_type, &document)?;
    }
    if engine.tenant_stats(TENANT)?.stored_events == 0 {
        load_events(&engine, &args)?;
    }
    let keys: Vec<(Role, String)> = [
        Role::Admin,
        Role::Writer,
        Role::Reader,
        Role::PrivacyOfficer,
    ]
    .into_iter()
    .map(|role| {
        engine
            .create_key(
                TENANT,
                steward_engine::NewKey::new(format!("demo-{}", role.as_str()), role),
            )
            .map(|(_, token)| (role, token))
    })
    .collect::<Result<_, _>>()?;
    let sample_subject = steward_gen::user(args.seed, 0, None).email;
    runtime()?.block_on(serve(state, &args.listen, move |addr| {
        let url = format!("http://{addr}");
        println!();
        println!("Steward demo running at {url}   (Ctrl-C stops it; data in {})", args.data.display());
        match &operator_key {
            Some(key) => println!("  operator key (tenants; shown once): {key}"),
            None => println!("  operator key: printed when {} was first initialized", args.data.display()),
        }
        for (role, token) in &keys {
            println!("  tenant '{TENANT}' {:<16} key: {token}", role.as_str());
        }
        let reader = &keys[3].1; // the privacy officer sees personal fields opened
        println!();
        println!("Try:");
        println!("  curl -s {url}/v1/tenants/{TENANT}/schemas -H 'Authorization: Bearer {reader}'");
        println!("  curl -s -X POST {url}/v1/tenants/{TENANT}/subjects/resolve -H 'Authorization: Bearer {reader}' -H 'Content-Type: application/json' -d '{{\"external_id\": \"{sample_subject}\"}}'");
        println!("  curl -s '{url}/v1/tenants/{TENANT}/subjects/SUBJECT/events?purpose=support&limit=5' -H 'Authorization: Bearer {reader}'");
        let analyst = &keys[2].1; // the reader: analytics and model_training
        println!("  steward sql --tenant {TENANT} --url {url} --key {analyst} -c \"SELECT genre, count(*) AS plays FROM play GROUP BY genre ORDER BY plays DESC\"");
        println!("  curl -s -X POST {url}/v1/tenants/{TENANT}/datasets -H 'Authorization: Bearer {analyst}' -H 'Content-Type: application/json' -d '{{\"name\": \"plays\", \"sql\": \"SELECT subject, track_id, genre FROM play\"}}'");
        println!("  curl -s {url}/metrics | grep steward_");
    }))
}

fn load_events(engine: &Engine, args: &DemoArgs) -> Result<(), CliError> {
    let config = steward_gen::GenConfig::new(args.seed, args.events);
    let bar = ProgressBar::new(args.events);
    bar.set_style(
        ProgressStyle::with_template("generating demo events {bar:40} {pos}/{len} {per_sec}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut batch = Vec::with_capacity(BATCH_EVENTS);
    let flush = |batch: &mut Vec<serde_json::Value>| -> Result<(), CliError> {
        let report = engine.ingest(TENANT, batch, IngestOptions::default())?;
        if let Some((index, error)) = report.rejected().next() {
            return Err(CliError::Usage(format!(
                "generated event {index} rejected: {} {:?} {}",
                error.code, error.field, error.message
            )));
        }
        bar.inc(batch.len() as u64);
        batch.clear();
        Ok(())
    };
    for event in steward_gen::events(&config) {
        batch.push(event);
        if batch.len() >= BATCH_EVENTS {
            flush(&mut batch)?;
        }
    }
    flush(&mut batch)?;
    bar.finish();
    engine.flush_all()?;
    Ok(())
}
