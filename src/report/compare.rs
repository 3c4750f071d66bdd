//! One scenario file played live and in the simulator, side by side (`splitbrain compare`):
//! verdicts, failover times, promotions, writes, session expiries and ZooKeeper leader
//! changes, each as median and range over the runs of each side, with the measures whose
//! medians differ by more than [the flag rule](FLAG_RULE) allows flagged.
//!
//! Pure: it takes each run's [`RunReport`] (or the facts drawn from it) and starts nothing, so
//! the rule is tested without processes.

use super::escape;
use crate::check::Invariant;
use crate::scenario::runner::RunReport;
use crate::sim::history::Record;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

/// The flag rule in words (`--help`, the table's footer, the JSON and the report page).
pub const FLAG_RULE: &str = "\
medians are low medians (the middle value, or the lower of the two middle ones: always a \
measured value); a measure is flagged when its medians differ by more than 20 % of the larger \
one, with a floor so tiny numbers are not: times when |live - sim| > max(20 % of the larger, \
1 s); counts when |live - sim| > 20 % of the larger and |live - sim| >= 2; a time one side \
lacks (no failover there) is flagged when the other side had it in at least half its runs; \
verdicts are flagged when any run's verdict (pass/fail) differs from the other side's \
majority, or a live run did not complete";

/// What one run showed, live or simulated.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct RunFacts {
    pub passed: bool,
    /// Codes (2M, SW, NM, WP) of the violations the file did not expect, one per violation.
    pub violations: Vec<String>,
    /// The expectations not met (their text).
    pub expectations_failed: Vec<String>,
    /// Steps that could not be applied, and a live run's findings.
    pub errors: Vec<String>,
    /// Failovers of every pair: a master stopped and nobody else was acting.
    pub failovers: u64,
    /// Of those, the seconds until a new master (failovers that found one), in order.
    pub failover_seconds: Vec<f64>,
    /// The seconds of the first failover that began at or after the first step: the one the
    /// fault causes (a start-up hand-over to the higher priority is not it), if it found a
    /// new master.
    pub fault_failover_seconds: Option<f64>,
    /// Promotion records per pair: every grant of mastership, the first one included (a node
    /// re-claiming after a reconnection is a grant too, though not a failover).
    pub promotions: BTreeMap<String, u64>,
    pub writes_accepted: u64,
    pub writes_rejected: u64,
    pub writes_unavailable: u64,
    pub sessions_expired: u64,
    pub zk_leader_changes: u64,
}

impl RunFacts {
    /// The facts of a judged run; `pairs` are the file's pairs (a pair nobody led counts 0
    /// promotions), `findings` a live run's (they fail it, as step errors do), `fault_from`
    /// the time of the file's first step.
    pub fn of(
        report: &RunReport,
        pairs: &[String],
        findings: &[String],
        fault_from: Duration,
    ) -> RunFacts {
        let mut promotions: BTreeMap<String, u64> = pairs.iter().map(|p| (p.clone(), 0)).collect();
        for entry in &report.history {
            if let Record::Promoted { pair, .. } = &entry.record {
                *promotions.entry(pair.to_string()).or_default() += 1;
            }
        }
        let m = &report.measures;
        RunFacts {
            passed: report.passed,
            violations: report
                .violations
                .iter()
                .map(|v| v.invariant.code().to_string())
                .collect(),
            expectations_failed: report
                .expectations
                .iter()
                .filter(|e| !e.met)
                .map(|e| e.expectation.clone())
                .collect(),
            errors: report.step_errors.iter().chain(findings).cloned().collect(),
            failovers: m.failovers.len() as u64,
            failover_seconds: m.failovers.iter().filter_map(|f| f.seconds).collect(),
            fault_failover_seconds: m
                .failovers
                .iter()
                .find(|f| f.lost_at >= fault_from.as_secs_f64())
                .and_then(|f| f.seconds),
            promotions,
            writes_accepted: m.writes_accepted,
            writes_rejected: m.writes_rejected,
            writes_unavailable: m.writes_unavailable,
            sessions_expired: report.sessions_expired,
            zk_leader_changes: m.zk_leader_changes,
        }
    }
}

