//! A mock of the Anthropic Messages API on 127.0.0.1, for running the real Claude Code CLI
//! offline: streaming SSE replies scripted per scenario, HTTP errors as the API sends them,
//! a reply that never ends (for stop tests), and a record of every request.
//!
//! Each scenario has its own base URL (`http://127.0.0.1:<port>/s/<name>`); the CLI keeps
//! a path prefix of `ANTHROPIC_BASE_URL`, so one server serves many tests at once.
//!
//! A scripted conversation answers the n-th model turn with the n-th reply, where n is the
//! number of assistant messages in the request: the CLI resends the whole history every
//! turn (and after `--resume`), so one script describes a conversation across follow-ups.
//! String values in a tool call's input may say `{cwd}`: it becomes the working directory
//! the CLI names in its system prompt, since file tools want absolute paths.

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
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// The largest request body accepted (the CLI's requests are well under a megabyte).
const MAX_BODY: usize = 32 * 1024 * 1024;

/// A running mock; stops on drop.
#[derive(Debug)]
pub struct MockAnthropic {
    addr: SocketAddr,
    state: Arc<Shared>,
    shutdown: Option<oneshot::Sender<()>>,
}

#[derive(Debug, Default)]
struct Shared {
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
    /// The reply starts (`message_start`) and never goes on: the CLI waits until it is
    /// stopped.
    Hang,
    /// The first `n` calls of the scenario get the error (the CLI retries them), the
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
    /// A streamed assistant message made of these blocks. It ends with `tool_use` when a
    /// block calls a tool, `end_turn` otherwise.
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
    /// A tool call; `{cwd}` in its string values becomes the CLI's working directory.
    ToolUse {
        /// The tool's name (`Write`, `Bash`, …).
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

/// An error answer, as the API sends it: a status, `{"type":"error","error":{…}}`, and
/// headers.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// HTTP status.
    pub status: u16,
    /// `error.type`.
    pub kind: String,
    /// `error.message`.
    pub message: String,
    /// Extra response headers.
    pub headers: Vec<(String, String)>,
}

impl ApiError {
    /// Any error.
    pub fn new(status: u16, kind: &str, message: &str) -> Self {
        Self { status, kind: kind.into(), message: message.into(), headers: Vec::new() }
    }

    /// 401: the key or token is not valid.
    pub fn unauthorized() -> Self {
        Self::new(401, "authentication_error", "invalid x-api-key")
    }

    /// 403: the credential may not use this.
    pub fn forbidden() -> Self {
        Self::new(
            403,
            "permission_error",
            "Your API key does not have permission to use the specified resource.",
        )
    }

    /// 429 without the subscription ("unified") limit headers: an API-key rate limit.
    pub fn rate_limited() -> Self {
        Self::new(429, "rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit")
    }

    /// 429 with the subscription limit headers: the five-hour limit is used up until
    /// `resets_at` (seconds since the epoch).
    pub fn usage_limit(resets_at: i64) -> Self {
        let mut e = Self::new(429, "rate_limit_error", "Rate limited");
        e.headers = vec![
            ("anthropic-ratelimit-unified-status".into(), "rejected".into()),
            ("anthropic-ratelimit-unified-reset".into(), resets_at.to_string()),
            ("anthropic-ratelimit-unified-representative-claim".into(), "five_hour".into()),
        ];
        e
    }

    /// 400: the account's credit is used up.
    pub fn credit_too_low() -> Self {
        Self::new(
            400,
            "invalid_request_error",
            "Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing to upgrade or purchase credits.",
        )
    }

    /// 529: the API is overloaded.
    pub fn overloaded() -> Self {
        Self::new(529, "overloaded_error", "Overloaded")
    }

    /// 500: the API failed.
    pub fn internal() -> Self {
        Self::new(500, "api_error", "Internal server error")
    }
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
}

impl RecordedRequest {
    /// A Messages API call.
    pub fn is_messages(&self) -> bool {
        self.method == "POST" && self.path.starts_with("/v1/messages")
    }

    /// The conversation it sent.
    pub fn messages(&self) -> Vec<Value> {
        self.body.get("messages").and_then(Value::as_array).cloned().unwrap_or_default()
    }

