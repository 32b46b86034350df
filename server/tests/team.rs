//! Team mode against a real server: the authorization matrix (every route of the OpenAPI
//! document × anonymous / member A / member B / admin × own / foreign resource, on Postgres),
//! tokens (expiry, tampering, algorithm confusion, rotation, reuse, logout), registration
//! with invites, rate limits and the audit log.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt as _;
use reqwest::StatusCode;
use serde_json::{Value, json};
use taskyard_core::auth::{Claims, JwtKeys};
use taskyard_core::model::*;
use taskyard_core::store::{AnyStore, NewSessionToken, Store};
use taskyard_server::http::{Mode, Running, ServeOptions, TeamAuth, start};
use taskyard_test_support::pg::TestDatabase;
use tokio_tungstenite::tungstenite::Message;
use uuid::Uuid;

const SECRET: &[u8] = b"team-test-signing-key-0123456789abcdef";

struct Team {
    _running: Running,
    base: String,
    store: AnyStore,
    keys: JwtKeys,
    http: reqwest::Client,
    _dirs: tempfile::TempDir,
    _db: Option<TestDatabase>,
}

impl Team {
    async fn start(postgres: bool) -> Self {
        let dirs = tempfile::tempdir().expect("tempdir");
        let (store, db) = if postgres {
            let db = TestDatabase::create().await.expect("database");
            (AnyStore::connect(&db.url).await.expect("postgres"), Some(db))
        } else {
            (AnyStore::sqlite(&dirs.path().join("t.db")).await.expect("sqlite"), None)
        };
        let keys = JwtKeys::new(SECRET, 900).expect("keys");
        let auth = Arc::new(TeamAuth::new(keys.clone()));
        let mode = Mode::Team { bind: [127, 0, 0, 1].into(), auth };
        let running = start(ServeOptions {
            port: 0,
            data_dir: dirs.path().join("data"),
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
        let http =
            reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
        Team { _running: running, base, store, keys, http, _dirs: dirs, _db: db }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value, reqwest::header::HeaderMap) {
        let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).expect("method");
        let mut req = self.http.request(method, self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.expect("send");
        let status = res.status();
        let headers = res.headers().clone();
        let text = res.text().await.expect("text");
        assert!(!status.is_server_error(), "{path}: {status} {text}");
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)), headers)
    }

    /// A user made directly in the store, with a live session and an access token for it.
    async fn user(&self, email: &str, role: Role) -> (User, String) {
        let hash = PASSWORD_HASH
            .get_or_init(|| taskyard_core::auth::hash_password("password-123").expect("hash"))
            .clone();
        let new = NewUser { email: email.into(), name: email.into(), password_hash: hash, role };
        let user = if self.store.count_users().await.expect("count") == 0 {
            self.store.create_first_admin(new).await.expect("admin")
        } else {
            self.store.create_user(new).await.expect("user")
        };
        let token = self.session_token(&user).await;
        (user, token)
    }

    async fn session_token(&self, user: &User) -> String {
        let family = Uuid::now_v7();
        self.store
            .create_session_token(NewSessionToken {
                token_hash: format!("fixture-{family}"),
                family,
                user: user.id,
                expires_at: chrono::Utc::now() + chrono::Duration::days(1),
            })
            .await
            .expect("session");
        self.keys.issue(user.id.0, user.role.as_str(), family).expect("token").0
    }
}

static PASSWORD_HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// Resources owned by one member, made fresh for each matrix cell.
struct Owned {
    project: Project,
    task: Task,
    run: Run,
}

