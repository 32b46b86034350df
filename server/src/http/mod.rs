//! The HTTP server: shared state, the route table (one place, with the OpenAPI document built
//! from the same registrations), middleware, and `serve` with graceful shutdown.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use axum::Router;
use axum::http::{HeaderName, Request};
use taskyard_core::credentials::{Credentials, Vault};
use taskyard_core::events::Bus;
use taskyard_core::runner::{Runner, RunnerConfig};
use taskyard_core::store::AnyStore;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use utoipa::OpenApi as _;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::routes::{
    admin, agents, auth as auth_routes, board, credentials, events, health, members, projects, queue, runs,
    security, tasks, terminals, ui,
};

pub mod access;
pub mod audit;
pub mod auth;
pub mod error;
pub mod headers;
pub mod hosts;
pub mod listener;
pub mod passwords;
pub mod proxies;
pub mod sockets;
pub mod startup;
pub mod team;

pub use auth::LocalAuth;
pub use hosts::Hosts;
pub use listener::Limits;
pub use proxies::TrustedProxies;
pub use startup::Startup;
pub use team::TeamAuth;

/// How requests are authenticated.
#[derive(Debug, Clone)]
pub enum Auth {
    /// One user on loopback, behind the per-launch token.
    Local(LocalAuth),
    /// Users with accounts, JWT access tokens and refresh-token sessions.
    Team(Arc<TeamAuth>),
}

/// Everything handlers share. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    runner: Runner<AnyStore>,
    data_dir: PathBuf,
    started: Instant,
    auth: Auth,
    boards: board::BoardCache,
    clones: projects::Clones,
    sockets: Arc<sockets::Sockets>,
    shutdown: watch::Receiver<bool>,
    health: health::Cache,
    terminals: Arc<crate::terminals::Terminals>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").field("data_dir", &self.inner.data_dir).finish_non_exhaustive()
    }
}

impl AppState {
    /// State over an open store, with runs executed as `config` says.
    pub fn new(
        store: AnyStore,
        auth: Auth,
        shutdown: watch::Receiver<bool>,
        mut config: RunnerConfig,
        limits: Limits,
    ) -> Self {
        let bus = Arc::new(Bus::new());
        let data_dir = config.data_dir.clone();
        // One user's credentials may go wherever that user's tasks say; a team's only to the
        // endpoints the server is configured with.
        config.trust_task_settings = matches!(auth, Auth::Local(_));
        let runner = Runner::new(store, bus, config);
        let inner = Inner {
            runner,
            data_dir,
            started: Instant::now(),
            auth,
            boards: board::BoardCache::default(),
            clones: projects::Clones::default(),
            sockets: sockets::Sockets::new(
                limits.max_websockets,
                limits.max_websockets_per_user,
                limits.websocket_ping,
            ),
            shutdown,
            health: health::Cache::default(),
            terminals: crate::terminals::Terminals::new(Default::default()),
        };
        Self { inner: Arc::new(inner) }
    }

