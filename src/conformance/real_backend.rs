//! The real backend: a [`RealEnsemble`] of ZooKeeper 3.8 servers and [`LiveZk`] sessions.
//!
//! Each session reaches its servers through its own [`Relay`]s, one per server in its connect
//! string, so the backend can tell which server a session is on and freeze a session's traffic
//! the way the model's network does. The harness blocks, so it runs on a multi-threaded tokio
//! runtime and is called through `block_in_place`.

use super::backend::{Backend, CaseError, CaseResult, SessionOptions};
use super::relay::{AcceptClock, Relay};
use crate::coord::Coordination;
use crate::live::{EnsembleConfig, LiveZk, RealEnsemble};
use crate::zk::types::{ErrorCode, SessionId, ZkResult};
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Bound for elections, restarts and the like on a loaded machine.
const SETTLE_BOUND: Duration = Duration::from_secs(60);
/// How long a connect may take before it counts as failed.
const CONNECT_BOUND: Duration = Duration::from_secs(30);

/// A session's relays, by server index.
struct SessionRelays {
    relays: Vec<(usize, Relay)>,
}

pub struct RealBackend {
    ensemble: Mutex<RealEnsemble>,
    servers: usize,
    tick: Duration,
    sessions: Mutex<BTreeMap<SessionId, SessionRelays>>,
    clock: AcceptClock,
    started_at: Instant,
}

fn blocking<T>(f: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(f)
}

impl RealBackend {
    /// Starts an ensemble (blocking until it serves). Call on a multi-threaded tokio runtime.
    pub fn start(config: &EnsembleConfig) -> Result<RealBackend, CaseError> {
        let ensemble = blocking(|| RealEnsemble::start(config.clone()))
            .map_err(|e| format!("cannot start a real ZooKeeper ensemble: {e}"))?;
        Ok(RealBackend {
            ensemble: Mutex::new(ensemble),
            servers: config.servers,
            tick: config.tick_time,
            sessions: Mutex::new(BTreeMap::new()),
            clock: AcceptClock::default(),
            started_at: Instant::now(),
        })
    }

    fn ensemble(&self) -> Result<std::sync::MutexGuard<'_, RealEnsemble>, CaseError> {
        self.ensemble
            .lock()
            .map_err(|_| "ensemble lock poisoned".to_string())
    }

    /// Freezes or thaws the session's relays (to `only` that server, or to all).
    fn set_frozen(&self, session: &LiveZk, frozen: bool, only: Option<usize>) -> CaseResult {
        let sessions = self
            .sessions
            .lock()
            .map_err(|_| "session map poisoned".to_string())?;
        let relays = sessions
            .get(&session.session_id())
            .ok_or("session unknown to this backend")?;
        for (server, relay) in &relays.relays {
            if only.is_none_or(|o| o == *server) {
                relay.set_frozen(frozen);
            }
        }
        Ok(())
    }

    /// The last lines of every server's log (for failure messages).
    pub fn log_tails(&self) -> String {
        self.ensemble().map(|e| e.log_tails()).unwrap_or_else(|e| e)
    }
}

impl Backend for RealBackend {
    type Session = LiveZk;

    fn name(&self) -> &'static str {
        "real"
    }

    fn servers(&self) -> usize {
        self.servers
    }

    fn tick(&self) -> Duration {
        self.tick
    }

    async fn connect(&self, options: &SessionOptions) -> ZkResult<LiveZk> {
        let chosen: Vec<usize> = match &options.servers {
            Some(list) => list.clone(),
            None => (0..self.servers).collect(),
        };
        let mut relays = Vec::new();
        for i in chosen {
            let target = self
                .ensemble()
                .map_err(|_| ErrorCode::SystemError)?
                .client_addr(i)
                .map_err(|_| ErrorCode::BadArguments)?;
            let relay = Relay::start(target, self.clock.clone())
                .await
                .map_err(|_| ErrorCode::SystemError)?;
            relays.push((i, relay));
        }
        let connect_string = relays
            .iter()
            .map(|(_, r)| r.addr().to_string())
            .collect::<Vec<_>>()
            .join(",");
        let connecting = LiveZk::connect(&connect_string, options.timeout, &options.auth);
        let session = tokio::time::timeout(CONNECT_BOUND, connecting)
            .await
            .map_err(|_| ErrorCode::OperationTimeout)??;
        if let Ok(mut sessions) = self.sessions.lock() {
            sessions.insert(session.session_id(), SessionRelays { relays });
        }
        Ok(session)
    }

    fn server_of(&self, session: &LiveZk) -> Option<usize> {
        let sessions = self.sessions.lock().ok()?;
        let relays = sessions.get(&session.session_id())?;
        relays
            .relays
            .iter()
            .filter_map(|(i, r)| r.newest_open().map(|order| (order, *i)))
            .max()
            .map(|(_, i)| i)
    }

    async fn leader(&self) -> Result<usize, CaseError> {
        let ensemble = self.ensemble()?;
        blocking(|| ensemble.wait_for_leader(SETTLE_BOUND)).map_err(|e| e.to_string())
    }

    async fn kill(&self, server: usize) -> CaseResult {
        self.ensemble()?.kill9(server).map_err(|e| e.to_string())
    }

    async fn restart(&self, server: usize) -> CaseResult {
        let mut ensemble = self.ensemble()?;
        ensemble.restart(server).map_err(|e| e.to_string())?;
        blocking(|| ensemble.wait_serving(server, SETTLE_BOUND))
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    async fn restart_all(&self, servers: &[usize]) -> CaseResult {
        let mut ensemble = self.ensemble()?;
        for server in servers {
            ensemble.restart(*server).map_err(|e| e.to_string())?;
        }
        blocking(|| ensemble.wait_until_all_serving(SETTLE_BOUND)).map_err(|e| e.to_string())
    }

    async fn wipe(&self, server: usize) -> CaseResult {
        self.ensemble()?.wipe(server).map_err(|e| e.to_string())
    }

    async fn pause(&self, server: usize) -> CaseResult {
        self.ensemble()?.stop(server).map_err(|e| e.to_string())
    }

    async fn resume(&self, server: usize) -> CaseResult {
        self.ensemble()?.cont(server).map_err(|e| e.to_string())
    }

    async fn freeze(&self, session: &LiveZk) -> CaseResult {
        self.set_frozen(session, true, None)
    }

    async fn block(&self, session: &LiveZk, server: usize) -> CaseResult {
        self.set_frozen(session, true, Some(server))
    }

    async fn thaw(&self, session: &LiveZk) -> CaseResult {
        self.set_frozen(session, false, None)
    }

    async fn settle(&self) -> CaseResult {
        let ensemble = self.ensemble()?;
        blocking(|| ensemble.wait_until_all_serving(SETTLE_BOUND)).map_err(|e| e.to_string())
    }

    async fn sleep(&self, duration: Duration) {
        tokio::time::sleep(duration).await;
    }

    fn now(&self) -> Duration {
        self.started_at.elapsed()
    }

    fn spawn(&self, task: impl std::future::Future<Output = ()> + Send + 'static) {
        drop(tokio::spawn(task));
    }
}
