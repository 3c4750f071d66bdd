//! The database hosts on the simulated network, driven by a bare client host: replication,
//! the replica's own failover, split brain at the database level, the run-once row on the
//! database's clock, multi-master.

use super::client::DbClient;
use super::proto::{DbRequest, DbResponse, RunOnceVerdict};
use super::server::{DbServerConfig, database_process};
use crate::sim::clock::{sleep_until_true, true_now};
use crate::sim::history::{Record, WriteOutcome};
use crate::sim::net::{HostId, NetConfig};
use crate::sim::topology::DatabaseMode;
use crate::sim::world::{HostCtx, World};
use std::future::Future;
use std::time::Duration;

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

struct Setup {
    world: World,
    primary: HostId,
    replica: HostId,
    client: HostCtx,
}

/// A primary in dc1, its peer in dc2 (a replica, or a second member in multi-master), and a
/// client host in dc1 with nothing running on it.
fn setup(mode: DatabaseMode, run_once_wait: Option<Duration>) -> Setup {
    let world = World::new(NetConfig::default(), false);
    let primary = world.add_host("db", "dc1");
    let replica = world.add_host("db-replica", "dc2");
    let client = world.add_host("app", "dc1");
    let config = |acting, peer| {
        let mut c = DbServerConfig::new("p", mode, acting, Some(peer));
        c.write_latency = Duration::from_millis(1);
        c.run_once_wait = run_once_wait;
        c
    };
    world.set_process(primary, database_process(config(true, replica)));
    let replica_acts = mode == DatabaseMode::MultiMaster;
    world.set_process(replica, database_process(config(replica_acts, primary)));
    world.set_process(
        client,
        std::sync::Arc::new(|_ctx: HostCtx| Box::pin(std::future::pending())),
    );
    for host in [primary, replica, client] {
        world.start(host).unwrap();
    }
    let client = world.host_ctx(client);
    Setup {
        world,
        primary,
        replica,
        client,
    }
}

fn sim<F: Future<Output = ()>>(seed: u64, test: impl FnOnce() -> F + Send) {
    crate::sim::run_seeded(seed, test);
}

async fn write(db: &DbClient, token: i64) -> Option<WriteOutcome> {
    match db.call(write_request(token)).await {
        Ok(DbResponse::Write(outcome)) => Some(outcome),
        _ => None,
    }
}

fn write_request(token: i64) -> DbRequest {
    DbRequest::Write {
        node: "n".into(),
        token,
        write: token as u64,
    }
}

async fn acting(db: &DbClient) -> Option<bool> {
    match db.call(DbRequest::Ping).await {
        Ok(DbResponse::Pong { acting, .. }) => Some(acting),
        _ => None,
    }
}

#[test]
fn writes_are_fenced_and_every_verdict_is_recorded_when_applied() {
    sim(1, || async {
        let s = setup(DatabaseMode::Single, None);
        let db = DbClient::start(&s.client, vec![s.primary], secs(1.0));
        assert_eq!(write(&db, 5).await, Some(WriteOutcome::Accepted));
        assert_eq!(
            write(&db, 4).await,
            Some(WriteOutcome::RejectedStaleToken { newest: 5 })
        );
        // Durable: a restart keeps the newest token.
        s.world.restart(s.primary).unwrap();
        sleep_until_true(true_now() + secs(0.1)).await;
        let db = DbClient::start(&s.client, vec![s.primary], secs(1.0));
        assert_eq!(
            write(&db, 3).await,
            Some(WriteOutcome::RejectedStaleToken { newest: 5 })
        );
        let verdicts: Vec<_> = s
            .world
            .history()
            .into_iter()
            .filter_map(|e| match e.record {
                Record::WriteResult { token, outcome, .. } => Some((token, outcome)),
                _ => None,
            })
            .collect();
        assert_eq!(verdicts.len(), 3);
        assert_eq!(verdicts[0], (5, WriteOutcome::Accepted));
    });
}

