//! Watches: registration, firing order, one-shot behaviour, SetWatches, delivery ACL.

use super::*;
use crate::zk::types::{Acl, CreateMode, EventType, Op, SessionState, perms};

fn ev(event_type: EventType, path: &str) -> WatchedEvent {
    WatchedEvent {
        event_type,
        session_state: SessionState::SyncConnected,
        path: path.into(),
    }
}

fn get_data(path: &str, watch: bool) -> ClientOp {
    ClientOp::GetData {
        path: path.into(),
        watch,
    }
}

fn get_children(path: &str, watch: bool) -> ClientOp {
    ClientOp::GetChildren {
        path: path.into(),
        watch,
    }
}

use EventType::{NodeChildrenChanged, NodeCreated, NodeDataChanged, NodeDeleted};

#[test]
fn data_watch_fires_once_on_change() {
    let mut h = Harness::new();
    h.create("/a");
    assert_eq!(h.tree.read(1, &[], &get_data("/a", true)).0, ErrorCode::Ok);
    assert!(h.tree.has_data_watch("/a", 1));
    let applied = h.write(set_data_op("/a", b"x", -1));
    assert_eq!(applied.events, vec![(1, ev(NodeDataChanged, "/a"))]);
    assert!(!h.tree.has_data_watch("/a", 1));
    assert!(h.write(set_data_op("/a", b"y", -1)).events.is_empty());
    // A failed write fires nothing.
    h.tree.read(1, &[], &get_data("/a", true));
    assert!(h.write(set_data_op("/a", b"z", 99)).events.is_empty());
    assert!(h.tree.has_data_watch("/a", 1));
}

#[test]
fn reads_without_a_node_set_no_watch_except_exists() {
    let mut h = Harness::new();
    assert_eq!(
        h.tree.read(1, &[], &get_data("/a", true)).0,
        ErrorCode::NoNode
    );
    assert_eq!(
        h.tree.read(1, &[], &get_children("/a", true)).0,
        ErrorCode::NoNode
    );
    assert_eq!(h.tree.watch_count(), 0);
    assert_eq!(
        h.tree.read(1, &[], &exists("/a", true)).0,
        ErrorCode::NoNode
    );
    assert!(h.tree.has_data_watch("/a", 1));
    // exists refused by ACL sets no watch either.
    let bob = digest_auth("bob:pw");
    h.write_as(
        S1,
        std::slice::from_ref(&bob),
        create_op("/s", b"", Acl::creator_all(), CreateMode::Persistent),
    );
    assert_eq!(
        h.tree.read(2, &[], &exists("/s", true)).0,
        ErrorCode::NoAuth
    );
    assert_eq!(
        h.tree.read(2, &[], &get_data("/s", true)).0,
        ErrorCode::NoAuth
    );
    assert_eq!(h.tree.watch_count(), 1);
}

#[test]
fn create_fires_exist_watch_then_parent_child_watch() {
    let mut h = Harness::new();
    h.create("/p");
    h.tree.read(3, &[], &get_children("/p", true));
    h.tree.read(2, &[], &exists("/p/c", true));
    h.tree.read(1, &[], &get_children("/p", true));
    h.tree.read(1, &[], &exists("/p/c", true));
    // A child watch on the new node's own path, or a data watch on the parent, stays put.
    h.tree.read(4, &[], &get_data("/p", true));
    let applied = h.create("/p/c");
    assert_eq!(
        applied.events,
        vec![
            (1, ev(NodeCreated, "/p/c")),
            (2, ev(NodeCreated, "/p/c")),
            (1, ev(NodeChildrenChanged, "/p")),
            (3, ev(NodeChildrenChanged, "/p")),
        ]
    );
    assert!(h.tree.has_data_watch("/p", 4));
    assert_eq!(h.tree.watch_count(), 1);
    // Children of the root are reported on "/".
    h.tree.read(1, &[], &get_children("/", true));
    assert_eq!(
        h.create("/top").events,
        vec![(1, ev(NodeChildrenChanged, "/"))]
    );
}

