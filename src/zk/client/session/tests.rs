//! The session core driven packet by packet with a hand-held clock.

use super::*;
use crate::coord::Watch;
use crate::sim::net::HostId;
use crate::zk::client::requests::{OpOutcome, Request};
use crate::zk::proto::ServerResponse;
use crate::zk::proto::{ClientOp, OpReply};
use crate::zk::types::{EventType, Stat, ZkResult};
use tokio::sync::oneshot;
use tokio::sync::oneshot::error::TryRecvError;

fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

fn servers(n: u32) -> Vec<Addr> {
    (0..n)
        .map(|h| Addr {
            host: HostId(h),
            port: 2181,
        })
        .collect()
}

struct Harness {
    core: SessionCore,
    now: Duration,
    established: oneshot::Receiver<ZkResult<SessionId>>,
    sent: Vec<(Duration, Transmit)>,
    /// The connection of the last connect sent.
    conn: Option<(ConnId, Addr)>,
}

impl Harness {
    fn new(model: ClientModel, hosts: u32) -> Self {
        let config = ClientConfig::new(servers(hosts)).with_model(model);
        Self::with_config(config)
    }

    fn with_config(config: ClientConfig) -> Self {
        let (tx, established) = oneshot::channel();
        let local = Addr {
            host: HostId(99),
            port: 40_000,
        };
        let core = SessionCore::new(&config, local, 7, Duration::ZERO, tx).expect("servers given");
        let mut h = Harness {
            core,
            now: Duration::ZERO,
            established,
            sent: Vec::new(),
            conn: None,
        };
        h.collect();
        h
    }

    fn collect(&mut self) {
        while let Some(t) = self.core.poll_transmit() {
            if matches!(t.request.body, RequestBody::Connect { .. }) {
                self.conn = Some((t.request.conn, t.to));
            }
            self.sent.push((self.now, t));
        }
    }

    /// Everything sent since the last call.
    fn take_sent(&mut self) -> Vec<(Duration, Transmit)> {
        self.collect();
        std::mem::take(&mut self.sent)
    }

    fn take_bodies(&mut self) -> Vec<RequestBody> {
        self.take_sent()
            .into_iter()
            .map(|(_, t)| t.request.body)
            .collect()
    }

    /// Runs the timers up to `t`.
    fn advance_to(&mut self, t: Duration) {
        while let Some(wake) = self.core.poll_timeout() {
            if wake > t {
                break;
            }
            self.now = self.now.max(wake);
            self.core.handle_timeout(self.now);
            self.collect();
        }
        self.now = t;
    }

    /// The connection the core currently talks on.
    fn current(&self) -> (ConnId, Addr) {
        self.conn.expect("a connect was sent")
    }

    fn respond(&mut self, body: ResponseBody) {
        self.collect();
        let (conn, server) = self.current();
        self.core.handle_packet(
            self.now,
            server,
            Payload::ZkResponse(ServerResponse { conn, body }),
        );
        self.collect();
    }

    fn connected(&mut self, timeout_ms: u32) {
        self.respond(ResponseBody::Connected {
            timeout_ms,
            session_id: 0x51,
            password: 0xbeef,
        });
    }

    /// Connect response, and for the crate the pong of its first ping.
    fn establish(&mut self) {
        self.connected(6000);
        if self.core.model == ClientModel::Rust {
            self.respond(ResponseBody::Pong { zxid: 0 });
        }
        self.take_sent();
    }

    fn request(&mut self, op: ClientOp) -> oneshot::Receiver<ZkResult<OpOutcome>> {
        let (reply, rx) = oneshot::channel();
        self.core
            .handle_request(self.now, Request::Op { op, reply });
        self.collect();
        rx
    }

    fn states(&mut self) -> Vec<SessionState> {
        let mut out = Vec::new();
        while let Some(n) = self.core.poll_notice() {
            if let Notice::State { state, .. } = n {
                out.push(state);
            }
        }
        out
    }
}

fn get(path: &str, watch: bool) -> ClientOp {
    ClientOp::GetData {
        path: path.into(),
        watch,
    }
}

