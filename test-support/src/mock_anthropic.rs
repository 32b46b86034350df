//! The Anthropic Messages API dialect of [`crate::mock_api`]: what Claude Code calls
//! (`POST /v1/messages?beta=true`, always streaming). Replies are SSE `message_start`,
//! `content_block_*`, `message_delta`, `message_stop`; errors are
//! `{"type":"error","error":{…}}`, a subscription limit with the `anthropic-ratelimit-unified-*`
//! headers the CLI reads its reset time from.

use serde_json::{Value, json};

use crate::mock_api::{ApiError, Block, ErrorParts, tool_calls};

pub(crate) fn message_start(request: &Value, id: &str) -> Value {
    let model = request.get("model").and_then(Value::as_str).unwrap_or("claude-mock");
    json!({
        "type": "message_start",
        "message": {
            "id": id, "type": "message", "role": "assistant", "model": model, "content": [],
            "stop_reason": null, "stop_sequence": null,
            "usage": { "input_tokens": 10, "output_tokens": 1 },
        },
    })
}

pub(crate) fn message_events(request: &Value, blocks: &[Block], turn: usize) -> Vec<Value> {
    let mut events = vec![message_start(request, &format!("msg_mock_{turn:02}"))];
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
            Block::ToolUse { name, input } => (
                json!({ "type": "tool_use", "id": format!("toolu_mock_{turn:02}_{index}"), "name": name, "input": {} }),
                vec![json!({ "type": "input_json_delta", "partial_json": input.to_string() })],
            ),
        };
        events.push(json!({ "type": "content_block_start", "index": index, "content_block": start }));
        for delta in deltas {
            events.push(json!({ "type": "content_block_delta", "index": index, "delta": delta }));
        }
        events.push(json!({ "type": "content_block_stop", "index": index }));
    }
    let stop = if tool_calls(blocks) { "tool_use" } else { "end_turn" };
    events.push(json!({
        "type": "message_delta",
        "delta": { "stop_reason": stop, "stop_sequence": null },
        "usage": { "output_tokens": 5 },
    }));
    events.push(json!({ "type": "message_stop" }));
    events
}

pub(crate) fn error(e: &ApiError) -> ErrorParts {
    let (status, kind, message, mut headers): (u16, &str, String, Vec<(&'static str, String)>) = match e {
        ApiError::Unauthorized => (401, "authentication_error", "invalid x-api-key".into(), vec![]),
        ApiError::Forbidden => (
            403,
            "permission_error",
            "Your API key does not have permission to use the specified resource.".into(),
            vec![],
        ),
        ApiError::RateLimited => (
            429,
            "rate_limit_error",
            "Number of request tokens has exceeded your per-minute rate limit".into(),
            vec![],
        ),
        ApiError::UsageLimit { resets_at } => (
            429,
            "rate_limit_error",
            "Rate limited".into(),
            vec![
                ("anthropic-ratelimit-unified-status", "rejected".into()),
                ("anthropic-ratelimit-unified-reset", resets_at.to_string()),
                ("anthropic-ratelimit-unified-representative-claim", "five_hour".into()),
            ],
        ),
        ApiError::CreditTooLow => (
            400,
            "invalid_request_error",
            "Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing to upgrade or purchase credits.".into(),
            vec![],
        ),
        ApiError::Overloaded => (529, "overloaded_error", "Overloaded".into(), vec![]),
        ApiError::Internal => (500, "api_error", "Internal server error".into(), vec![]),
        ApiError::Other { status, kind, message } => (*status, kind.as_str(), message.clone(), vec![]),
    };
    headers.push(("request-id", "req_mock".into()));
    ErrorParts {
        status,
        body: json!({ "type": "error", "error": { "type": kind, "message": message }, "request_id": "req_mock" }),
        headers,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_calls_end_the_turn_with_tool_use() {
        let blocks = [Block::Text("hi".into()), Block::tool("Bash", json!({}))];
        let events = message_events(&json!({"model": "m"}), &blocks, 2);
        let delta = events.iter().find(|e| e["type"] == "message_delta").expect("delta");
        assert_eq!(delta["delta"]["stop_reason"], "tool_use");
        assert!(events.iter().any(|e| e["content_block"]["id"] == "toolu_mock_02_1"));
    }
}
