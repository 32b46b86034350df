//! Agent processes: spawning one in its own process group with an explicit environment,
//! signalling the group, and sweeping every process that belongs to a run.
//!
//! A run's processes are found three ways, so that a stop leaves nothing behind even when a
//! tool left the process group (as the Bash tool of Claude Code does): the run's process
//! group, the `TASKYARD_RUN_ID=<id>` marker every run process inherits in its environment,
//! and descent from either (through `/proc`).

use std::collections::{BTreeMap, HashSet};
use std::io;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;
use tokio::process::{Child, Command};

use crate::agent::CommandSpec;

/// The environment variable that marks every process of a run.
pub const RUN_MARKER: &str = "TASKYARD_RUN_ID";

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
