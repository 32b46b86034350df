//! The one checked road out: every network request the server makes for its users (git clone,
//! pull and push; forge APIs later) starts from a [`Target`] vetted here against a [`Policy`].
//!
//! A target is parsed from the URL (odd IPv4 spellings refused), its host resolved once, every
//! address checked, and the connection then pinned to a vetted address, so a DNS answer that
//! changes between the check and the connection (rebinding) is never used. [`Slots`] bounds how
//! many such operations run at once, per user and in total.

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs as _};
use std::str::FromStr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use uuid::Uuid;

/// Which addresses outbound operations may reach, and how long they may take.
///
/// A value, passed to each operation: a team server checks addresses, local mode (a user's own
/// machine, which may well clone from its LAN) does not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// Refuse loopback, private, link-local and other non-public addresses.
    pub check_addresses: bool,
    /// Hosts (lowercase, as written in URLs) that may be reached whatever they resolve to.
    pub allowed_hosts: Vec<String>,
    /// Networks whose addresses may be reached even when they are not public.
    pub allowed_nets: Vec<Cidr>,
    /// How long connecting may take.
    pub connect_timeout: Duration,
    /// A transfer slower than this many bytes per second…
    pub low_speed_bytes: u32,
    /// …for this long is ended.
    pub low_speed_time: Duration,
    /// The longest one operation may take in all.
    pub deadline: Duration,
}

impl Policy {
    /// No address checks (local mode), the default timeouts.
    pub fn open() -> Self {
        Self {
            check_addresses: false,
            allowed_hosts: Vec::new(),
            allowed_nets: Vec::new(),
            connect_timeout: Duration::from_secs(10),
            low_speed_bytes: 1000,
            low_speed_time: Duration::from_secs(30),
            deadline: Duration::from_secs(30 * 60),
        }
    }

    /// Address checks on (a team server), the default timeouts.
    pub fn checked() -> Self {
        Self { check_addresses: true, ..Self::open() }
    }

    /// This policy with `host` allowed whatever it resolves to.
    pub fn allow_host(mut self, host: &str) -> Self {
        self.allowed_hosts.push(host.to_ascii_lowercase());
        self
    }

    /// This policy with the addresses of `net` allowed.
    pub fn allow_net(mut self, net: Cidr) -> Self {
        self.allowed_nets.push(net);
        self
    }

    fn host_allowed(&self, host: &str) -> bool {
        self.allowed_hosts.iter().any(|h| h.eq_ignore_ascii_case(host))
    }

    /// Why `ip` may not be reached under this policy, if it may not.
    pub fn refuses(&self, ip: IpAddr) -> Option<&'static str> {
        if !self.check_addresses || self.allowed_nets.iter().any(|n| n.contains(ip)) {
            return None;
        }
        forbidden_reason(ip)
    }
}

/// How a refusal of an address ends: what to do about it.
pub const ALLOW_HINT: &str = "an admin can allow the host";

/// Why an outbound operation did not start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OutboundError {
    /// The URL cannot be used (the reason says why and what works).
    #[error("{0}")]
    Invalid(String),
    /// The host resolves to an address the policy refuses.
    #[error("{host} resolves to {addr} ({why}), which this server does not connect to; {ALLOW_HINT}")]
    Forbidden {
        /// The host as written in the URL.
        host: String,
        /// The refused address.
        addr: IpAddr,
        /// What kind of address it is.
        why: &'static str,
    },
    /// The host does not resolve.
    #[error("{host} cannot be resolved: {detail}")]
    Unresolved {
        /// The host as written in the URL.
        host: String,
        /// The resolver's answer.
        detail: String,
    },
}

/// The host part of a URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    /// A DNS name (lowercase).
    Name(String),
    /// An address literal.
    Ip(IpAddr),
}

/// Scheme, host and port of an `http(s)://` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `https` or `http`.
    pub scheme: &'static str,
    /// The host.
    pub host: Host,
    /// The port (the scheme's default when none is written).
    pub port: u16,
}

