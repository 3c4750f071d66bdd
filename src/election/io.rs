//! The election's reads and writes against a [`Coordination`] session. Each function is one
//! step of the protocol; the decision of which step to take is not made here.
//!
//! Every call is raced against the session's state: if the session leaves SyncConnected while
//! a call is in flight, the call counts as a connection failure at once (its outcome is
//! unknown), rather than whenever the client library gets round to failing it.
//!
//! Every error answer is reported to the environment as the coverage point of its call
//! ([`Point::answer`]); in production that records nothing.

use super::config::Layout;
use super::decide::{Candidate, View};
use super::record::{CandidateRecord, RecordError, TermRecord};
use super::role::{FencingToken, Priority};
use crate::coord::{Coordination, CreateOptions, Watch, is_connection_error};
use crate::coverage::{Call, Point};
use crate::env::Environment;
use crate::zk::types::{
    ANY_VERSION, CreateMode, ErrorCode, Op, OpResult, SessionState, WatchedEvent, ZkResult,
};
use std::future::Future;
use std::pin::Pin;

/// Why a step did not complete.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    /// The election changed under the step (a version or existence check failed): re-read.
    Raced,
    /// The connection broke or the session ended; the outcome of a write is unknown.
    Connection,
    /// The session moved to another server (a reconnection of this client, abandoned but
    /// completed late, revalidated it there): this connection no longer speaks for the
    /// session, and every request on it fails. ZooKeeper's server closes such a connection;
    /// zookeeper-client ends the session (Expired). Start over on a new session.
    SessionMoved,
    /// The election's persistent znodes are missing (deleted, or the ensemble lost its data):
    /// create them again.
    Missing,
    /// A znode holds data this version cannot read.
    Record(RecordError),
    /// Anything else (no permission, bad arguments, ...): retry after a back-off.
    Unexpected(ErrorCode),
}

/// Maps an error of a call that has no more specific meaning for the step.
pub fn classify(err: ErrorCode) -> Failure {
    match err {
        e if is_connection_error(e) => Failure::Connection,
        ErrorCode::SessionMoved => Failure::SessionMoved,
        ErrorCode::SessionExpired | ErrorCode::ClientClosed | ErrorCode::AuthFailed => {
            Failure::Connection
        }
        ErrorCode::BadVersion | ErrorCode::NodeExists | ErrorCode::NotEmpty => Failure::Raced,
        ErrorCode::NoNode => Failure::Missing,
        other => Failure::Unexpected(other),
    }
}

impl From<ErrorCode> for Failure {
    fn from(err: ErrorCode) -> Failure {
        classify(err)
    }
}

/// Runs one call, abandoning it as `ConnectionLoss` as soon as the session is not connected.
pub(crate) async fn guarded<C: Coordination, T>(
    session: &C,
    call: impl Future<Output = ZkResult<T>>,
) -> ZkResult<T> {
    let mut state = session.state_watcher();
    tokio::select! {
        biased;
        _ = state.wait_for(|s| *s != SessionState::SyncConnected) => Err(ErrorCode::ConnectionLoss),
        result = call => result,
    }
}

/// Reports an error answer to `call` as its coverage point; passes the result on unchanged.
fn answered<E: Environment, T>(env: &E, call: Call, result: ZkResult<T>) -> ZkResult<T> {
    if let Err(err) = &result {
        env.reach(Point::answer(call, *err));
    }
    result
}

/// Creates whatever is missing of the root, the pair, the term and the candidates znodes.
/// Existing znodes are only checked, never created again: a failed create still costs the
/// ensemble a transaction, and a shared root may carry an ACL that forbids creating it.
pub async fn ensure_paths<C: Coordination, E: Environment>(
    session: &C,
    layout: &Layout,
    env: &E,
) -> ZkResult<()> {
    let root_acl = layout.root_acl();
    let mut paths: Vec<(String, Vec<u8>, Vec<_>)> = layout
        .root_components()
        .into_iter()
        .map(|p| (p, Vec::new(), root_acl.clone()))
        .collect();
    let pair_acl = layout.pair_acl().to_vec();
    paths.push((layout.pair_path().to_string(), Vec::new(), pair_acl.clone()));
    paths.push((
        layout.term_path().to_string(),
        TermRecord::released().encode(),
        pair_acl.clone(),
    ));
    paths.push((layout.candidates_path().to_string(), Vec::new(), pair_acl));
    for (path, data, acl) in paths {
        let found = guarded(session, session.exists(&path)).await;
        if answered(env, Call::CheckPath, found)?.is_some() {
            continue;
        }
        let options = CreateOptions::new(CreateMode::Persistent).with_acl(acl);
        let created = guarded(session, session.create(&path, &data, &options)).await;
        match answered(env, Call::CreatePath, created) {
            Ok(_) | Err(ErrorCode::NodeExists) => {}
            Err(err) => return Err(err),
        }
    }
    Ok(())
}

