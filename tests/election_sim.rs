//! The ZooKeeper master selector end to end in the simulator: a three-server ensemble spread
//! over dc1, dc2 and a tie-breaker site, one pair of nodes (node-a in dc1, node-b in dc2)
//! running the selector unchanged on their simulated hosts, faults from the world.
//!
//! Every node keeps a [`Ledger`] in true simulated time: when it started and stopped acting as
//! master (a term starts at Promoted, ends just before the Demoted acknowledgement, or at the
//! crash), and every write its master work sent to a fenced store that refuses tokens below the
//! highest it has seen. A node fences the store first thing when promoted. The checks:
//! - **2M**: no two terms of different nodes overlap (for faults where the selector can know);
//! - **SW**: every write the store accepted came from the newest term started by then;
//! - **NM**: a new master within a bound after the old one went;
//! - tokens of successive grants strictly increase.

use splitbrain::election::{
    DemotionReason, DigestCredentials, FencingToken, Health, MasterSelector, Policy, Priority,
    Role, RoleEvent, SelectorConfig, SelectorError, ZkSelector, zk_selector,
};
use splitbrain::env::Environment;
use splitbrain::sim::clock::true_now;
use splitbrain::sim::net::{Addr, HostId, NetConfig, ports};
use splitbrain::sim::world::{HostCtx, ProcessFn, World};
use splitbrain::zk::client::{ClientConfig, ClientModel, SimZkClient};
use splitbrain::zk::server::{ServerConfig, server_process};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{oneshot, watch};

const TICK: Duration = Duration::from_secs(2);
const SESSION: Duration = Duration::from_secs(6);
/// How often master work writes to the store.
const WRITE_EVERY: Duration = Duration::from_millis(100);
/// A new master must be in place this long after the old one is gone: session expiry (T to
/// T + tick after the last touch) plus the standby's reaction, with room for a slow link.
const FAILOVER_BOUND: Duration = Duration::from_secs(12);

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn sim<F: std::future::Future<Output = ()>>(seed: u64, f: impl FnOnce() -> F) {
    let rt = madsim::runtime::Runtime::with_seed_and_config(seed, madsim::Config::default());
    rt.block_on(f());
}

/// Seeds each scenario runs with: each seed shuffles link latencies and the order of
/// simultaneous events.
const SEEDS: std::ops::Range<u64> = 1..17;

/// Runs `scenario` under every seed of [`SEEDS`], naming the seed of a failure.
fn each_seed<F: std::future::Future<Output = ()>>(scenario: impl Fn() -> F) {
    for seed in SEEDS {
        let result =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| sim(seed, &scenario)));
        if let Err(panic) = result {
            eprintln!("scenario failed with seed {seed}");
            std::panic::resume_unwind(panic);
        }
    }
}

async fn sleep(d: Duration) {
    madsim::time::sleep(d).await;
}

#[derive(Clone, Debug, PartialEq)]
struct Term {
    node: String,
    token: FencingToken,
    start: Duration,
    end: Option<Duration>,
}

#[derive(Clone, Debug, PartialEq)]
struct Write {
    node: String,
    token: FencingToken,
    at: Duration,
    accepted: bool,
}

#[derive(Default, Debug)]
struct Ledger {
    terms: Vec<Term>,
    writes: Vec<Write>,
    highest: Option<FencingToken>,
    demotions: Vec<(String, DemotionReason, Duration)>,
}

impl Ledger {
    fn write(&mut self, node: &str, token: FencingToken) -> bool {
        let accepted = self.highest.is_none_or(|h| token >= h);
        if accepted {
            self.highest = Some(token);
        }
        self.writes.push(Write {
            node: node.into(),
            token,
            at: true_now(),
            accepted,
        });
        accepted
    }

    fn end_term(&mut self, node: &str) {
        let now = true_now();
        for t in self
            .terms
            .iter_mut()
            .filter(|t| t.node == node && t.end.is_none())
        {
            t.end = Some(now);
        }
    }

    fn acting(&self) -> Vec<&str> {
        self.terms
            .iter()
            .filter(|t| t.end.is_none())
            .map(|t| t.node.as_str())
            .collect()
    }

    fn master(&self) -> Option<&str> {
        match self.acting().as_slice() {
            [one] => Some(one),
            _ => None,
        }
    }

