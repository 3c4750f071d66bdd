//! A node's connection to its pair's database: requests to the host it believes accepts
//! writes, with a timeout, and a switch to the other host when that one fails or says it does
//! not act (a client-side failover, as a JDBC URL with two hosts does).

use super::proto::{DbMsg, DbRequest, DbResponse, RunOnceVerdict};
use crate::env::{Environment, timeout};
use crate::sim::history::WriteOutcome;
use crate::sim::net::{Addr, HostId, Payload, Port, ports};
use crate::sim::world::HostCtx;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::oneshot;

/// Why a request got no answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DbCallError {
    #[error("the database did not answer in time")]
    Timeout,
    #[error("the database host reset the connection")]
    Reset,
}

type Waiters = BTreeMap<u64, (HostId, oneshot::Sender<DbResponse>)>;

/// The node's database client. Clones share it.
#[derive(Clone)]
pub struct DbClient {
    inner: Arc<Inner>,
}

struct Inner {
    ctx: HostCtx,
    port: Port,
    /// The database's hosts in the node's order of preference.
    hosts: Vec<HostId>,
    /// Index into `hosts` of the host the node believes accepts writes.
    current: AtomicUsize,
    next_id: AtomicU64,
    waiters: Arc<Mutex<Waiters>>,
    timeout: Duration,
}

impl DbClient {
    /// Binds a client port on the node's host and starts the task that receives answers.
    /// `hosts` must not be empty.
    pub fn start(ctx: &HostCtx, hosts: Vec<HostId>, request_timeout: Duration) -> DbClient {
        assert!(!hosts.is_empty(), "a database client needs a database host");
        let mut mailbox = ctx.net.bind_ephemeral();
        let port = mailbox.addr.port;
        let waiters: Arc<Mutex<Waiters>> = Arc::default();
        let receiving = waiters.clone();
        ctx.env.spawn(async move {
            while let Some(packet) = mailbox.recv().await {
                let mut waiters = receiving.lock().expect("db waiters lock");
                match packet.payload {
                    Payload::Db(DbMsg::Response { id, body }) => {
                        if let Some((_, reply)) = waiters.remove(&id) {
                            let _ = reply.send(body);
                        }
                    }
                    // The host's process died: whatever it had not answered never will be.
                    Payload::Reset => waiters.retain(|_, (host, _)| *host != packet.from.host),
                    _ => {}
                }
            }
        });
        DbClient {
            inner: Arc::new(Inner {
                port,
                ctx: ctx.clone(),
                hosts,
                current: AtomicUsize::new(0),
                next_id: AtomicU64::new(1),
                waiters,
                timeout: request_timeout,
            }),
        }
    }

    /// The host requests go to now.
    pub fn current_host(&self) -> HostId {
        self.inner.hosts[self.inner.current.load(Ordering::Relaxed) % self.inner.hosts.len()]
    }

    /// Sends `request` to the current host and waits for its answer. A timeout, a reset, or an
    /// answer saying the host does not act makes the next request go to the next host.
    pub async fn call(&self, request: DbRequest) -> Result<DbResponse, DbCallError> {
        let host = self.current_host();
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let (reply, answer) = oneshot::channel();
        self.inner
            .waiters
            .lock()
            .expect("db waiters lock")
            .insert(id, (host, reply));
        self.inner.ctx.net.send(
            self.inner.port,
            Addr {
                host,
                port: ports::DATABASE,
            },
            Payload::Db(DbMsg::Request { id, body: request }),
        );
        let result = match timeout(&self.inner.ctx.env, self.inner.timeout, answer).await {
            Ok(Ok(body)) => Ok(body),
            Ok(Err(_)) => Err(DbCallError::Reset),
            Err(_) => {
                self.inner
                    .waiters
                    .lock()
                    .expect("db waiters lock")
                    .remove(&id);
                Err(DbCallError::Timeout)
            }
        };
        let not_acting = matches!(
            result,
            Err(_)
                | Ok(DbResponse::Pong { acting: false, .. })
                | Ok(DbResponse::Write(WriteOutcome::Unavailable))
                | Ok(DbResponse::RunOnce(RunOnceVerdict::Unavailable))
        );
        if not_acting && self.inner.hosts.len() > 1 {
            // Only the caller that saw `host` fail moves the belief on.
            let index = self
                .inner
                .hosts
                .iter()
                .position(|h| *h == host)
                .unwrap_or(0);
            let _ = self.inner.current.compare_exchange(
                index,
                (index + 1) % self.inner.hosts.len(),
                Ordering::Relaxed,
                Ordering::Relaxed,
            );
        }
        result
    }
}
