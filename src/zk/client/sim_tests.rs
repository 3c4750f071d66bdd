//! The client's driver end to end on the simulated network, against a scripted stand-in for
//! a ZooKeeper server (test scaffolding: one server, sessions that expire T after their last
//! packet, a flat map of nodes, data watches). The real ensemble is tested on its own branch.

use super::*;
use crate::coord::{Coordination, CreateOptions};
use crate::env::Environment;
use crate::sim::clock::true_now;
use crate::sim::net::{Addr, HostId, NetConfig, Payload, ports};
use crate::sim::world::{HostCtx, World};
use crate::zk::proto::{ClientOp, OpReply, RequestBody, ResponseBody, ServerResponse};
use crate::zk::types::{
    CreateMode, ErrorCode, EventType, SessionState, Stat, WatchedEvent, ZkResult,
};
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn secs(v: f64) -> Duration {
    Duration::from_secs_f64(v)
}

#[derive(Default)]
struct FakeServerState {
    /// Session id → (last packet, timeout).
    sessions: BTreeMap<i64, (Duration, Duration)>,
    nodes: BTreeMap<String, (Vec<u8>, i32)>,
    /// Path → connections with a data watch on it.
    watches: BTreeMap<String, Vec<(Addr, u64)>>,
    zxid: i64,
    next_session: i64,
}

async fn fake_server(ctx: HostCtx) {
    let mut mailbox = ctx.net.bind(ports::ZK_CLIENT);
    let mut s = FakeServerState {
        next_session: 0x100,
        ..Default::default()
    };
    let mut conn_session: BTreeMap<(Addr, u64), i64> = BTreeMap::new();
    while let Some(packet) = mailbox.recv().await {
        let Payload::ZkRequest(request) = packet.payload else {
            continue;
        };
        let now = ctx.env.now();
        let key = (packet.from, request.conn);
        let reply = |body: ResponseBody| {
            ctx.net.send(
                ports::ZK_CLIENT,
                packet.from,
                Payload::ZkResponse(ServerResponse {
                    conn: request.conn,
                    body,
                }),
            )
        };
        // Sessions expire T after their last packet, whether or not anyone asks.
        s.sessions
            .retain(|_, (last, timeout)| now.saturating_sub(*last) <= *timeout);
        if let Some(id) = conn_session.get(&key)
            && let Some(entry) = s.sessions.get_mut(id)
        {
            entry.0 = now;
        }
        match request.body {
            RequestBody::Connect {
                session_id,
                timeout_ms,
                password,
                ..
            } => {
                let timeout = Duration::from_millis(timeout_ms.clamp(4000, 40_000) as u64);
                let id = if session_id == 0 {
                    s.next_session += 1;
                    s.next_session
                } else {
                    session_id
                };
                let expired = match s.sessions.get(&id) {
                    // A session this server does not know (any more) has expired.
                    None => session_id != 0,
                    Some((last, t)) => now.saturating_sub(*last) > *t,
                };
                if expired {
                    s.sessions.remove(&id);
                    reply(ResponseBody::Connected {
                        timeout_ms: 0,
                        session_id: 0,
                        password: 0,
                    });
                    reply(ResponseBody::Close);
                    continue;
                }
                s.sessions.insert(id, (now, timeout));
                conn_session.insert(key, id);
                reply(ResponseBody::Connected {
                    timeout_ms: timeout.as_millis() as u32,
                    session_id: id,
                    password: password | 1,
                });
            }
            RequestBody::Ping => reply(ResponseBody::Pong { zxid: s.zxid }),
            RequestBody::AddAuth { .. } => reply(ResponseBody::AuthReply { err: ErrorCode::Ok }),
            RequestBody::SetWatches { data, .. } => {
                for path in data {
                    s.watches.entry(path).or_default().push(key);
                }
            }
            RequestBody::CloseSession { xid } => {
                if let Some(id) = conn_session.remove(&key) {
                    s.sessions.remove(&id);
                }
                s.zxid += 1;
                reply(ResponseBody::Reply {
                    xid,
                    zxid: s.zxid,
                    err: ErrorCode::Ok,
                    reply: OpReply::Empty,
                });
            }
            RequestBody::Op { xid, op } => {
                let (err, body) = apply(&mut s, &ctx, key, op);
                reply(ResponseBody::Reply {
                    xid,
                    zxid: s.zxid,
                    err,
                    reply: body,
                });
            }
        }
    }
}

fn stat(version: i32) -> Stat {
    Stat {
        version,
        ..Stat::default()
    }
}

