//! Each write op: Stat semantics and the server's error order.

use super::*;
use crate::zk::types::{Acl, CreateMode, Stat, perms};

#[test]
fn fresh_tree_has_the_system_nodes() {
    let mut h = Harness::new();
    assert_eq!(h.tree.last_zxid(), 0);
    let root = h.stat("/");
    assert_eq!((root.num_children, root.cversion, root.czxid), (1, -1, 0));
    let (err, reply) = h.tree.read(
        0,
        &[],
        &ClientOp::GetChildren {
            path: "/zookeeper".into(),
            watch: false,
        },
    );
    assert_eq!(err, ErrorCode::Ok);
    let OpReply::Children { children, stat } = reply else {
        panic!()
    };
    assert_eq!(children, vec!["config".to_string(), "quota".to_string()]);
    assert_eq!(stat.cversion, -2);
    let (_, reply) = h.tree.read(
        0,
        &[],
        &ClientOp::GetAcl {
            path: "/zookeeper/config".into(),
        },
    );
    let OpReply::Acl { acl, stat } = reply else {
        panic!()
    };
    assert_eq!((acl, stat.aversion), (Acl::read_unsafe(), -1));
    // The config node is read-only; the system nodes cannot be deleted.
    assert_eq!(
        h.write(set_data_op("/zookeeper/config", b"x", -1)).err,
        ErrorCode::NoAuth
    );
    for path in ["/", "/zookeeper", "/zookeeper/quota", "/zookeeper/config"] {
        assert_eq!(
            h.write(delete_op(path, -1)).err,
            ErrorCode::BadArguments,
            "{path}"
        );
    }
    assert_eq!(h.create("/").err, ErrorCode::NodeExists);
    assert_eq!(h.create("/zookeeper").err, ErrorCode::NodeExists);
}

#[test]
fn create_sets_zookeepers_stat() {
    let mut h = Harness::new();
    let applied = h.write(create_op("/a", b"hello", open(), CreateMode::Persistent));
    assert_eq!(applied.err, ErrorCode::Ok);
    let OpReply::Create { path, stat } = applied.reply else {
        panic!()
    };
    assert_eq!(path, "/a");
    let expected = Stat {
        czxid: 1,
        mzxid: 1,
        ctime: 1001,
        mtime: 1001,
        version: 0,
        cversion: 0,
        aversion: 0,
        ephemeral_owner: 0,
        data_length: 5,
        num_children: 0,
        pzxid: 1,
    };
    assert_eq!(stat, expected);
    assert_eq!(h.stat("/a"), expected);
    let root = h.stat("/");
    assert_eq!((root.cversion, root.pzxid, root.num_children), (0, 1, 2));
}

#[test]
fn create_checks_in_the_servers_order() {
    let mut h = Harness::new();
    let bob = digest_auth("bob:pw");
    h.write_as(
        S1,
        std::slice::from_ref(&bob),
        create_op(
            "/locked",
            b"",
            only_for(&bob, perms::ALL),
            CreateMode::Persistent,
        ),
    );
    h.create("/e");
    h.create("/e/x");
    h.create_with(S1, "/eph", CreateMode::Ephemeral);
    let cases: Vec<(ClientOp, ErrorCode)> = vec![
        (
            create_op("a", b"", open(), CreateMode::Persistent),
            ErrorCode::BadArguments,
        ),
        (
            create_op("/a\0", b"", open(), CreateMode::Persistent),
            ErrorCode::BadArguments,
        ),
        // The ACL is checked before the parent is looked up.
        (
            create_op("/missing/a", b"", vec![], CreateMode::Persistent),
            ErrorCode::InvalidAcl,
        ),
        (
            create_op(
                "/missing/a",
                b"",
                Acl::creator_all(),
                CreateMode::Persistent,
            ),
            ErrorCode::InvalidAcl,
        ),
        (
            create_op("/missing/a", b"", open(), CreateMode::Persistent),
            ErrorCode::NoNode,
        ),
        // A trailing slash is only caught after the parent lookup.
        (
            create_op("/missing/", b"", open(), CreateMode::Persistent),
            ErrorCode::NoNode,
        ),
        (
            create_op("/e/", b"", open(), CreateMode::Persistent),
            ErrorCode::BadArguments,
        ),
        (
            create_op("/e/.", b"", open(), CreateMode::Persistent),
            ErrorCode::BadArguments,
        ),
        // CREATE on the parent is checked before existence.
        (
            create_op("/locked/x", b"", open(), CreateMode::Persistent),
            ErrorCode::NoAuth,
        ),
        (
            create_op("/e/x", b"", open(), CreateMode::Persistent),
            ErrorCode::NodeExists,
        ),
        (
            create_op("/eph/x", b"", open(), CreateMode::Persistent),
            ErrorCode::NoChildrenForEphemerals,
        ),
        (
            create_op("/eph/x", b"", open(), CreateMode::PersistentSequential),
            ErrorCode::NoChildrenForEphemerals,
        ),
    ];
    for (op, expected) in cases {
        let before = h.tree.digest();
        let zxid = h.zxid;
        let applied = h.write(op.clone());
        assert_eq!(
            (applied.err, &applied.reply),
            (expected, &OpReply::Empty),
            "{op:?}"
        );
        assert_eq!(
            h.tree.last_zxid(),
            zxid + 1,
            "a failed write still consumes its zxid"
        );
        assert_eq!(
            h.tree.digest(),
            before,
            "a failed write changes nothing: {op:?}"
        );
    }
    // With the right id, the locked parent accepts children.
    let applied = h.write_as(
        S1,
        &[bob],
        create_op("/locked/x", b"", open(), CreateMode::Persistent),
    );
    assert_eq!(applied.err, ErrorCode::Ok);
}

