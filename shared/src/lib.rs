//! taskyard-core: the engine behind Taskyard — the model, the store (SQLite and Postgres), git
//! worktrees, agent adapters, the run supervisor and the in-process event bus.
//!
//! Nothing in this crate knows HTTP, axum or Tauri; the server and the desktop app call it.

pub mod agent;
pub mod auth;
pub mod credentials;
pub mod events;
pub mod git;
pub mod logs;
pub mod model;
pub mod outbound;
pub mod projects;
pub mod proxy;
pub mod runner;
pub mod sandbox;
pub mod security;
pub mod store;
pub mod terminal;
