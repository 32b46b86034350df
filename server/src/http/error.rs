//! The one API error: every failure becomes a status code and a JSON body
//! `{"error": code, "message": text, "field"?: name}` the UI can branch on. Internal errors are
//! logged (with the request's span, so its request id) and never shown.

use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;
use taskyard_core::agent::AgentError;
use taskyard_core::git::GitError;
use taskyard_core::runner::RunError;
use taskyard_core::store::StoreError;

/// The JSON body of every error response.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// A stable code: `not_found`, `invalid`, `bad_request`, `unsupported_media_type`,
    /// `too_large`, `timeout`, `conflict`, `unauthorized`, `forbidden`, `too_many_requests`,
    /// `bad_gateway`, `unavailable`, `misdirected`, `internal`.
    pub error: &'static str,
    /// What went wrong, for people.
    pub message: String,
    /// The request field at fault, when one is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// The most of one error's text that goes to the log.
pub const MAX_LOGGED: usize = 1024;

/// `text` cut to at most `max` bytes (on a character boundary), saying how much was left out.
pub fn capped(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} more bytes)", &text[..end], text.len() - end)
}

/// An error answered to the client.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    field: Option<String>,
    retry_after: Option<u64>,
}

impl ApiError {
    /// 404: the addressed resource does not exist.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }
    /// 422: a field of the request is not acceptable.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self { field: Some(field.into()), ..Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", message) }
    }
    /// 400: the request cannot be read at all.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }
    /// 409: the request contradicts the current state.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", message)
    }
    /// 401: no valid credentials.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }
    /// 403: credentials are fine but this is not allowed.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }
    /// The same error, naming the request field it is about (a form shows it there).
    pub fn on_field(self, field: impl Into<String>) -> Self {
        Self { field: Some(field.into()), ..self }
    }
    /// 502: a remote (git host) failed.
    pub fn bad_gateway(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_GATEWAY, "bad_gateway", message)
    }
    /// 503: the server cannot do this now (too many connections, sockets or password checks at
    /// once, or runs must be confined and cannot be).
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self { retry_after: Some(1), ..Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message) }
    }
    /// 421: the request names another server in `Host` (or comes from another origin).
    pub fn misdirected(message: impl Into<String>) -> Self {
        Self::new(StatusCode::MISDIRECTED_REQUEST, "misdirected", message)
    }
    /// 500: logged (at most [`MAX_LOGGED`] bytes of it: an error can quote what a client
    /// sent), answered without details.
    pub fn internal(error: impl std::fmt::Display) -> Self {
        let error = capped(&error.to_string(), MAX_LOGGED);
        tracing::error!(%error, "internal error");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error; see the server log")
    }

    /// 429: too many attempts; try again after `retry_after`.
    pub fn too_many(message: impl Into<String>, retry_after: std::time::Duration) -> Self {
        Self {
            retry_after: Some(retry_after.as_secs().max(1)),
            ..Self::new(StatusCode::TOO_MANY_REQUESTS, "too_many_requests", message)
        }
    }

    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into(), field: None, retry_after: None }
    }

    /// The status code.
    pub fn status(&self) -> StatusCode {
        self.status
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        // Messages can quote what a caller or an agent sent; known credential values never
        // leave in them.
        let message = crate::logging::redact(&capped(&self.message, MAX_LOGGED));
        let body = ErrorBody { error: self.code, message, field: self.field };
        let mut response = (self.status, Json(body)).into_response();
        if let Some(secs) = self.retry_after {
            response.headers_mut().insert(axum::http::header::RETRY_AFTER, secs.into());
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound { .. } => ApiError::not_found(e.to_string()),
            StoreError::Conflict(m) => ApiError::conflict(m),
            StoreError::Invalid(m) => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", m),
            StoreError::Database(_) | StoreError::Migrate(_) => ApiError::internal(e),
        }
    }
}

