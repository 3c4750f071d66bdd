//! Every operation and its errors, in ZooKeeper's check order.

use super::*;
use crate::zk::types::Acl;

pub async fn create_returns_path_and_stat<B: Backend>(cx: &mut Cx<'_, B>) -> CaseResult {
    let s = cx.session().await?;
    let a = cx.path("a");
    cx.see("create", s.create(&a, b"v0", &mode(PERSISTENT)).await);
    cx.see("get_data", s.get_data(&a).await);
    cx.see("exists", s.exists(&a).await);
    cx.see("children of root", s.get_children(cx.root()).await);
    Ok(())
}

pub async fn create_existing_node<B: Backend>(cx: &mut Cx<'_, B>) -> CaseResult {
    let s = cx.session().await?;
    let a = cx.path("a");
    cx.see("create", s.create(&a, b"1", &mode(PERSISTENT)).await);
    cx.see("create again", s.create(&a, b"2", &mode(PERSISTENT)).await);
    cx.see(
        "create again ephemeral",
        s.create(&a, b"3", &mode(EPHEMERAL)).await,
    );
    cx.see("data kept", s.get_data(&a).await);
    Ok(())
}

pub async fn create_without_parent<B: Backend>(cx: &mut Cx<'_, B>) -> CaseResult {
    let s = cx.session().await?;
    cx.see(
        "create /missing/child",
        s.create(&cx.path("missing/child"), b"", &mode(PERSISTENT))
            .await,
    );
    cx.see(
        "sequential without parent",
        s.create(&cx.path("missing/seq-"), b"", &mode(PSEQ)).await,
    );
    cx.see("nothing created", s.get_children(cx.root()).await);
    Ok(())
}

pub async fn create_under_ephemeral<B: Backend>(cx: &mut Cx<'_, B>) -> CaseResult {
    let s = cx.session().await?;
    let e = cx.path("e");
    cx.see(
        "create ephemeral",
        s.create(&e, b"", &mode(EPHEMERAL)).await,
    );
    for (label, m) in [
        ("persistent child", PERSISTENT),
        ("ephemeral child", EPHEMERAL),
        ("sequential child", PSEQ),
    ] {
        cx.see(label, s.create(&format!("{e}/c"), b"", &mode(m)).await);
    }
    cx.see("parent stat", s.exists(&e).await);
    Ok(())
}

pub async fn create_bad_paths<B: Backend>(cx: &mut Cx<'_, B>) -> CaseResult {
    let s = cx.session().await?;
    let root = cx.root().to_string();
    for (label, path) in [
        ("relative", "relative".to_string()),
        ("trailing slash", format!("{root}/x/")),
        ("double slash", format!("{root}//x")),
        ("dot", format!("{root}/./x")),
        ("dot dot", format!("{root}/../x")),
        ("empty", String::new()),
    ] {
        cx.see(label, s.create(&path, b"", &mode(PERSISTENT)).await);
    }
    cx.see("nothing created", s.get_children(&root).await);
    Ok(())
}

pub async fn create_empty_acl<B: Backend>(cx: &mut Cx<'_, B>) -> CaseResult {
    let s = cx.session().await?;
    let options = mode(PERSISTENT).with_acl(Vec::<Acl>::new());
    cx.see(
        "create with no ACL",
        s.create(&cx.path("a"), b"", &options).await,
    );
    cx.see("exists", s.exists(&cx.path("a")).await);
    Ok(())
}

pub async fn delete_errors_in_check_order<B: Backend>(cx: &mut Cx<'_, B>) -> CaseResult {
    let s = cx.session().await?;
    let p = cx.make(&s, "p", PERSISTENT).await?;
    cx.make(&s, "p/c", PERSISTENT).await?;
    cx.see("delete missing", s.delete(&cx.path("nope"), None).await);
    cx.see(
        "delete missing, bad version",
        s.delete(&cx.path("nope"), Some(5)).await,
    );
    cx.see("delete non-empty, bad version", s.delete(&p, Some(5)).await);
    cx.see(
        "delete non-empty, right version",
        s.delete(&p, Some(0)).await,
    );
    cx.see("delete non-empty, any version", s.delete(&p, None).await);
    cx.see(
        "delete child, bad version",
        s.delete(&cx.path("p/c"), Some(1)).await,
    );
    cx.see("delete child", s.delete(&cx.path("p/c"), Some(0)).await);
    cx.see("delete emptied parent", s.delete(&p, Some(0)).await);
    cx.see("delete again", s.delete(&p, None).await);
    Ok(())
}

