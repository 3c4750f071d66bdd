//! Writes a chaos run's report directory: `summary.json` (for scripts and dashboards; fields
//! `seeds_run`, `violations`, `failures[{seed, invariant, scenario}]`, `coverage`), `junit.xml`
//! (one case per seed), `index.html` (the summary, the coverage with its blind spots first,
//! and per failure its scenario, replay command and timeline picture) and one shrunk scenario
//! file per finding. `scenario` paths are relative to
//! the directory, so a report can be moved or archived whole.

use super::coverage::PointCoverage;
use crate::report::html::{FailureSection, index_html_with};
use crate::report::junit::{JunitCase, junit_xml};
use crate::report::svg::{Marker, timeline_svg};
use crate::sim::history::Entry;
use std::path::Path;
use std::time::Duration;

/// One failing seed, with what the page needs to draw it.
#[derive(Clone, Debug)]
pub struct Failure {
    pub seed: u64,
    /// `2M`, `SW`, `NM`, `WP`, `step`, `expectation`, `panic` or `hang`.
    pub invariant: String,
    /// True simulated time of the violation.
    pub at: Duration,
    pub detail: String,
    /// The shrunk scenario file, relative to the report directory (none when exploring the
    /// seed itself crashed: then only the seed replays it).
    pub scenario: Option<String>,
    /// The shrunk scenario's text, shown on the page.
    pub scenario_text: String,
    /// The command that replays the failure, from where the chaos run was started.
    pub replay: String,
    pub steps_before: usize,
    pub steps_after: usize,
    pub shrink_runs: usize,
    /// The timeline picture of the shrunk run ([`failure_timeline`]), drawn as soon as the
    /// failure is found so that its history need not be kept (megabytes per run).
    pub timeline: String,
    /// Guided: the corpus entry (by its seed) the failing schedule was a mutant of.
    pub mutant_of: Option<u64>,
}