#[test]
fn delete_fires_one_node_deleted_per_watcher_then_the_parent() {
    let mut h = Harness::new();
    h.create("/p");
    h.create("/p/c");
    h.tree.read(5, &[], &get_children("/p/c", true));
    h.tree.read(2, &[], &get_data("/p/c", true));
    h.tree.read(2, &[], &get_children("/p/c", true));
    h.tree.read(9, &[], &exists("/p/c", true));
    h.tree.read(1, &[], &get_children("/p/c", true));
    h.tree.read(7, &[], &get_children("/p", true));
    let applied = h.write(delete_op("/p/c", -1));
    assert_eq!(
        applied.events,
        vec![
            // data watchers first, ascending
            (2, ev(NodeDeleted, "/p/c")),
            (9, ev(NodeDeleted, "/p/c")),
            // then child watchers not already told (2 is suppressed)
            (1, ev(NodeDeleted, "/p/c")),
            (5, ev(NodeDeleted, "/p/c")),
            (7, ev(NodeChildrenChanged, "/p")),
        ]
    );
    assert_eq!(
        h.tree.watch_count(),
        0,
        "every fired watch, suppressed or not, is gone"
    );
}

#[test]
fn child_watches_ignore_data_changes_and_data_watches_ignore_children() {
    let mut h = Harness::new();
    h.create("/p");
    h.tree.read(1, &[], &get_children("/p", true));
    h.tree.read(2, &[], &get_data("/p", true));
    assert!(h.write(set_data_op("/p", b"x", -1)).events == vec![(2, ev(NodeDataChanged, "/p"))]);
    h.tree.read(2, &[], &get_data("/p", true));
    assert_eq!(
        h.create("/p/c").events,
        vec![(1, ev(NodeChildrenChanged, "/p"))]
    );
    assert!(h.tree.has_data_watch("/p", 2));
}

#[test]
fn close_session_fires_in_path_order() {
    let mut h = Harness::new();
    h.create("/p");
    h.create_with(S1, "/p/b", CreateMode::Ephemeral);
    h.create_with(S1, "/p/a", CreateMode::Ephemeral);
    h.create_with(S1, "/q", CreateMode::Ephemeral);
    h.tree.read(1, &[], &get_children("/p", true));
    h.tree.read(1, &[], &exists("/p/a", true));
    h.tree.read(2, &[], &get_data("/p/b", true));
    h.tree.read(2, &[], &get_children("/", true));
    h.tree.read(3, &[], &exists("/q", true));
    let applied = h.txn(S1, TxnKind::CloseSession);
    assert_eq!(
        applied.events,
        vec![
            (1, ev(NodeDeleted, "/p/a")),
            (1, ev(NodeChildrenChanged, "/p")),
            (2, ev(NodeDeleted, "/p/b")),
            // watcher 1's child watch on /p was used up by the first delete
            (3, ev(NodeDeleted, "/q")),
            (2, ev(NodeChildrenChanged, "/")),
        ]
    );
}

#[test]
fn multi_fires_after_success_in_op_order() {
    let mut h = Harness::new();
    h.create("/m");
    h.tree.read(1, &[], &get_children("/m", true));
    h.tree.read(2, &[], &exists("/m/a", true));
    h.tree.read(3, &[], &get_data("/m", true));
    let ops = vec![
        Op::Create {
            path: "/m/a".into(),
            data: vec![],
            acl: open(),
            mode: CreateMode::Persistent,
        },
        Op::SetData {
            path: "/m".into(),
            data: b"x".to_vec(),
            version: -1,
        },
    ];
    let applied = h.write(ClientOp::Multi { ops: ops.clone() });
    assert_eq!(
        applied.events,
        vec![
            (2, ev(NodeCreated, "/m/a")),
            (1, ev(NodeChildrenChanged, "/m")),
            (3, ev(NodeDataChanged, "/m")),
        ]
    );
    // A failed multi fires nothing and leaves the watches armed.
    h.tree.read(3, &[], &get_data("/m", true));
    let applied = h.write(ClientOp::Multi { ops });
    assert!(applied.events.is_empty());
    assert!(h.tree.has_data_watch("/m", 3));
}

