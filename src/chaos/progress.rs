//! The progress line of a chaos run on stderr: seeds done of total, speed, violations so far,
//! elapsed time and ETA. On a terminal it is redrawn in place; into a file or a CI log it is
//! printed as a fresh line every few seconds instead, so logs stay readable.
//!
//! Wall-clock time here is the operator's, not the simulation's: it measures the run, it
//! never steers one.

use std::io::Write;
use std::time::{Duration, Instant};

/// Counts of a run so far.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tally {
    pub done: u64,
    pub total: u64,
    /// Seeds that found something (violations, panics, hangs).
    pub violations: u64,
}

/// `h:mm:ss` or `m:ss`.
pub fn clock(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

/// Seeds per minute, given `done` seeds in `elapsed`.
pub fn per_minute(done: u64, elapsed: Duration) -> f64 {
    let secs = elapsed.as_secs_f64();
    if secs <= 0.0 {
        0.0
    } else {
        done as f64 * 60.0 / secs
    }
}

/// The text of the progress line (no control characters).
pub fn render(tally: Tally, elapsed: Duration) -> String {
    let rate = per_minute(tally.done, elapsed);
    let eta = if tally.done == 0 || tally.done >= tally.total {
        "--".to_string()
    } else {
        let left = (tally.total - tally.done) as f64 * elapsed.as_secs_f64() / tally.done as f64;
        clock(Duration::from_secs_f64(left))
    };
    let percent = (tally.done * 100).checked_div(tally.total).unwrap_or(100);
    format!(
        "chaos {}/{} seeds ({percent}%)  {rate:.0} seeds/min  {} violation{}  {} elapsed, ETA {eta}",
        tally.done,
        tally.total,
        tally.violations,
        if tally.violations == 1 { "" } else { "s" },
        clock(elapsed)
    )
}

/// Draws the progress line on stderr.
pub struct ProgressLine {
    started: Instant,
    /// Redraw in place (a terminal) rather than print a line now and then.
    in_place: bool,
    /// Between two lines when not drawing in place.
    every: Duration,
    last: Option<Instant>,
    /// The tally shown last, so that `finish` does not repeat it.
    shown: Option<Tally>,
    /// A line is on screen with the cursor at its end (in place only).
    drawn: bool,
}

impl ProgressLine {
    /// Starts the clock; draws in place when stderr is a terminal.
    pub fn new() -> ProgressLine {
        use std::io::IsTerminal;
        ProgressLine::with(std::io::stderr().is_terminal(), Duration::from_secs(5))
    }

    pub fn with(in_place: bool, every: Duration) -> ProgressLine {
        ProgressLine {
            started: Instant::now(),
            in_place,
            every,
            last: None,
            shown: None,
            drawn: false,
        }
    }

    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Shows `tally` if it is time to: always in place (at most ten redraws a second), else
    /// the first time and every `every`.
    pub fn update(&mut self, tally: Tally) {
        let now = Instant::now();
        let gap = if self.in_place {
            Duration::from_millis(100)
        } else {
            self.every
        };
        if self.last.is_some_and(|last| now - last < gap) && tally.done < tally.total {
            return;
        }
        self.last = Some(now);
        self.draw(tally);
    }

    /// Prints a message on a line of its own (above the progress line on a terminal).
    pub fn message(&mut self, text: &str) {
        let mut err = std::io::stderr().lock();
        if self.in_place && self.drawn {
            let _ = write!(err, "\r\x1b[2K");
            self.drawn = false;
            // Cleared: the next update redraws it.
            self.shown = None;
            self.last = None;
        }
        let _ = writeln!(err, "{text}");
    }

    /// Shows the final tally (unless it is on show already) and ends the line.
    pub fn finish(&mut self, tally: Tally) {
        if self.shown != Some(tally) {
            self.draw(tally);
        }
        if self.in_place {
            let _ = writeln!(std::io::stderr());
            self.drawn = false;
        }
    }

    fn draw(&mut self, tally: Tally) {
        let line = render(tally, self.elapsed());
        let mut err = std::io::stderr().lock();
        if self.in_place {
            let _ = write!(err, "\r\x1b[2K{line}");
            self.drawn = true;
        } else {
            let _ = writeln!(err, "{line}");
        }
        let _ = err.flush();
        self.shown = Some(tally);
    }
}

impl Default for ProgressLine {
    fn default() -> Self {
        ProgressLine::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_shows_counts_speed_and_eta() {
        let line = render(
            Tally {
                done: 500,
                total: 2000,
                violations: 1,
            },
            Duration::from_secs(30),
        );
        assert_eq!(
            line,
            "chaos 500/2000 seeds (25%)  1000 seeds/min  1 violation  0:30 elapsed, ETA 1:30"
        );
    }

    #[test]
    fn no_eta_before_the_first_seed_or_after_the_last() {
        let start = render(
            Tally {
                done: 0,
                total: 10,
                violations: 0,
            },
            Duration::ZERO,
        );
        assert!(start.contains("0 seeds/min  0 violations") && start.ends_with("ETA --"));
        let end = render(
            Tally {
                done: 10,
                total: 10,
                violations: 2,
            },
            Duration::from_secs(4000),
        );
        assert!(end.contains("(100%)") && end.contains("1:06:40 elapsed, ETA --"));
    }
}
