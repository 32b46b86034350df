//! taskyard-server: the `taskyard` command line, and (growing) the HTTP server over the core.
//! It knows nothing of SQL: every data access goes through `taskyard_core::store::Store`.

pub mod cli;
pub mod config;
