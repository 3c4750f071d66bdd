//! The database host's process: answers nodes on [`ports::DATABASE`], applies writes one at a
//! time after its write latency, commits them with its peer's certification where the mode
//! asks for it, keeps its state on its disk, and talks to its peer host (the replica, or the
//! other multi-master member).

use super::proto::{
    DbMsg, DbRequest, DbResponse, Proposal, ProposedWrite, RunOnceRow, RunOnceVerdict,
};
use super::state::{DbDisk, DbState};
use crate::coverage::Point;
use crate::env::{Environment, Interval};
use crate::sim::history::{Name, Record, WriteOutcome};
use crate::sim::net::{Addr, HostId, Mailbox, Payload, ports};
use crate::sim::topology::{DatabaseMode, Replication};
use crate::sim::world::{HostCtx, HostStatus, ProcessFn};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How often the two hosts of a database exchange their state when nothing changes.
pub const DEFAULT_HEARTBEAT_INTERVAL: Duration = Duration::from_millis(500);
/// How long a replica waits without hearing an acting primary before it promotes itself.
pub const DEFAULT_FAILOVER_AFTER: Duration = Duration::from_secs(3);
/// How long a host waits for its peer to certify a commit before it answers `Unavailable`.
pub const DEFAULT_COMMIT_TIMEOUT: Duration = Duration::from_millis(500);

/// One database host's configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct DbServerConfig {
    /// The pair whose writes this database holds (for the history).
    pub pair: Name,
    pub mode: DatabaseMode,
    /// Whether the host accepts writes on its first start (the primary, a multi-master
    /// member); later starts take it from the disk.
    pub starts_acting: bool,
    /// The other host of the database, if any.
    pub peer: Option<HostId>,
    pub write_latency: Duration,
    /// The run-once guard's wait interval, if the guard is on.
    pub run_once_wait: Option<Duration>,
    pub heartbeat_interval: Duration,
    /// The replica's failure detector (primary/replica mode only), on the replica's own
    /// monotonic clock.
    pub failover_after: Duration,
    /// How long a commit waits for the peer's certification.
    pub commit_timeout: Duration,
    /// When the history records a write the peer certified.
    pub dating: CertifiedWriteDating,
    /// Primary/replica: whether commits wait for the replica.
    pub replication: Replication,
    /// Whether writes are checked against the newest fencing token (`false`: the table has no
    /// token column; a fence request is only a round trip).
    pub fenced: bool,
}

/// When the history records a write the peer certified (synchronous replication,
/// multi-master). The model commits it at the certification; the other dating is this model's
/// own old bug (chaos seeds 578, 690, 1020, 1148, 1974: a proposer paused mid-commit answered
/// after the next master's fence, and its late answer was taken for the commit), kept so a test
/// can show the regression scenarios written for it still reach that moment: a scheduling
/// change that reorders a run can quietly lose it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CertifiedWriteDating {
    /// At the peer's certification, whatever the proposer's fate.
    #[default]
    AtCommit,
    /// When the proposer answers the writer (the old, wrong dating).
    AtProposerAnswer,
}

impl DbServerConfig {
    pub fn new(pair: &str, mode: DatabaseMode, starts_acting: bool, peer: Option<HostId>) -> Self {
        DbServerConfig {
            pair: pair.into(),
            mode,
            starts_acting,
            peer,
            write_latency: Duration::ZERO,
            run_once_wait: None,
            heartbeat_interval: DEFAULT_HEARTBEAT_INTERVAL,
            failover_after: DEFAULT_FAILOVER_AFTER,
            commit_timeout: DEFAULT_COMMIT_TIMEOUT,
            dating: CertifiedWriteDating::AtCommit,
            replication: Replication::Synchronous,
            fenced: true,
        }
    }

    /// Asynchronous primary/replica replication: the lag of what the replica receives.
    fn async_lag(&self) -> Option<Duration> {
        match (self.mode, self.replication) {
            (DatabaseMode::PrimaryReplica, Replication::Asynchronous { lag }) => Some(lag),
            _ => None,
        }
    }
}

/// The process of a database host.
pub fn database_process(config: DbServerConfig) -> ProcessFn {
    let config = Arc::new(config);
    Arc::new(move |ctx: HostCtx| {
        let config = config.clone();
        Box::pin(async move { Server::start(ctx, config).run().await })
    })
}

