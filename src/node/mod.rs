//! One node of a hot/cold pair as a real process: the production embedding of the master
//! selector (`splitbrain node`), and live mode's node. It behaves as the simulated node
//! (`pair::node`): same rules, same timings, same known-bug variants.
//!
//! The runner connects to a real ZooKeeper ensemble through [`LiveZk`], runs the
//! [`election`](crate::election) selector on an adjustable [`TokioEnv`] (the `clock` commands
//! step it), gates its candidacy on its health ([`health`]: broken links, the database's
//! probes, a health file), and while master runs the master work ([`master_work`]): it fences
//! the store with the grant's token, records the promotion once the fence is taken, then
//! writes every write interval, each write carrying the token. The store is PostgreSQL
//! (`--database`, [`pg_store`]) or a shared file ([`fencing_store`], `--store`). A demotion
//! stops the work before it is acknowledged. Every event is printed as one JSON line on stdout
//! ([`output`]); the selector's own log goes to stderr. The node-level known-bug variants
//! live in [`known_bugs`].
//!
//! Control ([`control`]): SIGUSR1 or `relinquish` on stdin relinquishes, SIGUSR2 or `rejoin`
//! stands again, `priority N` changes the priority, `break-health` / `heal-health` break and
//! heal a health link, `clock ...` steps the node's clocks, SIGTERM, SIGINT or `quit` demotes,
//! leaves the election, closes the session and ends the node.
//!
//! # Events
//!
//! Every line is `{"at_ms", "mono_ns", "node", "pair", "event", ...}` (see [`output`]):
//!
//! | event | fields | when |
//! |---|---|---|
//! | `hello` | protocol, program, version, supports | first, at start (the node protocol's hello) |
//! | `started` | zk, root, priority, policy, session_timeout_ms, store or database, election, incarnation, pid | at start |
//! | `session` | state, session, timeout_ms (first) | a ZooKeeper session starts or changes state |
//! | `health` | healthy, cause (when unhealthy) | the health verdict changes (first at start) |
//! | `health_link` | link, broken | a link was broken or healed |
//! | `candidacy` | standing | the node starts or stops standing |
//! | `role` | role (`master`, `slave`, `withdrawn`), token (master) | the node's role changes, as the simulated node announces it |
//! | `granted` | token | the selector granted mastership (the work starts fencing) |
//! | `promoted` | token | the store took the grant's fence: the node acts as master |
//! | `fence_rejected` | token, newest | the store holds a newer token: the grant is over |
//! | `fence_failed` | token, error | no verdict on the fence (retried) |
//! | `write_attempt` | token, write | a write is about to be sent |
//! | `write_accepted` / `write_rejected` | token, write, newest | the store's verdict |
//! | `write_failed` | token, write, error | no verdict |
//! | `write_held` | token | a tick without the grant's lease: no write |
//! | `queued_writes_committed` | token, writes | P7 only: the backlog the stopped work wrote |
//! | `demoted` | token, reason | the work under a grant it acted on stopped (acknowledged next) |
//! | `grant_ended` | token, reason | a grant ended before the node acted on it |
//! | `relinquishing`, `relinquished`, `relinquish_ended` (error), `rejoining` | | relinquish and rejoin |
//! | `priority` | priority | the priority changed |
//! | `clock` | command, mono_ms, mono_ahead_ms, wall_ms, wall_offset_ms, rate | a `clock` command was applied |
//! | `control_error` | command, error | a command the node could not take |
//! | `stopping` (cause), `stopping_forced` (cause), `stopped` | | shutdown |

pub mod control;
pub mod fencing_store;
pub mod health;
pub mod known_bugs;
pub mod master_work;
pub mod output;
pub mod pg_store;

