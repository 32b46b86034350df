//! Reverse proxies this server trusts: only a request whose peer is one of them may say who
//! the client is (`X-Forwarded-For`) and whether it came over https (`X-Forwarded-Proto`).
//! From anyone else those headers are ignored, so a client cannot pick the address its
//! sign-in attempts count against, nor pose as https.
//!
//! Entries are addresses, CIDR ranges or host names (a compose service such as `proxy`):
//! names are looked up at start-up and again every [`REFRESH`], since a container's address
//! changes when it is made anew.

use std::net::IpAddr;
use std::sync::{Arc, RwLock, Weak};
use std::time::Duration;

use axum::http::HeaderMap;

/// How often host names are looked up again.
pub const REFRESH: Duration = Duration::from_secs(10);
/// How soon a name that did not resolve is looked up again.
const RETRY: Duration = Duration::from_secs(1);

/// The trusted proxies.
#[derive(Debug, Default)]
pub struct TrustedProxies {
    nets: Vec<Net>,
    names: Vec<String>,
    /// The names' addresses as last looked up.
    resolved: RwLock<Vec<IpAddr>>,
    /// Names whose last lookup failed (warned about once, until they resolve again).
    failing: std::sync::Mutex<Vec<String>>,
}

/// An address range: `addr/prefix`, host bits cleared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Net {
    addr: IpAddr,
    prefix: u8,
}

impl Net {
    fn parse(text: &str) -> Option<Self> {
        let (addr, prefix) = match text.split_once('/') {
            Some((a, p)) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => {
                (a.parse::<IpAddr>().ok()?, p.parse::<u8>().ok()?)
            }
            Some(_) => return None,
            None => {
                let a = text.parse::<IpAddr>().ok()?;
                (a, if a.is_ipv4() { 32 } else { 128 })
            }
        };
        let addr = addr.to_canonical();
        let bits = if addr.is_ipv4() { 32 } else { 128 };
        (prefix <= bits).then(|| Self { addr: mask(addr, prefix), prefix })
    }

    fn contains(&self, ip: IpAddr) -> bool {
        ip.is_ipv4() == self.addr.is_ipv4() && mask(ip, self.prefix) == self.addr
    }
}

fn mask(ip: IpAddr, prefix: u8) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => {
            let m = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V4(std::net::Ipv4Addr::from(u32::from(v4) & m))
        }
        IpAddr::V6(v6) => {
            let m = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V6(std::net::Ipv6Addr::from(u128::from(v6) & m))
        }
    }
}

fn is_host_name(text: &str) -> bool {
    text.len() <= 253
        && text.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
        // All digits and dots is a mistyped address, not a name.
        && !text.bytes().all(|b| b.is_ascii_digit() || b == b'.')
}

/// Who sent a request, as far as this server can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Client {
    /// The client's address: the peer's, or the one a trusted proxy forwarded.
    pub ip: Option<IpAddr>,
    /// Whether it reached the (trusted) proxy over https.
    pub https: bool,
}