impl Endpoint {
    /// Parses the scheme and authority of `url`: `https://` or `http://`, no user information,
    /// a DNS name, a dotted-quad IPv4 address or a bracketed IPv6 address, an optional port.
    /// Any other spelling of an IPv4 address (`2130706433`, `0x7f000001`, `0177.0.0.1`,
    /// `127.1`) is refused: resolvers and HTTP clients read them differently.
    pub fn parse(url: &str) -> Result<Self, OutboundError> {
        let invalid = |why: &str| Err(OutboundError::Invalid(why.to_owned()));
        let Some((scheme, rest)) = url.split_once("://") else {
            return invalid("this is not an https:// or http:// URL");
        };
        let (scheme, default_port) = match scheme.to_ascii_lowercase().as_str() {
            "https" => ("https", 443),
            "http" => ("http", 80),
            _ => return invalid("only https:// and http:// URLs are supported"),
        };
        let end = rest.find(['/', '?', '#', '\\']).unwrap_or(rest.len());
        let authority = &rest[..end];
        if authority.contains('@') {
            return invalid("the URL contains credentials");
        }
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let Some((inner, tail)) = v6.split_once(']') else {
                return invalid("the URL's host is malformed");
            };
            let Ok(ip) = inner.parse::<Ipv6Addr>() else {
                return invalid("the URL's IPv6 address is malformed");
            };
            let port = match tail {
                "" => None,
                _ => match tail.strip_prefix(':') {
                    Some(p) => Some(p),
                    None => return invalid("the URL's host is malformed"),
                },
            };
            (Host::Ip(IpAddr::V6(ip)), port)
        } else {
            let (name, port) = match authority.rsplit_once(':') {
                Some((name, port)) => (name, Some(port)),
                None => (authority, None),
            };
            if name.is_empty() {
                return invalid("the URL has no host");
            }
            if !name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_')) {
                return invalid("the URL's host is malformed");
            }
            if name.ends_with('.') || name.starts_with('.') || name.contains("..") {
                return invalid("the URL's host is malformed (remove the dots at its ends)");
            }
            let name = name.to_ascii_lowercase();
            match (name.parse::<Ipv4Addr>(), loose_ipv4(&name)) {
                (Ok(ip), _) => (Host::Ip(IpAddr::V4(ip)), port),
                (Err(_), Some(_)) => {
                    return invalid(
                        "the URL's host is an IPv4 address in an unusual spelling: write it as four decimal numbers",
                    );
                }
                (Err(_), None)
                    if name.rsplit('.').next().is_some_and(|l| l.bytes().all(|b| b.is_ascii_digit())) =>
                {
                    // `1.2.3.4.5` or `999.1.1.1`: no DNS name ends in a numeric label.
                    return invalid("the URL's host is malformed");
                }
                (Err(_), None) => (Host::Name(name), port),
            }
        };
        let port = match port {
            None => default_port,
            Some(p) => match p.parse::<u16>() {
                Ok(n) if n > 0 && p.bytes().all(|b| b.is_ascii_digit()) => n,
                _ => return invalid("the URL's port is not a number between 1 and 65535"),
            },
        };
        Ok(Self { scheme, host, port })
    }

    /// The host as curl matches it (`name`, `1.2.3.4`, `[::1]`).
    pub fn host_text(&self) -> String {
        match &self.host {
            Host::Name(n) => n.clone(),
            Host::Ip(IpAddr::V4(ip)) => ip.to_string(),
            Host::Ip(IpAddr::V6(ip)) => format!("[{ip}]"),
        }
    }
}

/// A vetted destination: the URL, its endpoint, and the addresses it may be reached at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The URL as given.
    pub url: String,
    /// Its scheme, host and port.
    pub endpoint: Endpoint,
    /// Every address the host resolved to (all vetted); connections go to one of these only.
    pub addrs: Vec<SocketAddr>,
}

impl Target {
    /// The curl `--resolve` entry that pins a connection to `addr`, for a DNS name (`None`
    /// for an address literal, which curl does not resolve).
    pub fn pin(&self, addr: SocketAddr) -> Option<String> {
        match &self.endpoint.host {
            Host::Name(name) => Some(match addr.ip() {
                IpAddr::V4(ip) => format!("{name}:{}:{ip}", self.endpoint.port),
                IpAddr::V6(ip) => format!("{name}:{}:[{ip}]", self.endpoint.port),
            }),
            Host::Ip(_) => None,
        }
    }
}