use crate::coord::Coordination;
use crate::election::{
    ConfigError, DemotionReason, DigestCredentials, ElectionCode, FencingToken, MasterSelector,
    Policy, Priority, Role, RoleEvent, RoleEvents, SelectorConfig, ZkSelector, zk_selector,
};
use crate::env::{ClockControl, TokioEnv};
use crate::live::LiveZk;
use crate::sync::watch;
use crate::zk::types::SessionState;
use control::{ClockChange, Control, Link};
use fencing_store::{FencingStore, StoreError};
use health::{DatabaseProbe, HealthCheck};
use master_work::{LastAnswer, Store, Workload, WriteIds};
use output::EventOutput;
use pg_store::PgStore;
use serde_json::json;
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::oneshot;

/// The node-protocol version this node speaks (`docs/node-protocol.md`).
pub const PROTOCOL_VERSION: u32 = 1;

/// What this node can do, as its hello line announces it (the protocol's capabilities).
pub const CAPABILITIES: [&str; 6] = [
    "priorities",
    "relinquish",
    "fencing_tokens",
    "health",
    "clock",
    "candidacy",
];

/// Everything a node process is started with.
#[derive(Clone, Debug)]
pub struct NodeConfig {
    /// The ensemble, `host:port,host:port,...`.
    pub zk: String,
    pub pair: String,
    pub name: String,
    pub priority: Priority,
    pub policy: Policy,
    pub session_timeout: Duration,
    /// The election root znode.
    pub root: String,
    /// The shared fencing-store file (`--store`); exactly one of it and `database`.
    pub store: Option<PathBuf>,
    /// PostgreSQL URLs of the pair's database hosts, in order of preference (`--database`).
    pub database: Vec<String>,
    /// How long one database call (fence, write, probe) may take.
    pub database_timeout: Duration,
    /// How long the database may fail every probe before the node counts as unhealthy.
    pub database_grace: Duration,
    /// Healthy only while this file exists (when given).
    pub health_file: Option<PathBuf>,
    /// How often the health check probes.
    pub health_period: Duration,
    pub write_interval: Duration,
    pub credentials: Option<DigestCredentials>,
    /// The real election code, or a known-bug variant (testbed builds only).
    pub election: ElectionCode,
    /// This start's number (the high half of every write id).
    pub incarnation: u64,
    /// Start relinquished: the node does not stand until `rejoin`.
    pub relinquished: bool,
    /// Health links broken from the start.
    pub broken_health: BTreeSet<Link>,
}

/// Why a node could not start or had to stop.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The configuration is unusable (the command line should be fixed).
    #[error("{0}")]
    Config(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("database: {0}")]
    Database(String),
    #[error("cannot install signal handlers: {0}")]
    Signals(std::io::Error),
    #[error("the master selector stopped on its own")]
    SelectorStopped,
    /// A second stop request came before the clean stop finished.
    #[error("stopped before a clean hand-over (second stop request)")]
    Forced,
}

impl From<ConfigError> for NodeError {
    fn from(err: ConfigError) -> Self {
        NodeError::Config(err.to_string())
    }
}

impl NodeConfig {
    /// Checks what the command-line parser cannot: the connect string, the durations, and the
    /// selector's own rules for names and root.
    pub fn validate(&self) -> Result<(), NodeError> {
        validate_connect_string(&self.zk)?;
        if self.session_timeout.is_zero() {
            return Err(NodeError::Config(
                "--session-timeout must be positive".into(),
            ));
        }
        for (value, flag) in [
            (self.write_interval, "--write-interval"),
            (self.health_period, "--health-period"),
            (self.database_timeout, "--database-timeout"),
        ] {
            if value.is_zero() {
                return Err(NodeError::Config(format!("{flag} must be positive")));
            }
        }
        match (&self.store, self.database.is_empty()) {
            (Some(_), false) => {
                return Err(NodeError::Config(
                    "give either --store or --database, not both".into(),
                ));
            }
            (None, true) => {
                return Err(NodeError::Config(
                    "give --store PATH or --database postgres://...".into(),
                ));
            }
            _ => {}
        }
        for url in &self.database {
            if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
                return Err(NodeError::Config(format!(
                    "--database {url:?}: expected postgres://user@host:port/dbname"
                )));
            }
        }
        if !self.election.available() {
            return Err(NodeError::Config(format!(
                "--election {}: known-bug variants need a testbed build",
                self.election
            )));
        }
        if self.incarnation > u32::MAX as u64 {
            return Err(NodeError::Config(
                "--incarnation must be below 2^32 (it is the high half of write ids)".into(),
            ));
        }
        self.selector_config().validate()?;
        Ok(())
    }

    fn selector_config(&self) -> SelectorConfig {
        let config = SelectorConfig::new(
            &self.root,
            &self.pair,
            &self.name,
            self.priority,
            self.policy,
        );
        let config = match &self.credentials {
            Some(credentials) => config.with_credentials(credentials.clone()),
            None => config,
        };
        #[cfg(feature = "testbed")]
        let config = match self.election.known_bug() {
            Some(bug) => config.with_known_bug(bug),
            None => config,
        };
        config
    }
}

