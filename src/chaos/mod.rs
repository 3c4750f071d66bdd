//! Nightly chaos: many seeds in parallel, each a random world and fault schedule; failures
//! become reports.
//!
//! [`generate`] draws scenarios (proptest strategies, swarm style), [`explore`] runs one seed
//! and shrinks a failure to a scenario file, [`seeds`] spreads seeds over cores, [`campaign`]
//! explores a range of seeds, [`progress`] shows how far it is, and [`report`] and [`output`]
//! write what it found. [`live`] makes a generated scenario playable on real processes
//! (`splitbrain chaos --live`).

pub mod campaign;
pub mod coverage;
pub mod explore;
pub mod generate;
mod episode_tree;
pub mod live;
pub mod output;
pub mod guided;
pub mod progress;
pub mod mutate;
pub mod report;
pub mod seeds;
