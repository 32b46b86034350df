//! Secretless agents: a run never holds a real model credential. The credential proxy swaps
//! a per-run placeholder for the real value on the way to the upstream, a placeholder is
//! worthless once its run ended, and a credential printed in an encoded form is still
//! redacted from the log.

mod common;

use std::sync::Arc;

use base64::Engine as _;
use common::*;
use serde_json::{Value, json};
use taskyard_core::credentials::{Credentials, Tier, Vault};
use taskyard_core::model::*;
use taskyard_core::store::Store as _;
use taskyard_test_support::mock_api::{Dialect, MockApi, Scenario};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

const CANARY_OAUTH: &str = "sk-ant-oat01-TEST-canary-global-0000000000000000000000";
const CANARY_GITHUB: &str = "ghp_TESTcanaryGlobal000000000000000000000";
/// A credential with characters that URL encoding changes.
const CANARY_LINEAR: &str = "lin_TEST/canary+key=with spaces";

/// A runner whose server-side settings point Claude at `mock`'s `scenario` (the trusted
/// upstream), with the canaries stored in the global tier.
async fn secretless(scenario: Scenario) -> (Fixture, MockApi) {
    let upstream = MockApi::start(Dialect::Anthropic).await.expect("mock");
    let url = upstream.scenario("s", scenario);
    let credentials = Arc::new(Credentials::new(Vault::new(&[Vault::generate_key()]).expect("vault")));
    let k = credentials.clone();
    let f = fixture_configured(Dialect::Anthropic, move |c| {
        c.credentials = Some(k);
        c.agent_env.insert("ANTHROPIC_BASE_URL".into(), url);
    })
    .await;
    let store = f.runner.store();
    let canaries = [
        ("CLAUDE_CODE_OAUTH_TOKEN", CANARY_OAUTH),
        ("GITHUB_TOKEN", CANARY_GITHUB),
        ("LINEAR_API_KEY", CANARY_LINEAR),
    ];
    for (key, value) in canaries {
        let encrypted = credentials.vault().encrypt(value);
        store
            .put_credential(Tier::Global, uuid::Uuid::nil(), key, &encrypted, false, None)
            .await
            .expect("put");
    }
    credentials.reload(store).await.expect("reload");
    (f, upstream)
}

fn texts(logs: &[LogEntry]) -> String {
    logs.iter()
        .map(|e| format!("{}\n{}\n", e.text, e.data.as_ref().map(Value::to_string).unwrap_or_default()))
        .collect()
}

/// `GET <url>` over plain HTTP on loopback: the status code.
async fn status_of(url: &str, bearer: &str) -> u16 {
    let rest = url.strip_prefix("http://").expect("http");
    let (host, path) = rest.split_once('/').expect("path");
    let mut stream = tokio::net::TcpStream::connect(host).await.expect("connect");
    let request = format!(
        "POST /{path}/v1/messages HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {bearer}\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{{}}"
    );
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.expect("read");
    answer.split_whitespace().nth(1).and_then(|s| s.parse().ok()).expect("a status line")
}

