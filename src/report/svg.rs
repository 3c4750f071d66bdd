//! A run's timeline as an SVG picture: one lane per host (ZooKeeper servers, then nodes, then
//! everything else), coloured by the role it announced; hosts that are down or paused drawn
//! hatched; faults as shaded bands; violations as red lines. Self-contained, no scripts, so a
//! report opens offline in any browser.

use super::escape;
use crate::sim::history::{Entry, Record};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

/// A moment to mark on the timeline (a violation).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Marker {
    pub at: Duration,
    pub label: String,
}

const LEFT: f64 = 120.0;
const WIDTH: f64 = 900.0;
const LANE: f64 = 22.0;
const TOP: f64 = 40.0;

/// A stretch of a lane in one state.
#[derive(Clone, Debug, PartialEq)]
struct Span {
    from: Duration,
    to: Duration,
    state: String,
}

/// Builds each host's lane as records arrive.
#[derive(Default)]
struct LaneBuilder {
    /// Hosts in order of first sight.
    order: Vec<String>,
    /// The state each host is in now, and since when.
    open: BTreeMap<String, (Duration, String)>,
    spans: BTreeMap<String, Vec<Span>>,
    /// The role a paused host had, to restore on resume.
    paused_role: BTreeMap<String, String>,
}

impl LaneBuilder {
    fn switch(&mut self, host: &str, at: Duration, state: String) {
        if !self.order.iter().any(|h| h == host) {
            self.order.push(host.to_string());
        }
        if let Some((from, previous)) = self.open.insert(host.to_string(), (at, state))
            && at > from
        {
            self.spans.entry(host.to_string()).or_default().push(Span {
                from,
                to: at,
                state: previous,
            });
        }
    }

    fn state(&self, host: &str) -> Option<&str> {
        self.open.get(host).map(|(_, s)| s.as_str())
    }

    fn see(&mut self, e: &Entry) {
        match &e.record {
            Record::HostStarted { host } => self.switch(host, e.at, "up".into()),
            Record::HostCrashed { host } => self.switch(host, e.at, "down".into()),
            Record::HostPaused { host } => {
                let role = self.state(host).unwrap_or("up").to_string();
                self.paused_role.insert(host.to_string(), role);
                self.switch(host, e.at, "paused".into())
            }
            Record::HostResumed { host } => {
                let role = self
                    .paused_role
                    .remove(&**host)
                    .unwrap_or_else(|| "up".into());
                self.switch(host, e.at, role)
            }
            Record::Role { host, role } if self.state(host) == Some("paused") => {
                self.paused_role.insert(host.to_string(), role.clone());
            }
            Record::Role { host, role } => self.switch(host, e.at, role.clone()),
            _ => {}
        }
    }
}

/// Per host, the stretches of its announced role (or down/paused): ZooKeeper servers first,
/// then the rest, each group in order of first appearance.
fn lanes(history: &[Entry], end: Duration) -> Vec<(String, Vec<Span>)> {
    let mut b = LaneBuilder::default();
    for e in history {
        b.see(e);
    }
    for (host, (from, state)) in std::mem::take(&mut b.open) {
        if end > from {
            b.spans.entry(host).or_default().push(Span {
                from,
                to: end,
                state,
            });
        }
    }
    let is_zk = |h: &&String| h.starts_with("zk");
    let mut sorted: Vec<String> = b.order.iter().filter(is_zk).cloned().collect();
    sorted.extend(b.order.iter().filter(|h| !is_zk(h)).cloned());
    sorted
        .into_iter()
        .map(|h| (h.clone(), b.spans.remove(&h).unwrap_or_default()))
        .collect()
}

/// Fault bands: from a fault to the next record that undoes it (heal, clear, resume, start),
/// or to the end.
fn fault_bands(history: &[Entry], end: Duration) -> Vec<(Duration, Duration, String)> {
    let mut bands = Vec::new();
    let mut open_net: Option<(Duration, String)> = None;
    for e in history {
        if let Record::Fault { description } = &e.record {
            let undoes = description == "heal" || description == "clear link faults";
            if undoes {
                if let Some((from, label)) = open_net.take() {
                    bands.push((from, e.at, label));
                }
            } else if is_network_fault(description) {
                if let Some((from, label)) = open_net.take() {
                    bands.push((from, e.at, label));
                }
                open_net = Some((e.at, description.clone()));
            }
        }
    }
    if let Some((from, label)) = open_net {
        bands.push((from, end, label));
    }
    bands
}

fn is_network_fault(description: &str) -> bool {
    [
        "partition",
        "one-way",
        "isolate",
        "bridge",
        "loss",
        "latency",
    ]
    .iter()
    .any(|p| description.starts_with(p))
}

fn colour(state: &str) -> &'static str {
    match state {
        "leading" => "#1b7837",
        "following" => "#a6dba0",
        "observing" => "#92c5de",
        "looking" => "#fdb863",
        "master" => "#d6604d",
        "slave" => "#f4a582",
        "withdrawn" => "#fee090",
        "down" => "#bdbdbd",
        "paused" => "url(#hatch)",
        _ => "#e0e0e0",
    }
}

