//! Ensemble faults: sessions moving between servers, zxid-ahead refusal, quorum loss, leader
//! failover. Each runs on a fresh three-server ensemble.

use super::*;

/// Session timeout of sessions that must survive a failover.
const SURVIVING: Duration = Duration::from_secs(6);
/// Scheduling slack on top of ZooKeeper's own bounds.
const LAG: Duration = Duration::from_millis(700);

/// Opens sessions until one lands on a server `wanted` accepts (the client library picks its
/// server at random); the others are closed unrecorded.
async fn session_where<B: Backend>(
    cx: &mut Cx<'_, B>,
    options: &SessionOptions,
    wanted: impl Fn(usize) -> bool,
) -> Result<B::Session, CaseError> {
    for _ in 0..20 {
        let session =
            cx.b.connect(options)
                .await
                .map_err(|e| format!("{}: connect: {e}", cx.b.name()))?;
        if cx.b.server_of(&session).is_some_and(&wanted) {
            cx.r.session(session.session_id());
            return Ok(session);
        }
        let _ = session.close().await;
    }
    Err(format!("{}: no session landed where wanted", cx.b.name()))
}

/// Waits (bounded) until the session is connected again, to a server other than `left`.
async fn reconnected_elsewhere<B: Backend>(
    cx: &Cx<'_, B>,
    session: &B::Session,
    left: usize,
) -> Result<usize, CaseError> {
    let deadline = cx.b.now() + PROMPTLY;
    loop {
        if session.state() == SessionState::SyncConnected
            && let Some(now_on) = cx.b.server_of(session)
            && now_on != left
        {
            return Ok(now_on);
        }
        if cx.b.now() >= deadline {
            return Err(format!(
                "{}: session did not move off server {left}",
                cx.b.name()
            ));
        }
        cx.b.sleep(Duration::from_millis(20)).await;
    }
}

/// The server a connected session is on, waiting (bounded) while the client finishes its
/// handshake there.
async fn current_server<B: Backend>(cx: &Cx<'_, B>, session: &B::Session) -> Option<usize> {
    let deadline = cx.b.now() + PROMPTLY;
    loop {
        if let Some(server) = cx.b.server_of(session) {
            return Some(server);
        }
        if cx.b.now() >= deadline {
            return None;
        }
        cx.b.sleep(Duration::from_millis(10)).await;
    }
}

/// Retries a call that fails with ConnectionLoss while the ensemble recovers (bounded).
async fn retry<B: Backend, T>(
    b: &B,
    mut call: impl AsyncFnMut() -> crate::zk::types::ZkResult<T>,
) -> crate::zk::types::ZkResult<T> {
    let deadline = b.now() + PROMPTLY;
    loop {
        match call().await {
            Err(e) if crate::coord::is_connection_error(e) && b.now() < deadline => {
                b.sleep(Duration::from_millis(50)).await;
            }
            other => return other,
        }
    }
}

pub async fn session_moves_with_ephemerals<B: Backend>(cx: &mut Cx<'_, B>) -> CaseResult {
    let leader = cx.b.leader().await?;
    let s = session_where(cx, &SessionOptions::new(SURVIVING), |i| i != leader).await?;
    let states = cx.follow(&s);
    let first = cx.b.server_of(&s).ok_or("no server")?;
    cx.see(
        "create",
        s.create(&cx.path("e"), b"mine", &mode(EPHEMERAL)).await,
    );
    let killed_at = cx.b.now();
    cx.b.kill(first).await?;
    reconnected_elsewhere(cx, &s, first).await?;
    // A killed server's OS refuses new connections at once: the client moves on promptly.
    let took = cx.b.now() - killed_at;
    cx.see(
        "moved",
        class("reconnect", took, Duration::ZERO, Duration::from_secs(1)),
    );
    cx.see("lasting states", states.lasting(cx.b, &s).await);
    cx.see("ephemeral", s.get_data(&cx.path("e")).await);
    cx.see("write", s.set_data(&cx.path("e"), b"still", None).await);
    let other = cx.session().await?;
    other.sync(cx.root()).await.map_err(|e| e.to_string())?;
    cx.see("seen by another session", other.exists(&cx.path("e")).await);
    Ok(())
}

