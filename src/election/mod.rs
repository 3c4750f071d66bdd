//! Master selection (placeholder docs; filled in below).
pub mod config;
pub mod decide;
pub mod record;
pub mod role;
