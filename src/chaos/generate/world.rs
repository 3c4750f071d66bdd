//! The worlds chaos draws: a small family that covers what the platform runs. Three sites
//! (dc1, dc2, tiebreaker); a 3-voter ensemble, sometimes 5 voters or an observer; one to three
//! hot/cold pairs under either policy, with priorities that include the awkward ones (9/10,
//! 50/2000, equal); databases in every mode, sometimes slow or with a run-once guard; either
//! client model; session timeouts from 4 to 20 s.
//!
//! On top, the deployment options a platform team may get wrong ([`crate::sim::deployment`]),
//! drawn last so that a world without them is the one the same draw always gave: by default
//! only where they are safe (per-node session timeouts within [`SAFE_SESSION_RATIO`](crate::sim::deployment::SAFE_SESSION_RATIO), the Java
//! client's Curator defaults on an ensemble whose 20-tick cap grants them 20 s), never
//! asynchronous replication or an unfenced database (no world of this family is safe with
//! either: a primary cut off with its site takes stale writes, `scenarios/database-async-
//! replication-stale-write.toml`); with [`Deployments::Unsafe`] the unsafe values as well.

use crate::election::{ElectionCode, Policy};
use crate::scenario::validate::{CURATOR_CONNECTION_TIMEOUT, CURATOR_SESSION_TIMEOUT};
use crate::sim::deployment::within_safe_ratio;
use crate::sim::topology::{
    DatabaseMode, DatabaseSpec, NodeSpec, PairSpec, Replication, RunOnceSpec, SiteLatency,
    Topology, ZkServerSpec, ZkSpec,
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
        session_timeout: None,
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
            replication: Default::default(),
            fence: true,
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
        connection_timeout: None,
    }
}

/// Which values of the deployment options chaos draws.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Deployments {
    /// Only values the real code is safe with: clean nights stay clean.
    #[default]
    Safe,
    /// Unsafe values too (asynchronous replication, unfenced databases, session timeouts far
    /// apart, the Java client's defaults on a 2 s tick): to audit a deployment or show what
    /// those choices cost.
    Unsafe,
}

/// Per-node session timeouts as percent of the ensemble's: the second node of a pair asks for
/// this share. Safe ones keep the ratio within [`SAFE_SESSION_RATIO`](crate::sim::deployment::SAFE_SESSION_RATIO).
const SAFE_SESSION_PERCENTS: [u32; 4] = [85, 90, 110, 120];
const UNSAFE_SESSION_PERCENTS: [u32; 4] = [25, 40, 250, 400];

/// How late an asynchronous replica receives a commit.
const REPLICATION_LAGS_MS: [u64; 4] = [0, 100, 500, 2000];

/// The deployment options of one pair.
#[derive(Clone, Copy, Debug, Default)]
struct PairOptions {
    /// The second node asks for this percent of the ensemble's session timeout.
    session_percent: Option<u32>,
    /// Asynchronous replication with this lag (a primary/replica database only).
    async_lag_ms: Option<u64>,
    unfenced: bool,
}

fn pair_options(deployments: Deployments) -> BoxedStrategy<PairOptions> {
    let safe = prop_oneof![
        6 => Just(None),
        1 => proptest::sample::select(&SAFE_SESSION_PERCENTS[..]).prop_map(Some),
    ];
    match deployments {
        Deployments::Safe => safe
            .prop_map(|session_percent| PairOptions {
                session_percent,
                ..PairOptions::default()
            })
            .boxed(),
        Deployments::Unsafe => {
            let session = prop_oneof![
                2 => Just(None),
                1 => proptest::sample::select(&SAFE_SESSION_PERCENTS[..]).prop_map(Some),
                1 => proptest::sample::select(&UNSAFE_SESSION_PERCENTS[..]).prop_map(Some),
            ];
            let lag = prop_oneof![
                1 => Just(None),
                1 => proptest::sample::select(&REPLICATION_LAGS_MS[..]).prop_map(Some),
            ];
            (session, lag, proptest::bool::weighted(0.25))
                .prop_map(|(session_percent, async_lag_ms, unfenced)| PairOptions {
                    session_percent,
                    async_lag_ms,
                    unfenced,
                })
                .boxed()
        }
    }
}

