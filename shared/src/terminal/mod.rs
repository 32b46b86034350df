//! Terminals: a shell on a real pseudo-terminal (portable-pty) whose output is kept in a
//! bounded ring addressed by byte offsets, so clients come and go (a reload, a dropped
//! connection) and reattach where they were, without loss or repetition.
//!
//! Flow control is by acknowledgement, end to end: a client acknowledges the offset it has
//! shown; when the output not yet acknowledged passes the high-water mark the PTY is no longer
//! read (the shell blocks on its writes, as on a slow terminal) until the client catches up to
//! the low-water mark. The ring holds more than the high-water mark, so nothing unacknowledged
//! is ever dropped, and a `yes` flood costs the ring and one read buffer, whatever the client.
//!
//! Each session has three threads, as blocking PTY I/O wants: one reads (and pauses), one
//! writes what was typed (from a bounded queue), one waits for the shell's exit. Closing hangs
//! up every process of the shell's session (background jobs included), then kills them: a
//! closed terminal leaves nothing running.

pub mod protocol;
pub mod ring;

use std::collections::BTreeMap;
use std::io::{Read as _, Write as _};
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use portable_pty::{CommandBuilder, MasterPty, PtySize, native_pty_system};
use tokio::sync::{mpsc, watch};

pub use protocol::Size;
use ring::Ring;

/// Bytes one read from the PTY takes at most.
pub const READ_CHUNK: usize = 16 * 1024;
/// Bytes one output chunk carries at most.
pub const OUTPUT_CHUNK: usize = 64 * 1024;
/// While output streams, chunks go at most this often and what comes meanwhile joins the
/// next: a flood goes in few large frames, and a lone keystroke's echo still goes at once.
const COALESCE: Duration = Duration::from_millis(1);
/// A chunk at least this large means output streams (an echo or a prompt is smaller).
const STREAMING: usize = 2048;
/// Frames typed but not yet written to the PTY, at most (each ≤ [`protocol::MAX_INPUT`]).
const INPUT_QUEUE: usize = 16;
/// How long a closed session's shell has after the hang-up before it is killed.
const HANGUP_GRACE: Duration = Duration::from_secs(2);

/// What to run.
#[derive(Debug, Clone)]
pub struct Spec {
    /// The program (a path, or a name looked up in `env`'s `PATH`).
    pub program: String,
    pub args: Vec<String>,
    /// The folder it starts in.
    pub cwd: PathBuf,
    /// Its whole environment (nothing of the server's is added).
    pub env: BTreeMap<String, String>,
    pub size: Size,
}

impl Spec {
    /// `program` as an interactive shell in `cwd`, with `env` plus a 256-colour terminal.
    pub fn shell(
        program: impl Into<String>,
        cwd: impl Into<PathBuf>,
        mut env: BTreeMap<String, String>,
    ) -> Self {
        env.entry("TERM".into()).or_insert_with(|| "xterm-256color".into());
        env.entry("COLORTERM".into()).or_insert_with(|| "truecolor".into());
        Self { program: program.into(), args: Vec::new(), cwd: cwd.into(), env, size: Size::default() }
    }
}

/// How much a session keeps and lets go unacknowledged.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Recent output kept for reattaching clients, in bytes.
    pub ring_bytes: usize,
    /// Unacknowledged output at which the PTY is no longer read.
    pub high_water: u64,
    /// Unacknowledged output below which it is read again.
    pub low_water: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self { ring_bytes: 256 * 1024, high_water: 100_000, low_water: 5_000 }
    }
}

impl Limits {
    /// The limits with the ring large enough for everything unacknowledged (the high-water
    /// mark plus one read) and the low-water mark below the high one.
    fn checked(self) -> Self {
        let high_water = self.high_water.max(1);
        Self {
            ring_bytes: self.ring_bytes.max(high_water as usize + READ_CHUNK),
            high_water,
            low_water: self.low_water.min(high_water),
        }
    }
}

/// One piece of what a client is sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Chunk {
    /// Output from `offset` on.
    Output { offset: u64, bytes: Vec<u8> },
    /// The shell ended (its exit code; -1 when a signal ended it) and all its output was sent.
    Exit(i32),
}

/// The session was closed, or its shell stopped reading.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the terminal is closed")]
pub struct Closed;

#[derive(Debug)]
struct State {
    ring: Ring,
    acked: u64,
    paused: bool,
    /// The PTY gave its last byte.
    eof: bool,
    exit: Option<i32>,
    closed: bool,
}

#[derive(Debug)]
struct Shared {
    limits: Limits,
    state: Mutex<State>,
    /// The reader waits on it while paused.
    resume: Condvar,
    /// Counts changes (output, end of output, exit), for clients waiting for more.
    changed: watch::Sender<u64>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn bump(&self) {
        self.changed.send_modify(|n| *n += 1);
    }
}

/// A shell on a PTY. Dropping it closes it.
pub struct Session {
    shared: Arc<Shared>,
    master: Mutex<Box<dyn MasterPty + Send>>,
    input: mpsc::Sender<Vec<u8>>,
    pid: Option<u32>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session").field("pid", &self.pid).finish_non_exhaustive()
    }
}

