//! The node's control inputs: commands on stdin (one per line) and signals, turned into one
//! stream of [`Control`]s for the runner.

use crate::election::Priority;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;

/// What an operator (or a supervisor) asks of the node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Control {
    /// Stop standing; a master hands over first (SIGUSR1, or `relinquish`).
    Relinquish,
    /// Stand again after a relinquish (SIGUSR2, or `rejoin`).
    Rejoin,
    /// Change this candidate's priority (`priority N`).
    SetPriority(Priority),
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
        _ => Err(bad(
            "unknown command; use relinquish, rejoin, priority N or quit",
        )),
    }
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
}