fn data_reply(xid: i32, zxid: Zxid) -> ResponseBody {
    ResponseBody::Reply {
        xid,
        zxid,
        err: ErrorCode::Ok,
        reply: OpReply::Data {
            data: b"v".to_vec(),
            stat: Stat::default(),
        },
    }
}

fn op_xid(body: &RequestBody) -> Option<i32> {
    match body {
        RequestBody::Op { xid, .. } => Some(*xid),
        _ => None,
    }
}

#[test]
fn rust_handshake_waits_for_the_first_pong_before_serving_requests() {
    let mut h = Harness::new(ClientModel::Rust, 3);
    let bodies = h.take_bodies();
    assert_eq!(
        bodies,
        vec![RequestBody::Connect {
            last_zxid_seen: 0,
            timeout_ms: 6000,
            session_id: 0,
            password: 0
        }]
    );
    let mut pending = h.request(get("/a", false));
    assert!(h.take_bodies().is_empty(), "no request before the session");
    h.connected(4000);
    assert_eq!(h.core.state(), SessionState::SyncConnected);
    assert_eq!(h.take_bodies(), vec![RequestBody::Ping]);
    assert_eq!(h.established.try_recv(), Err(TryRecvError::Empty));
    h.respond(ResponseBody::Pong { zxid: 0 });
    assert_eq!(h.established.try_recv(), Ok(Ok(0x51)));
    let bodies = h.take_bodies();
    assert_eq!(bodies.len(), 1);
    assert_eq!(op_xid(&bodies[0]), Some(1));
    h.respond(data_reply(1, 9));
    assert!(matches!(pending.try_recv(), Ok(Ok(_))));
    assert_eq!(h.core.last_zxid(), 9);
}

#[test]
fn rust_pings_after_three_idle_ticks_and_drops_a_silent_connection_after_eight() {
    let mut h = Harness::new(ClientModel::Rust, 3);
    h.establish();
    // tick = 300 ms: a ping on the first tick 900 ms after the last send (the handshake ping).
    h.advance_to(ms(2000));
    let pings: Vec<Duration> = h
        .take_sent()
        .into_iter()
        .filter(|(_, t)| t.request.body == RequestBody::Ping)
        .map(|(at, _)| at)
        .collect();
    assert_eq!(pings, vec![ms(900)], "one ping outstanding at a time");
    h.states();
    // Nothing heard since t=0: lost on the tick at 2400 ms, then straight to a server of the
    // new shuffle with the session's id and password.
    h.advance_to(ms(2400));
    assert_eq!(h.states(), vec![SessionState::Disconnected]);
    let sent = h.take_sent();
    let connect = sent
        .iter()
        .find(|(_, t)| matches!(t.request.body, RequestBody::Connect { .. }))
        .expect("reconnects at once");
    assert_eq!(connect.0, ms(2400));
    assert!(matches!(
        connect.1.request.body,
        RequestBody::Connect {
            session_id: 0x51,
            password: 0xbeef,
            timeout_ms: 6000,
            ..
        }
    ));
}

#[test]
fn rust_wakes_only_for_the_tick_that_has_something_to_do() {
    let mut h = Harness::new(ClientModel::Rust, 3);
    h.establish();
    // Ticks every 300 ms from t=0; the ping is due 900 ms after the handshake ping: the
    // ticks at 300 and 600 ms find nothing to do.
    assert_eq!(h.core.poll_timeout(), Some(ms(900)));
    // A request at 250 ms counts as sending: the ping moves to the first tick at or after
    // 1150 ms.
    h.now = ms(250);
    let _pending = h.request(get("/a", false));
    assert_eq!(h.core.poll_timeout(), Some(ms(1200)));
    // Woken early (the driver's timer was armed for 900 ms), the core does nothing.
    h.core.handle_timeout(ms(900));
    assert!(h.take_bodies().iter().all(|b| *b != RequestBody::Ping));
    assert_eq!(h.core.poll_timeout(), Some(ms(1200)));
    // While a ping is outstanding only the connection timeout (8 ticks after the last
    // receive, t=0 here) is due.
    h.core.handle_timeout(ms(1200));
    assert!(h.take_bodies().contains(&RequestBody::Ping));
    assert_eq!(h.core.poll_timeout(), Some(ms(2400)));
}

