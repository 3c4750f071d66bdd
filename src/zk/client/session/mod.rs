//! The client's session state machine, without I/O (in the style of quinn-proto): the driver
//! feeds it packets, requests and the current time, and drains what it wants sent, traced and
//! woken for. Everything the two client libraries decide — when to ping, when a connection is
//! dead, which server is next, when the session is lost — is decided here, so it can be tested
//! packet by packet with a hand-held clock.

use crate::sim::net::{Addr, Payload};
use crate::zk::client::config::{ClientConfig, ClientModel};
use crate::zk::client::endpoints::{JavaHostProvider, RustEndpoints, SplitMix64};
use crate::zk::client::requests::{
    DoneResponder, EstablishResponder, InFlight, PendingAuth, Queued, error_for_state, op_label,
};
use crate::zk::client::timing::{JavaTimings, RustTimings};
use crate::zk::client::watches::WatchRegistry;
use crate::zk::proto::{ClientRequest, ConnId, RequestBody, ResponseBody};
use crate::zk::types::{ErrorCode, SessionId, SessionState, WatchedEvent, ZkResult, Zxid};
use std::collections::VecDeque;
use std::time::Duration;

/// A packet to send from the client's port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transmit {
    pub to: Addr,
    pub request: ClientRequest,
}

/// Something the driver traces or counts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Notice {
    State {
        state: SessionState,
        session_id: SessionId,
    },
    Attempt {
        server: Addr,
        conn: ConnId,
    },
    OpDone {
        kind: &'static str,
        path: String,
        result: ErrorCode,
    },
    WatchFired {
        event: WatchedEvent,
        watches: usize,
    },
    /// A connection or connect attempt ended.
    Lost {
        why: &'static str,
    },
    /// A connect attempt on `conn` was closed before the server answered it: whatever of it
    /// has not reached `server` yet never will (see `NetHandle::abandon_unopened`).
    Abandoned {
        server: Addr,
        conn: ConnId,
    },
}

/// Why a connection (or an attempt) ended; only for the trace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Loss {
    ServerClosed,
    Reset,
    Silent,
    ProtocolError,
}

impl Loss {
    fn name(self) -> &'static str {
        match self {
            Loss::ServerClosed => "closed by server",
            Loss::Reset => "reset",
            Loss::Silent => "timed out",
            Loss::ProtocolError => "protocol error",
        }
    }
}

#[derive(Debug)]
enum Phase {
    /// Backing off before connecting to `server`.
    Waiting {
        until: Duration,
        server: Addr,
    },
    /// Connect sent on `conn`. `connected` once the server answered it (the crate then still
    /// waits for the pong of its first ping before it serves requests).
    Handshake {
        conn: ConnId,
        server: Addr,
        connected: bool,
    },
    Connected {
        conn: ConnId,
        server: Addr,
    },
    Ended,
}

#[derive(Debug)]
enum Hosts {
    Rust(RustEndpoints),
    Java(JavaHostProvider),
}

#[derive(Clone, Copy, Debug)]
enum Timings {
    Rust(RustTimings),
    Java(JavaTimings),
}

/// The crate's liveness tick: checks happen at `origin + k·period`, and an overdue tick is
/// judged by its scheduled time (async-io's `Timer::interval` yields that time), so after a
/// pause the missed ticks are replayed in order.
#[derive(Clone, Copy, Debug)]
struct Ticker {
    next: Duration,
    period: Duration,
}

impl Ticker {
    fn new(now: Duration, period: Duration) -> Self {
        Ticker {
            next: now + period,
            period,
        }
    }

    /// The first tick at or after `at`, from the next one on. The ticks before it find
    /// nothing to do, so the driver need not wake for them.
    fn first_at_or_after(&self, at: Duration) -> Duration {
        if at <= self.next || self.period.is_zero() {
            return self.next;
        }
        let behind = (at - self.next).as_nanos();
        let period = self.period.as_nanos();
        let ticks = behind.div_ceil(period);
        self.next + Duration::from_nanos((ticks * period) as u64)
    }
}