#[test]
fn the_replica_takes_over_by_its_own_clock_with_the_replicated_token() {
    for (seed, drift, takes) in [(2, 1.0, 3.0), (3, 2.0, 1.5)] {
        sim(seed, || async move {
            let s = setup(DatabaseMode::PrimaryReplica, None);
            s.world.clock_drift(s.replica, drift).unwrap();
            let db = DbClient::start(&s.client, vec![s.primary, s.replica], secs(0.5));
            assert_eq!(write(&db, 5).await, Some(WriteOutcome::Accepted));
            let replica = DbClient::start(&s.client, vec![s.replica], secs(0.5));
            assert_eq!(acting(&replica).await, Some(false));
            assert_eq!(write(&replica, 6).await, Some(WriteOutcome::Unavailable));

            let crashed = true_now();
            s.world.crash(s.primary, true).unwrap();
            // The replica's detector: `takes` of true time (3 s on its clock) plus at most one
            // heartbeat interval of its clock.
            sleep_until_true(crashed + secs(takes - 0.1)).await;
            assert_eq!(acting(&replica).await, Some(false), "promoted too early");
            sleep_until_true(crashed + secs(takes + 0.6)).await;
            assert_eq!(acting(&replica).await, Some(true), "not promoted");
            assert_eq!(s.world.metric("db.failovers"), 1);

            // The node's client moves to the replica after the primary fails to answer.
            assert_eq!(write(&db, 6).await, None);
            assert_eq!(db.current_host(), s.replica);
            assert_eq!(
                write(&db, 4).await,
                Some(WriteOutcome::RejectedStaleToken { newest: 5 })
            );
            assert_eq!(write(&db, 6).await, Some(WriteOutcome::Accepted));
        });
    }
}

#[test]
fn a_primary_cut_from_its_replica_commits_nothing_and_the_promoted_replica_alone_acts() {
    sim(4, || async {
        let s = setup(DatabaseMode::PrimaryReplica, None);
        let primary = DbClient::start(&s.client, vec![s.primary], secs(1.0));
        let replica = DbClient::start(&s.client, vec![s.replica], secs(1.0));
        assert_eq!(write(&primary, 5).await, Some(WriteOutcome::Accepted));
        s.world.partition(&[s.primary], &[s.replica]);
        // Synchronous replication: without its replica's certification the primary commits
        // nothing, even before the replica promotes itself.
        assert_eq!(write(&primary, 6).await, Some(WriteOutcome::Unavailable));
        sleep_until_true(true_now() + secs(4.0)).await;
        assert_eq!(acting(&replica).await, Some(true), "the replica promoted");
        // The promoted replica has every commit (token 5), and takes writes alone.
        assert_eq!(
            write(&replica, 4).await,
            Some(WriteOutcome::RejectedStaleToken { newest: 5 })
        );
        assert_eq!(write(&replica, 7).await, Some(WriteOutcome::Accepted));
        // A write of the old term reaching the old primary during the cut (or at the heal,
        // as the chaos finding sw-primary-replica-split did) is not taken.
        assert_eq!(write(&primary, 6).await, Some(WriteOutcome::Unavailable));
        s.world.heal();
        sleep_until_true(true_now() + secs(1.0)).await;
        // The old primary heard the later epoch, stepped down and caught up on the token.
        assert_eq!(acting(&primary).await, Some(false));
        assert_eq!(write(&primary, 6).await, Some(WriteOutcome::Unavailable));
        assert_eq!(
            write(&replica, 6).await,
            Some(WriteOutcome::RejectedStaleToken { newest: 7 })
        );
        // Back in sync: the new primary now commits only with its new replica, which may in
        // turn take over when the new primary goes silent.
        assert_eq!(write(&replica, 8).await, Some(WriteOutcome::Accepted));
        s.world.partition(&[s.primary], &[s.replica]);
        assert_eq!(write(&replica, 9).await, Some(WriteOutcome::Unavailable));
        sleep_until_true(true_now() + secs(4.0)).await;
        assert_eq!(
            acting(&primary).await,
            Some(true),
            "the old primary promoted"
        );
        // It has every commit of the term it replicated (8; 9 never committed).
        assert_eq!(
            write(&primary, 7).await,
            Some(WriteOutcome::RejectedStaleToken { newest: 8 })
        );
        assert_eq!(s.world.metric("db.failovers"), 2);
    });
}

