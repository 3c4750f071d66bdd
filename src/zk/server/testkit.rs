//! Test harness for the server: an ensemble in a simulated world and a raw-protocol client
//! (ClientRequest packets in, ServerResponse packets out) that runs as a process on its own
//! host, so its timers use that host's clock.

use crate::env::{Environment, timeout};
use crate::sim::net::{Addr, HostId, Mailbox, NetConfig, Payload, ports};
use crate::sim::world::{HostCtx, World};
use crate::zk::peer::{PeerMsg, ServerProbe};
use crate::zk::proto::{ClientOp, ClientRequest, ConnId, OpReply, RequestBody, ResponseBody};
use crate::zk::server::{ServerConfig, server_process};
use crate::zk::types::{ErrorCode, SessionId, WatchedEvent, Zxid};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;

pub const TICK: Duration = Duration::from_millis(2000);

/// A ZooKeeper ensemble (voters in dc1, dc2, dc3 round-robin; observers after them) plus an
/// application host "app" in dc1 for clients.
pub struct Ensemble {
    pub world: World,
    /// Server hosts, index i = server id i + 1.
    pub servers: Vec<HostId>,
    pub app: HostId,
}

impl Ensemble {
    pub fn start(voters: usize, observers: usize, keep_lines: bool) -> Ensemble {
        let world = World::new(NetConfig::default(), keep_lines);
        let sites = ["dc1", "dc2", "dc3"];
        let servers: Vec<HostId> = (0..voters + observers)
            .map(|i| world.add_host(&format!("zk{}", i + 1), sites[i % 3]))
            .collect();
        let app = world.add_host("app", "dc1");
        let members: Vec<(u64, HostId)> = servers
            .iter()
            .enumerate()
            .map(|(i, h)| (i as u64 + 1, *h))
            .collect();
        let (v, o) = members.split_at(voters);
        for (sid, host) in &members {
            let mut cfg = ServerConfig::new(*sid, v.to_vec(), o.to_vec(), TICK, 10, 5);
            cfg.container_check_interval = Duration::from_secs(60);
            world.set_process(*host, server_process(cfg));
            world.start(*host).expect("server starts");
        }
        Ensemble {
            world,
            servers,
            app,
        }
    }

    pub fn leader(&self) -> Option<HostId> {
        let leaders = self.world.hosts_with_role("leading");
        (leaders.len() == 1).then(|| leaders[0])
    }

    pub fn followers(&self) -> Vec<HostId> {
        self.world.hosts_with_role("following")
    }

    /// Runs `scenario` as the app host's process and waits for its result.
    pub async fn run_client<T, F, Fut>(&self, scenario: F) -> T
    where
        T: Send + 'static,
        F: FnOnce(HostCtx) -> Fut + Send + 'static,
        Fut: Future<Output = T> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let slot = Arc::new(std::sync::Mutex::new(Some((scenario, tx))));
        self.world.set_process(
            self.app,
            Arc::new(move |ctx| {
                let taken = slot.lock().expect("slot").take();
                Box::pin(async move {
                    if let Some((scenario, tx)) = taken {
                        let _ = tx.send(scenario(ctx).await);
                    }
                })
            }),
        );
        if self.world.status(self.app) != crate::sim::world::HostStatus::Down {
            self.world.crash(self.app, true).expect("app stops");
        }
        self.world.start(self.app).expect("app starts");
        rx.await.expect("scenario finished")
    }
}

/// Sleeps `d` of true simulated time.
pub async fn sleep(d: Duration) {
    madsim::time::sleep(d).await;
}

/// A session as the raw client holds it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Session {
    pub server: HostId,
    pub conn: ConnId,
    pub id: SessionId,
    pub password: u64,
    pub timeout_ms: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnectOutcome {
    Connected(Session),
    /// `Connected { timeout_ms: 0 }`: the session is gone.
    Expired,
    /// The server closed the connection without a session.
    Closed,
    NoAnswer,
}

pub struct RawClient {
    pub ctx: HostCtx,
    mailbox: Mailbox,
    next_conn: ConnId,
    next_xid: i32,
    /// Highest zxid seen in replies.
    pub last_zxid: Zxid,
    /// Watch events received, with their connection and zxid, in arrival order.
    pub events: Vec<(ConnId, WatchedEvent, Zxid)>,
    /// Connections the servers closed.
    pub closed: Vec<ConnId>,
}

impl RawClient {
    pub fn new(ctx: &HostCtx) -> RawClient {
        RawClient {
            mailbox: ctx.net.bind_ephemeral(),
            ctx: ctx.clone(),
            next_conn: 1,
            next_xid: 1,
            last_zxid: 0,
            events: Vec::new(),
            closed: Vec::new(),
        }
    }

    pub fn send(&self, server: HostId, conn: ConnId, body: RequestBody) {
        self.ctx.net.send(
            self.mailbox.addr.port,
            Addr {
                host: server,
                port: ports::ZK_CLIENT,
            },
            Payload::ZkRequest(ClientRequest { conn, body }),
        );
    }

    /// The next response on `conn` (watch events and closes of other connections are recorded
    /// on the way).
    pub async fn next_on(&mut self, conn: ConnId, within: Duration) -> Option<ResponseBody> {
        let env = self.ctx.env.clone();
        let deadline = env.now() + within;
        loop {
            let left = deadline.saturating_sub(env.now());
            let packet = timeout(&env, left, self.mailbox.recv()).await.ok()??;
            let Payload::ZkResponse(resp) = packet.payload else {
                continue;
            };
            match resp.body {
                ResponseBody::Watch { event, zxid } => self.events.push((resp.conn, event, zxid)),
                ResponseBody::Close => {
                    self.closed.push(resp.conn);
                    if resp.conn == conn {
                        return Some(ResponseBody::Close);
                    }
                }
                body if resp.conn == conn => return Some(body),
                _ => {}
            }
        }
    }

