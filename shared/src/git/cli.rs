//! Network git operations through the git command line: connections pinned to the vetted
//! address, no redirects, stall and overall timeouts, and an environment of our making.
//!
//! libgit2 cannot pin an address and sets timeouts only through an `unsafe` global, so clone,
//! fetch and push run `git` (2.37 or newer, for `http.curloptResolve`) instead.

use std::ffi::OsString;
use std::io::Read as _;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use base64::Engine as _;

use super::{CloneProgress, GitError, Result, TOKEN_USER, redact};
use crate::outbound::{Policy, Target};

/// The oldest git that understands `http.curloptResolve`.
const MIN_VERSION: (u32, u32) = (2, 37);

/// The most of git's stdout and stderr kept (the tail of stderr, where the reason is).
const MAX_OUTPUT: usize = 64 * 1024;

/// One network git command: what to run, where, against which vetted target.
pub(super) struct Network<'a> {
    /// The vetted remote.
    pub target: &'a Target,
    /// The access token, sent only to the target's host, only in a header.
    pub token: Option<&'a str>,
    /// Timeouts.
    pub policy: &'a Policy,
}

/// What a successful command reported last.
pub(super) struct Finished {
    pub progress: CloneProgress,
}

/// The git program: the first `git` on this process's `PATH` that is new enough.
fn program() -> Result<&'static Path> {
    static PROGRAM: OnceLock<std::result::Result<PathBuf, String>> = OnceLock::new();
    PROGRAM
        .get_or_init(|| {
            let path = std::env::var_os("PATH").unwrap_or_default();
            let mut seen = Vec::new();
            for dir in std::env::split_paths(&path) {
                let candidate = dir.join("git");
                if !candidate.is_file() {
                    continue;
                }
                let version = Command::new(&candidate)
                    .arg("--version")
                    .env_clear()
                    .stdin(Stdio::null())
                    .output()
                    .ok()
                    .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
                    .unwrap_or_default();
                if parse_version(&version).is_some_and(|v| v >= MIN_VERSION) {
                    return Ok(candidate);
                }
                seen.push(format!("{} ({version})", candidate.display()));
            }
            Err(format!(
                "network git operations need git {}.{} or newer on PATH; found {}",
                MIN_VERSION.0,
                MIN_VERSION.1,
                if seen.is_empty() { "none".to_owned() } else { seen.join(", ") }
            ))
        })
        .as_deref()
        .map_err(|e| GitError::Git(e.clone()))
}

/// `git version 2.39.5` → (2, 39).
fn parse_version(text: &str) -> Option<(u32, u32)> {
    let number = text.strip_prefix("git version ")?;
    let mut parts = number.split(['.', ' ']);
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

/// Connects to the target's addresses in turn, each within the connect timeout, and returns
/// the first that answers: the one git is pinned to.
fn reachable(target: &Target, policy: &Policy) -> Result<SocketAddr> {
    let mut last = String::from("no address");
    for addr in &target.addrs {
        match TcpStream::connect_timeout(addr, policy.connect_timeout) {
            Ok(_) => return Ok(*addr),
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                last = format!("no answer from {addr} within {} s", policy.connect_timeout.as_secs());
            }
            Err(e) => last = format!("cannot connect to {addr}: {e}"),
        }
    }
    Err(GitError::Unreachable(last))
}