/// Renders the timeline of `history` over `0..end`.
pub fn timeline_svg(history: &[Entry], end: Duration, markers: &[Marker]) -> String {
    let end = end.max(Duration::from_millis(1));
    let x = |t: Duration| LEFT + WIDTH * (t.as_secs_f64() / end.as_secs_f64()).min(1.0);
    let lanes = lanes(history, end);
    let height = TOP + LANE * lanes.len() as f64 + 40.0;
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{height}" viewBox="0 0 {w} {height}" font-family="sans-serif" font-size="11">"#,
        w = LEFT + WIDTH + 20.0
    );
    svg.push_str(
        r##"<defs><pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="6" height="6" fill="#f0f0f0"/><line x1="0" y1="0" x2="0" y2="6" stroke="#888" stroke-width="2"/></pattern></defs>"##,
    );
    for (from, to, label) in fault_bands(history, end) {
        let _ = write!(
            svg,
            r##"<rect x="{:.1}" y="{TOP}" width="{:.1}" height="{:.1}" fill="#7570b3" opacity="0.15"><title>{}</title></rect>"##,
            x(from),
            (x(to) - x(from)).max(1.0),
            LANE * lanes.len() as f64,
            escape(&label)
        );
    }
    for (i, (host, spans)) in lanes.iter().enumerate() {
        let y = TOP + LANE * i as f64;
        let _ = write!(
            svg,
            r#"<text x="4" y="{:.1}">{}</text>"#,
            y + LANE * 0.7,
            escape(host)
        );
        for s in spans {
            let _ = write!(
                svg,
                r##"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{}" stroke="#fff" stroke-width="0.5"><title>{} {}: {:.3}s – {:.3}s</title></rect>"##,
                x(s.from),
                y + 2.0,
                (x(s.to) - x(s.from)).max(0.5),
                LANE - 4.0,
                colour(&s.state),
                escape(host),
                escape(&s.state),
                s.from.as_secs_f64(),
                s.to.as_secs_f64()
            );
        }
    }
    let axis_y = TOP + LANE * lanes.len() as f64 + 4.0;
    let step = tick_step(end);
    let mut t = Duration::ZERO;
    while t <= end {
        let _ = write!(
            svg,
            r##"<line x1="{0:.1}" y1="{1:.1}" x2="{0:.1}" y2="{2:.1}" stroke="#999"/><text x="{0:.1}" y="{3:.1}" text-anchor="middle">{4}s</text>"##,
            x(t),
            axis_y,
            axis_y + 4.0,
            axis_y + 16.0,
            t.as_secs()
        );
        t += step;
    }
    for m in markers {
        let _ = write!(
            svg,
            r##"<line x1="{0:.1}" y1="{1}" x2="{0:.1}" y2="{2:.1}" stroke="#d7191c" stroke-width="2"/><text x="{0:.1}" y="{3}" fill="#d7191c" text-anchor="middle">{4}</text>"##,
            x(m.at),
            TOP - 4.0,
            axis_y,
            TOP - 8.0,
            escape(&m.label)
        );
    }
    svg.push_str("</svg>");
    svg
}

/// Axis tick spacing: about ten ticks, on round numbers of seconds.
fn tick_step(end: Duration) -> Duration {
    let raw = end.as_secs_f64() / 10.0;
    let nice = [1u64, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600];
    Duration::from_secs(nice.into_iter().find(|n| *n as f64 >= raw).unwrap_or(3600))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: u64, record: Record) -> Entry {
        Entry {
            at: Duration::from_secs(s),
            record,
        }
    }

    fn history() -> Vec<Entry> {
        vec![
            at(0, Record::HostStarted { host: "zk1".into() }),
            at(0, Record::HostStarted { host: "n1".into() }),
            at(
                1,
                Record::Role {
                    host: "zk1".into(),
                    role: "leading".into(),
                },
            ),
            at(
                2,
                Record::Role {
                    host: "n1".into(),
                    role: "master".into(),
                },
            ),
            at(
                10,
                Record::Fault {
                    description: "partition [n1] | [zk1]".into(),
                },
            ),
            at(12, Record::HostPaused { host: "n1".into() }),
            at(15, Record::HostResumed { host: "n1".into() }),
            at(
                20,
                Record::Fault {
                    description: "heal".into(),
                },
            ),
            at(25, Record::HostCrashed { host: "zk1".into() }),
        ]
    }

    #[test]
    fn lanes_follow_roles_pauses_and_crashes() {
        let lanes = lanes(&history(), Duration::from_secs(30));
        assert_eq!(lanes[0].0, "zk1", "ZooKeeper servers come first");
        let zk: Vec<&str> = lanes[0].1.iter().map(|s| s.state.as_str()).collect();
        assert_eq!(zk, ["up", "leading", "down"]);
        let n1: Vec<(u64, &str)> = lanes[1]
            .1
            .iter()
            .map(|s| (s.from.as_secs(), s.state.as_str()))
            .collect();
        assert_eq!(
            n1,
            [(0, "up"), (2, "master"), (12, "paused"), (15, "master")]
        );
    }

    #[test]
    fn svg_has_bands_lanes_and_markers() {
        let marker = Marker {
            at: Duration::from_secs(14),
            label: "2M <both>".into(),
        };
        let svg = timeline_svg(&history(), Duration::from_secs(30), &[marker]);
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert!(svg.contains("partition [n1] | [zk1]"), "fault band title");
        assert!(svg.contains("2M &lt;both&gt;"), "markers are escaped");
        assert!(svg.contains("url(#hatch)"), "pauses are hatched");
        assert_eq!(svg.matches("<title>n1 ").count(), 4);
    }

    #[test]
    fn ticks_are_round() {
        assert_eq!(tick_step(Duration::from_secs(600)), Duration::from_secs(60));
        assert_eq!(tick_step(Duration::from_secs(30)), Duration::from_secs(5));
    }
}
