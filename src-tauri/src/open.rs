//! Where the window goes: this computer's server (started on the first visit), a team server
//! (checked first), or one of the app's own pages; and what the window may show and call.

use std::sync::Arc;
use std::time::Instant;

use tauri::{AppHandle, Manager as _, Url};

use crate::app::{Desktop, MAIN};
use crate::settings::{Choice, Settings};
use crate::{path, remote};

/// One of the app's own pages.
pub(crate) enum Page<'a> {
    /// While a server starts or is checked.
    Loading(&'a str),
    /// Choose where the board comes from; with why the last attempt failed.
    Welcome { error: Option<String> },
    /// A failure with what can be done: try again, and for a team server, use this computer.
    Error { message: String, remote: bool },
}

/// Opens what the settings say, or asks on the first run.
pub(crate) async fn open_chosen(app: &AppHandle) {
    let desktop = app.state::<Arc<Desktop>>().inner().clone();
    match Settings::load(&desktop.settings_file) {
        Err(e) => show_page(app, Page::Welcome { error: Some(format!("{e:#}")) }),
        Ok(Settings { choice: None, .. }) => show_page(app, Page::Welcome { error: None }),
        Ok(Settings { choice: Some(Choice::Local), .. }) => open_local(app).await,
        Ok(Settings { choice: Some(Choice::Remote { server }), .. }) => open_remote(app, &server).await,
    }
}

/// Starts this computer's server when it is not running yet, and shows its board.
pub(crate) async fn open_local(app: &AppHandle) {
    let desktop = app.state::<Arc<Desktop>>().inner().clone();
    if let Some(why) = &desktop.blocked {
        show_page(app, Page::Error { message: why.clone(), remote: false });
        return;
    }
    let mut local = desktop.local.lock().await;
    if local.is_none() {
        show_page(app, Page::Loading("Starting Taskyard on this computer…"));
        let mut agent_path = desktop.agent_path.clone();
        let path = tokio::time::timeout(path::SHELL_TIMEOUT * 2, agent_path.wait_for(Option::is_some))
            .await
            .ok()
            .and_then(|r| r.ok().and_then(|p| p.clone()));
        let mut options = taskyard_server::local::LocalOptions::new(&desktop.data_dir);
        options.agent_path = path;
        // The programs chosen before; one that is gone meanwhile is still used (and its
        // status says what is wrong) rather than dropped without a word.
        options.agent_programs =
            Settings::load(&desktop.settings_file).map(|s| s.programs).unwrap_or_default();
        options.port = match port() {
            Ok(port) => port,
            Err(message) => return show_page(app, Page::Error { message, remote: false }),
        };
        let options_port = options.port;
        let started = Instant::now();
        match taskyard_server::local::start(options).await {
            Ok(running) => {
                tracing::info!(
                    port = running.addr.port(),
                    ms = started.elapsed().as_millis() as u64,
                    "server started"
                );
                *local = Some(running);
            }
            Err(e) => {
                return show_page(
                    app,
                    Page::Error { message: start_failure(&e, options_port), remote: false },
                );
            }
        }
    }
    let running = local.as_ref().expect("started above");
    let origin = format!("http://127.0.0.1:{}", running.addr.port());
    match Url::parse(&running.url) {
        Ok(url) => show_server(app, &origin, url, Server::ThisComputer),
        Err(e) => show_page(
            app,
            Page::Error { message: format!("the server's address is invalid: {e}"), remote: false },
        ),
    }
}

/// Why this computer's server did not start, with what to do when a fixed port is taken.
fn start_failure(error: &anyhow::Error, port: u16) -> String {
    let taken = error
        .chain()
        .filter_map(|e| e.downcast_ref::<std::io::Error>())
        .any(|e| e.kind() == std::io::ErrorKind::AddrInUse);
    if taken && port != 0 {
        format!(
            "{error:#}: another program uses port {port}. Quit it, or set TASKYARD_DESKTOP_PORT to another port (0 picks a free one)"
        )
    } else {
        format!("{error:#}")
    }
}

/// `TASKYARD_DESKTOP_PORT` when set (a fixed port, for a firewall rule, say), else any free one.
fn port() -> Result<u16, String> {
    match std::env::var("TASKYARD_DESKTOP_PORT") {
        Err(_) => Ok(0),
        Ok(text) => text.trim().parse().map_err(|_| {
            format!("TASKYARD_DESKTOP_PORT is “{text}”, not a port number (1–65535, or 0 for any)")
        }),
    }
}

