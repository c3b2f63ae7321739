//! Shared state of the HTTP server.

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use steward_engine::{Engine, EngineConfig, EngineError};
use steward_query::{PoolConfig, WorkPool};
use tokio::sync::Semaphore;

use steward_access::{Principal, RateLimit};

use crate::ApiError;
use crate::limits::ENGINE_CALLS_MAX;
use crate::ratelimit::RateLimiter;

#[derive(Clone)]
pub struct AppState {
    pub engine: Arc<Engine>,
    ready: Arc<AtomicBool>,
    engine_calls: Arc<Semaphore>,
    pub(crate) limiter: Arc<RateLimiter>,
    /// Where SQL, builds and exports run: a runtime of its own, bounded (at most
    /// `PoolConfig::jobs_max` jobs; one more waits a while, then gets 503).
    pub pool: Arc<WorkPool>,
    pub datasets: Arc<steward_lineage::Datasets>,
    /// The model registry and its training jobs.
    pub models: Arc<steward_serve::Registry>,
    /// A/B experiments: definitions, assignment, analysis.
    pub experiments: Arc<steward_serve::Experiments>,
    /// Vector indexes, embeddings and RAG.
    pub indexes: Arc<steward_serve::Indexes>,
    options: ServerOptions,
}

/// Why the server's services could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error("the heavy-work pool: {0}")]
    Pool(#[from] std::io::Error),
    #[error("the chat endpoint: {0}")]
    Chat(String),
}

/// Deployment-wide settings of the HTTP edge.
#[derive(Clone, Debug, Default)]
pub struct ServerOptions {
    /// The rate limit of every key and user that has none of its own (`None`: unlimited).
    pub default_rate_limit: Option<RateLimit>,
    /// Where OpenLineage run events are POSTed, besides the file sink under the data directory.
    pub openlineage_url: Option<String>,
    /// How long a version superseded by an opt-out keeps its files (`None`: 24 hours).
    pub opt_out_grace: Option<std::time::Duration>,
    /// On erasure, only remove affected data set versions' files (no successor).
    pub erasure_marks_only: bool,
    /// Connection cap, header/idle/body timeouts and the descriptor reserve.
    pub connections: crate::limits::ConnectionLimits,
    /// The model registry's memory budget, retrain bound and job runners.
    pub models: steward_serve::ModelConfig,
    /// Where the embedding and generation models are (`None`: `$STEWARD_MODELS`, else `models`).
    pub models_dir: Option<std::path::PathBuf>,
    /// An OpenAI-compatible chat endpoint that generates answers instead of the local model.
    pub chat: Option<steward_serve::indexes::RemoteChatConfig>,
}

fn models_dir(options: &ServerOptions) -> std::path::PathBuf {
    options
        .models_dir
        .clone()
        .unwrap_or_else(steward_serve::indexes::default_models_dir)
}

/// The process-wide Prometheus recorder (metrics has one global recorder).
pub(crate) fn prometheus() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets(&[
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                10.0,
            ])
            .map(|b| b.build_recorder())
            .unwrap_or_else(|_| PrometheusBuilder::new().build_recorder());
        let handle = recorder.handle();
        // Another recorder may already be installed (tests embedding several servers): keep it.
        let _ = metrics::set_global_recorder(recorder);
        handle
    })
}

fn dataset_config(options: &ServerOptions) -> steward_lineage::DatasetConfig {
    steward_lineage::DatasetConfig {
        on_erasure: if options.erasure_marks_only {
            steward_lineage::OnErasure::MarkOnly
        } else {
            steward_lineage::OnErasure::Rebuild
        },
        opt_out_grace: options
            .opt_out_grace
            .unwrap_or(std::time::Duration::from_secs(24 * 3600)),
    }
}

fn lineage_sink(
    data_dir: &std::path::Path,
    options: &ServerOptions,
) -> steward_lineage::openlineage::LineageSink {
    steward_lineage::openlineage::LineageSink::new(
        Some(data_dir.join("lineage").join("openlineage.ndjson")),
        options.openlineage_url.clone(),
    )
}

