//! The log pipeline of one run: output lines → adapter parser → entries with seq and time →
//! batched appends (one transaction per ~10 ms or ~1000 entries) → a bus notice per batch.
//!
//! Every stage is bounded: when the store is slow the channels fill, the readers stop
//! reading and the agent blocks on its pipe, so memory never grows with the output.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::lines::LineChunk;
use crate::agent::{LineParser, Parsed};
use crate::credentials::Redactor;
use crate::events::{Bus, LogNotice};
use crate::model::{LogEntry, RunId};
use crate::store::{Store, StoreError};

/// Batching limits.
#[derive(Debug, Clone, Copy)]
pub struct BatchLimits {
    /// Most entries per batch; a full batch waits for the store before more is read.
    pub max_entries: usize,
    /// Most text bytes per batch (long lines make few, big entries).
    pub max_bytes: usize,
    /// How long a reader lets output gather in the agent's pipe after a read before it reads
    /// again: a chatty agent's lines come in chunks (a read, a batch) rather than one by one.
    pub read_interval: Duration,
}

impl Default for BatchLimits {
    fn default() -> Self {
        Self { max_entries: 1_000, max_bytes: 8 * 1024 * 1024, read_interval: Duration::from_millis(10) }
    }
}

/// What the pipeline hands back when its input is closed.
pub struct PipelineEnd {
    /// The parser, holding what it learnt (session id, final result).
    pub parser: Box<dyn LineParser>,
    /// The last seq written.
    pub last_seq: i64,
    /// Why writing stopped early, if it did.
    pub error: Option<StoreError>,
}

impl std::fmt::Debug for PipelineEnd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PipelineEnd").field("last_seq", &self.last_seq).field("error", &self.error).finish()
    }
}

/// Input of the pipeline: output lines, or entries the runner writes itself.
#[derive(Debug)]
pub enum PipeInput {
    /// Lines read from the process.
    Lines(LineChunk),
    /// An entry from Taskyard (start, stop, exit notes).
    Note(Parsed),
}

impl From<LineChunk> for PipeInput {
    fn from(chunk: LineChunk) -> Self {
        Self::Lines(chunk)
    }
}

/// Starts the pipeline for `run`, whose next entry gets `next_seq`. Send input on the
/// returned sender; when every sender is dropped the pipeline flushes and ends.
/// `on_fatal` fires if the store keeps refusing writes, so the runner can stop the agent.
// Each argument is a distinct collaborator of the pipeline; a struct to hold them would only
// be unpacked again here.
#[allow(clippy::too_many_arguments)]
pub fn start<S: Store>(
    store: S,
    sink: LogSink,
    bus: Arc<Bus>,
    run: RunId,
    next_seq: i64,
    parser: Box<dyn LineParser>,
    limits: BatchLimits,
    on_fatal: tokio::sync::watch::Sender<Option<String>>,
    redactor: Arc<Redactor>,
) -> (mpsc::Sender<PipeInput>, JoinHandle<PipelineEnd>) {
    let (tx, rx) = mpsc::channel::<PipeInput>(16);
    // One batch waits while one is written: what comes meanwhile joins the waiting one.
    let (batch_tx, batch_rx) = mpsc::channel::<Batch>(1);
    let writer = tokio::spawn(write_batches(store, sink, bus, run, batch_rx, on_fatal));
    let handle = tokio::spawn(async move {
        let (parser, last_seq) = batch(rx, batch_tx, run, next_seq, parser, limits, redactor).await;
        let error =
            writer.await.unwrap_or_else(|e| Some(StoreError::Invalid(format!("log writer panicked: {e}"))));
        PipelineEnd { parser, last_seq, error }
    });
    (tx, handle)
}

/// Entries for one transaction, and the agent's session id when it was first learnt (stored
/// with the batch, so a recovery can resume the session).
type Batch = (Vec<LogEntry>, Option<String>);

/// Entries waiting for their batch to be taken.
#[derive(Default)]
struct Pending {
    entries: Vec<LogEntry>,
    bytes: usize,
    /// A session id learnt since the last batch was taken.
    session: Option<String>,
}

impl Pending {
    fn push(&mut self, entry: LogEntry) {
        self.bytes += entry.text.len();
        self.entries.push(entry);
    }

    fn full(&self, limits: &BatchLimits) -> bool {
        self.entries.len() >= limits.max_entries || self.bytes >= limits.max_bytes
    }

    fn take(&mut self) -> Batch {
        self.bytes = 0;
        // No capacity held between batches: a quiet run costs little memory.
        (std::mem::take(&mut self.entries), self.session.take())
    }
}

