//! What a fault schedule is drawn from, swarm style.
//!
//! A case first draws a [`Swarm`]: for each kind of fault, off, rare or often (as TigerBeetle's
//! VOPR re-draws its fault options per seed), so rare combinations — a pause while the
//! ZooKeeper leader changes, skew during a partition — come up in whole runs. It then draws raw
//! [`Episode`]s: a fault and its undoing (a cut and its heal, a pause and its resume, a
//! relinquish and a rejoin), with targets as indexes into the world's lists, so the same draws
//! fit whatever world they land in and shrink independently of it. Module `schedule` lays them
//! out in a world.

use super::world::SET_PRIORITIES;
use crate::scenario::HealthLink;
use proptest::prelude::*;
use proptest::sample::select;

/// The kinds of fault the swarm switches on and off.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Partition,
    OneWay,
    IsolateSite,
    Bridge,
    Loss,
    Latency,
    Crash,
    Restart,
    Wipe,
    Pause,
    ZkLeader,
    Clock,
    Relinquish,
    Priority,
    Health,
    DeleteElection,
}

const KINDS: usize = 16;

/// How often each [`Kind`] strikes in one case: 0 off, 1 rare (about a third of its draws
/// kept), 2 often (all kept).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Swarm {
    pub intensity: Vec<u8>,
}

impl Swarm {
    /// Whether an episode of `kind` with the swarm roll `roll` is kept.
    pub fn keeps(&self, kind: Kind, roll: u8) -> bool {
        match self.intensity.get(kind as usize).copied().unwrap_or(0) {
            0 => false,
            1 => roll < 85,
            _ => true,
        }
    }
}

impl Swarm {
    /// Every kind on, every episode kept: the swarm of a laid-out genotype.
    pub fn all_often() -> Swarm {
        Swarm {
            intensity: vec![2; KINDS],
        }
    }
}

pub fn swarm() -> impl Strategy<Value = Swarm> {
    let intensity = prop_oneof![4 => Just(0u8), 3 => Just(1u8), 3 => Just(2u8)];
    proptest::collection::vec(intensity, KINDS).prop_map(|intensity| Swarm { intensity })
}

/// Links to cut, by index into the world's lists.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Cut {
    /// Two sites (of the three pairs of sites).
    Sites(u8),
    /// A node from every ZooKeeper server, its database still reachable (P2, P7).
    NodeFromZk(u8),
    NodeFromDatabase(u8),
    /// A node from every other host.
    NodeAlone(u8),
    /// A ZooKeeper server from the other servers.
    ZkAlone(u8),
    /// The two nodes of a pair from each other.
    NodeFromNode(u8),
}

#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum HostPick {
    Node(u8),
    Zk(u8),
    /// A database host: primary or replica.
    Database(u8),
}

#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum LeaderOp {
    Crash { hard: bool },
    Pause,
    ClockJump { millis: i64, monotonic: bool },
}

#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum ClockPick {
    Offset(i64),
    Drift(f64),
    Jump(i64),
    JumpMonotonic(i64),
    Strobe { millis: i64, period_ms: u64 },
}