pub struct SessionCore {
    model: ClientModel,
    hosts: Hosts,
    host_count: usize,
    timings: Timings,
    rng: SplitMix64,
    /// The timeout put in Connect requests: the configured one (Java), the last negotiated
    /// one (the crate).
    request_timeout: Duration,
    /// The session timeout the ensemble granted at the last handshake (the requested one
    /// until the first).
    negotiated_timeout: Duration,
    session_id: SessionId,
    password: u64,
    last_zxid: Zxid,
    state: SessionState,
    phase: Phase,
    conn_prefix: u64,
    conn_counter: u32,
    next_xid: i32,
    queued: VecDeque<Queued>,
    in_flight: VecDeque<(i32, InFlight)>,
    /// One entry per AddAuth sent on this connection, in order; `Some` for a user's call.
    auth_waiters: VecDeque<Option<PendingAuth>>,
    /// Sent on every (re)connect.
    auths: Vec<(String, Vec<u8>)>,
    watches: WatchRegistry,
    last_recv: Duration,
    last_send: Duration,
    ping_outstanding: bool,
    ticker: Ticker,
    /// The crate's deadline for the current round of attempts (first session: the connect
    /// deadline; afterwards last receive + 7/5·T). Java only uses it before the first session.
    deadline: Option<Duration>,
    established: bool,
    establish_waiter: Option<EstablishResponder>,
    closing: bool,
    close_waiters: Vec<DoneResponder>,
    transmits: VecDeque<Transmit>,
    notices: VecDeque<Notice>,
}

impl SessionCore {
    /// A session that starts its first connect attempt at `now`. `local` makes its connection
    /// ids unique in the world; `establish` learns when the first session is up (or never
    /// will be). Fails with `BadArguments` without servers.
    pub fn new(
        config: &ClientConfig,
        local: Addr,
        seed: u64,
        now: Duration,
        establish: EstablishResponder,
    ) -> ZkResult<Self> {
        if config.servers.is_empty() {
            return Err(ErrorCode::BadArguments);
        }
        let mut rng = SplitMix64::new(seed);
        let requested = config.requested_timeout();
        let host_count = config.servers.len();
        let (hosts, timings) = match config.model {
            ClientModel::Rust => (
                Hosts::Rust(RustEndpoints::new(config.servers.clone(), &mut rng)),
                Timings::Rust(RustTimings::for_session_timeout(requested)),
            ),
            ClientModel::Java => (
                Hosts::Java(JavaHostProvider::new(config.servers.clone(), &mut rng)),
                Timings::Java(JavaTimings::for_session_timeout(requested, host_count)),
            ),
        };
        let tick = match timings {
            Timings::Rust(t) => t.tick,
            // The Java model has no tick; the ticker is never consulted.
            Timings::Java(t) => t.read_timeout,
        };
        let mut core = SessionCore {
            model: config.model,
            hosts,
            host_count,
            timings,
            rng,
            request_timeout: requested,
            negotiated_timeout: requested,
            session_id: 0,
            password: 0,
            last_zxid: 0,
            state: SessionState::Disconnected,
            phase: Phase::Ended,
            conn_prefix: ((local.host.0 as u64 & 0xffff) << 48) | ((local.port as u64) << 32),
            conn_counter: 0,
            next_xid: 1,
            queued: VecDeque::new(),
            in_flight: VecDeque::new(),
            auth_waiters: VecDeque::new(),
            auths: config.auth.clone(),
            watches: WatchRegistry::default(),
            last_recv: now,
            last_send: now,
            ping_outstanding: false,
            ticker: Ticker::new(now, tick),
            deadline: Some(now + config.effective_connect_deadline()),
            established: false,
            establish_waiter: Some(establish),
            closing: false,
            close_waiters: Vec::new(),
            transmits: VecDeque::new(),
            notices: VecDeque::new(),
        };
        if let Hosts::Rust(e) = &mut core.hosts {
            e.start_round();
        }
        core.next_attempt(now);
        Ok(core)
    }

    pub fn state(&self) -> SessionState {
        self.state
    }

    pub fn session_id(&self) -> SessionId {
        self.session_id
    }

    pub fn last_zxid(&self) -> Zxid {
        self.last_zxid
    }