async fn batch(
    mut rx: mpsc::Receiver<PipeInput>,
    out: mpsc::Sender<Batch>,
    run: RunId,
    next_seq: i64,
    mut parser: Box<dyn LineParser>,
    limits: BatchLimits,
    redactor: Arc<Redactor>,
) -> (Box<dyn LineParser>, i64) {
    let mut seq = next_seq - 1;
    let mut pending = Pending::default();
    let mut session_known = parser.session_id().is_some();
    let mut entry = |parsed: Parsed, ts: DateTime<Utc>| {
        seq += 1;
        // Secrets never reach the store or a reader: the text and every string of the data.
        let (text, data) = if redactor.is_empty() {
            (parsed.text, parsed.data)
        } else {
            let text = redactor.redact(&parsed.text).into_owned();
            (text, parsed.data.map(|d| redact_value(&redactor, d)))
        };
        LogEntry { run_id: run, seq, ts, kind: parsed.kind, text, data }
    };
    // Once the writer gave up, entries are dropped: the runner is stopping the run.
    let mut writer_gone = false;
    let mut open = true;
    while open || !(pending.entries.is_empty() || writer_gone) {
        tokio::select! {
            biased;
            // Hand the batch over as soon as the writer can take it.
            permit = out.reserve(), if !writer_gone && !pending.entries.is_empty() => match permit {
                Ok(permit) => permit.send(pending.take()),
                Err(_) => writer_gone = true,
            },
            input = rx.recv(), if open && !pending.full(&limits) => match input {
                Some(PipeInput::Lines(chunk)) => {
                    for line in chunk.lines {
                        for parsed in parser.parse(line.stream, &line.text, line.partial) {
                            pending.push(entry(parsed, chunk.at));
                        }
                        if !session_known && let Some(id) = parser.session_id() {
                            session_known = true;
                            pending.session = Some(id);
                        }
                    }
                }
                Some(PipeInput::Note(parsed)) => pending.push(entry(parsed, Utc::now())),
                None => {
                    open = false;
                    // Whatever the parser still held back (a cut line whose end never came) is kept too.
                    for parsed in parser.finish() {
                        pending.push(entry(parsed, Utc::now()));
                    }
                }
            },
        }
        if writer_gone {
            pending.take();
        }
    }
    (parser, seq)
}

/// A JSON value with every string redacted.
fn redact_value(redactor: &Redactor, value: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::String(s) => Value::String(redactor.redact(&s).into_owned()),
        Value::Array(items) => Value::Array(items.into_iter().map(|v| redact_value(redactor, v)).collect()),
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (redactor.redact(&k).into_owned(), redact_value(redactor, v)))
                .collect(),
        ),
        other => other,
    }
}

/// Appends batches in order and announces each after it is committed. A failed append is
/// retried a few times; after that the run is told to stop and later batches are dropped.
async fn write_batches<S: Store>(
    store: S,
    sink: LogSink,
    bus: Arc<Bus>,
    run: RunId,
    mut rx: mpsc::Receiver<Batch>,
    on_fatal: tokio::sync::watch::Sender<Option<String>>,
) -> Option<StoreError> {
    while let Some((mut batch, session)) = rx.recv().await {
        let mut attempt = 0;
        loop {
            let (back, result) = sink.append(batch).await;
            batch = back;
            match result {
                Ok(()) => break,
                Err(e) if attempt < 4 && matches!(e, StoreError::Database(_)) => {
                    attempt += 1;
                    tracing::warn!(%run, attempt, error = %e, "storing log entries failed; retrying");
                    tokio::time::sleep(Duration::from_millis(50 * 4u64.pow(attempt))).await;
                }
                Err(e) => {
                    tracing::error!(%run, error = %e, "storing log entries failed; stopping the run");
                    let _ = on_fatal.send(Some(format!("could not store the run's log: {e}")));
                    return Some(e);
                }
            }
        }
        if let Some(session) = session
            && let Err(e) = store.set_run_session(run, &session).await
        {
            tracing::warn!(%run, error = %e, "could not record the agent session");
        }
        let (first_seq, last_seq) = (batch[0].seq, batch[batch.len() - 1].seq);
        bus.publish_logs(run, LogNotice::Appended { first_seq, last_seq, entries: Some(batch.into()) });
    }
    None
}

/// Appends the log batches of every run of a server together: whatever batches are waiting
/// go into one transaction, so many runs printing at once make few transactions (SQLite has
/// a single writer; Postgres commits less often). Each batch still lands whole or not at
/// all, on its own, and its sender learns the outcome before announcing it.
#[derive(Debug, Clone)]
pub struct LogSink {
    tx: mpsc::Sender<SinkRequest>,
}

