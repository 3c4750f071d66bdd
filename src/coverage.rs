//! Edge-case coverage: named points at the moments that matter ("sometimes" assertions), so a
//! night of chaos can say what its seeds reached, and which moments none did.
//!
//! A point is reached when the code passes a real decision point with the condition that makes
//! it interesting: a master's lease ran out while its connection looked healthy, a replica was
//! promoted while the old primary was paused, the claim multi was answered `BadVersion`. Every
//! error answer the selector handles counts as a point of its own at each call that can
//! receive it ([`Call`], [`Point::answer`]): error paths are where election bugs hide.
//!
//! Recording changes nothing in a run: no randomness, no waiting, no trace entry. The election
//! code reports through [`Environment::reach`](crate::env::Environment::reach) (a no-op in
//! production); the simulator's environment and its ZooKeeper, database and node models record
//! into their world's [`SharedReached`], which the run's report carries as a [`Reached`].

use crate::zk::types::ErrorCode;
use std::sync::atomic::{AtomicU64, Ordering};

macro_rules! points {
    ($($variant:ident = $name:literal, $why:literal;)*) => {
        /// A named coverage point. The names are stable: reports and corpus files use them.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Point {
            $($variant,)*
        }

        impl Point {
            /// Every point, in report order.
            pub const ALL: &'static [Point] = &[$(Point::$variant,)*];

            /// Short kebab-case name, used in JSON and corpus files.
            pub fn name(self) -> &'static str {
                match self {
                    $(Point::$variant => $name,)*
                }
            }

            /// One line saying why the moment matters.
            pub fn why(self) -> &'static str {
                match self {
                    $(Point::$variant => $why,)*
                }
            }
        }
    };
}

