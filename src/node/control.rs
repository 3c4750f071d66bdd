//! The node's control inputs: commands on stdin (one per line) and signals, turned into one
//! stream of [`Control`]s for the runner.
//!
//! Commands (one per line; blank lines are ignored):
//!
//! | command | effect |
//! |---|---|
//! | `relinquish` (or SIGUSR1) | stop standing; a master hands over first |
//! | `rejoin` (or SIGUSR2) | stand again after a relinquish |
//! | `priority N` | change the priority (0 to 4294967295) |
//! | `break-health database\|bus` | the health check counts that link as broken, at once |
//! | `heal-health database\|bus` | the link counts again as the probes find it |
//! | `clock jump ±DURATION` | step the node's wall clock (e.g. `clock jump -90s`) |
//! | `clock jump +DURATION monotonic` | step the monotonic clock forward (the wall clock too) |
//! | `clock offset MS` | set the wall clock's offset: milliseconds, or a signed duration |
//! | `clock drift RATE` | both clocks run at RATE × real time (1.0 = true speed) |
//! | `clock reset` | rate 1, no offset (the monotonic clock keeps its reading) |
//! | `quit` (or SIGTERM, SIGINT) | demote, leave the election, close the session, exit |
//!
//! The clock commands are the simulator's clock faults (`clock-jump`, `clock-offset`,
//! `clock-drift`, `clock-reset`), applied to the node's own clocks (see
//! [`TokioEnv::adjustable`](crate::env::TokioEnv::adjustable)): the ZooKeeper client's own
//! timers keep the machine's time. A bad command is answered with a `control_error` event.

use crate::duration::parse_duration;
use crate::election::Priority;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;

/// A link the node's health depends on; a scenario (or an operator) can break it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Link {
    /// The node's view of the pair's database: broken, the database probe fails at once.
    Database,
    /// The message bus (a switch the scenario breaks and heals).
    Bus,
}

impl Link {
    pub fn name(self) -> &'static str {
        match self {
            Link::Database => "database",
            Link::Bus => "bus",
        }
    }
}

/// A change of the node's clocks.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ClockChange {
    /// Step the wall clock (either way), or the monotonic clock forward (the wall clock with
    /// it).
    Jump { millis: i64, monotonic: bool },
    /// Set the wall clock's offset.
    Offset { millis: i64 },
    /// Run both clocks at `rate` × real time.
    Drift { rate: f64 },
    /// Rate 1, no offset.
    Reset,
}

/// What an operator (or a supervisor) asks of the node.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Control {
    /// Stop standing; a master hands over first (SIGUSR1, or `relinquish`).
    Relinquish,
    /// Stand again after a relinquish (SIGUSR2, or `rejoin`).
    Rejoin,
    /// Change this candidate's priority (`priority N`).
    SetPriority(Priority),
    /// Count a health link as broken (`break-health database|bus`).
    BreakHealth(Link),
    /// Stop counting a health link as broken (`heal-health database|bus`).
    HealHealth(Link),
    /// Change the node's clocks (`clock ...`).
    Clock(ClockChange),
    /// Demote, leave the election, close the session and exit (SIGTERM, SIGINT, or `quit`).
    Quit { cause: &'static str },
}

/// An input the node could not take.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadCommand {
    pub line: String,
    pub reason: String,
}

/// Parses one stdin line; `Ok(None)` for a blank line.
pub fn parse_command(line: &str) -> Result<Option<Control>, BadCommand> {
    let bad = |reason: &str| BadCommand {
        line: line.to_string(),
        reason: reason.to_string(),
    };
    let words: Vec<&str> = line.split_whitespace().collect();
    match words.as_slice() {
        [] => Ok(None),
        ["relinquish"] => Ok(Some(Control::Relinquish)),
        ["rejoin"] => Ok(Some(Control::Rejoin)),
        ["quit"] => Ok(Some(Control::Quit { cause: "quit" })),
        ["priority", n] => n
            .parse::<u32>()
            .map(|n| Some(Control::SetPriority(Priority(n))))
            .map_err(|_| bad("priority must be a number from 0 to 4294967295")),
        ["break-health", link] => parse_link(link)
            .map(|link| Some(Control::BreakHealth(link)))
            .map_err(|why| bad(&why)),
        ["heal-health", link] => parse_link(link)
            .map(|link| Some(Control::HealHealth(link)))
            .map_err(|why| bad(&why)),
        ["clock", rest @ ..] => parse_clock(rest)
            .map(|change| Some(Control::Clock(change)))
            .map_err(|why| bad(&why)),
        _ => Err(bad(
            "unknown command; use relinquish, rejoin, priority N, break-health LINK, \
             heal-health LINK, clock jump|offset|drift|reset ... or quit",
        )),
    }
}

fn parse_link(word: &str) -> Result<Link, String> {
    match word {
        "database" => Ok(Link::Database),
        "bus" => Ok(Link::Bus),
        _ => Err(format!("unknown health link {word:?}; use database or bus")),
    }
}

fn parse_clock(words: &[&str]) -> Result<ClockChange, String> {
    const USAGE: &str = "use clock jump ±DURATION [monotonic], clock offset MS, \
                         clock drift RATE or clock reset";
    match words {
        ["jump", by] | ["jump", by, "monotonic"] => {
            let millis = signed_millis(by)?;
            let monotonic = words.len() == 3;
            if monotonic && millis < 0 {
                return Err(format!(
                    "a monotonic clock cannot jump backwards ({millis} ms)"
                ));
            }
            Ok(ClockChange::Jump { millis, monotonic })
        }
        ["offset", by] => Ok(ClockChange::Offset {
            millis: signed_millis(by)?,
        }),
        ["drift", rate] => match rate.parse::<f64>() {
            Ok(rate) if rate.is_finite() && rate > 0.0 => Ok(ClockChange::Drift { rate }),
            _ => Err(format!(
                "drift rate {rate:?} must be a number more than 0 (1.0 = true speed)"
            )),
        },
        ["reset"] => Ok(ClockChange::Reset),
        _ => Err(format!("bad clock command; {USAGE}")),
    }
}