    /// 2M: terms of different nodes never overlap in true time.
    fn check_no_overlap(&self) {
        for (i, x) in self.terms.iter().enumerate() {
            for y in &self.terms[i + 1..] {
                if x.node == y.node {
                    continue;
                }
                let x_end = x.end.unwrap_or(Duration::MAX);
                let y_end = y.end.unwrap_or(Duration::MAX);
                assert!(
                    x_end <= y.start || y_end <= x.start,
                    "two masters: {x:?} and {y:?}\n{self:#?}"
                );
            }
        }
    }

    /// SW: every accepted write came from the newest term started by then; and grants' tokens
    /// strictly increase.
    fn check_fencing(&self) {
        for w in self.writes.iter().filter(|w| w.accepted) {
            let newest = self
                .terms
                .iter()
                .filter(|t| t.start <= w.at)
                .max_by_key(|t| t.start)
                .expect("a write without any term");
            assert_eq!(
                (newest.node.as_str(), newest.token),
                (w.node.as_str(), w.token),
                "stale write accepted: {w:?}\n{self:#?}"
            );
        }
        let tokens: Vec<FencingToken> = self.terms.iter().map(|t| t.token).collect();
        assert!(
            tokens.windows(2).all(|w| w[0] < w[1]),
            "tokens not increasing: {tokens:?}"
        );
    }
}

type SharedLedger = Arc<Mutex<Ledger>>;

/// What the test holds of a node across its incarnations.
struct Control {
    selector: Mutex<Option<ZkSelector>>,
    health: watch::Sender<Health>,
    /// How long the node's master work takes to stop once demoted.
    stop_delay: Mutex<Duration>,
}

impl Control {
    fn new() -> Arc<Control> {
        Arc::new(Control {
            selector: Mutex::new(None),
            health: watch::channel(Health::Healthy).0,
            stop_delay: Mutex::new(Duration::ZERO),
        })
    }

    fn selector(&self) -> ZkSelector {
        self.selector.lock().unwrap().clone().expect("node started")
    }
}

struct NodeSpec {
    pair: String,
    name: &'static str,
    priority: u32,
    policy: Policy,
    /// Which client library's session machinery the node's client reproduces.
    model: ClientModel,
}

fn node_process(
    spec: NodeSpec,
    servers: Vec<Addr>,
    ledger: SharedLedger,
    control: Arc<Control>,
) -> ProcessFn {
    let spec = Arc::new(spec);
    Arc::new(move |ctx: HostCtx| {
        let (spec, servers, ledger, control) = (
            spec.clone(),
            servers.clone(),
            ledger.clone(),
            control.clone(),
        );
        Box::pin(async move { run_node(ctx, &spec, servers, ledger, control).await })
    })
}

async fn run_node(
    ctx: HostCtx,
    spec: &NodeSpec,
    servers: Vec<Addr>,
    ledger: SharedLedger,
    control: Arc<Control>,
) {
    let name = spec.name.to_string();
    let config = SelectorConfig::new(
        "/splitbrain/election",
        &spec.pair,
        spec.name,
        Priority(spec.priority),
        spec.policy,
    )
    .with_credentials(DigestCredentials::new(&spec.pair, "secret"));
    let client = ClientConfig::new(servers)
        .with_session_timeout(SESSION)
        .with_model(spec.model);
    let connect_ctx = ctx.clone();
    let connect = move || {
        let (ctx, client) = (connect_ctx.clone(), client.clone());
        async move { SimZkClient::connect(&ctx, client).await }
    };
    let env = ctx.env.clone();
    let (selector, mut events, task) =
        zk_selector(config, connect, env.clone(), control.health.subscribe())
            .expect("valid config");
    *control.selector.lock().unwrap() = Some(selector);
    let trace_ctx = ctx.clone();
    task.with_log(move |line| trace_ctx.trace("election", format_args!("{line}")))
        .spawn();
    let mut worker: Option<(watch::Sender<bool>, oneshot::Receiver<()>)> = None;
    while let Some(event) = events.recv().await {
        match event {
            RoleEvent::Promoted { token } => {
                ctx.world.set_role(ctx.host, "master");
                {
                    let mut l = ledger.lock().unwrap();
                    l.terms.push(Term {
                        node: name.clone(),
                        token,
                        start: true_now(),
                        end: None,
                    });
                    // Fence the store before anything else.
                    l.write(&name, token);
                }
                let (stop_tx, mut stop_rx) = watch::channel(false);
                let (stopped_tx, stopped_rx) = oneshot::channel();
                let (ledger, name, env) = (ledger.clone(), name.clone(), env.clone());
                env.clone().spawn(async move {
                    while !*stop_rx.borrow_and_update() {
                        ledger.lock().unwrap().write(&name, token);
                        tokio::select! {
                            biased;
                            _ = stop_rx.changed() => {}
                            () = env.sleep(WRITE_EVERY) => {}
                        }
                    }
                    let _ = stopped_tx.send(());
                });
                worker = Some((stop_tx, stopped_rx));
            }
            RoleEvent::Demoted { reason, ack, .. } => {
                let delay = *control.stop_delay.lock().unwrap();
                if let Some((stop, stopped)) = worker.take() {
                    // A long in-flight transaction: the work stops only after `delay`.
                    env.sleep(delay).await;
                    stop.send_replace(true);
                    let _ = stopped.await;
                }
                {
                    let mut l = ledger.lock().unwrap();
                    l.end_term(&name);
                    l.demotions.push((name.clone(), reason, true_now()));
                }
                ctx.world.set_role(ctx.host, "slave");
                ack.stopped();
            }
        }
    }
}