async fn owned(store: &AnyStore, owner: &User) -> Owned {
    let project = store
        .create_project(NewProject {
            name: "p".into(),
            repo_path: format!("/repos/{}", Uuid::now_v7()),
            default_branch: "main".into(),
            origin_url: None,
            owner: Some(owner.id),
        })
        .await
        .expect("project");
    let task = store
        .create_task(NewTask {
            project_id: project.id,
            title: "t".into(),
            description: "d".into(),
            agent: "command".into(),
            agent_config: r#"{"command":"true"}"#.into(),
        })
        .await
        .expect("task");
    let run = store
        .create_run(NewRun {
            task_id: task.id,
            kind: RunKind::Start,
            agent: "command".into(),
            prompt: "p".into(),
            started_by: None,
        })
        .await
        .expect("run");
    // The server's queue may claim the run first (and fail it: the repository is made up);
    // either way the run ends, which is all the matrix needs.
    let run = match store.finish_run(run.id, RunStatus::Succeeded, RunFinished::default()).await {
        Ok(run) => run,
        Err(_) => loop {
            let run = store.get_run(run.id).await.expect("run");
            if run.status.is_terminal() {
                break run;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        },
    };
    Owned { project, task, run }
}

/// A request body that is valid for each route that takes one, so an answer reflects the
/// authorization, not the validation. A route with a body that is missing here fails the test.
fn body_for(method: &str, path: &str, fresh: &str) -> Option<Value> {
    let body = match (method, path) {
        ("post", "/api/projects") => json!({"path": "/definitely/not/a/repo"}),
        ("post", "/api/projects/clone") => json!({"url": "http://127.0.0.1:1/x.git"}),
        ("post", "/api/projects/{id}/tasks") => json!({"title": "new"}),
        ("patch", "/api/tasks/{id}") => json!({"title": "renamed"}),
        ("post", "/api/tasks/{id}/follow-ups") => json!({"message": "more"}),
        ("post", "/api/projects/{id}/pull") | ("post", "/api/runs/{id}/push") => json!({}),
        ("post", "/api/projects/{id}/members") => json!({"email": fresh, "role": "member"}),
        ("post", "/api/auth/register") => json!({"email": fresh, "name": "N", "password": "password-123"}),
        ("post", "/api/auth/login") => json!({"email": fresh, "password": "password-123"}),
        ("patch", "/api/auth/me") => json!({"name": "Me"}),
        ("post", "/api/auth/password") => {
            json!({"current_password": "wrong-password", "new_password": "password-456"})
        }
        ("post", "/api/admin/users") => json!({"email": fresh, "name": "N", "password": "password-123"}),
        ("patch", "/api/admin/users/{id}") => json!({"name": "Renamed"}),
        ("post", "/api/admin/invites") => json!({"role": "member"}),
        ("put", "/api/credentials/names") => json!({"allowed": ["MY_TOOL_KEY"]}),
        ("put", "/api/queue/settings") => json!({"max_per_user": 2}),
        // Its project is filled in per cell.
        ("post", "/api/terminals") => json!({}),
        ("put", "/api/settings/security") => matrix_security(),
        ("put", "/api/credentials/global/{key}")
        | ("put", "/api/credentials/user/{key}")
        | ("put", "/api/projects/{id}/credentials/{key}") => json!({"value": "ghp_TESTmatrixvalue0000000"}),
        _ => return None,
    };
    Some(body)
}

/// The matrix's `security` setting: members may use every agent (the fixtures' tasks are
/// `custom`), the clone fixture's 127.0.0.1 is allowed, and clones are not limited, so each
/// cell's answer reflects the authorization only.
fn matrix_security() -> Value {
    json!({
        "allowed_hosts": ["127.0.0.1"],
        "member_agents": ["claude", "codex", "gemini", "custom"],
        "max_git_operations": 256,
        "max_git_operations_per_user": 256
    })
}

const PUBLIC: &[&str] =
    &["/health", "/ready", "/api/auth/mode", "/api/auth/login", "/api/auth/register", "/api/auth/refresh"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Caller {
    Anonymous,
    A,
    B,
    Admin,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Allowed,
    Unauthorized,
    Forbidden,
    NotFound,
}

fn expected(method: &str, path: &str, caller: Caller, own: bool) -> Expect {
    if PUBLIC.contains(&path) {
        return Expect::Allowed;
    }
    // A terminal's socket opens with a ticket only (none here), whoever asks.
    if path == "/api/terminals/{id}/socket" {
        return Expect::Unauthorized;
    }
    let member = matches!(caller, Caller::A | Caller::B);
    // A team server offers no terminals until they are sandboxed.
    if path.starts_with("/api/terminals") && caller != Caller::Anonymous {
        return Expect::Forbidden;
    }
    // The global credential tier and the allowed names are the admins'.
    let global_credentials =
        path.starts_with("/api/credentials/global") || (path == "/api/credentials/names" && method != "get");
    if global_credentials && member {
        return Expect::Forbidden;
    }
    // One's own credentials are no one else's resource.
    if path.starts_with("/api/credentials/") && caller != Caller::Anonymous {
        return Expect::Allowed;
    }
    // The queue's limits and retry policy, and the security setting, are server-wide: admins only.
    if (path == "/api/queue/settings" || path == "/api/settings/security") && member {
        return Expect::Forbidden;
    }
    // Members add projects from server folders only under the admins' project root (none here).
    if path == "/api/projects" && method == "post" && member {
        return Expect::Forbidden;
    }
    // Testing an agent spends the server's credentials: admins only.
    if path == "/api/agents/{name}/test" && matches!(caller, Caller::A | Caller::B) {
        return Expect::Forbidden;
    }
    match caller {
        Caller::Anonymous => Expect::Unauthorized,
        Caller::Admin => Expect::Allowed,
        Caller::A | Caller::B if path.starts_with("/api/admin/") => Expect::Forbidden,
        Caller::A | Caller::B => {
            let addresses_a_resource = path.contains('{');
            if !addresses_a_resource || own { Expect::Allowed } else { Expect::NotFound }
        }
    }
}

fn verdict(status: StatusCode) -> Expect {
    match status {
        StatusCode::UNAUTHORIZED => Expect::Unauthorized,
        StatusCode::FORBIDDEN => Expect::Forbidden,
        StatusCode::NOT_FOUND => Expect::NotFound,
        _ => Expect::Allowed,
    }
}

async fn ws_verdict(team: &Team, path: &str, token: Option<&str>) -> Expect {
    let join = if path.contains('?') { '&' } else { '?' };
    let query = token.map(|t| format!("{join}access_token={t}")).unwrap_or_default();
    let url = format!("ws://{}{path}{query}", team.base.trim_start_matches("http://"));
    match tokio_tungstenite::connect_async(url).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(res)) => match verdict(res.status()) {
            Expect::Allowed => panic!("{path}: the upgrade failed with {}", res.status()),
            refused => refused,
        },
        Err(e) => panic!("{path}: {e}"),
        Ok((mut ws, _)) => {
            // A log socket for a run the caller may not see closes with 4404 right away.
            match tokio::time::timeout(Duration::from_secs(2), ws.next()).await {
                Ok(Some(Ok(Message::Close(Some(frame))))) if u16::from(frame.code) == 4404 => {
                    Expect::NotFound
                }
                _ => Expect::Allowed,
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authorization_matrix_over_every_route() {
    let team = Team::start(true).await;
    let (admin, _) = team.user("admin@example.com", Role::Admin).await;
    let (a, a_token) = team.user("a@example.com", Role::Member).await;
    let (b, b_token) = team.user("b@example.com", Role::Member).await;
    team.store.put_setting("security", &matrix_security().to_string()).await.expect("security setting");

    let doc: Value = serde_json::from_str(&taskyard_server::http::openapi_json()).expect("openapi");
    let mut cells = 0;
    let mut failures = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("methods") {
            if !["get", "post", "patch", "put", "delete"].contains(&method.as_str()) {
                continue;
            }
            let websocket = op["responses"].get("101").is_some();
            if op.get("requestBody").is_some() && body_for(method, path, "x@example.com").is_none() {
                failures.push(format!("{method} {path}: takes a body but the matrix has no example for it"));
                continue;
            }
            for caller in [Caller::Anonymous, Caller::A, Caller::B, Caller::Admin] {
                for own in [true, false] {
                    let (me, other) = match caller {
                        Caller::B => (&b, &a),
                        _ => (&a, &b),
                    };
                    let token = match caller {
                        Caller::Anonymous => None,
                        Caller::A => Some(a_token.clone()),
                        Caller::B => Some(b_token.clone()),
                        // Token per cell: logout and password routes end the session they use.
                        Caller::Admin => Some(team.session_token(&admin).await),
                    };
                    let token = match (caller, path.as_str()) {
                        (Caller::A | Caller::B, "/api/auth/logout" | "/api/auth/password") => {
                            Some(team.session_token(me).await)
                        }
                        _ => token,
                    };
                    let holder = if own { me } else { other };
                    let res = owned(&team.store, holder).await;
                    let fresh = format!("fresh-{}@example.com", Uuid::now_v7().simple());
                    let throwaway = team
                        .store
                        .create_user(NewUser {
                            email: fresh.clone(),
                            name: "x".into(),
                            password_hash: "x".into(),
                            role: Role::Member,
                        })
                        .await
                        .expect("user");
                    let invite = team
                        .store
                        .create_invite(NewInvite {
                            code_hash: format!("h-{}", Uuid::now_v7()),
                            email: None,
                            role: Role::Member,
                            created_by: admin.id,
                            expires_at: chrono::Utc::now() + chrono::Duration::hours(1),
                        })
                        .await
                        .expect("invite");
                    let clone_token = team.session_token(holder).await;
                    let (_, clone, _) = team
                        .call(
                            "post",
                            "/api/projects/clone",
                            Some(&clone_token),
                            body_for("post", "/api/projects/clone", ""),
                        )
                        .await;
                    let concrete = path
                        .replace(
                            "/api/projects/{id}/members/{user_id}",
                            &format!("/api/projects/{}/members/{}", res.project.id, holder.id),
                        )
                        .replace("/api/projects/{id}", &format!("/api/projects/{}", res.project.id))
                        .replace("/api/tasks/{id}", &format!("/api/tasks/{}", res.task.id))
                        .replace("/api/runs/{id}", &format!("/api/runs/{}", res.run.id))
                        .replace("/api/admin/users/{id}", &format!("/api/admin/users/{}", throwaway.id))
                        .replace("/api/admin/invites/{id}", &format!("/api/admin/invites/{}", invite.id))
                        .replace("{clone_id}", clone["clone_id"].as_str().expect("clone id"))
                        // An adapter whose CLI is absent answers at once (not_found).
                        .replace("/api/agents/{name}", "/api/agents/custom")
                        .replace(
                            "/api/terminals/{id}/socket",
                            &format!("/api/terminals/{}/socket?ticket=nope", Uuid::now_v7()),
                        )
                        .replace("/api/terminals/{id}", &format!("/api/terminals/{}", Uuid::now_v7()))
                        .replace("{key}", "GITHUB_TOKEN");
                    // Something to delete for every tier's delete route.
                    use taskyard_core::credentials::Tier;
                    let caller_id = if caller == Caller::Admin { admin.id.0 } else { me.id.0 };
                    for (tier, scope) in [
                        (Tier::Global, Uuid::nil()),
                        (Tier::User, caller_id),
                        (Tier::Project, res.project.id.0),
                    ] {
                        team.store
                            .put_credential(tier, scope, "GITHUB_TOKEN", "gAAAA-matrix", false, None)
                            .await
                            .expect("credential");
                    }
                    assert!(!concrete.contains('{'), "the matrix does not know how to fill {path}");
                    let body = match (method.as_str(), path.as_str()) {
                        ("post", "/api/terminals") => Some(json!({"project_id": res.project.id})),
                        _ => body_for(method, path, &fresh),
                    };
                    let got = if websocket {
                        ws_verdict(&team, &concrete, token.as_deref()).await
                    } else {
                        let (status, answer, _) = team.call(method, &concrete, token.as_deref(), body).await;
                        // Sign-in endpoints answer 401 for bad credentials themselves; only the
                        // middleware's "sign in first" means the route was not reached.
                        let middleware = ["sign in first", "the access token is invalid or expired"];
                        let handler_said_no = PUBLIC.contains(&path.as_str())
                            && matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN)
                            && !middleware.iter().any(|m| answer["message"] == *m);
                        if handler_said_no { Expect::Allowed } else { verdict(status) }
                    };
                    // Resources addressed by admin-only routes are no one's own: both cells expect the same.
                    let want = expected(method, path, caller, own || path.starts_with("/api/admin/"));
                    cells += 1;
                    if got != want {
                        failures.push(format!(
                            "{method} {path} as {caller:?} on {} resource: got {got:?}, want {want:?}",
                            if own { "own" } else { "foreign" }
                        ));
                    }
                }
            }
        }
    }
    assert!(failures.is_empty(), "{} of {cells} cells wrong:\n{}", failures.len(), failures.join("\n"));
    assert!(cells > 250, "the matrix covered {cells} cells");
}

async fn register(
    team: &Team,
    email: &str,
    invite: Option<&str>,
) -> (StatusCode, Value, reqwest::header::HeaderMap) {
    let mut body = json!({"email": email, "name": "Person", "password": "a long password"});
    if let Some(code) = invite {
        body["invite"] = json!(code);
    }
    team.call("post", "/api/auth/register", None, Some(body)).await
}

fn refresh_cookie(headers: &reqwest::header::HeaderMap) -> Option<String> {
    headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("taskyard_refresh="))
        .map(|c| c.split(';').next().unwrap_or_default().to_owned())
}

async fn refresh(team: &Team, cookie: &str) -> (StatusCode, Option<String>, Value) {
    let res =
        team.http.post(team.url("/api/auth/refresh")).header("Cookie", cookie).send().await.expect("send");
    let status = res.status();
    let cookie = refresh_cookie(res.headers());
    (status, cookie, res.json().await.unwrap_or(Value::Null))
}

macro_rules! on_both {
    ($($story:ident),* $(,)?) => {
        mod sqlite { $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $story() { super::$story(super::Team::start(false).await).await; } )* }
        mod postgres { $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $story() { super::$story(super::Team::start(true).await).await; } )* }
    };
}