/// `host:port` entries separated by commas, with an optional chroot suffix (`/path`) as
/// ZooKeeper clients accept.
fn validate_connect_string(zk: &str) -> Result<(), NodeError> {
    let bad = |why: String| Err(NodeError::Config(format!("--zk {zk:?}: {why}")));
    let hosts = zk.split_once('/').map_or(zk, |(hosts, _)| hosts);
    if hosts.is_empty() {
        return bad("expected host:port[,host:port...]".into());
    }
    for entry in hosts.split(',') {
        let Some((host, port)) = entry.rsplit_once(':') else {
            return bad(format!("{entry:?} has no port; write host:port"));
        };
        if host.is_empty() {
            return bad(format!("{entry:?} has no host"));
        }
        if !port.parse::<u16>().is_ok_and(|p| p != 0) {
            return bad(format!("{entry:?}: port must be a number from 1 to 65535"));
        }
    }
    Ok(())
}

/// Parses `user:password` (the password may contain ':').
pub fn parse_credentials(text: &str) -> Result<DigestCredentials, String> {
    match text.split_once(':') {
        Some((user, password)) if !user.is_empty() && !password.is_empty() => {
            Ok(DigestCredentials::new(user, password))
        }
        _ => Err(format!(
            "{text:?} is not user:password (both non-empty, the user without ':')"
        )),
    }
}

