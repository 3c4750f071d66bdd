//! The fence, kept by the database itself in the same transaction as the write.
//!
//! A node's write is one call of `splitbrain_write(pair, node, token, write_id)`. The
//! function locks the pair's row of `splitbrain_fence` (creating it if absent), accepts the
//! write iff its token is not older than the newest token seen for the pair, raises the newest
//! token on acceptance, and appends the verdict to `splitbrain_writes` either way. The lock
//! serialises every write of a pair, so two writers with crossing tokens are decided in commit
//! order and the newest token never goes down. What a node believes about its write is not
//! evidence; the rows are: a run's write verdicts are read back from this table ([`rows`](super::rows)).
//!
//! `splitbrain_write_unfenced(pair, node, write_id)` is the write of a program without fencing
//! tokens (the node protocol, `docs/node-protocol.md`): always accepted, its row's token null.
//!
//! `splitbrain_fence_raise(pair, node, token)` is the simulated database's *fence*: a new
//! master raises the newest token when it is promoted, so that a write of an older grant still
//! in flight is refused from then on, not only from the new master's first write. It records a
//! row of outcome `fence` so the audit trail holds every change of the newest token.
//!
//! Creating the fence row races when two writers meet a pair for the first time: both see no
//! row. `INSERT ... ON CONFLICT DO NOTHING` settles it (the second waits for the first's
//! insert to commit or abort, then does nothing or inserts), and the `SELECT ... FOR UPDATE`
//! that follows, a new statement with a new snapshot under READ COMMITTED, sees and locks
//! whichever row won. The row is created holding the first writer's token, so `newest` is
//! never null in the table; "no newest yet" is the row's absence.
//!
//! `at_us` is `clock_timestamp()` when the row is inserted, before the commit: with
//! synchronous replication the commit may complete (or never complete) much later.

use super::error::PgError;

/// The outcome of a write the fence accepted.
pub const ACCEPTED: &str = "accepted";
/// The outcome of a write whose token was older than the pair's newest.
pub const REJECTED_STALE: &str = "rejected_stale";
/// The outcome recorded by `splitbrain_fence_raise`.
pub const FENCE: &str = "fence";

/// The schema, one statement per paragraph: each statement ends with `;` and a blank line and
/// holds no blank line itself (the terminator of single-user mode's `-j` input, through which
/// [`PgCluster`](super::PgCluster) applies it to a fresh cluster).
pub const SCHEMA_SQL: &str = r#"CREATE TABLE IF NOT EXISTS splitbrain_fence (
    pair text NOT NULL,
    newest bigint NOT NULL,
    CONSTRAINT splitbrain_fence_pkey PRIMARY KEY (pair)
);

CREATE TABLE IF NOT EXISTS splitbrain_writes (
    seq bigserial PRIMARY KEY,
    pair text NOT NULL,
    node text NOT NULL,
    token bigint,
    write_id bigint NOT NULL,
    outcome text NOT NULL CHECK (outcome IN ('accepted', 'rejected_stale', 'fence')),
    newest bigint,
    at_us bigint NOT NULL
);

CREATE OR REPLACE FUNCTION splitbrain_lock_fence(p_pair text, p_token bigint)
RETURNS TABLE (created boolean, newest bigint)
LANGUAGE plpgsql AS $fn$
#variable_conflict use_variable
DECLARE
    v_rows bigint;
BEGIN
    -- Locks the pair's fence row, creating it with p_token if absent. `newest` is the newest
    -- token before this call (null, with created = true, when the row did not exist).
    INSERT INTO splitbrain_fence AS f (pair, newest) VALUES (p_pair, p_token)
        ON CONFLICT ON CONSTRAINT splitbrain_fence_pkey DO NOTHING;
    GET DIAGNOSTICS v_rows = ROW_COUNT;
    IF v_rows = 1 THEN
        created := true;
        newest := NULL;
    ELSE
        created := false;
        SELECT f.newest INTO STRICT newest FROM splitbrain_fence AS f
            WHERE f.pair = p_pair FOR UPDATE;
    END IF;
    RETURN NEXT;
END
$fn$;