    /// Every text block of the user messages, in order.
    pub fn user_texts(&self) -> Vec<String> {
        self.messages()
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

    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(&name.to_ascii_lowercase()).map(String::as_str)
    }
}

impl MockAnthropic {
    /// Serves on a free port of 127.0.0.1.
    pub async fn start() -> anyhow::Result<Self> {
        let state = Arc::new(Shared::default());
        let app = Router::new().fallback(handle).with_state(state.clone());
        let listener = TcpListener::bind("127.0.0.1:0").await.context("binding the mock API")?;
        let addr = listener.local_addr()?;
        let (shutdown, stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
            if let Err(e) = served {
                eprintln!("mock Anthropic API failed: {e}");
            }
        });
        Ok(Self { addr, state, shutdown: Some(shutdown) })
    }

    /// Registers (or replaces) a scenario and returns the base URL that selects it, for
    /// `ANTHROPIC_BASE_URL`.
    pub fn scenario(&self, name: &str, scenario: Scenario) -> String {
        lock(&self.state.scenarios).insert(name.to_owned(), scenario);
        format!("http://{}/s/{name}", self.addr)
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.state.requests).clone()
    }

    /// The Messages API calls of one scenario, in arrival order.
    pub fn messages_calls(&self, scenario: &str) -> Vec<RecordedRequest> {
        self.requests().into_iter().filter(|r| r.scenario == scenario && r.is_messages()).collect()
    }
}

impl Drop for MockAnthropic {
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
    let recorded =
        RecordedRequest { scenario: scenario.clone(), method: parts.method.to_string(), path, headers, body };
    let earlier_calls = {
        let mut requests = lock(&state.requests);
        let n = requests.iter().filter(|r| r.scenario == scenario && r.is_messages()).count();
        requests.push(recorded.clone());
        n
    };

    if parts.method == Method::HEAD || parts.method == Method::GET {
        return StatusCode::OK.into_response();
    }
    if !recorded.is_messages() {
        return error_response(&ApiError::new(404, "not_found_error", "the mock serves only /v1/messages"));
    }
    let Some(plan) = lock(&state.scenarios).get(&scenario).cloned() else {
        return error_response(&ApiError::new(404, "not_found_error", &format!("no scenario `{scenario}`")));
    };
    let model = recorded.body.get("model").and_then(Value::as_str).unwrap_or("claude-mock").to_owned();
    match plan {
        Scenario::Fail(e) => error_response(&e),
        Scenario::Hang => hanging_reply(&model),
        Scenario::FailFirst(n, e, _) if earlier_calls < n => error_response(&e),
        Scenario::Script(replies) | Scenario::FailFirst(_, _, replies) => {
            let turn = recorded
                .messages()
                .iter()
                .filter(|m| m.get("role").and_then(Value::as_str) == Some("assistant"))
                .count();
            match replies.get(turn) {
                Some(Reply::Message(blocks)) => {
                    let cwd = working_directory(&recorded.body).unwrap_or_default();
                    sse_response(message_events(&model, blocks, turn, &cwd))
                }
                Some(Reply::Error(e)) => error_response(e),
                None => error_response(&ApiError::new(
                    400,
                    "invalid_request_error",
                    &format!("the mock's script has no reply for turn {}", turn + 1),
                )),
            }
        }
    }
}

/// The working directory the CLI names in its system prompt.
fn working_directory(body: &Value) -> Option<String> {
    let system = match body.get("system")? {
        Value::String(s) => s.clone(),
        Value::Array(blocks) => {
            blocks.iter().filter_map(|b| b.get("text").and_then(Value::as_str)).collect::<Vec<_>>().join("\n")
        }
        _ => return None,
    };
    let rest = &system[system.find("Primary working directory: ")? + "Primary working directory: ".len()..];
    Some(rest.lines().next()?.trim().to_owned())
}

