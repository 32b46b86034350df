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

/// `text` with every known credential value replaced by a marker.
pub fn redact(text: &str) -> String {
    match CREDENTIALS.get() {
        Some(c) => c.redactor().redact(text).into_owned(),
        None => text.to_owned(),
    }
}

/// A stderr writer that redacts each formatted event.
#[derive(Debug, Default, Clone, Copy)]
pub struct RedactingStderr;

/// One event being written: collected, then redacted and written to `out` as one piece.
#[derive(Debug)]
pub struct Event<W: Write = std::io::Stderr> {
    buf: Vec<u8>,
    out: W,
}

impl<W: Write> Event<W> {
    /// An event that goes to `out`.
    pub fn to(out: W) -> Self {
        Self { buf: Vec::new(), out }
    }
}

impl<W: Write> Write for Event<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<W: Write> Drop for Event<W> {
    fn drop(&mut self) {
        let clean = redact(&String::from_utf8_lossy(&self.buf));
        let _ = self.out.write_all(clean.as_bytes());
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for RedactingStderr {
    type Writer = Event;
    fn make_writer(&'a self) -> Self::Writer {
        Event::to(std::io::stderr())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use taskyard_core::credentials::{Tier, Vault};
    use taskyard_core::store::{SqliteStore, Store as _};

    #[tokio::test]
    async fn every_logged_line_is_redacted_once_credentials_are_open() {
        const SECRET: &str = "ghp_TESTlogwriter0123456789abcdef";
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SqliteStore::open(&dir.path().join("t.db")).await.expect("store");
        let credentials = Arc::new(Credentials::new(Vault::new(&[Vault::generate_key()]).expect("vault")));
        let value = credentials.vault().encrypt(SECRET);
        store
            .put_credential(Tier::Global, uuid::Uuid::nil(), "GITHUB_TOKEN", &value, false, None)
            .await
            .expect("put");
        credentials.reload(&store).await.expect("reload");
        redact_with(credentials);
        let mut out = Vec::new();
        {
            let mut event = Event::to(&mut out);
            write!(event, "clone failed for https://x-access-token:{SECRET}@example.com/").expect("write");
            write!(event, " (again: {SECRET})").expect("write");
        }
        let text = String::from_utf8(out).expect("utf-8");
        assert_eq!(
            text,
            "clone failed for https://x-access-token:[redacted:GITHUB_TOKEN]@example.com/ (again: [redacted:GITHUB_TOKEN])"
        );
    }
}
