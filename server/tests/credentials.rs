//! The credential canary: a unique fake secret in each tier, an agent that echoes its
//! environment and commits the values into a file; the plaintext must appear nowhere Taskyard
//! keeps or shows it: the database's bytes, API answers, the log socket.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt as _;
use reqwest::StatusCode;
use serde_json::{Value, json};
use taskyard_core::auth::JwtKeys;
use taskyard_core::store::AnyStore;
use taskyard_server::http::{Mode, ServeOptions, TeamAuth, start};
use tokio_tungstenite::tungstenite::Message;

const GLOBAL: &str = "ghp_TESTcanaryGLOBAL0123456789abcdef";
const USER: &str = "lin_api_TESTcanaryUSER0123456789abcdef";
const PROJECT: &str = "pa-TESTcanaryPROJECT0123456789abcdef";
const SECRETS: [&str; 3] = [GLOBAL, USER, PROJECT];

fn assert_clean(what: &str, text: &str) {
    for secret in SECRETS {
        assert!(!text.contains(secret), "{what} contains a secret in plaintext");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_leaks_from_any_tier() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("t.db");
    let store = AnyStore::sqlite(&db).await.expect("sqlite");
    let keys = JwtKeys::new(b"credential-test-signing-key-0123456789", 900).expect("keys");
    let mode = Mode::Team { bind: [127, 0, 0, 1].into(), auth: Arc::new(TeamAuth::new(keys)) };
    let running = start(ServeOptions {
        port: 0,
        data_dir: dir.path().join("data"),
        store: store.clone(),
        mode,
        queue: Default::default(),
        sandbox: None,
        limits: Default::default(),
        startup: Default::default(),
    })
    .await
    .expect("start");
    let base = format!("http://{}", running.addr);
    let http = reqwest::Client::new();
    let call = |method: reqwest::Method, path: String, token: String, body: Option<Value>| {
        let req = http.request(method, format!("{base}{path}")).bearer_auth(token);
        let req = match body {
            Some(b) => req.json(&b),
            None => req,
        };
        async move {
            let res = req.send().await.expect("send");
            let status = res.status();
            let text = res.text().await.expect("text");
            (status, text)
        }
    };
    use reqwest::Method;
    let register = json!({"email": "admin@example.com", "name": "Admin", "password": "a long password"});
    let (status, session) =
        call(Method::POST, "/api/auth/register".into(), String::new(), Some(register)).await;
    assert_eq!(status, StatusCode::CREATED, "{session}");
    let token = serde_json::from_str::<Value>(&session).expect("json")["access_token"]
        .as_str()
        .expect("token")
        .to_owned();

    let repo = dir.path().join("repo");
    std::fs::create_dir_all(&repo).expect("mkdir");
    common::git(&repo, &["init", "-q", "-b", "main"]);
    common::git(&repo, &["commit", "-q", "--allow-empty", "-m", "first"]);
    let (_, project) = call(
        Method::POST,
        "/api/projects".into(),
        token.clone(),
        Some(json!({"path": repo.display().to_string()})),
    )
    .await;
    let pid = serde_json::from_str::<Value>(&project).expect("json")["id"].as_str().expect("id").to_owned();
    // This project gives its agents the forge token too, so a value of every tier reaches them.
    let project_id: taskyard_core::model::ProjectId = pid.parse().expect("project id");
    taskyard_core::store::Store::set_project_profile(&store, project_id, r#"{"agent_forge_tokens":true}"#)
        .await
        .expect("profile");

    // One secret per tier.
    for (path, value) in [
        ("/api/credentials/global/GITHUB_TOKEN".to_owned(), GLOBAL),
        ("/api/credentials/user/LINEAR_API_KEY".to_owned(), USER),
        (format!("/api/projects/{pid}/credentials/VOYAGE_API_KEY"), PROJECT),
    ] {
        let (status, body) =
            call(Method::PUT, path.clone(), token.clone(), Some(json!({"value": value}))).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        assert_clean(&format!("the answer to PUT {path}"), &body);
    }
    // A lock: a project cannot override a locked global value.
    call(
        Method::PUT,
        "/api/credentials/global/OPENAI_API_KEY".into(),
        token.clone(),
        Some(json!({"value": "sk-TESTlockedvalue000000000", "locked": true})),
    )
    .await;
    let (status, _) = call(
        Method::PUT,
        format!("/api/projects/{pid}/credentials/OPENAI_API_KEY"),
        token.clone(),
        Some(json!({"value": "sk-TESTprojectvalue0000000"})),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, err) = call(
        Method::PUT,
        "/api/credentials/global/NOT_KNOWN".into(),
        token.clone(),
        Some(json!({"value": "x-long-enough-value"})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
    let (status, _) = call(
        Method::PUT,
        "/api/credentials/global/GITHUB_TOKEN".into(),
        token.clone(),
        Some(json!({"value": ""})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "empty values are refused");

    // The effective set shows each value masked, with where it comes from.
    let (_, effective) =
        call(Method::GET, format!("/api/projects/{pid}/credentials/effective"), token.clone(), None).await;
    assert_clean("the effective set", &effective);
    let effective: Value = serde_json::from_str(&effective).expect("json");
    let tiers: Vec<(String, String)> = effective
        .as_array()
        .expect("list")
        .iter()
        .map(|e| (e["key"].as_str().unwrap_or("").to_owned(), e["tier"].as_str().unwrap_or("").to_owned()))
        .collect();
    for (key, tier) in [
        ("GITHUB_TOKEN", "global"),
        ("LINEAR_API_KEY", "user"),
        ("VOYAGE_API_KEY", "project"),
        ("OPENAI_API_KEY", "global"),
    ] {
        assert!(tiers.contains(&(key.to_owned(), tier.to_owned())), "{key} from {tier}: {tiers:?}");
    }

    // A failing agent whose last words quote a secret: the run's reason is redacted too.
    let task = json!({"title": "fail", "agent": "custom", "agent_config": {"command": "echo \"$GITHUB_TOKEN\"; exit 3"}});
    let (_, task) = call(Method::POST, format!("/api/projects/{pid}/tasks"), token.clone(), Some(task)).await;
    let failing = serde_json::from_str::<Value>(&task).expect("json")["id"].as_str().expect("id").to_owned();
    let (_, run) = call(Method::POST, format!("/api/tasks/{failing}/runs"), token.clone(), None).await;
    let failed_run =
        serde_json::from_str::<Value>(&run).expect("json")["id"].as_str().expect("id").to_owned();

    // The agent prints its environment and commits the values.
    let script = "env | sort; echo \"$GITHUB_TOKEN $LINEAR_API_KEY $VOYAGE_API_KEY\" > leak.txt; echo done";
    let task = json!({"title": "leak", "agent": "custom", "agent_config": {"command": script}});
    let (_, task) = call(Method::POST, format!("/api/projects/{pid}/tasks"), token.clone(), Some(task)).await;
    let tid = serde_json::from_str::<Value>(&task).expect("json")["id"].as_str().expect("id").to_owned();
    let (_, run) = call(Method::POST, format!("/api/tasks/{tid}/runs"), token.clone(), None).await;
    let rid = serde_json::from_str::<Value>(&run).expect("json")["id"].as_str().expect("id").to_owned();
    let url = format!("ws://{}/api/runs/{rid}/logs/ws?access_token={token}", running.addr);
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.expect("socket");
    let mut streamed = String::new();
    while let Some(Ok(msg)) = tokio::time::timeout(Duration::from_secs(60), ws.next()).await.expect("stalled")
    {
        match msg {
            Message::Text(t) => streamed.push_str(&t),
            Message::Close(_) => break,
            _ => {}
        }
    }
    assert!(streamed.contains("\"end\""), "the run ended: {streamed}");
    assert_clean("the log socket", &streamed);
    assert!(
        streamed.contains("[redacted:GITHUB_TOKEN]") && streamed.contains("[redacted:VOYAGE_API_KEY]"),
        "the values were there, redacted"
    );

    // The agent did get the values: they are in the file it committed.
    let (_, run) = call(Method::GET, format!("/api/runs/{rid}"), token.clone(), None).await;
    assert_clean("the run", &run);
    let run: Value = serde_json::from_str(&run).expect("json");
    assert_eq!(run["status"], "succeeded", "{run}");
    let leaked =
        std::fs::read_to_string(Path::new(run["worktree_path"].as_str().expect("worktree")).join("leak.txt"))
            .expect("file");
    assert_eq!(leaked.trim(), format!("{GLOBAL} {USER} {PROJECT}"));

    for path in [
        format!("/api/runs/{failed_run}"),
        format!("/api/runs/{failed_run}/logs?limit=5000"),
        format!("/api/runs/{rid}/logs?limit=5000"),
        format!("/api/runs/{rid}/diff"),
        format!("/api/tasks/{tid}/runs"),
        format!("/api/projects/{pid}/board"),
        format!("/api/projects/{pid}/credentials"),
        "/api/credentials/global".to_owned(),
        "/api/credentials/user".to_owned(),
        "/api/admin/audit".to_owned(),
    ] {
        let (status, body) = call(Method::GET, path.clone(), token.clone(), None).await;
        assert!(status.is_success(), "{path}: {status}");
        assert_clean(&path, &body);
    }
    let (_, diff) = call(Method::GET, format!("/api/runs/{rid}/diff"), token.clone(), None).await;
    assert!(diff.contains("[redacted:LINEAR_API_KEY]"), "the diff shows where a secret was: {diff}");

    running.stop().await.expect("stop");
    // The database's bytes (file and write-ahead log) hold no plaintext.
    for file in [db.clone(), db.with_extension("db-wal")] {
        if let Ok(bytes) = std::fs::read(&file) {
            assert_clean(&file.display().to_string(), &String::from_utf8_lossy(&bytes));
        }
    }
    let key_file = dir.path().join("data/fernet.key");
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&key_file).expect("key file").permissions(),
    );
    assert_eq!(mode & 0o777, 0o600, "the generated key is private");
}

const ENV_OAUTH: &str = "sk-ant-oat01-TESTcanaryENVIRONMENT0123456789";
const ENV_UNRESOLVED: &str = "sk-ant-TESTcanaryNOTRESOLVED0123456789";

/// The server's own log (stderr, at debug level) and its error bodies never show a credential,
/// and agents get exactly the resolved set: a credential variable of the server's environment
/// reaches them only through the global tier it is imported into.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_servers_log_and_error_bodies_hold_no_secret_and_agents_get_only_the_resolved_set() {
    use std::io::BufRead as _;
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let log_path = dir.path().join("server.log");
    let mut child = common::taskyard(&data)
        .env("TASKYARD_LOG", "debug,sqlx=info,hyper=info,hyper_util=info,h2=info")
        .env("CLAUDE_CODE_OAUTH_TOKEN", ENV_OAUTH)
        .env("ANTHROPIC_AUTH_TOKEN", ENV_UNRESOLVED)
        .args(["serve", "--port", "0"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::fs::File::create(&log_path).expect("log file"))
        .spawn()
        .expect("spawn taskyard serve");
    let stdout = child.stdout.take().expect("stdout");
    let url = tokio::task::spawn_blocking(move || {
        std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .find_map(|l| l.split("Open ").nth(1).map(str::to_owned))
    })
    .await
    .expect("join")
    .expect("the server printed its URL");
    let (base, token) = url.split_once("/?token=").expect("url with token");
    let (base, token) = (base.to_owned(), token.to_owned());
    let http = reqwest::Client::new();
    let call = |method: reqwest::Method, path: String, body: Option<String>| {
        let req = http.request(method, format!("{base}{path}")).bearer_auth(&token);
        let req = match body {
            Some(b) => req.header("content-type", "application/json").body(b),
            None => req,
        };
        async move {
            let res = req.send().await.expect("send");
            (res.status(), res.text().await.expect("text"))
        }
    };
    use reqwest::Method;
    let (status, body) = call(
        Method::PUT,
        "/api/credentials/global/GITHUB_TOKEN".into(),
        Some(json!({"value": GLOBAL}).to_string()),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Bad input that quotes a secret: the error says what is wrong without repeating it.
    for (method, path, body) in [
        (
            Method::PUT,
            "/api/credentials/global/GITHUB_TOKEN",
            format!(r#"{{"value": "x", "locked": "{GLOBAL}"}}"#),
        ),
        (Method::PUT, "/api/credentials/global/GITHUB_TOKEN", format!(r#"{{"value": "{GLOBAL}", "#)),
        (Method::PUT, "/api/credentials/global/NOT_A_KNOWN_NAME", json!({"value": GLOBAL}).to_string()),
        (Method::POST, "/api/projects", json!({"path": format!("/nowhere/{GLOBAL}")}).to_string()),
    ] {
        let (status, answer) = call(method, path.into(), Some(body)).await;
        assert!(status.is_client_error(), "{path}: {status} {answer}");
        assert!(answer.contains("message"), "a clear error: {answer}");
        assert_clean(&format!("the error from {path}"), &answer);
    }

    let repo = dir.path().join("repo");
    std::fs::create_dir_all(&repo).expect("mkdir");
    common::git(&repo, &["init", "-q", "-b", "main"]);
    common::git(&repo, &["commit", "-q", "--allow-empty", "-m", "first"]);
    let (status, project) = call(
        Method::POST,
        "/api/projects".into(),
        Some(json!({"path": repo.display().to_string()}).to_string()),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{project}");
    let pid = serde_json::from_str::<Value>(&project).expect("json")["id"].as_str().expect("id").to_owned();
    let script =
        "env | sort > env.txt; echo \"token $GITHUB_TOKEN\"; echo \"failing with $GITHUB_TOKEN\" >&2; exit 4";
    let task = json!({"title": "env", "agent": "custom", "agent_config": {"command": script}}).to_string();
    let (_, task) = call(Method::POST, format!("/api/projects/{pid}/tasks"), Some(task)).await;
    let tid = serde_json::from_str::<Value>(&task).expect("json")["id"].as_str().expect("id").to_owned();
    let (_, run) = call(Method::POST, format!("/api/tasks/{tid}/runs"), None).await;
    let rid = serde_json::from_str::<Value>(&run).expect("json")["id"].as_str().expect("id").to_owned();
    let run = loop {
        let (_, run) = call(Method::GET, format!("/api/runs/{rid}"), None).await;
        let run: Value = serde_json::from_str(&run).expect("json");
        if run["finished_at"].is_string() {
            break run;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(run["status"], "failed", "{run}");
    let env =
        std::fs::read_to_string(Path::new(run["worktree_path"].as_str().expect("worktree")).join("env.txt"))
            .expect("env.txt");
    let names: Vec<&str> = env.lines().filter_map(|l| l.split_once('=').map(|(k, _)| k)).collect();
    assert!(names.contains(&"CLAUDE_CODE_OAUTH_TOKEN"), "the resolved set arrives: {names:?}");
    assert!(!names.contains(&"GITHUB_TOKEN"), "a forge token only where the project opts in: {names:?}");
    assert!(
        env.contains("CLAUDE_CODE_OAUTH_TOKEN=sk-ant-oat01-taskyard-placeholder-")
            && !env.contains(ENV_OAUTH),
        "the server's own token arrives through the global tier it was imported into, as a placeholder"
    );
    assert!(!env.contains(ENV_UNRESOLVED), "a variable outside the resolved set never reaches an agent");
    let (_, effective) = call(Method::GET, format!("/api/projects/{pid}/credentials/effective"), None).await;
    assert!(effective.contains("CLAUDE_CODE_OAUTH_TOKEN") && !effective.contains(ENV_OAUTH), "{effective}");

    // SIGTERM: a graceful stop, so everything the server meant to log is written.
    let _ = std::process::Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    let exit = tokio::task::spawn_blocking(move || child.wait()).await.expect("join").expect("wait");
    assert!(exit.success(), "{exit}");
    let log = std::fs::read_to_string(&log_path).expect("log");
    assert!(log.contains("DEBUG") && log.contains("request"), "the log was at debug level: {log}");
    assert!(log.contains("imported credentials from the environment"), "{log}");
    assert_clean("the server's log", &log);
    assert!(!log.contains(ENV_OAUTH), "the server's log holds the imported token");
}

/// `taskyard reencrypt-credentials` moves every value under the first key; a wrong key refuses
/// to start; a value of a removed key is reported, not a crash.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_are_reencrypted_under_the_first_key() {
    use taskyard_core::credentials::{Tier, Vault};
    use taskyard_core::store::Store as _;
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).expect("mkdir");
    let (old, new, lost) = (Vault::generate_key(), Vault::generate_key(), Vault::generate_key());
    let store = AnyStore::sqlite(&data.join("taskyard.db")).await.expect("sqlite");
    let old_vault = Vault::new(std::slice::from_ref(&old)).expect("vault");
    store
        .put_credential(
            Tier::Global,
            uuid::Uuid::nil(),
            "GITHUB_TOKEN",
            &old_vault.encrypt(GLOBAL),
            false,
            None,
        )
        .await
        .expect("put");
    drop(store);
    let reencrypt = |keys: String| {
        let out = common::taskyard(&data)
            .env("TASKYARD_FERNET_KEYS", keys)
            .arg("reencrypt-credentials")
            .output()
            .expect("run");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
        )
    };
    let (ok, out) = reencrypt(lost.clone());
    assert!(!ok && out.contains("error"), "a key that decrypts nothing refuses: {out}");
    let (ok, out) = reencrypt(format!("{new},{old}"));
    assert!(ok && out.contains("re-encrypted 1 credential(s)"), "{out}");
    assert_clean("the command's output", &out);

    let store = AnyStore::sqlite(&data.join("taskyard.db")).await.expect("sqlite");
    let stored = store.all_credentials().await.expect("all");
    let only_new = Vault::new(std::slice::from_ref(&new)).expect("vault");
    assert_eq!(only_new.decrypt(&stored[0].value).expect("readable with the new key alone").expose(), GLOBAL);
    // A second value under a key that is then removed: reported by name, the rest still done.
    let lost_vault = Vault::new(std::slice::from_ref(&lost)).expect("vault");
    store
        .put_credential(
            Tier::Global,
            uuid::Uuid::nil(),
            "LINEAR_API_KEY",
            &lost_vault.encrypt(USER),
            false,
            None,
        )
        .await
        .expect("put");
    drop(store);
    let (ok, out) = reencrypt(new.clone());
    assert!(!ok, "an unreadable value fails the command: {out}");
    assert!(
        out.contains("LINEAR_API_KEY (global tier) cannot be decrypted") && out.contains("re-encrypted 1"),
        "{out}"
    );
}