#[test]
fn parent_cversion_and_pzxid_follow_creates_and_deletes() {
    let mut h = Harness::new();
    h.create("/p"); // zxid 1
    h.create("/p/a"); // 2
    h.create("/p/b"); // 3
    let p = h.stat("/p");
    assert_eq!((p.cversion, p.pzxid, p.num_children, p.mzxid), (2, 3, 2, 1));
    h.write(delete_op("/p/a", -1)); // 4
    let p = h.stat("/p");
    assert_eq!((p.cversion, p.pzxid, p.num_children), (3, 4, 1));
    h.write(set_data_op("/p/b", b"x", -1)); // 5: a child's data is not the parent's business
    assert_eq!(h.stat("/p").pzxid, 4);
    h.create("/p/b"); // 6: NodeExists
    assert_eq!(h.stat("/p").cversion, 3);
    h.write(delete_op("/p/b", -1)); // 7
    let p = h.stat("/p");
    assert_eq!(
        (p.cversion, p.pzxid, p.num_children, p.version),
        (4, 7, 0, 0)
    );
}

#[test]
fn sequential_names_count_creates_and_never_reuse() {
    let mut h = Harness::new();
    h.create("/q");
    assert_eq!(
        h.mk("/q/n-", CreateMode::PersistentSequential),
        "/q/n-0000000000"
    );
    h.create("/q/plain");
    assert_eq!(
        h.mk("/q/n-", CreateMode::EphemeralSequential),
        "/q/n-0000000002"
    );
    h.write(delete_op("/q/n-0000000000", -1));
    h.write(delete_op("/q/plain", -1));
    // Deletes do not move the counter; a failed create does not either.
    assert_eq!(h.create("/q/n-0000000002").err, ErrorCode::NodeExists);
    assert_eq!(
        h.mk("/q/n-", CreateMode::PersistentSequential),
        "/q/n-0000000003"
    );
    assert_eq!(
        h.mk("/q/", CreateMode::PersistentSequential),
        "/q/0000000004"
    );
    // Under the root the system children do not count: the first create there is number 0.
    assert_eq!(
        h.mk("/s-", CreateMode::PersistentSequential),
        "/s-0000000001"
    );
}

#[test]
fn delete_checks_in_the_servers_order() {
    let mut h = Harness::new();
    let bob = digest_auth("bob:pw");
    h.write_as(
        S1,
        std::slice::from_ref(&bob),
        create_op(
            "/locked",
            b"",
            vec![
                Acl {
                    perms: perms::ALL & !perms::DELETE,
                    scheme: "world".into(),
                    id: "anyone".into(),
                },
                Acl {
                    perms: perms::ALL,
                    scheme: "digest".into(),
                    id: bob.id.clone(),
                },
            ],
            CreateMode::Persistent,
        ),
    );
    h.create("/locked/x");
    h.create("/d");
    h.create("/d/c");
    h.write(set_data_op("/d", b"", -1));
    let cases = [
        ("", -1, ErrorCode::BadArguments),
        ("/", -1, ErrorCode::BadArguments),
        ("/zookeeper/quota", -1, ErrorCode::BadArguments),
        ("/none/x", -1, ErrorCode::NoNode),
        // DELETE on the parent is checked before the node is looked up.
        ("/locked/none", -1, ErrorCode::NoAuth),
        ("/locked/x", -1, ErrorCode::NoAuth),
        ("/none", -1, ErrorCode::NoNode),
        ("/d/", -1, ErrorCode::NoNode),
        // BadVersion before NotEmpty.
        ("/d", 0, ErrorCode::BadVersion),
        ("/d", 1, ErrorCode::NotEmpty),
        ("/d", -1, ErrorCode::NotEmpty),
    ];
    for (path, version, expected) in cases {
        assert_eq!(
            h.write(delete_op(path, version)).err,
            expected,
            "{path} v{version}"
        );
    }
    assert_eq!(
        h.write_as(S1, &[bob], delete_op("/locked/x", 0)).err,
        ErrorCode::Ok
    );
    assert_eq!(h.write(delete_op("/d/c", 0)).err, ErrorCode::Ok);
    assert_eq!(
        h.write(delete_op("/d", 1)),
        Applied {
            err: ErrorCode::Ok,
            reply: OpReply::Empty,
            events: vec![]
        }
    );
    assert!(!h.present("/d"));
}