CREATE OR REPLACE FUNCTION splitbrain_write(p_pair text, p_node text, p_token bigint, p_write_id bigint)
RETURNS TABLE (outcome text, newest bigint)
LANGUAGE plpgsql AS $fn$
#variable_conflict use_variable
DECLARE
    v_created boolean;
    v_newest bigint;
BEGIN
    -- A database slower than this one (a scenario's write_latency): the write takes that long
    -- before it reaches the fence.
    PERFORM pg_sleep(coalesce(nullif(current_setting('splitbrain.write_latency_ms', true), ''),
                              '0')::float8 / 1000.0);
    SELECT l.created, l.newest INTO STRICT v_created, v_newest
        FROM splitbrain_lock_fence(p_pair, p_token) AS l;
    IF v_newest IS NULL OR p_token >= v_newest THEN
        outcome := 'accepted';
        IF NOT v_created THEN
            UPDATE splitbrain_fence AS f SET newest = p_token WHERE f.pair = p_pair;
        END IF;
    ELSE
        outcome := 'rejected_stale';
    END IF;
    newest := v_newest;
    INSERT INTO splitbrain_writes (pair, node, token, write_id, outcome, newest, at_us)
        VALUES (p_pair, p_node, p_token, p_write_id, outcome, v_newest,
                (extract(epoch FROM clock_timestamp()) * 1000000)::bigint);
    RETURN NEXT;
END
$fn$;

CREATE OR REPLACE FUNCTION splitbrain_write_unfenced(p_pair text, p_node text, p_write_id bigint)
RETURNS TABLE (outcome text)
LANGUAGE plpgsql AS $fn$
#variable_conflict use_variable
BEGIN
    -- A write from a program without fencing tokens: nothing to check it against, so the
    -- database takes it, as one without a fence would. The row (token null) is the evidence
    -- the run judges it by.
    PERFORM pg_sleep(coalesce(nullif(current_setting('splitbrain.write_latency_ms', true), ''),
                              '0')::float8 / 1000.0);
    outcome := 'accepted';
    INSERT INTO splitbrain_writes (pair, node, token, write_id, outcome, newest, at_us)
        VALUES (p_pair, p_node, NULL, p_write_id, outcome, NULL,
                (extract(epoch FROM clock_timestamp()) * 1000000)::bigint);
    RETURN NEXT;
END
$fn$;

CREATE OR REPLACE FUNCTION splitbrain_fence_raise(p_pair text, p_node text, p_token bigint)
RETURNS TABLE (outcome text, newest bigint)
LANGUAGE plpgsql AS $fn$
#variable_conflict use_variable
DECLARE
    v_created boolean;
    v_newest bigint;
BEGIN
    SELECT l.created, l.newest INTO STRICT v_created, v_newest
        FROM splitbrain_lock_fence(p_pair, p_token) AS l;
    IF NOT v_created AND p_token > v_newest THEN
        UPDATE splitbrain_fence AS f SET newest = p_token WHERE f.pair = p_pair;
    END IF;
    outcome := 'fence';
    newest := v_newest;
    INSERT INTO splitbrain_writes (pair, node, token, write_id, outcome, newest, at_us)
        VALUES (p_pair, p_node, p_token, 0, outcome, v_newest,
                (extract(epoch FROM clock_timestamp()) * 1000000)::bigint);
    RETURN NEXT;
END
$fn$;

"#;

/// Makes every later connection's fenced writes take `latency` inside the database (the
/// setting `splitbrain.write_latency_ms` of the database, read by `splitbrain_write`). Run it
/// on a primary: a standby takes the setting by replication.
pub async fn set_write_latency(
    addr: std::net::SocketAddr,
    latency: std::time::Duration,
) -> Result<(), PgError> {
    let conn = super::conn::connect(addr, std::time::Duration::from_secs(5))
        .await
        .map_err(|e| PgError::Io {
            context: format!("connecting to {addr}"),
            source: std::io::Error::other(e.to_string()),
        })?;
    let sql = format!(
        "ALTER DATABASE {} SET splitbrain.write_latency_ms = '{}'",
        super::conn::DATABASE,
        latency.as_millis()
    );
    conn.client
        .batch_execute(&sql)
        .await
        .map_err(|e| PgError::Io {
            context: "setting the write latency".into(),
            source: std::io::Error::other(e.to_string()),
        })
}
