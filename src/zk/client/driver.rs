//! The thin async shell around [`SessionCore`]: the core behind a lock that the session's
//! handles and one task per client on its host share. A handle hands its request to the core
//! itself and sends what the core wants sent at once (a request channel to the task cost
//! every request one more task wake); the task feeds the core packets and the host's clock.
//! Either carries out what the core asks (sends, trace, metrics, state broadcasts). The task
//! pauses and dies with its host.

use crate::env::Environment;
use crate::sim::net::{Addr, Mailbox, Payload, Port};
use crate::sim::world::HostCtx;
use crate::sync::watch;
use crate::zk::client::requests::Request;
use crate::zk::client::session::{Notice, SessionCore};
use crate::zk::proto::{ClientRequest, RequestBody};
use crate::zk::types::SessionState;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Poll, Waker};
use std::time::Duration;

/// What the session's handle reads of the driver's state, kept up to date after every event.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct SessionView {
    /// The server the session is connected to right now, if any.
    pub server: Option<Addr>,
    /// The session timeout the ensemble granted.
    pub session_timeout: Duration,
}

/// A wake-up on the host's clock.
type Sleep<'a> = Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

/// The session core and what goes with it, shared by the handles and the driver task.
pub(crate) struct Session {
    ctx: HostCtx,
    port: Port,
    core: SessionCore,
    state: watch::Sender<SessionState>,
    view: SessionView,
    /// The deadline the task's timer is armed for.
    armed: Option<Duration>,
    /// The task runs (it ends with the session, or when its host's process dies).
    running: bool,
    /// Set by a handle whose request needs the task awake (an earlier deadline, the end).
    kicked: bool,
    /// The task's waker, for kicks.
    task: Option<Waker>,
}

/// Clones share the session.
#[derive(Clone)]
pub(crate) struct SharedSession(Arc<Mutex<Session>>);

impl SharedSession {
    pub(crate) fn new(
        ctx: HostCtx,
        port: Port,
        core: SessionCore,
        state: watch::Sender<SessionState>,
    ) -> Self {
        SharedSession(Arc::new(Mutex::new(Session {
            ctx,
            port,
            core,
            state,
            view: SessionView::default(),
            armed: None,
            running: true,
            kicked: false,
            task: None,
        })))
    }

    fn lock(&self) -> MutexGuard<'_, Session> {
        self.0.lock().expect("session lock")
    }

    pub(crate) fn view(&self) -> SessionView {
        self.lock().view
    }

    /// Hands a request to the core and sends what it asks at once; gives the request back
    /// if the session's task is gone.
    pub(crate) fn submit(&self, request: Request) -> Result<(), Request> {
        let mut session = self.lock();
        if !session.running {
            return Err(request);
        }
        let now = session.ctx.env.now();
        session.core.handle_request(now, request);
        session.after_event();
        Ok(())
    }

    /// Every handle is gone: the session closes, as the crate's does.
    pub(crate) fn abandon(&self) {
        let mut session = self.lock();
        // A crash drops the handles with the rest of the process: a dead process sends no
        // close (its session is left to expire).
        if session.running && session.ctx.process_alive() {
            let now = session.ctx.env.now();
            session.core.handle_abandoned(now);
            session.after_event();
        }
    }
}

impl Session {
    /// Carries out what the core asks, and wakes the task if its timer is now armed too late.
    fn after_event(&mut self) {
        self.flush();
        let late = match (self.core.poll_timeout(), self.armed) {
            (Some(at), Some(armed)) => at < armed,
            (Some(_), None) => true,
            (None, _) => false,
        };
        if late || self.core.is_ended() {
            self.kicked = true;
            if let Some(task) = &self.task {
                task.wake_by_ref();
            }
        }
    }

