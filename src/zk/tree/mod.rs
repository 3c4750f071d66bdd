//! The replicated data tree of one simulated ZooKeeper server, with its watch registry.
//!
//! Design: the leader does not pre-validate writes the way ZooKeeper's PrepRequestProcessor
//! does; it proposes the client's write as a [`Txn`] and every server validates and applies it
//! when the txn commits, in zxid order. Because every server applies the same txns in the same
//! order, every server computes the same outcome, including failed writes (which still consume
//! their zxid, as ZooKeeper's error txns do). The client-visible result is ZooKeeper's.
//!
//! Replies are what ZooKeeper puts on the wire: a failed op answers `(code, OpReply::Empty)`;
//! `exists` on a missing node answers `(NoNode, OpReply::Exists(None))` (the client library
//! turns that into "absent"); a `multi` always answers `Ok` in the header, its outcome being
//! in the per-op results (`FinalRequestProcessor` never sets the header error for multi).
//!
//! Module map: `node` (a znode, its stats, path rules), `store` (nodes + indexes + undo
//! journal), `acl` (ACL checks and auth ids), `ops` (the writes, in the server's check
//! order), `watches` (the one-shot watch tables).

mod acl;
mod node;
mod ops;
mod store;
mod watches;

#[cfg(test)]
mod tests;

pub use acl::{authenticate, digest_id};

use std::hash::Hasher;

use crate::sim::trace::Fnv64;
use crate::zk::proto::{ClientOp, OpReply};
use crate::zk::types::{
    ErrorCode, EventType, OpResult, SessionId, Stat, WatchedEvent, Zxid, perms,
};

use ops::TxnCtx;
use store::Store;
use watches::{Trigger, WatchRegistry, node_event};

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

/// ZooKeeper's `jute.maxbuffer` default (1 MiB − 1). A 3.8 server closes the connection of a
/// client whose packet is longer (`NIOServerCnxn.readLength`, "Len error") instead of answering
/// with an error code; that is the server's job, so the tree itself stores any size.
pub const JUTE_MAX_BUFFER: usize = 1024 * 1024 - 1;

/// The data tree of one server and the watches its clients registered there.
#[derive(Clone, Debug)]
pub struct DataTree {
    store: Store,
    watches: WatchRegistry,
    last_zxid: Zxid,
}

impl Default for DataTree {
    fn default() -> Self {
        DataTree::new()
    }
}

impl DataTree {
    /// A fresh tree: `/` and `/zookeeper` (with `/zookeeper/quota` and `/zookeeper/config`).
    pub fn new() -> Self {
        DataTree {
            store: Store::new(),
            watches: WatchRegistry::default(),
            last_zxid: 0,
        }
    }

    /// The zxid of the last txn applied.
    pub fn last_zxid(&self) -> Zxid {
        self.last_zxid
    }

    /// Applies a committed txn.
    pub fn apply(&mut self, txn: &Txn) -> Applied {
        // `DataTree.processTxn` only ever moves lastProcessedZxid forward.
        self.last_zxid = self.last_zxid.max(txn.zxid);
        let empty_auth: [AuthId; 0] = [];
        let auth = match &txn.kind {
            TxnKind::Write { auth, .. } => auth.as_slice(),
            _ => &empty_auth,
        };
        let ctx = TxnCtx {
            zxid: txn.zxid,
            time_ms: txn.time_ms,
            session: txn.session,
            auth,
        };
        let mut triggers = Vec::new();
        let (err, reply) = match &txn.kind {
            TxnKind::CreateSession { .. } => (ErrorCode::Ok, OpReply::Empty),
            TxnKind::CloseSession => {
                ops::close_session(&mut self.store, &ctx, &mut triggers);
                (ErrorCode::Ok, OpReply::Empty)
            }
            TxnKind::DeleteContainer { path } => reply_of(
                ops::delete_container(&mut self.store, &ctx, path, &mut triggers),
                |()| OpReply::Empty,
            ),
            TxnKind::Write { op, .. } => self.apply_write(&ctx, op, &mut triggers),
        };
        let mut events = Vec::new();
        for trigger in &triggers {
            self.watches.fire(trigger, &mut events);
        }
        Applied { err, reply, events }
    }

