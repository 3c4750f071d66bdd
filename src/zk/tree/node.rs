//! One znode as the server stores it, and the server-side path rules.
//!
//! The stored stat differs from the client-visible [`Stat`] the way ZooKeeper's `StatPersisted`
//! differs from `Stat`: `cversion` counts child *creates* only, containers carry a marker
//! instead of an owner session, and `dataLength`/`numChildren` are derived.

use std::collections::BTreeSet;

use crate::zk::types::{Acl, ErrorCode, SessionId, Stat, Zxid};

/// Who owns a znode's lifetime.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Owner {
    /// Persistent node (ZooKeeper's ephemeralOwner 0).
    None,
    /// Ephemeral node of this session.
    Session(SessionId),
    /// Container (ZooKeeper stores `Long.MIN_VALUE`; clients see 0).
    Container,
}

/// ZooKeeper's `StatPersisted`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct PersistedStat {
    pub czxid: Zxid,
    pub mzxid: Zxid,
    pub pzxid: Zxid,
    pub ctime: i64,
    pub mtime: i64,
    pub version: i32,
    /// Number of children ever created under this node (not deletes): the sequence counter.
    pub cversion: i32,
    pub aversion: i32,
    pub owner: Owner,
}

impl PersistedStat {
    /// The stat of a node created by txn `zxid` at `time_ms` (`DataTree.createStat`).
    pub fn created(zxid: Zxid, time_ms: i64, owner: Owner) -> Self {
        PersistedStat {
            czxid: zxid,
            mzxid: zxid,
            pzxid: zxid,
            ctime: time_ms,
            mtime: time_ms,
            version: 0,
            cversion: 0,
            aversion: 0,
            owner,
        }
    }

    /// The all-zero stat of `/` and the `/zookeeper` system nodes.
    pub fn system() -> Self {
        PersistedStat::created(0, 0, Owner::None)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Node {
    pub data: Vec<u8>,
    pub acl: Vec<Acl>,
    pub stat: PersistedStat,
    /// Child names (last path component), sorted.
    pub children: BTreeSet<String>,
}

impl Node {
    pub fn new(data: Vec<u8>, acl: Vec<Acl>, stat: PersistedStat) -> Self {
        Node {
            data,
            acl,
            stat,
            children: BTreeSet::new(),
        }
    }

    /// The stat a client sees (`DataNode.copyStat`). ZooKeeper stores only child creates in
    /// cversion and reports `2·creates − numChildren`, i.e. creates plus deletes for a node
    /// whose children were all created through it (the system nodes were not, so `/` reports
    /// −1 on a fresh tree, as a real server does).
    pub fn client_stat(&self) -> Stat {
        let num_children = self.children.len() as i32;
        Stat {
            czxid: self.stat.czxid,
            mzxid: self.stat.mzxid,
            ctime: self.stat.ctime,
            mtime: self.stat.mtime,
            version: self.stat.version,
            cversion: self
                .stat
                .cversion
                .wrapping_mul(2)
                .wrapping_sub(num_children),
            aversion: self.stat.aversion,
            ephemeral_owner: match self.stat.owner {
                Owner::Session(session) => session,
                Owner::None | Owner::Container => 0,
            },
            data_length: self.data.len() as i32,
            num_children,
            pzxid: self.stat.pzxid,
        }
    }

    pub fn is_ephemeral(&self) -> bool {
        matches!(self.stat.owner, Owner::Session(_))
    }
}

/// The parent part of a path as ZooKeeper's request processor cuts it: everything before the
/// last `/` (so `/a` → `""`, which names the root). `None` when there is no `/` or the path
/// holds a NUL.
pub(crate) fn split_parent(path: &str) -> Option<(&str, &str)> {
    if path.contains('\0') {
        return None;
    }
    let slash = path.rfind('/')?;
    Some((&path[..slash], &path[slash + 1..]))
}

/// ZooKeeper keeps the root under both `""` and `"/"`; we store it under `"/"` only.
pub(crate) fn canonical(path: &str) -> &str {
    if path.is_empty() { "/" } else { path }
}

/// The paths the server refuses to delete (`DataTree.isSpecialPath`).
pub(crate) fn is_special_path(path: &str) -> bool {
    matches!(
        path,
        "/" | "/zookeeper" | "/zookeeper/quota" | "/zookeeper/config"
    )
}

/// The server's path check (`PathUtils.validatePath`), stricter than the client's: no empty,
/// `.` or `..` components, no trailing `/`, no NUL, control, surrogate-range (so nothing
/// outside the Basic Multilingual Plane), private-use or U+FFF0.. characters.
pub(crate) fn validate_server_path(path: &str) -> Result<(), ErrorCode> {
    if !path.starts_with('/') {
        return Err(ErrorCode::BadArguments);
    }
    if path == "/" {
        return Ok(());
    }
    if path.ends_with('/') {
        return Err(ErrorCode::BadArguments);
    }
    let components_ok = path[1..]
        .split('/')
        .all(|c| !c.is_empty() && c != "." && c != "..");
    let chars_ok = path.chars().all(|c| {
        let u = c as u32;
        !(u <= 0x1f || (0x7f..=0x9f).contains(&u) || (0xd800..=0xf8ff).contains(&u) || u >= 0xfff0)
    });
    if components_ok && chars_ok {
        Ok(())
    } else {
        Err(ErrorCode::BadArguments)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_path_rules() {
        for ok in ["/", "/a", "/a/b", "/...", "/a.b/.c", "/zookeeper/x"] {
            assert_eq!(validate_server_path(ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "a",
            "/a/",
            "//",
            "/a//b",
            "/.",
            "/a/..",
            "/a/./b",
            "/a\0b",
            "/a\u{1}",
            "/\u{9f}",
            "/\u{e000}",
            "/\u{1f600}",
            "/\u{fff0}",
        ] {
            assert_eq!(
                validate_server_path(bad),
                Err(ErrorCode::BadArguments),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn parents_as_the_server_cuts_them() {
        assert_eq!(split_parent("/a"), Some(("", "a")));
        assert_eq!(split_parent("/a/b"), Some(("/a", "b")));
        assert_eq!(split_parent("/a/"), Some(("/a", "")));
        assert_eq!(split_parent("/"), Some(("", "")));
        assert_eq!(split_parent("a"), None);
        assert_eq!(split_parent("/a\0"), None);
        assert_eq!(canonical(""), "/");
    }

    #[test]
    fn client_cversion_counts_creates_and_deletes() {
        let mut node = Node::new(vec![1, 2], Vec::new(), PersistedStat::system());
        node.stat.cversion = 3;
        node.children.insert("x".into());
        let stat = node.client_stat();
        assert_eq!(stat.cversion, 5); // 3 creates, 2 deletes
        assert_eq!(stat.num_children, 1);
        assert_eq!(stat.data_length, 2);
        node.stat.owner = Owner::Container;
        assert_eq!(node.client_stat().ephemeral_owner, 0);
        node.stat.owner = Owner::Session(7);
        assert_eq!(node.client_stat().ephemeral_owner, 7);
    }
}