/// Applies an op to the stand-in's flat node map; a setData fires the data watches on its
/// path before the reply goes out, as a server's watch ordering requires.
fn apply(
    s: &mut FakeServerState,
    ctx: &HostCtx,
    key: (Addr, u64),
    op: ClientOp,
) -> (ErrorCode, OpReply) {
    match op {
        ClientOp::Create { path, data, .. } => {
            if s.nodes.contains_key(&path) {
                return (ErrorCode::NodeExists, OpReply::Empty);
            }
            s.zxid += 1;
            s.nodes.insert(path.clone(), (data, 0));
            (
                ErrorCode::Ok,
                OpReply::Create {
                    path,
                    stat: stat(0),
                },
            )
        }
        ClientOp::GetData { path, watch } => match s.nodes.get(&path) {
            None => (ErrorCode::NoNode, OpReply::Empty),
            Some((data, version)) => {
                if watch {
                    s.watches.entry(path.clone()).or_default().push(key);
                }
                (
                    ErrorCode::Ok,
                    OpReply::Data {
                        data: data.clone(),
                        stat: stat(*version),
                    },
                )
            }
        },
        ClientOp::SetData { path, data, .. } => {
            let Some(node) = s.nodes.get_mut(&path) else {
                return (ErrorCode::NoNode, OpReply::Empty);
            };
            s.zxid += 1;
            node.0 = data;
            node.1 += 1;
            let version = node.1;
            for (addr, conn) in s.watches.remove(&path).unwrap_or_default() {
                ctx.net.send(
                    ports::ZK_CLIENT,
                    addr,
                    Payload::ZkResponse(ServerResponse {
                        conn,
                        body: ResponseBody::Watch {
                            event: WatchedEvent {
                                event_type: EventType::NodeDataChanged,
                                session_state: SessionState::SyncConnected,
                                path: path.clone(),
                            },
                            zxid: s.zxid,
                        },
                    }),
                );
            }
            (ErrorCode::Ok, OpReply::Stat(stat(version)))
        }
        _ => (ErrorCode::Unimplemented, OpReply::Empty),
    }
}

/// A world with the stand-in server on `zk` and a client host `app` in another site.
fn world_with_server() -> (World, HostId, HostId) {
    let world = World::new(NetConfig::default(), true);
    let zk = world.add_host("zk", "dc1");
    let app = world.add_host("app", "dc2");
    world.set_process(zk, Arc::new(|ctx| Box::pin(fake_server(ctx))));
    world.start(zk).expect("starts");
    (world, zk, app)
}

type Transitions = Arc<Mutex<Vec<(Duration, SessionState)>>>;

/// Runs `body` as the client host's process, recording every state transition with its true
/// time.
fn start_client<F, Fut>(world: &World, app: HostId, body: F) -> Transitions
where
    F: Fn(HostCtx, Transitions) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let transitions: Transitions = Arc::default();
    let log = transitions.clone();
    let body = Arc::new(body);
    world.set_process(
        app,
        Arc::new(move |ctx| {
            let body = body.clone();
            let log = log.clone();
            Box::pin(async move { body(ctx, log).await })
        }),
    );
    world.start(app).expect("starts");
    transitions
}

fn record_states(ctx: &HostCtx, client: &SimZkClient, log: Transitions) {
    let mut watcher = client.state_watcher();
    ctx.env.spawn(async move {
        while watcher.changed().await.is_ok() {
            let state = *watcher.borrow_and_update();
            log.lock().unwrap().push((true_now(), state));
        }
    });
}

fn server_config(zk: HostId, model: ClientModel) -> ClientConfig {
    ClientConfig::new(vec![Addr {
        host: zk,
        port: ports::ZK_CLIENT,
    }])
    .with_model(model)
}

fn run<F: Future<Output = ()>>(seed: u64, f: F) {
    let rt = madsim::runtime::Runtime::with_seed_and_config(seed, madsim::Config::default());
    rt.block_on(f);
}