pub async fn watches_survive_a_move<B: Backend>(cx: &mut Cx<'_, B>) -> CaseResult {
    let leader = cx.b.leader().await?;
    let w = session_where(cx, &SessionOptions::new(SURVIVING), |i| i != leader).await?;
    let first = cx.b.server_of(&w).ok_or("no server")?;
    let others: Vec<usize> = (0..cx.b.servers()).filter(|i| *i != first).collect();
    let s = cx
        .session_with(&SessionOptions::new(RELAXED_TIMEOUT).on(&others))
        .await?;
    let a = cx.path("a");
    s.create(&a, b"v0", &mode(PERSISTENT))
        .await
        .map_err(|e| e.to_string())?;
    w.sync(&a).await.map_err(|e| e.to_string())?;
    let (_, _, data) = w.get_data_watch(&a).await.map_err(|e| e.to_string())?;
    let (_, missing) = w
        .exists_watch(&cx.path("b"))
        .await
        .map_err(|e| e.to_string())?;
    let (_, _, kids) = w.get_children_watch(&a).await.map_err(|e| e.to_string())?;
    let (mut data, mut missing, mut kids) = (
        Pending::new(data),
        Pending::new(missing),
        Pending::new(kids),
    );
    cx.b.kill(first).await?;
    reconnected_elsewhere(cx, &w, first).await?;
    cx.see("no event from the move", data.quiet(cx.b).await);
    cx.see("set", s.set_data(&a, b"v1", None).await);
    cx.see("data watch", data.fired(cx.b).await);
    cx.see(
        "create b",
        s.create(&cx.path("b"), b"", &mode(PERSISTENT)).await,
    );
    cx.see("exists watch", missing.fired(cx.b).await);
    cx.see(
        "create child",
        s.create(&format!("{a}/c"), b"", &mode(PERSISTENT)).await,
    );
    cx.see("child watch", kids.fired(cx.b).await);
    Ok(())
}

pub async fn change_while_disconnected_fires_on_reconnect<B: Backend>(
    cx: &mut Cx<'_, B>,
) -> CaseResult {
    let leader = cx.b.leader().await?;
    let w = session_where(cx, &SessionOptions::new(SURVIVING), |i| i != leader).await?;
    let first = cx.b.server_of(&w).ok_or("no server")?;
    let others: Vec<usize> = (0..cx.b.servers()).filter(|i| *i != first).collect();
    let s = cx
        .session_with(&SessionOptions::new(RELAXED_TIMEOUT).on(&others))
        .await?;
    let a = cx.path("a");
    s.create(&a, b"v0", &mode(PERSISTENT))
        .await
        .map_err(|e| e.to_string())?;
    w.sync(&a).await.map_err(|e| e.to_string())?;
    let (_, _, data) = w.get_data_watch(&a).await.map_err(|e| e.to_string())?;
    let (_, gone) = w
        .exists_watch(&cx.path("b"))
        .await
        .map_err(|e| e.to_string())?;
    let c = cx.path("c");
    s.create(&c, b"", &mode(PERSISTENT))
        .await
        .map_err(|e| e.to_string())?;
    w.sync(&c).await.map_err(|e| e.to_string())?;
    let (_, deleted) = w.exists_watch(&c).await.map_err(|e| e.to_string())?;
    let (_, _, kids) = w.get_children_watch(&a).await.map_err(|e| e.to_string())?;
    let (mut data, mut gone) = (Pending::new(data), Pending::new(gone));
    let (mut deleted, mut kids) = (Pending::new(deleted), Pending::new(kids));
    // The watcher hears nothing while its server dies and the data changes.
    cx.b.freeze(&w).await?;
    cx.b.kill(first).await?;
    cx.see("set while away", s.set_data(&a, b"v1", None).await);
    cx.see(
        "create while away",
        s.create(&cx.path("b"), b"", &mode(PERSISTENT)).await,
    );
    cx.see("delete while away", s.delete(&c, None).await);
    cx.see(
        "child while away",
        s.create(&format!("{a}/k"), b"", &mode(PERSISTENT)).await,
    );
    cx.see(
        "event while frozen",
        data.within(cx.b, Duration::from_millis(200)).await,
    );
    cx.b.thaw(&w).await?;
    reconnected_elsewhere(cx, &w, first).await?;
    cx.see("data watch after reconnect", data.fired(cx.b).await);
    cx.see("exists watch after reconnect", gone.fired(cx.b).await);
    cx.see(
        "deleted node's watch after reconnect",
        deleted.fired(cx.b).await,
    );
    cx.see("child watch after reconnect", kids.fired(cx.b).await);
    cx.see("read", w.get_data(&a).await);
    Ok(())
}