#[test]
fn rust_expires_the_session_client_side_at_seven_fifths_of_t() {
    let mut h = Harness::new(ClientModel::Rust, 3);
    h.establish();
    let mut queued_watch = h.request(get("/w", true));
    let xid = op_xid(&h.take_bodies()[0]).unwrap();
    h.respond(data_reply(xid, 3));
    let watch = queued_watch.try_recv().unwrap().unwrap().watch.unwrap();
    // Last receive at t=0 (the reply); no server answers anything any more.
    h.advance_to(ms(8399));
    assert_eq!(h.core.state(), SessionState::Disconnected);
    let attempts = h
        .take_sent()
        .iter()
        .filter(|(_, t)| matches!(t.request.body, RequestBody::Connect { .. }))
        .count();
    assert!(attempts >= 3, "tried every server: {attempts}");
    let mut late = h.request(get("/x", false));
    h.advance_to(ms(8400));
    assert_eq!(h.core.state(), SessionState::Expired);
    assert!(h.core.is_ended());
    assert!(matches!(
        late.try_recv(),
        Ok(Err(ErrorCode::SessionExpired))
    ));
    let fired = futures_poll(watch).expect("terminal state reaches the watch");
    assert_eq!(fired.event_type, EventType::Session);
    assert_eq!(fired.session_state, SessionState::Expired);
}

/// Polls a watch once without a runtime.
fn futures_poll(watch: Watch) -> Option<WatchedEvent> {
    use std::future::Future;
    use std::task::{Context, Poll, Waker};
    let mut cx = Context::from_waker(Waker::noop());
    match std::pin::pin!(watch.changed()).poll(&mut cx) {
        Poll::Ready(e) => Some(e),
        Poll::Pending => None,
    }
}

#[test]
fn a_connect_answered_with_timeout_zero_is_expiry() {
    for model in [ClientModel::Rust, ClientModel::Java] {
        let mut h = Harness::new(model, 3);
        h.establish();
        h.respond(ResponseBody::Close);
        assert_eq!(h.core.state(), SessionState::Disconnected, "{model:?}");
        h.advance_to(h.now + ms(1500));
        h.connected(0);
        assert_eq!(h.core.state(), SessionState::Expired, "{model:?}");
        let mut r = h.request(get("/a", false));
        assert!(matches!(r.try_recv(), Ok(Err(ErrorCode::SessionExpired))));
    }
}

#[test]
fn rust_treats_a_session_expired_reply_as_expiry_java_does_not() {
    for (model, expect) in [
        (ClientModel::Rust, SessionState::Expired),
        (ClientModel::Java, SessionState::SyncConnected),
    ] {
        let mut h = Harness::new(model, 1);
        h.establish();
        let mut r = h.request(get("/a", false));
        let xid = op_xid(&h.take_bodies()[0]).unwrap();
        h.respond(ResponseBody::Reply {
            xid,
            zxid: 0,
            err: ErrorCode::SessionExpired,
            reply: OpReply::Empty,
        });
        assert_eq!(h.core.state(), expect, "{model:?}");
        assert!(matches!(r.try_recv(), Ok(Err(ErrorCode::SessionExpired))));
    }
}

