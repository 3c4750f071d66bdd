//! Session creation, expiry, revalidation, closing, zxid-ahead refusal.

use super::*;
use crate::zk::proto::{ClientOp, OpReply};
use crate::zk::server::testkit::*;
use crate::zk::types::{CreateMode, ErrorCode};
use std::time::Duration;

#[test]
fn zxid_ahead_clients_are_refused() {
    sim(4, || async {
        let e = Ensemble::start(3, 0, false);
        sleep(secs(5)).await;
        let server = e.followers()[0];
        let (ahead, level) = e
            .run_client(move |ctx| async move {
                let mut c = RawClient::new(&ctx);
                let ConnectOutcome::Connected(s) = c.connect(server, 6000).await else {
                    panic!("connect")
                };
                let zxid = c.ping(&s).await.expect("pong");
                let ahead = c.reconnect(server, 0, 0, zxid + 1, 6000).await;
                let level = c.reconnect(server, 0, 0, zxid, 6000).await;
                (ahead, level)
            })
            .await;
        assert_eq!(ahead, ConnectOutcome::Closed);
        assert!(matches!(level, ConnectOutcome::Connected(_)));
    });
}

#[test]
fn ephemerals_go_exactly_when_close_session_commits() {
    sim(5, || async {
        let e = Ensemble::start(3, 0, false);
        sleep(secs(5)).await;
        let (a_srv, b_srv) = (e.followers()[0], e.leader().expect("leader"));
        let (close_zxid, events) = e
            .run_client(move |ctx| async move {
                let mut c = RawClient::new(&ctx);
                let ConnectOutcome::Connected(a) = c.connect(a_srv, 6000).await else {
                    panic!("connect")
                };
                let ConnectOutcome::Connected(b) = c.connect(b_srv, 6000).await else {
                    panic!("connect")
                };
                assert_eq!(
                    c.op(&a, create("/eph", b"", CreateMode::Ephemeral))
                        .await
                        .expect("reply")
                        .0,
                    ErrorCode::Ok
                );
                let exists = ClientOp::Exists {
                    path: "/eph".into(),
                    watch: true,
                };
                let (err, _, _) = c.op(&b, exists).await.expect("reply");
                assert_eq!(err, ErrorCode::Ok);
                let (err, zxid) = c.close_session(&a).await.expect("closed");
                assert_eq!(err, ErrorCode::Ok);
                // The watch fires on b's server when it applies the same txn.
                c.ping(&b).await.expect("pong");
                let (_, reply, _) = c
                    .op(
                        &b,
                        ClientOp::Exists {
                            path: "/eph".into(),
                            watch: false,
                        },
                    )
                    .await
                    .expect("reply");
                assert_eq!(reply, OpReply::Exists(None));
                (zxid, c.events.clone())
            })
            .await;
        assert_eq!(events.len(), 1);
        let (_, event, zxid) = &events[0];
        assert_eq!(event.path, "/eph");
        assert_eq!(event.event_type, crate::zk::types::EventType::NodeDeleted);
        assert_eq!(*zxid, close_zxid);
    });
}

#[test]
fn a_session_expires_between_t_and_t_plus_tick_after_the_leaders_last_touch() {
    sim(8, || async {
        let e = Ensemble::start(3, 0, true);
        sleep(secs(5)).await;
        let leader = e.leader().expect("leader");
        let (sent, ponged, session) = e
            .run_client(move |ctx| async move {
                let mut c = RawClient::new(&ctx);
                let ConnectOutcome::Connected(s) = c.connect(leader, 4000).await else {
                    panic!("connect")
                };
                assert_eq!(s.timeout_ms, 4000);
                for _ in 0..3 {
                    sleep(Duration::from_millis(1300)).await;
                    c.ping(&s).await.expect("pong");
                }
                sleep(Duration::from_millis(777)).await;
                let sent = crate::sim::clock::true_now();
                c.ping(&s).await.expect("pong");
                let ponged = crate::sim::clock::true_now();
                sleep(secs(8)).await;
                (sent, ponged, s.id)
            })
            .await;
        let lines = e.world.take_trace_lines();
        let at = trace_time(
            &lines,
            &e.world.host_name(leader),
            &format!("session {session:#x} expired"),
        )
        .expect("expired");
        let t = Duration::from_millis(4000);
        assert!(
            at > sent + t,
            "expired {at:?} too early (touch after {sent:?})"
        );
        assert!(
            at <= ponged + t + TICK,
            "expired {at:?} too late (touch before {ponged:?})"
        );
        assert_eq!(e.world.metric("zk.sessions_expired"), 1);
    });
}

