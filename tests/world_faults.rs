//! Each fault primitive of the simulated world, observed from inside the simulation with bare
//! probe packets and timers.

use splitbrain::env::Environment;
use splitbrain::sim::clock::true_now;
use splitbrain::sim::net::{Addr, HostId, NetConfig, Payload, ports};
use splitbrain::sim::run_seeded;
use splitbrain::sim::world::{HostCtx, HostStatus, ProcessFn, World};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const PORT: u16 = 7000;

/// Arrivals seen by a receiver: (probe number, true arrival time).
type Arrivals = Arc<Mutex<Vec<(u64, Duration)>>>;

/// A process that records every probe it receives and resets it sees.
fn receiver(arrivals: Arrivals, resets: Arc<Mutex<u32>>) -> ProcessFn {
    Arc::new(move |ctx: HostCtx| {
        let arrivals = arrivals.clone();
        let resets = resets.clone();
        Box::pin(async move {
            let mut mailbox = ctx.net.bind(PORT);
            while let Some(packet) = mailbox.recv().await {
                match packet.payload {
                    Payload::Probe(n) => arrivals.lock().unwrap().push((n, true_now())),
                    Payload::Reset => *resets.lock().unwrap() += 1,
                    _ => {}
                }
            }
        })
    })
}

/// A process that counts its own timer ticks (every 100 ms of its clock) into its disk.
#[derive(Default)]
struct TickDisk {
    ticks: u64,
    starts: u64,
}

fn ticker() -> ProcessFn {
    Arc::new(|ctx: HostCtx| {
        Box::pin(async move {
            let disk = ctx.disk::<TickDisk>();
            disk.lock().unwrap().starts += 1;
            loop {
                ctx.env.sleep(Duration::from_millis(100)).await;
                disk.lock().unwrap().ticks += 1;
            }
        })
    })
}

/// Sends probes from `from` without a process: a raw handle on the host's network.
fn send_probe(world: &World, from: HostId, to: HostId, n: u64) {
    world.net_handle(from).send(
        PORT,
        Addr {
            host: to,
            port: PORT,
        },
        Payload::Probe(n),
    );
}

struct Net {
    world: World,
    a: HostId,
    b: HostId,
    c: HostId,
    arrivals_b: Arrivals,
    resets_b: Arc<Mutex<u32>>,
}

/// a (dc1) and b (dc1) and c (dc2); b runs a receiver.
fn three_hosts() -> Net {
    let world = World::new(NetConfig::default(), true);
    let a = world.add_host("a", "dc1");
    let b = world.add_host("b", "dc1");
    let c = world.add_host("c", "dc2");
    let arrivals_b: Arrivals = Default::default();
    let resets_b = Arc::new(Mutex::new(0));
    world.set_process(b, receiver(arrivals_b.clone(), resets_b.clone()));
    world.start(b).unwrap();
    Net {
        world,
        a,
        b,
        c,
        arrivals_b,
        resets_b,
    }
}

async fn sleep(ms: u64) {
    madsim::time::sleep(Duration::from_millis(ms)).await;
}

#[test]
fn latency_depends_on_sites() {
    run_seeded(1, || async {
        let n = three_hosts();
        sleep(1).await;
        let t0 = true_now();
        send_probe(&n.world, n.a, n.b, 1);
        send_probe(&n.world, n.c, n.b, 2);
        sleep(50).await;
        let arrivals = n.arrivals_b.lock().unwrap().clone();
        let same = arrivals.iter().find(|(k, _)| *k == 1).unwrap().1 - t0;
        let cross = arrivals.iter().find(|(k, _)| *k == 2).unwrap().1 - t0;
        assert!(
            same >= Duration::from_micros(250) && same <= Duration::from_micros(400),
            "{same:?}"
        );
        assert!(
            cross >= Duration::from_millis(9) && cross <= Duration::from_millis(12),
            "{cross:?}"
        );
    });
}

#[test]
fn links_deliver_in_order() {
    run_seeded(2, || async {
        let n = three_hosts();
        for i in 0..200 {
            send_probe(&n.world, n.c, n.b, i);
        }
        sleep(100).await;
        let order: Vec<u64> = n
            .arrivals_b
            .lock()
            .unwrap()
            .iter()
            .map(|(k, _)| *k)
            .collect();
        assert_eq!(order, (0..200).collect::<Vec<_>>());
    });
}

