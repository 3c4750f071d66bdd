//! The ZooKeeper master selector: a handle the node keeps ([`ZkSelector`]) and the task that
//! runs the election ([`ZkSelectorTask`], in `task`). The task reads the election, asks the
//! decision core what to do, does it, and waits for the next change; everything it knows about
//! ZooKeeper goes through [`Coordination`], everything about time through [`Environment`].

mod task;

pub use task::{LogFn, ZkSelectorTask};

use super::MasterSelector;
use super::config::{ConfigError, SelectorConfig};
use super::lease::SharedLease;
use super::role::{FencingToken, Health, Priority, Role, RoleEvent, SelectorError};
use crate::coord::Coordination;
use crate::env::Environment;
use crate::sync::watch;
use crate::zk::types::ZkResult;
use std::future::Future;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// Opens a new ZooKeeper session. Called at start and after a session ended (expired, closed,
/// authentication failed); the selector never reuses a terminal session.
pub trait Connect<C: Coordination>: Send + Sync + 'static {
    fn connect(&self) -> impl Future<Output = ZkResult<C>> + Send;
}

impl<C, F, Fut> Connect<C> for F
where
    C: Coordination,
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ZkResult<C>> + Send,
{
    fn connect(&self) -> impl Future<Output = ZkResult<C>> + Send {
        self()
    }
}

/// Role changes, in order. See [`RoleEvent`].
pub type RoleEvents = mpsc::UnboundedReceiver<RoleEvent>;

enum Command {
    Relinquish(oneshot::Sender<Result<(), SelectorError>>),
    Rejoin,
    SetPriority(Priority),
    Shutdown(oneshot::Sender<()>),
}

/// The node's handle on its ZooKeeper master selector. Cheap to clone; when the last clone is
/// dropped the selector shuts down (demotes, then closes its session).
#[derive(Clone, Debug)]
pub struct ZkSelector {
    commands: mpsc::UnboundedSender<Command>,
    role: watch::Receiver<Role>,
    lease: SharedLease,
}

impl ZkSelector {
    /// Until when (the selector's [`Environment`] clock: monotonic) the node may act under
    /// the grant `token`, on the evidence of the quorum-confirmed lease; `None` once that
    /// grant is over or was never this node's.
    ///
    /// The guarded work asks just before each action and acts only while `now` is earlier.
    /// The role watch alone is not enough: a process paused for longer than its session
    /// timeout resumes with every task overdue at once, and until the selector has run, its
    /// role still says Master although the ensemble may have expired the session and the
    /// other node be writing under a newer token. After such a pause `now` is past this
    /// deadline, so the node does not act until a fresh confirmation succeeds, which it
    /// cannot on an expired session. (A node that cannot check before each action must
    /// fence every write with the token instead.)
    pub fn acting_until(&self, token: FencingToken) -> Option<Duration> {
        self.lease.expires_at(token)
    }
}

impl MasterSelector for ZkSelector {
    fn role(&self) -> watch::Receiver<Role> {
        self.role.clone()
    }

    fn relinquish(&self) -> impl Future<Output = Result<(), SelectorError>> + Send {
        let (done, wait) = oneshot::channel();
        let sent = self.commands.send(Command::Relinquish(done));
        async move {
            sent.map_err(|_| SelectorError::Stopped)?;
            wait.await.map_err(|_| SelectorError::Stopped)?
        }
    }

    fn rejoin(&self) -> Result<(), SelectorError> {
        self.commands
            .send(Command::Rejoin)
            .map_err(|_| SelectorError::Stopped)
    }

    fn set_priority(&self, priority: Priority) -> Result<(), SelectorError> {
        self.commands
            .send(Command::SetPriority(priority))
            .map_err(|_| SelectorError::Stopped)
    }

    fn shutdown(&self) -> impl Future<Output = Result<(), SelectorError>> + Send {
        let (done, wait) = oneshot::channel();
        let sent = self.commands.send(Command::Shutdown(done));
        async move {
            sent.map_err(|_| SelectorError::Stopped)?;
            wait.await.map_err(|_| SelectorError::Stopped)
        }
    }
}

/// What [`zk_selector`] builds: the node's handle, its role events, and the task to run.
pub type ZkSelectorParts<C, E, K> = (ZkSelector, RoleEvents, ZkSelectorTask<C, E, K>);

/// Builds a ZooKeeper master selector: the handle, the role events, and the task to run
/// ([`ZkSelectorTask::spawn`] on the node's environment, or `.run()` in a task of the node's
/// choosing). `health` is the node's health; if its sender is dropped the node counts as
/// unhealthy, since nobody vouches for it any more.
pub fn zk_selector<C, E, K>(
    config: SelectorConfig,
    connect: K,
    env: E,
    health: watch::Receiver<Health>,
) -> Result<ZkSelectorParts<C, E, K>, ConfigError>
where
    C: Coordination,
    E: Environment,
    K: Connect<C>,
{
    config.validate()?;
    let (command_tx, command_rx) = mpsc::unbounded_channel();
    let (role_tx, role_rx) = watch::channel(Role::Slave);
    let (event_tx, event_rx) = mpsc::unbounded_channel();
    let lease = SharedLease::default();
    let task = ZkSelectorTask::new(
        config,
        connect,
        env,
        health,
        command_rx,
        (role_tx, lease.clone()),
        event_tx,
    );
    let handle = ZkSelector {
        commands: command_tx,
        role: role_rx,
        lease,
    };
    Ok((handle, event_rx, task))
}