impl Session {
    /// Starts `spec` on a new PTY. A program that cannot start is an error here; one that
    /// starts and exits at once is a session whose output ends with [`Chunk::Exit`].
    pub fn spawn(spec: &Spec, limits: Limits) -> std::io::Result<Self> {
        let limits = limits.checked();
        let pair = native_pty_system()
            .openpty(pty_size(spec.size))
            .map_err(|e| std::io::Error::other(format!("cannot open a terminal: {e}")))?;
        let mut cmd = CommandBuilder::new(&spec.program);
        cmd.args(&spec.args);
        cmd.cwd(&spec.cwd);
        cmd.env_clear();
        for (key, value) in &spec.env {
            cmd.env(key, value);
        }
        let mut child = pair
            .slave
            .spawn_command(cmd)
            .map_err(|e| std::io::Error::other(format!("cannot start {}: {e}", spec.program)))?;
        // The shell holds the only slave end now: its exit ends the output.
        drop(pair.slave);
        let pid = child.process_id();
        let reader = pair.master.try_clone_reader().map_err(std::io::Error::other)?;
        let writer = pair.master.take_writer().map_err(std::io::Error::other)?;
        let shared = Arc::new(Shared {
            limits,
            state: Mutex::new(State {
                ring: Ring::new(limits.ring_bytes),
                acked: 0,
                paused: false,
                eof: false,
                exit: None,
                closed: false,
            }),
            resume: Condvar::new(),
            changed: watch::channel(0).0,
        });
        let (input, typed) = mpsc::channel(INPUT_QUEUE);
        let threads = [
            ("terminal-read", {
                let shared = shared.clone();
                Box::new(move || read_output(reader, &shared)) as Box<dyn FnOnce() + Send>
            }),
            ("terminal-write", Box::new(move || write_input(writer, typed))),
            ("terminal-wait", {
                let shared = shared.clone();
                Box::new(move || {
                    let code = match child.wait() {
                        Ok(status) if status.signal().is_some() => -1,
                        Ok(status) => i32::try_from(status.exit_code()).unwrap_or(-1),
                        Err(_) => -1,
                    };
                    shared.lock().exit = Some(code);
                    shared.bump();
                })
            }),
        ];
        let session = Self { shared, master: Mutex::new(pair.master), input, pid };
        for (name, work) in threads {
            if let Err(e) = std::thread::Builder::new().name(name.into()).spawn(work) {
                session.close();
                return Err(e);
            }
        }
        Ok(session)
    }

    /// The shell's process id (and process group).
    pub fn pid(&self) -> Option<u32> {
        self.pid
    }

    /// The shell's exit code, once it ended.
    pub fn exit(&self) -> Option<i32> {
        self.shared.lock().exit
    }

    /// The oldest and the next offset of the output kept.
    pub fn span(&self) -> (u64, u64) {
        let state = self.shared.lock();
        (state.ring.start(), state.ring.end())
    }

    /// Output not yet acknowledged, in bytes.
    pub fn unacknowledged(&self) -> u64 {
        let state = self.shared.lock();
        state.ring.end() - state.acked
    }

    /// Whether the PTY is not read for now (the client is behind).
    pub fn paused(&self) -> bool {
        self.shared.lock().paused
    }

    /// Queues what was typed; waits while the shell is not reading its input.
    pub async fn write(&self, bytes: Vec<u8>) -> Result<(), Closed> {
        if self.shared.lock().closed {
            return Err(Closed);
        }
        self.input.send(bytes).await.map_err(|_| Closed)
    }

    /// Queues what was typed if there is room: `Ok(false)` when the shell is not reading its
    /// input fast enough and the bytes were dropped (as a terminal's full input buffer does),
    /// so a socket that also carries acknowledgements never waits on a stuck shell.
    pub fn try_write(&self, bytes: Vec<u8>) -> Result<bool, Closed> {
        if self.shared.lock().closed {
            return Err(Closed);
        }
        match self.input.try_send(bytes) {
            Ok(()) => Ok(true),
            Err(mpsc::error::TrySendError::Full(_)) => Ok(false),
            Err(mpsc::error::TrySendError::Closed(_)) => Err(Closed),
        }
    }

    /// Gives the terminal a new size (the shell gets SIGWINCH).
    pub fn resize(&self, size: Size) -> std::io::Result<()> {
        let master = self.master.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        master.resize(pty_size(size)).map_err(std::io::Error::other)
    }

    /// The client has shown the output up to `offset`: the PTY is read again once the client
    /// is close enough to the end.
    pub fn ack(&self, offset: u64) {
        let mut state = self.shared.lock();
        state.acked = state.acked.max(offset.min(state.ring.end()));
        if state.paused && state.ring.end() - state.acked <= self.shared.limits.low_water {
            state.paused = false;
            self.shared.resume.notify_all();
        }
    }

    /// The output from `offset` on, as it comes, then the exit.
    pub fn output(&self, offset: u64) -> Output {
        Output {
            shared: self.shared.clone(),
            at: offset,
            changes: self.shared.changed.subscribe(),
            done: false,
            last: None,
        }
    }

