//! The master's lease on its ZooKeeper session: the evidence, on the node's own monotonic
//! clock, that its session was alive recently enough that nobody else can have been granted
//! mastership yet.
//!
//! Why the selector's role is not enough: a process paused for longer than its session
//! timeout (a GC pause, SIGSTOP) resumes with every task overdue at once. Until its ZooKeeper
//! client has run its own overdue timer and the selector has reacted, the role still says
//! Master, although the ensemble expired the session and the other node may be writing under a
//! newer token. Which task runs first after the pause is up to the scheduler. The lease closes
//! that gap: a round trip on the session that *started* at `c` (node clock) proves the server
//! heard the session after `c`, so the server cannot expire it before `c + T`; the master
//! writes only while `now < c + lease`, with `lease` well below `T` (half of it), and renews
//! every `lease / 3` while it is master. After a long pause `now - c` is large, so the node
//! does not write until a fresh round trip succeeds — which it cannot on an expired session.
//!
//! The round trip is a plain `exists`, which the session's own server answers: enough for a
//! pause, which leaves `now - c` large whatever the server does. A server that has lost its
//! leader but still answers (a zombie follower) would keep this lease alive; that case is the
//! selector's quorum-confirmed lease (`election::lease`), which demotes the master within 2/5
//! of the session timeout, and a demoted node stops writing whatever this lease says. So this
//! lease stays cheap, and the P1 variant (no write lease) still shows what a pause does
//! without it.
//!
//! Assumption (documented, not checked): the node's and the servers' clocks run at rates within
//! a factor of two of each other over one session timeout.

use crate::coord::Coordination;
use crate::env::{Environment, timeout};
use crate::sim::world::HostCtx;
use crate::zk::client::SimZkClient;
use crate::zk::types::{SessionId, SessionState};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Default)]
struct LeaseState {
    /// The newest session the selector opened.
    session: Option<SimZkClient>,
    /// The session and the start (node clock) of its last successful round trip.
    confirmed: Option<(SessionId, Duration)>,
}

/// Shared by the selector's connect function (which hands it each new session), the renewal
/// task and the master's workload. Clones share it.
#[derive(Clone)]
pub struct SessionLease {
    state: Arc<Mutex<LeaseState>>,
    length: Duration,
}

impl SessionLease {
    /// A lease of `length`, which must be below the negotiated session timeout.
    pub fn new(length: Duration) -> Self {
        SessionLease {
            state: Arc::default(),
            length,
        }
    }

    pub fn length(&self) -> Duration {
        self.length
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LeaseState> {
        self.state.lock().expect("lease lock")
    }

    /// The selector opened `session`: the lease now follows it (and starts unconfirmed).
    pub fn track(&self, session: SimZkClient) {
        let mut state = self.lock();
        state.session = Some(session);
        state.confirmed = None;
    }

    /// Whether, at `now` (node clock), the current session is connected and was confirmed
    /// alive less than the lease length ago.
    pub fn valid(&self, now: Duration) -> bool {
        let state = self.lock();
        let Some(session) = &state.session else {
            return false;
        };
        session.state() == SessionState::SyncConnected
            && state.confirmed.is_some_and(|(id, at)| {
                id == session.session_id() && now < at.saturating_add(self.length)
            })
    }

    /// One round trip on the current session; on success the lease runs from its start.
    pub async fn renew(&self, ctx: &HostCtx) -> bool {
        let Some(session) = self.lock().session.clone() else {
            return false;
        };
        if session.state() != SessionState::SyncConnected {
            return false;
        }
        let started = ctx.env.now();
        // `exists` on the root: served by the session's server, no ACL involved.
        let answered = timeout(&ctx.env, self.length, session.exists("/")).await;
        if !matches!(answered, Ok(Ok(_))) || session.state() != SessionState::SyncConnected {
            return false;
        }
        let mut state = self.lock();
        if state
            .session
            .as_ref()
            .is_some_and(|s| s.session_id() == session.session_id())
        {
            let id = session.session_id();
            let newer = state.confirmed.is_none_or(|(_, at)| at < started);
            if newer {
                state.confirmed = Some((id, started));
            }
        }
        true
    }

    /// How often a master renews: three times per lease.
    pub fn renew_period(&self) -> Duration {
        self.length / 3
    }
}
