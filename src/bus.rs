//! The message bus of a node pair: an effect of the master that no fencing token guards.
//!
//! A master does more than write to its fenced database: Corda's flows send messages over
//! its Artemis bus, services call other services. Each pair has a bus host (`<pair>-bus`, in
//! its database's site) that takes every message it reads — it checks no token and knows no
//! terms — and records its arrival ([`Record::BusDelivered`]): the moment the effect reached
//! the world, which the LE invariant ([`crate::check::late_effect`]) judges.
//!
//! # How late a message can arrive
//!
//! A real bus client does not deliver a message minutes late. The node's client sends each
//! message on its connection with a deadline — the end of the flow it belongs to — waits for
//! the bus's acknowledgement until then, and at the deadline its TCP stack aborts the
//! connection (`TCP_USER_TIMEOUT`, or a close with `SO_LINGER` 0): bytes still in its send
//! buffer (a cut link stalls them there, a lossy one keeps them for retransmission) are
//! dropped, and the reset flushes what the bus host received but its process had not read (a
//! paused broker). So the bus reads a message only before its sender's abort, and a message's
//! effect lands no later than the flow's deadline: within the time the node already allows the
//! write of the same flow ([`crate::pair::worker`]), which the election's lease leaves room
//! for after a demotion (`election` module docs, "Timing assumption").
//!
//! The abort happens in the sender's kernel, on its clock, whether or not its process runs;
//! the simulator stands in for the connection's state by stamping each message with the true
//! time its sender's clock reaches the deadline ([`HostClock::true_time_of`]), and the bus
//! discards a message it reads later. Simplification: a message on a slow link (extra
//! latency) is treated as queued at the sender, and dropped with the rest, where a packet
//! really on the wire at the abort would still arrive; a clock fault on the sender after the
//! message left does not move its abort.
//!
//! [`HostClock::true_time_of`]: crate::sim::clock::HostClock::true_time_of

use crate::env::{Environment, timeout};
use crate::sim::clock::true_now;
use crate::sim::history::{Name, Record};
use crate::sim::net::{Addr, HostId, Payload, Port, ports};
use crate::sim::world::{HostCtx, ProcessFn};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::oneshot;

/// The bus host of `pair`.
pub fn bus_host_name(pair: &str) -> String {
    format!("{pair}-bus")
}

/// One packet between a node and its pair's bus.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum BusMsg {
    Publish {
        id: u64,
        message: Message,
    },
    /// The bus read message `id` and took it.
    Ack {
        id: u64,
    },
}

/// What a master's flow publishes: which term it belongs to, and until when its sender's
/// connection stays open.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Message {
    pub pair: Name,
    pub node: Name,
    pub token: i64,
    /// The flow (the write id of the same flow).
    pub flow: u64,
    /// True simulated time at which the sender's connection aborts (see the module docs).
    pub abort_at: Duration,
}

/// The bus host's process: reads messages, records the ones read before their sender gave up
/// on them, and acknowledges those.
pub fn bus_process() -> ProcessFn {
    Arc::new(|ctx: HostCtx| Box::pin(run_bus(ctx)))
}

async fn run_bus(ctx: HostCtx) {
    let mut mailbox = ctx.net.bind(ports::BUS);
    while let Some(packet) = mailbox.recv().await {
        let Payload::Bus(BusMsg::Publish { id, message }) = packet.payload else {
            continue;
        };
        if true_now() >= message.abort_at {
            ctx.trace(
                "bus",
                format_args!(
                    "flow {} of {} dropped: its connection was aborted",
                    message.flow, message.node
                ),
            );
            continue;
        }
        ctx.world.record(Record::BusDelivered {
            pair: message.pair,
            node: message.node,
            token: message.token,
            flow: message.flow,
        });
        ctx.net
            .send(ports::BUS, packet.from, Payload::Bus(BusMsg::Ack { id }));
    }
}

/// Why a publish was not acknowledged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PublishError {
    /// The deadline passed first (the connection is aborted: the bus will not take it).
    Deadline,
    /// The bus host's process died.
    Reset,
}

/// A node's connection to its pair's bus. Clones share it.
#[derive(Clone)]
pub struct BusClient {
    inner: Arc<Inner>,
}

struct Inner {
    ctx: HostCtx,
    port: Port,
    bus: HostId,
    next_id: AtomicU64,
    /// The publishes waiting for their acknowledgement.
    waiting: Mutex<BTreeMap<u64, oneshot::Sender<Result<(), PublishError>>>>,
}

impl BusClient {
    /// Binds a client port on the node's host and starts the task that reads acknowledgements
    /// (several flows may wait at once: a known-bug variant's old work finishing beside the
    /// new grant's).
    pub fn start(ctx: &HostCtx, bus: HostId) -> BusClient {
        let mut mailbox = ctx.net.bind_ephemeral();
        let inner = Arc::new(Inner {
            ctx: ctx.clone(),
            port: mailbox.addr.port,
            bus,
            next_id: AtomicU64::new(1),
            waiting: Mutex::new(BTreeMap::new()),
        });
        let reader = Arc::downgrade(&inner);
        ctx.env.spawn(async move {
            while let Some(packet) = mailbox.recv().await {
                let Some(inner) = reader.upgrade() else {
                    return;
                };
                let mut waiting = inner.waiting.lock().expect("bus waiting lock");
                match packet.payload {
                    Payload::Bus(BusMsg::Ack { id }) => {
                        if let Some(done) = waiting.remove(&id) {
                            let _ = done.send(Ok(()));
                        }
                    }
                    Payload::Reset => {
                        for (_, done) in std::mem::take(&mut *waiting) {
                            let _ = done.send(Err(PublishError::Reset));
                        }
                    }
                    _ => {}
                }
            }
        });
        BusClient { inner }
    }

    /// Publishes the message of `flow` and waits for the bus to take it until `deadline`
    /// (this host's monotonic clock), when the connection is given up. Nothing is sent once
    /// the deadline has passed (the flow's time is up).
    pub async fn publish(
        &self,
        pair: &Name,
        node: &Name,
        token: i64,
        flow: u64,
        deadline: Duration,
    ) -> Result<(), PublishError> {
        let inner = &self.inner;
        let Some(left) = deadline
            .checked_sub(inner.ctx.env.now())
            .filter(|l| !l.is_zero())
        else {
            return Err(PublishError::Deadline);
        };
        let id = inner.next_id.fetch_add(1, Ordering::Relaxed);
        let (done, acked) = oneshot::channel();
        inner
            .waiting
            .lock()
            .expect("bus waiting lock")
            .insert(id, done);
        let message = Message {
            pair: pair.clone(),
            node: node.clone(),
            token,
            flow,
            abort_at: inner.ctx.env.clock().true_time_of(deadline),
        };
        inner.ctx.net.send(
            inner.port,
            Addr {
                host: inner.bus,
                port: ports::BUS,
            },
            Payload::Bus(BusMsg::Publish { id, message }),
        );
        let outcome = timeout(&inner.ctx.env, left, acked).await;
        inner.waiting.lock().expect("bus waiting lock").remove(&id);
        match outcome {
            Ok(Ok(result)) => result,
            Ok(Err(_)) | Err(_) => Err(PublishError::Deadline),
        }
    }
}
