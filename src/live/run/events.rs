//! A node process's event lines (`splitbrain node`'s JSON lines on stdout, see
//! `docs`/`splitbrain node --help`) turned into history records.

use crate::sim::history::{Name, Record};
use serde_json::Value;

/// What one line of a node's stdout says, for the history.
#[derive(Clone, Debug, PartialEq)]
pub enum NodeLine {
    /// Records for the history, stamped with the line's `mono_ns` (if it has one).
    Records {
        mono_ns: Option<u64>,
        records: Vec<Record>,
        /// A write the node gave up on: `Unavailable` unless the database's rows say otherwise.
        failed_write: Option<(i64, u64)>,
    },
    /// Not an event line: a finding of the run (the node broke its output contract).
    Garbage { reason: String },
}

/// Follows one node's lines: remembers which grant it acts under, so a demotion is recorded
/// only for a grant it acted on (as the simulated node does).
#[derive(Debug)]
pub struct NodeEvents {
    pair: Name,
    node: Name,
    acting: Option<i64>,
}

impl NodeEvents {
    pub fn new(pair: &str, node: &str) -> NodeEvents {
        NodeEvents {
            pair: pair.into(),
            node: node.into(),
            acting: None,
        }
    }

    pub fn pair(&self) -> &str {
        &self.pair
    }

    pub fn node(&self) -> &str {
        &self.node
    }

    /// The process died: whatever grant it acted under ended with it (the crash record closes
    /// the term); a new incarnation starts afresh.
    pub fn process_ended(&mut self) {
        self.acting = None;
    }

    pub fn line(&mut self, line: &str) -> NodeLine {
        let garbage = |reason: String| NodeLine::Garbage { reason };
        let value: Value = match serde_json::from_str(line) {
            Ok(v) => v,
            Err(e) => return garbage(format!("not a JSON event line ({e}): {line:?}")),
        };
        let Some(event) = value.get("event").and_then(Value::as_str) else {
            return garbage(format!("an event line without \"event\": {line:?}"));
        };
        let int = |key: &str| value.get(key).and_then(Value::as_i64);
        let need_int = |key: &str| {
            int(key).ok_or_else(|| format!("'{event}' line without a numeric \"{key}\": {line:?}"))
        };
        let boolean = |key: &str| {
            value
                .get(key)
                .and_then(Value::as_bool)
                .ok_or_else(|| format!("'{event}' line without a boolean \"{key}\": {line:?}"))
        };
        let (pair, node) = (self.pair.clone(), self.node.clone());
        let mut records = Vec::new();
        let mut failed_write = None;
        let result: Result<(), String> = (|| {
            match event {
                "promoted" => {
                    let token = need_int("token")?;
                    self.acting = Some(token);
                    records.push(Record::Promoted { pair, node, token });
                }
                "demoted" => {
                    let token = need_int("token")?;
                    if self.acting == Some(token) {
                        self.acting = None;
                        records.push(Record::Demoted { pair, node, token });
                    }
                }
                "candidacy" => records.push(Record::Candidacy {
                    pair,
                    node,
                    standing: boolean("standing")?,
                }),
                "health" => records.push(Record::Health {
                    pair,
                    node,
                    healthy: boolean("healthy")?,
                }),
                "role" => {
                    let role = value
                        .get("role")
                        .and_then(Value::as_str)
                        .ok_or_else(|| format!("'role' line without \"role\": {line:?}"))?;
                    records.push(Record::Role {
                        host: node,
                        role: role.to_string(),
                    });
                }
                "write_attempt" => records.push(Record::WriteAttempt {
                    pair,
                    node,
                    token: need_int("token")?,
                    write: need_int("write")? as u64,
                }),
                "write_failed" => {
                    if let (Some(token), Some(write)) = (int("token"), int("write")) {
                        failed_write = Some((token, write as u64));
                    }
                }
                // Everything else (started, write_accepted, priority, …) is in the node's
                // log; the history takes verdicts from the database, not from the node.
                _ => {}
            }
            Ok(())
        })();
        match result {
            Ok(()) => NodeLine::Records {
                mono_ns: value.get("mono_ns").and_then(Value::as_u64),
                records,
                failed_write,
            },
            Err(reason) => garbage(reason),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records(events: &mut NodeEvents, line: &str) -> Vec<Record> {
        match events.line(line) {
            NodeLine::Records { records, .. } => records,
            NodeLine::Garbage { reason } => panic!("{reason}"),
        }
    }

    #[test]
    fn a_demotion_counts_only_for_the_grant_the_node_acted_on() {
        let mut events = NodeEvents::new("bank", "a1");
        assert!(records(&mut events, r#"{"event":"demoted","token":5,"mono_ns":1}"#).is_empty());
        let promoted = records(&mut events, r#"{"event":"promoted","token":7,"mono_ns":2}"#);
        assert_eq!(
            promoted,
            [Record::Promoted {
                pair: "bank".into(),
                node: "a1".into(),
                token: 7
            }]
        );
        assert!(records(&mut events, r#"{"event":"demoted","token":5}"#).is_empty());
        assert_eq!(
            records(&mut events, r#"{"event":"demoted","token":7}"#).len(),
            1
        );
    }

    #[test]
    fn broken_lines_are_findings_that_say_what_is_wrong() {
        let mut events = NodeEvents::new("bank", "a1");
        for (line, says) in [
            ("hello", "not a JSON event line"),
            (r#"{"token":1}"#, "without \"event\""),
            (r#"{"event":"promoted"}"#, "numeric \"token\""),
            (
                r#"{"event":"health","healthy":"yes"}"#,
                "boolean \"healthy\"",
            ),
        ] {
            match events.line(line) {
                NodeLine::Garbage { reason } => assert!(reason.contains(says), "{reason}"),
                other => panic!("{line} gave {other:?}"),
            }
        }
        // Unknown events are the node's business.
        assert!(records(&mut events, r#"{"event":"started","pid":1}"#).is_empty());
    }
}
