//! The replicated data tree of one simulated ZooKeeper server, with its watch registry.
//!
//! INTERFACE SKETCH — bodies are being written (see the team plan); signatures are the
//! contract the server and client modules code against.
//!
//! Design: the leader does not pre-validate writes the way ZooKeeper's PrepRequestProcessor
//! does; it proposes the client's write as a [`Txn`] and every server validates and applies it
//! when the txn commits, in zxid order. Because every server applies the same txns in the same
//! order, every server computes the same outcome, including failed writes (which still consume
//! their zxid, as ZooKeeper's error txns do). The client-visible result is ZooKeeper's.

use crate::zk::proto::{ClientOp, OpReply};
use crate::zk::types::{ErrorCode, SessionId, WatchedEvent, Zxid};

/// An authenticated identity of a connection (`digest`/`user:base64(sha1(user:password))`,
/// `ip`/`127.0.0.1`, ...).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AuthId {
    pub scheme: String,
    pub id: String,
}

/// Who registered a watch on this server: one id per client connection.
pub type WatcherId = u64;

/// One transaction of the replicated log.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Txn {
    pub zxid: Zxid,
    /// The leader's wall clock when it proposed (ctime/mtime of what this txn creates/changes).
    pub time_ms: i64,
    pub session: SessionId,
    pub kind: TxnKind,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum TxnKind {
    CreateSession {
        timeout_ms: u32,
    },
    /// Session closed by the client or expired by the leader: its ephemerals go.
    CloseSession,
    /// A client write (create, delete, setData, setACL, multi), validated when applied, with the
    /// auth ids of the connection that sent it.
    Write {
        auth: Vec<AuthId>,
        op: ClientOp,
    },
    /// The leader's container reaper: delete `path` if it is still an empty container.
    DeleteContainer {
        path: String,
    },
}

/// The outcome of applying one txn.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Applied {
    /// Result of the client's request (`Ok`/`Empty` for session txns).
    pub err: ErrorCode,
    pub reply: OpReply,
    /// Watch notifications to deliver, in the order ZooKeeper fires them.
    pub events: Vec<(WatcherId, WatchedEvent)>,
}

#[derive(Clone, Debug, Default)]
pub struct DataTree {}

impl DataTree {
    /// A fresh tree: `/` and `/zookeeper` (with `/zookeeper/quota` and `/zookeeper/config`).
    pub fn new() -> Self {
        todo!("tree: new")
    }

    /// The zxid of the last txn applied.
    pub fn last_zxid(&self) -> Zxid {
        todo!("tree: last_zxid")
    }

    /// Applies a committed txn.
    pub fn apply(&mut self, _txn: &Txn) -> Applied {
        todo!("tree: apply")
    }

    /// Serves a read (getData, exists, getChildren, getACL) from this server's copy, registering
    /// the watch for `watcher` when asked and ZooKeeper would.
    pub fn read(
        &mut self,
        _watcher: WatcherId,
        _auth: &[AuthId],
        _op: &ClientOp,
    ) -> (ErrorCode, OpReply) {
        todo!("tree: read")
    }

    /// Re-registers a reconnecting client's watches; returns the events to fire at once for
    /// what changed after `relative_zxid`.
    pub fn set_watches(
        &mut self,
        _watcher: WatcherId,
        _relative_zxid: Zxid,
        _data: &[String],
        _exist: &[String],
        _child: &[String],
    ) -> Vec<WatchedEvent> {
        todo!("tree: set_watches")
    }

    /// Drops every watch of a closed connection.
    pub fn remove_watcher(&mut self, _watcher: WatcherId) {
        todo!("tree: remove_watcher")
    }

    /// Paths of the ephemerals a session owns.
    pub fn ephemerals_of(&self, _session: SessionId) -> Vec<String> {
        todo!("tree: ephemerals_of")
    }

    /// Containers that had children and have none now (the reaper's candidates).
    pub fn empty_containers(&self) -> Vec<String> {
        todo!("tree: empty_containers")
    }

    /// A copy of the data without any watches (what a SNAP sync sends).
    pub fn snapshot(&self) -> DataTree {
        todo!("tree: snapshot")
    }

    /// A digest of the data (paths, data, stats, ACLs) to compare replicas in tests.
    pub fn digest(&self) -> u64 {
        todo!("tree: digest")
    }
}