    /// The credential service.
    pub fn credentials(&self) -> Option<&Credentials> {
        self.inner.runner.config().credentials.as_deref()
    }
    /// The run supervisor.
    pub fn runner(&self) -> &Runner<AnyStore> {
        &self.inner.runner
    }
    /// The store.
    pub fn store(&self) -> &AnyStore {
        self.inner.runner.store()
    }
    /// What `/health` last found in the database and on `PATH`.
    pub(crate) fn health_cache(&self) -> &health::Cache {
        &self.inner.health
    }
    /// The event bus.
    pub fn bus(&self) -> &Arc<Bus> {
        self.inner.runner.bus()
    }
    /// Where data lives.
    pub fn data_dir(&self) -> &std::path::Path {
        &self.inner.data_dir
    }
    /// When the server started.
    pub fn started(&self) -> Instant {
        self.inner.started
    }
    /// The local-mode guard, in local mode.
    pub fn local_auth(&self) -> Option<&LocalAuth> {
        match &self.inner.auth {
            Auth::Local(l) => Some(l),
            Auth::Team(_) => None,
        }
    }
    /// Team mode's settings, in team mode.
    pub fn team(&self) -> Option<&TeamAuth> {
        match &self.inner.auth {
            Auth::Team(t) => Some(t),
            Auth::Local(_) => None,
        }
    }
    /// Board snapshots.
    pub fn boards(&self) -> &board::BoardCache {
        &self.inner.boards
    }
    /// Clones in progress.
    pub fn clones(&self) -> &projects::Clones {
        &self.inner.clones
    }
    /// The ping timer of an open WebSocket.
    pub fn socket_pings(&self) -> tokio::time::Interval {
        self.inner.sockets.pings()
    }
    /// A place for one more WebSocket of `actor` (held while the socket is open), or `503`.
    pub fn open_socket(&self, actor: &access::Actor) -> Result<sockets::SocketSlot, error::ApiError> {
        self.inner.sockets.open(actor.user().map_or(uuid::Uuid::nil(), |u| u.id.0))
    }
    /// A place for one more WebSocket of `user` (the nil id: local mode's owner).
    pub fn open_socket_of(&self, user: uuid::Uuid) -> Result<sockets::SocketSlot, error::ApiError> {
        self.inner.sockets.open(user)
    }
    /// The open terminals.
    pub fn terminals(&self) -> &Arc<crate::terminals::Terminals> {
        &self.inner.terminals
    }
    /// Flips to `true` when the server shuts down (WebSockets close then).
    pub fn shutdown(&self) -> watch::Receiver<bool> {
        self.inner.shutdown.clone()
    }
}

/// Completes when the server starts shutting down.
pub async fn shutting_down(mut rx: watch::Receiver<bool>) {
    let _ = rx.wait_for(|s| *s).await;
}

/// The OpenAPI document's frame; paths and schemas come from the route registrations.
#[derive(utoipa::OpenApi)]
#[openapi(
    info(title = "Taskyard API", description = "Projects, tasks, runs, logs and reviews."),
    components(schemas(crate::routes::events::Control))
)]
struct ApiDoc;

/// The API routes with their OpenAPI document: every route is registered once, here.
pub fn api() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let (router, mut doc) = routes();
    finish_document(&mut doc);
    (router, doc)
}

/// What the route registrations leave out of the document: operation ids unique across the
/// API (handlers of different resources share verb names), a description on every response,
/// the statuses the middleware and extractors answer on every route (`common_statuses`), and
/// how requests authenticate.
fn finish_document(doc: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
    for (path, item) in doc.paths.paths.iter_mut() {
        let operations = [
            ("get", &mut item.get),
            ("post", &mut item.post),
            ("put", &mut item.put),
            ("patch", &mut item.patch),
            ("delete", &mut item.delete),
        ];
        for (method, op) in operations {
            let Some(op) = op.as_mut() else { continue };
            op.operation_id = Some(operation_id(method, path));
            for (status, description) in common_statuses(path, op) {
                op.responses.responses.entry(status.into()).or_insert_with(|| error_response(description));
            }
            for response in op.responses.responses.values_mut() {
                if let utoipa::openapi::RefOr::T(r) = response
                    && r.description.is_empty()
                {
                    r.description = "see the body's schema".into();
                }
            }
        }
    }
    let components = doc.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        "bearer",
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .bearer_format("JWT (team mode) or the launch token (local mode)")
                .build(),
        ),
    );
    components.add_security_scheme(
        "launch_cookie",
        SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(auth::COOKIE))),
    );
}