/// Reads one count off a run.
type CountOf = fn(&RunFacts) -> u64;

/// Whether a measure is a time (seconds) or a count: their floors differ.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Seconds,
    Count,
}

/// Median, least and greatest of some values; all `None` when there are none. The median is
/// the low median, always a value that was measured: failover times are bimodal (a fault's
/// failover takes about a session timeout, a hand-back after the heal 0.1-0.3 s), and the mean
/// of the two middle values of six failovers, three of each kind, is a time no failover took.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize)]
pub struct Stats {
    pub median: Option<f64>,
    pub min: Option<f64>,
    pub max: Option<f64>,
}

impl Stats {
    pub fn of(values: &[f64]) -> Stats {
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len();
        if n == 0 {
            return Stats::default();
        }
        Stats {
            // The low median: the middle value, or the lower of the two middle ones.
            median: Some(sorted[(n - 1) / 2]),
            min: sorted.first().copied(),
            max: sorted.last().copied(),
        }
    }
}

/// One measure on both sides.
#[derive(Clone, Debug, PartialEq)]
pub struct Measure {
    pub name: String,
    pub kind: Kind,
    pub live: Stats,
    pub sim: Stats,
    pub flagged: bool,
    /// Why it is flagged, or why not (the difference against its limit).
    pub why: String,
}

/// The flag rule on two medians: whether they differ too much, and the reason in words.
pub fn flag(kind: Kind, live: Option<f64>, sim: Option<f64>) -> (bool, String) {
    let (live, sim) = match (live, sim) {
        (None, None) => return (false, "none on either side".into()),
        (Some(_), None) => return (true, "live only: the simulator has none".into()),
        (None, Some(_)) => return (true, "simulator only: live has none".into()),
        (Some(l), Some(s)) => (l, s),
    };
    let delta = (live - sim).abs();
    let larger = live.abs().max(sim.abs());
    let relative = 0.2 * larger;
    match kind {
        Kind::Seconds => {
            let limit = relative.max(1.0);
            let flagged = delta > limit;
            (
                flagged,
                format!(
                    "|Δ| {delta:.2} s {} max(20 % of {larger:.2}, 1) = {limit:.2} s",
                    if flagged { ">" } else { "≤" }
                ),
            )
        }
        Kind::Count => {
            let flagged = delta > relative && delta >= 2.0;
            let why = if flagged {
                format!(
                    "|Δ| {} > 20 % of {} = {}",
                    num(delta),
                    num(larger),
                    num(relative)
                )
            } else if delta < 2.0 {
                format!("|Δ| {} < 2", num(delta))
            } else {
                format!(
                    "|Δ| {} ≤ 20 % of {} = {}",
                    num(delta),
                    num(larger),
                    num(relative)
                )
            };
            (flagged, why)
        }
    }
}

/// How many of a side's runs had a value for a measure (a failover time needs a failover).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Presence {
    pub with: usize,
    pub of: usize,
}

/// [`flag`], except that a measure one side lacks is flagged only when the other side had it
/// in at least half its runs: a failover in 2 of 20 seeds and in none of 3 live runs is not a
/// difference (failovers per run, a count, has medians 0 and 0).
pub fn flag_with_presence(
    kind: Kind,
    live: Option<f64>,
    live_presence: Presence,
    sim: Option<f64>,
    sim_presence: Presence,
) -> (bool, String) {
    let (side, presence) = match (live, sim) {
        (Some(_), None) => ("live", live_presence),
        (None, Some(_)) => ("simulator", sim_presence),
        _ => return flag(kind, live, sim),
    };
    let other = if side == "live" {
        "the simulator"
    } else {
        "live"
    };
    let typical = presence.with * 2 >= presence.of;
    (
        typical,
        format!(
            "{side} only, in {} of {} runs{}: {other} has none",
            presence.with,
            presence.of,
            if typical { "" } else { " (fewer than half)" }
        ),
    )
}

