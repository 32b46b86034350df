//! The app: one window, `main`, that shows either the app's own pages (first run, errors) or
//! a server's board. What the app holds ([`Desktop`]), and its start; where the window goes
//! is `open`, the menu, tray and quitting `native`, what pages may call `commands`.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU32};
use std::sync::{Arc, Mutex};

use anyhow::{Context as _, Result};
use taskyard_server::http::Running;
use tauri::menu::MenuItem;
use tauri::{Manager as _, Url, WebviewUrl, WebviewWindowBuilder, Wry};
use tokio::sync::watch;

use crate::{commands, instance, native, open, path, report};

/// The one window's label (the capabilities name it exactly).
pub(crate) const MAIN: &str = "main";
/// The tray icon's id.
pub(crate) const TRAY: &str = "main";

/// What the app holds while it runs.
pub(crate) struct Desktop {
    pub(crate) data_dir: PathBuf,
    pub(crate) settings_file: PathBuf,
    /// Why this app cannot run its own server (another app holds the data folder).
    pub(crate) blocked: Option<String>,
    pub(crate) _lock: Option<instance::Lock>,
    /// The agents' `PATH`, once the login shell answered (or timed out).
    pub(crate) agent_path: watch::Receiver<Option<String>>,
    /// The server on this computer, once started (kept when the window shows a team server).
    pub(crate) local: tokio::sync::Mutex<Option<Running>>,
    /// The origin the window may show besides the app's own pages.
    pub(crate) allowed: Arc<Mutex<Option<String>>>,
    /// The grants made to servers' pages (`local <origin>`, `team <origin>`).
    pub(crate) granted: Mutex<HashSet<String>>,
    /// The app's own pages (`tauri://localhost/`).
    pub(crate) pages: Url,
    pub(crate) limiter: Mutex<report::Limiter>,
    pub(crate) running: AtomicU32,
    pub(crate) tray_status: Mutex<Option<MenuItem<Wry>>>,
    /// Set once quitting is decided: the window closes without asking again.
    pub(crate) quitting: AtomicBool,
}

/// Builds and runs the app until it quits.
pub fn run() -> Result<()> {
    let (path_tx, agent_path) = watch::channel(None);
    std::thread::Builder::new()
        .name("agent-path".into())
        .spawn(move || {
            let resolved = path::resolve(&path::Inputs::from_environment());
            match &resolved.shell {
                Ok(_) => tracing::info!(path = %resolved.joined(), "agents' PATH from the login shell"),
                Err(why) => {
                    tracing::warn!(path = %resolved.joined(), "agents' PATH without the login shell: {why}")
                }
            }
            path_tx.send(Some(resolved.joined())).ok();
        })
        .context("cannot start a thread")?;
    let data_dir = data_dir();
    let app = tauri::Builder::default()
        // First: a second launch hands over to the first and exits before anything starts.
        .plugin(tauri_plugin_single_instance::init(|app, _args, _cwd| native::show_window(app)))
        .plugin(
            tauri_plugin_window_state::Builder::default()
                .with_state_flags(
                    tauri_plugin_window_state::StateFlags::SIZE
                        | tauri_plugin_window_state::StateFlags::POSITION
                        | tauri_plugin_window_state::StateFlags::MAXIMIZED,
                )
                .build(),
        )
        .plugin(tauri_plugin_notification::init())
        .plugin(tauri_plugin_dialog::init())
        .invoke_handler(tauri::generate_handler![
            commands::choose,
            commands::retry,
            commands::report,
            commands::choose_program,
            commands::set_program
        ])
        .on_menu_event(native::on_menu)
        .setup(move |app| {
            setup(app, data_dir, agent_path)?;
            Ok(())
        })
        .build(tauri::generate_context!())
        .context("cannot start the window")?;
    app.run(native::on_event);
    Ok(())
}

/// `TASKYARD_DATA_DIR`, else `$XDG_DATA_HOME/dev.taskyard.desktop` (`~/.local/share/…`).
fn data_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("TASKYARD_DATA_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    let base = std::env::var_os("XDG_DATA_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".local/share"));
    base.join("dev.taskyard.desktop")
}

fn setup(app: &mut tauri::App, data_dir: PathBuf, agent_path: watch::Receiver<Option<String>>) -> Result<()> {
    let (lock, blocked) = match instance::lock(&data_dir) {
        Ok(lock) => (Some(lock), None),
        Err(e) => (None, Some(format!("{e:#}"))),
    };
    let settings_file = app.path().app_config_dir().context("no config folder")?.join("desktop.json");
    let allowed: Arc<Mutex<Option<String>>> = Arc::default();
    let guard = allowed.clone();
    let window = WebviewWindowBuilder::new(app, MAIN, WebviewUrl::App("index.html".into()))
        .title("Taskyard")
        .inner_size(1280.0, 820.0)
        .min_inner_size(720.0, 480.0)
        .menu(native::window_menu(app.handle())?)
        .on_navigation(move |url| may_show(url, &guard))
        .build()
        .context("cannot open the window")?;
    let mut pages = window.url().context("the window has no address")?;
    pages.set_path("/");
    pages.set_query(None);
    let desktop = Arc::new(Desktop {
        data_dir,
        settings_file,
        blocked,
        _lock: lock,
        agent_path,
        local: tokio::sync::Mutex::new(None),
        allowed,
        granted: Mutex::default(),
        pages,
        limiter: Mutex::default(),
        running: AtomicU32::new(0),
        tray_status: Mutex::new(None),
        quitting: AtomicBool::new(false),
    });
    app.manage(desktop.clone());
    if let Err(e) = native::tray(app.handle(), &desktop) {
        tracing::warn!("no tray icon: {e:#}");
    }
    let handle = app.handle().clone();
    tauri::async_runtime::spawn(async move { open::open_chosen(&handle).await });
    let handle = app.handle().clone();
    tauri::async_runtime::spawn(async move {
        quit_on_signal().await;
        native::quit(&handle);
    });
    Ok(())
}

/// The app's own pages, and the server the window was sent to; nothing else (a link to
/// another site in a board does not take the window away).
fn may_show(url: &Url, allowed: &Mutex<Option<String>>) -> bool {
    if url.scheme() == "tauri" || url.scheme() == "about" {
        return true;
    }
    let origin = url.origin().ascii_serialization();
    let ok = allowed.lock().expect("poisoned").as_deref() == Some(origin.as_str());
    if !ok {
        tracing::warn!(origin, "the window does not leave its server");
    }
    ok
}

async fn quit_on_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut term) = signal(SignalKind::terminate()) else { return std::future::pending().await };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
