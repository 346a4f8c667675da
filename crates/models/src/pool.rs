//! Independent jobs on a few threads, results in job order.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Runs `job(i)` for every `i < jobs`, `workers` at a time on scoped threads, and returns the
/// results in job order. After the first error no further job starts; the jobs that never ran
/// are `None`. Each job must be seeded on its own, so results do not depend on `workers`.
pub fn run_in_order<T: Send, E: Send>(
    jobs: usize,
    workers: usize,
    job: impl Fn(usize) -> Result<T, E> + Sync,
) -> Vec<Option<Result<T, E>>> {
    let workers = workers.clamp(1, jobs.max(1));
    if workers == 1 {
        // On the calling thread: no thread to start, and the same order of work.
        let mut results: Vec<Option<Result<T, E>>> = Vec::with_capacity(jobs);
        for i in 0..jobs {
            let result = job(i);
            let failed = result.is_err();
            results.push(Some(result));
            if failed {
                results.resize_with(jobs, || None);
                break;
            }
        }
        return results;
    }
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let slots: Vec<Mutex<Option<Result<T, E>>>> = (0..jobs).map(|_| Mutex::new(None)).collect();
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if i >= jobs || failed.load(Ordering::SeqCst) {
                        break;
                    }
                    let result = job(i);
                    if result.is_err() {
                        failed.store(true, Ordering::SeqCst);
                    }
                    *slots[i].lock().unwrap_or_else(|e| e.into_inner()) = Some(result);
                }
            });
        }
    });
    slots
        .into_iter()
        .map(|slot| slot.into_inner().unwrap_or_else(|e| e.into_inner()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::run_in_order;

    #[test]
    fn results_come_back_in_job_order_whatever_the_workers() {
        for workers in [1, 2, 5] {
            let out = run_in_order(7, workers, |i| Ok::<_, ()>(i * i));
            let values: Vec<usize> = out.into_iter().map(|r| r.unwrap().unwrap()).collect();
            assert_eq!(values, vec![0, 1, 4, 9, 16, 25, 36]);
        }
    }

    #[test]
    fn an_error_stops_the_jobs_not_yet_started() {
        let out = run_in_order(5, 1, |i| if i == 1 { Err(i) } else { Ok(i) });
        assert_eq!(out[0], Some(Ok(0)));
        assert_eq!(out[1], Some(Err(1)));
        assert!(out[2..].iter().all(Option::is_none));
    }
}
