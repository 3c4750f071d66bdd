//! A ZooKeeper client workload: what the standard world's application hosts do.
//!
//! Each workload process opens a session and issues a random mix of the calls an election
//! recipe makes — ephemeral and sequential creates, reads with watches, conditional writes,
//! children listings, deletes, multis — at a steady pace, reopening a session whenever its
//! session expires. Outcomes are counted and traced by the client library itself.

use crate::coord::{Coordination, CreateOptions};
use crate::env::Environment;
use crate::sim::world::{HostCtx, ProcessFn};
use crate::zk::client::{ClientConfig, SimZkClient};
use crate::zk::types::{CreateMode, ErrorCode, Op};
use madsim::rand::Rng;
use std::sync::Arc;
use std::time::Duration;

/// Root of the workload's znodes.
pub const WORKLOAD_ROOT: &str = "/app";

#[derive(Clone, Debug)]
pub struct WorkloadConfig {
    pub client: ClientConfig,
    /// Pause between two calls, drawn uniformly (on the host's clock).
    pub min_think: Duration,
    pub max_think: Duration,
}

/// The workload as a host process.
pub fn workload_process(config: WorkloadConfig) -> ProcessFn {
    Arc::new(move |ctx: HostCtx| {
        let config = config.clone();
        Box::pin(async move { run(ctx, config).await })
    })
}

async fn run(ctx: HostCtx, config: WorkloadConfig) {
    loop {
        let client = match SimZkClient::connect(&ctx, config.client.clone()).await {
            Ok(client) => client,
            Err(_) => {
                ctx.env.sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        let mut session = Session {
            ctx: &ctx,
            client,
            created: Vec::new(),
            counter: 0,
        };
        session.ensure_root().await;
        while !session.client.state().is_terminal() {
            session.step().await;
            let think = draw_between(config.min_think, config.max_think);
            ctx.env.sleep(think).await;
        }
        ctx.trace(
            "workload",
            format_args!("session ended ({:?}), reopening", session.client.state()),
        );
    }
}

fn draw_between(lo: Duration, hi: Duration) -> Duration {
    if hi <= lo {
        return lo;
    }
    Duration::from_micros(
        madsim::rand::thread_rng().gen_range(lo.as_micros() as u64..hi.as_micros() as u64),
    )
}

struct Session<'a> {
    ctx: &'a HostCtx,
    client: SimZkClient,
    /// Nodes this session created and may delete later.
    created: Vec<String>,
    counter: u64,
}

impl Session<'_> {
    async fn ensure_root(&self) {
        let _ = self
            .client
            .create(
                WORKLOAD_ROOT,
                b"",
                &CreateOptions::new(CreateMode::Persistent),
            )
            .await;
    }

    fn fresh_name(&mut self) -> String {
        self.counter += 1;
        format!("{WORKLOAD_ROOT}/{}-{}", self.ctx.name, self.counter)
    }

    fn some_path(&self) -> String {
        if self.created.is_empty() {
            return WORKLOAD_ROOT.to_string();
        }
        let i = madsim::rand::thread_rng().gen_range(0..self.created.len());
        self.created[i].clone()
    }

    async fn step(&mut self) {
        let choice = madsim::rand::thread_rng().gen_range(0..9);
        match choice {
            0 => {
                let path = self.fresh_name();
                if let Ok((path, _)) = self
                    .client
                    .create(&path, b"e", &CreateOptions::new(CreateMode::Ephemeral))
                    .await
                {
                    self.created.push(path);
                }
            }
            1 => {
                let prefix = format!("{WORKLOAD_ROOT}/seq-");
                let opts = CreateOptions::new(CreateMode::PersistentSequential);
                if let Ok((path, _)) = self.client.create(&prefix, b"s", &opts).await {
                    self.created.push(path);
                }
            }
            2 => {
                let path = self.some_path();
                if let Ok((_, _, watch)) = self.client.get_data_watch(&path).await {
                    self.await_watch_in_background(watch);
                }
            }
            3 => {
                let _ = self
                    .client
                    .set_data(WORKLOAD_ROOT, self.ctx.name.as_bytes(), None)
                    .await;
            }
            4 => {
                let path = self.fresh_name();
                if let Ok((_, watch)) = self.client.exists_watch(&path).await {
                    self.await_watch_in_background(watch);
                }
            }
            5 => {
                if let Ok((_, _, watch)) = self.client.get_children_watch(WORKLOAD_ROOT).await {
                    self.await_watch_in_background(watch);
                }
            }
            6 => {
                if !self.created.is_empty() {
                    let i = madsim::rand::thread_rng().gen_range(0..self.created.len());
                    let path = self.created.swap_remove(i);
                    if let Err(e) = self.client.delete(&path, None).await
                        && e != ErrorCode::NoNode
                    {
                        self.created.push(path);
                    }
                }
            }
            7 => {
                let path = self.fresh_name();
                let ops = vec![
                    Op::Check {
                        path: WORKLOAD_ROOT.to_string(),
                        version: -1,
                    },
                    Op::Create {
                        path: path.clone(),
                        data: b"m".to_vec(),
                        acl: crate::zk::types::Acl::open_unsafe(),
                        mode: CreateMode::Persistent,
                    },
                    Op::SetData {
                        path: path.clone(),
                        data: b"m2".to_vec(),
                        version: 0,
                    },
                ];
                if let Ok(results) = self.client.multi(ops).await
                    && !results
                        .iter()
                        .any(|r| matches!(r, crate::zk::types::OpResult::Error(_)))
                {
                    self.created.push(path);
                }
            }
            _ => {
                let _ = self.client.sync(WORKLOAD_ROOT).await;
                let _ = self.client.get_children(WORKLOAD_ROOT).await;
            }
        }
    }

    /// Waits for a watch on a side task so the workload keeps going; the event is traced.
    fn await_watch_in_background(&self, watch: crate::coord::Watch) {
        let ctx = self.ctx.clone();
        self.ctx.env.spawn(async move {
            let event = watch.changed().await;
            ctx.trace(
                "watch",
                format_args!(
                    "{:?} {} ({:?})",
                    event.event_type, event.path, event.session_state
                ),
            );
        });
    }
}
