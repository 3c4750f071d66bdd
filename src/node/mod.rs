//! One node of a hot/cold pair as a real process: the production embedding of the master
//! selector (`splitbrain node`).
//!
//! The runner connects to a real ZooKeeper ensemble through [`LiveZk`], runs the
//! [`election`](crate::election) selector on [`TokioEnv`], gates its candidacy on a health
//! source ([`health`]), and while master runs the master work ([`master_work`]): a guarded
//! write to the shared [`fencing_store`] every write interval, carrying the grant's fencing
//! token. A demotion stops the work before it is acknowledged. Every event is printed as one
//! JSON line on stdout ([`output`]); the selector's own log goes to stderr.
//!
//! Control ([`control`]): SIGUSR1 or `relinquish` on stdin relinquishes, SIGUSR2 or `rejoin`
//! stands again, `priority N` changes the priority, SIGTERM, SIGINT or `quit` demotes, leaves
//! the election, closes the session and ends the node.

pub mod control;
pub mod fencing_store;
pub mod health;
pub mod master_work;
pub mod output;

use crate::coord::Coordination;
use crate::election::{
    ConfigError, DemotionReason, DigestCredentials, MasterSelector, Policy, Priority, Role,
    RoleEvent, RoleEvents, SelectorConfig, ZkSelector, zk_selector,
};
use crate::env::TokioEnv;
use crate::live::LiveZk;
use crate::zk::types::SessionState;
use control::Control;
use fencing_store::{FencingStore, StoreError};
use master_work::{MasterWork, Writer};
use output::EventOutput;
use serde_json::json;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

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
    /// The shared fencing-store file.
    pub store: PathBuf,
    /// Healthy while this file exists; always healthy without one.
    pub health_file: Option<PathBuf>,
    pub write_interval: Duration,
    pub credentials: Option<DigestCredentials>,
}

/// Why a node could not start or had to stop.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The configuration is unusable (the command line should be fixed).
    #[error("{0}")]
    Config(String),
    #[error(transparent)]
    Store(#[from] StoreError),
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
        if self.write_interval.is_zero() {
            return Err(NodeError::Config(
                "--write-interval must be positive".into(),
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
        match &self.credentials {
            Some(credentials) => config.with_credentials(credentials.clone()),
            None => config,
        }
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
    let env = TokioEnv::new();
    let output = EventOutput::new(&config.name, &config.pair, env.clone());
    let writer = Writer::new(FencingStore::open(&config.store)?);
    let mut controls = control::start().map_err(NodeError::Signals)?;
    output.emit(
        "started",
        json!({
            "zk": config.zk,
            "root": config.root,
            "priority": config.priority.0,
            "policy": policy_name(config.policy),
            "session_timeout_ms": config.session_timeout.as_millis() as u64,
            "store": config.store.display().to_string(),
            "pid": std::process::id(),
        }),
    );
    let health = health::start(config.health_file.clone(), output.clone());
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
    let mut selector_task = tokio::spawn(task.run());
    let roles = tokio::spawn(serve_roles(
        events,
        selector.clone(),
        writer,
        config.write_interval,
        output.clone(),
        env,
    ));
    follow_candidacy(&selector, output.clone());

    let cause = obey(&selector, &mut controls, &mut selector_task, &output).await?;
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
    let _ = roles.await;
    output.emit("stopped", json!({}));
    Ok(())
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

/// Carries out controls until one asks the node to quit; returns its cause.
async fn obey(
    selector: &ZkSelector,
    controls: &mut Controls,
    selector_task: &mut tokio::task::JoinHandle<()>,
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
                let (selector, output) = (selector.clone(), output.clone());
                // Relinquish completes only after the demotion was acknowledged, which the
                // role task does: wait for it elsewhere.
                tokio::spawn(async move {
                    match selector.relinquish().await {
                        Ok(()) => output.emit("relinquished", json!({})),
                        Err(err) => {
                            output.emit("relinquish_ended", json!({ "error": err.to_string() }))
                        }
                    }
                });
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
        }
    }
}

/// Handles role changes: starts the master work on promotion, stops it before acknowledging a
/// demotion.
async fn serve_roles(
    mut events: RoleEvents,
    lease: ZkSelector,
    writer: Arc<Mutex<Writer>>,
    write_interval: Duration,
    output: EventOutput,
    env: TokioEnv,
) {
    let mut work: Option<MasterWork> = None;
    while let Some(event) = events.recv().await {
        match event {
            RoleEvent::Promoted { token } => {
                output.emit("promoted", json!({ "token": token.value() }));
                if let Some(stale) = work.take() {
                    // The selector demotes before every new grant; this only guards the rule.
                    stale.stop().await;
                }
                work = Some(MasterWork::start(
                    token,
                    lease.clone(),
                    writer.clone(),
                    write_interval,
                    output.clone(),
                    env.clone(),
                ));
            }
            RoleEvent::Demoted { token, reason, ack } => {
                if let Some(running) = work.take() {
                    running.stop().await;
                }
                output.emit(
                    "demoted",
                    json!({ "token": token.value(), "reason": reason_name(reason) }),
                );
                ack.stopped();
            }
        }
    }
    if let Some(running) = work.take() {
        running.stop().await;
    }
}

/// Reports whether the node stands for election (it does not while relinquished, unhealthy or
/// shutting down).
fn follow_candidacy(selector: &ZkSelector, output: EventOutput) {
    let mut roles = selector.role();
    tokio::spawn(async move {
        let mut standing = None;
        loop {
            let now = !matches!(*roles.borrow_and_update(), Role::Withdrawn);
            if standing != Some(now) {
                standing = Some(now);
                output.emit("candidacy", json!({ "standing": now }));
            }
            if roles.changed().await.is_err() {
                return;
            }
        }
    });
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
            store: PathBuf::from("/tmp/store"),
            health_file: None,
            write_interval: Duration::from_millis(100),
            credentials: None,
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
