//! How live mode starts each node program (the node protocol, `docs/node-protocol.md`): the
//! command line of the built-in `splitbrain node`, of the third-party programs shipped with
//! splitbrain, or of a command a scenario file declares.
//!
//! The shipped programs' sources are part of this binary, so a copied binary still has them.
//! At first use they are written to a cache directory named by their content's hash, and
//! `curator-latch` is compiled there with `javac` against Debian's jars: a later run, or a
//! parallel one, finds the classes there. Compiling goes to a fresh directory that is renamed
//! into place, so a run never sees half a compilation.

use crate::election::ElectionCode;
use crate::scenario::programs::{BUILT_IN, Programs};
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::process::Command;

const CURATOR_SOURCE: &str = include_str!("../../programs/curator-latch/CuratorLatch.java");
const KAZOO_SOURCE: &str = include_str!("../../programs/kazoo-election/kazoo_election.py");

/// Where Debian installs Java libraries.
const DEBIAN_JARS: &str = "/usr/share/java";
/// The system interpreter: Debian's python3-kazoo and python3-psycopg2 are installed for it,
/// not for whatever `python3` comes first on PATH.
const SYSTEM_PYTHON: &str = "/usr/bin/python3";

/// A node program's command line, ready to start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProgramLaunch {
    /// The program's name in scenario files (`splitbrain`, `curator-latch`, …).
    pub name: String,
    /// The executable and its arguments.
    pub argv: Vec<String>,
}

/// The command line of `program` for a scenario's nodes. `election` is the built-in
/// selector's code (the known-bug variants are built-in only).
pub fn resolve(
    program: &str,
    programs: &Programs,
    election: ElectionCode,
) -> Result<ProgramLaunch, String> {
    let argv = match program {
        BUILT_IN => {
            let exe = std::env::current_exe()
                .map_err(|e| format!("cannot find the splitbrain executable: {e}"))?;
            vec![
                exe.display().to_string(),
                "node".into(),
                "--election".into(),
                election.to_string(),
            ]
        }
        "curator-latch" => curator_latch()?,
        "kazoo-election" => kazoo_election()?,
        other => programs.command(other).ok_or_else(|| {
            format!("unknown program '{other}': not built in, and the file declares no such program in [programs]")
        })?,
    };
    Ok(ProgramLaunch {
        name: program.to_string(),
        argv,
    })
}

/// `java … CuratorLatch`, compiled at first use.
fn curator_latch() -> Result<Vec<String>, String> {
    let jars = header_value(CURATOR_SOURCE, "// classpath:")
        .ok_or("CuratorLatch.java has no '// classpath:' line")?;
    let classpath: Vec<String> = jars
        .split(':')
        .map(|jar| Path::new(DEBIAN_JARS).join(jar).display().to_string())
        .collect();
    if let Some(missing) = classpath.iter().find(|jar| !Path::new(jar).exists()) {
        return Err(format!(
            "curator-latch needs {missing}: install libcurator-framework-java, \
             libcurator-recipes-java, libpostgresql-jdbc-java and default-jdk-headless \
             (scripts/test installs them)"
        ));
    }
    let classpath = classpath.join(":");
    let dir = cached("curator-latch", CURATOR_SOURCE, |dir| {
        let source = dir.join("CuratorLatch.java");
        std::fs::write(&source, CURATOR_SOURCE)
            .map_err(|e| format!("writing {}: {e}", source.display()))?;
        let output = Command::new("javac")
            .args(["-nowarn", "-d"])
            .arg(dir)
            .args(["-cp", &classpath])
            .arg(&source)
            .output()
            .map_err(|e| {
                format!("cannot run javac ({e}): curator-latch needs default-jdk-headless")
            })?;
        if !output.status.success() {
            return Err(format!(
                "javac failed on CuratorLatch.java:\n{}",
                String::from_utf8_lossy(&output.stderr)
            ));
        }
        Ok(())
    })?;
    let mut argv = vec!["java".to_string()];
    argv.extend(
        header_value(CURATOR_SOURCE, "// jvm:")
            .unwrap_or_default()
            .split_whitespace()
            .map(String::from),
    );
    argv.extend([
        "-cp".into(),
        format!("{}:{classpath}", dir.display()),
        "CuratorLatch".into(),
    ]);
    Ok(argv)
}