/// A count or median as short text: whole numbers without decimals.
fn num(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

/// The verdicts of both sides: pass and fail counts, and whether they disagree.
#[derive(Clone, Debug, PartialEq)]
pub struct Verdicts {
    pub live_pass: usize,
    pub live_fail: usize,
    /// Live runs that did not complete (the world could not be built, …), with why.
    pub live_errors: Vec<String>,
    pub sim_pass: usize,
    pub sim_fail: usize,
    pub flagged: bool,
    pub why: String,
}

/// `pass`, `fail`, or `split` when neither has more than half the runs.
fn majority(pass: usize, fail: usize) -> &'static str {
    if pass > fail {
        "pass"
    } else if fail > pass {
        "fail"
    } else {
        "split"
    }
}

impl Verdicts {
    fn of(live: &[RunFacts], live_errors: &[String], sim: &[RunFacts]) -> Verdicts {
        let count = |runs: &[RunFacts]| {
            let pass = runs.iter().filter(|r| r.passed).count();
            (pass, runs.len() - pass)
        };
        let (live_pass, live_fail) = count(live);
        let (sim_pass, sim_fail) = count(sim);
        let (live_majority, sim_majority) =
            (majority(live_pass, live_fail), majority(sim_pass, sim_fail));
        let mut why = Vec::new();
        // A run differs from the other side's majority: one of the other verdict, or any run
        // at all when that side is split.
        let differ = |pass: usize, fail: usize, majority: &str| match majority {
            "pass" => fail,
            "fail" => pass,
            _ => pass + fail,
        };
        let live_off = differ(live_pass, live_fail, sim_majority);
        if live_off > 0 {
            why.push(format!(
                "{live_off} live run(s) differ from the simulator's majority ({sim_majority})"
            ));
        }
        let sim_off = differ(sim_pass, sim_fail, live_majority);
        if sim_off > 0 && !live.is_empty() {
            why.push(format!(
                "{sim_off} simulated seed(s) differ from live's majority ({live_majority})"
            ));
        }
        if !live_errors.is_empty() {
            why.push(format!(
                "{} live run(s) did not complete",
                live_errors.len()
            ));
        }
        let flagged = !why.is_empty();
        Verdicts {
            live_pass,
            live_fail,
            live_errors: live_errors.to_vec(),
            sim_pass,
            sim_fail,
            flagged,
            why: if flagged {
                why.join("; ")
            } else {
                format!("both sides: {live_majority}")
            },
        }
    }
}

/// Both sides of one file.
#[derive(Clone, Debug, PartialEq)]
pub struct Comparison {
    pub scenario: String,
    pub file: String,
    /// Live runs asked for.
    pub runs: u32,
    /// The simulator's seeds.
    pub seeds: Vec<u64>,
    pub live: Vec<RunFacts>,
    /// Each live run's directory (logs, write tables), in order; empty if not kept.
    pub live_dirs: Vec<String>,
    pub sim: Vec<RunFacts>,
    pub verdicts: Verdicts,
    pub measures: Vec<Measure>,
}

