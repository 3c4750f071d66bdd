//! Stat semantics: version, cversion as clients see it, pzxid, ephemeralOwner, numChildren,
//! dataLength, and how zxids are consumed.

use super::*;

pub async fn set_moves_mzxid_and_version<B: Backend>(cx: &mut Cx<'_, B>) -> CaseResult {
    let s = cx.session().await?;
    let a = cx.path("a");
    cx.see("create", s.create(&a, b"12345", &mode(PERSISTENT)).await);
    cx.see("set", s.set_data(&a, b"1", None).await);
    cx.see("set", s.set_data(&a, b"", None).await);
    cx.see("stat", s.exists(&a).await);
    Ok(())
}

pub async fn child_create_and_delete_move_pzxid<B: Backend>(cx: &mut Cx<'_, B>) -> CaseResult {
    let s = cx.session().await?;
    let p = cx.path("p");
    cx.see("create parent", s.create(&p, b"", &mode(PERSISTENT)).await);
    cx.see(
        "create child",
        s.create(&cx.path("p/c"), b"", &mode(PERSISTENT)).await,
    );
    cx.see("parent after create", s.exists(&p).await);
    cx.see("set child", s.set_data(&cx.path("p/c"), b"x", None).await);
    cx.see("parent after child set", s.exists(&p).await);
    cx.see("set parent", s.set_data(&p, b"y", None).await);
    cx.see("delete child", s.delete(&cx.path("p/c"), None).await);
    cx.see("parent after delete", s.exists(&p).await);
    Ok(())
}

pub async fn cversion_counts_creates_and_deletes<B: Backend>(cx: &mut Cx<'_, B>) -> CaseResult {
    let s = cx.session().await?;
    let p = cx.make(&s, "p", PERSISTENT).await?;
    for name in ["a", "b", "c"] {
        cx.make(&s, &format!("p/{name}"), PERSISTENT).await?;
    }
    cx.see("after 3 creates", s.exists(&p).await);
    s.delete(&cx.path("p/a"), None)
        .await
        .map_err(|e| e.to_string())?;
    cx.see("after a delete", s.exists(&p).await);
    cx.see(
        "failed child create",
        s.create(&cx.path("p/b"), b"", &mode(PERSISTENT)).await,
    );
    cx.see("after a failed create", s.exists(&p).await);
    cx.see(
        "failed child delete",
        s.delete(&cx.path("p/zz"), None).await,
    );
    cx.see("after a failed delete", s.exists(&p).await);
    cx.see(
        "ephemeral child",
        s.create(&cx.path("p/e"), b"", &mode(EPHEMERAL)).await,
    );
    cx.see("after ephemeral", s.get_children(&p).await);
    Ok(())
}

pub async fn ephemeral_owner_is_the_session<B: Backend>(cx: &mut Cx<'_, B>) -> CaseResult {
    let first = cx.session().await?;
    let second = cx.session().await?;
    cx.see(
        "first's",
        first.create(&cx.path("e1"), b"", &mode(EPHEMERAL)).await,
    );
    cx.see(
        "second's",
        second.create(&cx.path("e2"), b"", &mode(ESEQ)).await,
    );
    first.sync(cx.root()).await.map_err(|e| e.to_string())?;
    cx.see(
        "second's seen by first",
        first.get_children(cx.root()).await,
    );
    cx.see(
        "persistent",
        first.create(&cx.path("p"), b"", &mode(PERSISTENT)).await,
    );
    Ok(())
}

pub async fn failed_writes_consume_zxids<B: Backend>(cx: &mut Cx<'_, B>) -> CaseResult {
    let s = cx.session().await?;
    let (_, first) = s
        .create(&cx.path("a"), b"", &mode(PERSISTENT))
        .await
        .map_err(|e| e.to_string())?;
    cx.see(
        "exists",
        s.create(&cx.path("a"), b"", &mode(PERSISTENT)).await,
    );
    cx.see("bad version", s.set_data(&cx.path("a"), b"", Some(9)).await);
    cx.see("no node", s.delete(&cx.path("nope"), None).await);
    cx.see("read", s.get_data(&cx.path("a")).await.map(|_| ()));
    let (_, second) = s
        .create(&cx.path("b"), b"", &mode(PERSISTENT))
        .await
        .map_err(|e| e.to_string())?;
    cx.see(
        "zxids between the successes",
        (second.czxid - first.czxid) as i32,
    );
    Ok(())
}

pub async fn zxids_increase_across_sessions<B: Backend>(cx: &mut Cx<'_, B>) -> CaseResult {
    let one = cx.session().await?;
    let two = cx.session().await?;
    cx.see(
        "one creates",
        one.create(&cx.path("a"), b"", &mode(PERSISTENT)).await,
    );
    cx.see(
        "two creates",
        two.create(&cx.path("b"), b"", &mode(PERSISTENT)).await,
    );
    cx.see("one sets b", one.set_data(&cx.path("b"), b"x", None).await);
    two.sync(cx.root()).await.map_err(|e| e.to_string())?;
    cx.see("two reads b", two.get_data(&cx.path("b")).await);
    cx.see("root", two.exists(cx.root()).await);
    Ok(())
}

pub async fn container_stat<B: Backend>(cx: &mut Cx<'_, B>) -> CaseResult {
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
    cx.see("stat", s.exists(&c).await);
    Ok(())
}