fn error_response(e: &ApiError) -> Response {
    let body = json!({
        "type": "error",
        "error": { "type": e.kind, "message": e.message },
        "request_id": "req_mock",
    });
    let mut response = (
        StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response();
    let headers: &mut HeaderMap = response.headers_mut();
    headers.insert("request-id", "req_mock".parse().expect("header"));
    for (name, value) in &e.headers {
        if let (Ok(name), Ok(value)) = (name.parse::<header::HeaderName>(), value.parse()) {
            headers.insert(name, value);
        }
    }
    response
}

fn sse_response(events: Vec<Value>) -> Response {
    let mut text = String::new();
    for event in events {
        let name = event.get("type").and_then(Value::as_str).unwrap_or("message").to_owned();
        text.push_str(&format!("event: {name}\ndata: {event}\n\n"));
    }
    (StatusCode::OK, [(header::CONTENT_TYPE, "text/event-stream"), (header::CACHE_CONTROL, "no-cache")], text)
        .into_response()
}

fn message_start(model: &str, id: &str) -> Value {
    json!({
        "type": "message_start",
        "message": {
            "id": id, "type": "message", "role": "assistant", "model": model, "content": [],
            "stop_reason": null, "stop_sequence": null,
            "usage": { "input_tokens": 10, "output_tokens": 1 },
        },
    })
}

fn message_events(model: &str, blocks: &[Block], turn: usize, cwd: &str) -> Vec<Value> {
    let mut events = vec![message_start(model, &format!("msg_mock_{turn:02}"))];
    let mut calls_tool = false;
    for (index, block) in blocks.iter().enumerate() {
        let (start, deltas) = match block {
            Block::Text(text) => {
                (json!({ "type": "text", "text": "" }), vec![json!({ "type": "text_delta", "text": text })])
            }
            Block::Thinking(thinking) => (
                json!({ "type": "thinking", "thinking": "", "signature": "" }),
                vec![
                    json!({ "type": "thinking_delta", "thinking": thinking }),
                    json!({ "type": "signature_delta", "signature": "bW9jay1zaWduYXR1cmU=" }),
                ],
            ),
            Block::ToolUse { name, input } => {
                calls_tool = true;
                let input = with_cwd(input, cwd);
                (
                    json!({ "type": "tool_use", "id": format!("toolu_mock_{turn:02}_{index}"), "name": name, "input": {} }),
                    vec![json!({ "type": "input_json_delta", "partial_json": input.to_string() })],
                )
            }
        };
        events.push(json!({ "type": "content_block_start", "index": index, "content_block": start }));
        for delta in deltas {
            events.push(json!({ "type": "content_block_delta", "index": index, "delta": delta }));
        }
        events.push(json!({ "type": "content_block_stop", "index": index }));
    }
    events.push(json!({
        "type": "message_delta",
        "delta": { "stop_reason": if calls_tool { "tool_use" } else { "end_turn" }, "stop_sequence": null },
        "usage": { "output_tokens": 5 },
    }));
    events.push(json!({ "type": "message_stop" }));
    events
}

fn with_cwd(value: &Value, cwd: &str) -> Value {
    match value {
        Value::String(s) => Value::String(s.replace("{cwd}", cwd)),
        Value::Array(items) => Value::Array(items.iter().map(|v| with_cwd(v, cwd)).collect()),
        Value::Object(map) => Value::Object(map.iter().map(|(k, v)| (k.clone(), with_cwd(v, cwd))).collect()),
        other => other.clone(),
    }
}

/// A reply that starts and then never sends another byte (until the server stops).
fn hanging_reply(model: &str) -> Response {
    let first = format!("event: message_start\ndata: {}\n\n", message_start(model, "msg_mock_hang"));
    let stream = futures::stream::once(async move { Ok::<_, std::io::Error>(Bytes::from(first)) })
        .chain(futures::stream::pending());
    (StatusCode::OK, [(header::CONTENT_TYPE, "text/event-stream")], Body::from_stream(stream)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cwd_is_read_from_the_system_prompt_and_put_into_tool_input() {
        let body = json!({"system": [{"type": "text", "text": "x\n - Primary working directory: /w/t\n - Is a git repository: true"}]});
        let cwd = working_directory(&body).expect("cwd");
        assert_eq!(cwd, "/w/t");
        assert_eq!(
            with_cwd(&json!({"file_path": "{cwd}/a.txt", "n": 1}), &cwd),
            json!({"file_path": "/w/t/a.txt", "n": 1})
        );
    }

    #[test]
    fn tool_calls_end_the_turn_with_tool_use() {
        let events =
            message_events("m", &[Block::Text("hi".into()), Block::tool("Bash", json!({}))], 2, "/w");
        let delta = events.iter().find(|e| e["type"] == "message_delta").expect("delta");
        assert_eq!(delta["delta"]["stop_reason"], "tool_use");
        assert!(events.iter().any(|e| e["content_block"]["id"] == "toolu_mock_02_1"));
    }
}
