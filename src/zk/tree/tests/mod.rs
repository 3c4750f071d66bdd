//! Unit tests of the data tree, against ZooKeeper 3.8's behaviour, with a small harness that
//! applies txns with consecutive zxids.

mod acl_reads;
mod ops;
mod random;
mod sessions_multi;
mod watches;

use super::*;
use crate::zk::types::{Acl, CreateMode, Stat};

/// Applies txns with consecutive zxids (time = 1000 + zxid) and answers reads as watcher 0.
pub(crate) struct Harness {
    pub tree: DataTree,
    pub zxid: Zxid,
}

pub(crate) const S1: SessionId = 0x101;
pub(crate) const S2: SessionId = 0x102;

impl Harness {
    pub fn new() -> Self {
        Harness {
            tree: DataTree::new(),
            zxid: 0,
        }
    }

    pub fn txn(&mut self, session: SessionId, kind: TxnKind) -> Applied {
        self.zxid += 1;
        self.tree.apply(&Txn {
            zxid: self.zxid,
            time_ms: 1000 + self.zxid,
            session,
            kind,
        })
    }

    pub fn write_as(&mut self, session: SessionId, auth: &[AuthId], op: ClientOp) -> Applied {
        self.txn(
            session,
            TxnKind::Write {
                auth: auth.to_vec(),
                op,
            },
        )
    }

    pub fn write(&mut self, op: ClientOp) -> Applied {
        self.write_as(S1, &[], op)
    }

    pub fn create_with(&mut self, session: SessionId, path: &str, mode: CreateMode) -> Applied {
        self.write_as(session, &[], create_op(path, b"", Acl::open_unsafe(), mode))
    }

    pub fn create(&mut self, path: &str) -> Applied {
        self.create_with(S1, path, CreateMode::Persistent)
    }

    /// Creates and returns the created path, failing the test on error.
    pub fn mk(&mut self, path: &str, mode: CreateMode) -> String {
        let applied = self.create_with(S1, path, mode);
        match applied.reply {
            OpReply::Create { path, .. } => path,
            other => panic!("create {path}: {:?} {other:?}", applied.err),
        }
    }

    pub fn stat(&mut self, path: &str) -> Stat {
        match self.tree.read(0, &[], &exists(path, false)) {
            (ErrorCode::Ok, OpReply::Exists(Some(stat))) => stat,
            other => panic!("stat {path}: {other:?}"),
        }
    }

    pub fn present(&mut self, path: &str) -> bool {
        self.tree.read(0, &[], &exists(path, false)).0 == ErrorCode::Ok
    }
}

pub(crate) fn create_op(path: &str, data: &[u8], acl: Vec<Acl>, mode: CreateMode) -> ClientOp {
    ClientOp::Create {
        path: path.into(),
        data: data.to_vec(),
        acl,
        mode,
    }
}

pub(crate) fn delete_op(path: &str, version: i32) -> ClientOp {
    ClientOp::Delete {
        path: path.into(),
        version,
    }
}

pub(crate) fn set_data_op(path: &str, data: &[u8], version: i32) -> ClientOp {
    ClientOp::SetData {
        path: path.into(),
        data: data.to_vec(),
        version,
    }
}

pub(crate) fn exists(path: &str, watch: bool) -> ClientOp {
    ClientOp::Exists {
        path: path.into(),
        watch,
    }
}

pub(crate) fn digest_auth(user_password: &str) -> AuthId {
    authenticate("digest", user_password.as_bytes()).unwrap()
}

pub(crate) fn only_for(auth: &AuthId, perms: u32) -> Vec<Acl> {
    vec![Acl {
        perms,
        scheme: auth.scheme.clone(),
        id: auth.id.clone(),
    }]
}

pub(crate) fn open() -> Vec<Acl> {
    Acl::open_unsafe()
}

impl Harness {
    pub fn stat_as(&mut self, path: &str, auth: &AuthId) -> Stat {
        match self
            .tree
            .read(0, std::slice::from_ref(auth), &exists(path, false))
        {
            (ErrorCode::Ok, OpReply::Exists(Some(stat))) => stat,
            other => panic!("{other:?}"),
        }
    }
}