impl TrustedProxies {
    /// Parses a comma-separated list; an entry that is neither an address, a range nor a
    /// host name is named in the error.
    pub fn parse(list: &str) -> Result<Self, String> {
        let mut proxies = Self::default();
        for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            if let Some(net) = Net::parse(entry) {
                proxies.nets.push(net);
            } else if !entry.contains(['/', ':']) && is_host_name(entry) {
                proxies.names.push(entry.to_ascii_lowercase());
            } else {
                return Err(format!(
                    "{entry:?} is not an IP address, a CIDR range (such as 10.0.0.0/8) or a host name"
                ));
            }
        }
        Ok(proxies)
    }

    /// Whether no proxy is trusted.
    pub fn is_empty(&self) -> bool {
        self.nets.is_empty() && self.names.is_empty()
    }

    /// Whether `ip` is a trusted proxy.
    pub fn trusts(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.nets.iter().any(|n| n.contains(ip))
            || self.resolved.read().map(|r| r.contains(&ip)).unwrap_or(false)
    }

    /// The client of a request from `peer`: from a trusted proxy, the right-most address of
    /// `X-Forwarded-For` that is not itself a trusted proxy (each proxy appends the address
    /// it was reached from, so everything left of that was written by the client and proves
    /// nothing), and its `X-Forwarded-Proto`.
    pub fn client(&self, peer: Option<IpAddr>, headers: &HeaderMap) -> Client {
        let Some(peer) = peer.map(|p| p.to_canonical()) else { return Client { ip: None, https: false } };
        if !self.trusts(peer) {
            return Client { ip: Some(peer), https: false };
        }
        let https = last_value(headers, "x-forwarded-proto").is_some_and(|p| p.eq_ignore_ascii_case("https"));
        let chain: Vec<String> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|hop| hop.trim().to_owned())
            .collect();
        let mut client = peer;
        for hop in chain.iter().rev() {
            // A hop that is not an address ends what can be believed: the last good one stands.
            let Ok(ip) = hop.parse::<IpAddr>().map(|ip| ip.to_canonical()) else { break };
            client = ip;
            if !self.trusts(ip) {
                break;
            }
        }
        Client { ip: Some(client), https }
    }

    /// Looks the host names up now (each within 2 s; a name that does not resolve keeps
    /// nothing and is logged).
    pub async fn refresh(&self) {
        if self.names.is_empty() {
            return;
        }
        let mut addresses = Vec::new();
        let mut failing = Vec::new();
        for name in &self.names {
            let lookup = tokio::net::lookup_host((name.as_str(), 0));
            let error = match tokio::time::timeout(Duration::from_secs(2), lookup).await {
                Ok(Ok(found)) => {
                    addresses.extend(found.map(|a| a.ip().to_canonical()));
                    continue;
                }
                Ok(Err(e)) => e.to_string(),
                Err(_) => "no answer within 2 s".to_owned(),
            };
            failing.push(name.clone());
            let before = self.failing.lock().map(|f| f.contains(name)).unwrap_or(false);
            if !before {
                tracing::warn!(proxy = %name, %error, "a trusted proxy's name does not resolve (yet); looking again every second");
            }
        }
        if let Ok(mut last) = self.failing.lock() {
            for name in last.iter().filter(|n| !failing.contains(n)) {
                tracing::info!(proxy = %name, "a trusted proxy's name resolves now");
            }
            *last = failing;
        }
        addresses.sort();
        addresses.dedup();
        if let Ok(mut resolved) = self.resolved.write() {
            *resolved = addresses;
        }
    }

    /// Looks the names up now, then every [`REFRESH`] for as long as the proxies are in use.
    pub async fn keep_resolved(self: &Arc<Self>) {
        if self.names.is_empty() {
            return;
        }
        self.refresh().await;
        let weak: Weak<Self> = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                // A proxy started after this server (compose starts it once the server is
                // healthy) is looked for every second until found: meanwhile its requests
                // count as its own.
                let wait = match weak.upgrade() {
                    Some(proxies) if proxies.failing.lock().map(|f| !f.is_empty()).unwrap_or(false) => RETRY,
                    Some(_) => REFRESH,
                    None => return,
                };
                tokio::time::sleep(wait).await;
                let Some(proxies) = weak.upgrade() else { return };
                proxies.refresh().await;
            }
        });
    }
}