    /// The session timeout the ensemble granted at the last handshake.
    pub fn session_timeout(&self) -> Duration {
        self.negotiated_timeout
    }

    /// The server the session is connected to, if it is.
    pub fn server(&self) -> Option<Addr> {
        match self.phase {
            Phase::Connected { server, .. }
            | Phase::Handshake {
                server,
                connected: true,
                ..
            } => Some(server),
            _ => None,
        }
    }

    /// The session is over: nothing more will be sent, and the driver can stop.
    pub fn is_ended(&self) -> bool {
        matches!(self.phase, Phase::Ended)
    }

    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    pub fn poll_notice(&mut self) -> Option<Notice> {
        self.notices.pop_front()
    }

    /// When `handle_timeout` next has something to do (called earlier, it does nothing).
    pub fn poll_timeout(&self) -> Option<Duration> {
        let pre_session_deadline = if self.established {
            None
        } else {
            self.deadline
        };
        match (&self.phase, self.timings) {
            (Phase::Ended, _) => None,
            (Phase::Waiting { until, .. }, _) => Some(min_opt(*until, pre_session_deadline)),
            (Phase::Handshake { connected, .. }, Timings::Rust(t)) => {
                let bound = if *connected { None } else { self.deadline };
                let tick = self
                    .ticker
                    .first_at_or_after(self.last_recv + t.connection_timeout);
                Some(min_opt(tick, bound))
            }
            (Phase::Handshake { .. }, Timings::Java(t)) => Some(min_opt(
                self.last_recv + t.connect_timeout,
                pre_session_deadline,
            )),
            (Phase::Connected { .. }, Timings::Rust(t)) => {
                // The first tick that gives up on the connection or sends a ping (the
                // checks of `handle_timeout`, which the ticks before it all fail).
                let mut due = self.last_recv + t.connection_timeout;
                if !self.ping_outstanding {
                    due = due.min(self.last_send + t.ping_after);
                }
                Some(self.ticker.first_at_or_after(due))
            }
            (Phase::Connected { .. }, Timings::Java(t)) => {
                Some((self.last_recv + t.read_timeout).min(self.last_send + t.ping_idle))
            }
        }
    }

    // ----- inputs --------------------------------------------------------------------------

    pub fn handle_packet(&mut self, now: Duration, from: Addr, payload: Payload) {
        let (conn, server) = match self.phase {
            Phase::Handshake { conn, server, .. } | Phase::Connected { conn, server } => {
                (conn, server)
            }
            Phase::Waiting { .. } | Phase::Ended => return,
        };
        if from != server {
            return;
        }
        let body = match payload {
            Payload::Reset => return self.lose_connection(now, Loss::Reset),
            Payload::ZkResponse(response) if response.conn == conn => response.body,
            // Packets of abandoned connections, and anything that is not for a client.
            _ => return,
        };
        if !matches!(body, ResponseBody::Close) {
            // A close is the TCP FIN: no data, so it does not count as hearing the server.
            self.last_recv = now;
        }
        match body {
            ResponseBody::Connected {
                timeout_ms,
                session_id,
                password,
            } => self.on_connected(now, timeout_ms, session_id, password),
            ResponseBody::Reply {
                xid,
                zxid,
                err,
                reply,
            } => self.on_reply(now, xid, zxid, err, reply),
            ResponseBody::Pong { .. } => self.on_pong(now),
            ResponseBody::AuthReply { err } => self.on_auth_reply(err),
            ResponseBody::Watch { event, .. } => self.on_watch(event),
            ResponseBody::Close => self.lose_connection(now, Loss::ServerClosed),
        }
    }

