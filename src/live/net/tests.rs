//! Relays on loopback against small servers of the tests' own, each bounded in time.

use super::zk_election::{PROTOCOL_VERSION_V1, PROTOCOL_VERSION_V2, encode};
use super::*;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::{Instant, timeout};

const LONG: Duration = Duration::from_secs(5);
/// How long "nothing arrives" is watched for.
const QUIET: Duration = Duration::from_millis(300);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn delay(ms_: u64) -> LinkState {
    LinkState {
        delay: ms(ms_),
        ..LinkState::default()
    }
}

fn cut() -> LinkState {
    LinkState {
        cut: true,
        ..LinkState::default()
    }
}

/// Echoes every connection's bytes back.
async fn echo_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                let mut buf = vec![0u8; 64 * 1024];
                while let Ok(n) = stream.read(&mut buf).await {
                    if n == 0 || stream.write_all(&buf[..n]).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

/// A server that hands each accepted connection to the test.
async fn handing_server() -> (SocketAddr, mpsc::UnboundedReceiver<TcpStream>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            if tx.send(stream).is_err() {
                return;
            }
        }
    });
    (addr, rx)
}

async fn accepted(rx: &mut mpsc::UnboundedReceiver<TcpStream>) -> TcpStream {
    timeout(LONG, rx.recv())
        .await
        .expect("the target was reached")
        .expect("server alive")
}

/// Reads exactly `n` bytes, or fails the test.
async fn read_n(stream: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    timeout(LONG, stream.read_exact(&mut buf))
        .await
        .expect("bytes arrived in time")
        .expect("read");
    buf
}

/// What one read returns within `within`: `None` if nothing came.
async fn read_within(stream: &mut TcpStream, within: Duration) -> Option<io::Result<Vec<u8>>> {
    let mut buf = vec![0u8; 4096];
    match timeout(within, stream.read(&mut buf)).await {
        Ok(Ok(n)) => Some(Ok(buf[..n].to_vec())),
        Ok(Err(e)) => Some(Err(e)),
        Err(_) => None,
    }
}

