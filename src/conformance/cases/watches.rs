//! One-shot watches of each kind, what fires them, and their order relative to reads.

use super::*;

/// A watcher session and a writer session, and a node `a` with data "v0".
async fn two_sessions<B: Backend>(
    cx: &mut Cx<'_, B>,
) -> Result<(B::Session, B::Session, String), CaseError> {
    let watcher = cx.session().await?;
    let writer = cx.session().await?;
    let a = cx.path("a");
    writer
        .create(&a, b"v0", &mode(PERSISTENT))
        .await
        .map_err(|e| format!("setup: {e}"))?;
    // The watcher's server must know the node before the watcher reads it.
    watcher.sync(&a).await.map_err(|e| format!("setup: {e}"))?;
    Ok((watcher, writer, a))
}

fn pending<T>(result: crate::zk::types::ZkResult<(T, Watch)>) -> Result<(T, Pending), CaseError> {
    result
        .map(|(value, watch)| (value, Pending::new(watch)))
        .map_err(|e| format!("watch call failed: {e}"))
}

fn pending3<T, U>(
    result: crate::zk::types::ZkResult<(T, U, Watch)>,
) -> Result<(T, U, Pending), CaseError> {
    result
        .map(|(t, u, watch)| (t, u, Pending::new(watch)))
        .map_err(|e| format!("watch call failed: {e}"))
}

pub async fn data_watch_on_set<B: Backend>(cx: &mut Cx<'_, B>) -> CaseResult {
    let (w, s, a) = two_sessions(cx).await?;
    let (data, stat, mut watch) = pending3(w.get_data_watch(&a).await)?;
    cx.see("read", (data, stat));
    cx.see("set", s.set_data(&a, b"v1", None).await);
    cx.see("event", watch.fired(cx.b).await);
    Ok(())
}

pub async fn data_watch_on_delete<B: Backend>(cx: &mut Cx<'_, B>) -> CaseResult {
    let (w, s, a) = two_sessions(cx).await?;
    let (_, _, mut watch) = pending3(w.get_data_watch(&a).await)?;
    cx.see("delete", s.delete(&a, None).await);
    cx.see("event", watch.fired(cx.b).await);
    Ok(())
}

pub async fn exists_watch_on_create<B: Backend>(cx: &mut Cx<'_, B>) -> CaseResult {
    let (w, s, _) = two_sessions(cx).await?;
    let b = cx.path("b");
    let (stat, mut watch) = pending(w.exists_watch(&b).await)?;
    cx.see("exists", stat);
    cx.see("create", s.create(&b, b"", &mode(PERSISTENT)).await);
    cx.see("event", watch.fired(cx.b).await);
    Ok(())
}

pub async fn exists_watch_on_set<B: Backend>(cx: &mut Cx<'_, B>) -> CaseResult {
    let (w, s, a) = two_sessions(cx).await?;
    let (stat, mut watch) = pending(w.exists_watch(&a).await)?;
    cx.see("exists", stat);
    cx.see("set", s.set_data(&a, b"v1", None).await);
    cx.see("event", watch.fired(cx.b).await);
    Ok(())
}

pub async fn exists_watch_on_delete<B: Backend>(cx: &mut Cx<'_, B>) -> CaseResult {
    let (w, s, a) = two_sessions(cx).await?;
    let (_, mut watch) = pending(w.exists_watch(&a).await)?;
    cx.see("delete", s.delete(&a, None).await);
    cx.see("event", watch.fired(cx.b).await);
    Ok(())
}

pub async fn child_watch_on_create<B: Backend>(cx: &mut Cx<'_, B>) -> CaseResult {
    let (w, s, a) = two_sessions(cx).await?;
    let (kids, stat, mut watch) = pending3(w.get_children_watch(&a).await)?;
    cx.see("children", (kids, stat));
    cx.see(
        "create child",
        s.create(&format!("{a}/c"), b"", &mode(PERSISTENT)).await,
    );
    cx.see("event", watch.fired(cx.b).await);
    Ok(())
}