/// A client that has seen zxid Z is never served by a server that has not: a lagging server
/// refuses its connect until it has caught up, so its first read there is not stale. The
/// client writes through follower G while follower F is paused (shorter than syncLimit, so F
/// stays a follower), then G dies and F, resumed, is the client's only way on.
pub async fn zxid_ahead_is_not_served_stale<B: Backend>(cx: &mut Cx<'_, B>) -> CaseResult {
    let leader = cx.b.leader().await?;
    let (via, lagging) = ((leader + 1) % 3, (leader + 2) % 3);
    let options = SessionOptions::new(SURVIVING).on(&[via, lagging]);
    let w = session_where(cx, &options, |i| i == via).await?;
    let states = cx.follow(&w);
    let a = cx.path("a");
    cx.see("create", w.create(&a, b"v0", &mode(PERSISTENT)).await);
    cx.b.pause(lagging).await?;
    cx.see(
        "write the lagging server misses",
        w.set_data(&a, b"v1", None).await,
    );
    cx.see("read", w.get_data(&a).await);
    let killed_at = cx.b.now();
    cx.b.kill(via).await?;
    // The client's reconnect reaches the paused server, which finds it waiting on resume.
    cx.b.sleep(Duration::from_millis(150)).await;
    cx.b.resume(lagging).await?;
    cx.reach(&w, SessionState::SyncConnected).await?;
    let took = cx.b.now() - killed_at;
    cx.see(
        "back",
        class("reconnect", took, Duration::ZERO, Duration::from_secs(1)),
    );
    let now_on = match current_server(cx, &w).await {
        Some(i) if i == lagging => "the lagging server",
        Some(_) => "another server",
        None => "no server",
    };
    cx.see("now on", now_on);
    cx.see("first read there", w.get_data(&a).await);
    cx.see("lasting states", states.lasting(cx.b, &w).await);
    Ok(())
}

pub async fn quorum_loss_fails_writes_and_disconnects<B: Backend>(
    cx: &mut Cx<'_, B>,
) -> CaseResult {
    let leader = cx.b.leader().await?;
    let w = cx
        .session_with(&SessionOptions::new(RELAXED_TIMEOUT).on(&[leader]))
        .await?;
    let states = cx.follow(&w);
    cx.see(
        "create",
        w.create(&cx.path("a"), b"", &mode(PERSISTENT)).await,
    );
    let followers: Vec<usize> = (0..cx.b.servers()).filter(|i| *i != leader).collect();
    for f in &followers {
        cx.b.pause(*f).await?;
    }
    // The leader cannot commit: the write is in flight when it gives up leadership.
    cx.see(
        "write without quorum",
        w.set_data(&cx.path("a"), b"x", None).await,
    );
    cx.reach(&w, SessionState::Disconnected).await?;
    // While no server serves, a call waits (the crate queues it until a reconnect).
    let a = cx.path("a");
    let pending_read = tokio::select! {
        biased;
        result = w.exists(&a) => format!("answered: {result:?}"),
        () = cx.b.sleep(Duration::from_secs(1)) => "no answer in 1s".to_string(),
    };
    cx.see("read while disconnected", pending_read);
    for f in &followers {
        cx.b.resume(*f).await?;
    }
    cx.b.settle().await?;
    cx.reach(&w, SessionState::SyncConnected).await?;
    cx.see(
        "read after recovery",
        retry(cx.b, async || w.get_data(&cx.path("a")).await).await,
    );
    cx.see(
        "write after recovery",
        w.set_data(&cx.path("a"), b"y", None).await,
    );
    cx.see("lasting states", states.lasting(cx.b, &w).await);
    Ok(())
}

