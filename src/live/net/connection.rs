//! One connection through a relay: the client (on host `from`) connected to the relay, and the
//! relay's own connection to the target (on host `to`).
//!
//! A single task owns both sockets and both directions, so the decisions that involve both
//! (a write that fails on one side sends a reset to the other; a blackhole silences both) are
//! made in one place without locks. It waits on readiness (`readable`/`writable`) and uses
//! non-blocking reads and writes, so a side that does not read stalls only its own direction.
//!
//! How it behaves, and where that differs from the kernel:
//!
//! - **Delay, jitter, loss, FIFO**: every chunk read is due at the time [`Schedule::due`] gives
//!   and written when due, in order.
//! - **Cut** (the direction's link): due chunks are held, not dropped (TCP would retransmit
//!   them and deliver them after the heal if the connection survives), and flow again one
//!   one-way trip after the heal, in order; the other direction keeps flowing. A connection
//!   opened while the forward link is cut is accepted (a relay cannot refuse it without saying
//!   so with a reset) but not made to the target until the heal, like a SYN that does not
//!   arrive; if the client closes first, nothing reaches the target. Unlike the kernel, the
//!   client's `connect` succeeds at once, so it learns nothing from the connect itself, and
//!   the relay connects right after the heal rather than at the client's next SYN
//!   retransmission.
//! - **New connections**: the relay connects to the target one one-way trip after the accept
//!   (the SYN's flight). A refused connect reaches the client as a reset after the reverse
//!   trip (a client's own `connect` would fail with "refused" instead).
//! - **Close**: an end of stream read from one side is delivered, after the bytes before it
//!   and after its delay, as a half-close (`shutdown(SHUT_WR)`) of the other side: TCP's FIN.
//!   The connection is over when both directions have delivered theirs.
//! - **Reset**: a read error from one side (`ECONNRESET`), or a write to it that fails, is
//!   delivered to the other side as a reset (`SO_LINGER` 0, then close), after what was held
//!   before it; that ends the connection. Bytes still held for the side that reset are lost,
//!   as the kernel discards them too.
//! - **Blackhole** of either host (a hard crash): the connection dies for good. Every byte read
//!   in either direction is discarded, nothing held is delivered, and no close or reset is
//!   passed on, so each peer sees a silent connection, as after a power loss, until it gives
//!   up by its own timeouts; the relay ends when both sides have closed. Lifting the blackhole
//!   does not revive it. A connection accepted while a host is blackholed is never made to the
//!   target. Unlike a dead host, the relay's kernel still acknowledges the peer's bytes, so the
//!   peer's TCP retransmission timeout and keepalive never fire: only application-level
//!   timeouts (which ZooKeeper and the nodes have) notice.

use super::link::{Host, Link};
use super::timing::Schedule;
use super::zk_election::{InitialMessage, ZkAdvertise, ZkCounters};
use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::pin::Pin;
use std::sync::Arc;
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::Instant;

/// Bytes one read takes at most.
const CHUNK: usize = 64 * 1024;
/// Bytes held per direction before the relay stops reading from the sender: about what a
/// sender's socket buffer holds (Linux's `tcp_wmem` maximum is 4 MiB), so a stalled link pushes
/// back on the sender as a stalled TCP connection would.
const MAX_HELD: usize = 4 << 20;

/// What every connection through one relay shares.
#[derive(Debug)]
pub(crate) struct Path {
    pub(crate) target: SocketAddr,
    /// From the client's host to the target's host.
    pub(crate) forward: Arc<Link>,
    /// From the target's host back to the client's.
    pub(crate) backward: Arc<Link>,
    pub(crate) from: Arc<Host>,
    pub(crate) to: Arc<Host>,
    /// Set for election relays: the initial message's address is rewritten.
    pub(crate) zk: Option<(ZkAdvertise, Arc<ZkCounters>)>,
}

/// Serves one accepted client until both sides are done with it.
pub(crate) async fn run(client: TcpStream, path: Arc<Path>, changes: watch::Receiver<u64>) {
    // The relay must not add Nagle's delay on top of the link's: the endpoints chose theirs.
    let _ = client.set_nodelay(true);
    path.forward.count_connection();
    let zk = path
        .zk
        .as_ref()
        .map(|(advertise, counters)| InitialMessage::new(advertise.clone(), counters.clone()));
    let mut connection = Connection {
        epochs: (path.from.epoch(), path.to.epoch()),
        forward: Direction::new(path.forward.clone(), true),
        backward: Direction::new(path.backward.clone(), false),
        path,
        client,
        target: None,
        connecting: None,
        connect_at: None,
        accepted: Instant::now(),
        refused: false,
        dead: false,
        zk,
    };
    connection.serve(changes).await;
}

