//! A chaos campaign: seeds `first..first + count` explored on `jobs` threads, each by
//! [`explore_seed`] (generate a world and fault schedule, run it, judge it, shrink a failure).
//! What a passing seed leaves behind is dropped as soon as it is judged, so a night of seeds
//! costs memory only for its findings.

use super::explore::{ExploreOptions, Finding, Origin, SeedOutcome, explore_from};
use super::guided::{self, Corpus, Plan};
use super::progress::Tally;
use super::report::failure_timeline;
use super::seeds::{Crash, SeedRun, run_seeds};
use crate::coverage::Reached;
use crate::election::ElectionCode;
use crate::scenario::Scenario;
use crate::scenario::runner;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

#[derive(Clone, Debug)]
pub struct CampaignOptions {
    pub first_seed: u64,
    pub seeds: u64,
    /// Worker threads (at least one).
    pub jobs: usize,
    pub explore: ExploreOptions,
    /// Stop starting seeds once one has found something (seeds already running finish).
    pub stop_at_first: bool,
    /// Count a finding only if the real election code passes the same generated schedule:
    /// when hunting a broken variant, failures the real code shares are not the variant's.
    pub only_beyond_real: bool,
    /// Guided search from this corpus (empty, or read from a corpus file); `None` draws every
    /// seed fresh.
    pub guided: Option<Corpus>,
}

/// What a seed found.
#[derive(Clone, Debug)]
pub enum Found {
    /// A violation, or a panic or hang inside a run, with its shrunk scenario.
    Finding(Box<Finding>),
    /// Exploring the seed itself failed (generator or shrinker): nothing to replay but the seed.
    Crash(Crash),
}

impl Found {
    /// `2M`, `SW`, …, `panic`, `hang`.
    pub fn invariant(&self) -> &str {
        match self {
            Found::Finding(f) => &f.invariant,
            Found::Crash(Crash::Panic(_)) => "panic",
            Found::Crash(Crash::Hang(_)) => "hang",
        }
    }

    pub fn detail(&self) -> &str {
        match self {
            Found::Finding(f) => &f.detail,
            Found::Crash(Crash::Panic(m) | Crash::Hang(m)) => m,
        }
    }
}

/// What a campaign keeps of one seed.
#[derive(Clone, Debug)]
pub struct SeedResult {
    pub seed: u64,
    /// Wall-clock time of the seed, shrinking included.
    pub wall: Duration,
    /// Steps of the generated schedule.
    pub steps: usize,
    pub found: Option<Found>,
    /// The timeline picture of a finding's shrunk run (its history is dropped once drawn).
    pub timeline: Option<String>,
    /// With `only_beyond_real`: the seed failed, but the real code fails it too, so it does
    /// not count as found.
    pub real_fails_too: bool,
    /// The coverage points the seed's generated run reached.
    pub coverage: Reached,
    /// Guided: the corpus entry (by its seed) this seed's schedule is a mutant of.
    pub mutant_of: Option<u64>,
}

/// The seeds a campaign ran, in seed order.
#[derive(Clone, Debug)]
pub struct Campaign {
    pub first_seed: u64,
    /// Seeds asked for.
    pub seeds: u64,
    pub jobs: usize,
    pub results: Vec<SeedResult>,
    pub wall: Duration,
    /// CPU time the process spent during the campaign (every thread), when the system tells:
    /// on a shared machine, seeds per CPU-minute says more than seeds per wall minute.
    pub cpu: Option<Duration>,
    /// What guided search kept and did (`None` for a random campaign).
    pub guided: Option<GuidedRun>,
}

/// A guided campaign's corpus and what it did.
#[derive(Clone, Debug)]
pub struct GuidedRun {
    /// The corpus after the last batch.
    pub corpus: Corpus,
    /// Entries it started with (from `--corpus`).
    pub initial_entries: usize,
    /// Seeds that ran a mutant of an entry rather than a fresh draw.
    pub mutants: u64,
    /// For each seed whose exploration crashed after mutating an entry: the corpus it saw,
    /// which with the seed replays it.
    pub crash_corpora: Vec<(u64, Corpus)>,
}

impl Campaign {
    /// `random` or `guided`.
    pub fn mode(&self) -> &'static str {
        if self.guided.is_some() {
            "guided"
        } else {
            "random"
        }
    }
}

impl Campaign {
    pub fn seeds_run(&self) -> u64 {
        self.results.len() as u64
    }

