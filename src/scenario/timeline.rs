//! The canonical, readable timeline of a run: what the snapshots hold and `splitbrain run`
//! prints. True simulated time only, no wall-clock measurements, so the same seed gives the
//! same text on any machine and any behaviour change shows up in review.

use super::Scenario;
use super::runner::RunReport;
use crate::check::secs;
use crate::sim::history::{Entry, Record, WriteOutcome};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

/// Renders the events of `history` and the verdict of `report`.
pub fn render(scenario: &Scenario, history: &[Entry], report: &RunReport) -> String {
    let zk: BTreeSet<&str> = scenario
        .topology
        .zk
        .servers
        .iter()
        .map(|s| s.name.as_str())
        .collect();
    let mut out = String::new();
    let _ = match scenario.topology.election {
        crate::election::ElectionCode::Real => {
            writeln!(out, "scenario {} (seed {})", scenario.name, report.seed)
        }
        code => writeln!(
            out,
            "scenario {} (seed {}, election code {code}: {})",
            scenario.name,
            report.seed,
            code.known_bug().map_or("", |b| b.description())
        ),
    };
    let starts = history
        .iter()
        .take_while(|e| e.at.is_zero())
        .filter(|e| matches!(e.record, Record::HostStarted { .. }))
        .count();
    let _ = writeln!(
        out,
        "{:>10}  {starts} hosts start",
        secs(Default::default())
    );
    // Accepted writes per (node, token), shown when the term ends.
    let mut accepted: BTreeMap<(&str, i64), u64> = BTreeMap::new();
    let mut unavailable: BTreeMap<&str, u64> = BTreeMap::new();
    let unavailable_but_accepted = crate::check::metrics::unavailable_but_accepted(history);
    // Terms not yet ended by a demotion or a crash of their node.
    let mut open: BTreeSet<(&str, i64)> = BTreeSet::new();
    for entry in history {
        let line = match &entry.record {
            record
                if crate::check::metrics::is_answer_to_accepted(
                    record,
                    &unavailable_but_accepted,
                ) =>
            {
                None
            }
            Record::HostStarted { .. } if entry.at.is_zero() => None,
            Record::HostStarted { host } => Some((host.as_ref(), "started".to_string())),
            Record::HostCrashed { host } => {
                open.retain(|(node, _)| *node != &**host);
                Some((host.as_ref(), "crashed".to_string()))
            }
            Record::HostPaused { host } => Some((host.as_ref(), "paused".to_string())),
            Record::HostResumed { host } => Some((host.as_ref(), "resumed".to_string())),
            Record::Role { host, role } if zk.contains(host.as_ref()) => {
                Some((host.as_ref(), role.clone()))
            }
            // Nodes' roles: "master" is shown by the promotion, with its token.
            Record::Role { host, role } if role != "master" => Some((host.as_ref(), role.clone())),
            Record::Role { .. } => None,
            Record::Fault { description } => Some(("*", description.clone())),
            Record::Promoted { node, token, .. } => {
                open.insert((node.as_ref(), *token));
                Some((node.as_ref(), format!("MASTER (token {token:#x})")))
            }
            Record::Demoted { node, token, .. } => {
                open.remove(&(node.as_ref(), *token));
                let writes = accepted.remove(&(node.as_ref(), *token)).unwrap_or(0);
                Some((
                    node.as_ref(),
                    format!("demoted (token {token:#x}, {writes} writes accepted)"),
                ))
            }
            Record::Candidacy { node, standing, .. } => Some((
                node.as_ref(),
                if *standing { "stands" } else { "withdraws" }.to_string(),
            )),
            Record::Health { node, healthy, .. } => Some((
                node.as_ref(),
                if *healthy { "healthy" } else { "unhealthy" }.to_string(),
            )),
            Record::PriorityChanged { node, priority, .. } => {
                Some((node.as_ref(), format!("priority {priority}")))
            }
            // Messages go with writes, one per flow; a late one shows among the violations.
            Record::WriteAttempt { .. } | Record::BusDelivered { .. } => None,
            Record::WriteResult {
                node,
                token,
                write,
                outcome,
                ..
            } => match outcome {
                WriteOutcome::Accepted => {
                    *accepted.entry((node.as_ref(), *token)).or_insert(0) += 1;
                    None
                }
                WriteOutcome::Unavailable => {
                    *unavailable.entry(node.as_ref()).or_insert(0) += 1;
                    None
                }
                WriteOutcome::RejectedStaleToken { newest } => Some((
                    node.as_ref(),
                    format!("write #{write} (token {token:#x}) REFUSED: stale, newest {newest:#x}"),
                )),
                WriteOutcome::RejectedNotOwner { owner } => Some((
                    node.as_ref(),
                    format!(
                        "write #{write} (token {token:#x}) REFUSED: run-once row owned by {owner}"
                    ),
                )),
            },
        };
        if let Some((who, text)) = line {
            let _ = writeln!(out, "{:>10}  {who:<10} {text}", secs(entry.at));
        }
    }
    let _ = writeln!(out, "{:>10}  end", secs(scenario.end()));
    for ((node, token), writes) in &accepted {
        let _ = if open.contains(&(*node, *token)) {
            writeln!(
                out,
                "  still master at the end: {node} (token {token:#x}, {writes} writes accepted)"
            )
        } else {
            // A term that ended in a crash, or writes in flight at the demotion that the
            // database committed after it.
            writeln!(
                out,
                "  after its term ended: {node} (token {token:#x}, {writes} writes accepted)"
            )
        };
    }
    for (node, count) in &unavailable {
        let _ = writeln!(
            out,
            "  writes of {node} the database could not take: {count}"
        );
    }
    verdict(&mut out, report);
    out
}

fn verdict(out: &mut String, report: &RunReport) {
    let m = &report.measures;
    let _ = writeln!(out, "\nmeasures");
    let _ = writeln!(out, "  zk leader changes   {}", m.zk_leader_changes);
    let _ = writeln!(out, "  sessions expired    {}", report.sessions_expired);
    let _ = writeln!(
        out,
        "  writes              {} accepted, {} refused, {} unavailable",
        m.writes_accepted, m.writes_rejected, m.writes_unavailable
    );
    for f in &m.failovers {
        let _ = match (&f.to_node, f.seconds) {
            (Some(to), Some(s)) => writeln!(
                out,
                "  failover            {}: {} -> {to} in {s:.3}s (from {:.3}s)",
                f.pair, f.from_node, f.lost_at
            ),
            _ => writeln!(
                out,
                "  failover            {}: {} lost at {:.3}s, no master after",
                f.pair, f.from_node, f.lost_at
            ),
        };
    }
    let _ = writeln!(out, "\nexpectations");
    for e in &report.expectations {
        let mark = if e.met { "ok  " } else { "FAIL" };
        let _ = writeln!(out, "  {mark} {} -- {}", e.expectation, e.detail);
    }
    let _ = writeln!(out, "\ninvariants");
    if report.violations.is_empty() && report.expected_violations.is_empty() {
        let _ = writeln!(out, "  no violation");
    }
    for v in &report.expected_violations {
        let _ = writeln!(
            out,
            "  expected {} at {}: {}",
            v.invariant,
            secs(v.at),
            v.detail
        );
    }
    for v in &report.violations {
        let _ = writeln!(
            out,
            "  VIOLATION {} at {}: {}",
            v.invariant,
            secs(v.at),
            v.detail
        );
    }
    for e in &report.step_errors {
        let _ = writeln!(out, "  STEP ERROR {e}");
    }
    let _ = writeln!(
        out,
        "\nverdict: {}",
        if report.passed { "pass" } else { "FAIL" }
    );
}