#[test]
fn reconnect_fails_in_flight_requests_and_re_registers_watches_before_queued_ones() {
    let mut h = Harness::new(ClientModel::Rust, 3);
    h.establish();
    let mut watched = h.request(ClientOp::Exists {
        path: "/e".into(),
        watch: true,
    });
    let mut children = h.request(ClientOp::GetChildren {
        path: "/p".into(),
        watch: true,
    });
    let bodies = h.take_bodies();
    h.respond(ResponseBody::Reply {
        xid: op_xid(&bodies[0]).unwrap(),
        zxid: 40,
        err: ErrorCode::NoNode,
        reply: OpReply::Empty,
    });
    h.respond(ResponseBody::Reply {
        xid: op_xid(&bodies[1]).unwrap(),
        zxid: 41,
        err: ErrorCode::Ok,
        reply: OpReply::Children {
            children: vec![],
            stat: Stat::default(),
        },
    });
    let (stat, exist_watch) = match watched.try_recv() {
        Ok(Ok(OpOutcome {
            reply: OpReply::Exists(stat),
            watch: Some(w),
        })) => (stat, w),
        other => panic!("{other:?}"),
    };
    assert_eq!(stat, None, "NoNode answers exists with no stat");
    let child_watch = children.try_recv().unwrap().unwrap().watch.unwrap();
    let mut in_flight = h.request(get("/a", false));
    h.take_sent();
    h.respond(ResponseBody::Close);
    assert!(matches!(
        in_flight.try_recv(),
        Ok(Err(ErrorCode::ConnectionLoss))
    ));
    let mut queued = h.request(get("/b", false));
    let bodies = h.take_bodies();
    assert!(matches!(
        bodies[0],
        RequestBody::Connect {
            last_zxid_seen: 41,
            ..
        }
    ));
    assert_eq!(
        bodies[1],
        RequestBody::SetWatches {
            relative_zxid: 41,
            data: vec![],
            exist: vec!["/e".into()],
            child: vec!["/p".into()],
        }
    );
    assert_eq!(bodies.len(), 2, "the queued request waits for the session");
    h.establish_again();
    let bodies = h.take_bodies();
    assert_eq!(bodies.len(), 1);
    let xid = op_xid(&bodies[0]).unwrap();
    // A notification that precedes the reply is delivered first.
    h.respond(ResponseBody::Watch {
        event: WatchedEvent {
            event_type: EventType::NodeCreated,
            session_state: SessionState::SyncConnected,
            path: "/e".into(),
        },
        zxid: 50,
    });
    assert_eq!(queued.try_recv().err(), Some(TryRecvError::Empty));
    let fired = futures_poll(exist_watch).expect("fired by the notification");
    assert_eq!(fired.event_type, EventType::NodeCreated);
    assert!(
        futures_poll(child_watch).is_none(),
        "NodeCreated is not a child event"
    );
    h.respond(data_reply(xid, 50));
    assert!(matches!(queued.try_recv(), Ok(Ok(_))));
}

impl Harness {
    fn establish_again(&mut self) {
        self.connected(6000);
        if self.core.model == ClientModel::Rust {
            self.respond(ResponseBody::Pong { zxid: 0 });
        }
        // Drop the handshake ping from what the test inspects.
        self.collect();
        self.sent
            .retain(|(_, t)| t.request.body != RequestBody::Ping);
    }
}

#[test]
fn packets_of_abandoned_connections_are_ignored() {
    let mut h = Harness::new(ClientModel::Rust, 2);
    h.establish();
    let (old_conn, old_server) = h.current();
    h.respond(ResponseBody::Close);
    h.take_sent();
    let (new_conn, _) = h.current();
    assert_ne!(old_conn, new_conn);
    h.core.handle_packet(
        h.now,
        old_server,
        Payload::ZkResponse(ServerResponse {
            conn: old_conn,
            body: ResponseBody::Connected {
                timeout_ms: 0,
                session_id: 0x51,
                password: 0,
            },
        }),
    );
    assert_eq!(h.core.state(), SessionState::Disconnected);
}

#[test]
fn a_reset_from_the_server_drops_the_connection() {
    let mut h = Harness::new(ClientModel::Java, 3);
    h.establish();
    let (_, server) = h.current();
    h.states();
    h.core.handle_packet(h.now, server, Payload::Reset);
    assert_eq!(h.states(), vec![SessionState::Disconnected]);
}

#[test]
fn java_times_out_reads_at_two_thirds_and_pings_after_a_second_idle() {
    let mut h = Harness::new(ClientModel::Java, 3);
    let bodies = h.take_bodies();
    assert_eq!(
        bodies.len(),
        1,
        "Java sends only the connect before the response"
    );
    h.establish();
    h.advance_to(ms(3500));
    let pings: Vec<Duration> = h
        .take_sent()
        .into_iter()
        .filter(|(_, t)| t.request.body == RequestBody::Ping)
        .map(|(at, _)| at)
        .collect();
    assert_eq!(pings, vec![ms(1001), ms(2002), ms(3003)]);
    h.states();
    h.advance_to(ms(4000));
    assert_eq!(h.states(), vec![SessionState::Disconnected]);
}

