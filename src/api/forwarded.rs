//! Who sent a request when a reverse proxy stands in front (`trusted_proxies`). Only a
//! peer in the trusted list may name the client: then the client is the rightmost
//! `X-Forwarded-For` hop that is not itself a trusted proxy (hops further left were
//! written by whoever connected to the proxy and prove nothing), and `X-Forwarded-Proto:
//! https` says the client came over TLS (for `enforce_https`). From any other peer both
//! headers are ignored: the peer is the client, and the scheme is plain http.

use crate::http::Request;
use std::net::IpAddr;

/// An address range: an address and how many leading bits must match.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    bits: u8,
}

impl Cidr {
    /// Parses `10.0.0.0/8`, `::1`, `fd00::/8` or a bare address (all bits).
    pub fn parse(text: &str) -> Option<Cidr> {
        let (addr, bits) = match text.trim().split_once('/') {
            Some((a, b)) => (a.parse::<IpAddr>().ok()?, Some(b.parse::<u8>().ok()?)),
            None => (text.trim().parse::<IpAddr>().ok()?, None),
        };
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let bits = bits.unwrap_or(max);
        (bits <= max).then_some(Cidr {
            addr: canonical(addr),
            bits,
        })
    }

    /// Whether `ip` is in the range.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let shift = |width: u32| width - u32::from(self.bits);
        match (self.addr, canonical(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let (net, ip) = (u32::from(net), u32::from(ip));
                self.bits == 0 || (net >> shift(32)) == (ip >> shift(32))
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let (net, ip) = (u128::from(net), u128::from(ip));
                self.bits == 0 || (net >> shift(128)) == (ip >> shift(128))
            }
            _ => false,
        }
    }
}

/// A dual-stack listener reports IPv4 clients as `::ffff:a.b.c.d`; compare them as IPv4.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// The `trusted_proxies` list.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<Cidr>);

impl TrustedProxies {
    /// The ranges among `entries` that parse (the config warns about the others).
    pub fn new(entries: &[String]) -> TrustedProxies {
        TrustedProxies(entries.iter().filter_map(|e| Cidr::parse(e)).collect())
    }

    /// Whether `ip` is a trusted proxy.
    pub fn trusts(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|c| c.contains(ip))
    }

    /// The client address of `req`, which came from `peer` (see the module docs).
    pub fn client(&self, req: &Request, peer: IpAddr) -> IpAddr {
        let peer = canonical(peer);
        if !self.trusts(peer) {
            return peer;
        }
        let mut client = peer;
        // Several headers count as one list, in order (RFC 9110 §5.3).
        let hops = req
            .headers
            .iter()
            .filter(|(name, _)| name == "x-forwarded-for")
            .filter_map(|(_, v)| std::str::from_utf8(v).ok())
            .flat_map(|v| v.split(','))
            .collect::<Vec<_>>();
        for hop in hops.iter().rev() {
            let Ok(ip) = hop.trim().parse::<IpAddr>() else {
                // Garbage (or a port) where an address should be: stop trusting the list.
                break;
            };
            client = canonical(ip);
            if !self.trusts(client) {
                break;
            }
        }
        client
    }

    /// Whether `req` reached the client side over TLS: only a trusted proxy can say so,
    /// with `X-Forwarded-Proto: https` (the value nearest to us, if it is a list).
    pub fn https(&self, req: &Request, peer: IpAddr) -> bool {
        if !self.trusts(canonical(peer)) {
            return false;
        }
        req.header("x-forwarded-proto")
            .and_then(|v| std::str::from_utf8(v).ok())
            .and_then(|v| v.rsplit(',').next())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("https"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::Version;

    fn req(headers: &[(&str, &str)]) -> Request {
        Request {
            method: "GET".into(),
            target: "/".into(),
            version: Version::Http11,
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.as_bytes().to_vec()))
                .collect(),
            body: Vec::new(),
            keep_alive: true,
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn proxies(list: &[&str]) -> TrustedProxies {
        TrustedProxies::new(&list.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn cidrs_match_their_prefix_only() {
        let net = Cidr::parse("10.1.0.0/16").unwrap();
        assert!(net.contains(ip("10.1.200.3")));
        assert!(!net.contains(ip("10.2.0.1")));
        assert!(net.contains(ip("::ffff:10.1.0.9")), "v4-mapped");
        assert!(Cidr::parse("fd00::/8").unwrap().contains(ip("fd12::1")));
        assert!(!Cidr::parse("::1").unwrap().contains(ip("::2")));
        assert!(Cidr::parse("0.0.0.0/0").unwrap().contains(ip("8.8.8.8")));
        assert_eq!(Cidr::parse("10.0.0.0/33"), None);
        assert_eq!(Cidr::parse("nonsense"), None);
    }

    #[test]
    fn forwarded_for_is_ignored_from_an_untrusted_peer() {
        let p = proxies(&["127.0.0.1"]);
        let r = req(&[
            ("x-forwarded-for", "127.0.0.1"),
            ("x-forwarded-proto", "https"),
        ]);
        assert_eq!(p.client(&r, ip("203.0.113.9")), ip("203.0.113.9"));
        assert!(!p.https(&r, ip("203.0.113.9")));
        assert_eq!(
            TrustedProxies::default().client(&r, ip("127.0.0.1")),
            ip("127.0.0.1"),
            "no trusted proxies: the header means nothing"
        );
    }

    #[test]
    fn the_rightmost_untrusted_hop_is_the_client() {
        let p = proxies(&["127.0.0.1", "10.0.0.0/8"]);
        let r = req(&[
            ("x-forwarded-for", "6.6.6.6, 198.51.100.7"),
            ("x-forwarded-for", "10.0.0.2"),
        ]);
        assert_eq!(p.client(&r, ip("127.0.0.1")), ip("198.51.100.7"));
        assert_eq!(
            p.client(&req(&[]), ip("127.0.0.1")),
            ip("127.0.0.1"),
            "no header: the proxy itself"
        );
        let junk = req(&[("x-forwarded-for", "198.51.100.7, junk")]);
        assert_eq!(p.client(&junk, ip("127.0.0.1")), ip("127.0.0.1"));
        assert!(p.https(&req(&[("x-forwarded-proto", "https")]), ip("10.9.9.9")));
        assert!(!p.https(&req(&[("x-forwarded-proto", "http")]), ip("10.9.9.9")));
    }
}
