//! The selector task of one node: reads the election, asks the decision core what to do, does
//! it, and waits for the next change ([`waits`]).

mod waits;

use super::{Command, Connect};
use crate::coord::Coordination;
use crate::coverage::{Call, Point};
use crate::election::config::{Layout, SelectorConfig};
use crate::election::decide::{Candidate, Decision, Local, Ranking, Standing, View, decide_with};
use crate::election::io::{self, Failure, Watches};
use crate::election::lease::{MasterLease, SharedLease};
use crate::election::role::{
    DemotionAck, DemotionReason, FencingToken, Health, Priority, Role, RoleEvent, SelectorError,
};
use crate::env::{Environment, timeout};
use crate::sync::watch;
use crate::zk::types::{SessionState, Zxid};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// How long shutdown waits for the session to close before giving up (the server then expires
/// it, which removes the candidacy all the same).
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// The selector task of one node in one pair.
pub struct ZkSelectorTask<C, E, K> {
    config: SelectorConfig,
    layout: Layout,
    env: E,
    connect: K,
    health: watch::Receiver<Health>,
    commands: mpsc::UnboundedReceiver<Command>,
    role: watch::Sender<Role>,
    events: mpsc::UnboundedSender<RoleEvent>,
    session: Option<C>,
    /// The election's persistent znodes were seen (or created) in this session.
    paths_ready: bool,
    priority: Priority,
    relinquished: bool,
    /// The token of the current grant while the node acts as master.
    acting: Option<FencingToken>,
    /// The master's quorum-confirmed lease; `Some` exactly while `acting` is.
    lease: Option<MasterLease>,
    /// The grant and its lease's end, for the node's handle (see `ZkSelector::acting_until`).
    shared_lease: SharedLease,
    /// The last new (never claimed) term this node saw: its czxid, and from when (monotonic
    /// clock) it may be claimed. See [`Local::new_term_waited_out`].
    new_term: Option<(Zxid, Duration)>,
    relinquish_waiters: Vec<oneshot::Sender<Result<(), SelectorError>>>,
    /// One-shot watches on the term and the candidates, pending until they fire.
    watches: Watches,
    /// Set once shutdown was requested (or every handle dropped).
    shutdown: Option<Option<oneshot::Sender<()>>>,
    /// Consecutive unexpected failures, for the retry back-off.
    failures: u32,
    log: Option<LogFn>,
}

/// Where the selector reports what it does (one line per step that changes something).
pub type LogFn = Arc<dyn Fn(&str) + Send + Sync>;