type Connecting = Pin<Box<dyn Future<Output = io::Result<TcpStream>> + Send>>;

/// How long a refused connect to a host that is up is retried (see [`Connection::connected`]).
const REFUSED_RETRY_WINDOW: std::time::Duration = std::time::Duration::from_secs(2);
/// How soon it is retried.
const REFUSED_RETRY_INTERVAL: std::time::Duration = std::time::Duration::from_millis(20);

struct Connection {
    path: Arc<Path>,
    client: TcpStream,
    target: Option<TcpStream>,
    connecting: Option<Connecting>,
    /// When to connect to the target (the SYN's arrival); `None` while not scheduled.
    connect_at: Option<Instant>,
    /// The target refused the connection: a reset is on its way to the client.
    refused: bool,
    /// When the client was accepted: a refusing target of a host that is up is tried again
    /// until [`REFUSED_RETRY_WINDOW`] after this.
    accepted: Instant,
    /// Blackholed: silent for good.
    dead: bool,
    /// The blackhole counts of (from, to) when the connection was accepted.
    epochs: (u64, u64),
    /// Client to target.
    forward: Direction,
    /// Target to client.
    backward: Direction,
    /// The election handshake, until it has been forwarded.
    zk: Option<InitialMessage>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    Client,
    Target,
}

impl Connection {
    async fn serve(&mut self, mut changes: watch::Receiver<u64>) {
        let mut buffer = vec![0u8; CHUNK];
        loop {
            let now = Instant::now();
            self.observe(now);
            if !self.dead && self.deliver(now) {
                return;
            }
            if self.finished() {
                return;
            }
            let wake = self.wake();
            let target = self.target.as_ref();
            let read_client = self.forward.open && self.forward.has_room();
            let read_target = target.is_some() && self.backward.open && self.backward.has_room();
            tokio::select! {
                _ = self.client.readable(), if read_client => self.read(Side::Client, &mut buffer),
                _ = readable(target), if read_target => self.read(Side::Target, &mut buffer),
                _ = writable(target), if self.forward.blocked => self.forward.blocked = false,
                _ = self.client.writable(), if self.backward.blocked => {
                    self.backward.blocked = false;
                }
                () = sleep_until(wake), if wake.is_some() => {}
                result = connect(&mut self.connecting), if self.connecting.is_some() => {
                    self.connected(result);
                }
                changed = changes.changed() => {
                    if changed.is_err() {
                        // The network is gone: so are its relays.
                        return;
                    }
                }
            }
        }
    }

    /// Catches up with the network: blackholes, cuts and heals, and the connect to the target.
    fn observe(&mut self, now: Instant) {
        let path = &self.path;
        if !self.dead
            && (path.from.blackholed()
                || path.to.blackholed()
                || (path.from.epoch(), path.to.epoch()) != self.epochs)
        {
            self.dead = true;
            self.forward.discard();
            self.backward.discard();
            self.connecting = None;
            self.connect_at = None;
        }
        self.forward.observe(now);
        self.backward.observe(now);
        if self.dead || self.refused || self.target.is_some() || self.connecting.is_some() {
            return;
        }
        if self.forward.cut {
            // The SYN does not arrive; it is sent again when the link heals.
            self.connect_at = None;
        } else {
            let at = *self.connect_at.get_or_insert_with(|| {
                now + self.forward.schedule.one_way(&self.forward.link.state())
            });
            if at <= now {
                self.connect_at = None;
                self.connecting = Some(Box::pin(TcpStream::connect(self.path.target)));
            }
        }
    }

    /// Writes whatever is due. Returns whether the connection is over (a reset delivered).
    fn deliver(&mut self, now: Instant) -> bool {
        if let Some(target) = &self.target {
            match self.forward.deliver(target, now) {
                Delivery::Reset => return true,
                Delivery::Failed => {
                    // The target is gone: its kernel resets the client.
                    self.forward.discard();
                    self.backward.push_end(now, true);
                }
                Delivery::Pending => {}
            }
        }
        match self.backward.deliver(&self.client, now) {
            Delivery::Reset => return true,
            Delivery::Failed => {
                self.backward.discard();
                if self.target.is_some() {
                    self.forward.push_end(now, true);
                } else {
                    // Nobody to tell: the client is gone before the target was reached.
                    return true;
                }
            }
            Delivery::Pending => {}
        }
        false
    }

