//! Confinement on a real team server, tried as a member would attack it: the member's
//! `custom` command and the real Claude Code CLI's Bash tool try to read the server's key
//! file and database, the admin's project, the admin's live run's home, `/etc/shadow` and
//! the server's environment, to write outside their worktree and to point Taskyard's own
//! git work at another repository. All of it fails, no real credential reaches the agent,
//! and ordinary work (write, commit, diff, merge) still works inside the sandbox.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;
use common::{Api, ServerProcess, eventually, git};
use reqwest::Method;
use serde_json::{Value, json};
use taskyard_test_support::attacks::{self, verdicts};
use taskyard_test_support::mock_api::{Dialect, MockApi, Reply, Scenario};

const CANARY_ANTHROPIC: &str = "sk-ant-api03-TEST-canary-confinement-00000000000000";
const CANARY_OAUTH: &str = "sk-ant-oat01-TEST-canary-confinement-0000000000000000000";
const CANARY_GITHUB: &str = "ghp_TESTcanaryConfinement0000000000000000";
const ADMIN_SECRET: &str = "admin-run-notes-TEST";

/// The attacks, as shell tests run from the worktree: each prints `OPEN <name>` when it got
/// through, `DENIED <name>` otherwise.
fn attack_script(t: &Targets) -> String {
    let data = t.data.display();
    let git_dir = t.member_repo.join(".git");
    let reads = [
        ("key-file", format!("{data}/fernet.key")),
        ("database", format!("{data}/taskyard.db")),
        ("admin-project", format!("{}/SECRET.md", t.admin_repo.display())),
        ("admin-run-home", format!("{}/notes", t.admin_home.display())),
        ("shadow", "/etc/shadow".into()),
        ("server-environ", format!("/proc/{}/environ", t.server_pid)),
        ("own-project-working-tree", format!("{}/README.md", t.member_repo.display())),
    ];
    let writes = [
        ("write-data-dir", format!("{data}/planted")),
        ("write-admin-project", format!("{}/planted", t.admin_repo.display())),
        ("write-hook", format!("{}/hooks/post-checkout", git_dir.display())),
        ("write-git-config", format!("{}/config", git_dir.display())),
        ("plant-commondir", format!("{}/commondir", git_dir.display())),
        ("write-alternates", format!("{}/objects/info/alternates", git_dir.display())),
        ("write-worktree-link", ".git".into()),
        ("write-root", "/planted".into()),
    ];
    let mut script = attacks::script(&reads, &writes);
    script += &attacks::verdict("signal-server", &format!("kill -0 {} 2>/dev/null", t.server_pid));
    script
}

/// Where the attacks aim.
struct Targets {
    data: PathBuf,
    admin_repo: PathBuf,
    member_repo: PathBuf,
    admin_home: PathBuf,
    server_pid: u32,
}

const ATTACKS: usize = 18;

/// Verdicts of attacks that got through inside the sandbox. Writes to folders under the
/// test's temporary folder land, if anywhere, in the sandbox's private `/tmp` (where the
/// worktree's parents are made as mount points): those are judged from outside instead.
fn open_attacks(seen: &[String]) -> Vec<&String> {
    seen.iter()
        .filter(|v| v.starts_with("OPEN") && *v != "OPEN write-data-dir" && *v != "OPEN write-admin-project")
        .collect()
}

fn as_api(server: &ServerProcess, token: &str) -> Api {
    Api { http: reqwest::Client::new(), base: server.base.clone(), token: token.to_owned() }
}

async fn put(api: &Api, path: &str, body: Value) -> Value {
    let (status, answer) = api.send(Method::PUT, path, Some(body)).await.expect("PUT");
    assert!(status < 300, "PUT {path}: {status} {answer}");
    answer
}

async fn session(server: &ServerProcess, path: &str, body: Value) -> String {
    let api = as_api(server, "");
    let answer = api.post(path, body).await;
    answer["access_token"].as_str().expect("access token").to_owned()
}

fn repo_with(at: &Path, file: &str, text: &str) {
    std::fs::create_dir_all(at).expect("mkdir");
    git(at, &["init", "-q", "-b", "main"]);
    std::fs::write(at.join(file), text).expect("write");
    git(at, &["add", "."]);
    git(at, &["commit", "-q", "-m", "first"]);
}

