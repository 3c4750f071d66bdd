//! ZooKeeper: the client-visible vocabulary, the protocol, and the simulated ensemble and
//! client.

pub mod client;
pub mod peer;
pub mod proto;
pub mod server;
pub mod tree;
pub mod types;
