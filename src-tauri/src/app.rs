//! The app: one window, `main`, that shows either the app's own pages (first run, errors) or
//! a server's board; the menu, the tray, and quitting.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use taskyard_server::http::Running;
use tauri::menu::{Menu, MenuEvent, MenuItem, PredefinedMenuItem, Submenu};
use tauri::tray::TrayIconBuilder;
use tauri::{AppHandle, Manager as _, RunEvent, Url, WebviewUrl, WebviewWindowBuilder, WindowEvent, Wry};
use tauri_plugin_dialog::{DialogExt as _, MessageDialogButtons, MessageDialogKind};
use tauri_plugin_notification::NotificationExt as _;
use tokio::sync::watch;

use crate::report::{self, Notice};
use crate::settings::{Choice, Settings};
use crate::{instance, path, remote};

/// The one window's label (the capabilities name it exactly).
const MAIN: &str = "main";
/// The tray icon's id.
const TRAY: &str = "main";

/// What the app holds while it runs.
struct Desktop {
    data_dir: PathBuf,
    settings_file: PathBuf,
    /// Why this app cannot run its own server (another app holds the data folder).
    blocked: Option<String>,
    _lock: Option<instance::Lock>,
    /// The agents' `PATH`, once the login shell answered (or timed out).
    agent_path: watch::Receiver<Option<String>>,
    /// The server on this computer, once started (kept when the window shows a team server).
    local: tokio::sync::Mutex<Option<Running>>,
    /// The origin the window may show besides the app's own pages.
    allowed: Arc<Mutex<Option<String>>>,
    /// Origins whose pages may call `report`.
    granted: Mutex<HashSet<String>>,
    /// The app's own pages (`tauri://localhost/`).
    pages: Url,
    limiter: Mutex<report::Limiter>,
    running: AtomicU32,
    tray_status: Mutex<Option<MenuItem<Wry>>>,
    /// Set once quitting is decided: the window closes without asking again.
    quitting: AtomicBool,
}

