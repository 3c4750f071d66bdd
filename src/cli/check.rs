//! `splitbrain check`: validate scenario files.

use super::scenario_files;
use clap::Args;
use splitbrain::scenario;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args)]
pub struct CheckArgs {
    /// Scenario files, or directories searched for *.toml.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
}

pub fn check(args: CheckArgs) -> ExitCode {
    let files = match scenario_files(&args.files) {
        Ok(files) => files,
        Err(e) => {
            eprintln!("splitbrain check: {e}");
            return ExitCode::from(1);
        }
    };
    let mut failed = 0;
    for file in &files {
        match scenario::load(file) {
            Ok(s) => println!(
                "ok      {} ({} pairs, {} steps, {} expectations)",
                file.display(),
                s.topology.pairs.len(),
                s.steps.len(),
                s.expectations.len()
            ),
            Err(errors) => {
                failed += 1;
                for error in errors {
                    eprintln!("{error}\n");
                }
            }
        }
    }
    if failed > 0 {
        eprintln!("{failed} of {} scenario files have errors", files.len());
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
