//! When a chunk read from one side of a relay is delivered to the other.
//!
//! The model is the simulator's ([`crate::sim::net::NetState::delivery_time`]) applied to the
//! chunks a relay reads instead of packets:
//!
//! - **delay and jitter**: a chunk read at `t` is due at `t + delay + uniform(0..=jitter)`;
//! - **FIFO**: a chunk is never due before the chunk read before it on the same connection and
//!   direction (TCP delivers a stream in order), so jitter delays but never reorders;
//! - **loss**: TCP never loses bytes, a lost segment costs its sender a retransmission timeout
//!   (RTO). A chunk is "lost" with probability `loss` and then waits an extra RTO: 200 ms, the
//!   minimum RTO of Linux, as the simulator charges; each retransmission is lost again with the
//!   same probability and doubles the RTO (exponential backoff), at most
//!   [`MAX_RETRANSMISSIONS`] times. Everything behind a lost chunk waits for it (head-of-line
//!   blocking, as in TCP).
//!
//! What differs from the kernel: a relay's chunk is whatever one `read` returned, not a
//! segment, so a loss hits a read's worth of bytes; the RTO does not adapt to the measured
//! round trip (it is the floor a loopback-speed RTT gets anyway); and there is no congestion
//! window, so a loss does not slow the bytes after it beyond head-of-line blocking.
//!
//! The draws come from OS randomness (this is live code, never simulated: nothing here is
//! replayed from a seed).

use super::link::LinkState;
use std::time::Duration;
use tokio::time::Instant;

/// What one loss costs first: Linux's minimum retransmission timeout (`TCP_RTO_MIN`).
pub(crate) const MIN_RTO: Duration = Duration::from_millis(200);
/// Consecutive losses of one chunk charged at most (the simulator's cap).
pub(crate) const MAX_RETRANSMISSIONS: u32 = 8;
/// Linux's maximum retransmission timeout (`TCP_RTO_MAX`): the backoff stops doubling there.
const MAX_RTO: Duration = Duration::from_secs(120);

/// Delivery times of the chunks of one direction of one connection.
#[derive(Debug)]
pub(crate) struct Schedule {
    /// Due time of the last chunk scheduled: later ones never come before it.
    last: Option<Instant>,
    rng: Rng,
}

impl Schedule {
    pub(crate) fn new() -> Self {
        Schedule {
            last: None,
            rng: Rng::from_os(),
        }
    }

    /// When a chunk read at `now` over a link in `state` is due (cuts aside: the relay holds
    /// due chunks while the link is cut).
    pub(crate) fn due(&mut self, now: Instant, state: &LinkState) -> Instant {
        let mut delay = self.one_way(state);
        if state.loss > 0.0 {
            let mut rto = MIN_RTO;
            for _ in 0..MAX_RETRANSMISSIONS {
                if self.rng.unit() >= state.loss {
                    break;
                }
                delay += rto;
                rto = (rto * 2).min(MAX_RTO);
            }
        }
        self.after(now + delay)
    }

    /// The link healed at `now`: what it held is due no sooner than one (fresh) one-way trip
    /// later, as the sender's retransmission crosses the link. Returns that floor; chunks
    /// scheduled from now on come no sooner either.
    pub(crate) fn resume(&mut self, now: Instant, state: &LinkState) -> Instant {
        let floor = now + self.one_way(state);
        self.last = Some(self.last.map_or(floor, |last| last.max(floor)));
        floor
    }

    /// `delay` plus a uniform draw in `0..=jitter`.
    pub(crate) fn one_way(&mut self, state: &LinkState) -> Duration {
        let jitter = state.jitter.as_nanos().min(u128::from(u64::MAX - 1)) as u64;
        let extra = if jitter == 0 {
            0
        } else {
            self.rng.next() % (jitter + 1)
        };
        state.delay + Duration::from_nanos(extra)
    }

    fn after(&mut self, at: Instant) -> Instant {
        let at = self.last.map_or(at, |last| at.max(last));
        self.last = Some(at);
        at
    }
}

/// SplitMix64 seeded from the OS: fast enough for a draw per chunk, and unpredictable across
/// runs, which is what live mode wants.
#[derive(Debug)]
struct Rng(u64);

impl Rng {
    fn from_os() -> Self {
        Rng(crate::live::ports::random_u64())
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(delay_ms: u64, jitter_ms: u64, loss: f64) -> LinkState {
        LinkState {
            cut: false,
            delay: Duration::from_millis(delay_ms),
            jitter: Duration::from_millis(jitter_ms),
            loss,
        }
    }

    #[test]
    fn delay_plus_jitter_stays_in_bounds_and_never_reorders() {
        let mut schedule = Schedule::new();
        let start = Instant::now();
        let link = state(10, 5, 0.0);
        let mut previous = start;
        for i in 0..1000u64 {
            let now = start + Duration::from_micros(i * 10);
            let due = schedule.due(now, &link);
            assert!(due >= previous, "chunk {i} overtook the one before it");
            assert!(due >= now + Duration::from_millis(10));
            // FIFO may push a chunk past its own draw, but never past the latest draw so far.
            assert!(due <= now + Duration::from_millis(15));
            previous = due;
        }
    }

    #[test]
    fn certain_loss_charges_every_backoff_up_to_the_cap() {
        let mut schedule = Schedule::new();
        let now = Instant::now();
        let due = schedule.due(now, &state(0, 0, 1.0));
        // 200 ms doubling eight times: 200 * (2^8 - 1) ms.
        assert_eq!(due - now, Duration::from_millis(200 * 255));
    }

    #[test]
    fn no_loss_costs_nothing() {
        let mut schedule = Schedule::new();
        let now = Instant::now();
        assert_eq!(
            schedule.due(now, &state(3, 0, 0.0)) - now,
            Duration::from_millis(3)
        );
    }

    #[test]
    fn chunks_after_a_resume_come_after_its_floor() {
        let mut schedule = Schedule::new();
        let now = Instant::now();
        let floor = schedule.resume(now, &state(50, 0, 0.0));
        assert_eq!(floor - now, Duration::from_millis(50));
        assert_eq!(schedule.due(now, &state(1, 0, 0.0)), floor);
    }
}