/// One fault and, where it has one, its undoing.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum What {
    Partition(Cut),
    OneWay {
        cut: Cut,
        reversed: bool,
    },
    IsolateSite(u8),
    /// Two sites cut apart except through a ZooKeeper server of the third.
    Bridge(u8),
    /// Lost packets (TCP retransmits them, late) on the links a [`Cut`] names.
    Loss {
        links: Cut,
        probability: f64,
    },
    /// Slow links: between sites, or e.g. a node and its database (a slow commit, P8).
    Latency {
        links: Cut,
        extra_ms: u64,
    },
    Crash {
        host: HostPick,
        hard: bool,
    },
    Restart(HostPick),
    /// A node or a ZooKeeper server loses its disk. Databases keep theirs (a database that
    /// forgets committed data breaks fencing by itself, which is not the election's doing),
    /// and so does a majority of the ensemble: ZooKeeper promises nothing once a quorum's
    /// disks are gone (clients that saw a newer zxid are refused by the empty ensemble, and
    /// zxid-based tokens go back), so episodes wipe one server at a time.
    Wipe(HostPick),
    Pause(HostPick),
    ZkLeader(LeaderOp),
    Clock {
        host: HostPick,
        clock: ClockPick,
    },
    Relinquish {
        node: u8,
        rejoin: bool,
    },
    /// A hand-back while the stand-in master stalls: `node` relinquishes, and as it rejoins,
    /// the other node of its pair (master meanwhile, if `node` is the preferred one) pauses
    /// for `pause` per mille of the session timeout: a GC pause during a rolling upgrade's
    /// hand-back, shorter than the session (P5's timed hand-over shows here).
    HandBackPause {
        node: u8,
        pause: u16,
    },
    Priority {
        node: u8,
        priority: u32,
    },
    Health {
        node: u8,
        link: HealthLink,
    },
    /// An operator's script deletes a pair's election znodes (P6).
    DeleteElection {
        pair: u8,
    },
}

impl What {
    pub fn kind(&self) -> Kind {
        match self {
            What::Partition(_) => Kind::Partition,
            What::OneWay { .. } => Kind::OneWay,
            What::IsolateSite(_) => Kind::IsolateSite,
            What::Bridge(_) => Kind::Bridge,
            What::Loss { .. } => Kind::Loss,
            What::Latency { .. } => Kind::Latency,
            What::Crash { .. } => Kind::Crash,
            What::Restart(_) => Kind::Restart,
            What::Wipe(_) => Kind::Wipe,
            What::Pause(_) => Kind::Pause,
            What::ZkLeader(_) => Kind::ZkLeader,
            What::Clock { .. } => Kind::Clock,
            What::Relinquish { .. } | What::HandBackPause { .. } => Kind::Relinquish,
            What::Priority { .. } => Kind::Priority,
            What::Health { .. } => Kind::Health,
            What::DeleteElection { .. } => Kind::DeleteElection,
        }
    }
}

/// A drawn episode: when (per mille of the room left in the fault phase), how long (per mille
/// of the session timeout, so pauses and cuts land on both sides of it), the swarm's roll, and
/// what.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Episode {
    pub start: u16,
    pub hold: u32,
    pub roll: u8,
    pub what: What,
}

pub fn cut() -> impl Strategy<Value = Cut> {
    prop_oneof![
        2 => (0..3u8).prop_map(Cut::Sites),
        3 => any::<u8>().prop_map(Cut::NodeFromZk),
        1 => any::<u8>().prop_map(Cut::NodeFromDatabase),
        1 => any::<u8>().prop_map(Cut::NodeAlone),
        1 => any::<u8>().prop_map(Cut::ZkAlone),
        1 => any::<u8>().prop_map(Cut::NodeFromNode),
    ]
}

/// Links to slow down: a node's path to its database (a slow commit: P5, P8) more often
/// than a plain cut would pick it.
fn slow_links() -> impl Strategy<Value = Cut> {
    prop_oneof![
        2 => (0..3u8).prop_map(Cut::Sites),
        3 => any::<u8>().prop_map(Cut::NodeFromDatabase),
        1 => any::<u8>().prop_map(Cut::NodeFromZk),
        1 => any::<u8>().prop_map(Cut::ZkAlone),
    ]
}

pub fn host(node: u32, zk: u32, database: u32) -> impl Strategy<Value = HostPick> {
    prop_oneof![
        node => any::<u8>().prop_map(HostPick::Node),
        zk => any::<u8>().prop_map(HostPick::Zk),
        database => any::<u8>().prop_map(HostPick::Database),
    ]
}

