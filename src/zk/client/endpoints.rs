//! Which server a client tries next, and how long it waits first.
//!
//! The two libraries differ: zookeeper-client 0.11.2 (`endpoint.rs`, `IterableEndpoints`)
//! reshuffles its list after every successful connect, tries the first pass without delay and
//! backs off on later passes; the Java client (`StaticHostProvider`, `ClientCnxn.startConnect`)
//! shuffles once, goes round-robin, sleeps 1 s when it comes back round to the server it last
//! connected to, and sleeps a random 0–1 s before every attempt but the first.

use crate::sim::net::Addr;
use std::time::Duration;

/// A small seeded generator (SplitMix64), so the session core stays deterministic and testable
/// outside a madsim runtime. The driver seeds it from madsim's RNG.
#[derive(Clone, Debug)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..bound` (`bound > 0`).
    pub fn below(&mut self, bound: u64) -> u64 {
        // Bias is below 2^-40 for the small bounds used here.
        self.next_u64() % bound
    }

    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            items.swap(i, j);
        }
    }

    fn millis_below(&mut self, bound_ms: u64) -> Duration {
        Duration::from_millis(self.below(bound_ms))
    }
}

/// zookeeper-client 0.11.2's `IterableEndpoints` in cycling mode (the default).
#[derive(Clone, Debug)]
pub struct RustEndpoints {
    servers: Vec<Addr>,
    next: usize,
    start: usize,
}

impl RustEndpoints {
    /// Shuffled, as `connect` does before its first attempt.
    pub fn new(servers: Vec<Addr>, rng: &mut SplitMix64) -> Self {
        let mut endpoints = RustEndpoints {
            servers,
            next: 0,
            start: 0,
        };
        endpoints.reset(rng);
        endpoints
    }

    /// After a successful connect: reshuffle and start over (the next reconnect may well pick
    /// the server just lost).
    pub fn reset(&mut self, rng: &mut SplitMix64) {
        self.next = 0;
        self.start = 0;
        rng.shuffle(&mut self.servers);
    }

    /// A new round of attempts starts where the previous one stopped.
    pub fn start_round(&mut self) {
        self.start = self.next;
    }

    /// The next server and the delay before trying it (the caller caps the delay at what is
    /// left before its deadline).
    pub fn next(&mut self, rng: &mut SplitMix64) -> (Addr, Duration) {
        let n = self.servers.len();
        let i = self.next - self.start;
        let (offset, cycles) = (i % n, i / n);
        self.next += 1;
        (self.servers[offset], Self::delay(offset, cycles, n, rng))
    }

    fn delay(offset: usize, cycles: usize, n: usize, rng: &mut SplitMix64) -> Duration {
        if cycles == 0 {
            return Duration::ZERO;
        }
        let unit = Duration::from_millis(100);
        if offset == 0 {
            let jitter = rng.millis_below(100);
            let base = Duration::from_millis(1000).min(unit * n as u32);
            let factor = 2u32.saturating_pow((cycles - 1).min(u32::MAX as usize) as u32);
            base.saturating_mul(factor).saturating_add(jitter)
        } else {
            let jitter = rng.millis_below(50);
            unit * offset as u32 / 2 + jitter
        }
    }
}

/// The Java client's `StaticHostProvider` plus `startConnect`'s random sleep.
#[derive(Clone, Debug)]
pub struct JavaHostProvider {
    servers: Vec<Addr>,
    current: Option<usize>,
    /// Index of the server last connected to; `None` before the first attempt.
    last: Option<usize>,
    first_attempt: bool,
}

/// `hostProvider.next(1000)`: the spin delay after a full pass.
const JAVA_SPIN_DELAY: Duration = Duration::from_millis(1000);

impl JavaHostProvider {
    pub fn new(mut servers: Vec<Addr>, rng: &mut SplitMix64) -> Self {
        rng.shuffle(&mut servers);
        JavaHostProvider {
            servers,
            current: None,
            last: None,
            first_attempt: true,
        }
    }