struct Server {
    ctx: HostCtx,
    config: Arc<DbServerConfig>,
    disk: Arc<Mutex<DbDisk>>,
    state: DbState,
    mailbox: Mailbox,
    heartbeat: Interval<crate::sim::clock::SimEnv>,
    /// When (this host's monotonic clock) an acting peer was last heard.
    peer_heard: Duration,
    /// Requests that arrived while a commit waited for the peer, answered in order after it.
    deferred: VecDeque<(Addr, DbMsg)>,
    /// Numbers this host's proposals, so a late certification of an abandoned one is ignored.
    next_seq: u64,
    /// The run-once row this host is committing, if any (a crossing row update is refused).
    pending_row: Option<RunOnceRow>,
    /// Asynchronous replication, on the acting host: what it committed and when (its monotonic
    /// clock), oldest first, back to the newest entry at least the lag old — what has reached
    /// the replica so far.
    committed: VecDeque<(Duration, Option<i64>, Option<RunOnceRow>)>,
}

/// How a commit went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Certification {
    /// No peer needed: committed when this host applied it.
    Alone,
    /// The peer certified it: committed when the peer did (the peer records a write's commit).
    Certified,
    Refused,
    NoAnswer,
}

impl Certification {
    fn committed(self) -> bool {
        matches!(self, Certification::Alone | Certification::Certified)
    }
}

impl Server {
    fn start(ctx: HostCtx, config: Arc<DbServerConfig>) -> Server {
        let disk = ctx.disk::<DbDisk>();
        let state = disk
            .lock()
            .expect("database disk lock")
            .state
            .get_or_insert_with(|| DbState::new(config.starts_acting))
            .clone();
        ctx.trace(
            "db",
            format_args!(
                "start: acting {} epoch {} newest token {:?}",
                state.acting, state.epoch, state.newest_token
            ),
        );
        let peer_heard = ctx.env.now();
        let mailbox = ctx.net.bind(ports::DATABASE);
        let heartbeat = Interval::new(ctx.env.clone(), config.heartbeat_interval);
        let mut server = Server {
            ctx,
            config,
            disk,
            state,
            mailbox,
            heartbeat,
            peer_heard,
            deferred: VecDeque::new(),
            next_seq: 1,
            pending_row: None,
            committed: VecDeque::new(),
        };
        if let Some(lag) = server.config.async_lag() {
            server.log_commit(lag);
        }
        server
    }

    async fn run(mut self) {
        // The heartbeat only syncs the peer and watches it: a database without one has
        // nothing to do on it (and a world of a hundred would wake twice a second each).
        let has_peer = self.config.peer.is_some();
        loop {
            if let Some((from, msg)) = self.deferred.pop_front() {
                self.on_message(from, msg).await;
                continue;
            }
            tokio::select! {
                biased;
                packet = self.mailbox.recv() => {
                    let Some(packet) = packet else { return };
                    if let Payload::Db(msg) = packet.payload {
                        self.on_message(packet.from, msg).await;
                    }
                }
                () = self.heartbeat.tick(), if has_peer => self.on_heartbeat(),
            }
        }
    }

    async fn on_message(&mut self, from: Addr, msg: DbMsg) {
        match msg {
            DbMsg::Request { id, body } => {
                let body = self.on_request(body).await;
                self.ctx.net.send(
                    ports::DATABASE,
                    from,
                    Payload::Db(DbMsg::Response { id, body }),
                );
            }
            other => self.on_peer_message(from, other),
        }
    }

    /// What the peer host sends; answered at once, also while this host waits on a commit of
    /// its own (two members committing at the same time certify each other's proposals).
    fn on_peer_message(&mut self, from: Addr, msg: DbMsg) {
        if Some(from.host) != self.config.peer {
            return;
        }
        match msg {
            DbMsg::Sync(snapshot) => {
                if snapshot.acting {
                    self.peer_heard = self.ctx.env.now();
                }
                self.merge(&snapshot);
            }
            DbMsg::Replicate { seq, proposal } => {
                self.peer_heard = self.ctx.env.now();
                let was_acting = self.state.acting;
                let certified =
                    self.state
                        .certify(&proposal, self.config.mode, self.pending_row.as_ref());
                if certified {
                    // Synchronous replication commits here, at the certification: from now
                    // on the write is in the database whatever the proposer's fate (a pause,
                    // a crash, a late answer), so this is the moment the history records.
                    if let Some(write) = &proposal.write
                        && self.config.dating == CertifiedWriteDating::AtCommit
                    {
                        self.record_accepted(write);
                    }
                    self.stepped_down(was_acting, proposal.state.epoch);
                    self.save();
                } else {
                    self.ctx
                        .trace("db", format_args!("refused to certify proposal {seq}"));
                }
                self.send_peer(DbMsg::Replicated {
                    seq,
                    certified,
                    state: self.state.snapshot(),
                });
            }
            // A late answer to a proposal this host gave up on.
            DbMsg::Replicated { state, .. } => self.merge(&state),
            DbMsg::Request { .. } | DbMsg::Response { .. } => {}
        }
    }

