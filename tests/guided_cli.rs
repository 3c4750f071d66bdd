//! `splitbrain chaos --guided` end to end: the report says the mode and writes the corpus, a
//! second run starts from that corpus, the same seeds give the same corpus whatever the
//! number of jobs, and a corpus file that cannot be read is refused naming it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn splitbrain(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_splitbrain"))
        .args(args)
        .output()
        .expect("the binary runs")
}

fn fresh_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("splitbrain-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn summary(dir: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(dir.join("summary.json")).expect("summary.json");
    serde_json::from_str(&text).expect("summary.json is JSON")
}

#[test]
fn a_guided_night_writes_its_corpus_and_the_next_starts_from_it() {
    let first = fresh_dir("guided-first");
    let again = fresh_dir("guided-again");
    let out = |d: &Path| d.display().to_string();
    for (dir, jobs) in [(&first, "2"), (&again, "1")] {
        let run = splitbrain(&[
            "chaos",
            "--guided",
            "--seeds",
            "40",
            "--jobs",
            jobs,
            "--out",
            &out(dir),
        ]);
        assert_eq!(run.status.code(), Some(0), "{run:?}");
    }
    let s = summary(&first);
    assert_eq!(s["mode"], "guided");
    assert_eq!(s["guided"]["corpus_file"], "corpus.json");
    assert!(s["guided"]["corpus_entries"].as_u64().unwrap() > 0, "{s}");
    assert!(s["guided"]["mutant_seeds"].as_u64().unwrap() > 0, "{s}");
    let corpus = |d: &Path| std::fs::read_to_string(d.join("corpus.json")).unwrap();
    assert_eq!(corpus(&first), corpus(&again), "jobs change nothing");

    let next = fresh_dir("guided-next");
    let corpus_file = first.join("corpus.json").display().to_string();
    let run = splitbrain(&[
        "chaos",
        "--corpus",
        &corpus_file,
        "--seeds",
        "8",
        "--start",
        "41",
        "--jobs",
        "2",
        "--out",
        &out(&next),
    ]);
    assert_eq!(run.status.code(), Some(0), "{run:?}");
    let s2 = summary(&next);
    assert_eq!(s2["mode"], "guided");
    assert_eq!(
        s2["guided"]["corpus_initial_entries"],
        s["guided"]["corpus_entries"]
    );
    let random = fresh_random(&first);
    assert_eq!(summary(&random)["mode"], "random");
    for d in [first, again, next, random] {
        std::fs::remove_dir_all(d).unwrap();
    }
}

/// A random run beside `dir`, for its mode.
fn fresh_random(dir: &Path) -> PathBuf {
    let random = dir.with_extension("random");
    let _ = std::fs::remove_dir_all(&random);
    let run = splitbrain(&[
        "chaos",
        "--seeds",
        "2",
        "--out",
        &random.display().to_string(),
    ]);
    assert_eq!(run.status.code(), Some(0), "{run:?}");
    random
}

#[test]
fn a_corpus_file_that_cannot_be_read_exits_2_naming_it() {
    let missing = fresh_dir("no-corpus").join("corpus.json");
    let out = fresh_dir("no-corpus-out");
    let run = splitbrain(&[
        "chaos",
        "--corpus",
        &missing.display().to_string(),
        "--seeds",
        "1",
        "--out",
        &out.display().to_string(),
    ]);
    assert_eq!(run.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        stderr.contains("--corpus") && stderr.contains("corpus.json"),
        "{stderr}"
    );
}