impl AppState {
    /// Opens the data directory with every kind of derived artifact registered before any
    /// background thread starts (so no erasure can advance without them), and the services
    /// over it. What `steward serve` runs.
    pub fn open(config: EngineConfig, options: ServerOptions) -> Result<AppState, StartError> {
        prometheus();
        let pool = WorkPool::new(PoolConfig::default())?;
        let made: Arc<parking_lot::Mutex<Option<Arc<steward_lineage::Datasets>>>> = Arc::default();
        let registry: Arc<parking_lot::Mutex<Option<Arc<steward_serve::Registry>>>> =
            Arc::default();
        let index_slot: Arc<parking_lot::Mutex<Option<Arc<steward_serve::Indexes>>>> =
            Arc::default();
        let engine = {
            let (made, pool, options) = (made.clone(), pool.clone(), options.clone());
            let (made2, registry2, options2) = (made.clone(), registry.clone(), options.clone());
            let (index_slot2, options3) = (index_slot.clone(), options.clone());
            let made3 = made.clone();
            Engine::builder(config)
                .kind(move |engine| {
                    let datasets = steward_lineage::Datasets::new(
                        engine.clone(),
                        dataset_config(&options),
                        lineage_sink(engine.data_dir(), &options),
                        pool,
                    );
                    let kind = steward_lineage::DatasetKind::new(&datasets);
                    *made.lock() = Some(datasets);
                    kind
                })
                .kind(move |engine| {
                    // The data sets kind's factory ran first: models read from its service.
                    let datasets = made2.lock().clone().unwrap_or_else(|| {
                        panic!("the data sets kind registers before the model kind")
                    });
                    let models = steward_serve::Registry::new(
                        engine.clone(),
                        datasets,
                        options2.models.clone(),
                        lineage_sink(engine.data_dir(), &options2),
                    );
                    let kind = steward_serve::ModelKind::new(&models);
                    *registry2.lock() = Some(models);
                    kind
                })
                .kind(move |engine| {
                    let indexes =
                        steward_serve::Indexes::new(engine.clone(), models_dir(&options3));
                    // Indexes of a data set version read it through the data sets service.
                    if let Some(datasets) = made3.lock().clone() {
                        indexes.set_datasets(datasets);
                    }
                    let kind = steward_serve::IndexKind::new(&indexes);
                    *index_slot2.lock() = Some(indexes);
                    kind
                })
                .open()?
        };
        let datasets = made.lock().take().ok_or(EngineError::NotFound {
            what: "data sets service",
        })?;
        let models = registry.lock().take().ok_or(EngineError::NotFound {
            what: "model registry",
        })?;
        let indexes = index_slot.lock().take().ok_or(EngineError::NotFound {
            what: "index service",
        })?;
        if let Some(chat) = &options.chat {
            indexes
                .use_remote_chat(chat)
                .map_err(|e| StartError::Chat(e.to_string()))?;
        }
        indexes.start();
        Ok(AppState::assemble(
            engine, datasets, models, indexes, pool, options,
        ))
    }

    /// Over an engine opened without artifact kinds (tests of the HTTP edge): data sets cut
    /// and models trained here are not followed by the ledger.
    pub fn new(engine: Arc<Engine>) -> AppState {
        AppState::with_options(engine, ServerOptions::default())
    }

    pub fn with_options(engine: Arc<Engine>, options: ServerOptions) -> AppState {
        prometheus();
        let pool = WorkPool::new(PoolConfig::default())
            .unwrap_or_else(|e| panic!("cannot start the heavy-work pool: {e}"));
        let datasets = steward_lineage::Datasets::new(
            engine.clone(),
            dataset_config(&options),
            lineage_sink(engine.data_dir(), &options),
            pool.clone(),
        );
        let models = steward_serve::Registry::new(
            engine.clone(),
            datasets.clone(),
            options.models.clone(),
            lineage_sink(engine.data_dir(), &options),
        );
        let indexes = steward_serve::Indexes::new(engine.clone(), models_dir(&options));
        indexes.set_datasets(datasets.clone());
        if let Some(chat) = &options.chat
            && let Err(e) = indexes.use_remote_chat(chat)
        {
            tracing::error!(error = %e, "the chat endpoint is not used");
        }
        indexes.start();
        AppState::assemble(engine, datasets, models, indexes, pool, options)
    }

