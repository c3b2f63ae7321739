//! Connects the engine's erasure and opt-out to data sets. The engine calls the hook from
//! its own threads (never from an async task), so blocking on the runtime here is safe.

use std::collections::HashMap;
use std::sync::Arc;

use steward_crypto::Pseudonym;
use steward_engine::{DerivedArtifact, DerivedArtifacts};
use steward_lineage::Datasets;

pub(crate) struct LineageHook {
    pub datasets: Arc<Datasets>,
    pub handle: tokio::runtime::Handle,
}

impl DerivedArtifacts for LineageHook {
    fn erase(&self, tenant: &str, subjects: &[Pseudonym]) -> Result<HashMap<Pseudonym, Vec<DerivedArtifact>>, String> {
        self.handle.block_on(self.datasets.handle_erasure(tenant, subjects)).map_err(|e| e.to_string())
    }

    fn opted_out(&self, tenant: &str, subject: &Pseudonym, purpose: &str) {
        let (datasets, tenant, subject, purpose) = (self.datasets.clone(), tenant.to_owned(), *subject, purpose.to_owned());
        self.handle.spawn(async move {
            match datasets.handle_opt_out(&tenant, &subject, &purpose).await {
                Ok(done) if !done.is_empty() => tracing::info!(tenant, versions = done.len(), "opt-out: data set successors built"),
                Ok(_) => {}
                Err(error) => tracing::error!(tenant, %error, "opt-out: data set successors failed"),
            }
        });
    }
}

/// Background upkeep: resumes interrupted builds at start, then removes superseded files
/// whose grace period ended.
pub(crate) fn spawn_upkeep(datasets: Arc<Datasets>) {
    tokio::spawn(async move {
        let tenants = datasets.engine().list_tenants().unwrap_or_default();
        for tenant in &tenants {
            match datasets.resume(&tenant.id).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(tenant = tenant.id, builds = n, "resumed interrupted data set builds"),
                Err(error) => tracing::error!(tenant = tenant.id, %error, "could not resume data set builds"),
            }
        }
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(5));
        loop {
            tick.tick().await;
            for tenant in datasets.engine().list_tenants().unwrap_or_default() {
                let d = datasets.clone();
                let id = tenant.id.clone();
                if let Ok(Err(error)) = tokio::task::spawn_blocking(move || d.sweep(&id)).await {
                    tracing::warn!(tenant = tenant.id, %error, "data set sweep failed");
                }
            }
        }
    });
}