#[test]
fn partition_stalls_then_heal_delivers_in_order() {
    run_seeded(3, || async {
        let n = three_hosts();
        n.world.partition(&[n.a], &[n.b]);
        assert!(!n.world.can_reach(n.a, n.b) && !n.world.can_reach(n.b, n.a));
        send_probe(&n.world, n.a, n.b, 1);
        send_probe(&n.world, n.a, n.b, 2);
        send_probe(&n.world, n.c, n.b, 3); // c is not cut
        sleep(5_000).await;
        assert_eq!(
            n.arrivals_b
                .lock()
                .unwrap()
                .iter()
                .map(|(k, _)| *k)
                .collect::<Vec<_>>(),
            vec![3]
        );
        let healed_at = true_now();
        n.world.heal();
        sleep(10).await;
        let arrivals = n.arrivals_b.lock().unwrap().clone();
        assert_eq!(
            arrivals.iter().map(|(k, _)| *k).collect::<Vec<_>>(),
            vec![3, 1, 2]
        );
        assert!(arrivals[1].1 >= healed_at);
    });
}

#[test]
fn a_cut_holds_packets_already_on_the_wire() {
    run_seeded(13, || async {
        let n = three_hosts();
        sleep(1).await;
        // Sent before the cut, due after it: held until the heal, then in order with what
        // was sent during the cut.
        send_probe(&n.world, n.c, n.b, 1);
        sleep(2).await;
        n.world.partition(&[n.c], &[n.b]);
        send_probe(&n.world, n.c, n.b, 2);
        sleep(1_000).await;
        assert!(n.arrivals_b.lock().unwrap().is_empty());
        let healed_at = true_now();
        n.world.heal();
        sleep(10).await;
        let arrivals = n.arrivals_b.lock().unwrap().clone();
        assert_eq!(
            arrivals.iter().map(|(k, _)| *k).collect::<Vec<_>>(),
            vec![1, 2]
        );
        assert!(arrivals[0].1 >= healed_at);
    });
}

#[test]
fn what_reached_a_paused_host_before_a_cut_is_read_on_resume() {
    run_seeded(14, || async {
        let n = three_hosts();
        sleep(1).await;
        n.world.pause(n.b).unwrap();
        send_probe(&n.world, n.a, n.b, 1);
        sleep(10).await;
        // The probe is in b's socket buffer: cutting the link now does not take it back.
        n.world.partition(&[n.a], &[n.b]);
        send_probe(&n.world, n.a, n.b, 2);
        n.world.resume(n.b).unwrap();
        sleep(10).await;
        let read = |n: &Net| -> Vec<u64> {
            n.arrivals_b
                .lock()
                .unwrap()
                .iter()
                .map(|(k, _)| *k)
                .collect()
        };
        assert_eq!(read(&n), vec![1]);
        n.world.heal();
        sleep(10).await;
        assert_eq!(read(&n), vec![1, 2]);
    });
}

#[test]
fn a_port_bound_again_gets_what_was_on_the_wire_to_it() {
    run_seeded(15, || async {
        let n = three_hosts();
        sleep(1).await;
        n.world.crash(n.b, true).unwrap();
        send_probe(&n.world, n.c, n.b, 1);
        // Back up (and listening) before the probe's 9 ms cross-site trip ends.
        n.world.start(n.b).unwrap();
        sleep(50).await;
        let arrivals = n.arrivals_b.lock().unwrap().clone();
        assert_eq!(
            arrivals.iter().map(|(k, _)| *k).collect::<Vec<_>>(),
            vec![1]
        );
    });
}