/// The SVG timeline of a failing run over `0..end`, its violation marked at `at`.
pub fn failure_timeline(history: &[Entry], end: Duration, at: Duration, invariant: &str) -> String {
    timeline_svg(
        history,
        end,
        &[Marker {
            at,
            label: invariant.to_string(),
        }],
    )
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct FailureSummary {
    pub seed: u64,
    pub invariant: String,
    pub at_seconds: f64,
    pub detail: String,
    /// Path of the shrunk scenario file, relative to the report directory.
    pub scenario: Option<String>,
    pub replay: String,
    pub steps_before: usize,
    pub steps_after: usize,
    pub shrink_runs: usize,
    /// Guided: the corpus entry (by its seed) the failing schedule was a mutant of.
    pub mutant_of: Option<u64>,
}

/// What guided search kept and did.
#[derive(Clone, Debug, serde::Serialize)]
pub struct GuidedSummary {
    /// The corpus file written (relative to the report directory), with its entries'
    /// scenario files in `corpus/`.
    pub corpus_file: String,
    /// Entries at the end, and those it started with (`--corpus`).
    pub corpus_entries: usize,
    pub corpus_initial_entries: usize,
    /// Seeds that ran a mutant of a corpus entry instead of a fresh draw.
    pub mutant_seeds: u64,
    /// Seeds per generation: every seed of one saw the corpus as the earlier ones left it.
    pub batch: u64,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct ChaosSummary {
    /// `random` (every seed a fresh draw) or `guided` (`--guided`: some seeds mutate corpus
    /// entries).
    pub mode: String,
    /// With `mode` = `guided`.
    pub guided: Option<GuidedSummary>,
    pub seeds_run: u64,
    /// Seeds that found something (each is one entry of `failures`).
    pub violations: u64,
    pub failures: Vec<FailureSummary>,
    pub first_seed: u64,
    /// Seeds asked for (`seeds_run` is less after a stop).
    pub seeds_requested: u64,
    pub jobs: usize,
    /// Which election code ran (`real`, or a broken variant such as `p1`).
    pub election: String,
    /// UTC, RFC 3339.
    pub started_at: String,
    pub wall_seconds: f64,
    pub seeds_per_minute: f64,
    /// CPU time of all threads, and seeds per CPU-minute (per fully available core).
    pub cpu_seconds: Option<f64>,
    pub seeds_per_cpu_minute: Option<f64>,
    /// Stopped by Ctrl-C before every seed ran.
    pub interrupted: bool,
    /// Asked to stop at the first finding.
    pub stop_at_first: bool,
    /// Seeds from `first_seed` up to and including the lowest failing one.
    pub seeds_to_first_find: Option<u64>,
    pub shrink: bool,
    pub max_shrink_runs: usize,
    /// Per coverage point, the seeds that reached it and the lowest that did: the points no
    /// seed reached (the night's blind spots) first, then the rest, rarest first.
    pub coverage: Vec<PointCoverage>,
}

impl ChaosSummary {
    pub fn failure_summaries(failures: &[Failure]) -> Vec<FailureSummary> {
        failures
            .iter()
            .map(|f| FailureSummary {
                seed: f.seed,
                invariant: f.invariant.clone(),
                at_seconds: f.at.as_secs_f64(),
                detail: f.detail.clone(),
                scenario: f.scenario.clone(),
                replay: f.replay.clone(),
                steps_before: f.steps_before,
                steps_after: f.steps_after,
                shrink_runs: f.shrink_runs,
                mutant_of: f.mutant_of,
            })
            .collect()
    }
}

/// Writes `summary.json`, `junit.xml` and `index.html` into `dir` (created if missing).
pub fn write_report(
    dir: &Path,
    summary: &ChaosSummary,
    failures: &[Failure],
    cases: &[JunitCase],
) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let json = serde_json::to_string_pretty(summary).map_err(std::io::Error::other)?;
    std::fs::write(dir.join("summary.json"), json + "\n")?;
    std::fs::write(dir.join("junit.xml"), junit_xml("splitbrain-chaos", cases))?;
    let rows = vec![
        ("election code".to_string(), summary.election.clone()),
        (
            "mode".to_string(),
            match &summary.guided {
                None => summary.mode.clone(),
                Some(g) => format!(
                    "{}: {} of {} seeds mutated a corpus entry; corpus {} entries ({} at the start), in {}",
                    summary.mode,
                    g.mutant_seeds,
                    summary.seeds_run,
                    g.corpus_entries,
                    g.corpus_initial_entries,
                    g.corpus_file
                ),
            },
        ),
        ("started".to_string(), summary.started_at.clone()),
        (
            "seeds run".to_string(),
            format!(
                "{} of {} (from seed {})",
                summary.seeds_run, summary.seeds_requested, summary.first_seed
            ),
        ),
        ("violations".to_string(), summary.violations.to_string()),
        ("jobs".to_string(), summary.jobs.to_string()),
        (
            "wall time".to_string(),
            format!(
                "{:.1} s ({:.0} seeds/min)",
                summary.wall_seconds, summary.seeds_per_minute
            ),
        ),
        (
            "CPU time".to_string(),
            match (summary.cpu_seconds, summary.seeds_per_cpu_minute) {
                (Some(cpu), Some(rate)) => format!("{cpu:.1} s ({rate:.0} seeds per CPU-minute)"),
                _ => "unknown".to_string(),
            },
        ),
        (
            "complete".to_string(),
            if summary.interrupted {
                "no: interrupted".into()
            } else if summary.seeds_run < summary.seeds_requested {
                "no: stopped at the first finding".into()
            } else {
                "yes".into()
            },
        ),
    ];
    let sections: Vec<FailureSection> = failures
        .iter()
        .map(|f| FailureSection {
            seed: f.seed,
            invariant: f.invariant.clone(),
            detail: format!("at {:.3} s: {}", f.at.as_secs_f64(), f.detail),
            scenario: f.scenario.clone(),
            scenario_text: f.scenario_text.clone(),
            replay: f.replay.clone(),
            shrinking: format!(
                "shrunk from {} to {} steps in {} runs",
                f.steps_before, f.steps_after, f.shrink_runs
            ),
            svg: f.timeline.clone(),
        })
        .collect();
    std::fs::write(
        dir.join("index.html"),
        index_html_with(
            "splitbrain chaos report",
            &rows,
            &super::coverage::html_section(&summary.coverage, summary.seeds_run),
            &sections,
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::history::Record;

    #[test]
    fn writes_the_three_files() {
        let dir =
            std::env::temp_dir().join(format!("splitbrain-report-test-{}", std::process::id()));
        let failure = Failure {
            seed: 42,
            invariant: "2M".into(),
            at: Duration::from_secs(12),
            detail: "n1 (token 5) and n2 (token 7) both master".into(),
            scenario: Some("seed-42.toml".into()),
            scenario_text: "[run]\nseed = 42\n".into(),
            replay: "splitbrain run seed-42.toml".into(),
            steps_before: 9,
            steps_after: 1,
            shrink_runs: 20,
            mutant_of: None,
            timeline: failure_timeline(
                &[Entry {
                    at: Duration::ZERO,
                    record: Record::HostStarted { host: "n1".into() },
                }],
                Duration::from_secs(60),
                Duration::from_secs(12),
                "2M",
            ),
        };
        let summary = ChaosSummary {
            mode: "random".into(),
            guided: None,
            seeds_run: 10,
            coverage: super::super::coverage::tally([(3, Default::default())]),
            violations: 1,
            failures: ChaosSummary::failure_summaries(std::slice::from_ref(&failure)),
            first_seed: 0,
            seeds_requested: 10,
            jobs: 2,
            election: "real".into(),
            started_at: "2026-11-25T19:30:00Z".into(),
            wall_seconds: 1.5,
            seeds_per_minute: 400.0,
            cpu_seconds: Some(2.9),
            seeds_per_cpu_minute: Some(207.0),
            interrupted: false,
            stop_at_first: false,
            seeds_to_first_find: Some(43),
            shrink: true,
            max_shrink_runs: 200,
        };
        let cases = vec![JunitCase {
            name: "seed 42".into(),
            seconds: 0.1,
            failure: Some(("2M".into(), "detail".into())),
        }];
        write_report(&dir, &summary, &[failure], &cases).unwrap();
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap())
                .unwrap();
        assert_eq!(json["seeds_run"], 10);
        assert_eq!(json["violations"], 1);
        assert_eq!(json["failures"][0]["seed"], 42);
        assert_eq!(json["failures"][0]["invariant"], "2M");
        assert_eq!(json["failures"][0]["scenario"], "seed-42.toml");
        assert!(
            std::fs::read_to_string(dir.join("junit.xml"))
                .unwrap()
                .contains("failures=\"1\"")
        );
        let html = std::fs::read_to_string(dir.join("index.html")).unwrap();
        assert!(html.contains("<svg") && html.contains("splitbrain run seed-42.toml"));
        assert!(
            html.contains("seed = 42"),
            "the scenario text is on the page"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
