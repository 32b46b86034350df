//! The terminal socket's frames: binary, one opcode byte then the payload (integers big-endian).
//!
//! | opcode | way | payload |
//! |---|---|---|
//! | `0x00` input  | client → server | the bytes typed (at most [`MAX_INPUT`]) |
//! | `0x01` resize | client → server | columns `u16`, rows `u16` (see [`Size::new`]) |
//! | `0x02` ack    | client → server | the offset `u64` up to which output has been shown |
//! | `0x10` output | server → client | the offset `u64` of its first byte, then the bytes |
//! | `0x11` exit   | server → client | the shell's exit code `i32` (-1: killed by a signal) |
//! | `0x12` error  | server → client | why, UTF-8 |
//!
//! Offsets count every byte the terminal printed since it started, so a client that
//! reattaches with the last offset it showed gets what followed, once.

/// Bytes one input frame may carry.
pub const MAX_INPUT: usize = 64 * 1024;
/// The widest terminal accepted.
pub const MAX_COLS: u16 = 1000;
/// The tallest terminal accepted.
pub const MAX_ROWS: u16 = 500;

const INPUT: u8 = 0x00;
const RESIZE: u8 = 0x01;
const ACK: u8 = 0x02;
const OUTPUT: u8 = 0x10;
const EXIT: u8 = 0x11;
const ERROR: u8 = 0x12;

/// A terminal's size in character cells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Size {
    pub cols: u16,
    pub rows: u16,
}

impl Size {
    /// `cols` × `rows`, each at least 1 and at most [`MAX_COLS`] × [`MAX_ROWS`].
    pub fn new(cols: u16, rows: u16) -> Result<Self, FrameError> {
        if !(1..=MAX_COLS).contains(&cols) || !(1..=MAX_ROWS).contains(&rows) {
            return Err(FrameError::Size { cols, rows });
        }
        Ok(Self { cols, rows })
    }
}

impl Default for Size {
    fn default() -> Self {
        Self { cols: 80, rows: 24 }
    }
}

/// What a client sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientFrame {
    Input(Vec<u8>),
    Resize(Size),
    Ack(u64),
}

/// What the server sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerFrame {
    Output { offset: u64, bytes: Vec<u8> },
    Exit(i32),
    Error(String),
}

/// Why a frame was refused; the text is what the client is told.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("an empty frame")]
    Empty,
    #[error("unknown frame opcode {0:#04x}")]
    Opcode(u8),
    #[error("an input frame carries at most {MAX_INPUT} bytes, not {0}")]
    InputTooLarge(usize),
    #[error("{what} frame has {len} bytes of payload, not {want}")]
    Length { what: &'static str, len: usize, want: usize },
    #[error("a terminal of {cols}×{rows} cells: 1 to {MAX_COLS} columns and 1 to {MAX_ROWS} rows")]
    Size { cols: u16, rows: u16 },
}

impl ClientFrame {
    /// Reads one frame a client sent.
    pub fn decode(frame: &[u8]) -> Result<Self, FrameError> {
        let (&opcode, payload) = frame.split_first().ok_or(FrameError::Empty)?;
        let exact = |what, want| {
            if payload.len() == want {
                Ok(payload)
            } else {
                Err(FrameError::Length { what, len: payload.len(), want })
            }
        };
        match opcode {
            INPUT if payload.len() > MAX_INPUT => Err(FrameError::InputTooLarge(payload.len())),
            INPUT => Ok(Self::Input(payload.to_vec())),
            RESIZE => {
                let p = exact("a resize", 4)?;
                Ok(Self::Resize(Size::new(
                    u16::from_be_bytes([p[0], p[1]]),
                    u16::from_be_bytes([p[2], p[3]]),
                )?))
            }
            ACK => {
                let p = exact("an ack", 8)?;
                Ok(Self::Ack(u64::from_be_bytes(p.try_into().expect("eight bytes"))))
            }
            other => Err(FrameError::Opcode(other)),
        }
    }

    /// The frame's bytes (clients and tests).
    pub fn encode(&self) -> Vec<u8> {
        match self {
            Self::Input(bytes) => [&[INPUT][..], bytes].concat(),
            Self::Resize(size) => {
                let mut out = vec![RESIZE];
                out.extend(size.cols.to_be_bytes());
                out.extend(size.rows.to_be_bytes());
                out
            }
            Self::Ack(offset) => [&[ACK][..], &offset.to_be_bytes()].concat(),
        }
    }
}