#[tokio::test]
async fn an_agent_sees_placeholders_and_its_placeholder_dies_with_the_run() {
    let (f, _upstream) = secretless(Scenario::text("hi")).await;
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("TOKEN={CANARY_OAUTH}\n"));
    // The agent dumps its environment; the script itself knows a canary (as a repository
    // could) and prints it base64-encoded and URL-encoded.
    let script = "env | sort; echo ".to_owned()
        + &encoded
        + "; echo 'https://x.example/?t=lin_TEST%2Fcanary%2Bkey%3Dwith%20spaces'";
    let task = f.task("custom", "dump", json!({ "command": script })).await;
    let run = f.run(&task).await;
    assert_eq!(run.status, RunStatus::Succeeded, "{:?}", run.error);
    let logs = f.logs(run.id).await;
    let all = texts(&logs);
    assert!(!all.contains(CANARY_OAUTH), "the real token never reaches the agent or the log");
    assert!(!all.contains(&encoded[8..40]), "its base64 form is redacted");
    assert!(!all.contains("canary%2Bkey"), "a URL-encoded form is redacted: {all}");
    assert!(all.contains("https://x.example/?t=[redacted:LINEAR_API_KEY]"), "{all}");
    assert!(
        !all.contains(CANARY_GITHUB) && !all.contains("GITHUB_TOKEN="),
        "no forge token without opting in"
    );
    let var = |name: &str| {
        logs.iter()
            .find_map(|e| e.text.strip_prefix(&format!("{name}=")))
            .map(str::to_owned)
            .unwrap_or_default()
    };
    let placeholder = var("CLAUDE_CODE_OAUTH_TOKEN");
    assert!(placeholder.starts_with("sk-ant-oat01-taskyard-placeholder-"), "{placeholder}");
    let base = var("ANTHROPIC_BASE_URL");
    assert!(base.starts_with("http://127.0.0.1:"), "{base}");
    assert!(all.contains("GITHUB_TOKEN not given to the agent"), "the log says why");

    // The run has ended: its placeholder is worth nothing.
    assert_eq!(status_of(&base, &placeholder).await, 401);
    let proxy = f.runner.credential_proxy().await.expect("proxy");
    assert_eq!(proxy.live_grants(), 0);
}

#[tokio::test]
async fn claude_code_reaches_the_upstream_with_the_real_token_through_the_proxy() {
    let (f, upstream) = secretless(Scenario::text("hello from upstream")).await;
    let settings =
        merged(cli_settings(&tool("claude-code", "claude"), json!({})), json!({ "api_retries": 0 }));
    let task = f.task("claude", "hi", settings).await;
    let run = f.run(&task).await;
    assert_eq!(run.status, RunStatus::Succeeded, "{:?}", run.error);
    let call = upstream.model_calls("s").pop().expect("the upstream was called");
    assert_eq!(call.header("authorization"), Some(format!("Bearer {CANARY_OAUTH}").as_str()));
    let all = texts(&f.logs(run.id).await);
    assert!(all.contains("hello from upstream"), "the streamed answer came through: {all}");
    assert!(all.contains("as placeholders, swapped in by Taskyard's proxy: CLAUDE_CODE_OAUTH_TOKEN"));
}

#[tokio::test]
async fn a_task_naming_its_own_endpoint_never_gets_the_teams_token() {
    let (f, _upstream) = secretless(Scenario::text("hi")).await;
    let elsewhere = MockApi::start(Dialect::Anthropic).await.expect("mock");
    let url = elsewhere.scenario("grab", Scenario::text("thanks"));
    let settings = merged(
        cli_settings(&tool("claude-code", "claude"), json!({ "ANTHROPIC_BASE_URL": url })),
        json!({ "api_retries": 0 }),
    );
    let task = f.task("claude", "grab", settings).await;
    let run = f.run(&task).await;
    for call in elsewhere.requests() {
        let sent: String = call.headers.values().cloned().collect();
        assert!(!sent.contains(CANARY_OAUTH), "the team's token went to the task's endpoint");
    }
    assert_eq!(run.status, RunStatus::WaitingAuth, "without credentials: {:?}", run.error);
    let all = texts(&f.logs(run.id).await);
    assert!(all.contains("a base URL of its own: CLAUDE_CODE_OAUTH_TOKEN not given to it"), "{all}");
}

#[tokio::test]
async fn a_project_may_give_its_agents_the_forge_token() {
    let (f, _upstream) = secretless(Scenario::text("hi")).await;
    let profile = json!({"agent_forge_tokens": true}).to_string();
    f.runner.store().set_project_profile(f.project.id, &profile).await.expect("profile");
    let task = f.task("custom", "gh", json!({ "command": "test \"$GITHUB_TOKEN\" = '" .to_owned() + CANARY_GITHUB + "' && echo HAS-TOKEN" })).await;
    let run = f.run(&task).await;
    let logs = f.logs(run.id).await;
    assert!(logs.iter().any(|e| e.text == "HAS-TOKEN"), "{:#?}", logs);
}
