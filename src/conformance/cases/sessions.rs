//! Session ends: close, expiry of a client that stops pinging, and container reaping.

use super::*;

/// Session timeout of the expiry cases: short, so the real part stays fast.
const SHORT: Duration = Duration::from_millis(2000);
/// Scheduling slack on top of ZooKeeper's own bounds (a loaded machine, JVM pauses).
const LAG: Duration = Duration::from_millis(700);

pub async fn ephemeral_goes_on_close<B: Backend>(cx: &mut Cx<'_, B>) -> CaseResult {
    let owner = cx.session().await?;
    let other = cx.session().await?;
    cx.see(
        "create",
        owner.create(&cx.path("e"), b"", &mode(EPHEMERAL)).await,
    );
    cx.see(
        "create seq",
        owner.create(&cx.path("s-"), b"", &mode(ESEQ)).await,
    );
    cx.see("close", owner.close().await);
    cx.see("sync", other.sync(cx.root()).await);
    cx.see("e after close", other.exists(&cx.path("e")).await);
    cx.see("root after close", other.get_children(cx.root()).await);
    cx.see("root stat", other.exists(cx.root()).await);
    Ok(())
}

pub async fn close_fires_other_sessions_watches<B: Backend>(cx: &mut Cx<'_, B>) -> CaseResult {
    let owner = cx.session().await?;
    let other = cx.session().await?;
    let e = cx.path("e");
    cx.see("create", owner.create(&e, b"", &mode(EPHEMERAL)).await);
    other.sync(&e).await.map_err(|e| e.to_string())?;
    let (_, watch) = other.exists_watch(&e).await.map_err(|e| e.to_string())?;
    let (_, _, children) = other
        .get_children_watch(cx.root())
        .await
        .map_err(|e| e.to_string())?;
    let (mut watch, mut children) = (Pending::new(watch), Pending::new(children));
    cx.see("close", owner.close().await);
    cx.see("exists watch", watch.fired(cx.b).await);
    cx.see("child watch", children.fired(cx.b).await);
    Ok(())
}

pub async fn closed_session_refuses_calls<B: Backend>(cx: &mut Cx<'_, B>) -> CaseResult {
    let s = cx.session().await?;
    let states = cx.follow(&s);
    cx.see("close", s.close().await);
    cx.see("state", s.state());
    cx.see("get after close", s.get_data(cx.root()).await);
    cx.see(
        "create after close",
        s.create(&cx.path("x"), b"", &mode(PERSISTENT)).await,
    );
    cx.see("close again", s.close().await);
    cx.b.sleep(QUIET).await;
    cx.see("lasting states", states.lasting(cx.b, &s).await);
    Ok(())
}

pub async fn close_deletes_only_own_ephemerals<B: Backend>(cx: &mut Cx<'_, B>) -> CaseResult {
    let one = cx.session().await?;
    let two = cx.session().await?;
    cx.see(
        "one's",
        one.create(&cx.path("one"), b"", &mode(EPHEMERAL)).await,
    );
    cx.see(
        "two's",
        two.create(&cx.path("two"), b"", &mode(EPHEMERAL)).await,
    );
    cx.see(
        "one's persistent",
        one.create(&cx.path("kept"), b"", &mode(PERSISTENT)).await,
    );
    cx.see("close one", one.close().await);
    two.sync(cx.root()).await.map_err(|e| e.to_string())?;
    cx.see("left", two.get_children(cx.root()).await);
    Ok(())
}

pub async fn own_watch_on_close<B: Backend>(cx: &mut Cx<'_, B>) -> CaseResult {
    let s = cx.session().await?;
    let a = cx.make(&s, "a", PERSISTENT).await?;
    let (_, _, watch) = s.get_data_watch(&a).await.map_err(|e| e.to_string())?;
    let mut watch = Pending::new(watch);
    cx.see("close", s.close().await);
    cx.see("own watch", watch.fired(cx.b).await);
    Ok(())
}

/// A client that stops pinging: the ensemble expires its session between T and
/// T + tick (expiry buckets) after it last heard from it, and deletes its ephemerals.
pub async fn ephemeral_goes_on_expiry<B: Backend>(cx: &mut Cx<'_, B>) -> CaseResult {
    let victim = cx.session_with(&SessionOptions::new(SHORT)).await?;
    let observer = cx.session().await?;
    let e = cx.path("lock");
    cx.see("create", victim.create(&e, b"", &mode(EPHEMERAL)).await);
    observer.sync(&e).await.map_err(|e| e.to_string())?;
    let (_, watch) = observer.exists_watch(&e).await.map_err(|e| e.to_string())?;
    let mut watch = Pending::new(watch);
    // The ensemble hears from the victim no later than this request's answer.
    cx.see("last request", victim.exists(&e).await.map(|s| s.is_some()));
    let silent_from = cx.b.now();
    cx.b.freeze(&victim).await?;
    cx.see("deleted", watch.within(cx.b, SHORT * 3).await);
    let after = cx.b.now() - silent_from;
    let lo = SHORT.saturating_sub(Duration::from_millis(20));
    let hi = SHORT + cx.b.tick() + LAG;
    cx.see("deletion time", class("T..T+tick+lag", after, lo, hi));
    cx.see("exists", observer.exists(&e).await);
    cx.b.thaw(&victim).await?;
    Ok(())
}

