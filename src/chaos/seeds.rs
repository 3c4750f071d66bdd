//! Runs many seeds over all cores: each seed is one independent simulation on a worker thread
//! (a madsim runtime is per thread), results come back to the caller's thread as they finish.
//! A panic or a hang inside a seed is a finding of that seed, never an abort of the run; a stop
//! request lets running seeds finish and starts no new ones.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

/// Why a seed produced no result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Crash {
    /// The code under test (or the simulator) panicked.
    Panic(String),
    /// Simulated time ran past the limit: the world never settled.
    Hang(String),
}

/// One seed's run.
#[derive(Debug)]
pub struct SeedRun<T> {
    pub seed: u64,
    /// Wall-clock time the seed took.
    pub wall: Duration,
    pub result: Result<T, Crash>,
}

impl Crash {
    /// What a caught panic means: a hang when the simulation's time limit ended it.
    pub fn from_panic(payload: &(dyn std::any::Any + Send)) -> Self {
        let message = panic_message(payload);
        if message.contains("time limit exceeded") {
            Crash::Hang(message)
        } else {
            Crash::Panic(message)
        }
    }
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic with a non-text payload".to_string()
    }
}

/// Runs `work` for every seed on `jobs` threads. `on_done` sees each run as it finishes, on the
/// calling thread. Returns the runs sorted by seed. (Panics inside `work` still reach the panic
/// hook; a command that wants a quiet progress line installs a silent hook around the call.)
pub fn run_seeds<T, W, D>(
    seeds: Vec<u64>,
    jobs: usize,
    stop: &AtomicBool,
    work: W,
    mut on_done: D,
) -> Vec<SeedRun<T>>
where
    T: Send + 'static,
    W: Fn(u64) -> T + Send + Sync + 'static,
    D: FnMut(&SeedRun<T>),
{
    let seeds = Arc::new(seeds);
    let next = Arc::new(AtomicUsize::new(0));
    let work = Arc::new(work);
    let (sender, receiver) = mpsc::channel();
    let mut runs = Vec::with_capacity(seeds.len());
    std::thread::scope(|scope| {
        for _ in 0..jobs.max(1) {
            let (seeds, next, work, sender) =
                (seeds.clone(), next.clone(), work.clone(), sender.clone());
            scope.spawn(move || {
                loop {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(&seed) = seeds.get(i) else { break };
                    let started = Instant::now();
                    let result = catch_unwind(AssertUnwindSafe(|| work(seed)))
                        .map_err(|payload| Crash::from_panic(payload.as_ref()));
                    if sender
                        .send(SeedRun {
                            seed,
                            wall: started.elapsed(),
                            result,
                        })
                        .is_err()
                    {
                        break;
                    }
                }
            });
        }
        drop(sender);
        for run in receiver {
            on_done(&run);
            runs.push(run);
        }
    });
    runs.sort_by_key(|r| r.seed);
    runs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_seed_runs_once_and_results_come_back_sorted() {
        let stop = AtomicBool::new(false);
        let mut seen = 0;
        let runs = run_seeds(
            (0..40).rev().collect(),
            3,
            &stop,
            |seed| seed * 2,
            |_| seen += 1,
        );
        assert_eq!(seen, 40);
        let seeds: Vec<u64> = runs.iter().map(|r| r.seed).collect();
        assert_eq!(seeds, (0..40).collect::<Vec<_>>());
        assert!(runs.iter().all(|r| r.result == Ok(r.seed * 2)));
    }

    #[test]
    fn panics_and_hangs_are_findings_not_aborts() {
        let stop = AtomicBool::new(false);
        let runs = run_seeds(
            vec![1, 2, 3],
            2,
            &stop,
            |seed| match seed {
                2 => panic!("boom in seed 2"),
                3 => crate::sim::run_seeded_with_limit(seed, Duration::from_secs(5), || async {
                    loop {
                        madsim::time::sleep(Duration::from_secs(1)).await;
                    }
                }),
                _ => (),
            },
            |_| {},
        );
        assert_eq!(runs[0].result, Ok(()));
        assert_eq!(runs[1].result, Err(Crash::Panic("boom in seed 2".into())));
        assert!(matches!(&runs[2].result, Err(Crash::Hang(m)) if m.contains("time limit")));
    }

    #[test]
    fn a_stop_request_starts_no_new_seeds() {
        let stop = AtomicBool::new(false);
        let mut done = 0;
        let slow = |seed| {
            std::thread::sleep(Duration::from_millis(2));
            seed
        };
        let runs = run_seeds((0..1000).collect(), 1, &stop, slow, |_| {
            done += 1;
            if done == 5 {
                stop.store(true, Ordering::SeqCst);
            }
        });
        assert!(runs.len() < 1000, "stopped early ({} runs)", runs.len());
        assert!(runs.len() >= 5);
    }
}