pub async fn delete_then_recreate<B: Backend>(cx: &mut Cx<'_, B>) -> CaseResult {
    let s = cx.session().await?;
    let a = cx.path("a");
    cx.see("create", s.create(&a, b"one", &mode(PERSISTENT)).await);
    cx.see("set", s.set_data(&a, b"two", None).await);
    cx.see("delete", s.delete(&a, Some(1)).await);
    cx.see("exists after delete", s.exists(&a).await);
    cx.see("recreate", s.create(&a, b"three", &mode(PERSISTENT)).await);
    cx.see("get", s.get_data(&a).await);
    cx.see("root stat", s.exists(cx.root()).await);
    Ok(())
}

pub async fn set_data_errors_and_versions<B: Backend>(cx: &mut Cx<'_, B>) -> CaseResult {
    let s = cx.session().await?;
    let a = cx.path("a");
    cx.see(
        "set missing",
        s.set_data(&cx.path("nope"), b"x", None).await,
    );
    cx.see(
        "set missing, bad version",
        s.set_data(&cx.path("nope"), b"x", Some(3)).await,
    );
    cx.make(&s, "a", PERSISTENT).await?;
    cx.see("set v0", s.set_data(&a, b"x", Some(0)).await);
    cx.see("set stale version", s.set_data(&a, b"y", Some(0)).await);
    cx.see("set any version", s.set_data(&a, b"y", None).await);
    cx.see("set same data", s.set_data(&a, b"y", Some(2)).await);
    cx.see(
        "set version -1 explicitly",
        s.set_data(&a, b"z", Some(-1)).await,
    );
    cx.see("get", s.get_data(&a).await);
    Ok(())
}

pub async fn reads_of_missing_nodes<B: Backend>(cx: &mut Cx<'_, B>) -> CaseResult {
    let s = cx.session().await?;
    let nope = cx.path("nope");
    cx.see("get_data", s.get_data(&nope).await);
    cx.see("exists", s.exists(&nope).await);
    cx.see("get_children", s.get_children(&nope).await);
    cx.see("get_acl", s.get_acl(&nope).await);
    cx.see("get_data bad path", s.get_data("nope").await);
    Ok(())
}

pub async fn get_children_and_parent_stat<B: Backend>(cx: &mut Cx<'_, B>) -> CaseResult {
    let s = cx.session().await?;
    let p = cx.make(&s, "p", PERSISTENT).await?;
    cx.see("no children", s.get_children(&p).await);
    for name in ["c", "a", "b"] {
        cx.make(&s, &format!("p/{name}"), PERSISTENT).await?;
    }
    cx.make(&s, "p/a/deeper", PERSISTENT).await?;
    cx.see("three children", s.get_children(&p).await);
    cx.see("leaf children", s.get_children(&cx.path("p/c")).await);
    Ok(())
}

pub async fn get_acl_of_open_node<B: Backend>(cx: &mut Cx<'_, B>) -> CaseResult {
    let s = cx.session().await?;
    let a = cx.make(&s, "a", PERSISTENT).await?;
    cx.see("get_acl", s.get_acl(&a).await);
    let r = cx.path("r");
    let read_only = mode(PERSISTENT).with_acl(Acl::read_unsafe());
    cx.see("create read-only", s.create(&r, b"", &read_only).await);
    cx.see("get_acl read-only", s.get_acl(&r).await);
    Ok(())
}

