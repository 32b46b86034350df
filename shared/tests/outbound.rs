//! The address vetting of `taskyard_core::outbound`: every form of an internal address a URL
//! can carry is refused under a checked policy, allowed hosts and networks open, and local
//! mode (an open policy) checks nothing.

use std::net::IpAddr;

use taskyard_core::outbound::{self, Endpoint, Host, OutboundError, Policy, forbidden_reason};

#[test]
fn every_internal_address_is_refused_and_public_ones_pass() {
    let refused = [
        // IPv4
        "0.0.0.0",
        "0.1.2.3",
        "127.0.0.1",
        "127.255.255.254",
        "10.0.0.1",
        "172.16.0.1",
        "172.31.255.255",
        "192.168.1.1",
        "100.64.0.1",
        "100.127.255.255",
        "169.254.169.254",
        "192.0.0.8",
        "192.0.2.1",
        "198.51.100.7",
        "203.0.113.9",
        "198.18.0.1",
        "224.0.0.1",
        "239.255.255.250",
        "240.0.0.1",
        "255.255.255.255",
        // IPv6
        "::",
        "::1",
        "::ffff:127.0.0.1",
        "::ffff:169.254.169.254",
        "::ffff:10.0.0.1",
        "::127.0.0.1",
        "::8.8.8.8",
        "64:ff9b::127.0.0.1",
        "64:ff9b::a9fe:a9fe",
        "64:ff9b:1::1",
        "2002:7f00:1::1",
        "2002:a9fe:a9fe::1",
        "2001::1",
        "2001:db8::1",
        "3fff::1",
        "100::1",
        "fc00::1",
        "fd12:3456::1",
        "fe80::1",
        "fec0::1",
        "ff02::1",
    ];
    for addr in refused {
        let ip: IpAddr = addr.parse().unwrap();
        assert!(forbidden_reason(ip).is_some(), "{addr} should be refused");
        assert!(Policy::checked().refuses(ip).is_some(), "{addr}");
        assert!(Policy::open().refuses(ip).is_none(), "local mode checks nothing: {addr}");
    }
    for addr in [
        "8.8.8.8",
        "140.82.112.3",
        "172.32.0.1",
        "100.128.0.1",
        "192.0.1.1",
        "::ffff:140.82.112.3",
        "64:ff9b::8c52:7003",
        "2002:8c52:7003::1",
        "2606:4700::1111",
        "2a00:1450:4001::200e",
    ] {
        let ip: IpAddr = addr.parse().unwrap();
        assert_eq!(forbidden_reason(ip), None, "{addr} is public");
    }
}

#[test]
fn urls_with_address_literals_are_vetted_without_dns() {
    let checked = Policy::checked();
    for url in [
        "http://127.0.0.1/x.git",
        "http://169.254.169.254/latest/meta-data",
        "https://10.1.2.3:8443/x.git",
        "http://[::1]:8080/x.git",
        "http://[::ffff:127.0.0.1]/x.git",
        "http://[::ffff:7f00:1]/x.git",
        "http://[fe80::1]/x.git",
        "http://[fd00::1]/x.git",
        "http://0.0.0.0/x.git",
    ] {
        let err = outbound::vet(url, &checked).unwrap_err();
        assert!(matches!(err, OutboundError::Forbidden { .. }), "{url}: {err:?}");
        assert!(err.to_string().contains("an admin can allow the host"), "{err}");
    }
    // Every spelling of an address that is not a plain dotted quad is refused before any check.
    for url in [
        "http://2130706433/x.git",
        "http://0x7f000001/x.git",
        "http://0X7F000001/x.git",
        "http://0177.0.0.1/x.git",
        "http://0177.0.0.01/x.git",
        "http://127.1/x.git",
        "http://127.0.1/x.git",
        "http://0x7f.1/x.git",
        "http://017700000001/x.git",
        "http://3232235777/x.git",
        "http://1.2.3.4.5/x.git",
        "http://999.1.1.1/x.git",
        "http://127.0.0.1./x.git",
        "http://user@127.0.0.1/x.git",
        "ftp://127.0.0.1/x.git",
    ] {
        for policy in [Policy::checked(), Policy::open()] {
            let err = outbound::vet(url, &policy).unwrap_err();
            assert!(matches!(err, OutboundError::Invalid(_)), "{url}: {err:?}");
        }
    }
}

#[test]
fn names_are_resolved_and_every_address_checked() {
    // `localhost` resolves to loopback addresses only (whatever the order or family).
    let err = outbound::vet("http://localhost:9/x.git", &Policy::checked()).unwrap_err();
    assert!(matches!(err, OutboundError::Forbidden { ref host, .. } if host == "localhost"), "{err:?}");
    let LocalTarget { addrs, pinned } =
        target("http://localhost:9/x.git", &Policy::checked().allow_host("LocalHost"));
    assert!(!addrs.is_empty() && addrs.iter().all(|a| a.ip().is_loopback()), "{addrs:?}");
    assert!(pinned.starts_with("localhost:9:"), "{pinned}");
}

struct LocalTarget {
    addrs: Vec<std::net::SocketAddr>,
    pinned: String,
}

fn target(url: &str, policy: &Policy) -> LocalTarget {
    let target = outbound::vet(url, policy).expect("vetted");
    let pinned = target.pin(target.addrs[0]).expect("a name is pinned");
    LocalTarget { addrs: target.addrs, pinned }
}

#[test]
fn allowed_hosts_and_networks_open_what_they_name() {
    let url = "http://127.0.0.1:9/x.git";
    assert!(outbound::vet(url, &Policy::checked().allow_host("127.0.0.1")).is_ok());
    assert!(outbound::vet(url, &Policy::checked().allow_host("127.0.0.2")).is_err());
    assert!(outbound::vet(url, &Policy::checked().allow_net("127.0.0.0/8".parse().unwrap())).is_ok());
    assert!(outbound::vet(url, &Policy::checked().allow_net("10.0.0.0/8".parse().unwrap())).is_err());
    assert!(outbound::vet("http://[::1]/x.git", &Policy::checked().allow_host("[::1]")).is_ok());
    assert!(
        outbound::vet("http://[::1]/x.git", &Policy::checked().allow_net("::1/128".parse().unwrap())).is_ok()
    );
    // A mapped address is judged as the IPv4 address it stands for.
    let mapped = "http://[::ffff:10.1.2.3]/x.git";
    assert!(outbound::vet(mapped, &Policy::checked().allow_net("10.0.0.0/8".parse().unwrap())).is_ok());
    assert!(outbound::vet(url, &Policy::open()).is_ok(), "local mode");
}

#[test]
fn endpoints_parse_scheme_host_and_port() {
    let e = Endpoint::parse("HTTPS://Git.Example.COM/a/b.git").unwrap();
    assert_eq!((e.scheme, e.host.clone(), e.port), ("https", Host::Name("git.example.com".into()), 443));
    assert_eq!(Endpoint::parse("http://h:8080/x").unwrap().port, 8080);
    assert_eq!(Endpoint::parse("http://[::1]:3000/x").unwrap().host_text(), "[::1]");
    for bad in ["http://h:0/x", "http://h:+80/x", "http://h:65536/x", "http://[::1/x", "http://h%2e/x"] {
        assert!(Endpoint::parse(bad).is_err(), "{bad}");
    }
}
