//! Sessions, ephemerals, containers, multi, snapshots and digests.

use super::*;
use crate::zk::types::{CreateMode, Op};

#[test]
fn sessions_and_ephemerals() {
    let mut h = Harness::new();
    let applied = h.txn(S1, TxnKind::CreateSession { timeout_ms: 6000 });
    assert_eq!(
        (applied.err, applied.reply),
        (ErrorCode::Ok, OpReply::Empty)
    );
    assert_eq!(h.tree.last_zxid(), 1);
    h.create("/p");
    h.create_with(S1, "/p/b", CreateMode::Ephemeral);
    h.create_with(S1, "/p/a", CreateMode::EphemeralSequential);
    h.create_with(S2, "/p/c", CreateMode::Ephemeral);
    h.create_with(S1, "/x", CreateMode::Ephemeral);
    assert_eq!(h.stat("/p/b").ephemeral_owner, S1);
    assert_eq!(
        h.tree.ephemerals_of(S1),
        vec!["/p/a0000000001", "/p/b", "/x"]
    );
    assert_eq!(h.tree.ephemerals_of(S2), vec!["/p/c"]);
    let applied = h.txn(S1, TxnKind::CloseSession);
    assert_eq!(
        (applied.err, applied.reply),
        (ErrorCode::Ok, OpReply::Empty)
    );
    assert!(h.tree.ephemerals_of(S1).is_empty());
    assert!(!h.present("/p/b") && !h.present("/x") && h.present("/p/c"));
    let p = h.stat("/p");
    assert_eq!((p.pzxid, p.num_children, p.cversion), (h.zxid, 1, 5));
    // Closing again (or a session with nothing) changes nothing but the zxid.
    let before = h.tree.digest();
    h.txn(S1, TxnKind::CloseSession);
    assert_eq!(h.tree.digest(), before);
    assert_eq!(h.tree.last_zxid(), h.zxid);
}

#[test]
fn containers_become_candidates_once_used_and_emptied() {
    let mut h = Harness::new();
    h.mk("/c", CreateMode::Container);
    assert_eq!(h.stat("/c").ephemeral_owner, 0);
    assert!(
        h.tree.empty_containers().is_empty(),
        "never used: not a candidate"
    );
    h.create("/c/x");
    assert!(h.tree.empty_containers().is_empty());
    h.write(delete_op("/c/x", -1));
    assert_eq!(h.tree.empty_containers(), vec!["/c"]);
    h.create("/c/y");
    let applied = h.txn(0, TxnKind::DeleteContainer { path: "/c".into() });
    assert_eq!(applied.err, ErrorCode::NotEmpty);
    assert!(h.present("/c"));
    h.write(delete_op("/c/y", -1));
    let applied = h.txn(0, TxnKind::DeleteContainer { path: "/c".into() });
    assert_eq!(applied.err, ErrorCode::Ok);
    assert!(!h.present("/c"));
    assert!(h.tree.empty_containers().is_empty());
    assert_eq!(
        h.txn(0, TxnKind::DeleteContainer { path: "/c".into() }).err,
        ErrorCode::NoNode
    );
    h.create_with(S1, "/e", CreateMode::Ephemeral);
    assert_eq!(
        h.txn(0, TxnKind::DeleteContainer { path: "/e".into() }).err,
        ErrorCode::BadVersion
    );
    assert_eq!(
        h.txn(
            0,
            TxnKind::DeleteContainer {
                path: "/zookeeper".into()
            }
        )
        .err,
        ErrorCode::BadArguments
    );
}

#[test]
fn multi_applies_all_under_one_zxid() {
    let mut h = Harness::new();
    h.create("/m");
    let applied = h.write(ClientOp::Multi {
        ops: vec![
            Op::Create {
                path: "/m/a".into(),
                data: b"1".to_vec(),
                acl: open(),
                mode: CreateMode::Persistent,
            },
            // Later ops see the effects of earlier ones.
            Op::Create {
                path: "/m/a/s-".into(),
                data: vec![],
                acl: open(),
                mode: CreateMode::PersistentSequential,
            },
            Op::SetData {
                path: "/m/a".into(),
                data: b"2".to_vec(),
                version: 0,
            },
            Op::Check {
                path: "/m/a".into(),
                version: 1,
            },
        ],
    });
    assert_eq!(applied.err, ErrorCode::Ok);
    let OpReply::Multi(results) = applied.reply else {
        panic!()
    };
    let stat_a = h.stat("/m/a");
    assert_eq!(stat_a.czxid, 2);
    assert_eq!(stat_a.mzxid, 2);
    assert_eq!(stat_a.version, 1);
    let OpResult::Create { ref path, stat } = results[1] else {
        panic!()
    };
    assert_eq!((path.as_str(), stat.czxid), ("/m/a/s-0000000000", 2));
    assert!(matches!(results[0], OpResult::Create { ref path, .. } if path == "/m/a"));
    assert_eq!(results[2], OpResult::SetData { stat: stat_a });
    assert_eq!(results[3], OpResult::Check);
    let applied = h.write(ClientOp::Multi {
        ops: vec![
            Op::Delete {
                path: "/m/a/s-0000000000".into(),
                version: 0,
            },
            Op::Delete {
                path: "/m/a".into(),
                version: 1,
            },
        ],
    });
    assert_eq!(
        applied.reply,
        OpReply::Multi(vec![OpResult::Delete, OpResult::Delete])
    );
    assert_eq!(
        h.write(ClientOp::Multi { ops: vec![] }).reply,
        OpReply::Multi(vec![])
    );
}

