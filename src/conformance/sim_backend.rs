//! The model backend: a simulated ensemble ([`crate::zk::server`]) and simulated clients
//! ([`SimZkClient`]) in a madsim world, configured like the real ensemble (same tickTime,
//! initLimit, syncLimit and session timeout bounds). Every session gets its own client host,
//! so freezing one session's network touches no other.

use super::backend::{Backend, CaseError, CaseResult, SessionOptions};
use crate::coord::Coordination;
use crate::live::EnsembleConfig;
use crate::sim::clock::true_now;
use crate::sim::ensemble::add_ensemble_with;
use crate::sim::net::{Addr, HostId, NetConfig, ports};
use crate::sim::topology::ZkSpec;
use crate::sim::world::{HostStatus, ProcessFn, World};
use crate::zk::client::{ClientConfig, SimZkClient};
use crate::zk::types::{ErrorCode, SessionId, ZkResult};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// All hosts sit in one site: the real ensemble runs on one machine's loopback interface.
const SITE: &str = "lo";
/// How long waits for a leader or for servers to serve may take (simulated time).
const SETTLE_BOUND: Duration = Duration::from_secs(60);
const POLL: Duration = Duration::from_millis(10);

pub struct SimBackend {
    world: World,
    servers: Vec<HostId>,
    tick: Duration,
    /// Session id → the client host its tasks run on.
    clients: Mutex<BTreeMap<SessionId, HostId>>,
    started_at: Duration,
}

/// A client host's process: nothing of its own; sessions spawn their tasks on its node.
fn idle_process() -> ProcessFn {
    Arc::new(|_ctx| Box::pin(std::future::pending()))
}

impl SimBackend {
    /// Builds the world and waits until its ensemble serves. Must run inside a madsim runtime.
    /// With `keep_trace`, the world keeps its trace lines (see [`World::take_trace_lines`]).
    pub async fn start(config: &EnsembleConfig, keep_trace: bool) -> Result<SimBackend, CaseError> {
        let world = World::new(NetConfig::default(), keep_trace);
        let sites = vec![SITE; config.servers];
        let spec = ZkSpec::voters_in(
            &sites,
            config.tick_time,
            config.init_limit,
            config.sync_limit,
            Duration::ZERO,
        );
        let servers = add_ensemble_with(&world, &spec, |server| {
            server.min_session_timeout = config.min_session_timeout;
            server.max_session_timeout = config.max_session_timeout;
            if let Some(interval) = config.container_check_interval {
                server.container_check_interval = interval;
            }
        });
        for host in &servers {
            world.start(*host).map_err(|e| e.to_string())?;
        }
        let backend = SimBackend {
            world,
            servers,
            tick: config.tick_time,
            clients: Mutex::new(BTreeMap::new()),
            started_at: true_now(),
        };
        backend.settle().await?;
        Ok(backend)
    }

    pub fn world(&self) -> &World {
        &self.world
    }

    fn host(&self, server: usize) -> Result<HostId, CaseError> {
        self.servers
            .get(server)
            .copied()
            .ok_or_else(|| format!("no server {server}"))
    }

    fn client_host(&self, session: &SimZkClient) -> Result<HostId, CaseError> {
        self.clients
            .lock()
            .map_err(|_| "client map poisoned".to_string())?
            .get(&session.session_id())
            .copied()
            .ok_or_else(|| "session unknown to this backend".to_string())
    }

    fn serving_role(role: Option<String>) -> bool {
        matches!(role.as_deref(), Some("leading" | "following" | "observing"))
    }

    async fn wait_until<T>(
        &self,
        what: &str,
        mut probe: impl FnMut() -> Option<T>,
    ) -> Result<T, CaseError> {
        let deadline = true_now() + SETTLE_BOUND;
        loop {
            if let Some(value) = probe() {
                return Ok(value);
            }
            if true_now() >= deadline {
                return Err(format!("model: no {what} within {SETTLE_BOUND:?}"));
            }
            madsim::time::sleep(POLL).await;
        }
    }
}

impl Backend for SimBackend {
    type Session = SimZkClient;