pub async fn leader_kill_sessions_survive<B: Backend>(cx: &mut Cx<'_, B>) -> CaseResult {
    let leader = cx.b.leader().await?;
    let s = session_where(cx, &SessionOptions::new(SURVIVING), |i| i != leader).await?;
    let states = cx.follow(&s);
    cx.see(
        "create",
        s.create(&cx.path("e"), b"", &mode(EPHEMERAL)).await,
    );
    let before = s.exists(&cx.path("e")).await.map_err(|e| e.to_string())?;
    cx.b.kill(leader).await?;
    let new_leader = cx.b.leader().await?;
    cx.see("another leader", new_leader != leader);
    cx.reach(&s, SessionState::SyncConnected).await?;
    let write = retry(cx.b, async || {
        s.set_data(&cx.path("e"), b"after", None).await
    })
    .await;
    cx.see("write after failover", write);
    // The new leader's epoch is the next one, and its first transaction counts from 1.
    if let (Some(before), Ok(after)) = (before, write) {
        let epoch = |z: i64| z >> 32;
        cx.see(
            "epoch step",
            (epoch(after.mzxid) - epoch(before.czxid)) as i32,
        );
        cx.see(
            "counter in the new epoch",
            (after.mzxid & 0xffff_ffff) as i32,
        );
    }
    cx.see("ephemeral", s.exists(&cx.path("e")).await);
    cx.see("lasting states", states.lasting(cx.b, &s).await);
    Ok(())
}

/// A new leader gives every session a fresh timeout: a session silent since before the
/// failover expires T after the new leader took over, not T after it went silent.
pub async fn leader_change_restarts_timeouts<B: Backend>(cx: &mut Cx<'_, B>) -> CaseResult {
    let timeout = Duration::from_secs(4);
    let leader = cx.b.leader().await?;
    let victim = session_where(cx, &SessionOptions::new(timeout), |i| i != leader).await?;
    let observer = session_where(cx, &SessionOptions::new(Duration::from_secs(15)), |i| {
        i != leader
    })
    .await?;
    let e = cx.path("e");
    cx.see("create", victim.create(&e, b"", &mode(EPHEMERAL)).await);
    observer.sync(&e).await.map_err(|e| e.to_string())?;
    let (_, watch) = observer.exists_watch(&e).await.map_err(|e| e.to_string())?;
    let mut watch = Pending::new(watch);
    cx.see("last request", victim.exists(&e).await.map(|s| s.is_some()));
    let silent_from = cx.b.now();
    cx.b.freeze(&victim).await?;
    cx.b.sleep(timeout / 2).await;
    cx.b.kill(leader).await?;
    cx.see("deleted", watch.within(cx.b, timeout * 4).await);
    let after = cx.b.now() - silent_from;
    // Without the restart it would go at ~T; with it, no earlier than T/2 + T.
    let lo = timeout / 2 + timeout;
    let hi = lo + Duration::from_secs(5) + cx.b.tick() + LAG;
    cx.see("deletion time", class("T/2+T..+election", after, lo, hi));
    cx.b.thaw(&victim).await?;
    Ok(())
}