/// The statuses the middleware and extractors answer whatever the handler does, as
/// `(status, description)`; a route's own annotation says more where it has more to say.
fn common_statuses(path: &str, op: &utoipa::openapi::path::Operation) -> Vec<(&'static str, &'static str)> {
    use utoipa::openapi::path::ParameterIn;
    let probe = matches!(path, "/health" | "/ready");
    let mut statuses = vec![
        ("403", "the request comes from another origin, or (local mode) names another host"),
        ("421", "team mode: the request names a host this server does not answer to"),
        ("503", "the server is at its limit of connections; try again (see Retry-After)"),
    ];
    if !probe {
        statuses.push(("401", "no valid launch token (local mode) or access token (team mode)"));
    }
    if path.contains('{') {
        statuses.push(("404", "nothing has this id (an id that cannot exist names nothing either)"));
    }
    if team_only(path) {
        statuses.push(("404", "local mode: there are no accounts"));
    }
    let query = op.parameters.iter().flatten().any(|p| match p {
        utoipa::openapi::RefOr::T(p) => p.parameter_in == ParameterIn::Query,
        utoipa::openapi::RefOr::Ref(_) => false,
    });
    if query {
        statuses.push(("422", "a query parameter is not acceptable (`field` names it)"));
    }
    if op.request_body.is_some() {
        statuses.push(("400", "the body is not JSON"));
        statuses.push(("408", "the body took too long to arrive"));
        statuses.push(("413", "the body is larger than the server accepts"));
        statuses.push(("415", "the body was not sent as `application/json`"));
        statuses.push(("422", "a field of the body is not acceptable (`field` names it)"));
    }
    statuses
}

/// Routes of team mode's accounts, which local mode answers `404`.
fn team_only(path: &str) -> bool {
    (path.starts_with("/api/auth/") && path != "/api/auth/mode")
        || path.starts_with("/api/admin/")
        || path.starts_with("/api/credentials/user")
        || path.contains("/members")
}

/// An error response of the document: an [`ErrorBody`](error::ErrorBody) described.
fn error_response(description: &str) -> utoipa::openapi::RefOr<utoipa::openapi::Response> {
    use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new().schema(Some(Ref::from_schema_name("ErrorBody"))).build(),
        )
        .build()
        .into()
}

/// `get /api/projects/{id}/board` → `getApiProjectsIdBoard`.
fn operation_id(method: &str, path: &str) -> String {
    let mut id = method.to_owned();
    for part in path.split(['/', '-', '_']).filter(|p| !p.is_empty()) {
        let part = part.trim_start_matches('{').trim_end_matches('}');
        let mut chars = part.chars();
        if let Some(first) = chars.next() {
            id.push(first.to_ascii_uppercase());
            id.extend(chars);
        }
    }
    id
}

fn routes() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(health::health))
        .routes(routes!(health::ready))
        .routes(routes!(projects::list, projects::create))
        .routes(routes!(projects::clone))
        .routes(routes!(projects::clone_status))
        .routes(routes!(projects::get, projects::delete))
        .routes(routes!(projects::pull))
        .routes(routes!(board::get))
        .routes(routes!(tasks::list, tasks::create))
        .routes(routes!(tasks::get, tasks::update, tasks::delete))
        .routes(routes!(tasks::runs, tasks::start))
        .routes(routes!(tasks::follow_up))
        .routes(routes!(runs::get))
        .routes(routes!(runs::stop))
        .routes(routes!(runs::retry))
        .routes(routes!(queue::status))
        .routes(routes!(queue::set_settings))
        .routes(routes!(security::get, security::set))
        .routes(routes!(runs::logs))
        .routes(routes!(runs::logs_ws))
        .routes(routes!(runs::diff))
        .routes(routes!(runs::merge))
        .routes(routes!(runs::push))
        .routes(routes!(events::board_events))
        .routes(routes!(agents::list))
        .routes(routes!(terminals::open, terminals::list))
        .routes(routes!(terminals::close))
        .routes(routes!(terminals::ticket))
        .routes(routes!(terminals::socket))
        .routes(routes!(credentials::names, credentials::set_names))
        .routes(routes!(credentials::list_global))
        .routes(routes!(credentials::set_global, credentials::delete_global))
        .routes(routes!(credentials::list_user))
        .routes(routes!(credentials::set_user, credentials::delete_user))
        .routes(routes!(credentials::list_project))
        .routes(routes!(credentials::set_project, credentials::delete_project))
        .routes(routes!(credentials::effective))
        .routes(routes!(agents::test))
        .routes(routes!(members::list, members::add))
        .routes(routes!(members::remove))
        .routes(routes!(auth_routes::mode))
        .routes(routes!(auth_routes::register))
        .routes(routes!(auth_routes::login))
        .routes(routes!(auth_routes::refresh))
        .routes(routes!(auth_routes::logout))
        .routes(routes!(auth_routes::me, auth_routes::update_me))
        .routes(routes!(auth_routes::change_password))
        .routes(routes!(admin::list_users, admin::create_user))
        .routes(routes!(admin::update_user, admin::delete_user))
        .routes(routes!(admin::list_invites, admin::create_invite))
        .routes(routes!(admin::revoke_invite))
        .routes(routes!(admin::audit))
        .split_for_parts()
}

