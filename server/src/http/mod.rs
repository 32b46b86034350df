//! The HTTP server: shared state, the route table (one place, with the OpenAPI document built
//! from the same registrations), middleware, and `serve` with graceful shutdown.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use axum::Router;
use axum::http::{HeaderName, Request};
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

use crate::routes::{board, events, health, projects, runs, tasks, ui};

pub mod auth;
pub mod error;

pub use auth::LocalAuth;

/// Everything handlers share. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    runner: Runner<AnyStore>,
    data_dir: PathBuf,
    started: Instant,
    local_auth: Option<LocalAuth>,
    boards: board::BoardCache,
    clones: projects::Clones,
    shutdown: watch::Receiver<bool>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").field("data_dir", &self.inner.data_dir).finish_non_exhaustive()
    }
}

impl AppState {
    /// State over an open store. `local_auth` is `None` only in tests of handlers.
    pub fn new(
        store: AnyStore,
        data_dir: PathBuf,
        local_auth: Option<LocalAuth>,
        shutdown: watch::Receiver<bool>,
    ) -> Self {
        let bus = Arc::new(Bus::new());
        let runner = Runner::new(store, bus, RunnerConfig::new(&data_dir));
        let inner = Inner {
            runner,
            data_dir,
            started: Instant::now(),
            local_auth,
            boards: board::BoardCache::default(),
            clones: projects::Clones::default(),
            shutdown,
        };
        Self { inner: Arc::new(inner) }
    }

    /// The run supervisor.
    pub fn runner(&self) -> &Runner<AnyStore> {
        &self.inner.runner
    }
    /// The store.
    pub fn store(&self) -> &AnyStore {
        self.inner.runner.store()
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
    /// The local-mode guard, if on.
    pub fn local_auth(&self) -> Option<&LocalAuth> {
        self.inner.local_auth.as_ref()
    }
    /// Board snapshots.
    pub fn boards(&self) -> &board::BoardCache {
        &self.inner.boards
    }
    /// Clones in progress.
    pub fn clones(&self) -> &projects::Clones {
        &self.inner.clones
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
        .routes(routes!(runs::logs))
        .routes(routes!(runs::logs_ws))
        .routes(routes!(runs::diff))
        .routes(routes!(runs::merge))
        .routes(routes!(runs::push))
        .routes(routes!(events::board_events))
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
    .layer(axum::middleware::from_fn_with_state(state.clone(), auth::require_local_token))
    .layer(TraceLayer::new_for_http().make_span_with(|req: &Request<_>| {
        let id = req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("-");
        tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
    }))
    .layer(PropagateRequestIdLayer::new(request_id.clone()))
    .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
    .with_state(state)
}

/// How to serve.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Port on 127.0.0.1 (0 picks a free one).
    pub port: u16,
    /// Data directory.
    pub data_dir: PathBuf,
    /// The store, already open.
    pub store: AnyStore,
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
}

impl Running {
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

/// Starts the server in local mode on 127.0.0.1 and returns once it listens.
pub async fn start(options: ServeOptions) -> Result<Running> {
    let listener = TcpListener::bind(("127.0.0.1", options.port))
        .await
        .with_context(|| format!("cannot listen on 127.0.0.1:{}", options.port))?;
    let addr = listener.local_addr()?;
    let token = LocalAuth::random_token().context("no randomness for the access token")?;
    let auth = LocalAuth::new(token, addr.port());
    let url = format!("http://127.0.0.1:{}/?token={}", addr.port(), auth.token());
    let (stop_tx, stop_rx) = watch::channel(false);
    let state = AppState::new(options.store, options.data_dir, Some(auth), stop_rx.clone());

    let recovered = state.runner().recover_interrupted().await?;
    if !recovered.is_empty() {
        tracing::warn!(count = recovered.len(), "runs left by a previous server were marked interrupted");
    }
    state.boards().watch(state.bus().clone());

    let app = app(state.clone());
    let stop_signal = stop_rx.clone();
    let task = tokio::spawn(async move {
        let shutdown = shutting_down(stop_signal);
        axum::serve(listener, app).with_graceful_shutdown(shutdown).await.context("server failed")?;
        // Connections are closed; runs still going are stopped and recorded as interrupted.
        tokio::time::timeout(Duration::from_secs(30), state.runner().shutdown()).await.ok();
        Ok(())
    });
    Ok(Running { addr, url, stop: stop_tx, task })
}