/// Runs the node until SIGTERM, SIGINT or `quit`. Must run inside a multi-threaded tokio
/// runtime.
pub async fn run(config: NodeConfig) -> Result<(), NodeError> {
    config.validate()?;
    let (env, clock) = TokioEnv::adjustable();
    let output = EventOutput::new(&config.name, &config.pair, env.clone());
    output.emit(
        "hello",
        json!({
            "protocol": PROTOCOL_VERSION,
            "program": "splitbrain",
            "version": env!("CARGO_PKG_VERSION"),
            "supports": CAPABILITIES,
        }),
    );
    let last_answer = Arc::new(LastAnswer::default());
    let (store, probe) = match &config.store {
        Some(path) => (Store::file(FencingStore::open(path)?), None),
        None => {
            // The master's writes and the health probes use connections of their own, as the
            // simulated node's requests do not queue behind each other.
            let writes = connect_database(&config).await?;
            let probes = connect_database(&config).await?;
            let probe = DatabaseProbe {
                store: probes,
                last_answer: last_answer.clone(),
                timeout: config.database_timeout + Duration::from_millis(500),
            };
            (
                Store::Postgres(Arc::new(tokio::sync::Mutex::new(writes))),
                Some(probe),
            )
        }
    };
    let mut controls = control::start().map_err(NodeError::Signals)?;
    let mut started = json!({
        "zk": config.zk,
        "root": config.root,
        "priority": config.priority.0,
        "policy": policy_name(config.policy),
        "session_timeout_ms": config.session_timeout.as_millis() as u64,
        "election": config.election.to_string(),
        "incarnation": config.incarnation,
        "pid": std::process::id(),
    });
    match &config.store {
        Some(path) => started["store"] = json!(path.display().to_string()),
        None => started["database"] = json!(config.database),
    }
    output.emit("started", started);

    let (links_tx, links) = watch::channel(config.broken_health.clone());
    let mut check = HealthCheck::new(
        config.health_file.clone(),
        probe,
        links,
        config.health_period,
        config.database_grace,
        output.clone(),
        env.clone(),
    );
    let (health_tx, health) = watch::channel(check.evaluate().await);
    tokio::spawn(check.run(health_tx));

    let connect = {
        let zk = config.zk.clone();
        let timeout = config.session_timeout;
        let auth: Vec<(String, Vec<u8>)> = config
            .credentials
            .iter()
            .map(|c| ("digest".to_string(), c.auth_bytes()))
            .collect();
        let output = output.clone();
        move || {
            let (zk, auth, output) = (zk.clone(), auth.clone(), output.clone());
            async move {
                let session = LiveZk::connect(&zk, timeout, &auth).await?;
                follow_session(&session, output);
                Ok(session)
            }
        }
    };
    let (selector, events, task) =
        zk_selector(config.selector_config(), connect, env.clone(), health)?;
    let log_name = config.name.clone();
    let task = task.with_log(move |line| eprintln!("[{log_name}] {line}"));
    if config.relinquished {
        // Queued before the selector's task starts, so a node started relinquished never
        // stands (as the simulated node restarting relinquished).
        output.emit("relinquishing", json!({}));
        let (queued, is_queued) = oneshot::channel();
        spawn_relinquish(&selector, &output, Some(queued));
        let _ = is_queued.await;
    }
    let mut selector_task = tokio::spawn(task.run());

    let roles = Roles::new(output.clone());
    let acting = Arc::new(AtomicBool::new(false));
    tokio::spawn(follow_role(roles.clone(), selector.role(), acting.clone()));
    let on_acting = {
        let (roles, acting) = (roles.clone(), acting.clone());
        move |token: FencingToken| {
            roles.candidacy(true);
            roles
                .output
                .emit("promoted", json!({ "token": token.value() }));
            acting.store(true, Ordering::SeqCst);
            roles.announce(Role::Master { token });
        }
    };
    let workload = Workload {
        store,
        lease: known_bugs::checks_lease(config.election).then(|| selector.clone()),
        role: selector.role(),
        period: config.write_interval,
        write_ids: WriteIds::new(config.incarnation),
        last_answer,
        on_acting: Arc::new(on_acting),
        election: config.election,
        output: output.clone(),
        env: env.clone(),
    };
    let role_task = tokio::spawn(serve_roles(
        events,
        selector.clone(),
        workload,
        roles,
        acting,
    ));

    let cause = obey(
        &selector,
        &mut controls,
        &mut selector_task,
        &links_tx,
        &clock,
        &output,
    )
    .await?;
    output.emit("stopping", json!({ "cause": cause }));
    // The role task acknowledges the demotion that shutdown starts with. A second SIGTERM,
    // SIGINT or `quit` meanwhile gives up on the clean stop (the session then expires).
    tokio::select! {
        biased;
        cause = next_quit(&mut controls) => {
            output.emit("stopping_forced", json!({ "cause": cause }));
            return Err(NodeError::Forced);
        }
        _ = selector.shutdown() => {}
    }
    drop(selector);
    let _ = selector_task.await;
    let _ = role_task.await;
    output.emit("stopped", json!({}));
    Ok(())
}

async fn connect_database(config: &NodeConfig) -> Result<PgStore, NodeError> {
    PgStore::connect(
        config.database.clone(),
        &config.pair,
        &config.name,
        config.database_timeout,
    )
    .await
    .map_err(|err| NodeError::Database(err.to_string()))
}

type Controls = tokio::sync::mpsc::UnboundedReceiver<Result<Control, control::BadCommand>>;

/// The cause of the next request to quit; the other controls no longer matter.
async fn next_quit(controls: &mut Controls) -> &'static str {
    loop {
        match controls.recv().await {
            Some(Ok(Control::Quit { cause })) => return cause,
            Some(_) => {}
            None => std::future::pending().await,
        }
    }
}

