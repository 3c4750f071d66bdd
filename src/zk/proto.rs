//! The client ↔ server protocol of the simulated ensemble.
//!
//! It carries what ZooKeeper's wire protocol carries (connect request/response with the last
//! seen zxid and negotiated timeout, xid-tagged requests, replies whose header holds the
//! server's last processed zxid, pings, watch notifications, SetWatches on reconnect, auth),
//! as Rust values rather than jute bytes. A `ConnId` stands for one TCP connection: the client
//! picks a fresh one for every connect attempt, and either side ignores packets of a
//! connection it has already given up on.

use crate::zk::types::{
    Acl, CreateMode, ErrorCode, Op, OpResult, SessionId, Stat, WatchedEvent, Zxid,
};

/// One TCP connection between a client and a server.
pub type ConnId = u64;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ClientRequest {
    pub conn: ConnId,
    pub body: RequestBody,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum RequestBody {
    /// First packet on a connection. `session_id == 0` asks for a new session.
    Connect {
        last_zxid_seen: Zxid,
        timeout_ms: u32,
        session_id: SessionId,
        password: u64,
    },
    /// A request with the client's sequence number (`xid`), answered by a `Reply` with it.
    Op { xid: i32, op: ClientOp },
    /// Keep-alive; touches the session. Answered by `Pong`.
    Ping,
    /// Re-registers watches after a reconnect; the server fires at once whatever changed after
    /// `relative_zxid` (the last zxid this client saw).
    SetWatches {
        relative_zxid: Zxid,
        data: Vec<String>,
        exist: Vec<String>,
        child: Vec<String>,
    },
    /// Adds an authentication id to the session. Answered by `AuthReply`.
    AddAuth { scheme: String, auth: Vec<u8> },
    /// Ends the session (closeSession, a quorum transaction). Answered by a `Reply` with `xid`.
    CloseSession { xid: i32 },
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ClientOp {
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
    GetData {
        path: String,
        watch: bool,
    },
    Exists {
        path: String,
        watch: bool,
    },
    GetChildren {
        path: String,
        watch: bool,
    },
    GetAcl {
        path: String,
    },
    SetAcl {
        path: String,
        acl: Vec<Acl>,
        version: i32,
    },
    Multi {
        ops: Vec<Op>,
    },
    Sync {
        path: String,
    },
}

impl ClientOp {
    /// Whether the op changes state (goes through the leader as a transaction).
    pub fn is_write(&self) -> bool {
        matches!(
            self,
            ClientOp::Create { .. }
                | ClientOp::Delete { .. }
                | ClientOp::SetData { .. }
                | ClientOp::SetAcl { .. }
                | ClientOp::Multi { .. }
        )
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ServerResponse {
    pub conn: ConnId,
    pub body: ResponseBody,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ResponseBody {
    /// Session established or re-attached. `timeout_ms == 0` means the session has expired
    /// (the server then closes the connection).
    Connected {
        timeout_ms: u32,
        session_id: SessionId,
        password: u64,
    },
    /// Answer to `Op` or `CloseSession`. `zxid` is the server's last processed zxid (every
    /// reply header carries it, reads included).
    Reply {
        xid: i32,
        zxid: Zxid,
        err: ErrorCode,
        reply: OpReply,
    },
    Pong {
        zxid: Zxid,
    },
    AuthReply {
        err: ErrorCode,
    },
    /// A watch fired. `zxid` is the zxid of the change (header of the notification).
    Watch {
        event: WatchedEvent,
        zxid: Zxid,
    },
    /// The server closed the connection (not serving, zxid-ahead refusal, session closed or
    /// expired, lost its leader). The client must reconnect, possibly elsewhere.
    Close,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum OpReply {
    /// Errors, delete, setACL-less replies, closeSession.
    Empty,
    Create {
        path: String,
        stat: Stat,
    },
    Stat(Stat),
    Exists(Option<Stat>),
    Data {
        data: Vec<u8>,
        stat: Stat,
    },
    Children {
        children: Vec<String>,
        stat: Stat,
    },
    Acl {
        acl: Vec<Acl>,
        stat: Stat,
    },
    Multi(Vec<OpResult>),
    Sync {
        path: String,
    },
}