/// The OpenAPI document as JSON (what `/api/openapi.json` serves and the UI's types are
/// generated from).
pub fn openapi_json() -> String {
    let (_, doc) = api();
    doc.to_pretty_json().unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}

/// The whole application: API, OpenAPI document, UI, middleware.
pub fn app(state: AppState) -> Router {
    let (api, doc) = api();
    let doc = Arc::new(doc.to_pretty_json().unwrap_or_default());
    let request_id = HeaderName::from_static("x-request-id");
    api.route(
        "/api/openapi.json",
        axum::routing::get(move || {
            let doc = doc.clone();
            async move { ([(axum::http::header::CONTENT_TYPE, "application/json")], (*doc).clone()) }
        }),
    )
    .fallback(ui::serve)
    .layer(axum::middleware::from_fn_with_state(state.clone(), team::authenticate))
    .layer(axum::middleware::from_fn_with_state(state.clone(), auth::require_local_token))
    .layer(TraceLayer::new_for_http().make_span_with(|req: &Request<_>| {
        let id = req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("-");
        tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
    }))
    .layer(axum::middleware::from_fn(headers::secure))
    .layer(PropagateRequestIdLayer::new(request_id.clone()))
    .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
    .with_state(state)
}

/// How to serve.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Port (0 picks a free one).
    pub port: u16,
    /// Data directory.
    pub data_dir: PathBuf,
    /// The store, already open.
    pub store: AnyStore,
    /// Local or team mode.
    pub mode: Mode,
    /// How the run queue's worker works (concurrency, leases).
    pub queue: taskyard_core::runner::queue::QueueConfig,
    /// Whether runs are confined; `None` takes the mode's default: required on a team
    /// server, off for a single user on their own machine.
    pub sandbox: Option<taskyard_core::sandbox::Policy>,
    /// Connection, timeout and socket limits.
    pub limits: Limits,
    /// What the operator configured for start-up: keys, repositories to clone, defaults.
    pub startup: Startup,
}

/// Credential keys given in the configuration (not the key file): comma- or
/// newline-separated Fernet keys, the first encrypts; with the variable or file line they came
/// from, for messages.
pub type ConfiguredKeys = crate::settings::Value;

/// The server's mode and what it needs.
#[derive(Debug, Clone)]
pub enum Mode {
    /// One user; listens on 127.0.0.1 only.
    Local,
    /// Many users.
    Team {
        /// The address to listen on (127.0.0.1 unless told otherwise).
        bind: std::net::IpAddr,
        /// Access-token signing, session length, cookie and proxy settings.
        auth: Arc<TeamAuth>,
    },
}

/// A started server: its address, the URL to open, and a handle to stop it.
#[derive(Debug)]
pub struct Running {
    /// Where it listens.
    pub addr: SocketAddr,
    /// The address to open in a browser (with the token, once).
    pub url: String,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<Result<()>>,
    runner: Runner<AnyStore>,
}

impl Running {
    /// How many runs execute in this server now (a quitting desktop app asks first).
    pub fn active_runs(&self) -> usize {
        self.runner.active_runs()
    }

    /// Sets (or with `None` clears) the program runs of `agent` use when their task names
    /// none, from the next run on; the agents' status shows it at once.
    pub fn set_agent_program(&self, agent: &str, program: Option<String>) {
        self.runner.set_default_program(agent, program);
    }

    /// Asks the server to stop and waits until it has: no new connections, WebSockets
    /// closed, runs interrupted and recorded.
    pub async fn stop(self) -> Result<()> {
        let _ = self.stop.send(true);
        self.task.await.context("server task panicked")?
    }

