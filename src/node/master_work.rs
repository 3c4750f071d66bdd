//! What the node does while it is master, as the simulated node's workload does
//! (`pair::worker`): it fences the store with the grant's token first, and records the
//! promotion (`promoted`) only once the store took the fence; then it writes every write
//! interval, each write carrying the grant's token and each sent only while the node is still
//! master of that very grant — the selector's role says so and the grant's lease has not run
//! out (a tick without it is reported as `write_held`). A rejected write or fence means a
//! newer master exists: the grant's writing ends there (superseded), and the demotion the
//! selector will deliver stops the work.
//!
//! Every write is announced (`write_attempt`) before it is sent and its answer reported
//! (`write_accepted`, `write_rejected`, `write_failed`). Write ids are unique across the node's
//! restarts: the incarnation (`--incarnation`) is their high half, as [`WriteIds`] of the
//! simulated node.
//!
//! The known-bug variants change the rules here only through [`super::known_bugs`].

use super::fencing_store::{FencingStore, Outcome};
use super::known_bugs;
use super::output::EventOutput;
use crate::election::{ElectionCode, FencingToken, Role, ZkSelector};
use crate::env::{Environment, TokioEnv};
use crate::sync::watch;
use serde_json::json;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How soon a new master tries its fence again (as the simulated node).
const FENCE_RETRY: Duration = Duration::from_millis(10);

/// Numbers the node's writes: unique per node across restarts, since the incarnation is the
/// high half (`(incarnation << 32) | sequence`, the sequence from 1).
#[derive(Clone, Debug)]
pub struct WriteIds {
    incarnation: u64,
    issued: Arc<AtomicU64>,
}

impl WriteIds {
    pub fn new(incarnation: u64) -> Self {
        WriteIds {
            incarnation,
            issued: Arc::default(),
        }
    }

    pub fn next(&self) -> u64 {
        let n = self.issued.fetch_add(1, Ordering::Relaxed) + 1;
        (self.incarnation << 32) | (n & 0xffff_ffff)
    }
}

/// When (node clock) the last write answered by an acting database host was sent: the health
/// check skips its probe when one was sent within its period.
#[derive(Debug, Default)]
pub struct LastAnswer {
    /// Nanoseconds of the node's monotonic clock, plus one; 0 for never.
    sent_plus_one: AtomicU64,
}

impl LastAnswer {
    fn answered(&self, sent: Duration) {
        self.sent_plus_one
            .fetch_max(sent.as_nanos() as u64 + 1, Ordering::Relaxed);
    }

    /// Whether a write sent at or after `since` was answered by an acting host.
    pub fn answered_since(&self, since: Duration) -> bool {
        match self.sent_plus_one.load(Ordering::Relaxed) {
            0 => false,
            n => Duration::from_nanos(n - 1) >= since,
        }
    }
}

/// The store's answer to a fence or a write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    /// Taken; `newest` is the newest token the store held before (when it says).
    Accepted { newest: Option<i64> },
    /// Refused: the store holds a newer token.
    Rejected { newest: Option<i64> },
    /// No verdict (the store could not be reached, timed out, or failed).
    Failed(String),
}

/// Where the master's writes go.
#[derive(Clone)]
pub enum Store {
    /// The shared fencing-store file (`--store`). It has no fence of its own: a fence is
    /// taken at once, and the first write with the new token raises the file's newest token.
    File(Arc<Mutex<FencingStore>>),
    /// PostgreSQL (`--database`), which checks the token in the same transaction as the write.
    Postgres(Arc<tokio::sync::Mutex<super::pg_store::PgStore>>),
}

impl Store {
    pub fn file(store: FencingStore) -> Store {
        Store::File(Arc::new(Mutex::new(store)))
    }

    async fn fence(&self, token: FencingToken) -> Answer {
        match self {
            Store::File(_) => Answer::Accepted { newest: None },
            Store::Postgres(db) => match db.lock().await.fence(token.value()).await {
                Ok(verdict) => verdict_answer(verdict),
                Err(err) => Answer::Failed(err.to_string()),
            },
        }
    }