    fn apply_write(
        &mut self,
        ctx: &TxnCtx,
        op: &ClientOp,
        triggers: &mut Vec<Trigger>,
    ) -> (ErrorCode, OpReply) {
        let store = &mut self.store;
        match op {
            ClientOp::Create {
                path,
                data,
                acl,
                mode,
            } => reply_of(
                ops::create(store, ctx, path, data, acl, *mode, triggers),
                |(path, stat)| OpReply::Create { path, stat },
            ),
            ClientOp::Delete { path, version } => {
                reply_of(ops::delete(store, ctx, path, *version, triggers), |()| {
                    OpReply::Empty
                })
            }
            ClientOp::SetData {
                path,
                data,
                version,
            } => reply_of(
                ops::set_data(store, ctx, path, data, *version, triggers),
                OpReply::Stat,
            ),
            ClientOp::SetAcl { path, acl, version } => {
                reply_of(ops::set_acl(store, ctx, path, acl, *version), OpReply::Stat)
            }
            ClientOp::Multi { ops: multi } => {
                store.begin();
                let mut results = Vec::with_capacity(multi.len());
                let mut multi_triggers = Vec::new();
                for (index, op) in multi.iter().enumerate() {
                    match ops::multi_op(store, ctx, op, &mut multi_triggers) {
                        Ok(result) => results.push(result),
                        Err(err) => {
                            store.rollback();
                            let results = (0..multi.len())
                                .map(|i| {
                                    OpResult::Error(match i.cmp(&index) {
                                        std::cmp::Ordering::Less => ErrorCode::Ok,
                                        std::cmp::Ordering::Equal => err,
                                        std::cmp::Ordering::Greater => {
                                            ErrorCode::RuntimeInconsistency
                                        }
                                    })
                                })
                                .collect();
                            return (ErrorCode::Ok, OpReply::Multi(results));
                        }
                    }
                }
                store.commit();
                triggers.append(&mut multi_triggers);
                (ErrorCode::Ok, OpReply::Multi(results))
            }
            // Reads never become txns; a server that proposes one gets a clear error.
            ClientOp::GetData { .. }
            | ClientOp::Exists { .. }
            | ClientOp::GetChildren { .. }
            | ClientOp::GetAcl { .. }
            | ClientOp::Sync { .. } => (ErrorCode::BadArguments, OpReply::Empty),
        }
    }

    /// Serves a read (getData, exists, getChildren, getACL, and sync's answer) from this
    /// server's copy, registering the watch for `watcher` when asked and ZooKeeper would
    /// (`FinalRequestProcessor`): getData/getChildren check NoNode, then READ, and set no watch
    /// on failure; exists checks READ only on an existing node and sets its watch even on a
    /// missing one; getACL needs READ or ADMIN and masks digests without ADMIN.
    /// A write op gets `BadArguments` (writes go through [`DataTree::apply`]).
    pub fn read(
        &mut self,
        watcher: WatcherId,
        auth: &[AuthId],
        op: &ClientOp,
    ) -> (ErrorCode, OpReply) {
        match self.serve_read(watcher, auth, op) {
            Ok(reply) => (ErrorCode::Ok, reply),
            Err((err, reply)) => (err, reply),
        }
    }

