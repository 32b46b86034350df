//! Tauri's build step: the config, the icons, and the app's own commands, each behind a
//! permission of its own (`allow-<command>`), so a capability grants exactly the commands a
//! page may call.

fn main() {
    let commands = tauri_build::AppManifest::new().commands(&[
        "choose",
        "retry",
        "report",
        "choose_program",
        "set_program",
    ]);
    tauri_build::try_build(tauri_build::Attributes::new().app_manifest(commands))
        .expect("the Tauri build step failed");
}
