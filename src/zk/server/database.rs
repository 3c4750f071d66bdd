//! The replicated state machine of one server: the data tree plus the session table, both
//! changed only by applying committed txns in zxid order (ZooKeeper's `ZKDatabase`).

use crate::sim::trace::Fnv64;
use crate::zk::tree::{Applied, DataTree, Txn, TxnKind};
use crate::zk::types::{SessionId, Zxid};
use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

#[derive(Clone, Debug, Default)]
pub struct Database {
    pub tree: DataTree,
    /// Live sessions and their negotiated timeouts (ms), as replicated by txns.
    pub sessions: BTreeMap<SessionId, u32>,
}

impl Database {
    pub fn new() -> Self {
        Database {
            tree: DataTree::new(),
            sessions: BTreeMap::new(),
        }
    }

    /// The zxid of the last txn applied.
    pub fn last_zxid(&self) -> Zxid {
        self.tree.last_zxid()
    }

    pub fn apply(&mut self, txn: &Txn) -> Applied {
        match &txn.kind {
            TxnKind::CreateSession { timeout_ms } => {
                self.sessions.insert(txn.session, *timeout_ms);
            }
            TxnKind::CloseSession => {
                self.sessions.remove(&txn.session);
            }
            TxnKind::Write { .. } | TxnKind::DeleteContainer { .. } => {}
        }
        self.tree.apply(txn)
    }

    /// A watch-free copy, for a SNAP sync or the disk.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot(Arc::new(Database {
            tree: self.tree.snapshot(),
            sessions: self.sessions.clone(),
        }))
    }

    pub fn from_snapshot(snapshot: &Snapshot) -> Database {
        Database {
            tree: snapshot.0.tree.snapshot(),
            sessions: snapshot.0.sessions.clone(),
        }
    }

    /// Digest of the tree and the session table, to compare replicas.
    pub fn digest(&self) -> u64 {
        let mut h = Fnv64::default();
        h.write_u64(self.tree.digest());
        self.sessions.hash(&mut h);
        h.finish()
    }
}

/// An immutable database image at some zxid, shared without copying. Compared and hashed by
/// its digest (the tree keeps no equality of its own).
#[derive(Clone, Debug)]
pub struct Snapshot(Arc<Database>);

impl Snapshot {
    pub fn last_zxid(&self) -> Zxid {
        self.0.last_zxid()
    }

    pub fn digest(&self) -> u64 {
        self.0.digest()
    }
}

impl PartialEq for Snapshot {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
            || (self.last_zxid() == other.last_zxid() && self.digest() == other.digest())
    }
}

impl Eq for Snapshot {}

impl Hash for Snapshot {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.last_zxid().hash(state);
        self.digest().hash(state);
    }
}