    fn finished(&self) -> bool {
        if self.dead {
            return !self.forward.open && !self.backward.open;
        }
        if self.target.is_none() && self.connecting.is_none() {
            // The client gave up while its SYN was held by a cut: the target never hears of it.
            return !self.refused && !self.forward.open && self.forward.cut;
        }
        self.forward.end_delivered && self.backward.end_delivered
    }

    /// The next time something becomes due.
    fn wake(&self) -> Option<Instant> {
        let mut wake = self.connect_at;
        let mut consider = |at: Option<Instant>| {
            if let Some(at) = at {
                wake = Some(wake.map_or(at, |w| w.min(at)));
            }
        };
        if self.target.is_some() && !self.forward.blocked {
            consider(self.forward.next_due());
        }
        if !self.backward.blocked {
            consider(self.backward.next_due());
        }
        wake
    }

    fn read(&mut self, side: Side, buffer: &mut [u8]) {
        let stream = match side {
            Side::Client => &self.client,
            Side::Target => match &self.target {
                Some(target) => target,
                None => return,
            },
        };
        let result = stream.try_read(buffer);
        let now = Instant::now();
        let direction = match side {
            Side::Client => &mut self.forward,
            Side::Target => &mut self.backward,
        };
        match result {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Ok(n) if n > 0 && self.dead => direction.link.count_discarded(n),
            Ok(0) | Err(_) if self.dead => direction.open = false,
            Ok(n) if n > 0 => {
                let bytes = &buffer[..n];
                match (side, &mut self.zk) {
                    (Side::Client, Some(handshake)) => {
                        if let Some(forward) = handshake.feed(bytes) {
                            self.zk = None;
                            direction.push_data(now, forward);
                        }
                    }
                    _ => direction.push_data(now, bytes.to_vec()),
                }
            }
            end => {
                if side == Side::Client
                    && let Some(handshake) = self.zk.take()
                {
                    let held = handshake.finish();
                    if !held.is_empty() {
                        direction.push_data(now, held);
                    }
                }
                direction.push_end(now, end.is_err());
            }
        }
    }

    fn connected(&mut self, result: io::Result<TcpStream>) {
        self.connecting = None;
        let now = Instant::now();
        match result {
            Ok(target) => {
                let _ = target.set_nodelay(true);
                self.target = Some(target);
                self.backward.open = true;
            }
            Err(_) if !self.path.to.down() && now < self.accepted + REFUSED_RETRY_WINDOW => {
                // The host runs but the port does not listen yet (a ZooKeeper leader opens its
                // quorum port a moment after it wins). A kernel would refuse and the client
                // retry its connect; this client's connect already succeeded, so the relay
                // retries for it.
                self.connect_at = Some(now + REFUSED_RETRY_INTERVAL);
            }
            Err(_) => {
                // Refused (or unreachable): the target's reset travels back to the client.
                self.refused = true;
                self.forward.discard();
                self.backward.push_end(now, true);
            }
        }
    }
}

/// One direction of a connection: what was read from one side and waits for the other.
struct Direction {
    link: Arc<Link>,
    queue: VecDeque<Item>,
    /// Bytes in `queue`.
    held: usize,
    schedule: Schedule,
    /// Nothing is delivered before this (set when a cut heals).
    floor: Option<Instant>,
    /// The link was cut when last observed.
    cut: bool,
    /// The sending side may still send (no end read from it yet).
    open: bool,
    /// An end (FIN) or a reset was queued; only a reset may follow a FIN.
    fin_queued: bool,
    reset_queued: bool,
    /// The last write found the receiver's buffer full.
    blocked: bool,
    /// The end was delivered.
    end_delivered: bool,
}

enum Item {
    Data {
        due: Instant,
        bytes: Vec<u8>,
        written: usize,
    },
    End {
        due: Instant,
        reset: bool,
    },
}

impl Item {
    fn due(&self) -> Instant {
        match self {
            Item::Data { due, .. } | Item::End { due, .. } => *due,
        }
    }
}

