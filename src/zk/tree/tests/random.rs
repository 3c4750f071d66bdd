//! Random op sequences: after every txn the tree stays consistent, a failed write or multi
//! changes nothing, and two replicas applying the same txns agree.

use super::*;
use crate::zk::types::{CreateMode, Op};

/// xorshift64*: a fixed, seedable generator for test inputs.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

const PATHS: [&str; 7] = ["/a", "/a/b", "/a/b/c", "/a/d", "/e", "/e/f", "/a/"];
const MODES: [CreateMode; 5] = [
    CreateMode::Persistent,
    CreateMode::Ephemeral,
    CreateMode::PersistentSequential,
    CreateMode::EphemeralSequential,
    CreateMode::Container,
];

fn random_op(rng: &mut Rng) -> Op {
    let path = PATHS[rng.below(PATHS.len())].to_string();
    // Mostly "any version", so that a fair share of multis succeed.
    let version = [-1, -1, -1, 0, 1][rng.below(5)];
    match rng.below(5) {
        0 | 1 => Op::Create {
            path,
            data: vec![rng.below(256) as u8],
            acl: open(),
            mode: MODES[rng.below(MODES.len())],
        },
        2 => Op::Delete { path, version },
        3 => Op::SetData {
            path,
            data: vec![],
            version,
        },
        _ => Op::Check { path, version },
    }
}

fn client_op(op: Op) -> ClientOp {
    match op {
        Op::Create {
            path,
            data,
            acl,
            mode,
        } => ClientOp::Create {
            path,
            data,
            acl,
            mode,
        },
        Op::Delete { path, version } => ClientOp::Delete { path, version },
        Op::SetData {
            path,
            data,
            version,
        } => ClientOp::SetData {
            path,
            data,
            version,
        },
        Op::Check { path, .. } => ClientOp::Exists { path, watch: false },
    }
}

#[test]
fn random_txns_keep_the_tree_consistent_and_replicas_equal() {
    // (successful multis, failed multis, successful single writes, events fired)
    let mut seen = (0, 0, 0, 0);
    for seed in 1..=40u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let mut primary = Harness::new();
        let mut replica = DataTree::new();
        for _ in 0..150 {
            let session = [S1, S2][rng.below(2)];
            let kind = match rng.below(10) {
                0 => TxnKind::CloseSession,
                1 => TxnKind::DeleteContainer {
                    path: PATHS[rng.below(PATHS.len())].into(),
                },
                2..=4 => TxnKind::Write {
                    auth: vec![],
                    op: ClientOp::Multi {
                        ops: (0..1 + rng.below(3)).map(|_| random_op(&mut rng)).collect(),
                    },
                },
                _ => match client_op(random_op(&mut rng)) {
                    ClientOp::Exists { .. } => TxnKind::CreateSession { timeout_ms: 1 },
                    op => TxnKind::Write { auth: vec![], op },
                },
            };
            // Watch everything on both replicas, so that the events are compared too.
            for (watcher, path) in PATHS.iter().enumerate() {
                primary.tree.read(watcher as u64, &[], &exists(path, true));
                primary.tree.read(
                    watcher as u64,
                    &[],
                    &ClientOp::GetChildren {
                        path: path.to_string(),
                        watch: true,
                    },
                );
                replica.read(watcher as u64, &[], &exists(path, true));
                replica.read(
                    watcher as u64,
                    &[],
                    &ClientOp::GetChildren {
                        path: path.to_string(),
                        watch: true,
                    },
                );
            }
            let before = primary.tree.digest();
            let applied = primary.txn(session, kind.clone());
            primary.tree.store.assert_consistent();
            let unchanged = match &applied.reply {
                OpReply::Multi(results) => results.iter().any(|r| matches!(r, OpResult::Error(_))),
                _ => applied.err != ErrorCode::Ok,
            };
            if unchanged {
                assert_eq!(primary.tree.digest(), before, "seed {seed}: {kind:?}");
            }
            match (&applied.reply, unchanged) {
                (OpReply::Multi(_), false) => seen.0 += 1,
                (OpReply::Multi(_), true) => seen.1 += 1,
                (_, false) => seen.2 += 1,
                _ => {}
            }
            seen.3 += applied.events.len();
            let txn = Txn {
                zxid: primary.zxid,
                time_ms: 1000 + primary.zxid,
                session,
                kind,
            };
            let replayed = replica.apply(&txn);
            assert_eq!(
                (replayed.reply, replayed.events),
                (applied.reply, applied.events)
            );
            assert_eq!(replica.digest(), primary.tree.digest(), "seed {seed}");
        }
    }
    assert!(
        seen.0 > 100 && seen.1 > 500 && seen.2 > 1000 && seen.3 > 500,
        "{seen:?}"
    );
}