/// The commit of a replicated write is the replica's certification: a primary paused between
/// sending the proposal and hearing the answer acknowledges the write only when it resumes,
/// long after the promoted replica fenced it off, but the write was committed before the
/// fence, and the history says so (chaos findings seed-690-SW, seed-1974-SW and others).
#[test]
fn a_replicated_write_is_recorded_when_the_replica_certifies_it() {
    sim(7, || async {
        let s = setup(DatabaseMode::PrimaryReplica, None);
        let primary = DbClient::start(&s.client, vec![s.primary], secs(0.5));
        let replica = DbClient::start(&s.client, vec![s.replica], secs(0.5));
        assert_eq!(write(&primary, 5).await, Some(WriteOutcome::Accepted));
        let sent = true_now();
        // The write reaches the primary in under a millisecond, applies after 1 ms and is
        // certified by the replica one inter-site hop later; the primary is paused before the
        // certification can come back.
        let pause = async {
            sleep_until_true(sent + secs(0.006)).await;
            s.world.pause(s.primary).unwrap();
        };
        let (answer, ()) = tokio::join!(write(&primary, 6), pause);
        assert_eq!(answer, None, "the paused primary cannot answer in time");
        sleep_until_true(sent + secs(5.0)).await;
        assert_eq!(acting(&replica).await, Some(true), "the replica promoted");
        let fenced = true_now();
        assert_eq!(
            replica
                .call(DbRequest::Fence {
                    node: "m".into(),
                    token: 7
                })
                .await,
            Ok(DbResponse::Write(WriteOutcome::Accepted))
        );
        s.world.resume(s.primary).unwrap();
        sleep_until_true(true_now() + secs(1.0)).await;
        let results: Vec<_> = s
            .world
            .history()
            .into_iter()
            .filter_map(|e| match e.record {
                Record::WriteResult {
                    token: 6, outcome, ..
                } => Some((e.at, outcome)),
                _ => None,
            })
            .collect();
        assert_eq!(results.len(), 1, "{results:?}");
        let (committed_at, outcome) = &results[0];
        assert_eq!(*outcome, WriteOutcome::Accepted);
        assert!(
            *committed_at < sent + secs(0.05) && *committed_at < fenced,
            "recorded at {committed_at:?}, sent at {sent:?}"
        );
    });
}

#[test]
fn the_run_once_row_is_taken_over_by_the_database_clock() {
    sim(5, || async {
        let s = setup(DatabaseMode::Single, Some(secs(10.0)));
        let db = DbClient::start(&s.client, vec![s.primary], secs(0.5));
        let claim = |node: &str| DbRequest::RunOnce { node: node.into() };
        assert_eq!(
            db.call(claim("a")).await,
            Ok(DbResponse::RunOnce(RunOnceVerdict::Held))
        );
        sleep_until_true(true_now() + secs(1.0)).await;
        assert!(matches!(
            db.call(claim("b")).await,
            Ok(DbResponse::RunOnce(RunOnceVerdict::Refused { .. }))
        ));
        // Only a second of true time, but the database's wall clock steps 20 s ahead.
        s.world.clock_jump(s.primary, 20_000, false).unwrap();
        assert_eq!(
            db.call(claim("b")).await,
            Ok(DbResponse::RunOnce(RunOnceVerdict::TookOver {
                from: "a".into()
            }))
        );
        let guarded = |node: &str, token| DbRequest::Write {
            node: node.into(),
            token,
            write: 1,
        };
        assert_eq!(
            db.call(guarded("a", 9)).await,
            Ok(DbResponse::Write(WriteOutcome::RejectedNotOwner {
                owner: "b".into()
            }))
        );
        assert_eq!(
            db.call(guarded("b", 1)).await,
            Ok(DbResponse::Write(WriteOutcome::Accepted))
        );
    });
}

#[test]
fn multi_master_members_commit_only_with_each_others_certification() {
    sim(6, || async {
        let s = setup(DatabaseMode::MultiMaster, None);
        let first = DbClient::start(&s.client, vec![s.primary], secs(1.0));
        let second = DbClient::start(&s.client, vec![s.replica], secs(1.0));
        assert_eq!(write(&first, 3).await, Some(WriteOutcome::Accepted));
        // Two members and no arbitrator: a split leaves neither with a quorum; both refuse.
        s.world.partition(&[s.primary], &[s.replica]);
        assert_eq!(write(&first, 5).await, Some(WriteOutcome::Unavailable));
        assert_eq!(write(&second, 4).await, Some(WriteOutcome::Unavailable));
        s.world.heal();
        sleep_until_true(true_now() + secs(0.1)).await;
        assert_eq!(write(&second, 5).await, Some(WriteOutcome::Accepted));
        assert_eq!(acting(&second).await, Some(true));

        // A member paused with a write of an old grant queued (the chaos finding
        // sw-multi-master-paused-member): the other member's newer fence cannot commit
        // without it, and once it resumes its old write fails certification.
        s.world.pause(s.replica).unwrap();
        let old = {
            let second = second.clone();
            madsim::task::spawn(async move { write(&second, 5).await })
        };
        sleep_until_true(true_now() + secs(0.1)).await;
        assert_eq!(write(&first, 8).await, Some(WriteOutcome::Unavailable));
        s.world.resume(s.replica).unwrap();
        assert_eq!(
            old.await.unwrap(),
            Some(WriteOutcome::RejectedStaleToken { newest: 8 })
        );
        assert_eq!(write(&first, 8).await, Some(WriteOutcome::Accepted));
        assert_eq!(
            write(&second, 6).await,
            Some(WriteOutcome::RejectedStaleToken { newest: 8 })
        );
    });
}
