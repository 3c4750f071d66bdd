//! What the session is asked to do, what it keeps while a request is on its way, and how a
//! reply becomes the caller's result.

use crate::coord::Watch;
use crate::zk::client::watches::{WatchKind, WatchRegistry};
use crate::zk::proto::{ClientOp, OpReply};
use crate::zk::types::{ErrorCode, SessionId, SessionState, ZkResult};
use tokio::sync::oneshot;

/// A successful reply and, for a watching read, the watch it set.
#[derive(Debug)]
pub struct OpOutcome {
    pub reply: OpReply,
    pub watch: Option<Watch>,
}

pub type OpResponder = oneshot::Sender<ZkResult<OpOutcome>>;
pub type DoneResponder = oneshot::Sender<ZkResult<()>>;
/// Learns the session id once the first session is established, or why it never will be.
pub type EstablishResponder = oneshot::Sender<ZkResult<SessionId>>;

/// What the session's user asks for.
#[derive(Debug)]
pub enum Request {
    Op {
        op: ClientOp,
        reply: OpResponder,
    },
    AddAuth {
        scheme: String,
        auth: Vec<u8>,
        reply: DoneResponder,
    },
    Close {
        reply: DoneResponder,
    },
}

#[derive(Debug)]
pub(super) enum Queued {
    Op { op: ClientOp, reply: OpResponder },
    Auth(PendingAuth),
    Close,
}

#[derive(Debug)]
pub(super) struct PendingAuth {
    pub(super) scheme: String,
    pub(super) auth: Vec<u8>,
    pub(super) reply: DoneResponder,
}

#[derive(Debug)]
pub(super) enum InFlight {
    Op {
        kind: &'static str,
        path: String,
        watch: WatchWant,
        reply: OpResponder,
    },
    Close,
}

/// Which watch a read asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum WatchWant {
    None,
    Data,
    Exists,
    /// exists without a watch: still answers NoNode as "no stat".
    ExistsNoWatch,
    Child,
}

/// Turns a reply into the caller's result, registering the watch a successful read set.
pub(super) fn op_result(
    watches: &mut WatchRegistry,
    path: &str,
    watch: WatchWant,
    err: ErrorCode,
    reply: OpReply,
) -> ZkResult<OpOutcome> {
    if let OpReply::Multi(_) = reply {
        // A failed multi still answers every op; the call itself succeeded.
        return Ok(OpOutcome { reply, watch: None });
    }
    let reply = match (watch, reply) {
        // A server may answer exists with a bare Stat; it means the node exists.
        (WatchWant::Exists | WatchWant::ExistsNoWatch, OpReply::Stat(stat)) => {
            OpReply::Exists(Some(stat))
        }
        (_, reply) => reply,
    };
    let reply = match (watch, err, reply) {
        // exists on a missing node: NoNode on the wire, None to the caller, watch set.
        (WatchWant::Exists | WatchWant::ExistsNoWatch, ErrorCode::NoNode, _) => {
            OpReply::Exists(None)
        }
        (_, ErrorCode::Ok, reply) => reply,
        (_, err, _) => return Err(err),
    };
    let kind = match (watch, &reply) {
        (WatchWant::None, _) | (WatchWant::ExistsNoWatch, OpReply::Exists(_)) => None,
        (WatchWant::Data, OpReply::Data { .. }) => Some(WatchKind::Data),
        (WatchWant::Exists, OpReply::Exists(Some(_))) => Some(WatchKind::Data),
        (WatchWant::Exists, OpReply::Exists(None)) => Some(WatchKind::Exist),
        (WatchWant::Child, OpReply::Children { .. }) => Some(WatchKind::Child),
        _ => return Err(ErrorCode::MarshallingError),
    };
    let watch = kind.map(|k| watches.add(path, k));
    Ok(OpOutcome { reply, watch })
}

/// What a call fails with in a given session state (the crate's `SessionState::to_error`).
pub fn error_for_state(state: SessionState) -> ErrorCode {
    match state {
        SessionState::Expired => ErrorCode::SessionExpired,
        SessionState::Closed => ErrorCode::ClientClosed,
        SessionState::AuthFailed => ErrorCode::AuthFailed,
        SessionState::Disconnected | SessionState::SyncConnected => ErrorCode::ConnectionLoss,
    }
}

pub(super) fn watch_want(op: &ClientOp) -> WatchWant {
    match op {
        ClientOp::GetData { watch: true, .. } => WatchWant::Data,
        ClientOp::Exists { watch: true, .. } => WatchWant::Exists,
        ClientOp::GetChildren { watch: true, .. } => WatchWant::Child,
        ClientOp::Exists { watch: false, .. } => WatchWant::ExistsNoWatch,
        _ => WatchWant::None,
    }
}

/// The op's name (as ZooKeeper's request types are named) and the path it concerns, for the
/// trace.
pub fn op_label(op: &ClientOp) -> (&'static str, &str) {
    match op {
        ClientOp::Create { path, .. } => ("create", path),
        ClientOp::Delete { path, .. } => ("delete", path),
        ClientOp::SetData { path, .. } => ("setData", path),
        ClientOp::GetData { path, .. } => ("getData", path),
        ClientOp::Exists { path, .. } => ("exists", path),
        ClientOp::GetChildren { path, .. } => ("getChildren", path),
        ClientOp::GetAcl { path } => ("getACL", path),
        ClientOp::SetAcl { path, .. } => ("setACL", path),
        ClientOp::Multi { ops } => ("multi", ops.first().map_or("", |o| o.path())),
        ClientOp::Sync { path } => ("sync", path),
    }
}