/// `-2500` (milliseconds), `+60s`, `-1.5s`: a signed amount of milliseconds.
fn signed_millis(text: &str) -> Result<i64, String> {
    let (sign, rest) = match text.strip_prefix('-') {
        Some(rest) => (-1, rest),
        None => (1, text.strip_prefix('+').unwrap_or(text)),
    };
    if let Ok(millis) = rest.parse::<i64>() {
        return Ok(sign * millis);
    }
    let duration = parse_duration(rest)?;
    i64::try_from(duration.as_millis())
        .map(|millis| sign * millis)
        .map_err(|_| format!("{text:?} is too long"))
}

/// Starts following SIGUSR1, SIGUSR2, SIGTERM, SIGINT and stdin. Installing the signal
/// handlers happens here, before the node joins the election, so an early signal is not lost
/// to the default action (which would kill the node without a clean hand-over).
pub fn start() -> std::io::Result<mpsc::UnboundedReceiver<Result<Control, BadCommand>>> {
    let (sender, controls) = mpsc::unbounded_channel();
    let signals = [
        (SignalKind::user_defined1(), Control::Relinquish),
        (SignalKind::user_defined2(), Control::Rejoin),
        (SignalKind::terminate(), Control::Quit { cause: "SIGTERM" }),
        (SignalKind::interrupt(), Control::Quit { cause: "SIGINT" }),
    ];
    for (kind, control) in signals {
        let mut stream = signal(kind)?;
        let sender = sender.clone();
        tokio::spawn(async move {
            while stream.recv().await.is_some() {
                if sender.send(Ok(control)).is_err() {
                    return;
                }
            }
        });
    }
    tokio::spawn(async move {
        let mut lines = BufReader::new(tokio::io::stdin()).lines();
        // End of input (stdin is /dev/null under a service manager) just ends the commands.
        while let Ok(Some(line)) = lines.next_line().await {
            match parse_command(&line) {
                Ok(None) => {}
                Ok(Some(control)) => {
                    if sender.send(Ok(control)).is_err() {
                        return;
                    }
                }
                Err(bad) => {
                    if sender.send(Err(bad)).is_err() {
                        return;
                    }
                }
            }
        }
    });
    Ok(controls)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_parse_and_bad_ones_say_why() {
        assert_eq!(parse_command("  "), Ok(None));
        assert_eq!(parse_command("relinquish"), Ok(Some(Control::Relinquish)));
        assert_eq!(parse_command(" rejoin \n"), Ok(Some(Control::Rejoin)));
        assert_eq!(
            parse_command("priority 42"),
            Ok(Some(Control::SetPriority(Priority(42))))
        );
        assert_eq!(
            parse_command("quit"),
            Ok(Some(Control::Quit { cause: "quit" }))
        );
        let err = parse_command("priority high").unwrap_err();
        assert!(err.reason.contains("number"), "{err:?}");
        assert!(parse_command("priority -1").is_err());
        let err = parse_command("relinquish now").unwrap_err();
        assert!(err.reason.contains("unknown command"), "{err:?}");
    }

    #[test]
    fn health_links_break_and_heal() {
        assert_eq!(
            parse_command("break-health database"),
            Ok(Some(Control::BreakHealth(Link::Database)))
        );
        assert_eq!(
            parse_command("heal-health bus"),
            Ok(Some(Control::HealHealth(Link::Bus)))
        );
        let err = parse_command("break-health disk").unwrap_err();
        assert!(err.reason.contains("database or bus"), "{err:?}");
        assert!(parse_command("break-health").is_err());
    }

    #[test]
    fn clock_commands_parse_as_the_simulator_s_clock_faults() {
        let clock = |line: &str| match parse_command(line) {
            Ok(Some(Control::Clock(change))) => Ok(change),
            other => Err(format!("{other:?}")),
        };
        assert_eq!(
            clock("clock jump +60s monotonic"),
            Ok(ClockChange::Jump {
                millis: 60_000,
                monotonic: true
            })
        );
        assert_eq!(
            clock("clock jump -1.5s"),
            Ok(ClockChange::Jump {
                millis: -1_500,
                monotonic: false
            })
        );
        assert_eq!(
            clock("clock jump 250ms"),
            Ok(ClockChange::Jump {
                millis: 250,
                monotonic: false
            })
        );
        assert_eq!(
            clock("clock offset -2500"),
            Ok(ClockChange::Offset { millis: -2_500 })
        );
        assert_eq!(
            clock("clock offset +3s"),
            Ok(ClockChange::Offset { millis: 3_000 })
        );
        assert_eq!(
            clock("clock drift 1.5"),
            Ok(ClockChange::Drift { rate: 1.5 })
        );
        assert_eq!(clock("clock reset"), Ok(ClockChange::Reset));
        for bad in [
            "clock jump -5s monotonic",
            "clock jump soon",
            "clock jump +5s wall",
            "clock offset",
            "clock drift 0",
            "clock drift fast",
            "clock reset now",
            "clock",
        ] {
            let err = parse_command(bad).unwrap_err();
            assert_eq!(err.line, bad);
            assert!(!err.reason.is_empty());
        }
        let err = parse_command("clock jump -5s monotonic").unwrap_err();
        assert!(err.reason.contains("backwards"), "{err:?}");
    }
}