pub async fn child_watch_on_child_delete<B: Backend>(cx: &mut Cx<'_, B>) -> CaseResult {
    let (w, s, a) = two_sessions(cx).await?;
    let child = format!("{a}/c");
    s.create(&child, b"", &mode(PERSISTENT))
        .await
        .map_err(|e| e.to_string())?;
    w.sync(&a).await.map_err(|e| e.to_string())?;
    let (kids, _, mut watch) = pending3(w.get_children_watch(&a).await)?;
    cx.see("children", kids);
    cx.see("delete child", s.delete(&child, None).await);
    cx.see("event", watch.fired(cx.b).await);
    Ok(())
}

pub async fn child_watch_on_parent_delete<B: Backend>(cx: &mut Cx<'_, B>) -> CaseResult {
    let (w, s, a) = two_sessions(cx).await?;
    let (_, _, mut watch) = pending3(w.get_children_watch(&a).await)?;
    cx.see("delete parent", s.delete(&a, None).await);
    cx.see("event", watch.fired(cx.b).await);
    Ok(())
}

pub async fn child_watch_ignores_child_data<B: Backend>(cx: &mut Cx<'_, B>) -> CaseResult {
    let (w, s, a) = two_sessions(cx).await?;
    let child = format!("{a}/c");
    s.create(&child, b"", &mode(PERSISTENT))
        .await
        .map_err(|e| e.to_string())?;
    w.sync(&a).await.map_err(|e| e.to_string())?;
    let (_, _, mut watch) = pending3(w.get_children_watch(&a).await)?;
    cx.see("set child", s.set_data(&child, b"x", None).await);
    cx.see("set parent", s.set_data(&a, b"x", None).await);
    cx.see("event after data changes", watch.quiet(cx.b).await);
    cx.see(
        "second child",
        s.create(&format!("{a}/d"), b"", &mode(PERSISTENT)).await,
    );
    cx.see("event", watch.fired(cx.b).await);
    Ok(())
}

pub async fn data_watch_ignores_children<B: Backend>(cx: &mut Cx<'_, B>) -> CaseResult {
    let (w, s, a) = two_sessions(cx).await?;
    let (_, _, mut watch) = pending3(w.get_data_watch(&a).await)?;
    cx.see(
        "create child",
        s.create(&format!("{a}/c"), b"", &mode(PERSISTENT)).await,
    );
    cx.see("event after child create", watch.quiet(cx.b).await);
    cx.see("set", s.set_data(&a, b"v1", None).await);
    cx.see("event", watch.fired(cx.b).await);
    Ok(())
}

pub async fn watch_is_one_shot<B: Backend>(cx: &mut Cx<'_, B>) -> CaseResult {
    let (w, s, a) = two_sessions(cx).await?;
    let (_, _, mut first) = pending3(w.get_data_watch(&a).await)?;
    cx.see("set 1", s.set_data(&a, b"v1", None).await);
    cx.see("first event", first.fired(cx.b).await);
    // A second registration after the first fired sees only later changes.
    let (data, _, mut second) = pending3(w.get_data_watch(&a).await)?;
    cx.see("re-read", data);
    cx.see("second before any change", second.quiet(cx.b).await);
    cx.see("set 2", s.set_data(&a, b"v2", None).await);
    cx.see("second event", second.fired(cx.b).await);
    Ok(())
}

pub async fn watch_fires_before_read_sees_change<B: Backend>(cx: &mut Cx<'_, B>) -> CaseResult {
    let (w, s, a) = two_sessions(cx).await?;
    let (_, _, mut watch) = pending3(w.get_data_watch(&a).await)?;
    cx.see("set", s.set_data(&a, b"v1", None).await);
    // Once the watcher can read the new value, its notification has already arrived: the
    // server sends it before any later reply on the same connection.
    cx.see("sync", w.sync(&a).await);
    cx.see("read", w.get_data(&a).await);
    // A few milliseconds let the adapter's forwarding task hand the event over.
    cx.see(
        "event by then",
        watch.within(cx.b, Duration::from_millis(50)).await,
    );
    Ok(())
}

