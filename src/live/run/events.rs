//! A node program's event lines (JSON lines on stdout, `docs/node-protocol.md`) turned into
//! history records.
//!
//! The first line is the hello: the protocol version and what the program supports. A program
//! without fencing tokens gets a term token per promotion, the promotion's CLOCK_MONOTONIC
//! reading in nanoseconds: unique, and increasing in time across the pair's processes, as
//! grants' tokens are. Its writes are then judged under the term they were announced in.

use crate::sim::history::{Name, Record};
use serde_json::Value;
use std::collections::BTreeSet;

/// The node-protocol version live mode speaks.
pub const PROTOCOL_VERSION: u64 = 1;

/// What a program said about itself in its hello line.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Hello {
    pub program: String,
    pub version: String,
    pub supports: BTreeSet<String>,
}

impl Hello {
    pub fn supports(&self, capability: &str) -> bool {
        self.supports.contains(capability)
    }

    fn parse(value: &Value, line: &str) -> Result<Hello, String> {
        match value.get("protocol").and_then(Value::as_u64) {
            Some(PROTOCOL_VERSION) => {}
            Some(other) => {
                return Err(format!(
                    "hello with protocol {other}: live mode speaks node protocol {PROTOCOL_VERSION}"
                ));
            }
            None => return Err(format!("hello without a numeric \"protocol\": {line:?}")),
        }
        let text = |key: &str| {
            value
                .get(key)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        let supports = match value.get("supports") {
            None => BTreeSet::new(),
            Some(Value::Array(items)) => items
                .iter()
                .map(|item| {
                    item.as_str()
                        .map(String::from)
                        .ok_or_else(|| format!("hello's \"supports\" holds a non-string: {line:?}"))
                })
                .collect::<Result<_, _>>()?,
            Some(_) => return Err(format!("hello's \"supports\" is not a list: {line:?}")),
        };
        Ok(Hello {
            program: text("program"),
            version: text("version"),
            supports,
        })
    }
}

/// What one line of a node's stdout says, for the history.
#[derive(Clone, Debug, PartialEq)]
pub enum NodeLine {
    /// Records for the history, stamped with the line's `mono_ns` (if it has one).
    Records {
        mono_ns: Option<u64>,
        records: Vec<Record>,
        /// A write the node gave up on: `Unavailable` unless the database's rows say otherwise.
        failed_write: Option<(i64, u64)>,
        /// (write, term token) of a write announced by a program without fencing tokens: its
        /// database row has no token.
        untokened_attempt: Option<(u64, i64)>,
    },
    /// The program's hello line.
    Hello(Hello),
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
    /// The current process's hello, once it said it.
    hello: Option<Hello>,
    /// Lines of the current process so far.
    lines: u64,
}

impl NodeEvents {
    pub fn new(pair: &str, node: &str) -> NodeEvents {
        NodeEvents {
            pair: pair.into(),
            node: node.into(),
            acting: None,
            hello: None,
            lines: 0,
        }
    }

    fn has_tokens(&self) -> bool {
        self.hello
            .as_ref()
            .is_some_and(|h| h.supports("fencing_tokens"))
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
        self.hello = None;
        self.lines = 0;
    }

