//! ACLs: digest authentication and NoAuth errors, and where ACL checks sit in the check order.

use super::*;
use crate::zk::tree::digest_id;
use crate::zk::types::{Acl, perms};

const ALICE: &str = "alice:secret";

fn digest(perms: u32, user_password: &str) -> Acl {
    Acl {
        perms,
        scheme: "digest".into(),
        id: digest_id(user_password),
    }
}

fn world(perms: u32) -> Acl {
    Acl {
        perms,
        scheme: "world".into(),
        id: "anyone".into(),
    }
}

async fn alice<B: Backend>(cx: &mut Cx<'_, B>) -> Result<B::Session, CaseError> {
    cx.session_with(&SessionOptions::new(RELAXED_TIMEOUT).with_auth("digest", ALICE.as_bytes()))
        .await
}

pub async fn digest_acl_refuses_others<B: Backend>(cx: &mut Cx<'_, B>) -> CaseResult {
    let owner = alice(cx).await?;
    let stranger = cx.session().await?;
    let p = cx.path("p");
    let options = mode(PERSISTENT).with_acl(vec![digest(perms::ALL, ALICE)]);
    cx.see("create", owner.create(&p, b"secret", &options).await);
    cx.see(
        "owner child",
        owner.create(&cx.path("p/c"), b"", &mode(PERSISTENT)).await,
    );
    stranger.sync(&p).await.map_err(|e| e.to_string())?;
    cx.see("stranger get", stranger.get_data(&p).await);
    cx.see("stranger exists", stranger.exists(&p).await);
    cx.see("stranger children", stranger.get_children(&p).await);
    cx.see("stranger set", stranger.set_data(&p, b"x", None).await);
    cx.see(
        "stranger create child",
        stranger
            .create(&cx.path("p/d"), b"", &mode(PERSISTENT))
            .await,
    );
    cx.see(
        "stranger delete child",
        stranger.delete(&cx.path("p/c"), None).await,
    );
    cx.see("stranger get_acl", stranger.get_acl(&p).await);
    cx.see("owner get", owner.get_data(&p).await);
    cx.see("owner get_acl", owner.get_acl(&p).await);
    Ok(())
}

/// exists needs no permission, so it answers on a node the session cannot read; but a watch
/// only tells sessions with READ on the node, so the change never reaches this one.
pub async fn exists_watch_on_unreadable_node<B: Backend>(cx: &mut Cx<'_, B>) -> CaseResult {
    let owner = alice(cx).await?;
    let stranger = cx.session().await?;
    let p = cx.path("p");
    let options = mode(PERSISTENT).with_acl(vec![digest(perms::ALL, ALICE)]);
    cx.see("create", owner.create(&p, b"", &options).await);
    stranger.sync(&p).await.map_err(|e| e.to_string())?;
    let (stat, watch) = stranger.exists_watch(&p).await.map_err(|e| e.to_string())?;
    let mut watch = Pending::new(watch);
    cx.see("stranger exists", stat);
    cx.see(
        "stranger data watch",
        stranger.get_data_watch(&p).await.map(|(d, s, _)| (d, s)),
    );
    cx.see("owner sets", owner.set_data(&p, b"x", None).await);
    cx.see("stranger's exists watch", watch.fired(cx.b).await);
    Ok(())
}

pub async fn creator_all_acl<B: Backend>(cx: &mut Cx<'_, B>) -> CaseResult {
    let owner = alice(cx).await?;
    let stranger = cx.session().await?;
    let creator = mode(PERSISTENT).with_acl(Acl::creator_all());
    cx.see(
        "alice creates",
        owner.create(&cx.path("a"), b"", &creator).await,
    );
    cx.see("acl", owner.get_acl(&cx.path("a")).await);
    cx.see(
        "stranger creates",
        stranger.create(&cx.path("b"), b"", &creator).await,
    );
    cx.see("stranger's node", stranger.exists(&cx.path("b")).await);
    Ok(())
}

pub async fn add_auth_grants_access<B: Backend>(cx: &mut Cx<'_, B>) -> CaseResult {
    let owner = alice(cx).await?;
    let later = cx.session().await?;
    let p = cx.path("p");
    let options = mode(PERSISTENT).with_acl(vec![digest(perms::READ | perms::WRITE, ALICE)]);
    cx.see("create", owner.create(&p, b"v", &options).await);
    later.sync(&p).await.map_err(|e| e.to_string())?;
    cx.see("before auth", later.get_data(&p).await);
    cx.see(
        "wrong password",
        later.add_auth("digest", b"alice:wrong").await,
    );
    cx.see("still refused", later.get_data(&p).await);
    cx.see("add auth", later.add_auth("digest", ALICE.as_bytes()).await);
    cx.see("after auth", later.get_data(&p).await);
    cx.see("set after auth", later.set_data(&p, b"w", None).await);
    cx.see("delete needs parent's perms", later.delete(&p, None).await);
    Ok(())
}

