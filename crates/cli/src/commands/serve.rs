//! `steward serve`: run the HTTP server on a data directory until SIGINT/SIGTERM.

use std::path::PathBuf;
use steward_engine::EngineConfig;

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
    /// storage.encrypt_at_rest = false: store WAL and segments without tenant-level encryption
    /// (and segments uncompressed). FOR FORENSIC TESTING ONLY: sealed personal fields stay
    /// sealed, everything else is readable on disk, so a plain byte scan can check erasure.
    #[arg(long)]
    pub no_encrypt_at_rest: bool,
    /// Rate limit of every key without its own, as PER_SECOND or PER_SECOND:BURST (default
    /// burst: one second's worth). Unset: unlimited.
    #[arg(long, value_parser = parse_rate_limit)]
    pub rate_limit: Option<steward_access::RateLimit>,
    /// Sign each audit log's tree head this often (when records were added since).
    #[arg(long, default_value_t = steward_engine::AUDIT_HEAD_INTERVAL_MS, value_parser = clap::value_parser!(u64).range(100..))]
    pub audit_head_interval_ms: u64,
    /// Look for rows past their type's retention this often; they leave the disk within it.
    #[arg(long, default_value_t = 60_000, value_parser = clap::value_parser!(u64).range(100..))]
    pub retention_check_interval_ms: u64,
    /// The erasure ledger (kept outside backups; `steward restore --from-erasure-ledger`
    /// replays it). Default DATA/erasure.ledger; put it on other storage so it outlives the
    /// data directory.
    #[arg(long)]
    pub erasure_ledger: Option<PathBuf>,
    /// Purge an erasure's rows this long after the request unless it asks for `now`.
    #[arg(long, default_value_t = 3600)]
    pub erasure_purge_after_s: u64,
    /// POST OpenLineage run events of data set builds here too (they always go to
    /// DATA/lineage/openlineage.ndjson).
    #[arg(long, env = "STEWARD_OPENLINEAGE_URL")]
    pub openlineage_url: Option<String>,
    /// A data set version superseded because a subject opted out of its purpose keeps its
    /// files this long.
    #[arg(long, default_value_t = 24 * 3600)]
    pub opt_out_grace_s: u64,
    /// On erasure, remove affected data set versions' files without building successors.
    #[arg(long)]
    pub erasure_marks_only: bool,
    /// A training job whose memory estimate is over this is refused (422
    /// model_memory_over_budget).
    #[arg(long, default_value_t = steward_serve::limits::MEMORY_BUDGET_BYTES_DEFAULT >> 20, value_parser = clap::value_parser!(u64).range(1..))]
    pub model_memory_budget_mb: u64,
    /// After an erasure, retrain the models that held the subject (on their data sets'
    /// successors) once the oldest erasure waiting is this old; erasures arriving meanwhile
    /// share one retrain. The user's row leaves every model file at once regardless, and the
    /// erasure reaches done after the retrain. 0: retrain at once.
    #[arg(long, alias = "model-retrain-after", default_value_t = 0)]
    pub model_retrain_after_s: u64,
    /// Training jobs running at once (more wait, up to 32; then 503 model_queue_full).
    #[arg(long, default_value_t = steward_serve::limits::JOBS_MAX_DEFAULT, value_parser = parse_positive)]
    pub model_jobs: usize,
    /// Decoded model versions held in memory for serving (least recently used leave first).
    #[arg(long, default_value_t = steward_serve::limits::SERVING_MEMORY_BYTES_DEFAULT >> 20, value_parser = clap::value_parser!(u64).range(1..))]
    pub serving_memory_mb: u64,
    /// The directory of the embedding and generation models (`bash scripts/models.sh` fetches
    /// them); default `$STEWARD_MODELS`, else `models` in the working directory.
    #[arg(long)]
    pub models: Option<std::path::PathBuf>,
    /// An OpenAI-compatible chat API (its base, e.g. `http://127.0.0.1:8080/v1`) that generates
    /// answers instead of the local model. Only the purpose-shaped passages and the question
    /// are sent. The key, if it needs one, is read from STEWARD_CHAT_API_KEY only.
    #[arg(long, env = "STEWARD_CHAT_URL", requires = "chat_model")]
    pub chat_url: Option<String>,
    /// The `model` the chat API is asked for (answers name it as their model).
    #[arg(long, env = "STEWARD_CHAT_MODEL", requires = "chat_url")]
    pub chat_model: Option<String>,
    /// The chat API's whole answer must arrive within this.
    #[arg(long, default_value_t = steward_serve::limits::REMOTE_CHAT_TIMEOUT_DEFAULT.as_secs(), value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub chat_timeout_s: u64,
    #[command(flatten)]
    pub connections: ConnectionArgs,
}

/// Bounds on connections (see `steward_server::limits`).
#[derive(clap::Args, Clone, Debug)]
pub struct ConnectionArgs {
    /// A new connection, or a request's first byte, must be followed by the whole request head
    /// within this; otherwise the connection is closed.
    #[arg(long, default_value_t = steward_server::limits::HEADER_READ_TIMEOUT_MS_DEFAULT, value_parser = clap::value_parser!(u64).range(1..))]
    pub header_read_timeout_ms: u64,
    /// A keep-alive connection with no request in progress is closed after this.
    #[arg(long, default_value_t = steward_server::limits::IDLE_TIMEOUT_MS_DEFAULT, value_parser = clap::value_parser!(u64).range(1..))]
    pub idle_timeout_ms: u64,
    /// A request body may keep the server waiting this long for each 64 KiB (and for its end);
    /// past it the request is answered 408 and the connection closed.
    #[arg(long, default_value_t = steward_server::limits::BODY_READ_TIMEOUT_MS_DEFAULT, value_parser = clap::value_parser!(u64).range(1..))]
    pub body_read_timeout_ms: u64,
    /// Connections open at once; more are answered 503 (`too_many_connections`, Retry-After)
    /// and closed. Lowered at startup so the descriptor reserve stays free.
    #[arg(long, default_value_t = steward_server::limits::CONNECTIONS_MAX_DEFAULT, value_parser = parse_positive)]
    pub max_connections: usize,
    /// Descriptors kept free for storage beyond those open at startup (the soft
    /// RLIMIT_NOFILE is raised to the hard limit first).
    #[arg(long, default_value_t = steward_server::limits::FDS_RESERVED_DEFAULT)]
    pub fd_reserve: usize,
}