    /// One line of the program's stdout; `arrived_ns` is the machine's monotonic clock when it
    /// arrived (the term token of a tokenless promotion that gives no `mono_ns`).
    pub fn line(&mut self, line: &str, arrived_ns: u64) -> NodeLine {
        self.lines += 1;
        let garbage = |reason: String| NodeLine::Garbage { reason };
        let value: Value = match serde_json::from_str(line) {
            Ok(v) => v,
            Err(e) => return garbage(format!("not a JSON event line ({e}): {line:?}")),
        };
        let Some(event) = value.get("event").and_then(Value::as_str) else {
            return garbage(format!("an event line without \"event\": {line:?}"));
        };
        if event == "hello" {
            if self.hello.is_some() {
                return garbage(format!("a second hello line: {line:?}"));
            }
            return match Hello::parse(&value, line) {
                Ok(hello) => {
                    self.hello = Some(hello.clone());
                    NodeLine::Hello(hello)
                }
                Err(reason) => garbage(reason),
            };
        }
        if self.lines == 1 {
            return garbage(format!(
                "the first line must be the hello line (docs/node-protocol.md), not {line:?}"
            ));
        }
        let mono_ns = value.get("mono_ns").and_then(Value::as_u64);
        let tokens = self.has_tokens();
        // A program without tokens: the term token is the promotion's moment.
        let term_token = (mono_ns.unwrap_or(arrived_ns)).min(i64::MAX as u64) as i64;
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
        let mut untokened_attempt = None;
        let result: Result<(), String> = (|| {
            match event {
                "promoted" => {
                    let token = if tokens {
                        need_int("token")?
                    } else {
                        term_token
                    };
                    self.acting = Some(token);
                    records.push(Record::Promoted { pair, node, token });
                }
                "demoted" => {
                    let token = if tokens {
                        need_int("token")?
                    } else {
                        match self.acting {
                            Some(token) => token,
                            None => return Ok(()),
                        }
                    };
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
                "write_attempt" => {
                    let write = need_int("write")? as u64;
                    let token = if tokens {
                        need_int("token")?
                    } else {
                        // Announced outside any term: a token never granted.
                        let token = self.acting.unwrap_or(0);
                        untokened_attempt = Some((write, token));
                        token
                    };
                    records.push(Record::WriteAttempt {
                        pair,
                        node,
                        token,
                        write,
                    });
                }
                "write_failed" => {
                    let token = if tokens {
                        int("token")
                    } else {
                        Some(self.acting.unwrap_or(0))
                    };
                    if let (Some(token), Some(write)) = (token, int("write")) {
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
                mono_ns,
                records,
                failed_write,
                untokened_attempt,
            },
            Err(reason) => garbage(reason),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPLITBRAIN_HELLO: &str = r#"{"event":"hello","protocol":1,"program":"splitbrain","supports":["priorities","fencing_tokens"]}"#;
    const TOKENLESS_HELLO: &str =
        r#"{"event":"hello","protocol":1,"program":"curator-latch","supports":["relinquish"]}"#;

    fn records(events: &mut NodeEvents, line: &str) -> Vec<Record> {
        match events.line(line, 99) {
            NodeLine::Records { records, .. } => records,
            other => panic!("{line}: {other:?}"),
        }
    }

    fn hello(events: &mut NodeEvents, line: &str) -> Hello {
        match events.line(line, 1) {
            NodeLine::Hello(hello) => hello,
            other => panic!("{line}: {other:?}"),
        }
    }

    #[test]
    fn a_demotion_counts_only_for_the_grant_the_node_acted_on() {
        let mut events = NodeEvents::new("bank", "a1");
        assert!(hello(&mut events, SPLITBRAIN_HELLO).supports("fencing_tokens"));
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
    fn a_program_without_tokens_gets_its_promotion_moment_as_term_token() {
        let mut events = NodeEvents::new("bank", "a1");
        assert!(!hello(&mut events, TOKENLESS_HELLO).supports("fencing_tokens"));
        // A write announced before any promotion is outside every term: token 0.
        match events.line(r#"{"event":"write_attempt","write":4}"#, 50) {
            NodeLine::Records {
                untokened_attempt, ..
            } => assert_eq!(untokened_attempt, Some((4, 0))),
            other => panic!("{other:?}"),
        }
        let promoted = records(&mut events, r#"{"event":"promoted","mono_ns":1000}"#);
        assert_eq!(
            promoted,
            [Record::Promoted {
                pair: "bank".into(),
                node: "a1".into(),
                token: 1000
            }]
        );
        match events.line(r#"{"event":"write_attempt","write":5}"#, 1200) {
            NodeLine::Records {
                records,
                untokened_attempt,
                ..
            } => {
                assert_eq!(untokened_attempt, Some((5, 1000)));
                assert!(matches!(
                    records[..],
                    [Record::WriteAttempt { token: 1000, .. }]
                ));
            }
            other => panic!("{other:?}"),
        }
        let demoted = records(&mut events, r#"{"event":"demoted"}"#);
        assert!(matches!(demoted[..], [Record::Demoted { token: 1000, .. }]));
        // Without mono_ns, the arrival is the term's moment.
        let again = records(&mut events, r#"{"event":"promoted"}"#);
        assert!(matches!(again[..], [Record::Promoted { token: 99, .. }]));
        // A new process must say hello again.
        events.process_ended();
        match events.line(r#"{"event":"promoted"}"#, 5) {
            NodeLine::Garbage { reason } => assert!(reason.contains("first line"), "{reason}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn broken_lines_are_findings_that_say_what_is_wrong() {
        let mut events = NodeEvents::new("bank", "a1");
        match events.line(r#"{"event":"hello","protocol":2}"#, 1) {
            NodeLine::Garbage { reason } => assert!(reason.contains("protocol 2"), "{reason}"),
            other => panic!("{other:?}"),
        }
        hello(&mut events, SPLITBRAIN_HELLO);
        for (line, says) in [
            ("hello", "not a JSON event line"),
            (r#"{"token":1}"#, "without \"event\""),
            (r#"{"event":"promoted"}"#, "numeric \"token\""),
            (
                r#"{"event":"health","healthy":"yes"}"#,
                "boolean \"healthy\"",
            ),
            (SPLITBRAIN_HELLO, "second hello"),
        ] {
            match events.line(line, 1) {
                NodeLine::Garbage { reason } => assert!(reason.contains(says), "{reason}"),
                other => panic!("{line} gave {other:?}"),
            }
        }
        // Unknown events are the node's business.
        assert!(records(&mut events, r#"{"event":"started","pid":1}"#).is_empty());
    }
}
