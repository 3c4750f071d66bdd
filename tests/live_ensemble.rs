//! Real ZooKeeper 3.8 (Debian's `zookeeper` package) through the `LiveZk` adapter.
//!
//! Every test starts its own ensemble on loopback ports and fails, never skips, when the
//! package is missing (the error says `apt-get install -y zookeeper`). The harness blocks, so
//! tests run on a multi-threaded runtime and call it through `block_in_place`, leaving the
//! crate's session task free to run meanwhile.

use splitbrain::coord::{Coordination, CreateOptions, Watch};
use splitbrain::live::{EnsembleConfig, LiveZk, RealEnsemble, ServerMode};
use splitbrain::zk::types::{
    Acl, CreateMode, ErrorCode, EventType, Op, OpResult, SessionState, Stat, WatchedEvent, perms,
};
use std::future::Future;
use std::time::{Duration, Instant};

const SESSION_TIMEOUT: Duration = Duration::from_secs(6);
/// Bound for anything that should happen promptly on a healthy ensemble.
const PROMPTLY: Duration = Duration::from_secs(10);

fn blocking<T>(f: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(f)
}

fn start(servers: usize) -> RealEnsemble {
    blocking(|| RealEnsemble::start(EnsembleConfig::with_servers(servers)))
        .unwrap_or_else(|err| panic!("cannot start a real ZooKeeper ensemble: {err}"))
}

async fn connect(connect_string: &str) -> LiveZk {
    connect_with(connect_string, &[]).await
}

async fn connect_with(connect_string: &str, auth: &[(String, Vec<u8>)]) -> LiveZk {
    promptly(
        "connect",
        LiveZk::connect(connect_string, SESSION_TIMEOUT, auth),
    )
    .await
    .unwrap_or_else(|err| panic!("connect to {connect_string}: {err}"))
}

async fn promptly<F: Future>(what: &str, future: F) -> F::Output {
    tokio::time::timeout(PROMPTLY, future)
        .await
        .unwrap_or_else(|_| panic!("{what}: not done within {PROMPTLY:?}"))
}

async fn fired(what: &str, watch: Watch) -> WatchedEvent {
    promptly(what, watch.changed()).await
}

fn persistent() -> CreateOptions {
    CreateOptions::new(CreateMode::Persistent)
}

fn node_event(event_type: EventType, path: &str) -> WatchedEvent {
    WatchedEvent {
        event_type,
        session_state: SessionState::SyncConnected,
        path: path.into(),
    }
}