    fn serve_read(
        &mut self,
        watcher: WatcherId,
        auth: &[AuthId],
        op: &ClientOp,
    ) -> Result<OpReply, (ErrorCode, OpReply)> {
        let fail = |err| (err, OpReply::Empty);
        match op {
            ClientOp::GetData { path, watch } => {
                let node = self.store.get(path).ok_or(fail(ErrorCode::NoNode))?;
                acl::check_acl(&node.acl, perms::READ, auth).map_err(fail)?;
                let reply = OpReply::Data {
                    data: node.data.clone(),
                    stat: node.client_stat(),
                };
                if *watch {
                    self.watches.set_auth(watcher, auth);
                    self.watches.data.add(node::canonical(path), watcher);
                }
                Ok(reply)
            }
            ClientOp::Exists { path, watch } => {
                if path.contains('\0') {
                    return Err(fail(ErrorCode::BadArguments));
                }
                // ZooKeeper 3.8.0 checks no ACL on exists: anyone may see any node's Stat
                // (found by the conformance case `digest_acl_refuses_others`).
                let stat = self.store.get(path).map(|node| node.client_stat());
                if *watch {
                    self.watches.set_auth(watcher, auth);
                    self.watches.data.add(node::canonical(path), watcher);
                }
                match stat {
                    Some(stat) => Ok(OpReply::Exists(Some(stat))),
                    None => Err((ErrorCode::NoNode, OpReply::Exists(None))),
                }
            }
            ClientOp::GetChildren { path, watch } => {
                let node = self.store.get(path).ok_or(fail(ErrorCode::NoNode))?;
                acl::check_acl(&node.acl, perms::READ, auth).map_err(fail)?;
                let reply = OpReply::Children {
                    children: node.children.iter().cloned().collect(),
                    stat: node.client_stat(),
                };
                if *watch {
                    self.watches.set_auth(watcher, auth);
                    self.watches.child.add(node::canonical(path), watcher);
                }
                Ok(reply)
            }
            ClientOp::GetAcl { path } => {
                let node = self.store.get(path).ok_or(fail(ErrorCode::NoNode))?;
                acl::check_acl(&node.acl, acl::READ_OR_ADMIN, auth).map_err(fail)?;
                let shown = match acl::check_acl(&node.acl, perms::ADMIN, auth) {
                    Ok(()) => node.acl.clone(),
                    Err(_) => acl::mask_digests(&node.acl),
                };
                Ok(OpReply::Acl {
                    acl: shown,
                    stat: node.client_stat(),
                })
            }
            ClientOp::Sync { path } => Ok(OpReply::Sync { path: path.clone() }),
            ClientOp::Create { .. }
            | ClientOp::Delete { .. }
            | ClientOp::SetData { .. }
            | ClientOp::SetAcl { .. }
            | ClientOp::Multi { .. } => Err(fail(ErrorCode::BadArguments)),
        }
    }

    /// Re-registers a reconnecting client's watches; returns the events to fire at once for
    /// what changed after `relative_zxid` (`DataTree.setWatches`). A watch that fires here is
    /// not registered (it is one-shot and just fired).
    pub fn set_watches(
        &mut self,
        watcher: WatcherId,
        relative_zxid: Zxid,
        data: &[String],
        exist: &[String],
        child: &[String],
    ) -> Vec<WatchedEvent> {
        let mut fired = Vec::new();
        for path in data {
            match self.store.get(path) {
                None => fired.push(node_event(EventType::NodeDeleted, path)),
                Some(node) if node.stat.mzxid > relative_zxid => {
                    fired.push(node_event(EventType::NodeDataChanged, path))
                }
                Some(_) => self.watches.data.add(node::canonical(path), watcher),
            }
        }
        for path in exist {
            match self.store.get(path) {
                Some(_) => fired.push(node_event(EventType::NodeCreated, path)),
                None => self.watches.data.add(node::canonical(path), watcher),
            }
        }
        for path in child {
            match self.store.get(path) {
                None => fired.push(node_event(EventType::NodeDeleted, path)),
                Some(node) if node.stat.pzxid > relative_zxid => {
                    fired.push(node_event(EventType::NodeChildrenChanged, path))
                }
                Some(_) => self.watches.child.add(node::canonical(path), watcher),
            }
        }
        fired
    }

    /// Records the ids `watcher`'s connection is authenticated with. ZooKeeper 3.8.4+ delivers
    /// a watch event only to a connection that may READ the node (the parent, for
    /// NodeChildrenChanged) when it fires; reads with a watch record the ids too, so the server
    /// needs to call this only after an `AddAuth` on a connection that already has watches.
    pub fn set_watcher_auth(&mut self, watcher: WatcherId, auth: &[AuthId]) {
        self.watches.set_auth(watcher, auth);
    }

    /// Drops every watch of a closed connection.
    pub fn remove_watcher(&mut self, watcher: WatcherId) {
        self.watches.remove_watcher(watcher);
    }

    /// Whether `watcher` holds a data (or exist) watch on `path`.
    pub fn has_data_watch(&self, path: &str, watcher: WatcherId) -> bool {
        self.watches.data.contains(path, watcher)
    }

    /// Whether `watcher` holds a child watch on `path`.
    pub fn has_child_watch(&self, path: &str, watcher: WatcherId) -> bool {
        self.watches.child.contains(path, watcher)
    }