impl From<GitError> for ApiError {
    fn from(e: GitError) -> Self {
        let message = e.to_string();
        match e {
            GitError::NotFound(_)
            | GitError::NotARepository(_)
            | GitError::NoCommits
            | GitError::DetachedHead(_) => ApiError::invalid("path", message),
            GitError::UnsupportedUrl { .. } => ApiError::invalid("url", message),
            GitError::InvalidBranchName(_) => ApiError::invalid("branch", message),
            GitError::AuthFailed => ApiError::invalid("token", message),
            GitError::Unreachable(_) => ApiError::bad_gateway(message),
            GitError::Git(_) => ApiError::internal(message),
            _ => ApiError::conflict(message),
        }
    }
}

impl From<AgentError> for ApiError {
    fn from(e: AgentError) -> Self {
        match e {
            AgentError::UnknownAgent(_) => ApiError::invalid("agent", e.to_string()),
            AgentError::InvalidConfig(_) => ApiError::invalid("agent_config", e.to_string()),
        }
    }
}

impl From<RunError> for ApiError {
    fn from(e: RunError) -> Self {
        match e {
            RunError::Store(e) => e.into(),
            RunError::Git(e) => e.into(),
            RunError::Agent(e) => e.into(),
            RunError::Conflict(m) => ApiError::conflict(m),
            RunError::Unavailable(m) => ApiError::unavailable(m),
            RunError::Invalid { field, message } => ApiError::invalid(field, message),
        }
    }
}

/// `Json<T>` whose rejections are API errors: 422 naming the field for a body that does not
/// fit, 400 for one that is not JSON, 413 for one past the body limit, 415 without a JSON
/// content type.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        decode(read_value(req, state).await?).map(ApiJson)
    }
}

/// The body as a JSON value: its content type, size and syntax checked.
async fn read_value<S: Send + Sync>(req: Request, state: &S) -> Result<serde_json::Value, ApiError> {
    Json::<serde_json::Value>::from_request(req, state).await.map(|Json(value)| value).map_err(rejected)
}

/// A body read as a JSON value, into `T`: every body is an object (serde would also take a
/// struct from an array), and a whole number written with a fraction (`5.0`) is the integer
/// JSON says it is.
fn decode<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, ApiError> {
    if !value.is_object() {
        return Err(ApiError::invalid("body", "send a JSON object"));
    }
    let bytes = serde_json::to_vec(&integral(value)).map_err(ApiError::internal)?;
    Json::<T>::from_bytes(&bytes).map(|Json(v)| v).map_err(rejected)
}

/// `value` with every number that is a whole number written with a fraction (and fits an
/// `i64`/`u64`) written as that integer.
fn integral(value: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::Number(n) if !n.is_i64() && !n.is_u64() => match n.as_f64() {
            Some(f) if f.fract() == 0.0 && f >= i64::MIN as f64 && f < i64::MAX as f64 => {
                Value::from(f as i64)
            }
            Some(f) if f.fract() == 0.0 && f >= 0.0 && f < u64::MAX as f64 => Value::from(f as u64),
            _ => Value::Number(n),
        },
        Value::Array(items) => Value::Array(items.into_iter().map(integral).collect()),
        Value::Object(map) => Value::Object(map.into_iter().map(|(k, v)| (k, integral(v))).collect()),
        other => other,
    }
}

/// A JSON extractor's rejection as an API error.
fn rejected(rejection: JsonRejection) -> ApiError {
    match rejection {
        JsonRejection::JsonDataError(e) => {
            let detail = e.body_text();
            let field = field_of(&detail).unwrap_or_else(|| "body".to_owned());
            let detail = detail.replace("Failed to deserialize the JSON body into the target type: ", "");
            ApiError::invalid(field, hide_strings(&detail))
        }
        JsonRejection::MissingJsonContentType(_) => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the body as JSON with Content-Type: application/json",
        ),
        other if body_timed_out(&other) => {
            ApiError::new(StatusCode::REQUEST_TIMEOUT, "timeout", "the request body took too long to arrive")
        }
        other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            "the request body is larger than the server accepts",
        ),
        other => ApiError::bad_request(other.body_text()),
    }
}

/// Whether a body was cut off by the listener's deadline.
fn body_timed_out(rejection: &JsonRejection) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(rejection);
    while let Some(e) = source {
        if e.is::<super::listener::BodyTimeout>() {
            return true;
        }
        source = e.source();
    }
    false
}

