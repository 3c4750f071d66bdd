//! What a live run has started and created, recorded as it is made, so that everything is
//! removed at the end, on Ctrl-C, on a panic, and — by the next run — after a SIGKILL of the
//! runner.
//!
//! Each run owns one record file, `<base>/active/<run id>.json`: the runner's pid and start
//! time (so a recycled pid is not taken for a live runner), every process group it launched
//! (with each leader's start time) and every scratch directory it made. A run removes its
//! record when it has cleaned up. A run that finds a record whose runner is gone kills the
//! groups that still run and removes the directories, then the record. Processes are also
//! launched with a parent-death signal, so most are gone before the sweep looks; the sweep is
//! for whatever outlived that (a process that forked away, a data directory).

use serde::{Deserialize, Serialize};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// One launched process group.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct GroupRecord {
    pub pgid: u32,
    /// The leader's start time in clock ticks since boot (`/proc/PID/stat` field 22).
    pub started: u64,
    pub what: String,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct RunRecord {
    pid: u32,
    started: u64,
    groups: Vec<GroupRecord>,
    scratch: Vec<PathBuf>,
}

/// The record of this run. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Registry {
    path: PathBuf,
    record: Arc<Mutex<RunRecord>>,
}

/// What a sweep removed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Swept {
    pub runs: usize,
    pub groups_killed: usize,
    pub dirs_removed: usize,
}

impl Registry {
    /// Registers a new run `id` under `base` (after sweeping what dead runs left).
    pub fn open(base: &Path, id: &str) -> io::Result<(Registry, Swept)> {
        let active = base.join("active");
        fs::create_dir_all(&active)?;
        let swept = sweep(base)?;
        let pid = std::process::id();
        let record = RunRecord {
            pid,
            started: start_time(pid).unwrap_or(0),
            ..RunRecord::default()
        };
        let registry = Registry {
            path: active.join(format!("{id}.json")),
            record: Arc::new(Mutex::new(record)),
        };
        registry.save()?;
        Ok((registry, swept))
    }

    /// Records a process group the run launched (its leader's pid).
    pub fn group(&self, pgid: u32, what: &str) {
        let started = start_time(pgid).unwrap_or(0);
        self.update(|r| {
            r.groups.push(GroupRecord {
                pgid,
                started,
                what: what.to_string(),
            })
        });
    }

    /// Records a scratch directory the run made (removed by a sweep if the run dies).
    pub fn scratch(&self, dir: &Path) {
        self.update(|r| r.scratch.push(dir.to_path_buf()));
    }

    /// Ends the run's record: it has cleaned up after itself.
    pub fn close(&self) {
        let _ = fs::remove_file(&self.path);
    }

    fn update(&self, change: impl FnOnce(&mut RunRecord)) {
        {
            let mut record = self.record.lock().unwrap_or_else(|p| p.into_inner());
            change(&mut record);
        }
        // A record that cannot be written only weakens the sweep after a SIGKILL.
        let _ = self.save();
    }

    fn save(&self) -> io::Result<()> {
        let text = {
            let record = self.record.lock().unwrap_or_else(|p| p.into_inner());
            serde_json::to_string_pretty(&*record).map_err(io::Error::other)?
        };
        // Written whole and renamed, so a kill mid-write leaves the previous record.
        let tmp = self.path.with_extension("json.tmp");
        fs::write(&tmp, text)?;
        fs::rename(&tmp, &self.path)
    }
}

/// Removes what runs whose runner is gone left behind.
pub fn sweep(base: &Path) -> io::Result<Swept> {
    let mut swept = Swept::default();
    let active = base.join("active");
    let Ok(entries) = fs::read_dir(&active) else {
        return Ok(swept);
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let Ok(text) = fs::read_to_string(&path) else {
            continue;
        };
        let Ok(record) = serde_json::from_str::<RunRecord>(&text) else {
            // Not ours to judge; leave it.
            continue;
        };
        if alive(record.pid, record.started) {
            continue;
        }
        swept.runs += 1;
        for group in &record.groups {
            if alive(group.pgid, group.started) {
                // SAFETY: a plain kill(2) of a process group this tool launched, checked by
                // its leader's start time.
                if unsafe { libc::kill(-(group.pgid as libc::pid_t), libc::SIGKILL) } == 0 {
                    swept.groups_killed += 1;
                }
            }
        }
        for dir in &record.scratch {
            if dir.exists() && fs::remove_dir_all(dir).is_ok() {
                swept.dirs_removed += 1;
            }
        }
        let _ = fs::remove_file(&path);
    }
    Ok(swept)
}

/// Whether `pid` runs and is the process that started at `started` (0: unknown, any).
fn alive(pid: u32, started: u64) -> bool {
    match start_time(pid) {
        Some(now) => started == 0 || now == started,
        None => false,
    }
}

/// A process's start time in clock ticks since boot, if it exists (zombies count as gone).
pub(crate) fn start_time(pid: u32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses: fields start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state); start time is field 22.
    if fields.first() == Some(&"Z") {
        return None;
    }
    fields.get(19)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::CommandExt;

    #[test]
    fn a_dead_runs_groups_and_directories_are_removed_and_a_live_ones_kept() {
        let base = std::env::temp_dir().join(format!("sb-registry-test-{}", std::process::id()));
        let _ = fs::remove_dir_all(&base);
        fs::create_dir_all(base.join("active")).unwrap();
        // A dead run: a pid that cannot exist, with a scratch dir and a child we started.
        let scratch = base.join("scratch-of-dead-run");
        fs::create_dir_all(&scratch).unwrap();
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .process_group(0)
            .spawn()
            .unwrap();
        let dead = RunRecord {
            pid: u32::MAX - 1,
            started: 1,
            groups: vec![GroupRecord {
                pgid: child.id(),
                started: start_time(child.id()).unwrap(),
                what: "sleep".into(),
            }],
            scratch: vec![scratch.clone()],
        };
        fs::write(
            base.join("active/dead.json"),
            serde_json::to_string(&dead).unwrap(),
        )
        .unwrap();
        let (registry, swept) = Registry::open(&base, "live").unwrap();
        assert_eq!(
            swept,
            Swept {
                runs: 1,
                groups_killed: 1,
                dirs_removed: 1
            }
        );
        assert!(!scratch.exists());
        let status = child.wait().unwrap();
        assert!(!status.success(), "the sleeper was killed");
        // Our own record survives a sweep: we are alive.
        assert_eq!(sweep(&base).unwrap(), Swept::default());
        assert!(base.join("active/live.json").exists());
        registry.close();
        assert!(!base.join("active/live.json").exists());
        let _ = fs::remove_dir_all(&base);
    }
}
