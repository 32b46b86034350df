//! taskyard-server: the `taskyard` command line and the HTTP server over the core (REST +
//! WebSockets + the embedded web UI). It knows nothing of SQL: every data access goes through
//! `taskyard_core::store::Store`.

pub mod cli;
pub mod config;
pub mod http;
pub mod local;
pub mod logging;
pub mod routes;
pub mod settings;
pub mod terminals;