#[test]
fn java_never_expires_on_its_own_and_fails_queued_requests_per_failed_attempt() {
    let mut h = Harness::new(ClientModel::Java, 3);
    h.establish();
    h.respond(ResponseBody::Close);
    let mut queued = h.request(get("/a", false));
    // Connect timeout = T/3 = 2 s per attempt, 0–1 s jitter, 1 s spin per pass.
    h.advance_to(ms(60_000));
    assert_eq!(h.core.state(), SessionState::Disconnected);
    assert!(matches!(
        queued.try_recv(),
        Ok(Err(ErrorCode::ConnectionLoss))
    ));
    let connects: Vec<Duration> = h
        .take_sent()
        .into_iter()
        .filter(|(_, t)| matches!(t.request.body, RequestBody::Connect { .. }))
        .map(|(at, _)| at)
        .collect();
    assert!(connects.len() >= 15, "{connects:?}");
    for pair in connects.windows(2) {
        let gap = pair[1] - pair[0];
        assert!(gap >= ms(2000) && gap < ms(4000), "{gap:?}");
    }
}

#[test]
fn java_visits_servers_round_robin() {
    let mut h = Harness::new(ClientModel::Java, 3);
    h.establish();
    let (_, first) = h.current();
    h.respond(ResponseBody::Close);
    let mut order = vec![first];
    for _ in 0..3 {
        let (_, s) = h.current();
        if s != *order.last().unwrap() {
            order.push(s);
        }
        h.respond(ResponseBody::Close);
        h.advance_to(h.now + ms(2500));
    }
    let (_, s) = h.current();
    order.push(s);
    assert_eq!(order[0], order[3], "{order:?}");
    assert_ne!(order[0], order[1]);
    assert_ne!(order[1], order[2]);
    assert_ne!(order[0], order[2]);
}

#[test]
fn close_waits_for_the_reply_then_everything_fails_with_client_closed() {
    let mut h = Harness::new(ClientModel::Rust, 1);
    h.establish();
    let (tx, mut closed) = oneshot::channel();
    h.core.handle_request(h.now, Request::Close { reply: tx });
    let bodies = h.take_bodies();
    let RequestBody::CloseSession { xid } = bodies[0] else {
        panic!("{bodies:?}")
    };
    let mut refused = h.request(get("/a", false));
    assert!(matches!(
        refused.try_recv(),
        Ok(Err(ErrorCode::ClientClosed))
    ));
    assert_eq!(closed.try_recv(), Err(TryRecvError::Empty));
    h.respond(ResponseBody::Reply {
        xid,
        zxid: 77,
        err: ErrorCode::Ok,
        reply: OpReply::Empty,
    });
    assert_eq!(closed.try_recv(), Ok(Ok(())));
    assert_eq!(h.core.state(), SessionState::Closed);
    assert!(h.core.is_ended());
}

#[test]
fn auth_failed_is_terminal() {
    let config = ClientConfig::new(servers(1)).with_auth("digest", b"u:p");
    let mut h = Harness::with_config(config);
    let bodies = h.take_bodies();
    assert_eq!(
        bodies[1],
        RequestBody::AddAuth {
            scheme: "digest".into(),
            auth: b"u:p".to_vec()
        }
    );
    h.connected(6000);
    h.respond(ResponseBody::AuthReply {
        err: ErrorCode::AuthFailed,
    });
    assert_eq!(h.core.state(), SessionState::AuthFailed);
    assert_eq!(h.established.try_recv(), Ok(Err(ErrorCode::AuthFailed)));
}

#[test]
fn no_session_within_the_connect_deadline_gives_up() {
    for model in [ClientModel::Rust, ClientModel::Java] {
        let mut h = Harness::new(model, 3);
        h.advance_to(ms(5999));
        assert_eq!(h.established.try_recv(), Err(TryRecvError::Empty));
        h.advance_to(ms(6000));
        assert_eq!(
            h.established.try_recv(),
            Ok(Err(ErrorCode::OperationTimeout)),
            "{model:?}"
        );
        assert!(h.core.is_ended());
    }
}