fn reset_on_drop(stream: &TcpStream) {
    stream.set_zero_linger().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn echoes_through_a_relay_and_counts() {
    let net = Network::new();
    let echo = echo_server().await;
    let relay = net.relay("a", "b", echo, RelayKind::Plain).unwrap();
    assert_eq!(net.relay("a", "b", echo, RelayKind::Plain).unwrap(), relay);
    let mut client = TcpStream::connect(relay).await.unwrap();
    client.write_all(b"hello").await.unwrap();
    assert_eq!(read_n(&mut client, 5).await, b"hello");
    let big: Vec<u8> = (0..1_000_000u32).map(|i| i as u8).collect();
    let (mut r, mut w) = client.into_split();
    let sent = big.clone();
    let writer = tokio::spawn(async move { w.write_all(&sent).await });
    let mut back = vec![0u8; big.len()];
    timeout(LONG, r.read_exact(&mut back))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(back, big);
    writer.await.unwrap().unwrap();
    let forward = net.counters("a", "b");
    assert_eq!(forward.connections, 1);
    assert_eq!(forward.bytes, 1_000_005);
    // The relay counts right after its write, which the client may read first.
    let deadline = Instant::now() + LONG;
    while net.counters("b", "a").bytes < 1_000_005 && Instant::now() < deadline {
        tokio::time::sleep(ms(1)).await;
    }
    assert_eq!(net.counters("b", "a").bytes, 1_000_005);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delay_applies_per_direction() {
    let net = Network::new();
    net.set_base("a", "b", delay(40));
    net.set_base("b", "a", delay(25));
    let echo = echo_server().await;
    let relay = net.relay("a", "b", echo, RelayKind::Plain).unwrap();
    let mut client = TcpStream::connect(relay).await.unwrap();
    client.set_nodelay(true).unwrap();
    // The first exchange also waits for the connect to the target (the SYN's 40 ms).
    client.write_all(b"x").await.unwrap();
    read_n(&mut client, 1).await;
    for _ in 0..3 {
        let start = Instant::now();
        client.write_all(b"ping").await.unwrap();
        read_n(&mut client, 4).await;
        let rtt = start.elapsed();
        assert!(rtt >= ms(65), "round trip {rtt:?} under 40 + 25 ms");
        assert!(rtt < ms(65 + 60), "round trip {rtt:?} far over 40 + 25 ms");
    }
    // A change applies to the open connection.
    net.set_link("a", "b", delay(100));
    let start = Instant::now();
    client.write_all(b"ping").await.unwrap();
    read_n(&mut client, 4).await;
    assert!(start.elapsed() >= ms(125));
    net.heal_all();
    assert_eq!(net.link("a", "b"), delay(40));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jitter_never_reorders() {
    let net = Network::new();
    let jittery = LinkState {
        delay: ms(1),
        jitter: ms(20),
        ..LinkState::default()
    };
    net.set_base("a", "b", jittery);
    let (server, mut accepts) = handing_server().await;
    let relay = net.relay("a", "b", server, RelayKind::Plain).unwrap();
    let mut client = TcpStream::connect(relay).await.unwrap();
    client.set_nodelay(true).unwrap();
    let mut target = accepted(&mut accepts).await;
    let count = 300u32;
    let sender = tokio::spawn(async move {
        for i in 0..count {
            client.write_all(&i.to_be_bytes()).await.unwrap();
            // Separate reads, so that each number is a chunk of its own with its own draw.
            tokio::time::sleep(Duration::from_micros(300)).await;
        }
        client
    });
    let received = read_n(&mut target, 4 * count as usize).await;
    let numbers: Vec<u32> = received
        .chunks(4)
        .map(|c| u32::from_be_bytes(c.try_into().unwrap()))
        .collect();
    assert_eq!(numbers, (0..count).collect::<Vec<_>>());
    sender.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loss_costs_retransmission_timeouts_not_bytes() {
    let net = Network::new();
    let echo = echo_server().await;
    let relay = net.relay("a", "b", echo, RelayKind::Plain).unwrap();
    let mut client = TcpStream::connect(relay).await.unwrap();
    client.set_nodelay(true).unwrap();
    client.write_all(b"x").await.unwrap();
    read_n(&mut client, 1).await;
    net.set_link(
        "a",
        "b",
        LinkState {
            loss: 0.2,
            ..LinkState::default()
        },
    );
    // Each round trip is either quick or at least one 200 ms retransmission timeout late;
    // thirty without a single loss happen about once in a thousand runs. A chunk lost eight
    // times in a row waits 51 s, hence the long timeout.
    let mut lost = 0;
    for i in 0..30u8 {
        let start = Instant::now();
        client.write_all(&[i]).await.unwrap();
        let mut back = [0u8];
        timeout(Duration::from_secs(60), client.read_exact(&mut back))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(back, [i]);
        let rtt = start.elapsed();
        assert!(rtt < ms(100) || rtt >= ms(200), "round trip {rtt:?}");
        lost += usize::from(rtt >= ms(200));
    }
    assert!(lost > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_one_way_cut_holds_one_direction_until_the_heal() {
    let net = Network::new();
    let (server, mut accepts) = handing_server().await;
    let relay = net.relay("a", "b", server, RelayKind::Plain).unwrap();
    let mut client = TcpStream::connect(relay).await.unwrap();
    let mut target = accepted(&mut accepts).await;

    net.set_link("a", "b", cut());
    client.write_all(b"one").await.unwrap();
    client.write_all(b"two").await.unwrap();
    assert!(read_within(&mut target, QUIET).await.is_none());
    // The other direction still flows.
    target.write_all(b"back").await.unwrap();
    assert_eq!(read_n(&mut client, 4).await, b"back");
    assert!(read_within(&mut target, ms(50)).await.is_none());

    client.write_all(b"three").await.unwrap();
    net.heal_all();
    assert_eq!(read_n(&mut target, 11).await, b"onetwothree");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_made_during_a_cut_reaches_the_target_after_the_heal() {
    let net = Network::new();
    let (server, mut accepts) = handing_server().await;
    let relay = net.relay("a", "b", server, RelayKind::Plain).unwrap();
    net.set_link("a", "b", cut());

    let mut client = TcpStream::connect(relay).await.unwrap();
    client.write_all(b"early").await.unwrap();
    assert!(timeout(QUIET, accepts.recv()).await.is_err());
    net.heal_all();
    let mut target = accepted(&mut accepts).await;
    assert_eq!(read_n(&mut target, 5).await, b"early");
    target.write_all(b"ok").await.unwrap();
    assert_eq!(read_n(&mut client, 2).await, b"ok");

    // A client that gives up during the cut never reaches the target.
    net.set_link("a", "b", cut());
    let quitter = TcpStream::connect(relay).await.unwrap();
    tokio::time::sleep(ms(50)).await;
    drop(quitter);
    tokio::time::sleep(ms(50)).await;
    net.heal_all();
    assert!(timeout(QUIET, accepts.recv()).await.is_err());
    assert_eq!(net.counters("a", "b").connections, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closes_are_half_closes_and_pass_after_the_bytes_before_them() {
    let net = Network::new();
    net.set_base("b", "a", delay(30));
    let (server, mut accepts) = handing_server().await;
    let relay = net.relay("a", "b", server, RelayKind::Plain).unwrap();
    let mut client = TcpStream::connect(relay).await.unwrap();
    let mut target = accepted(&mut accepts).await;

    client.write_all(b"request").await.unwrap();
    client.shutdown().await.unwrap();
    assert_eq!(read_n(&mut target, 7).await, b"request");
    assert_eq!(read_within(&mut target, LONG).await.unwrap().unwrap(), b"");
    // Half-closed: the answer still travels back, then the target's close.
    target.write_all(b"answer").await.unwrap();
    drop(target);
    let start = Instant::now();
    assert_eq!(read_n(&mut client, 6).await, b"answer");
    assert!(start.elapsed() >= ms(25));
    assert_eq!(read_within(&mut client, LONG).await.unwrap().unwrap(), b"");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resets_pass_as_resets_both_ways() {
    let net = Network::new();
    let (server, mut accepts) = handing_server().await;
    let relay = net.relay("a", "b", server, RelayKind::Plain).unwrap();

    // The client resets: the target sees a reset.
    let client = TcpStream::connect(relay).await.unwrap();
    let mut target = accepted(&mut accepts).await;
    reset_on_drop(&client);
    drop(client);
    let error = read_within(&mut target, LONG).await.unwrap().unwrap_err();
    assert_eq!(error.kind(), io::ErrorKind::ConnectionReset);

    // The target resets, after sending something: the client gets the bytes, then a reset.
    let mut client = TcpStream::connect(relay).await.unwrap();
    let target = accepted(&mut accepts).await;
    let mut target = target;
    target.write_all(b"last").await.unwrap();
    reset_on_drop(&target);
    drop(target);
    let mut got = Vec::new();
    let error = loop {
        match read_within(&mut client, LONG).await.unwrap() {
            Ok(bytes) if bytes.is_empty() => panic!("a FIN where a reset was due"),
            Ok(bytes) => got.extend(bytes),
            Err(e) => break e,
        }
    };
    // A reset may overtake bytes still unread in the client's socket (the kernel drops them),
    // so only what arrived is checked.
    assert!(b"last".starts_with(&got));
    assert_eq!(error.kind(), io::ErrorKind::ConnectionReset);

    // A target on a host that is down: the client is reset.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    net.set_down("c", true);
    let relay = net.relay("a", "c", closed, RelayKind::Plain).unwrap();
    // With no delay the reset can come before `connect` has returned, which then reports it.
    let error = match TcpStream::connect(relay).await {
        Ok(mut client) => read_within(&mut client, LONG).await.unwrap().unwrap_err(),
        Err(e) => e,
    };
    assert_eq!(error.kind(), io::ErrorKind::ConnectionReset);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_port_of_a_running_host_that_listens_a_moment_late_is_reached() {
    // A ZooKeeper leader opens its quorum port just after it wins; its followers dial at once.
    let net = Network::new();
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let relay = net
        .relay("follower", "leader", port, RelayKind::Plain)
        .unwrap();
    let mut client = TcpStream::connect(relay).await.unwrap();
    client.write_all(b"hello").await.unwrap();
    tokio::time::sleep(ms(200)).await;
    let listener = TcpListener::bind(port).await.unwrap();
    let (mut target, _) = timeout(LONG, listener.accept()).await.unwrap().unwrap();
    assert_eq!(read_n(&mut target, 5).await, b"hello");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blackholed_host_goes_silent_and_new_connections_work_after() {
    let net = Network::new();
    let (server, mut accepts) = handing_server().await;
    let relay = net.relay("a", "b", server, RelayKind::Plain).unwrap();
    let mut client = TcpStream::connect(relay).await.unwrap();
    let mut target = accepted(&mut accepts).await;
    client.write_all(b"before").await.unwrap();
    assert_eq!(read_n(&mut target, 6).await, b"before");

    net.set_blackholed("b", true);
    // Bytes vanish both ways.
    client.write_all(b"lost").await.unwrap();
    target.write_all(b"lost too").await.unwrap();
    assert!(read_within(&mut target, QUIET).await.is_none());
    assert!(read_within(&mut client, ms(50)).await.is_none());
    // The host dies: its reset does not reach the peer, which sees silence.
    reset_on_drop(&target);
    drop(target);
    assert!(read_within(&mut client, QUIET).await.is_none());
    assert!(net.counters("a", "b").discarded >= 4);

    // New connections hang silent and never reach the target.
    let mut hanging = TcpStream::connect(relay).await.unwrap();
    hanging.write_all(b"anyone?").await.unwrap();
    assert!(read_within(&mut hanging, QUIET).await.is_none());
    assert!(accepts.try_recv().is_err());

    net.set_blackholed("b", false);
    // The old connections stay dead.
    client.write_all(b"still there?").await.unwrap();
    assert!(read_within(&mut client, QUIET).await.is_none());
    assert!(read_within(&mut hanging, ms(50)).await.is_none());
    assert!(accepts.try_recv().is_err());
    // A new one works.
    let mut fresh = TcpStream::connect(relay).await.unwrap();
    let mut target = accepted(&mut accepts).await;
    fresh.write_all(b"hi").await.unwrap();
    assert_eq!(read_n(&mut target, 2).await, b"hi");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_election_relay_rewrites_the_initial_message_of_each_version() {
    let net = Network::new();
    let (server, mut accepts) = handing_server().await;
    let advertise = ZkAdvertise::new();
    let back: SocketAddr = "127.0.0.1:45678".parse().unwrap();
    advertise.set(1, back);
    let relay = net
        .relay("zk1", "zk3", server, RelayKind::ZkElection { advertise })
        .unwrap();

    let cases = [
        (PROTOCOL_VERSION_V1, "127.0.0.1:23888"),
        (PROTOCOL_VERSION_V2, "127.0.0.1:23888|10.1.1.1:3888"),
    ];
    for (version, own) in cases {
        let mut client = TcpStream::connect(relay).await.unwrap();
        client.set_nodelay(true).unwrap();
        let mut message = encode(version, 1, own);
        message.extend_from_slice(b"vote");
        // Split across several reads: the relay forwards the message once it is whole.
        for piece in [
            &message[..5],
            &message[5..17],
            &message[17..24],
            &message[24..],
        ] {
            client.write_all(piece).await.unwrap();
            tokio::time::sleep(ms(20)).await;
        }
        let mut target = accepted(&mut accepts).await;
        let mut expected = encode(version, 1, &back.to_string());
        expected.extend_from_slice(b"vote");
        let first = read_within(&mut target, LONG).await.unwrap().unwrap();
        let header = expected.len() - 4;
        // The rewritten message comes in one piece (ZooKeeper reads the address with a single
        // read).
        assert!(
            first.len() >= header,
            "the message arrived split: {first:?}"
        );
        let mut got = first;
        if got.len() < expected.len() {
            got.extend(read_n(&mut target, expected.len() - got.len()).await);
        }
        assert_eq!(got, expected);
    }

    // An old-style message (a bare sid) passes untouched.
    let mut client = TcpStream::connect(relay).await.unwrap();
    client.write_all(&1i64.to_be_bytes()).await.unwrap();
    let mut target = accepted(&mut accepts).await;
    assert_eq!(read_n(&mut target, 8).await, 1i64.to_be_bytes());

    let counts = net.zk_rewrites();
    assert_eq!(counts.rewritten, 2);
    assert_eq!(counts.old_style, 1);
}

/// Round trips of a small message, direct and through a relay with no delay. Prints the
/// figures (run with `--nocapture`); fails only if the relay is grossly slow, since the
/// machine may be busy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_adds_little_latency() {
    let net = Network::new();
    let echo = echo_server().await;
    let relay = net.relay("a", "b", echo, RelayKind::Plain).unwrap();
    let direct = round_trips(echo, 3000).await;
    let relayed = round_trips(relay, 3000).await;
    let report = |name: &str, rtts: &[Duration]| {
        println!(
            "{name}: median {:?}, p99 {:?}",
            rtts[rtts.len() / 2],
            rtts[rtts.len() * 99 / 100]
        );
    };
    report("direct", &direct);
    report("relayed", &relayed);
    let added = relayed[relayed.len() / 2].saturating_sub(direct[direct.len() / 2]);
    println!("added by the relay: median {added:?}");
    assert!(added < ms(2), "the relay adds {added:?} to a round trip");
}

async fn round_trips(addr: SocketAddr, count: usize) -> Vec<Duration> {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.set_nodelay(true).unwrap();
    let mut buf = [0u8; 32];
    // Warm up (the relay's connect to the target, caches).
    for _ in 0..100 {
        stream.write_all(&buf).await.unwrap();
        stream.read_exact(&mut buf).await.unwrap();
    }
    let mut rtts = Vec::with_capacity(count);
    for _ in 0..count {
        let start = std::time::Instant::now();
        stream.write_all(&buf).await.unwrap();
        stream.read_exact(&mut buf).await.unwrap();
        rtts.push(start.elapsed());
    }
    rtts.sort();
    rtts
}