    /// Waits until the server stopped by itself (e.g. on Ctrl-C).
    pub async fn wait(self) -> Result<()> {
        self.task.await.context("server task panicked")?
    }
}

/// The credential vault: keys from the configuration (`TASKYARD_FERNET_KEYS` or its alias
/// `CREDENTIAL_ENCRYPTION_KEY`, comma-separated, the first encrypts), else the key file in the
/// data directory (made on first start, mode 0600; back it up with the data). Refuses to
/// start, naming the keys' source and changing nothing, when stored credentials exist and
/// none decrypts, and when the key file is gone while credentials are stored.
/// Known credential variables of this process's environment are imported into the global
/// tier when it lacks them: agents get credentials only through resolution.
pub async fn open_credentials(
    store: &AnyStore,
    data_dir: &std::path::Path,
    configured: Option<&ConfiguredKeys>,
) -> Result<Arc<Credentials>> {
    use taskyard_core::store::Store as _;
    let stored: Vec<String> = store.all_credentials().await?.into_iter().map(|c| c.value).collect();
    let (vault, unreadable) = checked_vault(&stored, data_dir, configured, true)?
        .context("no credential keys (the key file was not made)")?;
    if unreadable > 0 {
        tracing::warn!(
            unreadable,
            "some stored credentials were encrypted with a key that is no longer configured"
        );
    }
    let credentials = Arc::new(Credentials::new(vault));
    credentials.reload(store).await?;
    crate::logging::redact_with(credentials.clone());
    // Collected first: the environment's iterator is not `Send`, and this future must be (the
    // desktop app runs the server on a multi-threaded runtime).
    let environment: Vec<(String, String)> = std::env::vars().collect();
    let report = credentials.import_environment(store, environment).await?;
    if !report.imported.is_empty() {
        tracing::info!(keys = %report.imported.join(", "), "imported credentials from the environment into the global tier");
    }
    if !report.skipped.is_empty() {
        tracing::warn!(
            keys = %report.skipped.join(", "),
            "credential variables in the environment were not used: the global tier already holds them (or the value is invalid); change them under Settings → Credentials"
        );
    }
    Ok(credentials)
}

/// Before migrations touch a database: refuses, as [`open_credentials`] would, keys that
/// decrypt none of the stored credentials (or a missing key file while credentials are
/// stored), so a wrong key is reported with the data exactly as it was. Makes no key file.
pub async fn check_credential_keys(
    database: &taskyard_core::store::Unmigrated,
    data_dir: &std::path::Path,
    configured: Option<&ConfiguredKeys>,
) -> Result<()> {
    let stored = database.credential_values().await?;
    checked_vault(&stored, data_dir, configured, false).map(|_| ())
}

/// The vault of the configured keys or the key file, checked against the `stored` values,
/// with how many of them it cannot read; `None` when there is no key file, nothing is
/// stored and `make_key_file` is false.
fn checked_vault(
    stored: &[String],
    data_dir: &std::path::Path,
    configured: Option<&ConfiguredKeys>,
    make_key_file: bool,
) -> Result<Option<(Vault, usize)>> {
    let key_file = data_dir.join("fernet.key");
    let (keys, source) = match configured {
        Some(c) => (Vault::parse_keys(&c.text), c.source.to_string()),
        None if !stored.is_empty() && !key_file.exists() => anyhow::bail!(
            "{} stored credential(s) exist but the key file {} is missing: restore it from the backup, \
             or set TASKYARD_FERNET_KEYS (CREDENTIAL_ENCRYPTION_KEY) to the key they were saved with; \
             nothing was changed",
            stored.len(),
            key_file.display()
        ),
        None if !make_key_file && !key_file.exists() => return Ok(None),
        None => (Vault::key_file(&key_file)?, format!("the key file {}", key_file.display())),
    };
    let vault = Vault::new(&keys).with_context(|| format!("the credential keys from {source}"))?;
    let unreadable = vault.check_stored(stored.iter().map(String::as_str)).with_context(|| {
        format!("the credential keys from {source} are not this data's; nothing was changed")
    })?;
    Ok(Some((vault, unreadable)))
}

