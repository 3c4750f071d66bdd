//! The client against the simulated ZooKeeper ensemble (`zk::server`): sessions, ephemerals,
//! watches across reconnects, and how each client model learns of trouble.

use super::*;
use crate::coord::{Coordination, CreateOptions};
use crate::sim::clock::true_now;
use crate::sim::ensemble::add_ensemble;
use crate::sim::net::{Addr, HostId, NetConfig, ports};
use crate::sim::topology::ZkSpec;
use crate::sim::world::World;
use crate::zk::types::{CreateMode, ErrorCode, EventType, SessionState};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::oneshot;

fn secs(v: f64) -> Duration {
    Duration::from_secs_f64(v)
}

struct Ensemble {
    world: World,
    servers: Vec<HostId>,
    app1: HostId,
    app2: HostId,
}

impl Ensemble {
    /// Three voters in three sites (tickTime 2 s, so T may be 4–40 s) and two application
    /// hosts in dc1 and dc2; returns once a leader is elected.
    async fn start() -> Ensemble {
        let world = World::new(NetConfig::default(), true);
        let spec = ZkSpec::voters_in(&["dc1", "dc2", "dc3"], secs(2.0), 10, 5, secs(6.0));
        let servers = add_ensemble(&world, &spec);
        for host in &servers {
            world.start(*host).expect("server starts");
        }
        let app1 = world.add_host("app1", "dc1");
        let app2 = world.add_host("app2", "dc2");
        let e = Ensemble {
            world,
            servers,
            app1,
            app2,
        };
        e.wait_for_leader().await;
        e
    }

    async fn wait_for_leader(&self) {
        for _ in 0..600 {
            if self.world.hosts_with_role("leading").len() == 1
                && self.world.hosts_with_role("following").len() == 2
            {
                return;
            }
            madsim::time::sleep(secs(0.1)).await;
        }
        panic!("no leader within 60 s");
    }

    fn config(&self, model: ClientModel) -> ClientConfig {
        let servers = self
            .servers
            .iter()
            .map(|h| Addr {
                host: *h,
                port: ports::ZK_CLIENT,
            })
            .collect();
        ClientConfig::new(servers).with_model(model)
    }

    /// Connects a client from `host` (its process) and hands the session to the test.
    async fn connect(&self, host: HostId, config: ClientConfig) -> SimZkClient {
        let (tx, rx) = oneshot::channel();
        let slot = Arc::new(Mutex::new(Some((tx, config))));
        self.world.set_process(
            host,
            Arc::new(move |ctx| {
                let taken = slot.lock().unwrap().take();
                Box::pin(async move {
                    if let Some((tx, config)) = taken {
                        let client = SimZkClient::connect(&ctx, config).await;
                        let _ = tx.send(client);
                        std::future::pending::<()>().await;
                    }
                })
            }),
        );
        self.world.start(host).expect("app starts");
        rx.await.expect("process ran").expect("session established")
    }

    fn host_of(&self, addr: Addr) -> HostId {
        addr.host
    }
}

fn run<F: Future<Output = ()>>(seed: u64, f: impl FnOnce() -> F + Send) {
    crate::sim::run_seeded(seed, f);
}

/// Waits (true time) until the client reports `state`, for at most `limit`.
async fn wait_for_state(client: &SimZkClient, state: SessionState, limit: Duration) -> Duration {
    let start = true_now();
    let mut watcher = client.state_watcher();
    let wait = async {
        while *watcher.borrow_and_update() != state {
            if watcher.changed().await.is_err() {
                break;
            }
        }
    };
    tokio::select! {
        biased;
        () = wait => {}
        () = madsim::time::sleep(limit) => {}
    }
    assert_eq!(client.state(), state, "not {state:?} within {limit:?}");
    true_now() - start
}

/// `future`'s output, or a panic naming `what` if it takes longer than `limit` (true time).
async fn within<F: Future>(limit: Duration, what: &str, future: F) -> F::Output {
    tokio::select! {
        biased;
        out = future => out,
        () = madsim::time::sleep(limit) => panic!("{what}: nothing within {limit:?}"),
    }
}

fn opts(mode: CreateMode) -> CreateOptions {
    CreateOptions::new(mode)
}

