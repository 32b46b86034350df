//! The credential proxy: agents never hold a real model-API credential. A run gets a random
//! placeholder for each credential and its `*_BASE_URL` pointing at this loopback proxy; the
//! proxy swaps the placeholder for the real value and streams the request to the real
//! upstream and the answer back (server-sent events chunk by chunk, never buffered). A
//! run's placeholders die with its execution ([`Grant`] is dropped), so one printed,
//! leaked or kept by a tool is worth nothing afterwards.
//!
//! This is the one HTTP piece of the core: it belongs to a run's lifetime, like the run's
//! process, and the desktop app and the server share it.
//!
//! Upstreams are trusted configuration only: the server's own `*_BASE_URL` (a gateway, the
//! tests' mocks) or the vendor's API. A task that names its own base URL sends there only
//! the credentials its own settings hold, never resolved ones, so no member can point a
//! team's credential at a host of their choosing.

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt as _;
use http_body_util::{BodyExt as _, Full, Limited, StreamBody, combinators::BoxBody};
use hyper::body::{Frame, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;

use crate::model::RunId;

/// A model API the proxy fronts.
#[derive(Debug, Clone, Copy)]
pub struct Provider {
    /// Its segment in proxy URLs.
    pub name: &'static str,
    /// The variable agents take its base URL from.
    pub base_var: &'static str,
    /// The vendor's API, when nothing configures another.
    pub default_base: &'static str,
    /// The credential variables its CLIs send to it.
    pub credentials: &'static [&'static str],
}

