//! Catching up on what the follower could not read when it passed: the events of a subject
//! whose consent refused the index's purpose then and grants it now, or of every subject after
//! a purpose's consent regime changed. The follower reads through the guard, so it skipped them;
//! its watermark moved on. A backfill reads the source again from the start up to the
//! watermark through a guard of the index's purpose (so only what that purpose may read now),
//! for the named subjects only when there are some, and embeds the events the index does not
//! hold yet. Once per index after each start as well (a grant seen just before a crash is not
//! lost), which costs a scan of the source and embeds nothing when nothing is missing.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;

use steward_crypto::Pseudonym;

use super::{IndexSource, Indexes, Live, embed, event_doc};
use crate::ServeError;
use crate::limits::{BACKFILL_SUBJECTS_MAX, INDEX_FOLLOW_PAGE};

/// Who to catch up on for one purpose of one tenant.
#[derive(Clone, Debug, Default)]
pub(crate) struct Pending {
    /// `None`: every subject (a regime change, a start).
    pub subjects: Option<HashSet<Pseudonym>>,
}

impl Pending {
    fn merge(&mut self, subjects: Option<Vec<Pseudonym>>) {
        match (&mut self.subjects, subjects) {
            (Some(have), Some(more)) => {
                have.extend(more);
                if have.len() > BACKFILL_SUBJECTS_MAX {
                    // Past the bound, one scan for everyone is cheaper than a long list.
                    self.subjects = None;
                }
            }
            (slot, None) => *slot = None,
            (None, Some(_)) => {}
        }
    }
}

/// (tenant, purpose) → who.
pub(crate) type PendingMap = HashMap<(String, String), Pending>;

impl Indexes {
    /// The subjects now grant `purpose`: their events the follower skipped are indexed at its
    /// next pass. Called after the consent commit.
    pub fn consent_granted(&self, tenant: &str, purpose: &str, subjects: Vec<Pseudonym>) {
        if subjects.is_empty() {
            return;
        }
        self.pending
            .lock()
            .entry((tenant.to_owned(), purpose.to_owned()))
            .or_insert_with(|| Pending {
                subjects: Some(HashSet::new()),
            })
            .merge(Some(subjects));
    }

    /// A purpose's consent regime changed: every subject it admits now is caught up on.
    pub fn regime_changed(&self, tenant: &str, purpose: &str) {
        self.pending
            .lock()
            .entry((tenant.to_owned(), purpose.to_owned()))
            .or_default()
            .merge(None);
    }

    /// Runs the pending backfills of events indexes (the follower's pass).
    pub(crate) fn run_backfills(&self) {
        let pending: PendingMap = std::mem::take(&mut *self.pending.lock());
        for ((tenant, purpose), who) in pending {
            let Ok(all) = self.tenant_indexes(&tenant) else {
                continue;
            };
            for live in all.iter().filter(|l| l.def.purpose == purpose) {
                if let Err(e) = self.backfill(&tenant, live, who.subjects.as_ref()) {
                    tracing::warn!(tenant = %tenant, index = %live.def.name, code = e.code(), error = %e, "index backfill");
                    // Tried again at the next pass.
                    let mut again = self.pending.lock();
                    again
                        .entry((tenant.clone(), purpose.clone()))
                        .or_insert_with(|| Pending {
                            subjects: Some(HashSet::new()),
                        })
                        .merge(who.subjects.clone().map(|s| s.into_iter().collect()));
                }
            }
        }
    }

    /// Indexes the admitted events of the source up to the watermark that the index lacks.
    /// Returns the documents added.
    pub(crate) fn backfill(
        &self,
        tenant: &str,
        live: &Live,
        subjects: Option<&HashSet<Pseudonym>>,
    ) -> Result<usize, ServeError> {
        let IndexSource::Events { event_type, field } = &live.def.source else {
            return Ok(0);
        };
        let _write = live.write.lock();
        if live.dropped.load(Ordering::SeqCst) {
            return Ok(0);
        }
        let upto = live.state.read().watermark;
        if upto == 0 {
            return Ok(0);
        }
        let guard = self
            .engine
            .read_guard(tenant, Self::follower_access(&live.def))?;
        // What the index holds already is skipped before it is decoded.
        let held: HashSet<u64> = live.state.read().docs.values().map(|d| d.seq).collect();
        let pick = |subject: &Pseudonym, seq: u64| {
            !held.contains(&seq) && subjects.is_none_or(|s| s.contains(subject))
        };
        let mut after = 0;
        let mut added = 0;
        loop {
            let page =
                guard.events_since_where(event_type, after, upto, INDEX_FOLLOW_PAGE, &pick)?;
            let mut docs = Vec::new();
            let mut texts = Vec::new();
            {
                let state = live.state.read();
                for e in &page.events {
                    if state.by_key.contains_key(&e.event_id) {
                        continue;
                    }
                    if let Some((doc, text)) = event_doc(e, field) {
                        docs.push(doc);
                        texts.push(text);
                    }
                }
            }
            if !docs.is_empty() {
                let vectors = embed(self.embedder()?, texts)?;
                let mut state = live.state.write();
                for (doc, vector) in docs.into_iter().zip(vectors) {
                    state.upsert(doc, &vector)?;
                    added += 1;
                }
                state.changed = true;
            }
            match (page.more, page.events.last()) {
                (true, Some(last)) => after = last.seq,
                _ => break,
            }
        }
        if added > 0 {
            metrics::counter!("steward_index_documents_backfilled_total").increment(added as u64);
            tracing::info!(tenant, index = %live.def.name, added, "index caught up on events it could not read before");
        }
        Ok(added)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(n: u8) -> Pseudonym {
        Pseudonym::from_bytes([n; 32])
    }

    #[test]
    fn pending_subjects_merge_and_widen_to_everyone() {
        let mut pending = Pending {
            subjects: Some(HashSet::new()),
        };
        pending.merge(Some(vec![p(1), p(2)]));
        pending.merge(Some(vec![p(2), p(3)]));
        assert_eq!(pending.subjects.as_ref().map(|s| s.len()), Some(3));
        pending.merge(None);
        assert!(pending.subjects.is_none());
        // everyone stays everyone
        pending.merge(Some(vec![p(4)]));
        assert!(pending.subjects.is_none());
        let mut many = Pending {
            subjects: Some(HashSet::new()),
        };
        let list: Vec<Pseudonym> = (0..=BACKFILL_SUBJECTS_MAX)
            .map(|i| {
                let mut b = [0u8; 32];
                b[..8].copy_from_slice(&(i as u64).to_le_bytes());
                Pseudonym::from_bytes(b)
            })
            .collect();
        many.merge(Some(list));
        assert!(many.subjects.is_none(), "over the bound: one scan for all");
    }
}