/// Whether the election has lost znodes since it was first created: a child of the election
/// root's znodes or of the pair's znode was deleted at some point (an operator's cleanup, a
/// superuser's `deleteall`). Their client-visible cversion counts both creations and deletions
/// of children, so it exceeds the number of children once any child was deleted. A znode
/// missing right now is being deleted: lost too.
///
/// Read after the term, so it reflects every deletion the term's creation followed.
pub async fn election_lost_znodes<C: Coordination, E: Environment>(
    session: &C,
    layout: &Layout,
    env: &E,
) -> Result<bool, Failure> {
    let mut paths = layout.root_components();
    paths.push(layout.pair_path().to_string());
    for path in paths {
        let found = guarded(session, session.exists(&path)).await;
        match answered(env, Call::CheckLostZnodes, found).map_err(classify)? {
            Some(stat) if stat.cversion <= stat.num_children => {}
            _ => return Ok(true),
        }
    }
    Ok(false)
}

/// Confirms the session through the quorum: `sync` is forwarded to the ZooKeeper leader and
/// answered only once the leader has answered it (see [`super::lease`]).
pub async fn confirm_session<C: Coordination>(session: &C, path: &str) -> ZkResult<()> {
    guarded(session, session.sync(path)).await
}

/// A one-shot watch waiting to fire.
pub type PendingWatch = Pin<Box<dyn Future<Output = WatchedEvent> + Send>>;

/// The one-shot watches a selector holds on its pair. A watch stays pending across reads until
/// it fires: re-arming it on every read would pile up registrations in the client for a znode
/// that does not change (a stable master's term) at every recheck.
#[derive(Default)]
pub struct Watches {
    pub term: Option<PendingWatch>,
    pub candidates: Option<PendingWatch>,
}

fn pending(watch: Watch) -> PendingWatch {
    Box::pin(watch.changed())
}

/// Reads the term record, **then** the candidates, arming a watch on each where none is
/// pending. In this order a holder whose candidacy is missing from the (later) listing has
/// really gone, and any claim made after the term read changes the term version the next
/// claim compares against.
pub async fn read_election<C: Coordination, E: Environment>(
    session: &C,
    layout: &Layout,
    watches: &mut Watches,
    env: &E,
) -> Result<View, Failure> {
    let term_path = layout.term_path();
    let term = if watches.term.is_some() {
        guarded(session, session.get_data(term_path)).await
    } else {
        guarded(session, session.get_data_watch(term_path))
            .await
            .map(|(data, stat, watch)| {
                watches.term = Some(pending(watch));
                (data, stat)
            })
    };
    let (data, term_stat) = answered(env, Call::ReadTerm, term).map_err(classify)?;
    let term = TermRecord::decode(&data).map_err(Failure::Record)?;
    let candidates_path = layout.candidates_path();
    let listed = if watches.candidates.is_some() {
        guarded(session, session.get_children(candidates_path))
            .await
            .map(|(children, _)| children)
    } else {
        guarded(session, session.get_children_watch(candidates_path))
            .await
            .map(|(children, _, watch)| {
                watches.candidates = Some(pending(watch));
                children
            })
    };
    let mut children = answered(env, Call::ListCandidates, listed).map_err(classify)?;
    // The server lists children in no particular order; sort so every run reads alike.
    children.sort();
    let mut candidates = Vec::with_capacity(children.len());
    for node in children {
        let path = layout.candidate_path(&node);
        let read = guarded(session, session.get_data(&path)).await;
        let (data, stat) = match answered(env, Call::ReadCandidacy, read) {
            Ok(found) => found,
            // Deleted since the listing: the candidates watch has fired already.
            Err(ErrorCode::NoNode) => continue,
            Err(err) => return Err(classify(err)),
        };
        // A znode that is not an ephemeral candidate record is nobody's candidacy: it cannot
        // be ranked, and it never makes a holder live.
        let Ok(record) = CandidateRecord::decode(&data) else {
            continue;
        };
        if stat.ephemeral_owner == 0 {
            continue;
        }
        candidates.push(Candidate {
            node,
            name: record.name,
            priority: Priority(record.priority),
            session: stat.ephemeral_owner,
            joined: stat.czxid,
        });
    }
    Ok(View {
        holder: term.holder,
        term_version: term_stat.version,
        term_created: term_stat.czxid,
        candidates,
    })
}

fn candidate_create_op(layout: &Layout, name: &str, priority: Priority) -> Op {
    Op::Create {
        path: layout.candidate_path(&layout.candidate_node(name, priority)),
        data: CandidateRecord::new(name, priority).encode(),
        acl: layout.pair_acl().to_vec(),
        mode: CreateMode::Ephemeral,
    }
}

