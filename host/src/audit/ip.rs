//! IP addresses as sortable keys: 32 hex digits of the 16-byte IPv6 form (IPv4 as
//! `::ffff:a.b.c.d`), so a CIDR block is the key range from its first to its last address,
//! which an index walks in either database.

use std::net::{IpAddr, Ipv6Addr};

use ipnet::IpNet;

/// The key of an address as stored; `None` when the text is not an IP address.
pub fn key(ip: &str) -> Option<String> {
    ip.parse::<IpAddr>().ok().map(key_of)
}

fn key_of(ip: IpAddr) -> String {
    let v6: Ipv6Addr = match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped(),
        IpAddr::V6(v6) => v6,
    };
    hex::encode(v6.octets())
}

/// The inclusive key range of an address (one key) or a CIDR block; `None` when the text is
/// neither.
pub fn range(filter: &str) -> Option<(String, String)> {
    if let Ok(ip) = filter.parse::<IpAddr>() {
        let k = key_of(ip);
        return Some((k.clone(), k));
    }
    let net: IpNet = filter.parse().ok()?;
    Some((key_of(net.network()), key_of(net.broadcast())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_are_key_ranges_and_v4_is_mapped() {
        let (lo, hi) = range("10.1.0.0/16").unwrap();
        let inside = key("10.1.255.7").unwrap();
        let outside = key("10.2.0.1").unwrap();
        assert!(lo <= inside && inside <= hi);
        assert!(!(lo <= outside && outside <= hi));
        assert_eq!(key("::ffff:10.1.255.7"), Some(inside));
        let (lo6, hi6) = range("2001:db8::/32").unwrap();
        let in6 = key("2001:db8:ffff::1").unwrap();
        assert!(lo6 <= in6 && in6 <= hi6);
        assert_eq!(range("192.0.2.9").map(|(l, h)| l == h), Some(true));
        assert_eq!(range("not-an-ip"), None);
        assert_eq!(key("10.0.0.300"), None);
    }
}
