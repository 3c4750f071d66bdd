//! Nightly chaos: many seeds in parallel, each a random world and fault schedule; failures
//! become reports.
//!
//! [`generate`] draws scenarios (proptest strategies, swarm style), [`explore`] runs one seed
//! and shrinks a failure to a scenario file, [`seeds`] spreads seeds over cores, [`campaign`]
//! explores a range of seeds, [`progress`] shows how far it is, and [`report`] and [`output`]
//! write what it found. [`live`] makes a generated scenario playable on real processes
//! (`splitbrain chaos --live`). [`audit`] runs chaos on one team's deployment and names the
//! configuration choice behind each failure (`splitbrain audit`).

pub mod audit;
pub mod campaign;
pub mod coverage;
mod episode_tree;
pub mod explore;
pub mod generate;
pub mod guided;
pub mod live;
pub mod mutate;
pub mod output;
pub mod progress;
pub mod report;
pub mod seeds;
