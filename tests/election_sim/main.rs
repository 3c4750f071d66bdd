//! The ZooKeeper master selector end to end in the simulator: a three-server ensemble spread
//! over dc1, dc2 and a tie-breaker site, one pair of nodes (node-a in dc1, node-b in dc2)
//! running the selector unchanged on their simulated hosts, faults from the world.
//!
//! Every node keeps a [`Ledger`] in true simulated time: when it started and stopped acting as
//! master (a term starts at Promoted, ends just before the Demoted acknowledgement, or at the
//! crash), and every write its master work sent to a fenced store that refuses tokens below the
//! highest it has seen. A node fences the store first thing when promoted. The checks:
//! - **2M**: no two terms of different nodes overlap (for faults where the selector can know);
//! - **SW**: every write the store accepted came from the newest term started by then;
//! - **NM**: a new master within a bound after the old one went;
//! - tokens of successive grants strictly increase.

mod harness;

use harness::*;
use splitbrain::election::{DemotionReason, Health, MasterSelector, Policy, Role, SelectorError};
use splitbrain::sim::clock::true_now;
use splitbrain::sim::net::NetConfig;
use splitbrain::sim::world::World;
use splitbrain::zk::client::ClientModel;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[test]
fn failover_on_master_crash() {
    each_seed(|| async {
        let p = Pair::start(
            spec("node-a", 5, Policy::Sticky),
            spec("node-b", 5, Policy::Sticky),
            true,
        )
        .await;
        assert_eq!(p.master().as_deref(), Some("node-a"));
        assert_eq!(*p.ctl_b.selector().role().borrow(), Role::Slave);
        p.world.crash(p.a, true).unwrap();
        let crashed = true_now();
        p.ledger.lock().unwrap().end_term("node-a");
        let promoted = p.until_master("node-b", FAILOVER_BOUND).await;
        // A hard crash leaves the session to expire: no earlier than T after the last touch.
        assert!(
            promoted - crashed >= SESSION - TICK,
            "{:?}",
            promoted - crashed
        );
        p.check();
    });
}

#[test]
fn hand_over_on_relinquish_waits_for_the_master_to_stop() {
    each_seed(|| async {
        let p = Pair::start(
            spec("node-a", 9, Policy::Sticky),
            spec("node-b", 1, Policy::Sticky),
            true,
        )
        .await;
        assert_eq!(p.master().as_deref(), Some("node-a"));
        *p.ctl_a.stop_delay.lock().unwrap() = secs(3);
        let asked = true_now();
        p.ctl_a.selector().relinquish().await.expect("relinquished");
        let done = true_now();
        assert!(
            done - asked >= secs(3),
            "relinquish returned before the work stopped"
        );
        let promoted = p.until_master("node-b", secs(5)).await;
        assert!(promoted >= asked + secs(3));
        assert_eq!(*p.ctl_a.selector().role().borrow(), Role::Withdrawn);
        // Rejoin: sticky, so b stays.
        p.ctl_a.selector().rejoin().unwrap();
        sleep(secs(5)).await;
        assert_eq!(p.master().as_deref(), Some("node-b"));
        assert_eq!(*p.ctl_a.selector().role().borrow(), Role::Slave);
        p.check();
    });
}

#[test]
fn pre_emption_on_higher_priority_join() {
    each_seed(|| async {
        let p = Pair::start(
            spec("node-a", 50, Policy::PreEmptive),
            spec("node-b", 2000, Policy::PreEmptive),
            false,
        )
        .await;
        assert_eq!(p.master().as_deref(), Some("node-a"));
        *p.ctl_a.stop_delay.lock().unwrap() = secs(1);
        p.world.start(p.b).unwrap();
        p.until_master("node-b", secs(10)).await;
        let l = p.ledger.lock().unwrap();
        assert!(
            l.demotions
                .iter()
                .any(|d| d.0 == "node-a" && d.1 == DemotionReason::PreEmpted)
        );
        drop(l);
        p.check();
    });
}

