//! Memory of queries: each query draws on a pool of its own limit, and every query of the
//! process together on one pool of [`query_memory_total_bytes`], so four heavy queries at
//! once cannot take four times a query's limit past what the deployment allows.

use std::fmt;
use std::sync::{Arc, OnceLock};

use datafusion::common::{DataFusionError, Result};
use datafusion::execution::memory_pool::{
    GreedyMemoryPool, MemoryLimit, MemoryPool, MemoryReservation,
};

use crate::limits::QUERY_MEMORY_TOTAL_BYTES_DEFAULT;

/// The prefix of the error when every query together is at the total: the query is not
/// itself too big, so it may be retried (503, not 422).
pub const TOTAL_EXHAUSTED_PREFIX: &str = "query_memory_total";

/// Bytes all queries of the process may hold at once: `STEWARD_QUERY_MEMORY_TOTAL_MB`, or
/// [`QUERY_MEMORY_TOTAL_BYTES_DEFAULT`].
pub fn query_memory_total_bytes() -> usize {
    total().1
}

fn total() -> &'static (Arc<GreedyMemoryPool>, usize) {
    static TOTAL: OnceLock<(Arc<GreedyMemoryPool>, usize)> = OnceLock::new();
    TOTAL.get_or_init(|| {
        let bytes = std::env::var("STEWARD_QUERY_MEMORY_TOTAL_MB")
            .ok()
            .and_then(|v| v.parse::<usize>().ok())
            .filter(|mb| *mb > 0)
            .map_or(QUERY_MEMORY_TOTAL_BYTES_DEFAULT, |mb| {
                mb.saturating_mul(1 << 20)
            });
        (Arc::new(GreedyMemoryPool::new(bytes)), bytes)
    })
}

/// One query's pool: its own limit, and the process-wide total behind it.
#[derive(Debug)]
pub struct QueryMemory {
    query: GreedyMemoryPool,
    total: Arc<GreedyMemoryPool>,
}

impl QueryMemory {
    pub fn new(limit_bytes: usize) -> QueryMemory {
        QueryMemory {
            query: GreedyMemoryPool::new(limit_bytes),
            total: total().0.clone(),
        }
    }
}

impl fmt::Display for QueryMemory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "steward query memory ({} of {} bytes reserved)",
            self.query.reserved(),
            self.total.reserved()
        )
    }
}

impl MemoryPool for QueryMemory {
    fn name(&self) -> &str {
        "steward-query"
    }

    fn grow(&self, reservation: &MemoryReservation, additional: usize) {
        self.query.grow(reservation, additional);
        self.total.grow(reservation, additional);
    }

    fn shrink(&self, reservation: &MemoryReservation, shrink: usize) {
        self.query.shrink(reservation, shrink);
        self.total.shrink(reservation, shrink);
    }

    fn try_grow(&self, reservation: &MemoryReservation, additional: usize) -> Result<()> {
        self.query.try_grow(reservation, additional)?;
        if self.total.try_grow(reservation, additional).is_err() {
            self.query.shrink(reservation, additional);
            return Err(DataFusionError::ResourcesExhausted(format!(
                "{TOTAL_EXHAUSTED_PREFIX}: the queries running now hold the deployment's query memory of {} bytes; retry later",
                total().1
            )));
        }
        Ok(())
    }

    fn reserved(&self) -> usize {
        self.query.reserved()
    }

    fn memory_limit(&self) -> MemoryLimit {
        self.query.memory_limit()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::execution::memory_pool::MemoryConsumer;

    #[test]
    fn queries_together_stay_within_the_total() {
        let total = query_memory_total_bytes();
        let (a, b): (Arc<dyn MemoryPool>, Arc<dyn MemoryPool>) = (
            Arc::new(QueryMemory::new(total)),
            Arc::new(QueryMemory::new(total)),
        );
        let first = MemoryConsumer::new("a").register(&a);
        first.try_grow(total / 4 * 3).expect("within both limits");
        let second = MemoryConsumer::new("b").register(&b);
        let refused = second.try_grow(total / 2).expect_err("past the total");
        assert!(
            refused.to_string().contains(TOTAL_EXHAUSTED_PREFIX),
            "{refused}"
        );
        assert_eq!(
            b.reserved(),
            0,
            "a refused grow leaves the query's own pool as it was"
        );
        drop(first);
        second
            .try_grow(total / 2)
            .expect("room once the other query is done");
    }
}
