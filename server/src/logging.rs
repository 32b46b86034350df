//! Where the server's own log goes: stderr, with every credential value replaced by a marker
//! before a line is written (the credential service registers itself once it is open).

use std::io::Write;
use std::sync::{Arc, OnceLock};

use taskyard_core::credentials::Credentials;

static CREDENTIALS: OnceLock<Arc<Credentials>> = OnceLock::new();

/// Lets the log redact the values this service knows (called once, at start-up).
pub fn redact_with(credentials: Arc<Credentials>) {
    let _ = CREDENTIALS.set(credentials);
}

/// A stderr writer that redacts each formatted event.
#[derive(Debug, Default, Clone, Copy)]
pub struct RedactingStderr;

/// One event being written.
#[derive(Debug, Default)]
pub struct Event(Vec<u8>);

impl Write for Event {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for Event {
    fn drop(&mut self) {
        let text = String::from_utf8_lossy(&self.0);
        let clean = match CREDENTIALS.get() {
            Some(c) => c.redactor().redact(&text).into_owned(),
            None => text.into_owned(),
        };
        let _ = std::io::stderr().write_all(clean.as_bytes());
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for RedactingStderr {
    type Writer = Event;
    fn make_writer(&'a self) -> Self::Writer {
        Event::default()
    }
}