/// Runs `git <args>` in `dir` (or nowhere in particular) against `net`'s target, reporting
/// clone progress to `progress` (returning `false` cancels). Ends the process group at the
/// policy's deadline.
pub(super) fn run(
    dir: Option<&Path>,
    args: &[OsString],
    net: &Network<'_>,
    mut progress: Option<&mut dyn FnMut(&CloneProgress) -> bool>,
) -> Result<Finished> {
    let git = program()?;
    let addr = reachable(net.target, net.policy)?;
    let home = TempHome::new()?;
    let policy = net.policy;

    let mut command = Command::new(git);
    command
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home.path())
        .env("XDG_CONFIG_HOME", home.path())
        .env("LC_ALL", "C")
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null");
    // Settings no configuration file can undo (the command line is read last).
    let mut settings = vec![
        "http.followRedirects=false".to_owned(),
        format!("http.lowSpeedLimit={}", policy.low_speed_bytes.max(1)),
        format!("http.lowSpeedTime={}", policy.low_speed_time.as_secs().max(1)),
        "protocol.allow=never".to_owned(),
        "protocol.https.allow=always".to_owned(),
        "protocol.http.allow=always".to_owned(),
        "credential.helper=".to_owned(),
        "core.askPass=".to_owned(),
        "core.fsmonitor=false".to_owned(),
        format!("core.hooksPath={}", home.hooks().display()),
    ];
    if let Some(pin) = net.target.pin(addr) {
        settings.push(format!("http.curloptResolve={pin}"));
    }
    for setting in settings {
        command.arg("-c").arg(setting);
    }
    if let Some(token) = net.token.filter(|t| !t.is_empty()) {
        // Through the environment, never the command line (anyone can read /proc/<pid>/cmdline).
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("{TOKEN_USER}:{token}"));
        command
            .env("GIT_CONFIG_COUNT", "1")
            .env("GIT_CONFIG_KEY_0", "http.extraHeader")
            .env("GIT_CONFIG_VALUE_0", format!("Authorization: Basic {basic}"));
    }
    if let Some(dir) = dir {
        command.current_dir(dir);
    }
    command.args(args).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    std::os::unix::process::CommandExt::process_group(&mut command, 0);

    let started = Instant::now();
    let mut child = command.spawn().map_err(|e| GitError::Git(format!("cannot start git: {e}")))?;
    let group = child.id();
    let mut stdout = child.stdout.take();
    let stdout_reader = std::thread::spawn(move || {
        let mut out = Vec::new();
        if let Some(pipe) = stdout.as_mut() {
            let _ = pipe.take(MAX_OUTPUT as u64).read_to_end(&mut out);
            // Drain the rest so git never blocks on a full pipe.
            let _ = std::io::copy(pipe, &mut std::io::sink());
        }
        String::from_utf8_lossy(&out).into_owned()
    });
    let (lines_tx, lines) = mpsc::sync_channel::<String>(64);
    let mut stderr = child.stderr.take();
    let stderr_reader = std::thread::spawn(move || {
        let Some(pipe) = stderr.as_mut() else { return };
        let mut buf = [0u8; 4096];
        let mut line = Vec::new();
        loop {
            let n = match pipe.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            for &b in &buf[..n] {
                // Progress lines end in `\r`.
                if b == b'\n' || b == b'\r' {
                    if !line.is_empty() && lines_tx.send(String::from_utf8_lossy(&line).into_owned()).is_err()
                    {
                        return;
                    }
                    line.clear();
                } else if line.len() < 4096 {
                    line.push(b);
                }
            }
        }
        if !line.is_empty() {
            let _ = lines_tx.send(String::from_utf8_lossy(&line).into_owned());
        }
    });

    let mut stderr_tail = String::new();
    let mut current = CloneProgress::default();
    let mut ended = None;
    let status = loop {
        match lines.recv_timeout(Duration::from_millis(50)) {
            Ok(line) => {
                if let Some(p) = progress.as_mut()
                    && parse_progress(&line, &mut current)
                    && !p(&current)
                {
                    ended = Some(GitError::Cancelled);
                }
                if !line.contains("objects:") && !line.contains("deltas:") {
                    stderr_tail.push_str(&line);
                    stderr_tail.push('\n');
                    if stderr_tail.len() > MAX_OUTPUT {
                        let cut = stderr_tail.len() - MAX_OUTPUT / 2;
                        let cut =
                            (cut..stderr_tail.len()).find(|i| stderr_tail.is_char_boundary(*i)).unwrap_or(0);
                        stderr_tail.drain(..cut);
                    }
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                // stderr closed: git is exiting; wait for it (still under the deadline).
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        if ended.is_none() && started.elapsed() > policy.deadline {
            ended = Some(GitError::Unreachable(format!(
                "the operation did not finish within {} s",
                policy.deadline.as_secs()
            )));
        }
        if ended.is_some() {
            kill_group(group);
            break child.wait();
        }
        match child.try_wait() {
            Ok(Some(status)) => break Ok(status),
            Ok(None) => {}
            Err(e) => break Err(e),
        }
    };
    // What git printed last is the reason; a helper process that outlived git and still holds
    // the pipe is ended (its group is still alive then, so the id cannot have been reused).
    let drain_until = Instant::now() + Duration::from_secs(2);
    loop {
        match lines.recv_timeout(Duration::from_millis(50)) {
            Ok(line) => {
                if !line.contains("objects:") && !line.contains("deltas:") {
                    stderr_tail.push_str(&line);
                    stderr_tail.push('\n');
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) if Instant::now() > drain_until => {
                kill_group(group);
                break;
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
    }
    drop(lines);
    let _ = stderr_reader.join();
    let stdout = stdout_reader.join().unwrap_or_default();
    if let Some(e) = ended {
        return Err(e);
    }
    let status = status.map_err(|e| GitError::Git(format!("waiting for git failed: {e}")))?;
    if status.success() {
        current.received_objects = current.received_objects.max(current.total_objects);
        current.indexed_deltas = current.indexed_deltas.max(current.total_deltas);
        return Ok(Finished { progress: current });
    }
    Err(classify(&redact(&stderr_tail, net.token), &stdout))
}

/// Ends whatever is left of git's process group (git-remote-http included).
fn kill_group(group: u32) {
    if let Ok(pid) = i32::try_from(group) {
        let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
    }
}

/// Turns git's complaint into an error whose message says what happened, without the token.
fn classify(stderr: &str, stdout: &str) -> GitError {
    let has = |needle: &str| stderr.contains(needle);
    let last = stderr
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("git failed without saying why")
        .trim()
        .trim_start_matches("fatal: ")
        .trim_start_matches("error: ")
        .to_owned();
    if let Some(rejection) = stdout.lines().find(|l| l.starts_with('!')) {
        let reason = rejection.split('\t').nth(2).unwrap_or(rejection).to_owned();
        let branch = rejection
            .split('\t')
            .nth(1)
            .and_then(|refs| refs.split(':').nth(1))
            .unwrap_or_default()
            .trim_start_matches("refs/heads/")
            .to_owned();
        if reason.contains("non-fast-forward") || reason.contains("fetch first") {
            return GitError::NotFastForward;
        }
        return GitError::PushRejected { branch, reason };
    }
    if has("Authentication failed")
        || has("could not read Username")
        || has("could not read Password")
        || has("returned error: 401")
        || has("returned error: 403")
    {
        return GitError::AuthFailed;
    }
    if let Some(code) = http_status(stderr) {
        return match code {
            300..=399 => GitError::Unreachable(format!(
                "the remote answered with a redirect (HTTP {code}), which is not followed: use the repository's final URL"
            )),
            404 => GitError::Unreachable("the remote answered HTTP 404: no repository at that URL".into()),
            _ => GitError::Unreachable(format!("the remote answered with HTTP status {code}")),
        };
    }
    if has("not found") && has("repository") {
        return GitError::Unreachable("the remote answered HTTP 404: no repository at that URL".into());
    }
    if has("Operation too slow") || has("timed out") || has("Timeout was reached") {
        return GitError::Unreachable(format!("the remote stopped answering: {last}"));
    }
    if has("unable to access") || has("Failed to connect") || has("Could not resolve") || has("SSL") {
        return GitError::Unreachable(last);
    }
    if has("non-fast-forward") || has("fetch first") {
        return GitError::NotFastForward;
    }
    GitError::Git(last)
}

/// The status of "The requested URL returned error: 404".
fn http_status(stderr: &str) -> Option<u16> {
    let (_, rest) = stderr.split_once("returned error: ")?;
    rest.get(..3)?.parse().ok()
}

/// Reads a progress line into `p`; whether it was one.
fn parse_progress(line: &str, p: &mut CloneProgress) -> bool {
    let line = line.trim_start_matches("remote: ").trim();
    let (receiving, rest) = if let Some(rest) = line.strip_prefix("Receiving objects:") {
        (true, rest)
    } else if let Some(rest) = line.strip_prefix("Resolving deltas:") {
        (false, rest)
    } else {
        return false;
    };
    let Some((done, total)) = rest
        .split_once('(')
        .and_then(|(_, r)| r.split_once(')'))
        .and_then(|(counts, _)| counts.split_once('/'))
        .and_then(|(a, b)| Some((a.trim().parse::<usize>().ok()?, b.trim().parse::<usize>().ok()?)))
    else {
        return false;
    };
    if receiving {
        p.received_objects = done;
        p.total_objects = total;
        if let Some(bytes) = rest.split_once("), ").and_then(|(_, size)| parse_size(size)) {
            p.received_bytes = bytes;
        }
    } else {
        p.indexed_deltas = done;
        p.total_deltas = total;
    }
    true
}

/// `1.20 MiB | 3.00 MiB/s, done.` → bytes.
fn parse_size(text: &str) -> Option<usize> {
    let mut words = text.split_whitespace();
    let number: f64 = words.next()?.parse().ok()?;
    let unit = words.next()?.trim_end_matches([',', '|']);
    let factor = match unit {
        "bytes" | "byte" => 1.0,
        "KiB" => 1024.0,
        "MiB" => 1024.0 * 1024.0,
        "GiB" => 1024.0 * 1024.0 * 1024.0,
        _ => return None,
    };
    Some((number * factor) as usize)
}

/// A private, empty `HOME` for one git process (and an empty hooks folder, so no hook of a
/// repository runs as the server), removed afterwards.
struct TempHome(PathBuf);

impl TempHome {
    fn new() -> Result<Self> {
        let dir = std::env::temp_dir().join(format!("taskyard-git-{}", uuid::Uuid::now_v7().simple()));
        std::fs::create_dir_all(dir.join("hooks"))
            .map_err(|e| GitError::Git(format!("cannot make a home for git: {e}")))?;
        Ok(Self(dir))
    }

    fn path(&self) -> &Path {
        &self.0
    }

    fn hooks(&self) -> PathBuf {
        self.0.join("hooks")
    }
}

impl Drop for TempHome {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_progress_lines() {
        let mut p = CloneProgress::default();
        assert!(parse_progress("Receiving objects:  50% (3/6)", &mut p));
        assert_eq!((p.received_objects, p.total_objects), (3, 6));
        assert!(parse_progress("Receiving objects: 100% (6/6), 1.50 KiB | 1.50 MiB/s, done.", &mut p));
        assert_eq!((p.received_objects, p.received_bytes), (6, 1536));
        assert!(parse_progress("Resolving deltas: 100% (2/2), done.", &mut p));
        assert_eq!((p.indexed_deltas, p.total_deltas), (2, 2));
        assert!(!parse_progress("remote: Enumerating objects: 5, done.", &mut p));
    }

    #[test]
    fn reads_versions() {
        assert_eq!(parse_version("git version 2.39.5"), Some((2, 39)));
        assert_eq!(parse_version("git version 2.47.3.windows.1"), Some((2, 47)));
        assert_eq!(parse_version("nonsense"), None);
    }

    #[test]
    fn classifies_failures() {
        assert!(matches!(
            classify("fatal: Authentication failed for 'http://h/x.git/'", ""),
            GitError::AuthFailed
        ));
        assert!(matches!(
            classify("fatal: could not read Username for 'http://h': terminal prompts disabled", ""),
            GitError::AuthFailed
        ));
        let GitError::Unreachable(m) =
            classify("fatal: unable to access 'http://h/x/': The requested URL returned error: 302", "")
        else {
            panic!()
        };
        assert!(m.contains("redirect"), "{m}");
        assert!(matches!(
            classify("", "To http://h/x.git\n!\trefs/heads/b:refs/heads/b\t[rejected] (fetch first)\nDone\n"),
            GitError::NotFastForward
        ));
    }
}