/// Asks the selector to relinquish and reports when that completed (`queued` is told once the
/// request is in the selector's queue). Relinquish completes only after the demotion was
/// acknowledged, which the role task does: wait for it elsewhere.
fn spawn_relinquish(
    selector: &ZkSelector,
    output: &EventOutput,
    queued: Option<oneshot::Sender<()>>,
) {
    let (selector, output) = (selector.clone(), output.clone());
    tokio::spawn(async move {
        let done = selector.relinquish();
        if let Some(queued) = queued {
            let _ = queued.send(());
        }
        match done.await {
            Ok(()) => output.emit("relinquished", json!({})),
            Err(err) => output.emit("relinquish_ended", json!({ "error": err.to_string() })),
        }
    });
}

/// Carries out controls until one asks the node to quit; returns its cause.
async fn obey(
    selector: &ZkSelector,
    controls: &mut Controls,
    selector_task: &mut tokio::task::JoinHandle<()>,
    links: &watch::Sender<BTreeSet<Link>>,
    clock: &ClockControl,
    output: &EventOutput,
) -> Result<&'static str, NodeError> {
    loop {
        let control = tokio::select! {
            biased;
            _ = &mut *selector_task => return Err(NodeError::SelectorStopped),
            control = controls.recv() => control,
        };
        let Some(control) = control else {
            // Every input closed (cannot happen while the signal streams live): serve on
            // until the selector ends.
            let _ = (&mut *selector_task).await;
            return Err(NodeError::SelectorStopped);
        };
        match control {
            Err(bad) => output.emit(
                "control_error",
                json!({ "command": bad.line, "error": bad.reason }),
            ),
            Ok(Control::Quit { cause }) => return Ok(cause),
            Ok(Control::Relinquish) => {
                output.emit("relinquishing", json!({}));
                spawn_relinquish(selector, output, None);
            }
            Ok(Control::Rejoin) => {
                if selector.rejoin().is_ok() {
                    output.emit("rejoining", json!({}));
                }
            }
            Ok(Control::SetPriority(priority)) => {
                if selector.set_priority(priority).is_ok() {
                    output.emit("priority", json!({ "priority": priority.0 }));
                }
            }
            Ok(Control::BreakHealth(link) | Control::HealHealth(link)) => {
                let broken = matches!(control, Ok(Control::BreakHealth(_)));
                output.emit(
                    "health_link",
                    json!({ "link": link.name(), "broken": broken }),
                );
                // The health check re-evaluates at once on a change.
                links.send_if_modified(|current| {
                    if broken {
                        current.insert(link)
                    } else {
                        current.remove(&link)
                    }
                });
            }
            Ok(Control::Clock(change)) => {
                let command = match change {
                    ClockChange::Jump { millis, monotonic } => {
                        if monotonic {
                            clock.jump_monotonic(Duration::from_millis(millis.max(0) as u64));
                        } else {
                            clock.jump_wall(millis);
                        }
                        json!({ "jump_ms": millis, "monotonic": monotonic })
                    }
                    ClockChange::Offset { millis } => {
                        clock.set_wall_offset(millis);
                        json!({ "offset_ms": millis })
                    }
                    ClockChange::Drift { rate } => {
                        if let Err(err) = clock.set_drift(rate) {
                            output.emit(
                                "control_error",
                                json!({ "command": format!("clock drift {rate}"), "error": err.to_string() }),
                            );
                            continue;
                        }
                        json!({ "drift": rate })
                    }
                    ClockChange::Reset => {
                        clock.reset();
                        json!({ "reset": true })
                    }
                };
                let reading = clock.reading();
                output.emit(
                    "clock",
                    json!({
                        "command": command,
                        "mono_ms": reading.mono.as_millis() as u64,
                        "mono_ahead_ms": (reading.mono_ahead_nanos / 1_000_000) as i64,
                        "wall_ms": reading.wall_millis,
                        "wall_offset_ms": reading.wall_offset_millis,
                        "rate": reading.rate,
                    }),
                );
            }
        }
    }
}

/// The node's candidacy and role as it reports them, each only when it changes (as the
/// simulated node records its candidacy and announces its role). Shared by the role follower
/// and the master work, so a node promoted straight out of a withdrawal reports that it stands
/// before it reports the promotion.
#[derive(Clone)]
struct Roles {
    output: EventOutput,
    last: Arc<Mutex<(Option<bool>, Option<&'static str>)>>,
}

impl Roles {
    fn new(output: EventOutput) -> Self {
        Roles {
            output,
            last: Arc::default(),
        }
    }