impl<T: DeserializeOwned, S: Send + Sync> axum::extract::OptionalFromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Option<Self>, Self::Rejection> {
        let empty = req.headers().get(axum::http::header::CONTENT_TYPE).is_none()
            && req
                .headers()
                .get(axum::http::header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .is_none_or(|v| v == "0");
        if empty {
            return Ok(None);
        }
        // A body that is JSON `null` says "nothing" as well as no body does.
        match read_value(req, state).await? {
            serde_json::Value::Null => Ok(None),
            value => decode(value).map(|v| Some(ApiJson(v))),
        }
    }
}

/// An error text with every double-quoted string (a value serde quotes from the body, which
/// may be a secret) shown as `"…"`; field names, which serde puts in backticks, stay.
fn hide_strings(detail: &str) -> String {
    let mut out = String::with_capacity(detail.len());
    let mut chars = detail.chars();
    while let Some(c) = chars.next() {
        out.push(c);
        if c == '"' {
            out.push('…');
            let mut escaped = false;
            for c in chars.by_ref() {
                match (escaped, c) {
                    (false, '\\') => escaped = true,
                    (false, '"') => break,
                    _ => escaped = false,
                }
            }
            out.push('"');
        }
    }
    out
}

/// The field serde named in an error text (`title: invalid type…`, or "missing field `title`").
fn field_of(detail: &str) -> Option<String> {
    let detail =
        detail.strip_prefix("Failed to deserialize the JSON body into the target type: ").unwrap_or(detail);
    if let Some(rest) = detail.split("missing field `").nth(1) {
        return rest.split('`').next().map(str::to_owned);
    }
    if let Some(rest) = detail.split("unknown field `").nth(1) {
        return rest.split('`').next().map(str::to_owned);
    }
    let (path, _) = detail.split_once(": ")?;
    (!path.contains(' ') && !path.is_empty() && path != ".").then(|| path.to_owned())
}

/// `Path<T>` whose rejection is a 404: an id that cannot exist names nothing.
#[derive(Debug)]
pub struct ApiPath<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(v)) => Ok(ApiPath(v)),
            Err(PathRejection::FailedToDeserializePathParams(e)) => {
                Err(ApiError::not_found(format!("no such resource: {}", e.body_text())))
            }
            Err(other) => Err(ApiError::internal(other.body_text())),
        }
    }
}

/// `Query<T>` whose rejection is a 422 naming the parameter.
#[derive(Debug)]
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(ApiQuery(v)),
            Err(QueryRejection::FailedToDeserializeQueryString(e)) => {
                let text = e.body_text();
                let field = field_of(&text.replace("Failed to deserialize query string: ", ""))
                    .unwrap_or_else(|| "query".into());
                Err(ApiError::invalid(field, text))
            }
            Err(other) => Err(ApiError::bad_request(other.body_text())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{capped, field_of, hide_strings};

    #[test]
    fn long_texts_are_capped_on_a_character_boundary() {
        assert_eq!(capped("short", 10), "short");
        let long = "é".repeat(1000);
        let cut = capped(&long, 11);
        assert!(cut.starts_with("ééééé…"), "{cut}");
        assert!(cut.ends_with("(1990 more bytes)"), "{cut}");
    }

    #[test]
    fn fields_are_found_in_serde_messages() {
        assert_eq!(field_of("missing field `title` at line 1 column 2").as_deref(), Some("title"));
        assert_eq!(
            field_of("Failed to deserialize the JSON body into the target type: position: invalid type: string \"x\", expected f64 at line 1 column 15").as_deref(),
            Some("position")
        );
        assert_eq!(field_of("unknown field `nope`, expected one of `title`").as_deref(), Some("nope"));
        assert_eq!(field_of("expected value at line 1 column 1"), None);
    }

    #[test]
    fn quoted_values_are_hidden_and_field_names_kept() {
        let text =
            r#"locked: invalid type: string "sk-ant-oat01-TEST\"x", expected a boolean at line 1 column 9"#;
        assert_eq!(
            hide_strings(text),
            r#"locked: invalid type: string "…", expected a boolean at line 1 column 9"#
        );
        assert_eq!(hide_strings("missing field `value`"), "missing field `value`");
        assert_eq!(field_of(text).as_deref(), Some("locked"));
    }
}