/// Parses `url`, resolves its host (once, blocking) and checks every address against
/// `policy`: the only way to a [`Target`].
pub fn vet(url: &str, policy: &Policy) -> Result<Target, OutboundError> {
    let endpoint = Endpoint::parse(url)?;
    let host_text = endpoint.host_text();
    let addrs: Vec<SocketAddr> = match &endpoint.host {
        Host::Ip(ip) => vec![SocketAddr::new(*ip, endpoint.port)],
        Host::Name(name) => {
            let resolved = (name.as_str(), endpoint.port)
                .to_socket_addrs()
                .map_err(|e| OutboundError::Unresolved { host: host_text.clone(), detail: e.to_string() })?;
            let mut addrs: Vec<SocketAddr> = Vec::new();
            for addr in resolved {
                if !addrs.contains(&addr) {
                    addrs.push(addr);
                }
            }
            addrs
        }
    };
    if addrs.is_empty() {
        return Err(OutboundError::Unresolved { host: host_text, detail: "no addresses".into() });
    }
    if !policy.host_allowed(&host_text) {
        // Every address, not just the first: a name that resolves to a public and a private
        // address could otherwise be connected to the private one.
        for addr in &addrs {
            if let Some(why) = policy.refuses(addr.ip()) {
                return Err(OutboundError::Forbidden { host: host_text, addr: addr.ip(), why });
            }
        }
    }
    Ok(Target { url: url.to_owned(), endpoint, addrs })
}

/// Why `ip` is not a public address an outbound request may reach, if it is not. IPv6 forms
/// that embed an IPv4 address (mapped, compatible, NAT64, 6to4) are judged by that address.
pub fn forbidden_reason(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => forbidden_v6(v6),
    }
}

fn forbidden_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    Some(match (a, b, c) {
        (0, _, _) => "an unspecified or \"this network\" address",
        (127, _, _) => "a loopback address",
        (10, _, _) | (172, 16..=31, _) | (192, 168, _) => "a private address",
        (100, 64..=127, _) => "a shared (carrier-grade NAT) address",
        (169, 254, _) => "a link-local address",
        (192, 0, 0) => "an IETF protocol address",
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => "a documentation address",
        (198, 18..=19, _) => "a benchmarking address",
        (224..=239, _, _) => "a multicast address",
        (255, 255, 255) if ip == Ipv4Addr::BROADCAST => "the broadcast address",
        (240..=255, _, _) => "a reserved address",
        _ => return None,
    })
}

fn forbidden_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let s = ip.segments();
    let embedded = || Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    if ip.is_unspecified() {
        return Some("the unspecified address");
    }
    if ip.is_loopback() {
        return Some("a loopback address");
    }
    // ::ffff:a.b.c.d (mapped) reaches a.b.c.d; ::a.b.c.d (compatible) is deprecated.
    if s[..5] == [0; 5] && s[5] == 0xffff {
        return forbidden_v4(embedded());
    }
    if s[..6] == [0; 6] {
        return Some("an IPv4-compatible address");
    }
    // NAT64 well-known prefix 64:ff9b::/96 reaches the embedded IPv4 address.
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return forbidden_v4(embedded());
    }
    // 6to4 2002:AABB:CCDD::/48 reaches AA.BB.CC.DD.
    if s[0] == 0x2002 {
        let v4 = Ipv4Addr::new((s[1] >> 8) as u8, s[1] as u8, (s[2] >> 8) as u8, s[2] as u8);
        return forbidden_v4(v4);
    }
    Some(match s[0] {
        0x0064 if s[1] == 0xff9b && s[2] == 1 => "a local-use NAT64 address",
        0x0100 if s[1..4] == [0, 0, 0] => "a discard-only address",
        // 2001::/23: Teredo (whose inner address is obscured), ORCHID and other IETF uses.
        0x2001 if s[1] < 0x0200 => "an IETF protocol address",
        0x2001 if s[1] == 0x0db8 => "a documentation address",
        0x3fff if s[1] < 0x1000 => "a documentation address",
        x if x & 0xfe00 == 0xfc00 => "a unique local (private) address",
        x if x & 0xffc0 == 0xfe80 => "a link-local address",
        x if x & 0xffc0 == 0xfec0 => "a site-local address",
        x if x & 0xff00 == 0xff00 => "a multicast address",
        _ => return None,
    })
}