    pub fn handle_timeout(&mut self, now: Duration) {
        match (&self.phase, self.timings) {
            (Phase::Ended, _) => {}
            (Phase::Waiting { .. }, Timings::Java(_))
                if !self.established && self.deadline.is_some_and(|d| now >= d) =>
            {
                self.give_up_establishing()
            }
            (Phase::Waiting { until, server }, _) => {
                if now >= *until {
                    let server = *server;
                    self.start_attempt(now, server);
                }
            }
            (Phase::Handshake { connected, .. }, Timings::Rust(t)) => {
                // The crate bounds the TCP connect by the round's deadline.
                if !connected && self.deadline.is_some_and(|d| now >= d) {
                    return self.lose_connection(now, Loss::Silent);
                }
                while self.ticker.next <= now {
                    let tick = self.ticker.next;
                    self.ticker.next += self.ticker.period;
                    if tick >= self.last_recv + t.connection_timeout {
                        return self.lose_connection(now, Loss::Silent);
                    }
                }
            }
            (Phase::Handshake { .. }, Timings::Java(t)) => {
                if !self.established && self.deadline.is_some_and(|d| now >= d) {
                    return self.give_up_establishing();
                }
                if now >= self.last_recv + t.connect_timeout {
                    self.lose_connection(now, Loss::Silent);
                }
            }
            (Phase::Connected { .. }, Timings::Rust(t)) => {
                while self.ticker.next <= now {
                    let tick = self.ticker.next;
                    self.ticker.next += self.ticker.period;
                    if tick >= self.last_recv + t.connection_timeout {
                        return self.lose_connection(now, Loss::Silent);
                    }
                    if !self.ping_outstanding && tick >= self.last_send + t.ping_after {
                        self.send_ping(now);
                    }
                }
            }
            (Phase::Connected { .. }, Timings::Java(t)) => {
                if now >= self.last_recv + t.read_timeout {
                    self.lose_connection(now, Loss::Silent);
                } else if now >= self.last_send + t.ping_idle {
                    self.send_ping(now);
                }
            }
        }
    }

    // ----- connecting ----------------------------------------------------------------------

    /// Picks the next server; connects now or after the library's delay.
    fn next_attempt(&mut self, now: Duration) {
        let deadline_passed = self.deadline.is_some_and(|d| now >= d);
        let (server, delay) = match &mut self.hosts {
            Hosts::Rust(e) => {
                if deadline_passed {
                    return self.round_timed_out();
                }
                let (server, delay) = e.next(&mut self.rng);
                let left = self.deadline.map_or(Duration::MAX, |d| d - now);
                (server, delay.min(left))
            }
            Hosts::Java(p) => {
                if deadline_passed && !self.established {
                    return self.give_up_establishing();
                }
                p.next(&mut self.rng)
            }
        };
        if delay.is_zero() {
            self.start_attempt(now, server);
        } else {
            self.phase = Phase::Waiting {
                until: now + delay,
                server,
            };
        }
    }

    fn start_attempt(&mut self, now: Duration, server: Addr) {
        if self.model == ClientModel::Rust && self.deadline.is_some_and(|d| now >= d) {
            return self.round_timed_out();
        }
        self.conn_counter = self.conn_counter.wrapping_add(1);
        let conn = self.conn_prefix | self.conn_counter as u64;
        self.phase = Phase::Handshake {
            conn,
            server,
            connected: false,
        };
        self.last_send = now;
        self.last_recv = now;
        self.ping_outstanding = false;
        if let Timings::Rust(t) = self.timings {
            self.ticker = Ticker::new(now, t.tick);
        }
        self.notices.push_back(Notice::Attempt { server, conn });
        self.set_state(SessionState::Disconnected);
        self.send(RequestBody::Connect {
            last_zxid_seen: self.last_zxid,
            timeout_ms: self.request_timeout.as_millis().min(u32::MAX as u128) as u32,
            session_id: self.session_id,
            password: self.password,
        });
        // The crate pipelines auth and watches behind the connect request; Java holds them
        // until the connect response (see `on_connected`).
        if self.model == ClientModel::Rust {
            self.send_session_setup();
        }
    }

    /// Auth ids, then the watches to re-register.
    fn send_session_setup(&mut self) {
        for (scheme, auth) in self.auths.clone() {
            self.auth_waiters.push_back(None);
            self.send(RequestBody::AddAuth { scheme, auth });
        }
        let paths = self.watches.watched_paths();
        if !paths.is_empty() {
            self.send(RequestBody::SetWatches {
                relative_zxid: self.last_zxid,
                data: paths.data,
                exist: paths.exist,
                child: paths.child,
            });
        }
    }

