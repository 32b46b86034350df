//! The OpenAI Responses API dialect of [`crate::mock_api`]: what Codex calls
//! (`POST /v1/responses`, streaming). Replies are SSE `response.created`,
//! `response.output_item.*`, `response.output_text.delta`, `response.completed`; a tool call
//! with a string input is a free-form `custom_tool_call` (Codex's `exec`), with an object
//! input a `function_call`. Errors are `{"error":{"message","type","code"}}`.

use serde_json::{Value, json};

use crate::mock_api::{ApiError, Block, ErrorParts};

pub(crate) fn created(id: &str) -> Value {
    json!({
        "type": "response.created",
        "response": { "id": id, "object": "response", "status": "in_progress", "output": [] },
    })
}

pub(crate) fn response_events(blocks: &[Block], turn: usize) -> Vec<Value> {
    let id = format!("resp_mock_{turn:02}");
    let mut events = vec![created(&id)];
    for (index, block) in blocks.iter().enumerate() {
        let item_id = format!("{turn:02}_{index}");
        match block {
            Block::Text(text) => {
                let id = format!("msg_mock_{item_id}");
                events.push(json!({
                    "type": "response.output_item.added", "output_index": index,
                    "item": { "type": "message", "id": id, "role": "assistant", "status": "in_progress", "content": [] },
                }));
                events.push(json!({
                    "type": "response.output_text.delta", "item_id": id, "output_index": index,
                    "content_index": 0, "delta": text,
                }));
                events.push(json!({
                    "type": "response.output_item.done", "output_index": index,
                    "item": {
                        "type": "message", "id": id, "role": "assistant", "status": "completed",
                        "content": [{ "type": "output_text", "text": text, "annotations": [] }],
                    },
                }));
            }
            Block::Thinking(text) => events.push(json!({
                "type": "response.output_item.done", "output_index": index,
                "item": { "type": "reasoning", "id": format!("rs_mock_{item_id}"),
                          "summary": [{ "type": "summary_text", "text": text }] },
            })),
            Block::ToolUse { name, input } => {
                let call_id = format!("call_mock_{item_id}");
                let item = match input {
                    Value::String(source) => json!({
                        "type": "custom_tool_call", "id": format!("ctc_mock_{item_id}"), "call_id": call_id,
                        "name": name, "input": source, "status": "completed",
                    }),
                    other => json!({
                        "type": "function_call", "id": format!("fc_mock_{item_id}"), "call_id": call_id,
                        "name": name, "arguments": other.to_string(), "status": "completed",
                    }),
                };
                events.push(
                    json!({ "type": "response.output_item.done", "output_index": index, "item": item }),
                );
            }
        }
    }
    events.push(json!({
        "type": "response.completed",
        "response": {
            "id": id, "object": "response", "status": "completed", "output": [],
            "usage": {
                "input_tokens": 12, "input_tokens_details": { "cached_tokens": 0 },
                "output_tokens": 6, "output_tokens_details": { "reasoning_tokens": 0 }, "total_tokens": 18,
            },
        },
    }));
    events
}

pub(crate) fn error(e: &ApiError) -> ErrorParts {
    let error = |status: u16, kind: &str, code: &str, message: &str| ErrorParts {
        status,
        body: json!({ "error": { "message": message, "type": kind, "param": null, "code": code } }),
        headers: vec![("x-request-id", "req_mock".into())],
    };
    match e {
        ApiError::Unauthorized => error(
            401,
            "invalid_request_error",
            "invalid_api_key",
            "Incorrect API key provided: sk-TEST****. You can find your API key at https://platform.openai.com/account/api-keys.",
        ),
        ApiError::Forbidden => error(
            403,
            "invalid_request_error",
            "model_not_found",
            "Project does not have access to this model.",
        ),
        ApiError::RateLimited => error(
            429,
            "requests",
            "rate_limit_exceeded",
            "Rate limit reached for requests per min (RPM): Limit 3, Used 3, Requested 1. Please try again in 20s.",
        ),
        ApiError::UsageLimit { resets_at } => ErrorParts {
            status: 429,
            body: json!({ "error": {
                "type": "usage_limit_reached", "message": "The usage limit has been reached",
                "plan_type": "plus", "resets_at": resets_at,
            } }),
            headers: vec![],
        },
        ApiError::CreditTooLow => error(
            429,
            "insufficient_quota",
            "insufficient_quota",
            "You exceeded your current quota, please check your plan and billing details.",
        ),
        ApiError::Overloaded => {
            error(503, "server_error", "overloaded", "The engine is currently overloaded.")
        }
        ApiError::Internal => error(
            500,
            "server_error",
            "server_error",
            "The server had an error while processing your request.",
        ),
        ApiError::Other { status, kind, message } => error(*status, kind, kind, message),
    }
}
