//! The fenced store of real node processes: a file that several processes on one machine share,
//! standing in for "the database that checks fencing tokens".
//!
//! The file is an append-only log, one JSON record per line. Every write takes an exclusive
//! `flock` on the file, learns the newest token from the records appended since this handle last
//! looked, and then appends either an accepted record (the token is not older than the newest)
//! or a rejected one. So the file is both the store's state and its audit trail: a test reads it
//! back with [`read_records`] to prove that no stale write was accepted.
//!
//! Records are appended with a single `write` while the lock is held, so readers that also lock
//! never see half a record. A writer killed in the middle of its `write` may leave a torn last
//! line; the next writer terminates it and every reader skips it (its writer never learnt the
//! outcome, so nothing was accepted). Records are not `fsync`ed: the store proves ordering
//! between processes, not durability across a machine crash.

use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How long a write or a read waits for another process to release the store's lock.
pub const LOCK_TIMEOUT: Duration = Duration::from_secs(1);

/// The outcome the store recorded for a write.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Accepted,
    /// The token was older than the newest token the store had accepted.
    Rejected,
}

/// One line of the store file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// The node that wrote.
    pub node: String,
    /// The fencing token the write carried.
    pub token: i64,
    /// The node's own sequence number of the write.
    pub write: u64,
    /// Wall-clock time of the decision, milliseconds since the Unix epoch.
    pub at_ms: i64,
    pub outcome: Outcome,
    /// The newest accepted token before this write (`None` for the first write ever).
    pub newest: Option<i64>,
}

/// A process's handle on the shared store file.
#[derive(Debug)]
pub struct FencingStore {
    path: PathBuf,
    file: File,
    /// How far this handle has read the file: appends only ever extend it, so a write reads
    /// only what other handles appended since.
    scanned: u64,
    /// The newest accepted token in the first `scanned` bytes.
    newest: Option<i64>,
}

/// Why the store could not take a write (not a rejection: the store itself failed).
#[derive(Debug, thiserror::Error)]
#[error("fencing store {path}: {source}")]
pub struct StoreError {
    pub path: PathBuf,
    #[source]
    pub source: io::Error,
}