#[test]
fn operations_and_ephemerals_end_with_the_session() {
    run(21, || async {
        let e = Ensemble::start().await;
        let a = e.connect(e.app1, e.config(ClientModel::Rust)).await;
        let (path, stat) = a
            .create("/a", b"1", &opts(CreateMode::Persistent))
            .await
            .unwrap();
        assert_eq!((path.as_str(), stat.version), ("/a", 0));
        assert_eq!(a.set_data("/a", b"2", Some(0)).await.unwrap().version, 1);
        assert_eq!(
            a.set_data("/a", b"3", Some(0)).await,
            Err(ErrorCode::BadVersion)
        );
        assert_eq!(a.get_data("/a").await.unwrap().0, b"2");
        a.create("/eph", b"", &opts(CreateMode::Ephemeral))
            .await
            .unwrap();
        let b = e.connect(e.app2, e.config(ClientModel::Rust)).await;
        assert_ne!(a.session_id(), b.session_id());
        b.sync("/").await.unwrap();
        let owner = b
            .exists("/eph")
            .await
            .unwrap()
            .expect("visible")
            .ephemeral_owner;
        assert_eq!(owner, a.session_id());
        a.close().await.unwrap();
        assert_eq!(a.state(), SessionState::Closed);
        assert_eq!(a.get_data("/a").await, Err(ErrorCode::ClientClosed));
        b.sync("/").await.unwrap();
        assert_eq!(
            b.exists("/eph").await,
            Ok(None),
            "closing removed the ephemeral"
        );
        b.delete("/a", None).await.unwrap();
        assert_eq!(b.exists("/a").await, Ok(None));
        assert!(e.world.metric("client.ops_ok") >= 10);
    });
}

/// The Java client sends SetWatches only once the connect response is in. Only its own
/// server is cut: with T = 6 s and three hosts, a Java client that must also time out on the
/// leader (2/3·T to notice, T/3 per dead host, up to 1 s jitter each) often reconnects after
/// its session expired — real behaviour, but not what this test is about.
#[test]
fn java_a_watch_fires_once_and_survives_a_move_to_another_server() {
    watch_survives_a_move(22, ClientModel::Java, false);
}

/// The crate pipelines SetWatches (and auth) right behind the connect request; the server
/// holds them until the session is re-established, as ZooKeeper does.
#[test]
fn rust_a_watch_fires_once_and_survives_a_move_to_a_follower() {
    watch_survives_a_move(22, ClientModel::Rust, true);
}

/// Moves the client off its server (and, with `avoid_leader`, off the leader too, so it lands
/// on a follower that must revalidate the session) and checks its session, ephemeral and
/// watch made the move.
fn watch_survives_a_move(seed: u64, model: ClientModel, avoid_leader: bool) {
    run(seed, || async move {
        let e = Ensemble::start().await;
        let a = e.connect(e.app1, e.config(model)).await;
        let b = e.connect(e.app2, e.config(ClientModel::Rust)).await;
        a.create("/mine", b"", &opts(CreateMode::Ephemeral))
            .await
            .unwrap();
        let (stat, watch) = a.exists_watch("/w").await.unwrap();
        assert_eq!(stat, None);
        let before = a.server().expect("connected");
        let session = a.session_id();
        let leader = e.world.hosts_with_role("leading")[0];
        let mut cut = vec![e.host_of(before)];
        if avoid_leader {
            let other = if cut[0] == leader {
                *e.servers.iter().find(|h| **h != leader).unwrap()
            } else {
                leader
            };
            cut.push(other);
        }
        e.world.partition(&[e.app1], &cut);
        wait_for_state(&a, SessionState::Disconnected, secs(5.0)).await;
        wait_for_state(&a, SessionState::SyncConnected, secs(8.0)).await;
        let after = a.server().expect("reconnected");
        assert!(!cut.contains(&after.host));
        assert_eq!(a.session_id(), session);
        b.sync("/").await.unwrap();
        assert_eq!(
            b.exists("/mine").await.unwrap().map(|s| s.ephemeral_owner),
            Some(session),
            "the ephemeral survives the move"
        );
        // The watch was re-registered on the new server.
        b.create("/w", b"", &opts(CreateMode::Persistent))
            .await
            .unwrap();
        let fired = within(secs(2.0), "re-registered watch", watch.changed()).await;
        assert_eq!(
            (fired.event_type, fired.path.as_str()),
            (EventType::NodeCreated, "/w")
        );
        // One-shot: the next change needs a new watch.
        let (_, _, again) = a.get_data_watch("/w").await.unwrap();
        b.delete("/w", None).await.unwrap();
        let again = within(secs(2.0), "second watch", again.changed()).await;
        assert_eq!(again.event_type, EventType::NodeDeleted);
        e.world.heal();
    });
}

#[test]
fn a_client_paused_past_its_session_timeout_finds_it_expired() {
    run(23, || async {
        let e = Ensemble::start().await;
        let a = e.connect(e.app1, e.config(ClientModel::Rust)).await;
        let b = e.connect(e.app2, e.config(ClientModel::Rust)).await;
        a.create("/eph", b"", &opts(CreateMode::Ephemeral))
            .await
            .unwrap();
        let (_, _, watch) = a.get_data_watch("/eph").await.unwrap();
        e.world.pause(e.app1).unwrap();
        madsim::time::sleep(secs(12.0)).await;
        b.sync("/").await.unwrap();
        assert_eq!(b.exists("/eph").await, Ok(None), "the ensemble expired it");
        e.world.resume(e.app1).unwrap();
        wait_for_state(&a, SessionState::Expired, secs(1.0)).await;
        // The deletion's notification reached the client's socket before the server hung
        // up, so it is read on resume, before the client notices anything.
        let event = within(secs(1.0), "watch", watch.changed()).await;
        assert_eq!(event.event_type, EventType::NodeDeleted);
        assert_eq!(a.exists("/x").await, Err(ErrorCode::SessionExpired));
    });
}

