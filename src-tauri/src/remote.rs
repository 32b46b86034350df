//! Connecting to a team server: what the user typed becomes an origin, and the origin must
//! answer as a Taskyard team server of a version this app works with, before the window goes
//! there. Every failure says what was wrong in words a user can act on.

use std::net::IpAddr;
use std::time::Duration;

use anyhow::{Context as _, Result, anyhow, bail};
use reqwest::Url;
use serde::Deserialize;

/// How long each check may take.
const TIMEOUT: Duration = Duration::from_secs(6);

/// A server that answered as expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Server {
    /// `https://host[:port]`, no path.
    pub origin: String,
    /// The version it runs.
    pub version: String,
}

/// The origin of what the user typed: `https://` is assumed without a scheme (plain `http://`
/// for this computer and local networks, where a team server often has no certificate); a
/// path, query, fragment or user name is refused; plain `http://` to a public name is refused,
/// since passwords would cross the internet unencrypted.
pub fn origin(input: &str) -> Result<String> {
    let input = input.trim();
    if input.is_empty() {
        bail!("enter the team server's address, such as https://taskyard.example.com");
    }
    let with_scheme = if input.contains("://") {
        input.to_owned()
    } else {
        let host = input.split(['/', ':']).next().unwrap_or_default();
        let scheme = if is_local(host) { "http" } else { "https" };
        format!("{scheme}://{input}")
    };
    let url = Url::parse(&with_scheme).map_err(|e| anyhow!("{input} is not an address ({e})"))?;
    if !matches!(url.scheme(), "http" | "https") {
        bail!("{input}: only http:// and https:// addresses are supported");
    }
    if !url.username().is_empty() || url.password().is_some() {
        bail!("{input}: leave the user name out of the address; sign in on the server's page");
    }
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        bail!(
            "{input}: give the server's address alone, without a path (such as https://taskyard.example.com)"
        );
    }
    let host = url.host_str().context("the address names no host")?;
    if url.scheme() == "http" && !is_local(host) {
        bail!("{input}: use https:// — over plain http:// your password would cross the network unencrypted");
    }
    Ok(url.origin().ascii_serialization())
}

/// This computer, a private network, or a name that only a local network resolves.
fn is_local(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return match ip {
            IpAddr::V4(v4) => v4.is_loopback() || v4.is_private() || v4.is_link_local(),
            IpAddr::V6(v6) => v6.is_loopback() || v6.is_unique_local() || v6.is_unicast_link_local(),
        };
    }
    let host = host.to_ascii_lowercase();
    host == "localhost"
        || !host.contains('.')
        || [".localhost", ".local", ".lan", ".internal", ".home.arpa"].iter().any(|s| host.ends_with(s))
}

/// Whether a server of `theirs` works with an app of `ours`: the same major version, and
/// before 1.0 the same minor one (the API may change between 0.x releases).
pub fn compatible(ours: &str, theirs: &str) -> bool {
    let parts = |v: &str| -> Option<(u64, u64)> {
        let mut it = v.split(['.', '-', '+']);
        Some((it.next()?.parse().ok()?, it.next()?.parse().ok()?))
    };
    match (parts(ours), parts(theirs)) {
        (Some((a, b)), Some((c, d))) => a == c && (a > 0 || b == d),
        _ => false,
    }
}

#[derive(Deserialize)]
struct Health {
    status: String,
    version: String,
}

#[derive(Deserialize)]
struct AuthMode {
    mode: String,
}

