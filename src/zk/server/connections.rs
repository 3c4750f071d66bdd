//! Client connections of one server: the connect handshake (session creation, revalidation,
//! zxid-ahead refusal), per-connection request ordering, local reads, forwarding of writes,
//! and delivery of replies and watch events (ZooKeeper's `NIOServerCnxn`,
//! `ZooKeeperServer.processConnectRequest` and `FinalRequestProcessor`).
//!
//! Replies on one connection leave in request order: a read that arrives behind a pending
//! write of the same connection waits for it (CommitProcessor's per-session queue), which is
//! what gives clients FIFO order and "a watch event before any newer data".

use crate::coverage::Point;
use crate::sim::net::{Addr, HostId, Packet, Payload, ports};
use crate::zk::peer::{Origin, Outcome, RequestKind};
use crate::zk::proto::{
    ClientOp, ClientRequest, ConnId, OpReply, RequestBody, ResponseBody, ServerResponse,
};
use crate::zk::server::{Node, request_size};
use crate::zk::tree::{AuthId, authenticate};
use crate::zk::types::{ErrorCode, SessionId, WatchedEvent, Zxid};
use std::collections::{BTreeMap, VecDeque};

/// What a client connection asks of the leader, routed by the server's current role.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ToLeader {
    Request {
        origin: Origin,
        session: SessionId,
        kind: RequestKind,
    },
    /// A request on a session: the leader must hear of it (directly, or on the next ping).
    Touch { session: SessionId, timeout_ms: u32 },
}

/// How a forwarded request ended, as the origin server learns it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Completion {
    /// The request's txn was applied here with this result.
    Applied(ErrorCode, OpReply),
    /// The leader answered without a txn.
    Leader(Outcome),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ConnState {
    /// Waiting for the createSession txn or the leader's revalidation.
    Handshake,
    Open,
}

#[derive(Debug)]
enum Queued {
    Read {
        xid: i32,
        op: ClientOp,
    },
    Ping,
    SetWatches {
        relative_zxid: Zxid,
        data: Vec<String>,
        exist: Vec<String>,
        child: Vec<String>,
    },
    Write {
        xid: i32,
        done: Option<(ErrorCode, OpReply)>,
    },
    Sync {
        xid: i32,
        path: String,
        done: Option<ErrorCode>,
    },
    CloseSession {
        xid: i32,
        done: Option<ErrorCode>,
    },
}

#[derive(Debug)]
pub struct ClientConn {
    addr: Addr,
    id: ConnId,
    session: SessionId,
    password: u64,
    timeout_ms: u32,
    state: ConnState,
    auth: Vec<AuthId>,
    queue: VecDeque<Queued>,
    /// Requests that arrived during the handshake: ZooKeeper stops reading the socket until
    /// the session is set up (`disableRecv`), then reads them in order.
    held: VecDeque<RequestBody>,
}

/// The connection table. A connection's sequence number doubles as its watcher id.
#[derive(Debug, Default)]
pub struct Connections {
    by_seq: BTreeMap<u64, ClientConn>,
    by_key: BTreeMap<(Addr, ConnId), u64>,
    next_seq: u64,
}

impl Connections {
    pub fn len(&self) -> usize {
        self.by_seq.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_seq.is_empty()
    }
}

/// The address a server sees a client host connect from. Simulated hosts have no IP
/// addresses, so each gets a distinct private one: host index i ↦ 10.0.x.y with
/// x·256 + y = i + 1.
pub fn client_ip(host: HostId) -> String {
    let n = host.0 + 1;
    format!("10.0.{}.{}", (n >> 8) & 0xff, n & 0xff)
}

/// The session password, derived from the id so every server can check it (ZooKeeper
/// derives it from the id and a server secret the same way).
pub fn session_password(session: SessionId) -> u64 {
    let mut x = (session as u64) ^ 0x5bd1_e995_9e37_79b9;
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    x ^ (x >> 33)
}

impl Node {
    pub(crate) fn send_client(&self, addr: Addr, conn: ConnId, body: ResponseBody) {
        self.ctx.net.send(
            ports::ZK_CLIENT,
            addr,
            Payload::ZkResponse(ServerResponse { conn, body }),
        );
    }

