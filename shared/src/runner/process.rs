//! Agent processes: spawning one in its own process group with an explicit environment,
//! signalling the group, and sweeping every process that belongs to a run.
//!
//! Two boundaries keep a run's processes together. Where the machine allows it, the agent
//! starts in a PID namespace of its own (`unshare`, see [`PidNamespace`]): when the agent
//! ends, the kernel ends every process inside, whatever group, session or environment it
//! chose. Everywhere, a run's processes are also found three ways, so a stop leaves nothing
//! behind even when a tool left the process group (as the Bash tool of Claude Code does):
//! the run's process group, the `TASKYARD_RUN_ID=<id>` marker every run process inherits in
//! its environment, and descent from either (through `/proc`). Only the namespace catches a
//! process that both cleared its environment and lost its parent.

use std::collections::{BTreeMap, HashSet};
use std::io;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;
use tokio::process::{Child, Command};

use crate::agent::CommandSpec;

/// The environment variable that marks every process of a run.
pub const RUN_MARKER: &str = "TASKYARD_RUN_ID";

/// What keeps a run's processes together, so that a stop (and the end of a run) reaches all
/// of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Boundary {
    /// A PID namespace where this machine allows one, else the process group and the sweep.
    #[default]
    Auto,
    /// Always a PID namespace: a run fails to start when none can be made.
    PidNamespace,
    /// The process group, the run marker and descent only.
    ProcessGroup,
}

/// How to start an agent in a PID namespace of its own, with `unshare` (util-linux): the
/// agent becomes the namespace's first process, and when it exits the kernel kills every
/// process left inside. `--kill-child` ends the agent if `unshare` itself is killed, and
/// `--mount-proc` gives the namespace its own `/proc`, so the agent's view of processes
/// matches the pids it sees.
///
/// The agent as a namespace's first process only receives the signals it handles (SIGKILL
/// aside): a CLI that handles SIGINT (Claude Code, Codex) stops cleanly as before, one that
/// does not is killed after the stop's grace period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PidNamespace {
    unshare: PathBuf,
    args: Vec<String>,
}

impl PidNamespace {
    /// Finds `unshare` on `path` and the arguments that work on this machine: with the
    /// privilege to make namespaces (root), a PID and mount namespace; without it, inside a
    /// user namespace mapped to the current user. `None` when neither works (no `unshare`,
    /// or namespaces are not allowed, as in many containers). Blocking: it runs
    /// `unshare … true`.
    pub fn probe(path: &str) -> Option<Self> {
        let unshare = find_program("unshare", path).ok()?;
        let base = ["--pid", "--fork", "--kill-child", "--mount-proc"];
        let variants: [&[&str]; 2] = [&[], &["--user", "--map-current-user"]];
        for extra in variants {
            let args: Vec<String> = extra.iter().chain(base.iter()).map(|a| a.to_string()).collect();
            let ok = std::process::Command::new(&unshare)
                .args(&args)
                .arg("true")
                .env_clear()
                .env("PATH", path)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .map(|s| s.success())
                .unwrap_or(false);
            if ok {
                return Some(Self { unshare, args });
            }
        }
        None
    }

    /// `spec` run inside a namespace of its own. The program is looked up on `path` first,
    /// so a missing program is reported as such rather than by `unshare`.
    pub fn wrap(&self, spec: &CommandSpec, path: &str) -> io::Result<CommandSpec> {
        let program = spawnable(&spec.program, path)?;
        let mut args = self.args.clone();
        args.push("--".into());
        args.push(program.display().to_string());
        args.extend(spec.args.iter().cloned());
        Ok(CommandSpec { program: self.unshare.display().to_string(), args, env: spec.env.clone() })
    }
}