    fn merge(&mut self, snapshot: &super::proto::Snapshot) {
        let was_acting = self.state.acting;
        let mut changed = self.state.merge(snapshot, self.config.mode);
        // Asynchronous replication: the replica promotes itself on the primary's silence
        // whether or not it holds every commit (nobody waits for it).
        if self.config.async_lag().is_some()
            && !self.state.acting
            && snapshot.acting
            && snapshot.epoch == self.state.epoch
            && !self.state.promotable
        {
            self.state.promotable = true;
            changed = true;
        }
        if changed {
            self.stepped_down(was_acting, snapshot.epoch);
            self.save();
        }
    }

    fn stepped_down(&mut self, was_acting: bool, epoch: u64) {
        if was_acting && !self.state.acting {
            self.ctx.world.reach(Point::PrimarySteppedDown);
            self.ctx.trace(
                "db",
                format_args!("stepping down: peer acts in epoch {epoch}"),
            );
            // Tell the new primary at once that it has a replica again.
            self.sync_peer();
        }
    }

    /// Whether a commit needs the peer's certification: always in multi-master (Galera: a
    /// member outside a primary component refuses writes), in primary/replica while the
    /// acting host commits in sync with its replica.
    fn needs_peer(&self) -> bool {
        match self.config.mode {
            DatabaseMode::Single => false,
            DatabaseMode::PrimaryReplica => {
                self.config.peer.is_some()
                    && self.state.in_sync
                    && self.config.replication == Replication::Synchronous
            }
            DatabaseMode::MultiMaster => self.config.peer.is_some(),
        }
    }