    /// A packet on the client port.
    #[allow(
        clippy::boxed_local,
        reason = "packets travel boxed; unboxing one copies it again"
    )]
    pub(crate) fn on_client_packet(&mut self, packet: Box<Packet>) {
        match packet.payload {
            Payload::ZkRequest(req) => self.on_client_request(packet.from, req),
            Payload::Reset => {
                // The client process died: its connections are gone (its sessions are not).
                let dead: Vec<u64> = self
                    .conns
                    .by_seq
                    .iter()
                    .filter(|(_, c)| c.addr == packet.from)
                    .map(|(s, _)| *s)
                    .collect();
                for seq in dead {
                    self.close_conn(seq, false);
                }
            }
            _ => {}
        }
    }

    fn on_client_request(&mut self, from: Addr, req: ClientRequest) {
        let ClientRequest { conn, body } = req;
        let seq = self.conns.by_key.get(&(from, conn)).copied();
        match (seq, body) {
            (
                None,
                RequestBody::Connect {
                    last_zxid_seen,
                    timeout_ms,
                    session_id,
                    password,
                },
            ) => self.on_connect(from, conn, last_zxid_seen, timeout_ms, session_id, password),
            (None, _) => self.send_client(from, conn, ResponseBody::Close),
            (Some(_), RequestBody::Connect { .. }) => {}
            // "Len error": ZooKeeper drops the connection without reading the request.
            (Some(seq), body) if request_size::exceeds_max_buffer(&body) => {
                self.close_conn(seq, true)
            }
            (Some(seq), body) => self.on_request(seq, body),
        }
    }

    fn on_connect(
        &mut self,
        addr: Addr,
        id: ConnId,
        last_zxid_seen: Zxid,
        requested_ms: u32,
        session: SessionId,
        password: u64,
    ) {
        if !self.serving {
            // Not in a working quorum: accept the socket, fail the handshake.
            self.send_client(addr, id, ResponseBody::Close);
            return;
        }
        if last_zxid_seen > self.db.last_zxid() {
            self.ctx.world.reach(Point::ZkReconnectRefusedBehind);
            self.trace(format_args!(
                "refusing session {session:#x}: client has seen zxid {last_zxid_seen:#x}, ours is {:#x}",
                self.db.last_zxid()
            ));
            self.send_client(addr, id, ResponseBody::Close);
            return;
        }
        let timeout_ms = self.cfg.negotiate_timeout(requested_ms);
        let seq = self.conns.next_seq;
        self.conns.next_seq += 1;
        let (session, kind) = if session == 0 {
            let session = self.new_session_id();
            (session, RequestKind::CreateSession { timeout_ms })
        } else {
            // A reconnect: other connections of the session here are stale.
            let others: Vec<u64> = self
                .conns
                .by_seq
                .iter()
                .filter(|(_, c)| c.session == session)
                .map(|(s, _)| *s)
                .collect();
            for other in others {
                self.close_conn(other, true);
            }
            if password != session_password(session) {
                self.send_client(
                    addr,
                    id,
                    ResponseBody::Connected {
                        timeout_ms: 0,
                        session_id: session,
                        password: 0,
                    },
                );
                self.send_client(addr, id, ResponseBody::Close);
                return;
            }
            (session, RequestKind::Revalidate { timeout_ms })
        };
        self.conns.by_key.insert((addr, id), seq);
        self.conns.by_seq.insert(
            seq,
            ClientConn {
                addr,
                id,
                session,
                password: session_password(session),
                timeout_ms,
                state: ConnState::Handshake,
                // Every connection is authenticated by its remote address (`NIOServerCnxn`).
                auth: vec![AuthId {
                    scheme: "ip".into(),
                    id: client_ip(addr.host),
                }],
                queue: VecDeque::new(),
                held: VecDeque::new(),
            },
        );
        let origin = self.origin(seq, 0);
        self.outbox.push(ToLeader::Request {
            origin,
            session,
            kind,
        });
    }

    /// ZooKeeper's session ids: server id in the top byte, the wall clock at start below,
    /// then a counter.
    fn new_session_id(&mut self) -> SessionId {
        let id = self.next_session_id;
        self.next_session_id = self.next_session_id.wrapping_add(1);
        id
    }

    pub(crate) fn origin(&self, conn: u64, xid: i32) -> Origin {
        Origin {
            server: self.cfg.id,
            incarnation: self.ctx.incarnation,
            conn,
            xid,
        }
    }

    fn on_request(&mut self, seq: u64, body: RequestBody) {
        let Some(conn) = self.conns.by_seq.get_mut(&seq) else {
            return;
        };
        if conn.state != ConnState::Open {
            conn.held.push_back(body);
            return;
        }
        let (session, timeout_ms) = (conn.session, conn.timeout_ms);
        self.outbox.push(ToLeader::Touch {
            session,
            timeout_ms,
        });
        let submit = match body {
            RequestBody::Connect { .. } => None,
            RequestBody::Op { xid, op } => {
                if op.is_write() {
                    conn.queue.push_back(Queued::Write { xid, done: None });
                    Some((
                        xid,
                        RequestKind::Write {
                            auth: conn.auth.clone(),
                            op,
                        },
                    ))
                } else if let ClientOp::Sync { path } = op {
                    conn.queue.push_back(Queued::Sync {
                        xid,
                        path,
                        done: None,
                    });
                    Some((xid, RequestKind::Sync))
                } else {
                    conn.queue.push_back(Queued::Read { xid, op });
                    None
                }
            }
            RequestBody::Ping => {
                conn.queue.push_back(Queued::Ping);
                None
            }
            RequestBody::SetWatches {
                relative_zxid,
                data,
                exist,
                child,
            } => {
                conn.queue.push_back(Queued::SetWatches {
                    relative_zxid,
                    data,
                    exist,
                    child,
                });
                None
            }
            RequestBody::AddAuth { scheme, auth } => {
                let (addr, cid) = (conn.addr, conn.id);
                match authenticate(&scheme, &auth) {
                    Ok(id) => {
                        if !conn.auth.contains(&id) {
                            conn.auth.push(id);
                        }
                        let ids = conn.auth.clone();
                        self.db.tree.set_watcher_auth(seq, &ids);
                        self.send_client(addr, cid, ResponseBody::AuthReply { err: ErrorCode::Ok });
                    }
                    Err(err) => {
                        // ZooKeeper answers AUTHFAILED and closes the connection.
                        self.send_client(addr, cid, ResponseBody::AuthReply { err });
                        self.close_conn(seq, true);
                    }
                }
                return;
            }
            RequestBody::CloseSession { xid } => {
                conn.queue
                    .push_back(Queued::CloseSession { xid, done: None });
                Some((xid, RequestKind::CloseSession))
            }
        };
        if let Some((xid, kind)) = submit {
            let origin = self.origin(seq, xid);
            self.outbox.push(ToLeader::Request {
                origin,
                session,
                kind,
            });
        }
        self.flush(seq);
    }

    /// Sends every reply at the head of the connection's queue that is ready, in order.
    fn flush(&mut self, seq: u64) {
        loop {
            let Some(conn) = self.conns.by_seq.get_mut(&seq) else {
                return;
            };
            let (addr, id) = (conn.addr, conn.id);
            let zxid = self.db.last_zxid();
            let body = match conn.queue.front_mut() {
                None => return,
                Some(Queued::Read { xid, op }) => {
                    let (err, reply) = self.db.tree.read(seq, &conn.auth, op);
                    ResponseBody::Reply {
                        xid: *xid,
                        zxid,
                        err,
                        reply,
                    }
                }
                Some(Queued::Ping) => ResponseBody::Pong { zxid },
                Some(Queued::SetWatches {
                    relative_zxid,
                    data,
                    exist,
                    child,
                }) => {
                    let events = self
                        .db
                        .tree
                        .set_watches(seq, *relative_zxid, data, exist, child);
                    conn.queue.pop_front();
                    for event in events {
                        self.send_client(addr, id, ResponseBody::Watch { event, zxid });
                    }
                    continue;
                }
                Some(Queued::Write {
                    xid,
                    done: Some((err, reply)),
                }) => ResponseBody::Reply {
                    xid: *xid,
                    zxid,
                    err: *err,
                    reply: std::mem::replace(reply, OpReply::Empty),
                },
                Some(Queued::Sync {
                    xid,
                    path,
                    done: Some(err),
                }) => ResponseBody::Reply {
                    xid: *xid,
                    zxid,
                    err: *err,
                    reply: if *err == ErrorCode::Ok {
                        OpReply::Sync {
                            path: std::mem::take(path),
                        }
                    } else {
                        OpReply::Empty
                    },
                },
                Some(Queued::CloseSession {
                    xid,
                    done: Some(err),
                }) => {
                    let reply = ResponseBody::Reply {
                        xid: *xid,
                        zxid,
                        err: *err,
                        reply: OpReply::Empty,
                    };
                    self.send_client(addr, id, reply);
                    self.close_conn(seq, true);
                    return;
                }
                Some(_) => return,
            };
            conn.queue.pop_front();
            self.send_client(addr, id, body);
        }
    }

    /// A forwarded request of one of this server's connections has ended.
    pub(crate) fn complete(&mut self, origin: &Origin, completion: Completion) {
        if origin.server != self.cfg.id || origin.incarnation != self.ctx.incarnation {
            return;
        }
        let seq = origin.conn;
        let Some(conn) = self.conns.by_seq.get_mut(&seq) else {
            return;
        };
        if conn.state == ConnState::Handshake {
            let (addr, id, session, password, timeout_ms) = (
                conn.addr,
                conn.id,
                conn.session,
                conn.password,
                conn.timeout_ms,
            );
            let valid = match completion {
                Completion::Applied(err, _) => err == ErrorCode::Ok,
                Completion::Leader(Outcome::Revalidated { valid }) => valid,
                Completion::Leader(_) => false,
            };
            if valid {
                conn.state = ConnState::Open;
                let held = std::mem::take(&mut conn.held);
                self.send_client(
                    addr,
                    id,
                    ResponseBody::Connected {
                        timeout_ms,
                        session_id: session,
                        password,
                    },
                );
                for body in held {
                    self.on_request(seq, body);
                }
            } else {
                // The session is gone: tell the client it expired, then hang up.
                self.send_client(
                    addr,
                    id,
                    ResponseBody::Connected {
                        timeout_ms: 0,
                        session_id: session,
                        password: 0,
                    },
                );
                self.close_conn(seq, true);
            }
            return;
        }
        let xid = origin.xid;
        let entry = conn.queue.iter_mut().find(|q| match q {
            Queued::Write { xid: x, done: None }
            | Queued::Sync {
                xid: x, done: None, ..
            }
            | Queued::CloseSession { xid: x, done: None } => *x == xid,
            _ => false,
        });
        match (entry, completion) {
            (Some(Queued::Write { done, .. }), Completion::Applied(err, reply)) => {
                *done = Some((err, reply))
            }
            (Some(Queued::Write { done, .. }), Completion::Leader(Outcome::Rejected(err))) => {
                *done = Some((err, OpReply::Empty))
            }
            (Some(Queued::Sync { done, .. }), Completion::Leader(Outcome::Synced)) => {
                *done = Some(ErrorCode::Ok)
            }
            (Some(Queued::Sync { done, .. }), Completion::Leader(Outcome::Rejected(err))) => {
                *done = Some(err)
            }
            (Some(Queued::CloseSession { done, .. }), Completion::Applied(err, _)) => {
                *done = Some(err)
            }
            (
                Some(Queued::CloseSession { done, .. }),
                Completion::Leader(Outcome::Rejected(err)),
            ) => *done = Some(err),
            _ => return,
        }
        self.flush(seq);
    }

    /// Delivers watch events of an applied txn to this server's connections.
    pub(crate) fn deliver_events(&mut self, events: Vec<(u64, WatchedEvent)>, zxid: Zxid) {
        for (watcher, event) in events {
            if let Some(conn) = self.conns.by_seq.get(&watcher) {
                self.send_client(conn.addr, conn.id, ResponseBody::Watch { event, zxid });
            }
        }
    }

    /// A closeSession txn was applied: every connection of the session here is closed,
    /// except the one that asked (it gets its reply first, through `complete`).
    pub(crate) fn close_session_conns(&mut self, session: SessionId, except: Option<u64>) {
        let doomed: Vec<u64> = self
            .conns
            .by_seq
            .iter()
            .filter(|(seq, c)| c.session == session && Some(**seq) != except)
            .map(|(s, _)| *s)
            .collect();
        for seq in doomed {
            self.close_conn(seq, true);
        }
    }

    /// Forgets a connection (and its watches), telling the client unless it is gone.
    pub(crate) fn close_conn(&mut self, seq: u64, tell_client: bool) {
        if let Some(conn) = self.conns.by_seq.remove(&seq) {
            self.conns.by_key.remove(&(conn.addr, conn.id));
            self.db.tree.remove_watcher(seq);
            if tell_client {
                self.send_client(conn.addr, conn.id, ResponseBody::Close);
            }
        }
    }

    /// The server stops serving: every client is disconnected.
    pub(crate) fn close_all_clients(&mut self) {
        let all: Vec<u64> = self.conns.by_seq.keys().copied().collect();
        for seq in all {
            self.close_conn(seq, true);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_addresses_are_distinct_private_ips() {
        assert_eq!(client_ip(HostId(0)), "10.0.0.1");
        assert_eq!(client_ip(HostId(255)), "10.0.1.0");
        assert_ne!(client_ip(HostId(3)), client_ip(HostId(4)));
    }

    #[test]
    fn passwords_differ_between_sessions() {
        assert_ne!(session_password(1), session_password(2));
        assert_eq!(session_password(7), session_password(7));
    }
}