    /// Seeds that found something.
    pub fn findings(&self) -> impl Iterator<Item = (&SeedResult, &Found)> {
        self.results
            .iter()
            .filter_map(|r| r.found.as_ref().map(|f| (r, f)))
    }

    pub fn violations(&self) -> u64 {
        self.findings().count() as u64
    }

    /// Not every seed asked for ran (a stop request, or the first find).
    pub fn stopped_early(&self) -> bool {
        self.seeds_run() < self.seeds
    }

    /// The lowest failing seed and how many seeds it took to get there (every lower seed
    /// ran: seeds are handed out in order and a started seed always finishes).
    pub fn first_find(&self) -> Option<(u64, &SeedResult, &Found)> {
        self.findings()
            .next()
            .map(|(r, f)| (r.seed - self.first_seed + 1, r, f))
    }

    /// Failing seeds not counted because the real code fails them too.
    pub fn shared_with_real(&self) -> u64 {
        self.results.iter().filter(|r| r.real_fails_too).count() as u64
    }

    pub fn seeds_per_minute(&self) -> f64 {
        super::progress::per_minute(self.seeds_run(), self.wall)
    }

    /// Seeds per minute of CPU time (what one fully available core would do).
    pub fn seeds_per_cpu_minute(&self) -> Option<f64> {
        self.cpu
            .map(|cpu| super::progress::per_minute(self.seeds_run(), cpu))
    }
}

/// Runs the campaign. `stop` ends it early (running seeds finish, no new one starts); the
/// campaign sets it itself on the first find when `stop_at_first`. `on_done` sees the tally
/// after every seed, and a one-line note when that seed found something.
pub fn run_campaign(
    options: &CampaignOptions,
    stop: &AtomicBool,
    mut on_done: impl FnMut(Tally, Option<String>),
) -> Campaign {
    let started = Instant::now();
    let cpu_before = process_cpu_time();
    let seeds: Vec<u64> = (0..options.seeds)
        .map_while(|i| options.first_seed.checked_add(i))
        .collect();
    let mut tally = Tally {
        done: 0,
        total: seeds.len() as u64,
        violations: 0,
    };
    // One batch of seeds on the workers, with the plan each runs (fresh when none).
    let mut run_batch = |batch: Vec<u64>, plans: &[(u64, Plan)]| -> Vec<SeedRun<SeedResult>> {
        let plan_of = |seed: u64| plans.iter().find(|(s, _)| *s == seed).map(|(_, p)| p);
        let fresh = Plan::fresh();
        let work = |seed: u64| {
            let plan = plan_of(seed).unwrap_or(&fresh);
            let mut result = explore(seed, &plan.origin, options);
            result.mutant_of = plan.parent;
            if options.stop_at_first && result.found.is_some() {
                // From the worker, so that it does not take another seed before the stop is seen.
                stop.store(true, Ordering::SeqCst);
            }
            result
        };
        run_seeds(batch, options.jobs, stop, work, |run| {
            tally.done += 1;
            let note = match &run.result {
                Ok(SeedResult { found: None, .. }) => None,
                Ok(SeedResult {
                    found: Some(found), ..
                }) => Some(note(run.seed, found)),
                Err(crash) => Some(note(run.seed, &Found::Crash(crash.clone()))),
            };
            if note.is_some() {
                tally.violations += 1;
                if options.stop_at_first {
                    stop.store(true, Ordering::SeqCst);
                }
            }
            on_done(tally, note);
        })
    };
    let (runs, guided) = match &options.guided {
        None => (run_batch(seeds, &[]), None),
        Some(corpus) => {
            let mut run = GuidedRun {
                corpus: corpus.clone(),
                initial_entries: corpus.len(),
                mutants: 0,
                crash_corpora: vec![],
            };
            let mut runs = Vec::new();
            for batch in seeds.chunks(guided::BATCH as usize) {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let generate = &options.explore.generate;
                let plans: Vec<(u64, Plan)> = batch
                    .iter()
                    .map(|&seed| (seed, run.corpus.plan(seed, generate)))
                    .collect();
                let done = run_batch(batch.to_vec(), &plans);
                let before = (done.iter())
                    .any(|r| r.result.is_err())
                    .then(|| run.corpus.clone());
                for seed_run in &done {
                    let plan = plans.iter().find(|(s, _)| *s == seed_run.seed);
                    let Some((seed, plan)) = plan else { continue };
                    run.mutants += u64::from(plan.parent.is_some());
                    let reached = seed_run
                        .result
                        .as_ref()
                        .map_or(Reached::default(), |r| r.coverage);
                    if seed_run.result.is_err() && plan.parent.is_some() {
                        let seen = before.clone().expect("kept when a seed crashed");
                        run.crash_corpora.push((*seed, seen));
                    }
                    let points: Vec<guided::PointId> = reached
                        .iter()
                        .map(|p| p as usize as guided::PointId)
                        .collect();
                    run.corpus
                        .fold(*seed, plan.parent, &points, || match &plan.origin {
                            Origin::Fresh => super::explore::generated_genotype(*seed, generate)
                                .laid_out(generate.fault_phase),
                            Origin::Mutant(genotype) => genotype.as_ref().clone(),
                        });
                }
                runs.extend(done);
            }
            (runs, Some(run))
        }
    };
    let results = runs
        .into_iter()
        .map(|run| match run.result {
            Ok(result) => SeedResult {
                wall: run.wall,
                ..result
            },
            Err(crash) => SeedResult {
                seed: run.seed,
                wall: run.wall,
                steps: 0,
                found: Some(Found::Crash(crash)),
                timeline: None,
                real_fails_too: false,
                coverage: Reached::default(),
                mutant_of: None,
            },
        })
        .collect();
    Campaign {
        first_seed: options.first_seed,
        seeds: options.seeds,
        jobs: options.jobs.max(1),
        results,
        wall: started.elapsed(),
        cpu: process_cpu_time()
            .zip(cpu_before)
            .map(|(after, before)| after.saturating_sub(before)),
        guided,
    }
}

