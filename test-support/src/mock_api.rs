//! A mock of the model APIs agent CLIs call, on 127.0.0.1, for running the real CLIs
//! offline: streaming replies scripted per scenario, the APIs' errors, a reply that never
//! ends (for stop tests), and a record of every request. One server speaks one [`Dialect`]:
//! the Anthropic Messages API (Claude Code), the OpenAI Responses API (Codex) or the Gemini
//! API (Gemini CLI); the scripts are the same for all three.
//!
//! Each scenario has its own base URL (`http://127.0.0.1:<port>/s/<name>`); the CLIs keep a
//! path prefix of their base URL, so one server serves many tests at once.
//!
//! A scripted conversation answers the n-th model turn with the n-th reply, where n is the
//! number of model turns already in the request's history: the CLIs resend the whole
//! history every turn (and after a resume), so one script describes a conversation across
//! follow-ups. String values of a tool call may say `{cwd}`: it becomes the working
//! directory the CLI names in its prompt, since file tools want absolute paths.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use anyhow::Context as _;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::StreamExt as _;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use crate::{mock_anthropic, mock_gemini, mock_openai};

/// The largest request body accepted (the CLIs' requests are well under a megabyte).
const MAX_BODY: usize = 32 * 1024 * 1024;

/// Which API the server speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// Anthropic Messages API, `POST /v1/messages` with SSE (Claude Code).
    Anthropic,
    /// OpenAI Responses API, `POST /v1/responses` with SSE (Codex).
    OpenAi,
    /// Gemini API, `POST /v1beta/models/<m>:streamGenerateContent?alt=sse` (Gemini CLI).
    Gemini,
}

/// A running mock; stops on drop.
#[derive(Debug)]
pub struct MockApi {
    addr: SocketAddr,
    dialect: Dialect,
    state: Arc<Shared>,
    shutdown: Option<oneshot::Sender<()>>,
}

#[derive(Debug)]
struct Shared {
    dialect: Dialect,
    scenarios: Mutex<HashMap<String, Scenario>>,
    requests: Mutex<Vec<RecordedRequest>>,
}

/// How the mock answers the requests of one scenario.
#[derive(Debug, Clone)]
pub enum Scenario {
    /// The n-th model turn of the conversation gets the n-th reply; a turn past the end
    /// gets a 400 error saying the script ran out.
    Script(Vec<Reply>),
    /// Every request gets this error.
    Fail(ApiError),
    /// The reply starts and never goes on: the CLI waits until it is stopped.
    Hang,
    /// The first `n` model calls of the scenario get the error (the CLI retries them), the
    /// following ones the script.
    FailFirst(usize, ApiError, Vec<Reply>),
}

impl Scenario {
    /// One text reply to any prompt.
    pub fn text(text: &str) -> Self {
        Scenario::Script(vec![Reply::text(text)])
    }
}

/// One model turn.
#[derive(Debug, Clone)]
pub enum Reply {
    /// A streamed message made of these blocks; it asks for tool results when a block calls
    /// a tool.
    Message(Vec<Block>),
    /// An HTTP error instead.
    Error(ApiError),
}

impl Reply {
    /// A message of one text block.
    pub fn text(text: &str) -> Self {
        Reply::Message(vec![Block::Text(text.into())])
    }

    /// A message that calls one tool.
    pub fn tool(name: &str, input: Value) -> Self {
        Reply::Message(vec![Block::tool(name, input)])
    }
}

/// A content block of a scripted message.
#[derive(Debug, Clone)]
pub enum Block {
    /// Text for the person.
    Text(String),
    /// Visible reasoning.
    Thinking(String),
    /// A tool call; `{cwd}` in its string values becomes the CLI's working directory. An
    /// object input is a function call's arguments; a string input is a free-form tool's
    /// input (Codex's `exec`).
    ToolUse {
        /// The tool's name (`Write`, `Bash`, `write_file`, `exec`, …).
        name: String,
        /// Its input.
        input: Value,
    },
}

impl Block {
    /// A tool call.
    pub fn tool(name: &str, input: Value) -> Self {
        Block::ToolUse { name: name.into(), input }
    }
}

/// An error answer; each dialect sends it with the status, body and headers its API uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiError {
    /// The key or token is not valid.
    Unauthorized,
    /// The credential may not use this.
    Forbidden,
    /// A rate limit of the key (Anthropic: 429 without the subscription headers).
    RateLimited,
    /// A usage limit that resets at `resets_at` (seconds since the epoch): Anthropic's
    /// subscription limit headers, OpenAI's `usage_limit_reached`, Gemini's daily quota.
    UsageLimit {
        /// When it resets.
        resets_at: i64,
    },
    /// No credit left.
    CreditTooLow,
    /// The API is overloaded.
    Overloaded,
    /// The API failed.
    Internal,
    /// Any status with a message, in the dialect's error shape.
    Other {
        /// HTTP status.
        status: u16,
        /// The error's type or code.
        kind: String,
        /// Its message.
        message: String,
    },
}

