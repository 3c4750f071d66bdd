//! A node's connection to its pair's database: requests to the host it believes accepts
//! writes, with a timeout, and a switch to the other host when that one fails or says it does
//! not act (a client-side failover, as a JDBC URL with two hosts does).

use super::proto::{DbMsg, DbRequest, DbResponse, RunOnceVerdict};
use crate::env::{Environment, timeout};
use crate::sim::history::WriteOutcome;
use crate::sim::net::{Addr, HostId, Mailbox, Payload, Port, ports};
use crate::sim::world::HostCtx;
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

/// Why a request got no answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DbCallError {
    #[error("the database did not answer in time")]
    Timeout,
    #[error("the database host reset the connection")]
    Reset,
}

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
    answers: Mutex<Answers>,
    timeout: Duration,
    /// When (node clock) the newest call that a database host answered as acting was sent.
    last_acting_answer: Mutex<Option<Duration>>,
}

/// The client's socket and the calls waiting on it. No task reads the socket: the calls do,
/// each handing on what it reads for the others (a reading task cost every answer one more
/// task wake and a channel).
struct Answers {
    mailbox: Mailbox,
    waiting: BTreeMap<u64, Waiting>,
    /// The call whose task the socket wakes when something arrives.
    listener: Option<u64>,
}

struct Waiting {
    host: HostId,
    answer: Option<Result<DbResponse, DbCallError>>,
    waker: Option<Waker>,
}

impl Answers {
    /// Reads everything that has arrived, handing answers (and resets) to their calls; with
    /// `cx`, the socket wakes its task when the next packet arrives.
    fn read(&mut self, mut cx: Option<&mut Context<'_>>) {
        loop {
            let packet = match cx.as_deref_mut() {
                Some(cx) => match self.mailbox.poll_recv(cx) {
                    Poll::Ready(Some(packet)) => packet,
                    _ => return,
                },
                None => match self.mailbox.try_recv() {
                    Some(packet) => packet,
                    None => return,
                },
            };
            self.hand_on(packet);
        }
    }

    #[allow(
        clippy::boxed_local,
        reason = "packets travel boxed; unboxing one copies it again"
    )]
    fn hand_on(&mut self, packet: Box<crate::sim::net::Packet>) {
        match packet.payload {
            Payload::Db(DbMsg::Response { id, body }) => {
                if let Some(call) = self.waiting.get_mut(&id) {
                    call.settle(Ok(body));
                }
            }
            // The host's process died: whatever it had not answered never will be.
            Payload::Reset => {
                for call in self.waiting.values_mut() {
                    if call.host == packet.from.host && call.answer.is_none() {
                        call.settle(Err(DbCallError::Reset));
                    }
                }
            }
            _ => {}
        }
    }

    /// Call `id` stops waiting: if its task was the one the socket wakes, another waiting
    /// call's task takes over.
    fn leave(&mut self, id: u64) -> Option<Waker> {
        self.waiting.remove(&id);
        if self.listener != Some(id) {
            return None;
        }
        self.listener = None;
        self.waiting
            .values_mut()
            .find(|call| call.answer.is_none())
            .and_then(|call| call.waker.take())
    }
}

impl Waiting {
    fn settle(&mut self, answer: Result<DbResponse, DbCallError>) {
        self.answer = Some(answer);
        if let Some(waker) = self.waker.take() {
            waker.wake();
        }
    }
}

/// A call's wait for its answer; leaving it (answered or timed out) leaves the socket to
/// the other calls.
struct Wait<'a> {
    inner: &'a Inner,
    id: u64,
}

impl Future for Wait<'_> {
    type Output = Result<DbResponse, DbCallError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut answers = self.inner.answers.lock().expect("db answers lock");
        // This task reads for itself: its own answer must not wake it once more.
        let own = answers
            .waiting
            .get_mut(&self.id)
            .expect("a waiting call is registered")
            .waker
            .take();
        answers.read(Some(cx));
        answers.listener = Some(self.id);
        let call = answers
            .waiting
            .get_mut(&self.id)
            .expect("a waiting call is registered");
        if let Some(answer) = call.answer.take() {
            return Poll::Ready(answer);
        }
        call.waker = match own {
            Some(waker) if waker.will_wake(cx.waker()) => Some(waker),
            _ => Some(cx.waker().clone()),
        };
        Poll::Pending
    }
}

impl Drop for Wait<'_> {
    fn drop(&mut self) {
        let next = self
            .inner
            .answers
            .lock()
            .expect("db answers lock")
            .leave(self.id);
        if let Some(waker) = next {
            waker.wake();
        }
    }
}

impl DbClient {
    /// Binds a client port on the node's host. `hosts` must not be empty.
    pub fn start(ctx: &HostCtx, hosts: Vec<HostId>, request_timeout: Duration) -> DbClient {
        assert!(!hosts.is_empty(), "a database client needs a database host");
        let mailbox = ctx.net.bind_ephemeral();
        let port = mailbox.addr.port;
        DbClient {
            inner: Arc::new(Inner {
                port,
                ctx: ctx.clone(),
                hosts,
                current: AtomicUsize::new(0),
                next_id: AtomicU64::new(1),
                answers: Mutex::new(Answers {
                    mailbox,
                    waiting: BTreeMap::new(),
                    listener: None,
                }),
                timeout: request_timeout,
                last_acting_answer: Mutex::new(None),
            }),
        }
    }

    /// Whether a call sent at or after `since` (node clock) was answered by a host that acts:
    /// evidence, as good as a probe's, that the database was reachable and accepting writes.
    pub fn answered_acting_since(&self, since: Duration) -> bool {
        self.inner
            .last_acting_answer
            .lock()
            .expect("db answer time lock")
            .is_some_and(|sent| sent >= since)
    }

    /// The host requests go to now.
    pub fn current_host(&self) -> HostId {
        self.inner.hosts[self.inner.current.load(Ordering::Relaxed) % self.inner.hosts.len()]
    }

    /// Sends `request` to the current host and waits for its answer. A timeout, a reset, or an
    /// answer saying the host does not act makes the next request go to the next host.
    pub async fn call(&self, request: DbRequest) -> Result<DbResponse, DbCallError> {
        let sent_at = self.inner.ctx.env.now();
        let host = self.current_host();
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        {
            let mut answers = self.inner.answers.lock().expect("db answers lock");
            // What arrived before this call (a reset of an earlier connection) is not its.
            answers.read(None);
            answers.waiting.insert(
                id,
                Waiting {
                    host,
                    answer: None,
                    waker: None,
                },
            );
        }
        self.inner.ctx.net.send(
            self.inner.port,
            Addr {
                host,
                port: ports::DATABASE,
            },
            Payload::Db(DbMsg::Request { id, body: request }),
        );
        let wait = Wait {
            inner: &self.inner,
            id,
        };
        let result = match timeout(&self.inner.ctx.env, self.inner.timeout, wait).await {
            Ok(answer) => answer,
            Err(_) => Err(DbCallError::Timeout),
        };
        let not_acting = matches!(
            result,
            Err(_)
                | Ok(DbResponse::Pong { acting: false, .. })
                | Ok(DbResponse::Write(WriteOutcome::Unavailable))
                | Ok(DbResponse::RunOnce(RunOnceVerdict::Unavailable))
        );
        if !not_acting {
            let mut last = self
                .inner
                .last_acting_answer
                .lock()
                .expect("db answer time lock");
            *last = Some(last.map_or(sent_at, |last| last.max(sent_at)));
        }
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
