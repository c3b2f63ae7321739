//! `steward serve`: run the HTTP server on a data directory until SIGINT/SIGTERM.

use std::path::PathBuf;
use std::sync::Arc;
use steward_engine::{Engine, EngineConfig};

use crate::error::CliError;

#[derive(clap::Args, Clone)]
pub struct ServeArgs {
    #[arg(long)]
    pub data: PathBuf,
    #[arg(long, default_value = "127.0.0.1:7700")]
    pub listen: String,
    /// Flush memtables older than this to segments.
    #[arg(long, default_value_t = steward_store_flush_default())]
    pub flush_interval_ms: u64,
    /// Store WAL and segments without tenant-level encryption. FOR FORENSIC TESTING ONLY:
    /// sealed personal fields stay sealed, everything else is readable on disk.
    #[arg(long, hide = true)]
    pub no_encrypt_at_rest: bool,
}

fn steward_store_flush_default() -> u64 {
    EngineConfig::new(".").flush_interval_ms
}

pub fn engine_config(args: &ServeArgs) -> EngineConfig {
    let mut config = EngineConfig::new(&args.data);
    config.flush_interval_ms = args.flush_interval_ms;
    config.encrypt_at_rest = !args.no_encrypt_at_rest;
    config
}

pub fn run(args: ServeArgs) -> Result<(), CliError> {
    let engine = Engine::open(engine_config(&args))?;
    runtime()?.block_on(serve(engine, &args.listen, |addr| {
        println!("steward listening on http://{addr}");
    }))
}

pub fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(CliError::io("tokio runtime"))
}

/// Binds, calls `on_bound` with the address, and serves until a shutdown signal.
pub async fn serve(engine: Arc<Engine>, listen: &str, on_bound: impl FnOnce(std::net::SocketAddr)) -> Result<(), CliError> {
    let listener = tokio::net::TcpListener::bind(listen).await.map_err(CliError::io(listen))?;
    let addr = listener.local_addr().map_err(CliError::io(listen))?;
    on_bound(addr);
    steward_server::serve(engine, listener, shutdown_signal()).await.map_err(CliError::io("server"))
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutdown signal received");
}
