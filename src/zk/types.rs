//! ZooKeeper's client-visible vocabulary: error codes, Stat, create modes, ACLs, watch events,
//! multi operations. Shared by the simulated ensemble, the simulated client, the adapter over
//! the real `zookeeper-client` crate and the election code, so every backend speaks the same
//! types and observations can be compared field by field.

use serde::{Deserialize, Serialize};
use std::fmt;

/// ZooKeeper transaction id: `epoch << 32 | counter`.
pub type Zxid = i64;
/// Session ids are 64-bit in ZooKeeper; 0 means "no session".
pub type SessionId = i64;

/// Builds a zxid from an epoch and a counter, as ZooKeeper does.
pub fn make_zxid(epoch: u32, counter: u32) -> Zxid {
    ((epoch as i64) << 32) | counter as i64
}

/// The epoch half of a zxid.
pub fn zxid_epoch(zxid: Zxid) -> u32 {
    (zxid >> 32) as u32
}

/// ZooKeeper's error codes (`KeeperException.Code`), with the numeric values of the wire protocol.
/// `ClientClosed` is not a server code: it is what a client reports once it was closed locally.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ErrorCode {
    Ok,
    SystemError,
    RuntimeInconsistency,
    DataInconsistency,
    ConnectionLoss,
    MarshallingError,
    Unimplemented,
    OperationTimeout,
    BadArguments,
    UnknownSession,
    ApiError,
    NoNode,
    NoAuth,
    BadVersion,
    NoChildrenForEphemerals,
    NodeExists,
    NotEmpty,
    SessionExpired,
    InvalidCallback,
    InvalidAcl,
    AuthFailed,
    SessionMoved,
    NotReadOnly,
    NoWatcher,
    RequestTimeout,
    QuotaExceeded,
    Throttled,
    ClientClosed,
}

impl ErrorCode {
    /// The wire value (`KeeperException.Code.intValue()`).
    pub fn code(self) -> i32 {
        use ErrorCode::*;
        match self {
            Ok => 0,
            SystemError => -1,
            RuntimeInconsistency => -2,
            DataInconsistency => -3,
            ConnectionLoss => -4,
            MarshallingError => -5,
            Unimplemented => -6,
            OperationTimeout => -7,
            BadArguments => -8,
            UnknownSession => -12,
            ApiError => -100,
            NoNode => -101,
            NoAuth => -102,
            BadVersion => -103,
            NoChildrenForEphemerals => -108,
            NodeExists => -110,
            NotEmpty => -111,
            SessionExpired => -112,
            InvalidCallback => -113,
            InvalidAcl => -114,
            AuthFailed => -115,
            SessionMoved => -118,
            NotReadOnly => -119,
            NoWatcher => -121,
            RequestTimeout => -122,
            QuotaExceeded => -125,
            Throttled => -127,
            ClientClosed => -10_000,
        }
    }

    /// Maps a wire value back; unknown values become `SystemError`.
    pub fn from_code(code: i32) -> ErrorCode {
        use ErrorCode::*;
        const ALL: [ErrorCode; 28] = [
            Ok,
            SystemError,
            RuntimeInconsistency,
            DataInconsistency,
            ConnectionLoss,
            MarshallingError,
            Unimplemented,
            OperationTimeout,
            BadArguments,
            UnknownSession,
            ApiError,
            NoNode,
            NoAuth,
            BadVersion,
            NoChildrenForEphemerals,
            NodeExists,
            NotEmpty,
            SessionExpired,
            InvalidCallback,
            InvalidAcl,
            AuthFailed,
            SessionMoved,
            NotReadOnly,
            NoWatcher,
            RequestTimeout,
            QuotaExceeded,
            Throttled,
            ClientClosed,
        ];
        ALL.into_iter()
            .find(|c| c.code() == code)
            .unwrap_or(SystemError)
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}({})", self, self.code())
    }
}

impl std::error::Error for ErrorCode {}

/// The error type of every coordination call.
pub type ZkError = ErrorCode;
pub type ZkResult<T> = Result<T, ZkError>;