pub async fn sequential_names_count_creations<B: Backend>(cx: &mut Cx<'_, B>) -> CaseResult {
    let s = cx.session().await?;
    cx.make(&s, "q", PERSISTENT).await?;
    let prefix = cx.path("q/n-");
    for i in 0..3 {
        cx.see(
            &format!("sequential {i}"),
            s.create(&prefix, b"", &mode(PSEQ)).await,
        );
    }
    cx.see(
        "plain child",
        s.create(&cx.path("q/plain"), b"", &mode(PERSISTENT)).await,
    );
    cx.see(
        "sequential after plain",
        s.create(&prefix, b"", &mode(PSEQ)).await,
    );
    cx.see(
        "other prefix",
        s.create(&cx.path("q/m-"), b"", &mode(PSEQ)).await,
    );
    cx.see("children", s.get_children(&cx.path("q")).await);
    Ok(())
}

pub async fn sequential_names_across_deletes<B: Backend>(cx: &mut Cx<'_, B>) -> CaseResult {
    let s = cx.session().await?;
    cx.make(&s, "q", PERSISTENT).await?;
    let prefix = cx.path("q/n-");
    let (first, _) = s
        .create(&prefix, b"", &mode(PSEQ))
        .await
        .map_err(|e| e.to_string())?;
    cx.see("first", first.clone());
    cx.see("second", s.create(&prefix, b"", &mode(PSEQ)).await);
    cx.see("delete first", s.delete(&first, None).await);
    cx.see("third", s.create(&prefix, b"", &mode(PSEQ)).await);
    cx.see(
        "failed create",
        s.create(&cx.path("q/x/y"), b"", &mode(PERSISTENT)).await,
    );
    cx.see("fourth", s.create(&prefix, b"", &mode(PSEQ)).await);
    cx.see("parent", s.exists(&cx.path("q")).await);
    Ok(())
}

pub async fn sequential_ephemeral_names<B: Backend>(cx: &mut Cx<'_, B>) -> CaseResult {
    let s = cx.session().await?;
    let other = cx.session().await?;
    cx.make(&s, "q", PERSISTENT).await?;
    let prefix = cx.path("q/lock-");
    cx.see("mine", s.create(&prefix, b"", &mode(ESEQ)).await);
    cx.see("theirs", other.create(&prefix, b"", &mode(ESEQ)).await);
    cx.see("mine again", s.create(&prefix, b"", &mode(ESEQ)).await);
    cx.see("children", s.get_children(&cx.path("q")).await);
    Ok(())
}

pub async fn sequential_with_trailing_slash<B: Backend>(cx: &mut Cx<'_, B>) -> CaseResult {
    let s = cx.session().await?;
    let q = cx.make(&s, "q", PERSISTENT).await?;
    cx.see("q/", s.create(&format!("{q}/"), b"", &mode(PSEQ)).await);
    cx.see(
        "q/ again",
        s.create(&format!("{q}/"), b"", &mode(PSEQ)).await,
    );
    cx.see("children", s.get_children(&q).await);
    Ok(())
}

pub async fn data_lengths<B: Backend>(cx: &mut Cx<'_, B>) -> CaseResult {
    let s = cx.session().await?;
    let big = vec![7u8; 100_000];
    cx.see(
        "empty",
        s.create(&cx.path("empty"), b"", &mode(PERSISTENT)).await,
    );
    cx.see(
        "big",
        s.create(&cx.path("big"), &big, &mode(PERSISTENT)).await,
    );
    cx.see(
        "big length read back",
        s.get_data(&cx.path("big")).await.map(|(d, _)| d.len()),
    );
    cx.see("shrink", s.set_data(&cx.path("big"), b"abc", None).await);
    cx.see(
        "binary",
        s.create(&cx.path("bin"), &[0, 255, 1], &mode(PERSISTENT))
            .await,
    );
    cx.see("read binary", s.get_data(&cx.path("bin")).await);
    Ok(())
}

