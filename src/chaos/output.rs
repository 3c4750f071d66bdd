//! Turns a finished campaign into its report directory: one shrunk scenario file per finding,
//! whose header says what was found and how to replay it, then the files of
//! [`report`](super::report).

use super::campaign::{Campaign, Found};
use super::explore::Finding;
use super::generate::GenOptions;
use super::report::{ChaosSummary, Failure, GuidedSummary, write_report};
use crate::report::junit::JunitCase;
use crate::scenario::write::to_toml;
use std::path::Path;
use std::time::Duration;

/// How a campaign was run, for the report.
#[derive(Clone, Debug)]
pub struct RunInfo {
    pub election: String,
    pub started_at: String,
    pub interrupted: bool,
    pub stop_at_first: bool,
    pub shrink: bool,
    pub max_shrink_runs: usize,
    /// What the generator drew within (a guided corpus's scenario files are laid out with it).
    pub generate: GenOptions,
}

/// Writes a campaign's report into `dir`: a scenario file per finding (`seed-N-INV.toml`,
/// whose header says what was found and how to replay it), then `summary.json`, `junit.xml`
/// and `index.html`. Returns the summary written.
pub fn write_campaign(
    dir: &Path,
    campaign: &Campaign,
    info: &RunInfo,
) -> std::io::Result<ChaosSummary> {
    std::fs::create_dir_all(dir)?;
    let guided = match &campaign.guided {
        None => None,
        Some(run) => {
            run.corpus.write(dir, &info.generate)?;
            Some(GuidedSummary {
                corpus_file: "corpus.json".into(),
                corpus_entries: run.corpus.len(),
                corpus_initial_entries: run.initial_entries,
                mutant_seeds: run.mutants,
                batch: super::guided::BATCH,
            })
        }
    };
    let mut failures = Vec::new();
    for (result, found) in campaign.findings() {
        let failure = match found {
            Found::Finding(f) => {
                let file = format!("seed-{}-{}.toml", result.seed, f.invariant);
                let replay = format!("splitbrain run {}", dir.join(&file).display());
                let header = scenario_header(result.seed, &info.election, f, &replay);
                let text = to_toml(&f.shrunk, &header);
                std::fs::write(dir.join(&file), &text)?;
                Failure {
                    seed: result.seed,
                    invariant: f.invariant.clone(),
                    at: f.at,
                    detail: f.detail.clone(),
                    scenario: Some(file),
                    scenario_text: text,
                    replay,
                    steps_before: f.steps_before,
                    steps_after: f.steps_after,
                    shrink_runs: f.shrink_runs,
                    timeline: result.timeline.clone().unwrap_or_default(),
                    mutant_of: result.mutant_of,
                }
            }
            Found::Crash(_) => Failure {
                replay: crash_replay(dir, campaign, result.seed, info)?,
                mutant_of: result.mutant_of,
                seed: result.seed,
                invariant: found.invariant().to_string(),
                at: Duration::ZERO,
                detail: format!("exploring the seed failed: {}", found.detail()),
                scenario: None,
                scenario_text: String::new(),
                steps_before: result.steps,
                steps_after: result.steps,
                shrink_runs: 0,
                timeline: String::new(),
            },
        };
        failures.push(failure);
    }
    let cases: Vec<JunitCase> = campaign
        .results
        .iter()
        .map(|r| JunitCase {
            name: format!("seed {}", r.seed),
            seconds: r.wall.as_secs_f64(),
            failure: failures.iter().find(|f| f.seed == r.seed).map(|f| {
                (
                    format!("{} at {:.3} s", f.invariant, f.at.as_secs_f64()),
                    format!("{}\nreplay: {}", f.detail, f.replay),
                )
            }),
        })
        .collect();
    let summary = ChaosSummary {
        mode: campaign.mode().to_string(),
        guided,
        seeds_run: campaign.seeds_run(),
        coverage: super::coverage::tally(campaign.results.iter().map(|r| (r.seed, r.coverage))),
        violations: campaign.violations(),
        failures: ChaosSummary::failure_summaries(&failures),
        first_seed: campaign.first_seed,
        seeds_requested: campaign.seeds,
        jobs: campaign.jobs,
        election: info.election.clone(),
        started_at: info.started_at.clone(),
        wall_seconds: campaign.wall.as_secs_f64(),
        seeds_per_minute: campaign.seeds_per_minute(),
        cpu_seconds: campaign.cpu.map(|cpu| cpu.as_secs_f64()),
        seeds_per_cpu_minute: campaign.seeds_per_cpu_minute(),
        interrupted: info.interrupted,
        stop_at_first: info.stop_at_first,
        seeds_to_first_find: campaign.first_find().map(|(n, _, _)| n),
        shrink: info.shrink,
        max_shrink_runs: info.max_shrink_runs,
    };
    write_report(dir, &summary, &failures, &cases)?;
    Ok(summary)
}

