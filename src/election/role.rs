//! What the selector tells the node, and what the node tells the selector.

use std::fmt;
use tokio::sync::oneshot;

/// A candidate's priority: the **higher** number is preferred. Compared as a number, never as
/// text (the "50 after 2000" bug of text-sorted priorities cannot happen).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Priority(pub u32);

impl fmt::Display for Priority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// When a preferred candidate takes over.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Policy {
    /// The highest-priority healthy candidate is always master: when a better one joins, the
    /// current master stops and hands over (a "beefy" primary host reclaims its role).
    PreEmptive,
    /// A master stays master until it relinquishes, fails its health checks or loses its
    /// session; a better candidate that joins later does not fail back.
    Sticky,
}

/// A fencing token: strictly greater for every grant of mastership of a pair than for any
/// earlier grant. The node attaches it to every guarded write; the guarded resource remembers
/// the highest token it has seen and rejects writes carrying a lower one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FencingToken(pub i64);

impl FencingToken {
    pub fn value(self) -> i64 {
        self.0
    }
}

impl fmt::Display for FencingToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#x}", self.0)
    }
}

/// The node's current role, as last decided by the selector.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// Not standing for election: relinquished, unhealthy, or shut down.
    Withdrawn,
    /// Standing (or trying to stand) for election, not master.
    Slave,
    /// Master, under this token.
    Master { token: FencingToken },
}

impl Role {
    pub fn is_master(self) -> bool {
        matches!(self, Role::Master { .. })
    }
}

/// Node health, reported by the embedding node (database and message bus reachable, ...).
/// An unhealthy node withdraws its candidacy and rejoins once healthy again.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Health {
    Healthy,
    Unhealthy,
}

/// Why a master was demoted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DemotionReason {
    /// The connection to the coordination service broke: the session may expire (or may
    /// already have expired) without this node hearing about it, so mastership must be
    /// assumed lost.
    Disconnected,
    /// The session ended (expired, closed or failed authentication).
    SessionLost,
    /// The ensemble's leader did not confirm the session within the master's lease: the
    /// session's server may have lost the quorum while it still answers this node.
    LeaseExpired,
    /// The session moved to another server: this connection no longer speaks for it.
    SessionMoved,
    /// A higher-priority candidate joined (pre-emptive policy).
    PreEmpted,
    /// The node asked to relinquish, or the selector is shutting down.
    Relinquished,
    /// The node reported itself unhealthy.
    Unhealthy,
    /// The election record names another holder or no holder at all.
    Superseded,
    /// This node's candidacy disappeared from the election (deleted by someone else).
    CandidacyLost,
}

/// A change of role, delivered in order through the selector's event channel.
#[derive(Debug)]
pub enum RoleEvent {
    /// This node is master from now on; attach `token` to every guarded write.
    Promoted { token: FencingToken },
    /// This node must stop acting as master at once. The selector does nothing more for this
    /// pair (no release of the candidacy, no new claim) until `ack` is acknowledged, so the next
    /// master cannot start before this one has stopped.
    Demoted {
        token: FencingToken,
        reason: DemotionReason,
        ack: DemotionAck,
    },
}

/// The node's acknowledgement that it stopped its master work. Call [`DemotionAck::stopped`]
/// once the work has stopped; dropping the acknowledgement counts as acknowledging too (a
/// worker that ends, or panics, while holding it has stopped), so hold it for as long as the
/// work may still run.
#[derive(Debug)]
pub struct DemotionAck {
    sender: oneshot::Sender<()>,
}

/// The selector's side of a [`DemotionAck`].
#[derive(Debug)]
pub(crate) struct AckWait {
    receiver: oneshot::Receiver<()>,
}

impl DemotionAck {
    pub(crate) fn new() -> (DemotionAck, AckWait) {
        let (sender, receiver) = oneshot::channel();
        (DemotionAck { sender }, AckWait { receiver })
    }

    /// The master work has stopped.
    pub fn stopped(self) {
        // The selector may have shut down meanwhile; then nobody waits for this.
        let _ = self.sender.send(());
    }
}

impl AckWait {
    /// Resolves when the node acknowledged or dropped the acknowledgement.
    pub(crate) async fn stopped(self) {
        let _ = self.receiver.await;
    }
}

/// Why a request to the selector did not complete.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SelectorError {
    /// The selector task is gone (shut down, or its host stopped).
    #[error("the master selector has stopped")]
    Stopped,
    /// A later request undid this one (a rejoin before the relinquish completed).
    #[error("the request was cancelled by a later one")]
    Cancelled,
}
