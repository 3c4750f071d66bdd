//! Runs every case on both backends and compares what each observed.
//!
//! The model runs each case in a fresh simulated world (cheap, seeded). The real backend
//! shares one ensemble between the [`Setup::Shared`] cases (each works under its own root)
//! and starts a fresh one for every [`Setup::Fresh`] case.

use super::backend::{Backend, CaseError};
use super::cases::{CASES, CaseInfo, Cx, PERSISTENT, RELAXED_TIMEOUT, Setup, mode, run_case};
use super::observe::diff;
use super::real_backend::RealBackend;
use super::sim_backend::SimBackend;
use super::{KNOWN_DIVERGENCES, ensemble_config};
use crate::coord::Coordination;
use crate::sim::run_seeded;
use std::time::{Duration, Instant};

/// No case may take longer than this on either backend (simulated time for the model).
const CASE_BOUND: Duration = Duration::from_secs(180);
/// Seeds of the model runs: every case runs on the model once per seed (each a different
/// simulated world: latencies, the client's server choice, timer phases), and every run must
/// observe what the real ensemble observed. The same seed always gives the same run.
pub const MODEL_SEEDS: [u64; 8] = [0x5EED_C0DE, 1, 2, 3, 4, 5, 6, 7];

/// What one backend observed in one case, or why the case could not run.
pub type Observed = Result<Vec<String>, CaseError>;

/// A case's result on both backends.
#[derive(Debug)]
pub struct Outcome {
    pub case: CaseInfo,
    /// One per seed of [`MODEL_SEEDS`].
    pub model: Vec<Observed>,
    pub real: Observed,
}

/// How a case ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Identical observations.
    Same,
    /// Observations differ, and the difference is documented as a known divergence.
    KnownDivergence { why: &'static str, diff: String },
    /// Observations differ (or a backend failed to run the case).
    Differ(String),
}

impl Outcome {
    pub fn verdict(&self) -> Verdict {
        let mut text = String::new();
        for (seed, model) in MODEL_SEEDS.iter().zip(&self.model) {
            match (model, &self.real) {
                (Ok(model), Ok(real)) => {
                    if let Some(diff) = diff(model, real) {
                        text.push_str(&format!("    (model seed {seed:#x})\n{diff}"));
                    }
                }
                (model, real) => {
                    if let Err(e) = model {
                        text.push_str(&format!(
                            "    model (seed {seed:#x}) could not run it: {e}\n"
                        ));
                    }
                    if let Err(e) = real {
                        text.push_str(&format!("    real could not run it: {e}\n"));
                    }
                }
            }
            // One differing seed is enough to read; the others usually repeat it.
            if !text.is_empty() {
                break;
            }
        }
        if text.is_empty() {
            return Verdict::Same;
        }
        match KNOWN_DIVERGENCES
            .iter()
            .find(|(name, _)| *name == self.case.name)
        {
            Some((_, why)) => Verdict::KnownDivergence { why, diff: text },
            None => Verdict::Differ(text),
        }
    }
}

/// The whole suite's result.
#[derive(Debug)]
pub struct Report {
    pub outcomes: Vec<Outcome>,
    pub model_time: Duration,
    pub real_time: Duration,
}

impl Report {
    pub fn passed(&self) -> usize {
        self.outcomes
            .iter()
            .filter(|o| o.verdict() == Verdict::Same)
            .count()
    }

    /// A readable account: one line per case, the diffs of the failing ones, and with
    /// `show_all` every observation of the passing ones too.
    pub fn render(&self, show_all: bool) -> String {
        let mut out = String::new();
        for outcome in &self.outcomes {
            let name = format!("{}::{}", outcome.case.group, outcome.case.name);
            match outcome.verdict() {
                Verdict::Same => {
                    out.push_str(&format!("  ok        {name}\n"));
                    if show_all && let Some(Ok(lines)) = outcome.model.first() {
                        for line in lines {
                            out.push_str(&format!("    = {line}\n"));
                        }
                    }
                }
                Verdict::KnownDivergence { why, diff } => {
                    out.push_str(&format!("  KNOWN     {name} ({why})\n{diff}"))
                }
                Verdict::Differ(diff) => out.push_str(&format!("  DIFFERS   {name}\n{diff}")),
            }
        }
        out
    }
}

/// The cases whose name contains `filter` (all with an empty filter).
pub fn selected(filter: &str) -> Vec<CaseInfo> {
    CASES
        .iter()
        .filter(|c| c.name.contains(filter))
        .copied()
        .collect()
}

/// Creates the case's root with a session of its own, then runs the case.
async fn run_on<B: Backend>(backend: &B, case: &CaseInfo) -> Observed {
    let root = format!("/{}", case.name);
    let admin = backend
        .connect(&super::backend::SessionOptions::new(RELAXED_TIMEOUT))
        .await
        .map_err(|e| format!("{}: admin connect: {e}", backend.name()))?;
    admin
        .create(&root, b"", &mode(PERSISTENT))
        .await
        .map_err(|e| format!("{}: creating {root}: {e}", backend.name()))?;
    let _ = admin.close().await;
    let mut cx = Cx::new(backend, &root);
    run_case(case.name, &mut cx).await?;
    Ok(cx.r.into_lines())
}