/// An IPv4 address as `inet_aton` reads it: one to four parts, each decimal, octal (leading
/// `0`) or hex (`0x`), the last filling the remaining bytes. `None` when it is not one.
pub fn loose_ipv4(text: &str) -> Option<Ipv4Addr> {
    let parts: Vec<&str> = text.split('.').collect();
    if parts.is_empty() || parts.len() > 4 {
        return None;
    }
    let mut values = Vec::with_capacity(parts.len());
    for part in &parts {
        let lower = part.to_ascii_lowercase();
        let value = if let Some(hex) = lower.strip_prefix("0x") {
            if hex.is_empty() { 0 } else { u64::from_str_radix(hex, 16).ok()? }
        } else if lower.len() > 1 && lower.starts_with('0') {
            u64::from_str_radix(&lower[1..], 8).ok()?
        } else {
            lower.parse::<u64>().ok()?
        };
        values.push(value);
    }
    let (last, head) = values.split_last()?;
    if head.iter().any(|v| *v > 255) {
        return None;
    }
    let rest_bits = 8 * (4 - head.len() as u32);
    if rest_bits < 64 && *last >= 1u64 << rest_bits {
        return None;
    }
    let mut n: u64 = 0;
    for (i, v) in head.iter().enumerate() {
        n |= v << (24 - 8 * i as u32);
    }
    Some(Ipv4Addr::from((n | last) as u32))
}

/// An address range such as `10.20.0.0/16` or `fd00::/8`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Whether `ip` is in the range (an IPv4-mapped IPv6 address counts as its IPv4 address).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.prefix)).unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(self.prefix)).unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl FromStr for Cidr {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let bad = || format!("`{text}` is not an address range like 10.0.0.0/8 or fd00::/8");
        let (addr, prefix) = text.trim().split_once('/').ok_or_else(bad)?;
        let addr: IpAddr = addr.parse().map_err(|_| bad())?;
        let canonical = !prefix.is_empty()
            && prefix.bytes().all(|b| b.is_ascii_digit())
            && (prefix == "0" || !prefix.starts_with('0'));
        let prefix: u8 = prefix.parse().map_err(|_| bad())?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        if !canonical || prefix > max {
            return Err(bad());
        }
        Ok(Self { addr, prefix })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// Checks an allow-list host entry: a DNS name or an address, as written in URLs.
pub fn check_allowed_host(host: &str) -> Result<String, String> {
    let bad = || format!("`{host}` is not a host name or address (write it without scheme, port or path)");
    let host = host.trim();
    let written = match host.parse::<Ipv6Addr>() {
        Ok(ip) => format!("[{ip}]"),
        Err(_) => host.to_owned(),
    };
    let bracketed = written.starts_with('[');
    if written.is_empty()
        || written.contains(['/', '@', '?', '#', '\\'])
        || (bracketed && !written.ends_with(']'))
        || (!bracketed && written.contains(':'))
    {
        return Err(bad());
    }
    Endpoint::parse(&format!("https://{written}/x")).map(|e| e.host_text()).map_err(|_| bad())
}

/// How many outbound operations may run at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// On this server, in all.
    pub total: usize,
    /// For one user.
    pub per_user: usize,
}

/// Why an operation may not start now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Busy {
    /// The user has as many running as they may.
    #[error(
        "you already have {0} clone, pull or push operations running, the most one person may: wait for one to finish"
    )]
    User(usize),
    /// The server has as many running as it may.
    #[error("the server is running {0} clone, pull or push operations, its limit: try again in a minute")]
    Server(usize),
}

