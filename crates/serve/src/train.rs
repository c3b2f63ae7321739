//! Running one training job: the data set version read through the read guard (admitted again
//! when the job starts), the matrix, the evaluation fit and metrics beside popularity, the
//! final fit on every interaction, and the sealed model file. OpenLineage START, then COMPLETE
//! or FAIL, with the data set version as input and the model version as output.
//!
//! The attempt is written to the manifest before anything is read, so a restart that finds a
//! version still training knows its run was interrupted (`Registry::ensure_recovered`).

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use steward_engine::ReadAccess;
use steward_lineage::openlineage::RunEvent;
use steward_ml::eval::{EvalConfig, Metrics, evaluate_with_baseline, split};
use steward_ml::{
    Control, IdMap, ModelFile, Params, RunConfig, Shape, TrainError, estimate_bytes, train,
};
use steward_privacy::PrivacyClass;

use crate::manifest::{MetricsAtK, MetricsDoc, ModelManifest, ModelState, Progress};
use crate::registry::{Key3, Live, Registry, now_rfc3339};
use crate::spec::params_from_json;
use crate::{ServeError, files};

/// Removes a job's live entry when its run ends (an erasure task may be waiting for it).
struct LiveEntry<'a> {
    registry: &'a Registry,
    key: &'a Key3,
}

impl Drop for LiveEntry<'_> {
    fn drop(&mut self) {
        self.registry.live.lock().remove(self.key);
    }
}

fn metrics_at(m: &Metrics) -> Vec<MetricsAtK> {
    m.at.iter()
        .map(|a| MetricsAtK {
            k: a.k,
            recall: a.recall,
            precision: a.precision,
            ndcg: a.ndcg,
            map: a.map,
            coverage: a.coverage,
        })
        .collect()
}

fn train_error(error: TrainError) -> ServeError {
    match error {
        TrainError::Cancelled { .. } => ServeError::Cancelled,
        TrainError::Diverged { .. } => ServeError::training("training_diverged", error),
        TrainError::NeedsTimes { .. } => ServeError::training("needs_time_column", error),
        TrainError::WorkTooLarge { .. } => ServeError::training("knn_work_too_large", error),
        other => ServeError::training("invalid_params", other),
    }
}

impl Registry {
    /// A runner took `key` from the queue.
    pub(crate) fn run_queued(&self, key: Key3) {
        let (tenant, name, version) = key.clone();
        let cancel = match self.live.lock().get(&key) {
            Some(live) => live.cancel.clone(),
            None => Arc::new(AtomicBool::new(false)),
        };
        let queued = self
            .manifest(&tenant, &name, version)
            .map(|m| m.state == ModelState::Queued)
            .unwrap_or(false);
        if !queued || cancel.load(Ordering::SeqCst) {
            // Cancelled while it waited (or gone).
            if queued {
                let _ = self.update_manifest(&tenant, &name, version, |m| {
                    m.state = ModelState::Cancelled;
                    m.error = Some("cancelled".into());
                    m.finished_at = Some(now_rfc3339());
                });
            }
            self.live.lock().remove(&key);
            return;
        }
        if let Err(error) = self.execute(&key, &cancel) {
            tracing::warn!(
                tenant,
                model = name,
                version,
                code = error.code(),
                "training job ended without a model"
            );
        }
    }