pub async fn several_watches_one_change<B: Backend>(cx: &mut Cx<'_, B>) -> CaseResult {
    let (w, s, a) = two_sessions(cx).await?;
    let (_, _, mut data) = pending3(w.get_data_watch(&a).await)?;
    let (_, _, mut data_again) = pending3(w.get_data_watch(&a).await)?;
    let (_, mut exists) = pending(w.exists_watch(&a).await)?;
    let (_, _, mut children) = pending3(w.get_children_watch(&a).await)?;
    cx.see("delete", s.delete(&a, None).await);
    cx.see("data watch", data.fired(cx.b).await);
    cx.see("second data watch", data_again.fired(cx.b).await);
    cx.see("exists watch", exists.fired(cx.b).await);
    cx.see("child watch", children.fired(cx.b).await);
    Ok(())
}

pub async fn watches_of_two_sessions<B: Backend>(cx: &mut Cx<'_, B>) -> CaseResult {
    let (w, s, a) = two_sessions(cx).await?;
    let third = cx.session().await?;
    third.sync(&a).await.map_err(|e| e.to_string())?;
    let (_, _, mut one) = pending3(w.get_data_watch(&a).await)?;
    let (_, mut two) = pending(third.exists_watch(&a).await)?;
    cx.see("set", s.set_data(&a, b"v1", None).await);
    cx.see("first session", one.fired(cx.b).await);
    cx.see("second session", two.fired(cx.b).await);
    Ok(())
}

pub async fn multi_fires_each_watch_once<B: Backend>(cx: &mut Cx<'_, B>) -> CaseResult {
    use crate::zk::types::{Acl, Op};
    let (w, s, a) = two_sessions(cx).await?;
    let (_, _, mut data) = pending3(w.get_data_watch(&a).await)?;
    let (_, _, mut children) = pending3(w.get_children_watch(&a).await)?;
    let ops = vec![
        Op::Create {
            path: format!("{a}/c"),
            data: Vec::new(),
            acl: Acl::open_unsafe(),
            mode: PERSISTENT,
        },
        Op::SetData {
            path: a.clone(),
            data: b"v1".to_vec(),
            version: 0,
        },
        Op::SetData {
            path: a.clone(),
            data: b"v2".to_vec(),
            version: 1,
        },
    ];
    cx.see("multi", s.multi(ops).await);
    cx.see("data watch", data.fired(cx.b).await);
    cx.see("child watch", children.fired(cx.b).await);
    Ok(())
}

pub async fn failed_read_sets_no_data_watch<B: Backend>(cx: &mut Cx<'_, B>) -> CaseResult {
    let (w, s, _) = two_sessions(cx).await?;
    let b = cx.path("b");
    cx.see(
        "get_data_watch missing",
        w.get_data_watch(&b).await.map(|(d, st, _)| (d, st)),
    );
    cx.see(
        "get_children_watch missing",
        w.get_children_watch(&b).await.map(|(k, st, _)| (k, st)),
    );
    // The exists watch set now is the only one: the create fires it once.
    let (_, mut exists) = pending(w.exists_watch(&b).await)?;
    cx.see("create", s.create(&b, b"", &mode(PERSISTENT)).await);
    cx.see("exists watch", exists.fired(cx.b).await);
    Ok(())
}

pub async fn own_write_fires_own_watch<B: Backend>(cx: &mut Cx<'_, B>) -> CaseResult {
    let s = cx.session().await?;
    let a = cx.make(&s, "a", PERSISTENT).await?;
    let (_, _, mut watch) = pending3(s.get_data_watch(&a).await)?;
    cx.see("own set", s.set_data(&a, b"x", None).await);
    cx.see("event", watch.fired(cx.b).await);
    Ok(())
}
