//! The simulated world on madsim: hosts, clocks, network, faults and the event trace.

pub mod clock;
pub mod ensemble;
pub mod fault;
pub mod history;
pub mod nemesis;
pub mod net;
pub mod standard_world;
pub mod topology;
pub mod trace;
pub mod workload;
pub mod world;

use std::future::Future;

/// Runs `main` as the supervisor of a fresh simulation seeded with `seed`: same seed, same run.
pub fn run_seeded<F, Fut>(seed: u64, main: F) -> Fut::Output
where
    F: FnOnce() -> Fut,
    Fut: Future,
{
    let runtime = madsim::runtime::Runtime::with_seed_and_config(seed, madsim::Config::default());
    runtime.block_on(main())
}

/// Like [`run_seeded`], but a run whose simulated time passes `limit` panics with "time limit
/// exceeded" (a hang: something keeps the world busy forever).
pub fn run_seeded_with_limit<F, Fut>(seed: u64, limit: std::time::Duration, main: F) -> Fut::Output
where
    F: FnOnce() -> Fut,
    Fut: Future,
{
    let mut runtime =
        madsim::runtime::Runtime::with_seed_and_config(seed, madsim::Config::default());
    runtime.set_time_limit(limit);
    runtime.block_on(main())
}
