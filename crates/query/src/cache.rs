//! Decoded row groups kept in memory for the next query: the clear JSON of events parsed
//! into typed columns is what dominates a scan, and segments never change (a rewrite makes a
//! new segment id), so a decoded row group stays right until its segment leaves the store.
//!
//! What is cached is the row group *before* the read path's rules (the subject, seq, time and
//! type columns ride along so tombstones, consent, retention and bounds are applied to every
//! hit), shaped by the view, the projection and the purpose's visible classes. Sealed fields
//! are never cached: a query that opens them decodes every time. Entries of segments that
//! left a tenant's snapshot are dropped at its next query (so purged rows do not linger), and
//! the whole is bounded by bytes, least recently used first out.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, OnceLock};

use datafusion::arrow::array::RecordBatch;
use parking_lot::Mutex;

#[derive(Clone, Debug, Hash, PartialEq, Eq)]
pub struct CacheKey {
    pub tenant: String,
    pub segment: u64,
    pub group: usize,
    /// View, projected columns with types, visible classes.
    pub shape: Arc<str>,
}

pub struct Decoded {
    /// subject, seq, time, type: what the rules read.
    pub rules: RecordBatch,
    /// The projected columns, every row of the row group.
    pub outputs: RecordBatch,
}

struct Inner {
    map: HashMap<CacheKey, (Arc<Decoded>, u64, usize)>,
    bytes: usize,
    tick: u64,
}

pub struct DecodedCache {
    inner: Mutex<Inner>,
    budget: usize,
}

/// Default budget; `STEWARD_QUERY_CACHE_MB` overrides it (0 turns the cache off).
pub const DEFAULT_BUDGET_MB: usize = 1024;

pub fn global() -> &'static DecodedCache {
    static CACHE: OnceLock<DecodedCache> = OnceLock::new();
    CACHE.get_or_init(|| {
        let mb = std::env::var("STEWARD_QUERY_CACHE_MB")
            .ok()
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or(DEFAULT_BUDGET_MB);
        DecodedCache::new(mb << 20)
    })
}

impl DecodedCache {
    pub fn new(budget: usize) -> DecodedCache {
        DecodedCache {
            inner: Mutex::new(Inner {
                map: HashMap::new(),
                bytes: 0,
                tick: 0,
            }),
            budget,
        }
    }

    pub fn enabled(&self) -> bool {
        self.budget > 0
    }

    pub fn get(&self, key: &CacheKey) -> Option<Arc<Decoded>> {
        let mut inner = self.inner.lock();
        inner.tick += 1;
        let tick = inner.tick;
        let hit = inner.map.get_mut(key).map(|entry| {
            entry.1 = tick;
            entry.0.clone()
        });
        metrics::counter!(if hit.is_some() {
            "steward_query_cache_hits_total"
        } else {
            "steward_query_cache_misses_total"
        })
        .increment(1);
        hit
    }

    pub fn insert(&self, key: CacheKey, decoded: Arc<Decoded>) {
        let size = decoded.rules.get_array_memory_size() + decoded.outputs.get_array_memory_size();
        if size > self.budget / 4 {
            return;
        }
        let mut inner = self.inner.lock();
        inner.tick += 1;
        let tick = inner.tick;
        if let Some((_, _, old)) = inner.map.insert(key, (decoded, tick, size)) {
            inner.bytes -= old;
        }
        inner.bytes += size;
        while inner.bytes > self.budget {
            let Some(oldest) = inner
                .map
                .iter()
                .min_by_key(|(_, (_, t, _))| *t)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            if let Some((_, _, freed)) = inner.map.remove(&oldest) {
                inner.bytes -= freed;
            }
        }
        metrics::gauge!("steward_query_cache_bytes").set(inner.bytes as f64);
    }

    /// Drops a tenant's entries of segments no longer in its store.
    pub fn retain_segments(&self, tenant: &str, live: &HashSet<u64>) {
        let mut inner = self.inner.lock();
        let mut freed = 0;
        inner.map.retain(|k, (_, _, size)| {
            let keep = k.tenant != tenant || live.contains(&k.segment);
            if !keep {
                freed += *size;
            }
            keep
        });
        inner.bytes -= freed;
    }

    pub fn bytes(&self) -> usize {
        self.inner.lock().bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Int64Array, RecordBatch};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};

    fn batch(n: i64) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![Field::new("x", DataType::Int64, false)]));
        RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from_iter_values(0..n))]).unwrap()
    }

    fn key(tenant: &str, segment: u64) -> CacheKey {
        CacheKey {
            tenant: tenant.into(),
            segment,
            group: 0,
            shape: Arc::from("v"),
        }
    }

    #[test]
    fn bounded_by_bytes_and_forgets_dropped_segments() {
        let one = Decoded {
            rules: batch(1000),
            outputs: batch(1000),
        };
        let size = one.rules.get_array_memory_size() * 2;
        let cache = DecodedCache::new(size * 4 + size / 2);
        for s in 0..6 {
            cache.insert(
                key("a", s),
                Arc::new(Decoded {
                    rules: batch(1000),
                    outputs: batch(1000),
                }),
            );
        }
        assert!(cache.bytes() <= size * 4 + size / 2);
        assert!(
            cache.get(&key("a", 0)).is_none() && cache.get(&key("a", 1)).is_none(),
            "the least recently used went first"
        );
        assert!(cache.get(&key("a", 4)).is_some() && cache.get(&key("a", 3)).is_some());
        cache.insert(key("b", 4), Arc::new(one));
        cache.retain_segments("a", &HashSet::from([3]));
        assert!(cache.get(&key("a", 4)).is_none() && cache.get(&key("a", 3)).is_some());
        assert!(cache.get(&key("b", 4)).is_some(), "other tenants untouched");
    }
}