impl Comparison {
    /// Compares `live` (the completed live runs; `live_errors` are those that did not
    /// complete) with `sim` (one per seed of `seeds`).
    pub fn new(
        scenario: &str,
        file: &str,
        runs: u32,
        seeds: Vec<u64>,
        live: Vec<RunFacts>,
        live_errors: &[String],
        sim: Vec<RunFacts>,
    ) -> Comparison {
        let verdicts = Verdicts::of(&live, live_errors, &sim);
        let mut measures = Vec::new();
        let (live_runs, sim_runs) = (live.len(), sim.len());
        // Each side's values, and how many of its runs had one.
        let mut add = |name: &str, kind: Kind, l: (Vec<f64>, usize), s: (Vec<f64>, usize)| {
            let (live, sim) = (Stats::of(&l.0), Stats::of(&s.0));
            let (flagged, why) = flag_with_presence(
                kind,
                live.median,
                Presence {
                    with: l.1,
                    of: live_runs,
                },
                sim.median,
                Presence {
                    with: s.1,
                    of: sim_runs,
                },
            );
            measures.push(Measure {
                name: name.to_string(),
                kind,
                live,
                sim,
                flagged,
                why,
            });
        };
        let per_run = |runs: &[RunFacts], f: &dyn Fn(&RunFacts) -> u64| -> (Vec<f64>, usize) {
            (runs.iter().map(|r| f(r) as f64).collect(), runs.len())
        };
        let all_seconds = |runs: &[RunFacts]| -> (Vec<f64>, usize) {
            (
                runs.iter()
                    .flat_map(|r| r.failover_seconds.clone())
                    .collect(),
                runs.iter()
                    .filter(|r| !r.failover_seconds.is_empty())
                    .count(),
            )
        };
        add(
            "failover seconds",
            Kind::Seconds,
            all_seconds(&live),
            all_seconds(&sim),
        );
        // The failover the fault causes, one per run: the median over all failovers mixes
        // it with hand-backs after the heal and at start-up (0.1-0.3 s).
        let fault = |runs: &[RunFacts]| -> (Vec<f64>, usize) {
            let values: Vec<f64> = runs
                .iter()
                .filter_map(|r| r.fault_failover_seconds)
                .collect();
            let with = values.len();
            (values, with)
        };
        add(
            "fault failover seconds",
            Kind::Seconds,
            fault(&live),
            fault(&sim),
        );
        add(
            "failovers per run",
            Kind::Count,
            per_run(&live, &|r| r.failovers),
            per_run(&sim, &|r| r.failovers),
        );
        let mut pairs: Vec<&String> = live
            .iter()
            .chain(&sim)
            .flat_map(|r| r.promotions.keys())
            .collect();
        pairs.sort();
        pairs.dedup();
        for pair in pairs {
            let of = |r: &RunFacts| r.promotions.get(pair).copied().unwrap_or(0);
            add(
                &format!("promotions {pair}"),
                Kind::Count,
                per_run(&live, &of),
                per_run(&sim, &of),
            );
        }
        let counts: [(&str, CountOf); 5] = [
            ("writes accepted", |r| r.writes_accepted),
            ("writes refused", |r| r.writes_rejected),
            ("writes unavailable", |r| r.writes_unavailable),
            ("sessions expired", |r| r.sessions_expired),
            ("zk leader changes", |r| r.zk_leader_changes),
        ];
        for (name, f) in counts {
            add(name, Kind::Count, per_run(&live, &f), per_run(&sim, &f));
        }
        Comparison {
            scenario: scenario.to_string(),
            file: file.to_string(),
            runs,
            seeds,
            live,
            live_dirs: Vec::new(),
            sim,
            verdicts,
            measures,
        }
    }

    /// Whether anything is flagged: the verdicts or a measure.
    pub fn flagged(&self) -> bool {
        self.verdicts.flagged || self.measures.iter().any(|m| m.flagged)
    }

    /// The measure called `name`.
    pub fn measure(&self, name: &str) -> Option<&Measure> {
        self.measures.iter().find(|m| m.name == name)
    }

    /// The seeds in words: `1..=20`, or the list when they do not follow each other.
    pub fn seeds_text(&self) -> String {
        match (self.seeds.first(), self.seeds.last()) {
            (Some(first), Some(last))
                if self.seeds.len() > 1 && *last - *first + 1 == self.seeds.len() as u64 =>
            {
                format!("{first}..={last}")
            }
            _ => self
                .seeds
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(", "),
        }
    }