/// Gives `topology` the drawn deployment options: the Java client's defaults for every node
/// (`java_defaults`), and each pair's own.
fn with_options(
    mut topology: Topology,
    deployments: Deployments,
    java_defaults: bool,
    options: &[PairOptions],
) -> Topology {
    if java_defaults {
        topology.client_model = ClientModel::Java;
        topology.zk.session_timeout = CURATOR_SESSION_TIMEOUT;
        topology.zk.connection_timeout = Some(CURATOR_CONNECTION_TIMEOUT);
        if deployments == Deployments::Safe {
            // The servers cap a session at 20 ticks: 20 s, as long as this family draws.
            topology.zk.tick_time = Duration::from_secs(1);
        }
    }
    let session = topology.zk.session_timeout;
    for (pair, options) in topology.pairs.iter_mut().zip(options) {
        if let Some(percent) = options.session_percent {
            let asked = session * percent / 100;
            debug_assert!(
                deployments == Deployments::Unsafe
                    || within_safe_ratio(asked.max(session), asked.min(session))
            );
            pair.nodes[1].session_timeout = Some(asked);
        }
        if let Some(lag) = options.async_lag_ms
            && pair.database.mode == DatabaseMode::PrimaryReplica
        {
            pair.database.replication = Replication::Asynchronous { lag: ms(lag) };
        }
        pair.database.fence = !options.unfenced;
    }
    topology
}

/// A whole topology running `election`, with deployment options as `deployments` allows.
pub(super) fn topology_with(
    election: ElectionCode,
    deployments: Deployments,
) -> impl Strategy<Value = Topology> {
    (
        topology(election),
        proptest::bool::weighted(0.125),
        proptest::collection::vec(pair_options(deployments), PAIR_NAMES.len()),
    )
        .prop_map(move |(topology, java_defaults, options)| {
            with_options(topology, deployments, java_defaults, &options)
        })
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::deployment::{Choice, unsafe_choices};
    use proptest::strategy::ValueTree;
    use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

    fn draws(deployments: Deployments) -> Vec<Topology> {
        let mut runner = TestRunner::new_with_rng(
            Config::default(),
            TestRng::deterministic_rng(RngAlgorithm::ChaCha),
        );
        let strategy = topology_with(ElectionCode::Real, deployments);
        (0..400)
            .map(|_| strategy.new_tree(&mut runner).unwrap().current())
            .collect()
    }

    /// Clean nights stay clean: a default draw never holds an unsafe choice, yet the safe
    /// options come up.
    #[test]
    fn safe_draws_hold_no_unsafe_choice_and_use_the_safe_options() {
        let worlds = draws(Deployments::Safe);
        for world in &worlds {
            assert_eq!(unsafe_choices(world), vec![], "{world:?}");
        }
        let per_node = worlds
            .iter()
            .filter(|w| w.pairs.iter().any(|p| p.nodes[1].session_timeout.is_some()))
            .count();
        let java_defaults = worlds
            .iter()
            .filter(|w| crate::sim::deployment::uses_java_defaults(w))
            .count();
        assert!(per_node > 40, "{per_node} worlds with per-node timeouts");
        assert!(
            java_defaults > 20,
            "{java_defaults} worlds with Java defaults"
        );
    }

    /// The unsafe draws bring every kind of unsafe choice.
    #[test]
    fn unsafe_draws_bring_every_unsafe_choice() {
        let mut kinds = std::collections::BTreeSet::new();
        for world in draws(Deployments::Unsafe) {
            for choice in unsafe_choices(&world) {
                kinds.insert(match choice.choice {
                    Choice::NodeSessionTimeouts { .. } => "sessions",
                    Choice::AsynchronousReplication { .. } => "async",
                    Choice::Unfenced { .. } => "unfenced",
                    Choice::JavaClientDefaults => "java",
                });
            }
        }
        assert_eq!(kinds.len(), 4, "{kinds:?}");
    }
}
