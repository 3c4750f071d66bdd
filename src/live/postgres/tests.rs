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
        .map(|r| (r.node.clone(), r.token, r.outcome, r.newest))
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
            let accept = newest.is_none_or(|n| row.token >= n);
            assert_eq!(row.outcome == RowOutcome::Accepted, accept, "{row:?}");
            if accept {
                newest = Some(row.token);
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