impl FencingStore {
    /// Opens the store at `path`, creating an empty one if there is none.
    pub fn open(path: &Path) -> Result<FencingStore, StoreError> {
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)
            .map_err(|source| StoreError {
                path: path.to_path_buf(),
                source,
            })?;
        Ok(FencingStore {
            path: path.to_path_buf(),
            file,
            scanned: 0,
            newest: None,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes on behalf of `node` under `token`: accepted unless a newer token was accepted
    /// before. Either way the outcome is recorded in the file, and returned.
    pub fn write(
        &mut self,
        node: &str,
        token: i64,
        write: u64,
        at_ms: i64,
    ) -> Result<Record, StoreError> {
        self.locked_write(node, token, write, at_ms)
            .map_err(|source| StoreError {
                path: self.path.clone(),
                source,
            })
    }

    fn locked_write(
        &mut self,
        node: &str,
        token: i64,
        write: u64,
        at_ms: i64,
    ) -> io::Result<Record> {
        let _lock = ExclusiveLock::take(&self.file)?;
        let torn = self.catch_up()?;
        let outcome = match self.newest {
            Some(newest) if token < newest => Outcome::Rejected,
            _ => Outcome::Accepted,
        };
        let record = Record {
            node: node.to_string(),
            token,
            write,
            at_ms,
            outcome,
            newest: self.newest,
        };
        let mut line = if torn { b"\n".to_vec() } else { Vec::new() };
        serde_json::to_writer(&mut line, &record).map_err(io::Error::other)?;
        line.push(b'\n');
        // One write of the whole line: the file is opened for appending and locked.
        self.file.write_all(&line)?;
        self.scanned += line.len() as u64;
        if outcome == Outcome::Accepted {
            self.newest = Some(token);
        }
        Ok(record)
    }

    /// Reads what other handles appended since this one last looked. Returns whether the file
    /// ends in a torn line (a writer died mid-write). Call with the lock held.
    fn catch_up(&mut self) -> io::Result<bool> {
        let len = self.file.metadata()?.len();
        if len < self.scanned {
            // Truncated or replaced by an operator: learn it again from the start.
            self.scanned = 0;
            self.newest = None;
        }
        self.file.seek(SeekFrom::Start(self.scanned))?;
        let mut appended = Vec::new();
        self.file.read_to_end(&mut appended)?;
        let (records, torn) = parse(&appended);
        self.scanned += appended.len() as u64;
        for record in records {
            if record.outcome == Outcome::Accepted {
                self.newest = Some(self.newest.map_or(record.token, |n| n.max(record.token)));
            }
        }
        Ok(torn)
    }
}

/// Reads every complete record of the store at `path`, in file order, under the store's lock.
pub fn read_records(path: &Path) -> Result<Vec<Record>, StoreError> {
    let read = || -> io::Result<Vec<Record>> {
        let mut file = File::open(path)?;
        let _lock = ExclusiveLock::take(&file)?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        Ok(parse(&bytes).0)
    };
    read().map_err(|source| StoreError {
        path: path.to_path_buf(),
        source,
    })
}

/// The complete records in `bytes`, and whether a torn line (no newline) ends it. Lines that
/// are not records (a torn line a later writer terminated) are skipped.
fn parse(bytes: &[u8]) -> (Vec<Record>, bool) {
    let torn = !bytes.is_empty() && !bytes.ends_with(b"\n");
    let records = bytes
        .split(|&b| b == b'\n')
        .filter(|line| !line.is_empty())
        .filter_map(|line| serde_json::from_slice(line).ok())
        .collect();
    (records, torn)
}

/// An exclusive `flock` on a file, released on drop. Holds the descriptor, not the `File`,
/// so the file can be read and written while locked; the lock must not outlive the `File`.
struct ExclusiveLock {
    fd: RawFd,
}

impl ExclusiveLock {
    /// Takes the lock, waiting at most [`LOCK_TIMEOUT`]: a process stopped (SIGSTOP, a debugger)
    /// while it held the lock must not stall every other writer, and with it a master's
    /// acknowledgement of its demotion.
    fn take(file: &File) -> io::Result<Self> {
        let fd = file.as_raw_fd();
        let deadline = Instant::now() + LOCK_TIMEOUT;
        let mut pause = Duration::from_millis(1);
        loop {
            // SAFETY: flock on an open descriptor; the caller keeps the `File` open meanwhile.
            let rc = unsafe { libc::flock(fd, libc::LOCK_EX | libc::LOCK_NB) };
            if rc == 0 {
                return Ok(ExclusiveLock { fd });
            }
            let err = io::Error::last_os_error();
            match err.kind() {
                io::ErrorKind::Interrupted => continue,
                io::ErrorKind::WouldBlock if Instant::now() < deadline => {
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(10));
                }
                io::ErrorKind::WouldBlock => {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!("another process held the lock for over {LOCK_TIMEOUT:?}"),
                    ));
                }
                _ => return Err(err),
            }
        }
    }
}