points! {
    // ----- the selector's decisions (src/election/zk) -----
    MasterDisconnected = "master-disconnected",
        "a master's connection broke: it must stop before the ensemble can expire its session";
    MasterSessionLost = "master-session-lost",
        "a master found its session expired or closed: the other node may already act";
    LeaseExpiredConnected = "lease-expired-connected",
        "a master's lease ran out while its connection looked healthy (a zombie follower)";
    LeaseRenewalUnanswered = "lease-renewal-unanswered",
        "a master's quorum confirmation went unanswered for the rest of its lease";
    ReadOutlastedLease = "read-outlasted-lease",
        "a master's election read outlasted its lease: its server may have lost the quorum";
    WriteOutlastedLease = "write-outlasted-lease",
        "a master's write to the election outlasted its lease";
    DemotedSuperseded = "demoted-superseded",
        "a master found the term naming another session: it was replaced without noticing";
    DemotedCandidacyLost = "demoted-candidacy-lost",
        "a master's candidacy vanished under it (session expiry, an operator's deletion)";
    DemotedPreEmpted = "demoted-pre-empted",
        "a better candidate pre-empted the master: the hand-over without a timed grace";
    DemotedUnhealthy = "demoted-unhealthy",
        "a master's health check failed: it withdraws while it cannot serve";
    DemotedRelinquished = "demoted-relinquished",
        "an operator relinquished a master (a rolling upgrade)";
    ClaimNotActedOn = "claim-not-acted-on",
        "a claim committed after the node was disconnected, relinquished or shut down: no promotion";
    ReclaimedSameSession = "reclaimed-same-session",
        "the term already named this session: claimed again for a fresh token (reconnection, lapsed lease)";
    AwaitedStaleCandidacy = "awaited-stale-candidacy",
        "a candidacy of this node's earlier session was still there: waited out, never adopted";
    AwaitedRecreatedTerm = "awaited-recreated-term",
        "the election was re-created: the claim waits a session timeout for a master that has not noticed";
    ReleasedTerm = "released-term",
        "a demoted holder released the term so that a better candidate can claim it";
    WithdrewHoldingTerm = "withdrew-holding-term",
        "a withdrawing holder released the term in the same multi as its candidacy";
    ReplacedCandidacy = "replaced-candidacy",
        "a priority change re-created the candidacy in one multi";
    AbandonedMovedSession = "abandoned-moved-session",
        "SessionMoved: the selector closed its session and opened a new one";
    RetryBackedOff = "retry-backed-off",
        "failures kept coming: the selector backed off instead of retrying at once";
    RejoinCancelledRelinquish = "rejoin-cancelled-relinquish",
        "a rejoin arrived while a relinquish was still pending";

    // ----- error answers the selector handles, per call (src/election/io.rs) -----
    CheckPathConnectionLoss = "check-path-connection-loss",
        "checking the election's znodes lost the connection";
    CheckPathSessionMoved = "check-path-session-moved",
        "checking the election's znodes was answered SessionMoved";
    CreatePathConnectionLoss = "create-path-connection-loss",
        "creating a missing election znode lost the connection: did it commit?";
    CreatePathSessionMoved = "create-path-session-moved",
        "creating a missing election znode was answered SessionMoved";
    CreatePathNodeExists = "create-path-node-exists",
        "another client created the election znode first (both nodes start at once, a re-creation)";
    CreatePathNoNode = "create-path-no-node",
        "an election znode's parent was deleted while the selector re-created the election";
    ReadTermConnectionLoss = "read-term-connection-loss",
        "reading the term lost the connection";
    ReadTermSessionMoved = "read-term-session-moved",
        "reading the term was answered SessionMoved";
    ReadTermNoNode = "read-term-no-node",
        "the term znode is gone (deleted election, ensemble lost its data): re-create, demote first";
    ListCandidatesConnectionLoss = "list-candidates-connection-loss",
        "listing the candidates lost the connection";
    ListCandidatesSessionMoved = "list-candidates-session-moved",
        "listing the candidates was answered SessionMoved";
    ListCandidatesNoNode = "list-candidates-no-node",
        "the candidates znode vanished between the term read and the listing";
    ReadCandidacyConnectionLoss = "read-candidacy-connection-loss",
        "reading a candidacy lost the connection";
    ReadCandidacySessionMoved = "read-candidacy-session-moved",
        "reading a candidacy was answered SessionMoved";
    ReadCandidacyNoNode = "read-candidacy-no-node",
        "a candidacy vanished between the listing and its read: skipped";
    CheckLostZnodesConnectionLoss = "check-lost-znodes-connection-loss",
        "checking whether the election lost znodes (before a new term's claim) lost the connection";
    CheckLostZnodesSessionMoved = "check-lost-znodes-session-moved",
        "checking whether the election lost znodes was answered SessionMoved";
    ConfirmSessionConnectionLoss = "confirm-session-connection-loss",
        "a master's lease renewal (sync) lost the connection";
    ConfirmSessionSessionMoved = "confirm-session-session-moved",
        "a master's lease renewal (sync) was answered SessionMoved";
    CreateCandidacyConnectionLoss = "create-candidacy-connection-loss",
        "creating the candidacy lost the connection: it may exist without the node knowing";
    CreateCandidacySessionMoved = "create-candidacy-session-moved",
        "creating the candidacy was answered SessionMoved";
    CreateCandidacyNodeExists = "create-candidacy-node-exists",
        "the candidacy already existed (a create that committed before its connection broke)";
    CreateCandidacyNoNode = "create-candidacy-no-node",
        "the candidates znode was deleted before the candidacy was created";
    ReplaceCandidacyConnectionLoss = "replace-candidacy-connection-loss",
        "re-creating the candidacy under a new priority lost the connection";
    ReplaceCandidacySessionMoved = "replace-candidacy-session-moved",
        "re-creating the candidacy under a new priority was answered SessionMoved";
    ReplaceCandidacyNoNode = "replace-candidacy-no-node",
        "the candidacy to replace was already gone";
    ReplaceCandidacyNodeExists = "replace-candidacy-node-exists",
        "the candidacy under the new priority already existed";
    WithdrawConnectionLoss = "withdraw-connection-loss",
        "withdrawing lost the connection";
    WithdrawSessionMoved = "withdraw-session-moved",
        "withdrawing was answered SessionMoved";
    WithdrawNoNode = "withdraw-no-node",
        "the candidacy to withdraw was already gone";
    WithdrawBadVersion = "withdraw-bad-version",
        "the term changed between the read and the withdrawal's release";
    ReleaseConnectionLoss = "release-connection-loss",
        "releasing the term lost the connection";
    ReleaseSessionMoved = "release-session-moved",
        "releasing the term was answered SessionMoved";
    ReleaseNoNode = "release-no-node",
        "the releasing holder's candidacy was gone (a deletion raced the release)";
    ReleaseBadVersion = "release-bad-version",
        "the term changed between the read and the release";
    ClaimConnectionLoss = "claim-connection-loss",
        "the claim lost the connection: it may have committed, the node must not act on it";
    ClaimSessionMoved = "claim-session-moved",
        "the claim was answered SessionMoved";
    ClaimNoNode = "claim-no-node",
        "the claimant's candidacy or the term was gone: a claim raced a deletion or an expiry";
    ClaimBadVersion = "claim-bad-version",
        "the term changed between the read and the claim: two claimants raced";
    OpenSessionFailed = "open-session-failed",
        "opening a session or authenticating it failed: the selector retries with back-off";
    UnexpectedError = "unexpected-error",
        "a call got an error the selector has no specific handling for: backed off";

    // ----- the simulated node (src/pair) -----
    DemotedWriteInFlight = "demoted-write-in-flight",
        "a demotion arrived while a write was in flight: the acknowledgement waits for its answer";
    WriteHeldByLease = "write-held-by-lease",
        "the role still said master but the grant's lease had run out: no write was sent";
    FenceRefused = "fence-refused",
        "a new master's fence was refused: the database had seen a newer token";
    FenceUnanswered = "fence-unanswered",
        "a new master's fence went unanswered: it retries before acting";

    // ----- the databases (src/db) -----
    StaleWriteRefused = "stale-write-refused",
        "the database refused a write carrying an older token than one it had seen";
    WriteRefusedNotActing = "write-refused-not-acting",
        "a write reached a database host that does not act (a replica, a stepped-down primary)";
    WriteRefusedNotOwner = "write-refused-not-owner",
        "the run-once row belonged to another node: the second guard refused the write";
    CertificationRefused = "certification-refused",
        "the peer refused to certify a commit (an older epoch or token)";
    CommitUnanswered = "commit-unanswered",
        "the peer did not answer a commit in time: the write counts as unavailable";
    ReplicaPromoted = "replica-promoted",
        "a replica promoted itself after its primary went silent";
    ReplicaPromotedPrimaryPaused = "replica-promoted-primary-paused",
        "a replica was promoted while the old primary was paused: it resumes believing it acts";
    PrimarySteppedDown = "primary-stepped-down",
        "an acting database heard a newer epoch and stepped down";
    RunOnceTakenOver = "run-once-taken-over",
        "the run-once row's heartbeat aged out and another node took the row over";

    // ----- the ZooKeeper model (src/zk) -----
    ZkLeaderChangeNoMaster = "zk-leader-change-no-master",
        "a ZooKeeper leader was established while no node acted as master: a leader change mid-failover";
    ZkLeaderLostQuorum = "zk-leader-lost-quorum",
        "a ZooKeeper leader lost its quorum and gave up leading";
    ZkFollowerLostLeader = "zk-follower-lost-leader",
        "a ZooKeeper follower lost its leader: its clients' sessions hang on a server without a quorum";
    ZkLearnerTruncated = "zk-learner-truncated",
        "a ZooKeeper server's log was truncated on joining a new leader (uncommitted proposals dropped)";
    ZkReconnectRefusedBehind = "zk-reconnect-refused-behind",
        "a server behind the client refused its reconnection (the client had seen a newer zxid)";
    ZkSessionMoved = "zk-session-moved",
        "a server answered SessionMoved: the session's owner moved to another server";
    ZkMasterSessionExpired = "zk-master-session-expired",
        "the ZooKeeper leader expired the session of a node acting as master";
    ZkMasterSessionExpiredPaused = "zk-master-session-expired-paused",
        "a master's session expired while its process was paused";
    ZkClientExpiredOnReconnect = "zk-client-expired-on-reconnect",
        "a client learned on reconnecting that its session had expired";

    // ----- clocks (src/sim/world) -----
    ClockStepOnMaster = "clock-step-on-master",
        "a wall-clock step on a host acting as master";
    ClockJumpOnMaster = "clock-jump-on-master",
        "a monotonic jump (a resumed VM) on a host acting as master: its timers fire at once";
}