/// The run once it ended, or waits for a credential or quota (so a failing test shows why
/// instead of timing out).
async fn finished(api: &Api, run: &str) -> Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    loop {
        let state = api.get(&format!("/api/runs/{run}")).await;
        if matches!(
            state["status"].as_str(),
            Some("succeeded" | "failed" | "cancelled" | "waiting_auth" | "waiting_quota")
        ) {
            return state;
        }
        assert!(std::time::Instant::now() < deadline, "the run did not end: {state}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Every log entry of `run`, text and structured data as one text.
async fn log_text(api: &Api, run: &str) -> String {
    let page = api.get(&format!("/api/runs/{run}/logs?limit=1000")).await;
    page["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| format!("{}\n{}\n", e["text"].as_str().unwrap_or(""), e["data"]))
        .collect()
}

async fn start_task(api: &Api, project: &str, agent: &str, config: Value) -> String {
    let task = api
        .post(
            &format!("/api/projects/{project}/tasks"),
            json!({"title": "look around", "description": "please", "agent": agent, "agent_config": config}),
        )
        .await;
    let run = api.post(&format!("/api/tasks/{}/runs", task["id"].as_str().expect("id")), json!({})).await;
    run["id"].as_str().expect("run id").to_owned()
}

fn assert_no_canary(what: &str, text: &str) {
    let b64 = base64::engine::general_purpose::STANDARD;
    for canary in [CANARY_ANTHROPIC, CANARY_OAUTH, CANARY_GITHUB, ADMIN_SECRET] {
        assert!(!text.contains(canary), "{what} holds a secret");
        assert!(!text.contains(&b64.encode(canary)), "{what} holds a secret, base64-encoded");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_members_runs_reach_nothing_but_their_own_worktree() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).expect("mkdir");
    let admin_repo = dir.path().join("admin-repo");
    repo_with(&admin_repo, "SECRET.md", "the admin's project\n");
    let root = dir.path().join("projects");
    let member_repo = root.join("mine");
    repo_with(&member_repo, "README.md", "# mine\n");

    // The model API the server's agents use, and the real Claude Code CLI on the server's
    // PATH, as the image has them.
    let mock = MockApi::start(Dialect::Anthropic).await.expect("mock");
    let upstream = mock.scenario("attack", Scenario::text("not yet"));
    let claude_bin = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.tools/claude-code/node_modules/.bin");
    assert!(claude_bin.join("claude").exists(), "run `script/setup --test` to install the CLIs");
    let path = format!("{}:{}", claude_bin.display(), std::env::var("PATH").unwrap_or_default());
    let server = ServerProcess::start_with_env(
        "team",
        &data,
        None,
        &["--auth", "team"],
        &[
            ("PATH", &path),
            ("TASKYARD_JWT_SECRET", "confinement-test-signing-key-0123456789abcdef"),
            ("ANTHROPIC_BASE_URL", &upstream),
            ("ANTHROPIC_API_KEY", CANARY_ANTHROPIC),
            ("CLAUDE_CODE_OAUTH_TOKEN", CANARY_OAUTH),
        ],
    );
    let health: Value =
        reqwest::get(format!("{}/health", server.base)).await.expect("health").json().await.unwrap();
    assert_eq!(health["sandbox"], "required", "a team server confines runs by default: {health}");
    assert_eq!(health["confined"], true, "{health}");

    // The admin: the first account. Members may use Claude Code and `custom`, and add
    // projects from one folder.
    let admin = session(
        &server,
        "/api/auth/register",
        json!({"email": "admin@example.com", "name": "Admin", "password": "a long admin password"}),
    )
    .await;
    let admin = as_api(&server, &admin);
    let mut security = admin.get("/api/settings/security").await;
    security["member_agents"] = json!(["claude", "custom"]);
    security["project_root"] = json!(root.display().to_string());
    put(&admin, "/api/settings/security", security).await;
    put(&admin, "/api/credentials/global/GITHUB_TOKEN", json!({"value": CANARY_GITHUB})).await;
    admin
        .post(
            "/api/admin/users",
            json!({"email": "member@example.com", "name": "Member", "password": "a long member password"}),
        )
        .await;
    let admin_project = admin.post("/api/projects", json!({"path": admin_repo.display().to_string()})).await;
    let admin_project = admin_project["id"].as_str().expect("id").to_owned();
    // The admin's own run, live while the member attacks, with notes in its home.
    let admin_run = start_task(
        &admin,
        &admin_project,
        "custom",
        json!({"command": format!("echo {ADMIN_SECRET} > \"$HOME/notes\"; echo READY; sleep 120")}),
    )
    .await;
    eventually(Duration::from_secs(60), "the admin's run to be ready", || {
        let (admin, run) = (admin.clone(), admin_run.clone());
        async move { log_text(&admin, &run).await.lines().any(|l| l == "READY") }
    })
    .await;

    let member = session(
        &server,
        "/api/auth/login",
        json!({"email": "member@example.com", "password": "a long member password"}),
    )
    .await;
    let member = as_api(&server, &member);
    let project = member.post("/api/projects", json!({"path": member_repo.display().to_string()})).await;
    let project = project["id"].as_str().expect("id").to_owned();
    let targets = Targets {
        data: data.clone(),
        admin_repo: admin_repo.clone(),
        member_repo: member_repo.clone(),
        admin_home: data.join("homes").join(&admin_run),
        server_pid: server.child.id(),
    };
    assert!(targets.admin_home.join("notes").exists(), "the admin's run keeps its notes there");
    let attacks = attack_script(&targets);

    // 1. A `custom` command: every attack fails, the environment holds no real credential,
    //    and ordinary work lands on the task's branch.
    let script = format!(
        "{attacks}env\n\
         echo work > work.txt && git add work.txt && git commit -qm work && echo COMMITTED\n"
    );
    let run = start_task(&member, &project, "custom", json!({ "command": script })).await;
    let ended = finished(&member, &run).await;
    let text = log_text(&member, &run).await;
    assert_eq!(ended["status"], "succeeded", "{ended}\n{text}");
    let seen = verdicts(&text);
    assert_eq!(seen.len(), ATTACKS, "every attack reported: {seen:#?}");
    assert!(open_attacks(&seen).is_empty(), "attacks that got through: {seen:#?}");
    assert!(text.contains("confined: bubblewrap sandbox"), "{text}");
    assert!(text.lines().any(|l| l == "COMMITTED"), "git works inside: {text}");
    assert!(
        text.lines().any(|l| l.starts_with("ANTHROPIC_API_KEY=") && l.contains("-taskyard-placeholder-")),
        "the agent holds a placeholder: {text}"
    );
    assert!(!text.contains("GITHUB_TOKEN="), "the forge token reaches agents only where a project opts in");
    assert_no_canary("the custom run's log", &text);
    assert!(!data.join("planted").exists() && !admin_repo.join("planted").exists());
    assert!(
        !member_repo.join(".git/commondir").exists()
            && !member_repo.join(".git/hooks/post-checkout").exists()
    );

    let diff = member.get(&format!("/api/runs/{run}/diff")).await;
    let files: Vec<&str> =
        diff["files"].as_array().expect("files").iter().filter_map(|f| f["path"].as_str()).collect();
    assert_eq!(files, ["work.txt"], "{diff}");
    member.post(&format!("/api/runs/{run}/merge"), json!({})).await;
    let shown = std::process::Command::new("git")
        .args(["show", "main:work.txt"])
        .current_dir(&member_repo)
        .output()
        .expect("git show");
    assert_eq!(String::from_utf8_lossy(&shown.stdout), "work\n", "merged into the member's main");

    // 2. The real Claude Code CLI, whose Bash tool runs the same attacks.
    mock.scenario(
        "attack",
        Scenario::Script(vec![
            Reply::tool("Bash", json!({ "command": attacks, "description": "look around" })),
            Reply::text("done"),
        ]),
    );
    let run = start_task(&member, &project, "claude", json!({"api_retries": 0})).await;
    let ended = finished(&member, &run).await;
    let text = log_text(&member, &run).await;
    assert_eq!(ended["status"], "succeeded", "{ended}\n{text}");
    let seen = verdicts(&text.replace("\\n", "\n"));
    assert!(seen.iter().any(|v| v == "DENIED key-file"), "the Bash tool ran the attacks: {text}");
    assert!(open_attacks(&seen).is_empty(), "attacks that got through Claude's Bash tool: {seen:#?}");
    assert_no_canary("the Claude run's log", &text);
    let calls = mock.model_calls("attack");
    assert!(!calls.is_empty(), "Claude Code called the model");
    let bearer = format!("Bearer {CANARY_OAUTH}");
    assert!(
        calls.iter().all(|c| c.header("authorization") == Some(bearer.as_str())),
        "the proxy sent the real token upstream"
    );

    // Nothing reached the server's own files, and the admin's run was never disturbed.
    assert_eq!(std::fs::read_to_string(admin_repo.join("SECRET.md")).unwrap(), "the admin's project\n");
    let admin_state = admin.get(&format!("/api/runs/{admin_run}")).await;
    assert_eq!(admin_state["status"], "running", "{admin_state}");
    admin.post(&format!("/api/runs/{admin_run}/stop"), json!({})).await;
    finished(&admin, &admin_run).await;
    let server_log = std::fs::read_to_string(&server.log).unwrap_or_default();
    assert_no_canary("the server's log", &server_log);
}
