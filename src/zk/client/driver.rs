//! The thin async shell around [`SessionCore`]: one task per client on its host, feeding the
//! core packets, requests and the host's clock, and carrying out what it asks (sends, trace,
//! metrics, state broadcasts). It pauses and dies with its host.

use crate::env::Environment;
use crate::sim::net::{Addr, Mailbox, Payload};
use crate::sim::world::HostCtx;
use crate::sync::watch;
use crate::zk::client::requests::Request;
use crate::zk::client::session::{Notice, SessionCore};
use crate::zk::proto::{ClientRequest, RequestBody};
use crate::zk::types::SessionState;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;

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

pub(crate) async fn run(
    ctx: HostCtx,
    mut mailbox: Mailbox,
    mut core: SessionCore,
    mut requests: mpsc::UnboundedReceiver<Request>,
    state: watch::Sender<SessionState>,
    shared: Arc<Mutex<SessionView>>,
) {
    let port = mailbox.addr.port;
    let mut requests_open = true;
    // The armed wake-up and its deadline: replaced only by an earlier deadline, so a busy
    // connection does not make a new timer per packet. A deadline that moved later (the
    // session sent or heard something) is found when the armed one fires: the core's timer
    // handling checks the time itself.
    let mut armed: Option<(Duration, Sleep<'_>)> = None;
    loop {
        flush(&ctx, port, &mut core, &state);
        *shared.lock().expect("session view lock") = SessionView {
            server: core.server(),
            session_timeout: core.session_timeout(),
        };
        if core.is_ended() {
            break;
        }
        let wake = core.poll_timeout();
        match (wake, &armed) {
            (Some(at), Some((armed_at, _))) if at >= *armed_at => {}
            (Some(at), _) => armed = Some((at, Box::pin(ctx.env.sleep_until(at)) as Sleep)),
            (None, _) => armed = None,
        }
        let sleep = async {
            match armed.as_mut() {
                Some((_, sleep)) => sleep.as_mut().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            // Packets first: after a pause, what arrived meanwhile is read before the
            // overdue timers are judged (both are ready at once; real clients race).
            packet = mailbox.recv() => match packet {
                Some(packet) => core.handle_packet(ctx.env.now(), packet.from, packet.payload),
                // The binding is gone: the host's process died.
                None => break,
            },
            request = requests.recv(), if requests_open => match request {
                Some(request) => core.handle_request(ctx.env.now(), request),
                None => {
                    requests_open = false;
                    core.handle_abandoned(ctx.env.now());
                }
            },
            () = sleep => {
                armed = None;
                core.handle_timeout(ctx.env.now());
            }
        }
    }
}

fn flush(
    ctx: &HostCtx,
    port: crate::sim::net::Port,
    core: &mut SessionCore,
    state: &watch::Sender<SessionState>,
) {
    while let Some(t) = core.poll_transmit() {
        ctx.net.send(port, t.to, Payload::ZkRequest(t.request));
    }
    while let Some(notice) = core.poll_notice() {
        match notice {
            Notice::State {
                state: s,
                session_id,
            } => {
                ctx.trace(
                    "client",
                    format_args!("session {session_id:#x} {s:?} (port {port})"),
                );
                state.send_replace(s);
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
}
