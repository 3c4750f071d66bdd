//! `splitbrain audit` as a platform team calls it: one deployment with an unsafe choice fails
//! and names that choice; the same deployment made safe holds over the same seeds; bad input
//! exits 2 naming the problem.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// master-crash's world: one pair, a single database in dc1, no steps.
const DEPLOYMENT: &str = r#"
sites = ["dc1", "dc2", "tiebreaker"]

[zookeeper]
session_timeout = "10s"
voters = [
  { name = "zk1", site = "dc1" },
  { name = "zk2", site = "dc2" },
  { name = "zk3", site = "tiebreaker" },
]

[[pair]]
name = "bank"
nodes = [
  { name = "a1", site = "dc1", priority = 100, policy = "pre-emptive" },
  { name = "a2", site = "dc2", priority = 50, policy = "pre-emptive" },
]
database = { name = "db", site = "dc1", mode = "single" FENCE }
"#;

fn dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("splitbrain-audit-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn audit(file: &Path, out: &Path, seeds: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_splitbrain"))
        .args([
            "audit",
            &file.display().to_string(),
            "--seeds",
            seeds,
            "--jobs",
            "2",
        ])
        .args(["--out", &out.display().to_string(), "--json"])
        .output()
        .expect("the binary runs")
}

fn verdict(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "audit prints JSON ({e}); stderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

#[test]
fn an_unfenced_database_fails_with_its_reason_and_the_fenced_one_holds() {
    let work = dir("fence");
    let unfenced = work.join("unfenced.toml");
    let fenced = work.join("fenced.toml");
    std::fs::write(&unfenced, DEPLOYMENT.replace(" FENCE", ", fence = false")).unwrap();
    std::fs::write(&fenced, DEPLOYMENT.replace(" FENCE", "")).unwrap();

    // Seeds 1–40 of this world: the unfenced database first accepts a stale write at seed 35.
    let out = audit(&unfenced, &work.join("unfenced-report"), "40");
    assert_eq!(
        out.status.code(),
        Some(1),
        "an unsafe deployment that fails exits 1"
    );
    let v = verdict(&out);
    assert_eq!(v["held"], false);
    let sw = v["invariants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["invariant"] == "SW")
        .expect("SW is judged");
    assert_eq!(sw["held"], false, "{v}");
    let failure = &v["failures"][0];
    assert_eq!(failure["invariant"], "SW");
    assert_eq!(failure["cause"]["kind"], "choices", "{failure}");
    assert_eq!(
        failure["cause"]["choices"][0]["name"],
        "unfenced-database db"
    );
    let file = failure["scenario"]
        .as_str()
        .expect("a shrunk scenario file");
    assert!(
        work.join("unfenced-report").join(file).is_file(),
        "{file} is written"
    );
    let markdown = std::fs::read_to_string(work.join("unfenced-report/audit.md")).unwrap();
    assert!(markdown.contains("checks no fencing token"), "{markdown}");

    let out = audit(&fenced, &work.join("fenced-report"), "40");
    assert_eq!(
        out.status.code(),
        Some(0),
        "the safe deployment holds: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let v = verdict(&out);
    assert_eq!(v["held"], true);
    assert_eq!(v["unsafe_choices"].as_array().map(Vec::len), Some(0));
}

#[test]
fn a_deployment_with_errors_exits_2_naming_the_place() {
    let work = dir("bad");
    let bad = work.join("bad.toml");
    std::fs::write(&bad, DEPLOYMENT.replace(" FENCE", ", fence = \"no\"")).unwrap();
    let out = audit(&bad, &work.join("report"), "1");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("bad.toml:18:66: invalid type"),
        "file:line names the problem: {stderr}"
    );
}
