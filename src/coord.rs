//! The coordination session the election code talks to.
//!
//! Two implementations: the simulated client (`zk::client`, inside the simulator) and the
//! adapter over the `zookeeper-client` crate (`live::adapter`, against a real ensemble). The
//! trait mirrors ZooKeeper's client API closely enough that the conformance suite can run the
//! same case on both and compare what each observed.

use crate::sync::watch;
use crate::zk::types::{
    Acl, CreateMode, ErrorCode, EventType, Op, OpResult, SessionId, SessionState, Stat,
    WatchedEvent, ZkResult,
};
use std::future::Future;
use std::time::Duration;
use tokio::sync::oneshot;

/// Options of a create call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CreateOptions {
    pub mode: CreateMode,
    pub acl: Vec<Acl>,
}

impl CreateOptions {
    pub fn new(mode: CreateMode) -> Self {
        CreateOptions {
            mode,
            acl: Acl::open_unsafe(),
        }
    }
    pub fn with_acl(mut self, acl: Vec<Acl>) -> Self {
        self.acl = acl;
        self
    }
}

/// A one-shot watch: resolves once, with the node event that fired it, or with a terminal
/// session event (Expired/Closed/AuthFailed) if the session ends first. This is the
/// zookeeper-client 0.11 `OneshotWatcher` behaviour, which the election code relies on to never
/// wait forever on a dead session.
#[derive(Debug)]
pub struct Watch {
    receiver: oneshot::Receiver<WatchedEvent>,
}

/// The sending half of a [`Watch`], held by the backend that fires it.
#[derive(Debug)]
pub struct WatchTrigger {
    sender: oneshot::Sender<WatchedEvent>,
}

impl Watch {
    pub fn new() -> (WatchTrigger, Watch) {
        let (sender, receiver) = oneshot::channel();
        (WatchTrigger { sender }, Watch { receiver })
    }

    /// Waits for the event. If the backend dropped the watch without firing it (the client was
    /// dropped), this reports a `Closed` session event.
    pub async fn changed(self) -> WatchedEvent {
        self.receiver.await.unwrap_or(WatchedEvent {
            event_type: EventType::Session,
            session_state: SessionState::Closed,
            path: String::new(),
        })
    }
}

impl WatchTrigger {
    pub fn fire(self, event: WatchedEvent) {
        // The receiver may be gone: a watch nobody waits for any more is not an error.
        let _ = self.sender.send(event);
    }
    /// True when nobody holds the [`Watch`] any more.
    pub fn is_abandoned(&self) -> bool {
        self.sender.is_closed()
    }
}

/// Follows a session's state changes (Disconnected, SyncConnected, Expired, Closed).
pub type StateWatcher = watch::Receiver<SessionState>;

/// A ZooKeeper session, as the election code sees it.
///
/// Every call is asynchronous and returns ZooKeeper's error code on failure; `ConnectionLoss`
/// means the outcome is unknown (the request may or may not have been applied).
pub trait Coordination: Send + Sync + 'static {
    fn create(
        &self,
        path: &str,
        data: &[u8],
        options: &CreateOptions,
    ) -> impl Future<Output = ZkResult<(String, Stat)>> + Send;

    /// `version`: `None` for any version.
    fn delete(&self, path: &str, version: Option<i32>)
    -> impl Future<Output = ZkResult<()>> + Send;

    fn get_data(&self, path: &str) -> impl Future<Output = ZkResult<(Vec<u8>, Stat)>> + Send;

    /// getData with a data watch. A missing node fails with `NoNode` and leaves no watch.
    fn get_data_watch(
        &self,
        path: &str,
    ) -> impl Future<Output = ZkResult<(Vec<u8>, Stat, Watch)>> + Send;

    fn set_data(
        &self,
        path: &str,
        data: &[u8],
        version: Option<i32>,
    ) -> impl Future<Output = ZkResult<Stat>> + Send;

    fn exists(&self, path: &str) -> impl Future<Output = ZkResult<Option<Stat>>> + Send;

    /// exists with a watch; the watch is set whether or not the node exists.
    fn exists_watch(
        &self,
        path: &str,
    ) -> impl Future<Output = ZkResult<(Option<Stat>, Watch)>> + Send;

    /// Children names (unordered, as the server returns them) and the parent's Stat.
    fn get_children(
        &self,
        path: &str,
    ) -> impl Future<Output = ZkResult<(Vec<String>, Stat)>> + Send;

    fn get_children_watch(
        &self,
        path: &str,
    ) -> impl Future<Output = ZkResult<(Vec<String>, Stat, Watch)>> + Send;

    /// All-or-nothing multi. `Err` only for failures of the call itself (connection loss, session
    /// expired, bad arguments); a failed op shows as `OpResult::Error` entries in `Ok`.
    fn multi(&self, ops: Vec<Op>) -> impl Future<Output = ZkResult<Vec<OpResult>>> + Send;

    fn sync(&self, path: &str) -> impl Future<Output = ZkResult<()>> + Send;

    /// Adds an authentication id to the session (e.g. scheme `digest`, auth `user:password`).
    fn add_auth(&self, scheme: &str, auth: &[u8]) -> impl Future<Output = ZkResult<()>> + Send;

    fn get_acl(&self, path: &str) -> impl Future<Output = ZkResult<(Vec<Acl>, Stat)>> + Send;

    fn session_id(&self) -> SessionId;

    /// The session timeout the ensemble granted (it clamps the requested one): the server
    /// expires the session between this long and one tick more after the last time it heard
    /// of it.
    fn session_timeout(&self) -> Duration;

    fn state(&self) -> SessionState;

    fn state_watcher(&self) -> StateWatcher;

    /// Closes the session (its ephemerals go when the closeSession commits).
    fn close(&self) -> impl Future<Output = ZkResult<()>> + Send;
}

/// Whether an error means "the outcome of this call is unknown because the connection broke",
/// as opposed to a definite answer from the ensemble.
pub fn is_connection_error(err: ErrorCode) -> bool {
    matches!(
        err,
        ErrorCode::ConnectionLoss | ErrorCode::OperationTimeout | ErrorCode::RequestTimeout
    )
}