    /// The comparison as one JSON object.
    pub fn to_json(&self) -> serde_json::Value {
        let measures: Vec<serde_json::Value> = self
            .measures
            .iter()
            .map(|m| {
                serde_json::json!({
                    "name": m.name,
                    "kind": m.kind,
                    "live_median": m.live.median,
                    "sim_median": m.sim.median,
                    "live_min": m.live.min,
                    "live_max": m.live.max,
                    "sim_min": m.sim.min,
                    "sim_max": m.sim.max,
                    "flagged": m.flagged,
                    "why": m.why,
                })
            })
            .collect();
        let v = &self.verdicts;
        let mut live = side_json(&self.live);
        if let Some(object) = live.as_object_mut() {
            object.insert("errors".into(), serde_json::json!(v.live_errors));
            object.insert("run_dirs".into(), serde_json::json!(self.live_dirs));
        }
        let mut sim = side_json(&self.sim);
        if let Some(object) = sim.as_object_mut() {
            object.insert("seeds".into(), serde_json::json!(self.seeds));
        }
        serde_json::json!({
            "scenario": self.scenario,
            "file": self.file,
            "runs": self.runs,
            "seeds": self.seeds,
            "live": live,
            "sim": sim,
            "measures": measures,
            "verdicts": {
                "live": {"pass": v.live_pass, "fail": v.live_fail, "error": v.live_errors.len()},
                "sim": {"pass": v.sim_pass, "fail": v.sim_fail},
                "flagged": v.flagged,
                "why": v.why,
            },
            "flagged": self.flagged(),
            "flag_rule": FLAG_RULE,
        })
    }

    /// The comparison as a plain-text table.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let v = &self.verdicts;
        let _ = writeln!(
            out,
            "{} ({}): {} live run(s), simulator seeds {}",
            self.scenario,
            self.file,
            self.live.len() + v.live_errors.len(),
            self.seeds_text()
        );
        let _ = writeln!(out);
        let _ = writeln!(out, "{:<28} {:<30} {:<30}", "", "live", "simulator");
        let (live_verdicts, sim_verdicts) = (
            format!(
                "{} pass, {} fail{}",
                v.live_pass,
                v.live_fail,
                if v.live_errors.is_empty() {
                    String::new()
                } else {
                    format!(", {} error", v.live_errors.len())
                }
            ),
            format!("{} pass, {} fail", v.sim_pass, v.sim_fail),
        );
        let _ = writeln!(
            out,
            "{:<28} {live_verdicts:<30} {sim_verdicts:<30} {}",
            "verdicts",
            if v.flagged { "FLAGGED" } else { "" }
        );
        let _ = writeln!(
            out,
            "{:<28} {:<30} {:<30}",
            "violations (runs)",
            violations_text(&self.live),
            violations_text(&self.sim)
        );
        let _ = writeln!(
            out,
            "{:<28} {:<30} {:<30}",
            "expectations not met",
            expectations_text(&self.live),
            expectations_text(&self.sim)
        );
        let _ = writeln!(
            out,
            "{:<28} {:<30} {:<30}",
            "failovers per run",
            list(&self.live, |r| r.failovers),
            list(&self.sim, |r| r.failovers)
        );
        let _ = writeln!(out, "  verdicts: {}", v.why);
        for error in &v.live_errors {
            let _ = writeln!(out, "  live run did not complete: {error}");
        }
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "{:<28} {:<30} {:<30} flag",
            "measure (median [min..max])", "live", "simulator"
        );
        for m in &self.measures {
            let _ = writeln!(
                out,
                "{:<28} {:<30} {:<30} {}{}",
                m.name,
                stats_text(m.kind, &m.live),
                stats_text(m.kind, &m.sim),
                if m.flagged { "FLAGGED: " } else { "" },
                m.why
            );
        }
        let _ = writeln!(out);
        let flagged: Vec<&str> = self
            .measures
            .iter()
            .filter(|m| m.flagged)
            .map(|m| m.name.as_str())
            .chain(v.flagged.then_some("verdicts"))
            .collect();
        let _ = writeln!(
            out,
            "{}",
            if flagged.is_empty() {
                "nothing flagged".to_string()
            } else {
                format!("flagged: {}", flagged.join(", "))
            }
        );
        let _ = writeln!(out, "rule: {FLAG_RULE}");
        for dir in &self.live_dirs {
            let _ = writeln!(out, "live run directory: {dir}");
        }
        out
    }
}

