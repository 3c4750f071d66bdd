//! Election, Zab sync and broadcast, abdication, observers, determinism.

use super::*;
use crate::zk::proto::{ClientOp, OpReply};
use crate::zk::server::testkit::*;
use crate::zk::types::{CreateMode, ErrorCode};

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
        crate::sim::run_seeded(seed, || async {
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
fn a_deposed_leader_truncates_its_uncommitted_txn_when_it_rejoins() {
    sim(13, || async {
        let e = Ensemble::start(3, 0, true);
        sleep(secs(5)).await;
        let old = e.leader().expect("leader");
        let others: Vec<_> = e.servers.iter().copied().filter(|h| *h != old).collect();
        let world = e.world.clone();
        let servers = e.servers.clone();
        let (lost_write, probes) = e
            .run_client(move |ctx| async move {
                let mut c = RawClient::new(&ctx);
                let ConnectOutcome::Connected(s) = c.connect(old, 30_000).await else {
                    panic!("connect")
                };
                world.partition(&[old], &others);
                // Logged on the old leader only: it can never commit.
                let xid = 77;
                c.send(
                    old,
                    s.conn,
                    crate::zk::proto::RequestBody::Op {
                        xid,
                        op: create("/lost", b"", CreateMode::Persistent),
                    },
                );
                let lost = c.next_on(s.conn, secs(30)).await;
                sleep(secs(15)).await;
                let leader = world.hosts_with_role("leading")[0];
                let ConnectOutcome::Connected(s2) = c.connect(leader, 6000).await else {
                    panic!("connect")
                };
                c.op(&s2, create("/kept", b"", CreateMode::Persistent))
                    .await
                    .expect("reply");
                world.heal();
                sleep(secs(10)).await;
                let mut probes = Vec::new();
                for srv in servers {
                    probes.push(c.probe(srv).await.expect("probe"));
                }
                (lost, probes)
            })
            .await;
        assert_eq!(
            lost_write,
            Some(crate::zk::proto::ResponseBody::Close),
            "the write's connection dies with the leader"
        );
        let lines = e.world.take_trace_lines();
        let sid = e.servers.iter().position(|h| *h == old).expect("member") + 1;
        assert!(
            lines
                .iter()
                .any(|l| l.text.contains(&format!("syncing server {sid}"))
                    && l.text.contains("TRUNC")),
            "the old leader is told to truncate"
        );
        assert!(probes.iter().all(|p| p.serving
            && p.digest == probes[0].digest
            && p.last_zxid == probes[0].last_zxid));
    });
}

#[test]
fn a_paused_leader_is_replaced_and_steps_down_when_it_resumes() {
    sim(18, || async {
        let e = Ensemble::start(3, 0, true);
        sleep(secs(5)).await;
        let old = e.leader().expect("leader");
        e.world.pause(old).expect("pause");
        sleep(secs(15)).await;
        // The paused process still believes it leads: two hosts announce "leading".
        let leading = e.world.hosts_with_role("leading");
        assert_eq!(leading.len(), 2);
        let new = leading
            .into_iter()
            .find(|h| *h != old)
            .expect("the others elect a leader");
        e.world.resume(old).expect("resume");
        sleep(secs(5)).await;
        assert_eq!(e.leader(), Some(new));
        assert_eq!(e.world.role(old).as_deref(), Some("following"));
        let lines = e.world.take_trace_lines();
        assert!(trace_time(&lines, &e.world.host_name(old), "abdicating").is_some());
    });
}

#[test]
fn a_follower_the_leader_cannot_hear_is_dropped_after_its_read_timeout() {
    sim(19, || async {
        let e = Ensemble::start(3, 0, true);
        sleep(secs(5)).await;
        let leader = e.leader().expect("leader");
        let f = e.followers()[0];
        // f still hears the leader's pings, but nothing of f reaches the leader.
        e.world.partition_oneway(&[f], &[leader]);
        sleep(TICK * 5 + TICK).await;
        assert_eq!(e.world.role(f).as_deref(), Some("looking"));
        assert_eq!(
            e.leader(),
            Some(leader),
            "the other follower keeps the quorum"
        );
        let lines = e.world.take_trace_lines();
        let sid = e.servers.iter().position(|h| *h == f).expect("member") + 1;
        assert!(
            trace_time(
                &lines,
                &e.world.host_name(leader),
                &format!("dropping server {sid}")
            )
            .is_some()
        );
    });
}

#[test]
fn a_full_ensemble_restart_keeps_data_and_sessions_until_they_expire() {
    sim(21, || async {
        let e = Ensemble::start(3, 0, true);
        sleep(secs(5)).await;
        let leader = e.leader().expect("leader");
        let session = e
            .run_client(move |ctx| async move {
                let mut c = RawClient::new(&ctx);
                let ConnectOutcome::Connected(s) = c.connect(leader, 10_000).await else {
                    panic!("connect")
                };
                let (err, _, _) = c
                    .op(&s, create("/eph", b"", CreateMode::Ephemeral))
                    .await
                    .expect("reply");
                assert_eq!(err, ErrorCode::Ok);
                s.id
            })
            .await;
        for h in &e.servers {
            e.world.crash(*h, true).expect("power loss");
        }
        // The client host goes away too, so nobody touches the session again.
        e.world.crash(e.app, true).expect("app down");
        sleep(secs(30)).await;
        for h in &e.servers {
            e.world.start(*h).expect("start");
        }
        sleep(secs(3)).await;
        let leader = e.leader().expect("a leader after the restart");
        let servers = e.servers.clone();
        let (before, probes) = e
            .run_client(move |ctx| async move {
                let mut c = RawClient::new(&ctx);
                let ConnectOutcome::Connected(s) = c.connect(leader, 10_000).await else {
                    panic!("connect")
                };
                let before = c
                    .op(
                        &s,
                        ClientOp::Exists {
                            path: "/eph".into(),
                            watch: false,
                        },
                    )
                    .await
                    .expect("reply")
                    .1;
                sleep(secs(15)).await;
                let mut probes = Vec::new();
                for srv in servers {
                    probes.push(c.probe(srv).await.expect("probe"));
                }
                (before, probes)
            })
            .await;
        assert!(
            matches!(before, OpReply::Exists(Some(_))),
            "the session and its ephemeral survived the restart"
        );
        let lines = e.world.take_trace_lines();
        let name = e.world.host_name(leader);
        assert!(trace_time(&lines, &name, &format!("session {session:#x} expired")).is_some());
        assert!(
            probes
                .iter()
                .all(|p| p.current_epoch == 2 && p.digest == probes[0].digest)
        );
    });
}

/// Crashes, restarts, pauses, partitions and clock faults at random while a client writes; after
/// healing, the ensemble converges and keeps every write it acknowledged.
fn random_faults_run(seed: u64) {
    use madsim::rand::Rng;
    sim(seed, || async move {
        let e = Ensemble::start(5, 1, true);
        sleep(secs(3)).await;
        let servers = e.servers.clone();
        let world = e.world.clone();
        let writer_servers = servers.clone();
        let faults = {
            let world = world.clone();
            let servers = servers.clone();
            madsim::task::spawn(async move {
                for _ in 0..40 {
                    sleep(Duration::from_millis(
                        madsim::rand::thread_rng().gen_range(500..6000),
                    ))
                    .await;
                    let target = servers[madsim::rand::thread_rng().gen_range(0..servers.len())];
                    let others: Vec<_> = servers.iter().copied().filter(|h| *h != target).collect();
                    match madsim::rand::thread_rng().gen_range(0..8) {
                        6 => {
                            let rate = madsim::rand::thread_rng().gen_range(0.5..2.0);
                            let _ = world.clock_drift(target, rate);
                        }
                        7 => {
                            let jump = madsim::rand::thread_rng().gen_range(0..20_000);
                            let _ = world.clock_jump(target, jump, true);
                        }
                        0 => {
                            let _ = world.crash(target, false);
                        }
                        1 => {
                            let _ = world.crash(target, true);
                        }
                        2 => {
                            let _ = world.start(target);
                        }
                        3 => world.partition(&[target], &others),
                        4 => {
                            let _ = world.pause(target);
                            sleep(secs(3)).await;
                            let _ = world.resume(target);
                        }
                        _ => world.heal(),
                    }
                }
                world.heal();
                for h in servers {
                    world.clock_reset(h);
                    let _ = world.resume(h);
                    let _ = world.start(h);
                }
            })
        };
        let (acked, probes, missing) = e
            .run_client(move |ctx| async move {
                let mut c = RawClient::new(&ctx);
                let mut acked = Vec::new();
                let mut session: Option<Session> = None;
                let mut i = 0u32;
                let start = crate::sim::clock::true_now();
                while crate::sim::clock::true_now() < start + secs(150) {
                    let s = match session {
                        Some(s) => s,
                        None => {
                            let srv = writer_servers
                                [madsim::rand::thread_rng().gen_range(0..writer_servers.len())];
                            match c.connect(srv, 6000).await {
                                ConnectOutcome::Connected(s) => s,
                                _ => {
                                    sleep(Duration::from_millis(300)).await;
                                    continue;
                                }
                            }
                        }
                    };
                    session = Some(s);
                    let path = format!("/k{i}");
                    match c.op(&s, create(&path, b"", CreateMode::Persistent)).await {
                        Some((ErrorCode::Ok, _, _)) => {
                            acked.push(path);
                            i += 1;
                        }
                        Some((ErrorCode::NodeExists, _, _)) => i += 1,
                        Some(_) => {}
                        None => session = None,
                    }
                }
                // A looking observer learns of the new leader only when it asks again, and its
                // notification timeout may have backed off to 60 s.
                sleep(secs(90)).await;
                let mut probes = Vec::new();
                for srv in &writer_servers {
                    probes.push(c.probe(*srv).await);
                }
                let mut missing = Vec::new();
                let reader = loop {
                    let srv = writer_servers[0];
                    if let ConnectOutcome::Connected(s) = c.connect(srv, 6000).await {
                        break s;
                    }
                    sleep(secs(1)).await;
                };
                for path in &acked {
                    let op = ClientOp::Exists {
                        path: path.clone(),
                        watch: false,
                    };
                    if !matches!(c.op(&reader, op).await, Some((ErrorCode::Ok, _, _))) {
                        missing.push(path.clone());
                    }
                }
                (acked, probes, missing)
            })
            .await;
        faults.await.expect("faults ran");
        assert!(!acked.is_empty(), "seed {seed}: some writes went through");
        assert!(
            missing.is_empty(),
            "seed {seed}: acknowledged writes lost: {missing:?}"
        );
        let probes: Vec<_> = probes.into_iter().map(|p| p.expect("probe")).collect();
        assert!(
            probes.iter().all(|p| p.serving),
            "seed {seed}: all serving: {probes:?}"
        );
        assert!(
            probes
                .iter()
                .all(|p| p.digest == probes[0].digest && p.last_zxid == probes[0].last_zxid),
            "seed {seed}: replicas converge: {probes:?}"
        );
        assert_eq!(e.world.hosts_with_role("leading").len(), 1, "seed {seed}");
        // Zab: one established leader per epoch, ever.
        let mut epochs = std::collections::BTreeMap::new();
        for line in e.world.take_trace_lines() {
            if let Some(rest) = line.text.strip_prefix("leader established: epoch ") {
                let epoch: u32 = rest
                    .split(',')
                    .next()
                    .and_then(|n| n.parse().ok())
                    .expect("epoch");
                if let Some(other) = epochs.insert(epoch, line.host.clone()) {
                    panic!(
                        "seed {seed}: epoch {epoch} led by {other} and {}",
                        line.host
                    );
                }
            }
        }
        assert!(!epochs.is_empty());
    });
}

#[test]
fn random_faults_never_lose_acknowledged_writes() {
    for seed in 100..108 {
        random_faults_run(seed);
    }
}

#[test]
fn restarted_peers_hear_a_lone_looking_servers_vote_at_once() {
    sim(22, || async {
        let e = Ensemble::start(3, 0, true);
        let (zk1, zk2, zk3) = (e.servers[0], e.servers[1], e.servers[2]);
        e.world.crash(zk1, true).expect("down");
        e.world.crash(zk2, true).expect("down");
        // zk3 looks alone long enough for its notification timeout to back off past 30 s.
        sleep(secs(90)).await;
        e.world.start(zk1).expect("start");
        e.world.start(zk2).expect("start");
        sleep(secs(2)).await;
        // zk3's vote (largest id, same history) wins because the new connections carry it.
        assert_eq!(e.leader(), Some(zk3));
        assert_eq!(e.followers().len(), 2);
    });
}
