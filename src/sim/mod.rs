//! The simulated world on madsim: hosts, clocks, network, faults and the event trace.

pub mod clock;
pub mod net;
pub mod trace;
pub mod world;
