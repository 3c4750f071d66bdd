//! The write operations, each validated in the order ZooKeeper 3.8's `PrepRequestProcessor`
//! checks and then applied as `DataTree` applies the resulting txn. A failed check returns the
//! error before anything changes; every change records the [`Trigger`]s it fires.

use super::AuthId;
use super::acl::{check_acl, fixup_acl};
use super::node::{
    Node, Owner, PersistedStat, canonical, is_special_path, split_parent, validate_server_path,
};
use super::store::Store;
use super::watches::Trigger;
use crate::zk::types::{
    ANY_VERSION, Acl, CreateMode, ErrorCode, Op, OpResult, SessionId, Stat, Zxid, perms,
};

/// What every change of one txn shares.
pub(crate) struct TxnCtx<'a> {
    pub zxid: Zxid,
    pub time_ms: i64,
    pub session: SessionId,
    pub auth: &'a [AuthId],
}

/// An op's outcome: its value, or the error the server answers with.
type Checked<T> = Result<T, ErrorCode>;

/// `checkAndIncVersion`: −1 matches any version.
fn check_version(current: i32, expected: i32) -> Checked<i32> {
    if expected != ANY_VERSION && expected != current {
        return Err(ErrorCode::BadVersion);
    }
    Ok(current.wrapping_add(1))
}

fn node<'s>(store: &'s Store, path: &str) -> Checked<&'s Node> {
    store.get(path).ok_or(ErrorCode::NoNode)
}

/// create: bad path → BadArguments, bad ACL → InvalidAcl, parent missing → NoNode, no CREATE
/// on the parent → NoAuth, (sequential suffix, then the full path is validated →
/// BadArguments), NodeExists, ephemeral parent → NoChildrenForEphemerals.
/// Returns the created path and its stat.
pub(crate) fn create(
    store: &mut Store,
    ctx: &TxnCtx,
    path: &str,
    data: &[u8],
    acl: &[Acl],
    mode: CreateMode,
    triggers: &mut Vec<Trigger>,
) -> Checked<(String, Stat)> {
    let (parent_path, _) = split_parent(path).ok_or(ErrorCode::BadArguments)?;
    let acl = fixup_acl(ctx.auth, acl)?;
    let parent = node(store, parent_path)?;
    check_acl(&parent.acl, perms::CREATE, ctx.auth)?;
    // The sequence number is the parent's count of child creates (deletes do not reuse it).
    let path = if mode.is_sequential() {
        format!("{path}{:010}", parent.stat.cversion)
    } else {
        path.to_string()
    };
    validate_server_path(&path)?;
    if store.get(&path).is_some() {
        return Err(ErrorCode::NodeExists);
    }
    if parent.is_ephemeral() {
        return Err(ErrorCode::NoChildrenForEphemerals);
    }

    let parent_path = canonical(parent_path).to_string();
    let parent_acl = parent.acl.clone();
    let new_cversion = parent.stat.cversion.wrapping_add(1);
    let owner = if mode.is_container() {
        Owner::Container
    } else if mode.is_ephemeral() && ctx.session != 0 {
        Owner::Session(ctx.session)
    } else {
        // ZooKeeper stores the requester's session as owner; session 0 (server-internal)
        // therefore makes a persistent node.
        Owner::None
    };
    store.update(&parent_path, |parent| {
        parent.stat.cversion = new_cversion;
        parent.stat.pzxid = ctx.zxid;
    });
    let created = Node::new(
        data.to_vec(),
        acl.clone(),
        PersistedStat::created(ctx.zxid, ctx.time_ms, owner),
    );
    let stat = created.client_stat();
    store.insert(&path, created);
    triggers.push(Trigger::Created {
        path: path.clone(),
        acl,
        parent: parent_path,
        parent_acl,
    });
    Ok((path, stat))
}

/// delete: bad or system path → BadArguments, parent missing → NoNode, no DELETE on the
/// parent → NoAuth, node missing → NoNode, BadVersion, then NotEmpty.
pub(crate) fn delete(
    store: &mut Store,
    ctx: &TxnCtx,
    path: &str,
    version: i32,
    triggers: &mut Vec<Trigger>,
) -> Checked<()> {
    let parent_path = deletable_parent(path)?;
    let parent = node(store, parent_path)?;
    check_acl(&parent.acl, perms::DELETE, ctx.auth)?;
    let target = node(store, path)?;
    check_version(target.stat.version, version)?;
    if !target.children.is_empty() {
        return Err(ErrorCode::NotEmpty);
    }
    remove_node(store, path, ctx.zxid, triggers);
    Ok(())
}