pub async fn expired_session_states<B: Backend>(cx: &mut Cx<'_, B>) -> CaseResult {
    let victim = cx.session_with(&SessionOptions::new(SHORT)).await?;
    let states = cx.follow(&victim);
    let e = cx.path("e");
    let (_, watch) = victim.exists_watch(&e).await.map_err(|e| e.to_string())?;
    let mut watch = Pending::new(watch);
    // The client hears from the ensemble no later than this answer.
    cx.see(
        "last request",
        victim.exists(cx.root()).await.map(|s| s.is_some()),
    );
    let silent_from = cx.b.now();
    cx.b.freeze(&victim).await?;
    cx.see("own watch", watch.within(cx.b, SHORT * 4).await);
    cx.reach(&victim, SessionState::Expired).await?;
    // zookeeper-client declares its session expired 7/5·T after it last heard anything.
    let after = cx.b.now() - silent_from;
    let local_expiry = SHORT * 7 / 5;
    let hi = local_expiry + SHORT / 20 + LAG;
    cx.see(
        "client-side expiry",
        class("7/5·T", after, local_expiry - Duration::from_millis(20), hi),
    );
    cx.b.thaw(&victim).await?;
    cx.b.sleep(QUIET).await;
    cx.see("lasting states", states.lasting(cx.b, &victim).await);
    cx.see("call after expiry", victim.get_data(cx.root()).await);
    cx.see("close after expiry", victim.close().await);
    Ok(())
}

/// The suite's ensembles reap containers every [`super::super::CONTAINER_CHECK`].
pub async fn container_deleted_when_emptied<B: Backend>(cx: &mut Cx<'_, B>) -> CaseResult {
    let s = cx.session().await?;
    let c = cx.path("c");
    cx.see(
        "create container",
        s.create(&c, b"", &mode(CONTAINER)).await,
    );
    cx.see(
        "child",
        s.create(&cx.path("c/x"), b"", &mode(PERSISTENT)).await,
    );
    let (_, watch) = s.exists_watch(&c).await.map_err(|e| e.to_string())?;
    let mut watch = Pending::new(watch);
    cx.see("delete child", s.delete(&cx.path("c/x"), None).await);
    cx.see("container deleted", watch.fired(cx.b).await);
    cx.see("exists", s.exists(&c).await);
    Ok(())
}

pub async fn container_never_filled_stays<B: Backend>(cx: &mut Cx<'_, B>) -> CaseResult {
    let s = cx.session().await?;
    let c = cx.path("c");
    cx.see(
        "create container",
        s.create(&c, b"", &mode(CONTAINER)).await,
    );
    let (_, watch) = s.exists_watch(&c).await.map_err(|e| e.to_string())?;
    let mut watch = Pending::new(watch);
    cx.see(
        "event in three check intervals",
        watch.within(cx.b, super::super::CONTAINER_CHECK * 3).await,
    );
    cx.see("exists", s.exists(&c).await);
    Ok(())
}

/// The lock recipe the election builds on: ephemeral sequential members, each watching its
/// predecessor; the predecessor's session ends and the next one is told.
pub async fn lock_recipe_predecessor_watch<B: Backend>(cx: &mut Cx<'_, B>) -> CaseResult {
    let first = cx.session().await?;
    let second = cx.session().await?;
    let third = cx.session().await?;
    cx.make(&first, "lock", PERSISTENT).await?;
    let prefix = cx.path("lock/member-");
    let mut names = Vec::new();
    for (label, s) in [("first", &first), ("second", &second), ("third", &third)] {
        let created = s.create(&prefix, b"", &mode(ESEQ)).await;
        cx.see(label, created.clone());
        names.push(created.map_err(|e| e.to_string())?.0);
    }
    second.sync(&names[0]).await.map_err(|e| e.to_string())?;
    let (_, watch) = second
        .exists_watch(&names[0])
        .await
        .map_err(|e| e.to_string())?;
    let (_, third_watch) = third
        .exists_watch(&names[1])
        .await
        .map_err(|e| e.to_string())?;
    let (mut watch, mut third_watch) = (Pending::new(watch), Pending::new(third_watch));
    cx.see("first leaves", first.close().await);
    cx.see("second told", watch.fired(cx.b).await);
    cx.see("third not told", third_watch.quiet(cx.b).await);
    second.sync(cx.root()).await.map_err(|e| e.to_string())?;
    cx.see("members", second.get_children(&cx.path("lock")).await);
    Ok(())
}