/// Starts the server and returns once it listens.
pub async fn start(options: ServeOptions) -> Result<Running> {
    let bind = match &options.mode {
        Mode::Local => std::net::IpAddr::from([127, 0, 0, 1]),
        Mode::Team { bind, .. } => *bind,
    };
    let listener = TcpListener::bind((bind, options.port))
        .await
        .with_context(|| format!("cannot listen on {bind}:{}", options.port))?;
    let addr = listener.local_addr()?;
    let (auth, url) = match options.mode {
        Mode::Local => {
            let token = LocalAuth::random_token().context("no randomness for the access token")?;
            let auth = LocalAuth::new(token, addr.port());
            let url = format!("http://127.0.0.1:{}/?token={}", addr.port(), auth.token());
            (Auth::Local(auth), url)
        }
        Mode::Team { auth, .. } => {
            auth.proxies.keep_resolved().await;
            let host =
                if addr.ip().is_unspecified() { "127.0.0.1".to_owned() } else { addr.ip().to_string() };
            (Auth::Team(auth), format!("http://{host}:{}/", addr.port()))
        }
    };
    let credentials =
        open_credentials(&options.store, &options.data_dir, options.startup.fernet_keys.as_ref()).await?;
    let sandbox = options.sandbox.unwrap_or(match auth {
        Auth::Local(_) => taskyard_core::sandbox::Policy::Off,
        Auth::Team(_) => taskyard_core::sandbox::Policy::Required,
    });
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut config = RunnerConfig::new(&options.data_dir);
    config.credentials = Some(credentials);
    config.queue = options.queue;
    config.sandbox = sandbox;
    config.default_branch = options.startup.default_branch.clone();
    if let Some(path) = &options.startup.agent_path {
        config.agent_path = path.clone();
    }
    config.default_programs = options.startup.agent_programs.clone();
    if let Some(model) = &options.startup.default_claude_model {
        config.default_models.insert("claude".into(), model.clone());
    }
    let startup = options.startup.clone();
    let state = AppState::new(options.store, auth, stop_rx.clone(), config, options.limits);

    // The runner's queue worker (started with the state) recovers what a previous server left
    // running in its first round (awaited below, before the server says it runs).
    state.boards().watch(state.bus().clone());
    // Servers sharing a Postgres database see each other's board and log events.
    let relay = state.store().relay_events(
        state.bus().clone(),
        state.runner().owner().to_owned(),
        state.runner().waker(),
    );

    let app = app(state.clone());
    let clone_state = state.clone();
    let health_state = state.clone();
    let stop_signal = stop_rx.clone();
    let runner = state.runner().clone();
    let limits = options.limits;
    let task = tokio::spawn(async move {
        listener::serve(listener, app, limits, stop_signal).await;
        // Connections are closed; runs still going are stopped and go back to the queue.
        tokio::time::timeout(Duration::from_secs(30), state.runner().shutdown()).await.ok();
        if let Some((sender, listener)) = relay {
            // The requeues of the shutdown above went out first.
            tokio::time::sleep(Duration::from_millis(100)).await;
            sender.abort();
            listener.abort();
        }
        Ok(())
    });
    // Running means recovered: a previous life's agents are swept (and its runs requeued or
    // resumed) before the server says it runs, so nothing of that life still works after.
    if tokio::time::timeout(Duration::from_secs(30), runner.first_round()).await.is_err() {
        tracing::warn!("recovering the runs of the previous start takes long; serving meanwhile");
    }
    // The first health probe answers from a snapshot made here, not in line.
    health::warm(&health_state).await;
    // In the background: the server serves while the repositories clone.
    if let Some(shell) = &startup.terminal_shell {
        clone_state.terminals().set_shell(shell);
    }
    clone_state.terminals().clone().reap(stop_rx.clone());
    startup::clone_repos(clone_state, startup, stop_rx);
    Ok(Running { addr, url, stop: stop_tx, task, runner })
}