#[test]
fn an_abandoned_connection_that_never_opened_delivers_nothing() {
    run_seeded(3, || async {
        let n = three_hosts();
        let to = Addr {
            host: n.b,
            port: PORT,
        };
        let (first, data) = (
            |p: &Payload| *p == Payload::Probe(1),
            |p: &Payload| matches!(p, Payload::Probe(1 | 2)),
        );
        // An attempt (1 opens it, 2 is its data) stalled in a cut link, then closed by the
        // client: nothing of it arrives after the heal; the next attempt (3) does.
        n.world.partition(&[n.a], &[n.b]);
        send_probe(&n.world, n.a, n.b, 1);
        send_probe(&n.world, n.a, n.b, 2);
        n.world
            .net_handle(n.a)
            .abandon_unopened(PORT, to, first, data);
        send_probe(&n.world, n.a, n.b, 3);
        n.world.heal();
        sleep(10).await;
        let arrived = |n: &Net| -> Vec<u64> {
            n.arrivals_b
                .lock()
                .unwrap()
                .iter()
                .map(|(k, _)| *k)
                .collect()
        };
        assert_eq!(arrived(&n), vec![3]);
        // Once the opening packet was delivered the connection existed: its data queued
        // behind a cut still arrives after the client closes it.
        send_probe(&n.world, n.a, n.b, 1);
        sleep(10).await;
        n.world.partition(&[n.a], &[n.b]);
        send_probe(&n.world, n.a, n.b, 2);
        n.world
            .net_handle(n.a)
            .abandon_unopened(PORT, to, first, data);
        n.world.heal();
        sleep(10).await;
        assert_eq!(arrived(&n), vec![3, 1, 2]);
    });
}

#[test]
fn one_way_partition_cuts_one_direction() {
    run_seeded(4, || async {
        let n = three_hosts();
        n.world.partition_oneway(&[n.a], &[n.b]);
        assert!(!n.world.can_reach(n.a, n.b));
        assert!(n.world.can_reach(n.b, n.a));
        send_probe(&n.world, n.a, n.b, 1);
        sleep(100).await;
        assert!(n.arrivals_b.lock().unwrap().is_empty());
    });
}

#[test]
fn isolate_site_and_bridge() {
    run_seeded(5, || async {
        let n = three_hosts();
        n.world.isolate_site("dc2");
        assert!(!n.world.can_reach(n.c, n.a) && !n.world.can_reach(n.b, n.c));
        assert!(n.world.can_reach(n.a, n.b));
        n.world.heal();
        assert!(n.world.can_reach(n.c, n.a));
        // a | c, joined by b
        n.world.bridge(&[n.a, n.b], &[n.b, n.c], n.b);
        assert!(!n.world.can_reach(n.a, n.c) && !n.world.can_reach(n.c, n.a));
        assert!(n.world.can_reach(n.a, n.b) && n.world.can_reach(n.c, n.b));
        assert!(n.world.can_reach(n.b, n.a) && n.world.can_reach(n.b, n.c));
    });
}

#[test]
fn packet_loss_and_latency_spikes_delay_delivery() {
    run_seeded(6, || async {
        let n = three_hosts();
        n.world
            .set_extra_latency(&[n.a], &[n.b], Duration::from_millis(500));
        let t0 = true_now();
        send_probe(&n.world, n.a, n.b, 1);
        sleep(1_000).await;
        let at = n.arrivals_b.lock().unwrap()[0].1;
        assert!(at - t0 >= Duration::from_millis(500));
        n.world.clear_link_faults();
        n.world.set_loss(&[n.a], &[n.b], 1.0).unwrap();
        let t1 = true_now();
        send_probe(&n.world, n.a, n.b, 2);
        sleep(120_000).await;
        let at = n.arrivals_b.lock().unwrap()[1].1;
        // every try lost: 8 retransmissions, 200 ms doubling = 51 s of back-off
        assert!(at - t1 >= Duration::from_millis(51_000), "{:?}", at - t1);
        assert!(n.world.set_loss(&[n.a], &[n.b], 1.5).is_err());
    });
}

