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
