//! multi: success and failure results, atomicity.

use super::*;
use crate::zk::types::{Acl, Op};

fn create(path: &str, m: CreateMode) -> Op {
    Op::Create {
        path: path.to_string(),
        data: b"m".to_vec(),
        acl: Acl::open_unsafe(),
        mode: m,
    }
}

fn set(path: &str, version: i32) -> Op {
    Op::SetData {
        path: path.to_string(),
        data: b"set".to_vec(),
        version,
    }
}

fn check(path: &str, version: i32) -> Op {
    Op::Check {
        path: path.to_string(),
        version,
    }
}

fn delete(path: &str, version: i32) -> Op {
    Op::Delete {
        path: path.to_string(),
        version,
    }
}

pub async fn multi_success_results<B: Backend>(cx: &mut Cx<'_, B>) -> CaseResult {
    let s = cx.session().await?;
    let (a, b) = (cx.path("a"), cx.path("b"));
    cx.make(&s, "old", PERSISTENT).await?;
    let ops = vec![
        create(&a, PERSISTENT),
        check(&a, 0),
        set(&a, 0),
        create(&b, PERSISTENT),
        delete(&cx.path("old"), 0),
    ];
    cx.see("multi", s.multi(ops).await);
    cx.see("a", s.get_data(&a).await);
    cx.see("children", s.get_children(cx.root()).await);
    Ok(())
}

pub async fn multi_failure_in_the_middle<B: Backend>(cx: &mut Cx<'_, B>) -> CaseResult {
    let s = cx.session().await?;
    let a = cx.make(&s, "a", PERSISTENT).await?;
    let ops = vec![
        set(&a, 0),
        check(&a, 7),
        create(&cx.path("b"), PERSISTENT),
        delete(&a, -1),
    ];
    cx.see("multi", s.multi(ops).await);
    cx.see("a untouched", s.exists(&a).await);
    Ok(())
}

pub async fn multi_failure_first_op<B: Backend>(cx: &mut Cx<'_, B>) -> CaseResult {
    let s = cx.session().await?;
    let ops = vec![
        delete(&cx.path("nope"), -1),
        create(&cx.path("b"), PERSISTENT),
    ];
    cx.see("multi", s.multi(ops).await);
    let ops = vec![
        create(&cx.path("b"), PERSISTENT),
        create(&cx.path("b"), PERSISTENT),
    ];
    cx.see("duplicate create", s.multi(ops).await);
    let ops = vec![create(&cx.path("x/y"), PERSISTENT)];
    cx.see("no parent", s.multi(ops).await);
    Ok(())
}

pub async fn multi_failure_leaves_nothing<B: Backend>(cx: &mut Cx<'_, B>) -> CaseResult {
    let s = cx.session().await?;
    let p = cx.make(&s, "p", PERSISTENT).await?;
    let before = s.exists(&p).await;
    cx.see("parent before", before);
    let ops = vec![
        create(&cx.path("p/a"), PERSISTENT),
        create(&cx.path("p/s-"), PSEQ),
        set(&p, 3),
    ];
    cx.see("multi", s.multi(ops).await);
    cx.see("parent after", s.exists(&p).await);
    cx.see(
        "next sequential",
        s.create(&cx.path("p/s-"), b"", &mode(PSEQ)).await,
    );
    Ok(())
}

pub async fn multi_sequential_and_ephemeral<B: Backend>(cx: &mut Cx<'_, B>) -> CaseResult {
    let s = cx.session().await?;
    cx.make(&s, "q", PERSISTENT).await?;
    let ops = vec![
        create(&cx.path("q/s-"), PSEQ),
        create(&cx.path("q/s-"), ESEQ),
        create(&cx.path("q/e"), EPHEMERAL),
    ];
    cx.see("multi", s.multi(ops).await);
    cx.see("children", s.get_children(&cx.path("q")).await);
    Ok(())
}

pub async fn multi_create_then_delete<B: Backend>(cx: &mut Cx<'_, B>) -> CaseResult {
    let s = cx.session().await?;
    let a = cx.path("a");
    let ops = vec![
        create(&a, PERSISTENT),
        create(&cx.path("a/child"), PERSISTENT),
        delete(&cx.path("a/child"), 0),
        delete(&a, 0),
    ];
    cx.see("multi", s.multi(ops).await);
    cx.see("a", s.exists(&a).await);
    cx.see("root", s.exists(cx.root()).await);
    let ops = vec![create(&a, PERSISTENT), delete(&a, 0), check(&a, 0)];
    cx.see("check after delete", s.multi(ops).await);
    Ok(())
}

pub async fn multi_ops_share_one_zxid<B: Backend>(cx: &mut Cx<'_, B>) -> CaseResult {
    let s = cx.session().await?;
    let ops = vec![
        create(&cx.path("a"), PERSISTENT),
        create(&cx.path("b"), PERSISTENT),
        set(&cx.path("a"), 0),
    ];
    cx.see("multi", s.multi(ops).await);
    cx.see("root", s.exists(cx.root()).await);
    cx.see(
        "next write",
        s.create(&cx.path("c"), b"", &mode(PERSISTENT)).await,
    );
    Ok(())
}

pub async fn multi_empty<B: Backend>(cx: &mut Cx<'_, B>) -> CaseResult {
    let s = cx.session().await?;
    cx.see("empty multi", s.multi(Vec::new()).await);
    cx.see(
        "write after",
        s.create(&cx.path("a"), b"", &mode(PERSISTENT)).await,
    );
    Ok(())
}
