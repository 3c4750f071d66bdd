//! The commands of the `splitbrain` binary, one module each; `main` parses and dispatches.

pub mod alloc;
pub mod audit;
pub mod bench;
pub mod chaos;
pub mod chaos_live;
pub mod check;
pub mod compare;
pub mod known_bugs;
pub mod live;
pub mod node;
pub mod run;
pub mod sim;

use splitbrain::election::ElectionCode;
use splitbrain::scenario;
use std::path::PathBuf;

pub fn parse_election(text: &str) -> Result<ElectionCode, String> {
    let code: ElectionCode = text.parse().map_err(|e| format!("{e}"))?;
    if code.available() {
        Ok(code)
    } else {
        Err(format!(
            "election code '{code}' needs a build with the `testbed` feature"
        ))
    }
}

/// The scenario files named: files as given, directories searched (sorted) for `*.toml`.
pub fn scenario_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            files.extend(scenario::files_in(path).map_err(|e| format!("{}: {e}", path.display()))?);
        } else {
            files.push(path.clone());
        }
    }
    Ok(files)
}
