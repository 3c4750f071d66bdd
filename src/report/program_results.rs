//! The results of the scenario library played live with a node program, as a Markdown
//! document (`docs/third-party-results.md`): per program, a table of file → verdict → the
//! invariants broken and when, what could not be judged, and where the evidence is. It is
//! built from the `summary.json` that `splitbrain live --out DIR` writes, so the table is
//! always what a run measured.

use serde_json::Value;
use std::fmt::Write;

/// One program's library run: its report directory's `summary.json`, where it is, and when
/// it was written (`YYYY-MM-DD`).
pub struct ProgramRun<'a> {
    pub dir: &'a str,
    pub summary: &'a Value,
    pub date: &'a str,
}

/// The whole document: a header, then one section per program run.
pub fn results_markdown(runs: &[ProgramRun]) -> String {
    let mut out = String::from(
        "# Third-party election programs, played live\n\n\
         The scenario library played on real processes (`splitbrain live`) with node programs\n\
         splitbrain did not write (docs/node-protocol.md). A failure here is a finding about\n\
         the program, used as its documentation teaches: the scenario was not changed to suit\n\
         it. What a program does not support is not judged and says so. Every failure's\n\
         evidence (timeline, event lines, program and server logs, the database's rows) is\n\
         kept in the run directory named in its row.\n\n\
         Regenerate with `just third-party-results` (about 80 minutes a program on a 2-core\n\
         machine).\n",
    );
    for run in runs {
        section(&mut out, run);
    }
    out
}

fn section(out: &mut String, run: &ProgramRun) {
    let runs = run.summary["runs"].as_array().cloned().unwrap_or_default();
    let program = runs
        .iter()
        .find_map(|r| {
            let hello = r["programs"].as_object()?.values().next()?.clone();
            Some(format!(
                "{} ({})",
                hello["program"].as_str().unwrap_or("?"),
                hello["version"].as_str().unwrap_or("?")
            ))
        })
        .unwrap_or_else(|| run.dir.to_string());
    let count = |verdict: &str| runs.iter().filter(|r| r["verdict"] == verdict).count();
    let _ = write!(
        out,
        "\n## {program}\n\nPlayed {} from `{}`: {} files, {} pass, {} fail, {} refused, {} could \
         not run.\n\n| file | verdict | what broke, and when | not judged |\n|---|---|---|---|\n",
        run.date,
        run.dir,
        runs.len(),
        count("pass"),
        count("fail"),
        count("refused"),
        count("error"),
    );
    for r in &runs {
        let name = r["scenario"].as_str().unwrap_or("?");
        let verdict = r["verdict"].as_str().unwrap_or("?");
        let what = match verdict {
            "refused" | "error" => first_line(r["error"].as_str().unwrap_or("")),
            _ => broke(r),
        };
        let not_judged = r["not_judged"]
            .as_array()
            .map(|notes| {
                let invariant = |code: &str| {
                    notes
                        .iter()
                        .any(|n| n.as_str().is_some_and(|n| n.starts_with(code)))
                };
                let (wp, le) = (invariant("WP:"), invariant("LE:"));
                let expectations = notes
                    .iter()
                    .filter(|n| {
                        n.as_str()
                            .is_some_and(|n| n.starts_with("expectation that"))
                    })
                    .count();
                let mut parts = Vec::new();
                if wp {
                    parts.push("WP".to_string());
                }
                if le {
                    parts.push("LE".to_string());
                }
                if expectations > 0 {
                    parts.push(format!("{expectations} expectation(s) naming a master"));
                }
                parts.join(", ")
            })
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "| {name} | {} | {} | {} |",
            if verdict == "fail" {
                "**FAIL**"
            } else {
                verdict
            },
            cell(&what),
            cell(&not_judged)
        );
    }
}

/// The violations (first of each invariant, with its moment), unmet expectations, findings
/// and the evidence of a run that failed; `-` for one that passed.
fn broke(run: &Value) -> String {
    let mut parts = Vec::new();
    let mut seen = Vec::new();
    for v in run["violations"].as_array().into_iter().flatten() {
        let code = v["invariant"].as_str().unwrap_or("?");
        if seen.contains(&code) {
            continue;
        }
        seen.push(code);
        let total = run["violations"].as_array().map_or(0, |all| {
            all.iter().filter(|w| w["invariant"] == code).count()
        });
        parts.push(format!(
            "{code} at {:.1} s{}: {}",
            v["at"].as_f64().unwrap_or(f64::NAN),
            if total > 1 {
                format!(" (and {} more)", total - 1)
            } else {
                String::new()
            },
            v["detail"].as_str().unwrap_or("")
        ));
    }
    for e in run["expectations"].as_array().into_iter().flatten() {
        if e["met"] == false {
            parts.push(format!(
                "expectation unmet: {} ({})",
                e["expectation"].as_str().unwrap_or("?"),
                e["detail"].as_str().unwrap_or("")
            ));
        }
    }
    for f in run["findings"].as_array().into_iter().flatten() {
        parts.push(format!("finding: {}", f.as_str().unwrap_or("?")));
    }
    for s in run["step_errors"].as_array().into_iter().flatten() {
        parts.push(format!("step error: {}", s.as_str().unwrap_or("?")));
    }
    if parts.is_empty() {
        return "-".into();
    }
    if let Some(dir) = run["run_dir"].as_str() {
        parts.push(format!("evidence: `{dir}`"));
    }
    parts.join("; ")
}

fn first_line(text: &str) -> String {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .take(2)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Text safe in a Markdown table cell.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_failed_run_names_each_invariant_once_with_its_moment_and_evidence() {
        let summary = json!({"runs": [
            {"scenario": "master-crash", "verdict": "pass", "violations": [], "expectations": [],
             "not_judged": ["WP: curator-latch does not support priorities", "expectation that a1 …"],
             "programs": {"a1": {"program": "curator-latch", "version": "curator 5.4.0"}}},
            {"scenario": "master-cut", "verdict": "fail", "run_dir": "/r/master-cut/run-1",
             "violations": [
                {"invariant": "2M", "at": 38.25, "detail": "a1 and a2"},
                {"invariant": "2M", "at": 50.0, "detail": "again"},
                {"invariant": "SW", "at": 39.0, "detail": "stale | write"}],
             "expectations": [{"expectation": "failover", "met": false, "detail": "none"}],
             "not_judged": []},
            {"scenario": "hundred", "verdict": "refused", "error": "live mode cannot play this scenario:\n  100 pairs"}
        ]});
        let text = results_markdown(&[ProgramRun {
            dir: "reports/third-party/curator-latch",
            summary: &summary,
            date: "2026-12-07",
        }]);
        assert!(text.contains("## curator-latch (curator 5.4.0)"), "{text}");
        assert!(
            text.contains("3 files, 1 pass, 1 fail, 1 refused"),
            "{text}"
        );
        assert!(
            text.contains("| master-crash | pass | - | WP, 1 expectation(s) naming a master |"),
            "{text}"
        );
        assert!(
            text.contains("2M at 38.2 s (and 1 more): a1 and a2; SW at 39.0 s: stale \\| write"),
            "{text}"
        );
        assert!(text.contains("evidence: `/r/master-cut/run-1`"), "{text}");
        assert!(
            text.contains("| hundred | refused | live mode cannot play this scenario:   100 pairs"),
            "{text}"
        );
    }
}
