//! What pages may call. The app's own pages: `choose` and `retry`. A server's board: `report`
//! (runs going, notifications). This computer's board only: `choose_program` and
//! `set_program` (Settings → Agents); a team server's page never gets them.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use tauri::{AppHandle, Manager as _};
use tauri_plugin_notification::NotificationExt as _;

use crate::app::{Desktop, MAIN, TRAY};
use crate::open::{self, remember};
use crate::report::{self, Notice};
use crate::settings::{Choice, Settings};
use crate::{programs, remote};

/// The first-run page's choice: this computer, or a team server (checked before anything is
/// remembered; what is wrong comes back to the page).
#[tauri::command]
pub(crate) async fn choose(app: AppHandle, mode: String, server: Option<String>) -> Result<(), String> {
    match mode.as_str() {
        "local" => {
            remember(&app, Choice::Local)?;
            open::open_local(&app).await;
        }
        "remote" => {
            let origin =
                remote::origin(server.as_deref().unwrap_or_default()).map_err(|e| format!("{e:#}"))?;
            let server = remote::check(&origin).await.map_err(|e| format!("{e:#}"))?;
            remember(&app, Choice::Remote { server: server.origin.clone() })?;
            open::show_remote(&app, &server.origin);
        }
        other => return Err(format!("unknown choice “{other}”")),
    }
    Ok(())
}

/// The error page's "Try again".
#[tauri::command]
pub(crate) async fn retry(app: AppHandle) {
    open::open_chosen(&app).await;
}

/// The board's report: runs going (the tray) and runs that changed (notifications).
#[tauri::command]
pub(crate) fn report(app: AppHandle, running: u32, notices: Vec<Notice>) -> Result<(), String> {
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

/// The program `agent` runs with on this computer, chosen in a file picker; `None` when the
/// picker was cancelled (nothing changes).
#[tauri::command]
pub(crate) async fn choose_program(
    app: AppHandle,
    webview: tauri::Webview,
    agent: String,
) -> Result<Option<String>, String> {
    use tauri_plugin_dialog::DialogExt as _;
    this_computers_board(&app, &webview).await?;
    let agent = programs::agent(&agent)?;
    let (tx, rx) = tokio::sync::oneshot::channel();
    let mut picker = app.dialog().file().set_title(format!("Choose the {agent} program"));
    if let Some(home) = home() {
        picker = picker.set_directory(home);
    }
    if let Some(window) = app.get_webview_window(MAIN) {
        // Over the window, as its dialog, rather than a window of its own.
        picker = picker.set_parent(&window);
    }
    picker.pick_file(move |file| {
        tx.send(file).ok();
    });
    let Some(file) = rx.await.ok().flatten() else { return Ok(None) };
    let path = file.into_path().map_err(|e| format!("the picker gave no file path: {e}"))?;
    keep_program(&app, agent, Some(&path.display().to_string())).await
}

/// The program `agent` runs with on this computer, typed (`path`), or with `None` its name
/// looked up in the agents' `PATH` again. Answers with the program kept; a path that is not
/// a program this user can run is refused with why, and the one before stays.
#[tauri::command]
pub(crate) async fn set_program(
    app: AppHandle,
    webview: tauri::Webview,
    agent: String,
    path: Option<String>,
) -> Result<Option<String>, String> {
    this_computers_board(&app, &webview).await?;
    let agent = programs::agent(&agent)?;
    keep_program(&app, agent, path.as_deref()).await
}

/// Checks `path`, remembers it for `agent` and hands it to this computer's server.
async fn keep_program(
    app: &AppHandle,
    agent: &'static str,
    path: Option<&str>,
) -> Result<Option<String>, String> {
    let checked = match path {
        Some(path) => Some(programs::check(path, home().as_deref())?.display().to_string()),
        None => None,
    };
    let desktop = app.state::<Arc<Desktop>>().inner().clone();
    // A settings file that cannot be read is not overwritten: what it holds may be wanted.
    let mut settings = Settings::load(&desktop.settings_file).map_err(|e| format!("not saved: {e:#}"))?;
    match &checked {
        Some(program) => settings.programs.insert(agent.to_owned(), program.clone()),
        None => settings.programs.remove(agent),
    };
    settings.save(&desktop.settings_file).map_err(|e| format!("not saved: {e:#}"))?;
    if let Some(running) = desktop.local.lock().await.as_ref() {
        running.set_agent_program(agent, checked.clone());
    }
    tracing::info!(agent, program = checked.as_deref().unwrap_or("(PATH)"), "agent program chosen");
    Ok(checked)
}

/// Refuses callers other than this computer's board in the main window (the capability
/// already grants the commands to that origin only; this holds even if it did not).
async fn this_computers_board(app: &AppHandle, webview: &tauri::Webview) -> Result<(), String> {
    let desktop = app.state::<Arc<Desktop>>().inner().clone();
    let local = desktop.local.lock().await.as_ref().map(|r| format!("http://127.0.0.1:{}", r.addr.port()));
    let caller = webview.url().map(|u| u.origin().ascii_serialization()).ok();
    if webview.label() == MAIN && local.is_some() && caller == local {
        Ok(())
    } else {
        Err("only the board of this computer chooses its agents' programs".into())
    }
}

fn home() -> Option<std::path::PathBuf> {
    std::env::var_os("HOME").filter(|h| !h.is_empty()).map(std::path::PathBuf::from)
}
