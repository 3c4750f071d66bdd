//! The simulated world of the selector's end-to-end tests: the ensemble, the node process
//! that embeds the selector, and the ledger the checks read.

use splitbrain::election::{
    DemotionReason, DigestCredentials, FencingToken, Health, Policy, Priority, RoleEvent,
    SelectorConfig, ZkSelector, zk_selector,
};
use splitbrain::env::Environment;
use splitbrain::sim::clock::true_now;
use splitbrain::sim::net::{Addr, HostId, NetConfig, ports};
use splitbrain::sim::world::{HostCtx, ProcessFn, World};
use splitbrain::sync::watch;
use splitbrain::zk::client::{ClientConfig, ClientModel, SimZkClient};
use splitbrain::zk::server::{ServerConfig, server_process};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::oneshot;

pub const TICK: Duration = Duration::from_secs(2);
pub const SESSION: Duration = Duration::from_secs(6);
/// How often master work writes to the store.
pub const WRITE_EVERY: Duration = Duration::from_millis(100);
/// A new master must be in place this long after the old one is gone: session expiry (T to
/// T + tick after the last touch) plus the standby's reaction, with room for a slow link.
pub const FAILOVER_BOUND: Duration = Duration::from_secs(12);

pub fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// A seeded simulation on a fresh thread; simulated time past ten minutes means a hang.
pub fn sim<F: std::future::Future<Output = ()>>(seed: u64, f: impl FnOnce() -> F + Send) {
    splitbrain::sim::run_seeded_with_limit(seed, Duration::from_secs(600), f);
}

/// Seeds each scenario runs with: each seed shuffles link latencies and the order of
/// simultaneous events.
pub const SEEDS: std::ops::Range<u64> = 1..17;

/// Runs `scenario` under every seed of [`SEEDS`], naming the seed of a failure.
pub fn each_seed<F: std::future::Future<Output = ()>>(scenario: impl Fn() -> F + Sync) {
    for seed in SEEDS {
        let result =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| sim(seed, &scenario)));
        if let Err(panic) = result {
            eprintln!("scenario failed with seed {seed}");
            std::panic::resume_unwind(panic);
        }
    }
}

pub async fn sleep(d: Duration) {
    madsim::time::sleep(d).await;
}

#[derive(Clone, Debug, PartialEq)]
pub struct Term {
    pub node: String,
    pub token: FencingToken,
    pub start: Duration,
    pub end: Option<Duration>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Write {
    pub node: String,
    pub token: FencingToken,
    pub at: Duration,
    pub accepted: bool,
}

#[derive(Default, Debug)]
pub struct Ledger {
    pub terms: Vec<Term>,
    pub writes: Vec<Write>,
    pub highest: Option<FencingToken>,
    pub demotions: Vec<(String, DemotionReason, Duration)>,
}

impl Ledger {
    pub fn write(&mut self, node: &str, token: FencingToken) -> bool {
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

    pub fn end_term(&mut self, node: &str) {
        let now = true_now();
        for t in self
            .terms
            .iter_mut()
            .filter(|t| t.node == node && t.end.is_none())
        {
            t.end = Some(now);
        }
    }

    pub fn acting(&self) -> Vec<&str> {
        self.terms
            .iter()
            .filter(|t| t.end.is_none())
            .map(|t| t.node.as_str())
            .collect()
    }

    pub fn master(&self) -> Option<&str> {
        match self.acting().as_slice() {
            [one] => Some(one),
            _ => None,
        }
    }

    /// 2M: terms of different nodes never overlap in true time.
    pub fn check_no_overlap(&self) {
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
    pub fn check_fencing(&self) {
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

pub type SharedLedger = Arc<Mutex<Ledger>>;

/// What the test holds of a node across its incarnations.
pub struct Control {
    pub selector: Mutex<Option<ZkSelector>>,
    pub health: watch::Sender<Health>,
    /// How long the node's master work takes to stop once demoted.
    pub stop_delay: Mutex<Duration>,
}

impl Control {
    pub fn new() -> Arc<Control> {
        Arc::new(Control {
            selector: Mutex::new(None),
            health: watch::channel(Health::Healthy).0,
            stop_delay: Mutex::new(Duration::ZERO),
        })
    }

    pub fn selector(&self) -> ZkSelector {
        self.selector.lock().unwrap().clone().expect("node started")
    }
}

pub struct NodeSpec {
    pub pair: String,
    pub name: &'static str,
    pub priority: u32,
    pub policy: Policy,
    /// Which client library's session machinery the node's client reproduces.
    pub model: ClientModel,
}

pub fn node_process(
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

pub async fn run_node(
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
pub fn start_ensemble(world: &World) -> (Vec<HostId>, Vec<Addr>) {
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

pub struct Pair {
    pub world: World,
    pub zk: Vec<HostId>,
    pub a: HostId,
    pub b: HostId,
    pub ledger: SharedLedger,
    pub ctl_a: Arc<Control>,
    pub ctl_b: Arc<Control>,
}

impl Pair {
    /// Starts the ensemble and both node hosts (b only if `start_b`), a first.
    pub async fn start(a: NodeSpec, b: NodeSpec, start_b: bool) -> Pair {
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

    pub fn master(&self) -> Option<String> {
        self.ledger.lock().unwrap().master().map(str::to_string)
    }

    /// Waits (true time) until `node` is the only master; returns when it became master.
    pub async fn until_master(&self, node: &str, bound: Duration) -> Duration {
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

    pub fn check(&self) {
        let l = self.ledger.lock().unwrap();
        l.check_no_overlap();
        l.check_fencing();
    }
}

pub fn spec(name: &'static str, priority: u32, policy: Policy) -> NodeSpec {
    NodeSpec {
        pair: "pair-1".into(),
        name,
        priority,
        policy,
        model: ClientModel::Rust,
    }
}

pub fn java(spec: NodeSpec) -> NodeSpec {
    NodeSpec {
        model: ClientModel::Java,
        ..spec
    }
}