#[test]
fn set_data_bumps_the_version_even_for_the_same_data() {
    let mut h = Harness::new();
    let bob = digest_auth("bob:pw");
    h.write(create_op("/a", b"v", open(), CreateMode::Persistent)); // 1
    for expected_version in 1..=3 {
        let applied = h.write(set_data_op("/a", b"v", -1));
        let OpReply::Stat(stat) = applied.reply else {
            panic!("{applied:?}")
        };
        assert_eq!(stat.version, expected_version);
        assert_eq!(
            (stat.mzxid, stat.mtime, stat.czxid),
            (h.zxid, 1000 + h.zxid, 1)
        );
    }
    let applied = h.write(set_data_op("/a", b"longer", 3));
    let OpReply::Stat(stat) = applied.reply else {
        panic!()
    };
    assert_eq!((stat.version, stat.data_length), (4, 6));
    h.write_as(
        S1,
        std::slice::from_ref(&bob),
        create_op(
            "/ro",
            b"",
            vec![
                Acl {
                    perms: perms::READ,
                    scheme: "world".into(),
                    id: "anyone".into(),
                },
                Acl {
                    perms: perms::ALL,
                    scheme: "digest".into(),
                    id: bob.id.clone(),
                },
            ],
            CreateMode::Persistent,
        ),
    );
    let cases = [
        ("/a/", -1, ErrorCode::BadArguments),
        ("/none", -1, ErrorCode::NoNode),
        ("/ro", 7, ErrorCode::NoAuth), // WRITE before the version
        ("/a", 3, ErrorCode::BadVersion),
    ];
    for (path, version, expected) in cases {
        let applied = h.write(set_data_op(path, b"x", version));
        assert_eq!(
            (applied.err, applied.reply),
            (expected, OpReply::Empty),
            "{path}"
        );
    }
    assert_eq!(
        h.write_as(S1, &[bob], set_data_op("/ro", b"x", 0)).err,
        ErrorCode::Ok
    );
}

#[test]
fn set_acl_checks_admin_and_aversion() {
    let mut h = Harness::new();
    let bob = digest_auth("bob:pw");
    h.create("/a");
    let set_acl = |path: &str, acl: Vec<Acl>, version| ClientOp::SetAcl {
        path: path.into(),
        acl,
        version,
    };
    // The new ACL is checked before the node is looked up.
    assert_eq!(
        h.write(set_acl("/none", vec![], -1)).err,
        ErrorCode::InvalidAcl
    );
    assert_eq!(h.write(set_acl("/none", open(), -1)).err, ErrorCode::NoNode);
    assert_eq!(h.write(set_acl("/a", open(), 1)).err, ErrorCode::BadVersion);
    let applied = h.write_as(
        S1,
        std::slice::from_ref(&bob),
        set_acl("/a", Acl::creator_all(), 0),
    );
    let OpReply::Stat(stat) = applied.reply else {
        panic!("{applied:?}")
    };
    assert_eq!((stat.aversion, stat.version, stat.mzxid), (1, 0, 1));
    assert_eq!(h.write(set_acl("/a", open(), 1)).err, ErrorCode::NoAuth);
    let (err, reply) = h.tree.read(
        0,
        std::slice::from_ref(&bob),
        &ClientOp::GetAcl { path: "/a".into() },
    );
    assert_eq!(err, ErrorCode::Ok);
    assert_eq!(
        reply,
        OpReply::Acl {
            acl: only_for(&bob, perms::ALL),
            stat: h.stat_as("/a", &bob)
        }
    );
    assert_eq!(
        h.tree
            .read(0, &[], &ClientOp::GetAcl { path: "/a".into() })
            .0,
        ErrorCode::NoAuth
    );
    assert_eq!(
        h.write_as(S1, &[bob], set_acl("/a", open(), -1)).err,
        ErrorCode::Ok
    );
}

#[test]
fn large_data_is_stored_not_refused() {
    let mut h = Harness::new();
    let big = vec![7u8; JUTE_MAX_BUFFER + 1];
    let applied = h.write(create_op("/big", &big, open(), CreateMode::Persistent));
    assert_eq!(applied.err, ErrorCode::Ok);
    assert_eq!(h.stat("/big").data_length as usize, big.len());
}
