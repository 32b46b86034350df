//! Splitting a process's output into lines with bounded memory: a line longer than the cap
//! is cut into pieces of at most the cap (each marked partial, the last one not), invalid
//! UTF-8 and NUL bytes become U+FFFD, and a trailing `\r` is dropped.

use chrono::{DateTime, Utc};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::mpsc;

use crate::agent::Stream;

/// Bytes read from a pipe per system call.
const READ_CHUNK: usize = 16 * 1024;

/// One line (or piece of an overlong line) of output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawLine {
    /// Where it came from.
    pub stream: Stream,
    /// Its text.
    pub text: String,
    /// This is a piece of a longer line that continues in the next one.
    pub partial: bool,
}

/// Lines read together, stamped with the time they were read.
#[derive(Debug)]
pub struct LineChunk {
    /// When they were read.
    pub at: DateTime<Utc>,
    /// The lines, in order.
    pub lines: Vec<RawLine>,
}

/// Reads `reader` to its end and sends its lines in chunks. Stops early (without error) if
/// the receiver is gone.
///
/// After a read that found less than a buffer full, it waits `interval` before reading
/// again: output that keeps coming gathers in the pipe and is read (and sent) as one chunk,
/// instead of costing a wake-up, a read and a send per line. The first line after a quiet
/// spell is read at once.
pub async fn read_lines<R: AsyncRead + Unpin, T: From<LineChunk>>(
    mut reader: R,
    stream: Stream,
    max_line: usize,
    interval: std::time::Duration,
    tx: mpsc::Sender<T>,
) -> std::io::Result<()> {
    let max_line = max_line.max(4);
    let mut buf = vec![0u8; READ_CHUNK];
    let mut pending: Vec<u8> = Vec::new();
    loop {
        let n = reader.read(&mut buf).await?;
        let mut out = Vec::new();
        if n == 0 {
            if !pending.is_empty() {
                push_line(&pending, stream, max_line, &mut out);
            }
            if !out.is_empty() {
                let _ = tx.send(LineChunk { at: Utc::now(), lines: out }.into()).await;
            }
            return Ok(());
        }
        let mut rest = &buf[..n];
        while let Some(pos) = memchr::memchr(b'\n', rest) {
            if pending.is_empty() {
                push_line(&rest[..pos], stream, max_line, &mut out);
            } else {
                pending.extend_from_slice(&rest[..pos]);
                push_line(&pending, stream, max_line, &mut out);
                pending.clear();
            }
            rest = &rest[pos + 1..];
        }
        pending.extend_from_slice(rest);
        // An unfinished line never holds more than the cap: full pieces go out now.
        while pending.len() > max_line {
            let cut = char_boundary(&pending, max_line);
            out.push(RawLine { stream, text: clean(&pending[..cut]), partial: true });
            pending.drain(..cut);
        }
        if !out.is_empty() && tx.send(LineChunk { at: Utc::now(), lines: out }.into()).await.is_err() {
            return Ok(());
        }
        if n < buf.len() && !interval.is_zero() {
            tokio::time::sleep(interval).await;
        }
    }
}

/// Pushes a complete line, cut into pieces of at most `max_line` bytes.
fn push_line(line: &[u8], stream: Stream, max_line: usize, out: &mut Vec<RawLine>) {
    let mut line = line.strip_suffix(b"\r").unwrap_or(line);
    while line.len() > max_line {
        let cut = char_boundary(line, max_line);
        out.push(RawLine { stream, text: clean(&line[..cut]), partial: true });
        line = &line[cut..];
    }
    out.push(RawLine { stream, text: clean(line), partial: false });
}

/// The largest cut ≤ `max` that does not split a UTF-8 sequence (when the bytes are UTF-8).
fn char_boundary(bytes: &[u8], max: usize) -> usize {
    let mut cut = max.min(bytes.len());
    // Continuation bytes look like 0b10xx_xxxx; a sequence is at most 4 bytes long.
    for _ in 0..3 {
        if cut > 1 && cut < bytes.len() && (bytes[cut] & 0xC0) == 0x80 {
            cut -= 1;
        } else {
            break;
        }
    }
    cut
}

/// Text a database and a browser can hold: invalid UTF-8 and NUL become U+FFFD.
fn clean(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    if text.contains('\0') { text.replace('\0', "\u{FFFD}") } else { text.into_owned() }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn lines_of(input: &[u8], max_line: usize) -> Vec<(String, bool)> {
        let (tx, mut rx) = mpsc::channel::<LineChunk>(1024);
        let input = input.to_vec();
        let reader = tokio::spawn(async move {
            read_lines(&input[..], Stream::Stdout, max_line, std::time::Duration::ZERO, tx).await
        });
        let mut got = Vec::new();
        while let Some(chunk) = rx.recv().await {
            got.extend(chunk.lines.into_iter().map(|l| (l.text, l.partial)));
        }
        reader.await.expect("join").expect("read");
        got
    }

    fn owned(v: &[(&str, bool)]) -> Vec<(String, bool)> {
        v.iter().map(|(s, p)| (s.to_string(), *p)).collect()
    }

    #[tokio::test]
    async fn splits_lines_and_keeps_the_unterminated_last_one() {
        assert_eq!(
            lines_of(b"a\nbb\r\n\nlast", 100).await,
            owned(&[("a", false), ("bb", false), ("", false), ("last", false)])
        );
        assert!(lines_of(b"", 100).await.is_empty());
    }

    #[tokio::test]
    async fn overlong_lines_are_cut_into_pieces_and_nothing_is_lost() {
        let got = lines_of(b"0123456789\nab\n", 4).await;
        assert_eq!(got, owned(&[("0123", true), ("4567", true), ("89", false), ("ab", false)]));
        // A line much longer than the read buffer still comes out whole, in pieces.
        let big = vec![b'x'; 3 * READ_CHUNK + 17];
        let got = lines_of(&[big.as_slice(), b"\nend\n"].concat(), 1000).await;
        let joined: String = got.iter().take_while(|(t, _)| t != "end").map(|(t, _)| t.as_str()).collect();
        assert_eq!(joined.len(), big.len());
        assert!(got.iter().all(|(t, _)| t.len() <= 1000));
        assert_eq!(got.last(), Some(&("end".to_string(), false)));
    }

    #[tokio::test]
    async fn cuts_never_split_a_character() {
        // A cut at 5 bytes would split the third "é"; it backs off to 4.
        let got = lines_of("ééééé\n".as_bytes(), 5).await;
        assert_eq!(got, owned(&[("éé", true), ("éé", true), ("é", false)]));
    }

    #[tokio::test]
    async fn invalid_utf8_and_nul_become_replacement_characters() {
        let got = lines_of(b"ok\xff\xfe\x00end\n", 100).await;
        assert_eq!(got, owned(&[("ok\u{FFFD}\u{FFFD}\u{FFFD}end", false)]));
    }
}