#[test]
fn crash_restart_and_wipe() {
    run_seeded(7, || async {
        let world = World::new(NetConfig::default(), false);
        let h = world.add_host("h", "dc1");
        world.set_process(h, ticker());
        world.start(h).unwrap();
        sleep(1_050).await;
        let disk = world.disk::<TickDisk>(h);
        assert_eq!(disk.lock().unwrap().ticks, 10);
        world.crash(h, false).unwrap();
        assert_eq!(world.status(h), HostStatus::Down);
        sleep(1_000).await;
        assert_eq!(
            disk.lock().unwrap().ticks,
            10,
            "a crashed process runs nothing"
        );
        assert!(
            world.crash(h, false).is_err(),
            "cannot crash a host that is down"
        );
        world.start(h).unwrap();
        sleep(1_000).await;
        assert_eq!(
            disk.lock().unwrap().starts,
            2,
            "durable state survives a crash"
        );
        assert_eq!(disk.lock().unwrap().ticks, 19);
        world.wipe(h).unwrap();
        world.start(h).unwrap();
        sleep(350).await;
        let fresh = world.disk::<TickDisk>(h);
        assert_eq!(fresh.lock().unwrap().starts, 1, "wipe loses durable state");
        assert_eq!(fresh.lock().unwrap().ticks, 3);
    });
}

#[test]
fn pause_parks_the_process_and_overdue_timers_fire_on_resume() {
    run_seeded(8, || async {
        let n = three_hosts();
        n.world.set_process(n.a, ticker());
        n.world.start(n.a).unwrap();
        sleep(550).await;
        let disk = n.world.disk::<TickDisk>(n.a);
        assert_eq!(disk.lock().unwrap().ticks, 5);
        n.world.pause(n.a).unwrap();
        n.world.pause(n.b).unwrap();
        send_probe(&n.world, n.c, n.b, 9);
        sleep(10_000).await;
        assert_eq!(
            disk.lock().unwrap().ticks,
            5,
            "a paused process runs nothing"
        );
        assert!(
            n.arrivals_b.lock().unwrap().is_empty(),
            "a paused receiver reads nothing"
        );
        n.world.resume(n.a).unwrap();
        n.world.resume(n.b).unwrap();
        sleep(1).await;
        assert_eq!(
            disk.lock().unwrap().ticks,
            6,
            "the overdue timer fires once on resume"
        );
        assert_eq!(
            n.arrivals_b.lock().unwrap().len(),
            1,
            "packets buffered while paused are read"
        );
        assert!(n.world.resume(n.a).is_err());
    });
}

#[test]
fn crash_resets_peers_unless_hard() {
    run_seeded(9, || async {
        let n = three_hosts();
        // b's process talked to a and c: their hosts would get resets when b dies
        n.world
            .set_process(n.a, receiver(Default::default(), n.resets_b.clone()));
        n.world
            .set_process(n.c, receiver(Default::default(), n.resets_b.clone()));
        n.world.start(n.a).unwrap();
        n.world.start(n.c).unwrap();
        n.world.net_handle(n.b).send(
            PORT,
            Addr {
                host: n.a,
                port: PORT,
            },
            Payload::Probe(1),
        );
        n.world.net_handle(n.b).send(
            PORT,
            Addr {
                host: n.c,
                port: PORT,
            },
            Payload::Probe(2),
        );
        sleep(50).await;
        n.world.crash(n.b, false).unwrap();
        sleep(50).await;
        assert_eq!(*n.resets_b.lock().unwrap(), 2);
        n.world.start(n.b).unwrap();
        n.world.net_handle(n.b).send(
            PORT,
            Addr {
                host: n.a,
                port: PORT,
            },
            Payload::Probe(3),
        );
        sleep(50).await;
        n.world.crash(n.b, true).unwrap();
        sleep(50).await;
        assert_eq!(*n.resets_b.lock().unwrap(), 2, "a hard crash sends nothing");
        let _ = ports::ZK_CLIENT;
    });
}

/// A process that wakes after 3 s of its own monotonic clock and records the true time.
fn one_sleep(done: Arc<Mutex<Option<Duration>>>, local: Duration) -> ProcessFn {
    Arc::new(move |ctx: HostCtx| {
        let done = done.clone();
        Box::pin(async move {
            ctx.env.sleep(local).await;
            *done.lock().unwrap() = Some(true_now());
        })
    })
}

