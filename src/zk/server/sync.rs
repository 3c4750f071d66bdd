//! How a leader brings a learner's history in line with its own (`LearnerHandler.syncFollower`).
//!
//! The leader keeps a window of its last committed txns. A learner at the leader's last zxid
//! gets an empty DIFF; one ahead of it (uncommitted txns of an old epoch) is truncated to it;
//! one inside the window gets the txns it lacks, after a truncation back to the last zxid both
//! share if its own last txn is not in the leader's history; anyone older gets a snapshot.

use crate::zk::tree::Txn;
use crate::zk::types::Zxid;
use std::collections::VecDeque;

/// What to send, short of the snapshot itself (the caller takes it only when needed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SyncPlan {
    Diff(Vec<Txn>),
    Trunc { to: Zxid, then: Vec<Txn> },
    Snap,
}

/// Plans the sync of a learner whose last logged zxid is `peer`, given the leader's last
/// committed zxid and its window of committed txns (ascending, ending at `last`).
pub fn plan(history: &VecDeque<Txn>, last: Zxid, peer: Zxid) -> SyncPlan {
    if peer == last {
        return SyncPlan::Diff(Vec::new());
    }
    if peer > last {
        return SyncPlan::Trunc {
            to: last,
            then: Vec::new(),
        };
    }
    match history.front() {
        Some(first) if peer >= first.zxid => {
            let after = history.partition_point(|t| t.zxid <= peer);
            let then: Vec<Txn> = history.range(after..).cloned().collect();
            // `after >= 1` here, since the first txn is at or below `peer`.
            let shared = history[after - 1].zxid;
            if shared == peer {
                SyncPlan::Diff(then)
            } else {
                // The learner's last txn is not in this history: cut back to the one before.
                SyncPlan::Trunc { to: shared, then }
            }
        }
        _ => SyncPlan::Snap,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zk::tree::TxnKind;
    use crate::zk::types::make_zxid;

    fn txn(epoch: u32, counter: u32) -> Txn {
        Txn {
            zxid: make_zxid(epoch, counter),
            time_ms: 0,
            session: 0,
            kind: TxnKind::CloseSession,
        }
    }

    fn history() -> VecDeque<Txn> {
        [txn(1, 5), txn(1, 6), txn(1, 7), txn(3, 1), txn(3, 2)].into()
    }

    fn zxids(txns: &[Txn]) -> Vec<Zxid> {
        txns.iter().map(|t| t.zxid).collect()
    }

    #[test]
    fn an_up_to_date_learner_gets_an_empty_diff() {
        assert_eq!(
            plan(&history(), make_zxid(3, 2), make_zxid(3, 2)),
            SyncPlan::Diff(vec![])
        );
        assert_eq!(plan(&VecDeque::new(), 0, 0), SyncPlan::Diff(vec![]));
    }

    #[test]
    fn a_lagging_learner_gets_the_missing_txns() {
        let SyncPlan::Diff(then) = plan(&history(), make_zxid(3, 2), make_zxid(1, 6)) else {
            panic!("diff")
        };
        assert_eq!(
            zxids(&then),
            vec![make_zxid(1, 7), make_zxid(3, 1), make_zxid(3, 2)]
        );
    }

    #[test]
    fn a_learner_ahead_is_truncated() {
        let p = plan(&history(), make_zxid(3, 2), make_zxid(3, 9));
        assert_eq!(
            p,
            SyncPlan::Trunc {
                to: make_zxid(3, 2),
                then: vec![]
            }
        );
    }

    #[test]
    fn a_learner_with_an_uncommitted_txn_of_an_old_epoch_is_cut_back_then_diffed() {
        let SyncPlan::Trunc { to, then } = plan(&history(), make_zxid(3, 2), make_zxid(2, 4))
        else {
            panic!("trunc")
        };
        assert_eq!(to, make_zxid(1, 7));
        assert_eq!(zxids(&then), vec![make_zxid(3, 1), make_zxid(3, 2)]);
    }

    #[test]
    fn a_learner_older_than_the_window_gets_a_snapshot() {
        assert_eq!(
            plan(&history(), make_zxid(3, 2), make_zxid(1, 4)),
            SyncPlan::Snap
        );
        assert_eq!(plan(&history(), make_zxid(3, 2), 0), SyncPlan::Snap);
        assert_eq!(
            plan(&VecDeque::new(), make_zxid(3, 2), make_zxid(1, 1)),
            SyncPlan::Snap
        );
    }
}
