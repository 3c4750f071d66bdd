//! One database host's durable state and its rules, without I/O: the fencing check, the
//! run-once row, certification of the peer's proposals, replication merges and promotion.
//! Time comes in as the host's wall clock.

use super::proto::{Proposal, RunOnceRow, RunOnceVerdict, Snapshot};
use crate::sim::history::WriteOutcome;
use crate::sim::topology::DatabaseMode;

/// What a database host keeps on its disk (survives crashes, lost by wipe).
#[derive(Clone, Debug, Default)]
pub struct DbDisk {
    /// `None` until the host first started.
    pub state: Option<DbState>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DbState {
    /// Accepts writes: a primary, a promoted replica, a multi-master member.
    pub acting: bool,
    /// Promotions of a primary/replica pair so far (1 for the first primary). A host that
    /// acts and hears of an acting peer with a higher epoch steps down.
    pub epoch: u64,
    /// The highest fencing token of any write this host accepted or replicated.
    pub newest_token: Option<i64>,
    pub run_once: Option<RunOnceRow>,
    pub writes_applied: u64,
    /// Primary/replica, on the acting host: every commit waits for the replica's
    /// certification (synchronous replication). Off after a promotion (the old primary may
    /// be anywhere) until the old primary is heard as a replica of this epoch.
    pub in_sync: bool,
    /// Primary/replica, on the replica: it may promote itself, because the acting host of its
    /// epoch said it commits nothing without this replica (so the replica has every commit).
    pub promotable: bool,
}

impl DbState {
    pub fn new(acting: bool) -> Self {
        DbState {
            acting,
            epoch: 1,
            newest_token: None,
            run_once: None,
            writes_applied: 0,
            in_sync: acting,
            promotable: false,
        }
    }

    /// The verdict [`DbState::write`] would give, changing nothing. `token` is `None` on a
    /// database that checks no fencing token: only acting and the run-once guard count.
    pub fn check_write(
        &self,
        node: &str,
        token: Option<i64>,
        run_once_guard: bool,
    ) -> WriteOutcome {
        if !self.acting {
            return WriteOutcome::Unavailable;
        }
        if let (Some(newest), Some(token)) = (self.newest_token, token)
            && token < newest
        {
            return WriteOutcome::RejectedStaleToken { newest };
        }
        if run_once_guard {
            let owner = self.run_once.as_ref().map(|row| row.owner.as_str());
            if owner != Some(node) {
                return WriteOutcome::RejectedNotOwner {
                    owner: owner.unwrap_or_default().to_string(),
                };
            }
        }
        WriteOutcome::Accepted
    }

    /// The verdict [`DbState::fence`] would give, changing nothing.
    pub fn check_fence(&self, token: i64) -> WriteOutcome {
        self.check_write("", Some(token), false)
    }

    /// Counts `token` as seen: from now on this host refuses older tokens, and certifies no
    /// proposal of an older one. A host sees the token of its own proposal before it asks its
    /// peer, so that two members committing at once cannot both pass with crossed tokens.
    pub fn see_token(&mut self, token: i64) {
        self.newest_token = self.newest_token.max(Some(token));
    }

    /// Applies a guarded write: refused if this host does not act, if the token is older than
    /// the newest seen, or (with the run-once guard) if the row belongs to another node.
    /// A refused write changes nothing.
    pub fn write(&mut self, node: &str, token: i64, run_once_guard: bool) -> WriteOutcome {
        let outcome = self.check_write(node, Some(token), run_once_guard);
        if outcome == WriteOutcome::Accepted {
            self.see_token(token);
            self.writes_applied += 1;
        }
        outcome
    }

    /// Raises the newest token to `token`, as a write under it would, without counting a
    /// write. Not subject to the run-once guard: the token is the first guard, the row the
    /// second, and a new master fences before it may hold the row.
    pub fn fence(&mut self, token: i64) -> WriteOutcome {
        let outcome = self.check_fence(token);
        if outcome == WriteOutcome::Accepted {
            self.see_token(token);
        }
        outcome
    }