/// A request the mock received.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    /// The scenario its path selected (empty for paths outside `/s/<name>/`).
    pub scenario: String,
    /// `GET`, `POST`, `HEAD`, …
    pub method: String,
    /// The path and query after the scenario prefix (`/v1/messages?beta=true`).
    pub path: String,
    /// Request headers, names in lowercase.
    pub headers: BTreeMap<String, String>,
    /// The JSON body (`Null` when there was none or it was not JSON).
    pub body: Value,
    /// Whether it asked the model for a turn (as opposed to a probe or a side call).
    pub model_call: bool,
}

impl RecordedRequest {
    /// Every text the user (or the CLI on the user's behalf) sent, in order.
    pub fn user_texts(&self) -> Vec<String> {
        match self.body.get("contents") {
            // Gemini: contents[].parts[].text with role "user".
            Some(Value::Array(contents)) => contents
                .iter()
                .filter(|c| c.get("role").and_then(Value::as_str) == Some("user"))
                .flat_map(|c| c.get("parts").and_then(Value::as_array).cloned().unwrap_or_default())
                .filter_map(|p| p.get("text").and_then(Value::as_str).map(str::to_owned))
                .collect(),
            _ => {
                // Anthropic `messages`, OpenAI `input`: role "user" items with text blocks.
                let items = self.body.get("messages").or_else(|| self.body.get("input"));
                let items = items.and_then(Value::as_array).cloned().unwrap_or_default();
                items
                    .iter()
                    .filter(|m| m.get("role").and_then(Value::as_str) == Some("user"))
                    .flat_map(|m| match m.get("content") {
                        Some(Value::String(s)) => vec![s.clone()],
                        Some(Value::Array(blocks)) => blocks
                            .iter()
                            .filter_map(|b| b.get("text").and_then(Value::as_str).map(str::to_owned))
                            .collect(),
                        _ => Vec::new(),
                    })
                    .collect()
            }
        }
    }

    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(&name.to_ascii_lowercase()).map(String::as_str)
    }
}

impl MockApi {
    /// Serves `dialect` on a free port of 127.0.0.1.
    pub async fn start(dialect: Dialect) -> anyhow::Result<Self> {
        Self::start_on(dialect, SocketAddr::from(([127, 0, 0, 1], 0))).await
    }

    /// Serves `dialect` on `addr` (port 0: a free one), e.g. a container network's gateway
    /// for CLIs running in containers.
    pub async fn start_on(dialect: Dialect, addr: SocketAddr) -> anyhow::Result<Self> {
        let state = Arc::new(Shared { dialect, scenarios: Mutex::default(), requests: Mutex::default() });
        let app = Router::new().fallback(handle).with_state(state.clone());
        let listener = TcpListener::bind(addr).await.context("binding the mock API")?;
        let addr = listener.local_addr()?;
        let (shutdown, stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
            if let Err(e) = served {
                eprintln!("mock API failed: {e}");
            }
        });
        Ok(Self { addr, dialect, state, shutdown: Some(shutdown) })
    }

    /// The API it speaks.
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// Registers (or replaces) a scenario and returns the base URL that selects it. For
    /// OpenAI the URL ends in `/v1`, as its clients expect of a base URL.
    pub fn scenario(&self, name: &str, scenario: Scenario) -> String {
        lock(&self.state.scenarios).insert(name.to_owned(), scenario);
        match self.dialect {
            Dialect::OpenAi => format!("http://{}/s/{name}/v1", self.addr),
            Dialect::Anthropic | Dialect::Gemini => format!("http://{}/s/{name}", self.addr),
        }
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.state.requests).clone()
    }

    /// The model calls of one scenario, in arrival order.
    pub fn model_calls(&self, scenario: &str) -> Vec<RecordedRequest> {
        self.requests().into_iter().filter(|r| r.scenario == scenario && r.model_call).collect()
    }
}

