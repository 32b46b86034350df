//! The parsers over JSON lines recorded from the real CLIs (`fixtures/<agent>/*.jsonl`,
//! recorded by `examples/record_fixtures.rs` against the mock APIs): the entries each
//! recording becomes, and how its exit is judged. After a CLI upgrade, re-record and review
//! the changes with `UPDATE_EXPECT=1 cargo test --test parsers`.

use expect_test::{Expect, expect};
use serde_json::{Value, json};
use taskyard_core::agent::jsonl::MAX_JSON_LINE;
use taskyard_core::agent::{self, ExitInfo, LineParser, Parsed, Stream};
use taskyard_core::model::{LogKind, RunStatus};

/// One line per entry: kind, data.event, the text (newlines shown as ⏎), and the data
/// that matters for the event; then the verdict.
fn render(entries: &[Parsed]) -> String {
    let mut out = String::new();
    for e in entries {
        let data = e.data.clone().unwrap_or(Value::Null);
        let event = data.get("event").and_then(Value::as_str).unwrap_or("-");
        let mut text: String = e.text.replace('\n', "⏎");
        if text.chars().count() > 120 {
            text = text.chars().take(120).collect::<String>() + "…";
        }
        let extra = match event {
            "tool_use" => format!(" {{name: {}}}", data["name"]),
            "tool_result" => format!(
                " {{tool: {}, error: {}, folded: {}, lines: {}}}",
                data["tool_name"], data["is_error"], data["folded"], data["lines"]
            ),
            "result" => {
                let fields: Vec<String> = [
                    ("subtype", "subtype"),
                    ("error", "is_error"),
                    ("turns", "num_turns"),
                    ("cost", "total_cost_usd"),
                    ("denials", "permission_denials"),
                ]
                .iter()
                .filter(|(_, key)| !data[*key].is_null())
                .map(|(name, key)| format!("{name}: {}", data[*key]))
                .collect();
                format!(" {{{}}}", fields.join(", "))
            }
            "api_error" => format!(" {{error: {}}}", data["error"]),
            "rate_limit" => format!(" {{status: {}, resets_at: {}}}", data["status"], data["resets_at"]),
            "raw" => data.get("type").map(|t| format!(" {{type: {t}}}")).unwrap_or_default(),
            _ => String::new(),
        };
        out.push_str(&format!("{:<11} {:<17} {text}{extra}\n", e.kind.as_str(), event));
    }
    out
}

/// Parses the recording `fixture` (`agent/name`) and compares its rendering with `expect`.
fn check(fixture: &str, exit: ExitInfo, expect: Expect) {
    let path = format!("{}/tests/fixtures/{fixture}.jsonl", env!("CARGO_MANIFEST_DIR"));
    let lines = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let agent = fixture.split('/').next().expect("agent");
    let mut parser = agent::adapter(agent).expect("adapter").parser();
    let mut entries = Vec::new();
    for line in lines.lines() {
        entries.extend(parser.parse(Stream::Stdout, line, false));
    }
    entries.extend(parser.finish());
    let outcome = parser.outcome(exit);
    let mut out = render(&entries);
    out.push_str(&format!(
        "=> {} {:?} retry_at={} session={}\n",
        outcome.status,
        outcome.error.unwrap_or_default(),
        outcome.retry_at.map_or("-".into(), |t| t.to_rfc3339()),
        parser.session_id().unwrap_or_default(),
    ));
    expect.assert_eq(&out);
}

fn claude_parser() -> Box<dyn LineParser> {
    agent::adapter("claude").expect("claude").parser()
}

const OK: ExitInfo = ExitInfo { code: Some(0), signal: None, stopped: false };
const ONE: ExitInfo = ExitInfo { code: Some(1), signal: None, stopped: false };