/// Words of a [`Reached`] set.
const WORDS: usize = 2;
const _: () = assert!(Point::ALL.len() <= WORDS * 64, "Reached holds 128 points");

impl Point {
    /// The point named `name`, if any.
    pub fn from_name(name: &str) -> Option<Point> {
        Point::ALL.iter().copied().find(|p| p.name() == name)
    }

    fn bit(self) -> (usize, u64) {
        let index = self as usize;
        (index / 64, 1 << (index % 64))
    }

    /// The point an error answer to `call` reaches, if the selector handles it there
    /// (connection-class errors all count as connection loss: they are handled alike).
    pub fn answer(call: Call, error: ErrorCode) -> Point {
        use Point as P;
        let kind = ErrorKind::of(error);
        match (call, kind) {
            (Call::CheckPath, ErrorKind::Connection) => P::CheckPathConnectionLoss,
            (Call::CheckPath, ErrorKind::SessionMoved) => P::CheckPathSessionMoved,
            (Call::CreatePath, ErrorKind::Connection) => P::CreatePathConnectionLoss,
            (Call::CreatePath, ErrorKind::SessionMoved) => P::CreatePathSessionMoved,
            (Call::CreatePath, ErrorKind::NodeExists) => P::CreatePathNodeExists,
            (Call::CreatePath, ErrorKind::NoNode) => P::CreatePathNoNode,
            (Call::ReadTerm, ErrorKind::Connection) => P::ReadTermConnectionLoss,
            (Call::ReadTerm, ErrorKind::SessionMoved) => P::ReadTermSessionMoved,
            (Call::ReadTerm, ErrorKind::NoNode) => P::ReadTermNoNode,
            (Call::ListCandidates, ErrorKind::Connection) => P::ListCandidatesConnectionLoss,
            (Call::ListCandidates, ErrorKind::SessionMoved) => P::ListCandidatesSessionMoved,
            (Call::ListCandidates, ErrorKind::NoNode) => P::ListCandidatesNoNode,
            (Call::ReadCandidacy, ErrorKind::Connection) => P::ReadCandidacyConnectionLoss,
            (Call::ReadCandidacy, ErrorKind::SessionMoved) => P::ReadCandidacySessionMoved,
            (Call::ReadCandidacy, ErrorKind::NoNode) => P::ReadCandidacyNoNode,
            (Call::CheckLostZnodes, ErrorKind::Connection) => P::CheckLostZnodesConnectionLoss,
            (Call::CheckLostZnodes, ErrorKind::SessionMoved) => P::CheckLostZnodesSessionMoved,
            (Call::ConfirmSession, ErrorKind::Connection) => P::ConfirmSessionConnectionLoss,
            (Call::ConfirmSession, ErrorKind::SessionMoved) => P::ConfirmSessionSessionMoved,
            (Call::CreateCandidacy, ErrorKind::Connection) => P::CreateCandidacyConnectionLoss,
            (Call::CreateCandidacy, ErrorKind::SessionMoved) => P::CreateCandidacySessionMoved,
            (Call::CreateCandidacy, ErrorKind::NodeExists) => P::CreateCandidacyNodeExists,
            (Call::CreateCandidacy, ErrorKind::NoNode) => P::CreateCandidacyNoNode,
            (Call::ReplaceCandidacy, ErrorKind::Connection) => P::ReplaceCandidacyConnectionLoss,
            (Call::ReplaceCandidacy, ErrorKind::SessionMoved) => P::ReplaceCandidacySessionMoved,
            (Call::ReplaceCandidacy, ErrorKind::NoNode) => P::ReplaceCandidacyNoNode,
            (Call::ReplaceCandidacy, ErrorKind::NodeExists) => P::ReplaceCandidacyNodeExists,
            (Call::Withdraw, ErrorKind::Connection) => P::WithdrawConnectionLoss,
            (Call::Withdraw, ErrorKind::SessionMoved) => P::WithdrawSessionMoved,
            (Call::Withdraw, ErrorKind::NoNode) => P::WithdrawNoNode,
            (Call::Withdraw, ErrorKind::BadVersion) => P::WithdrawBadVersion,
            (Call::Release, ErrorKind::Connection) => P::ReleaseConnectionLoss,
            (Call::Release, ErrorKind::SessionMoved) => P::ReleaseSessionMoved,
            (Call::Release, ErrorKind::NoNode) => P::ReleaseNoNode,
            (Call::Release, ErrorKind::BadVersion) => P::ReleaseBadVersion,
            (Call::Claim, ErrorKind::Connection) => P::ClaimConnectionLoss,
            (Call::Claim, ErrorKind::SessionMoved) => P::ClaimSessionMoved,
            (Call::Claim, ErrorKind::NoNode) => P::ClaimNoNode,
            (Call::Claim, ErrorKind::BadVersion) => P::ClaimBadVersion,
            (Call::OpenSession, _) => P::OpenSessionFailed,
            _ => P::UnexpectedError,
        }
    }
}

