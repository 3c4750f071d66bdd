//! Nightly chaos: many seeds in parallel, each a random world and fault schedule; failures
//! become reports.

pub mod progress;
pub mod report;
pub mod seeds;
