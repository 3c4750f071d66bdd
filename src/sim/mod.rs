//! The simulated world on madsim: hosts, clocks, network, faults and the event trace.

pub(crate) mod alarm;
pub mod clock;
pub mod deployment;
pub mod ensemble;
pub mod fault;
pub mod history;
pub(crate) mod inbox;
pub mod nemesis;
pub mod net;
pub mod standard_world;
pub mod topology;
pub mod trace;
pub mod workload;
pub mod world;

use std::future::Future;

/// Runs `main` as the supervisor of a fresh simulation seeded with `seed`: same seed, same run.
///
/// Each simulation runs on a thread of its own, started for it, so thread-local state outside
/// madsim's control (std's per-thread hash keys, lazily seeded caches) is created inside the
/// simulation, from the seed, instead of carrying over from an earlier run on the same thread.
/// Process-wide state cannot be reset this way: that is why simulated code uses
/// `crate::sync::watch` rather than tokio's (whose wake order comes from a process-wide RNG).
pub fn run_seeded<F, Fut>(seed: u64, main: F) -> Fut::Output
where
    F: FnOnce() -> Fut + Send,
    Fut: Future,
    Fut::Output: Send,
{
    run_on_fresh_thread(seed, None, main)
}

/// Like [`run_seeded`], but a run whose simulated time passes `limit` panics with "time limit
/// exceeded" (a hang: something keeps the world busy forever).
pub fn run_seeded_with_limit<F, Fut>(seed: u64, limit: std::time::Duration, main: F) -> Fut::Output
where
    F: FnOnce() -> Fut + Send,
    Fut: Future,
    Fut::Output: Send,
{
    run_on_fresh_thread(seed, Some(limit), main)
}

fn run_on_fresh_thread<F, Fut>(
    seed: u64,
    limit: Option<std::time::Duration>,
    main: F,
) -> Fut::Output
where
    F: FnOnce() -> Fut + Send,
    Fut: Future,
    Fut::Output: Send,
{
    std::thread::scope(|scope| {
        let run = scope.spawn(move || {
            let mut runtime =
                madsim::runtime::Runtime::with_seed_and_config(seed, madsim::Config::default());
            if let Some(limit) = limit {
                runtime.set_time_limit(limit);
            }
            runtime.block_on(main())
        });
        run.join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}