/// The command that replays a seed whose exploration crashed: the seed alone (a fresh seed of
/// a guided campaign draws what it draws in a random one), or, for a guided seed that mutated
/// a corpus entry, the seed with the corpus it saw (written now as
/// `corpus-seed-N/corpus.json`).
fn crash_replay(
    dir: &Path,
    campaign: &Campaign,
    seed: u64,
    info: &RunInfo,
) -> std::io::Result<String> {
    let seen = (campaign.guided.iter())
        .flat_map(|g| &g.crash_corpora)
        .find(|(s, _)| *s == seed);
    let mut replay = format!(
        "splitbrain chaos --seeds 1 --start {seed} --election {}",
        info.election
    );
    if let Some((_, corpus)) = seen {
        let corpus_dir = dir.join(format!("corpus-seed-{seed}"));
        corpus.write(&corpus_dir, &info.generate)?;
        replay.push_str(&format!(
            " --guided --corpus {}",
            corpus_dir.join("corpus.json").display()
        ));
    }
    Ok(replay)
}

/// The comment at the top of a shrunk scenario file (without `#` marks).
fn scenario_header(seed: u64, election: &str, f: &Finding, replay: &str) -> String {
    let mut header = format!(
        "Found by `splitbrain chaos` (seed {seed}, election {election}): {} at {:.3} s\n",
        f.invariant,
        f.at.as_secs_f64()
    );
    for line in f.detail.lines() {
        header.push_str(&format!("  {line}\n"));
    }
    header.push_str(&format!(
        "Shrunk from {} to {} steps in {} runs.\nReplay: {replay}",
        f.steps_before, f.steps_after, f.shrink_runs
    ));
    header
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chaos::campaign::SeedResult;
    use crate::chaos::seeds::Crash;

    #[test]
    fn a_seed_whose_exploration_crashed_is_reported_with_its_seed_to_replay() {
        let dir =
            std::env::temp_dir().join(format!("splitbrain-output-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let campaign = Campaign {
            first_seed: 5,
            seeds: 3,
            jobs: 2,
            results: vec![
                SeedResult {
                    seed: 5,
                    wall: Duration::from_millis(40),
                    steps: 7,
                    found: None,
                    timeline: None,
                    real_fails_too: false,
                    coverage: Default::default(),
                    mutant_of: None,
                },
                SeedResult {
                    seed: 6,
                    wall: Duration::from_millis(10),
                    steps: 0,
                    found: Some(Found::Crash(Crash::Panic("generator <boom>".into()))),
                    timeline: None,
                    real_fails_too: false,
                    coverage: Default::default(),
                    mutant_of: None,
                },
            ],
            wall: Duration::from_secs(1),
            cpu: None,
            guided: None,
        };
        let info = RunInfo {
            election: "p3".into(),
            started_at: "2026-11-25T19:30:00Z".into(),
            interrupted: true,
            stop_at_first: false,
            shrink: true,
            max_shrink_runs: 150,
            generate: GenOptions::default(),
        };
        let summary = write_campaign(&dir, &campaign, &info).unwrap();
        assert_eq!((summary.seeds_run, summary.violations), (2, 1));
        assert_eq!(summary.seeds_to_first_find, Some(2));
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap())
                .unwrap();
        let failure = &json["failures"][0];
        assert_eq!(failure["seed"], 6);
        assert_eq!(failure["invariant"], "panic");
        assert_eq!(failure["scenario"], serde_json::Value::Null);
        assert_eq!(
            failure["replay"],
            "splitbrain chaos --seeds 1 --start 6 --election p3"
        );
        assert_eq!(json["interrupted"], true);
        let junit = std::fs::read_to_string(dir.join("junit.xml")).unwrap();
        assert!(junit.contains(r#"tests="2" failures="1""#), "{junit}");
        assert!(junit.contains("generator &lt;boom&gt;"), "{junit}");
        let html = std::fs::read_to_string(dir.join("index.html")).unwrap();
        assert!(html.contains("no: interrupted") && html.contains("seed 6 — panic"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