pub fn clock() -> impl Strategy<Value = ClockPick> {
    let steps: &[i64] = &[
        -300_000, -30_000, -5_000, -1_000, 1_000, 5_000, 30_000, 300_000,
    ];
    prop_oneof![
        select(steps).prop_map(ClockPick::Offset),
        select(&[0.5, 0.9, 0.99, 1.01, 1.1, 1.5, 2.0][..]).prop_map(ClockPick::Drift),
        select(steps).prop_map(ClockPick::Jump),
        select(&[1_000i64, 5_000, 15_000, 30_000][..]).prop_map(ClockPick::JumpMonotonic),
        (
            select(&[-10_000i64, -2_000, -200, 200, 2_000, 10_000][..]),
            select(&[100u64, 500, 2_000][..])
        )
            .prop_map(|(millis, period_ms)| ClockPick::Strobe { millis, period_ms }),
    ]
}

/// A priority an operator sets.
pub fn set_priority() -> impl Strategy<Value = u32> {
    select(&SET_PRIORITIES[..])
}

/// What happens to the ZooKeeper leader.
pub fn leader_op() -> impl Strategy<Value = LeaderOp> {
    prop_oneof![
        any::<bool>().prop_map(|hard| LeaderOp::Crash { hard }),
        Just(LeaderOp::Pause),
        (select(&[-30_000i64, 30_000, 5_000][..]), any::<bool>()).prop_map(
            |(millis, monotonic)| LeaderOp::ClockJump {
                millis: if monotonic { millis.abs() } else { millis },
                monotonic
            }
        ),
    ]
}

/// One fault and its undoing, as the generator draws them.
pub fn what() -> impl Strategy<Value = What> {
    let leader = leader_op();
    let link = prop_oneof![Just(HealthLink::Database), Just(HealthLink::Bus)];
    prop_oneof![
        3 => cut().prop_map(What::Partition),
        2 => (cut(), any::<bool>()).prop_map(|(cut, reversed)| What::OneWay { cut, reversed }),
        2 => (0..3u8).prop_map(What::IsolateSite),
        1 => (0..3u8).prop_map(What::Bridge),
        1 => (cut(), select(&[0.05, 0.1, 0.2, 0.3, 0.5][..]))
            .prop_map(|(links, probability)| What::Loss { links, probability }),
        3 => (slow_links(), select(&[50u64, 200, 400, 1_000, 3_000, 8_000][..]))
            .prop_map(|(links, extra_ms)| What::Latency { links, extra_ms }),
        3 => (host(2, 2, 1), any::<bool>()).prop_map(|(host, hard)| What::Crash { host, hard }),
        2 => host(3, 2, 1).prop_map(What::Restart),
        1 => host(1, 1, 0).prop_map(What::Wipe),
        4 => host(3, 1, 1).prop_map(What::Pause),
        2 => leader.prop_map(What::ZkLeader),
        2 => (host(2, 1, 1), clock()).prop_map(|(host, clock)| What::Clock { host, clock }),
        3 => (any::<u8>(), prop_oneof![1 => Just(false), 6 => Just(true)])
            .prop_map(|(node, rejoin)| What::Relinquish { node, rejoin }),
        1 => (any::<u8>(), 300..500u16).prop_map(|(node, pause)| What::HandBackPause { node, pause }),
        1 => (any::<u8>(), set_priority())
            .prop_map(|(node, priority)| What::Priority { node, priority }),
        1 => (any::<u8>(), link).prop_map(|(node, link)| What::Health { node, link }),
        1 => any::<u8>().prop_map(|pair| What::DeleteElection { pair }),
    ]
}

/// How long an episode holds, per mille of the session timeout.
pub fn hold() -> impl Strategy<Value = u32> {
    prop_oneof![100..800u32, 800..1_500u32, 1_500..4_000u32]
}

/// One episode, as the generator draws it.
pub fn episode() -> impl Strategy<Value = Episode> {
    (0..1000u16, hold(), any::<u8>(), what()).prop_map(|(start, hold, roll, what)| Episode {
        start,
        hold,
        roll,
        what,
    })
}

pub fn episodes(max: usize) -> impl Strategy<Value = Vec<Episode>> {
    proptest::collection::vec(episode(), 0..=max.max(1))
}
