//! taskyard-desktop: the board in a native window (Tauri 2, WebKitGTK on Linux).
//!
//! - On this computer (local mode) it starts `taskyard-server` in-process on a free loopback
//!   port with SQLite in the app's data folder, and opens the window on that server's URL with
//!   the per-launch token, which the server trades for an HttpOnly cookie.
//! - Pointed at a team server (remote mode) the window opens that server's origin, and people
//!   sign in on its own page.
//!
//! Either way the page is the one web UI with its one HTTP client; the native side adds only
//! what a browser cannot: the agents' `PATH` (`path`) and programs chosen on this computer
//! (`programs`, with a native file picker), notifications and a tray count (the page reports
//! through the `report` command), a single instance, remembered window state, a quit that
//! asks while runs are going, and WebKitGTK's environment (`webkit`).

mod app;
mod commands;
mod instance;
mod native;
mod open;
pub mod path;
pub mod programs;
pub mod remote;
mod report;
pub mod settings;
mod webkit;

use std::process::ExitCode;

/// Runs the app until it quits.
pub fn main() -> ExitCode {
    webkit::ensure_environment();
    init_logging();
    match app::run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{error:#}");
            ExitCode::FAILURE
        }
    }
}

/// The server's log format, redacted, on stderr. Tauri's and WebKit's own crates are held
/// at `warn`: their debug lines quote the URLs the window opens, and the first one carries
/// the launch token. `TASKYARD_LOG` overrides the filter.
fn init_logging() {
    let filter = std::env::var("TASKYARD_LOG").unwrap_or_else(|_| "warn,taskyard=info".to_owned());
    let filter = tracing_subscriber::EnvFilter::try_new(&filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,taskyard=info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(taskyard_server::logging::RedactingStderr)
        .init();
}