#[test]
fn clock_drift_offset_and_jumps() {
    run_seeded(10, || async {
        let world = World::new(NetConfig::default(), false);
        let fast = world.add_host("fast", "dc1");
        let jumpy = world.add_host("jumpy", "dc1");
        let fast_done = Arc::new(Mutex::new(None));
        let jumpy_done = Arc::new(Mutex::new(None));
        world.set_process(fast, one_sleep(fast_done.clone(), Duration::from_secs(3)));
        world.set_process(
            jumpy,
            one_sleep(jumpy_done.clone(), Duration::from_secs(10)),
        );
        world.clock_drift(fast, 1.5).unwrap();
        world.start(fast).unwrap();
        world.start(jumpy).unwrap();
        sleep(1_000).await;
        // wall jumps do not move monotonic timers
        world.clock_jump(jumpy, 60_000, false).unwrap();
        sleep(1_500).await;
        let fast_at = fast_done.lock().unwrap().unwrap();
        assert!(
            fast_at >= Duration::from_secs(2) && fast_at < Duration::from_millis(2_001),
            "{fast_at:?}"
        );
        assert!(jumpy_done.lock().unwrap().is_none());
        // a monotonic jump forward fires the timer at once
        world.clock_jump(jumpy, 8_000, true).unwrap();
        sleep(1).await;
        let jumpy_at = jumpy_done.lock().unwrap().unwrap();
        assert!(jumpy_at < Duration::from_millis(2_502), "{jumpy_at:?}");
        assert!(
            world.clock_jump(jumpy, -1, true).is_err(),
            "monotonic clocks never go back"
        );
        assert!(world.clock_drift(jumpy, 0.0).is_err());
        // offset and wall readings
        let clock = world.clock(jumpy);
        let before = clock.wall_now_millis();
        world.clock_offset(jumpy, -5_000);
        assert_eq!(clock.wall_now_millis(), before - 60_000 - 5_000);
    });
}

#[test]
fn clock_strobe_flips_the_wall_clock() {
    run_seeded(11, || async {
        let world = World::new(NetConfig::default(), false);
        let h = world.add_host("h", "dc1");
        let clock = world.clock(h);
        world
            .clock_strobe(h, 10_000, Duration::from_secs(1), Duration::from_secs(4))
            .unwrap();
        let mut readings = Vec::new();
        for _ in 0..6 {
            readings.push(clock.wall_now_millis() - true_now().as_millis() as i64);
            sleep(1_000).await;
        }
        let base = readings[0];
        let rel: Vec<i64> = readings.iter().map(|r| r - base).collect();
        assert_eq!(rel, vec![0, 10_000, 0, 10_000, 0, 0]);
    });
}

#[test]
fn same_seed_same_trace() {
    fn run(seed: u64) -> u64 {
        run_seeded(seed, || async {
            let n = three_hosts();
            for i in 0..50 {
                send_probe(&n.world, n.a, n.b, i);
                send_probe(&n.world, n.c, n.b, 1000 + i);
                sleep(1).await;
            }
            n.world.partition(&[n.c], &[n.b]);
            sleep(100).await;
            n.world.heal();
            sleep(100).await;
            n.world.trace_hash()
        })
    }
    assert_eq!(run(42), run(42));
    assert_ne!(run(42), run(43), "jitter draws come from the seed");
}

#[test]
fn closed_ports_refuse_with_a_reset_unless_powered_off() {
    run_seeded(12, || async {
        let n = three_hosts();
        // a's process listens and records resets; c has no process at all but its OS is up.
        n.world
            .set_process(n.a, receiver(Default::default(), n.resets_b.clone()));
        n.world.start(n.a).unwrap();
        n.world.net_handle(n.a).send(
            PORT,
            Addr {
                host: n.c,
                port: PORT,
            },
            Payload::Probe(1),
        );
        sleep(50).await;
        assert_eq!(
            *n.resets_b.lock().unwrap(),
            1,
            "connection refused comes back as a reset"
        );
        n.world.crash(n.b, true).unwrap();
        n.world.net_handle(n.a).send(
            PORT,
            Addr {
                host: n.b,
                port: PORT,
            },
            Payload::Probe(2),
        );
        sleep(50).await;
        assert_eq!(
            *n.resets_b.lock().unwrap(),
            1,
            "a powered-off host answers nothing"
        );
        n.world.start(n.b).unwrap();
        n.world.net_handle(n.a).send(
            PORT,
            Addr {
                host: n.b,
                port: PORT + 1,
            },
            Payload::Probe(3),
        );
        sleep(50).await;
        assert_eq!(
            *n.resets_b.lock().unwrap(),
            2,
            "powered on again: closed ports refuse"
        );
    });
}