/// The last comma-separated value of a header (what the nearest proxy set).
fn last_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    let value = headers.get_all(name).iter().filter_map(|v| v.to_str().ok()).next_back()?;
    value.rsplit(',').next().map(str::trim)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_str(v).expect("value"));
        }
        h
    }

    fn ip(text: &str) -> Option<IpAddr> {
        Some(text.parse().expect("ip"))
    }

    #[test]
    fn entries_are_addresses_ranges_or_names_and_anything_else_is_named() {
        let p = TrustedProxies::parse(" 10.0.0.0/8, 192.0.2.7 ,fd00::/8, ::1, proxy, edge.example.com,")
            .expect("parse");
        assert_eq!(p.nets.len(), 4);
        assert_eq!(p.names, ["proxy", "edge.example.com"]);
        assert!(TrustedProxies::parse("").expect("empty").is_empty());
        for bad in [
            "10.0.0.0/33",
            "10.0.0.0/",
            "10.0.0.300",
            "1.2.3",
            "-proxy",
            "a..b",
            "host:80",
            "fd00::/129",
            "x/8",
        ] {
            let err = TrustedProxies::parse(&format!("10.0.0.1, {bad}")).expect_err(bad);
            assert!(err.contains(&format!("{bad:?}")), "{err}");
        }
    }

    #[test]
    fn ranges_match_by_prefix_and_mapped_addresses_count_as_ipv4() {
        let p = TrustedProxies::parse("172.16.0.0/12, 2001:db8::/32, 127.0.0.1").expect("parse");
        assert!(p.trusts("172.31.255.254".parse().expect("ip")));
        assert!(!p.trusts("172.32.0.1".parse().expect("ip")));
        assert!(p.trusts("2001:db8:ffff::1".parse().expect("ip")));
        assert!(!p.trusts("2001:db9::1".parse().expect("ip")));
        assert!(p.trusts("::ffff:127.0.0.1".parse().expect("ip")));
        assert!(!p.trusts("127.0.0.2".parse().expect("ip")));
        assert!(TrustedProxies::parse("0.0.0.0/0").expect("all").trusts("203.0.113.1".parse().expect("ip")));
    }

    #[test]
    fn forwarded_headers_count_only_from_a_trusted_peer() {
        let p = TrustedProxies::parse("10.0.0.2").expect("parse");
        let h = headers(&[("x-forwarded-for", "198.51.100.7"), ("x-forwarded-proto", "https")]);
        // An untrusted peer: its own address, and not https, whatever it claims.
        assert_eq!(p.client(ip("203.0.113.9"), &h), Client { ip: ip("203.0.113.9"), https: false });
        assert_eq!(p.client(ip("10.0.0.2"), &h), Client { ip: ip("198.51.100.7"), https: true });
        // No header: the proxy's own address, plain http.
        assert_eq!(p.client(ip("10.0.0.2"), &HeaderMap::new()), Client { ip: ip("10.0.0.2"), https: false });
        assert_eq!(p.client(None, &h), Client { ip: None, https: false });
    }

    #[test]
    fn the_client_is_the_right_most_hop_that_is_not_a_trusted_proxy() {
        let p = TrustedProxies::parse("10.0.0.0/24").expect("parse");
        let peer = ip("10.0.0.2");
        // What the client wrote (left) proves nothing; the proxies appended the rest.
        let h = headers(&[("x-forwarded-for", "6.6.6.6, 198.51.100.7, 10.0.0.9")]);
        assert_eq!(p.client(peer, &h).ip, ip("198.51.100.7"));
        // Several header lines are one list, in order.
        let h = headers(&[("x-forwarded-for", "6.6.6.6"), ("x-forwarded-for", "198.51.100.8")]);
        assert_eq!(p.client(peer, &h).ip, ip("198.51.100.8"));
        // Garbage ends the chain: the last address that could be believed.
        let h = headers(&[("x-forwarded-for", "198.51.100.7, not-an-ip, 10.0.0.9")]);
        assert_eq!(p.client(peer, &h).ip, ip("10.0.0.9"));
        let h = headers(&[("x-forwarded-for", "unknown")]);
        assert_eq!(p.client(peer, &h).ip, peer);
        // Only proxies in the chain: the left-most of them.
        let h = headers(&[("x-forwarded-for", "10.0.0.7, 10.0.0.8")]);
        assert_eq!(p.client(peer, &h).ip, ip("10.0.0.7"));
        // The nearest proxy's scheme counts.
        let h = headers(&[("x-forwarded-proto", "https, http")]);
        assert!(!p.client(peer, &h).https);
        let h = headers(&[("x-forwarded-proto", "HTTPS")]);
        assert!(p.client(peer, &h).https);
    }

    #[tokio::test]
    async fn host_names_are_looked_up() {
        let p = Arc::new(TrustedProxies::parse("localhost").expect("parse"));
        assert!(!p.trusts("127.0.0.1".parse().expect("ip")), "not before the lookup");
        p.keep_resolved().await;
        assert!(p.trusts("127.0.0.1".parse().expect("ip")));
        assert!(!p.trusts("192.0.2.1".parse().expect("ip")));
    }
}