/// The selector's calls to ZooKeeper, for the error answers each can receive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Call {
    /// `exists` on an election znode before creating what is missing.
    CheckPath,
    /// `create` of a missing election znode.
    CreatePath,
    /// `getData` of the term.
    ReadTerm,
    /// `getChildren` of the candidates.
    ListCandidates,
    /// `getData` of one candidacy.
    ReadCandidacy,
    /// `exists` on the election's persistent znodes before a new term's claim.
    CheckLostZnodes,
    /// The master's lease renewal (`sync`).
    ConfirmSession,
    CreateCandidacy,
    /// The multi that re-creates the candidacy under a new priority.
    ReplaceCandidacy,
    /// The multi that deletes the candidacy (and releases the term).
    Withdraw,
    /// The multi that releases the term.
    Release,
    /// The multi that claims the term.
    Claim,
    /// Connecting and authenticating a new session.
    OpenSession,
}

/// How the selector tells error answers apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ErrorKind {
    Connection,
    SessionMoved,
    NoNode,
    NodeExists,
    BadVersion,
    Other,
}

impl ErrorKind {
    fn of(error: ErrorCode) -> ErrorKind {
        match error {
            ErrorCode::SessionMoved => ErrorKind::SessionMoved,
            ErrorCode::NoNode => ErrorKind::NoNode,
            ErrorCode::NodeExists => ErrorKind::NodeExists,
            ErrorCode::BadVersion => ErrorKind::BadVersion,
            ErrorCode::SessionExpired | ErrorCode::ClientClosed | ErrorCode::AuthFailed => {
                ErrorKind::Connection
            }
            e if crate::coord::is_connection_error(e) => ErrorKind::Connection,
            _ => ErrorKind::Other,
        }
    }
}

