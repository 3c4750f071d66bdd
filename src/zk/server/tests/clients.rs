//! Client features: containers, watches across reconnects, authentication.

use super::*;
use crate::zk::proto::{ClientOp, OpReply, RequestBody, ResponseBody};
use crate::zk::server::testkit::*;
use crate::zk::types::{CreateMode, ErrorCode};

#[test]
fn the_leader_reaps_empty_containers() {
    sim(14, || async {
        let e = Ensemble::start(3, 0, false);
        sleep(secs(5)).await;
        let f = e.followers()[0];
        let (fresh, reaped) = e
            .run_client(move |ctx| async move {
                let mut c = RawClient::new(&ctx);
                let ConnectOutcome::Connected(s) = c.connect(f, 30_000).await else {
                    panic!("connect")
                };
                c.op(&s, create("/never-used", b"", CreateMode::Container))
                    .await
                    .expect("reply");
                c.op(&s, create("/c", b"", CreateMode::Container))
                    .await
                    .expect("reply");
                c.op(&s, create("/c/x", b"", CreateMode::Persistent))
                    .await
                    .expect("reply");
                c.op(
                    &s,
                    ClientOp::Delete {
                        path: "/c/x".into(),
                        version: -1,
                    },
                )
                .await
                .expect("reply");
                for _ in 0..7 {
                    sleep(secs(10)).await;
                    c.ping(&s).await.expect("pong");
                }
                let exists = |p: &str| ClientOp::Exists {
                    path: p.into(),
                    watch: false,
                };
                let fresh = c.op(&s, exists("/never-used")).await.expect("reply").1;
                let reaped = c.op(&s, exists("/c")).await.expect("reply").1;
                (fresh, reaped)
            })
            .await;
        assert!(
            matches!(fresh, OpReply::Exists(Some(_))),
            "a container that never had children stays"
        );
        assert_eq!(reaped, OpReply::Exists(None));
    });
}

#[test]
fn set_watches_fires_what_changed_while_disconnected() {
    sim(15, || async {
        let e = Ensemble::start(3, 0, false);
        sleep(secs(5)).await;
        let (f1, f2) = (e.followers()[0], e.followers()[1]);
        let events = e
            .run_client(move |ctx| async move {
                let mut c = RawClient::new(&ctx);
                let ConnectOutcome::Connected(s) = c.connect(f1, 10_000).await else {
                    panic!("connect")
                };
                let (err, _, seen) = c
                    .op(
                        &s,
                        ClientOp::Exists {
                            path: "/w".into(),
                            watch: true,
                        },
                    )
                    .await
                    .expect("reply");
                assert_eq!(err, ErrorCode::NoNode);
                // Another client creates /w while this one moves to f2.
                let ConnectOutcome::Connected(other) = c.connect(f2, 10_000).await else {
                    panic!("connect")
                };
                c.op(&other, create("/w", b"", CreateMode::Persistent))
                    .await
                    .expect("reply");
                let ConnectOutcome::Connected(moved) =
                    c.reconnect(f2, s.id, s.password, c.last_zxid, 10_000).await
                else {
                    panic!("reattach")
                };
                let before = c.events.len();
                c.send(
                    f2,
                    moved.conn,
                    crate::zk::proto::RequestBody::SetWatches {
                        relative_zxid: seen,
                        data: vec![],
                        exist: vec!["/w".into()],
                        child: vec![],
                    },
                );
                c.ping(&moved).await.expect("pong");
                c.events[before..].to_vec()
            })
            .await;
        assert_eq!(events.len(), 1);
        assert_eq!(
            events[0].1.event_type,
            crate::zk::types::EventType::NodeCreated
        );
        assert_eq!(events[0].1.path, "/w");
    });
}