/// `spec` run at a lower CPU priority than this process: `niceness` steps below it through
/// `nice`, and with `idle`, in the kernel's idle scheduling class (`SCHED_IDLE`, through
/// `chrt`) — its processes then get only the CPU time that nothing else asks for, and a
/// waking server thread takes a CPU from them at once. Each wrapper is used where it is on
/// `path` (and, for `chrt`, where the system lets a process choose that class); else `spec`
/// runs as it is. A missing program is reported as `spawn` would.
pub fn lower_priority(spec: &CommandSpec, path: &str, niceness: u8, idle: bool) -> io::Result<CommandSpec> {
    let nice = find_program("nice", path).ok().filter(|_| niceness > 0);
    let chrt = find_program("chrt", path).ok().filter(|chrt| idle && idle_class_available(chrt));
    if nice.is_none() && chrt.is_none() {
        return Ok(spec.clone());
    }
    let program = spawnable(&spec.program, path)?;
    let mut argv = Vec::new();
    if let Some(chrt) = chrt {
        argv.extend([chrt.display().to_string(), "--idle".into(), "0".into()]);
    }
    if let Some(nice) = nice {
        argv.extend([nice.display().to_string(), "-n".into(), niceness.to_string(), "--".into()]);
    }
    argv.push(program.display().to_string());
    argv.extend(spec.args.iter().cloned());
    let program = argv.remove(0);
    Ok(CommandSpec { program, args: argv, env: spec.env.clone() })
}

/// Whether `chrt` can put a process in the idle class here (a container may forbid it):
/// tried once per process.
fn idle_class_available(chrt: &Path) -> bool {
    static AVAILABLE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *AVAILABLE.get_or_init(|| {
        std::process::Command::new(chrt)
            .args(["--idle", "0"])
            .arg(chrt)
            .arg("--version")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
}

/// [`find_program`] for a wrapper to run: a missing program is reported as `spawn` would.
fn spawnable(program: &str, path: &str) -> io::Result<PathBuf> {
    find_program(program, path).map_err(|problem| {
        let kind = if problem.contains("not an executable") {
            io::ErrorKind::PermissionDenied
        } else {
            io::ErrorKind::NotFound
        };
        io::Error::new(kind, problem)
    })
}

/// The executable `program` names: a path as it is, a bare name looked up in `path`.
pub fn find_program(program: &str, path: &str) -> Result<PathBuf, String> {
    use std::os::unix::fs::PermissionsExt as _;
    let executable =
        |p: &Path| std::fs::metadata(p).map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0);
    if program.contains('/') {
        let p = PathBuf::from(program);
        return match executable(&p) {
            Ok(true) => Ok(p),
            Ok(false) => Err(format!("{program} is not an executable file")),
            Err(e) => Err(format!("{program}: {e}")),
        };
    }
    path.split(':')
        .filter(|dir| !dir.is_empty())
        .map(|dir| Path::new(dir).join(program))
        .find(|p| executable(p).unwrap_or(false))
        .ok_or_else(|| format!("`{program}` was not found on the agents' PATH"))
}

/// The variables every agent process starts from: `PATH`, its private `HOME` and `TMPDIR`,
/// a UTF-8 locale, and a terminal that asks for no colours.
pub fn base_env(path: &str, home: &Path, tmp: &Path) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("PATH".to_owned(), path.to_owned()),
        ("HOME".to_owned(), home.display().to_string()),
        ("TMPDIR".to_owned(), tmp.display().to_string()),
        ("LANG".to_owned(), "C.UTF-8".to_owned()),
        ("TERM".to_owned(), "dumb".to_owned()),
        ("NO_COLOR".to_owned(), "1".to_owned()),
    ])
}

/// Starts `spec` in `cwd` as the leader of a new process group, with exactly `env` as its
/// environment, stdin closed and stdout/stderr piped.
pub fn spawn(spec: &CommandSpec, env: &BTreeMap<String, String>, cwd: &Path) -> io::Result<Child> {
    let mut cmd = Command::new(&spec.program);
    cmd.args(&spec.args)
        .env_clear()
        .envs(env)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(false);
    cmd.spawn()
}

/// A person-readable reason for a failed spawn.
pub fn spawn_error(program: &str, err: &io::Error) -> String {
    match err.kind() {
        io::ErrorKind::NotFound => {
            format!("agent command `{program}` was not found (is it installed and on PATH?)")
        }
        io::ErrorKind::PermissionDenied => format!("agent command `{program}` is not executable"),
        _ => format!("agent command `{program}` could not start: {err}"),
    }
}

