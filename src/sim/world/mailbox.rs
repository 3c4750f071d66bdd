//! A receiving socket: the packets addressed to one (host, port), read as they arrive.

use super::World;
use crate::sim::inbox::Inbox;
use crate::sim::net::{Addr, Packet};
use std::sync::Arc;
use std::task::{Context, Poll};

/// Packets to one bound (host, port). Dropping it closes the port: later packets to it are
/// refused with a reset.
pub struct Mailbox {
    pub addr: Addr,
    inbox: Arc<Inbox>,
    world: World,
}

impl Mailbox {
    pub(super) fn new(addr: Addr, inbox: Arc<Inbox>, world: World) -> Self {
        Mailbox { addr, inbox, world }
    }

    /// The next packet (boxed, as it travelled), or `None` once the binding is gone (the
    /// process died).
    pub async fn recv(&mut self) -> Option<Box<Packet>> {
        std::future::poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// Polls for the next packet: [`Mailbox::recv`] for hand-written futures.
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<Box<Packet>>> {
        loop {
            match self.inbox.poll_next(cx) {
                Poll::Ready(Some(item)) => {
                    if let Some(packet) = self.world.arrive(item) {
                        return Poll::Ready(Some(packet));
                    }
                }
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Pending => return Poll::Pending,
            }
        }
    }

    /// A packet if one has arrived.
    pub fn try_recv(&mut self) -> Option<Box<Packet>> {
        loop {
            let item = self.inbox.take_arrived()?;
            if let Some(packet) = self.world.arrive(item) {
                return Some(packet);
            }
        }
    }
}

impl Drop for Mailbox {
    fn drop(&mut self) {
        self.world.unbind(self.addr, &self.inbox);
    }
}