/// The container reaper's delete (`OpCode.deleteContainer`): no ACL or version check; refused
/// with NotEmpty when the node has children again and BadVersion when it is an ephemeral.
/// (Like ZooKeeper, it would delete an empty persistent node that replaced the container.)
pub(crate) fn delete_container(
    store: &mut Store,
    ctx: &TxnCtx,
    path: &str,
    triggers: &mut Vec<Trigger>,
) -> Checked<()> {
    let parent_path = deletable_parent(path)?;
    let target = node(store, path)?;
    if !target.children.is_empty() {
        return Err(ErrorCode::NotEmpty);
    }
    if target.is_ephemeral() {
        return Err(ErrorCode::BadVersion);
    }
    node(store, parent_path)?;
    remove_node(store, path, ctx.zxid, triggers);
    Ok(())
}

/// setData: BadArguments, NoNode, no WRITE → NoAuth, BadVersion. The version goes up even
/// when the data is unchanged.
pub(crate) fn set_data(
    store: &mut Store,
    ctx: &TxnCtx,
    path: &str,
    data: &[u8],
    version: i32,
    triggers: &mut Vec<Trigger>,
) -> Checked<Stat> {
    validate_server_path(path)?;
    let target = node(store, path)?;
    check_acl(&target.acl, perms::WRITE, ctx.auth)?;
    let new_version = check_version(target.stat.version, version)?;
    let acl = target.acl.clone();
    store.update(path, |n| {
        n.data = data.to_vec();
        n.stat.version = new_version;
        n.stat.mtime = ctx.time_ms;
        n.stat.mzxid = ctx.zxid;
    });
    triggers.push(Trigger::DataChanged {
        path: canonical(path).to_string(),
        acl,
    });
    Ok(node(store, path)?.client_stat())
}

/// setACL: BadArguments, InvalidAcl, NoNode, no ADMIN → NoAuth, BadVersion (on aversion).
/// Fires no watch.
pub(crate) fn set_acl(
    store: &mut Store,
    ctx: &TxnCtx,
    path: &str,
    acl: &[Acl],
    version: i32,
) -> Checked<Stat> {
    validate_server_path(path)?;
    let acl = fixup_acl(ctx.auth, acl)?;
    let target = node(store, path)?;
    check_acl(&target.acl, perms::ADMIN, ctx.auth)?;
    let new_aversion = check_version(target.stat.aversion, version)?;
    store.update(path, |n| {
        n.acl = acl;
        n.stat.aversion = new_aversion;
    });
    Ok(node(store, path)?.client_stat())
}

/// check (multi only): BadArguments, NoNode, no READ → NoAuth, BadVersion.
pub(crate) fn check(store: &Store, ctx: &TxnCtx, path: &str, version: i32) -> Checked<()> {
    validate_server_path(path)?;
    let target = node(store, path)?;
    check_acl(&target.acl, perms::READ, ctx.auth)?;
    check_version(target.stat.version, version)?;
    Ok(())
}

/// One op of a multi, seeing the effects of the ops before it.
pub(crate) fn multi_op(
    store: &mut Store,
    ctx: &TxnCtx,
    op: &Op,
    triggers: &mut Vec<Trigger>,
) -> Checked<OpResult> {
    match op {
        Op::Create {
            path,
            data,
            acl,
            mode,
        } => create(store, ctx, path, data, acl, *mode, triggers)
            .map(|(path, stat)| OpResult::Create { path, stat }),
        Op::Delete { path, version } => {
            delete(store, ctx, path, *version, triggers).map(|()| OpResult::Delete)
        }
        Op::SetData {
            path,
            data,
            version,
        } => set_data(store, ctx, path, data, *version, triggers)
            .map(|stat| OpResult::SetData { stat }),
        Op::Check { path, version } => check(store, ctx, path, *version).map(|()| OpResult::Check),
    }
}

/// closeSession: deletes the session's ephemerals in path order under the txn's zxid.
pub(crate) fn close_session(store: &mut Store, ctx: &TxnCtx, triggers: &mut Vec<Trigger>) {
    for path in store.ephemerals_of(ctx.session) {
        remove_node(store, &path, ctx.zxid, triggers);
    }
}

/// `getParentPathAndValidate`: the parent of a path that may be deleted.
fn deletable_parent(path: &str) -> Checked<&str> {
    if is_special_path(path) {
        return Err(ErrorCode::BadArguments);
    }
    split_parent(path)
        .map(|(parent, _)| parent)
        .ok_or(ErrorCode::BadArguments)
}

/// `DataTree.deleteNode`: the parent's pzxid moves forward, its (internal) cversion does not.
fn remove_node(store: &mut Store, path: &str, zxid: Zxid, triggers: &mut Vec<Trigger>) {
    let Some((parent_path, _)) = split_parent(path) else {
        return;
    };
    let parent_path = canonical(parent_path).to_string();
    let Some(removed) = store.remove(path) else {
        return;
    };
    store.update(&parent_path, |parent| {
        if zxid > parent.stat.pzxid {
            parent.stat.pzxid = zxid;
        }
    });
    let parent_acl = store
        .get(&parent_path)
        .map(|parent| parent.acl.clone())
        .unwrap_or_default();
    triggers.push(Trigger::Deleted {
        path: path.to_string(),
        acl: removed.acl,
        parent: parent_path,
        parent_acl,
    });
}