impl Drop for MockApi {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

async fn handle(State(state): State<Arc<Shared>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, MAX_BODY).await.unwrap_or_default();
    let full = parts.uri.path_and_query().map(|p| p.as_str().to_owned()).unwrap_or_default();
    let (scenario, path) = match full.strip_prefix("/s/") {
        Some(rest) => match rest.find('/') {
            Some(i) => (rest[..i].to_owned(), rest[i..].to_owned()),
            None => (rest.split('?').next().unwrap_or_default().to_owned(), "/".to_owned()),
        },
        None => (String::new(), full.clone()),
    };
    let headers = parts
        .headers
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
        .collect();
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let dialect = state.dialect;
    let model_call = parts.method == Method::POST && is_model_call(dialect, &path);
    let recorded = RecordedRequest {
        scenario: scenario.clone(),
        method: parts.method.to_string(),
        path: path.clone(),
        headers,
        body,
        model_call,
    };
    let earlier_calls = {
        let mut requests = lock(&state.requests);
        let n = requests.iter().filter(|r| r.scenario == scenario && r.model_call).count();
        requests.push(recorded.clone());
        n
    };

    if parts.method == Method::HEAD || parts.method == Method::GET {
        return StatusCode::OK.into_response();
    }
    if dialect == Dialect::Gemini && path.contains(":generateContent") {
        // A side call (routing, "who speaks next"): answered with JSON, never scripted.
        return mock_gemini::side_answer();
    }
    if !model_call {
        return error_response(
            dialect,
            &ApiError::Other {
                status: 404,
                kind: "not_found".into(),
                message: format!("the mock does not serve {path}"),
            },
        );
    }
    let Some(plan) = lock(&state.scenarios).get(&scenario).cloned() else {
        return error_response(
            dialect,
            &ApiError::Other {
                status: 404,
                kind: "not_found".into(),
                message: format!("no scenario `{scenario}`"),
            },
        );
    };
    match plan {
        Scenario::Fail(e) => error_response(dialect, &e),
        Scenario::Hang => hanging_reply(dialect, &recorded.body),
        Scenario::FailFirst(n, e, _) if earlier_calls < n => error_response(dialect, &e),
        Scenario::Script(replies) | Scenario::FailFirst(_, _, replies) => {
            let turn = model_turns(dialect, &recorded.body);
            match replies.get(turn) {
                Some(Reply::Message(blocks)) => {
                    let cwd = working_directory(&recorded.body).unwrap_or_default();
                    let blocks: Vec<Block> = blocks
                        .iter()
                        .map(|b| match b {
                            Block::ToolUse { name, input } => {
                                Block::ToolUse { name: name.clone(), input: with_cwd(input, &cwd) }
                            }
                            other => other.clone(),
                        })
                        .collect();
                    sse_response(dialect, message_events(dialect, &recorded.body, &blocks, turn))
                }
                Some(Reply::Error(e)) => error_response(dialect, e),
                None => error_response(
                    dialect,
                    &ApiError::Other {
                        status: 400,
                        kind: "invalid_request_error".into(),
                        message: format!("the mock's script has no reply for turn {}", turn + 1),
                    },
                ),
            }
        }
    }
}

fn is_model_call(dialect: Dialect, path: &str) -> bool {
    match dialect {
        Dialect::Anthropic => path.starts_with("/v1/messages") && !path.contains("count_tokens"),
        Dialect::OpenAi => path.starts_with("/v1/responses"),
        Dialect::Gemini => path.contains(":streamGenerateContent"),
    }
}

/// How many model turns the request's history already holds: runs of consecutive model
/// items (one turn may be several items, e.g. a text and a tool call).
fn model_turns(dialect: Dialect, body: &Value) -> usize {
    let (items, is_model): (Vec<Value>, fn(&Value) -> bool) = match dialect {
        Dialect::Anthropic => {
            (body.get("messages").and_then(Value::as_array).cloned().unwrap_or_default(), |m| {
                m.get("role").and_then(Value::as_str) == Some("assistant")
            })
        }
        Dialect::OpenAi => (body.get("input").and_then(Value::as_array).cloned().unwrap_or_default(), |i| {
            matches!(
                i.get("type").and_then(Value::as_str),
                Some("custom_tool_call" | "function_call" | "reasoning")
            ) || (i.get("type").and_then(Value::as_str) == Some("message")
                && i.get("role").and_then(Value::as_str) == Some("assistant"))
        }),
        Dialect::Gemini => {
            (body.get("contents").and_then(Value::as_array).cloned().unwrap_or_default(), |c| {
                c.get("role").and_then(Value::as_str) == Some("model")
            })
        }
    };
    let mut turns = 0;
    let mut previous = false;
    for item in &items {
        let model = is_model(item);
        if model && !previous {
            turns += 1;
        }
        previous = model;
    }
    turns
}

/// The working directory the CLI names in its prompt.
fn working_directory(body: &Value) -> Option<String> {
    let text = body.to_string();
    for (start, end) in
        [("Primary working directory: ", "\\n"), ("<cwd>", "</cwd>"), ("working directory is: ", "\\n")]
    {
        if let Some(i) = text.find(start) {
            let rest = &text[i + start.len()..];
            let value = rest.split(end).next()?.split('"').next()?.trim();
            if !value.is_empty() {
                return Some(value.to_owned());
            }
        }
    }
    None
}