#[test]
fn withdrawal_on_health_failure_and_rejoin() {
    each_seed(|| async {
        let p = Pair::start(
            spec("node-a", 9, Policy::PreEmptive),
            spec("node-b", 1, Policy::PreEmptive),
            true,
        )
        .await;
        assert_eq!(p.master().as_deref(), Some("node-a"));
        p.ctl_a.health.send_replace(Health::Unhealthy);
        p.until_master("node-b", secs(5)).await;
        assert_eq!(*p.ctl_a.selector().role().borrow(), Role::Withdrawn);
        p.ctl_a.health.send_replace(Health::Healthy);
        p.until_master("node-a", secs(5)).await;
        p.check();
    });
}

#[test]
fn master_cut_from_zookeeper_stops_before_the_standby_starts() {
    each_seed(|| master_cut_from_zookeeper(ClientModel::Rust));
}

#[test]
fn master_cut_from_zookeeper_with_the_java_client_model() {
    each_seed(|| master_cut_from_zookeeper(ClientModel::Java));
}

async fn master_cut_from_zookeeper(model: ClientModel) {
    let with_model = |s: NodeSpec| NodeSpec { model, ..s };
    let p = Pair::start(
        with_model(spec("node-a", 5, Policy::Sticky)),
        with_model(spec("node-b", 5, Policy::Sticky)),
        true,
    )
    .await;
    assert_eq!(p.master().as_deref(), Some("node-a"));
    // a keeps its database (not networked here) but loses every ZooKeeper server.
    p.world.partition(&[p.a], &p.zk);
    let cut = true_now();
    p.until_master("node-b", FAILOVER_BOUND).await;
    {
        let l = p.ledger.lock().unwrap();
        let a_end = l.terms[0].end.expect("a stopped");
        // The crate notices silence after 2/5·T, Java after 2/3·T; the server expires a's
        // session no earlier than T after its last touch.
        let noticed_within = match model {
            ClientModel::Rust => SESSION / 2,
            ClientModel::Java => SESSION * 3 / 4,
        };
        assert!(
            a_end - cut <= noticed_within,
            "a stopped only after {:?}",
            a_end - cut
        );
        // Whichever notices first: the client's silence timer, or the lease (2/5·T from the
        // last confirmation sent before the cut).
        assert!(l.demotions.iter().any(|d| d.0 == "node-a"
            && matches!(
                d.1,
                DemotionReason::Disconnected | DemotionReason::LeaseExpired
            )));
    }
    p.world.heal();
    sleep(secs(20)).await;
    assert_eq!(p.master().as_deref(), Some("node-b"));
    assert_eq!(*p.ctl_a.selector().role().borrow(), Role::Slave);
    p.check();
}

#[test]
fn master_behind_a_zombie_follower_stops_before_the_standby_starts() {
    each_seed(|| async {
        // a outranks b, so it is master again whether or not its session survives the first cut.
        let p = Pair::start(
            spec("node-a", 9, Policy::PreEmptive),
            spec("node-b", 1, Policy::PreEmptive),
            true,
        )
        .await;
        assert_eq!(p.master().as_deref(), Some("node-a"));
        // a can reach zk1 only, and (re)claims through it.
        p.world.partition(&[p.a], &p.zk[1..]);
        sleep(secs(25)).await;
        assert_eq!(p.master().as_deref(), Some("node-a"));
        // zk1 loses the quorum but notices only after syncLimit·tickTime (10 s): until then it
        // answers a as connected, while the others expire a's session (6 s) and b claims.
        p.world.partition(&p.zk[..1], &p.zk[1..]);
        let cut = true_now();
        p.until_master("node-b", secs(30)).await;
        {
            let l = p.ledger.lock().unwrap();
            let a_end = l
                .terms
                .iter()
                .rev()
                .find(|t| t.node == "node-a")
                .and_then(|t| t.end)
                .expect("a stopped");
            // The lease is 2/5 of the session, counted from a confirmation sent before the cut.
            assert!(
                a_end - cut <= SESSION / 2,
                "a stopped only after {:?}",
                a_end - cut
            );
            assert!(
                l.demotions
                    .iter()
                    .any(|d| d.0 == "node-a" && d.1 == DemotionReason::LeaseExpired),
                "{:?}",
                l.demotions
            );
        }
        p.world.heal();
        sleep(secs(20)).await;
        // a, back in touch with the quorum, pre-empts b.
        assert_eq!(p.master().as_deref(), Some("node-a"));
        p.check();
    });
}