/// Runs a multi (the step `call`); a failed op becomes the failure of the step.
async fn run_multi<C: Coordination, E: Environment>(
    session: &C,
    ops: Vec<Op>,
    env: &E,
    call: Call,
) -> Result<Vec<OpResult>, Failure> {
    let answer = guarded(session, session.multi(ops)).await;
    let results = answered(env, call, answer).map_err(classify)?;
    let failed = results.iter().find_map(|r| match r {
        OpResult::Error(code) if *code != ErrorCode::Ok => Some(*code),
        _ => None,
    });
    if let Some(code) = failed {
        env.reach(Point::answer(call, code));
    }
    match failed {
        None => Ok(results),
        // The op's own znode (or the term) changed: a lost race, not a missing election.
        Some(ErrorCode::NoNode) => Err(Failure::Raced),
        Some(code) => Err(classify(code)),
    }
}

pub async fn create_candidate<C: Coordination, E: Environment>(
    session: &C,
    layout: &Layout,
    name: &str,
    priority: Priority,
    env: &E,
) -> Result<(), Failure> {
    let path = layout.candidate_path(&layout.candidate_node(name, priority));
    let data = CandidateRecord::new(name, priority).encode();
    let options = CreateOptions::new(CreateMode::Ephemeral).with_acl(layout.pair_acl().to_vec());
    let created = guarded(session, session.create(&path, &data, &options)).await;
    match answered(env, Call::CreateCandidacy, created) {
        Ok(_) => Ok(()),
        Err(err) => Err(classify(err)),
    }
}

/// Re-creates the candidacy under a new priority in one multi, so it never disappears.
pub async fn replace_candidate<C: Coordination, E: Environment>(
    session: &C,
    layout: &Layout,
    old_node: &str,
    name: &str,
    priority: Priority,
    env: &E,
) -> Result<(), Failure> {
    let ops = vec![
        Op::Delete {
            path: layout.candidate_path(old_node),
            version: ANY_VERSION,
        },
        candidate_create_op(layout, name, priority),
    ];
    run_multi(session, ops, env, Call::ReplaceCandidacy)
        .await
        .map(drop)
}

/// Deletes the candidacy and, with `release_version`, clears the term record compared against
/// that version, in one multi.
pub async fn withdraw<C: Coordination, E: Environment>(
    session: &C,
    layout: &Layout,
    node: &str,
    release_version: Option<i32>,
    env: &E,
) -> Result<(), Failure> {
    let mut ops = vec![Op::Delete {
        path: layout.candidate_path(node),
        version: ANY_VERSION,
    }];
    ops.extend(release_version.map(|version| release_op(layout, version)));
    run_multi(session, ops, env, Call::Withdraw).await.map(drop)
}

/// Clears the term record, compared against `version`, if this session's candidacy `node`
/// still exists (see [`Decision::Release`](super::decide::Decision::Release)).
pub async fn release<C: Coordination, E: Environment>(
    session: &C,
    layout: &Layout,
    node: &str,
    version: i32,
    env: &E,
) -> Result<(), Failure> {
    let ops = vec![
        Op::Check {
            path: layout.candidate_path(node),
            version: ANY_VERSION,
        },
        release_op(layout, version),
    ];
    run_multi(session, ops, env, Call::Release).await.map(drop)
}

fn release_op(layout: &Layout, version: i32) -> Op {
    Op::SetData {
        path: layout.term_path().to_string(),
        data: TermRecord::released().encode(),
        version,
    }
}

/// Claims mastership: in one multi, checks this session's candidacy `node` still exists and
/// writes the term record naming this session, compared against `version`. The zxid of that
/// write (the term's new mzxid) is the grant's fencing token.
pub async fn claim<C: Coordination, E: Environment>(
    session: &C,
    layout: &Layout,
    node: &str,
    name: &str,
    version: i32,
    env: &E,
) -> Result<FencingToken, Failure> {
    let ops = vec![
        Op::Check {
            path: layout.candidate_path(node),
            version: ANY_VERSION,
        },
        Op::SetData {
            path: layout.term_path().to_string(),
            data: TermRecord::held_by(name, session.session_id()).encode(),
            version,
        },
    ];
    let results = run_multi(session, ops, env, Call::Claim).await?;
    match results.as_slice() {
        [OpResult::Check, OpResult::SetData { stat }] if stat.mzxid > 0 => {
            Ok(FencingToken(stat.mzxid))
        }
        // The claim may have applied, but without its zxid there is no token to grant. The
        // term still names this session, so the next step claims again.
        _ => Err(Failure::Unexpected(ErrorCode::MarshallingError)),
    }
}
