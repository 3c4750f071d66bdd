//! A server's durable state: accepted and current epoch, the last snapshot and the txn log
//! after it. It lives in the host's disk (kept across crashes, lost by a wipe), so a restarted
//! server rejoins with its history and a wiped one starts empty.
//!
//! As in ZooKeeper, the log holds every txn the server *accepted* (logged), committed or
//! not; loading replays all of them, and a new leader's TRUNC removes the ones its history
//! does not have.

use crate::zk::server::database::{Database, Snapshot};
use crate::zk::tree::Txn;
use crate::zk::types::Zxid;
use std::sync::{Arc, Mutex, MutexGuard};

/// Log length after the snapshot that makes the server take a new snapshot (ZooKeeper's
/// `snapCount` is 100 000; a smaller value keeps restarts of long simulations cheap).
pub const SNAPSHOT_EVERY: usize = 5_000;

#[derive(Debug, Default)]
pub struct ServerDisk {
    /// The epoch this server last agreed to follow (ZooKeeper's `acceptedEpoch` file).
    pub accepted_epoch: u32,
    /// The epoch whose NEWLEADER this server acknowledged (`currentEpoch` file).
    pub current_epoch: u32,
    pub snapshot: Option<Snapshot>,
    /// Txns after the snapshot, in zxid order.
    pub log: Vec<Txn>,
}

/// Handle to the host's [`ServerDisk`].
#[derive(Clone)]
pub struct Storage {
    disk: Arc<Mutex<ServerDisk>>,
}

impl Storage {
    pub fn new(disk: Arc<Mutex<ServerDisk>>) -> Self {
        Storage { disk }
    }

    fn lock(&self) -> MutexGuard<'_, ServerDisk> {
        // A poisoned lock only means another task panicked mid-write; the data is still the
        // best we have.
        self.disk.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn accepted_epoch(&self) -> u32 {
        self.lock().accepted_epoch
    }

    pub fn current_epoch(&self) -> u32 {
        self.lock().current_epoch
    }

    pub fn set_accepted_epoch(&self, epoch: u32) {
        self.lock().accepted_epoch = epoch;
    }

    pub fn set_current_epoch(&self, epoch: u32) {
        self.lock().current_epoch = epoch;
    }

    /// The last logged zxid (0 for an empty server).
    pub fn last_logged_zxid(&self) -> Zxid {
        let disk = self.lock();
        match disk.log.last() {
            Some(t) => t.zxid,
            None => disk.snapshot.as_ref().map_or(0, Snapshot::last_zxid),
        }
    }

    /// Rebuilds the database from the snapshot and the whole log.
    pub fn load(&self) -> Database {
        let disk = self.lock();
        let mut db = match &disk.snapshot {
            Some(s) => Database::from_snapshot(s),
            None => Database::new(),
        };
        for txn in &disk.log {
            if txn.zxid > db.last_zxid() {
                db.apply(txn);
            }
        }
        db
    }

    /// Applies to `db` every logged txn it has not applied yet (ZooKeeper's
    /// `fastForwardDataBase` when a server stops following or leading).
    pub fn fast_forward(&self, db: &mut Database) {
        let disk = self.lock();
        let last = db.last_zxid();
        let start = disk.log.partition_point(|t| t.zxid <= last);
        for txn in &disk.log[start..] {
            db.apply(txn);
        }
    }

    /// Logs an accepted txn. Txns at or below the last logged zxid are ignored (the log stays
    /// in zxid order).
    pub fn append(&self, txn: &Txn) {
        let mut disk = self.lock();
        let last = match disk.log.last() {
            Some(t) => t.zxid,
            None => disk.snapshot.as_ref().map_or(0, Snapshot::last_zxid),
        };
        if txn.zxid > last {
            disk.log.push(txn.clone());
        }
    }

    /// Drops every logged txn after `to`. Fails if the snapshot is already past it.
    pub fn truncate(&self, to: Zxid) -> Result<(), TruncateError> {
        let mut disk = self.lock();
        if let Some(s) = &disk.snapshot
            && s.last_zxid() > to
        {
            return Err(TruncateError {
                to,
                snapshot: s.last_zxid(),
            });
        }
        let keep = disk.log.partition_point(|t| t.zxid <= to);
        disk.log.truncate(keep);
        Ok(())
    }

    /// Replaces everything with a leader's snapshot (SNAP sync).
    pub fn install_snapshot(&self, snapshot: Snapshot) {
        let mut disk = self.lock();
        disk.snapshot = Some(snapshot);
        disk.log.clear();
    }

    /// Takes a snapshot of `db` (which must hold only committed txns) when the log has grown
    /// long, dropping the log entries it covers.
    pub fn maybe_snapshot(&self, db: &Database) {
        let mut disk = self.lock();
        if disk.log.len() < SNAPSHOT_EVERY {
            return;
        }
        let at = db.last_zxid();
        let covered = disk.log.partition_point(|t| t.zxid <= at);
        if covered == 0 {
            return;
        }
        disk.snapshot = Some(db.snapshot());
        disk.log.drain(..covered);
    }

    /// Committed-log window for DIFF syncs: the last `max` logged txns up to `upto`.
    pub fn tail(&self, upto: Zxid, max: usize) -> Vec<Txn> {
        let disk = self.lock();
        let end = disk.log.partition_point(|t| t.zxid <= upto);
        disk.log[end.saturating_sub(max)..end].to_vec()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("cannot truncate the log to {to:#x}: the snapshot is already at {snapshot:#x}")]
pub struct TruncateError {
    pub to: Zxid,
    pub snapshot: Zxid,
}
