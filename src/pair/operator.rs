//! Operator scripts that reach into ZooKeeper directly, as a scenario step can ask for: what
//! an administrator does by hand with `zkCli.sh` on one of the pair's hosts, with the pair's
//! credentials.

use crate::coord::Coordination;
use crate::election::config::Layout;
use crate::election::{DigestCredentials, Policy, Priority, SelectorConfig};
use crate::env::timeout;
use crate::sim::world::HostCtx;
use crate::zk::client::{ClientConfig, SimZkClient};
use crate::zk::types::{ANY_VERSION, ErrorCode, Op, OpResult};
use std::time::Duration;

/// How many times the script lists and deletes again when a node changed the election between
/// its listing and its delete (a candidacy created or gone meanwhile).
const ATTEMPTS: usize = 5;

/// How long the script waits for its session to close before leaving it to expire.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// A cleanup script deletes `pair`'s election: every candidacy, the candidates znode and the
/// term, in one multi, deepest first (as `deleteall` does). The pair's own znode stays: the
/// shared election root grants nobody DELETE, so the pair's credentials cannot remove it.
/// Returns how many znodes it deleted.
pub async fn delete_election(
    ctx: &HostCtx,
    zk: ClientConfig,
    root: &str,
    pair: &str,
    credentials: &DigestCredentials,
) -> Result<usize, ErrorCode> {
    let session = SimZkClient::connect(ctx, zk).await?;
    let deleted = delete_election_in(&session, root, pair, credentials).await;
    let _ = timeout(&ctx.env, CLOSE_TIMEOUT, session.close()).await;
    deleted
}

/// The script's work on an open session of any backend (live mode runs it on a real one):
/// authenticates with the pair's credentials and deletes the election.
pub async fn delete_election_in<C: Coordination>(
    session: &C,
    root: &str,
    pair: &str,
    credentials: &DigestCredentials,
) -> Result<usize, ErrorCode> {
    let config = SelectorConfig::new(root, pair, "operator", Priority(0), Policy::Sticky)
        .with_credentials(credentials.clone());
    let layout = Layout::new(&config);
    session
        .add_auth("digest", &credentials.auth_bytes())
        .await?;
    delete_subtree(session, &layout).await
}

/// The script's work for a pair whose nodes run an election of their own layout (a node
/// program other than the built-in selector): every znode under the pair's znode, deepest
/// first, in one multi; the pair's znode stays. Returns how many znodes it deleted.
pub async fn delete_everything_under<C: Coordination>(
    session: &C,
    pair_path: &str,
    credentials: &DigestCredentials,
) -> Result<usize, ErrorCode> {
    session
        .add_auth("digest", &credentials.auth_bytes())
        .await?;
    for _ in 0..ATTEMPTS {
        // Breadth first: a znode is listed after its parent, so the reverse deletes children
        // before their parents.
        let mut found = Vec::new();
        let mut next = vec![pair_path.to_string()];
        while let Some(path) = next.pop() {
            match session.get_children(&path).await {
                Ok((mut children, _)) => {
                    children.sort();
                    for child in children {
                        let child = format!("{}/{child}", path.trim_end_matches('/'));
                        found.push(child.clone());
                        next.push(child);
                    }
                }
                Err(ErrorCode::NoNode) => {}
                Err(err) => return Err(err),
            }
        }
        if found.is_empty() {
            return Ok(0);
        }
        // Deepest first: a path's parent is a prefix of it.
        found.sort_by_key(|path| std::cmp::Reverse(path.matches('/').count()));
        let ops = found
            .into_iter()
            .map(|path| Op::Delete {
                path,
                version: ANY_VERSION,
            })
            .collect();
        if let Some(deleted) = delete_all(session, ops).await? {
            return Ok(deleted);
        }
    }
    Err(ErrorCode::NotEmpty)
}

async fn delete_subtree<C: Coordination>(session: &C, layout: &Layout) -> Result<usize, ErrorCode> {
    let candidates = layout.candidates_path();
    let term = layout.term_path();
    for _ in 0..ATTEMPTS {
        let mut ops = Vec::new();
        match session.get_children(candidates).await {
            Ok((mut children, _)) => {
                children.sort();
                ops.extend(children.iter().map(|node| Op::Delete {
                    path: layout.candidate_path(node),
                    version: ANY_VERSION,
                }));
                ops.push(Op::Delete {
                    path: candidates.to_string(),
                    version: ANY_VERSION,
                });
            }
            Err(ErrorCode::NoNode) => {}
            Err(err) => return Err(err),
        }
        if session.exists(term).await?.is_some() {
            ops.push(Op::Delete {
                path: term.to_string(),
                version: ANY_VERSION,
            });
        }
        if ops.is_empty() {
            return Ok(0);
        }
        if let Some(deleted) = delete_all(session, ops).await? {
            return Ok(deleted);
        }
    }
    Err(ErrorCode::NotEmpty)
}

/// Deletes `ops` in one multi: `Some(count)` when every delete took, `None` when a znode
/// appeared or went between the listing and the delete (list again).
async fn delete_all<C: Coordination>(
    session: &C,
    ops: Vec<Op>,
) -> Result<Option<usize>, ErrorCode> {
    let count = ops.len();
    let results = session.multi(ops).await?;
    let failed = results.iter().find_map(|r| match r {
        OpResult::Error(code) if *code != ErrorCode::Ok => Some(*code),
        _ => None,
    });
    match failed {
        None => Ok(Some(count)),
        Some(ErrorCode::NoNode | ErrorCode::NotEmpty) => Ok(None),
        Some(code) => Err(code),
    }
}