    async fn write(&self, node: &str, token: FencingToken, write: u64, env: &TokioEnv) -> Answer {
        match self {
            Store::File(store) => {
                let (store, node, at_ms) = (store.clone(), node.to_string(), env.wall_millis());
                // File locking blocks: keep it off the runtime's workers that run the
                // selector.
                let written = tokio::task::spawn_blocking(move || {
                    store
                        .lock()
                        .unwrap_or_else(|poisoned| poisoned.into_inner())
                        .write(&node, token.value(), write, at_ms)
                })
                .await;
                match written {
                    Ok(Ok(record)) => match record.outcome {
                        Outcome::Accepted => Answer::Accepted {
                            newest: record.newest,
                        },
                        Outcome::Rejected => Answer::Rejected {
                            newest: record.newest,
                        },
                    },
                    Ok(Err(err)) => Answer::Failed(err.to_string()),
                    Err(err) => Answer::Failed(err.to_string()),
                }
            }
            Store::Postgres(db) => match db.lock().await.write(token.value(), write).await {
                Ok(verdict) => verdict_answer(verdict),
                Err(err) => Answer::Failed(err.to_string()),
            },
        }
    }
}

fn verdict_answer(verdict: super::pg_store::Verdict) -> Answer {
    if verdict.accepted {
        Answer::Accepted {
            newest: verdict.newest,
        }
    } else {
        Answer::Rejected {
            newest: verdict.newest,
        }
    }
}

/// Called once the node starts acting under a grant (its fence was accepted).
pub type OnActing = Arc<dyn Fn(FencingToken) + Send + Sync>;

/// Everything a master's work needs; cloned for each grant.
#[derive(Clone)]
pub struct Workload {
    pub store: Store,
    /// Gates every write together with the selector's role, by the lease of the grant (see
    /// [`ZkSelector::acting_until`]); `None` for a node that trusts the role alone (the
    /// known-bug variants P1 and P2).
    pub lease: Option<ZkSelector>,
    pub role: watch::Receiver<Role>,
    pub period: Duration,
    pub write_ids: WriteIds,
    pub last_answer: Arc<LastAnswer>,
    /// Records the promotion and announces the role, once the fence is up.
    pub on_acting: OnActing,
    pub election: ElectionCode,
    pub output: EventOutput,
    pub env: TokioEnv,
}

/// Where a grant's work stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    /// The store has not yet confirmed the grant's token.
    Fencing,
    Acting,
    /// The store has seen a newer token: this grant is over, whatever the selector says.
    Superseded,
}

impl Workload {
    /// Whether the node may act as master under `token` right now: the selector still says so
    /// for this very grant, and the grant's lease has not run out.
    fn still_master(&self, token: FencingToken) -> bool {
        *self.role.borrow() == Role::Master { token }
            && self.lease.as_ref().is_none_or(|selector| {
                selector
                    .acting_until(token)
                    .is_some_and(|until| self.env.now() < until)
            })
    }

    /// Fences the store with the grant's token, then writes every period, until `stop` turns
    /// true. Returns whether the node acted (its fence was accepted), after the request in
    /// flight (if any) got its answer or timed out: the demotion is acknowledged only then.
    pub async fn run(self, token: FencingToken, mut stop: watch::Receiver<bool>) -> bool {
        let mut stage = Stage::Fencing;
        let mut next = self.env.now();
        loop {
            let stopping = tokio::select! {
                biased;
                _ = stop.wait_for(|stop| *stop) => true,
                () = self.env.sleep_until(next) => false,
            };
            if stopping {
                if stage == Stage::Acting {
                    self.finish_queued(token, next).await;
                }
                return stage != Stage::Fencing;
            }
            // Until the fence is up the node retries soon: its lease is confirmed one
            // ZooKeeper round trip after the grant. Then it writes once per period; after a
            // pause it does not burst (but for the P7 variant's backlog).
            let delay = if stage == Stage::Fencing {
                FENCE_RETRY
            } else {
                self.period
            };
            next += delay;
            let keep_backlog = stage == Stage::Acting && known_bugs::keeps_backlog(self.election);
            if !keep_backlog {
                next = next.max(self.env.now());
            }
            if *stop.borrow() || stage == Stage::Superseded {
                continue;
            }
            if !self.still_master(token) {
                if stage == Stage::Acting {
                    self.output
                        .emit("write_held", json!({ "token": token.value() }));
                }
                continue;
            }
            if stage == Stage::Fencing && !known_bugs::fences_before_acting(self.election) {
                // known-bug hook (N3): acting at once; the first write carries the token.
                stage = Stage::Acting;
                (self.on_acting)(token);
            }
            if stage == Stage::Fencing {
                stage = self.fence(token).await;
                if stage == Stage::Acting {
                    // The grant may have ended during the round trip: then the node never
                    // acted (fencing again later is harmless).
                    if *stop.borrow() || !self.still_master(token) {
                        stage = Stage::Fencing;
                    } else {
                        (self.on_acting)(token);
                    }
                }
                continue;
            }
            if let Answer::Rejected { .. } = self.write(token).await {
                // A newer master wrote: this grant is over whatever the selector knows yet.
                stage = Stage::Superseded;
            }
        }
    }

