//! Who is asking: the client address behind trusted proxies, and its network.
//!
//! Behind an ingress every TCP peer is the ingress. `X-Forwarded-For` is believed only when
//! the peer itself is a trusted proxy (`TRUSTED_PROXIES`, CIDRs); the client is then the
//! right-most address of the header that is not a trusted proxy (each proxy appends the
//! address it saw, so entries left of it could be written by the client itself). Limits by
//! network count a client's neighbours with it: an IPv4 /24 or an IPv6 /48, the blocks a
//! calo with many addresses gets from one provider.
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;

/// An address block, e.g. `10.0.0.0/8` or `fd00::/8`; a bare address is a /32 or /128.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl FromStr for Cidr {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| format!("{s:?} is not an IP address or CIDR block"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("{s:?}: the prefix length must be 0 to {max}"))?,
        };
        Ok(Cidr { addr, prefix })
    }
}

impl Cidr {
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, canonical(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// Parses `TRUSTED_PROXIES`: CIDRs separated by commas (empty: none).
pub fn parse_trusted(list: &str) -> Result<Vec<Cidr>, String> {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(Cidr::from_str)
        .collect()
}

/// IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`) are the IPv4 address.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

/// The client's address: the peer, or from `X-Forwarded-For` when the peer is trusted.
pub fn client_ip(peer: SocketAddr, forwarded_for: Option<&str>, trusted: &[Cidr]) -> IpAddr {
    let peer = canonical(peer.ip());
    let is_trusted = |ip: IpAddr| trusted.iter().any(|c| c.contains(ip));
    if !is_trusted(peer) {
        return peer;
    }
    let Some(header) = forwarded_for else {
        return peer;
    };
    let mut client = peer;
    for hop in header.rsplit(',') {
        let Ok(ip) = hop.trim().parse::<IpAddr>().map(canonical) else {
            // A hop that is not an address ends what can be believed.
            break;
        };
        client = ip;
        if !is_trusted(ip) {
            break;
        }
    }
    client
}

/// The client's address: the TCP peer, or `X-Forwarded-For` from a trusted proxy.
pub fn addr(app: &crate::App, peer: SocketAddr, headers: &http::HeaderMap) -> IpAddr {
    let forwarded = headers.get("x-forwarded-for").and_then(|v| v.to_str().ok());
    client_ip(peer, forwarded, &app.trusted)
}

/// The network a client belongs to for limits: IPv4 /24, IPv6 /48.
pub fn network(ip: IpAddr) -> String {
    match canonical(ip) {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            format!("{}/24", Ipv4Addr::new(a, b, c, 0))
        }
        IpAddr::V6(v6) => {
            let masked = u128::from(v6) & (u128::MAX << 80);
            format!("{}/48", Ipv6Addr::from(masked))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn peer(s: &str) -> SocketAddr {
        SocketAddr::new(s.parse().unwrap(), 40000)
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let trusted = parse_trusted("10.0.0.0/8, fd00::/8").unwrap();
        // A client talking directly cannot claim another address.
        assert_eq!(
            client_ip(peer("203.0.113.9"), Some("198.51.100.1"), &trusted),
            "203.0.113.9".parse::<IpAddr>().unwrap()
        );
        // Behind the ingress: the right-most untrusted hop; what the client wrote on the
        // left is ignored.
        assert_eq!(
            client_ip(
                peer("10.1.2.3"),
                Some("1.1.1.1, 203.0.113.9, 10.9.9.9"),
                &trusted
            ),
            "203.0.113.9".parse::<IpAddr>().unwrap()
        );
        assert_eq!(
            client_ip(peer("10.1.2.3"), None, &trusted),
            "10.1.2.3".parse::<IpAddr>().unwrap()
        );
        assert_eq!(
            client_ip(
                peer("::ffff:10.1.2.3"),
                Some("garbage, 203.0.113.7"),
                &trusted
            ),
            "203.0.113.7".parse::<IpAddr>().unwrap()
        );
        assert!(parse_trusted("10.0.0.0/33").is_err());
        assert!(parse_trusted("nope").is_err());
        assert_eq!(parse_trusted("").unwrap(), vec![]);
    }

    #[test]
    fn networks_are_slash_24_and_slash_48() {
        assert_eq!(network("203.0.113.77".parse().unwrap()), "203.0.113.0/24");
        assert_eq!(
            network("::ffff:203.0.113.77".parse().unwrap()),
            "203.0.113.0/24"
        );
        assert_eq!(
            network("2001:db8:abcd:1234::1".parse().unwrap()),
            "2001:db8:abcd::/48"
        );
        let c: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(c.contains("8.8.8.8".parse().unwrap()));
        assert!(!c.contains("::1".parse().unwrap()));
    }

    proptest! {
        #[test]
        fn any_header_and_list_is_answered_without_panic(header in ".{0,200}", list in ".{0,60}") {
            let trusted = parse_trusted(&list).unwrap_or_default();
            let _ = client_ip(peer("10.0.0.1"), Some(&header), &trusted);
            let _ = client_ip(peer("::1"), Some(&header), &[Cidr { addr: "::".parse().unwrap(), prefix: 0 }]);
        }
    }
}
