//! The node process: one member of a hot/cold pair on its own host. It runs the master
//! selector on a simulated ZooKeeper session, acts as master while granted (the workload of
//! [`super::worker`]), feeds the selector its health, obeys its control channel, and records
//! what it does for the checkers.

use super::control::{ControlHandle, HealthLink, NodeControl};
use super::health::HealthCheck;
use super::worker::{Workload, WriteIds};
use crate::bus::BusClient;
use crate::db::DbClient;
use crate::election::{
    DigestCredentials, ElectionCode, FencingToken, KnownBug, MasterSelector, Policy, Priority,
    Role, RoleEvent, SelectorConfig, SelectorError, ZkSelector, zk_selector,
};
use crate::env::Environment;
use crate::sim::history::Record;
use crate::sim::net::HostId;
use crate::sim::topology::RunOnceSpec;
use crate::sim::world::{HostCtx, ProcessFn};
use crate::sync::watch;
use crate::zk::client::{ClientConfig, SimZkClient};
use std::collections::BTreeSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::oneshot;

/// Where every pair's election lives in ZooKeeper.
pub const ELECTION_ROOT: &str = "/splitbrain/election";

/// The digest credentials both nodes of `pair` (and its operators) use.
pub fn pair_credentials(pair: &str) -> DigestCredentials {
    DigestCredentials::new(pair, &format!("{pair} pair secret"))
}

/// What one node is configured with.
#[derive(Clone, Debug)]
pub struct NodeConfig {
    pub pair: String,
    pub name: String,
    pub policy: Policy,
    pub credentials: DigestCredentials,
    pub zk: ClientConfig,
    /// The session timeout the servers will negotiate; the lease is half of it.
    pub session_timeout: Duration,
    /// The database's hosts, in this node's order of preference.
    pub databases: Vec<HostId>,
    pub run_once: Option<RunOnceSpec>,
    /// The pair's message bus host, which the master's flows publish to.
    pub bus: Option<HostId>,
    /// The master writes this often (its own clock).
    pub write_period: Duration,
    pub health_period: Duration,
    /// How long the database may fail every health probe before the node counts as
    /// unhealthy (longer than the database's own failover, so that does not move the master).
    pub db_unhealthy_after: Duration,
    pub db_timeout: Duration,
    /// The real election code, or a known-bug variant (testbed builds only).
    pub election: ElectionCode,
}

impl NodeConfig {
    pub fn new(
        pair: &str,
        name: &str,
        policy: Policy,
        zk: ClientConfig,
        session_timeout: Duration,
        databases: Vec<HostId>,
    ) -> Self {
        NodeConfig {
            pair: pair.to_string(),
            name: name.to_string(),
            policy,
            credentials: pair_credentials(pair),
            zk,
            session_timeout,
            databases,
            run_once: None,
            bus: None,
            write_period: crate::sim::topology::DEFAULT_WRITE_PERIOD,
            health_period: crate::sim::topology::DEFAULT_HEALTH_PERIOD,
            db_unhealthy_after: Duration::from_secs(5),
            db_timeout: Duration::from_secs(1),
            election: ElectionCode::Real,
        }
    }
}

/// The process of a node host. `control` outlives the process: every incarnation obeys it.
pub fn node_process(config: NodeConfig, control: ControlHandle) -> ProcessFn {
    let config = Arc::new(config);
    Arc::new(move |ctx: HostCtx| {
        let config = config.clone();
        let control = control.clone();
        Box::pin(async move { run(ctx, config, control).await })
    })
}

fn announce(ctx: &HostCtx, role: Role) {
    let name = match role {
        Role::Master { .. } => "master",
        Role::Slave => "slave",
        Role::Withdrawn => "withdrawn",
    };
    ctx.world.set_role(ctx.host, name);
}