    fn flush(&mut self) {
        let (ctx, port) = (&self.ctx, self.port);
        while let Some(t) = self.core.poll_transmit() {
            ctx.net.send(port, t.to, Payload::ZkRequest(t.request));
        }
        while let Some(notice) = self.core.poll_notice() {
            match notice {
                Notice::State {
                    state: s,
                    session_id,
                } => {
                    ctx.trace(
                        "client",
                        format_args!("session {session_id:#x} {s:?} (port {port})"),
                    );
                    if s == SessionState::SyncConnected {
                        // For coverage points about the session's node.
                        ctx.world
                            .note_session_host(session_id, ctx.host, ctx.incarnation);
                    }
                    self.state.send_replace(s);
                }
                Notice::Attempt { server, conn } => {
                    // Rare enough (one per connect attempt) to afford the name lookup.
                    let name = ctx.world.host_name(server.host);
                    ctx.trace(
                        "client",
                        format_args!("connecting to {name}:{} conn {conn:#x}", server.port),
                    )
                }
                Notice::Lost { why } => {
                    ctx.trace("client", format_args!("connection {why} (port {port})"))
                }
                // Sent before the notice: the attempt's packets are all on the link by now.
                Notice::Abandoned { server, conn } => ctx.net.abandon_unopened(
                    port,
                    server,
                    |p| {
                        matches!(p, Payload::ZkRequest(ClientRequest { conn: c, body: RequestBody::Connect { .. } }) if *c == conn)
                    },
                    |p| matches!(p, Payload::ZkRequest(r) if r.conn == conn),
                ),
                Notice::OpDone { kind, path, result } => {
                    ctx.trace("client", format_args!("{kind} {path} {result:?}"));
                    let metric = if result == crate::zk::types::ErrorCode::Ok {
                        "client.ops_ok"
                    } else {
                        "client.ops_failed"
                    };
                    ctx.world.count(metric, 1);
                    if kind == "sync" {
                        // Counted apart too: a master's lease renewals are syncs.
                        ctx.world.count("client.syncs", 1);
                    }
                }
                Notice::WatchFired { event, watches } => ctx.trace(
                    "client",
                    format_args!(
                        "watch {:?} {} fired {watches}",
                        event.event_type, event.path
                    ),
                ),
            }
        }
        self.view = SessionView {
            server: self.core.server(),
            session_timeout: self.core.session_timeout(),
        };
    }
}

/// Marks the session's task gone however it ends (its host's process may die).
struct Stopped(SharedSession);

impl Drop for Stopped {
    fn drop(&mut self) {
        let mut session = self.0.lock();
        session.running = false;
        session.task = None;
    }
}

pub(crate) async fn run(ctx: HostCtx, mut mailbox: Mailbox, shared: SharedSession) {
    let _stopped = Stopped(shared.clone());
    // The armed wake-up and its deadline: replaced only by an earlier deadline, so a busy
    // connection does not make a new timer per packet. A deadline that moved later (the
    // session sent or heard something) is found when the armed one fires: the core's timer
    // handling checks the time itself.
    let mut armed: Option<(Duration, Sleep<'_>)> = None;
    loop {
        {
            let mut session = shared.lock();
            session.flush();
            if session.core.is_ended() {
                break;
            }
            match (session.core.poll_timeout(), &armed) {
                (Some(at), Some((armed_at, _))) if at >= *armed_at => {}
                (Some(at), _) => armed = Some((at, Box::pin(ctx.env.sleep_until(at)) as Sleep)),
                (None, _) => armed = None,
            }
            session.armed = armed.as_ref().map(|(at, _)| *at);
        }
        let sleep = async {
            match armed.as_mut() {
                Some((_, sleep)) => sleep.as_mut().await,
                None => std::future::pending().await,
            }
        };
        let kicked = std::future::poll_fn(|cx| {
            let mut session = shared.lock();
            if std::mem::take(&mut session.kicked) {
                return Poll::Ready(());
            }
            if !session
                .task
                .as_ref()
                .is_some_and(|w| w.will_wake(cx.waker()))
            {
                session.task = Some(cx.waker().clone());
            }
            Poll::Pending
        });
        tokio::select! {
            biased;
            // Packets first: after a pause, what arrived meanwhile is read before the
            // overdue timers are judged (both are ready at once; real clients race).
            packet = mailbox.recv() => match packet {
                Some(packet) => {
                    let mut session = shared.lock();
                    session.core.handle_packet(ctx.env.now(), packet.from, packet.payload);
                }
                // The binding is gone: the host's process died.
                None => break,
            },
            () = kicked => {}
            () = sleep => {
                armed = None;
                shared.lock().core.handle_timeout(ctx.env.now());
            }
        }
    }
}
