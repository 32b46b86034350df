//! Terminal sessions on real PTYs running a real shell: output and exit, resizing, reattaching
//! from an offset without loss or repetition, flow control under a flood, and nothing left
//! behind (processes, file descriptors) after many sessions.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use taskyard_core::terminal::{Chunk, Limits, Output, Session, Size, Spec};

fn sh(dir: &std::path::Path) -> Spec {
    let env = BTreeMap::from([
        ("PATH".to_owned(), "/usr/bin:/bin".to_owned()),
        ("HOME".to_owned(), dir.display().to_string()),
        ("PS1".to_owned(), "$ ".to_owned()),
    ]);
    let mut spec = Spec::shell("/bin/sh", dir, env);
    spec.size = Size::new(100, 30).unwrap();
    spec
}

/// Reads output (acknowledging it) until `done` holds for what was read, or the exit.
async fn read_until(
    output: &mut Output,
    session: &Session,
    done: impl Fn(&str) -> bool,
) -> (String, Option<i32>) {
    let mut text = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, output.next()).await {
            Err(_) => panic!("timed out; read so far: {}", String::from_utf8_lossy(&text)),
            Ok(None) => return (String::from_utf8_lossy(&text).into_owned(), None),
            Ok(Some(Chunk::Exit(code))) => return (String::from_utf8_lossy(&text).into_owned(), Some(code)),
            Ok(Some(Chunk::Output { offset, bytes })) => {
                text.extend_from_slice(&bytes);
                session.ack(offset + bytes.len() as u64);
                if done(&String::from_utf8_lossy(&text)) {
                    return (String::from_utf8_lossy(&text).into_owned(), None);
                }
            }
        }
    }
}

#[tokio::test]
async fn a_shell_echoes_and_exits_with_its_code() {
    let dir = tempfile::tempdir().unwrap();
    let session = Session::spawn(&sh(dir.path()), Limits::default()).unwrap();
    let mut output = session.output(0);
    session.write(b"echo hi from $((40+2)); exit 3\r".to_vec()).await.unwrap();
    let (text, code) = read_until(&mut output, &session, |_| false).await;
    assert!(text.contains("hi from 42"), "{text:?}");
    assert_eq!(code, Some(3));
    assert_eq!(session.exit(), Some(3));
    assert!(output.next().await.is_none(), "nothing after the exit");
}

#[tokio::test]
async fn the_shell_sees_the_size_it_is_given() {
    let dir = tempfile::tempdir().unwrap();
    let session = Session::spawn(&sh(dir.path()), Limits::default()).unwrap();
    let mut output = session.output(0);
    // The marks are computed, so the echoed command line does not contain them.
    session.write(b"stty size; echo done-$((1))\r".to_vec()).await.unwrap();
    let (text, _) = read_until(&mut output, &session, |t| t.contains("done-1\r\n")).await;
    assert!(text.contains("30 100"), "{text:?}");
    session.resize(Size::new(132, 43).unwrap()).unwrap();
    session.write(b"stty size; echo done-$((2))\r".to_vec()).await.unwrap();
    let (text, _) = read_until(&mut output, &session, |t| t.contains("done-2\r\n")).await;
    assert!(text.contains("43 132"), "{text:?}");
}

#[tokio::test]
async fn a_client_that_reattaches_at_its_offset_gets_the_rest_once() {
    let dir = tempfile::tempdir().unwrap();
    let session = Session::spawn(&sh(dir.path()), Limits::default()).unwrap();
    let mut first = session.output(0);
    session
        .write(
            b"stty -echo; i=0; while [ $i -lt 3000 ]; do i=$((i+1)); echo \"line $i\"; done; exit\r".to_vec(),
        )
        .await
        .unwrap();
    let (seen, _) = read_until(&mut first, &session, |t| t.contains("line 1000\r\n")).await;
    let at = first.offset();
    drop(first);
    // Reattached where it left off: the rest, nothing twice.
    let mut second = session.output(at);
    let (rest, code) = read_until(&mut second, &session, |_| false).await;
    assert_eq!(code, Some(0));
    let all = format!("{seen}{rest}");
    // Each printed line ends `line N` (the first follows the echoed command on its line).
    let numbers: Vec<u32> =
        all.split("\r\n").filter_map(|l| l.rsplit_once("line ").and_then(|(_, n)| n.parse().ok())).collect();
    let expected: Vec<u32> = (1..=3000).collect();
    if numbers != expected {
        let first = numbers.iter().zip(&expected).position(|(a, b)| a != b);
        panic!("{} lines instead of 3000; the first difference at {first:?}", numbers.len());
    }
    // A new client (a reloaded page) gets what the ring still holds.
    let (start, end) = session.span();
    let mut replay = session.output(0);
    let Some(Chunk::Output { offset, .. }) = replay.next().await else { panic!("a replay") };
    assert_eq!(offset, start);
    assert!(end > start);
}