/// The model APIs of the agent CLIs Taskyard runs.
pub const PROVIDERS: &[Provider] = &[
    Provider {
        name: "anthropic",
        base_var: "ANTHROPIC_BASE_URL",
        default_base: "https://api.anthropic.com",
        credentials: &["ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "CLAUDE_CODE_OAUTH_TOKEN"],
    },
    Provider {
        name: "openai",
        base_var: "OPENAI_BASE_URL",
        default_base: "https://api.openai.com/v1",
        credentials: &["OPENAI_API_KEY", "CODEX_API_KEY"],
    },
    Provider {
        name: "gemini",
        base_var: "GOOGLE_GEMINI_BASE_URL",
        default_base: "https://generativelanguage.googleapis.com",
        credentials: &["GEMINI_API_KEY", "GOOGLE_API_KEY"],
    },
];

/// What marks a placeholder; it is followed by 32 hex digits.
const MARK: &str = "taskyard-placeholder-";
const PLACEHOLDER_HEX: usize = 32;
/// The largest request body passed through (model requests with images and long contexts
/// stay far below).
const MAX_REQUEST_BODY: usize = 64 * 1024 * 1024;
/// Connections served at once; more wait in the listen backlog.
const MAX_CONNECTIONS: usize = 512;

/// How the proxy works.
#[derive(Debug, Clone)]
pub struct ProxyConfig {
    /// How long an upstream may take to accept a connection.
    pub connect_timeout: Duration,
    /// How long an upstream may stay silent in the middle of an answer.
    pub read_timeout: Duration,
}

impl Default for ProxyConfig {
    fn default() -> Self {
        Self { connect_timeout: Duration::from_secs(15), read_timeout: Duration::from_secs(600) }
    }
}

/// One execution's credentials, by placeholder, and where each provider's requests go.
#[derive(Debug)]
struct Entry {
    run: RunId,
    secrets: HashMap<String, String>,
    upstreams: HashMap<&'static str, String>,
}

type Grants = Mutex<HashMap<String, Entry>>;

/// The running proxy. Dropping the last handle stops it.
#[derive(Debug)]
pub struct CredentialProxy {
    addr: SocketAddr,
    grants: Arc<Grants>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for CredentialProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A run's hold on the proxy: its placeholders work while it lives.
#[derive(Debug)]
pub struct Grant {
    id: String,
    grants: Weak<Grants>,
}

impl Drop for Grant {
    fn drop(&mut self) {
        if let Some(grants) = self.grants.upgrade() {
            grants.lock().unwrap_or_else(PoisonError::into_inner).remove(&self.id);
        }
    }
}

/// What [`CredentialProxy::secure`] did to a run's environment, for its log.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Secured {
    /// Variables now holding placeholders.
    pub proxied: Vec<String>,
    /// Resolved credentials withheld because the task sends that provider's requests to a
    /// base URL of its own.
    pub withheld: Vec<String>,
}

impl CredentialProxy {
    /// Starts the proxy on a free loopback port.
    pub async fn start(config: ProxyConfig) -> std::io::Result<Arc<Self>> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let client = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .read_timeout(config.read_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .build()
            .map_err(std::io::Error::other)?;
        let grants: Arc<Grants> = Arc::default();
        let task = tokio::spawn(serve(listener, client, Arc::downgrade(&grants)));
        Ok(Arc::new(Self { addr, grants, task }))
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Replaces the credentials in a run's environment with placeholders and points the
    /// providers' base URLs at the proxy. `resolved` is the run's environment as Taskyard
    /// made it (its upstreams are trusted); `task` holds the task's own settings, which win
    /// over it in the agent — a base URL there gets only credentials set there too, unless
    /// `trust_task_upstreams` (one user, whose credentials they all are).
    pub fn secure(
        &self,
        run: RunId,
        resolved: &mut BTreeMap<String, String>,
        task: &mut BTreeMap<String, String>,
        trust_task_upstreams: bool,
    ) -> (Grant, Secured) {
        let id = random_hex();
        let mut entry = Entry { run, secrets: HashMap::new(), upstreams: HashMap::new() };
        let mut secured = Secured::default();
        for provider in PROVIDERS {
            let trusted = resolved.get(provider.base_var).filter(|v| !v.is_empty()).cloned();
            let own = task.get(provider.base_var).filter(|v| !v.is_empty()).cloned();
            let elsewhere =
                !trust_task_upstreams && own.as_ref().is_some_and(|own| Some(own) != trusted.as_ref());
            if elsewhere {
                for var in provider.credentials {
                    if resolved.remove(*var).is_some() && !task.contains_key(*var) {
                        secured.withheld.push((*var).to_owned());
                    }
                }
            }
            let mut any = false;
            for layer in [&mut *resolved, &mut *task] {
                for var in provider.credentials {
                    if let Some(value) = layer.get_mut(*var).filter(|v| !v.is_empty()) {
                        let placeholder = placeholder_for(value);
                        entry.secrets.insert(placeholder.clone(), std::mem::replace(value, placeholder));
                        if !secured.proxied.iter().any(|p| p == var) {
                            secured.proxied.push((*var).to_owned());
                        }
                        any = true;
                    }
                }
            }
            if !any {
                continue;
            }
            let upstream = own.or(trusted).unwrap_or_else(|| provider.default_base.to_owned());
            entry.upstreams.insert(provider.name, upstream.trim_end_matches('/').to_owned());
            let url = format!("http://{}/{id}/{}", self.addr, provider.name);
            resolved.insert(provider.base_var.to_owned(), url.clone());
            if task.contains_key(provider.base_var) {
                task.insert(provider.base_var.to_owned(), url);
            }
        }
        self.grants.lock().unwrap_or_else(PoisonError::into_inner).insert(id.clone(), entry);
        (Grant { id, grants: Arc::downgrade(&self.grants) }, secured)
    }

    /// How many runs hold placeholders now.
    pub fn live_grants(&self) -> usize {
        self.grants.lock().unwrap_or_else(PoisonError::into_inner).len()
    }
}

/// A placeholder that keeps the real value's kind prefix (`sk-ant-oat01-`, `sk-`, `AIza`):
/// some CLIs look at it to choose how to authenticate.
fn placeholder_for(real: &str) -> String {
    const PREFIXES: &[&str] = &["sk-ant-oat01-", "sk-ant-api03-", "sk-ant-", "sk-proj-", "sk-", "AIza"];
    let prefix = PREFIXES.iter().find(|p| real.starts_with(**p)).copied().unwrap_or_default();
    format!("{prefix}{MARK}{}", random_hex())
}

fn random_hex() -> String {
    let mut bytes = [0u8; PLACEHOLDER_HEX / 2];
    getrandom::fill(&mut bytes).expect("the system's random source failed");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

type ProxyBody = BoxBody<Bytes, Box<dyn std::error::Error + Send + Sync>>;

async fn serve(listener: TcpListener, client: reqwest::Client, grants: Weak<Grants>) {
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    loop {
        let Ok(permit) = slots.clone().acquire_owned().await else { return };
        let Ok((stream, _)) = listener.accept().await else { continue };
        let _ = stream.set_nodelay(true);
        let (client, grants) = (client.clone(), grants.clone());
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let (client, grants) = (client.clone(), grants.clone());
                async move { Ok::<_, Infallible>(forward(req, &client, &grants).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(Duration::from_secs(30))
                .serve_connection(TokioIo::new(stream), service)
                .await;
            drop(permit);
        });
    }
}

/// Refusals, as JSON the CLIs show.
fn refuse(status: StatusCode, message: &str) -> Response<ProxyBody> {
    let body =
        serde_json::json!({ "type": "error", "error": { "type": "taskyard_proxy", "message": message } });
    let mut response =
        Response::new(Full::new(Bytes::from(body.to_string())).map_err(|e| match e {}).boxed());
    *response.status_mut() = status;
    response.headers_mut().insert(hyper::header::CONTENT_TYPE, "application/json".parse().expect("static"));
    response
}

/// Headers that belong to one connection, not to the request.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
];

async fn forward(
    req: Request<Incoming>,
    client: &reqwest::Client,
    grants: &Weak<Grants>,
) -> Response<ProxyBody> {
    let (parts, body) = req.into_parts();
    let path_and_query = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let Some((grant, provider, rest)) = split_path(path_and_query) else {
        return refuse(StatusCode::NOT_FOUND, "not a credential proxy address");
    };
    let looked_up = grants.upgrade().and_then(|g| {
        let g = g.lock().unwrap_or_else(PoisonError::into_inner);
        g.get(grant).map(|e| (e.run, e.secrets.clone(), e.upstreams.get(provider).cloned()))
    });
    let Some((run, secrets, Some(upstream))) = looked_up else {
        return refuse(
            StatusCode::UNAUTHORIZED,
            "this placeholder credential is no longer valid: its run has ended",
        );
    };
    let Some(url) = upstream_url(&upstream, rest) else {
        return refuse(StatusCode::BAD_REQUEST, "the request's path cannot be sent upstream");
    };
    let Some(url) = swap(&url, &secrets) else {
        return refuse(StatusCode::UNAUTHORIZED, "a placeholder credential of another run was used");
    };
    let mut request = client.request(parts.method.clone(), url.as_str());
    for (name, value) in &parts.headers {
        if HOP_BY_HOP.contains(&name.as_str()) {
            continue;
        }
        let value = match value.to_str() {
            Ok(text) if text.contains(MARK) => match swap(text, &secrets) {
                Some(real) => real,
                None => {
                    return refuse(
                        StatusCode::UNAUTHORIZED,
                        "a placeholder credential of another run was used",
                    );
                }
            },
            _ => {
                request = request.header(name, value);
                continue;
            }
        };
        request = request.header(name, value);
    }
    let body = match Limited::new(body, MAX_REQUEST_BODY).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => {
            return refuse(StatusCode::PAYLOAD_TOO_LARGE, "the request body is too large or was cut off");
        }
    };
    let answer = match request.body(body).send().await {
        Ok(answer) => answer,
        Err(e) => {
            tracing::warn!(%run, provider, error = %without_url(&e), "the credential proxy could not reach the upstream");
            return refuse(StatusCode::BAD_GATEWAY, "the model API could not be reached");
        }
    };
    relay(answer)
}

/// The answer, streamed as it arrives.
fn relay(answer: reqwest::Response) -> Response<ProxyBody> {
    let mut response = Response::builder().status(answer.status().as_u16());
    for (name, value) in answer.headers() {
        if !HOP_BY_HOP.contains(&name.as_str()) && name != hyper::header::CONTENT_LENGTH {
            response = response.header(name.as_str(), value.as_bytes());
        }
    }
    let stream = answer.bytes_stream().map(|chunk| {
        chunk.map(Frame::data).map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>)
    });
    response
        .body(http_body_util::BodyExt::boxed(StreamBody::new(stream)))
        .unwrap_or_else(|_| refuse(StatusCode::BAD_GATEWAY, "the model API's answer could not be relayed"))
}

