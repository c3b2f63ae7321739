//! Work over a list of tasks on `threads` scoped threads, results back in task order.
//!
//! Why this shape: results must not depend on the thread count. Tasks are fixed by the data
//! (blocks of rows, strata), never by the number of threads; threads only decide who runs a
//! task, pulling the next one from a shared queue (so a skewed block of heavy users does not
//! stall a static partition); and anything combined across tasks (a loss, a Gram matrix) is
//! combined by the caller in task order. Each thread builds its scratch once and reuses it for
//! every task it runs, so the hot loops never allocate.

use std::sync::Mutex;

/// Runs `work(scratch, task_index, task)` for every task and returns the results in task order.
/// With one thread (or one task) it runs inline, spawning nothing.
pub(crate) fn map_tasks<T, S, R>(tasks: Vec<T>, threads: usize, scratch: impl Fn() -> S + Sync, work: impl Fn(&mut S, usize, T) -> R + Sync) -> Vec<R>
where
    T: Send,
    R: Send,
{
    let count = tasks.len();
    let threads = threads.clamp(1, count.max(1));
    if threads == 1 {
        let mut s = scratch();
        return tasks.into_iter().enumerate().map(|(i, t)| work(&mut s, i, t)).collect();
    }
    let queue = Mutex::new(tasks.into_iter().enumerate());
    let mut done: Vec<(usize, R)> = Vec::with_capacity(count);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut s = scratch();
                    let mut out = Vec::new();
                    loop {
                        // A poisoned lock means another worker panicked; the scope re-raises it.
                        let next = match queue.lock() {
                            Ok(mut q) => q.next(),
                            Err(_) => None,
                        };
                        let Some((i, task)) = next else { break };
                        out.push((i, work(&mut s, i, task)));
                    }
                    out
                })
            })
            .collect();
        for handle in handles {
            match handle.join() {
                Ok(out) => done.extend(out),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
    });
    done.sort_unstable_by_key(|&(i, _)| i);
    done.into_iter().map(|(_, r)| r).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_come_back_in_task_order_at_any_thread_count() {
        for threads in [1, 2, 3, 8, 100] {
            let out = map_tasks((0..50u64).collect(), threads, Vec::<u64>::new, |s, i, t| {
                s.push(t);
                (i as u64) * 1000 + t
            });
            assert_eq!(out, (0..50).map(|t| t * 1001).collect::<Vec<_>>());
        }
        assert!(map_tasks(Vec::<u8>::new(), 4, || (), |_, _, t| t).is_empty());
    }
}
