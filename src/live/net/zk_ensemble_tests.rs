//! Three real ZooKeeper 3.8 servers whose every quorum and election connection goes through
//! the relays: they elect with rewritten handshakes, an isolated leader loses its quorum, and
//! the heal brings it back. Needs the Debian `zookeeper` package (fails, never skips, without
//! it, like the other live tests).

use super::*;
use crate::live::ports::{PortReservation, random_u64};
use crate::live::{EnsembleConfig, PeerRoute, RealEnsemble, ServerMode, ServerPorts};
use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

const SERVERS: usize = 3;

fn name(i: usize) -> String {
    format!("zk{}", i + 1)
}

fn local(port: u16) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, port))
}

/// Quorum and election relays between every ordered pair of servers, election handshakes
/// rewritten to the reverse relay.
fn routes(net: &Network, ports: &[ServerPorts]) -> PeerRoute {
    let mut quorum = BTreeMap::new();
    let mut election = BTreeMap::new();
    let advertise: Vec<ZkAdvertise> = (0..SERVERS).map(|_| ZkAdvertise::new()).collect();
    for i in 0..SERVERS {
        for j in (0..SERVERS).filter(|&j| j != i) {
            let (from, to) = (name(i), name(j));
            let q = net.relay(&from, &to, local(ports[j].quorum), RelayKind::Plain);
            quorum.insert((i, j), q.expect("quorum relay"));
            let kind = RelayKind::ZkElection {
                advertise: advertise[j].clone(),
            };
            let e = net.relay(&from, &to, local(ports[j].election), kind);
            election.insert((i, j), e.expect("election relay"));
        }
    }
    for &(i, j) in quorum.keys() {
        // Server j, answering a connection from server i (sid i + 1), dials back via (j -> i).
        advertise[j].set((i + 1) as i64, election[&(j, i)]);
    }
    Box::new(move |from, to, real_quorum, real_election| {
        (
            quorum.get(&(from, to)).copied().unwrap_or(real_quorum),
            election.get(&(from, to)).copied().unwrap_or(real_election),
        )
    })
}

#[test]
fn a_real_ensemble_elects_through_the_relays_and_a_partition_cuts_it() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let _entered = runtime.enter();
    let net = Network::new();
    let reservation = PortReservation::reserve(3 * SERVERS).expect("ports");
    let ports = ServerPorts::from_triples(&reservation.ports());
    let route = routes(&net, &ports);
    let root = std::env::temp_dir().join(format!("splitbrain-net-{:x}", random_u64()));
    reservation.release();
    let mut config = EnsembleConfig::with_servers(SERVERS);
    config.start_timeout = Duration::from_secs(90);
    let zk = RealEnsemble::launch_routed(config, root.clone(), ports, route).expect("launch");
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        check(&net, &zk);
    }));
    let logs = zk.log_tails();
    drop(zk);
    let _ = std::fs::remove_dir_all(&root);
    if let Err(panic) = outcome {
        eprintln!("{logs}");
        std::panic::resume_unwind(panic);
    }
}

fn check(net: &Network, zk: &RealEnsemble) {
    let long = Duration::from_secs(90);
    zk.wait_until_all_serving(long).expect("the ensemble forms");
    let counts = net.zk_rewrites();
    assert!(counts.rewritten > 0, "{counts:?}");
    assert_eq!(counts.unparsable + counts.unmapped, 0, "{counts:?}");

    // Cut the leader off both ways: it loses its quorum, the other two elect a new leader.
    let leader = zk.wait_for_leader(long).expect("a leader");
    let cut = LinkState {
        cut: true,
        ..LinkState::default()
    };
    for other in (0..SERVERS).filter(|&j| j != leader) {
        net.set_link(&name(leader), &name(other), cut);
        net.set_link(&name(other), &name(leader), cut);
    }
    zk.wait_for_mode(leader, ServerMode::NotServing, long)
        .expect("the isolated leader stops serving");
    let new_leader = zk.wait_for_leader(long).expect("a new leader");
    assert_ne!(new_leader, leader);
    assert_eq!(zk.mode(leader).expect("mode"), ServerMode::NotServing);
    println!(
        "leader {} isolated, {} elected; rewrites {counts:?}; {} -> {}: {:?}",
        name(leader),
        name(new_leader),
        name(leader),
        name(new_leader),
        net.counters(&name(leader), &name(new_leader)),
    );

    net.heal_all();
    zk.wait_until_all_serving(long)
        .expect("the ensemble is whole again after the heal");
}