/// zookeeper-client gives up on a silent server after 2/5·T (8 ticks of T/20) without any
/// reply, then moves on (to another server, or to the same one once more); the session
/// survives.
pub async fn paused_server_client_moves<B: Backend>(cx: &mut Cx<'_, B>) -> CaseResult {
    let timeout = Duration::from_secs(4);
    let leader = cx.b.leader().await?;
    let s = session_where(cx, &SessionOptions::new(timeout), |i| i != leader).await?;
    let states = cx.follow(&s);
    let first = cx.b.server_of(&s).ok_or("no server")?;
    cx.see(
        "create",
        s.create(&cx.path("e"), b"", &mode(EPHEMERAL)).await,
    );
    cx.see(
        "last request",
        s.exists(&cx.path("e")).await.map(|st| st.is_some()),
    );
    let paused_at = cx.b.now();
    cx.b.pause(first).await?;
    // Measured by the move itself: the Disconnected in between lasts only as long as the
    // reconnect and may never reach a watcher of the state.
    reconnected_elsewhere(cx, &s, first).await?;
    let moved = cx.b.now() - paused_at;
    // The crate's next attempt may go to the paused server again (its endpoint order is
    // random), which costs one more give-up: one or two of them, never less than one.
    let give_up = timeout * 2 / 5;
    let tick = timeout / 20;
    cx.see(
        "moved",
        class(
            "one or two give-ups of 2/5·T",
            moved,
            give_up - Duration::from_millis(20),
            (give_up + tick) * 2 + LAG,
        ),
    );
    cx.see("lasting states", states.lasting(cx.b, &s).await);
    cx.see(
        "ephemeral",
        s.exists(&cx.path("e")).await.map(|st| st.is_some()),
    );
    cx.b.resume(first).await?;
    Ok(())
}

/// zxid-ahead refusal, made deterministic: the whole ensemble loses its disks and starts
/// afresh, so every server is behind the zxid the client has seen. The servers refuse the
/// client's reconnects (they do not even look at its session), so it never hears that its
/// session is gone and expires it itself, 7/5·T after it last heard anything; a new session,
/// which has seen nothing, is welcome.
pub async fn wiped_ensemble_refuses_a_client_from_the_future<B: Backend>(
    cx: &mut Cx<'_, B>,
) -> CaseResult {
    let timeout = Duration::from_secs(12);
    let old = cx.session_with(&SessionOptions::new(timeout)).await?;
    let states = cx.follow(&old);
    let a = cx.path("a");
    cx.see("create", old.create(&a, b"", &mode(PERSISTENT)).await);
    // Move the old ensemble's zxid well past what the new one will reach during the case.
    for i in 0..40 {
        old.set_data(&a, format!("{i}").as_bytes(), None)
            .await
            .map_err(|e| e.to_string())?;
    }
    cx.see("last request", old.exists(&a).await.map(|s| s.is_some()));
    let silent_from = cx.b.now();
    // Frozen while the servers die one by one, so that it cannot hop to a survivor meanwhile.
    cx.b.freeze(&old).await?;
    let all: Vec<usize> = (0..cx.b.servers()).collect();
    for server in &all {
        cx.b.kill(*server).await?;
    }
    for server in &all {
        cx.b.wipe(*server).await?;
    }
    cx.b.restart_all(&all).await?;
    cx.b.thaw(&old).await?;
    let fresh = cx.session().await?;
    cx.see(
        "fresh session sees an empty tree",
        fresh.exists(cx.root()).await,
    );
    cx.reach_within(&old, SessionState::Expired, timeout * 2)
        .await?;
    let after = cx.b.now() - silent_from;
    let local_expiry = timeout * 7 / 5;
    let hi = local_expiry + timeout / 20 + LAG;
    cx.see(
        "old session expired by its client",
        class("7/5·T", after, local_expiry - Duration::from_millis(50), hi),
    );
    cx.see("lasting states", states.lasting(cx.b, &old).await);
    Ok(())
}