fn with_cwd(value: &Value, cwd: &str) -> Value {
    match value {
        Value::String(s) => Value::String(s.replace("{cwd}", cwd)),
        Value::Array(items) => Value::Array(items.iter().map(|v| with_cwd(v, cwd)).collect()),
        Value::Object(map) => Value::Object(map.iter().map(|(k, v)| (k.clone(), with_cwd(v, cwd))).collect()),
        other => other.clone(),
    }
}

fn message_events(dialect: Dialect, request: &Value, blocks: &[Block], turn: usize) -> Vec<Value> {
    match dialect {
        Dialect::Anthropic => mock_anthropic::message_events(request, blocks, turn),
        Dialect::OpenAi => mock_openai::response_events(blocks, turn),
        Dialect::Gemini => mock_gemini::chunks(blocks),
    }
}

/// The status, body and headers of an error in `dialect`.
pub(crate) struct ErrorParts {
    pub status: u16,
    pub body: Value,
    pub headers: Vec<(&'static str, String)>,
}

fn error_response(dialect: Dialect, e: &ApiError) -> Response {
    let parts = match dialect {
        Dialect::Anthropic => mock_anthropic::error(e),
        Dialect::OpenAi => mock_openai::error(e),
        Dialect::Gemini => mock_gemini::error(e),
    };
    let mut response = (
        StatusCode::from_u16(parts.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        [(header::CONTENT_TYPE, "application/json")],
        parts.body.to_string(),
    )
        .into_response();
    let headers: &mut HeaderMap = response.headers_mut();
    for (name, value) in parts.headers {
        if let Ok(value) = value.parse() {
            headers.insert(name, value);
        }
    }
    response
}

/// Server-sent events: named (`event:` + `data:`) for Anthropic and OpenAI, data only for
/// Gemini.
fn sse_text(dialect: Dialect, events: &[Value]) -> String {
    let mut text = String::new();
    for event in events {
        if dialect != Dialect::Gemini {
            let name = event.get("type").and_then(Value::as_str).unwrap_or("message");
            text.push_str(&format!("event: {name}\n"));
        }
        text.push_str(&format!("data: {event}\n\n"));
    }
    text
}

fn sse_response(dialect: Dialect, events: Vec<Value>) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/event-stream"), (header::CACHE_CONTROL, "no-cache")],
        sse_text(dialect, &events),
    )
        .into_response()
}

/// A reply that starts and then never sends another byte (until the server stops).
fn hanging_reply(dialect: Dialect, request: &Value) -> Response {
    let first = match dialect {
        Dialect::Anthropic => vec![mock_anthropic::message_start(request, "msg_mock_hang")],
        Dialect::OpenAi => vec![mock_openai::created("resp_mock_hang")],
        Dialect::Gemini => Vec::new(),
    };
    let first = sse_text(dialect, &first);
    let stream = futures::stream::once(async move { Ok::<_, std::io::Error>(Bytes::from(first)) })
        .chain(futures::stream::pending());
    (StatusCode::OK, [(header::CONTENT_TYPE, "text/event-stream")], Body::from_stream(stream)).into_response()
}

/// Whether a message calls a tool (it then ends asking for the results).
pub(crate) fn tool_calls(blocks: &[Block]) -> bool {
    blocks.iter().any(|b| matches!(b, Block::ToolUse { .. }))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_working_directory_is_read_from_any_dialect() {
        let anthropic = json!({"system": [{"type": "text", "text": "x\n - Primary working directory: /w/t\n - Is a git repository: true"}]});
        assert_eq!(working_directory(&anthropic).as_deref(), Some("/w/t"));
        let openai =
            json!({"input": [{"content": [{"text": "<environment_context>\n  <cwd>/w/c</cwd>\n"}]}]});
        assert_eq!(working_directory(&openai).as_deref(), Some("/w/c"));
        assert_eq!(with_cwd(&json!({"p": "{cwd}/a", "n": 1}), "/w"), json!({"p": "/w/a", "n": 1}));
    }

    #[test]
    fn turns_count_runs_of_model_items() {
        let body = json!({"input": [
            {"type": "message", "role": "user"},
            {"type": "message", "role": "assistant"}, {"type": "custom_tool_call"},
            {"type": "custom_tool_call_output"},
            {"type": "function_call"},
            {"type": "function_call_output"},
        ]});
        assert_eq!(model_turns(Dialect::OpenAi, &body), 2);
        let gemini = json!({"contents": [{"role": "user"}, {"role": "model"}, {"role": "user"}]});
        assert_eq!(model_turns(Dialect::Gemini, &gemini), 1);
    }
}