#[test]
fn pause_longer_than_the_session_never_lets_a_stale_write_through() {
    each_seed(|| async {
        let p = Pair::start(
            spec("node-a", 5, Policy::Sticky),
            spec("node-b", 5, Policy::Sticky),
            true,
        )
        .await;
        assert_eq!(p.master().as_deref(), Some("node-a"));
        p.world.pause(p.a).unwrap();
        // While a is paused it still believes it is master (it cannot run): b takes over after
        // the session expires, and fences the store.
        let b_start = {
            let deadline = true_now() + FAILOVER_BOUND;
            loop {
                let started = p
                    .ledger
                    .lock()
                    .unwrap()
                    .terms
                    .iter()
                    .find(|t| t.node == "node-b")
                    .map(|t| t.start);
                if let Some(s) = started {
                    break s;
                }
                assert!(true_now() < deadline, "b never took over");
                sleep(Duration::from_millis(50)).await;
            }
        };
        sleep(secs(3)).await;
        p.world.resume(p.a).unwrap();
        sleep(secs(10)).await;
        // a stopped once it ran again; every write it made after b's grant was refused.
        assert_eq!(p.master().as_deref(), Some("node-b"));
        let l = p.ledger.lock().unwrap();
        assert!(
            l.writes
                .iter()
                .filter(|w| w.node == "node-a" && w.at > b_start)
                .all(|w| !w.accepted)
        );
        drop(l);
        // Terms overlap in belief here (a was frozen); only fencing keeps the store safe.
        p.ledger.lock().unwrap().check_fencing();
    });
}

#[test]
fn same_seed_same_history() {
    let run = || {
        let out = Arc::new(Mutex::new(Vec::new()));
        let sink = out.clone();
        sim(7, move || async move {
            let p = Pair::start(
                spec("node-a", 5, Policy::PreEmptive),
                spec("node-b", 7, Policy::PreEmptive),
                true,
            )
            .await;
            p.world.crash(p.b, true).unwrap();
            p.ledger.lock().unwrap().end_term("node-b");
            sleep(secs(15)).await;
            let l = p.ledger.lock().unwrap();
            *sink.lock().unwrap() = l
                .terms
                .iter()
                .map(|t| (t.node.clone(), t.token, t.start))
                .collect::<Vec<_>>();
        });
        Arc::try_unwrap(out).unwrap().into_inner().unwrap()
    };
    let first = run();
    assert!(first.len() >= 2, "{first:?}");
    assert_eq!(first, run());
}

#[test]
fn restarted_master_waits_out_its_old_session() {
    each_seed(|| async {
        let p = Pair::start(
            spec("node-a", 9, Policy::PreEmptive),
            spec("node-b", 1, Policy::PreEmptive),
            true,
        )
        .await;
        assert_eq!(p.master().as_deref(), Some("node-a"));
        // Power loss and an immediate restart: the old session's candidacy lingers until the
        // ensemble expires it; the new incarnation must not adopt it (other session).
        p.world.crash(p.a, true).unwrap();
        let crashed = true_now();
        p.ledger.lock().unwrap().end_term("node-a");
        p.world.start(p.a).unwrap();
        sleep(secs(3)).await;
        assert_eq!(
            p.master(),
            None,
            "nobody may lead while a's old session may be alive"
        );
        // After expiry a (preferred, pre-emptive) leads again under a new session.
        let promoted = p.until_master("node-a", FAILOVER_BOUND + secs(5)).await;
        assert!(promoted - crashed >= SESSION - TICK);
        p.check();
    });
}

#[test]
fn zookeeper_leader_crash_keeps_one_master_and_increasing_tokens() {
    each_seed(|| async {
        let p = Pair::start(
            java(spec("node-a", 5, Policy::Sticky)),
            spec("node-b", 5, Policy::Sticky),
            true,
        )
        .await;
        assert_eq!(p.master().as_deref(), Some("node-a"));
        let leaders = p.world.hosts_with_role("leading");
        assert_eq!(leaders.len(), 1, "one ZooKeeper leader");
        p.world.crash(leaders[0], true).unwrap();
        // Re-election, session revalidation, and whatever demotions the disconnections cause.
        sleep(secs(30)).await;
        assert!(p.master().is_some(), "{:#?}", p.ledger.lock().unwrap());
        // Force a grant in the new epoch: its token's epoch half is greater.
        let first = p.ledger.lock().unwrap().terms[0].token;
        let holder = if p.master().as_deref() == Some("node-a") {
            &p.ctl_a
        } else {
            &p.ctl_b
        };
        holder.selector().relinquish().await.expect("relinquished");
        sleep(secs(5)).await;
        let last = p.ledger.lock().unwrap().terms.last().unwrap().token;
        assert!(
            last.value() >> 32 > first.value() >> 32,
            "{first} then {last}"
        );
        p.check();
    });
}