#[test]
fn text_and_thinking() {
    check(
        "claude/text",
        OK,
        expect![[r#"
        init        init              Claude Code 2.1.197 · model claude-opus-4-8[1m] · 24 tools · acceptEdits · session 5e55a0e0-0000-4000-8000-000000000001
        system      system            thinking (about 6 tokens)
        thinking    thinking          A greeting is enough.
        assistant   text              Hello! How can I help?
        result      result            done in 1 turn · 1.2 s · $0.0002 {subtype: "success", error: false, turns: 1, cost: 0.000175, denials: 0}
        => succeeded "" retry_at=- session=5e55a0e0-0000-4000-8000-000000000001
    "#]],
    );
}

#[test]
fn a_file_is_written() {
    check(
        "claude/write",
        OK,
        expect![[r#"
        init        init              Claude Code 2.1.197 · model claude-opus-4-8[1m] · 24 tools · acceptEdits · session 5e55a0e0-0000-4000-8000-000000000001
        assistant   text              I'll create the file.
        tool_use    tool_use          Write src/hello.rs {name: "Write"}
        tool_result tool_result       File created successfully at: /work/project/src/hello.rs (file state is current in your context — no need to Read it bac… {tool: "Write", error: false, folded: false, lines: 1}
        assistant   text              Created src/hello.rs.
        result      result            done in 2 turns · 1.2 s · $0.0003 {subtype: "success", error: false, turns: 2, cost: 0.00035, denials: 0}
        => succeeded "" retry_at=- session=5e55a0e0-0000-4000-8000-000000000001
    "#]],
    );
}

#[test]
fn a_file_is_read_then_edited() {
    check(
        "claude/edit",
        OK,
        expect![[r#"
        init        init              Claude Code 2.1.197 · model claude-opus-4-8[1m] · 24 tools · acceptEdits · session 5e55a0e0-0000-4000-8000-000000000001
        tool_use    tool_use          Read README.md {name: "Read"}
        tool_result tool_result       1	# demo⏎2	 {tool: "Read", error: false, folded: false, lines: 2}
        tool_use    tool_use          Edit README.md {name: "Edit"}
        tool_result tool_result       The file /work/project/README.md has been updated successfully. (file state is current in your context — no need to Read… {tool: "Edit", error: false, folded: false, lines: 1}
        assistant   text              Renamed the heading.
        result      result            done in 3 turns · 1.2 s · $0.0005 {subtype: "success", error: false, turns: 3, cost: 0.000525, denials: 0}
        => succeeded "" retry_at=- session=5e55a0e0-0000-4000-8000-000000000001
    "#]],
    );
}

#[test]
fn a_long_command_output_is_folded() {
    check(
        "claude/bash",
        OK,
        expect![[r#"
        init        init              Claude Code 2.1.197 · model claude-opus-4-8[1m] · 24 tools · acceptEdits · session 5e55a0e0-0000-4000-8000-000000000001
        tool_use    tool_use          Bash: seq 1 40 {name: "Bash"}
        tool_result tool_result       1⏎2⏎3⏎4⏎5⏎6⏎7⏎8⏎9⏎10⏎11⏎12⏎13⏎14⏎15⏎16⏎17⏎18⏎19⏎20⏎… 20 more lines {tool: "Bash", error: false, folded: true, lines: 40}
        assistant   text              Counted.
        result      result            done in 2 turns · 1.2 s · $0.0003 {subtype: "success", error: false, turns: 2, cost: 0.00035, denials: 0}
        => succeeded "" retry_at=- session=5e55a0e0-0000-4000-8000-000000000001
    "#]],
    );
}

#[test]
fn several_tools_some_failing() {
    check(
        "claude/several_tools",
        OK,
        expect![[r#"
        init        init              Claude Code 2.1.197 · model claude-opus-4-8[1m] · 24 tools · acceptEdits · session 5e55a0e0-0000-4000-8000-000000000001
        tool_use    tool_use          Glob **/*.md {name: "Glob"}
        tool_result tool_result       <tool_use_error>Error: No such tool available: Glob. Glob is not available in this session — find files with `find` via … {tool: "Glob", error: true, folded: false, lines: 1}
        tool_use    tool_use          Grep demo in /work/project {name: "Grep"}
        tool_result tool_result       <tool_use_error>Error: No such tool available: Grep. Grep is not available in this session — search file contents with `… {tool: "Grep", error: true, folded: false, lines: 1}
        assistant   text              Two things at once.
        tool_use    tool_use          Write a.txt {name: "Write"}
        tool_use    tool_use          Bash: cat a.txt missing.txt {name: "Bash"}
        tool_result tool_result       File created successfully at: /work/project/a.txt (file state is current in your context — no need to Read it back) {tool: "Write", error: false, folded: false, lines: 1}
        tool_result tool_result       Exit code 1⏎a⏎cat: missing.txt: No such file or directory {tool: "Bash", error: true, folded: false, lines: 3}
        assistant   text              Done: a.txt exists, missing.txt does not.
        result      result            done in 5 turns · 1.2 s · $0.0007 {subtype: "success", error: false, turns: 5, cost: 0.0007, denials: 0}
        => succeeded "" retry_at=- session=5e55a0e0-0000-4000-8000-000000000001
    "#]],
    );
}

#[test]
fn denied_tools_are_listed_and_the_run_succeeds() {
    check(
        "claude/permission_denied",
        OK,
        expect![[r#"
        init        init              Claude Code 2.1.197 · model claude-opus-4-8[1m] · 24 tools · acceptEdits · session 5e55a0e0-0000-4000-8000-000000000001
        tool_use    tool_use          WebFetch https://example.com/docs {name: "WebFetch"}
        tool_result tool_result       Claude requested permissions to use WebFetch, but you haven't granted it yet. {tool: "WebFetch", error: true, folded: false, lines: 1}
        assistant   text              I could not fetch the page.
        error       permission_denied permission denied: WebFetch https://example.com/docs
        result      result            done in 2 turns · 1.2 s · $0.0003 {subtype: "success", error: false, turns: 2, cost: 0.00035, denials: 1}
        => succeeded "" retry_at=- session=5e55a0e0-0000-4000-8000-000000000001
    "#]],
    );
}

#[test]
fn the_turn_limit() {
    check(
        "claude/max_turns",
        ONE,
        expect![[r#"
        init        init              Claude Code 2.1.197 · model claude-opus-4-8[1m] · 24 tools · acceptEdits · session 5e55a0e0-0000-4000-8000-000000000001
        tool_use    tool_use          Bash: echo 0 {name: "Bash"}
        tool_result tool_result       0 {tool: "Bash", error: false, folded: false, lines: 1}
        tool_use    tool_use          Bash: echo 1 {name: "Bash"}
        tool_result tool_result       1 {tool: "Bash", error: false, folded: false, lines: 1}
        result      result            error_max_turns: Reached maximum number of turns (2) {subtype: "error_max_turns", error: true, turns: 3, cost: 0.00035, denials: 0}
        => max_turns "Reached maximum number of turns (2)" retry_at=- session=5e55a0e0-0000-4000-8000-000000000001
    "#]],
    );
}

#[test]
fn an_interrupt_is_a_clean_stop() {
    check(
        "claude/interrupted",
        ExitInfo { code: Some(1), signal: None, stopped: true },
        expect![[r#"
        init        init              Claude Code 2.1.197 · model claude-opus-4-8[1m] · 24 tools · acceptEdits · session 5e55a0e0-0000-4000-8000-000000000001
        tool_use    tool_use          Bash: sleep 300 {name: "Bash"}
        tool_result tool_result       The user doesn't want to proceed with this tool use. The tool use was rejected (eg. if it was a file edit, the new_strin… {tool: "Bash", error: true, folded: false, lines: 1}
        system      user_text         [Request interrupted by user for tool use]
        result      result            error_during_execution: [ede_diagnostic] result_type=user last_content_type=n/a stop_reason=tool_use {subtype: "error_during_execution", error: true, turns: 3, cost: 0.000175, denials: 0}
        => cancelled "stopped on request" retry_at=- session=5e55a0e0-0000-4000-8000-000000000001
    "#]],
    );
}

#[test]
fn api_retries_are_shown() {
    check(
        "claude/api_retry",
        OK,
        expect![[r#"
        init        init              Claude Code 2.1.197 · model claude-opus-4-8[1m] · 24 tools · acceptEdits · session 5e55a0e0-0000-4000-8000-000000000001
        system      api_retry         API error (529), retrying in 1.2 s (attempt 1 of 2)
        system      api_retry         API error (529), retrying in 1.2 s (attempt 2 of 2)
        assistant   text              Third time lucky.
        result      result            done in 1 turn · 1.2 s · $0.0002 {subtype: "success", error: false, turns: 1, cost: 0.000175, denials: 0}
        => succeeded "" retry_at=- session=5e55a0e0-0000-4000-8000-000000000001
    "#]],
    );
}

#[test]
fn resuming_a_session_that_is_gone() {
    check(
        "claude/resume_missing",
        ONE,
        expect![[r#"
        result      result            error_during_execution: No conversation found with session ID: 0f0e0d0c-0b0a-4009-8807-060504030201 {subtype: "error_during_execution", error: true, turns: 0, cost: 0, denials: 0}
        => failed "No conversation found with session ID: 0f0e0d0c-0b0a-4009-8807-060504030201" retry_at=- session=5e55a0e0-0000-4000-8000-000000000001
    "#]],
    );
}

#[test]
fn no_credentials() {
    check(
        "claude/no_credentials",
        ONE,
        expect![[r#"
        init        init              Claude Code 2.1.197 · model claude-opus-4-8[1m] · 24 tools · acceptEdits · session 5e55a0e0-0000-4000-8000-000000000001
        error       api_error         Not logged in · Please run /login {error: "authentication_failed"}
        result      result            error: Not logged in · Please run /login {subtype: "success", error: true, turns: 1, cost: 0, denials: 0}
        => auth_required "Not logged in · Please run /login" retry_at=- session=5e55a0e0-0000-4000-8000-000000000001
    "#]],
    );
}

#[test]
fn an_invalid_api_key() {
    check(
        "claude/401_api_key",
        ONE,
        expect![[r#"
        init        init              Claude Code 2.1.197 · model claude-opus-4-8[1m] · 24 tools · acceptEdits · session 5e55a0e0-0000-4000-8000-000000000001
        error       api_error         Invalid API key · Fix external API key {error: "authentication_failed"}
        result      result            error: Invalid API key · Fix external API key {subtype: "success", error: true, turns: 1, cost: 0, denials: 0}
        => auth_required "Invalid API key · Fix external API key" retry_at=- session=5e55a0e0-0000-4000-8000-000000000001
    "#]],
    );
}

#[test]
fn an_invalid_oauth_token() {
    check(
        "claude/401_oauth",
        ONE,
        expect![[r#"
        init        init              Claude Code 2.1.197 · model claude-sonnet-5 · 24 tools · acceptEdits · session 5e55a0e0-0000-4000-8000-000000000001
        error       api_error         Not logged in · Please run /login {error: "authentication_failed"}
        result      result            error: Not logged in · Please run /login {subtype: "success", error: true, turns: 1, cost: 0, denials: 0}
        => auth_required "Not logged in · Please run /login" retry_at=- session=5e55a0e0-0000-4000-8000-000000000001
    "#]],
    );
}

#[test]
fn forbidden() {
    check(
        "claude/403",
        ONE,
        expect![[r#"
        init        init              Claude Code 2.1.197 · model claude-opus-4-8[1m] · 24 tools · acceptEdits · session 5e55a0e0-0000-4000-8000-000000000001
        error       api_error         Failed to authenticate. API Error: 403 Your API key does not have permission to use the specified resource. {error: "authentication_failed"}
        result      result            error: Failed to authenticate. API Error: 403 Your API key does not have permission to use the specified resource. {subtype: "success", error: true, turns: 1, cost: 0, denials: 0}
        => auth_required "Failed to authenticate. API Error: 403 Your API key does not have permission to use the specified resource." retry_at=- session=5e55a0e0-0000-4000-8000-000000000001
    "#]],
    );
}

#[test]
fn an_api_key_rate_limit() {
    check(
        "claude/429_api_key",
        ONE,
        expect![[r#"
        init        init              Claude Code 2.1.197 · model claude-opus-4-8[1m] · 24 tools · acceptEdits · session 5e55a0e0-0000-4000-8000-000000000001
        error       api_error         API Error: Request rejected (429) · Number of request tokens has exceeded your per-minute rate limit {error: "rate_limit"}
        result      result            error: API Error: Request rejected (429) · Number of request tokens has exceeded your per-minute rate limit {subtype: "success", error: true, turns: 1, cost: 0, denials: 0}
        => quota_exceeded "API Error: Request rejected (429) · Number of request tokens has exceeded your per-minute rate limit" retry_at=- session=5e55a0e0-0000-4000-8000-000000000001
    "#]],
    );
}

#[test]
fn a_subscription_limit_with_its_reset_time() {
    check(
        "claude/429_subscription_limit",
        ONE,
        expect![[r#"
        init        init              Claude Code 2.1.197 · model claude-sonnet-5 · 24 tools · acceptEdits · session 5e55a0e0-0000-4000-8000-000000000001
        error       rate_limit        usage limit reached (five hour), resets 2030-03-17 17:46 UTC {status: "rejected", resets_at: "2030-03-17T17:46:40+00:00"}
        error       api_error         You've hit your session limit · resets Mar 17, 2030, 5:46pm (UTC) {error: "rate_limit"}
        result      result            error: You've hit your session limit · resets Mar 17, 2030, 5:46pm (UTC) {subtype: "success", error: true, turns: 1, cost: 0, denials: 0}
        => quota_exceeded "You've hit your session limit · resets Mar 17, 2030, 5:46pm (UTC)" retry_at=2030-03-17T17:46:40+00:00 session=5e55a0e0-0000-4000-8000-000000000001
    "#]],
    );
}

#[test]
fn a_transient_limit_is_a_server_error() {
    check(
        "claude/429_transient",
        ONE,
        expect![[r#"
        init        init              Claude Code 2.1.197 · model claude-sonnet-5 · 24 tools · acceptEdits · session 5e55a0e0-0000-4000-8000-000000000001
        error       rate_limit        the API rejected the request (rate limited) {status: "rejected", resets_at: null}
        error       api_error         API Error: Server is temporarily limiting requests (not your usage limit) · Number of request tokens has exceeded your p… {error: "rate_limit"}
        result      result            error: API Error: Server is temporarily limiting requests (not your usage limit) · Number of request tokens has exceeded… {subtype: "success", error: true, turns: 1, cost: 0, denials: 0}
        => server_error "API Error: Server is temporarily limiting requests (not your usage limit) · Number of request tokens has exceeded your per-minute rate limit" retry_at=- session=5e55a0e0-0000-4000-8000-000000000001
    "#]],
    );
}

#[test]
fn credit_too_low() {
    check(
        "claude/credit_too_low",
        ONE,
        expect![[r#"
        init        init              Claude Code 2.1.197 · model claude-opus-4-8[1m] · 24 tools · acceptEdits · session 5e55a0e0-0000-4000-8000-000000000001
        error       api_error         Credit balance is too low {error: "billing_error"}
        result      result            error: Credit balance is too low {subtype: "success", error: true, turns: 1, cost: 0, denials: 0}
        => billing "Credit balance is too low" retry_at=- session=5e55a0e0-0000-4000-8000-000000000001
    "#]],
    );
}

#[test]
fn overloaded() {
    check(
        "claude/529",
        ONE,
        expect![[r#"
        init        init              Claude Code 2.1.197 · model claude-opus-4-8[1m] · 24 tools · acceptEdits · session 5e55a0e0-0000-4000-8000-000000000001
        error       api_error         API Error: 529 Overloaded. This is a server-side issue, usually temporary — try again in a moment. If it persists, check… {error: "server_error"}
        result      result            error: API Error: 529 Overloaded. This is a server-side issue, usually temporary — try again in a moment. If it persists… {subtype: "success", error: true, turns: 1, cost: 0, denials: 0}
        => server_error "API Error: 529 Overloaded. This is a server-side issue, usually temporary — try again in a moment. If it persists, check your inference gateway (127.0.0.1:4000)." retry_at=- session=5e55a0e0-0000-4000-8000-000000000001
    "#]],
    );
}

#[test]
fn internal_error() {
    check(
        "claude/500",
        ONE,
        expect![[r#"
        init        init              Claude Code 2.1.197 · model claude-opus-4-8[1m] · 24 tools · acceptEdits · session 5e55a0e0-0000-4000-8000-000000000001
        error       api_error         API Error: 500 Internal server error. This is a server-side issue, usually temporary — try again in a moment. If it pers… {error: "server_error"}
        result      result            error: API Error: 500 Internal server error. This is a server-side issue, usually temporary — try again in a moment. If … {subtype: "success", error: true, turns: 1, cost: 0, denials: 0}
        => server_error "API Error: 500 Internal server error. This is a server-side issue, usually temporary — try again in a moment. If it persists, check your inference gateway (127.0.0.1:4000)." retry_at=- session=5e55a0e0-0000-4000-8000-000000000001
    "#]],
    );
}

#[test]
fn unreachable_api() {
    check(
        "claude/unreachable",
        ONE,
        expect![[r#"
        init        init              Claude Code 2.1.197 · model claude-opus-4-8[1m] · 24 tools · acceptEdits · session 5e55a0e0-0000-4000-8000-000000000001
        error       api_error         API Error: Unable to connect to API (ConnectionRefused) {error: "server_error"}
        result      result            error: API Error: Unable to connect to API (ConnectionRefused) {subtype: "success", error: true, turns: 1, cost: 0, denials: 0}
        => server_error "API Error: Unable to connect to API (ConnectionRefused)" retry_at=- session=5e55a0e0-0000-4000-8000-000000000001
    "#]],
    );
}

/// Feeds `line` as the runner would after cutting it into pieces of at most `size` bytes.
fn parse_in_pieces(parser: &mut Box<dyn LineParser>, line: &str, size: usize) -> Vec<Parsed> {
    let mut out = Vec::new();
    let mut rest = line;
    while rest.len() > size {
        let mut cut = size;
        while !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        out.extend(parser.parse(Stream::Stdout, &rest[..cut], true));
        rest = &rest[cut..];
    }
    out.extend(parser.parse(Stream::Stdout, rest, false));
    out
}

#[test]
fn lines_cut_by_the_runner_parse_as_if_whole() {
    let text = std::fs::read_to_string(format!(
        "{}/tests/fixtures/claude/several_tools.jsonl",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("fixture");
    let (mut whole, mut cut) = (claude_parser(), claude_parser());
    for line in text.lines() {
        let a = whole.parse(Stream::Stdout, line, false);
        let b = parse_in_pieces(&mut cut, line, 37);
        assert_eq!(a, b, "{line}");
    }
}

#[test]
fn lines_over_the_parse_limit_are_kept_raw_and_whole() {
    let content = "x".repeat(MAX_JSON_LINE + 1000);
    let line = json!({
        "type": "user",
        "message": {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": content}]},
    })
    .to_string();
    let mut p = claude_parser();
    let entries = parse_in_pieces(&mut p, &line, 1024 * 1024);
    assert_eq!(entries[0].kind, LogKind::Error);
    assert!(entries[0].text.contains("longer than 8 MiB"), "{}", entries[0].text);
    let raw: String = entries[1..].iter().map(|e| e.text.as_str()).collect();
    assert_eq!(raw, line, "nothing is lost");
    assert!(entries[1..].iter().all(|e| e.kind == LogKind::Raw));
    assert_eq!(
        entries.last().and_then(|e| e.data.clone()),
        Some(json!({"event": "raw"})),
        "the last piece ends it"
    );
    // The next line is parsed as usual, and a run without a result says why it failed.
    let after = p.parse(
        Stream::Stdout,
        r#"{"type":"assistant","message":{"content":[{"type":"text","text":"hi"}]}}"#,
        false,
    );
    assert_eq!(after[0].kind, LogKind::Assistant);
    let outcome = p.outcome(ExitInfo { code: Some(0), signal: None, stopped: false });
    assert_eq!(outcome.status, RunStatus::Failed);
    assert!(outcome.error.unwrap_or_default().contains("1 line(s) longer than 8 MiB"));
}

#[test]
fn big_tool_results_are_folded_and_bounded() {
    let content: String = (0..200_000).map(|i| format!("line {i}\n")).collect();
    let line = json!({
        "type": "user",
        "message": {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": content}]},
    })
    .to_string();
    let mut p = claude_parser();
    let entries = parse_in_pieces(&mut p, &line, 1024 * 1024);
    assert_eq!(entries.len(), 1);
    let e = &entries[0];
    assert_eq!(e.kind, LogKind::ToolResult);
    assert!(e.text.ends_with("… 199980 more lines"), "{}", &e.text[e.text.len() - 40..]);
    let data = e.data.as_ref().expect("data");
    assert_eq!(data["folded"], json!(true));
    assert_eq!(data["content_truncated"], json!(true));
    assert_eq!(data["bytes"], json!(content.len()));
    assert!(data["content"].as_str().expect("content").len() <= 64 * 1024);
}

#[test]
fn anything_unknown_is_kept_raw() {
    let mut p = claude_parser();
    let mut entries = Vec::new();
    for line in [
        r#"{"type":"brand_new_event","x":1}"#,
        r#"{"type":"system","subtype":"something_new"}"#,
        r#"{"type":"assistant","message":{"content":[{"type":"hologram","data":"…"}]}}"#,
        r#"[1,2,3]"#,
        "plain text",
        "",
    ] {
        entries.extend(p.parse(Stream::Stdout, line, false));
    }
    entries.extend(p.parse(Stream::Stderr, "a warning", false));
    expect![[r#"
        raw         raw               {"type":"brand_new_event","x":1} {type: "brand_new_event"}
        raw         raw               {"type":"system","subtype":"something_new"} {type: "system"}
        raw         raw               {"data":"…","type":"hologram"} {type: "assistant"}
        raw         raw               [1,2,3]
        raw         raw               plain text
        raw         raw               
        stderr      -                 a warning
    "#]]
    .assert_eq(&render(&entries));
}

#[test]
fn codex_text_and_reasoning() {
    check(
        "codex/text",
        OK,
        expect![[r#"
            init        init              Codex · thread 5e55a0e0-0000-4000-8000-000000000001
            system      turn_started      turn started
            thinking    thinking          A greeting is enough.
            assistant   text              Hello! How can I help?
            result      result            done · 12 tokens in, 6 out {error: false}
            => succeeded "" retry_at=- session=5e55a0e0-0000-4000-8000-000000000001
        "#]],
    );
}

#[test]
fn codex_writes_a_file() {
    check(
        "codex/write",
        OK,
        expect![[r#"
            init        init              Codex · thread 5e55a0e0-0000-4000-8000-000000000001
            system      turn_started      turn started
            assistant   text              I'll create the file.
            tool_use    tool_use          Add /work/project/src/hello.rs {name: "apply_patch"}
            tool_result tool_result       added /work/project/src/hello.rs {tool: "apply_patch", error: false, folded: false, lines: 1}
            assistant   text              Created src/hello.rs.
            result      result            done · 24 tokens in, 12 out {error: false}
            => succeeded "" retry_at=- session=5e55a0e0-0000-4000-8000-000000000001
        "#]],
    );
}

#[test]
fn codex_runs_commands_one_failing() {
    check(
        "codex/shell",
        OK,
        expect![[r#"
            init        init              Codex · thread 5e55a0e0-0000-4000-8000-000000000001
            system      turn_started      turn started
            tool_use    tool_use          Shell: seq 1 40 {name: "shell"}
            tool_result tool_result       1⏎2⏎3⏎4⏎5⏎6⏎7⏎8⏎9⏎10⏎11⏎12⏎13⏎14⏎15⏎16⏎17⏎18⏎19⏎20⏎… 20 more lines {tool: "shell", error: false, folded: true, lines: 40}
            tool_use    tool_use          Shell: cat missing.txt {name: "shell"}
            tool_result tool_result       cat: missing.txt: No such file or directory {tool: "shell", error: true, folded: false, lines: 1}
            assistant   text              Counted; missing.txt does not exist.
            result      result            done · 36 tokens in, 18 out {error: false}
            => succeeded "" retry_at=- session=5e55a0e0-0000-4000-8000-000000000001
        "#]],
    );
}

#[test]
fn codex_without_a_key() {
    check(
        "codex/no_key",
        ONE,
        expect![[r#"
            init        init              Codex · thread 5e55a0e0-0000-4000-8000-000000000001
            system      turn_started      turn started
            error       error             Missing environment variable: `OPENAI_API_KEY`.
            result      result            error: Missing environment variable: `OPENAI_API_KEY`. {error: true}
            => auth_required "Missing environment variable: `OPENAI_API_KEY`." retry_at=- session=5e55a0e0-0000-4000-8000-000000000001
        "#]],
    );
}

#[test]
fn codex_invalid_key() {
    check(
        "codex/401",
        ONE,
        expect![[r#"
            init        init              Codex · thread 5e55a0e0-0000-4000-8000-000000000001
            system      turn_started      turn started
            error       error             unexpected status 401 Unauthorized: Incorrect API key provided: sk-TEST****. You can find your API key at https://platfo…
            result      result            error: unexpected status 401 Unauthorized: Incorrect API key provided: sk-TEST****. You can find your API key at https:/… {error: true}
            => auth_required "unexpected status 401 Unauthorized: Incorrect API key provided: sk-TEST****. You can find your API key at https://platform.openai.com/account/api-keys., url: http://127.0.0.1:4000/responses, request id: req_mock" retry_at=- session=5e55a0e0-0000-4000-8000-000000000001
        "#]],
    );
}

#[test]
fn codex_usage_limit_with_its_reset_time() {
    check(
        "codex/usage_limit",
        ONE,
        expect![[r#"
            init        init              Codex · thread 5e55a0e0-0000-4000-8000-000000000001
            system      turn_started      turn started
            error       error             You’ve hit your usage limit. Upgrade to Pro (https://chatgpt.com/explore/pro), visit https://chatgpt.com/settings/usage …
            result      result            error: You’ve hit your usage limit. Upgrade to Pro (https://chatgpt.com/explore/pro), visit https://chatgpt.com/settings… {error: true}
            => quota_exceeded "You’ve hit your usage limit. Upgrade to Pro (https://chatgpt.com/explore/pro), visit https://chatgpt.com/settings/usage to purchase more credits or try again at Mar 17th, 2030 5:46 PM." retry_at=2030-03-17T17:46:00+00:00 session=5e55a0e0-0000-4000-8000-000000000001
        "#]],
    );
}

#[test]
fn codex_rate_limit() {
    check(
        "codex/429",
        ONE,
        expect![[r#"
            init        init              Codex · thread 5e55a0e0-0000-4000-8000-000000000001
            system      turn_started      turn started
            error       error             exceeded retry limit, last status: 429 Too Many Requests, request id: req_mock
            result      result            error: exceeded retry limit, last status: 429 Too Many Requests, request id: req_mock {error: true}
            => quota_exceeded "exceeded retry limit, last status: 429 Too Many Requests, request id: req_mock" retry_at=- session=5e55a0e0-0000-4000-8000-000000000001
        "#]],
    );
}

#[test]
fn codex_insufficient_quota_is_billing() {
    check(
        "codex/insufficient_quota",
        ONE,
        expect![[r#"
            init        init              Codex · thread 5e55a0e0-0000-4000-8000-000000000001
            system      turn_started      turn started
            error       error             Quota exceeded. Check your plan and billing details.
            result      result            error: Quota exceeded. Check your plan and billing details. {error: true}
            => billing "Quota exceeded. Check your plan and billing details." retry_at=- session=5e55a0e0-0000-4000-8000-000000000001
        "#]],
    );
}

#[test]
fn codex_server_error() {
    check(
        "codex/500",
        ONE,
        expect![[r#"
            init        init              Codex · thread 5e55a0e0-0000-4000-8000-000000000001
            system      turn_started      turn started
            error       error             We’re currently experiencing high demand, which may cause temporary errors.
            result      result            error: We’re currently experiencing high demand, which may cause temporary errors. {error: true}
            => server_error "We’re currently experiencing high demand, which may cause temporary errors." retry_at=- session=5e55a0e0-0000-4000-8000-000000000001
        "#]],
    );
}

#[test]
fn gemini_text() {
    check(
        "gemini/text",
        OK,
        expect![[r#"
            init        init              Gemini CLI · model gemini-2.5-flash · session 5e55a0e0-0000-4000-8000-000000000001
            system      user_text         please do the task
            assistant   text              Hello! How can I help?
            result      result            done · 0 tool calls · 12 tokens in, 6 out · 1.2 s {error: false}
            => succeeded "" retry_at=- session=5e55a0e0-0000-4000-8000-000000000001
        "#]],
    );
}

#[test]
fn gemini_writes_a_file() {
    check(
        "gemini/write",
        OK,
        expect![[r#"
            init        init              Gemini CLI · model gemini-2.5-flash · session 5e55a0e0-0000-4000-8000-000000000001
            system      user_text         please do the task
            assistant   text              I'll create the file.
            tool_use    tool_use          Write src/hello.rs {name: "write_file"}
            tool_result tool_result       success {tool: "write_file", error: false, folded: false, lines: 1}
            assistant   text              Created src/hello.rs.
            result      result            done · 1 tool calls · 24 tokens in, 12 out · 1.2 s {error: false}
            => succeeded "" retry_at=- session=5e55a0e0-0000-4000-8000-000000000001
        "#]],
    );
}

#[test]
fn gemini_runs_a_command_and_an_unknown_tool() {
    check(
        "gemini/shell",
        OK,
        expect![[r#"
            init        init              Gemini CLI · model gemini-2.5-flash · session 5e55a0e0-0000-4000-8000-000000000001
            system      user_text         please do the task
            tool_use    tool_use          Shell: seq 1 40 {name: "run_shell_command"}
            tool_result tool_result       1⏎2⏎3⏎4⏎5⏎6⏎7⏎8⏎9⏎10⏎11⏎12⏎13⏎14⏎15⏎16⏎17⏎18⏎19⏎20⏎… 20 more lines {tool: "run_shell_command", error: false, folded: true, lines: 40}
            tool_use    tool_use          no_such_tool: y {name: "no_such_tool"}
            tool_result tool_result       Tool "no_such_tool" not found. Did you mean one of: "write_todos", "update_topic", "list_directory"? {tool: "no_such_tool", error: true, folded: false, lines: 1}
            assistant   text              Counted.
            result      result            done · 2 tool calls · 36 tokens in, 18 out · 1.2 s {error: false}
            => succeeded "" retry_at=- session=5e55a0e0-0000-4000-8000-000000000001
        "#]],
    );
}

#[test]
fn gemini_turn_limit() {
    check(
        "gemini/max_turns",
        ExitInfo { code: Some(53), signal: None, stopped: false },
        expect![[r#"
            init        init              Gemini CLI · model gemini-2.5-flash · session 5e55a0e0-0000-4000-8000-000000000001
            system      user_text         please do the task
            tool_use    tool_use          Shell: echo 1 {name: "run_shell_command"}
            tool_result tool_result       1 {tool: "run_shell_command", error: false, folded: false, lines: 1}
            result      result            error: max session turns: Reached max session turns for this session. Increase the number of turns by specifying maxSess… {error: true}
            => max_turns "max session turns: Reached max session turns for this session. Increase the number of turns by specifying maxSessionTurns in settings.json." retry_at=- session=5e55a0e0-0000-4000-8000-000000000001
        "#]],
    );
}

#[test]
fn gemini_invalid_key() {
    check(
        "gemini/401",
        ExitInfo { code: Some(144), signal: None, stopped: false },
        expect![[r#"
            init        init              Gemini CLI · model gemini-2.5-flash · session 5e55a0e0-0000-4000-8000-000000000001
            system      user_text         please do the task
            result      result            error: [API Error: {"error":{"code":400,"details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","domain":"googlea… {error: true}
            => auth_required "API error 400: API key not valid. Please pass a valid API key." retry_at=- session=5e55a0e0-0000-4000-8000-000000000001
        "#]],
    );
}

#[test]
fn gemini_daily_quota() {
    check(
        "gemini/daily_quota",
        ExitInfo { code: Some(173), signal: None, stopped: false },
        expect![[r#"
            init        init              Gemini CLI · model gemini-2.5-flash · session 5e55a0e0-0000-4000-8000-000000000001
            system      user_text         please do the task
            result      result            error: [API Error: You have exhausted your daily quota on this model.]… {error: true}
            => quota_exceeded "[API Error: You have exhausted your daily quota on this model.]\nPlease wait and try again later. To increase your limits, request a quota increase through AI Studio, or switch to another /auth method" retry_at=- session=5e55a0e0-0000-4000-8000-000000000001
        "#]],
    );
}

#[test]
fn gemini_rate_limit() {
    check(
        "gemini/429",
        ExitInfo { code: Some(173), signal: None, stopped: false },
        expect![[r#"
            init        init              Gemini CLI · model gemini-2.5-flash · session 5e55a0e0-0000-4000-8000-000000000001
            system      user_text         please do the task
            result      result            error: [API Error: Resource has been exhausted (e.g. check quota).]… {error: true}
            => quota_exceeded "[API Error: Resource has been exhausted (e.g. check quota).]\nPlease wait and try again later. To increase your limits, request a quota increase through AI Studio, or switch to another /auth method" retry_at=- session=5e55a0e0-0000-4000-8000-000000000001
        "#]],
    );
}

#[test]
fn gemini_billing() {
    check(
        "gemini/billing",
        ExitInfo { code: Some(147), signal: None, stopped: false },
        expect![[r#"
            init        init              Gemini CLI · model gemini-2.5-flash · session 5e55a0e0-0000-4000-8000-000000000001
            system      user_text         please do the task
            result      result            error: [API Error: {"error":{"code":403,"details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","domain":"googlea… {error: true}
            => billing "API error 403: This API method requires billing to be enabled." retry_at=- session=5e55a0e0-0000-4000-8000-000000000001
        "#]],
    );
}

#[test]
fn gemini_overloaded() {
    check(
        "gemini/503",
        ExitInfo { code: Some(247), signal: None, stopped: false },
        expect![[r#"
            init        init              Gemini CLI · model gemini-2.5-flash · session 5e55a0e0-0000-4000-8000-000000000001
            system      user_text         please do the task
            result      result            error: [API Error: The model is overloaded. Please try again later.] {error: true}
            => server_error "[API Error: The model is overloaded. Please try again later.]" retry_at=- session=5e55a0e0-0000-4000-8000-000000000001
        "#]],
    );
}
