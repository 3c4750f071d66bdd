//! The run's history, as the checkers judge it: every record stamped with the machine's one
//! monotonic clock, relative to the run's start.
//!
//! Records come from four sources: the runner's own actions (faults, host lifecycle, operator
//! steps), the node processes' event lines (stamped by the node with CLOCK_MONOTONIC, which every
//! process on the machine shares, not with its own adjustable clock), the ZooKeeper servers'
//! roles (polled by the runner), and the databases' own rows (stamped by PostgreSQL with the
//! machine's real-time clock, mapped onto the monotonic one). They are merged in time order at
//! the end; a record stamped before the run's start counts at its start.

use crate::sim::history::{Entry, Record};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The machine's monotonic clock, the one the node processes stamp their event lines with.
pub use crate::node::output::machine_mono_ns as mono_ns;

/// The machine's real-time clock, in microseconds since the Unix epoch.
fn realtime_us() -> i64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: as above.
    unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut ts) };
    ts.tv_sec * 1_000_000 + ts.tv_nsec / 1_000
}

/// The run's clock: where its zero lies on the monotonic clock, and how the real-time clock
/// maps onto it (sampled once: the runner never steps the machine's clock).
#[derive(Clone, Copy, Debug)]
pub struct RunClock {
    origin_ns: u64,
    /// Real time minus monotonic time, in microseconds.
    realtime_offset_us: i64,
}

impl RunClock {
    /// A clock whose zero is now.
    pub fn starting_now() -> RunClock {
        let mono = mono_ns();
        let real = realtime_us();
        RunClock {
            origin_ns: mono,
            realtime_offset_us: real - (mono / 1_000) as i64,
        }
    }

    /// Run time now.
    pub fn now(&self) -> Duration {
        self.at_mono(mono_ns())
    }

    /// Run time of a monotonic reading (zero for readings before the start).
    pub fn at_mono(&self, mono_ns: u64) -> Duration {
        Duration::from_nanos(mono_ns.saturating_sub(self.origin_ns))
    }

    /// Run time of a real-time reading in microseconds since the epoch.
    pub fn at_realtime_us(&self, us: i64) -> Duration {
        let mono_us = us - self.realtime_offset_us;
        Duration::from_micros(mono_us.max(0) as u64)
            .saturating_sub(Duration::from_nanos(self.origin_ns))
    }
}

/// Collects the run's records from every thread. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Recorder {
    clock: RunClock,
    entries: Arc<Mutex<Vec<Entry>>>,
}

impl Recorder {
    pub fn new(clock: RunClock) -> Recorder {
        Recorder {
            clock,
            entries: Arc::default(),
        }
    }

    pub fn clock(&self) -> RunClock {
        self.clock
    }

    /// Records `record` now.
    pub fn record(&self, record: Record) {
        self.record_at(self.clock.now(), record);
    }

    pub fn record_at(&self, at: Duration, record: Record) {
        self.entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(Entry { at, record });
    }

    /// The history so far, in time order (records of one instant in the order they came).
    pub fn history(&self) -> Vec<Entry> {
        let mut entries = self
            .entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        entries.sort_by_key(|e| e.at);
        entries
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monotonic_and_real_time_readings_land_on_one_timeline() {
        let clock = RunClock::starting_now();
        std::thread::sleep(Duration::from_millis(20));
        let by_mono = clock.now();
        let by_real = clock.at_realtime_us(realtime_us());
        assert!(by_mono >= Duration::from_millis(20));
        let gap = by_mono.abs_diff(by_real);
        assert!(gap < Duration::from_millis(5), "{by_mono:?} vs {by_real:?}");
        assert_eq!(
            clock.at_mono(0),
            Duration::ZERO,
            "before the start counts at the start"
        );
        assert_eq!(
            clock.at_mono(clock.origin_ns + 3_000_000_000),
            Duration::from_secs(3)
        );
    }

    #[test]
    fn the_history_comes_out_in_time_order() {
        let recorder = Recorder::new(RunClock::starting_now());
        let fault = |d: &str| Record::Fault {
            description: d.into(),
        };
        recorder.record_at(Duration::from_secs(2), fault("late"));
        recorder.record_at(Duration::from_secs(1), fault("early"));
        recorder.record_at(Duration::from_secs(2), fault("late, second"));
        let order: Vec<String> = recorder
            .history()
            .into_iter()
            .map(|e| match e.record {
                Record::Fault { description } => description,
                _ => unreachable!(),
            })
            .collect();
        assert_eq!(order, ["early", "late", "late, second"]);
    }
}