    fn name(&self) -> &'static str {
        "model"
    }

    fn servers(&self) -> usize {
        self.servers.len()
    }

    fn tick(&self) -> Duration {
        self.tick
    }

    async fn connect(&self, options: &SessionOptions) -> ZkResult<SimZkClient> {
        let chosen: Vec<usize> = match &options.servers {
            Some(list) => list.clone(),
            None => (0..self.servers.len()).collect(),
        };
        let mut addrs = Vec::new();
        for i in chosen {
            let host = self.host(i).map_err(|_| ErrorCode::BadArguments)?;
            addrs.push(Addr {
                host,
                port: ports::ZK_CLIENT,
            });
        }
        // Named by the world's host count: unique even when a connect fails.
        let name = format!("client{}", self.world.host_count() + 1);
        let host = self.world.add_host(&name, SITE);
        self.world.set_process(host, idle_process());
        self.world.start(host).map_err(|_| ErrorCode::SystemError)?;
        let mut config = ClientConfig::new(addrs).with_session_timeout(options.timeout);
        for (scheme, auth) in &options.auth {
            config = config.with_auth(scheme, auth);
        }
        let client = SimZkClient::connect(&self.world.host_ctx(host), config).await?;
        if let Ok(mut clients) = self.clients.lock() {
            clients.insert(client.session_id(), host);
        }
        Ok(client)
    }

    fn server_of(&self, session: &SimZkClient) -> Option<usize> {
        let addr = session.server()?;
        self.servers.iter().position(|h| *h == addr.host)
    }

    async fn leader(&self) -> Result<usize, CaseError> {
        self.wait_until("single leader", || {
            let leaders = self.world.hosts_with_role("leading");
            if leaders.len() != 1 {
                return None;
            }
            self.servers.iter().position(|h| *h == leaders[0])
        })
        .await
    }

    async fn kill(&self, server: usize) -> CaseResult {
        let host = self.host(server)?;
        self.world.crash(host, false).map_err(|e| e.to_string())
    }

    async fn restart(&self, server: usize) -> CaseResult {
        let host = self.host(server)?;
        self.world.start(host).map_err(|e| e.to_string())?;
        self.wait_until(&format!("server {server} serving"), || {
            Self::serving_role(self.world.role(host)).then_some(())
        })
        .await
    }

    async fn restart_all(&self, servers: &[usize]) -> CaseResult {
        for server in servers {
            let host = self.host(*server)?;
            self.world.start(host).map_err(|e| e.to_string())?;
        }
        self.settle().await
    }

    async fn wipe(&self, server: usize) -> CaseResult {
        let host = self.host(server)?;
        if self.world.status(host) != HostStatus::Down {
            return Err(format!(
                "model: server {server} is running; kill it before wiping"
            ));
        }
        self.world.wipe(host).map_err(|e| e.to_string())
    }

    async fn pause(&self, server: usize) -> CaseResult {
        let host = self.host(server)?;
        self.world.pause(host).map_err(|e| e.to_string())
    }

    async fn resume(&self, server: usize) -> CaseResult {
        let host = self.host(server)?;
        self.world.resume(host).map_err(|e| e.to_string())
    }

    async fn freeze(&self, session: &SimZkClient) -> CaseResult {
        let client = self.client_host(session)?;
        self.world.partition(&[client], &self.servers);
        Ok(())
    }

    async fn block(&self, session: &SimZkClient, server: usize) -> CaseResult {
        let client = self.client_host(session)?;
        self.world.partition(&[client], &[self.host(server)?]);
        Ok(())
    }

    async fn thaw(&self, session: &SimZkClient) -> CaseResult {
        let client = self.client_host(session)?;
        self.world.heal_between(&[client], &self.servers);
        Ok(())
    }

    async fn settle(&self) -> CaseResult {
        self.wait_until("leader with every running server serving", || {
            let mut leaders = 0;
            for host in &self.servers {
                if self.world.status(*host) != HostStatus::Up {
                    continue;
                }
                let role = self.world.role(*host);
                if role.as_deref() == Some("leading") {
                    leaders += 1;
                }
                if !Self::serving_role(role) {
                    return None;
                }
            }
            (leaders == 1).then_some(())
        })
        .await
    }

    async fn sleep(&self, duration: Duration) {
        madsim::time::sleep(duration).await;
    }

    fn now(&self) -> Duration {
        true_now().saturating_sub(self.started_at)
    }

    fn spawn(&self, task: impl std::future::Future<Output = ()> + Send + 'static) {
        drop(madsim::task::spawn(task));
    }
}