/// The running outbound operations, per user and in total. A [`Slot`] is held for the whole
/// operation, so the blocking work of at most `Limits::total` operations occupies threads.
#[derive(Debug, Default)]
pub struct Slots {
    counts: Mutex<(usize, HashMap<Uuid, usize>)>,
}

impl Slots {
    /// A slot for `user` (`None`: local mode's owner) within `limits`, or why not.
    pub fn try_acquire(self: &Arc<Self>, user: Option<Uuid>, limits: Limits) -> Result<Slot, Busy> {
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        let (total, per_user) = &mut *counts;
        if *total >= limits.total {
            return Err(Busy::Server(limits.total));
        }
        if let Some(user) = user {
            let mine = per_user.entry(user).or_insert(0);
            if *mine >= limits.per_user {
                return Err(Busy::User(limits.per_user));
            }
            *mine += 1;
        }
        *total += 1;
        Ok(Slot { slots: self.clone(), user })
    }

    /// Operations running now.
    pub fn running(&self) -> usize {
        self.counts.lock().unwrap_or_else(PoisonError::into_inner).0
    }
}

/// One running outbound operation; dropping it frees the slot.
#[derive(Debug)]
pub struct Slot {
    slots: Arc<Slots>,
    user: Option<Uuid>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut counts = self.slots.counts.lock().unwrap_or_else(PoisonError::into_inner);
        let (total, per_user) = &mut *counts;
        *total = total.saturating_sub(1);
        if let Some(user) = self.user
            && let Some(mine) = per_user.get_mut(&user)
        {
            *mine = mine.saturating_sub(1);
            if *mine == 0 {
                per_user.remove(&user);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loose_ipv4_reads_what_inet_aton_reads() {
        for (text, ip) in [
            ("2130706433", Some("127.0.0.1")),
            ("0x7f000001", Some("127.0.0.1")),
            ("0x7F.1", Some("127.0.0.1")),
            ("0177.0.0.1", Some("127.0.0.1")),
            ("127.1", Some("127.0.0.1")),
            ("127.0.1", Some("127.0.0.1")),
            ("10.1", Some("10.0.0.1")),
            ("0", Some("0.0.0.0")),
            ("4294967295", Some("255.255.255.255")),
            ("4294967296", None),
            ("256.1.1.1", None),
            ("08.1.1.1", None),
            ("example.com", None),
            ("1.2.3.4.5", None),
        ] {
            assert_eq!(loose_ipv4(text), ip.map(|i| i.parse().unwrap()), "{text}");
        }
    }

    #[test]
    fn cidrs_parse_and_match() {
        let net: Cidr = "10.20.0.0/16".parse().unwrap();
        assert!(net.contains("10.20.3.4".parse().unwrap()));
        assert!(net.contains("::ffff:10.20.3.4".parse().unwrap()));
        assert!(!net.contains("10.21.0.1".parse().unwrap()));
        let v6: Cidr = "fd00::/8".parse().unwrap();
        assert!(v6.contains("fd12::1".parse().unwrap()));
        assert!(!v6.contains("fe80::1".parse().unwrap()));
        let all: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains("127.0.0.1".parse().unwrap()));
        for bad in ["10.0.0.0", "10.0.0.0/33", "fd00::/129", "x/8", "10.0.0.0/08", "10.0.0.0/-1", ""] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad}");
        }
    }

    #[test]
    fn slots_limit_per_user_and_in_total() {
        let slots = Arc::new(Slots::default());
        let limits = Limits { total: 3, per_user: 2 };
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        let a1 = slots.try_acquire(Some(a), limits).unwrap();
        let _a2 = slots.try_acquire(Some(a), limits).unwrap();
        assert_eq!(slots.try_acquire(Some(a), limits).unwrap_err(), Busy::User(2));
        let _b1 = slots.try_acquire(Some(b), limits).unwrap();
        assert_eq!(slots.try_acquire(None, limits).unwrap_err(), Busy::Server(3));
        drop(a1);
        assert_eq!(slots.running(), 2);
        let _a3 = slots.try_acquire(Some(a), limits).unwrap();
    }
}
