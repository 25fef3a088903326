//! The policy's IP allow-lists: whether a client address is inside one. The address is the one
//! the HTTP edge derived (the TCP peer, or the right-most untrusted `X-Forwarded-For` hop when
//! the peer is a configured trusted proxy); a client's own claims never reach here. An empty
//! list allows every address; a non-empty one fails closed when the address is unknown.

use std::net::IpAddr;

use ipnet::IpNet;

/// Whether `ip` (as the request context carries it) may pass `list`.
pub fn allows(list: &[IpNet], ip: Option<&str>) -> bool {
    if list.is_empty() {
        return true;
    }
    let Some(ip) = ip.and_then(|s| s.parse::<IpAddr>().ok()) else {
        return false;
    };
    // An IPv4 client seen through an IPv6 socket (`::ffff:a.b.c.d`) is the IPv4 client.
    let ip = ip.to_canonical();
    list.iter().any(|net| net.contains(&ip))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|n| n.parse().unwrap()).collect()
    }

    #[test]
    fn addresses_match_v4_and_v6_networks_and_unknown_fails_closed() {
        let list = nets(&["203.0.113.0/24", "2001:db8::/32"]);
        assert!(allows(&list, Some("203.0.113.9")));
        assert!(allows(&list, Some("::ffff:203.0.113.9")));
        assert!(allows(&list, Some("2001:db8:1::5")));
        assert!(!allows(&list, Some("203.0.114.1")));
        assert!(!allows(&list, None));
        assert!(!allows(&list, Some("not an address")));
        assert!(allows(&[], None));
    }
}