impl ServerFrame {
    /// The frame's bytes.
    pub fn encode(&self) -> Vec<u8> {
        match self {
            Self::Output { offset, bytes } => {
                let mut out = Vec::with_capacity(9 + bytes.len());
                out.push(OUTPUT);
                out.extend(offset.to_be_bytes());
                out.extend_from_slice(bytes);
                out
            }
            Self::Exit(code) => [&[EXIT][..], &code.to_be_bytes()].concat(),
            Self::Error(text) => [&[ERROR][..], text.as_bytes()].concat(),
        }
    }

    /// Reads one frame the server sent (clients and tests).
    pub fn decode(frame: &[u8]) -> Result<Self, FrameError> {
        let (&opcode, payload) = frame.split_first().ok_or(FrameError::Empty)?;
        match opcode {
            OUTPUT if payload.len() >= 8 => Ok(Self::Output {
                offset: u64::from_be_bytes(payload[..8].try_into().expect("eight bytes")),
                bytes: payload[8..].to_vec(),
            }),
            OUTPUT => Err(FrameError::Length { what: "an output", len: payload.len(), want: 8 }),
            EXIT => {
                let code: [u8; 4] = payload.try_into().map_err(|_| FrameError::Length {
                    what: "an exit",
                    len: payload.len(),
                    want: 4,
                })?;
                Ok(Self::Exit(i32::from_be_bytes(code)))
            }
            ERROR => Ok(Self::Error(String::from_utf8_lossy(payload).into_owned())),
            other => Err(FrameError::Opcode(other)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_survive_the_trip() {
        for frame in [
            ClientFrame::Input(b"echo hi\r".to_vec()),
            ClientFrame::Input(Vec::new()),
            ClientFrame::Resize(Size::new(120, 40).unwrap()),
            ClientFrame::Ack(u64::MAX - 3),
        ] {
            assert_eq!(ClientFrame::decode(&frame.encode()), Ok(frame));
        }
        for frame in [
            ServerFrame::Output { offset: 1 << 40, bytes: b"\x1b[31mred".to_vec() },
            ServerFrame::Exit(-1),
            ServerFrame::Exit(127),
            ServerFrame::Error("no such session".into()),
        ] {
            assert_eq!(ServerFrame::decode(&frame.encode()), Ok(frame));
        }
        assert_eq!(ClientFrame::Resize(Size::new(80, 24).unwrap()).encode(), [1, 0, 80, 0, 24]);
    }

    #[test]
    fn bad_frames_are_refused_with_why() {
        let text = |frame: &[u8]| ClientFrame::decode(frame).unwrap_err().to_string();
        assert_eq!(text(&[]), "an empty frame");
        assert_eq!(text(&[0x7f, 1]), "unknown frame opcode 0x7f");
        assert_eq!(
            text(&[0x10, 0, 0, 0, 0, 0, 0, 0, 0]),
            "unknown frame opcode 0x10",
            "a server frame from a client"
        );
        assert_eq!(text(&[1, 0, 80]), "a resize frame has 2 bytes of payload, not 4");
        assert_eq!(text(&[2, 1]), "an ack frame has 1 bytes of payload, not 8");
        assert!(text(&[1, 0, 0, 0, 0]).contains("0×0 cells"));
        assert!(
            text(&ClientFrame::encode(&ClientFrame::Resize(Size { cols: 10_000, rows: 24 })))
                .contains("10000×24")
        );
        assert!(Size::new(MAX_COLS, MAX_ROWS).is_ok());
        assert!(Size::new(MAX_COLS + 1, 1).is_err());
        let big = [&[0u8][..], &vec![b'x'; MAX_INPUT + 1]].concat();
        assert_eq!(
            text(&big),
            format!("an input frame carries at most {MAX_INPUT} bytes, not {}", MAX_INPUT + 1)
        );
        assert!(ClientFrame::decode(&[&[0u8][..], &vec![b'x'; MAX_INPUT]].concat()).is_ok());
    }
}