pub async fn sync_existing_and_missing<B: Backend>(cx: &mut Cx<'_, B>) -> CaseResult {
    let s = cx.session().await?;
    let other = cx.session().await?;
    let a = cx.path("a");
    cx.see(
        "create",
        other.create(&a, b"fresh", &mode(PERSISTENT)).await,
    );
    cx.see("sync existing", s.sync(&a).await);
    cx.see("read after sync", s.get_data(&a).await);
    cx.see("sync missing", s.sync(&cx.path("nope")).await);
    cx.see("sync root", s.sync("/").await);
    cx.see("sync bad path", s.sync("bad").await);
    Ok(())
}

/// The reserved subtree and the root.
pub async fn reserved_paths<B: Backend>(cx: &mut Cx<'_, B>) -> CaseResult {
    let s = cx.session().await?;
    cx.see(
        "children of /zookeeper",
        s.get_children("/zookeeper").await.map(|(k, _)| k),
    );
    cx.see(
        "/zookeeper/quota",
        s.get_data("/zookeeper/quota").await.map(|(d, _)| d),
    );
    cx.see(
        "create /",
        s.create("/", b"", &mode(PERSISTENT)).await.map(|(p, _)| p),
    );
    cx.see("delete /", s.delete("/", None).await);
    cx.see("delete /zookeeper", s.delete("/zookeeper", None).await);
    cx.see(
        "set /zookeeper/config",
        s.set_data("/zookeeper/config", b"x", None)
            .await
            .map(|_| ()),
    );
    cx.see(
        "create under /zookeeper",
        s.create("/zookeeper/mine", b"", &mode(PERSISTENT))
            .await
            .map(|(p, _)| p),
    );
    cx.see("delete it", s.delete("/zookeeper/mine", None).await);
    cx.see(
        "sequential at root level",
        s.create(&cx.path("r-"), b"", &mode(PSEQ))
            .await
            .map(|(p, _)| p),
    );
    Ok(())
}

/// Data beyond jute.maxbuffer (1 MiB by default).
pub async fn oversized_data<B: Backend>(cx: &mut Cx<'_, B>) -> CaseResult {
    let s = cx.session().await?;
    let huge = vec![1u8; 1024 * 1024 + 1];
    let a = cx.path("a");
    cx.see(
        "create oversized",
        s.create(&a, &huge, &mode(PERSISTENT)).await.map(|(p, _)| p),
    );
    cx.see("exists", s.exists(&a).await.map(|st| st.is_some()));
    cx.see("state", s.state());
    Ok(())
}

/// An ephemeral belongs to its session only for its lifetime: anyone may change or delete it.
pub async fn others_may_write_an_ephemeral<B: Backend>(cx: &mut Cx<'_, B>) -> CaseResult {
    let owner = cx.session().await?;
    let other = cx.session().await?;
    let e = cx.path("e");
    cx.see("create", owner.create(&e, b"mine", &mode(EPHEMERAL)).await);
    other.sync(&e).await.map_err(|e| e.to_string())?;
    cx.see("other sets", other.set_data(&e, b"theirs", None).await);
    cx.see("other deletes", other.delete(&e, Some(1)).await);
    cx.see(
        "owner recreates",
        owner.create(&e, b"again", &mode(EPHEMERAL)).await,
    );
    Ok(())
}

/// The sequence counter lives in the parent: a recreated parent counts from 0 again.
pub async fn sequence_restarts_with_a_new_parent<B: Backend>(cx: &mut Cx<'_, B>) -> CaseResult {
    let s = cx.session().await?;
    let q = cx.make(&s, "q", PERSISTENT).await?;
    let prefix = cx.path("q/n-");
    let (first, _) = s
        .create(&prefix, b"", &mode(PSEQ))
        .await
        .map_err(|e| e.to_string())?;
    cx.see("first", first.clone());
    cx.see("delete it", s.delete(&first, None).await);
    cx.see("delete parent", s.delete(&q, None).await);
    cx.see(
        "recreate parent",
        s.create(&q, b"", &mode(PERSISTENT)).await,
    );
    cx.see("first again", s.create(&prefix, b"", &mode(PSEQ)).await);
    Ok(())
}