#[test]
fn reads_writes_and_a_watch_fire_in_order() {
    run(1, async {
        let (world, zk, app) = world_with_server();
        let outcome: Arc<Mutex<Vec<String>>> = Arc::default();
        let out = outcome.clone();
        start_client(&world, app, move |ctx, _| {
            let out = out.clone();
            async move {
                let client = SimZkClient::connect(&ctx, server_config(zk, ClientModel::Rust))
                    .await
                    .expect("session");
                let created = client
                    .create("/a", b"1", &CreateOptions::new(CreateMode::Persistent))
                    .await;
                let (data, _, watch) = client.get_data_watch("/a").await.expect("read");
                let set: ZkResult<Stat> = client.set_data("/a", b"2", None).await;
                // The notification was sent before the reply, so the watch already fired.
                let fired = futures_now(watch.changed());
                let missing = client.get_data("/nope").await.err();
                client.close().await.expect("closes");
                let after = client.get_data("/a").await.err();
                let mut out = out.lock().unwrap();
                out.push(format!("{created:?}"));
                out.push(format!("{data:?}"));
                out.push(format!("{:?}", set.map(|s| s.version)));
                out.push(format!("{:?}", fired.map(|e| e.event_type)));
                out.push(format!("{missing:?} {after:?} {:?}", client.state()));
            }
        });
        madsim::time::sleep(secs(5.0)).await;
        let out = outcome.lock().unwrap().clone();
        assert_eq!(out.len(), 5, "{out:?}");
        assert!(out[0].starts_with("Ok((\"/a\""), "{out:?}");
        assert_eq!(out[1], "[49]");
        assert_eq!(out[2], "Ok(1)");
        assert_eq!(out[3], "Some(NodeDataChanged)");
        assert_eq!(out[4], "Some(NoNode) Some(ClientClosed) Closed");
        assert_eq!(world.metric("client.ops_ok"), 3);
        assert_eq!(world.metric("client.ops_failed"), 2);
    });
}

/// The value of a future that is already complete.
fn futures_now<F: Future>(f: F) -> Option<F::Output> {
    use std::task::{Context, Poll, Waker};
    let mut cx = Context::from_waker(Waker::noop());
    match std::pin::pin!(f).poll(&mut cx) {
        Poll::Ready(v) => Some(v),
        Poll::Pending => None,
    }
}

/// Connects, records transitions, and keeps the client alive.
async fn connect_and_hold(ctx: HostCtx, log: Transitions, zk: HostId, model: ClientModel) {
    let client = SimZkClient::connect(&ctx, server_config(zk, model))
        .await
        .expect("session");
    log.lock()
        .unwrap()
        .push((true_now(), SessionState::SyncConnected));
    record_states(&ctx, &client, log);
    std::future::pending::<()>().await;
    drop(client);
}

fn transitions(log: &Transitions) -> Vec<(f64, SessionState)> {
    log.lock()
        .unwrap()
        .iter()
        .map(|(t, s)| (t.as_secs_f64(), *s))
        .collect()
}

#[test]
fn rust_partition_disconnects_at_two_fifths_and_expires_at_seven_fifths() {
    run(2, async {
        let (world, zk, app) = world_with_server();
        let log = start_client(&world, app, move |ctx, log| {
            connect_and_hold(ctx, log, zk, ClientModel::Rust)
        });
        madsim::time::sleep(secs(10.0)).await;
        world.partition(&[app], &[zk]);
        let cut = true_now().as_secs_f64();
        madsim::time::sleep(secs(20.0)).await;
        let t = transitions(&log);
        assert_eq!(t.len(), 3, "{t:?}");
        assert_eq!(t[1].1, SessionState::Disconnected);
        assert_eq!(t[2].1, SessionState::Expired);
        // Last pong up to one ping interval (0.9 s + a tick) before the cut; then 2.4 s and
        // 8.4 s after it, on ticks.
        let (lost, expired) = (t[1].0 - cut, t[2].0 - cut);
        assert!((1.0..=2.5).contains(&lost), "{t:?} cut at {cut}");
        assert!((7.0..=8.5).contains(&expired), "{t:?} cut at {cut}");
    });
}

#[test]
fn java_partition_never_expires_until_a_server_says_so() {
    run(3, async {
        let (world, zk, app) = world_with_server();
        let log = start_client(&world, app, move |ctx, log| {
            connect_and_hold(ctx, log, zk, ClientModel::Java)
        });
        madsim::time::sleep(secs(10.0)).await;
        world.partition(&[app], &[zk]);
        let cut = true_now().as_secs_f64();
        madsim::time::sleep(secs(30.0)).await;
        let t = transitions(&log);
        assert_eq!(t.len(), 2, "{t:?}");
        assert_eq!(t[1].1, SessionState::Disconnected);
        let lost = t[1].0 - cut;
        assert!(
            (2.9..=4.1).contains(&lost),
            "read timeout 4 s: {t:?} cut at {cut}"
        );
        world.heal();
        madsim::time::sleep(secs(10.0)).await;
        let t = transitions(&log);
        assert_eq!(t.last().unwrap().1, SessionState::Expired, "{t:?}");
    });
}

