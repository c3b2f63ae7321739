//! Retention in the background: every `retention_check_interval_ms`, each tenant whose
//! schemas set a retention has its expired rows removed from disk (reads already skip them),
//! its derived artifacts that hold expired rows redone (through the ledger), and
//! `steward_retention_oldest_overdue_seconds` says how late the oldest one was found.

use std::sync::atomic::Ordering;

use crate::Engine;

impl Engine {
    /// Runs a retention pass when one is due. Returns the rows removed.
    pub fn enforce_retention(&self, force: bool) -> u64 {
        let now_us = chrono::Utc::now().timestamp_micros();
        let last = self.last_retention_us.load(Ordering::SeqCst);
        let interval_us = i64::try_from(self.config.retention_check_interval_ms)
            .unwrap_or(i64::MAX / 1000)
            .saturating_mul(1000);
        if !force && now_us.saturating_sub(last) < interval_us {
            return 0;
        }
        self.last_retention_us.store(now_us, Ordering::SeqCst);
        let mut removed = 0;
        for tenant in self.tenant_list() {
            let shortest = tenant
                .latest_schemas()
                .iter()
                .filter_map(|s| s.schema.retention_seconds())
                .min();
            let Some(shortest) = shortest else { continue };
            // Derived artifacts holding expired rows are redone by their kinds, on the ledger's
            // workers (not durable: every pass asks again).
            let kinds: Vec<String> = self
                .registered_kinds()
                .iter()
                .map(|k| k.name().to_owned())
                .collect();
            if !kinds.is_empty() {
                tenant.ledger_state().set_retention_due(&kinds);
                self.ledger_notify();
            }
            let ttl = |event_type: &str| tenant.retention_s(event_type);
            match tenant.partition().expire(&ttl, shortest, now_us) {
                Ok(expired) => {
                    removed += expired.rows_removed;
                    metrics::gauge!("steward_retention_oldest_overdue_seconds", "tenant" => tenant.id().to_owned()).set(expired.oldest_overdue_s as f64);
                    if expired.rows_removed > 0 {
                        tracing::info!(
                            tenant = tenant.id(),
                            rows = expired.rows_removed,
                            segments = expired.segments_rewritten,
                            overdue_s = expired.oldest_overdue_s,
                            "expired rows removed"
                        );
                    }
                }
                Err(error) => {
                    tracing::error!(tenant = tenant.id(), %error, "retention pass failed; retried at the next interval")
                }
            }
        }
        removed
    }
}