pub async fn read_only_acl<B: Backend>(cx: &mut Cx<'_, B>) -> CaseResult {
    let s = cx.session().await?;
    let r = cx.path("r");
    let options = mode(PERSISTENT).with_acl(Acl::read_unsafe());
    cx.see("create", s.create(&r, b"ro", &options).await);
    cx.see("get", s.get_data(&r).await);
    cx.see("set", s.set_data(&r, b"x", None).await);
    cx.see(
        "create child",
        s.create(&cx.path("r/c"), b"", &mode(PERSISTENT)).await,
    );
    cx.see("children", s.get_children(&r).await);
    cx.see("delete itself (parent is open)", s.delete(&r, None).await);
    Ok(())
}

pub async fn delete_needs_parent_permission<B: Backend>(cx: &mut Cx<'_, B>) -> CaseResult {
    let s = cx.session().await?;
    let p = cx.path("p");
    let no_delete = mode(PERSISTENT).with_acl(vec![world(perms::ALL & !perms::DELETE)]);
    cx.see("create parent", s.create(&p, b"", &no_delete).await);
    cx.see(
        "create child",
        s.create(&cx.path("p/c"), b"", &mode(PERSISTENT)).await,
    );
    cx.see("delete child", s.delete(&cx.path("p/c"), None).await);
    cx.see(
        "delete missing child",
        s.delete(&cx.path("p/zz"), None).await,
    );
    cx.see("set child", s.set_data(&cx.path("p/c"), b"x", None).await);
    Ok(())
}

pub async fn acl_checked_before_version<B: Backend>(cx: &mut Cx<'_, B>) -> CaseResult {
    let s = cx.session().await?;
    let p = cx.path("p");
    let read_only = mode(PERSISTENT).with_acl(vec![world(perms::READ | perms::CREATE)]);
    cx.see("create parent", s.create(&p, b"", &read_only).await);
    cx.see(
        "create child",
        s.create(&cx.path("p/c"), b"", &read_only).await,
    );
    cx.see("set, bad version", s.set_data(&p, b"x", Some(9)).await);
    cx.see(
        "delete child, bad version",
        s.delete(&cx.path("p/c"), Some(9)).await,
    );
    cx.see("delete parent, not empty", s.delete(&p, Some(9)).await);
    Ok(())
}

pub async fn acl_checked_before_existence<B: Backend>(cx: &mut Cx<'_, B>) -> CaseResult {
    let owner = alice(cx).await?;
    let stranger = cx.session().await?;
    let q = cx.path("q");
    let options = mode(PERSISTENT).with_acl(vec![digest(perms::ALL, ALICE), world(perms::READ)]);
    cx.see("alice creates q", owner.create(&q, b"", &options).await);
    cx.see(
        "alice creates q/c",
        owner.create(&cx.path("q/c"), b"", &mode(PERSISTENT)).await,
    );
    stranger.sync(&q).await.map_err(|e| e.to_string())?;
    let c = cx.path("q/c");
    cx.see(
        "stranger creates existing",
        stranger.create(&c, b"", &mode(PERSISTENT)).await,
    );
    cx.see(
        "stranger sequential",
        stranger.create(&cx.path("q/s-"), b"", &mode(PSEQ)).await,
    );
    cx.see(
        "stranger deep",
        stranger
            .create(&cx.path("q/x/y"), b"", &mode(PERSISTENT))
            .await,
    );
    cx.see(
        "stranger deletes missing",
        stranger.delete(&cx.path("q/zz"), None).await,
    );
    cx.see("stranger reads", stranger.get_children(&q).await);
    cx.see("q stat", owner.exists(&q).await);
    Ok(())
}

pub async fn unknown_auth_scheme<B: Backend>(cx: &mut Cx<'_, B>) -> CaseResult {
    let s = cx.session().await?;
    let states = cx.follow(&s);
    cx.see("add_auth bogus", s.add_auth("bogus", b"x").await);
    cx.b.sleep(QUIET).await;
    cx.see("state", s.state());
    cx.see("lasting states", states.lasting(cx.b, &s).await);
    cx.see(
        "call after",
        s.exists(cx.root()).await.map(|st| st.is_some()),
    );
    Ok(())
}
