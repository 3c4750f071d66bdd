//! `splitbrain audit DEPLOYMENT.toml`: chaos on exactly one team's deployment, and per
//! failure the configuration choice that let it happen (see [`splitbrain::chaos::audit`]).

use super::chaos::{all_cores, explore_options, report_dir, run_with_progress, utc_now};
use super::chaos::{initial_corpus, stop_on_ctrl_c, with_quiet_panics};
use clap::Args;
use splitbrain::chaos::audit::Audit;
use splitbrain::chaos::campaign::CampaignOptions;
use splitbrain::chaos::output::{RunInfo, write_campaign};
use splitbrain::scenario;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::Ordering;

pub const AUDIT_HELP: &str = "\
The deployment is a scenario file's world: its sites, ensemble, client, pairs, databases and
their options (per-node session timeouts, asynchronous replication, a database without the
fence, the Java client's defaults; see scenarios/README.md). Its steps and expectations are not
used: each seed draws a fault schedule over the full vocabulary, as `splitbrain chaos` does,
always on this world, and is judged by every invariant. A failure is shrunk to a scenario file
that `splitbrain run` replays; then it is re-run with each unsafe choice of the deployment made
safe in turn, and the report names the choice whose safe value prevents it (or says that no
choice explains it: then it is the election code's failure, or the world's).

Report (DIR, default reports/<UTC time>/): audit.md and audit.json (the verdict per invariant
and each failure's cause), and the chaos report files (summary.json, junit.xml, index.html,
seed-<N>-<invariant>.toml).

Exit status: 0 the deployment held, 1 it did not (or the report could not be written), 2 bad
arguments or a deployment file with errors.";

#[derive(Args)]
pub struct AuditArgs {
    /// The deployment: a scenario file whose world is audited.
    pub deployment: PathBuf,
    /// How many seeds (fault schedules) to run on it.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u64).range(1..))]
    pub seeds: u64,
    /// First seed.
    #[arg(long, default_value_t = 1)]
    pub start: u64,
    /// Worker threads (default: every core).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=1024))]
    pub jobs: Option<u64>,
    /// Report directory (default: reports/<UTC time>/).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Most runs spent shrinking one failure.
    #[arg(long, default_value_t = 150)]
    pub max_shrink_runs: usize,
    /// Print the verdict as JSON (audit.json) instead of Markdown.
    #[arg(long)]
    pub json: bool,
    /// Guided search, as `chaos --guided`: half the seeds mutate schedules that reached rare
    /// coverage points on this world.
    #[arg(long)]
    pub guided: bool,
}

pub fn audit(args: AuditArgs) -> ExitCode {
    if args.start.checked_add(args.seeds - 1).is_none() {
        eprintln!(
            "error: --start {} with --seeds {} runs past the largest seed",
            args.start, args.seeds
        );
        return ExitCode::from(2);
    }
    let deployment = match scenario::load(&args.deployment) {
        Ok(s) => s,
        Err(errors) => {
            for error in errors {
                eprintln!("{error}\n");
            }
            return ExitCode::from(2);
        }
    };
    if let Some(why) = deployment.programs.simulator_refusal() {
        eprintln!(
            "error: {}: {why}; an audit runs thousands of simulated schedules, so it needs the \
             built-in election",
            args.deployment.display()
        );
        return ExitCode::from(2);
    }
    if !deployment.steps.is_empty() {
        eprintln!(
            "note: {} has {} step(s); the audit does not use them: it draws its own fault schedules on this world",
            args.deployment.display(),
            deployment.steps.len()
        );
    }
    let (started_at, stamp) = utc_now();
    let dir = match report_dir(args.out.as_deref(), &stamp) {
        Ok(dir) => dir,
        Err(code) => return code,
    };
    let jobs = args.jobs.map_or_else(all_cores, |j| j as usize);
    let topology = deployment.topology.clone();
    let election = topology.election;
    let mut explore = explore_options(election, true, args.max_shrink_runs);
    explore.generate.world = Some(topology.clone());
    let generate = explore.generate.clone();
    let options = CampaignOptions {
        first_seed: args.start,
        seeds: args.seeds,
        jobs,
        explore,
        stop_at_first: false,
        only_beyond_real: false,
        guided: match initial_corpus(args.guided, None, &generate) {
            Ok(corpus) => corpus,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        },
    };
    let (stop, interrupted) = stop_on_ctrl_c("audit");
    eprintln!(
        "splitbrain audit: {} — seeds {} to {} on {jobs} job(s), report in {}",
        args.deployment.display(),
        args.start,
        args.start + (args.seeds - 1),
        dir.display()
    );
    let campaign = with_quiet_panics(|| run_with_progress(&options, &stop));
    let info = RunInfo {
        election: election.to_string(),
        started_at,
        interrupted: interrupted.load(Ordering::SeqCst),
        stop_at_first: false,
        shrink: true,
        max_shrink_runs: args.max_shrink_runs,
        generate: options.explore.generate.clone(),
    };
    if let Err(e) = write_campaign(&dir, &campaign, &info) {
        eprintln!("error: cannot write the report to {}: {e}", dir.display());
        return ExitCode::from(1);
    }
    let failing = campaign.violations();
    if failing > 0 {
        eprintln!(
            "splitbrain audit: re-running {failing} failure(s) with each unsafe choice made safe"
        );
    }
    let audit = with_quiet_panics(|| {
        Audit::judge(
            &args.deployment.display().to_string(),
            &topology,
            &campaign,
            |seed, invariant| format!("seed-{seed}-{invariant}.toml"),
        )
    });
    let json = match serde_json::to_string_pretty(&audit) {
        Ok(json) => json,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
    };
    let markdown = audit.markdown();
    let written = std::fs::write(dir.join("audit.json"), &json)
        .and_then(|()| std::fs::write(dir.join("audit.md"), &markdown));
    if let Err(e) = written {
        eprintln!("error: cannot write the audit to {}: {e}", dir.display());
        return ExitCode::from(1);
    }
    if args.json {
        println!("{json}");
    } else {
        println!("{markdown}\nReport: {}", dir.display());
    }
    if audit.held {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
