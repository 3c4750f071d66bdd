//! Choosing loopback ports for real servers.
//!
//! Ports are drawn at random below the kernel's ephemeral range, so that outgoing connections
//! (which take their source ports from that range) never grab the port of a killed server
//! before it restarts, and parallel ensembles, in this process or another, rarely pick the same
//! ones. Each candidate is checked by binding it on 127.0.0.1; the listeners are held until the
//! servers are about to start. ZooKeeper's well-known ports (2181, 2888, 3888, 8080) lie below
//! the range drawn from, so a packaged server that owns them is never disturbed.

use std::collections::BTreeSet;
use std::hash::{BuildHasher, Hasher};
use std::io;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};

/// Lowest port drawn; everything below it (2181 and friends) is left alone.
const LOWEST_PORT: u16 = 20_000;
/// Used when the kernel's ephemeral range cannot be read.
const DEFAULT_EPHEMERAL_LOW: u16 = 32_768;
/// Candidates tried before giving up (a busy machine has few of them taken).
const MAX_ATTEMPTS: usize = 10_000;

/// Ports that were free when chosen, held open until [`PortReservation::release`].
pub(crate) struct PortReservation {
    listeners: Vec<TcpListener>,
}

impl PortReservation {
    /// Reserves `count` distinct free ports on 127.0.0.1.
    pub(crate) fn reserve(count: usize) -> io::Result<PortReservation> {
        let high = ephemeral_low().saturating_sub(1);
        if high <= LOWEST_PORT {
            return Err(io::Error::other(format!(
                "no port range left below the ephemeral range (starts at {high})"
            )));
        }
        let span = u64::from(high - LOWEST_PORT) + 1;
        let mut chosen = BTreeSet::new();
        let mut listeners = Vec::with_capacity(count);
        for _ in 0..MAX_ATTEMPTS {
            if listeners.len() == count {
                break;
            }
            let port = LOWEST_PORT + (random_u64() % span) as u16;
            if chosen.contains(&port) {
                continue;
            }
            if let Ok(listener) = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port))) {
                chosen.insert(port);
                listeners.push(listener);
            }
        }
        if listeners.len() < count {
            return Err(io::Error::other(format!(
                "found only {} free loopback ports of {count}",
                listeners.len()
            )));
        }
        Ok(PortReservation { listeners })
    }

    /// The reserved ports, in the order they were chosen.
    pub(crate) fn ports(&self) -> Vec<u16> {
        self.listeners
            .iter()
            .map(|l| l.local_addr().map(|a| a.port()).unwrap_or(0))
            .collect()
    }

    /// Frees the ports so that the servers can bind them.
    pub(crate) fn release(self) {
        drop(self.listeners);
    }
}

/// The first port of the kernel's ephemeral range (`net.ipv4.ip_local_port_range`).
fn ephemeral_low() -> u16 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(DEFAULT_EPHEMERAL_LOW)
}

/// A random number from the standard library's randomly keyed hasher. This is harness code for
/// real processes, never simulated, so OS randomness is what it wants: two test processes
/// started at the same instant must still choose different ports.
pub(crate) fn random_u64() -> u64 {
    let mut hasher = std::hash::RandomState::new().build_hasher();
    hasher.write_u32(std::process::id());
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserves_distinct_free_ports_below_the_ephemeral_range() {
        let reservation = PortReservation::reserve(9).expect("reserve");
        let ports = reservation.ports();
        assert_eq!(ports.iter().collect::<BTreeSet<_>>().len(), 9);
        assert!(
            ports
                .iter()
                .all(|&p| (LOWEST_PORT..ephemeral_low()).contains(&p))
        );
        // Held: binding one of them again fails until released.
        assert!(TcpListener::bind((Ipv4Addr::LOCALHOST, ports[0])).is_err());
        reservation.release();
        assert!(TcpListener::bind((Ipv4Addr::LOCALHOST, ports[0])).is_ok());
    }
}