/// Waits until the session reports `state` (it may pass through others first).
async fn reaches(zk: &LiveZk, state: SessionState) {
    let mut states = zk.state_watcher();
    promptly(
        &format!("session reaching {state:?}"),
        states.wait_for(|s| *s == state),
    )
    .await
    .expect("state follower ended");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_writes_multi_and_watches_on_a_three_server_ensemble() {
    let began = Instant::now();
    let ensemble = start(3);
    let started = began.elapsed();
    let zk = connect(&ensemble.connect_string()).await;
    let other = connect(&ensemble.connect_string()).await;
    assert_eq!(zk.state(), SessionState::SyncConnected);
    assert_ne!(zk.session_id(), other.session_id());

    // create / get / exists
    let (path, created) = zk.create("/app", b"v0", &persistent()).await.unwrap();
    assert_eq!(path, "/app");
    assert_eq!(
        (created.version, created.cversion, created.aversion),
        (0, 0, 0)
    );
    assert_eq!(created.czxid, created.mzxid);
    assert_eq!(created.czxid, created.pzxid);
    assert_eq!(created.ephemeral_owner, 0);
    assert_eq!(created.data_length, 2);
    let (data, stat) = zk.get_data("/app").await.unwrap();
    assert_eq!((data.as_slice(), stat), (&b"v0"[..], created));
    assert_eq!(zk.exists("/app").await.unwrap(), Some(created));
    assert_eq!(zk.exists("/nope").await.unwrap(), None);
    assert_eq!(
        zk.create("/app", b"", &persistent()).await,
        Err(ErrorCode::NodeExists)
    );
    assert_eq!(
        zk.create("/missing/child", b"", &persistent()).await,
        Err(ErrorCode::NoNode)
    );
    assert_eq!(zk.get_data("/nope").await, Err(ErrorCode::NoNode));
    assert_eq!(
        zk.create("no-slash", b"", &persistent()).await,
        Err(ErrorCode::BadArguments)
    );

    // set with and without a version
    let set = zk.set_data("/app", b"v1", Some(0)).await.unwrap();
    assert_eq!(set.version, 1);
    assert!(set.mzxid > created.mzxid);
    assert_eq!(set.czxid, created.czxid);
    assert_eq!(
        zk.set_data("/app", b"v2", Some(0)).await,
        Err(ErrorCode::BadVersion)
    );
    assert_eq!(zk.set_data("/app", b"v1", None).await.unwrap().version, 2);

    // children, sequential names, cversion counting creates and deletes
    let (first, _) = zk
        .create(
            "/app/n-",
            b"",
            &CreateOptions::new(CreateMode::PersistentSequential),
        )
        .await
        .unwrap();
    let (second, _) = zk
        .create(
            "/app/n-",
            b"",
            &CreateOptions::new(CreateMode::PersistentSequential),
        )
        .await
        .unwrap();
    assert_eq!(first, "/app/n-0000000000");
    assert_eq!(second, "/app/n-0000000001");
    let (mut children, parent) = zk.get_children("/app").await.unwrap();
    children.sort();
    assert_eq!(children, ["n-0000000000", "n-0000000001"]);
    assert_eq!((parent.num_children, parent.cversion), (2, 2));
    assert_eq!(zk.delete("/app", None).await, Err(ErrorCode::NotEmpty));
    assert_eq!(zk.delete(&first, Some(5)).await, Err(ErrorCode::BadVersion));
    zk.delete(&first, Some(0)).await.unwrap();
    let (_, parent) = zk.get_children("/app").await.unwrap();
    assert_eq!((parent.num_children, parent.cversion), (1, 3));
    assert_eq!(zk.delete(&first, None).await, Err(ErrorCode::NoNode));

    // one-shot watches, fired by another session's writes
    let (_, _, data_watch) = zk.get_data_watch("/app").await.unwrap();
    let (_, _, child_watch) = zk.get_children_watch("/app").await.unwrap();
    let (none, exists_watch) = zk.exists_watch("/app/later").await.unwrap();
    assert_eq!(none, None);
    assert_eq!(
        zk.get_data_watch("/nope").await.err(),
        Some(ErrorCode::NoNode)
    );
    other.set_data("/app", b"v3", None).await.unwrap();
    other
        .create("/app/later", b"", &persistent())
        .await
        .unwrap();
    assert_eq!(
        fired("data watch", data_watch).await,
        node_event(EventType::NodeDataChanged, "/app")
    );
    assert_eq!(
        fired("child watch", child_watch).await,
        node_event(EventType::NodeChildrenChanged, "/app")
    );
    assert_eq!(
        fired("exists watch", exists_watch).await,
        node_event(EventType::NodeCreated, "/app/later")
    );

    // multi: all or nothing, with ZooKeeper's per-op results on failure
    let version = zk.exists("/app").await.unwrap().unwrap().version;
    let ok = zk
        .multi(vec![
            Op::Check {
                path: "/app".into(),
                version,
            },
            Op::Create {
                path: "/app/m".into(),
                data: b"m".to_vec(),
                acl: Acl::open_unsafe(),
                mode: CreateMode::Persistent,
            },
            Op::SetData {
                path: "/app".into(),
                data: b"v4".to_vec(),
                version,
            },
            Op::Delete {
                path: "/app/later".into(),
                version: -1,
            },
        ])
        .await
        .unwrap();
    assert_eq!(ok.len(), 4);
    assert_eq!(ok[0], OpResult::Check);
    let OpResult::Create { path, stat } = &ok[1] else {
        panic!("expected a create result, got {:?}", ok[1]);
    };
    assert_eq!(path, "/app/m");
    let OpResult::SetData { stat: set_stat } = &ok[2] else {
        panic!("expected a setData result, got {:?}", ok[2]);
    };
    assert_eq!(ok[3], OpResult::Delete);
    if stat.czxid == -1 {
        // ZOOKEEPER-4026, present in Debian's 3.8.0: a create inside a multi is answered as a
        // plain create, without a Stat; the crate reports its "invalid" Stat then.
        assert_eq!(
            *stat,
            Stat {
                czxid: -1,
                mzxid: -1,
                pzxid: -1,
                version: -1,
                cversion: -1,
                aversion: -1,
                ..Stat::default()
            }
        );
    } else {
        assert_eq!(stat.czxid, set_stat.mzxid);
    }
    // One transaction: every op carries the same zxid.
    let created_in_multi = zk.exists("/app/m").await.unwrap().unwrap();
    assert_eq!(created_in_multi.czxid, set_stat.mzxid);
    assert_eq!(set_stat.version, version + 1);
    assert_eq!(zk.exists("/app/later").await.unwrap(), None);

    let failed = zk
        .multi(vec![
            Op::Create {
                path: "/app/not-applied".into(),
                data: vec![],
                acl: Acl::open_unsafe(),
                mode: CreateMode::Persistent,
            },
            Op::Check {
                path: "/app".into(),
                version: 999,
            },
            Op::Delete {
                path: "/app/m".into(),
                version: -1,
            },
        ])
        .await
        .unwrap();
    assert_eq!(
        failed,
        [
            OpResult::Error(ErrorCode::Ok),
            OpResult::Error(ErrorCode::BadVersion),
            OpResult::Error(ErrorCode::RuntimeInconsistency),
        ]
    );
    assert_eq!(zk.exists("/app/not-applied").await.unwrap(), None);
    assert!(zk.exists("/app/m").await.unwrap().is_some());

    // sync and ACL reads
    zk.sync("/app").await.unwrap();
    let (acl, _) = zk.get_acl("/app").await.unwrap();
    assert_eq!(acl, Acl::open_unsafe());

    // ephemerals: children forbidden, gone when their session closes (firing watches)
    let (eph, eph_stat) = other
        .create("/app/eph", b"", &CreateOptions::new(CreateMode::Ephemeral))
        .await
        .unwrap();
    assert_eq!(eph_stat.ephemeral_owner, other.session_id());
    assert_eq!(
        other.create("/app/eph/child", b"", &persistent()).await,
        Err(ErrorCode::NoChildrenForEphemerals)
    );
    // `zk` may be on another server than `other`, one that has not applied the create yet:
    // an exists there would watch for the creation (as the observer of /lock would in
    // `an_isolated_session_expires_and_its_ephemeral_goes`).
    zk.sync(&eph).await.unwrap();
    let (eph_seen, eph_watch) = zk.exists_watch(&eph).await.unwrap();
    assert!(eph_seen.is_some(), "the ephemeral is visible after a sync");
    promptly("close", other.close()).await.unwrap();
    assert_eq!(other.state(), SessionState::Closed);
    assert_eq!(other.get_data("/app").await, Err(ErrorCode::ClientClosed));
    assert_eq!(
        fired("ephemeral deletion", eph_watch).await,
        node_event(EventType::NodeDeleted, "/app/eph")
    );
    assert_eq!(zk.exists("/app/eph").await.unwrap(), None);

    promptly("close", zk.close()).await.unwrap();
    eprintln!(
        "reads_writes_multi_and_watches: ensemble up in {started:?}, test took {:?}",
        began.elapsed()
    );
}

/// Facts about ZooKeeper 3.8 that the simulated ensemble reproduces, checked on the real one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zookeeper_semantics_the_model_relies_on() {
    let began = Instant::now();
    let ensemble = start(1);
    let zk = connect(&ensemble.connect_string()).await;
    let sequential = CreateOptions::new(CreateMode::PersistentSequential);

    // A failed write still consumes a zxid (it goes through the quorum as an error txn).
    let (_, first) = zk.create("/z", b"", &persistent()).await.unwrap();
    assert_eq!(
        zk.create("/z", b"", &persistent()).await,
        Err(ErrorCode::NodeExists)
    );
    let (_, second) = zk.create("/z2", b"", &persistent()).await.unwrap();
    assert_eq!(second.czxid, first.czxid + 2);

    // The sequence suffix counts child creations only; cversion counts creations and
    // deletions (client-visible cversion = 2 * creations - children).
    zk.create("/seq", b"", &persistent()).await.unwrap();
    let (s0, _) = zk.create("/seq/s-", b"", &sequential).await.unwrap();
    zk.create("/seq/s-", b"", &sequential).await.unwrap();
    zk.delete(&s0, None).await.unwrap();
    let (s2, _) = zk.create("/seq/s-", b"", &sequential).await.unwrap();
    assert_eq!(s2, "/seq/s-0000000002");
    let parent = zk.exists("/seq").await.unwrap().unwrap();
    assert_eq!((parent.cversion, parent.num_children), (4, 2));
    // A child's deletion moves the parent's pzxid but not its mzxid.
    assert_eq!(parent.mzxid, parent.czxid);
    assert!(parent.pzxid > parent.mzxid);

    // delete checks the version before emptiness.
    assert_eq!(zk.delete("/seq", Some(7)).await, Err(ErrorCode::BadVersion));
    assert_eq!(zk.delete("/seq", Some(0)).await, Err(ErrorCode::NotEmpty));

    // setData bumps the version even when the data does not change.
    let same = zk.set_data("/z", b"", None).await.unwrap();
    assert_eq!(same.version, 1);

    promptly("close", zk.close()).await.unwrap();
    eprintln!("zookeeper_semantics: test took {:?}", began.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_leader_elects_another_and_the_session_survives() {
    let began = Instant::now();
    let mut ensemble = start(3);
    let zk = connect(&ensemble.connect_string()).await;
    let session = zk.session_id();
    let (eph, _) = zk
        .create("/holder", b"me", &CreateOptions::new(CreateMode::Ephemeral))
        .await
        .unwrap();

    let old_leader = blocking(|| ensemble.wait_for_leader(PROMPTLY)).unwrap();
    let killed_at = Instant::now();
    ensemble.kill9(old_leader).unwrap();
    assert_eq!(ensemble.mode(old_leader).unwrap(), ServerMode::Down);
    let new_leader = blocking(|| ensemble.wait_for_leader(PROMPTLY))
        .unwrap_or_else(|err| panic!("no new leader: {err}"));
    let elected_after = killed_at.elapsed();
    assert_ne!(new_leader, old_leader);

    // The same session carries on: its ephemeral is still there and writes go through.
    let write = promptly("write after failover", async {
        loop {
            match zk.set_data(&eph, b"still me", None).await {
                Err(ErrorCode::ConnectionLoss) => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                other => return other,
            }
        }
    })
    .await;
    assert_eq!(write.unwrap().ephemeral_owner, session);
    reaches(&zk, SessionState::SyncConnected).await;
    assert_eq!(zk.session_id(), session);

    // The old leader comes back as a follower and catches up.
    ensemble.restart(old_leader).unwrap();
    let mode = blocking(|| ensemble.wait_serving(old_leader, PROMPTLY)).unwrap();
    assert_eq!(mode, ServerMode::Follower);
    let direct = connect(&ensemble.client_addr(old_leader).unwrap().to_string()).await;
    direct.sync(&eph).await.unwrap();
    assert_eq!(direct.get_data(&eph).await.unwrap().0, b"still me");

    promptly("close", direct.close()).await.unwrap();
    promptly("close", zk.close()).await.unwrap();
    eprintln!(
        "killing_the_leader: new leader elected {elected_after:?} after kill -9, test took {:?}",
        began.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_follower_misses_writes_and_catches_up_after_sigcont() {
    let began = Instant::now();
    let mut ensemble = start(3);
    let leader = blocking(|| ensemble.wait_for_leader(PROMPTLY)).unwrap();
    let follower = (leader + 1) % ensemble.len();
    // Talk to the leader only, so the pause cannot disturb this session.
    let zk = connect(&ensemble.client_addr(leader).unwrap().to_string()).await;
    zk.create("/p", b"before", &persistent()).await.unwrap();

    ensemble.stop(follower).unwrap();
    assert_eq!(ensemble.mode(follower).unwrap(), ServerMode::Paused);
    // Two of three still form a quorum.
    zk.set_data("/p", b"during", None).await.unwrap();
    assert_eq!(ensemble.leader(), Some(leader));

    ensemble.cont(follower).unwrap();
    blocking(|| ensemble.wait_serving(follower, PROMPTLY)).unwrap();
    let direct = connect(&ensemble.client_addr(follower).unwrap().to_string()).await;
    direct.sync("/p").await.unwrap();
    assert_eq!(direct.get_data("/p").await.unwrap().0, b"during");

    promptly("close", direct.close()).await.unwrap();
    promptly("close", zk.close()).await.unwrap();
    eprintln!("paused_follower: test took {:?}", began.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wiped_server_resyncs_from_the_quorum_after_restart() {
    let began = Instant::now();
    let mut ensemble = start(3);
    let leader = blocking(|| ensemble.wait_for_leader(PROMPTLY)).unwrap();
    let victim = (leader + 1) % ensemble.len();
    let zk = connect(&ensemble.client_addr(leader).unwrap().to_string()).await;
    zk.create("/w", b"kept", &persistent()).await.unwrap();

    ensemble.kill9(victim).unwrap();
    assert!(ensemble.restart(victim).is_ok(), "a killed server restarts");
    ensemble.kill9(victim).unwrap();
    ensemble.wipe(victim).unwrap();
    let data_dir = ensemble.server_dir(victim).unwrap().join("data");
    let left: Vec<_> = std::fs::read_dir(&data_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(left, ["myid"]);
    zk.set_data("/w", b"after wipe", None).await.unwrap();

    ensemble.restart(victim).unwrap();
    blocking(|| ensemble.wait_serving(victim, PROMPTLY)).unwrap();
    let direct = connect(&ensemble.client_addr(victim).unwrap().to_string()).await;
    direct.sync("/w").await.unwrap();
    assert_eq!(direct.get_data("/w").await.unwrap().0, b"after wipe");

    // Wrong-state requests are refused, not obeyed.
    assert!(ensemble.wipe(victim).is_err(), "wiping a running server");
    assert!(
        ensemble.restart(victim).is_err(),
        "restarting a running server"
    );
    assert!(ensemble.kill9(7).is_err(), "no server 7");

    promptly("close", direct.close()).await.unwrap();
    promptly("close", zk.close()).await.unwrap();
    eprintln!("wiped_server: test took {:?}", began.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_isolated_session_expires_and_its_ephemeral_goes() {
    let began = Instant::now();
    let mut ensemble = start(3);
    let leader = blocking(|| ensemble.wait_for_leader(PROMPTLY)).unwrap();
    let follower = (leader + 1) % ensemble.len();
    let observer = connect(&ensemble.client_addr(leader).unwrap().to_string()).await;
    // The victim knows only the follower that is about to freeze.
    let session_timeout = Duration::from_secs(1);
    let victim = promptly(
        "connect",
        LiveZk::connect(
            &ensemble.client_addr(follower).unwrap().to_string(),
            session_timeout,
            &[],
        ),
    )
    .await
    .unwrap();
    assert_eq!(victim.negotiated_session_timeout(), session_timeout);
    victim
        .create("/lock", b"", &CreateOptions::new(CreateMode::Ephemeral))
        .await
        .unwrap();
    // Another client's create is acknowledged once the victim's server applied it; the
    // observer's server may apply it a moment later, and an exists before that would watch
    // for the creation instead (seen once: the watch fired NodeCreated). A sync first.
    observer.sync("/lock").await.unwrap();
    let (_, observer_watch) = observer.exists_watch("/lock").await.unwrap();
    let (_, victim_watch) = victim.exists_watch("/lock").await.unwrap();
    // The ensemble last heard of the session no earlier than this.
    let last_heard = Instant::now();

    ensemble.stop(follower).unwrap();
    let paused_at = Instant::now();
    // The leader expires the silent session and deletes its ephemeral...
    assert_eq!(
        fired("ephemeral deletion", observer_watch).await,
        node_event(EventType::NodeDeleted, "/lock")
    );
    let deleted_after = paused_at.elapsed();
    let silent_for = last_heard.elapsed();
    // ...while the victim, hearing nothing, declares its own session expired.
    assert_eq!(
        fired("victim's watch", victim_watch).await,
        WatchedEvent {
            event_type: EventType::Session,
            session_state: SessionState::Expired,
            path: String::new(),
        }
    );
    reaches(&victim, SessionState::Expired).await;
    let expired_after = paused_at.elapsed();
    // The leader hears of a session served by a follower only when the follower answers its
    // ping (every half tick) with the sessions it touched: a request in the last half tick
    // before the follower froze never reaches the leader, whose count starts that much early
    // (seen: 990 ms for T = 1 s). Sooner than that would be an expiry within the timeout.
    let tick = EnsembleConfig::with_servers(3).tick_time;
    assert!(
        silent_for + tick >= session_timeout,
        "ephemeral deleted {silent_for:?} after the session's last request, within its timeout \
         (less one tick, {tick:?}, of the follower's reporting lag)"
    );
    assert_eq!(victim.get_data("/").await, Err(ErrorCode::SessionExpired));

    ensemble.cont(follower).unwrap();
    promptly("close", observer.close()).await.unwrap();
    eprintln!(
        "isolated_session: ephemeral deleted {deleted_after:?} and client expired \
         {expired_after:?} after the pause (T = {session_timeout:?}); test took {:?}",
        began.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_observer_forwards_writes_and_stops_serving_without_its_leader() {
    let began = Instant::now();
    let config = EnsembleConfig {
        observers: 1,
        ..EnsembleConfig::with_servers(1)
    };
    let mut ensemble = blocking(|| RealEnsemble::start(config))
        .unwrap_or_else(|err| panic!("cannot start a real ZooKeeper ensemble: {err}"));
    assert_eq!(ensemble.len(), 2);
    assert_eq!(ensemble.modes(), [ServerMode::Leader, ServerMode::Observer]);

    let via_observer = connect(&ensemble.client_addr(1).unwrap().to_string()).await;
    via_observer
        .create("/o", b"1", &persistent())
        .await
        .unwrap();
    assert_eq!(via_observer.get_data("/o").await.unwrap().0, b"1");

    // An observer does not vote: without the only voter it serves nobody.
    ensemble.kill9(0).unwrap();
    blocking(|| ensemble.wait_for_mode(1, ServerMode::NotServing, PROMPTLY)).unwrap();
    assert_eq!(ensemble.leader(), None);
    eprintln!("observer: test took {:?}", began.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connecting_to_nothing_fails_within_about_the_session_timeout() {
    // A loopback port that nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let began = Instant::now();
    let result = promptly(
        "connect to nothing",
        LiveZk::connect(&format!("127.0.0.1:{port}"), Duration::from_secs(1), &[]),
    )
    .await;
    let err = result.err().expect("connected to nothing");
    eprintln!("connect to nothing: {err} after {:?}", began.elapsed());
    assert!(splitbrain::coord::is_connection_error(err), "{err}");
}

#[test]
fn a_panicking_test_leaves_no_server_process_or_directory_behind() {
    let mut started = None;
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut ensemble = RealEnsemble::start(EnsembleConfig::with_servers(1))
            .unwrap_or_else(|err| panic!("cannot start a real ZooKeeper ensemble: {err}"));
        let pid = ensemble.pid(0).unwrap().expect("server 0 runs");
        let root = ensemble
            .server_dir(0)
            .unwrap()
            .parent()
            .unwrap()
            .to_path_buf();
        // A paused server must be cleaned up too.
        ensemble.stop(0).unwrap();
        started = Some((pid, root));
        panic!("a failing test, with the ensemble in scope");
    }));
    assert!(outcome.is_err());
    let (pid, root) = started.expect("the ensemble started");
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "server process {pid} survived"
    );
    assert!(!root.exists(), "{} survived", root.display());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn digest_acl_refuses_sessions_without_the_credentials() {
    let began = Instant::now();
    let ensemble = start(1);
    assert_eq!(ensemble.mode(0).unwrap(), ServerMode::Leader);
    let alice = [("digest".to_string(), b"alice:secret".to_vec())];
    let owner = connect_with(&ensemble.connect_string(), &alice).await;
    let stranger = connect(&ensemble.connect_string()).await;
    let late = connect(&ensemble.connect_string()).await;

    let (_, _) = owner
        .create(
            "/private",
            b"s3cret",
            &persistent().with_acl(Acl::creator_all()),
        )
        .await
        .unwrap();
    let (acl, stat) = owner.get_acl("/private").await.unwrap();
    assert_eq!(acl.len(), 1);
    assert_eq!(acl[0].scheme, "digest");
    assert_eq!(acl[0].perms, perms::ALL);
    // The id is user:base64(sha1(user:password)).
    assert!(acl[0].id.starts_with("alice:"), "{:?}", acl[0]);
    assert_eq!(stat.aversion, 0);

    assert_eq!(stranger.get_data("/private").await, Err(ErrorCode::NoAuth));
    assert_eq!(
        stranger.set_data("/private", b"x", None).await,
        Err(ErrorCode::NoAuth)
    );
    assert_eq!(
        stranger.create("/private/c", b"", &persistent()).await,
        Err(ErrorCode::NoAuth)
    );
    // exists needs no permission.
    assert!(stranger.exists("/private").await.unwrap().is_some());
    // creator_all without any authenticated id is an invalid ACL.
    assert_eq!(
        stranger
            .create("/x", b"", &persistent().with_acl(Acl::creator_all()))
            .await,
        Err(ErrorCode::InvalidAcl)
    );

    // Authenticating later grants access.
    late.add_auth("digest", b"alice:secret").await.unwrap();
    assert_eq!(late.get_data("/private").await.unwrap().0, b"s3cret");

    // An unknown scheme fails the session for good.
    let failing = connect(&ensemble.connect_string()).await;
    assert_eq!(
        promptly("bad auth", failing.add_auth("nosuch", b"x")).await,
        Err(ErrorCode::AuthFailed)
    );
    reaches(&failing, SessionState::AuthFailed).await;
    assert_eq!(failing.get_data("/").await, Err(ErrorCode::AuthFailed));

    for zk in [owner, stranger, late] {
        promptly("close", zk.close()).await.unwrap();
    }
    eprintln!("digest_acl: test took {:?}", began.elapsed());
}