enum Delivery {
    /// Nothing more due now (or blocked: see `Direction::blocked`).
    Pending,
    /// A reset was delivered: the connection is over.
    Reset,
    /// The receiving side is gone (a write failed).
    Failed,
}

impl Direction {
    fn new(link: Arc<Link>, open: bool) -> Self {
        let cut = link.state().cut;
        Direction {
            link,
            queue: VecDeque::new(),
            held: 0,
            schedule: Schedule::new(),
            floor: None,
            cut,
            open,
            fin_queued: false,
            reset_queued: false,
            blocked: false,
            end_delivered: false,
        }
    }

    fn has_room(&self) -> bool {
        self.held < MAX_HELD
    }

    /// Notices a cut or a heal of the link.
    fn observe(&mut self, now: Instant) {
        let state = self.link.state();
        if self.cut && !state.cut {
            self.floor = Some(self.schedule.resume(now, &state));
        }
        self.cut = state.cut;
    }

    fn push_data(&mut self, now: Instant, bytes: Vec<u8>) {
        let due = self.schedule.due(now, &self.link.state());
        self.held += bytes.len();
        self.queue.push_back(Item::Data {
            due,
            bytes,
            written: 0,
        });
    }

    /// Queues the sender's end: a FIN, or a reset (which may follow a FIN, not the reverse).
    fn push_end(&mut self, now: Instant, reset: bool) {
        self.open = false;
        if self.reset_queued || (!reset && self.fin_queued) {
            return;
        }
        if reset {
            self.reset_queued = true;
        } else {
            self.fin_queued = true;
        }
        let due = self.schedule.due(now, &self.link.state());
        self.queue.push_back(Item::End { due, reset });
    }

    /// Throws away what is held.
    fn discard(&mut self) {
        let mut discarded = 0;
        for item in self.queue.drain(..) {
            if let Item::Data { bytes, written, .. } = item {
                discarded += bytes.len() - written;
            }
        }
        self.held = 0;
        self.blocked = false;
        self.link.count_discarded(discarded);
    }

    /// When the head of the queue is due, unless the link is cut.
    fn next_due(&self) -> Option<Instant> {
        if self.cut {
            return None;
        }
        let due = self.queue.front()?.due();
        Some(self.floor.map_or(due, |floor| due.max(floor)))
    }

    /// Writes to `to` what is due, in order, until nothing more is due or it would block.
    fn deliver(&mut self, to: &TcpStream, now: Instant) -> Delivery {
        while let Some(due) = self.next_due()
            && due <= now
        {
            match self.queue.front_mut().expect("next_due saw an item") {
                Item::Data { bytes, written, .. } => match to.try_write(&bytes[*written..]) {
                    Ok(n) => {
                        *written += n;
                        self.held -= n;
                        self.link.count_bytes(n);
                        if *written == bytes.len() {
                            self.queue.pop_front();
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        self.blocked = true;
                        return Delivery::Pending;
                    }
                    Err(_) => return Delivery::Failed,
                },
                Item::End { reset, .. } => {
                    let reset = *reset;
                    self.queue.pop_front();
                    self.end_delivered = true;
                    if reset {
                        // Closing with a zero linger sends RST instead of FIN; the caller drops
                        // the socket.
                        let _ = to.set_zero_linger();
                        return Delivery::Reset;
                    }
                    shutdown_write(to);
                }
            }
        }
        Delivery::Pending
    }
}

/// Sends FIN on `stream` and keeps it open for reading (a half-close, as the sender did).
fn shutdown_write(stream: &TcpStream) {
    // SAFETY: `shutdown` on a descriptor that `stream` owns and keeps open for the duration of
    // the call; it touches no memory. tokio offers no synchronous shutdown on `&TcpStream`.
    unsafe {
        libc::shutdown(stream.as_raw_fd(), libc::SHUT_WR);
    }
}

async fn readable(stream: Option<&TcpStream>) -> io::Result<()> {
    match stream {
        Some(stream) => stream.readable().await,
        None => std::future::pending().await,
    }
}

async fn writable(stream: Option<&TcpStream>) -> io::Result<()> {
    match stream {
        Some(stream) => stream.writable().await,
        None => std::future::pending().await,
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

async fn connect(connecting: &mut Option<Connecting>) -> io::Result<TcpStream> {
    match connecting {
        Some(future) => future.as_mut().await,
        None => std::future::pending().await,
    }
}