    fn candidacy(&self, standing: bool) {
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        if last.0 != Some(standing) {
            last.0 = Some(standing);
            self.output
                .emit("candidacy", json!({ "standing": standing }));
        }
    }

    fn announce(&self, role: Role) {
        let (name, token) = match role {
            Role::Master { token } => ("master", Some(token.value())),
            Role::Slave => ("slave", None),
            Role::Withdrawn => ("withdrawn", None),
        };
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        if last.1 != Some(name) {
            last.1 = Some(name);
            let mut fields = json!({ "role": name });
            if let Some(token) = token {
                fields["token"] = json!(token);
            }
            self.output.emit("role", fields);
        }
    }
}

/// Follows the selector's role: reports the node's candidacy and its passive roles ("master"
/// is announced once the node acts on a grant).
async fn follow_role(roles: Roles, mut role: watch::Receiver<Role>, acting: Arc<AtomicBool>) {
    loop {
        let current = *role.borrow_and_update();
        roles.candidacy(current != Role::Withdrawn);
        if !acting.load(Ordering::SeqCst) && !current.is_master() {
            roles.announce(current);
        }
        if role.changed().await.is_err() {
            return;
        }
    }
}

/// Handles role changes, as the simulated node: a grant starts the work (which fences, then
/// reports the promotion); a demotion stops it and waits for the request in flight before it
/// is acknowledged (but for the P7 variant, see [`known_bugs::waits_for_work`]).
async fn serve_roles(
    mut events: RoleEvents,
    selector: ZkSelector,
    workload: Workload,
    roles: Roles,
    acting: Arc<AtomicBool>,
) {
    let output = roles.output.clone();
    let mut worker: Option<(watch::Sender<bool>, oneshot::Receiver<bool>)> = None;
    while let Some(event) = events.recv().await {
        match event {
            RoleEvent::Promoted { token } => {
                output.emit("granted", json!({ "token": token.value() }));
                let (stop, stopped) = watch::channel(false);
                let (done, finished) = oneshot::channel::<bool>();
                let work = workload.clone();
                tokio::spawn(async move {
                    let _ = done.send(work.run(token, stopped).await);
                });
                worker = Some((stop, finished));
            }
            RoleEvent::Demoted { token, reason, ack } => {
                let mut acted = false;
                if let Some((stop, finished)) = worker.take() {
                    stop.send_replace(true);
                    acted = if known_bugs::waits_for_work(workload.election) {
                        // A worker that died without answering (a panic) counts as having
                        // acted: the demotion is then reported.
                        finished.await.unwrap_or(true)
                    } else {
                        // known-bug hook (P7): acknowledged without waiting for the work.
                        acting.load(Ordering::SeqCst)
                    };
                }
                let fields = json!({ "token": token.value(), "reason": reason_name(reason) });
                if acted {
                    output.emit("demoted", fields);
                } else {
                    output.emit("grant_ended", fields);
                }
                acting.store(false, Ordering::SeqCst);
                let role = *selector.role().borrow();
                if !role.is_master() {
                    roles.announce(role);
                }
                // Only now may the selector let the other node take over.
                ack.stopped();
            }
        }
    }
    if let Some((stop, finished)) = worker.take() {
        stop.send_replace(true);
        let _ = finished.await;
    }
}

/// Reports a new session and every change of its state until it ends.
fn follow_session(session: &LiveZk, output: EventOutput) {
    let id = format!("{:#x}", session.session_id());
    output.emit(
        "session",
        json!({
            "state": session_state_name(session.state()),
            "session": id,
            "timeout_ms": session.negotiated_session_timeout().as_millis() as u64,
        }),
    );
    let mut states = session.state_watcher();
    tokio::spawn(async move {
        while states.changed().await.is_ok() {
            let state = *states.borrow_and_update();
            output.emit(
                "session",
                json!({ "state": session_state_name(state), "session": id }),
            );
            if state.is_terminal() {
                return;
            }
        }
    });
}

fn policy_name(policy: Policy) -> &'static str {
    match policy {
        Policy::PreEmptive => "pre-emptive",
        Policy::Sticky => "sticky",
    }
}