    /// Asks the peer to certify the current state with `token`, `write` and `row` and waits
    /// for its verdict (answering the peer's own messages meanwhile, deferring nodes' requests).
    async fn replicate(
        &mut self,
        token: Option<i64>,
        write: Option<ProposedWrite>,
        row: Option<RunOnceRow>,
    ) -> Certification {
        if !self.needs_peer() {
            return Certification::Alone;
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        self.send_peer(DbMsg::Replicate {
            seq,
            proposal: Proposal {
                state: self.state.snapshot(),
                token,
                write,
                row,
            },
        });
        let deadline = self.ctx.env.now() + self.config.commit_timeout;
        loop {
            tokio::select! {
                biased;
                packet = self.mailbox.recv() => {
                    let Some(packet) = packet else { return Certification::NoAnswer };
                    let Payload::Db(msg) = packet.payload else { continue };
                    match msg {
                        DbMsg::Replicated { seq: answered, certified, state }
                            if answered == seq && Some(packet.from.host) == self.config.peer =>
                        {
                            self.merge(&state);
                            if !certified {
                                self.ctx.world.reach(Point::CertificationRefused);
                            }
                            return if certified {
                                Certification::Certified
                            } else {
                                Certification::Refused
                            };
                        }
                        msg @ DbMsg::Request { .. } => self.deferred.push_back((packet.from, msg)),
                        msg => self.on_peer_message(packet.from, msg),
                    }
                }
                () = self.heartbeat.tick() => self.on_heartbeat(),
                () = self.ctx.env.sleep_until(deadline) => {
                    self.ctx.world.reach(Point::CommitUnanswered);
                    return Certification::NoAnswer;
                }
            }
        }
    }

    /// The verdict once the peer answered: `recheck` on the state as it is now (the peer's
    /// answer, or its proposals certified meanwhile, may have brought a newer token or made
    /// this host step down); a commit the peer did not certify is `Unavailable` unless the
    /// recheck already refuses it.
    fn settle(certification: Certification, recheck: WriteOutcome) -> WriteOutcome {
        match (certification, recheck) {
            (certification, outcome) if certification.committed() => outcome,
            (_, WriteOutcome::Accepted) => WriteOutcome::Unavailable,
            (_, refused) => refused,
        }
    }

    async fn on_request(&mut self, body: DbRequest) -> DbResponse {
        match body {
            DbRequest::Ping => DbResponse::Pong {
                acting: self.state.acting,
                epoch: self.state.epoch,
            },
            DbRequest::Write { node, token, write } => {
                if self.state.acting {
                    // Applying takes time; writes are applied one after the other, in arrival
                    // order, and judged when they apply.
                    self.ctx.env.sleep(self.config.write_latency).await;
                }
                let guard = self.config.run_once_wait.is_some();
                // An unfenced database never looks at the token.
                let fence_token = self.config.fenced.then_some(token);
                let mut outcome = self.state.check_write(&node, fence_token, guard);
                let mut certification = None;
                if outcome == WriteOutcome::Accepted {
                    if let Some(token) = fence_token {
                        self.state.see_token(token);
                    }
                    self.save();
                    let proposed = ProposedWrite {
                        node: node.clone(),
                        write,
                        token,
                    };
                    let answer = self.replicate(fence_token, Some(proposed), None).await;
                    outcome =
                        Self::settle(answer, self.state.check_write(&node, fence_token, guard));
                    if outcome == WriteOutcome::Accepted {
                        self.state.writes_applied += 1;
                        self.save();
                        self.sync_peer();
                    }
                    certification = Some(answer);
                }
                self.reach_write_outcome(&outcome);
                // A write the peer certified was recorded by the peer when it committed; what
                // this host answers later (perhaps after a pause) is only the acknowledgement.
                if certification != Some(Certification::Certified)
                    || self.config.dating == CertifiedWriteDating::AtProposerAnswer
                {
                    self.ctx.world.record(Record::WriteResult {
                        pair: self.config.pair.clone(),
                        node,
                        token,
                        write,
                        outcome: outcome.clone(),
                    });
                }
                DbResponse::Write(outcome)
            }
            DbRequest::Fence { node, token } => {
                if !self.config.fenced {
                    // Nothing to raise: the node's fence is only a round trip.
                    let outcome = self.state.check_write(&node, None, false);
                    return DbResponse::Write(outcome);
                }
                if self.state.acting {
                    self.ctx.env.sleep(self.config.write_latency).await;
                }
                let mut outcome = self.state.check_fence(token);
                if outcome == WriteOutcome::Accepted {
                    self.state.see_token(token);
                    self.save();
                    let certification = self.replicate(Some(token), None, None).await;
                    outcome = Self::settle(certification, self.state.check_fence(token));
                    if outcome == WriteOutcome::Accepted {
                        self.sync_peer();
                    }
                }
                self.ctx
                    .trace("db", format_args!("fence {node} {token:#x}: {outcome:?}"));
                DbResponse::Write(outcome)
            }
            DbRequest::RunOnce { node } => {
                let Some(wait) = self.config.run_once_wait else {
                    // No guard configured: the table does not exist.
                    return DbResponse::RunOnce(RunOnceVerdict::Unavailable);
                };
                let verdict = self.run_once(&node, wait).await;
                self.ctx
                    .trace("db", format_args!("run-once {node}: {verdict:?}"));
                DbResponse::RunOnce(verdict)
            }
        }
    }

    /// Takes or refreshes the run-once row, committed with the peer like a write.
    async fn run_once(&mut self, node: &str, wait: Duration) -> RunOnceVerdict {
        let now = self.ctx.env.wall_millis();
        let before = self.state.run_once.clone();
        let mut next = self.state.clone();
        let verdict = next.run_once(node, now, wait.as_millis() as i64);
        if !matches!(
            verdict,
            RunOnceVerdict::Held | RunOnceVerdict::TookOver { .. }
        ) {
            return verdict;
        }
        self.pending_row = next.run_once.clone();
        let certification = self.replicate(None, None, next.run_once.clone()).await;
        self.pending_row = None;
        // The row must still be the one the update started from (or this very update, which
        // the peer's answer carries back): a peer's row update certified meanwhile overtook it.
        if !certification.committed()
            || !self.state.acting
            || (self.state.run_once != before && self.state.run_once != next.run_once)
        {
            return RunOnceVerdict::Unavailable;
        }
        self.state.run_once = next.run_once;
        self.save();
        self.sync_peer();
        if matches!(verdict, RunOnceVerdict::TookOver { .. }) {
            self.ctx.world.reach(Point::RunOnceTakenOver);
        }
        verdict
    }

    /// Coverage of a write's verdict: the refusals the fence and the guards are for.
    fn reach_write_outcome(&self, outcome: &WriteOutcome) {
        let point = match outcome {
            WriteOutcome::RejectedStaleToken { .. } => Point::StaleWriteRefused,
            WriteOutcome::RejectedNotOwner { .. } => Point::WriteRefusedNotOwner,
            WriteOutcome::Unavailable if !self.state.acting => Point::WriteRefusedNotActing,
            _ => return,
        };
        self.ctx.world.reach(point);
    }

    fn on_heartbeat(&mut self) {
        let silent = self.ctx.env.now().saturating_sub(self.peer_heard);
        if self.config.mode == DatabaseMode::PrimaryReplica
            && self.config.peer.is_some()
            && !self.state.acting
            && self.state.promotable
            && silent >= self.config.failover_after
        {
            self.state.promote();
            self.ctx.world.reach(Point::ReplicaPromoted);
            if self
                .config
                .peer
                .is_some_and(|peer| self.ctx.world.status(peer) == HostStatus::Paused)
            {
                self.ctx.world.reach(Point::ReplicaPromotedPrimaryPaused);
            }
            self.ctx.trace(
                "db",
                format_args!(
                    "promoting: primary silent for {silent:?}, epoch {}",
                    self.state.epoch
                ),
            );
            self.ctx.world.count("db.failovers", 1);
            self.save();
        }
        self.sync_peer();
    }

    fn record_accepted(&self, write: &ProposedWrite) {
        self.ctx.world.record(Record::WriteResult {
            pair: self.config.pair.clone(),
            node: write.node.clone(),
            token: write.token,
            write: write.write,
            outcome: WriteOutcome::Accepted,
        });
    }

    fn sync_peer(&self) {
        self.send_peer(DbMsg::Sync(self.shipped_snapshot()));
    }

    /// What this host tells its peer of its state. With asynchronous replication the acting
    /// host's commits reach the replica only `lag` after they were made: its newest token and
    /// run-once row as of `lag` ago (its role and epoch as now, the stream's own heartbeat).
    fn shipped_snapshot(&self) -> super::proto::Snapshot {
        let mut snapshot = self.state.snapshot();
        if let Some(lag) = self.config.async_lag()
            && self.state.acting
        {
            let shipped_until = self.ctx.env.now().saturating_sub(lag);
            let shipped = self
                .committed
                .iter()
                .rev()
                .find(|(at, ..)| *at <= shipped_until);
            if let Some((_, token, row)) = shipped {
                snapshot.newest_token = *token;
                snapshot.run_once = row.clone();
            }
        }
        snapshot
    }

    fn send_peer(&self, msg: DbMsg) {
        if let Some(peer) = self.config.peer {
            self.ctx.net.send(
                ports::DATABASE,
                Addr {
                    host: peer,
                    port: ports::DATABASE,
                },
                Payload::Db(msg),
            );
        }
    }

    /// Every change is on disk before it is answered or replicated.
    fn save(&mut self) {
        self.disk.lock().expect("database disk lock").state = Some(self.state.clone());
        if let Some(lag) = self.config.async_lag() {
            self.log_commit(lag);
        }
    }

    /// Asynchronous replication: notes what the acting host holds now, and forgets what the
    /// replica has had for longer than the lag.
    fn log_commit(&mut self, lag: Duration) {
        if !self.state.acting {
            self.committed.clear();
            return;
        }
        let now = self.ctx.env.now();
        if self.committed.is_empty() {
            // What the host held when it started acting (a first start, a promotion) the
            // replica has had all along.
            self.committed.push_back((
                Duration::ZERO,
                self.state.newest_token,
                self.state.run_once.clone(),
            ));
            return;
        }
        let entry = (now, self.state.newest_token, self.state.run_once.clone());
        if self
            .committed
            .back()
            .is_none_or(|(_, token, row)| (*token, row) != (entry.1, &entry.2))
        {
            self.committed.push_back(entry);
        }
        let shipped_until = now.saturating_sub(lag);
        while self.committed.len() > 1 && self.committed[1].0 <= shipped_until {
            self.committed.pop_front();
        }
    }
}