/// Three voting ZooKeeper servers, one per site; returns their hosts and client addresses.
fn start_ensemble(world: &World) -> (Vec<HostId>, Vec<Addr>) {
    let zk: Vec<HostId> = ["dc1", "dc2", "dc3"]
        .iter()
        .enumerate()
        .map(|(i, site)| world.add_host(&format!("zk{}", i + 1), site))
        .collect();
    let voters: Vec<(u64, HostId)> = zk
        .iter()
        .enumerate()
        .map(|(i, h)| (i as u64 + 1, *h))
        .collect();
    for (sid, host) in &voters {
        let cfg = ServerConfig::new(*sid, voters.clone(), Vec::new(), TICK, 10, 5);
        world.set_process(*host, server_process(cfg));
        world.start(*host).expect("server starts");
    }
    let servers = zk
        .iter()
        .map(|h| Addr {
            host: *h,
            port: ports::ZK_CLIENT,
        })
        .collect();
    (zk, servers)
}

struct Pair {
    world: World,
    zk: Vec<HostId>,
    a: HostId,
    b: HostId,
    ledger: SharedLedger,
    ctl_a: Arc<Control>,
    ctl_b: Arc<Control>,
}

impl Pair {
    /// Starts the ensemble and both node hosts (b only if `start_b`), a first.
    async fn start(a: NodeSpec, b: NodeSpec, start_b: bool) -> Pair {
        let world = World::new(NetConfig::default(), false);
        let (zk, servers) = start_ensemble(&world);
        let ledger = SharedLedger::default();
        let (ctl_a, ctl_b) = (Control::new(), Control::new());
        let host_a = world.add_host(a.name, "dc1");
        let host_b = world.add_host(b.name, "dc2");
        world.set_process(
            host_a,
            node_process(a, servers.clone(), ledger.clone(), ctl_a.clone()),
        );
        world.set_process(
            host_b,
            node_process(b, servers.clone(), ledger.clone(), ctl_b.clone()),
        );
        // Let the ensemble elect its leader first.
        sleep(secs(5)).await;
        world.start(host_a).expect("a starts");
        sleep(secs(10)).await;
        if start_b {
            world.start(host_b).expect("b starts");
            sleep(secs(10)).await;
        }
        Pair {
            world,
            zk,
            a: host_a,
            b: host_b,
            ledger,
            ctl_a,
            ctl_b,
        }
    }

    fn master(&self) -> Option<String> {
        self.ledger.lock().unwrap().master().map(str::to_string)
    }

    /// Waits (true time) until `node` is the only master; returns when it became master.
    async fn until_master(&self, node: &str, bound: Duration) -> Duration {
        let deadline = true_now() + bound;
        while true_now() <= deadline {
            if self.master().as_deref() == Some(node) {
                let l = self.ledger.lock().unwrap();
                return l.terms.iter().rev().find(|t| t.node == node).unwrap().start;
            }
            sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "{node} not master within {bound:?}: {:#?}",
            self.ledger.lock().unwrap()
        );
    }

    fn check(&self) {
        let l = self.ledger.lock().unwrap();
        l.check_no_overlap();
        l.check_fencing();
    }
}

fn spec(name: &'static str, priority: u32, policy: Policy) -> NodeSpec {
    NodeSpec {
        pair: "pair-1".into(),
        name,
        priority,
        policy,
        model: ClientModel::Rust,
    }
}

