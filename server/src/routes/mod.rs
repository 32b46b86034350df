//! Handlers, one module per resource; verbs name the functions (`tasks::create`). The route
//! table that wires them is `crate::http::api`.

pub mod admin;
pub mod agents;
pub mod auth;
pub mod board;
pub mod credentials;
pub mod events;
pub mod health;
pub mod members;
pub mod projects;
pub mod queue;
pub mod runs;
pub mod security;
pub mod tasks;
pub mod terminals;
pub mod ui;