async fn run(ctx: HostCtx, config: Arc<NodeConfig>, control: ControlHandle) {
    if config.databases.is_empty() {
        ctx.trace("node", format_args!("no database configured, not starting"));
        return;
    }
    let desired = control.current();
    let db = DbClient::start(&ctx, config.databases.clone(), config.db_timeout);

    // Each watch channel has one waiting task at most: tokio's watch spreads waiters over
    // slots chosen by a thread-local random number that no simulation seed resets, so two
    // waiters on one channel wake in an order that differs from run to run.
    let (links_tx, links) = watch::channel(desired.broken.clone());
    let mut check = HealthCheck::new(
        ctx.clone(),
        &config.pair,
        &config.name,
        db.clone(),
        links,
        config.health_period,
        config.db_unhealthy_after,
    );
    let (health_tx, health) = watch::channel(check.evaluate().await);
    ctx.env.spawn(check.run(health_tx));

    let selector_config = SelectorConfig::new(
        ELECTION_ROOT,
        &config.pair,
        &config.name,
        Priority(desired.priority),
        config.policy,
    )
    .with_credentials(config.credentials.clone());
    #[cfg(feature = "testbed")]
    let selector_config = match config.election.known_bug() {
        Some(bug) => selector_config.with_known_bug(bug),
        None => selector_config,
    };
    let connect = {
        let (ctx, zk) = (ctx.clone(), config.zk.clone());
        move || {
            let (ctx, zk) = (ctx.clone(), zk.clone());
            async move { SimZkClient::connect(&ctx, zk).await }
        }
    };
    let (selector, mut events, task) =
        match zk_selector(selector_config, connect, ctx.env.clone(), health) {
            Ok(parts) => parts,
            Err(err) => {
                ctx.trace("node", format_args!("bad selector configuration: {err}"));
                return;
            }
        };
    let log_ctx = ctx.clone();
    let task = task.with_log(move |line| log_ctx.trace("election", format_args!("{line}")));
    if desired.relinquished {
        // The request is queued before the selector's task starts, so a node that restarts
        // relinquished never stands.
        let (selector, trace) = (selector.clone(), ctx.clone());
        ctx.env.spawn(async move {
            let done = selector.relinquish();
            task.spawn();
            let outcome = done.await;
            trace.trace("node", format_args!("relinquish: {outcome:?}"));
        });
    } else {
        task.spawn();
    }

    let acting = Arc::new(AtomicBool::new(false));
    let candidacy = CandidacyLog {
        ctx: ctx.clone(),
        config: config.clone(),
        standing: Arc::default(),
    };
    ctx.env.spawn(follow_role(
        ctx.clone(),
        candidacy.clone(),
        selector.role(),
        acting.clone(),
    ));
    ctx.env.spawn(apply_controls(
        ctx.clone(),
        selector.clone(),
        control.subscribe(),
        desired,
        links_tx,
    ));

    let on_acting = {
        let (ctx, config, candidacy, acting) = (
            ctx.clone(),
            config.clone(),
            candidacy.clone(),
            acting.clone(),
        );
        move |token: FencingToken| {
            candidacy.observe(true);
            ctx.world.record(Record::Promoted {
                pair: config.pair.as_str().into(),
                node: config.name.as_str().into(),
                token: token.value(),
            });
            acting.store(true, Ordering::SeqCst);
            announce(&ctx, Role::Master { token });
        }
    };
    let workload = Workload {
        ctx: ctx.clone(),
        pair: config.pair.as_str().into(),
        node: config.name.as_str().into(),
        db,
        bus: config.bus.map(|bus| BusClient::start(&ctx, bus)),
        flow_deadline: config.db_timeout,
        lease: checks_lease(config.election).then(|| selector.clone()),
        role: selector.role(),
        period: config.write_period,
        run_once: config.run_once,
        write_ids: WriteIds::new(ctx.incarnation),
        on_acting: Arc::new(on_acting),
        election: config.election,
    };
    let mut worker: Option<(watch::Sender<bool>, oneshot::Receiver<bool>)> = None;
    while let Some(event) = events.recv().await {
        match event {
            RoleEvent::Promoted { token } => {
                // The workload fences the database first and records the promotion then.
                let (stop, stopped) = watch::channel(false);
                let (done, finished) = oneshot::channel::<bool>();
                let work = workload.clone();
                ctx.env.spawn(async move {
                    let _ = done.send(work.run(token, stopped).await);
                });
                worker = Some((stop, finished));
            }
            RoleEvent::Demoted { token, reason, ack } => {
                ctx.trace("node", format_args!("demoted ({reason:?})"));
                // Stop the work and let the request in flight finish or time out first.
                let mut acted = false;
                if let Some((stop, finished)) = worker.take() {
                    stop.send_replace(true);
                    // known-bug hook (P7): the node acknowledges without waiting for the work,
                    // which finishes in the background.
                    #[cfg(feature = "testbed")]
                    let waits = super::async_demotion::waits_for_work(config.election);
                    #[cfg(not(feature = "testbed"))]
                    let waits = true;
                    acted = if waits {
                        // A worker that died without answering (it cannot, short of a panic)
                        // counts as having acted: the demotion is then recorded.
                        finished.await.unwrap_or(true)
                    } else {
                        acting.load(Ordering::SeqCst)
                    };
                }
                if acted {
                    ctx.world.record(Record::Demoted {
                        pair: config.pair.as_str().into(),
                        node: config.name.as_str().into(),
                        token: token.value(),
                    });
                }
                acting.store(false, Ordering::SeqCst);
                let role = *selector.role().borrow();
                if !role.is_master() {
                    announce(&ctx, role);
                }
                // Only now may the selector let the other node take over.
                ack.stopped();
            }
        }
    }
}