    pub async fn connect(&mut self, server: HostId, timeout_ms: u32) -> ConnectOutcome {
        self.reconnect(server, 0, 0, self.last_zxid, timeout_ms)
            .await
    }

    /// Sends a connect request without waiting for the answer; returns the connection.
    pub fn begin_connect(
        &mut self,
        server: HostId,
        session_id: SessionId,
        password: u64,
        last_zxid_seen: Zxid,
        timeout_ms: u32,
    ) -> ConnId {
        let conn = self.next_conn;
        self.next_conn += 1;
        self.send(
            server,
            conn,
            RequestBody::Connect {
                last_zxid_seen,
                timeout_ms,
                session_id,
                password,
            },
        );
        conn
    }

    pub async fn reconnect(
        &mut self,
        server: HostId,
        session_id: SessionId,
        password: u64,
        last_zxid_seen: Zxid,
        timeout_ms: u32,
    ) -> ConnectOutcome {
        let conn = self.begin_connect(server, session_id, password, last_zxid_seen, timeout_ms);
        match self.next_on(conn, Duration::from_secs(10)).await {
            Some(ResponseBody::Connected { timeout_ms: 0, .. }) => ConnectOutcome::Expired,
            Some(ResponseBody::Connected {
                timeout_ms,
                session_id,
                password,
            }) => ConnectOutcome::Connected(Session {
                server,
                conn,
                id: session_id,
                password,
                timeout_ms,
            }),
            Some(ResponseBody::Close) => ConnectOutcome::Closed,
            _ => ConnectOutcome::NoAnswer,
        }
    }

    /// Sends an op and waits for its reply: (err, reply, zxid).
    pub async fn op(&mut self, s: &Session, op: ClientOp) -> Option<(ErrorCode, OpReply, Zxid)> {
        let xid = self.next_xid;
        self.next_xid += 1;
        self.send(s.server, s.conn, RequestBody::Op { xid, op });
        loop {
            match self.next_on(s.conn, Duration::from_secs(10)).await? {
                ResponseBody::Reply {
                    xid: x,
                    zxid,
                    err,
                    reply,
                } if x == xid => {
                    self.last_zxid = self.last_zxid.max(zxid);
                    return Some((err, reply, zxid));
                }
                ResponseBody::Close => return None,
                _ => {}
            }
        }
    }

    pub async fn ping(&mut self, s: &Session) -> Option<Zxid> {
        self.send(s.server, s.conn, RequestBody::Ping);
        loop {
            match self.next_on(s.conn, Duration::from_secs(10)).await? {
                ResponseBody::Pong { zxid } => return Some(zxid),
                ResponseBody::Close => return None,
                _ => {}
            }
        }
    }

    pub async fn close_session(&mut self, s: &Session) -> Option<(ErrorCode, Zxid)> {
        let xid = self.next_xid;
        self.next_xid += 1;
        self.send(s.server, s.conn, RequestBody::CloseSession { xid });
        loop {
            match self.next_on(s.conn, Duration::from_secs(10)).await? {
                ResponseBody::Reply {
                    xid: x, zxid, err, ..
                } if x == xid => return Some((err, zxid)),
                ResponseBody::Close => return None,
                _ => {}
            }
        }
    }

    pub async fn add_auth(&mut self, s: &Session, scheme: &str, auth: &[u8]) -> Option<ErrorCode> {
        self.send(
            s.server,
            s.conn,
            RequestBody::AddAuth {
                scheme: scheme.into(),
                auth: auth.to_vec(),
            },
        );
        loop {
            match self.next_on(s.conn, Duration::from_secs(10)).await? {
                ResponseBody::AuthReply { err } => return Some(err),
                ResponseBody::Close => return None,
                _ => {}
            }
        }
    }

    /// Asks a server how it is.
    pub async fn probe(&mut self, server: HostId) -> Option<ServerProbe> {
        self.ctx.net.send(
            self.mailbox.addr.port,
            Addr {
                host: server,
                port: ports::ZK_QUORUM,
            },
            Payload::ZkPeer(PeerMsg::Probe),
        );
        let env = self.ctx.env.clone();
        let deadline = env.now() + Duration::from_secs(1);
        loop {
            let left = deadline.saturating_sub(env.now());
            let packet = timeout(&env, left, self.mailbox.recv()).await.ok()??;
            if let Payload::ZkPeer(PeerMsg::ProbeReply(p)) = packet.payload
                && packet.from.host == server
            {
                return Some(p);
            }
        }
    }
}

pub fn create(path: &str, data: &[u8], mode: crate::zk::types::CreateMode) -> ClientOp {
    ClientOp::Create {
        path: path.into(),
        data: data.to_vec(),
        acl: crate::zk::types::Acl::open_unsafe(),
        mode,
    }
}

pub fn get(path: &str) -> ClientOp {
    ClientOp::GetData {
        path: path.into(),
        watch: false,
    }
}

/// Prints the kept trace lines (debugging aid for a failing test).
pub fn print_trace(world: &World) {
    for line in world.take_trace_lines() {
        println!("{line}");
    }
}