#[test]
fn cut_off_from_every_server_the_crate_expires_at_seven_fifths_of_t() {
    run(24, || async {
        let e = Ensemble::start().await;
        let a = e.connect(e.app1, e.config(ClientModel::Rust)).await;
        madsim::time::sleep(secs(3.0)).await;
        e.world.partition(&[e.app1], &e.servers);
        let disconnected = wait_for_state(&a, SessionState::Disconnected, secs(3.0)).await;
        assert!(
            disconnected >= secs(1.4),
            "2/5·T after the last receive: {disconnected:?}"
        );
        let expired = wait_for_state(&a, SessionState::Expired, secs(8.0)).await;
        let total = disconnected + expired;
        assert!(
            total >= secs(7.4) && total <= secs(8.5),
            "7/5·T after the last receive: {total:?}"
        );
        e.world.heal();
    });
}

#[test]
fn the_java_model_learns_of_expiry_only_from_a_server() {
    run(25, || async {
        let e = Ensemble::start().await;
        let a = e.connect(e.app1, e.config(ClientModel::Java)).await;
        madsim::time::sleep(secs(3.0)).await;
        e.world.partition(&[e.app1], &e.servers);
        let disconnected = wait_for_state(&a, SessionState::Disconnected, secs(5.0)).await;
        assert!(
            disconnected >= secs(3.0),
            "2/3·T read timeout: {disconnected:?}"
        );
        madsim::time::sleep(secs(20.0)).await;
        assert_eq!(
            a.state(),
            SessionState::Disconnected,
            "no client-side expiry"
        );
        e.world.heal();
        wait_for_state(&a, SessionState::Expired, secs(6.0)).await;
    });
}

#[test]
fn a_crashed_server_is_noticed_at_once_and_the_session_moves_on() {
    run(26, || async {
        let e = Ensemble::start().await;
        let a = e.connect(e.app1, e.config(ClientModel::Rust)).await;
        a.create("/eph", b"", &opts(CreateMode::Ephemeral))
            .await
            .unwrap();
        let session = a.session_id();
        let server = a.server().expect("connected").host;
        // kill -9 with the OS alive: the server's host resets the client's connection.
        e.world.crash(server, false).unwrap();
        let noticed = wait_for_state(&a, SessionState::Disconnected, secs(1.0)).await;
        assert!(noticed < secs(0.1), "{noticed:?}");
        wait_for_state(&a, SessionState::SyncConnected, secs(8.0)).await;
        assert_eq!(a.session_id(), session);
        assert_ne!(a.server().map(|s| s.host), Some(server));
        assert_eq!(
            a.exists("/eph").await.unwrap().map(|s| s.ephemeral_owner),
            Some(session)
        );
    });
}

#[test]
fn auth_is_sent_on_connect_and_a_rejected_one_ends_the_session() {
    run(27, || async {
        let e = Ensemble::start().await;
        let good = e
            .config(ClientModel::Rust)
            .with_auth("digest", b"alice:secret");
        let a = e.connect(e.app1, good).await;
        a.add_auth("digest", b"bob:pw").await.unwrap();
        let (path, _) = a
            .create(
                "/private",
                b"x",
                &opts(CreateMode::Persistent).with_acl(crate::zk::types::Acl::creator_all()),
            )
            .await
            .unwrap();
        assert_eq!(path, "/private");
        let (acl, _) = a.get_acl("/private").await.unwrap();
        let ids: Vec<&str> = acl
            .iter()
            .map(|x| x.id.split(':').next().unwrap())
            .collect();
        assert_eq!(ids, vec!["alice", "bob"], "{acl:?}");

        // No provider for the scheme: the server answers AuthFailed and hangs up.
        let bad = e.config(ClientModel::Rust).with_auth("kerberos", b"x");
        let (tx, rx) = oneshot::channel();
        let slot = Arc::new(Mutex::new(Some(tx)));
        e.world.set_process(
            e.app2,
            Arc::new(move |ctx| {
                let tx = slot.lock().unwrap().take();
                let bad = bad.clone();
                Box::pin(async move {
                    let result = SimZkClient::connect(&ctx, bad)
                        .await
                        .map(|c| c.session_id());
                    if let Some(tx) = tx {
                        let _ = tx.send(result);
                    }
                })
            }),
        );
        e.world.start(e.app2).unwrap();
        assert_eq!(rx.await.unwrap(), Err(ErrorCode::AuthFailed));
    });
}
