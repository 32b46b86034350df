//! The server as the desktop app runs it: in-process, for the one user of this computer.
//!
//! SQLite in the app's data folder, local mode (loopback only, a fresh token per start), and
//! `taskyard serve`'s defaults for everything else. The app opens its window on
//! [`crate::http::Running::url`]; the token in it is traded for an HttpOnly cookie on the first
//! request, so the page never holds it.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use taskyard_core::store::AnyStore;

use crate::http::{Limits, Mode, Running, ServeOptions, Startup};

/// What the desktop app chooses; everything else is `taskyard serve`'s default.
#[derive(Debug, Clone)]
pub struct LocalOptions {
    /// The data folder (made when missing): database, key file, worktrees.
    pub data_dir: PathBuf,
    /// The port; 0 picks a free one (the default).
    pub port: u16,
    /// The `PATH` agents are looked up in and run with; `None` keeps this process's.
    pub agent_path: Option<String>,
    /// The program runs of an agent use when their task names none (agent → path).
    pub agent_programs: std::collections::BTreeMap<String, String>,
    /// The shell terminals run; `None`: `$SHELL`, else bash, else sh.
    pub terminal_shell: Option<String>,
}

impl LocalOptions {
    /// A free port and this process's `PATH`.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            port: 0,
            agent_path: None,
            agent_programs: Default::default(),
            terminal_shell: None,
        }
    }
}

/// Starts the server: makes the data folder, opens the database, refuses credential keys that
/// are not this data's before migrating anything, migrates, then serves on 127.0.0.1.
pub async fn start(options: LocalOptions) -> Result<Running> {
    let data_dir = options.data_dir;
    std::fs::create_dir_all(&data_dir)
        .with_context(|| format!("cannot make the data folder {}", data_dir.display()))?;
    writable(&data_dir)?;
    let database = data_dir.join("taskyard.db");
    let unmigrated = AnyStore::sqlite_unmigrated(&database)
        .await
        .with_context(|| format!("cannot open the database {}", database.display()))?;
    crate::http::check_credential_keys(&unmigrated, &data_dir, None).await?;
    let store = unmigrated
        .migrate()
        .await
        .with_context(|| format!("cannot migrate the database {}", database.display()))?;
    crate::http::start(ServeOptions {
        port: options.port,
        data_dir,
        store,
        mode: Mode::Local,
        queue: Default::default(),
        sandbox: None,
        limits: Limits::default(),
        startup: Startup {
            agent_path: options.agent_path,
            agent_programs: options.agent_programs,
            terminal_shell: options.terminal_shell,
            ..Startup::default()
        },
    })
    .await
}

/// Fails with the folder's name when nothing can be written in it (a read-only mount, another
/// user's folder), before SQLite reports it less clearly.
fn writable(dir: &Path) -> Result<()> {
    let probe = dir.join(".taskyard-write-check");
    std::fs::write(&probe, b"")
        .with_context(|| format!("cannot write in the data folder {}", dir.display()))?;
    std::fs::remove_file(&probe).ok();
    Ok(())
}