/// Set to print the model's trace of every case (for chasing a disagreement).
const TRACE_ENV: &str = "SPLITBRAIN_CONFORMANCE_TRACE";

/// Runs one case on the model, in a fresh world seeded with `seed`.
pub fn run_model(case: &CaseInfo, seed: u64) -> Observed {
    let case = *case;
    let keep_trace = std::env::var_os(TRACE_ENV).is_some();
    run_seeded(seed, move || async move {
        let backend = SimBackend::start(&ensemble_config(), keep_trace).await?;
        let observed = madsim::time::timeout(CASE_BOUND, run_on(&backend, &case))
            .await
            .unwrap_or_else(|_| Err(format!("model: not done within {CASE_BOUND:?}")));
        if keep_trace {
            for line in backend.world().take_trace_lines() {
                eprintln!("[{}] {line}", case.name);
            }
        }
        // Hundreds of worlds run in one process: end each, so none outlives its run.
        backend.world().shutdown();
        observed
    })
}

/// Runs the cases on real ensembles, in order.
pub fn run_real(cases: &[CaseInfo]) -> Vec<Observed> {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            let err = format!("real: no tokio runtime: {e}");
            return cases.iter().map(|_| Err(err.clone())).collect();
        }
    };
    runtime.block_on(async {
        let mut shared: Option<Result<RealBackend, CaseError>> = None;
        let mut results = Vec::new();
        for case in cases {
            let result = match case.setup {
                Setup::Shared => {
                    let backend =
                        shared.get_or_insert_with(|| RealBackend::start(&ensemble_config()));
                    match backend {
                        Ok(backend) => run_real_case(backend, case).await,
                        Err(e) => Err(e.clone()),
                    }
                }
                Setup::Fresh => match RealBackend::start(&ensemble_config()) {
                    Ok(backend) => run_real_case(&backend, case).await,
                    Err(e) => Err(e),
                },
            };
            results.push(result);
        }
        results
    })
}

async fn run_real_case(backend: &RealBackend, case: &CaseInfo) -> Observed {
    match tokio::time::timeout(CASE_BOUND, run_on(backend, case)).await {
        Ok(Err(e)) => Err(format!("{e}\n{}", backend.log_tails())),
        Ok(ok) => ok,
        Err(_) => Err(format!(
            "real: not done within {CASE_BOUND:?}\n{}",
            backend.log_tails()
        )),
    }
}

/// Runs the selected cases on both backends.
pub fn run_suite(cases: &[CaseInfo]) -> Report {
    let began = Instant::now();
    let models: Vec<Vec<Observed>> = cases
        .iter()
        .map(|case| {
            MODEL_SEEDS
                .iter()
                .map(|seed| run_model(case, *seed))
                .collect()
        })
        .collect();
    let model_time = began.elapsed();
    let began = Instant::now();
    let reals = run_real(cases);
    let real_time = began.elapsed();
    let outcomes = cases
        .iter()
        .zip(models)
        .zip(reals)
        .map(|((case, model), real)| Outcome {
            case: *case,
            model,
            real,
        })
        .collect();
    Report {
        outcomes,
        model_time,
        real_time,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(model: Vec<Observed>, real: Observed) -> Outcome {
        Outcome {
            case: CASES[0],
            model,
            real,
        }
    }

    fn lines(text: &[&str]) -> Observed {
        Ok(text.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn every_seed_must_match_the_real_ensemble() {
        let same = outcome(vec![lines(&["a: 1"]), lines(&["a: 1"])], lines(&["a: 1"]));
        assert_eq!(same.verdict(), Verdict::Same);

        let one_seed_off = outcome(vec![lines(&["a: 1"]), lines(&["a: 2"])], lines(&["a: 1"]));
        let Verdict::Differ(text) = one_seed_off.verdict() else {
            panic!("a differing seed must fail the case")
        };
        assert!(
            text.contains("seed 0x1") && text.contains("model: a: 2"),
            "{text}"
        );

        let real_failed = outcome(vec![lines(&["a: 1"])], Err("no ensemble".into()));
        let Verdict::Differ(text) = real_failed.verdict() else {
            panic!("a case the real ensemble could not run fails")
        };
        assert!(
            text.contains("real could not run it: no ensemble"),
            "{text}"
        );
    }

    #[test]
    fn the_registry_names_each_case_once() {
        let mut names: Vec<&str> = CASES.iter().map(|c| c.name).collect();
        names.sort_unstable();
        let before = names.len();
        names.dedup();
        assert_eq!(names.len(), before, "duplicate case names");
        assert!(
            before >= 60,
            "the suite promises at least 60 cases, has {before}"
        );
    }
}