/// Checks the team server and shows its board.
pub(crate) async fn open_remote(app: &AppHandle, server: &str) {
    show_page(app, Page::Loading(&format!("Connecting to {server}…")));
    match remote::check(server).await {
        Ok(server) => show_remote(app, &server.origin),
        Err(e) => show_page(app, Page::Error { message: format!("{e:#}"), remote: true }),
    }
}

pub(crate) fn show_remote(app: &AppHandle, origin: &str) {
    // The title names the server as the user typed it, without the scheme.
    let authority = origin.split_once("://").map_or(origin, |(_, rest)| rest);
    match Url::parse(&format!("{origin}/")) {
        Ok(url) => show_server(app, origin, url, Server::Team(authority)),
        Err(e) => show_page(app, Page::Error { message: format!("{origin}: {e}"), remote: true }),
    }
}

/// Whose board the window shows.
pub(crate) enum Server<'a> {
    /// This computer's, served by this app.
    ThisComputer,
    /// A team server's, named as the user typed it (without the scheme).
    Team(&'a str),
}

/// Lets the window show `origin` and its pages call what they may (a team server's:
/// `report`; this computer's: `report` and the agent programs), names it in the title, and
/// goes there.
pub(crate) fn show_server(app: &AppHandle, origin: &str, url: Url, server: Server<'_>) {
    let desktop = app.state::<Arc<Desktop>>();
    let (kind, permissions, label): (_, &[&str], _) = match server {
        Server::ThisComputer => (
            "local",
            &["allow-report", "allow-choose-program", "allow-set-program"],
            "this computer".to_owned(),
        ),
        Server::Team(authority) => ("team", &["allow-report"], format!("{authority} (team server)")),
    };
    let new_grant = {
        let mut granted = desktop.granted.lock().expect("poisoned");
        granted.insert(format!("{kind} {origin}")).then(|| format!("server-{}", granted.len()))
    };
    if let Some(id) = new_grant {
        let mut capability =
            tauri::ipc::CapabilityBuilder::new(id).remote(format!("{origin}/*")).window(MAIN);
        for permission in permissions {
            capability = capability.permission(*permission);
        }
        if let Err(e) = app.add_capability(capability) {
            tracing::warn!("the board cannot call the app: {e}");
        }
    }
    *desktop.allowed.lock().expect("poisoned") = Some(origin.to_owned());
    if let Some(window) = app.get_webview_window(MAIN) {
        window.set_title(&format!("Taskyard — {label}")).ok();
        window.navigate(url).ok();
    }
}

/// Shows one of the app's own pages.
pub(crate) fn show_page(app: &AppHandle, page: Page<'_>) {
    let desktop = app.state::<Arc<Desktop>>();
    let mut url = desktop.pages.join("index.html").expect("a relative path");
    let title = {
        let mut query = url.query_pairs_mut();
        match &page {
            Page::Loading(what) => {
                query.append_pair("view", "loading").append_pair("message", what);
                "Taskyard"
            }
            Page::Welcome { error } => {
                query.append_pair("view", "welcome");
                if let Some(error) = error {
                    query.append_pair("error", error);
                }
                if let Ok(settings) = Settings::load(&desktop.settings_file) {
                    for server in &settings.recent_servers {
                        query.append_pair("recent", server);
                    }
                }
                "Taskyard — choose where your board lives"
            }
            Page::Error { message, remote } => {
                query.append_pair("view", "error").append_pair("message", message);
                if *remote {
                    query.append_pair("remote", "1");
                }
                "Taskyard — problem"
            }
        }
    };
    if let Some(window) = app.get_webview_window(MAIN) {
        window.set_title(title).ok();
        window.navigate(url).ok();
    }
}

pub(crate) fn remember(app: &AppHandle, choice: Choice) -> Result<(), String> {
    let desktop = app.state::<Arc<Desktop>>();
    let mut settings = Settings::load(&desktop.settings_file).unwrap_or_default();
    settings.choose(choice);
    settings.save(&desktop.settings_file).map_err(|e| format!("{e:#}"))
}