/// Checks that `origin` is a reachable Taskyard team server this app works with.
pub async fn check(origin: &str) -> Result<Server> {
    let client = reqwest::Client::builder()
        .timeout(TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .context("cannot make an HTTP client")?;
    let health: Health = get(&client, origin, "/health").await?;
    if health.status != "ok" {
        bail!("{origin} answers, but says its status is “{}”", health.status);
    }
    let ours = env!("CARGO_PKG_VERSION");
    if !compatible(ours, &health.version) {
        bail!(
            "{origin} runs Taskyard {}, which this app ({ours}) cannot work with: use an app of version {}.x, or update the server",
            health.version,
            health.version.rsplit_once('.').map_or(health.version.as_str(), |(head, _)| head)
        );
    }
    let local = || {
        anyhow!(
            "{origin} is a Taskyard for one person (local mode) and cannot be shared: start it with --auth team"
        )
    };
    let response = send(&client, origin, "/api/auth/mode").await?;
    // A one-person server answers nothing without its launch token.
    if response.status() == reqwest::StatusCode::UNAUTHORIZED {
        return Err(local());
    }
    let mode: AuthMode = json(response, origin, "/api/auth/mode").await?;
    if mode.mode != "team" {
        return Err(local());
    }
    Ok(Server { origin: origin.to_owned(), version: health.version })
}

async fn get<T: serde::de::DeserializeOwned>(
    client: &reqwest::Client,
    origin: &str,
    path: &str,
) -> Result<T> {
    json(send(client, origin, path).await?, origin, path).await
}

/// GETs `path`; an unreachable server and a redirect are errors that say what to do.
async fn send(client: &reqwest::Client, origin: &str, path: &str) -> Result<reqwest::Response> {
    let response = client.get(format!("{origin}{path}")).send().await.map_err(|e| {
        let why = if e.is_timeout() {
            "it did not answer in time".to_owned()
        } else if e.is_connect() {
            "nothing answers there".to_owned()
        } else {
            root_cause(&e)
        };
        anyhow!("cannot reach {origin}: {why}; check the address and your network")
    })?;
    if response.status().is_redirection() {
        let to = response.headers().get("location").and_then(|v| v.to_str().ok()).unwrap_or("elsewhere");
        bail!("{origin} redirects to {to}: enter that address instead");
    }
    Ok(response)
}

/// The JSON body of a successful answer; anything else is not a Taskyard server.
async fn json<T: serde::de::DeserializeOwned>(
    response: reqwest::Response,
    origin: &str,
    path: &str,
) -> Result<T> {
    let status = response.status();
    let not_taskyard = || anyhow!("{origin} answers, but is not a Taskyard server ({path} gave {status})");
    if !status.is_success() {
        return Err(not_taskyard());
    }
    // Bounded: a health answer is a few bytes, a hostile server's could be endless.
    let body = read_bounded(response, 64 * 1024).await.map_err(|_| not_taskyard())?;
    serde_json::from_slice(&body).map_err(|_| not_taskyard())
}

async fn read_bounded(mut response: reqwest::Response, limit: usize) -> Result<Vec<u8>> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        if body.len() + chunk.len() > limit {
            bail!("more than {limit} bytes");
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The innermost reason of an error chain (a certificate problem, say).
fn root_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut inner = error;
    while let Some(next) = inner.source() {
        inner = next;
    }
    inner.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_users_type_becomes_an_origin() {
        assert_eq!(origin(" taskyard.example.com ").unwrap(), "https://taskyard.example.com");
        assert_eq!(origin("https://taskyard.example.com/").unwrap(), "https://taskyard.example.com");
        assert_eq!(origin("https://taskyard.example.com:8443").unwrap(), "https://taskyard.example.com:8443");
        assert_eq!(origin("localhost:7777").unwrap(), "http://localhost:7777");
        assert_eq!(origin("192.168.1.20:7777").unwrap(), "http://192.168.1.20:7777");
        assert_eq!(origin("http://buildbox:7777").unwrap(), "http://buildbox:7777");
        assert_eq!(origin("http://[::1]:7777").unwrap(), "http://[::1]:7777");
    }

    #[test]
    fn addresses_that_cannot_be_a_team_server_are_refused_with_a_reason() {
        for (input, why) in [
            ("", "enter the team server's address"),
            ("http://taskyard.example.com", "use https://"),
            ("ftp://taskyard.example.com", "only http:// and https://"),
            ("https://me:pw@taskyard.example.com", "leave the user name out"),
            ("https://taskyard.example.com/board", "without a path"),
            ("https://taskyard.example.com/?token=x", "without a path"),
            ("https://exa mple.com", "is not an address"),
        ] {
            let error = origin(input).expect_err(input).to_string();
            assert!(error.contains(why), "{input}: {error}");
        }
    }

    #[test]
    fn versions_are_compatible_within_a_minor_before_one_and_a_major_after() {
        assert!(compatible("0.1.0", "0.1.7"));
        assert!(!compatible("0.1.0", "0.2.0"));
        assert!(compatible("1.2.0", "1.9.3-rc1"));
        assert!(!compatible("1.2.0", "2.0.0"));
        assert!(!compatible("0.1.0", "banana"));
    }
}
