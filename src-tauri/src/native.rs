//! The native parts around the window: its menu, the tray, a second launch, and quitting
//! (which asks while runs are going on this computer; they go back to the queue).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use taskyard_server::http::Running;
use tauri::menu::{Menu, MenuEvent, MenuItem, PredefinedMenuItem, Submenu};
use tauri::tray::TrayIconBuilder;
use tauri::{AppHandle, Manager as _, RunEvent, WindowEvent, Wry};
use tauri_plugin_dialog::{DialogExt as _, MessageDialogButtons, MessageDialogKind};

use crate::app::{Desktop, MAIN, TRAY};
use crate::open::{self, Page};
use crate::report;
use crate::settings::Choice;

pub(crate) fn window_menu(app: &AppHandle) -> tauri::Result<Menu<Wry>> {
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

pub(crate) fn tray(app: &AppHandle, desktop: &Desktop) -> tauri::Result<()> {
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

pub(crate) fn on_menu(app: &AppHandle, event: MenuEvent) {
    match event.id().as_ref() {
        "use-local" => {
            let app = app.clone();
            tauri::async_runtime::spawn(async move {
                if let Err(e) = open::remember(&app, Choice::Local) {
                    open::show_page(&app, Page::Error { message: e, remote: false });
                    return;
                }
                open::open_local(&app).await;
            });
        }
        "use-remote" => open::show_page(app, Page::Welcome { error: None }),
        "show" => show_window(app),
        "quit" => ask_to_quit(app),
        _ => {}
    }
}

pub(crate) fn on_event(app: &AppHandle, event: RunEvent) {
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
                tauri::async_runtime::block_on(stop_server(running));
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
        quit(app);
        return;
    }
    let handle = app.clone();
    app.dialog()
        .message(quit_question(active))
        .title("Quit Taskyard?")
        .kind(MessageDialogKind::Warning)
        .buttons(MessageDialogButtons::OkCancelCustom("Quit".into(), "Keep running".into()))
        .show(move |quit| {
            if quit {
                self::quit(&handle);
            }
        });
}

/// Quits without asking: the window goes at once, then this computer's server stops (its
/// runs go back to the queue, which takes a few seconds) while the event loop still runs,
/// and the app exits.
pub(crate) fn quit(app: &AppHandle) {
    let desktop = app.state::<Arc<Desktop>>().inner().clone();
    if desktop.quitting.swap(true, Ordering::SeqCst) {
        return; // on its way already
    }
    if let Some(window) = app.get_webview_window(MAIN) {
        window.hide().ok();
    }
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        let running = desktop.local.lock().await.take();
        if let Some(running) = running {
            stop_server(running).await;
        }
        app.exit(0);
    });
}

/// Stops this computer's server: runs still going stop and go back to the queue, as on the
/// server's own shutdown.
async fn stop_server(running: Running) {
    match tokio::time::timeout(Duration::from_secs(40), running.stop()).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::warn!("the server did not stop cleanly: {e:#}"),
        Err(_) => tracing::warn!("the server did not stop within 40 s"),
    }
}

/// What the quit dialog says with `active` runs going.
fn quit_question(active: usize) -> String {
    let (runs, they, go, start) = if active == 1 {
        ("1 run is".to_owned(), "it", "stops and goes", "starts")
    } else {
        (format!("{active} runs are"), "they", "stop and go", "start")
    };
    format!(
        "{runs} going on this computer. If you quit now, {they} {go} back to the queue, and {start} \
         again the next time Taskyard opens."
    )
}

pub(crate) fn show_window(app: &AppHandle) {
    if let Some(window) = app.get_webview_window(MAIN) {
        window.unminimize().ok();
        window.show().ok();
        window.set_focus().ok();
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_quit_question_counts_the_runs() {
        assert_eq!(
            super::quit_question(1),
            "1 run is going on this computer. If you quit now, it stops and goes back to the queue, and starts again the next time Taskyard opens."
        );
        assert!(
            super::quit_question(3)
                .starts_with("3 runs are going on this computer. If you quit now, they stop and go back")
        );
    }
}
