//! Reads and ACLs.

use super::*;
use crate::zk::types::{Acl, CreateMode, perms};

#[test]
fn reads_answer_like_the_server() {
    let mut h = Harness::new();
    let bob = digest_auth("bob:pw");
    h.write(create_op("/a", b"data", open(), CreateMode::Persistent));
    h.create("/a/z");
    h.create("/a/b");
    h.write_as(
        S1,
        std::slice::from_ref(&bob),
        create_op(
            "/secret",
            b"s",
            only_for(&bob, perms::ALL),
            CreateMode::Persistent,
        ),
    );
    let mut acl = only_for(&bob, perms::ALL);
    acl.push(Acl {
        perms: perms::READ,
        scheme: "world".into(),
        id: "anyone".into(),
    });
    h.write_as(
        S1,
        std::slice::from_ref(&bob),
        create_op("/half", b"h", acl, CreateMode::Persistent),
    );

    let get = |path: &str| ClientOp::GetData {
        path: path.into(),
        watch: false,
    };
    let (err, reply) = h.tree.read(0, &[], &get("/a"));
    assert_eq!(err, ErrorCode::Ok);
    assert!(
        matches!(reply, OpReply::Data { ref data, stat } if data == b"data" && stat.num_children == 2)
    );
    assert_eq!(
        h.tree.read(0, &[], &get("/none")),
        (ErrorCode::NoNode, OpReply::Empty)
    );
    assert_eq!(
        h.tree.read(0, &[], &get("/secret")),
        (ErrorCode::NoAuth, OpReply::Empty)
    );
    assert_eq!(
        h.tree
            .read(0, std::slice::from_ref(&bob), &get("/secret"))
            .0,
        ErrorCode::Ok
    );
    // exists checks READ only when the node is there.
    assert_eq!(
        h.tree.read(0, &[], &exists("/secret", false)),
        (ErrorCode::NoAuth, OpReply::Empty)
    );
    assert_eq!(
        h.tree.read(0, &[], &exists("/none", false)),
        (ErrorCode::NoNode, OpReply::Exists(None))
    );
    assert_eq!(
        h.tree.read(0, &[], &exists("/a\0", false)).0,
        ErrorCode::BadArguments
    );
    let (_, reply) = h.tree.read(
        0,
        &[],
        &ClientOp::GetChildren {
            path: "/a".into(),
            watch: false,
        },
    );
    assert!(matches!(reply, OpReply::Children { ref children, .. } if children == &["b", "z"]));
    // getACL needs READ or ADMIN; without ADMIN the digests are shown masked.
    assert_eq!(
        h.tree
            .read(
                0,
                &[],
                &ClientOp::GetAcl {
                    path: "/secret".into()
                }
            )
            .0,
        ErrorCode::NoAuth
    );
    let (err, reply) = h.tree.read(
        0,
        &[],
        &ClientOp::GetAcl {
            path: "/half".into(),
        },
    );
    assert_eq!(err, ErrorCode::Ok);
    let OpReply::Acl { acl, .. } = reply else {
        panic!()
    };
    assert_eq!(
        (acl[0].id.as_str(), acl[1].id.as_str()),
        ("bob:x", "anyone")
    );
    let (_, reply) = h.tree.read(
        0,
        std::slice::from_ref(&bob),
        &ClientOp::GetAcl {
            path: "/half".into(),
        },
    );
    assert!(matches!(reply, OpReply::Acl { ref acl, .. } if acl[0].id == bob.id));
    assert_eq!(
        h.tree.read(0, &[], &ClientOp::Sync { path: "/a".into() }),
        (ErrorCode::Ok, OpReply::Sync { path: "/a".into() })
    );
    // The root answers under "" as well, as ZooKeeper's alias does.
    assert_eq!(h.tree.read(0, &[], &get("")).0, ErrorCode::Ok);
    // Ops of the wrong kind get a clear error.
    assert_eq!(
        h.tree.read(0, &[], &delete_op("/a", -1)).0,
        ErrorCode::BadArguments
    );
    assert_eq!(h.write(get("/a")).err, ErrorCode::BadArguments);
}

#[test]
fn digest_acls_and_super() {
    let mut h = Harness::new();
    let bob = digest_auth("bob:pw");
    let eve = digest_auth("bob:wrong");
    let root = AuthId {
        scheme: "super".into(),
        id: String::new(),
    };
    let applied = h.write_as(
        S1,
        &[
            bob.clone(),
            AuthId {
                scheme: "ip".into(),
                id: "10.0.0.1".into(),
            },
        ],
        create_op("/b", b"", Acl::creator_all(), CreateMode::Persistent),
    );
    assert_eq!(applied.err, ErrorCode::Ok);
    let (_, reply) = h.tree.read(
        0,
        std::slice::from_ref(&bob),
        &ClientOp::GetAcl { path: "/b".into() },
    );
    let OpReply::Acl { acl, .. } = reply else {
        panic!()
    };
    assert_eq!(
        acl,
        only_for(&bob, perms::ALL),
        "auth expands to digest ids only"
    );
    assert_eq!(
        h.write_as(S1, &[eve], set_data_op("/b", b"x", -1)).err,
        ErrorCode::NoAuth
    );
    assert_eq!(
        h.write_as(S1, std::slice::from_ref(&root), set_data_op("/b", b"x", -1))
            .err,
        ErrorCode::Ok
    );
    assert_eq!(
        h.tree
            .read(
                0,
                &[root],
                &ClientOp::GetData {
                    path: "/b".into(),
                    watch: false
                }
            )
            .0,
        ErrorCode::Ok
    );
    // ip ACLs match by address and mask.
    let ip_acl = vec![Acl {
        perms: perms::ALL,
        scheme: "ip".into(),
        id: "10.1.0.0/16".into(),
    }];
    h.write(create_op("/net", b"", ip_acl, CreateMode::Persistent));
    let near = AuthId {
        scheme: "ip".into(),
        id: "10.1.9.9".into(),
    };
    let far = AuthId {
        scheme: "ip".into(),
        id: "10.2.9.9".into(),
    };
    assert_eq!(
        h.write_as(S1, &[far], set_data_op("/net", b"", -1)).err,
        ErrorCode::NoAuth
    );
    assert_eq!(
        h.write_as(S1, &[near], set_data_op("/net", b"", -1)).err,
        ErrorCode::Ok
    );
}