    fn on_connected(
        &mut self,
        now: Duration,
        timeout_ms: u32,
        session_id: SessionId,
        password: u64,
    ) {
        let Phase::Handshake {
            conn,
            server,
            connected: false,
        } = self.phase
        else {
            return self.lose_connection(now, Loss::ProtocolError);
        };
        if timeout_ms == 0 {
            return self.end(SessionState::Expired);
        }
        self.session_id = session_id;
        self.password = password;
        let negotiated = Duration::from_millis(timeout_ms as u64);
        self.negotiated_timeout = negotiated;
        match self.model {
            ClientModel::Rust => {
                let t = RustTimings::for_session_timeout(negotiated);
                self.timings = Timings::Rust(t);
                self.request_timeout = negotiated.max(t.connection_timeout);
                self.set_state(SessionState::SyncConnected);
                // Sent at once, to learn of AuthFailed early; its pong completes the connect.
                self.phase = Phase::Handshake {
                    conn,
                    server,
                    connected: true,
                };
                self.send_ping(now);
            }
            ClientModel::Java => {
                self.timings = Timings::Java(JavaTimings::for_session_timeout(
                    negotiated,
                    self.host_count,
                ));
                if let Hosts::Java(p) = &mut self.hosts {
                    p.on_connected();
                }
                self.set_state(SessionState::SyncConnected);
                self.send_session_setup();
                self.enter_connected(now, conn, server);
            }
        }
    }

    fn on_pong(&mut self, now: Duration) {
        self.ping_outstanding = false;
        if let Phase::Handshake {
            conn,
            server,
            connected: true,
        } = self.phase
        {
            if let Hosts::Rust(e) = &mut self.hosts {
                e.reset(&mut self.rng);
            }
            self.enter_connected(now, conn, server);
        }
    }

    fn enter_connected(&mut self, now: Duration, conn: ConnId, server: Addr) {
        self.phase = Phase::Connected { conn, server };
        self.deadline = None;
        if let Timings::Rust(t) = self.timings {
            self.ticker = Ticker::new(now, t.tick);
        }
        self.established = true;
        if let Some(waiter) = self.establish_waiter.take() {
            let _ = waiter.send(Ok(self.session_id));
        }
        while let Some(item) = self.queued.pop_front() {
            self.transmit_queued(item);
        }
        if !self.transmits.is_empty() {
            // Whatever this event sent (setup, queued requests) counts as sending now.
            self.last_send = now;
        }
    }

    /// The connection, or the attempt, is gone.
    fn lose_connection(&mut self, now: Duration, why: Loss) {
        self.notices.push_back(Notice::Lost { why: why.name() });
        self.abandon_attempt();
        let was_connected = matches!(self.phase, Phase::Connected { .. });
        self.auth_waiters_lost();
        let in_flight: Vec<(i32, InFlight)> = self.in_flight.drain(..).collect();
        let mut close_lost = false;
        for (_, entry) in in_flight {
            match entry {
                InFlight::Op {
                    kind, path, reply, ..
                } => self.finish_op(kind, path, reply, Err(ErrorCode::ConnectionLoss)),
                InFlight::Close => close_lost = true,
            }
        }
        match self.model {
            ClientModel::Java => {
                // `cleanup()`: everything queued or sent fails; a pending close completes.
                let queued: Vec<Queued> = self.queued.drain(..).collect();
                for item in queued {
                    match item {
                        Queued::Op { op, reply } => {
                            let (kind, path) = op_label(&op);
                            self.finish_op(
                                kind,
                                path.to_string(),
                                reply,
                                Err(ErrorCode::ConnectionLoss),
                            );
                        }
                        Queued::Auth(a) => {
                            let _ = a.reply.send(Err(ErrorCode::ConnectionLoss));
                        }
                        Queued::Close => close_lost = true,
                    }
                }
                if close_lost || self.closing {
                    return self.end(SessionState::Closed);
                }
                if was_connected {
                    self.set_state(SessionState::Disconnected);
                }
                self.next_attempt(now);
            }
            ClientModel::Rust => {
                if close_lost {
                    // The crate sends closeSession again on the next connection.
                    self.queued.push_front(Queued::Close);
                }
                if was_connected {
                    self.set_state(SessionState::Disconnected);
                    if let Hosts::Rust(e) = &mut self.hosts {
                        e.start_round();
                    }
                    if let Timings::Rust(t) = self.timings {
                        self.deadline = Some(self.last_recv + t.expire_after);
                    }
                }
                self.next_attempt(now);
            }
        }
    }

