//! The ZooKeeper master selector against real ZooKeeper 3.8 (Debian's `zookeeper` package)
//! through the `LiveZk` adapter, in real time on tokio, exactly as a node would embed it.
//!
//! Each test starts its own standalone server. Nodes keep a shared [`Board`]: who acts as
//! master right now (a node joins it on Promoted and leaves it just before acknowledging
//! Demoted) and a fenced store that remembers the highest token it accepted. Every promotion
//! checks that nobody else acts and that its token is above every earlier one.

use splitbrain::coord::{Coordination, CreateOptions};
use splitbrain::election::{
    DemotionReason, DigestCredentials, FencingToken, Health, MasterSelector, Policy, Priority,
    Role, RoleEvent, SelectorConfig, ZkSelector, zk_selector,
};
use splitbrain::env::TokioEnv;
use splitbrain::live::{EnsembleConfig, LiveZk, RealEnsemble};
use splitbrain::sync::watch;
use splitbrain::zk::types::{ANY_VERSION, CreateMode, ErrorCode, Op, OpResult};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::task::JoinHandle;

const SESSION_TIMEOUT: Duration = Duration::from_secs(4);
/// Bound for anything that should happen promptly on a healthy ensemble (slow 2-core machine).
const PROMPTLY: Duration = Duration::from_secs(20);
const ROOT: &str = "/splitbrain-test/election";
const PAIR: &str = "pair-1";

fn credentials() -> DigestCredentials {
    DigestCredentials::new(PAIR, "pair secret")
}

fn start_server() -> RealEnsemble {
    start_ensemble(1)
}

fn start_ensemble(servers: usize) -> RealEnsemble {
    tokio::task::block_in_place(|| RealEnsemble::start(EnsembleConfig::with_servers(servers)))
        .unwrap_or_else(|err| panic!("cannot start a real ZooKeeper ensemble: {err}"))
}

#[derive(Default)]
struct Board {
    acting: BTreeMap<String, FencingToken>,
    highest: Option<FencingToken>,
    promotions: Vec<(String, FencingToken)>,
    demotions: Vec<(String, DemotionReason)>,
    violations: Vec<String>,
}

type SharedBoard = Arc<Mutex<Board>>;

struct Node {
    name: String,
    selector: ZkSelector,
    health: watch::Sender<Health>,
    /// How long the node takes to stop its master work after a demotion.
    stop_delay: Arc<Mutex<Duration>>,
    selector_task: JoinHandle<()>,
    event_task: JoinHandle<()>,
}

impl Node {
    fn start(
        connect_string: &str,
        board: &SharedBoard,
        name: &str,
        priority: u32,
        policy: Policy,
    ) -> Node {
        let config = SelectorConfig::new(ROOT, PAIR, name, Priority(priority), policy)
            .with_credentials(credentials());
        let connect_string = connect_string.to_string();
        let connect = move || {
            let connect_string = connect_string.clone();
            async move { LiveZk::connect(&connect_string, SESSION_TIMEOUT, &[]).await }
        };
        let (health, health_rx) = watch::channel(Health::Healthy);
        let (selector, mut events, task) =
            zk_selector(config, connect, TokioEnv::new(), health_rx).expect("valid config");
        let log_name = name.to_string();
        // Shown for a failing test only (the harness captures output).
        let task = task.with_log(move |line| eprintln!("[{log_name}] {line}"));
        let selector_task = tokio::spawn(task.run());
        let stop_delay = Arc::new(Mutex::new(Duration::ZERO));
        let event_task = {
            let board = board.clone();
            let name = name.to_string();
            let stop_delay = stop_delay.clone();
            tokio::spawn(async move {
                while let Some(event) = events.recv().await {
                    match event {
                        RoleEvent::Promoted { token } => {
                            let mut b = board.lock().unwrap();
                            if !b.acting.is_empty() {
                                let others = format!("{:?}", b.acting);
                                b.violations
                                    .push(format!("{name} promoted while {others} act"));
                            }
                            if b.highest.is_some_and(|h| h >= token) {
                                let highest = b.highest;
                                b.violations
                                    .push(format!("{name} got {token}, not above {highest:?}"));
                            }
                            b.highest = Some(token);
                            b.acting.insert(name.clone(), token);
                            b.promotions.push((name.clone(), token));
                        }
                        RoleEvent::Demoted { reason, ack, .. } => {
                            let delay = *stop_delay.lock().unwrap();
                            tokio::time::sleep(delay).await;
                            {
                                let mut b = board.lock().unwrap();
                                b.acting.remove(&name);
                                b.demotions.push((name.clone(), reason));
                            }
                            ack.stopped();
                        }
                    }
                }
            })
        };
        Node {
            name: name.to_string(),
            selector,
            health,
            stop_delay,
            selector_task,
            event_task,
        }
    }