/// A set of points: a bitset over `Point as usize`. Cheap to copy and to merge.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Reached([u64; WORDS]);

impl Reached {
    pub fn insert(&mut self, point: Point) {
        let (word, bit) = point.bit();
        self.0[word] |= bit;
    }

    pub fn contains(&self, point: Point) -> bool {
        let (word, bit) = point.bit();
        self.0[word] & bit != 0
    }

    /// The points in either set.
    pub fn union(self, other: Reached) -> Reached {
        Reached([self.0[0] | other.0[0], self.0[1] | other.0[1]])
    }

    /// The points of this set that `other` lacks.
    pub fn difference(self, other: Reached) -> Reached {
        Reached([self.0[0] & !other.0[0], self.0[1] & !other.0[1]])
    }

    pub fn count(&self) -> usize {
        self.0.iter().map(|w| w.count_ones() as usize).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.0.iter().all(|w| *w == 0)
    }

    /// The points in the set, in [`Point::ALL`] order.
    pub fn iter(&self) -> impl Iterator<Item = Point> + '_ {
        Point::ALL.iter().copied().filter(|p| self.contains(*p))
    }

    /// The names of the points in the set, in order.
    pub fn names(&self) -> Vec<&'static str> {
        self.iter().map(Point::name).collect()
    }
}

