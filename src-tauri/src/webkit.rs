//! WebKitGTK's environment. Blank or black windows are a known plague of WebKitGTK on Linux
//! (NVIDIA drivers, some Wayland compositors, VMs): its DMA-BUF renderer is the usual cause.
//! `WEBKIT_DISABLE_DMABUF_RENDERER=1` avoids it at a small cost in drawing speed, so it is set
//! unless the user set it (to `0`, say). The documented further cures, for users to set
//! themselves, are `WEBKIT_DISABLE_COMPOSITING_MODE=1` and `GDK_BACKEND=x11` (README).
//!
//! Setting a variable inside a running process is unsound once threads exist (and needs
//! `unsafe`, which this workspace forbids), so the app re-executes itself with the variable
//! set, before any thread starts.

use std::ffi::OsString;

/// The variables to add, given the environment as it is: empty when nothing is missing.
pub fn missing(env: impl IntoIterator<Item = (OsString, OsString)>) -> Vec<(&'static str, &'static str)> {
    let names: Vec<OsString> = env.into_iter().map(|(k, _)| k).collect();
    let mut add = Vec::new();
    if !names.iter().any(|k| k == "WEBKIT_DISABLE_DMABUF_RENDERER") {
        add.push(("WEBKIT_DISABLE_DMABUF_RENDERER", "1"));
    }
    add
}

/// Replaces this process with itself plus the missing variables; returns only when nothing is
/// missing, or when the re-execution failed (the app then goes on without them, and says so).
pub fn ensure_environment() {
    use std::os::unix::process::CommandExt as _;
    let add = missing(std::env::vars_os());
    if add.is_empty() {
        return;
    }
    let Ok(exe) = std::env::current_exe() else { return };
    let mut args = std::env::args_os();
    let arg0 = args.next().unwrap_or_else(|| exe.clone().into_os_string());
    let error = std::process::Command::new(&exe).arg0(arg0).args(args).envs(add).exec();
    eprintln!(
        "taskyard-desktop: could not set WEBKIT_DISABLE_DMABUF_RENDERER ({error}); going on without it"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(OsString, OsString)> {
        pairs.iter().map(|(k, v)| (OsString::from(k), OsString::from(v))).collect()
    }

    #[test]
    fn the_dmabuf_renderer_is_turned_off_unless_the_user_chose() {
        assert_eq!(missing(env(&[("HOME", "/h")])), vec![("WEBKIT_DISABLE_DMABUF_RENDERER", "1")]);
        assert!(missing(env(&[("WEBKIT_DISABLE_DMABUF_RENDERER", "0")])).is_empty());
    }
}