#[test]
fn digest_auth_guards_nodes_and_unknown_schemes_fail() {
    sim(16, || async {
        let e = Ensemble::start(3, 0, false);
        sleep(secs(5)).await;
        let f = e.followers()[0];
        let (owner_read, stranger_read, bad_scheme, config) = e
            .run_client(move |ctx| async move {
                let mut c = RawClient::new(&ctx);
                let ConnectOutcome::Connected(a) = c.connect(f, 10_000).await else {
                    panic!("connect")
                };
                let ConnectOutcome::Connected(b) = c.connect(f, 10_000).await else {
                    panic!("connect")
                };
                assert_eq!(
                    c.add_auth(&a, "digest", b"alice:secret").await,
                    Some(ErrorCode::Ok)
                );
                let op = ClientOp::Create {
                    path: "/private".into(),
                    data: b"p".to_vec(),
                    acl: crate::zk::types::Acl::creator_all(),
                    mode: CreateMode::Persistent,
                };
                assert_eq!(c.op(&a, op).await.expect("reply").0, ErrorCode::Ok);
                let owner = c.op(&a, get("/private")).await.expect("reply").0;
                let stranger = c.op(&b, get("/private")).await.expect("reply").0;
                let bad = c.add_auth(&b, "kerberos", b"x").await;
                let config = c.op(&a, get("/zookeeper/config")).await.expect("reply").1;
                (owner, stranger, bad, config)
            })
            .await;
        assert_eq!(owner_read, ErrorCode::Ok);
        assert_eq!(stranger_read, ErrorCode::NoAuth);
        assert_eq!(bad_scheme, Some(ErrorCode::AuthFailed));
        let OpReply::Data { data, .. } = config else {
            panic!("config readable")
        };
        let text = String::from_utf8(data).expect("utf8");
        assert!(
            text.starts_with("server.1=zk1:2888:3888:participant;0.0.0.0:2181\n"),
            "{text}"
        );
        assert!(text.ends_with("version=0"));
    });
}

#[test]
fn requests_pipelined_behind_a_reconnect_wait_for_the_session() {
    sim(20, || async {
        let e = Ensemble::start(3, 0, false);
        sleep(secs(5)).await;
        let (f1, f2) = (e.followers()[0], e.followers()[1]);
        let (answers, events) = e
            .run_client(move |ctx| async move {
                let mut c = RawClient::new(&ctx);
                let ConnectOutcome::Connected(s) = c.connect(f1, 10_000).await else {
                    panic!("connect")
                };
                let watch = ClientOp::GetData {
                    path: "/".into(),
                    watch: false,
                };
                let seen = c.op(&s, watch).await.expect("reply").2;
                c.op(&s, create("/p", b"", CreateMode::Persistent))
                    .await
                    .expect("reply");
                // As the Rust crate does: auth and watches right behind the connect request.
                let conn = c.begin_connect(f2, s.id, s.password, c.last_zxid, 10_000);
                c.send(
                    f2,
                    conn,
                    RequestBody::AddAuth {
                        scheme: "digest".into(),
                        auth: b"u:p".to_vec(),
                    },
                );
                c.send(
                    f2,
                    conn,
                    RequestBody::SetWatches {
                        relative_zxid: seen,
                        data: vec![],
                        exist: vec!["/p".into()],
                        child: vec![],
                    },
                );
                let mut answers = Vec::new();
                for _ in 0..2 {
                    answers.push(c.next_on(conn, secs(5)).await);
                }
                c.send(f2, conn, RequestBody::Ping);
                answers.push(c.next_on(conn, secs(5)).await);
                (answers, c.events.clone())
            })
            .await;
        assert!(matches!(
            answers[0],
            Some(ResponseBody::Connected {
                timeout_ms: 10_000,
                ..
            })
        ));
        assert_eq!(
            answers[1],
            Some(ResponseBody::AuthReply { err: ErrorCode::Ok })
        );
        assert_eq!(
            events.len(),
            1,
            "the exist watch fires for /p created after `seen`"
        );
        assert_eq!(
            events[0].1.event_type,
            crate::zk::types::EventType::NodeCreated
        );
    });
}

#[test]
fn every_connection_is_authenticated_by_its_address() {
    sim(23, || async {
        let e = Ensemble::start(3, 0, false);
        sleep(secs(5)).await;
        let f = e.followers()[0];
        let app_ip = crate::zk::server::connections::client_ip(e.app);
        let (mine, elsewhere) = e
            .run_client(move |ctx| async move {
                let mut c = RawClient::new(&ctx);
                let ConnectOutcome::Connected(s) = c.connect(f, 10_000).await else {
                    panic!("connect")
                };
                let ip_acl = |id: &str| {
                    vec![crate::zk::types::Acl {
                        perms: crate::zk::types::perms::ALL,
                        scheme: "ip".into(),
                        id: id.into(),
                    }]
                };
                for (path, id) in [("/mine", app_ip.as_str()), ("/elsewhere", "192.168.0.0/16")] {
                    let op = ClientOp::Create {
                        path: path.into(),
                        data: vec![],
                        acl: ip_acl(id),
                        mode: CreateMode::Persistent,
                    };
                    assert_eq!(c.op(&s, op).await.expect("reply").0, ErrorCode::Ok);
                }
                let mine = c.op(&s, get("/mine")).await.expect("reply").0;
                let elsewhere = c.op(&s, get("/elsewhere")).await.expect("reply").0;
                (mine, elsewhere)
            })
            .await;
        assert_eq!(mine, ErrorCode::Ok);
        assert_eq!(elsewhere, ErrorCode::NoAuth);
    });
}
