//! The `PATH` agents get. An app started from a desktop menu does not inherit the `PATH` a
//! terminal has (nvm, `~/.local/bin`, an npm prefix are set up by shell start-up files), so
//! `claude`, `codex` and `gemini` would not be found. The `PATH` is worked out as a login shell
//! would: `$SHELL -l -c` prints it, within a timeout (a shell start-up file that hangs must
//! not hang the app), then this process's own `PATH`, then the usual places those CLIs are
//! installed to, where they exist.

use std::ffi::OsString;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// How long the login shell may take to print its `PATH`.
pub const SHELL_TIMEOUT: Duration = Duration::from_secs(3);

const MARK: &str = "__TASKYARD_PATH__";

/// Where to look.
#[derive(Debug, Clone)]
pub struct Inputs {
    /// The user's home folder.
    pub home: PathBuf,
    /// Their login shell (`$SHELL`); `None` skips that step.
    pub shell: Option<PathBuf>,
    /// This process's `PATH`.
    pub inherited: OsString,
    /// How long the shell may take.
    pub timeout: Duration,
}

impl Inputs {
    /// This user's, from the environment.
    pub fn from_environment() -> Self {
        Self {
            home: std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/")),
            shell: std::env::var_os("SHELL").filter(|s| !s.is_empty()).map(PathBuf::from),
            inherited: std::env::var_os("PATH").unwrap_or_default(),
            timeout: SHELL_TIMEOUT,
        }
    }
}

/// The agents' `PATH`, and what the login shell said.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// The folders, in order, without repeats.
    pub folders: Vec<PathBuf>,
    /// The login shell's folders, or why there are none (no shell, a timeout, a failure).
    pub shell: Result<Vec<PathBuf>, String>,
}

impl Resolved {
    /// As a `PATH` value.
    pub fn joined(&self) -> String {
        std::env::join_paths(&self.folders).map(|p| p.to_string_lossy().into_owned()).unwrap_or_else(|_| {
            // A folder with a `:` in its name cannot be on a PATH: leave such folders out.
            let ok: Vec<&PathBuf> =
                self.folders.iter().filter(|f| !f.to_string_lossy().contains(':')).collect();
            std::env::join_paths(ok).map(|p| p.to_string_lossy().into_owned()).unwrap_or_default()
        })
    }
}

/// Works the `PATH` out: the login shell's, this process's, then the usual places.
pub fn resolve(inputs: &Inputs) -> Resolved {
    let shell = match &inputs.shell {
        Some(shell) => login_shell_path(shell, &inputs.home, inputs.timeout),
        None => Err("no login shell ($SHELL is not set)".to_owned()),
    };
    let mut folders: Vec<PathBuf> = Vec::new();
    let mut add = |folder: PathBuf| {
        if folder.is_absolute() && !folders.contains(&folder) {
            folders.push(folder);
        }
    };
    for folder in shell.iter().flatten() {
        add(folder.clone());
    }
    for folder in std::env::split_paths(&inputs.inherited) {
        add(folder);
    }
    for folder in usual_places(&inputs.home) {
        add(folder);
    }
    Resolved { folders, shell }
}

/// The folders agent CLIs are commonly installed to, that exist: nvm's Node versions (newest
/// first), the npm prefix of `~/.npmrc`, `~/.local/bin`, Claude Code's own `~/.claude/local`,
/// Volta, Bun, asdf, Homebrew on Linux, `/usr/local/bin`.
pub fn usual_places(home: &Path) -> Vec<PathBuf> {
    let mut places = nvm_bins(home);
    if let Some(prefix) = npm_prefix(home) {
        places.push(prefix.join("bin"));
    }
    for rel in [".npm-global/bin", ".local/bin", ".claude/local", ".volta/bin", ".bun/bin", ".asdf/shims"] {
        places.push(home.join(rel));
    }
    places.push(PathBuf::from("/home/linuxbrew/.linuxbrew/bin"));
    places.push(PathBuf::from("/usr/local/bin"));
    places.retain(|p| p.is_dir());
    places
}

/// `~/.nvm/versions/node/v*/bin`, the newest version first.
fn nvm_bins(home: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(home.join(".nvm/versions/node")) else { return Vec::new() };
    let mut versions: Vec<(Vec<u64>, PathBuf)> = entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let numbers =
                name.strip_prefix('v')?.split('.').map(|n| n.parse().ok()).collect::<Option<Vec<u64>>>()?;
            Some((numbers, e.path().join("bin")))
        })
        .collect();
    versions.sort_by(|a, b| b.0.cmp(&a.0));
    versions.into_iter().map(|(_, bin)| bin).collect()
}