    async fn fence(&self, token: FencingToken) -> Stage {
        match self.store.fence(token).await {
            Answer::Accepted { .. } => Stage::Acting,
            Answer::Rejected { newest } => {
                self.output.emit(
                    "fence_rejected",
                    json!({ "token": token.value(), "newest": newest }),
                );
                Stage::Superseded
            }
            Answer::Failed(error) => {
                self.output.emit(
                    "fence_failed",
                    json!({ "token": token.value(), "error": error }),
                );
                Stage::Fencing
            }
        }
    }

    /// One write under `token`, announced before it is sent and reported when answered.
    async fn write(&self, token: FencingToken) -> Answer {
        let write = self.write_ids.next();
        let fields = |extra: serde_json::Value| {
            let mut fields = json!({ "token": token.value(), "write": write });
            if let (Some(fields), serde_json::Value::Object(extra)) =
                (fields.as_object_mut(), extra)
            {
                fields.extend(extra);
            }
            fields
        };
        self.output.emit("write_attempt", fields(json!({})));
        let sent = self.env.now();
        let answer = self
            .store
            .write(self.output.node(), token, write, &self.env)
            .await;
        match &answer {
            Answer::Accepted { newest } => {
                self.last_answer.answered(sent);
                self.output
                    .emit("write_accepted", fields(json!({ "newest": newest })));
            }
            Answer::Rejected { newest } => {
                self.last_answer.answered(sent);
                self.output
                    .emit("write_rejected", fields(json!({ "newest": newest })));
            }
            Answer::Failed(error) => self
                .output
                .emit("write_failed", fields(json!({ "error": error }))),
        }
        answer
    }

    /// known-bug hook (P7): the work commits the writes queued before the stop (those due by
    /// now, from `next` on), with the grant's token and without asking whether it is still
    /// master. Nothing for the real code.
    async fn finish_queued(&self, token: FencingToken, next: Duration) {
        let queued = known_bugs::queued_on_stop(self.election, next, self.period, self.env.now());
        for _ in 0..queued {
            self.write(token).await;
        }
        if queued > 0 {
            self.output.emit(
                "queued_writes_committed",
                json!({ "token": token.value(), "writes": queued }),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_ids_carry_the_incarnation_in_the_high_half() {
        let ids = WriteIds::new(3);
        assert_eq!(ids.next(), (3 << 32) | 1);
        assert_eq!(ids.clone().next(), (3 << 32) | 2);
        assert_eq!(WriteIds::new(0).next(), 1);
    }

    #[test]
    fn the_last_answer_counts_from_its_send() {
        let last = LastAnswer::default();
        assert!(!last.answered_since(Duration::ZERO));
        last.answered(Duration::from_millis(500));
        assert!(last.answered_since(Duration::from_millis(500)));
        assert!(!last.answered_since(Duration::from_millis(501)));
        // An older answer arriving late does not move it back.
        last.answered(Duration::from_millis(100));
        assert!(last.answered_since(Duration::from_millis(400)));
    }
}