fn session_state_name(state: SessionState) -> &'static str {
    match state {
        SessionState::SyncConnected => "connected",
        SessionState::Disconnected => "disconnected",
        SessionState::Expired => "expired",
        SessionState::Closed => "closed",
        SessionState::AuthFailed => "auth_failed",
    }
}

fn reason_name(reason: DemotionReason) -> &'static str {
    match reason {
        DemotionReason::Disconnected => "disconnected",
        DemotionReason::SessionLost => "session_lost",
        DemotionReason::LeaseExpired => "lease_expired",
        DemotionReason::SessionMoved => "session_moved",
        DemotionReason::PreEmpted => "pre_empted",
        DemotionReason::Relinquished => "relinquished",
        DemotionReason::Unhealthy => "unhealthy",
        DemotionReason::Superseded => "superseded",
        DemotionReason::CandidacyLost => "candidacy_lost",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> NodeConfig {
        NodeConfig {
            zk: "127.0.0.1:2181,zk2:2182".into(),
            pair: "pair-1".into(),
            name: "node-a".into(),
            priority: Priority(10),
            policy: Policy::PreEmptive,
            session_timeout: Duration::from_secs(6),
            root: "/splitbrain".into(),
            store: Some(PathBuf::from("/tmp/store")),
            database: Vec::new(),
            database_timeout: Duration::from_secs(1),
            database_grace: health::DATABASE_GRACE,
            health_file: None,
            health_period: health::HEALTH_CHECK_INTERVAL,
            write_interval: Duration::from_millis(100),
            credentials: None,
            election: ElectionCode::Real,
            incarnation: 0,
            relinquished: false,
            broken_health: BTreeSet::new(),
        }
    }

    #[test]
    fn bad_settings_are_refused_with_the_reason() {
        assert!(config().validate().is_ok());
        let with = |change: fn(&mut NodeConfig)| {
            let mut c = config();
            change(&mut c);
            c.validate().unwrap_err().to_string()
        };
        assert!(with(|c| c.zk = "".into()).contains("host:port"));
        assert!(with(|c| c.zk = "localhost".into()).contains("no port"));
        assert!(with(|c| c.zk = "a:1,b:x".into()).contains("port must be"));
        assert!(with(|c| c.zk = ":2181".into()).contains("no host"));
        assert!(with(|c| c.name = "a/b".into()).contains("not a valid name"));
        assert!(with(|c| c.root = "splitbrain".into()).contains("root"));
        assert!(with(|c| c.write_interval = Duration::ZERO).contains("write-interval"));
        assert!(with(|c| c.health_period = Duration::ZERO).contains("health-period"));
        assert!(with(|c| c.database = vec!["postgres://h/db".into()]).contains("not both"));
        assert!(with(|c| c.store = None).contains("--store PATH or --database"));
        assert!(
            with(|c| {
                c.store = None;
                c.database = vec!["mysql://h/db".into()];
            })
            .contains("postgres://")
        );
        assert!(with(|c| c.incarnation = 1 << 32).contains("incarnation"));
        let mut database = config();
        database.store = None;
        database.database = vec!["postgres://a:1/db".into(), "postgresql://b:2/db".into()];
        assert!(database.validate().is_ok());
        let mut chroot = config();
        chroot.zk = "h1:1,h2:2/apps".into();
        assert!(chroot.validate().is_ok());
    }

    #[test]
    fn credentials_are_user_colon_password() {
        let c = parse_credentials("pair-1:s3cr:et").unwrap();
        assert_eq!(c.auth_bytes(), b"pair-1:s3cr:et".to_vec());
        assert!(parse_credentials("nopassword").is_err());
        assert!(parse_credentials(":pw").is_err());
        assert!(parse_credentials("user:").is_err());
    }
}