on_both!(
    registration_invites_and_members,
    sessions_rotate_and_end,
    tokens_that_must_not_work,
    sign_in_is_rate_limited_without_telling_who_exists
);

async fn registration_invites_and_members(t: Team) {
    let (_, mode, _) = t.call("get", "/api/auth/mode", None, None).await;
    assert_eq!((mode["mode"].as_str(), mode["registration"].as_str()), (Some("team"), Some("first_admin")));
    let (status, first, headers) = register(&t, "Admin@Example.com", None).await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    assert_eq!(
        (first["user"]["role"].as_str(), first["user"]["email"].as_str()),
        (Some("admin"), Some("admin@example.com"))
    );
    let cookie = refresh_cookie(&headers).expect("refresh cookie");
    let set =
        headers.get_all("set-cookie").iter().map(|v| v.to_str().unwrap_or("")).collect::<Vec<_>>().join(" ");
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Strict") && set.contains("Path=/api/auth"),
        "{set}"
    );
    assert!(!cookie.is_empty());
    let admin = first["access_token"].as_str().expect("token").to_owned();
    let (_, mode, _) = t.call("get", "/api/auth/mode", None, None).await;
    assert_eq!(mode["registration"], "invite");

    let (status, err, _) = register(&t, "second@example.com", None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{err}");

    // An invite bound to an address, used once.
    let (status, created, _) =
        t.call("post", "/api/admin/invites", Some(&admin), Some(json!({"email": "bob@example.com"}))).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let code = created["code"].as_str().expect("code").to_owned();
    assert!(created["link"].as_str().expect("link").ends_with(&code));
    let (status, err, _) = register(&t, "eve@example.com", Some(&code)).await;
    assert_eq!((status, err["field"].as_str()), (StatusCode::FORBIDDEN, Some("invite")), "another address");
    let (status, bob, _) = register(&t, "bob@example.com", Some(&code)).await;
    assert_eq!(status, StatusCode::CREATED, "{bob}");
    assert_eq!(bob["user"]["role"], "member");
    let (status, _, _) = register(&t, "bob2@example.com", Some(&code)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "used");
    let bob_token = bob["access_token"].as_str().expect("token").to_owned();

    // Revoked and duplicate-address cases.
    let (_, open, _) = t.call("post", "/api/admin/invites", Some(&admin), Some(json!({}))).await;
    let (status, _, _) = register(&t, "bob@example.com", open["code"].as_str()).await;
    assert_eq!(status, StatusCode::CONFLICT, "a taken address");
    let (status, revoked, _) = t
        .call(
            "delete",
            &format!("/api/admin/invites/{}", open["invite"]["id"].as_str().expect("id")),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(revoked["revoked_at"].is_string());
    let (status, _, _) = register(&t, "carol@example.com", open["code"].as_str()).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "revoked");

    // Bad input: each a clear 4xx naming the field.
    for (body, field) in [
        (
            json!({"email": "not-an-address", "name": "x", "password": "a long password", "invite": "x"}),
            "email",
        ),
        (json!({"email": "x@example.com", "name": "", "password": "a long password", "invite": "x"}), "name"),
        (
            json!({"email": "x@example.com", "name": "n".repeat(101), "password": "a long password", "invite": "x"}),
            "name",
        ),
        (json!({"email": "x@example.com", "name": "x", "password": "short", "invite": "x"}), "password"),
        (
            json!({"email": "x@example.com", "name": "x", "password": "p".repeat(2000), "invite": "x"}),
            "password",
        ),
    ] {
        let (status, err, _) = t.call("post", "/api/auth/register", None, Some(body.clone())).await;
        assert_eq!(
            (status, err["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some(field)),
            "{body}: {err}"
        );
    }
    // A well-formed request with an invite that does not exist: refused, at its field.
    let body = json!({"email": "x@example.com", "name": "x", "password": "a long password", "invite": "x"});
    let (status, err, _) = t.call("post", "/api/auth/register", None, Some(body)).await;
    assert_eq!((status, err["field"].as_str()), (StatusCode::FORBIDDEN, Some("invite")), "{err}");

    // Each sees only their own projects; membership opens one.
    let repo = t._dirs.path().join("repo");
    std::fs::create_dir_all(&repo).expect("mkdir");
    for args in [
        &["init", "-q", "-b", "main"][..],
        &["-c", "user.name=t", "-c", "user.email=t@e", "commit", "-q", "--allow-empty", "-m", "x"][..],
    ] {
        assert!(
            std::process::Command::new("git").args(args).current_dir(&repo).status().expect("git").success()
        );
    }
    let (status, _, _) = t
        .call("post", "/api/projects", Some(&bob_token), Some(json!({"path": repo.display().to_string()})))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "server folders are the admins' unless they set a root");
    let root = json!({"project_root": t._dirs.path().display().to_string()});
    let (status, _, _) = t.call("put", "/api/settings/security", Some(&admin), Some(root)).await;
    assert_eq!(status, StatusCode::OK);
    let (status, project, _) = t
        .call("post", "/api/projects", Some(&bob_token), Some(json!({"path": repo.display().to_string()})))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{project}");
    let pid = project["id"].as_str().expect("id");
    let (_, mine, _) = t.call("get", "/api/projects", Some(&bob_token), None).await;
    assert_eq!(mine.as_array().map(Vec::len), Some(1));
    let (_, code2, _) = t.call("post", "/api/admin/invites", Some(&admin), Some(json!({}))).await;
    let (_, carol, _) = register(&t, "carol@example.com", code2["code"].as_str()).await;
    let carol_token = carol["access_token"].as_str().expect("token").to_owned();
    let (_, theirs, _) = t.call("get", "/api/projects", Some(&carol_token), None).await;
    assert_eq!(theirs.as_array().map(Vec::len), Some(0), "carol sees nothing of bob's");
    let (status, _, _) = t.call("get", &format!("/api/projects/{pid}"), Some(&carol_token), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, all, _) = t.call("get", "/api/projects", Some(&admin), None).await;
    assert_eq!(all.as_array().map(Vec::len), Some(1), "admins see every project");
    let (status, member, _) = t
        .call(
            "post",
            &format!("/api/projects/{pid}/members"),
            Some(&bob_token),
            Some(json!({"email": "carol@example.com"})),
        )
        .await;
    assert_eq!((status, member["role"].as_str()), (StatusCode::CREATED, Some("member")));
    let (status, _, _) = t.call("get", &format!("/api/projects/{pid}/board"), Some(&carol_token), None).await;
    assert_eq!(status, StatusCode::OK, "a member sees the board");
    let (status, _, _) = t.call("delete", &format!("/api/projects/{pid}"), Some(&carol_token), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "only owners delete projects");
    let carol_id = carol["user"]["id"].as_str().expect("id");
    let (status, _, _) =
        t.call("delete", &format!("/api/projects/{pid}/members/{carol_id}"), Some(&bob_token), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _, _) = t.call("get", &format!("/api/projects/{pid}"), Some(&carol_token), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "removed members lose access at once");
    let bob_id = bob["user"]["id"].as_str().expect("id");
    let (status, _, _) =
        t.call("delete", &format!("/api/projects/{pid}/members/{bob_id}"), Some(&bob_token), None).await;
    assert_eq!(status, StatusCode::CONFLICT, "the last owner stays");

    // Admin console: roles, disabling, the last admin, the audit log.
    let (status, _, _) = t
        .call("patch", &format!("/api/admin/users/{carol_id}"), Some(&admin), Some(json!({"role": "admin"})))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, _) = t
        .call("patch", &format!("/api/admin/users/{carol_id}"), Some(&admin), Some(json!({"disabled": true})))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, _) = t.call("get", "/api/projects", Some(&carol_token), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "a disabled user's tokens stop working");
    let admin_id = first["user"]["id"].as_str().expect("id");
    let (status, err, _) = t
        .call("patch", &format!("/api/admin/users/{admin_id}"), Some(&admin), Some(json!({"role": "member"})))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{err}");
    let (status, _, _) = t.call("delete", &format!("/api/admin/users/{admin_id}"), Some(&admin), None).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (_, log, _) = t.call("get", "/api/admin/audit?limit=100", Some(&admin), None).await;
    let actions: Vec<&str> =
        log.as_array().expect("log").iter().map(|e| e["action"].as_str().unwrap_or("")).collect();
    for action in [
        "register",
        "invite_created",
        "invite_revoked",
        "member_added",
        "member_removed",
        "role_changed",
        "user_disabled",
    ] {
        assert!(actions.contains(&action), "audit misses {action}: {actions:?}");
    }
    assert!(log[0]["ip"].as_str().is_some_and(|ip| ip == "127.0.0.1"), "{}", log[0]);
    let (status, _, _) = t.call("get", "/api/admin/audit", Some(&bob_token), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

async fn sessions_rotate_and_end(t: Team) {
    let (_, first, headers) = register(&t, "admin@example.com", None).await;
    let c1 = refresh_cookie(&headers).expect("cookie");
    let (status, c2, body) = refresh(&t, &c1).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let c2 = c2.expect("rotated cookie");
    assert_ne!(c1, c2, "every refresh rotates the token");
    let access = body["access_token"].as_str().expect("token").to_owned();
    let (status, me, _) = t.call("get", "/api/auth/me", Some(&access), None).await;
    assert_eq!((status, me["email"].as_str()), (StatusCode::OK, Some("admin@example.com")));

    // Replaying the old token: stolen. The whole session ends, the new token included.
    let (status, cleared, _) = refresh(&t, &c1).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(cleared.as_deref(), Some("taskyard_refresh="), "the cookie is cleared");
    let (status, _, _) = refresh(&t, &c2).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _, _) = t.call("get", "/api/auth/me", Some(&access), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "access tokens of a revoked session stop working");
    let admin = first["access_token"].as_str().expect("token");
    let (status, _, _) = t.call("get", "/api/auth/me", Some(admin), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "it was the same session");

    // Logout ends the session.
    let (status, login, headers) = t
        .call(
            "post",
            "/api/auth/login",
            None,
            Some(json!({"email": "admin@example.com", "password": "a long password"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{login}");
    let cookie = refresh_cookie(&headers).expect("cookie");
    let token = login["access_token"].as_str().expect("token").to_owned();
    assert_eq!(login["expires_in"], 900);
    let (status, _, headers) = t.call("post", "/api/auth/logout", Some(&token), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(refresh_cookie(&headers).as_deref(), Some("taskyard_refresh="));
    assert_eq!(refresh(&t, &cookie).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(t.call("get", "/api/auth/me", Some(&token), None).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(refresh(&t, "taskyard_refresh=ty_rt_made-up").await.0, StatusCode::UNAUTHORIZED);
    let (status, _, _) = t.call("post", "/api/auth/refresh", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "no cookie");

    // A password change ends other sessions and returns a fresh one.
    let (_, s1, _) = t
        .call(
            "post",
            "/api/auth/login",
            None,
            Some(json!({"email": "admin@example.com", "password": "a long password"})),
        )
        .await;
    let (_, s2, _) = t
        .call(
            "post",
            "/api/auth/login",
            None,
            Some(json!({"email": "admin@example.com", "password": "a long password"})),
        )
        .await;
    let (status, err, _) = t
        .call(
            "post",
            "/api/auth/password",
            s1["access_token"].as_str(),
            Some(json!({"current_password": "nope nope nope", "new_password": "another long one"})),
        )
        .await;
    assert_eq!((status, err["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("current_password")));
    let (status, fresh, _) = t
        .call(
            "post",
            "/api/auth/password",
            s1["access_token"].as_str(),
            Some(json!({"current_password": "a long password", "new_password": "another long one"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{fresh}");
    assert_eq!(
        t.call("get", "/api/auth/me", s2["access_token"].as_str(), None).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(t.call("get", "/api/auth/me", fresh["access_token"].as_str(), None).await.0, StatusCode::OK);
}

async fn tokens_that_must_not_work(t: Team) {
    let (user, token) = t.user("admin@example.com", Role::Admin).await;
    assert_eq!(t.call("get", "/api/projects", Some(&token), None).await.0, StatusCode::OK);
    let claims = t.keys.verify(&token).expect("valid");
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let sign = |claims: &Claims, alg: jsonwebtoken::Algorithm, key: &[u8]| {
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(alg),
            claims,
            &jsonwebtoken::EncodingKey::from_secret(key),
        )
        .expect("encode")
    };
    let expired = Claims { iat: claims.iat - 7200, exp: claims.iat - 3600, ..claims.clone() };
    let parts: Vec<&str> = token.split('.').collect();
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        b64.encode(
            serde_json::to_vec(&Claims { role: "admin".into(), sub: Uuid::now_v7(), ..claims.clone() })
                .expect("json")
        ),
        parts[2]
    );
    let none = format!("{}.{}.", b64.encode(br#"{"alg":"none","typ":"JWT"}"#), parts[1]);
    let cases = [
        ("expired", sign(&expired, jsonwebtoken::Algorithm::HS256, SECRET)),
        ("tampered payload", tampered),
        ("alg none", none),
        ("HS512", sign(&claims, jsonwebtoken::Algorithm::HS512, SECRET)),
        (
            "another key",
            sign(&claims, jsonwebtoken::Algorithm::HS256, b"another-signing-key-0123456789abcdefgh"),
        ),
        ("garbage", "not.a.jwt".to_owned()),
        ("empty", String::new()),
    ];
    for (what, bad) in cases {
        let (status, body, _) = t.call("get", "/api/projects", Some(&bad), None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{what}: {body}");
        assert_eq!(body["error"], "unauthorized");
    }
    // A deleted user's token stops working.
    let (other, other_token) = t.user("gone@example.com", Role::Member).await;
    t.store.delete_user(other.id).await.expect("delete");
    assert_eq!(t.call("get", "/api/projects", Some(&other_token), None).await.0, StatusCode::UNAUTHORIZED);
    // Sockets authenticate at the upgrade.
    let url = format!("ws://{}/api/events", t.base.trim_start_matches("http://"));
    assert!(tokio_tungstenite::connect_async(url.clone()).await.is_err(), "no token");
    assert!(tokio_tungstenite::connect_async(format!("{url}?access_token=junk")).await.is_err(), "bad token");
    let good = t.session_token(&user).await;
    assert!(tokio_tungstenite::connect_async(format!("{url}?access_token={good}")).await.is_ok());
    // The query token is only for socket upgrades.
    assert_eq!(
        t.call("get", &format!("/api/projects?access_token={good}"), None, None).await.0,
        StatusCode::UNAUTHORIZED
    );
    // Another site cannot use a browser's session.
    let res = t
        .http
        .get(t.url("/api/projects"))
        .bearer_auth(&good)
        .header("Origin", "http://evil.example")
        .send()
        .await
        .expect("send");
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
}

async fn sign_in_is_rate_limited_without_telling_who_exists(t: Team) {
    register(&t, "admin@example.com", None).await;
    let login = |email: &str, password: &str| json!({"email": email, "password": password});
    let (s1, unknown, _) =
        t.call("post", "/api/auth/login", None, Some(login("nobody@example.com", "whatever-password"))).await;
    let (s2, wrong, _) =
        t.call("post", "/api/auth/login", None, Some(login("admin@example.com", "whatever-password"))).await;
    assert_eq!((s1, s2), (StatusCode::UNAUTHORIZED, StatusCode::UNAUTHORIZED));
    assert_eq!(unknown, wrong, "the same answer whether or not the account exists");
    for _ in 0..4 {
        t.call("post", "/api/auth/login", None, Some(login("admin@example.com", "whatever-password"))).await;
    }
    // Five failures for the account: even the right password waits now.
    let (status, body, headers) =
        t.call("post", "/api/auth/login", None, Some(login("admin@example.com", "a long password"))).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    let retry: u64 = headers["retry-after"].to_str().expect("header").parse().expect("seconds");
    assert!(retry > 0 && retry <= 900);
    // Per client address: 20 attempts in 5 minutes, whichever accounts.
    let mut statuses = BTreeMap::new();
    for i in 0..20 {
        let (status, _, _) = t
            .call(
                "post",
                "/api/auth/login",
                None,
                Some(login(&format!("u{i}@example.com"), "whatever-password")),
            )
            .await;
        *statuses.entry(status.as_u16()).or_insert(0) += 1;
    }
    assert!(statuses.contains_key(&429), "the address is limited too: {statuses:?}");
    let admin = t.store.find_user_by_email("admin@example.com").await.expect("find").expect("admin").user;
    let token = t.session_token(&admin).await;
    let (_, log, _) = t.call("get", "/api/admin/audit?limit=1000", Some(&token), None).await;
    let actions: Vec<&str> =
        log.as_array().expect("log").iter().map(|e| e["action"].as_str().unwrap_or("")).collect();
    assert!(actions.contains(&"login_failed") && actions.contains(&"login_blocked"), "{actions:?}");
    let failed = log.as_array().expect("log").iter().find(|e| e["action"] == "login_failed").expect("failed");
    assert!(failed["actor"].is_string(), "failed sign-ins record what was typed: {failed}");
}