impl Default for ConnectionArgs {
    fn default() -> ConnectionArgs {
        let limits = steward_server::limits::ConnectionLimits::default();
        ConnectionArgs {
            header_read_timeout_ms: steward_server::limits::HEADER_READ_TIMEOUT_MS_DEFAULT,
            idle_timeout_ms: steward_server::limits::IDLE_TIMEOUT_MS_DEFAULT,
            body_read_timeout_ms: steward_server::limits::BODY_READ_TIMEOUT_MS_DEFAULT,
            max_connections: limits.connections_max,
            fd_reserve: limits.fds_reserved,
        }
    }
}

impl ConnectionArgs {
    pub fn limits(&self) -> steward_server::limits::ConnectionLimits {
        use std::time::Duration;
        steward_server::limits::ConnectionLimits {
            header_read_timeout: Duration::from_millis(self.header_read_timeout_ms),
            idle_timeout: Duration::from_millis(self.idle_timeout_ms),
            body_read_timeout: Duration::from_millis(self.body_read_timeout_ms),
            connections_max: self.max_connections,
            fds_reserved: self.fd_reserve,
        }
    }
}

fn parse_positive(text: &str) -> Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err("expected a positive number".to_owned()),
    }
}

fn parse_rate_limit(text: &str) -> Result<steward_access::RateLimit, String> {
    let (rate, burst) = text.split_once(':').unwrap_or((text, text));
    let number = |s: &str| {
        s.trim()
            .parse::<u32>()
            .map_err(|_| format!("expected PER_SECOND[:BURST], got {text:?}"))
    };
    steward_access::RateLimit::new(number(rate)?, number(burst)?)
}

pub fn server_options(args: &ServeArgs) -> steward_server::ServerOptions {
    steward_server::ServerOptions {
        default_rate_limit: args.rate_limit,
        openlineage_url: args.openlineage_url.clone(),
        opt_out_grace: Some(std::time::Duration::from_secs(args.opt_out_grace_s)),
        erasure_marks_only: args.erasure_marks_only,
        connections: args.connections.limits(),
        models: steward_serve::ModelConfig {
            memory_budget_bytes: args.model_memory_budget_mb << 20,
            retrain_after: std::time::Duration::from_secs(args.model_retrain_after_s),
            jobs_max: args.model_jobs,
            serving_memory_bytes: args.serving_memory_mb << 20,
            ..steward_serve::ModelConfig::default()
        },
        models_dir: args.models.clone(),
        chat: args
            .chat_url
            .as_ref()
            .map(|url| steward_serve::indexes::RemoteChatConfig {
                url: url.clone(),
                model: args.chat_model.clone().unwrap_or_default(),
                api_key: std::env::var("STEWARD_CHAT_API_KEY")
                    .ok()
                    .filter(|k| !k.is_empty()),
                timeout: std::time::Duration::from_secs(args.chat_timeout_s),
            }),
    }
}

fn steward_store_flush_default() -> u64 {
    EngineConfig::new(".").flush_interval_ms
}

pub fn engine_config(args: &ServeArgs) -> EngineConfig {
    let mut config = EngineConfig::new(&args.data);
    config.flush_interval_ms = args.flush_interval_ms;
    config.encrypt_at_rest = !args.no_encrypt_at_rest;
    config.audit_head_interval_ms = args.audit_head_interval_ms;
    config.retention_check_interval_ms = args.retention_check_interval_ms;
    config.erasure_purge_after_s = args.erasure_purge_after_s;
    config.erasure_ledger = args.erasure_ledger.clone();
    config
}

pub fn run(args: ServeArgs) -> Result<(), CliError> {
    let state = open(&args)?;
    runtime()?.block_on(serve(state, &args.listen, |addr| {
        println!("steward listening on http://{addr}");
    }))
}

/// Opens the data directory with every artifact kind registered, and the server's services.
pub fn open(args: &ServeArgs) -> Result<steward_server::AppState, CliError> {
    steward_server::AppState::open(engine_config(args), server_options(args)).map_err(|e| match e {
        steward_server::StartError::Engine(e) => CliError::from(e),
        steward_server::StartError::Pool(e) => CliError::io("heavy-work pool")(e),
        steward_server::StartError::Chat(e) => CliError::Usage(e),
    })
}

pub fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(CliError::io("tokio runtime"))
}

/// Binds, calls `on_bound` with the address, and serves until a shutdown signal.
pub async fn serve(
    state: steward_server::AppState,
    listen: &str,
    on_bound: impl FnOnce(std::net::SocketAddr),
) -> Result<(), CliError> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(CliError::io(listen))?;
    let addr = listener.local_addr().map_err(CliError::io(listen))?;
    on_bound(addr);
    steward_server::serve(state, listener, shutdown_signal())
        .await
        .map_err(CliError::io("server"))
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