    /// Hangs up the shell and everything it started (its session), and kills what is still
    /// there a moment later. The threads end with it.
    pub fn close(&self) {
        {
            let mut state = self.shared.lock();
            if state.closed {
                return;
            }
            state.closed = true;
            state.paused = false;
        }
        self.shared.resume.notify_all();
        self.shared.bump();
        let Some(leader) = self.pid.and_then(|p| i32::try_from(p).ok()) else { return };
        signal_session(leader, nix::sys::signal::Signal::SIGHUP);
        let shared = self.shared.clone();
        let _ = std::thread::Builder::new().name("terminal-kill".into()).spawn(move || {
            let deadline = std::time::Instant::now() + HANGUP_GRACE;
            while shared.lock().exit.is_none() && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            // What the hang-up left goes too: jobs in their own process groups, and whatever
            // ignored it.
            signal_session(leader, nix::sys::signal::Signal::SIGKILL);
        });
    }
}

/// Sends `signal` to every process of the session `leader` started (the shell is a session
/// leader on its PTY; its jobs have process groups of their own, but stay in its session).
fn signal_session(leader: i32, signal: nix::sys::signal::Signal) {
    let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(leader), signal);
    let Ok(entries) = std::fs::read_dir("/proc") else { return };
    for pid in entries.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok()) {
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { continue };
        // After the command's name in parentheses: state, parent, process group, session.
        let session =
            stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().nth(3)?.parse::<i32>().ok());
        if session == Some(leader) {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), signal);
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.close();
    }
}

/// A client's view of a session's output, from an offset on.
#[derive(Debug)]
pub struct Output {
    shared: Arc<Shared>,
    at: u64,
    changes: watch::Receiver<u64>,
    done: bool,
    /// When the last chunk went, if it was a large one (output is streaming).
    last: Option<tokio::time::Instant>,
}

impl Output {
    /// The next chunk (at most [`OUTPUT_CHUNK`] bytes; its offset is later than asked when the
    /// bytes asked for were dropped already); `None` after the exit, or when the session
    /// closed.
    pub async fn next(&mut self) -> Option<Chunk> {
        loop {
            if self.done {
                return None;
            }
            // Marked seen before reading, so a change after the read wakes the wait below.
            self.changes.mark_unchanged();
            let hold = {
                let state = self.shared.lock();
                let waiting = state.ring.end().saturating_sub(self.at.max(state.ring.start()));
                let streaming = self.last.filter(|at| at.elapsed() < COALESCE);
                match streaming {
                    Some(last)
                        if waiting > 0 && waiting < OUTPUT_CHUNK as u64 && !state.eof && !state.closed =>
                    {
                        Some(last + COALESCE)
                    }
                    _ => {
                        let (offset, bytes) = state.ring.read_from(self.at, OUTPUT_CHUNK);
                        if !bytes.is_empty() {
                            self.at = offset + bytes.len() as u64;
                            self.last = (bytes.len() >= STREAMING).then(tokio::time::Instant::now);
                            return Some(Chunk::Output { offset, bytes });
                        }
                        if let (true, Some(code)) = (state.eof, state.exit) {
                            self.done = true;
                            return Some(Chunk::Exit(code));
                        }
                        if state.closed {
                            self.done = true;
                            return None;
                        }
                        None
                    }
                }
            };
            // More is on its way: it goes with what is there, a moment later.
            if let Some(until) = hold {
                tokio::time::sleep_until(until).await;
                continue;
            }
            if self.changes.changed().await.is_err() {
                self.done = true;
                return None;
            }
        }
    }

    /// The offset the next output starts at.
    pub fn offset(&self) -> u64 {
        self.at
    }
}

fn pty_size(size: Size) -> PtySize {
    PtySize { rows: size.rows, cols: size.cols, pixel_width: 0, pixel_height: 0 }
}

/// Reads the PTY into the ring until it ends, pausing while the client is too far behind.
fn read_output(mut reader: Box<dyn std::io::Read + Send>, shared: &Shared) {
    let mut buf = vec![0; READ_CHUNK];
    loop {
        {
            let mut state = shared.lock();
            while state.paused && !state.closed {
                state = shared.resume.wait(state).unwrap_or_else(std::sync::PoisonError::into_inner);
            }
            if state.closed && state.exit.is_some() {
                break;
            }
        }
        // Linux ends a PTY's output with EIO once the last slave end closed.
        let n = match reader.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let mut state = shared.lock();
        state.ring.push(&buf[..n]);
        if state.ring.end() - state.acked > shared.limits.high_water {
            state.paused = true;
        }
        drop(state);
        shared.bump();
    }
    shared.lock().eof = true;
    shared.bump();
}

/// Writes what was typed to the PTY until the session goes.
fn write_input(mut writer: Box<dyn std::io::Write + Send>, mut typed: mpsc::Receiver<Vec<u8>>) {
    while let Some(bytes) = typed.blocking_recv() {
        if writer.write_all(&bytes).and_then(|()| writer.flush()).is_err() {
            break;
        }
    }
}