#[test]
fn a_pause_longer_than_the_session_timeout_expires_on_resume() {
    run(4, async {
        let (world, zk, app) = world_with_server();
        let log = start_client(&world, app, move |ctx, log| {
            connect_and_hold(ctx, log, zk, ClientModel::Rust)
        });
        madsim::time::sleep(secs(5.0)).await;
        world.pause(app).unwrap();
        madsim::time::sleep(secs(12.0)).await;
        world.resume(app).unwrap();
        let resumed = true_now().as_secs_f64();
        madsim::time::sleep(secs(1.0)).await;
        let t = transitions(&log);
        assert_eq!(t.last().unwrap().1, SessionState::Expired, "{t:?}");
        assert!(t.last().unwrap().0 - resumed < 0.1, "{t:?}");
    });
}

#[test]
fn a_short_blip_reconnects_to_the_same_session() {
    run(5, async {
        let (world, zk, app) = world_with_server();
        let ids: Arc<Mutex<Vec<i64>>> = Arc::default();
        let seen = ids.clone();
        let log = start_client(&world, app, move |ctx, log| {
            let seen = seen.clone();
            async move {
                let client = SimZkClient::connect(&ctx, server_config(zk, ClientModel::Rust))
                    .await
                    .expect("session");
                record_states(&ctx, &client, log);
                seen.lock().unwrap().push(client.session_id());
                ctx.env.sleep(secs(20.0)).await;
                let read = client.get_data("/none").await;
                seen.lock().unwrap().push(match read {
                    Err(ErrorCode::NoNode) => client.session_id(),
                    _ => -1,
                });
            }
        });
        madsim::time::sleep(secs(5.0)).await;
        world.partition(&[app], &[zk]);
        madsim::time::sleep(secs(4.0)).await;
        world.heal();
        madsim::time::sleep(secs(20.0)).await;
        let states: Vec<SessionState> = transitions(&log).into_iter().map(|(_, s)| s).collect();
        assert_eq!(
            states,
            vec![
                SessionState::Disconnected,
                SessionState::SyncConnected,
                // The process ended and dropped its last handle: the session is closed.
                SessionState::Closed
            ],
        );
        let ids = ids.lock().unwrap().clone();
        assert_eq!(ids.len(), 2);
        assert_eq!(ids[0], ids[1]);
        assert!(ids[0] > 0);
    });
}

/// The same seed gives the same run, packet for packet, across reconnects and expiry.
#[test]
fn same_seed_same_trace() {
    let hash = |seed: u64| {
        let out: Arc<Mutex<u64>> = Arc::default();
        let result = out.clone();
        run(seed, async move {
            let (world, zk, app) = world_with_server();
            start_client(&world, app, move |ctx, log| {
                connect_and_hold(ctx, log, zk, ClientModel::Rust)
            });
            madsim::time::sleep(secs(3.0)).await;
            world.partition(&[app], &[zk]);
            madsim::time::sleep(secs(5.0)).await;
            world.heal();
            madsim::time::sleep(secs(10.0)).await;
            *result.lock().unwrap() = world.trace_hash();
        });
        *out.lock().unwrap()
    };
    assert_eq!(hash(11), hash(11));
    assert_ne!(hash(11), hash(12));
}

#[test]
fn the_handle_is_shareable_across_tasks() {
    fn shareable<T: Clone + Send + Sync + 'static>() {}
    shareable::<SimZkClient>();
}

#[test]
fn connect_gives_up_after_the_connect_deadline() {
    run(6, async {
        let world = World::new(NetConfig::default(), false);
        let zk = world.add_host("zk", "dc1");
        let app = world.add_host("app", "dc2");
        type Outcome = Option<(ZkResult<i64>, Duration)>;
        let outcome: Arc<Mutex<Outcome>> = Arc::default();
        let out = outcome.clone();
        start_client(&world, app, move |ctx, _| {
            let out = out.clone();
            async move {
                let start = ctx.env.now();
                let config = server_config(zk, ClientModel::Rust)
                    .with_connect_deadline(Duration::from_secs(4));
                let result = SimZkClient::connect(&ctx, config)
                    .await
                    .map(|c| c.session_id());
                *out.lock().unwrap() = Some((result, ctx.env.now() - start));
            }
        });
        madsim::time::sleep(secs(10.0)).await;
        let (result, took) = outcome.lock().unwrap().take().expect("connect returned");
        assert_eq!(result, Err(ErrorCode::OperationTimeout));
        // The host clock wakes a hair after its deadline.
        assert!(took >= secs(4.0) && took < secs(4.001), "{took:?}");
    });
}