/// One side's runs as JSON: verdict counts, violations by code, expectation failures, and
/// each run's facts.
fn side_json(runs: &[RunFacts]) -> serde_json::Value {
    serde_json::json!({
        "runs": runs.len(),
        "pass": runs.iter().filter(|r| r.passed).count(),
        "fail": runs.iter().filter(|r| !r.passed).count(),
        "violations": runs_with_violation(runs),
        "expectations_failed": runs_with_expectation_failed(runs),
        "failovers_per_run": runs.iter().map(|r| r.failovers).collect::<Vec<_>>(),
        "failover_seconds": runs.iter().flat_map(|r| r.failover_seconds.clone()).collect::<Vec<_>>(),
        "per_run": runs,
    })
}

/// How many runs saw each invariant's violations (codes in the checkers' order).
fn runs_with_violation(runs: &[RunFacts]) -> BTreeMap<&'static str, usize> {
    Invariant::ALL
        .iter()
        .map(|i| i.code())
        .map(|code| {
            let n = runs
                .iter()
                .filter(|r| r.violations.iter().any(|v| v == code))
                .count();
            (code, n)
        })
        .filter(|(_, n)| *n > 0)
        .collect()
}

/// How many runs failed each expectation.
fn runs_with_expectation_failed(runs: &[RunFacts]) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for run in runs {
        for e in &run.expectations_failed {
            *out.entry(e.clone()).or_default() += 1;
        }
    }
    out
}