#[test]
fn set_watches_fires_what_changed_and_rearms_the_rest() {
    let mut h = Harness::new();
    h.create("/same"); // 1
    h.create("/changed"); // 2
    h.create("/gone"); // 3
    h.create("/parent"); // 4
    let seen = h.zxid;
    h.write(set_data_op("/changed", b"x", -1)); // 5
    h.write(delete_op("/gone", -1)); // 6
    h.create("/parent/kid"); // 7
    h.create("/born"); // 8
    let list = |paths: &[&str]| paths.iter().map(|p| p.to_string()).collect::<Vec<_>>();
    let fired = h.tree.set_watches(
        4,
        seen,
        &list(&["/same", "/changed", "/gone"]),
        &list(&["/born", "/unborn"]),
        &list(&["/same", "/parent", "/gone"]),
    );
    assert_eq!(
        fired,
        vec![
            ev(NodeDataChanged, "/changed"),
            ev(NodeDeleted, "/gone"),
            ev(NodeCreated, "/born"),
            ev(NodeChildrenChanged, "/parent"),
            ev(NodeDeleted, "/gone"),
        ]
    );
    // Only what did not fire is registered.
    assert!(h.tree.has_data_watch("/same", 4));
    assert!(h.tree.has_data_watch("/unborn", 4));
    assert!(h.tree.has_child_watch("/same", 4));
    assert!(!h.tree.has_data_watch("/changed", 4));
    assert!(!h.tree.has_child_watch("/parent", 4));
    assert_eq!(h.tree.watch_count(), 3);
    // Re-armed watches fire on the next change as usual.
    assert_eq!(
        h.create("/unborn").events,
        vec![(4, ev(NodeCreated, "/unborn"))]
    );
    // A create-then-delete while away is invisible to an exists watch.
    let seen = h.zxid;
    h.create("/blink");
    h.write(delete_op("/blink", -1));
    assert!(
        h.tree
            .set_watches(5, seen, &[], &list(&["/blink"]), &[])
            .is_empty()
    );
    assert!(h.tree.has_data_watch("/blink", 5));
}

#[test]
fn remove_watcher_drops_every_watch_of_a_connection() {
    let mut h = Harness::new();
    h.create("/a");
    h.tree.read(1, &[], &get_data("/a", true));
    h.tree.read(1, &[], &get_children("/a", true));
    h.tree.read(1, &[], &exists("/b", true));
    h.tree.read(2, &[], &get_data("/a", true));
    h.tree.remove_watcher(1);
    assert_eq!(h.tree.watch_count(), 1);
    assert_eq!(
        h.write(set_data_op("/a", b"", -1)).events,
        vec![(2, ev(NodeDataChanged, "/a"))]
    );
    assert!(h.create("/b").events.is_empty());
}

#[test]
fn events_reach_only_watchers_that_may_read_the_node() {
    let mut h = Harness::new();
    let bob = digest_auth("bob:pw");
    let mut acl = vec![Acl {
        perms: perms::ALL & !perms::READ,
        scheme: "world".into(),
        id: "anyone".into(),
    }];
    acl.push(Acl {
        perms: perms::ALL,
        scheme: "digest".into(),
        id: bob.id.clone(),
    });
    h.write_as(
        S1,
        std::slice::from_ref(&bob),
        create_op("/p", b"", acl, CreateMode::Persistent),
    );
    // Anonymous watcher 1 may watch /p/c (exists is not ACL-checked on a missing node) but
    // cannot read /p; watcher 2 is bob.
    h.tree.read(1, &[], &exists("/p/c", true));
    h.tree
        .read(2, std::slice::from_ref(&bob), &get_children("/p", true));
    h.tree.read(3, &[], &get_children("/", true));
    let applied = h.create("/p/c");
    assert_eq!(
        applied.events,
        vec![
            (1, ev(NodeCreated, "/p/c")),
            (2, ev(NodeChildrenChanged, "/p")),
        ]
    );
    // The server tells the tree about a later addAuth.
    h.tree.read(1, &[], &exists("/p/d", true));
    h.tree.set_watcher_auth(1, std::slice::from_ref(&bob));
    h.tree.read(4, &[], &exists("/p/d", true));
    let applied = h.write_as(
        S1,
        &[],
        create_op(
            "/p/d",
            b"",
            vec![Acl {
                perms: perms::ALL,
                scheme: "digest".into(),
                id: bob.id.clone(),
            }],
            CreateMode::Persistent,
        ),
    );
    assert_eq!(applied.events, vec![(1, ev(NodeCreated, "/p/d"))]);
    assert!(
        !h.tree.has_data_watch("/p/d", 4),
        "consumed though not delivered"
    );
}

/// The same scenario with watches registered in different orders yields the same events.
#[test]
fn event_order_does_not_depend_on_registration_order() {
    let run = |order: &[u64]| {
        let mut h = Harness::new();
        h.create("/p");
        h.create("/p/c");
        for &w in order {
            h.tree.read(w, &[], &get_data("/p/c", true));
            h.tree.read(w, &[], &get_children("/p", true));
            h.tree.read(w, &[], &get_children("/p/c", w % 2 == 0));
        }
        let mut events = h.write(delete_op("/p/c", -1)).events;
        events.extend(h.txn(S1, TxnKind::CloseSession).events);
        (events, h.tree.digest())
    };
    let forward = run(&[1, 2, 3, 4, 5]);
    assert_eq!(forward.0.len(), 10);
    assert_eq!(forward, run(&[5, 3, 1, 4, 2]));
    assert_eq!(forward, run(&[2, 4, 1, 5, 3]));
}
