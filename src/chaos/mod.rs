//! Nightly chaos: many seeds in parallel, each a random world and fault schedule; failures
//! become reports.
//!
//! [`generate`] draws scenarios (proptest strategies, swarm style), [`explore`] runs one seed
//! and shrinks a failure to a scenario file, [`seeds`] spreads seeds over cores.

pub mod explore;
pub mod generate;
pub mod report;
pub mod seeds;
