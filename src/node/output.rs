//! The node's event stream: one JSON object per line on stdout, flushed per line, so that a
//! supervisor, a log shipper or a test can follow role changes as they happen.
//!
//! Every line carries `at_ms` (the node's wall clock, which the `clock` commands may have
//! stepped) and `mono_ns` (the machine's CLOCK_MONOTONIC, which no command touches and every
//! process on the machine shares): a runner puts the events of all its processes on one
//! timeline by `mono_ns`.

use crate::env::{Environment, TokioEnv};
use serde_json::{Map, Value, json};
use std::io::Write;

/// Writes the node's events. Cheap to clone; every line carries the node and pair names, the
/// node's wall-clock time (`at_ms`, milliseconds since the Unix epoch) and the machine's
/// monotonic clock (`mono_ns`, nanoseconds since boot).
#[derive(Clone, Debug)]
pub struct EventOutput {
    node: String,
    pair: String,
    env: TokioEnv,
}

impl EventOutput {
    pub fn new(node: &str, pair: &str, env: TokioEnv) -> Self {
        EventOutput {
            node: node.to_string(),
            pair: pair.to_string(),
            env,
        }
    }

    pub fn node(&self) -> &str {
        &self.node
    }

    /// Prints `{"at_ms", "mono_ns", "node", "pair", "event", ...fields}`. `fields` must be a
    /// JSON object (anything else is ignored).
    pub fn emit(&self, event: &str, fields: Value) {
        let mut line = Map::new();
        line.insert("at_ms".into(), json!(self.env.wall_millis()));
        line.insert("mono_ns".into(), json!(machine_mono_ns()));
        line.insert("node".into(), json!(self.node));
        line.insert("pair".into(), json!(self.pair));
        line.insert("event".into(), json!(event));
        if let Value::Object(fields) = fields {
            line.extend(fields);
        }
        let mut text = Value::Object(line).to_string();
        text.push('\n');
        let mut out = std::io::stdout().lock();
        // A closed stdout (the supervisor went away) must not stop the node: the events are a
        // report, not part of the election.
        let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
    }
}

/// The machine's monotonic clock (CLOCK_MONOTONIC) in nanoseconds: the same in every process
/// on the machine, and never adjusted by the node's `clock` commands.
pub fn machine_mono_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime only writes the timespec it is given; CLOCK_MONOTONIC always
    // exists on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_machine_monotonic_clock_advances() {
        let a = super::machine_mono_ns();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = super::machine_mono_ns();
        assert!(b >= a + 2_000_000, "{a} {b}");
    }
}