    /// AddAuth calls interrupted by a disconnect: the crate retries them on the next
    /// connection; Java fails them (its auth list re-sends them anyway).
    fn auth_waiters_lost(&mut self) {
        let waiters: Vec<PendingAuth> = self.auth_waiters.drain(..).flatten().collect();
        for a in waiters.into_iter().rev() {
            match self.model {
                ClientModel::Rust => self.queued.push_front(Queued::Auth(a)),
                ClientModel::Java => {
                    let _ = a.reply.send(Err(ErrorCode::ConnectionLoss));
                }
            }
        }
    }

    /// The crate's round of attempts ran past its deadline.
    fn round_timed_out(&mut self) {
        if self.established {
            self.end(SessionState::Expired)
        } else {
            self.give_up_establishing()
        }
    }

    /// `connect` gave up before any session existed.
    fn give_up_establishing(&mut self) {
        if let Some(waiter) = self.establish_waiter.take() {
            let _ = waiter.send(Err(ErrorCode::OperationTimeout));
        }
        self.end(SessionState::Closed);
    }

    fn send_ping(&mut self, now: Duration) {
        self.ping_outstanding = true;
        self.last_send = now;
        self.send(RequestBody::Ping);
    }

    fn send(&mut self, body: RequestBody) {
        let (conn, server) = match self.phase {
            Phase::Handshake { conn, server, .. } | Phase::Connected { conn, server } => {
                (conn, server)
            }
            Phase::Waiting { .. } | Phase::Ended => return,
        };
        self.transmits.push_back(Transmit {
            to: server,
            request: ClientRequest { conn, body },
        });
    }

    // ----- states ----------------------------------------------------------------------------

    fn set_state(&mut self, state: SessionState) {
        if self.state == state || self.state.is_terminal() {
            return;
        }
        self.state = state;
        self.notices.push_back(Notice::State {
            state,
            session_id: self.session_id,
        });
    }

    /// The error calls get once the session is over (or, while it lives, `ConnectionLoss`).
    pub fn state_error(&self) -> ErrorCode {
        error_for_state(self.state)
    }

    /// Terminal: every watch learns it, every call fails with the state's error.
    /// The socket of an attempt the server never answered is closed.
    fn abandon_attempt(&mut self) {
        if let Phase::Handshake {
            conn,
            server,
            connected: false,
        } = self.phase
        {
            self.notices.push_back(Notice::Abandoned { server, conn });
        }
    }

    fn end(&mut self, state: SessionState) {
        self.abandon_attempt();
        self.set_state(state);
        self.phase = Phase::Ended;
        self.watches.fire_all(state);
        let err = self.state_error();
        let in_flight: Vec<(i32, InFlight)> = self.in_flight.drain(..).collect();
        for (_, entry) in in_flight {
            if let InFlight::Op {
                kind, path, reply, ..
            } = entry
            {
                self.finish_op(kind, path, reply, Err(err));
            }
        }
        let queued: Vec<Queued> = self.queued.drain(..).collect();
        for item in queued {
            match item {
                Queued::Op { op, reply } => {
                    let (kind, path) = op_label(&op);
                    self.finish_op(kind, path.to_string(), reply, Err(err));
                }
                Queued::Auth(a) => {
                    let _ = a.reply.send(Err(err));
                }
                Queued::Close => {}
            }
        }
        for a in self.auth_waiters.drain(..).flatten() {
            let _ = a.reply.send(Err(err));
        }
        for waiter in self.close_waiters.drain(..) {
            let _ = waiter.send(if state == SessionState::Closed {
                Ok(())
            } else {
                Err(err)
            });
        }
        if let Some(waiter) = self.establish_waiter.take() {
            let _ = waiter.send(Err(err));
        }
    }
}

fn min_opt(a: Duration, b: Option<Duration>) -> Duration {
    b.map_or(a, |b| a.min(b))
}

mod calls;
#[cfg(test)]
mod tests;