fn violations_text(runs: &[RunFacts]) -> String {
    let counts = runs_with_violation(runs);
    if counts.is_empty() {
        return "-".into();
    }
    counts
        .iter()
        .map(|(code, n)| format!("{code} in {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn expectations_text(runs: &[RunFacts]) -> String {
    let failed: usize = runs.iter().map(|r| r.expectations_failed.len()).sum();
    if failed == 0 {
        return "-".into();
    }
    let runs_failing = runs
        .iter()
        .filter(|r| !r.expectations_failed.is_empty())
        .count();
    format!("{failed} in {runs_failing} run(s)")
}

/// Each run's value, in order (the first few).
fn list(runs: &[RunFacts], f: fn(&RunFacts) -> u64) -> String {
    let mut text: Vec<String> = runs.iter().take(10).map(|r| f(r).to_string()).collect();
    if runs.len() > 10 {
        text.push("…".into());
    }
    if text.is_empty() {
        "-".into()
    } else {
        text.join(" ")
    }
}

fn value_text(kind: Kind, v: Option<f64>) -> String {
    match (kind, v) {
        (_, None) => "-".into(),
        (Kind::Seconds, Some(v)) => format!("{v:.2}"),
        (Kind::Count, Some(v)) => num(v),
    }
}

fn stats_text(kind: Kind, s: &Stats) -> String {
    if s.median.is_none() {
        return "-".into();
    }
    format!(
        "{} [{}..{}]{}",
        value_text(kind, s.median),
        value_text(kind, s.min),
        value_text(kind, s.max),
        if kind == Kind::Seconds { " s" } else { "" }
    )
}

/// The comparison as a section of a report page (`html::compare_html`), in the page's style:
/// the verdicts, then one row per measure, flagged rows in the failure colour.
pub fn compare_section(c: &Comparison) -> String {
    let mut s = String::new();
    let v = &c.verdicts;
    let _ = write!(
        s,
        "<section class=\"compare\"><h2 class=\"{}\">Live against the simulator: {}</h2>\
         <p>{} live run(s) of <code>{}</code>; simulator seeds {}.</p><table>\
         <tr><th></th><th>live</th><th>simulator</th><th>flag</th></tr>",
        if c.flagged() { "fail" } else { "pass" },
        if c.flagged() {
            "differences flagged"
        } else {
            "nothing flagged"
        },
        c.live.len() + v.live_errors.len(),
        escape(&c.file),
        escape(&c.seeds_text()),
    );
    let row = |s: &mut String, name: &str, live: &str, sim: &str, flagged: bool, why: &str| {
        let _ = write!(
            s,
            "<tr><th>{}</th><td>{}</td><td>{}</td><td class=\"{}\">{}{}</td></tr>",
            escape(name),
            escape(live),
            escape(sim),
            if flagged { "fail" } else { "pass" },
            if flagged { "FLAGGED: " } else { "" },
            escape(why)
        );
    };
    row(
        &mut s,
        "verdicts (pass / fail)",
        &format!(
            "{} / {}{}",
            v.live_pass,
            v.live_fail,
            if v.live_errors.is_empty() {
                String::new()
            } else {
                format!(" ({} did not complete)", v.live_errors.len())
            }
        ),
        &format!("{} / {}", v.sim_pass, v.sim_fail),
        v.flagged,
        &v.why,
    );
    row(
        &mut s,
        "violations (runs)",
        &violations_text(&c.live),
        &violations_text(&c.sim),
        false,
        "",
    );
    row(
        &mut s,
        "expectations not met",
        &expectations_text(&c.live),
        &expectations_text(&c.sim),
        false,
        "",
    );
    for m in &c.measures {
        row(
            &mut s,
            &format!("{} (median [min..max])", m.name),
            &stats_text(m.kind, &m.live),
            &stats_text(m.kind, &m.sim),
            m.flagged,
            &m.why,
        );
    }
    let _ = write!(s, "</table><p>Rule: {}.</p></section>", escape(FLAG_RULE));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_flagged_past_a_fifth_of_the_larger_with_a_one_second_floor() {
        // 20 % of 12 is 2.4: 2.3 s apart is within, 2.5 s is not.
        assert!(!flag(Kind::Seconds, Some(12.0), Some(9.7)).0);
        assert!(flag(Kind::Seconds, Some(12.0), Some(9.5)).0);
        // Small times: the 1 s floor rules (0.3 against 1.2 is 75 % apart, but 0.9 s).
        assert!(!flag(Kind::Seconds, Some(0.3), Some(1.2)).0);
        assert!(flag(Kind::Seconds, Some(0.3), Some(1.4)).0);
        assert!(!flag(Kind::Seconds, Some(5.0), Some(5.0)).0);
    }

    #[test]
    fn counts_are_flagged_past_a_fifth_of_the_larger_and_at_least_two_apart() {
        assert!(!flag(Kind::Count, Some(1370.0), Some(1200.0)).0, "12 %");
        assert!(flag(Kind::Count, Some(1370.0), Some(1000.0)).0, "27 %");
        // 1 against 0 is 100 % apart, but only one apart: not flagged; 2 against 0 is.
        assert!(!flag(Kind::Count, Some(1.0), Some(0.0)).0);
        assert!(flag(Kind::Count, Some(2.0), Some(0.0)).0);
        // Exactly 20 % is not more than 20 %.
        assert!(!flag(Kind::Count, Some(10.0), Some(8.0)).0);
        assert!(!flag(Kind::Count, Some(0.0), Some(0.0)).0);
    }

    #[test]
    fn a_time_on_one_side_only_is_flagged_when_the_other_side_had_it_in_half_its_runs() {
        let p = |with, of| Presence { with, of };
        // Live failed over in every run, the simulator never.
        assert!(flag_with_presence(Kind::Seconds, Some(12.0), p(3, 3), None, p(0, 20)).0);
        // A start-up hand-over in 2 of 20 seeds, none live: not a difference.
        let (flagged, why) = flag_with_presence(Kind::Seconds, None, p(0, 3), Some(0.1), p(2, 20));
        assert!(!flagged, "{why}");
        assert!(why.contains("2 of 20"), "{why}");
        assert!(flag_with_presence(Kind::Seconds, None, p(0, 3), Some(0.1), p(10, 20)).0);
        // Both sides have it: the plain rule.
        assert!(!flag_with_presence(Kind::Seconds, Some(12.0), p(1, 3), Some(11.5), p(2, 20)).0);
    }

    #[test]
    fn a_measure_on_one_side_only_is_flagged_and_on_neither_is_not() {
        assert!(flag(Kind::Seconds, Some(12.0), None).0);
        assert!(flag(Kind::Seconds, None, Some(12.0)).0);
        assert_eq!(
            flag(Kind::Seconds, None, None),
            (false, "none on either side".to_string())
        );
    }

    #[test]
    fn medians_of_odd_and_even_counts() {
        assert_eq!(Stats::of(&[3.0, 1.0, 2.0]).median, Some(2.0));
        assert_eq!(
            Stats::of(&[4.0, 1.0, 2.0, 3.0]).median,
            Some(2.0),
            "the low median"
        );
        // Three fault failovers and three hand-backs: a median one of them took.
        let mixed = Stats::of(&[6.2, 0.3, 8.7, 0.26, 7.3, 0.28]);
        assert_eq!(mixed.median, Some(0.3));
        let s = Stats::of(&[0.3, 12.1]);
        assert_eq!((s.min, s.max), (Some(0.3), Some(12.1)));
        assert_eq!(Stats::of(&[]), Stats::default());
    }

    fn run(passed: bool, failover: &[f64], accepted: u64) -> RunFacts {
        RunFacts {
            passed,
            failovers: failover.len() as u64,
            failover_seconds: failover.to_vec(),
            fault_failover_seconds: failover.first().copied(),
            promotions: [("bank".to_string(), failover.len() as u64 + 1)].into(),
            writes_accepted: accepted,
            ..RunFacts::default()
        }
    }

    fn compare(live: Vec<RunFacts>, sim: Vec<RunFacts>) -> Comparison {
        Comparison::new(
            "x",
            "x.toml",
            live.len() as u32,
            (1..=sim.len() as u64).collect(),
            live,
            &[],
            sim,
        )
    }

    #[test]
    fn close_runs_flag_nothing() {
        let c = compare(
            vec![run(true, &[12.4, 0.3], 1350), run(true, &[11.9, 0.2], 1362)],
            (0..5)
                .map(|i| run(true, &[12.0 + i as f64 / 10.0, 0.3], 1370))
                .collect(),
        );
        assert!(!c.flagged(), "{}", c.table());
        let fo = c.measure("failover seconds").unwrap();
        assert_eq!(fo.live.max, Some(12.4));
        assert_eq!(c.measure("promotions bank").unwrap().live.median, Some(3.0));
        assert_eq!(c.seeds_text(), "1..=5");
    }

    #[test]
    fn a_run_off_the_other_sides_majority_flags_the_verdicts() {
        let sim: Vec<RunFacts> = (0..5).map(|_| run(true, &[12.0], 1370)).collect();
        let c = compare(
            vec![run(true, &[12.0], 1370), run(false, &[12.0], 1370)],
            sim.clone(),
        );
        assert!(c.verdicts.flagged);
        assert!(
            c.verdicts.why.contains("1 live run(s) differ"),
            "{}",
            c.verdicts.why
        );
        assert!(c.flagged());
        // A seed failing in the simulator while every live run passes is flagged too.
        let mut sim = sim;
        sim[2].passed = false;
        let c = compare(vec![run(true, &[12.0], 1370)], sim);
        assert!(c.verdicts.flagged);
        assert!(c.verdicts.why.contains("1 simulated seed(s)"));
        // A live run that did not complete is flagged.
        let c = Comparison::new(
            "x",
            "x.toml",
            2,
            vec![1],
            vec![run(true, &[12.0], 9)],
            &["boom".into()],
            vec![run(true, &[12.0], 9)],
        );
        assert!(c.verdicts.flagged);
    }

    #[test]
    fn a_slower_failover_and_fewer_writes_are_flagged_by_name() {
        let c = compare(
            vec![run(true, &[18.0], 900)],
            vec![run(true, &[12.0], 1370)],
        );
        let flagged: Vec<&str> = c
            .measures
            .iter()
            .filter(|m| m.flagged)
            .map(|m| m.name.as_str())
            .collect();
        assert_eq!(
            flagged,
            [
                "failover seconds",
                "fault failover seconds",
                "writes accepted"
            ]
        );
        let json = c.to_json();
        assert_eq!(json["measures"][0]["name"], "failover seconds");
        assert_eq!(json["measures"][0]["live_median"], 18.0);
        assert_eq!(json["measures"][0]["flagged"], true);
        assert_eq!(json["flagged"], true);
        assert!(c.table().contains("FLAGGED"));
        assert!(compare_section(&c).contains("class=\"fail\""));
    }
}
