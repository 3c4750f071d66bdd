//! The worlds chaos draws: a small family that covers what the platform runs. Three sites
//! (dc1, dc2, tiebreaker); a 3-voter ensemble, sometimes 5 voters or an observer; one to three
//! hot/cold pairs under either policy, with priorities that include the awkward ones (9/10,
//! 50/2000, equal); databases in every mode, sometimes slow or with a run-once guard; either
//! client model; session timeouts from 4 to 20 s.

use crate::election::{ElectionCode, Policy};
use crate::sim::topology::{
    DatabaseMode, DatabaseSpec, NodeSpec, PairSpec, RunOnceSpec, SiteLatency, Topology,
    ZkServerSpec, ZkSpec,
};
use crate::zk::client::ClientModel;
use proptest::prelude::*;
use std::time::Duration;

pub(super) const SITES: [&str; 3] = ["dc1", "dc2", "tiebreaker"];
const PAIR_NAMES: [&str; 3] = ["bank", "ledger", "orders"];
const NODE_PREFIXES: [&str; 3] = ["a", "b", "c"];

/// Priorities of the two nodes: ordinary ones, ones that sort differently as text (9/10,
/// 50/2000, the catalogue's P3) and equal ones (P4).
const PRIORITIES: [(u32, u32); 9] = [
    (100, 50),
    (50, 100),
    (2000, 50),
    (50, 2000),
    (10, 9),
    (9, 10),
    (100, 100),
    (50, 50),
    (1, 0),
];

/// Priorities an operator may set (`set-priority`), from the same awkward family.
pub(super) const SET_PRIORITIES: [u32; 8] = [0, 1, 9, 10, 50, 100, 2000, 100];

/// Time a database takes to apply a write: mostly quick, sometimes a long transaction (the
/// slow commits of P5, P7 and P8).
const WRITE_LATENCIES_MS: [u64; 6] = [2, 2, 2, 20, 50, 80];

fn ms(millis: u64) -> Duration {
    Duration::from_millis(millis)
}

/// How the two nodes of a pair are placed: apart (the usual case) or both in one DC.
#[derive(Clone, Copy, Debug)]
enum Placement {
    Apart,
    Reversed,
    BothIn(usize),
}

#[derive(Clone, Debug)]
struct PairDraw {
    policy: Policy,
    priorities: (u32, u32),
    placement: Placement,
    mode: DatabaseMode,
    db_site: usize,
    write_latency_ms: u64,
    run_once: Option<(u64, u64)>,
}

fn pair_draw() -> impl Strategy<Value = PairDraw> {
    let policy = prop_oneof![Just(Policy::PreEmptive), Just(Policy::Sticky)];
    let placement = prop_oneof![
        6 => Just(Placement::Apart),
        2 => Just(Placement::Reversed),
        1 => (0..2usize).prop_map(Placement::BothIn),
    ];
    let mode = prop_oneof![
        2 => Just(DatabaseMode::Single),
        1 => Just(DatabaseMode::PrimaryReplica),
        1 => Just(DatabaseMode::MultiMaster),
    ];
    let run_once = prop_oneof![
        5 => Just(None),
        1 => (1..=3u64, 5..=20u64).prop_map(|(u, w)| Some((u * 1000, w * 1000))),
    ];
    (
        policy,
        proptest::sample::select(&PRIORITIES[..]),
        placement,
        mode,
        0..SITES.len(),
        proptest::sample::select(&WRITE_LATENCIES_MS[..]),
        run_once,
    )
        .prop_map(
            |(policy, priorities, placement, mode, db_site, write_latency_ms, run_once)| PairDraw {
                policy,
                priorities,
                placement,
                mode,
                db_site,
                write_latency_ms,
                run_once,
            },
        )
}