    /// Number of registered watches (data + child), as the `wchc`-style counters see them.
    pub fn watch_count(&self) -> usize {
        self.watches.data.len() + self.watches.child.len()
    }

    /// The client-visible stat of `path`, bypassing ACLs (for checkers and the server's own
    /// bookkeeping, not for answering clients).
    pub fn stat(&self, path: &str) -> Option<Stat> {
        self.store.get(path).map(node::Node::client_stat)
    }

    /// The data of `path`, bypassing ACLs.
    pub fn data(&self, path: &str) -> Option<&[u8]> {
        self.store.get(path).map(|n| n.data.as_slice())
    }

    /// The child names of `path`, sorted, bypassing ACLs.
    pub fn children(&self, path: &str) -> Option<Vec<String>> {
        self.store
            .get(path)
            .map(|n| n.children.iter().cloned().collect())
    }

    /// Paths of the ephemerals a session owns, sorted.
    pub fn ephemerals_of(&self, session: SessionId) -> Vec<String> {
        self.store.ephemerals_of(session)
    }

    /// Containers that had children and have none now (the reaper's candidates:
    /// `ContainerManager.getCandidates` takes empty containers whose cversion is above 0).
    pub fn empty_containers(&self) -> Vec<String> {
        self.store
            .containers()
            .filter(|path| {
                self.store
                    .get(path)
                    .is_some_and(|n| n.children.is_empty() && n.stat.cversion > 0)
            })
            .cloned()
            .collect()
    }

    /// Sets `/zookeeper/config` the way a quorum server does at start-up
    /// (`ZKDatabase.initConfigInZKDatabase`): the dynamic config text, version −1, mzxid = the
    /// config's version, mtime = this server's clock. Not a txn: it does not move `last_zxid`,
    /// and it is left out of [`DataTree::digest`] because the mtime is local.
    pub fn init_config(&mut self, config: &[u8], config_version: Zxid, time_ms: i64) {
        self.store.update("/zookeeper/config", |n| {
            n.data = config.to_vec();
            n.stat.version = -1;
            n.stat.mzxid = config_version;
            n.stat.mtime = time_ms;
        });
    }

    /// A copy of the data without any watches (what a SNAP sync sends).
    pub fn snapshot(&self) -> DataTree {
        DataTree {
            store: self.store.snapshot(),
            watches: WatchRegistry::default(),
            last_zxid: self.last_zxid,
        }
    }

    /// A digest of the data (paths, data, stats, ACLs, ephemeral owners) to compare replicas:
    /// FNV-1a over the nodes in path order. `/zookeeper/config` is left out (its content is set
    /// locally by each server, see [`DataTree::init_config`]); `last_zxid` is not included.
    pub fn digest(&self) -> u64 {
        let mut hash = Fnv64::default();
        for (path, node) in self.store.iter() {
            if path == "/zookeeper/config" {
                continue;
            }
            hash.write(path.as_bytes());
            hash.write_u8(0);
            hash.write_u64(node.data.len() as u64);
            hash.write(&node.data);
            let s = node.stat;
            for v in [s.czxid, s.mzxid, s.pzxid, s.ctime, s.mtime] {
                hash.write_i64(v);
            }
            for v in [s.version, s.cversion, s.aversion] {
                hash.write_i32(v);
            }
            match s.owner {
                node::Owner::None => hash.write_u8(0),
                node::Owner::Session(session) => {
                    hash.write_u8(1);
                    hash.write_i64(session);
                }
                node::Owner::Container => hash.write_u8(2),
            }
            hash.write_u64(node.acl.len() as u64);
            for entry in &node.acl {
                hash.write_u32(entry.perms);
                hash.write(entry.scheme.as_bytes());
                hash.write_u8(0);
                hash.write(entry.id.as_bytes());
                hash.write_u8(0);
            }
        }
        hash.finish()
    }
}

/// `(Ok, reply)` or `(err, Empty)`.
fn reply_of<T>(
    result: Result<T, ErrorCode>,
    reply: impl FnOnce(T) -> OpReply,
) -> (ErrorCode, OpReply) {
    match result {
        Ok(value) => (ErrorCode::Ok, reply(value)),
        Err(err) => (err, OpReply::Empty),
    }
}