    fn assemble(
        engine: Arc<Engine>,
        datasets: Arc<steward_lineage::Datasets>,
        models: Arc<steward_serve::Registry>,
        indexes: Arc<steward_serve::Indexes>,
        pool: Arc<WorkPool>,
        options: ServerOptions,
    ) -> AppState {
        AppState {
            datasets,
            models,
            indexes,
            experiments: steward_serve::Experiments::new(engine.clone()),
            engine,
            ready: Arc::new(AtomicBool::new(true)),
            engine_calls: Arc::new(Semaphore::new(ENGINE_CALLS_MAX)),
            limiter: Arc::new(RateLimiter::default()),
            pool,
            options,
        }
    }

    /// The principal's own limit, else the deployment default; the operator is not limited.
    pub(crate) fn rate_limit_of(&self, principal: &Principal) -> Option<RateLimit> {
        match principal {
            Principal::Operator => None,
            Principal::Key { rate_limit, .. } => rate_limit.or(self.options.default_rate_limit),
            Principal::User { .. } => self.options.default_rate_limit,
        }
    }

    pub fn connection_limits(&self) -> crate::limits::ConnectionLimits {
        self.options.connections
    }

    /// Serving (not shutting down) and no background worker failing.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst)
    }

    pub fn set_not_ready(&self) {
        self.ready.store(false, Ordering::SeqCst);
    }

    /// Stops what `open` started without serving (`steward restore`): the index followers,
    /// then the engine's threads, flushing every memtable and closing the audit logs.
    pub fn close(&self) {
        self.set_not_ready();
        self.indexes.shutdown();
        if let Err(error) = self.engine.shutdown() {
            tracing::error!(%error, "flush at close failed; the WAL still holds every acknowledged event");
        }
    }

    /// Runs a blocking engine call on the blocking pool, at most ENGINE_CALLS_MAX at once.
    pub async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Engine) -> Result<T, EngineError> + Send + 'static,
    ) -> Result<T, ApiError> {
        self.blocking_api(move |engine| f(engine).map_err(ApiError::from))
            .await
    }

    /// [`AppState::blocking`] for work whose errors are already API errors (several services).
    /// `blocking_api`, or, when `in_memory` (the caller knows the work reads no file: a
    /// serving call on a hosted model), the same work run here on the async worker: no hand-off
    /// to the blocking pool and back, which costs more than the call itself. The same permit
    /// bounds it; a panic answers 500 like one in the pool.
    pub async fn serving_api<T: Send + 'static>(
        &self,
        in_memory: bool,
        f: impl FnOnce(&Engine) -> Result<T, ApiError> + Send + 'static,
    ) -> Result<T, ApiError> {
        if !in_memory {
            return self.blocking_api(f).await;
        }
        let _permit = self
            .engine_calls
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| ApiError::unavailable("shutting down"))?;
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&self.engine))) {
            Ok(result) => result,
            Err(_) => {
                tracing::error!("serving call panicked");
                Err(ApiError::internal())
            }
        }
    }

    pub async fn blocking_api<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Engine) -> Result<T, ApiError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let _permit = self
            .engine_calls
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| ApiError::unavailable("shutting down"))?;
        let engine = self.engine.clone();
        match tokio::task::spawn_blocking(move || f(&engine)).await {
            Ok(result) => result,
            Err(error) => {
                tracing::error!(%error, "engine task panicked");
                Err(ApiError::internal())
            }
        }
    }
}
