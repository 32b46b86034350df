//! Which names this server answers to: `Host` (and `Origin`, when a browser sends one) must
//! name it, so a web page cannot reach it under a name of its own (DNS rebinding) and a
//! request meant for another site is not served. Local mode allows its loopback names with
//! its port; a team server its public URL, or without one its loopback names and bind
//! address.

use axum::http::{HeaderMap, header};

/// The accepted names, ports and schemes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hosts {
    /// Lower-case host names (IPv6 in brackets).
    names: Vec<String>,
    /// The port `Host` must carry; `None` accepts any.
    port: Option<u16>,
    /// The scheme an `Origin` must have; `None` accepts http and https.
    scheme: Option<String>,
}

const LOOPBACK: [&str; 3] = ["127.0.0.1", "localhost", "[::1]"];

impl Hosts {
    /// Local mode: the loopback names with this port, over http.
    pub fn loopback(port: u16) -> Self {
        Self { names: names(LOOPBACK), port: Some(port), scheme: Some("http".into()) }
    }

    /// A team server without a public URL: the loopback names and the bind address (when it
    /// is a specific one), on any port (a container's port may be published as another).
    pub fn bind(bind: std::net::IpAddr) -> Self {
        let mut names = names(LOOPBACK);
        if !bind.is_unspecified() && !bind.is_loopback() {
            names.push(match bind {
                std::net::IpAddr::V4(ip) => ip.to_string(),
                std::net::IpAddr::V6(ip) => format!("[{ip}]"),
            });
        }
        Self { names, port: None, scheme: None }
    }

    /// A team server at `url` (`https://taskyard.example.com`, with an optional port; a path
    /// is ignored).
    pub fn public_url(url: &str) -> Result<Self, String> {
        let bad = || format!("the public URL {url:?} is not http(s)://host[:port]");
        let (scheme, rest) = url.trim().split_once("://").ok_or_else(bad)?;
        let scheme = scheme.to_ascii_lowercase();
        let default_port = match scheme.as_str() {
            "https" => 443,
            "http" => 80,
            _ => return Err(bad()),
        };
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        if authority.contains('@') {
            return Err(bad());
        }
        let (name, port) = split_authority(authority).ok_or_else(bad)?;
        Ok(Self { names: vec![name], port: Some(port.unwrap_or(default_port)), scheme: Some(scheme) })
    }

    /// Whether people reach this server over https (its public URL says so).
    pub fn is_https(&self) -> bool {
        self.scheme.as_deref() == Some("https")
    }

    /// Whether `Host` names this server.
    pub fn host_ok(&self, headers: &HeaderMap) -> bool {
        let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
        host.is_some_and(|h| self.authority_ok(h, self.scheme.as_deref().unwrap_or("http")))
    }

    /// Whether the `Origin` (when sent) is this server.
    pub fn origin_ok(&self, headers: &HeaderMap) -> bool {
        let Some(origin) = headers.get(header::ORIGIN) else { return true };
        let Some((scheme, authority)) = origin.to_str().ok().and_then(|o| o.split_once("://")) else {
            return false;
        };
        let scheme = scheme.to_ascii_lowercase();
        let scheme_ok = match &self.scheme {
            Some(s) => *s == scheme,
            None => scheme == "http" || scheme == "https",
        };
        scheme_ok && self.authority_ok(authority, &scheme)
    }

    fn authority_ok(&self, authority: &str, scheme: &str) -> bool {
        let Some((name, port)) = split_authority(authority) else { return false };
        let default_port = if scheme == "https" { 443 } else { 80 };
        let port_ok = match self.port {
            None => true,
            Some(p) => port.unwrap_or(default_port) == p,
        };
        port_ok && self.names.contains(&name)
    }
}

fn names(list: [&str; 3]) -> Vec<String> {
    list.iter().map(|n| (*n).to_owned()).collect()
}

/// `name[:port]` → lower-case name and port; `None` for anything else (user info, a bad
/// port, characters no host name has).
fn split_authority(authority: &str) -> Option<(String, Option<u16>)> {
    let (name, port) = match authority.rfind(':') {
        Some(i) if !authority[i..].contains(']') => (&authority[..i], Some(authority[i + 1..].parse().ok()?)),
        _ => (authority, None),
    };
    let valid = !name.is_empty()
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '[' | ']' | ':'));
    valid.then(|| (name.to_ascii_lowercase(), port))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(host: &str, origin: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_str(host).expect("header"));
        if let Some(o) = origin {
            h.insert(header::ORIGIN, HeaderValue::from_str(o).expect("header"));
        }
        h
    }

    #[test]
    fn a_public_url_is_the_only_name() {
        let hosts = Hosts::public_url("https://Taskyard.example.com/").expect("url");
        assert!(hosts.host_ok(&headers("taskyard.example.com", None)));
        assert!(hosts.host_ok(&headers("taskyard.example.com:443", Some("https://taskyard.example.com"))));
        assert!(!hosts.host_ok(&headers("evil.com", None)));
        assert!(!hosts.host_ok(&headers("127.0.0.1:7777", None)));
        assert!(!hosts.host_ok(&headers("taskyard.example.com:8443", None)));
        assert!(!hosts.origin_ok(&headers("taskyard.example.com", Some("http://taskyard.example.com"))));
        assert!(!hosts.origin_ok(&headers("taskyard.example.com", Some("https://evil.com"))));
        assert!(Hosts::public_url("ftp://x").is_err());
        assert!(Hosts::public_url("https://user@x").is_err());
    }

    #[test]
    fn without_a_public_url_loopback_and_the_bind_address() {
        let hosts = Hosts::bind([10, 0, 0, 5].into());
        for ok in ["127.0.0.1:7777", "localhost:8080", "[::1]:1", "10.0.0.5:7777", "LOCALHOST"] {
            assert!(hosts.host_ok(&headers(ok, None)), "{ok}");
        }
        for bad in ["evil.com", "evil.com:7777", "10.0.0.6:7777", "127.0.0.1:x", "a@127.0.0.1"] {
            assert!(!hosts.host_ok(&headers(bad, None)), "{bad}");
        }
        assert!(hosts.origin_ok(&headers("localhost:7777", Some("http://localhost:7777"))));
        assert!(!hosts.origin_ok(&headers("localhost:7777", Some("http://evil.com"))));
    }

    #[test]
    fn local_mode_needs_its_port() {
        let hosts = Hosts::loopback(7777);
        assert!(hosts.host_ok(&headers("127.0.0.1:7777", None)));
        assert!(!hosts.host_ok(&headers("127.0.0.1:7778", None)));
        assert!(!hosts.host_ok(&headers("127.0.0.1", None)));
        assert!(!hosts.origin_ok(&headers("127.0.0.1:7777", Some("https://127.0.0.1:7777"))));
    }
}