impl Drop for ExclusiveLock {
    fn drop(&mut self) {
        // SAFETY: as in `take`; closing the descriptor would release the lock as well.
        unsafe {
            libc::flock(self.fd, libc::LOCK_UN);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};

    fn temp_store(name: &str) -> PathBuf {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "splitbrain-store-{}-{}-{name}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        dir.join("store.jsonl")
    }

    #[test]
    fn a_handle_rejects_a_token_older_than_one_another_handle_wrote() {
        let path = temp_store("stale");
        let mut old_master = FencingStore::open(&path).unwrap();
        let mut new_master = FencingStore::open(&path).unwrap();
        assert_eq!(
            old_master.write("a", 10, 1, 0).unwrap().outcome,
            Outcome::Accepted
        );
        let taken_over = new_master.write("b", 20, 1, 1).unwrap();
        assert_eq!(taken_over.outcome, Outcome::Accepted);
        assert_eq!(taken_over.newest, Some(10));
        let stale = old_master.write("a", 10, 2, 2).unwrap();
        assert_eq!(stale.outcome, Outcome::Rejected);
        assert_eq!(stale.newest, Some(20));
        // The same token again is the same grant: accepted.
        assert_eq!(
            new_master.write("b", 20, 2, 3).unwrap().outcome,
            Outcome::Accepted
        );
        let outcomes: Vec<_> = read_records(&path)
            .unwrap()
            .into_iter()
            .map(|r| (r.node, r.token, r.outcome))
            .collect();
        assert_eq!(
            outcomes,
            vec![
                ("a".to_string(), 10, Outcome::Accepted),
                ("b".to_string(), 20, Outcome::Accepted),
                ("a".to_string(), 10, Outcome::Rejected),
                ("b".to_string(), 20, Outcome::Accepted),
            ]
        );
        // A handle opened later learns the newest token from the file.
        let mut late = FencingStore::open(&path).unwrap();
        assert_eq!(
            late.write("c", 15, 1, 4).unwrap().outcome,
            Outcome::Rejected
        );
    }

    #[test]
    fn a_torn_last_line_is_skipped_and_terminated() {
        let path = temp_store("torn");
        let mut store = FencingStore::open(&path).unwrap();
        store.write("a", 5, 1, 0).unwrap();
        // A writer killed in the middle of its line.
        OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(br#"{"node":"b","token":9"#)
            .unwrap();
        let mut next = FencingStore::open(&path).unwrap();
        assert_eq!(next.write("c", 6, 1, 1).unwrap().outcome, Outcome::Accepted);
        let records = read_records(&path).unwrap();
        assert_eq!(records.len(), 2);
        assert_eq!(records[1].node, "c");
        assert_eq!(records[1].newest, Some(5));
    }

    #[test]
    fn concurrent_writers_keep_the_file_consistent() {
        let path = temp_store("concurrent");
        const WRITES: u64 = 300;
        // Four writers with rising tokens hammer the store, each through its own handle (its
        // own open file description, so the flocks exclude each other as between processes).
        let writers: Vec<_> = (0..4i64)
            .map(|w| {
                let path = path.clone();
                std::thread::spawn(move || {
                    let mut store = FencingStore::open(&path).unwrap();
                    let mut outcomes = Vec::new();
                    for i in 0..WRITES {
                        let token = (i as i64) * 4 + w;
                        outcomes.push(store.write(&format!("w{w}"), token, i, 0).unwrap());
                    }
                    outcomes
                })
            })
            .collect();
        let returned: Vec<Record> = writers
            .into_iter()
            .flat_map(|t| t.join().unwrap())
            .collect();
        let records = read_records(&path).unwrap();
        assert_eq!(
            records.len() as u64,
            4 * WRITES,
            "every write left one line"
        );
        // What each writer was told is exactly what the file says.
        let mut told = returned.clone();
        let mut filed = records.clone();
        told.sort_by_key(|r| (r.node.clone(), r.write));
        filed.sort_by_key(|r| (r.node.clone(), r.write));
        assert_eq!(told, filed);
        // Replaying the file in order gives every decision again: accepted tokens never go
        // down, and each record names the newest token before it.
        let mut newest: Option<i64> = None;
        for record in &records {
            assert_eq!(record.newest, newest, "{record:?}");
            let accept = newest.is_none_or(|n| record.token >= n);
            assert_eq!(record.outcome == Outcome::Accepted, accept, "{record:?}");
            if accept {
                newest = Some(record.token);
            }
        }
    }

    #[test]
    fn a_lock_held_too_long_fails_the_write_instead_of_stalling_it() {
        let path = temp_store("held");
        let mut store = FencingStore::open(&path).unwrap();
        let holder = File::open(&path).unwrap();
        let held = ExclusiveLock::take(&holder).unwrap();
        let err = store.write("a", 1, 1, 0).unwrap_err();
        assert_eq!(err.source.kind(), io::ErrorKind::TimedOut, "{err}");
        drop(held);
        assert_eq!(
            store.write("a", 1, 2, 0).unwrap().outcome,
            Outcome::Accepted
        );
        assert_eq!(read_records(&path).unwrap().len(), 1);
    }

    #[test]
    fn an_unusable_path_is_a_clear_error() {
        let err = FencingStore::open(Path::new("/nonexistent-dir/x/store")).unwrap_err();
        assert!(
            err.to_string().contains("/nonexistent-dir/x/store"),
            "{err}"
        );
    }
}