type SinkReply = (Vec<LogEntry>, Result<(), StoreError>);
type SinkRequest = (Vec<LogEntry>, oneshot::Sender<SinkReply>);
type SinkQueue = Arc<tokio::sync::Mutex<mpsc::Receiver<SinkRequest>>>;

/// Most entries appended in one transaction.
const SINK_MAX_ENTRIES: usize = 20_000;

/// Log writers of a server on Postgres. Measured with 200 runs printing 1,000 lines/s each on
/// two cores: with 1 or 2 the appends fell seconds behind, with 4 a stall of a few hundred
/// milliseconds came in most runs, with 8 the p99 was 16-28 ms in six runs of six, with 12
/// (most of the pool) it was worse again.
const POSTGRES_LOG_WRITERS: usize = 8;

impl LogSink {
    /// A sink writing to `store` (it runs until every sender is gone). A run never has two
    /// batches in flight, so its batches commit in order.
    ///
    /// SQLite has one writer: one loop, on a thread of its own, so its round trips to the
    /// database never queue behind the hundreds of tasks of busy runs on the shared runtime
    /// (every line of every run is a task wake-up there). Postgres takes several
    /// transactions at once: [`POSTGRES_LOG_WRITERS`] loops on the runtime whose
    /// connections they use.
    pub fn start<S: Store>(store: S) -> Self {
        let (tx, rx) = mpsc::channel(1024);
        let rx: SinkQueue = Arc::new(tokio::sync::Mutex::new(rx));
        if store.backend() == "sqlite" {
            let (own_store, own_rx) = (store.clone(), rx.clone());
            let spawned = std::thread::Builder::new().name("taskyard-logs".into()).spawn(move || {
                match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                    Ok(runtime) => runtime.block_on(sink_loop(own_store, own_rx)),
                    Err(e) => tracing::error!(error = %e, "the log writer could not start"),
                }
            });
            match spawned {
                Ok(_) => return Self { tx },
                Err(e) => tracing::warn!(error = %e, "no thread for the log writer; it shares the runtime"),
            }
        }
        let writers = if store.backend() == "postgres" { POSTGRES_LOG_WRITERS } else { 1 };
        for _ in 0..writers {
            tokio::spawn(sink_loop(store.clone(), rx.clone()));
        }
        Self { tx }
    }

    /// Appends `batch` (one run's entries with consecutive seqs, in a transaction shared
    /// with other runs' batches) and hands it back with the outcome.
    pub async fn append(&self, batch: Vec<LogEntry>) -> SinkReply {
        let (reply, answer) = oneshot::channel();
        if let Err(mpsc::error::SendError((batch, _))) = self.tx.send((batch, reply)).await {
            return (batch, Err(StoreError::Invalid("the log writer stopped".into())));
        }
        answer
            .await
            .unwrap_or_else(|_| (Vec::new(), Err(StoreError::Invalid("the log writer stopped".into()))))
    }
}

async fn sink_loop<S: Store>(store: S, rx: SinkQueue) {
    loop {
        // Take what waits, then let another writer take the next group while this one writes.
        let mut batches = Vec::new();
        let mut replies = Vec::new();
        {
            let mut rx = rx.lock().await;
            let Some((first, reply)) = rx.recv().await else { return };
            let mut total = first.len();
            batches.push(first);
            replies.push(reply);
            while total < SINK_MAX_ENTRIES {
                let Ok((more, reply)) = rx.try_recv() else { break };
                total += more.len();
                batches.push(more);
                replies.push(reply);
            }
        }
        match store.append_log_batches(&batches).await {
            Ok(outcomes) => {
                for ((batch, reply), outcome) in batches.into_iter().zip(replies).zip(outcomes) {
                    let _ = reply.send((batch, outcome));
                }
            }
            // Nothing was stored; alone, a batch that can be stored is not held back by another.
            Err(e) if batches.len() == 1 => {
                let (batch, reply) = (batches.pop().expect("one"), replies.pop().expect("one"));
                let _ = reply.send((batch, Err(e)));
            }
            Err(_) => {
                for (batch, reply) in batches.into_iter().zip(replies) {
                    let result = match store.append_log_batches(std::slice::from_ref(&batch)).await {
                        Ok(mut outcome) => outcome.pop().unwrap_or(Ok(())),
                        Err(e) => Err(e),
                    };
                    let _ = reply.send((batch, result));
                }
            }
        }
    }
}
