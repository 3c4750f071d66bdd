//! Server ↔ server messages of the simulated ensemble (leader election, sync, Zab proposals,
//! pings with session touches, forwarded requests).

/// A message between two ZooKeeper servers.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum PeerMsg {}
