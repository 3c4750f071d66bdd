//! Live mode: a scenario file played on real processes — Debian's ZooKeeper 3.8, one
//! `splitbrain node` per node, PostgreSQL per database host — with real faults, judged by the
//! same code that judges a simulated run.
//!
//! Live mode is a second backend of the scenario runner, not a second program: the file is
//! parsed and validated by [`crate::scenario`], a run's history is the simulator's
//! [`Entry`](crate::sim::history::Entry) list, and [`judge`](crate::scenario::runner::judge)
//! gives the verdict, the measures and the timeline. What differs is where the history comes
//! from ([`history`]): the nodes' event lines, the servers' roles, the databases' own rows,
//! and the runner's steps, all on the machine's one monotonic clock.
//!
//! - [`plan`]: what live mode refuses to play, before anything starts.
//! - [`world`]: the processes and the relays between them; [`apply`]: what steps do to them.
//! - [`links`]: the links' latency and faults; [`databases`]: the PostgreSQL hosts of each
//!   pair; [`nodes`] and [`events`]: node processes and their event lines; [`zk_roles`]: the
//!   servers' roles.
//! - [`registry`]: what a run made, so it is removed even after the runner was killed.
//!
//! What a live run touches: processes it starts (each in its own process group, killed if the
//! runner dies), TCP ports on 127.0.0.1 chosen free at run time, and its own directory. No
//! traffic leaves the loopback interface.

mod apply;
mod databases;
pub mod events;
mod history;
mod links;
mod nodes;
pub mod plan;
pub mod registry;
mod world;
mod zk_roles;

pub use plan::{Refusal, refusals};

use crate::check::secs;
use crate::scenario::Scenario;
use crate::scenario::runner::{RunReport, judge};
use events::Hello;
use history::mono_ns;
use registry::{Registry, Swept};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use world::LiveWorld;

/// How a live run is set up.
#[derive(Clone, Debug)]
pub struct LiveOptions {
    /// Where runs keep their records of what they made (and sweep those of killed runs).
    pub state_dir: PathBuf,
    /// This run's directory: logs, write tables, report.
    pub run_dir: PathBuf,
    /// Set by Ctrl-C: the run stops at once and cleans up.
    pub interrupted: Arc<AtomicBool>,
}

impl LiveOptions {
    /// The default place for live runs' state: `$TMPDIR/splitbrain-live`.
    pub fn default_state_dir() -> PathBuf {
        std::env::temp_dir().join("splitbrain-live")
    }
}

/// How late a step took effect.
#[derive(Clone, Debug, serde::Serialize)]
pub struct StepLag {
    pub step: String,
    pub at_ms: u64,
    /// From the step's `at` to the moment its effect was done.
    pub lag_ms: f64,
}

/// The outcome of one live run: the same report a simulated run gives, and what only a live
/// run has.
#[derive(Debug)]
pub struct LiveRun {
    pub report: RunReport,
    pub dir: PathBuf,
    /// Every process's log, by host.
    pub logs: BTreeMap<String, PathBuf>,
    /// From the run's start to the nodes' launch (ensemble serving, databases ready).
    pub startup: Duration,
    pub lags: Vec<StepLag>,
    /// Node programs that broke their contract (exited by themselves, printed garbage).
    pub findings: Vec<String>,
    /// What the start-up sweep removed of earlier, killed runs.
    pub swept: Swept,
    /// Each node's program, as its hello line described it.
    pub programs: BTreeMap<String, Hello>,
    /// What the run could not judge because a program does not support it.
    pub not_judged: Vec<String>,
}

impl LiveRun {
    /// The lag of the median step, if any step ran.
    pub fn median_lag_ms(&self) -> Option<f64> {
        let mut lags: Vec<f64> = self.lags.iter().map(|l| l.lag_ms).collect();
        lags.sort_by(f64::total_cmp);
        lags.get(lags.len() / 2).copied()
    }
}

/// Why a live run did not run.
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    #[error("live mode cannot play this scenario:\n{}", .0.iter().map(|r| format!("  {r}")).collect::<Vec<_>>().join("\n"))]
    Refused(Vec<Refusal>),
    #[error("the live world could not be built: {0}")]
    Build(#[from] world::BuildError),
    /// A node program could not be prepared (not installed, failed to compile).
    #[error("node program: {0}")]
    Program(String),
    /// A node program broke the node protocol before the run's first step.
    #[error("node protocol: {0}")]
    Protocol(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("interrupted")]
    Interrupted,
}

