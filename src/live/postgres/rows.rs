//! Reading the database's own record of every write back, and saving it with a run.
//!
//! A run's write verdicts come from here, not from what the nodes believed: a node that timed
//! out may have had its write committed, and a node told "accepted" by a primary that then
//! lost it (it never does under synchronous replication, which is the point to check) would
//! show up as a belief without a row.

use super::conn::{Conn, connect};
use super::error::{PgError, io_error, sql_error};
use super::schema::{ACCEPTED, FENCE, REJECTED_STALE};
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

/// How long reading the rows may take to connect.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The verdict a row records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RowOutcome {
    Accepted,
    /// The token was older than the pair's newest.
    RejectedStale,
    /// `splitbrain_fence_raise`: the newest token raised (if the token was newer) without a
    /// write.
    Fence,
}

impl RowOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            RowOutcome::Accepted => ACCEPTED,
            RowOutcome::RejectedStale => REJECTED_STALE,
            RowOutcome::Fence => FENCE,
        }
    }

    pub fn parse(text: &str) -> Option<RowOutcome> {
        match text {
            ACCEPTED => Some(RowOutcome::Accepted),
            REJECTED_STALE => Some(RowOutcome::RejectedStale),
            FENCE => Some(RowOutcome::Fence),
            _ => None,
        }
    }
}

/// One row of `splitbrain_writes`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WriteRow {
    /// Commit-independent insertion order (a sequence: gaps where a transaction aborted).
    pub seq: i64,
    pub pair: String,
    pub node: String,
    /// `None`: a write of a program without fencing tokens (`splitbrain_write_unfenced`).
    pub token: Option<i64>,
    pub write_id: i64,
    pub outcome: RowOutcome,
    /// The pair's newest token before this row (`None`: the pair's first row).
    pub newest: Option<i64>,
    /// The server's `clock_timestamp()` at the insert, microseconds since the Unix epoch.
    pub at_us: i64,
}

/// Every row of the server at `addr`, ordered by `seq`. A hot standby answers too.
pub async fn read_rows(addr: SocketAddr) -> Result<Vec<WriteRow>, PgError> {
    let conn = connect(addr, CONNECT_TIMEOUT)
        .await
        .map_err(|source| PgError::Connect { addr, source })?;
    read_rows_on(&conn).await
}

pub(crate) async fn read_rows_on(conn: &Conn) -> Result<Vec<WriteRow>, PgError> {
    let rows = conn
        .client
        .query(
            "SELECT seq, pair, node, token, write_id, outcome, newest, at_us \
             FROM splitbrain_writes ORDER BY seq",
            &[],
        )
        .await
        .map_err(sql_error("reading splitbrain_writes"))?;
    rows.iter()
        .map(|row| {
            let outcome: String = row.try_get(5).map_err(sql_error("reading outcome"))?;
            Ok(WriteRow {
                seq: row.try_get(0).map_err(sql_error("reading seq"))?,
                pair: row.try_get(1).map_err(sql_error("reading pair"))?,
                node: row.try_get(2).map_err(sql_error("reading node"))?,
                token: row.try_get(3).map_err(sql_error("reading token"))?,
                write_id: row.try_get(4).map_err(sql_error("reading write_id"))?,
                outcome: RowOutcome::parse(&outcome).ok_or_else(|| {
                    PgError::Unexpected(format!("unknown outcome {outcome:?} in splitbrain_writes"))
                })?,
                newest: row.try_get(6).map_err(sql_error("reading newest"))?,
                at_us: row.try_get(7).map_err(sql_error("reading at_us"))?,
            })
        })
        .collect()
}

/// The header line of [`dump_rows`]' files.
pub const TSV_HEADER: &str = "seq\tpair\tnode\ttoken\twrite_id\toutcome\tnewest\tat_us";

/// `rows` as tab-separated values with a header; an absent `newest` or token is an empty field. Tabs
/// and newlines in names (which the harness never uses) are replaced by spaces, so each row
/// stays one line.
pub fn rows_tsv(rows: &[WriteRow]) -> String {
    let clean = |s: &str| s.replace(['\t', '\n', '\r'], " ");
    let mut out = String::with_capacity(64 * (rows.len() + 1));
    out.push_str(TSV_HEADER);
    out.push('\n');
    for row in rows {
        let newest = row.newest.map(|n| n.to_string()).unwrap_or_default();
        let token = row.token.map(|n| n.to_string()).unwrap_or_default();
        let _ = writeln!(
            out,
            "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
            row.seq,
            clean(&row.pair),
            clean(&row.node),
            token,
            row.write_id,
            row.outcome.as_str(),
            newest,
            row.at_us
        );
    }
    out
}

/// Reads every row of the server at `addr` and writes them to `path` ([`rows_tsv`]).
/// Returns the rows.
pub async fn dump_rows(addr: SocketAddr, path: &Path) -> Result<Vec<WriteRow>, PgError> {
    let rows = read_rows(addr).await?;
    write_tsv(&rows, path)?;
    Ok(rows)
}

pub(crate) fn write_tsv(rows: &[WriteRow], path: &Path) -> Result<(), PgError> {
    std::fs::write(path, rows_tsv(rows))
        .map_err(io_error(format!("writing rows to {}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_become_one_tsv_line_each() {
        let rows = vec![
            WriteRow {
                seq: 1,
                pair: "p".into(),
                node: "a".into(),
                token: Some(5),
                write_id: 1,
                outcome: RowOutcome::Accepted,
                newest: None,
                at_us: 10,
            },
            WriteRow {
                seq: 3,
                pair: "p".into(),
                node: "b\tx".into(),
                token: Some(4),
                write_id: 9,
                outcome: RowOutcome::RejectedStale,
                newest: Some(5),
                at_us: 11,
            },
        ];
        assert_eq!(
            rows_tsv(&rows),
            format!(
                "{TSV_HEADER}\n1\tp\ta\t5\t1\taccepted\t\t10\n3\tp\tb x\t4\t9\trejected_stale\t5\t11\n"
            )
        );
    }
}