/// One ensemble serving 100 pairs: every pair settles on one master, a quiet ensemble sees no
/// reads at all, and a failover in one pair wakes only that pair's standby (no herd).
#[test]
fn one_ensemble_serves_a_hundred_pairs_without_herds() {
    const PAIRS: usize = 100;
    sim(9, || async {
        let world = World::new(NetConfig::default(), false);
        let (_zk, servers) = start_ensemble(&world);
        let mut pairs = Vec::new();
        for i in 0..PAIRS {
            let ledger = SharedLedger::default();
            let mut hosts = Vec::new();
            for (name, priority, site) in [("node-a", 9, "dc1"), ("node-b", 1, "dc2")] {
                let host = world.add_host(&format!("p{i:03}-{name}"), site);
                let node = NodeSpec {
                    pair: format!("pair-{i:03}"),
                    ..spec(name, priority, Policy::PreEmptive)
                };
                world.set_process(
                    host,
                    node_process(node, servers.clone(), ledger.clone(), Control::new()),
                );
                hosts.push(host);
            }
            pairs.push((ledger, hosts));
        }
        sleep(secs(5)).await;
        for (_, hosts) in &pairs {
            for host in hosts {
                world.start(*host).unwrap();
            }
        }
        sleep(secs(20)).await;
        for (ledger, _) in &pairs {
            assert_eq!(ledger.lock().unwrap().master(), Some("node-a"));
        }
        // Quiet: watches only, no polling (the 60 s recheck has not come round yet); the only
        // requests are the masters' lease renewals, one sync per lease/4 (2/5·T / 4).
        let syncs = || world.metric("client.syncs");
        let ops = || world.metric("client.ops_ok") + world.metric("client.ops_failed") - syncs();
        let (before, syncs_before) = (ops(), syncs());
        sleep(secs(20)).await;
        assert_eq!(ops(), before, "reads on a quiet ensemble");
        let renew_every = SESSION * 2 / 5 / 4;
        let renewals = syncs() - syncs_before;
        let per_master = (secs(20).as_millis() / renew_every.as_millis()) as u64;
        assert!(
            renewals <= PAIRS as u64 * (per_master + 1),
            "{renewals} lease renewals in 20 s for {PAIRS} masters"
        );
        // One pair fails over: its standby (and nobody else) re-reads and claims.
        let (ledger, hosts) = &pairs[42];
        world.crash(hosts[0], false).unwrap();
        ledger.lock().unwrap().end_term("node-a");
        sleep(secs(15)).await;
        assert_eq!(ledger.lock().unwrap().master(), Some("node-b"));
        let failover_ops = ops() - before;
        assert!(
            failover_ops <= 20,
            "{failover_ops} operations for one pair's failover"
        );
        for (ledger, _) in &pairs {
            let l = ledger.lock().unwrap();
            l.check_no_overlap();
            l.check_fencing();
        }
    });
}

#[test]
fn shutdown_hands_over_without_waiting_for_expiry() {
    each_seed(|| async {
        let p = Pair::start(
            spec("node-a", 5, Policy::Sticky),
            spec("node-b", 5, Policy::Sticky),
            true,
        )
        .await;
        assert_eq!(p.master().as_deref(), Some("node-a"));
        let selector = p.ctl_a.selector();
        selector.shutdown().await.expect("shut down");
        assert_eq!(*selector.role().borrow(), Role::Withdrawn);
        // The session was closed, not left to expire: b takes over well within T.
        p.until_master("node-b", SESSION / 2).await;
        assert_eq!(selector.relinquish().await, Err(SelectorError::Stopped));
        assert_eq!(selector.rejoin(), Err(SelectorError::Stopped));
        p.check();
    });
}
