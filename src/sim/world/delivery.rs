//! Packets on their way: binding ports, sending into the receiver's inbox, and the link queues
//! (with a delivery task per link) for the packets a link holds back.

use super::World;
use crate::sim::inbox::{InFlight, Inbox, insert_in_order};
use crate::sim::net::{Addr, HostId, LinkId, Mailbox, Packet, Payload, packet_fingerprint};
use madsim::rand::Rng;
use std::sync::Arc;
use std::task::Waker;
use std::time::Duration;
use tokio::sync::Notify;

impl World {
    pub(super) fn bind(&self, addr: Addr) -> Mailbox {
        let inbox = Arc::new(Inbox::new(self.inner.time.clone()));
        let replaced = self.net().bindings.insert(addr, inbox.clone());
        if let Some(old) = replaced {
            self.close_inbox(&old);
        }
        Mailbox::new(addr, inbox, self.clone())
    }

    pub(super) fn send(&self, packet: Box<Packet>) {
        let now = self.inner.time.now();
        let (from, to) = (packet.from.host, packet.to.host);
        let mut net = self.net();
        if net.shut {
            return;
        }
        let link = net.link_id(from, to);
        if !matches!(packet.payload, Payload::Reset) {
            let conn = (packet.from.port, packet.to.port);
            let conns = &mut net.link(link).conns;
            if !conns.contains(&conn) {
                conns.push(conn);
            }
        }
        let at =
            madsim::rand::thread_rng().with_draws(|draw| net.delivery_time(now, from, to, draw));
        let seq = net.next_seq;
        net.next_seq += 1;
        let item = InFlight {
            at,
            seq,
            arrived: false,
            packet,
        };
        // Straight into the receiver's inbox, unless the link holds packets back.
        if net.link(link).queue.is_empty()
            && !net.is_blocked(from, to)
            && let Some(inbox) = net.bindings.get(&item.packet.to)
        {
            inbox.push(item);
            return;
        }
        self.hold(&mut net, link, item);
    }

    /// Puts `item` in its link's queue (in order) and makes sure the link's task delivers it.
    fn hold(&self, net: &mut crate::sim::net::NetState, link: LinkId, item: InFlight) {
        net.held += 1;
        let queue = &mut net.link(link).queue;
        let was_empty = queue.is_empty();
        insert_in_order(queue, item);
        let ((from, to), link) = &mut net.links[link];
        match &link.pump {
            // The pump only waits on its notifier when its queue was empty (or the link cut,
            // and the heal wakes it): a packet queued behind others is picked up in turn.
            Some(pump) => {
                if was_empty {
                    pump.notify_one();
                }
            }
            None => {
                let notify = Arc::new(Notify::new());
                link.pump = Some(notify.clone());
                self.start_pump(*from, *to, notify);
            }
        }
    }

    /// The receiver of `to` reads `item`, which has arrived: unless the link is cut (or holds
    /// earlier packets), it is delivered now. A held packet goes back to its link.
    pub(super) fn arrive(&self, item: InFlight) -> Option<Box<Packet>> {
        if !item.arrived {
            let (from, to) = (item.packet.from.host, item.packet.to.host);
            let mut net = self.net();
            if net.holds(from, to) {
                let link = net.link_id(from, to);
                self.hold(&mut net, link, item);
                return None;
            }
        }
        let fingerprint = packet_fingerprint(&item.packet);
        self.inner
            .trace
            .lock()
            .expect("trace lock")
            .record_packet(self.inner.time.now(), fingerprint);
        Some(item.packet)
    }

    /// A mailbox was dropped: its port is closed. What was still on the wire to it goes back
    /// to the links, to be refused when it arrives (unless the port is bound again by then).
    pub(super) fn unbind(&self, addr: Addr, inbox: &Arc<Inbox>) {
        let mut net = self.net();
        if net
            .bindings
            .get(&addr)
            .is_some_and(|bound| Arc::ptr_eq(bound, inbox))
        {
            net.bindings.remove(&addr);
        }
        drop(net);
        self.close_inbox(inbox);
    }

    /// Closes an inbox that is no longer bound: packets still on the wire to it return to
    /// their links; those that arrived already are lost with the process that did not read
    /// them.
    pub(super) fn close_inbox(&self, inbox: &Arc<Inbox>) {
        let (queue, waker) = inbox.close();
        let now = self.inner.time.now();
        let mut net = self.net();
        if !net.shut {
            for item in queue {
                if item.on_the_wire(now) {
                    let link = net.link_id(item.packet.from.host, item.packet.to.host);
                    self.hold(&mut net, link, item);
                }
            }
        }
        drop(net);
        // Woken (recv then ends) outside the network's lock: the last waker of a task going
        // may drop its mailbox, which takes the lock.
        wake(waker);
    }