fn java(spec: NodeSpec) -> NodeSpec {
    NodeSpec {
        model: ClientModel::Java,
        ..spec
    }
}

#[test]
fn failover_on_master_crash() {
    each_seed(|| async {
        let p = Pair::start(
            spec("node-a", 5, Policy::Sticky),
            spec("node-b", 5, Policy::Sticky),
            true,
        )
        .await;
        assert_eq!(p.master().as_deref(), Some("node-a"));
        assert_eq!(*p.ctl_b.selector().role().borrow(), Role::Slave);
        p.world.crash(p.a, true).unwrap();
        let crashed = true_now();
        p.ledger.lock().unwrap().end_term("node-a");
        let promoted = p.until_master("node-b", FAILOVER_BOUND).await;
        // A hard crash leaves the session to expire: no earlier than T after the last touch.
        assert!(
            promoted - crashed >= SESSION - TICK,
            "{:?}",
            promoted - crashed
        );
        p.check();
    });
}

#[test]
fn hand_over_on_relinquish_waits_for_the_master_to_stop() {
    each_seed(|| async {
        let p = Pair::start(
            spec("node-a", 9, Policy::Sticky),
            spec("node-b", 1, Policy::Sticky),
            true,
        )
        .await;
        assert_eq!(p.master().as_deref(), Some("node-a"));
        *p.ctl_a.stop_delay.lock().unwrap() = secs(3);
        let asked = true_now();
        p.ctl_a.selector().relinquish().await.expect("relinquished");
        let done = true_now();
        assert!(
            done - asked >= secs(3),
            "relinquish returned before the work stopped"
        );
        let promoted = p.until_master("node-b", secs(5)).await;
        assert!(promoted >= asked + secs(3));
        assert_eq!(*p.ctl_a.selector().role().borrow(), Role::Withdrawn);
        // Rejoin: sticky, so b stays.
        p.ctl_a.selector().rejoin().unwrap();
        sleep(secs(5)).await;
        assert_eq!(p.master().as_deref(), Some("node-b"));
        assert_eq!(*p.ctl_a.selector().role().borrow(), Role::Slave);
        p.check();
    });
}

#[test]
fn pre_emption_on_higher_priority_join() {
    each_seed(|| async {
        let p = Pair::start(
            spec("node-a", 50, Policy::PreEmptive),
            spec("node-b", 2000, Policy::PreEmptive),
            false,
        )
        .await;
        assert_eq!(p.master().as_deref(), Some("node-a"));
        *p.ctl_a.stop_delay.lock().unwrap() = secs(1);
        p.world.start(p.b).unwrap();
        p.until_master("node-b", secs(10)).await;
        let l = p.ledger.lock().unwrap();
        assert!(
            l.demotions
                .iter()
                .any(|d| d.0 == "node-a" && d.1 == DemotionReason::PreEmpted)
        );
        drop(l);
        p.check();
    });
}

#[test]
fn withdrawal_on_health_failure_and_rejoin() {
    each_seed(|| async {
        let p = Pair::start(
            spec("node-a", 9, Policy::PreEmptive),
            spec("node-b", 1, Policy::PreEmptive),
            true,
        )
        .await;
        assert_eq!(p.master().as_deref(), Some("node-a"));
        p.ctl_a.health.send_replace(Health::Unhealthy);
        p.until_master("node-b", secs(5)).await;
        assert_eq!(*p.ctl_a.selector().role().borrow(), Role::Withdrawn);
        p.ctl_a.health.send_replace(Health::Healthy);
        p.until_master("node-a", secs(5)).await;
        p.check();
    });
}

#[test]
fn master_cut_from_zookeeper_stops_before_the_standby_starts() {
    each_seed(|| master_cut_from_zookeeper(ClientModel::Rust));
}

#[test]
fn master_cut_from_zookeeper_with_the_java_client_model() {
    each_seed(|| master_cut_from_zookeeper(ClientModel::Java));
}