fn pair(index: usize, draw: &PairDraw) -> PairSpec {
    let prefix = NODE_PREFIXES[index];
    let (first_site, second_site) = match draw.placement {
        Placement::Apart => (0, 1),
        Placement::Reversed => (1, 0),
        Placement::BothIn(site) => (site, site),
    };
    let node = |n: usize, site: usize, priority: u32| NodeSpec {
        name: format!("{prefix}{n}"),
        site: SITES[site].to_string(),
        priority,
        policy: draw.policy,
    };
    // The replica (or second member) lives in the other DC (or dc1 when the primary is in
    // the tie-breaker).
    let replica_site = (draw.mode != DatabaseMode::Single).then(|| {
        let site = if draw.db_site == 0 { 1 } else { 0 };
        SITES[site].to_string()
    });
    PairSpec {
        name: PAIR_NAMES[index].to_string(),
        nodes: vec![
            node(1, first_site, draw.priorities.0),
            node(2, second_site, draw.priorities.1),
        ],
        database: DatabaseSpec {
            name: format!("db{}", index + 1),
            site: SITES[draw.db_site].to_string(),
            mode: draw.mode,
            replica_site,
            write_latency: ms(draw.write_latency_ms),
            run_once: draw.run_once.map(|(update, wait)| RunOnceSpec {
                update_interval: ms(update),
                wait_interval: ms(wait),
            }),
        },
        write_period: crate::sim::topology::DEFAULT_WRITE_PERIOD,
        health_period: crate::sim::topology::DEFAULT_HEALTH_PERIOD,
    }
}

/// The ensemble: 3 voters (one per site) or 5 (two per DC, one in the tie-breaker), and
/// sometimes an observer in a DC.
fn ensemble(five: bool, observer: Option<usize>, session_timeout: Duration) -> ZkSpec {
    let voter_sites: &[usize] = if five { &[0, 0, 1, 1, 2] } else { &[0, 1, 2] };
    let mut servers: Vec<ZkServerSpec> = voter_sites
        .iter()
        .enumerate()
        .map(|(i, &site)| ZkServerSpec {
            name: format!("zk{}", i + 1),
            site: SITES[site].to_string(),
            observer: false,
        })
        .collect();
    if let Some(site) = observer {
        servers.push(ZkServerSpec {
            name: format!("zk{}", servers.len() + 1),
            site: SITES[site].to_string(),
            observer: true,
        });
    }
    ZkSpec {
        servers,
        tick_time: Duration::from_secs(2),
        init_limit: 10,
        sync_limit: 5,
        session_timeout,
    }
}

/// A whole topology running `election`.
pub(super) fn topology(election: ElectionCode) -> impl Strategy<Value = Topology> {
    let five = prop_oneof![3 => Just(false), 1 => Just(true)];
    let observer = prop_oneof![4 => Just(None), 1 => (0..2usize).prop_map(Some)];
    let client_model = prop_oneof![3 => Just(ClientModel::Rust), 1 => Just(ClientModel::Java)];
    let latency = prop_oneof![
        4 => Just(None),
        1 => (0..3usize, prop_oneof![Just(5u64), Just(30), Just(80)], prop_oneof![Just(0u64), Just(2), Just(10)])
            .prop_map(Some),
    ];
    (
        five,
        observer,
        4..=20u64,
        client_model,
        proptest::collection::vec(pair_draw(), 1..=3),
        latency,
    )
        .prop_map(
            move |(five, observer, timeout_s, client_model, pairs, latency)| Topology {
                sites: SITES.iter().map(|s| s.to_string()).collect(),
                zk: ensemble(five, observer, Duration::from_secs(timeout_s)),
                pairs: pairs.iter().enumerate().map(|(i, d)| pair(i, d)).collect(),
                client_model,
                latencies: latency
                    .map(|(pair, base, jitter)| {
                        let (a, b) = [(0, 1), (0, 2), (1, 2)][pair];
                        SiteLatency {
                            a: SITES[a].to_string(),
                            b: SITES[b].to_string(),
                            base: ms(base),
                            jitter: ms(jitter),
                        }
                    })
                    .into_iter()
                    .collect(),
                election,
            },
        )
}
