//! The Gemini API dialect of [`crate::mock_api`]: what the Gemini CLI calls
//! (`POST /v1beta/models/<model>:streamGenerateContent?alt=sse`, data-only SSE chunks of
//! `candidates[].content.parts`). Side calls to `:generateContent` (model routing, "who
//! speaks next") get a fixed JSON answer. Errors are Google's
//! `{"error":{"code","message","status","details"}}`.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::mock_api::{ApiError, Block, ErrorParts};

pub(crate) fn chunks(blocks: &[Block]) -> Vec<Value> {
    let parts: Vec<Value> = blocks
        .iter()
        .map(|b| match b {
            Block::Text(text) => json!({ "text": text }),
            Block::Thinking(text) => json!({ "text": text, "thought": true }),
            Block::ToolUse { name, input } => json!({ "functionCall": { "name": name, "args": input } }),
        })
        .collect();
    vec![json!({
        "candidates": [{ "content": { "role": "model", "parts": parts }, "finishReason": "STOP", "index": 0 }],
        "usageMetadata": { "promptTokenCount": 12, "candidatesTokenCount": 6, "totalTokenCount": 18 },
        "modelVersion": "gemini-mock",
    })]
}

/// The answer to a side call: JSON text that satisfies the CLI's routing and next-speaker
/// checks.
pub(crate) fn side_answer() -> Response {
    let text = json!({
        "reasoning": "mock", "model_choice": "flash", "complexity_score": 1, "next_speaker": "user",
    })
    .to_string();
    let body = json!({
        "candidates": [{ "content": { "role": "model", "parts": [{ "text": text }] }, "finishReason": "STOP", "index": 0 }],
        "usageMetadata": { "promptTokenCount": 5, "candidatesTokenCount": 5, "totalTokenCount": 10 },
    });
    (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

pub(crate) fn error(e: &ApiError) -> ErrorParts {
    let error = |code: u16, status: &str, message: &str, details: Value| ErrorParts {
        status: code,
        body: json!({ "error": { "code": code, "message": message, "status": status, "details": details } }),
        headers: vec![],
    };
    let reason = |reason: &str| json!([{ "@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": reason, "domain": "googleapis.com" }]);
    match e {
        ApiError::Unauthorized => error(
            400,
            "INVALID_ARGUMENT",
            "API key not valid. Please pass a valid API key.",
            reason("API_KEY_INVALID"),
        ),
        ApiError::Forbidden => {
            error(403, "PERMISSION_DENIED", "Permission denied on resource.", reason("ACCESS_DENIED"))
        }
        ApiError::RateLimited => {
            error(429, "RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota).", json!([]))
        }
        ApiError::UsageLimit { resets_at } => {
            let wait = (resets_at - chrono_now()).max(1);
            error(
                429,
                "RESOURCE_EXHAUSTED",
                "You exceeded your current quota, please check your plan and billing details.",
                json!([
                    { "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                      "violations": [{ "quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests",
                                       "quotaId": "GenerateRequestsPerDayPerProjectPerModel-FreeTier" }] },
                    { "@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": format!("{wait}s") },
                ]),
            )
        }
        ApiError::CreditTooLow => error(
            403,
            "PERMISSION_DENIED",
            "This API method requires billing to be enabled.",
            reason("BILLING_DISABLED"),
        ),
        ApiError::Overloaded => {
            error(503, "UNAVAILABLE", "The model is overloaded. Please try again later.", json!([]))
        }
        ApiError::Internal => error(500, "INTERNAL", "An internal error has occurred.", json!([])),
        ApiError::Other { status, kind, message } => error(*status, kind, message, json!([])),
    }
}

fn chrono_now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}