/// One of the app's own pages.
enum Page<'a> {
    /// While a server starts or is checked.
    Loading(&'a str),
    /// Choose where the board comes from; with why the last attempt failed.
    Welcome { error: Option<String> },
    /// A failure with what can be done: try again, and for a team server, use this computer.
    Error { message: String, remote: bool },
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
        .plugin(tauri_plugin_single_instance::init(|app, _args, _cwd| show_window(app)))
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
        .invoke_handler(tauri::generate_handler![choose, retry, report])
        .on_menu_event(on_menu)
        .setup(move |app| {
            setup(app, data_dir, agent_path)?;
            Ok(())
        })
        .build(tauri::generate_context!())
        .context("cannot start the window")?;
    app.run(on_event);
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
        .menu(window_menu(app.handle())?)
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
    if let Err(e) = tray(app.handle(), &desktop) {
        tracing::warn!("no tray icon: {e:#}");
    }
    let handle = app.handle().clone();
    tauri::async_runtime::spawn(async move { open_chosen(&handle).await });
    let handle = app.handle().clone();
    tauri::async_runtime::spawn(async move {
        quit_on_signal().await;
        handle.state::<Arc<Desktop>>().quitting.store(true, Ordering::SeqCst);
        handle.exit(0);
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

fn window_menu(app: &AppHandle) -> tauri::Result<Menu<Wry>> {
    let local = MenuItem::with_id(app, "use-local", "Use this computer", true, None::<&str>)?;
    let remote = MenuItem::with_id(app, "use-remote", "Connect to a team server…", true, None::<&str>)?;
    let quit = MenuItem::with_id(app, "quit", "Quit", true, Some("CmdOrCtrl+Q"))?;
    let taskyard = Submenu::with_items(
        app,
        "Taskyard",
        true,
        &[&local, &remote, &PredefinedMenuItem::separator(app)?, &quit],
    )?;
    Menu::with_items(app, &[&taskyard])
}

fn tray(app: &AppHandle, desktop: &Desktop) -> tauri::Result<()> {
    let status = MenuItem::with_id(app, "status", report::running_text(0), false, None::<&str>)?;
    let show = MenuItem::with_id(app, "show", "Show window", true, None::<&str>)?;
    let quit = MenuItem::with_id(app, "quit", "Quit Taskyard", true, None::<&str>)?;
    let menu = Menu::with_items(app, &[&status, &PredefinedMenuItem::separator(app)?, &show, &quit])?;
    let mut tray = TrayIconBuilder::with_id(TRAY).tooltip("Taskyard").menu(&menu);
    if let Some(icon) = app.default_window_icon() {
        tray = tray.icon(icon.clone());
    }
    tray.build(app)?;
    *desktop.tray_status.lock().expect("poisoned") = Some(status);
    Ok(())
}

fn on_menu(app: &AppHandle, event: MenuEvent) {
    match event.id().as_ref() {
        "use-local" => {
            let app = app.clone();
            tauri::async_runtime::spawn(async move {
                if let Err(e) = remember(&app, Choice::Local) {
                    show_page(&app, Page::Error { message: e, remote: false });
                    return;
                }
                open_local(&app).await;
            });
        }
        "use-remote" => show_page(app, Page::Welcome { error: None }),
        "show" => show_window(app),
        "quit" => ask_to_quit(app),
        _ => {}
    }
}

fn on_event(app: &AppHandle, event: RunEvent) {
    match event {
        RunEvent::WindowEvent { label, event: WindowEvent::CloseRequested { api, .. }, .. }
            if label == MAIN && !app.state::<Arc<Desktop>>().quitting.load(Ordering::SeqCst) =>
        {
            api.prevent_close();
            ask_to_quit(app);
        }
        RunEvent::Exit => {
            // Runs still going stop and go back to the queue, as on the server's shutdown.
            let desktop = app.state::<Arc<Desktop>>();
            let running = desktop.local.try_lock().ok().and_then(|mut local| local.take());
            if let Some(running) = running {
                tauri::async_runtime::block_on(async {
                    match tokio::time::timeout(Duration::from_secs(40), running.stop()).await {
                        Ok(Ok(())) => {}
                        Ok(Err(e)) => tracing::warn!("the server did not stop cleanly: {e:#}"),
                        Err(_) => tracing::warn!("the server did not stop within 40 s"),
                    }
                });
            }
        }
        _ => {}
    }
}

/// Quits at once when no run goes on this computer; otherwise asks first.
fn ask_to_quit(app: &AppHandle) {
    let desktop = app.state::<Arc<Desktop>>();
    let active = desktop.local.try_lock().ok().and_then(|local| local.as_ref().map(Running::active_runs));
    let active = active.unwrap_or(0);
    if active == 0 || desktop.quitting.load(Ordering::SeqCst) {
        desktop.quitting.store(true, Ordering::SeqCst);
        app.exit(0);
        return;
    }
    let runs = if active == 1 { "1 run is".to_owned() } else { format!("{active} runs are") };
    let handle = app.clone();
    app.dialog()
        .message(format!(
            "{runs} going on this computer. If you quit now, they stop and go back to the queue, \
             and start again the next time Taskyard opens."
        ))
        .title("Quit Taskyard?")
        .kind(MessageDialogKind::Warning)
        .buttons(MessageDialogButtons::OkCancelCustom("Quit".into(), "Keep running".into()))
        .show(move |quit| {
            if quit {
                handle.state::<Arc<Desktop>>().quitting.store(true, Ordering::SeqCst);
                handle.exit(0);
            }
        });
}

fn show_window(app: &AppHandle) {
    if let Some(window) = app.get_webview_window(MAIN) {
        window.unminimize().ok();
        window.show().ok();
        window.set_focus().ok();
    }
}

/// Opens what the settings say, or asks on the first run.
async fn open_chosen(app: &AppHandle) {
    let desktop = app.state::<Arc<Desktop>>().inner().clone();
    match Settings::load(&desktop.settings_file) {
        Err(e) => show_page(app, Page::Welcome { error: Some(format!("{e:#}")) }),
        Ok(Settings { choice: None, .. }) => show_page(app, Page::Welcome { error: None }),
        Ok(Settings { choice: Some(Choice::Local), .. }) => open_local(app).await,
        Ok(Settings { choice: Some(Choice::Remote { server }), .. }) => open_remote(app, &server).await,
    }
}

/// Starts this computer's server when it is not running yet, and shows its board.
async fn open_local(app: &AppHandle) {
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
        Ok(url) => show_server(app, &origin, url, "this computer"),
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
async fn open_remote(app: &AppHandle, server: &str) {
    show_page(app, Page::Loading(&format!("Connecting to {server}…")));
    match remote::check(server).await {
        Ok(server) => show_remote(app, &server.origin),
        Err(e) => show_page(app, Page::Error { message: format!("{e:#}"), remote: true }),
    }
}

fn show_remote(app: &AppHandle, origin: &str) {
    // The title names the server as the user typed it, without the scheme.
    let authority = origin.split_once("://").map_or(origin, |(_, rest)| rest);
    match Url::parse(&format!("{origin}/")) {
        Ok(url) => show_server(app, origin, url, &format!("{authority} (team server)")),
        Err(e) => show_page(app, Page::Error { message: format!("{origin}: {e}"), remote: true }),
    }
}

/// Lets the window show `origin` (its pages may `report`, nothing more), names it in the
/// title, and goes there.
fn show_server(app: &AppHandle, origin: &str, url: Url, label: &str) {
    let desktop = app.state::<Arc<Desktop>>();
    let new_grant = {
        let mut granted = desktop.granted.lock().expect("poisoned");
        granted.insert(origin.to_owned()).then(|| format!("server-{}", granted.len()))
    };
    if let Some(id) = new_grant {
        let capability = tauri::ipc::CapabilityBuilder::new(id)
            .remote(format!("{origin}/*"))
            .window(MAIN)
            .permission("allow-report");
        if let Err(e) = app.add_capability(capability) {
            tracing::warn!("the board cannot report runs to the app: {e}");
        }
    }
    *desktop.allowed.lock().expect("poisoned") = Some(origin.to_owned());
    if let Some(window) = app.get_webview_window(MAIN) {
        window.set_title(&format!("Taskyard — {label}")).ok();
        window.navigate(url).ok();
    }
}

/// Shows one of the app's own pages.
fn show_page(app: &AppHandle, page: Page<'_>) {
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

fn remember(app: &AppHandle, choice: Choice) -> Result<(), String> {
    let desktop = app.state::<Arc<Desktop>>();
    let mut settings = Settings::load(&desktop.settings_file).unwrap_or_default();
    settings.choose(choice);
    settings.save(&desktop.settings_file).map_err(|e| format!("{e:#}"))
}

/// The first-run page's choice: this computer, or a team server (checked before anything is
/// remembered; what is wrong comes back to the page).
#[tauri::command]
async fn choose(app: AppHandle, mode: String, server: Option<String>) -> Result<(), String> {
    match mode.as_str() {
        "local" => {
            remember(&app, Choice::Local)?;
            open_local(&app).await;
        }
        "remote" => {
            let origin =
                remote::origin(server.as_deref().unwrap_or_default()).map_err(|e| format!("{e:#}"))?;
            let server = remote::check(&origin).await.map_err(|e| format!("{e:#}"))?;
            remember(&app, Choice::Remote { server: server.origin.clone() })?;
            show_remote(&app, &server.origin);
        }
        other => return Err(format!("unknown choice “{other}”")),
    }
    Ok(())
}

/// The error page's "Try again".
#[tauri::command]
async fn retry(app: AppHandle) {
    open_chosen(&app).await;
}

/// The board's report: runs going (the tray) and runs that changed (notifications).
#[tauri::command]
fn report(app: AppHandle, running: u32, notices: Vec<Notice>) -> Result<(), String> {
    let desktop = app.state::<Arc<Desktop>>();
    let shown = desktop.limiter.lock().expect("poisoned").admit(&notices, Instant::now())?;
    if desktop.running.swap(running, Ordering::SeqCst) != running {
        if let Some(status) = desktop.tray_status.lock().expect("poisoned").as_ref() {
            status.set_text(report::running_text(running)).ok();
        }
        if let Some(tray) = app.tray_by_id(TRAY) {
            tray.set_title(if running > 0 { Some(running.to_string()) } else { None }).ok();
        }
    }
    for notice in shown {
        tracing::info!(title = %notice.title, "notification");
        let app = app.clone();
        // Notifications go over D-Bus; a missing notification daemon must not hold the page.
        tauri::async_runtime::spawn_blocking(move || {
            if let Err(e) = app.notification().builder().title(&notice.title).body(&notice.body).show() {
                tracing::warn!("cannot show a notification: {e}");
            }
        });
    }
    Ok(())
}