/// The `prefix=` of `~/.npmrc` (where `npm install -g` puts programs), `~` and `$HOME`
/// expanded.
fn npm_prefix(home: &Path) -> Option<PathBuf> {
    let text = std::fs::read_to_string(home.join(".npmrc")).ok()?;
    let value = text.lines().find_map(|line| {
        let (key, value) = line.split_once('=')?;
        (key.trim() == "prefix").then(|| value.trim().trim_matches('"').to_owned())
    })?;
    let home_text = home.to_string_lossy();
    let expanded = if let Some(rest) = value.strip_prefix("~/") {
        format!("{home_text}/{rest}")
    } else {
        value.replace("${HOME}", &home_text).replace("$HOME", &home_text)
    };
    Some(PathBuf::from(expanded)).filter(|p| p.is_absolute())
}

/// What `shell -l -c` prints as its `PATH`, within `timeout`. The shell runs in a process
/// group of its own with no input, so nothing it starts can wait on the app's terminal, and
/// the whole group is killed when it takes too long.
fn login_shell_path(shell: &Path, home: &Path, timeout: Duration) -> Result<Vec<PathBuf>, String> {
    use std::os::unix::process::CommandExt as _;
    let fish = shell.file_name().is_some_and(|n| n == "fish");
    let script = if fish {
        format!("printf '%s%s%s' {MARK} (string join : $PATH) {MARK}")
    } else {
        format!("printf '%s%s%s' {MARK} \"$PATH\" {MARK}")
    };
    let mut child = Command::new(shell)
        .args(["-l", "-c", &script])
        .env("HOME", home)
        .current_dir(home)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .map_err(|e| format!("cannot start the login shell {}: {e}", shell.display()))?;
    let mut stdout = child.stdout.take().expect("piped");
    let (tx, rx) = std::sync::mpsc::channel();
    // Reads until the second mark or the end: a daemon the start-up files left behind may keep
    // the pipe open after the shell itself is gone.
    std::thread::spawn(move || {
        let mut seen = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            match stdout.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => seen.extend_from_slice(&buf[..n]),
            }
            if String::from_utf8_lossy(&seen).matches(MARK).count() >= 2 {
                break;
            }
        }
        tx.send(seen).ok();
    });
    let pid = child.id();
    let outcome = rx.recv_timeout(timeout);
    match outcome {
        Ok(seen) => {
            std::thread::spawn(move || child.wait());
            parse(&String::from_utf8_lossy(&seen))
                .ok_or_else(|| format!("the login shell {} printed no PATH", shell.display()))
        }
        Err(_) => {
            let group = nix::unistd::Pid::from_raw(pid as i32);
            nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGKILL).ok();
            child.wait().ok();
            Err(format!(
                "the login shell {} did not print its PATH within {} s (a start-up file may wait for something)",
                shell.display(),
                timeout.as_secs_f32()
            ))
        }
    }
}

