//! End-to-end tests of the server in a simulated world, through the raw client protocol.

mod clients;
mod quorum;
mod sessions;

use std::time::Duration;

pub(super) fn sim<F: std::future::Future<Output = ()>>(seed: u64, f: impl FnOnce() -> F + Send) {
    crate::sim::run_seeded(seed, f);
}

pub(super) fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// True time of the first kept trace line on `host` whose text contains `needle`.
pub(super) fn trace_time(
    lines: &[crate::sim::trace::TraceLine],
    host: &str,
    needle: &str,
) -> Option<Duration> {
    lines
        .iter()
        .find(|l| l.host == host && l.text.contains(needle))
        .map(|l| l.at)
}
