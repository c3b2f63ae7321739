//! Work over a list of tasks on `threads` scoped threads, results back in task order; and the
//! stratified schedule of BPR as a dataflow ([`map_wavefront`]).
//!
//! Why this shape: results must not depend on the thread count. Tasks are fixed by the data
//! (blocks of rows, strata), never by the number of threads; threads only decide who runs a
//! task, pulling the next one from a shared queue (so a skewed block of heavy users does not
//! stall a static partition); and anything combined across tasks (a loss, a Gram matrix) is
//! combined by the caller in task order. Each thread builds its scratch once and reuses it for
//! every task it runs, so the hot loops never allocate.

use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::{Condvar, Mutex};

/// Runs `work(scratch, task_index, task)` for every task and returns the results in task order.
/// With one thread (or one task) it runs inline, spawning nothing.
pub(crate) fn map_tasks<T, S, R>(
    tasks: Vec<T>,
    threads: usize,
    scratch: impl Fn() -> S + Sync,
    work: impl Fn(&mut S, usize, T) -> R + Sync,
) -> Vec<R>
where
    T: Send,
    R: Send,
{
    let count = tasks.len();
    let threads = threads.clamp(1, count.max(1));
    if threads == 1 {
        let mut s = scratch();
        return tasks
            .into_iter()
            .enumerate()
            .map(|(i, t)| work(&mut s, i, t))
            .collect();
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

/// The dependency state of [`map_wavefront`]: tasks whose inputs are ready, how many inputs
/// each other task still waits for, how many are done, and whether a worker panicked.
struct Wave {
    ready: VecDeque<usize>,
    waiting: Vec<u8>,
    done: usize,
    aborted: bool,
}

/// Runs `work(shard, sub)` for the `s × s` tasks of a stratified schedule and returns the results
/// in (sub, shard) order, each task starting as soon as the two it depends on are done rather than
/// at a barrier after each of the `s` rounds.
///
/// Task (a, k) reads and writes shard a and block (a + k) mod s. The task before it on shard a is
/// (a, k − 1); the one before it on its block is (a + 1 mod s, k − 1). Waiting for exactly those
/// two gives every shard and block the same sequence of updates as running round after round, so
/// the results are the same bits whatever the thread count and timing; but a thread that the OS
/// pauses (two cores shared with other work) holds up only what depends on its task, not a whole
/// round. With one thread (or `s == 1`) it runs the tasks inline, round by round.
pub(crate) fn map_wavefront<R: Send>(
    s: usize,
    threads: usize,
    work: impl Fn(usize, usize) -> R + Sync,
) -> Vec<R> {
    let total = s * s;
    if threads <= 1 || s <= 1 {
        return (0..total).map(|index| work(index % s, index / s)).collect();
    }
    let mut waiting = vec![2u8; total];
    waiting[..s].fill(0);
    let wave = Mutex::new(Wave {
        ready: (0..s).collect(),
        waiting,
        done: 0,
        aborted: false,
    });
    let wake = Condvar::new();
    let mut done: Vec<(usize, R)> = Vec::with_capacity(total);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads.min(s))
            .map(|_| {
                scope.spawn(|| {
                    let mut out = Vec::new();
                    loop {
                        // A poisoned lock cannot happen (no code panics while holding it); treat it as an abort.
                        let Ok(mut w) = wave.lock() else { break };
                        let index = loop {
                            if w.aborted {
                                break None;
                            }
                            if let Some(index) = w.ready.pop_front() {
                                break Some(index);
                            }
                            if w.done == total {
                                break None;
                            }
                            match wake.wait(w) {
                                Ok(next) => w = next,
                                Err(_) => return out,
                            }
                        };
                        drop(w);
                        let Some(index) = index else { break };
                        let (shard, sub) = (index % s, index / s);
                        let result = catch_unwind(AssertUnwindSafe(|| work(shard, sub)));
                        let Ok(mut w) = wave.lock() else { break };
                        match result {
                            Ok(r) => out.push((index, r)),
                            Err(panic) => {
                                // Let the others stop instead of waiting for this task forever.
                                w.aborted = true;
                                drop(w);
                                wake.notify_all();
                                resume_unwind(panic);
                            }
                        }
                        w.done += 1;
                        if sub + 1 < s {
                            for next in [shard, (shard + s - 1) % s] {
                                let i = (sub + 1) * s + next;
                                w.waiting[i] -= 1;
                                if w.waiting[i] == 0 {
                                    w.ready.push_back(i);
                                }
                            }
                        }
                        drop(w);
                        wake.notify_all();
                    }
                    out
                })
            })
            .collect();
        for handle in handles {
            match handle.join() {
                Ok(out) => done.extend(out),
                Err(panic) => resume_unwind(panic),
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

    /// Each shard and block keeps a log of the tasks that touched it; every thread count must
    /// give the logs of running round after round.
    #[test]
    fn the_wavefront_gives_each_shard_and_block_the_round_order() {
        for s in [1, 2, 3, 5, 16] {
            let logs = |threads: usize| {
                let shards: Vec<Mutex<Vec<usize>>> =
                    (0..s).map(|_| Mutex::new(Vec::new())).collect();
                let blocks: Vec<Mutex<Vec<usize>>> =
                    (0..s).map(|_| Mutex::new(Vec::new())).collect();
                let out = map_wavefront(s, threads, |shard, sub| {
                    let block = (shard + sub) % s;
                    let (mut a, mut b) = (
                        shards[shard].try_lock().expect("shard in use twice"),
                        blocks[block].try_lock().expect("block in use twice"),
                    );
                    std::thread::yield_now();
                    a.push(sub * s + shard);
                    b.push(sub * s + shard);
                    sub * 100 + shard
                });
                assert_eq!(
                    out,
                    (0..s * s)
                        .map(|i| (i / s) * 100 + i % s)
                        .collect::<Vec<_>>()
                );
                let inner = |v: Vec<Mutex<Vec<usize>>>| {
                    v.into_iter()
                        .map(|m| m.into_inner().unwrap())
                        .collect::<Vec<_>>()
                };
                (inner(shards), inner(blocks))
            };
            let serial = logs(1);
            for threads in [2, 3, 8] {
                assert_eq!(logs(threads), serial, "s={s} threads={threads}");
            }
        }
    }

    #[test]
    fn a_panicking_wavefront_task_stops_the_others() {
        let outcome = std::panic::catch_unwind(|| {
            map_wavefront(4, 3, |shard, sub| {
                assert!(!(shard == 1 && sub == 1), "task fails")
            })
        });
        assert!(outcome.is_err());
    }
}