async fn master_cut_from_zookeeper(model: ClientModel) {
    let with_model = |s: NodeSpec| NodeSpec { model, ..s };
    let p = Pair::start(
        with_model(spec("node-a", 5, Policy::Sticky)),
        with_model(spec("node-b", 5, Policy::Sticky)),
        true,
    )
    .await;
    assert_eq!(p.master().as_deref(), Some("node-a"));
    // a keeps its database (not networked here) but loses every ZooKeeper server.
    p.world.partition(&[p.a], &p.zk);
    let cut = true_now();
    p.until_master("node-b", FAILOVER_BOUND).await;
    {
        let l = p.ledger.lock().unwrap();
        let a_end = l.terms[0].end.expect("a stopped");
        // The crate notices silence after 2/5·T, Java after 2/3·T; the server expires a's
        // session no earlier than T after its last touch.
        let noticed_within = match model {
            ClientModel::Rust => SESSION / 2,
            ClientModel::Java => SESSION * 3 / 4,
        };
        assert!(
            a_end - cut <= noticed_within,
            "a stopped only after {:?}",
            a_end - cut
        );
        assert!(
            l.demotions
                .iter()
                .any(|d| d.0 == "node-a" && d.1 == DemotionReason::Disconnected)
        );
    }
    p.world.heal();
    sleep(secs(20)).await;
    assert_eq!(p.master().as_deref(), Some("node-b"));
    assert_eq!(*p.ctl_a.selector().role().borrow(), Role::Slave);
    p.check();
}

#[test]
fn pause_longer_than_the_session_never_lets_a_stale_write_through() {
    each_seed(|| async {
        let p = Pair::start(
            spec("node-a", 5, Policy::Sticky),
            spec("node-b", 5, Policy::Sticky),
            true,
        )
        .await;
        assert_eq!(p.master().as_deref(), Some("node-a"));
        p.world.pause(p.a).unwrap();
        // While a is paused it still believes it is master (it cannot run): b takes over after
        // the session expires, and fences the store.
        let b_start = {
            let deadline = true_now() + FAILOVER_BOUND;
            loop {
                let started = p
                    .ledger
                    .lock()
                    .unwrap()
                    .terms
                    .iter()
                    .find(|t| t.node == "node-b")
                    .map(|t| t.start);
                if let Some(s) = started {
                    break s;
                }
                assert!(true_now() < deadline, "b never took over");
                sleep(Duration::from_millis(50)).await;
            }
        };
        sleep(secs(3)).await;
        p.world.resume(p.a).unwrap();
        sleep(secs(10)).await;
        // a stopped once it ran again; every write it made after b's grant was refused.
        assert_eq!(p.master().as_deref(), Some("node-b"));
        let l = p.ledger.lock().unwrap();
        assert!(
            l.writes
                .iter()
                .filter(|w| w.node == "node-a" && w.at > b_start)
                .all(|w| !w.accepted)
        );
        drop(l);
        // Terms overlap in belief here (a was frozen); only fencing keeps the store safe.
        p.ledger.lock().unwrap().check_fencing();
    });
}

#[test]
fn same_seed_same_history() {
    let run = || {
        let out = Arc::new(Mutex::new(Vec::new()));
        let sink = out.clone();
        sim(7, move || async move {
            let p = Pair::start(
                spec("node-a", 5, Policy::PreEmptive),
                spec("node-b", 7, Policy::PreEmptive),
                true,
            )
            .await;
            p.world.crash(p.b, true).unwrap();
            p.ledger.lock().unwrap().end_term("node-b");
            sleep(secs(15)).await;
            let l = p.ledger.lock().unwrap();
            *sink.lock().unwrap() = l
                .terms
                .iter()
                .map(|t| (t.node.clone(), t.token, t.start))
                .collect::<Vec<_>>();
        });
        Arc::try_unwrap(out).unwrap().into_inner().unwrap()
    };
    let first = run();
    assert!(first.len() >= 2, "{first:?}");
    assert_eq!(first, run());
}

#[test]
fn restarted_master_waits_out_its_old_session() {
    each_seed(|| async {
        let p = Pair::start(
            spec("node-a", 9, Policy::PreEmptive),
            spec("node-b", 1, Policy::PreEmptive),
            true,
        )
        .await;
        assert_eq!(p.master().as_deref(), Some("node-a"));
        // Power loss and an immediate restart: the old session's candidacy lingers until the
        // ensemble expires it; the new incarnation must not adopt it (other session).
        p.world.crash(p.a, true).unwrap();
        let crashed = true_now();
        p.ledger.lock().unwrap().end_term("node-a");
        p.world.start(p.a).unwrap();
        sleep(secs(3)).await;
        assert_eq!(
            p.master(),
            None,
            "nobody may lead while a's old session may be alive"
        );
        // After expiry a (preferred, pre-emptive) leads again under a new session.
        let promoted = p.until_master("node-a", FAILOVER_BOUND + secs(5)).await;
        assert!(promoted - crashed >= SESSION - TICK);
        p.check();
    });
}

