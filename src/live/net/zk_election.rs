//! Rewriting the address in ZooKeeper's leader-election handshake, so that the connection a
//! server opens back to a peer also goes through a relay.
//!
//! # The handshake (ZooKeeper 3.8, `QuorumCnxManager`)
//!
//! Checked against the bytecode of the installed 3.8.0 jar (`javap -c` on
//! `QuorumCnxManager.startConnection`, `handleConnection` and `InitialMessage.parse`) and the
//! source on apache/zookeeper:
//!
//! - The connecting server writes, through one `BufferedOutputStream` flushed once: an `i64`
//!   protocol version, big-endian (`PROTOCOL_VERSION_V1` = -65536, or `PROTOCOL_VERSION_V2` =
//!   -65535 when multi-address is enabled), its `i64` sid, an `i32` length and that many bytes
//!   of its own election address, `host:port` (v2: every address, joined with `|`). A first
//!   value that is not negative is an old-style (pre-3.5) sid, followed by nothing.
//! - The receiving server (`handleConnection`) parses it (`InitialMessage.parse`: length in
//!   1..=2048, each address `host:port`, wildcard hosts dropped). If the sender's sid is
//!   *lower* than its own, it closes the connection and calls `connectOne(sid, electionAddr)`
//!   with the address from the message (falling back on its configuration only when the message
//!   had none).
//!
//! So the address is the lower server's own listening address: the connection back would go
//! straight to it and no partition could cut it. The election relay replaces it with the
//! address the receiving server should use to reach the sender — the relay for the reverse
//! direction — and fixes the length. Old-style messages need nothing (the receiver falls back
//! on its configuration, which names relays). Anything else it cannot parse, or a sid it was
//! not told about, passes through unchanged and is counted: ZooKeeper then rejects or uses it
//! as it would without a relay.
//!
//! `InitialMessage.parse` reads the address with a single `read`, so it fails ("Read only N
//! bytes") if the address arrives in a later segment than its length. The relay therefore
//! forwards the whole (rewritten) message in one write.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

/// `QuorumCnxManager.PROTOCOL_VERSION_V1`: one address.
pub const PROTOCOL_VERSION_V1: i64 = -65536;
/// `QuorumCnxManager.PROTOCOL_VERSION_V2`: addresses joined with `|`.
pub const PROTOCOL_VERSION_V2: i64 = -65535;
/// `QuorumCnxManager.maxBuffer`: the longest address list a server accepts.
const MAX_ADDRESS_BYTES: usize = 2048;
/// Version, sid and length.
const HEADER_BYTES: usize = 8 + 8 + 4;

/// What the election relays advertise, per connecting sid, to one receiving server.
///
/// Make one per ZooKeeper server and pass it to every election relay that delivers to that
/// server: for each peer sid, the address of the relay from this server back to that peer's
/// election port (the same address this server's configuration lists for the peer). Fill it
/// before the servers start; a sid missing when its message passes is not rewritten.
#[derive(Clone, Debug, Default)]
pub struct ZkAdvertise(Arc<RwLock<BTreeMap<i64, SocketAddr>>>);

impl ZkAdvertise {
    pub fn new() -> Self {
        Self::default()
    }

    /// Messages from server `sid` will carry `addr`.
    pub fn set(&self, sid: i64, addr: SocketAddr) {
        self.0
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(sid, addr);
    }

    pub fn get(&self, sid: i64) -> Option<SocketAddr> {
        self.0
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&sid)
            .copied()
    }
}

/// What the election relays did with the initial messages they saw.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ZkRewriteCounts {
    /// Address replaced by the advertised one.
    pub rewritten: u64,
    /// Old-style message (a bare sid): nothing to rewrite.
    pub old_style: u64,
    /// Well-formed, but no address was advertised for the sid: passed through.
    pub unmapped: u64,
    /// Not a message this parser understands (or the connection ended inside it): passed
    /// through unchanged.
    pub unparsable: u64,
}

#[derive(Debug, Default)]
pub(crate) struct ZkCounters {
    rewritten: AtomicU64,
    old_style: AtomicU64,
    unmapped: AtomicU64,
    unparsable: AtomicU64,
}

impl ZkCounters {
    pub(crate) fn snapshot(&self) -> ZkRewriteCounts {
        ZkRewriteCounts {
            rewritten: self.rewritten.load(Ordering::Relaxed),
            old_style: self.old_style.load(Ordering::Relaxed),
            unmapped: self.unmapped.load(Ordering::Relaxed),
            unparsable: self.unparsable.load(Ordering::Relaxed),
        }
    }