/// The `PATH` between the marks (start-up files may print greetings around it).
fn parse(output: &str) -> Option<Vec<PathBuf>> {
    let start = output.find(MARK)? + MARK.len();
    let len = output[start..].find(MARK)?;
    let path = &output[start..start + len];
    Some(std::env::split_paths(path).filter(|p| !p.as_os_str().is_empty()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;
    use std::time::Instant;

    fn script(path: &Path, body: &str) {
        std::fs::write(path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    fn inputs(home: &Path, shell: Option<PathBuf>) -> Inputs {
        Inputs {
            home: home.to_owned(),
            shell,
            inherited: "/usr/bin:/bin".into(),
            timeout: Duration::from_secs(2),
        }
    }

    #[test]
    fn a_login_shell_s_path_comes_first_and_greetings_are_ignored() {
        let home = tempfile::tempdir().unwrap();
        // A real login shell reading a fake home's profile, which greets and extends PATH.
        std::fs::write(
            home.path().join(".profile"),
            "echo 'Welcome back'\nexport PATH=\"$HOME/tools/bin:/opt/agents/bin:$PATH\"\n",
        )
        .unwrap();
        let resolved = resolve(&inputs(home.path(), Some("/bin/sh".into())));
        let shell = resolved.shell.as_ref().expect("the shell printed its PATH");
        assert_eq!(shell[0], home.path().join("tools/bin"));
        assert_eq!(shell[1], PathBuf::from("/opt/agents/bin"));
        assert_eq!(&resolved.folders[..2], &shell[..2]);
        // Inherited folders follow, without repeats.
        assert_eq!(resolved.folders.iter().filter(|f| f.as_path() == Path::new("/usr/bin")).count(), 1);
        assert!(
            resolved.joined().starts_with(&format!("{}/tools/bin:/opt/agents/bin:", home.path().display()))
        );
    }

    #[test]
    fn nvm_versions_the_npm_prefix_and_local_folders_are_found_newest_node_first() {
        let home = tempfile::tempdir().unwrap();
        let h = home.path();
        for dir in [
            ".nvm/versions/node/v18.20.4/bin",
            ".nvm/versions/node/v22.3.0/bin",
            ".nvm/versions/node/v20.19.1/bin",
            ".nvm/versions/node/system/bin",
            ".local/bin",
            ".claude/local",
            "npm-prefix/bin",
        ] {
            std::fs::create_dir_all(h.join(dir)).unwrap();
        }
        std::fs::write(h.join(".npmrc"), "registry=https://registry.npmjs.org/\nprefix=${HOME}/npm-prefix\n")
            .unwrap();
        let places = usual_places(h);
        let rel: Vec<String> =
            places.iter().filter_map(|p| p.strip_prefix(h).ok()).map(|p| p.display().to_string()).collect();
        assert_eq!(
            rel,
            [
                ".nvm/versions/node/v22.3.0/bin",
                ".nvm/versions/node/v20.19.1/bin",
                ".nvm/versions/node/v18.20.4/bin",
                "npm-prefix/bin",
                ".local/bin",
                ".claude/local",
            ]
        );
        // Without a shell, they follow this process's PATH; a missing folder is left out.
        let resolved = resolve(&inputs(h, None));
        assert!(resolved.shell.is_err());
        assert_eq!(&resolved.folders[..2], &[PathBuf::from("/usr/bin"), PathBuf::from("/bin")]);
        assert!(resolved.folders.contains(&h.join(".claude/local")));
        assert!(!resolved.folders.contains(&h.join(".volta/bin")));
    }

    #[test]
    fn a_shell_that_hangs_is_killed_at_the_timeout_and_the_rest_still_counts() {
        let home = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(home.path().join(".local/bin")).unwrap();
        let shell = home.path().join("hanging-shell");
        let pid_file = home.path().join("pid");
        // Its start-up waits forever, with a child of its own holding the output open.
        script(&shell, &format!("echo $$ > {}\nsleep 300 &\nsleep 300\n", pid_file.display()));
        let started = Instant::now();
        let resolved =
            resolve(&Inputs { timeout: Duration::from_millis(500), ..inputs(home.path(), Some(shell)) });
        let took = started.elapsed();
        assert!(took < Duration::from_secs(2), "the timeout held: {took:?}");
        let why = resolved.shell.expect_err("no PATH from a hanging shell");
        assert!(why.contains("did not print its PATH within 0.5 s"), "{why}");
        assert!(resolved.folders.contains(&home.path().join(".local/bin")));
        // The shell and what it started are gone.
        let pid: i32 = std::fs::read_to_string(&pid_file).unwrap().trim().parse().unwrap();
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(live_members(pid), Vec::<String>::new(), "the shell's process group is gone");
    }

    /// The processes of group `group` that still run (zombies count as gone: whoever adopted
    /// an orphan reaps it when it will).
    fn live_members(group: i32) -> Vec<String> {
        let mut live = Vec::new();
        for entry in std::fs::read_dir("/proc").unwrap().flatten() {
            let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
            // pid (comm) state ppid pgrp …; comm may hold spaces, so split after its ')'.
            let Some((_, rest)) = stat.rsplit_once(')') else { continue };
            let fields: Vec<&str> = rest.split_whitespace().collect();
            if fields.get(2) == Some(&group.to_string().as_str()) && fields.first() != Some(&"Z") {
                live.push(stat);
            }
        }
        live
    }

    #[test]
    fn a_shell_that_fails_or_prints_nothing_is_reported() {
        let home = tempfile::tempdir().unwrap();
        let broken = home.path().join("broken-shell");
        script(&broken, "echo 'no PATH for you'; exit 1");
        let why = resolve(&inputs(home.path(), Some(broken))).shell.expect_err("no PATH");
        assert!(why.contains("printed no PATH"), "{why}");
        let missing = resolve(&inputs(home.path(), Some(home.path().join("no-such-shell"))));
        assert!(missing.shell.expect_err("no shell").contains("cannot start the login shell"));
        assert_eq!(missing.folders[0], PathBuf::from("/usr/bin"));
    }

    #[test]
    fn the_marks_are_found_among_other_output() {
        assert_eq!(parse(&format!("hi\n{MARK}/a:/b::{MARK}bye")), Some(vec!["/a".into(), "/b".into()]));
        assert_eq!(parse("nothing"), None);
        assert_eq!(parse(&format!("{MARK}/a")), None);
    }
}