#[test]
fn session_timeouts_restart_when_a_new_leader_takes_over() {
    sim(9, || async {
        let e = Ensemble::start(3, 0, true);
        sleep(secs(5)).await;
        let leader = e.leader().expect("leader");
        let f = e.followers()[0];
        let world = e.world.clone();
        let (last_ping, session) = e
            .run_client(move |ctx| async move {
                let mut c = RawClient::new(&ctx);
                let ConnectOutcome::Connected(s) = c.connect(f, 10_000).await else {
                    panic!("connect")
                };
                c.ping(&s).await.expect("pong");
                let last = crate::sim::clock::true_now();
                sleep(secs(6)).await;
                world.crash(leader, false).expect("crash");
                sleep(secs(20)).await;
                (last, s.id)
            })
            .await;
        let lines = e.world.take_trace_lines();
        let new_leader = e.leader().expect("new leader");
        let name = e.world.host_name(new_leader);
        let established = lines
            .iter()
            .filter(|l| l.host == name && l.text.contains("leader established"))
            .map(|l| l.at)
            .next_back()
            .expect("established");
        let expired =
            trace_time(&lines, &name, &format!("session {session:#x} expired")).expect("expired");
        assert!(established > last_ping + secs(6));
        assert!(
            expired > established + secs(10),
            "restarted at {established:?}, expired {expired:?}"
        );
        assert!(expired <= established + secs(10) + TICK);
    });
}

#[test]
fn reconnects_revalidate_with_the_leader() {
    sim(12, || async {
        let e = Ensemble::start(3, 0, false);
        sleep(secs(5)).await;
        let (f1, f2) = (e.followers()[0], e.followers()[1]);
        let (moved, bad_password, synced, expired) = e
            .run_client(move |ctx| async move {
                let mut c = RawClient::new(&ctx);
                let ConnectOutcome::Connected(s) = c.connect(f1, 4000).await else {
                    panic!("connect")
                };
                let zxid = c.last_zxid;
                let moved = c.reconnect(f2, s.id, s.password, zxid, 4000).await;
                let bad = c.reconnect(f2, s.id, s.password ^ 1, zxid, 4000).await;
                let ConnectOutcome::Connected(s2) =
                    c.reconnect(f1, s.id, s.password, zxid, 4000).await
                else {
                    panic!("reattach")
                };
                let synced = c.op(&s2, ClientOp::Sync { path: "/".into() }).await;
                // Silence for longer than T + tick: the leader expires it.
                sleep(secs(8)).await;
                let expired = c.reconnect(f2, s.id, s.password, zxid, 4000).await;
                (moved, bad, synced, expired)
            })
            .await;
        assert!(matches!(moved, ConnectOutcome::Connected(s) if s.server == f2));
        assert_eq!(bad_password, ConnectOutcome::Expired);
        assert!(
            matches!(synced, Some((ErrorCode::Ok, OpReply::Sync { ref path }, _)) if path == "/")
        );
        assert_eq!(expired, ConnectOutcome::Expired);
    });
}

#[test]
/// The leader's timers run on its own clock: a monotonic jump shorter than its learners'
/// read timeout (syncLimit ticks) but longer than T + tick expires an idle session at once.
fn a_monotonic_jump_on_the_leader_expires_sessions_on_its_clock() {
    sim(17, || async {
        let e = Ensemble::start(3, 0, true);
        sleep(secs(5)).await;
        let leader = e.leader().expect("leader");
        let f = e.followers()[0];
        let world = e.world.clone();
        let (session, after_jump) = e
            .run_client(move |ctx| async move {
                let mut c = RawClient::new(&ctx);
                let ConnectOutcome::Connected(s) = c.connect(f, 4_000).await else {
                    panic!("connect")
                };
                c.ping(&s).await.expect("pong");
                world.clock_jump(leader, 7_000, true).expect("jump");
                sleep(secs(1)).await;
                (s.id, c.ping(&s).await)
            })
            .await;
        assert_eq!(
            after_jump, None,
            "the session's connection was closed by its expiry"
        );
        assert_eq!(e.leader(), Some(leader), "the leader keeps its quorum");
        let lines = e.world.take_trace_lines();
        assert!(
            trace_time(
                &lines,
                &e.world.host_name(leader),
                &format!("session {session:#x} expired")
            )
            .is_some()
        );
    });
}
