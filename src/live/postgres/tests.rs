//! Real PostgreSQL 15 (Debian's package): the fence, crash recovery, wipes. Every test makes
//! its own clusters in a scratch directory on loopback ports and fails, never skips, when the
//! package is missing (the error names `apt-get install -y postgresql`).

use super::conn::Conn;
use super::*;
use crate::live::ports::PortReservation;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

pub(super) fn install() -> PgInstall {
    PgInstall::locate().unwrap_or_else(|err| panic!("{err}"))
}

/// A scratch directory every user can search (the server runs as `postgres`), removed when
/// the test passes.
pub(super) struct Scratch(pub(super) PathBuf);

impl Scratch {
    pub(super) fn new(name: &str) -> Scratch {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "splitbrain-pg-{}-{}-{name}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

pub(super) fn ports(count: usize) -> Vec<u16> {
    let reservation = PortReservation::reserve(count).unwrap();
    let ports = reservation.ports();
    reservation.release();
    ports
}

pub(super) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// A started single cluster, and how long init + start took.
pub(super) async fn started(scratch: &Scratch, name: &str) -> (PgCluster, Duration) {
    let begun = Instant::now();
    let mut cluster = PgCluster::init(&install(), &scratch.0.join(name), ports(1)[0])
        .await
        .unwrap_or_else(|err| panic!("{err}"));
    cluster.start().await.unwrap_or_else(|err| panic!("{err}"));
    (cluster, begun.elapsed())
}

pub(super) async fn write(conn: &Conn, node: &str, token: i64, id: i64) -> (String, Option<i64>) {
    let row = conn
        .client
        .query_one(
            "SELECT outcome, newest FROM splitbrain_write('p', $1, $2, $3)",
            &[&node, &token, &id],
        )
        .await
        .unwrap_or_else(|err| panic!("write {node} {token} {id}: {err}"));
    (row.get(0), row.get(1))
}

fn summary(rows: &[WriteRow]) -> Vec<(String, i64, RowOutcome, Option<i64>)> {
    rows.iter()
        .map(|r| (r.node.clone(), r.token.unwrap_or(-1), r.outcome, r.newest))
        .collect()
}

#[test]
fn the_fence_refuses_a_stale_token_and_records_it() {
    runtime().block_on(async {
        let scratch = Scratch::new("fence");
        let (cluster, took) = started(&scratch, "db").await;
        eprintln!("init + start + schema took {took:?}");
        let conn = cluster.connect(Duration::from_secs(5)).await.unwrap();
        assert_eq!(write(&conn, "a", 10, 1).await, ("accepted".into(), None));
        assert_eq!(
            write(&conn, "b", 20, 1).await,
            ("accepted".into(), Some(10))
        );
        assert_eq!(
            write(&conn, "a", 10, 2).await,
            ("rejected_stale".into(), Some(20))
        );
        // The same token again is the same grant: accepted.
        assert_eq!(
            write(&conn, "b", 20, 2).await,
            ("accepted".into(), Some(20))
        );
        // A fence raises the newest token without a write; an older fence lowers nothing.
        let fence = |token: i64| {
            let conn = &conn;
            async move {
                let row = conn
                    .client
                    .query_one(
                        "SELECT outcome, newest FROM splitbrain_fence_raise('p', 'c', $1)",
                        &[&token],
                    )
                    .await
                    .unwrap();
                (row.get::<_, String>(0), row.get::<_, Option<i64>>(1))
            }
        };
        assert_eq!(fence(30).await, ("fence".into(), Some(20)));
        assert_eq!(fence(25).await, ("fence".into(), Some(30)));
        assert_eq!(
            write(&conn, "b", 20, 3).await,
            ("rejected_stale".into(), Some(30))
        );
        let rows = read_rows(cluster.addr()).await.unwrap();
        assert_eq!(
            summary(&rows),
            vec![
                ("a".into(), 10, RowOutcome::Accepted, None),
                ("b".into(), 20, RowOutcome::Accepted, Some(10)),
                ("a".into(), 10, RowOutcome::RejectedStale, Some(20)),
                ("b".into(), 20, RowOutcome::Accepted, Some(20)),
                ("c".into(), 30, RowOutcome::Fence, Some(20)),
                ("c".into(), 25, RowOutcome::Fence, Some(30)),
                ("b".into(), 20, RowOutcome::RejectedStale, Some(30)),
            ]
        );
        assert!(rows.windows(2).all(|w| w[0].seq < w[1].seq));
        let now_us = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_micros() as i64;
        assert!(rows.iter().all(|r| (now_us - r.at_us).abs() < 60_000_000));
        // A run directory gets the rows as a file.
        let dump = scratch.0.join("rows.tsv");
        dump_rows(cluster.addr(), &dump).await.unwrap();
        let text = std::fs::read_to_string(&dump).unwrap();
        assert_eq!(text.lines().count(), 8, "{text}");
        assert!(text.starts_with(rows::TSV_HEADER));
        assert!(text.contains("\ta\t10\t2\trejected_stale\t20\t"), "{text}");
    });
}

#[test]
fn crossing_writers_are_never_both_accepted_out_of_order() {
    runtime().block_on(async {
        let scratch = Scratch::new("crossing");
        let (cluster, _) = started(&scratch, "db").await;
        const WRITES: i64 = 150;
        // Four writers with interleaved rising tokens, each on its own connection, started
        // together so the first writes also race to create the pair's fence row.
        let mut tasks = Vec::new();
        for w in 0..4i64 {
            let conn = cluster.connect(Duration::from_secs(5)).await.unwrap();
            tasks.push(tokio::spawn(async move {
                let mut told = Vec::new();
                for i in 0..WRITES {
                    let token = i * 4 + (3 - w);
                    told.push((w, i, write(&conn, &format!("w{w}"), token, i).await));
                }
                told
            }));
        }
        let mut told = Vec::new();
        for task in tasks {
            told.extend(task.await.unwrap());
        }
        let rows = read_rows(cluster.addr()).await.unwrap();
        assert_eq!(rows.len() as i64, 4 * WRITES);
        // Replaying the rows in commit order (seq order equals it: the fence row lock is
        // taken before the insert that draws seq) gives every verdict again.
        let mut newest: Option<i64> = None;
        for row in &rows {
            assert_eq!(row.newest, newest, "{row:?}");
            let token = row.token.expect("fenced writes carry a token");
            let accept = newest.is_none_or(|n| token >= n);
            assert_eq!(row.outcome == RowOutcome::Accepted, accept, "{row:?}");
            if accept {
                newest = Some(token);
            }
        }
        // And each writer was told exactly what its row says.
        for (w, i, (outcome, newest)) in told {
            let row = rows
                .iter()
                .find(|r| r.node == format!("w{w}") && r.write_id == i)
                .unwrap();
            assert_eq!(
                (outcome.as_str(), newest),
                (row.outcome.as_str(), row.newest)
            );
        }
        assert!(
            rows.iter().any(|r| r.outcome == RowOutcome::RejectedStale),
            "the writers never crossed"
        );
    });
}

#[test]
fn a_crash_keeps_every_committed_row_and_a_wipe_loses_them() {
    runtime().block_on(async {
        let scratch = Scratch::new("crash");
        let (mut cluster, _) = started(&scratch, "db").await;
        let conn = cluster.connect(Duration::from_secs(5)).await.unwrap();
        for id in 1..=20 {
            write(&conn, "a", 7, id).await;
        }
        let before = read_rows(cluster.addr()).await.unwrap();
        let old_pid = cluster.pid().unwrap();
        cluster.kill().unwrap();
        assert!(cluster.pid().is_none());
        assert!(
            super::signals::children_of(old_pid).is_empty(),
            "a server process outlived the crash"
        );
        // Nothing listens any more: the crash closed the connection.
        assert!(conn.client.simple_query("SELECT 1").await.is_err());
        let begun = Instant::now();
        cluster.start().await.unwrap_or_else(|err| panic!("{err}"));
        eprintln!("start after a crash took {:?}", begun.elapsed());
        assert_eq!(read_rows(cluster.addr()).await.unwrap(), before);
        assert!(
            std::fs::read_to_string(cluster.log_path())
                .unwrap()
                .contains("not properly shut down"),
            "the start ran no crash recovery"
        );
        // The newest token survived with the rows: an older one is still refused.
        let conn = cluster.connect(Duration::from_secs(5)).await.unwrap();
        assert_eq!(write(&conn, "b", 6, 1).await.0, "rejected_stale");
        // Paused, it answers nothing; resumed, it carries on.
        cluster.pause().unwrap();
        let paused = tokio::time::timeout(
            Duration::from_millis(300),
            conn.client.simple_query("SELECT 1"),
        )
        .await;
        assert!(paused.is_err(), "a paused server answered");
        cluster.resume().unwrap();
        assert!(conn.client.simple_query("SELECT 1").await.is_ok());
        // A clean stop and start keep the rows too.
        cluster.stop().await.unwrap();
        cluster.start().await.unwrap();
        assert_eq!(read_rows(cluster.addr()).await.unwrap().len(), 21);
        // A wipe loses everything: an old token is accepted again.
        let begun = Instant::now();
        cluster.wipe().await.unwrap_or_else(|err| panic!("{err}"));
        cluster.start().await.unwrap();
        eprintln!("wipe + start took {:?}", begun.elapsed());
        assert!(read_rows(cluster.addr()).await.unwrap().is_empty());
        let conn = cluster.connect(Duration::from_secs(5)).await.unwrap();
        assert_eq!(write(&conn, "b", 1, 2).await, ("accepted".into(), None));
    });
}

#[test]
fn a_cluster_refuses_to_start_twice_and_reports_a_bad_start_with_its_log() {
    runtime().block_on(async {
        let scratch = Scratch::new("twice");
        let (mut cluster, _) = started(&scratch, "db").await;
        assert!(matches!(cluster.start().await, Err(PgError::WrongState(_))));
        // A second cluster on the same port cannot listen: it exits, and the error shows why.
        let mut other = PgCluster::init(&install(), &scratch.0.join("other"), cluster.port())
            .await
            .unwrap();
        let err = other.start().await.unwrap_err();
        assert!(matches!(err, PgError::Exited { .. }), "{err}");
        assert!(err.to_string().contains("could not"), "{err}");
        // Init refuses a directory that holds a cluster already.
        let again = PgCluster::init(&install(), cluster.dir(), 1).await;
        assert!(matches!(again, Err(PgError::WrongState(_))));
    });
}

mod store {
    use super::*;
    use crate::node::pg_store::{PgStore, PgStoreError, Verdict};

    const CALL: Duration = Duration::from_millis(1500);

    #[test]
    fn the_node_store_writes_fences_and_moves_past_a_dead_host() {
        runtime().block_on(async {
            let scratch = Scratch::new("store");
            let (mut cluster, _) = started(&scratch, "db").await;
            // The first URL names a port nothing listens on.
            let dead = format!("postgres://postgres@127.0.0.1:{}/postgres", ports(1)[0]);
            let mut a = PgStore::connect(vec![dead.clone(), cluster.url()], "p", "a", CALL)
                .await
                .unwrap();
            let mut b = PgStore::connect(vec![cluster.url()], "p", "b", CALL)
                .await
                .unwrap();
            assert!(a.ping().await);
            let accepted = |newest| Verdict {
                accepted: true,
                newest,
            };
            let refused = |newest| Verdict {
                accepted: false,
                newest,
            };
            assert_eq!(a.write(10, 1).await.unwrap(), accepted(None));
            assert_eq!(b.fence(20).await.unwrap(), accepted(Some(10)));
            assert_eq!(a.write(10, 2).await.unwrap(), refused(Some(20)));
            assert_eq!(a.fence(15).await.unwrap(), refused(Some(20)));
            assert_eq!(b.write(20, 1).await.unwrap(), accepted(Some(20)));
            let rows = read_rows(cluster.addr()).await.unwrap();
            assert_eq!(
                summary(&rows),
                vec![
                    ("a".into(), 10, RowOutcome::Accepted, None),
                    ("b".into(), 20, RowOutcome::Fence, Some(10)),
                    ("a".into(), 10, RowOutcome::RejectedStale, Some(20)),
                    ("a".into(), 15, RowOutcome::Fence, Some(20)),
                    ("b".into(), 20, RowOutcome::Accepted, Some(20)),
                ]
            );
            // Down: no verdict, within the call timeout, and unhealthy.
            cluster.kill().unwrap();
            let begun = Instant::now();
            let err = a.write(10, 3).await.unwrap_err();
            assert!(begun.elapsed() < CALL + Duration::from_millis(500), "{err}");
            assert!(
                matches!(
                    err,
                    PgStoreError::Lost { .. } | PgStoreError::Unavailable { .. }
                ),
                "{err}"
            );
            assert!(!a.ping().await);
            // Back: the next call reconnects.
            cluster.start().await.unwrap();
            assert_eq!(b.write(20, 2).await.unwrap(), accepted(Some(20)));
            assert!(a.ping().await);
            // Paused: a call gives up after its timeout and drops the connection.
            cluster.pause().unwrap();
            let begun = Instant::now();
            let err = b.write(20, 3).await.unwrap_err();
            let took = begun.elapsed();
            assert!(matches!(err, PgStoreError::Timeout { .. }), "{err}");
            assert!(
                took >= CALL && took < CALL + Duration::from_millis(500),
                "{took:?}"
            );
            assert!(!b.ping().await);
            cluster.resume().unwrap();
            assert!(b.ping().await);
            // Whether the write the paused server got commits on resume depends on how far
            // the extended protocol got (tokio-postgres prepares first, so usually nothing
            // was executed); either way the rows still replay in order.
            let rows = read_rows(cluster.addr()).await.unwrap();
            assert!(rows.iter().all(|r| r.outcome != RowOutcome::Accepted
                || r.token == Some(10)
                || r.token == Some(20)));
            // Bad URLs are errors, not panics.
            assert!(matches!(
                PgStore::connect(vec!["postgres://[nonsense".into()], "p", "a", CALL).await,
                Err(PgStoreError::BadUrl { .. })
            ));
            assert!(matches!(
                PgStore::connect(vec![], "p", "a", CALL).await,
                Err(PgStoreError::BadUrl { .. })
            ));
        });
    }
}

mod pair {
    use super::*;
    use crate::node::pg_store::{PgStore, Verdict};
    use std::net::SocketAddr;
    use std::sync::Arc;
    use tokio::sync::{mpsc, watch};

    const CALL: Duration = Duration::from_millis(1500);

    struct Running {
        pair: Arc<PgPair>,
        states: [watch::Sender<HostState>; 2],
        events: mpsc::UnboundedReceiver<DetectorEvent>,
        detector: tokio::task::JoinHandle<()>,
    }

    impl Drop for Running {
        fn drop(&mut self) {
            self.detector.abort();
        }
    }

    async fn running(scratch: &Scratch) -> Running {
        let ports = ports(2);
        let addr = |port: u16| SocketAddr::from((std::net::Ipv4Addr::LOCALHOST, port));
        let spec = |i: usize| HostSpec {
            name: format!("db{}", i + 1),
            dir: scratch.0.join(format!("db{}", i + 1)),
            port: ports[i],
            peer_route: addr(ports[1 - i]),
        };
        let begun = Instant::now();
        let pair = PgPair::create(&install(), [spec(0), spec(1)])
            .await
            .unwrap_or_else(|err| panic!("{err}"));
        eprintln!("primary + synchronous replica took {:?}", begun.elapsed());
        let pair = Arc::new(pair);
        let (up0, rx0) = watch::channel(HostState::Up);
        let (up1, rx1) = watch::channel(HostState::Up);
        let (events_tx, events) = mpsc::unbounded_channel();
        let detector = tokio::spawn(pair.clone().run_detector([rx0, rx1], events_tx));
        Running {
            pair,
            states: [up0, up1],
            events,
            detector,
        }
    }

    async fn next_event(run: &mut Running, within: Duration) -> DetectorEvent {
        tokio::time::timeout(within, run.events.recv())
            .await
            .unwrap_or_else(|_| panic!("no detector event within {within:?}"))
            .expect("the detector ended")
    }

    async fn in_recovery(addr: SocketAddr) -> bool {
        let conn = super::conn::connect(addr, Duration::from_secs(2))
            .await
            .unwrap();
        conn.client
            .query_one("SELECT pg_is_in_recovery()", &[])
            .await
            .unwrap()
            .get(0)
    }

    /// Kills the acting primary and waits for the replica's promotion; returns how long after
    /// the kill it came.
    async fn fail_over(run: &mut Running) -> Duration {
        let primary = run.pair.acting();
        run.pair.host(primary).lock().await.kill().unwrap();
        run.states[primary].send_replace(HostState::Down);
        let killed = Instant::now();
        let event = next_event(run, Duration::from_secs(8)).await;
        let DetectorEventKind::Promoted { host, silent } = event.kind else {
            panic!("expected a promotion, got {event:?}");
        };
        assert_eq!(host, 1 - primary);
        assert!(silent >= replication::FAILOVER_AFTER);
        assert_eq!(run.pair.acting(), 1 - primary);
        event.at - killed
    }

    /// Starts the old primary again and waits for its rebuild as the standby.
    async fn rebuild(run: &mut Running, old: usize) -> Option<(PathBuf, usize, usize)> {
        run.pair.host(old).lock().await.start().await.unwrap();
        run.states[old].send_replace(HostState::Up);
        let mut dump = None;
        loop {
            let event = next_event(run, Duration::from_secs(20)).await;
            match event.kind {
                DetectorEventKind::Dumped {
                    host,
                    path,
                    rows,
                    released,
                } => {
                    assert_eq!(host, old);
                    dump = Some((path, rows, released));
                }
                DetectorEventKind::Rebuilt { host, took } => {
                    assert_eq!(host, old);
                    eprintln!("rebuilt db{} in {took:?}", old + 1);
                    return dump;
                }
                other => panic!("expected a rebuild, got {other:?}"),
            }
        }
    }

    #[test]
    fn the_replica_takes_over_with_the_newest_token_and_the_old_primary_follows_it() {
        runtime().block_on(async {
            let scratch = Scratch::new("pair");
            let mut run = running(&scratch).await;
            let [db1, db2] = [0, 1].map(|i| run.pair.spec(i).addr());
            assert!(!in_recovery(db1).await);
            assert!(in_recovery(db2).await);
            // The node is given the replica first: a standby refuses it, the primary answers.
            let urls = vec![super::conn::url(db2), super::conn::url(db1)];
            let mut old_master = PgStore::connect(urls.clone(), "p", "a", CALL)
                .await
                .unwrap();
            let mut new_master = PgStore::connect(urls, "p", "b", CALL).await.unwrap();
            assert!(old_master.ping().await);
            assert!(old_master.write(5, 1).await.unwrap().accepted);
            assert_eq!(old_master.current_host(), db1.to_string());
            // The new master fences at its promotion.
            assert_eq!(
                new_master.fence(7).await.unwrap(),
                Verdict {
                    accepted: true,
                    newest: Some(5)
                }
            );
            // Synchronous: the replica holds every acknowledged row.
            let on_primary = read_rows(db1).await.unwrap();
            assert_eq!(on_primary.len(), 2);
            assert_eq!(read_rows(db2).await.unwrap(), on_primary);

            let took = fail_over(&mut run).await;
            eprintln!("promoted {took:?} after the primary's crash");
            assert!(
                took >= Duration::from_millis(2500) && took <= Duration::from_millis(5500),
                "{took:?}"
            );
            assert!(!in_recovery(db2).await);
            // The newest token survived: the new master writes, the old grant is refused.
            assert_eq!(
                new_master.write(7, 1).await.unwrap(),
                Verdict {
                    accepted: true,
                    newest: Some(7)
                }
            );
            assert_eq!(
                old_master.write(5, 2).await.unwrap(),
                Verdict {
                    accepted: false,
                    newest: Some(7)
                }
            );

            // The old primary comes back and is rebuilt as the new primary's standby.
            let dump = rebuild(&mut run, 0)
                .await
                .expect("the old primary's rows dumped");
            assert_eq!(dump.1, 2, "{dump:?}");
            assert!(
                std::fs::read_to_string(&dump.0)
                    .unwrap()
                    .contains("\tfence\t")
            );
            assert!(in_recovery(db1).await);
            assert!(new_master.write(7, 2).await.unwrap().accepted);
            let rows = read_rows(db2).await.unwrap();
            assert_eq!(rows.len(), 5);
            assert_eq!(read_rows(db1).await.unwrap(), rows, "the standby lags");

            // And the pair fails over the other way.
            let took = fail_over(&mut run).await;
            eprintln!("failed back {took:?} after the crash");
            assert!(!in_recovery(db1).await);
            assert_eq!(
                new_master.write(7, 3).await.unwrap(),
                Verdict {
                    accepted: true,
                    newest: Some(7)
                }
            );
            assert!(!old_master.write(5, 3).await.unwrap().accepted);
            assert_eq!(read_rows(db1).await.unwrap().len(), 7);
        });
    }

    #[test]
    fn a_paused_replica_does_not_promote_and_a_cut_primary_commits_nothing() {
        runtime().block_on(async {
            let scratch = Scratch::new("pair-paused");
            let mut run = running(&scratch).await;
            let db1 = run.pair.spec(0).addr();
            let mut node = PgStore::connect(vec![super::conn::url(db1)], "p", "a", CALL)
                .await
                .unwrap();
            assert!(node.write(1, 1).await.unwrap().accepted);
            // The replica host freezes: the primary's commits wait for it, unanswered.
            run.pair.host(1).lock().await.pause().unwrap();
            run.states[1].send_replace(HostState::Paused);
            let err = node.write(1, 2).await.unwrap_err();
            assert!(
                matches!(err, crate::node::pg_store::PgStoreError::Timeout { .. }),
                "{err}"
            );
            // The primary dies too; the paused replica's detector does nothing.
            run.pair.host(0).lock().await.kill().unwrap();
            run.states[0].send_replace(HostState::Down);
            let quiet = tokio::time::timeout(Duration::from_secs(4), run.events.recv()).await;
            assert!(quiet.is_err(), "{quiet:?}");
            assert_eq!(run.pair.acting(), 0);
            // Resumed, it hears nothing from the primary and takes over (it was in sync).
            run.pair.host(1).lock().await.resume().unwrap();
            run.states[1].send_replace(HostState::Up);
            let event = next_event(&mut run, Duration::from_secs(5)).await;
            assert!(
                matches!(event.kind, DetectorEventKind::Promoted { host: 1, .. }),
                "{event:?}"
            );
            // The write that timed out had committed on the primary's disk (its WAL) before
            // it waited for the replica, which had flushed it too before it froze, or not:
            // the promoted replica holds the first write either way.
            let rows = read_rows(run.pair.spec(1).addr()).await.unwrap();
            assert!(rows.iter().any(|r| r.write_id == 1), "{rows:?}");
        });
    }
}