#[tokio::test]
async fn a_flood_pauses_the_pty_until_the_client_catches_up() {
    let dir = tempfile::tempdir().unwrap();
    let limits = Limits { ring_bytes: 256 * 1024, high_water: 100_000, low_water: 5_000 };
    let session = Session::spawn(&sh(dir.path()), limits).unwrap();
    session.write(b"yes\r".to_vec()).await.unwrap();
    // Nobody acknowledges: the PTY is paused at the high-water mark, not read on.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !session.paused() {
        assert!(Instant::now() < deadline, "the flood never paused");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (_, held) = session.span();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(session.span().1, held, "no output is read while paused");
    assert!(held <= 100_000 + 16 * 1024, "{held}");
    assert_eq!(session.span().0, 0, "nothing unacknowledged was dropped");
    // A client reading and acknowledging gets the flood through, and the ring stays bounded.
    let mut output = session.output(0);
    let mut received = 0u64;
    while received < 20_000_000 {
        match output.next().await {
            Some(Chunk::Output { offset, bytes }) => {
                assert_eq!(offset, received, "in order, nothing lost");
                received += bytes.len() as u64;
                session.ack(received);
            }
            other => panic!("the flood ended: {other:?}"),
        }
    }
    assert!(session.unacknowledged() <= 100_000 + 16 * 1024);
    let (start, end) = session.span();
    assert!(end - start <= 256 * 1024, "the ring is bounded: {}", end - start);
    session.close();
    let deadline = Instant::now() + Duration::from_secs(5);
    while session.exit().is_none() {
        assert!(Instant::now() < deadline, "the flood did not end with the session");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // What the ring still held comes, then the end.
    let mut chunks = 0;
    while output.next().await.is_some() {
        chunks += 1;
        assert!(chunks <= 64, "a closed session's output ends");
    }
}

fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| !s.rsplit(')').next().unwrap_or_default().trim_start().starts_with('Z'))
        .unwrap_or(false)
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

#[tokio::test]
async fn closing_ends_the_shell_and_its_children_and_leaks_nothing() {
    let dir = tempfile::tempdir().unwrap();
    // A shell that ignores the hang-up, with a child: both go.
    let session = Session::spawn(&sh(dir.path()), Limits::default()).unwrap();
    let mut output = session.output(0);
    session.write(b"trap '' HUP; sleep 300 & echo child=$!=\r".to_vec()).await.unwrap();
    let child_pid = |t: &str| t.split("child=").find_map(|rest| rest.split_once('=')?.0.parse::<u32>().ok());
    let (text, _) = read_until(&mut output, &session, |t| child_pid(t).is_some()).await;
    let child = child_pid(&text).unwrap();
    let shell = session.pid().unwrap();
    assert!(alive(shell) && alive(child));
    session.close();
    let deadline = Instant::now() + Duration::from_secs(10);
    while alive(shell) || alive(child) {
        assert!(Instant::now() < deadline, "shell {shell} or child {child} survived");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(session);

    // Many sessions opened and closed leave no descriptor behind.
    let before = open_fds();
    for _ in 0..40 {
        let session = Session::spawn(&sh(dir.path()), Limits::default()).unwrap();
        let mut output = session.output(0);
        session.write(b"exit\r".to_vec()).await.unwrap();
        let (_, code) = read_until(&mut output, &session, |_| false).await;
        assert_eq!(code, Some(0));
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while open_fds() > before {
        assert!(Instant::now() < deadline, "descriptors leaked: {} before, {} after", before, open_fds());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_program_that_does_not_exist_is_an_error_and_one_that_exits_at_once_a_session() {
    let dir = tempfile::tempdir().unwrap();
    let mut spec = sh(dir.path());
    spec.program = "/no/such/shell".into();
    let error = Session::spawn(&spec, Limits::default()).unwrap_err().to_string();
    assert!(error.contains("/no/such/shell"), "{error}");
    let mut spec = sh(dir.path());
    spec.program = "/bin/true".into();
    let session = Session::spawn(&spec, Limits::default()).unwrap();
    let mut output = session.output(0);
    let (_, code) = read_until(&mut output, &session, |_| false).await;
    assert_eq!(code, Some(0));
}