/// A znode's metadata, as ZooKeeper returns it. `cversion` is the client-visible value.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Stat {
    pub czxid: Zxid,
    pub mzxid: Zxid,
    pub ctime: i64,
    pub mtime: i64,
    pub version: i32,
    pub cversion: i32,
    pub aversion: i32,
    pub ephemeral_owner: SessionId,
    pub data_length: i32,
    pub num_children: i32,
    pub pzxid: Zxid,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum CreateMode {
    Persistent,
    Ephemeral,
    PersistentSequential,
    EphemeralSequential,
    Container,
}

impl CreateMode {
    pub fn is_ephemeral(self) -> bool {
        matches!(
            self,
            CreateMode::Ephemeral | CreateMode::EphemeralSequential
        )
    }
    pub fn is_sequential(self) -> bool {
        matches!(
            self,
            CreateMode::PersistentSequential | CreateMode::EphemeralSequential
        )
    }
    pub fn is_container(self) -> bool {
        matches!(self, CreateMode::Container)
    }
}

/// ACL permission bits, as in ZooKeeper (`ZooDefs.Perms`).
pub mod perms {
    pub const READ: u32 = 1;
    pub const WRITE: u32 = 2;
    pub const CREATE: u32 = 4;
    pub const DELETE: u32 = 8;
    pub const ADMIN: u32 = 16;
    pub const ALL: u32 = READ | WRITE | CREATE | DELETE | ADMIN;
}

/// One ACL entry: permissions for an identity in a scheme (`world:anyone`, `digest:user:hash`,
/// `auth:` as a creation shorthand for "the creator's authenticated ids").
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Acl {
    pub perms: u32,
    pub scheme: String,
    pub id: String,
}

impl Acl {
    /// `world:anyone` with every permission (`ZooDefs.Ids.OPEN_ACL_UNSAFE`).
    pub fn open_unsafe() -> Vec<Acl> {
        vec![Acl {
            perms: perms::ALL,
            scheme: "world".into(),
            id: "anyone".into(),
        }]
    }
    /// `world:anyone` read-only (`ZooDefs.Ids.READ_ACL_UNSAFE`).
    pub fn read_unsafe() -> Vec<Acl> {
        vec![Acl {
            perms: perms::READ,
            scheme: "world".into(),
            id: "anyone".into(),
        }]
    }
    /// All permissions for the ids the creator authenticated with (`ZooDefs.Ids.CREATOR_ALL_ACL`).
    pub fn creator_all() -> Vec<Acl> {
        vec![Acl {
            perms: perms::ALL,
            scheme: "auth".into(),
            id: String::new(),
        }]
    }
}

/// What a watch reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum EventType {
    /// A session-state notification rather than a node change (terminal states reach one-shot
    /// watchers so that nothing waits forever on a dead session).
    Session,
    NodeCreated,
    NodeDeleted,
    NodeDataChanged,
    NodeChildrenChanged,
}

/// A session's state as the client library reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum SessionState {
    Disconnected,
    SyncConnected,
    Expired,
    Closed,
    AuthFailed,
}

impl SessionState {
    /// A terminal state: the session can never be used again.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            SessionState::Expired | SessionState::Closed | SessionState::AuthFailed
        )
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct WatchedEvent {
    pub event_type: EventType,
    pub session_state: SessionState,
    /// Empty for session events.
    pub path: String,
}

/// One operation of a `multi`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Op {
    Create {
        path: String,
        data: Vec<u8>,
        acl: Vec<Acl>,
        mode: CreateMode,
    },
    Delete {
        path: String,
        version: i32,
    },
    SetData {
        path: String,
        data: Vec<u8>,
        version: i32,
    },
    Check {
        path: String,
        version: i32,
    },
}

impl Op {
    pub fn path(&self) -> &str {
        match self {
            Op::Create { path, .. }
            | Op::Delete { path, .. }
            | Op::SetData { path, .. }
            | Op::Check { path, .. } => path,
        }
    }
}