    /// Runs a queued version to ready, failed or cancelled. Also what a retrain after an
    /// erasure runs (on the ledger's worker).
    pub(crate) fn execute(&self, key: &Key3, cancel: &Arc<AtomicBool>) -> Result<(), ServeError> {
        let (tenant, name, version) = (key.0.as_str(), key.1.as_str(), key.2);
        {
            let mut live = self.live.lock();
            let entry = live.entry(key.clone()).or_insert_with(|| Live {
                cancel: cancel.clone(),
                progress: Progress::default(),
                started: false,
                generation: None,
            });
            entry.started = true;
            entry.progress.phase = "loading".into();
        }
        // The entry goes when this returns, however it returns: a job the ledger waits for
        // must not outlive its run.
        let _live = LiveEntry {
            registry: self,
            key,
        };
        let started = Instant::now();
        // The attempt is on disk before anything is read.
        let mut manifest = self.update_manifest(tenant, name, version, |m| {
            m.state = ModelState::Training;
            m.attempts += 1;
            m.started_at = Some(now_rfc3339());
        })?;
        let run = RunEvent::with_input(
            tenant,
            &format!("models.{name}"),
            &format!(
                "datasets.{}/v{}",
                manifest.dataset.name, manifest.dataset.version
            ),
            &format!("models.{name}/v{version}"),
        );
        self.sink.emit(&run.start());
        let outcome = match std::panic::catch_unwind(AssertUnwindSafe(|| {
            self.fit(key, &mut manifest, cancel)
        })) {
            Ok(outcome) => outcome,
            Err(_) => Err(ServeError::training(
                "training_panicked",
                "the training job panicked; see the server log",
            )),
        };
        let duration_ms = started.elapsed().as_millis() as u64;
        let result = match outcome {
            Ok(()) => {
                manifest.state = ModelState::Ready;
                manifest.finished_at = Some(now_rfc3339());
                manifest.duration_ms = duration_ms;
                let written = {
                    let _serial = self.lock.lock();
                    self.write_manifest(tenant, &manifest)
                };
                match written {
                    Ok(()) => {
                        self.sink.emit(&run.complete_plain());
                        metrics::counter!("steward_models_trained_total", "algorithm" => manifest.algorithm.clone()).increment(1);
                        tracing::info!(
                            tenant,
                            model = name,
                            version,
                            ms = duration_ms,
                            users = manifest.users,
                            items = manifest.items,
                            "model trained"
                        );
                        Ok(())
                    }
                    Err(error) => Err(error),
                }
            }
            Err(error) => Err(error),
        };
        if let Err(error) = &result {
            let code = error.code();
            if let Ok(dir) = self.version_dir(tenant, name, version) {
                let _ = files::remove_version_files(&self.engine, tenant, &dir, name, version);
            }
            let cancelled = matches!(error, ServeError::Cancelled);
            let message = match error {
                // Our own sentences (never a value from the data).
                ServeError::Training { message, .. } => message.clone(),
                ServeError::OverBudget { .. } | ServeError::Lineage(_) | ServeError::Cancelled => {
                    error.to_string()
                }
                _ => "the job failed; see the server log".to_owned(),
            };
            if !cancelled {
                tracing::warn!(tenant, model = name, version, code, %error, "training failed");
                metrics::counter!("steward_model_trainings_failed_total", "code" => code)
                    .increment(1);
            }
            self.sink.emit(&run.fail(code));
            self.update_manifest(tenant, name, version, |m| {
                m.state = if cancelled {
                    ModelState::Cancelled
                } else {
                    ModelState::Failed
                };
                m.error = Some(code.to_owned());
                m.message = Some(message);
                m.file = None;
                m.finished_at = Some(now_rfc3339());
                m.duration_ms = duration_ms;
                m.metrics = manifest.metrics.clone();
            })?;
        }
        result
    }

    fn set_progress(&self, key: &Key3, progress: Progress) {
        if let Some(live) = self.live.lock().get_mut(key) {
            live.progress = progress;
        }
    }