    /// See [`super::NetHandle::abandon_unopened`].
    pub(super) fn abandon_unopened(
        &self,
        from: Addr,
        to: Addr,
        opens: impl Fn(&Payload) -> bool,
        belongs: impl Fn(&Payload) -> bool,
    ) {
        let now = self.inner.time.now();
        let mut net = self.net();
        let ours = |packet: &Packet| packet.from == from && packet.to == to;
        let inbox = net.bindings.get(&to).cloned();
        let link = net.find_link(from.host, to.host);
        let in_link = |net: &crate::sim::net::NetState, pick: &dyn Fn(&Packet) -> bool| {
            link.is_some_and(|id| net.links[id].1.queue.iter().any(|item| pick(&item.packet)))
        };
        let opening = |packet: &Packet| ours(packet) && opens(&packet.payload);
        let unopened = in_link(&net, &opening)
            || inbox
                .as_ref()
                .is_some_and(|inbox| inbox.any_on_the_wire(now, opening));
        if !unopened {
            return;
        }
        let of_it = |packet: &Packet| ours(packet) && belongs(&packet.payload);
        let mut abandoned = 0;
        if let Some(id) = link {
            let queue = &mut net.link(id).queue;
            let before = queue.len();
            queue.retain(|item| !of_it(&item.packet));
            let removed = before - queue.len();
            net.held -= removed;
            abandoned += removed as u64;
        }
        if let Some(inbox) = &inbox {
            abandoned += inbox.drop_on_the_wire(now, of_it);
        }
        net.dropped += abandoned;
    }

    /// A cut of (from → to) links starts: what reached its receiver already stays readable.
    pub(super) fn cut_starts(&self, cut: &[(HostId, HostId)]) {
        if cut.is_empty() {
            return;
        }
        let now = self.inner.time.now();
        let net = self.net();
        let cut: std::collections::BTreeSet<(HostId, HostId)> = cut.iter().copied().collect();
        let receivers: std::collections::BTreeSet<HostId> = cut.iter().map(|&(_, to)| to).collect();
        for host in receivers {
            let range = Addr { host, port: 0 }..=Addr {
                host,
                port: crate::sim::net::Port::MAX,
            };
            for inbox in net.bindings.range(range).map(|(_, inbox)| inbox) {
                inbox.mark_arrived(now, |from| cut.contains(&(from, host)));
            }
        }
    }

    /// One task per directed link delivers the packets the link holds, in order, waiting
    /// while it is cut.
    fn start_pump(&self, from: HostId, to: HostId, notify: Arc<Notify>) {
        let world = self.clone();
        self.inner.net_node.spawn(async move {
            loop {
                enum Next {
                    Wait,
                    SleepUntil(Duration),
                    // Boxed: a packet is large, and this is the rare path.
                    Deliver(Box<InFlight>),
                }
                let next = {
                    let mut net = world.net();
                    let blocked = net.is_blocked(from, to);
                    let id = net.find_link(from, to).expect("pumped link exists");
                    let link = net.link(id);
                    match link.queue.front() {
                        None => Next::Wait,
                        Some(_) if blocked => Next::Wait,
                        Some(item) if item.at > world.inner.time.now() => Next::SleepUntil(item.at),
                        Some(_) => {
                            let item = link.queue.pop_front().expect("front exists");
                            net.held -= 1;
                            Next::Deliver(Box::new(item))
                        }
                    }
                };
                match next {
                    Next::Wait => notify.notified().await,
                    Next::SleepUntil(at) => world.inner.time.sleep_until(at).await,
                    Next::Deliver(item) => world.deliver(*item),
                }
            }
        });
    }

    /// Wakes every link pump that has packets waiting (after links were healed).
    pub(super) fn wake_all_pumps(&self) {
        let net = self.net();
        for (_, link) in &net.links {
            if let (Some(pump), false) = (&link.pump, link.queue.is_empty()) {
                pump.notify_one();
            }
        }
    }

    /// A held packet reaches its host now: into the inbox of whoever listens on its port.
    fn deliver(&self, mut item: InFlight) {
        let mut net = self.net();
        if let Some(inbox) = net.bindings.get(&item.packet.to) {
            item.at = self.inner.time.now();
            item.arrived = true;
            inbox.push(item);
            return;
        }
        let packet = item.packet;
        net.dropped += 1;
        // Nobody listens there: a host whose OS runs answers with a reset ("connection
        // refused"), so the sender moves on at once; a powered-off host stays silent.
        let os_up = !net.powered_off.contains(&packet.to.host);
        drop(net);
        if os_up && !matches!(packet.payload, Payload::Reset) {
            self.send(Box::new(Packet {
                from: packet.to,
                to: packet.from,
                payload: Payload::Reset,
            }));
        }
    }
}

fn wake(waker: Option<Waker>) {
    if let Some(waker) = waker {
        waker.wake();
    }
}

/// Uniform draws from madsim's seeded RNG, for code that takes a `FnMut() -> f64`.
trait WithDraws {
    fn with_draws<T>(&mut self, f: impl FnOnce(&mut dyn FnMut() -> f64) -> T) -> T;
}

impl WithDraws for madsim::rand::GlobalRng {
    fn with_draws<T>(&mut self, f: impl FnOnce(&mut dyn FnMut() -> f64) -> T) -> T {
        let mut draw = || self.r#gen::<f64>();
        f(&mut draw)
    }
}