#[test]
fn failed_multi_applies_nothing() {
    let mut h = Harness::new();
    h.create("/m");
    h.create_with(S1, "/m/e", CreateMode::Ephemeral);
    let before = h.tree.digest();
    let ops = vec![
        Op::Create {
            path: "/m/s-".into(),
            data: vec![],
            acl: open(),
            mode: CreateMode::PersistentSequential,
        },
        Op::Delete {
            path: "/m/e".into(),
            version: -1,
        },
        Op::SetData {
            path: "/m".into(),
            data: b"x".to_vec(),
            version: -1,
        },
        Op::Check {
            path: "/m".into(),
            version: 0,
        }, // the setData above made it 1
        Op::Create {
            path: "/m/t".into(),
            data: vec![],
            acl: open(),
            mode: CreateMode::Persistent,
        },
    ];
    let applied = h.write(ClientOp::Multi { ops });
    assert_eq!(
        applied.err,
        ErrorCode::Ok,
        "multi reports in its results, not its header"
    );
    assert_eq!(
        applied.reply,
        OpReply::Multi(vec![
            OpResult::Error(ErrorCode::Ok),
            OpResult::Error(ErrorCode::Ok),
            OpResult::Error(ErrorCode::Ok),
            OpResult::Error(ErrorCode::BadVersion),
            OpResult::Error(ErrorCode::RuntimeInconsistency),
        ])
    );
    assert!(applied.events.is_empty());
    assert_eq!(h.tree.digest(), before);
    assert_eq!(h.tree.ephemerals_of(S1), vec!["/m/e"]);
    assert_eq!(h.tree.last_zxid(), h.zxid);
    // The rolled-back sequential create did not consume a number.
    assert_eq!(
        h.mk("/m/s-", CreateMode::PersistentSequential),
        "/m/s-0000000001"
    );
}

#[test]
fn snapshots_and_digests_compare_replicas() {
    let mut a = Harness::new();
    let mut b = Harness::new();
    for h in [&mut a, &mut b] {
        h.create("/x");
        h.write(set_data_op("/x", b"1", -1));
        h.create_with(S2, "/x-e", CreateMode::Ephemeral);
    }
    assert_eq!(a.tree.digest(), b.tree.digest());
    a.tree.read(7, &[], &exists("/x", true));
    let snap = a.tree.snapshot();
    assert_eq!(
        (snap.digest(), snap.last_zxid()),
        (a.tree.digest(), a.tree.last_zxid())
    );
    assert_eq!((snap.watch_count(), a.tree.watch_count()), (0, 1));
    assert_eq!(snap.ephemerals_of(S2), vec!["/x-e"]);
    assert_eq!(snap.data("/x"), Some(&b"1"[..]));
    assert_eq!(snap.stat("/x").map(|s| s.version), Some(1));
    assert_eq!(snap.children("/x"), Some(vec![]));
    assert_eq!(snap.stat("/none"), None);
    b.write(set_data_op("/x", b"1", -1));
    assert_ne!(a.tree.digest(), b.tree.digest(), "same data, newer version");
    // The locally set config node is not part of the digest.
    let before = a.tree.digest();
    a.tree
        .init_config(b"server.1=h1:2888:3888:participant\nversion=0", 0, 42);
    assert_eq!(a.tree.digest(), before);
    let (_, reply) = a.tree.read(
        0,
        &[],
        &ClientOp::GetData {
            path: "/zookeeper/config".into(),
            watch: false,
        },
    );
    assert!(matches!(reply, OpReply::Data { stat, .. } if stat.version == -1 && stat.mtime == 42));
}
