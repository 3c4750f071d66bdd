//! What a conformance case may ask of a ZooKeeper deployment: sessions (through the
//! [`Coordination`] trait), ensemble faults, and the backend's clock.
//!
//! Both backends implement it with the same meaning: the model ([`super::sim_backend`], a
//! simulated ensemble inside madsim) and a real ensemble ([`super::real_backend`], Debian's
//! ZooKeeper 3.8 through the `zookeeper-client` adapter). Servers are numbered from 0.

use crate::coord::Coordination;
use crate::zk::types::{SessionState, ZkResult};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How a case opens a session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionOptions {
    /// The servers in the session's connect string; `None` for every server.
    pub servers: Option<Vec<usize>>,
    /// The requested session timeout T.
    pub timeout: Duration,
    /// `(scheme, auth)` pairs sent at every (re)connect.
    pub auth: Vec<(String, Vec<u8>)>,
}

impl SessionOptions {
    pub fn new(timeout: Duration) -> Self {
        SessionOptions {
            servers: None,
            timeout,
            auth: Vec::new(),
        }
    }

    pub fn on(mut self, servers: &[usize]) -> Self {
        self.servers = Some(servers.to_vec());
        self
    }

    pub fn with_auth(mut self, scheme: &str, auth: &[u8]) -> Self {
        self.auth.push((scheme.to_string(), auth.to_vec()));
        self
    }
}

/// Why a case could not go on: a fault the backend could not inject, a wait that timed out,
/// or a result the case needs in order to continue that did not come. Distinct from an
/// observation that differs between backends.
pub type CaseError = String;
pub type CaseResult = Result<(), CaseError>;

/// A ZooKeeper deployment a case runs against.
///
/// Futures need not be `Send`: each backend drives a case on one thread (`block_on`).
#[allow(async_fn_in_trait)]
pub trait Backend {
    type Session: Coordination;

    /// "model" or "real", for messages.
    fn name(&self) -> &'static str;

    /// Number of servers in the ensemble.
    fn servers(&self) -> usize;

    /// The ensemble's tickTime.
    fn tick(&self) -> Duration;

    /// Opens a session and waits until it is established.
    async fn connect(&self, options: &SessionOptions) -> ZkResult<Self::Session>;

    /// The server the session is connected to right now, if any.
    fn server_of(&self, session: &Self::Session) -> Option<usize>;

    /// Waits (bounded) until exactly one server leads, and returns it.
    async fn leader(&self) -> Result<usize, CaseError>;

    /// kill -9 of a server's process (the OS stays up, so its connections are reset).
    async fn kill(&self, server: usize) -> CaseResult;

    /// Starts a killed server again and waits (bounded) until it serves.
    async fn restart(&self, server: usize) -> CaseResult;

    /// Starts several killed servers together and waits (bounded) until every running server
    /// serves (one killed server alone may not make a quorum).
    async fn restart_all(&self, servers: &[usize]) -> CaseResult;

    /// Deletes a killed server's data (snapshots, logs, epochs), as after a disk loss.
    async fn wipe(&self, server: usize) -> CaseResult;

    /// SIGSTOP: the server keeps its connections and answers nothing.
    async fn pause(&self, server: usize) -> CaseResult;

    /// SIGCONT after [`pause`](Self::pause).
    async fn resume(&self, server: usize) -> CaseResult;

    /// The session's client stops hearing from and reaching every server (its bytes wait, as
    /// on a stalled TCP connection); the client process itself runs on.
    async fn freeze(&self, session: &Self::Session) -> CaseResult;

    /// Like [`freeze`](Self::freeze), for the session's path to one server only.
    async fn block(&self, session: &Self::Session, server: usize) -> CaseResult;

    /// Undoes [`freeze`](Self::freeze) and [`block`](Self::block).
    async fn thaw(&self, session: &Self::Session) -> CaseResult;

    /// Waits (bounded) until every running server serves clients.
    async fn settle(&self) -> CaseResult;

    /// Sleeps on the backend's clock.
    async fn sleep(&self, duration: Duration);

    /// Time on the backend's clock since it started.
    fn now(&self) -> Duration;

    /// Runs a background task on the backend's runtime (ends with the case at the latest).
    fn spawn(&self, task: impl Future<Output = ()> + Send + 'static);
}

/// `states` without the Disconnected → SyncConnected blips of a session that reconnects at
/// once. A state watcher keeps only the latest value (in the crate as in `StateWatcher`), so a
/// Disconnected that a reconnect ends within milliseconds may or may not reach any watcher;
/// comparing it would compare scheduling, not ZooKeeper.
pub fn without_blips(states: Vec<SessionState>) -> Vec<SessionState> {
    let mut lasting: Vec<SessionState> = Vec::new();
    for state in states {
        if state == SessionState::SyncConnected
            && lasting.last() == Some(&SessionState::Disconnected)
        {
            lasting.pop();
            continue;
        }
        lasting.push(state);
    }
    lasting
}

/// The states a session went through, in order, as a background task saw them.
#[derive(Clone, Debug, Default)]
pub struct StateLog {
    /// The state when following began (not part of the log).
    initial: Option<SessionState>,
    states: Arc<Mutex<Vec<SessionState>>>,
}

impl StateLog {
    /// Starts following `session`'s later state changes.
    pub fn follow<B: Backend>(backend: &B, session: &B::Session) -> StateLog {
        let mut watcher = session.state_watcher();
        let log = StateLog {
            initial: Some(*watcher.borrow_and_update()),
            states: Arc::default(),
        };
        let states = log.states.clone();
        backend.spawn(async move {
            while watcher.changed().await.is_ok() {
                let state = *watcher.borrow_and_update();
                if let Ok(mut states) = states.lock() {
                    states.push(state);
                }
                if state.is_terminal() {
                    return;
                }
            }
        });
        log
    }

    pub fn snapshot(&self) -> Vec<SessionState> {
        self.states.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// The states so far without blips (see [`without_blips`]), once the follower has caught
    /// up with the session's current state.
    pub async fn lasting<B: Backend>(
        &self,
        backend: &B,
        session: &B::Session,
    ) -> Vec<SessionState> {
        without_blips(self.caught_up(backend, session).await)
    }

    /// The states so far, once the follower has caught up with the session's current state
    /// (it runs as its own task, so it may lag a step behind the case; bounded wait).
    pub async fn caught_up<B: Backend>(
        &self,
        backend: &B,
        session: &B::Session,
    ) -> Vec<SessionState> {
        for _ in 0..100 {
            let states = self.snapshot();
            let latest = states.last().copied().or(self.initial);
            if latest == Some(session.state()) {
                return states;
            }
            backend.sleep(Duration::from_millis(10)).await;
        }
        self.snapshot()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use SessionState::*;

    #[test]
    fn blips_go_and_lasting_states_stay() {
        assert_eq!(without_blips(vec![Disconnected, SyncConnected]), vec![]);
        assert_eq!(
            without_blips(vec![Disconnected, SyncConnected, Disconnected, Expired]),
            vec![Disconnected, Expired]
        );
        assert_eq!(without_blips(vec![Closed]), vec![Closed]);
        assert_eq!(without_blips(vec![SyncConnected]), vec![SyncConnected]);
    }
}