/// `/usr/bin/python3 kazoo_election.py`.
fn kazoo_election() -> Result<Vec<String>, String> {
    let check = Command::new(SYSTEM_PYTHON)
        .args(["-c", "import kazoo, psycopg2"])
        .output()
        .map_err(|e| format!("cannot run {SYSTEM_PYTHON} ({e}): kazoo-election needs python3"))?;
    if !check.status.success() {
        return Err(format!(
            "kazoo-election needs python3-kazoo and python3-psycopg2 for {SYSTEM_PYTHON} \
             (scripts/test installs them): {}",
            String::from_utf8_lossy(&check.stderr).trim()
        ));
    }
    let dir = cached("kazoo-election", KAZOO_SOURCE, |dir| {
        let script = dir.join("kazoo_election.py");
        std::fs::write(&script, KAZOO_SOURCE)
            .map_err(|e| format!("writing {}: {e}", script.display()))
    })?;
    Ok(vec![
        SYSTEM_PYTHON.into(),
        // Unbuffered: every event line reaches the runner when it is printed.
        "-u".into(),
        dir.join("kazoo_election.py").display().to_string(),
    ])
}

/// The text after `prefix` on the first line that starts with it.
fn header_value<'a>(source: &'a str, prefix: &str) -> Option<&'a str> {
    source
        .lines()
        .find_map(|line| line.strip_prefix(prefix))
        .map(str::trim)
}

/// The cache directory of `source` (built by `build` the first time).
fn cached(
    name: &str,
    source: &str,
    build: impl FnOnce(&Path) -> Result<(), String>,
) -> Result<PathBuf, String> {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    source.hash(&mut hasher);
    let root = cache_root().join("programs");
    let dir = root.join(format!("{name}-{:016x}", hasher.finish()));
    if dir.is_dir() {
        return Ok(dir);
    }
    std::fs::create_dir_all(&root).map_err(|e| format!("creating {}: {e}", root.display()))?;
    let building = root.join(format!(".{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&building);
    std::fs::create_dir_all(&building)
        .map_err(|e| format!("creating {}: {e}", building.display()))?;
    let built = build(&building);
    if let Err(e) = built {
        let _ = std::fs::remove_dir_all(&building);
        return Err(e);
    }
    // Another run may have finished first: either copy is good, keep theirs.
    if std::fs::rename(&building, &dir).is_err() {
        let _ = std::fs::remove_dir_all(&building);
        if !dir.is_dir() {
            return Err(format!("cannot move the built {name} to {}", dir.display()));
        }
    }
    Ok(dir)
}

/// `$XDG_CACHE_HOME/splitbrain`, else `~/.cache/splitbrain`, else under the temp directory.
fn cache_root() -> PathBuf {
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir).join("splitbrain");
    }
    if let Some(home) = std::env::var_os("HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(home).join(".cache").join("splitbrain");
    }
    std::env::temp_dir().join("splitbrain-cache")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_sources_say_how_to_run_them() {
        let jars = header_value(CURATOR_SOURCE, "// classpath:").unwrap();
        assert!(jars.contains("curator-recipes.jar"), "{jars}");
        assert!(header_value(CURATOR_SOURCE, "// jvm:").is_some());
        assert!(KAZOO_SOURCE.starts_with("#!/usr/bin/python3"));
    }

    #[test]
    fn a_declared_program_runs_as_the_file_says_and_an_unknown_one_is_named() {
        let programs = Programs::default();
        let err = resolve("nope", &programs, ElectionCode::Real).unwrap_err();
        assert!(err.contains("'nope'"), "{err}");
        let built_in = resolve(BUILT_IN, &programs, ElectionCode::Real).unwrap();
        assert_eq!(built_in.argv[1..], ["node", "--election", "real"]);
    }
}