/// Records the node's candidacy when it changes. Shared by the role follower and the start of
/// the master's work, so a node promoted straight out of a withdrawal records that it stands
/// before it records the promotion.
#[derive(Clone)]
struct CandidacyLog {
    ctx: HostCtx,
    config: Arc<NodeConfig>,
    standing: Arc<Mutex<Option<bool>>>,
}

impl CandidacyLog {
    fn observe(&self, standing: bool) {
        let mut last = self.standing.lock().expect("candidacy lock");
        if *last != Some(standing) {
            *last = Some(standing);
            self.ctx.world.record(Record::Candidacy {
                pair: self.config.pair.as_str().into(),
                node: self.config.name.as_str().into(),
                standing,
            });
        }
    }
}

/// Follows the selector's role: records the node's candidacy and announces its passive roles
/// ("master" is announced by the event loop, once the node acts on the promotion).
async fn follow_role(
    ctx: HostCtx,
    candidacy: CandidacyLog,
    mut role: watch::Receiver<Role>,
    acting: Arc<AtomicBool>,
) {
    loop {
        let current = *role.borrow_and_update();
        candidacy.observe(current != Role::Withdrawn);
        if !acting.load(Ordering::SeqCst) && !current.is_master() {
            announce(&ctx, current);
        }
        if role.changed().await.is_err() {
            return;
        }
    }
}

/// Turns changes of the desired state into selector requests, in order (a relinquish is
/// sent before a later rejoin). The wait for a relinquish to complete runs alongside, since
/// it must not block the task that acknowledges demotions.
async fn apply_controls(
    ctx: HostCtx,
    selector: ZkSelector,
    mut control: watch::Receiver<NodeControl>,
    mut applied: NodeControl,
    links: watch::Sender<BTreeSet<HealthLink>>,
) {
    type Pending<'a> = Pin<Box<dyn Future<Output = Result<(), SelectorError>> + Send + 'a>>;
    let mut relinquishing: Option<Pending<'_>> = None;
    loop {
        let completed = tokio::select! {
            biased;
            changed = control.changed() => {
                if changed.is_err() {
                    return;
                }
                None
            }
            outcome = async {
                match relinquishing.as_mut() {
                    Some(pending) => pending.await,
                    None => std::future::pending().await,
                }
            } => Some(outcome),
        };
        if let Some(outcome) = completed {
            relinquishing = None;
            ctx.trace("node", format_args!("relinquish: {outcome:?}"));
            continue;
        }
        let wanted = control.borrow_and_update().clone();
        links.send_if_modified(|current| {
            let changed = *current != wanted.broken;
            current.clone_from(&wanted.broken);
            changed
        });
        if wanted.priority != applied.priority {
            let _ = selector.set_priority(Priority(wanted.priority));
        }
        if wanted.relinquished && !applied.relinquished {
            relinquishing = Some(Box::pin(selector.relinquish()));
        } else if !wanted.relinquished && applied.relinquished {
            let _ = selector.rejoin();
        }
        applied = wanted;
    }
}

/// Whether the master's writes are gated by the grant's lease as well as by the selector's
/// role. Always, except in the known-bug variants P1 and P2, whose teams trusted the role
/// alone: a node resuming from a pause longer than its session (P1), or cut off from ZooKeeper
/// with a selector that ignores Disconnected (P2), goes on writing on its stale belief. Broken
/// codes reach a node only in testbed builds (`pair::build` refuses them otherwise).
fn checks_lease(election: ElectionCode) -> bool {
    // known-bug hook (P1, P2)
    !matches!(election.known_bug(), Some(KnownBug::P1 | KnownBug::P2))
}