/// `/<grant>/<provider>/<rest>` → its parts (`rest` keeps its leading `/` and query).
fn split_path(path: &str) -> Option<(&str, &str, &str)> {
    let path = path.strip_prefix('/')?;
    let (grant, path) = path.split_once('/')?;
    let (provider, rest) = match path.find(['/', '?']) {
        Some(i) => (&path[..i], &path[i..]),
        None => (path, ""),
    };
    (grant.len() == PLACEHOLDER_HEX && grant.bytes().all(|b| b.is_ascii_hexdigit()))
        .then_some((grant, provider, rest))
}

/// The upstream URL for `rest`, which must stay on the upstream's scheme, host and port.
fn upstream_url(upstream: &str, rest: &str) -> Option<String> {
    let url = format!("{upstream}{rest}");
    let (want, got) = (reqwest::Url::parse(upstream).ok()?, reqwest::Url::parse(&url).ok()?);
    (want.scheme() == got.scheme()
        && want.host() == got.host()
        && want.port_or_known_default() == got.port_or_known_default())
    .then_some(url)
}

/// `text` with every placeholder replaced by its real value; `None` when it holds a
/// placeholder this run does not own.
fn swap(text: &str, secrets: &HashMap<String, String>) -> Option<String> {
    if !text.contains(MARK) {
        return Some(text.to_owned());
    }
    let mut out = text.to_owned();
    for (placeholder, real) in secrets {
        out = out.replace(placeholder.as_str(), real);
    }
    (!out.contains(MARK)).then_some(out)
}

