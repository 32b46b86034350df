//! Agent status with the real Claude Code CLI: found or not, its version, the credential a
//! run would use, and the test action against the mock API.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::json;
use taskyard_core::agent::status::{self, StatusOptions, TestResult};
use taskyard_test_support::mock_api::{ApiError, Dialect, MockApi, Scenario};

const API_KEY: &str = "sk-ant-api03-TEST-not-a-real-key-000000000000000000000000";
const OAUTH_TOKEN: &str = "sk-ant-oat01-TEST-not-a-real-token-00000000000000000000000";

fn tools_bin() -> PathBuf {
    common::tool("claude-code", "claude").parent().expect("bin").to_path_buf()
}

/// The agents' PATH: the three pinned CLIs, then the system.
fn agents_path() -> String {
    let bins: Vec<String> = [("claude-code", "claude"), ("codex", "codex"), ("gemini-cli", "gemini")]
        .iter()
        .map(|(folder, program)| common::tool(folder, program).parent().expect("bin").display().to_string())
        .collect();
    format!("{}:/usr/bin:/bin", bins.join(":"))
}

fn options(scratch: &Path, env: &[(&str, &str)]) -> StatusOptions {
    StatusOptions {
        path: agents_path(),
        env: env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        sources: BTreeMap::new(),
        settings: BTreeMap::new(),
        scratch: scratch.to_path_buf(),
        sandbox: Ok(None),
        hidden: Vec::new(),
        trust_task_paths: false,
        proxy: Ok(None),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_status_says_where_the_cli_is_and_which_credential_a_run_would_use() {
    let dir = tempfile::tempdir().expect("tmp");
    let opts =
        options(dir.path(), &[("ANTHROPIC_API_KEY", API_KEY), ("CLAUDE_CODE_OAUTH_TOKEN", OAUTH_TOKEN)]);
    let all = status::list(&opts).await;
    let names: Vec<&str> = all.iter().map(|a| a.name).collect();
    assert_eq!(names, ["claude", "codex", "gemini", "custom"]);
    let claude = all[0].cli.clone().expect("claude has a CLI");
    assert!(claude.found, "{:?}", claude.problem);
    assert_eq!(claude.path.as_deref(), Some(tools_bin().join("claude").display().to_string().as_str()));
    assert_eq!(claude.version.as_deref(), Some("2.1.197 (Claude Code)"));
    let credential = claude.credential.expect("credential");
    // The CLI prefers an API key to a subscription token; so does the status.
    assert_eq!((credential.variable, credential.source), ("ANTHROPIC_API_KEY", "environment"));
    assert_eq!(credential.preview, "sk-ant-api03-…0000");
    assert!(all[3].cli.is_none() && all[3].aliases == ["command"], "custom runs any command");
    let codex = all[1].cli.clone().expect("codex");
    assert_eq!(
        (codex.found, codex.version.as_deref()),
        (true, Some("codex-cli 0.169.0")),
        "{:?}",
        codex.problem
    );
    assert_eq!(codex.credential, None, "no OpenAI key is set");
    let gemini = all[2].cli.clone().expect("gemini");
    assert_eq!((gemini.found, gemini.version.as_deref()), (true, Some("0.61.0")), "{:?}", gemini.problem);

    assert_eq!(
        std::fs::read_dir(dir.path()).map(|d| d.count()).unwrap_or(0),
        0,
        "version checks leave nothing"
    );
    // The whole answer, as the server will serialize it (secrets never in it).
    let json = serde_json::to_value(&all[0]).expect("json");
    assert_eq!(json["cli"]["credential"]["preview"], "sk-ant-api03-…0000");
    assert!(!json.to_string().contains(API_KEY));

    // Not installed, and no credential: both said plainly.
    let mut bare = options(dir.path(), &[]);
    bare.path = "/usr/bin:/bin".into();
    let claude = status::get("claude", &bare).await.expect("claude").cli.expect("cli");
    assert!(!claude.found);
    assert_eq!(claude.problem.as_deref(), Some("`claude` was not found on the agents' PATH"));
    assert_eq!(claude.credential, None);
    // A token in the agent's own settings counts too, and says so.
    bare.settings.insert("claude".into(), json!({"env": {"CLAUDE_CODE_OAUTH_TOKEN": OAUTH_TOKEN}}));
    let claude = status::get("claude", &bare).await.expect("claude").cli.expect("cli");
    let credential = claude.credential.expect("credential");
    assert_eq!((credential.variable, credential.source), ("CLAUDE_CODE_OAUTH_TOKEN", "settings"));
    assert!(status::get("nope", &bare).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_test_action_reports_ok_auth_quota_and_unreachable() {
    let dir = tempfile::tempdir().expect("tmp");
    let mock = MockApi::start(Dialect::Anthropic).await.expect("mock");
    let refused = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        format!("http://{}", l.local_addr().expect("addr"))
    };
    let resets_at = chrono::Utc::now().timestamp() + 7200;
    let cases = [
        (
            mock.scenario("ok", Scenario::text("ok")),
            Some(("ANTHROPIC_API_KEY", API_KEY)),
            TestResult::Ok,
            "ok",
        ),
        (mock.scenario("ok", Scenario::text("ok")), None, TestResult::AuthRequired, "Not logged in"),
        (
            mock.scenario("401", Scenario::Fail(ApiError::Unauthorized)),
            Some(("ANTHROPIC_API_KEY", API_KEY)),
            TestResult::AuthRequired,
            "Invalid API key",
        ),
        (
            mock.scenario("limit", Scenario::Fail(ApiError::UsageLimit { resets_at })),
            Some(("CLAUDE_CODE_OAUTH_TOKEN", OAUTH_TOKEN)),
            TestResult::Quota,
            "You've hit your session limit",
        ),
        (
            mock.scenario("credit", Scenario::Fail(ApiError::CreditTooLow)),
            Some(("ANTHROPIC_API_KEY", API_KEY)),
            TestResult::Quota,
            "Credit balance is too low",
        ),
        (refused, Some(("ANTHROPIC_API_KEY", API_KEY)), TestResult::Unreachable, "Unable to connect to API"),
    ];
    for (url, credential, expect, needle) in cases {
        let mut opts = options(dir.path(), credential.as_slice());
        opts.settings.insert(
            "claude".into(),
            json!({"env": {"ANTHROPIC_BASE_URL": url, "CLAUDE_CODE_MAX_RETRIES": "0"}}),
        );
        let report = status::test("claude", &opts).await.expect("test");
        assert_eq!(report.result, expect, "{url}: {}", report.message);
        assert!(report.message.contains(needle), "{:?} should contain {needle:?}", report.message);
        assert_eq!(report.retry_at.is_some(), expect == TestResult::Quota && needle.contains("limit"));
    }
    // The tiny prompt went out with a turn limit, and nothing of the tests stayed behind.
    let call = mock.model_calls("ok").pop().expect("call");
    assert!(call.user_texts().iter().any(|t| t == status::TEST_PROMPT));
    assert_eq!(std::fs::read_dir(dir.path()).expect("scratch").count(), 0, "test homes are removed");

    let mut missing = options(dir.path(), &[]);
    missing.path = "/usr/bin:/bin".into();
    let report = status::test("claude", &missing).await.expect("test");
    assert_eq!(report.result, TestResult::NotFound, "{}", report.message);
    assert!(report.message.contains("`claude` was not found"), "{}", report.message);
    assert!(status::test("custom", &missing).await.is_err(), "custom has no CLI to test");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_test_action_works_for_codex_and_gemini_too() {
    use taskyard_test_support::mock_api::Dialect as D;
    let dir = tempfile::tempdir().expect("tmp");
    let openai = MockApi::start(D::OpenAi).await.expect("mock");
    let gemini = MockApi::start(D::Gemini).await.expect("mock");
    for (agent, settings, expect) in [
        (
            "codex",
            json!({"env": {"OPENAI_BASE_URL": openai.scenario("ok", Scenario::text("ok")), "OPENAI_API_KEY": "sk-proj-TEST-0000"}, "api_retries": 0}),
            TestResult::Ok,
        ),
        (
            "codex",
            json!({"env": {"OPENAI_BASE_URL": openai.scenario("401", Scenario::Fail(ApiError::Unauthorized)), "OPENAI_API_KEY": "sk-proj-TEST-0000"}, "api_retries": 0}),
            TestResult::AuthRequired,
        ),
        (
            "gemini",
            json!({"env": {"GOOGLE_GEMINI_BASE_URL": gemini.scenario("ok", Scenario::text("ok")), "GEMINI_API_KEY": "AIzaTEST0000"}, "api_retries": 0, "model": "gemini-2.5-flash"}),
            TestResult::Ok,
        ),
        (
            "gemini",
            json!({"env": {"GOOGLE_GEMINI_BASE_URL": gemini.scenario("quota", Scenario::Fail(ApiError::RateLimited)), "GEMINI_API_KEY": "AIzaTEST0000"}, "api_retries": 0, "model": "gemini-2.5-flash"}),
            TestResult::Quota,
        ),
    ] {
        let mut opts = options(dir.path(), &[]);
        opts.settings.insert(agent.into(), settings);
        let report = status::test(agent, &opts).await.expect("test");
        assert_eq!(report.result, expect, "{agent}: {}", report.message);
        if expect == TestResult::Ok {
            assert_eq!(report.message, "ok");
        }
    }
}

/// A stand-in for the CLI that reports, as its answer, what it could reach: the key file
/// beside the scratch folder, the real credential in its environment, a write outside.
const PROBE: &str = r#"#!/bin/sh
key=$(cat "$PROBE_SECRET" >/dev/null 2>&1 && echo leaked || echo denied)
real=$(env | grep -q 'not-a-real-key' && echo present || echo absent)
held=$(printf %s "$ANTHROPIC_API_KEY" | grep -q 'taskyard-placeholder' && echo placeholder || echo other)
wrote=$(touch "$PROBE_OUTSIDE" 2>/dev/null && echo wrote || echo refused)
text="key=$key real=$real held=$held write=$wrote"
printf '{"type":"assistant","message":{"content":[{"type":"text","text":"%s"}]},"session_id":"s"}\n' "$text"
printf '{"type":"result","subtype":"success","is_error":false,"result":"%s","session_id":"s"}\n' "$text"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_test_action_runs_as_a_run_would_confined_and_holding_only_a_placeholder() {
    use std::os::unix::fs::PermissionsExt as _;
    let data = tempfile::tempdir().expect("tmp");
    let outside = tempfile::tempdir().expect("tmp");
    let secret = data.path().join("fernet.key");
    std::fs::write(&secret, "server-key").expect("key");
    let probe = outside.path().join("claude-probe");
    std::fs::write(&probe, PROBE).expect("probe");
    std::fs::set_permissions(&probe, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let wrote_to = outside.path().join("written");

    // The probe is on the agents' PATH: a program elsewhere is not shown in the sandbox.
    let confined = |opts: &mut StatusOptions| {
        opts.path = format!("{}:{}", outside.path().display(), opts.path);
        opts.sandbox = Ok(Some(taskyard_core::sandbox::Bubblewrap::probe(&opts.path).expect("bubblewrap")));
        opts.hidden = vec![data.path().to_path_buf()];
    };
    let proxy = taskyard_core::proxy::CredentialProxy::start(Default::default()).await.expect("proxy");
    let mock = MockApi::start(Dialect::Anthropic).await.expect("mock");
    let base = mock.scenario("ok", Scenario::text("ok"));
    let credentials = [("ANTHROPIC_API_KEY", API_KEY), ("ANTHROPIC_BASE_URL", base.as_str())];

    let mut opts = options(&data.path().join("tmp"), &credentials);
    confined(&mut opts);
    opts.proxy = Ok(Some(proxy.clone()));
    opts.settings.insert(
        "claude".into(),
        json!({"program": probe, "env": {"PROBE_SECRET": secret, "PROBE_OUTSIDE": wrote_to}}),
    );
    let report = status::test("claude", &opts).await.expect("test");
    assert_eq!(report.result, TestResult::Ok, "{}", report.message);
    assert_eq!(report.message, "key=denied real=absent held=placeholder write=refused");
    assert!(!wrote_to.exists());
    assert_eq!(proxy.live_grants(), 0, "the test's placeholder died with it");

    // The real CLI, confined, answers through the proxy, which sent the real key upstream.
    let mut opts = options(&data.path().join("tmp"), &credentials);
    confined(&mut opts);
    opts.proxy = Ok(Some(proxy.clone()));
    opts.settings.insert("claude".into(), json!({"env": {"CLAUDE_CODE_MAX_RETRIES": "0"}}));
    let report = status::test("claude", &opts).await.expect("test");
    assert_eq!(report.result, TestResult::Ok, "{}", report.message);
    let call = mock.model_calls("ok").pop().expect("the mock was called");
    assert_eq!(call.header("x-api-key"), Some(API_KEY), "the proxy swapped the placeholder for the key");

    // Where runs must be confined and cannot be, the test is refused the same way.
    let mut opts = options(&data.path().join("tmp"), &credentials);
    opts.sandbox = Err("bubblewrap is not installed".into());
    let report = status::test("claude", &opts).await.expect("test");
    assert_eq!((report.result, report.message.as_str()), (TestResult::Failed, "bubblewrap is not installed"));
}