/// One seed, its schedule from `origin`, as the options say.
fn explore(seed: u64, origin: &Origin, options: &CampaignOptions) -> SeedResult {
    let result = |outcome: SeedOutcome| {
        let steps = outcome.scenario.steps.len();
        let coverage = outcome.coverage;
        let (found, timeline) = match outcome.finding {
            None => (None, None),
            Some(mut f) => {
                let timeline = failure_timeline(&f.history, f.end, f.at, &f.invariant);
                f.history = Vec::new();
                (Some(Found::Finding(Box::new(f))), Some(timeline))
            }
        };
        SeedResult {
            seed,
            wall: Duration::ZERO,
            steps,
            found,
            timeline,
            real_fails_too: false,
            coverage,
            mutant_of: None,
        }
    };
    if !options.only_beyond_real || options.explore.generate.election == ElectionCode::Real {
        return result(explore_from(seed, origin, &options.explore));
    }
    // Judge the schedule as generated first; shrink only what the real code passes.
    let unshrunk = ExploreOptions {
        shrink: false,
        ..options.explore.clone()
    };
    let outcome = explore_from(seed, origin, &unshrunk);
    if outcome.finding.is_none() {
        return result(outcome);
    }
    if !real_code_passes(&outcome.scenario) {
        return SeedResult {
            found: None,
            real_fails_too: true,
            ..result(outcome)
        };
    }
    if options.explore.shrink {
        result(explore_from(seed, origin, &options.explore))
    } else {
        result(outcome)
    }
}

/// Whether the real election code passes `scenario` (a panic or a hang is a failure).
fn real_code_passes(scenario: &Scenario) -> bool {
    let mut real = scenario.clone();
    real.topology.election = ElectionCode::Real;
    let limit = real.end() + Duration::from_secs(10 * 60);
    catch_unwind(AssertUnwindSafe(|| {
        runner::run_with_limit(&real, real.seed, false, limit)
    }))
    .is_ok_and(|run| run.is_ok_and(|report| report.passed))
}

/// User and system CPU time of this process so far, all threads together.
fn process_cpu_time() -> Option<Duration> {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::uninit();
    // SAFETY: getrusage fills the struct it is given and reports failure by its return value.
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) } != 0 {
        return None;
    }
    // SAFETY: getrusage returned 0, so it initialised the struct.
    let usage = unsafe { usage.assume_init() };
    let time = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
    };
    Some(time(usage.ru_utime) + time(usage.ru_stime))
}

/// `seed 12: 2M at 63.200 s: <first line of the detail>`.
fn note(seed: u64, found: &Found) -> String {
    let first_line = found.detail().lines().next().unwrap_or("");
    match found {
        Found::Finding(f) => format!(
            "seed {seed}: {} at {:.3} s: {first_line}",
            f.invariant,
            f.at.as_secs_f64()
        ),
        Found::Crash(_) => format!("seed {seed}: {}: {first_line}", found.invariant()),
    }
}