/// One result of a `multi`. On failure ZooKeeper answers every op with an error result:
/// `Error(Ok)` for those before the failing one, its code for the failing one, and
/// `Error(RuntimeInconsistency)` for those after it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum OpResult {
    Create { path: String, stat: Stat },
    Delete,
    SetData { stat: Stat },
    Check,
    Error(ErrorCode),
}

/// Version argument meaning "any version".
pub const ANY_VERSION: i32 = -1;

/// Validates a znode path the way the client library does before sending anything.
pub fn validate_path(path: &str, sequential: bool) -> ZkResult<()> {
    if path.is_empty() || !path.starts_with('/') {
        return Err(ErrorCode::BadArguments);
    }
    if path.len() > 1 && path.ends_with('/') && !sequential {
        return Err(ErrorCode::BadArguments);
    }
    // One pass over the components after the leading slash (every request's path comes
    // through here): none empty (a "//"), none "." or "..", no NUL anywhere. The last one may
    // be empty: the root, or a sequential prefix ending in a slash.
    let bytes = path.as_bytes();
    let bad = |component: &[u8]| matches!(component, b"." | b"..");
    let mut start = 1;
    for (i, &b) in bytes.iter().enumerate().skip(1) {
        match b {
            0 => return Err(ErrorCode::BadArguments),
            b'/' => {
                let component = &bytes[start..i];
                if component.is_empty() || bad(component) {
                    return Err(ErrorCode::BadArguments);
                }
                start = i + 1;
            }
            _ => {}
        }
    }
    if bad(&bytes[start..]) {
        return Err(ErrorCode::BadArguments);
    }
    Ok(())
}

/// The parent of a path (`/a/b` → `/a`, `/a` → `/`); `None` for the root.
pub fn parent_path(path: &str) -> Option<&str> {
    if path == "/" {
        return None;
    }
    match path.rfind('/') {
        Some(0) => Some("/"),
        Some(i) => Some(&path[..i]),
        None => None,
    }
}

/// The last component of a path.
pub fn node_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_round_trip() {
        for code in [0, -101, -110, -112, -4, -118] {
            assert_eq!(ErrorCode::from_code(code).code(), code);
        }
    }

    #[test]
    fn paths() {
        assert_eq!(parent_path("/a/b"), Some("/a"));
        assert_eq!(parent_path("/a"), Some("/"));
        assert_eq!(parent_path("/"), None);
        assert_eq!(node_name("/a/b"), "b");
        assert!(validate_path("/a/b", false).is_ok());
        assert!(validate_path("a", false).is_err());
        assert!(validate_path("/a/", false).is_err());
        assert!(validate_path("/a/", true).is_ok());
        assert!(validate_path("/a//b", false).is_err());
        assert!(validate_path("/a/./b", false).is_err());
    }

    /// ZooKeeper's rules as plainly stated (PathUtils.validatePath); the one-pass check must
    /// agree with them on every short path over the characters that matter.
    #[test]
    fn one_pass_path_check_agrees_with_the_plain_rules() {
        fn plain(path: &str, sequential: bool) -> bool {
            let trailing_slash = path.len() > 1 && path.ends_with('/') && !sequential;
            let broken = path.contains("//") || path.contains('\0');
            let relative = path.split('/').any(|c| c == "." || c == "..");
            path.starts_with('/') && !trailing_slash && !broken && !relative
        }
        let alphabet = ['/', '.', 'a', '\0'];
        let mut paths = vec![String::new()];
        for _ in 0..6 {
            let longer: Vec<String> = paths
                .iter()
                .flat_map(|p| alphabet.iter().map(move |c| format!("{p}{c}")))
                .collect();
            paths.extend(longer);
        }
        paths.sort();
        paths.dedup();
        for path in &paths {
            for sequential in [false, true] {
                assert_eq!(
                    validate_path(path, sequential).is_ok(),
                    plain(path, sequential),
                    "{path:?}, sequential {sequential}"
                );
            }
        }
    }

    #[test]
    fn zxid_halves() {
        let z = make_zxid(3, 17);
        assert_eq!(zxid_epoch(z), 3);
        assert_eq!(z & 0xffff_ffff, 17);
    }
}