#[test]
fn zookeeper_leader_crash_keeps_one_master_and_increasing_tokens() {
    each_seed(|| async {
        let p = Pair::start(
            java(spec("node-a", 5, Policy::Sticky)),
            spec("node-b", 5, Policy::Sticky),
            true,
        )
        .await;
        assert_eq!(p.master().as_deref(), Some("node-a"));
        let leaders = p.world.hosts_with_role("leading");
        assert_eq!(leaders.len(), 1, "one ZooKeeper leader");
        p.world.crash(leaders[0], true).unwrap();
        // Re-election, session revalidation, and whatever demotions the disconnections cause.
        sleep(secs(30)).await;
        assert!(p.master().is_some(), "{:#?}", p.ledger.lock().unwrap());
        // Force a grant in the new epoch: its token's epoch half is greater.
        let first = p.ledger.lock().unwrap().terms[0].token;
        let holder = if p.master().as_deref() == Some("node-a") {
            &p.ctl_a
        } else {
            &p.ctl_b
        };
        holder.selector().relinquish().await.expect("relinquished");
        sleep(secs(5)).await;
        let last = p.ledger.lock().unwrap().terms.last().unwrap().token;
        assert!(
            last.value() >> 32 > first.value() >> 32,
            "{first} then {last}"
        );
        p.check();
    });
}

/// One ensemble serving 100 pairs: every pair settles on one master, a quiet ensemble sees no
/// reads at all, and a failover in one pair wakes only that pair's standby (no herd).
#[test]
fn one_ensemble_serves_a_hundred_pairs_without_herds() {
    const PAIRS: usize = 100;
    sim(9, || async {
        let world = World::new(NetConfig::default(), false);
        let (_zk, servers) = start_ensemble(&world);
        let mut pairs = Vec::new();
        for i in 0..PAIRS {
            let ledger = SharedLedger::default();
            let mut hosts = Vec::new();
            for (name, priority, site) in [("node-a", 9, "dc1"), ("node-b", 1, "dc2")] {
                let host = world.add_host(&format!("p{i:03}-{name}"), site);
                let node = NodeSpec {
                    pair: format!("pair-{i:03}"),
                    ..spec(name, priority, Policy::PreEmptive)
                };
                world.set_process(
                    host,
                    node_process(node, servers.clone(), ledger.clone(), Control::new()),
                );
                hosts.push(host);
            }
            pairs.push((ledger, hosts));
        }
        sleep(secs(5)).await;
        for (_, hosts) in &pairs {
            for host in hosts {
                world.start(*host).unwrap();
            }
        }
        sleep(secs(20)).await;
        for (ledger, _) in &pairs {
            assert_eq!(ledger.lock().unwrap().master(), Some("node-a"));
        }
        // Quiet: watches only, no polling (the 60 s recheck has not come round yet).
        let ops = || world.metric("client.ops_ok") + world.metric("client.ops_failed");
        let before = ops();
        sleep(secs(20)).await;
        assert_eq!(ops(), before, "reads on a quiet ensemble");
        // One pair fails over: its standby (and nobody else) re-reads and claims.
        let (ledger, hosts) = &pairs[42];
        world.crash(hosts[0], false).unwrap();
        ledger.lock().unwrap().end_term("node-a");
        sleep(secs(15)).await;
        assert_eq!(ledger.lock().unwrap().master(), Some("node-b"));
        let failover_ops = ops() - before;
        assert!(
            failover_ops <= 20,
            "{failover_ops} operations for one pair's failover"
        );
        for (ledger, _) in &pairs {
            let l = ledger.lock().unwrap();
            l.check_no_overlap();
            l.check_fencing();
        }
    });
}

#[test]
fn shutdown_hands_over_without_waiting_for_expiry() {
    each_seed(|| async {
        let p = Pair::start(
            spec("node-a", 5, Policy::Sticky),
            spec("node-b", 5, Policy::Sticky),
            true,
        )
        .await;
        assert_eq!(p.master().as_deref(), Some("node-a"));
        let selector = p.ctl_a.selector();
        selector.shutdown().await.expect("shut down");
        assert_eq!(*selector.role().borrow(), Role::Withdrawn);
        // The session was closed, not left to expire: b takes over well within T.
        p.until_master("node-b", SESSION / 2).await;
        assert_eq!(selector.relinquish().await, Err(SelectorError::Stopped));
        assert_eq!(selector.rejoin(), Err(SelectorError::Stopped));
        p.check();
    });
}
