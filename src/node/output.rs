//! The node's event stream: one JSON object per line on stdout, flushed per line, so that a
//! supervisor, a log shipper or a test can follow role changes as they happen.

use crate::env::{Environment, TokioEnv};
use serde_json::{Map, Value, json};
use std::io::Write;

/// Writes the node's events. Cheap to clone; every line carries the node and pair names and the
/// wall-clock time (milliseconds since the Unix epoch, comparable between processes on one
/// machine).
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

    /// Prints `{"at_ms", "node", "pair", "event", ...fields}`. `fields` must be a JSON object
    /// (anything else is ignored).
    pub fn emit(&self, event: &str, fields: Value) {
        let mut line = Map::new();
        line.insert("at_ms".into(), json!(self.env.wall_millis()));
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
