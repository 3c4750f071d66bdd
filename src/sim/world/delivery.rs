//! Packets on their way: binding ports, queueing on FIFO links, the per-link delivery tasks.

use super::World;
use crate::sim::net::{Addr, HostId, Mailbox, Packet, Payload, packet_fingerprint};
use madsim::rand::Rng;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, mpsc};

impl World {
    pub(super) fn bind(&self, addr: Addr) -> Mailbox {
        let (sender, receiver) = mpsc::unbounded_channel();
        self.net().bindings.insert(addr, sender);
        Mailbox::new(addr, receiver)
    }

    pub(super) fn send(&self, packet: Packet) {
        let now = self.inner.time.now();
        let (from, to) = (packet.from.host, packet.to.host);
        let start_pump = {
            let mut net = self.net();
            if !matches!(packet.payload, Payload::Reset) {
                net.peers.insert((packet.from, packet.to));
            }
            let at = madsim::rand::thread_rng()
                .with_draws(|draw| net.delivery_time(now, from, to, draw));
            let link = net
                .links
                .get_mut(&(from, to))
                .expect("delivery_time creates the link");
            link.queue.push_back((at, packet));
            match &link.pump {
                // The pump only waits on its notifier when the queue was empty; a packet queued
                // behind others is picked up when the pump gets to it.
                Some(pump) if link.queue.len() == 1 => {
                    pump.notify_one();
                    None
                }
                Some(_) => None,
                None => {
                    let notify = Arc::new(Notify::new());
                    link.pump = Some(notify.clone());
                    Some(notify)
                }
            }
        };
        if let Some(notify) = start_pump {
            self.start_pump(from, to, notify);
        }
    }

    /// See [`super::NetHandle::abandon_unopened`].
    pub(super) fn abandon_unopened(
        &self,
        from: Addr,
        to: Addr,
        opens: impl Fn(&Payload) -> bool,
        belongs: impl Fn(&Payload) -> bool,
    ) {
        let mut net = self.net();
        let Some(link) = net.links.get_mut(&(from.host, to.host)) else {
            return;
        };
        let ours = |packet: &Packet| packet.from == from && packet.to == to;
        if !link
            .queue
            .iter()
            .any(|(_, packet)| ours(packet) && opens(&packet.payload))
        {
            return;
        }
        let before = link.queue.len();
        link.queue
            .retain(|(_, packet)| !(ours(packet) && belongs(&packet.payload)));
        let abandoned = (before - link.queue.len()) as u64;
        net.dropped += abandoned;
    }

    /// One task per directed link delivers its packets in order, waiting while it is cut.
    fn start_pump(&self, from: HostId, to: HostId, notify: Arc<Notify>) {
        let world = self.clone();
        self.inner.net_node.spawn(async move {
            loop {
                enum Next {
                    Wait,
                    SleepUntil(Duration),
                    Deliver(Packet),
                }
                let next = {
                    let mut net = world.net();
                    let blocked = net.is_blocked(from, to);
                    let link = net.links.get_mut(&(from, to)).expect("pumped link exists");
                    match link.queue.front() {
                        None => Next::Wait,
                        Some(_) if blocked => Next::Wait,
                        Some((at, _)) if *at > world.inner.time.now() => Next::SleepUntil(*at),
                        Some(_) => Next::Deliver(link.queue.pop_front().expect("front exists").1),
                    }
                };
                match next {
                    Next::Wait => notify.notified().await,
                    Next::SleepUntil(at) => world.inner.time.sleep_until(at).await,
                    Next::Deliver(packet) => world.deliver(packet),
                }
            }
        });
    }

    /// Wakes every link pump that has packets waiting (after links were healed).
    pub(super) fn wake_all_pumps(&self) {
        let net = self.net();
        for link in net.links.values() {
            if let (Some(pump), false) = (&link.pump, link.queue.is_empty()) {
                pump.notify_one();
            }
        }
    }

    fn deliver(&self, packet: Packet) {
        let fingerprint = packet_fingerprint(&packet);
        let mut net = self.net();
        let refused = match net.bindings.get(&packet.to) {
            Some(sender) => sender.send(packet).err().map(|e| e.0),
            None => Some(packet),
        };
        match refused {
            None => {
                drop(net);
                self.inner
                    .trace
                    .lock()
                    .expect("trace lock")
                    .record_packet(self.inner.time.now(), fingerprint);
            }
            Some(packet) => {
                net.dropped += 1;
                // Nobody listens there: a host whose OS runs answers with a reset ("connection
                // refused"), so the sender moves on at once; a powered-off host stays silent.
                let os_up = !net.powered_off.contains(&packet.to.host);
                drop(net);
                if os_up && !matches!(packet.payload, Payload::Reset) {
                    self.send(Packet {
                        from: packet.to,
                        to: packet.from,
                        payload: Payload::Reset,
                    });
                }
            }
        }
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