/// Sends `signal` to the process group `pgid`; a group that is gone already is fine.
pub fn signal_group(pgid: i32, signal: Signal) {
    if pgid > 1 {
        let _ = killpg(Pid::from_raw(pgid), signal);
    }
}

/// Sends `signal` to every process of the group `pgid` but `spare` (bubblewrap's own
/// process, which would die of it and take the sandbox along before the agent could stop
/// cleanly); with no `spare`, to the whole group.
pub fn signal_group_but(pgid: i32, spare: Option<i32>, signal: Signal) {
    let Some(spare) = spare else { return signal_group(pgid, signal) };
    if pgid <= 1 {
        return;
    }
    let Ok(dir) = std::fs::read_dir("/proc") else { return };
    let members = dir
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| *pid != spare)
        .filter_map(proc_info)
        .filter(|p| p.pgrp == pgid);
    for p in members {
        let _ = kill(Pid::from_raw(p.pid), signal);
    }
}

#[derive(Debug, Clone, Copy)]
struct ProcInfo {
    pid: i32,
    ppid: i32,
    pgrp: i32,
}

/// Reads `/proc/<pid>/stat` (pid, ppid, process group), skipping zombies: they are dead
/// already and only wait for their parent.
fn proc_info(pid: i32) -> Option<ProcInfo> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may hold spaces or parentheses itself.
    let rest = &stat[stat.rfind(')')? + 2..];
    let mut fields = rest.split_ascii_whitespace();
    let state = fields.next()?;
    if state == "Z" || state == "X" {
        return None;
    }
    let ppid = fields.next()?.parse().ok()?;
    let pgrp = fields.next()?.parse().ok()?;
    Some(ProcInfo { pid, ppid, pgrp })
}

fn has_marker(pid: i32, marker: &[u8]) -> bool {
    std::fs::read(format!("/proc/{pid}/environ"))
        .map(|env| env.split(|b| *b == 0).any(|var| var == marker))
        .unwrap_or(false)
}

/// Every live process of the run `run_id` whose group leader was `pgid` (this process
/// excluded).
pub fn run_processes(run_id: &str, pgid: Option<i32>) -> Vec<i32> {
    let me = std::process::id() as i32;
    let marker = format!("{RUN_MARKER}={run_id}").into_bytes();
    let Ok(dir) = std::fs::read_dir("/proc") else { return Vec::new() };
    let all: Vec<ProcInfo> = dir
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| *pid != me)
        .filter_map(proc_info)
        .collect();
    let mut found: HashSet<i32> =
        all.iter().filter(|p| Some(p.pgrp) == pgid || has_marker(p.pid, &marker)).map(|p| p.pid).collect();
    // Descendants of run processes belong to the run too, whatever group or environment
    // they chose.
    loop {
        let before = found.len();
        for p in &all {
            if found.contains(&p.ppid) && p.pid != me {
                found.insert(p.pid);
            }
        }
        if found.len() == before {
            break;
        }
    }
    let mut pids: Vec<i32> = found.into_iter().collect();
    pids.sort_unstable();
    pids
}

/// Kills every process of a run with SIGKILL until none is left (or a few seconds passed).
/// Returns how many processes were killed.
pub async fn sweep(run_id: &str, pgid: Option<i32>) -> usize {
    let mut killed = HashSet::new();
    for _ in 0..100 {
        let run_id_owned = run_id.to_owned();
        let pids =
            tokio::task::spawn_blocking(move || run_processes(&run_id_owned, pgid)).await.unwrap_or_default();
        if pids.is_empty() {
            break;
        }
        if let Some(g) = pgid {
            signal_group(g, Signal::SIGKILL);
        }
        for pid in pids {
            if kill(Pid::from_raw(pid), Signal::SIGKILL).is_ok() {
                killed.insert(pid);
            }
        }
        // Killed processes leave /proc once reaped; give the kernel a moment.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    killed.len()
}