impl<C, E, K> ZkSelectorTask<C, E, K>
where
    C: Coordination,
    E: Environment,
    K: Connect<C>,
{
    /// The task of [`super::zk_selector`], before it runs.
    pub(super) fn new(
        config: SelectorConfig,
        connect: K,
        env: E,
        health: watch::Receiver<Health>,
        commands: mpsc::UnboundedReceiver<Command>,
        (role, shared_lease): (watch::Sender<Role>, SharedLease),
        events: mpsc::UnboundedSender<RoleEvent>,
    ) -> Self {
        ZkSelectorTask {
            layout: Layout::new(&config),
            priority: config.priority,
            config,
            env,
            connect,
            health,
            commands,
            role,
            events,
            session: None,
            paths_ready: false,
            watches: Watches::default(),
            relinquished: false,
            acting: None,
            lease: None,
            shared_lease,
            new_term: None,
            relinquish_waiters: Vec::new(),
            shutdown: None,
            failures: 0,
            log: None,
        }
    }

    /// Reports each step that changes something (claims, releases, demotions, failures,
    /// sessions) to `log`, e.g. the node's logger.
    pub fn with_log(mut self, log: impl Fn(&str) + Send + Sync + 'static) -> Self {
        self.log = Some(Arc::new(log));
        self
    }

    fn note(&self, line: std::fmt::Arguments<'_>) {
        if let Some(log) = &self.log {
            log(&line.to_string());
        }
    }

    /// Runs the selector on the node's environment.
    pub fn spawn(self) {
        let env = self.env.clone();
        env.spawn(self.run());
    }

    /// Runs the selector until it is shut down.
    pub async fn run(mut self) {
        while self.shutdown.is_none() {
            self.step().await;
        }
        self.finish().await;
    }

    async fn step(&mut self) {
        while let Ok(command) = self.commands.try_recv() {
            self.apply(Some(command));
        }
        if self.shutdown.is_some() {
            return;
        }
        let Some(session) = &self.session else {
            self.publish_passive_role();
            self.resolve_relinquish_waiters();
            self.open_session().await;
            return;
        };
        match session.state() {
            SessionState::SyncConnected => {}
            SessionState::Disconnected => {
                // The session may expire on the server (or may have expired already) while
                // this node cannot hear about it: mastership must be assumed lost now.
                if !self.ignores_disconnection() {
                    self.demote(DemotionReason::Disconnected).await;
                }
                self.wait_for_connection().await;
                return;
            }
            SessionState::Expired | SessionState::Closed | SessionState::AuthFailed => {
                self.demote(DemotionReason::SessionLost).await;
                // The server deleted the ephemerals of a terminal session; nothing to clean up.
                self.session = None;
                self.failed(Failure::Connection).await;
                return;
            }
        }
        if self
            .lease
            .is_some_and(|lease| lease.expired(self.env.now()))
        {
            self.demote(DemotionReason::LeaseExpired).await;
            return;
        }
        if !self.paths_ready {
            match io::ensure_paths(session, &self.layout, &self.env).await {
                Ok(()) => self.paths_ready = true,
                Err(err) => self.failed(err.into()).await,
            }
            return;
        }
        let lease_expiry = self.lease_expiry();
        let read = tokio::select! {
            biased;
            read = io::read_election(session, &self.layout, &mut self.watches, &self.env) => read,
            // A read that outlasts the lease: the server may have lost the quorum.
            () = lease_expiry => {
                self.env.reach(Point::ReadOutlastedLease);
                Err(Failure::Connection)
            }
        };
        let view = match read {
            Ok(view) => view,
            Err(Failure::Connection) if self.ignores_disconnection() => {
                self.failed(Failure::Connection).await;
                return;
            }
            Err(failure) => {
                // A master that cannot read the election cannot confirm it still holds it.
                let reason = match failure {
                    Failure::Connection => DemotionReason::Disconnected,
                    Failure::SessionMoved => DemotionReason::SessionMoved,
                    Failure::Missing => DemotionReason::CandidacyLost,
                    Failure::Raced | Failure::Record(_) | Failure::Unexpected(_) => {
                        DemotionReason::Superseded
                    }
                };
                self.demote(reason).await;
                self.failed(failure).await;
                return;
            }
        };
        let session_id = session.session_id();
        let new_term_claimable_at = match self.new_term_claimable_at(&view).await {
            Ok(at) => at,
            Err(failure) => {
                self.failed(failure).await;
                return;
            }
        };
        let standing = self.standing();
        let local = Local {
            name: &self.config.candidate,
            session: session_id,
            priority: self.priority,
            policy: self.config.policy,
            standing,
            acting_master: self.acting.is_some(),
            new_term_waited_out: new_term_claimable_at.is_none_or(|at| self.env.now() >= at),
        };
        let decision = decide_with(&view, &local, self.ranking());
        self.reach_decision(&view, session_id, &decision);
        // known-bug hook (P5): a better candidate takes over from a live holder after a fixed
        // delay (see `flawed`).
        #[cfg(feature = "testbed")]
        if let Some(node) =
            crate::election::flawed::takes_over_after_grace(&self.config, &view, &local, &decision)
        {
            let grace = crate::election::flawed::HAND_OVER_GRACE;
            self.note(format_args!("the holder is live: taking over in {grace:?}"));
            self.publish_passive_role();
            self.env.sleep(grace).await;
            self.carry_out(Decision::Claim { node }, view.term_version)
                .await;
            return;
        }
        if decision.is_settled() {
            self.settle(&decision);
            let decide_again_at = match decision {
                Decision::AwaitNewTerm => new_term_claimable_at,
                _ => None,
            };
            self.wait_for_change(decide_again_at).await;
            return;
        }
        self.note(format_args!(
            "{decision:?} (term version {})",
            view.term_version
        ));
        if matches!(decision, Decision::Demote(_)) {
            // Never cut short: it waits for the node's acknowledgement.
            self.carry_out(decision, view.term_version).await;
            return;
        }
        let lease_expiry = self.lease_expiry();
        tokio::select! {
            biased;
            () = self.carry_out(decision, view.term_version) => {}
            // A write as master that outlasts the lease: the next step demotes.
            () = lease_expiry => self.env.reach(Point::WriteOutlastedLease),
        }
    }

    async fn carry_out(&mut self, decision: Decision, term_version: i32) {
        let Some(session) = &self.session else { return };
        let name = self.config.candidate.as_str();
        let outcome = match decision {
            Decision::Demote(reason) => {
                self.demote(reason).await;
                return;
            }
            Decision::Create => {
                io::create_candidate(session, &self.layout, name, self.priority, &self.env).await
            }
            Decision::Replace { old_node } => {
                let (layout, env) = (&self.layout, &self.env);
                let replaced =
                    io::replace_candidate(session, layout, &old_node, name, self.priority, env)
                        .await;
                if replaced.is_ok() {
                    env.reach(Point::ReplacedCandidacy);
                }
                replaced
            }
            Decision::Withdraw { node, release } => {
                let version = release.then_some(term_version);
                let withdrawn =
                    io::withdraw(session, &self.layout, &node, version, &self.env).await;
                if withdrawn.is_ok() && release {
                    self.env.reach(Point::WithdrewHoldingTerm);
                }
                withdrawn
            }
            Decision::Release { node } => {
                let released =
                    io::release(session, &self.layout, &node, term_version, &self.env).await;
                if released.is_ok() {
                    self.env.reach(Point::ReleasedTerm);
                }
                released
            }
            Decision::Claim { node } => {
                let sent_at = self.env.now();
                match io::claim(session, &self.layout, &node, name, term_version, &self.env).await {
                    Ok(token) => {
                        // known-bug hook (N4): the token is the term's version (see `flawed`).
                        #[cfg(feature = "testbed")]
                        let token = match self.config.known_bug() {
                            Some(bug) => {
                                crate::election::flawed::token_of_claim(bug, token, term_version)
                            }
                            None => token,
                        };
                        // Promote only if nothing known has invalidated the claim meanwhile
                        // (a relinquish that arrived during the claim would demote at once).
                        let connected = session.state() == SessionState::SyncConnected;
                        let lease = MasterLease::granted(session.session_timeout(), sent_at);
                        while let Ok(command) = self.commands.try_recv() {
                            self.apply(Some(command));
                        }
                        if connected
                            && self.standing() == Standing::Standing
                            && self.shutdown.is_none()
                        {
                            self.promote(token, lease);
                        } else {
                            self.env.reach(Point::ClaimNotActedOn);
                        }
                        Ok(())
                    }
                    Err(failure) => Err(failure),
                }
            }
            Decision::Lead
            | Decision::Follow
            | Decision::Idle
            | Decision::AwaitStale { .. }
            | Decision::AwaitNewTerm => Ok(()),
        };
        if let Err(failure) = outcome {
            self.failed(failure).await;
        }
    }

    /// After an unsuccessful read or write: lost races and connection trouble are retried at
    /// once (the next step re-reads, or waits for the connection); anything else backs off.
    async fn failed(&mut self, failure: Failure) {
        /// Lost races, a missing election and connection trouble are retried at once this many
        /// times in a row; after that (and for anything else) the retry backs off.
        const IMMEDIATE_RETRIES: u32 = 3;
        self.note(format_args!("failed: {failure:?}"));
        self.failures = self.failures.saturating_add(1);
        let connected = self
            .session
            .as_ref()
            .is_some_and(|s| s.state() == SessionState::SyncConnected);
        let retry_now = match failure {
            Failure::Raced => true,
            Failure::Missing => {
                self.recheck_paths();
                true
            }
            // The next step sees the session's state and acts on it; a session that still
            // claims to be connected after a connection error is not retried in a spin.
            Failure::Connection => !connected,
            Failure::SessionMoved => {
                self.abandon_session().await;
                true
            }
            Failure::Record(_) | Failure::Unexpected(_) => false,
        };
        if retry_now && self.failures > IMMEDIATE_RETRIES {
            self.env.reach(Point::RetryBackedOff);
        }
        if !retry_now || self.failures > IMMEDIATE_RETRIES {
            self.back_off().await;
        }
    }

    async fn open_session(&mut self) {
        let opened = async {
            let session = self.connect.connect().await?;
            if let Some(credentials) = &self.config.credentials
                && let Err(err) = session.add_auth("digest", &credentials.auth_bytes()).await
            {
                let _ = session.close().await;
                return Err(err);
            }
            Ok(session)
        }
        .await;
        match opened {
            Ok(session) => {
                self.note(format_args!("session {:#x} opened", session.session_id()));
                self.session = Some(session);
                self.recheck_paths();
                // Watches of an ended session have fired (with its terminal event) or are gone.
                self.watches = Watches::default();
            }
            Err(err) => {
                self.env.reach(Point::answer(Call::OpenSession, err));
                // known-bug hook (N1): the retries run out and the selector stops (see `flawed`).
                #[cfg(feature = "testbed")]
                if self.config.known_bug().is_some_and(|bug| {
                    crate::election::flawed::gives_up_connecting(bug, self.failures)
                }) {
                    self.note(format_args!("cannot open a session ({err:?}): giving up"));
                    self.stop_steering().await;
                    return;
                }
                self.failed(Failure::Unexpected(err)).await
            }
        }
    }

    /// N1's selector after it gave up: its loop has ended, only a shutdown is still heard. The
    /// role stays what it was (a passive role: nobody tells the node otherwise).
    #[cfg(feature = "testbed")]
    async fn stop_steering(&mut self) {
        loop {
            match self.commands.recv().await {
                Some(Command::Shutdown(done)) => {
                    self.shutdown = Some(Some(done));
                    return;
                }
                None => {
                    self.shutdown = Some(None);
                    return;
                }
                Some(_) => {}
            }
        }
    }

    /// The session moved to another server: this connection no longer speaks for it, and
    /// retrying on it would fail forever. Stop acting, close the session (its candidacy goes
    /// with it) and let the next step open a new one, as after an expiry.
    async fn abandon_session(&mut self) {
        self.env.reach(Point::AbandonedMovedSession);
        self.demote(DemotionReason::SessionMoved).await;
        if let Some(session) = self.session.take() {
            self.note(format_args!(
                "session {:#x} moved to another server: closing it",
                session.session_id()
            ));
            let _ = timeout(&self.env, CLOSE_TIMEOUT, session.close()).await;
        }
    }

    /// The election's persistent znodes are checked (and re-created where missing) before the
    /// next read: in every new session, and whenever a read found them gone.
    fn recheck_paths(&mut self) {
        // known-bug hook (P6): the election is checked in the first session only (see `flawed`).
        #[cfg(feature = "testbed")]
        if self.paths_ready
            && self
                .config
                .known_bug()
                .is_some_and(crate::election::flawed::creates_election_once)
        {
            return;
        }
        self.paths_ready = false;
    }

    /// When a new term ([`View::term_is_new`]) may be claimed; `None` when the term is not new
    /// or this node acts as master (it claims nothing).
    ///
    /// The term of a first deployment may be claimed at once. A term re-created after the
    /// election lost znodes ([`io::election_lost_znodes`]) may have a master that has not
    /// noticed yet: it is claimed a session timeout after this node first saw it, by when
    /// that master's watches, its next read or its lease (2/5 of its session timeout) have
    /// stopped it. This assumes both nodes of a pair use the same session timeout.
    async fn new_term_claimable_at(&mut self, view: &View) -> Result<Option<Duration>, Failure> {
        if !view.term_is_new() || self.acting.is_some() {
            return Ok(None);
        }
        if let Some((created, at)) = self.new_term
            && created == view.term_created
        {
            return Ok(Some(at));
        }
        let Some(session) = &self.session else {
            return Ok(None);
        };
        let recreated = io::election_lost_znodes(session, &self.layout, &self.env).await?;
        // known-bug hook (F1): the re-created term is claimed at once (see `flawed`).
        #[cfg(feature = "testbed")]
        let recreated = recreated
            && !self
                .config
                .known_bug()
                .is_some_and(crate::election::flawed::claims_recreated_terms_at_once);
        let now = self.env.now();
        let at = if recreated {
            self.env.reach(Point::AwaitedRecreatedTerm);
            let wait = session.session_timeout();
            self.note(format_args!(
                "the term was re-created (czxid {:#x}): claimable after {wait:?}",
                view.term_created
            ));
            now + wait
        } else {
            now
        };
        self.new_term = Some((view.term_created, at));
        Ok(Some(at))
    }

    fn apply(&mut self, command: Option<Command>) {
        match command {
            Some(Command::Relinquish(done)) => {
                self.relinquished = true;
                self.relinquish_waiters.push(done);
            }
            Some(Command::Rejoin) => {
                if !self.relinquish_waiters.is_empty() {
                    self.env.reach(Point::RejoinCancelledRelinquish);
                }
                self.relinquished = false;
                for done in self.relinquish_waiters.drain(..) {
                    let _ = done.send(Err(SelectorError::Cancelled));
                }
            }
            Some(Command::SetPriority(priority)) => self.priority = priority,
            Some(Command::Shutdown(done)) => self.shutdown = Some(Some(done)),
            // Every handle was dropped: nobody can steer this selector any more.
            None => {
                if self.shutdown.is_none() {
                    self.shutdown = Some(None);
                }
            }
        }
    }

    /// Coverage of a decision taken on `view`: the waits and claims worth knowing were reached.
    fn reach_decision(&self, view: &View, session: i64, decision: &Decision) {
        let point = match decision {
            Decision::AwaitStale { .. } => Point::AwaitedStaleCandidacy,
            Decision::Claim { .. }
                if view
                    .holder
                    .as_ref()
                    .is_some_and(|h| h.name == self.config.candidate && h.session == session) =>
            {
                Point::ReclaimedSameSession
            }
            _ => return,
        };
        self.env.reach(point);
    }

    /// How candidates rank: [`Candidate::by_rank`], the election's promise.
    fn ranking(&self) -> Ranking {
        // known-bug hook (P3, P4): a flawed ranking (see `flawed`).
        #[cfg(feature = "testbed")]
        if let Some(ranking) = self
            .config
            .known_bug()
            .and_then(crate::election::flawed::ranking)
        {
            return ranking;
        }
        Candidate::by_rank
    }

    /// Whether a master stays master while its connection is broken: never.
    fn ignores_disconnection(&self) -> bool {
        // known-bug hook (P2): only Expired counts as loss (see `flawed`).
        #[cfg(feature = "testbed")]
        if self
            .config
            .known_bug()
            .is_some_and(crate::election::flawed::ignores_disconnection)
        {
            return true;
        }
        false
    }

    fn standing(&self) -> Standing {
        if self.relinquished {
            return Standing::Relinquished;
        }
        // A closed health channel means nobody vouches for the node any more.
        let healthy = self.health.has_changed().is_ok() && *self.health.borrow() == Health::Healthy;
        if healthy {
            Standing::Standing
        } else {
            Standing::Unhealthy
        }
    }

    fn passive_role(&self) -> Role {
        match self.standing() {
            Standing::Standing => Role::Slave,
            Standing::Relinquished | Standing::Unhealthy => Role::Withdrawn,
        }
    }

    fn publish_passive_role(&self) {
        if self.acting.is_none() {
            let role = self.passive_role();
            self.role
                .send_if_modified(|r| std::mem::replace(r, role) != role);
        }
    }

    /// A settled decision: publish the role it implies and complete the requests it fulfils.
    fn settle(&mut self, decision: &Decision) {
        self.failures = 0;
        self.publish_passive_role();
        if *decision == Decision::Idle {
            self.resolve_relinquish_waiters();
        }
    }

    fn resolve_relinquish_waiters(&mut self) {
        if self.relinquished && self.acting.is_none() {
            for done in self.relinquish_waiters.drain(..) {
                let _ = done.send(Ok(()));
            }
        }
    }

    fn promote(&mut self, token: FencingToken, lease: MasterLease) {
        self.note(format_args!(
            "promoted, token {token}, lease {:?}",
            lease.length()
        ));
        self.acting = Some(token);
        // known-bug hook (P2): a selector that counts only Expired as loss keeps no lease
        // either; in the real code this is always `Some`.
        self.lease = (!self.ignores_disconnection()).then_some(lease);
        // Without a lease (P2) the node is told it may act for as long as the role says so.
        let until = self.lease.map_or(Duration::MAX, |lease| lease.expires_at());
        self.shared_lease.set(token, until);
        self.role.send_replace(Role::Master { token });
        // A node that dropped its event receiver still sees the role through the watch.
        let _ = self.events.send(RoleEvent::Promoted { token });
    }

    /// Stops acting as master: the role watch stops saying Master first, then the node gets the
    /// Demoted event, and nothing else happens until it acknowledged.
    async fn demote(&mut self, reason: DemotionReason) {
        self.lease = None;
        self.shared_lease.clear();
        let Some(token) = self.acting.take() else {
            self.publish_passive_role();
            return;
        };
        let point = match reason {
            DemotionReason::Disconnected => Some(Point::MasterDisconnected),
            DemotionReason::SessionLost => Some(Point::MasterSessionLost),
            // Checked only while the session says SyncConnected.
            DemotionReason::LeaseExpired => Some(Point::LeaseExpiredConnected),
            DemotionReason::Superseded => Some(Point::DemotedSuperseded),
            DemotionReason::CandidacyLost => Some(Point::DemotedCandidacyLost),
            DemotionReason::PreEmpted => Some(Point::DemotedPreEmpted),
            DemotionReason::Unhealthy => Some(Point::DemotedUnhealthy),
            DemotionReason::Relinquished => Some(Point::DemotedRelinquished),
            // Reached as `abandoned-moved-session`.
            DemotionReason::SessionMoved => None,
        };
        if let Some(point) = point {
            self.env.reach(point);
        }
        self.note(format_args!("demoted ({reason:?}), token {token}"));
        self.role.send_replace(self.passive_role());
        let (ack, stopped) = DemotionAck::new();
        // If the node dropped the receiver, the event (and with it the ack) is dropped: nobody
        // is left to stop.
        let _ = self.events.send(RoleEvent::Demoted { token, reason, ack });
        // known-bug hook (P8): a relinquish leaves without waiting for the node (see `flawed`).
        #[cfg(feature = "testbed")]
        if reason == DemotionReason::Relinquished
            && self
                .config
                .known_bug()
                .is_some_and(crate::election::flawed::relinquishes_before_stopped)
        {
            return;
        }
        stopped.stopped().await;
    }

    /// Shutdown: demote, then close the session (the server deletes the candidacy with it).
    async fn finish(&mut self) {
        self.relinquished = true;
        self.demote(DemotionReason::Relinquished).await;
        if let Some(session) = self.session.take() {
            let _ = timeout(&self.env, CLOSE_TIMEOUT, session.close()).await;
        }
        self.role.send_replace(Role::Withdrawn);
        self.resolve_relinquish_waiters();
        if let Some(Some(done)) = self.shutdown.take() {
            let _ = done.send(());
        }
    }
}