    fn fit(
        &self,
        key: &Key3,
        manifest: &mut ModelManifest,
        cancel: &AtomicBool,
    ) -> Result<(), ServeError> {
        let (tenant, name, version) = (key.0.as_str(), key.1.as_str(), key.2);
        let visible: Vec<PrivacyClass> = manifest
            .visible_classes
            .iter()
            .filter_map(|c| PrivacyClass::ALL.into_iter().find(|k| k.as_str() == c))
            .collect();
        let guard = self.engine.read_guard(
            tenant,
            ReadAccess::declared(manifest.purpose.clone(), visible),
        )?;
        if let Some(live) = self.live.lock().get_mut(key) {
            live.generation = Some(guard.generation());
        }
        // Admitted again now: the data set may have been withdrawn since the job was accepted.
        let dataset =
            self.datasets
                .exportable(&guard, &manifest.dataset.name, manifest.dataset.version)?;
        manifest.dataset.content_sha256 = dataset.content_sha256.clone();
        manifest.dataset.generation = dataset.generation;
        let read_started = Instant::now();
        let batches =
            self.datasets
                .batches(&guard, &manifest.dataset.name, manifest.dataset.version)?;
        let loaded = crate::input::load(batches, &manifest.columns, self.config.matrix, cancel)?;
        manifest.timings.read_ms = read_started.elapsed().as_millis() as u64;
        manifest.timings.rows_read = loaded.rows + loaded.skipped;
        tracing::info!(
            tenant,
            model = name,
            version,
            rows = loaded.rows,
            skipped = loaded.skipped,
            users = loaded.users.len(),
            items = loaded.items.len(),
            "data set version read for training (rows with a null user, item, weight or time are skipped)"
        );
        let algorithm = steward_ml::Algorithm::from_name(&manifest.algorithm)
            .ok_or_else(|| ServeError::training("invalid_params", "unknown algorithm"))?;
        let params: Params = params_from_json(algorithm, &manifest.params)?;
        let matrix = &loaded.matrix;
        let shape = Shape {
            users: matrix.users(),
            items: matrix.items(),
            nnz: matrix.nnz() as u64,
            timed: matrix.has_times(),
        };
        let estimate = estimate_bytes(shape, &params, self.config.threads).peak_bytes();
        if estimate > self.config.memory_budget_bytes {
            return Err(ServeError::OverBudget {
                estimate_bytes: estimate,
                budget_bytes: self.config.memory_budget_bytes,
            });
        }
        let run = RunConfig {
            threads: self.config.threads,
            seed: manifest.seed,
        };
        let progress = |phase: &'static str| {
            move |p: steward_ml::Progress| {
                self.set_progress(
                    key,
                    Progress {
                        phase: phase.into(),
                        iteration: p.iteration,
                        iterations: p.iterations,
                        loss: p.loss.is_finite().then_some(p.loss),
                    },
                );
                if cancel.load(Ordering::SeqCst) {
                    Control::Stop
                } else {
                    Control::Continue
                }
            }
        };
        let evaluation_started = Instant::now();
        if let Some(evaluation) = manifest.evaluation.clone() {
            let halves = split(matrix, &evaluation.split())
                .map_err(|e| ServeError::training("invalid_evaluation", e))?;
            let model = train(
                &halves.train,
                &params,
                &run,
                &mut progress("evaluation_fit"),
            )
            .map_err(train_error)?;
            self.set_progress(
                key,
                Progress {
                    phase: "evaluating".into(),
                    ..Progress::default()
                },
            );
            *manifest = self
                .update_manifest(tenant, name, version, |m| m.state = ModelState::Evaluating)?
                .with_run(manifest);
            let config = EvalConfig {
                ks: evaluation.k.clone(),
                threads: self.config.threads,
                users_max: None,
                seed: evaluation.seed,
            };
            let result = evaluate_with_baseline(&model, &halves.train, &halves.test, &config)
                .map_err(|e| ServeError::training("evaluation_failed", e))?;
            drop(model);
            drop(halves);
            manifest.metrics = Some(MetricsDoc {
                split: serde_json::to_value(evaluation.split)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default(),
                holdout: evaluation.holdout,
                users_evaluated: result.model.users_evaluated,
                users_cold: result.model.users_cold,
                at: metrics_at(&result.model),
                baseline: metrics_at(&result.baseline),
            });
            let metrics = manifest.metrics.clone();
            manifest.timings.evaluation_ms = evaluation_started.elapsed().as_millis() as u64;
            let timings = manifest.timings.clone();
            *manifest = self
                .update_manifest(tenant, name, version, |m| {
                    m.state = ModelState::Training;
                    m.metrics = metrics;
                    m.timings = timings;
                })?
                .with_run(manifest);
        }
        if cancel.load(Ordering::SeqCst) {
            return Err(ServeError::Cancelled);
        }
        let fit_started = Instant::now();
        let model =
            train(matrix, &params, &run, &mut progress("final_fit")).map_err(train_error)?;
        manifest.timings.fit_ms = fit_started.elapsed().as_millis() as u64;
        let write_started = Instant::now();
        self.set_progress(
            key,
            Progress {
                phase: "writing".into(),
                ..Progress::default()
            },
        );
        let users = if algorithm.has_user_rows() {
            loaded.users
        } else {
            IdMap::new(0)
        };
        // The training section (format version 2): each user row's training items, which
        // serving excludes, and each item's user count, its popularity fallback.
        let file = ModelFile::new(model, users, loaded.items)
            .and_then(|file| file.with_training(matrix))
            .map_err(|e| ServeError::training("model_file", e))?;
        let bytes = file.to_bytes();
        let dir = self.version_dir(tenant, name, version)?;
        let file_name = files::file_name(1);
        let sha256 = files::write_model_file(
            &self.engine,
            tenant,
            &dir,
            name,
            version,
            &file_name,
            &bytes,
        )?;
        files::write_bitmap(&dir, &loaded.subjects)?;
        manifest.file = Some(file_name);
        manifest.bytes = bytes.len() as u64;
        manifest.sha256 = sha256;
        manifest.user_rows = file.users().len() as u64;
        manifest.users = loaded.subjects.len();
        manifest.items = file.items().len() as u64;
        manifest.interactions = matrix.nnz() as u64;
        manifest.timings.write_ms = write_started.elapsed().as_millis() as u64;
        Ok(())
    }
}

impl ModelManifest {
    /// This manifest (as written) with what the running job holds in memory only: the data set
    /// lineage it refreshed and its phase timings.
    fn with_run(mut self, run: &ModelManifest) -> ModelManifest {
        self.dataset = run.dataset.clone();
        self.timings = run.timings.clone();
        self
    }
}