    /// Corda's RunOnceService update: the row is taken if it is the caller's or free, or taken
    /// over once its heartbeat is older than `wait_millis` by this host's wall clock.
    pub fn run_once(
        &mut self,
        node: &str,
        now_wall_millis: i64,
        wait_millis: i64,
    ) -> RunOnceVerdict {
        if !self.acting {
            return RunOnceVerdict::Unavailable;
        }
        let version = self.run_once.as_ref().map_or(0, |row| row.version) + 1;
        let verdict = match &self.run_once {
            None => RunOnceVerdict::Held,
            Some(row) if row.owner == node => RunOnceVerdict::Held,
            // Compared on this host's clock only: a wall-clock step on the database host moves
            // every row's age at once, which is the point of the scenario that steps it.
            Some(row) if now_wall_millis > row.heartbeat_wall_millis + wait_millis => {
                RunOnceVerdict::TookOver {
                    from: row.owner.clone(),
                }
            }
            Some(row) => {
                return RunOnceVerdict::Refused {
                    owner: row.owner.clone(),
                    age_millis: now_wall_millis - row.heartbeat_wall_millis,
                };
            }
        };
        self.run_once = Some(RunOnceRow {
            owner: node.to_string(),
            heartbeat_wall_millis: now_wall_millis,
            version,
        });
        verdict
    }

    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            acting: self.acting,
            epoch: self.epoch,
            newest_token: self.newest_token,
            run_once: self.run_once.clone(),
            in_sync: self.in_sync,
        }
    }

    /// The peer's side of a commit: whether this host lets the peer commit `proposal`, and if
    /// so takes its state. `pending_row` is the run-once row this host is itself committing.
    /// Refused: in primary/replica mode, a proposer of an epoch older than this host's (or of
    /// the same epoch while this host acts); a token older than the newest this host has
    /// seen (the fencing check against the group's newest token, at commit); a row that
    /// another update of the row overtook, or that crosses this host's own row update.
    pub fn certify(
        &mut self,
        proposal: &Proposal,
        mode: DatabaseMode,
        pending_row: Option<&RunOnceRow>,
    ) -> bool {
        let peer = &proposal.state;
        if mode == DatabaseMode::PrimaryReplica
            && (peer.epoch < self.epoch || (self.acting && peer.epoch == self.epoch))
        {
            return false;
        }
        if let (Some(token), Some(newest)) = (proposal.token, self.newest_token)
            && token < newest
        {
            return false;
        }
        if let Some(row) = &proposal.row {
            if pending_row.is_some_and(|mine| mine != row) {
                return false;
            }
            if let Some(mine) = &self.run_once
                && mine != row
                && mine.version >= row.version
            {
                return false;
            }
        }
        self.merge(peer, mode);
        if let Some(token) = proposal.token {
            self.see_token(token);
        }
        if let Some(row) = &proposal.row {
            self.run_once = Some(row.clone());
        }
        true
    }

    /// Merges what the peer host sent. Tokens and rows only move forward (the highest token,
    /// the row with the higher version). In primary/replica mode a host that hears an acting
    /// peer of a later epoch follows it as its replica (an acting one steps down); an acting
    /// host that hears its replica in its own epoch commits in sync with it from then on; a
    /// replica becomes promotable once its acting peer says it commits in sync with it.
    /// Returns whether anything changed.
    pub fn merge(&mut self, peer: &Snapshot, mode: DatabaseMode) -> bool {
        let before = self.clone();
        self.newest_token = self.newest_token.max(peer.newest_token);
        if let Some(row) = &peer.run_once
            && self
                .run_once
                .as_ref()
                .is_none_or(|mine| row.version > mine.version)
        {
            self.run_once = Some(row.clone());
        }
        if mode == DatabaseMode::PrimaryReplica {
            if peer.acting && peer.epoch > self.epoch {
                self.acting = false;
                self.in_sync = false;
                self.promotable = false;
                self.epoch = peer.epoch;
            }
            if self.acting && !peer.acting && peer.epoch == self.epoch {
                self.in_sync = true;
            }
            if !self.acting && peer.acting && peer.epoch == self.epoch && peer.in_sync {
                self.promotable = true;
            }
        }
        *self != before
    }

    /// A replica takes over: it acts from now on, in a new epoch, alone until the old primary
    /// is heard as its replica.
    pub fn promote(&mut self) {
        self.acting = true;
        self.epoch += 1;
        self.in_sync = false;
        self.promotable = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fencing_keeps_the_newest_token_and_refuses_older_ones() {
        let mut db = DbState::new(true);
        assert_eq!(db.write("a", 5, false), WriteOutcome::Accepted);
        assert_eq!(db.write("a", 5, false), WriteOutcome::Accepted);
        assert_eq!(db.write("b", 9, false), WriteOutcome::Accepted);
        assert_eq!(
            db.write("a", 5, false),
            WriteOutcome::RejectedStaleToken { newest: 9 }
        );
        assert_eq!(db.newest_token, Some(9));
        assert_eq!(db.writes_applied, 3);
    }

    #[test]
    fn a_fence_raises_the_newest_token_without_a_write() {
        let mut db = DbState::new(true);
        db.write("a", 5, false);
        assert_eq!(db.fence(9), WriteOutcome::Accepted);
        assert_eq!(db.writes_applied, 1);
        assert_eq!(
            db.write("a", 5, false),
            WriteOutcome::RejectedStaleToken { newest: 9 }
        );
        assert_eq!(db.fence(7), WriteOutcome::RejectedStaleToken { newest: 9 });
        assert_eq!(DbState::new(false).fence(1), WriteOutcome::Unavailable);
    }

    #[test]
    fn a_replica_that_does_not_act_refuses_everything() {
        let mut db = DbState::new(false);
        assert_eq!(db.write("a", 1, false), WriteOutcome::Unavailable);
        assert_eq!(db.run_once("a", 0, 10), RunOnceVerdict::Unavailable);
        assert_eq!(db.newest_token, None);
    }

    #[test]
    fn run_once_row_is_taken_over_only_after_the_wait_by_the_database_clock() {
        let mut db = DbState::new(true);
        assert_eq!(db.run_once("a", 1_000, 40_000), RunOnceVerdict::Held);
        assert_eq!(
            db.run_once("b", 41_000, 40_000),
            RunOnceVerdict::Refused {
                owner: "a".into(),
                age_millis: 40_000
            }
        );
        assert_eq!(db.run_once("a", 20_000, 40_000), RunOnceVerdict::Held);
        assert_eq!(
            db.run_once("b", 60_001, 40_000),
            RunOnceVerdict::TookOver { from: "a".into() }
        );
        // The old owner's refresh is now refused, and so are its writes.
        assert!(matches!(
            db.run_once("a", 60_002, 40_000),
            RunOnceVerdict::Refused { .. }
        ));
        assert_eq!(
            db.write("a", 1, true),
            WriteOutcome::RejectedNotOwner { owner: "b".into() }
        );
        assert_eq!(db.write("b", 1, true), WriteOutcome::Accepted);
        assert_eq!(db.run_once.as_ref().map(|r| r.version), Some(3));
    }

    #[test]
    fn a_wall_clock_step_on_the_database_host_ages_the_row() {
        let mut db = DbState::new(true);
        db.run_once("a", 1_000, 40_000);
        // One second later by true time, but the database's clock stepped an hour ahead.
        assert_eq!(
            db.run_once("b", 1_000 + 3_600_000, 40_000),
            RunOnceVerdict::TookOver { from: "a".into() }
        );
    }

    #[test]
    fn without_a_row_the_guard_refuses_every_writer() {
        let mut db = DbState::new(true);
        assert_eq!(
            db.write("a", 1, true),
            WriteOutcome::RejectedNotOwner {
                owner: String::new()
            }
        );
    }

    #[test]
    fn merge_moves_tokens_and_rows_forward_only() {
        let mut db = DbState::new(true);
        db.write("a", 7, false);
        db.run_once("a", 0, 10);
        let peer = Snapshot {
            acting: true,
            epoch: 1,
            newest_token: Some(3),
            run_once: Some(RunOnceRow {
                owner: "b".into(),
                heartbeat_wall_millis: 5,
                version: 1,
            }),
            in_sync: false,
        };
        assert!(!db.merge(&peer, DatabaseMode::MultiMaster));
        assert_eq!(db.newest_token, Some(7));
        assert_eq!(db.run_once.as_ref().map(|r| r.owner.as_str()), Some("a"));
        let newer = Snapshot {
            newest_token: Some(11),
            run_once: Some(RunOnceRow {
                owner: "b".into(),
                heartbeat_wall_millis: 5,
                version: 2,
            }),
            ..peer
        };
        assert!(db.merge(&newer, DatabaseMode::MultiMaster));
        assert_eq!(db.newest_token, Some(11));
        assert_eq!(db.run_once.as_ref().map(|r| r.owner.as_str()), Some("b"));
        assert!(db.acting, "multi-master members never step down");
    }

    #[test]
    fn an_old_primary_steps_down_when_it_hears_the_promoted_replica() {
        let mut old = DbState::new(true);
        let mut replica = DbState::new(false);
        replica.merge(&old.snapshot(), DatabaseMode::PrimaryReplica);
        replica.promote();
        assert_eq!((replica.acting, replica.epoch), (true, 2));
        // The promoted replica does not step down for the old primary's epoch...
        assert!(!replica.merge(&old.snapshot(), DatabaseMode::PrimaryReplica));
        assert!(replica.acting);
        // ...the old primary does, for the new one's.
        assert!(old.merge(&replica.snapshot(), DatabaseMode::PrimaryReplica));
        assert_eq!((old.acting, old.epoch), (false, 2));
    }
}