/// A client error's text without the URL (which may carry a query key).
fn without_url(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    if let Some(url) = e.url() {
        text = text.replace(url.as_str(), "<upstream>");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_split_into_grant_provider_and_the_rest() {
        let g = "0123456789abcdef0123456789abcdef";
        assert_eq!(
            split_path(&format!("/{g}/anthropic/v1/messages?beta=true")),
            Some((g, "anthropic", "/v1/messages?beta=true"))
        );
        assert_eq!(split_path(&format!("/{g}/gemini?key=x")), Some((g, "gemini", "?key=x")));
        assert_eq!(split_path(&format!("/{g}/openai")), Some((g, "openai", "")));
        assert_eq!(split_path("/short/anthropic/v1"), None);
        assert_eq!(split_path("/"), None);
    }

    #[test]
    fn upstream_urls_stay_on_the_upstream() {
        assert_eq!(
            upstream_url("https://api.anthropic.com", "/v1/messages").as_deref(),
            Some("https://api.anthropic.com/v1/messages")
        );
        assert_eq!(
            upstream_url("http://127.0.0.1:9/mock/x", "/v1/m?beta=true").as_deref(),
            Some("http://127.0.0.1:9/mock/x/v1/m?beta=true")
        );
        assert_eq!(upstream_url("https://api.anthropic.com", "@evil.example/v1").as_deref(), None);
        assert_eq!(upstream_url("https://api.anthropic.com", ".evil.example/v1").as_deref(), None);
        assert_eq!(upstream_url("https://api.anthropic.com", ":8443/v1").as_deref(), None);
    }

    #[test]
    fn placeholders_keep_the_kind_and_swap_only_this_runs() {
        let p = placeholder_for("sk-ant-oat01-TEST-abc");
        assert!(
            p.starts_with("sk-ant-oat01-taskyard-placeholder-") && p.len() == 13 + MARK.len() + 32,
            "{p}"
        );
        let secrets = HashMap::from([(p.clone(), "sk-ant-oat01-TEST-abc".to_owned())]);
        assert_eq!(swap(&format!("Bearer {p}"), &secrets).as_deref(), Some("Bearer sk-ant-oat01-TEST-abc"));
        assert_eq!(swap(&format!("Bearer {}", placeholder_for("sk-x")), &secrets), None);
        assert_eq!(swap("plain", &secrets).as_deref(), Some("plain"));
    }

    #[tokio::test]
    async fn a_task_with_its_own_base_url_gets_only_its_own_credentials() {
        let proxy = CredentialProxy::start(ProxyConfig::default()).await.unwrap();
        let run = RunId::new();
        let mut resolved = BTreeMap::from([
            ("ANTHROPIC_API_KEY".to_owned(), "sk-ant-api03-TEST-global".to_owned()),
            ("OPENAI_API_KEY".to_owned(), "sk-TEST-openai".to_owned()),
            ("PATH".to_owned(), "/usr/bin".to_owned()),
        ]);
        let mut task =
            BTreeMap::from([("ANTHROPIC_BASE_URL".to_owned(), "http://attacker.example".to_owned())]);
        let (grant, secured) = proxy.secure(run, &mut resolved, &mut task, false);
        assert_eq!(secured.withheld, ["ANTHROPIC_API_KEY"]);
        assert_eq!(secured.proxied, ["OPENAI_API_KEY"]);
        assert!(!resolved.contains_key("ANTHROPIC_API_KEY"));
        assert!(resolved["OPENAI_API_KEY"].starts_with("sk-taskyard-placeholder-"));
        assert!(resolved["OPENAI_BASE_URL"].starts_with(&format!("http://{}/", proxy.addr())));
        assert_eq!(task["ANTHROPIC_BASE_URL"], "http://attacker.example", "nothing proxied for it");
        assert_eq!(resolved["PATH"], "/usr/bin");
        assert_eq!(proxy.live_grants(), 1);
        drop(grant);
        assert_eq!(proxy.live_grants(), 0);
    }
}