#[test]
fn rust_backs_off_only_after_a_full_pass() {
    let mut h = Harness::new(ClientModel::Rust, 3);
    let mut connects = vec![Duration::ZERO];
    for _ in 0..3 {
        h.respond(ResponseBody::Close);
        while !h
            .sent
            .iter()
            .any(|(_, t)| matches!(t.request.body, RequestBody::Connect { .. }))
        {
            let next = h.core.poll_timeout().unwrap();
            h.advance_to(next);
        }
        let sent = h.take_sent();
        connects.push(sent[0].0);
    }
    assert_eq!(&connects[..3], &[Duration::ZERO; 3]);
    let gap = connects[3];
    assert!(gap >= ms(300) && gap < ms(400), "{gap:?}");
}

#[test]
fn java_sends_auth_and_watches_only_after_the_connect_response() {
    let config = ClientConfig::new(servers(2))
        .with_model(ClientModel::Java)
        .with_auth("digest", b"u:p");
    let mut h = Harness::with_config(config);
    let mut queued = h.request(get("/q", false));
    assert_eq!(h.take_bodies().len(), 1, "only the connect");
    h.connected(6000);
    assert_eq!(h.core.state(), SessionState::SyncConnected);
    assert_eq!(h.established.try_recv(), Ok(Ok(0x51)));
    let bodies = h.take_bodies();
    assert!(
        matches!(bodies[0], RequestBody::AddAuth { .. }),
        "{bodies:?}"
    );
    let xid = op_xid(&bodies[1]).expect("then the queued request");
    h.respond(ResponseBody::AuthReply { err: ErrorCode::Ok });
    h.respond(data_reply(xid, 5));
    assert!(matches!(queued.try_recv(), Ok(Ok(_))));
}

#[test]
fn rust_retries_an_interrupted_add_auth_and_resends_it_on_later_connects() {
    let mut h = Harness::new(ClientModel::Rust, 2);
    h.establish();
    let (reply, mut added) = oneshot::channel();
    h.core.handle_request(
        h.now,
        Request::AddAuth {
            scheme: "digest".into(),
            auth: b"a:b".to_vec(),
            reply,
        },
    );
    assert!(matches!(h.take_bodies()[..], [RequestBody::AddAuth { .. }]));
    h.respond(ResponseBody::Close);
    assert_eq!(added.try_recv(), Err(TryRecvError::Empty), "not failed");
    let bodies = h.take_bodies();
    assert_eq!(
        bodies.len(),
        1,
        "not pipelined with the connect: {bodies:?}"
    );
    h.establish_again();
    let bodies = h.take_bodies();
    assert!(
        matches!(bodies[..], [RequestBody::AddAuth { .. }]),
        "sent again once connected: {bodies:?}"
    );
    h.respond(ResponseBody::AuthReply { err: ErrorCode::Ok });
    assert_eq!(added.try_recv(), Ok(Ok(())));
    h.respond(ResponseBody::Close);
    let bodies = h.take_bodies();
    assert!(
        matches!(bodies[1], RequestBody::AddAuth { .. }),
        "{bodies:?}"
    );
}

#[test]
fn a_failed_multi_is_a_successful_call_with_error_results() {
    let mut h = Harness::new(ClientModel::Rust, 1);
    h.establish();
    let mut r = h.request(ClientOp::Multi { ops: vec![] });
    let xid = op_xid(&h.take_bodies()[0]).unwrap();
    let results = vec![
        crate::zk::types::OpResult::Error(ErrorCode::Ok),
        crate::zk::types::OpResult::Error(ErrorCode::NoNode),
    ];
    h.respond(ResponseBody::Reply {
        xid,
        zxid: 3,
        err: ErrorCode::NoNode,
        reply: OpReply::Multi(results.clone()),
    });
    match r.try_recv() {
        Ok(Ok(OpOutcome {
            reply: OpReply::Multi(got),
            ..
        })) => assert_eq!(got, results),
        other => panic!("{other:?}"),
    }
}

#[test]
fn no_servers_is_a_bad_argument() {
    let (tx, _rx) = oneshot::channel();
    let local = Addr {
        host: HostId(1),
        port: 40_000,
    };
    let result = SessionCore::new(&ClientConfig::new(vec![]), local, 1, Duration::ZERO, tx);
    assert_eq!(result.err(), Some(ErrorCode::BadArguments));
}
