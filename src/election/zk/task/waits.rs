//! How the selector task waits: for a change of the election, for its connection, out a retry
//! back-off; and how a master renews its lease meanwhile.

use super::ZkSelectorTask;
use crate::coord::Coordination;
use crate::coverage::{Call, Point};
use crate::election::io::{self, Watches};
use crate::election::zk::{Command, Connect};
use crate::env::{Environment, timeout};
use crate::zk::types::{ErrorCode, SessionState};
use std::future::Future;
use std::time::Duration;

/// What ended a wait.
enum Wake {
    Command(Option<Command>),
    TermWatch,
    CandidatesWatch,
    RenewLease,
    Other,
}

/// Resolves when the pending watch fires; never, if there is none.
async fn fired(watch: &mut Option<io::PendingWatch>) {
    match watch {
        Some(watch) => {
            watch.as_mut().await;
        }
        None => std::future::pending().await,
    }
}

impl<C, E, K> ZkSelectorTask<C, E, K>
where
    C: Coordination,
    E: Environment,
    K: Connect<C>,
{
    pub(super) async fn back_off(&mut self) {
        let exponent = self.failures.saturating_sub(1).min(16);
        let delay = self
            .config
            .retry_delay
            .saturating_mul(1 << exponent)
            .min(self.config.max_retry_delay);
        let mut state = self.session.as_ref().map(|s| s.state_watcher());
        let lease_expiry = self.lease_expiry();
        let wake = {
            let sleep = self.env.sleep(delay);
            // A master must not sit out a back-off while its connection breaks.
            let disconnected = async {
                match state.as_mut() {
                    Some(state) => {
                        let _ = state.wait_for(|s| *s != SessionState::SyncConnected).await;
                    }
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                biased;
                () = disconnected, if self.acting.is_some() => Wake::Other,
                () = lease_expiry => Wake::Other,
                command = self.commands.recv() => Wake::Command(command),
                () = sleep => Wake::Other,
            }
        };
        if let Wake::Command(command) = wake {
            self.apply(command);
        }
    }

    pub(super) async fn wait_for_connection(&mut self) {
        let Some(session) = &self.session else { return };
        let mut state = session.state_watcher();
        let health_open = self.health.has_changed().is_ok();
        let wake = tokio::select! {
            biased;
            _ = state.wait_for(|s| *s != SessionState::Disconnected) => Wake::Other,
            command = self.commands.recv() => Wake::Command(command),
            _ = self.health.changed(), if health_open => Wake::Other,
        };
        if let Wake::Command(command) = wake {
            self.apply(command);
        }
        self.publish_passive_role();
    }

    /// Waits until anything the decision depends on may have changed: the session's state, a
    /// command, the node's health, the term or the candidates (one-shot watches from this read),
    /// the recheck interval, or `decide_again_at`. A master renews its lease meanwhile.
    pub(super) async fn wait_for_change(&mut self, decide_again_at: Option<Duration>) {
        let recheck_at = self
            .config
            .recheck_interval
            .map(|d| self.env.now() + d)
            .into_iter()
            .chain(decide_again_at)
            .min();
        // One timer for the whole wait, not a new one per lease renewal: a master renews
        // every second and would leave a minute's worth of called-off recheck timers behind.
        let env = self.env.clone();
        let recheck = async move {
            match recheck_at {
                Some(at) => env.sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        let mut recheck = std::pin::pin!(recheck);
        loop {
            let Some(session) = &self.session else { return };
            let mut state = session.state_watcher();
            let renewal = self
                .lease
                .map(|lease| self.env.sleep_until(lease.renewal_due_at()));
            let health_open = self.health.has_changed().is_ok();
            let Watches { term, candidates } = &mut self.watches;
            let wake = tokio::select! {
                biased;
                _ = state.wait_for(|s| *s != SessionState::SyncConnected) => Wake::Other,
                command = self.commands.recv() => Wake::Command(command),
                _ = self.health.changed(), if health_open => Wake::Other,
                _ = fired(term) => Wake::TermWatch,
                _ = fired(candidates) => Wake::CandidatesWatch,
                () = async {
                    match renewal {
                        Some(sleep) => sleep.await,
                        None => std::future::pending().await,
                    }
                } => Wake::RenewLease,
                () = &mut recheck => Wake::Other,
            };
            match wake {
                Wake::Command(command) => self.apply(command),
                Wake::TermWatch => self.watches.term = None,
                Wake::CandidatesWatch => self.watches.candidates = None,
                // A renewed lease changes nothing the decision depends on: wait on.
                Wake::RenewLease if self.renew_lease().await => continue,
                Wake::RenewLease | Wake::Other => {}
            }
            return;
        }
    }

    /// Confirms the session through the quorum: a `sync`, which the session's server forwards
    /// to the ZooKeeper leader and answers only after the leader did. True when the lease was
    /// renewed; otherwise the next step sees why (the lease ran out, the connection broke) and
    /// acts on it.
    ///
    /// No read follows the sync: the sync is answered after every change committed before it,
    /// and a change to the term or the candidates fires this master's watches before that
    /// answer arrives, so the watches already tell what a read would.
    pub(super) async fn renew_lease(&mut self) -> bool {
        let (Some(session), Some(lease)) = (&self.session, self.lease) else {
            return false;
        };
        let sent_at = self.env.now();
        let left = lease.expires_at().saturating_sub(sent_at);
        let term_path = self.layout.term_path();
        let confirm = async {
            // known-bug hook (N2): renewed by a read the session's own server answers (see
            // `flawed`).
            #[cfg(feature = "testbed")]
            if self
                .config
                .known_bug()
                .is_some_and(crate::election::flawed::renews_by_local_read)
            {
                return crate::election::flawed::confirm_by_local_read(session, term_path).await;
            }
            io::confirm_session(session, term_path).await
        };
        let answer = timeout(&self.env, left, confirm).await;
        match answer {
            Ok(Ok(())) => {
                if let (Some(lease), Some(token)) = (&mut self.lease, self.acting) {
                    lease.confirmed(sent_at);
                    self.shared_lease.set(token, lease.expires_at());
                }
                true
            }
            Ok(Err(err)) => {
                self.note(format_args!("lease renewal failed: {err:?}"));
                self.env.reach(Point::answer(Call::ConfirmSession, err));
                if err == ErrorCode::SessionMoved {
                    self.abandon_session().await;
                }
                false
            }
            Err(_) => {
                self.env.reach(Point::LeaseRenewalUnanswered);
                self.note(format_args!("lease renewal unanswered for {left:?}"));
                false
            }
        }
    }

    /// Resolves when the master's lease runs out; never, if this node is not master. Owns what
    /// it needs, so it can race a step that borrows the task.
    pub(super) fn lease_expiry(&self) -> impl Future<Output = ()> + Send + 'static {
        let env = self.env.clone();
        let expires_at = self.lease.map(|lease| lease.expires_at());
        async move {
            match expires_at {
                Some(at) => env.sleep_until(at).await,
                None => std::future::pending().await,
            }
        }
    }
}