    fn count(&self, verdict: Verdict) {
        let counter = match verdict {
            Verdict::Rewritten => &self.rewritten,
            Verdict::OldStyle => &self.old_style,
            Verdict::Unmapped => &self.unmapped,
            Verdict::Unparsable => &self.unparsable,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Verdict {
    Rewritten,
    OldStyle,
    Unmapped,
    Unparsable,
}

/// The start of one election connection, collected until the initial message is complete.
#[derive(Debug)]
pub(crate) struct InitialMessage {
    held: Vec<u8>,
    advertise: ZkAdvertise,
    counters: Arc<ZkCounters>,
}

impl InitialMessage {
    pub(crate) fn new(advertise: ZkAdvertise, counters: Arc<ZkCounters>) -> Self {
        InitialMessage {
            held: Vec::with_capacity(HEADER_BYTES + 64),
            advertise,
            counters,
        }
    }

    /// Takes the bytes of one read. Returns what to forward once the message is decided: the
    /// (rewritten) message and every byte after it, in one piece; `None` while it is not
    /// complete yet.
    pub(crate) fn feed(&mut self, bytes: &[u8]) -> Option<Vec<u8>> {
        self.held.extend_from_slice(bytes);
        let (verdict, forward) = match parse(&self.held) {
            Parse::Incomplete => return None,
            Parse::OldStyle => (Verdict::OldStyle, std::mem::take(&mut self.held)),
            Parse::Unparsable => (Verdict::Unparsable, std::mem::take(&mut self.held)),
            Parse::Message { version, sid, end } => match self.advertise.get(sid) {
                Some(addr) => {
                    let mut out = encode(version, sid, &addr.to_string());
                    out.extend_from_slice(&self.held[end..]);
                    self.held.clear();
                    (Verdict::Rewritten, out)
                }
                None => (Verdict::Unmapped, std::mem::take(&mut self.held)),
            },
        };
        self.counters.count(verdict);
        Some(forward)
    }

    /// The connection ended inside the message: what was held, unchanged.
    pub(crate) fn finish(self) -> Vec<u8> {
        if !self.held.is_empty() {
            self.counters.count(Verdict::Unparsable);
        }
        self.held
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Parse {
    Incomplete,
    OldStyle,
    Unparsable,
    /// A v1 or v2 message ending at byte `end`.
    Message {
        version: i64,
        sid: i64,
        end: usize,
    },
}

fn parse(bytes: &[u8]) -> Parse {
    let Some(version) = bytes.first_chunk::<8>().map(|b| i64::from_be_bytes(*b)) else {
        return Parse::Incomplete;
    };
    if version >= 0 {
        return Parse::OldStyle;
    }
    if version != PROTOCOL_VERSION_V1 && version != PROTOCOL_VERSION_V2 {
        return Parse::Unparsable;
    }
    let Some(header) = bytes.first_chunk::<HEADER_BYTES>() else {
        return Parse::Incomplete;
    };
    let sid = i64::from_be_bytes(header[8..16].try_into().expect("8 bytes"));
    let length = i32::from_be_bytes(header[16..20].try_into().expect("4 bytes"));
    let length = match usize::try_from(length) {
        Ok(n) if (1..=MAX_ADDRESS_BYTES).contains(&n) => n,
        _ => return Parse::Unparsable,
    };
    let end = HEADER_BYTES + length;
    let Some(addresses) = bytes.get(HEADER_BYTES..end) else {
        return Parse::Incomplete;
    };
    if !well_formed(addresses) {
        return Parse::Unparsable;
    }
    Parse::Message { version, sid, end }
}

/// Every `|`-separated part is `host:port` with a numeric port (what ZooKeeper accepts, more
/// or less: it is only a guard against rewriting something that is not an address list).
fn well_formed(addresses: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(addresses) else {
        return false;
    };
    text.split('|').all(|part| {
        part.rsplit_once(':')
            .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok())
    })
}

/// An initial message carrying `address` (formatted as ZooKeeper's `NetUtils.formatInetAddr`
/// does, which is `SocketAddr`'s display: `[v6]:port` for IPv6).
pub(crate) fn encode(version: i64, sid: i64, address: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_BYTES + address.len());
    out.extend_from_slice(&version.to_be_bytes());
    out.extend_from_slice(&sid.to_be_bytes());
    out.extend_from_slice(&(address.len() as i32).to_be_bytes());
    out.extend_from_slice(address.as_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parser(advertise: &[(i64, &str)]) -> (InitialMessage, Arc<ZkCounters>) {
        let table = ZkAdvertise::new();
        for (sid, addr) in advertise {
            table.set(*sid, addr.parse().unwrap());
        }
        let counters = Arc::new(ZkCounters::default());
        (InitialMessage::new(table, counters.clone()), counters)
    }

    #[test]
    fn rewrites_a_v1_message_and_keeps_what_follows() {
        let (mut p, counters) = parser(&[(1, "127.0.0.1:40001")]);
        let mut input = encode(PROTOCOL_VERSION_V1, 1, "127.0.0.1:23888");
        input.extend_from_slice(b"notification");
        let mut expected = encode(PROTOCOL_VERSION_V1, 1, "127.0.0.1:40001");
        expected.extend_from_slice(b"notification");
        assert_eq!(p.feed(&input), Some(expected));
        assert_eq!(counters.snapshot().rewritten, 1);
    }

    #[test]
    fn rewrites_a_v2_message_with_several_addresses_to_one() {
        let (mut p, _) = parser(&[(7, "127.0.0.1:5")]);
        let input = encode(PROTOCOL_VERSION_V2, 7, "10.0.0.1:3888|[::1]:3888|host:3888");
        assert_eq!(
            p.feed(&input),
            Some(encode(PROTOCOL_VERSION_V2, 7, "127.0.0.1:5"))
        );
    }

    #[test]
    fn a_message_split_across_reads_is_rewritten_whole() {
        let message = encode(PROTOCOL_VERSION_V1, 2, "localhost:3888");
        let rewritten = encode(PROTOCOL_VERSION_V1, 2, "127.0.0.1:41000");

        // One byte a read: nothing comes out until the last byte of the message.
        let (mut p, counters) = parser(&[(2, "127.0.0.1:41000")]);
        let (last, head) = message.split_last().unwrap();
        for byte in head {
            assert_eq!(p.feed(std::slice::from_ref(byte)), None);
        }
        assert_eq!(p.feed(&[*last]), Some(rewritten.clone()));
        assert_eq!(counters.snapshot().rewritten, 1);

        // Three-byte reads of the message and one byte more: the read that completes the
        // message also carries the next byte, which follows the rewritten message.
        let mut input = message.clone();
        input.push(0xAB);
        let (mut p, _) = parser(&[(2, "127.0.0.1:41000")]);
        let out: Vec<_> = input.chunks(3).filter_map(|chunk| p.feed(chunk)).collect();
        let mut expected = rewritten;
        expected.push(0xAB);
        assert_eq!(out, vec![expected]);
    }

    #[test]
    fn old_style_unparsable_and_unmapped_pass_through_unchanged() {
        let (mut p, counters) = parser(&[(1, "127.0.0.1:1")]);
        let old = 3i64.to_be_bytes();
        assert_eq!(p.feed(&old), Some(old.to_vec()));

        let (mut p, _) = parser(&[]);
        let unknown_version = encode(-5, 1, "127.0.0.1:3888");
        assert_eq!(p.feed(&unknown_version), Some(unknown_version.clone()));

        let mut bad_length = encode(PROTOCOL_VERSION_V1, 1, "x");
        bad_length[16..20].copy_from_slice(&5000i32.to_be_bytes());
        let (mut p, c2) = parser(&[(1, "127.0.0.1:1")]);
        assert_eq!(p.feed(&bad_length), Some(bad_length.clone()));

        let (mut p, c3) = parser(&[(1, "127.0.0.1:1")]);
        let no_port = encode(PROTOCOL_VERSION_V1, 1, "127.0.0.1");
        assert_eq!(p.feed(&no_port), Some(no_port.clone()));

        let (mut p, c4) = parser(&[(1, "127.0.0.1:1")]);
        let unmapped = encode(PROTOCOL_VERSION_V1, 9, "127.0.0.1:3888");
        assert_eq!(p.feed(&unmapped), Some(unmapped.clone()));

        assert_eq!(counters.snapshot().old_style, 1);
        assert_eq!(c2.snapshot().unparsable, 1);
        assert_eq!(c3.snapshot().unparsable, 1);
        assert_eq!(c4.snapshot().unmapped, 1);
    }

    #[test]
    fn an_end_inside_the_message_returns_what_was_held() {
        let (mut p, counters) = parser(&[(1, "127.0.0.1:1")]);
        let input = encode(PROTOCOL_VERSION_V1, 1, "127.0.0.1:3888");
        assert_eq!(p.feed(&input[..10]), None);
        assert_eq!(p.finish(), input[..10].to_vec());
        assert_eq!(counters.snapshot().unparsable, 1);
    }
}
