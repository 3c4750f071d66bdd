//! The event trace of one run and its hash.
//!
//! Every notable event (faults, ZooKeeper role changes, sessions, client operations, watch
//! deliveries, every packet delivered) feeds a 64-bit FNV-1a hash, stamped with true simulated
//! time. Same seed → same hash is the determinism proof; FNV is fixed by its spec, so the hash
//! is the same on every machine and Rust version. Lines are kept only when asked for (`--trace`),
//! so long runs stay small.

use std::fmt::{self, Write as _};
use std::hash::Hasher;
use std::time::Duration;

/// FNV-1a, 64 bit, taken a word at a time: tiny, fast, and specified — unlike std's
/// `DefaultHasher`, whose algorithm may change between Rust releases. Integers are one step
/// each; byte strings go in 8-byte words, however they were split into `write` calls (a trace
/// that keeps its lines hashes a formatted line in one piece, one that does not in several).
/// Every packet is fingerprinted, and byte-at-a-time FNV over its fields cost 2% of a busy
/// world's run.
#[derive(Clone, Copy, Debug)]
pub struct Fnv64 {
    hash: u64,
    /// Bytes written since the last full word, little-endian, and how many.
    pending: u64,
    pending_len: u32,
}

const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

impl Default for Fnv64 {
    fn default() -> Self {
        Fnv64 {
            hash: 0xcbf2_9ce4_8422_2325,
            pending: 0,
            pending_len: 0,
        }
    }
}

impl Fnv64 {
    fn step(hash: u64, word: u64) -> u64 {
        (hash ^ word).wrapping_mul(FNV_PRIME)
    }

    /// The hash with the pending bytes ended: their count goes in with them, so "a" and
    /// "a\0" differ.
    fn ended(&self) -> u64 {
        if self.pending_len == 0 {
            self.hash
        } else {
            Self::step(
                self.hash,
                self.pending ^ (u64::from(self.pending_len) << 59),
            )
        }
    }

    fn integer(&mut self, word: u64) {
        self.hash = Self::step(self.ended(), word);
        self.pending = 0;
        self.pending_len = 0;
    }
}

impl Hasher for Fnv64 {
    fn finish(&self) -> u64 {
        self.ended()
    }
    fn write(&mut self, mut bytes: &[u8]) {
        // Top up the pending word first, then whole words, then keep the tail pending: the
        // same words as byte by byte, without a step per byte when a write starts mid-word.
        if self.pending_len > 0 {
            let take = bytes.len().min(8 - self.pending_len as usize);
            for (i, &byte) in bytes[..take].iter().enumerate() {
                self.pending |= u64::from(byte) << (8 * (self.pending_len as usize + i));
            }
            self.pending_len += take as u32;
            bytes = &bytes[take..];
            if self.pending_len < 8 {
                return;
            }
            self.hash = Self::step(self.hash, self.pending);
            self.pending = 0;
            self.pending_len = 0;
        }
        let mut words = bytes.chunks_exact(8);
        for word in &mut words {
            let word = u64::from_le_bytes(word.try_into().expect("8 bytes"));
            self.hash = Self::step(self.hash, word);
        }
        for (i, &byte) in words.remainder().iter().enumerate() {
            self.pending |= u64::from(byte) << (8 * i);
        }
        self.pending_len = words.remainder().len() as u32;
    }
    fn write_u8(&mut self, i: u8) {
        self.integer(u64::from(i));
    }
    fn write_u16(&mut self, i: u16) {
        self.integer(u64::from(i));
    }
    fn write_u32(&mut self, i: u32) {
        self.integer(u64::from(i));
    }
    fn write_u64(&mut self, i: u64) {
        self.integer(i);
    }
    fn write_usize(&mut self, i: usize) {
        self.integer(i as u64);
    }
}

impl fmt::Write for Fnv64 {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        Hasher::write(self, s.as_bytes());
        Ok(())
    }
}

/// One kept trace line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceLine {
    /// True simulated time.
    pub at: Duration,
    /// Host name, or "world" for the nemesis and the world itself.
    pub host: String,
    /// The host's wall clock at that moment (ms since epoch), if the event happened on a host.
    pub local_wall_millis: Option<i64>,
    pub category: &'static str,
    pub text: String,
}

impl fmt::Display for TraceLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:>12} ", format_duration(self.at))?;
        match self.local_wall_millis {
            Some(ms) => write!(f, "[{}] ", format_wall(ms))?,
            None => write!(f, "[{:>23}] ", "")?,
        }
        write!(f, "{:<12} {:<6} {}", self.host, self.category, self.text)
    }
}

/// `12.345678s` — true time, to the microsecond.
pub fn format_duration(d: Duration) -> String {
    format!("{}.{:06}s", d.as_secs(), d.subsec_micros())
}

