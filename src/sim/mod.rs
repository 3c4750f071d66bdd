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
