//! Synchronisation primitives whose behaviour does not depend on hidden randomness, for code
//! that runs both in production and inside the simulator.

pub mod watch;