/// Plays `scenario` live. `source` (file name, text) lets refusals name their line.
pub fn run(
    scenario: &Scenario,
    source: Option<(&str, &str)>,
    options: &LiveOptions,
) -> Result<LiveRun, LiveError> {
    let refused = refusals(scenario, source);
    if !refused.is_empty() {
        return Err(LiveError::Refused(refused));
    }
    // Servers and databases run in directories of their own: a relative run directory (a
    // `--out` given as `reports/x`) would name another place in each.
    let options = &LiveOptions {
        run_dir: std::path::absolute(&options.run_dir)?,
        ..options.clone()
    };
    std::fs::create_dir_all(&options.run_dir)?;
    let id = format!(
        "{}-{}-{}",
        scenario.name,
        std::process::id(),
        mono_ns() % 1_000_000_000
    );
    let mut launches = BTreeMap::new();
    for node in scenario.topology.pairs.iter().flat_map(|p| &p.nodes) {
        let program = scenario.programs.of(&node.name);
        let launch =
            crate::live::programs::resolve(program, &scenario.programs, scenario.topology.election)
                .map_err(LiveError::Program)?;
        launches.insert(node.name.clone(), launch);
    }
    let (registry, swept) = Registry::open(&options.state_dir, &id)?;
    let world = LiveWorld::build(&scenario.topology, &launches, &options.run_dir, registry)?;
    // Before the first step: every program said hello, and can do what the steps ask of it.
    let hellos = world.hellos(HELLO_TIMEOUT).map_err(LiveError::Protocol)?;
    let refused = plan::capability_refusals(scenario, |node| {
        hellos.get(node).map(|h| h.supports.clone())
    });
    if !refused.is_empty() {
        return Err(LiveError::Refused(refused));
    }
    let (judged, not_judged) = plan::judged_scenario(scenario, |node| {
        hellos
            .get(node)
            .map(|h| h.supports.clone())
            .unwrap_or_default()
    });
    let mut run = play(&judged, world, options, swept)?;
    run.programs = hellos;
    run.not_judged = not_judged;
    Ok(run)
}

/// How long a node program may take to print its hello line (a JVM starting on a busy
/// machine takes seconds).
const HELLO_TIMEOUT: Duration = Duration::from_secs(60);

fn play(
    scenario: &Scenario,
    mut world: LiveWorld,
    options: &LiveOptions,
    swept: Swept,
) -> Result<LiveRun, LiveError> {
    let clock = world.recorder().clock();
    let wait_until = |at: Duration| -> Result<(), LiveError> {
        loop {
            if options.interrupted.load(Ordering::SeqCst) {
                return Err(LiveError::Interrupted);
            }
            let now = clock.now();
            if now >= at {
                return Ok(());
            }
            std::thread::sleep((at - now).min(Duration::from_millis(100)));
        }
    };
    let mut step_errors = Vec::new();
    let mut lags = Vec::new();
    for step in &scenario.steps {
        wait_until(step.at)?;
        match world.apply(&step.action) {
            Ok(()) => lags.push(StepLag {
                step: step.action.to_string(),
                at_ms: step.at.as_millis() as u64,
                lag_ms: clock.now().saturating_sub(step.at).as_secs_f64() * 1000.0,
            }),
            Err(e) => {
                world.recorder().record(crate::sim::history::Record::Fault {
                    description: format!("'{}' NOT APPLIED: {e}", step.action),
                });
                step_errors.push(format!(
                    "{}: '{}' not applied: {e}",
                    secs(step.at),
                    step.action
                ));
            }
        }
    }
    wait_until(scenario.duration)?;
    world.heal_everything();
    wait_until(scenario.end())?;

    let mut history = world.recorder().history();
    // Entries stamped after the end (a node's last lines) are not part of the run.
    history.retain(|e| e.at <= scenario.end());
    let verdicts = world.write_verdicts();
    history.extend(verdicts.map_err(|e| LiveError::Io(std::io::Error::other(e)))?);
    history.sort_by_key(|e| e.at);
    let findings = world.findings().findings();
    let sessions_expired = world.sessions_expired();
    let mut report = judge(
        scenario,
        scenario.seed,
        &history,
        step_errors,
        sessions_expired,
        String::new(),
        Vec::new(),
    );
    report.passed &= findings.is_empty();
    report.history = history;
    let logs = world.logs();
    let startup = world.startup;
    let dir = world.dir.clone();
    world.shutdown();
    Ok(LiveRun {
        report,
        dir,
        logs,
        startup,
        lags,
        findings,
        swept,
        programs: BTreeMap::new(),
        not_judged: Vec::new(),
    })
}

/// Removes what killed runs left behind under `state_dir`.
pub fn sweep(state_dir: &Path) -> std::io::Result<Swept> {
    registry::sweep(state_dir)
}
