//! End-to-end tests of the server in a simulated world, through the raw client protocol.

use super::testkit::*;
use crate::zk::proto::{ClientOp, OpReply};
use crate::zk::types::{CreateMode, ErrorCode};
use std::time::Duration;

fn sim<F: std::future::Future<Output = ()>>(seed: u64, f: impl FnOnce() -> F) {
    let rt = madsim::runtime::Runtime::with_seed_and_config(seed, madsim::Config::default());
    rt.block_on(f());
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

#[test]
fn three_voters_elect_exactly_one_leader() {
    sim(1, || async {
        let e = Ensemble::start(3, 0, false);
        sleep(secs(5)).await;
        assert!(e.leader().is_some(), "one leader");
        assert_eq!(e.followers().len(), 2);
        assert_eq!(e.world.metric("zk.leader_changes"), 1);
        let servers = e.servers.clone();
        let probes = e
            .run_client(move |ctx| async move {
                let mut c = RawClient::new(&ctx);
                let mut out = Vec::new();
                for s in servers {
                    out.push(c.probe(s).await.expect("probe answered"));
                }
                out
            })
            .await;
        assert!(probes.iter().all(|p| p.serving && p.current_epoch == 1));
    });
}

#[test]
fn writes_commit_and_every_replica_converges() {
    sim(2, || async {
        let e = Ensemble::start(3, 0, false);
        sleep(secs(5)).await;
        let follower = e.followers()[0];
        let servers = e.servers.clone();
        let probes = e
            .run_client(move |ctx| async move {
                let mut c = RawClient::new(&ctx);
                let ConnectOutcome::Connected(s) = c.connect(follower, 6000).await else {
                    panic!("follower accepts the session")
                };
                let (err, reply, _) = c.op(&s, create("/a", b"1", CreateMode::Persistent)).await.expect("reply");
                assert_eq!(err, ErrorCode::Ok);
                assert!(matches!(reply, OpReply::Create { ref path, .. } if path == "/a"));
                for i in 0..20 {
                    let op = ClientOp::SetData { path: "/a".into(), data: vec![i], version: -1 };
                    assert_eq!(c.op(&s, op).await.expect("reply").0, ErrorCode::Ok);
                }
                let (err, reply, _) = c.op(&s, get("/a")).await.expect("reply");
                assert_eq!(err, ErrorCode::Ok);
                assert!(matches!(reply, OpReply::Data { ref data, ref stat } if data == &[19] && stat.version == 20));
                // Failed writes still get their answer, in order.
                let (err, _, _) = c.op(&s, create("/a", b"", CreateMode::Persistent)).await.expect("reply");
                assert_eq!(err, ErrorCode::NodeExists);
                sleep(secs(1)).await;
                let mut probes = Vec::new();
                for srv in servers {
                    probes.push(c.probe(srv).await.expect("probe"));
                }
                probes
            })
            .await;
        let first = &probes[0];
        assert!(
            probes
                .iter()
                .all(|p| p.digest == first.digest && p.last_zxid == first.last_zxid)
        );
        assert!(first.last_zxid > 20);
    });
}

#[test]
fn leader_crash_brings_a_higher_epoch_and_committed_data_survives() {
    sim(3, || async {
        let e = Ensemble::start(3, 0, true);
        sleep(secs(5)).await;
        let old = e.leader().expect("leader");
        let follower = e.followers()[0];
        let world = e.world.clone();
        let (epoch_before, epoch_after, data) = e
            .run_client(move |ctx| async move {
                let mut c = RawClient::new(&ctx);
                let before = c.probe(old).await.expect("probe").current_epoch;
                let ConnectOutcome::Connected(s) = c.connect(follower, 6000).await else {
                    panic!("connect")
                };
                assert_eq!(
                    c.op(&s, create("/kept", b"x", CreateMode::Persistent))
                        .await
                        .expect("reply")
                        .0,
                    ErrorCode::Ok
                );
                world.crash(old, false).expect("crash");
                sleep(secs(5)).await;
                let leader = world.hosts_with_role("leading")[0];
                let after = c.probe(leader).await.expect("probe").current_epoch;
                let ConnectOutcome::Connected(s2) = c.connect(leader, 6000).await else {
                    print_trace(&world);
                    panic!("connect")
                };
                let (_, reply, _) = c.op(&s2, get("/kept")).await.expect("reply");
                (before, after, reply)
            })
            .await;
        assert!(epoch_after > epoch_before);
        assert!(matches!(data, OpReply::Data { ref data, .. } if data == b"x"));
        assert_eq!(e.world.metric("zk.leader_changes"), 2);
    });
}

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

/// True time of the first kept trace line on `host` whose text contains `needle`.
fn trace_time(
    lines: &[crate::sim::trace::TraceLine],
    host: &str,
    needle: &str,
) -> Option<Duration> {
    lines
        .iter()
        .find(|l| l.host == host && l.text.contains(needle))
        .map(|l| l.at)
}

#[test]
fn restarted_servers_catch_up_by_diff_and_by_snap() {
    sim(6, || async {
        let e = Ensemble::start(3, 0, true);
        sleep(secs(5)).await;
        let f = e.followers()[0];
        let leader = e.leader().expect("leader");
        let world = e.world.clone();
        let servers = e.servers.clone();
        let probes = e
            .run_client(move |ctx| async move {
                let mut c = RawClient::new(&ctx);
                let ConnectOutcome::Connected(s) = c.connect(leader, 6000).await else {
                    panic!("connect")
                };
                c.op(&s, create("/d", b"", CreateMode::Persistent))
                    .await
                    .expect("reply");
                world.crash(f, false).expect("crash");
                for i in 0..10 {
                    c.op(&s, create(&format!("/d/{i}"), b"", CreateMode::Persistent))
                        .await
                        .expect("reply");
                }
                world.start(f).expect("restart");
                sleep(secs(3)).await;
                world.wipe(f).expect("wipe");
                c.op(&s, create("/after-wipe", b"", CreateMode::Persistent))
                    .await
                    .expect("reply");
                world.start(f).expect("restart");
                sleep(secs(3)).await;
                let mut probes = Vec::new();
                for srv in servers {
                    probes.push(c.probe(srv).await.expect("probe"));
                }
                probes
            })
            .await;
        let lines = e.world.take_trace_lines();
        let lname = e.world.host_name(leader);
        let sid = e.servers.iter().position(|h| *h == f).expect("member") + 1;
        assert!(
            trace_time(
                &lines,
                &lname,
                &format!("syncing server {sid} from 0x1000000")
            )
            .is_some()
        );
        assert!(
            lines
                .iter()
                .any(|l| l.text.contains(&format!("syncing server {sid}"))
                    && l.text.contains("DIFF of 10"))
        );
        assert!(lines.iter().any(|l| {
            l.text
                .contains(&format!("syncing server {sid} from 0x0: SNAP"))
        }));
        assert!(probes.iter().all(|p| p.serving
            && p.digest == probes[0].digest
            && p.last_zxid == probes[0].last_zxid));
    });
}

#[test]
fn an_isolated_minority_server_refuses_clients() {
    sim(7, || async {
        let e = Ensemble::start(3, 0, false);
        let f = e.servers[0];
        let early = e
            .run_client(move |ctx| async move { RawClient::new(&ctx).connect(f, 6000).await })
            .await;
        assert_eq!(early, ConnectOutcome::Closed, "no quorum yet");
        sleep(secs(5)).await;
        let f = e.followers()[0];
        let others: Vec<_> = e.servers.iter().copied().filter(|h| *h != f).collect();
        e.world.partition(&[f], &others);
        sleep(TICK * 5 + TICK).await;
        assert_eq!(e.world.role(f).as_deref(), Some("looking"));
        let refused = e
            .run_client(move |ctx| async move { RawClient::new(&ctx).connect(f, 6000).await })
            .await;
        assert_eq!(refused, ConnectOutcome::Closed);
        assert!(e.leader().is_some(), "the majority keeps its leader");
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
fn a_partitioned_leader_abdicates_within_sync_limit() {
    sim(10, || async {
        let e = Ensemble::start(3, 0, true);
        sleep(secs(5)).await;
        let leader = e.leader().expect("leader");
        let others: Vec<_> = e.servers.iter().copied().filter(|h| *h != leader).collect();
        let world = e.world.clone();
        let (cut, closed) = e
            .run_client(move |ctx| async move {
                let mut c = RawClient::new(&ctx);
                let ConnectOutcome::Connected(s) = c.connect(leader, 30_000).await else {
                    panic!("connect")
                };
                let cut = crate::sim::clock::true_now();
                world.partition(&[leader], &others);
                let closed = c.next_on(s.conn, secs(30)).await;
                (cut, closed)
            })
            .await;
        assert_eq!(closed, Some(crate::zk::proto::ResponseBody::Close));
        let lines = e.world.take_trace_lines();
        let at = trace_time(&lines, &e.world.host_name(leader), "abdicating").expect("abdicated");
        assert!(
            at >= cut + TICK * 5 - TICK / 2,
            "abdicated {at:?} too early"
        );
        assert!(at <= cut + TICK * 6, "abdicated {at:?} too late");
        sleep(secs(15)).await;
        let new = e.leader().expect("majority elects a new leader");
        assert_ne!(new, leader);
    });
}

#[test]
fn observers_follow_serve_and_never_lead() {
    sim(11, || async {
        let e = Ensemble::start(3, 1, false);
        sleep(secs(5)).await;
        let observer = e.servers[3];
        assert_eq!(e.world.role(observer).as_deref(), Some("observing"));
        let world = e.world.clone();
        let servers = e.servers.clone();
        let probes = e
            .run_client(move |ctx| async move {
                let mut c = RawClient::new(&ctx);
                for round in 0..3 {
                    let ConnectOutcome::Connected(s) = c.connect(observer, 6000).await else {
                        panic!("connect")
                    };
                    let (err, _, _) = c
                        .op(
                            &s,
                            create(&format!("/o{round}"), b"", CreateMode::Persistent),
                        )
                        .await
                        .expect("reply");
                    assert_eq!(err, ErrorCode::Ok);
                    let leader = world.hosts_with_role("leading")[0];
                    world.crash(leader, false).expect("crash");
                    sleep(secs(6)).await;
                    assert_ne!(world.role(observer).as_deref(), Some("leading"));
                    world.start(leader).expect("restart");
                    sleep(secs(6)).await;
                }
                let mut probes = Vec::new();
                for srv in servers {
                    probes.push(c.probe(srv).await.expect("probe"));
                }
                probes
            })
            .await;
        assert!(probes.iter().all(|p| p.digest == probes[0].digest));
        assert_eq!(probes[3].state, crate::zk::peer::PeerState::Observing);
    });
}

#[test]
fn same_seed_gives_the_same_trace_hash() {
    fn run(seed: u64) -> u64 {
        let rt = madsim::runtime::Runtime::with_seed_and_config(seed, madsim::Config::default());
        rt.block_on(async {
            let e = Ensemble::start(3, 0, false);
            sleep(secs(3)).await;
            let leader = e.leader().expect("leader");
            let world = e.world.clone();
            e.run_client(move |ctx| async move {
                let mut c = RawClient::new(&ctx);
                let ConnectOutcome::Connected(s) = c.connect(leader, 6000).await else {
                    panic!("connect")
                };
                c.op(&s, create("/x", b"", CreateMode::Ephemeral))
                    .await
                    .expect("reply");
                world.crash(leader, false).expect("crash");
                sleep(secs(20)).await;
            })
            .await;
            e.world.trace_hash()
        })
    }
    assert_eq!(run(42), run(42));
    assert_ne!(run(42), run(43));
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