    fn role(&self) -> Role {
        *self.selector.role().borrow()
    }

    /// The process dies: its tasks stop and its session goes with them.
    fn crash(self, board: &SharedBoard) {
        self.selector_task.abort();
        self.event_task.abort();
        board.lock().unwrap().acting.remove(&self.name);
    }
}

/// Waits until `condition` holds on the board, or fails with `what`.
async fn eventually(board: &SharedBoard, what: &str, condition: impl Fn(&Board) -> bool) {
    let deadline = tokio::time::Instant::now() + PROMPTLY;
    loop {
        {
            let b = board.lock().unwrap();
            assert!(b.violations.is_empty(), "violations: {:?}", b.violations);
            if condition(&b) {
                return;
            }
            if tokio::time::Instant::now() > deadline {
                panic!(
                    "{what}: not within {PROMPTLY:?}; acting {:?}, promotions {:?}, demotions {:?}",
                    b.acting, b.promotions, b.demotions
                );
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Starts node-a, waits until it leads, then starts node-b and waits until it stands as slave.
async fn start_pair(
    connect_string: &str,
    board: &SharedBoard,
    priorities: (u32, u32),
    policy: Policy,
) -> (Node, Node) {
    let a = Node::start(connect_string, board, "node-a", priorities.0, policy);
    eventually(board, "a leads", |b| master(b) == Some("node-a")).await;
    let b = Node::start(connect_string, board, "node-b", priorities.1, policy);
    eventually(board, "b stands", |_| b.role() == Role::Slave).await;
    (a, b)
}

fn master(b: &Board) -> Option<&str> {
    match b.acting.keys().collect::<Vec<_>>().as_slice() {
        [one] => Some(one.as_str()),
        _ => None,
    }
}

fn no_violations(board: &SharedBoard) {
    let b = board.lock().unwrap();
    assert!(b.violations.is_empty(), "violations: {:?}", b.violations);
}

async fn admin(connect_string: &str, auth: Option<&DigestCredentials>) -> LiveZk {
    let auth: Vec<(String, Vec<u8>)> = auth
        .map(|c| vec![("digest".to_string(), c.auth_bytes())])
        .unwrap_or_default();
    LiveZk::connect(connect_string, SESSION_TIMEOUT, &auth)
        .await
        .expect("admin session")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failover_when_the_master_crashes() {
    let server = start_server();
    let board = SharedBoard::default();
    let (a, b) = start_pair(&server.connect_string(), &board, (5, 5), Policy::Sticky).await;
    a.crash(&board);
    eventually(&board, "b takes over", |b| master(b) == Some("node-b")).await;
    no_violations(&board);
    drop(b);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relinquish_hands_over_only_after_the_master_stopped() {
    let server = start_server();
    let board = SharedBoard::default();
    let (a, _b) = start_pair(&server.connect_string(), &board, (9, 1), Policy::Sticky).await;
    // A long in-flight transaction: the node needs a while to stop.
    *a.stop_delay.lock().unwrap() = Duration::from_millis(1500);
    tokio::time::timeout(PROMPTLY, a.selector.relinquish())
        .await
        .expect("relinquish completes")
        .expect("selector running");
    {
        let board = board.lock().unwrap();
        // Relinquish completed only after the Demoted event was acknowledged.
        assert_eq!(
            board.demotions,
            vec![("node-a".to_string(), DemotionReason::Relinquished)]
        );
        assert!(!board.acting.contains_key("node-a"));
    }
    assert_eq!(a.role(), Role::Withdrawn);
    eventually(&board, "b takes over", |b| master(b) == Some("node-b")).await;
    // Sticky: a higher-priority candidate that rejoins does not fail back.
    a.selector.rejoin().unwrap();
    eventually(&board, "a stands again", |_| a.role() == Role::Slave).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(master(&board.lock().unwrap()), Some("node-b"));
    no_violations(&board);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn higher_priority_joiner_pre_empts_and_priority_changes_at_run_time() {
    let server = start_server();
    let board = SharedBoard::default();
    let a = Node::start(
        &server.connect_string(),
        &board,
        "node-a",
        50,
        Policy::PreEmptive,
    );
    eventually(&board, "a leads", |b| master(b) == Some("node-a")).await;
    *a.stop_delay.lock().unwrap() = Duration::from_millis(500);
    // 2000 > 50 as numbers (not as text).
    let b = Node::start(
        &server.connect_string(),
        &board,
        "node-b",
        2000,
        Policy::PreEmptive,
    );
    eventually(&board, "b pre-empts", |b| master(b) == Some("node-b")).await;
    assert!(
        board
            .lock()
            .unwrap()
            .demotions
            .contains(&("node-a".to_string(), DemotionReason::PreEmpted))
    );
    // Raise a above b at run time: a takes over again.
    a.selector.set_priority(Priority(3000)).unwrap();
    eventually(&board, "a back", |b| master(b) == Some("node-a")).await;
    let tokens: Vec<FencingToken> = board
        .lock()
        .unwrap()
        .promotions
        .iter()
        .map(|p| p.1)
        .collect();
    assert_eq!(tokens.len(), 3);
    assert!(tokens.windows(2).all(|w| w[0] < w[1]), "{tokens:?}");
    drop(b);
    no_violations(&board);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unhealthy_master_withdraws_and_healthy_node_rejoins() {
    let server = start_server();
    let board = SharedBoard::default();
    let (a, _b) = start_pair(&server.connect_string(), &board, (9, 1), Policy::PreEmptive).await;
    a.health.send_replace(Health::Unhealthy);
    eventually(&board, "b takes over", |b| master(b) == Some("node-b")).await;
    assert_eq!(a.role(), Role::Withdrawn);
    assert!(
        board
            .lock()
            .unwrap()
            .demotions
            .contains(&("node-a".to_string(), DemotionReason::Unhealthy))
    );
    // Healthy again: a rejoins and, being preferred, takes over.
    a.health.send_replace(Health::Healthy);
    eventually(&board, "a back", |b| master(b) == Some("node-a")).await;
    no_violations(&board);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleted_election_is_recreated_and_the_master_demoted_first() {
    let server = start_server();
    let board = SharedBoard::default();
    let _a = Node::start(
        &server.connect_string(),
        &board,
        "node-a",
        1,
        Policy::Sticky,
    );
    eventually(&board, "a leads", |b| master(b) == Some("node-a")).await;
    let first = board.lock().unwrap().highest.unwrap();
    // An operator deletes the pair's election (all but the pair znode itself, which needs the
    // DELETE permission on the shared root that nobody has) in one multi.
    let zk = admin(&server.connect_string(), Some(&credentials())).await;
    let pair = format!("{ROOT}/{PAIR}");
    let (children, _) = zk
        .get_children(&format!("{pair}/candidates"))
        .await
        .unwrap();
    let mut ops: Vec<Op> = children
        .iter()
        .map(|c| Op::Delete {
            path: format!("{pair}/candidates/{c}"),
            version: ANY_VERSION,
        })
        .collect();
    for path in [format!("{pair}/candidates"), format!("{pair}/term")] {
        ops.push(Op::Delete {
            path,
            version: ANY_VERSION,
        });
    }
    let deleted_at = tokio::time::Instant::now();
    let results = zk.multi(ops).await.unwrap();
    assert!(
        results.iter().all(|r| !matches!(r, OpResult::Error(_))),
        "{results:?}"
    );
    eventually(&board, "a demoted", |b| {
        b.demotions.iter().any(|d| d.0 == "node-a")
    })
    .await;
    eventually(&board, "a leads again", |b| {
        master(b) == Some("node-a") && b.highest > Some(first)
    })
    .await;
    // The re-created term is claimed only a session timeout after it was seen: real
    // ZooKeeper's cversion on the pair znode tells the selector that children were deleted.
    let reclaimed_after = deleted_at.elapsed();
    assert!(
        reclaimed_after >= SESSION_TIMEOUT,
        "re-created term claimed {reclaimed_after:?} after the deletion"
    );
    assert!(zk.exists(&format!("{pair}/term")).await.unwrap().is_some());
    no_violations(&board);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pair_acl_keeps_other_identities_out() {
    let server = start_server();
    let board = SharedBoard::default();
    let _a = Node::start(
        &server.connect_string(),
        &board,
        "node-a",
        1,
        Policy::Sticky,
    );
    eventually(&board, "a leads", |b| master(b) == Some("node-a")).await;
    let term = format!("{ROOT}/{PAIR}/term");
    let other = DigestCredentials::new("pair-2", "other secret");
    let intruder = admin(&server.connect_string(), Some(&other)).await;
    assert_eq!(
        intruder.set_data(&term, b"{}", None).await,
        Err(ErrorCode::NoAuth)
    );
    assert_eq!(
        intruder.get_data(&term).await.map(drop),
        Err(ErrorCode::NoAuth)
    );
    assert_eq!(
        intruder.delete(&format!("{ROOT}/{PAIR}"), None).await,
        Err(ErrorCode::NoAuth)
    );
    let anonymous = admin(&server.connect_string(), None).await;
    assert_eq!(
        anonymous.get_data(&term).await.map(drop),
        Err(ErrorCode::NoAuth)
    );
    // Reading ACLs needs READ or ADMIN too (ZooKeeper 3.6+): ask as the pair.
    let pair = admin(&server.connect_string(), Some(&credentials())).await;
    let (acl, _) = pair.get_acl(&term).await.unwrap();
    assert_eq!(acl.len(), 1);
    assert_eq!(acl[0].scheme, "digest");
    assert_eq!(acl[0].id, credentials().digest_id());
    // Not even the pair's own identity can delete its election: the shared root grants DELETE
    // to nobody.
    assert_eq!(
        pair.delete(&format!("{ROOT}/{PAIR}"), None).await,
        Err(ErrorCode::NoAuth)
    );
    // The other pair can still set up its own election under the shared root.
    let own = format!("{ROOT}/pair-2");
    let created = intruder
        .create(&own, b"", &CreateOptions::new(CreateMode::Persistent))
        .await;
    assert!(created.is_ok(), "{created:?}");
    no_violations(&board);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disconnected_master_stops_at_once_and_reclaims_with_a_fresh_token() {
    let mut server = start_server();
    let board = SharedBoard::default();
    let (a, _b) = start_pair(&server.connect_string(), &board, (1, 1), Policy::Sticky).await;
    let first = board.lock().unwrap().highest.unwrap();
    // The server stops answering; the session is not expired (yet), but the client notices the
    // silence after 2/5 of the session timeout: the master must stop then, not at expiry.
    tokio::task::block_in_place(|| server.stop(0)).unwrap();
    let stopped_at = tokio::time::Instant::now();
    eventually(&board, "a demoted", |b| b.acting.is_empty()).await;
    let noticed = stopped_at.elapsed();
    assert!(
        noticed < SESSION_TIMEOUT,
        "demoted after {noticed:?}, not before the session could expire"
    );
    // Whichever notices first: the client's silence timer, or the master's lease (2/5 of the
    // session timeout from the last confirmation sent before the stop).
    assert!(
        board
            .lock()
            .unwrap()
            .demotions
            .iter()
            .any(|d| d.0 == "node-a"
                && matches!(
                    d.1,
                    DemotionReason::Disconnected | DemotionReason::LeaseExpired
                ))
    );
    assert_ne!(a.role(), Role::Master { token: first });
    tokio::task::block_in_place(|| server.cont(0)).unwrap();
    eventually(&board, "a leads again", |b| {
        master(b) == Some("node-a") && b.highest > Some(first)
    })
    .await;
    // b's one-shot watches were armed before the disconnection; the client re-registered them
    // on reconnect, so b hears of a's crash (well before its 60 s recheck).
    a.crash(&board);
    eventually(&board, "b takes over", |b| master(b) == Some("node-b")).await;
    no_violations(&board);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_keep_increasing_across_a_zookeeper_leader_change() {
    let mut ensemble = start_ensemble(3);
    let board = SharedBoard::default();
    let (a, _b) = start_pair(&ensemble.connect_string(), &board, (5, 5), Policy::Sticky).await;
    let first = board.lock().unwrap().highest.unwrap();
    // Kill the ZooKeeper leader: a new epoch starts; whoever is connected to the old leader is
    // disconnected (and demoted, if master) and reconnects elsewhere.
    let leader = tokio::task::block_in_place(|| ensemble.wait_for_leader(PROMPTLY)).unwrap();
    tokio::task::block_in_place(|| ensemble.kill9(leader)).unwrap();
    tokio::task::block_in_place(|| ensemble.wait_for_leader(PROMPTLY)).unwrap();
    // Relinquish forces a new grant in the new epoch.
    tokio::time::timeout(PROMPTLY, a.selector.relinquish())
        .await
        .expect("relinquish completes")
        .expect("selector running");
    eventually(&board, "b leads", |b| master(b) == Some("node-b")).await;
    let last = board.lock().unwrap().highest.unwrap();
    // The zxid's high half is the epoch: the grant after the leader change is in a later one.
    assert!(
        last.value() >> 32 > first.value() >> 32,
        "{first} then {last}"
    );
    no_violations(&board);
}