/// A wall-clock reading as `HH:MM:SS.mmm` plus the day offset from the epoch day, enough to
/// see skew at a glance.
pub fn format_wall(millis: i64) -> String {
    let since = millis - super::clock::WALL_EPOCH_MILLIS;
    let day = since.div_euclid(86_400_000);
    let ms = since.rem_euclid(86_400_000);
    format!(
        "d{:+} {:02}:{:02}:{:02}.{:03}",
        day,
        ms / 3_600_000,
        ms / 60_000 % 60,
        ms / 1000 % 60,
        ms % 1000
    )
}

#[derive(Debug, Default)]
pub struct Trace {
    hash: Fnv64,
    events: u64,
    packets: u64,
    keep: bool,
    lines: Vec<TraceLine>,
}

impl Trace {
    pub fn new(keep_lines: bool) -> Self {
        Trace {
            keep: keep_lines,
            ..Default::default()
        }
    }

    /// Records an event. `text` is formatted straight into the hash (no allocation) unless
    /// lines are kept.
    pub fn record(
        &mut self,
        at: Duration,
        host: &str,
        local_wall_millis: Option<i64>,
        category: &'static str,
        text: fmt::Arguments<'_>,
    ) {
        self.events += 1;
        self.hash.write_u64(at.as_nanos() as u64);
        self.hash.write(host.as_bytes());
        self.hash.write(category.as_bytes());
        if self.keep {
            let text = text.to_string();
            self.hash.write(text.as_bytes());
            self.lines.push(TraceLine {
                at,
                host: host.to_string(),
                local_wall_millis,
                category,
                text,
            });
        } else {
            let _ = self.hash.write_fmt(text);
        }
    }

    /// Folds a delivered packet into the hash without keeping a line (packets are many).
    pub fn record_packet(&mut self, at: Duration, fingerprint: u64) {
        self.packets += 1;
        self.hash.write_u64(at.as_nanos() as u64);
        self.hash.write_u64(fingerprint);
    }

    pub fn hash(&self) -> u64 {
        self.hash.finish()
    }

    /// Events recorded (packets not counted).
    pub fn events(&self) -> u64 {
        self.events
    }

    pub fn packets(&self) -> u64 {
        self.packets
    }

    pub fn lines(&self) -> &[TraceLine] {
        &self.lines
    }

    pub fn take_lines(&mut self) -> Vec<TraceLine> {
        std::mem::take(&mut self.lines)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash_of(pieces: &[&[u8]]) -> u64 {
        let mut h = Fnv64::default();
        for piece in pieces {
            h.write(piece);
        }
        h.finish()
    }

    #[test]
    fn byte_strings_hash_alike_however_split_and_differ_by_content_and_length() {
        let whole = hash_of(&[b"leader epoch=3, zxid 0x100000002"]);
        assert_eq!(
            whole,
            hash_of(&[b"leader epoch=", b"3", b", zxid 0x1000", b"00002"])
        );
        assert_eq!(whole, hash_of(&[b"l", b"eader epoch=3, zxid 0x100000002"]));
        let text: &[u8] = b"leader epoch=3, zxid 0x100000002";
        let bytes: Vec<&[u8]> = text.chunks(1).collect();
        assert_eq!(whole, hash_of(&bytes), "byte by byte");
        for cut in 0..text.len() {
            for cut2 in cut..text.len() {
                let (head, rest) = text.split_at(cut);
                let (middle, tail) = rest.split_at(cut2 - cut);
                assert_eq!(
                    whole,
                    hash_of(&[head, middle, tail]),
                    "cut at {cut}, {cut2}"
                );
            }
        }
        assert_ne!(whole, hash_of(&[b"leader epoch=4, zxid 0x100000002"]));
        assert_ne!(hash_of(&[b"a"]), hash_of(&[b"a\0"]));
        assert_ne!(hash_of(&[b""]), hash_of(&[b"\0"]));
        assert_eq!(hash_of(&[b""]), 0xcbf29ce484222325, "the FNV offset basis");
        // An integer ends the byte string before it: "ab" then 1 is not "a" then "b1".
        let mut a = Fnv64::default();
        a.write(b"ab");
        a.write_u64(1);
        let mut b = Fnv64::default();
        b.write(b"a");
        b.write_u64(1);
        assert_ne!(a.finish(), b.finish());
    }

    #[test]
    fn kept_and_unkept_traces_hash_alike() {
        let mut kept = Trace::new(true);
        let mut unkept = Trace::new(false);
        for t in [&mut kept, &mut unkept] {
            t.record(
                Duration::from_millis(5),
                "zk1",
                Some(0),
                "zk",
                format_args!("leader epoch={}", 3),
            );
            t.record_packet(Duration::from_millis(6), 42);
        }
        assert_eq!(kept.hash(), unkept.hash());
        assert_eq!(kept.lines().len(), 1);
        assert_eq!(unkept.lines().len(), 0);
        assert_eq!(kept.events(), 1);
    }

    #[test]
    fn wall_format_shows_day_and_time() {
        assert_eq!(
            format_wall(super::super::clock::WALL_EPOCH_MILLIS + 3_723_004),
            "d+0 01:02:03.004"
        );
        assert_eq!(
            format_wall(super::super::clock::WALL_EPOCH_MILLIS - 1000),
            "d-1 23:59:59.000"
        );
    }
}