    /// The next server round-robin and the delay before connecting to it.
    pub fn next(&mut self, rng: &mut SplitMix64) -> (Addr, Duration) {
        let n = self.servers.len();
        let current = self.current.map_or(0, |c| (c + 1) % n);
        self.current = Some(current);
        let spin = if self.last == Some(current) {
            JAVA_SPIN_DELAY
        } else {
            Duration::ZERO
        };
        if self.last.is_none() {
            // The very first connect never sleeps; from then on index 0 counts as "last".
            self.last = Some(0);
        }
        let jitter = if self.first_attempt {
            Duration::ZERO
        } else {
            rng.millis_below(1000)
        };
        self.first_attempt = false;
        (self.servers[current], spin + jitter)
    }

    pub fn on_connected(&mut self) {
        self.last = self.current;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::net::HostId;

    fn addrs(n: u32) -> Vec<Addr> {
        (0..n)
            .map(|h| Addr {
                host: HostId(h),
                port: 2181,
            })
            .collect()
    }

    #[test]
    fn shuffle_is_a_permutation_and_seeded() {
        let mut a = addrs(7);
        let mut b = addrs(7);
        SplitMix64::new(9).shuffle(&mut a);
        SplitMix64::new(9).shuffle(&mut b);
        assert_eq!(a, b);
        let mut sorted = a.clone();
        sorted.sort();
        assert_eq!(sorted, addrs(7));
    }

    #[test]
    fn rust_first_pass_is_free_then_backs_off() {
        let mut rng = SplitMix64::new(1);
        let mut e = RustEndpoints::new(addrs(3), &mut rng);
        e.start_round();
        let first: Vec<_> = (0..3).map(|_| e.next(&mut rng)).collect();
        assert!(first.iter().all(|(_, d)| d.is_zero()));
        let mut seen: Vec<Addr> = first.iter().map(|(a, _)| *a).collect();
        seen.sort();
        assert_eq!(seen, addrs(3), "one pass visits every server once");
        // Second pass: offset 0 waits min(1 s, 100 ms·n)·2^0 + jitter(0..100 ms).
        let (_, d) = e.next(&mut rng);
        assert!(
            d >= Duration::from_millis(300) && d < Duration::from_millis(400),
            "{d:?}"
        );
        // Offset 1: 100 ms·1/2 + jitter(0..50 ms).
        let (_, d) = e.next(&mut rng);
        assert!(
            d >= Duration::from_millis(50) && d < Duration::from_millis(100),
            "{d:?}"
        );
        e.next(&mut rng);
        // Third pass offset 0 doubles.
        let (_, d) = e.next(&mut rng);
        assert!(
            d >= Duration::from_millis(600) && d < Duration::from_millis(700),
            "{d:?}"
        );
    }

    #[test]
    fn rust_new_round_restarts_at_the_head_of_the_list_without_delay() {
        let mut rng = SplitMix64::new(2);
        let mut e = RustEndpoints::new(addrs(3), &mut rng);
        e.start_round();
        let (a, _) = e.next(&mut rng);
        let (b, _) = e.next(&mut rng);
        assert_ne!(a, b);
        e.start_round();
        let (c, d) = e.next(&mut rng);
        assert_eq!(a, c, "offsets count from the round's start");
        assert!(d.is_zero());
    }

    #[test]
    fn java_round_robin_spins_when_back_at_the_last_server() {
        let mut rng = SplitMix64::new(3);
        let mut p = JavaHostProvider::new(addrs(3), &mut rng);
        let (s0, d0) = p.next(&mut rng);
        assert!(d0.is_zero(), "first attempt has no delay");
        p.on_connected();
        let (s1, d1) = p.next(&mut rng);
        let (s2, d2) = p.next(&mut rng);
        assert!(d1 < Duration::from_secs(1) && d2 < Duration::from_secs(1));
        let (s3, d3) = p.next(&mut rng);
        assert_eq!(s3, s0);
        assert!(
            d3 >= Duration::from_secs(1) && d3 < Duration::from_secs(2),
            "{d3:?}"
        );
        let mut seen = vec![s0, s1, s2];
        seen.sort();
        assert_eq!(seen, addrs(3));
    }
}
