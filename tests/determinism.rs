//! Determinism is the product: the same seed must replay the same run, event for event.

use splitbrain::sim::standard_world::{self, StandardWorldConfig};
use splitbrain::zk::client::ClientModel;

#[test]
fn standard_world_replays_identically_for_twenty_seeds() {
    let config = StandardWorldConfig::default();
    let mut hashes = Vec::new();
    for seed in 0..20 {
        let first = standard_world::run(seed, &config);
        let second = standard_world::run(seed, &config);
        assert_eq!(
            first.trace_hash, second.trace_hash,
            "seed {seed} replayed differently"
        );
        assert_eq!(first.events, second.events, "seed {seed}");
        assert_eq!(first.packets, second.packets, "seed {seed}");
        assert!(
            first.packets > 1_000,
            "seed {seed}: the world barely ran ({} packets)",
            first.packets
        );
        assert!(
            first.ops_ok > 100,
            "seed {seed}: the workload barely ran ({} ok)",
            first.ops_ok
        );
        hashes.push(first.trace_hash);
    }
    hashes.sort();
    hashes.dedup();
    assert_eq!(hashes.len(), 20, "different seeds must give different runs");
}

#[test]
fn java_client_model_replays_identically() {
    let config = StandardWorldConfig {
        client_model: ClientModel::Java,
        ..StandardWorldConfig::default()
    };
    for seed in [100, 101, 102] {
        assert_eq!(
            standard_world::run(seed, &config).trace_hash,
            standard_world::run(seed, &config).trace_hash
        );
    }
}

#[test]
fn kept_trace_lines_do_not_change_the_hash() {
    let plain = StandardWorldConfig::default();
    let traced = StandardWorldConfig {
        keep_trace: true,
        ..StandardWorldConfig::default()
    };
    let a = standard_world::run(5, &plain);
    let b = standard_world::run(5, &traced);
    assert_eq!(a.trace_hash, b.trace_hash);
    assert!(a.trace.is_empty());
    assert_eq!(b.trace.len() as u64, b.events);
}