impl FromIterator<Point> for Reached {
    fn from_iter<I: IntoIterator<Item = Point>>(points: I) -> Self {
        let mut reached = Reached::default();
        for point in points {
            reached.insert(point);
        }
        reached
    }
}

/// A [`Reached`] set that several tasks record into through a shared reference: one run's
/// points (the simulator keeps one per world).
#[derive(Debug, Default)]
pub struct SharedReached([AtomicU64; WORDS]);

impl SharedReached {
    pub fn insert(&self, point: Point) {
        let (word, bit) = point.bit();
        // Relaxed: only the set's final value is read, after the run.
        self.0[word].fetch_or(bit, Ordering::Relaxed);
    }

    pub fn get(&self) -> Reached {
        Reached([
            self.0[0].load(Ordering::Relaxed),
            self.0[1].load(Ordering::Relaxed),
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_kebab_case_and_every_point_says_why() {
        let mut names: Vec<&str> = Point::ALL.iter().map(|p| p.name()).collect();
        for name in &names {
            assert!(
                name.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
                "{name}"
            );
            assert_eq!(Point::from_name(name).map(Point::name), Some(*name));
        }
        names.sort();
        names.dedup();
        assert_eq!(names.len(), Point::ALL.len());
        assert!(Point::ALL.iter().all(|p| !p.why().is_empty()));
        assert!(Point::ALL.len() >= 30);
        // ALL lists the variants in declaration order, so `p as usize` indexes it.
        for (i, p) in Point::ALL.iter().enumerate() {
            assert_eq!(*p as usize, i);
        }
    }

    #[test]
    fn reached_is_a_set_in_point_order() {
        let last = *Point::ALL.last().unwrap();
        let mut a = Reached::default();
        assert!(a.is_empty());
        a.insert(last);
        a.insert(Point::MasterDisconnected);
        a.insert(last);
        assert_eq!(a.count(), 2);
        assert!(a.contains(last) && !a.contains(Point::ClaimNoNode));
        assert_eq!(
            a.iter().collect::<Vec<_>>(),
            [Point::MasterDisconnected, last]
        );
        let b: Reached = [Point::ClaimNoNode, last].into_iter().collect();
        assert_eq!(a.union(b).count(), 3);
        assert_eq!(a.difference(b).names(), ["master-disconnected"]);
        let shared = SharedReached::default();
        for p in a.union(b).iter() {
            shared.insert(p);
        }
        assert_eq!(shared.get(), a.union(b));
    }

    #[test]
    fn error_answers_map_to_their_call() {
        assert_eq!(
            Point::answer(Call::CreateCandidacy, ErrorCode::ConnectionLoss),
            Point::CreateCandidacyConnectionLoss
        );
        assert_eq!(
            Point::answer(Call::Claim, ErrorCode::SessionExpired),
            Point::ClaimConnectionLoss
        );
        assert_eq!(
            Point::answer(Call::ListCandidates, ErrorCode::NoNode),
            Point::ListCandidatesNoNode
        );
        assert_eq!(
            Point::answer(Call::ReadTerm, ErrorCode::NoAuth),
            Point::UnexpectedError
        );
        assert_eq!(
            Point::answer(Call::OpenSession, ErrorCode::ConnectionLoss),
            Point::OpenSessionFailed
        );
    }
}
