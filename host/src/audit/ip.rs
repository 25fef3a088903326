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

/// The key prefix of every IPv4 address (`::ffff:0:0/96`).
const V4_MAPPED: &str = "00000000000000000000ffff";

/// Most blocks a CIDR search is split into (one index seek each).
const MAX_BLOCKS: u64 = 256;

/// The blocks that make up the key range `[low, high]` exactly, when it is whole blocks and
/// at most [`MAX_BLOCKS`] of them: each block's key prefix, as PostgreSQL's function
/// `audit_ip_block` (migration `0029`) cuts a key. A block is an IPv4 `/24` (30 hex
/// digits) or an IPv6 `/64` (16), so an IPv4 `/16` to `/24` or an IPv6 `/56` to `/64` is a
/// list of blocks, each of whose events an index holds newest first. The IPv6 `/64` that
/// holds the IPv4 addresses (`::/64`) is never one block: its keys are cut as IPv4.
pub fn blocks(low: &str, high: &str) -> Option<Vec<String>> {
    let ipv4 = low.starts_with(V4_MAPPED) && high.starts_with(V4_MAPPED);
    let (start, width) = if ipv4 { (V4_MAPPED.len(), 6) } else { (0, 16) };
    let end = start + width;
    let whole = low.len() == 32
        && high.len() == 32
        && low.get(end..)?.bytes().all(|b| b == b'0')
        && high.get(end..)?.bytes().all(|b| b == b'f')
        && low.get(..start)? == high.get(..start)?;
    if !whole {
        return None;
    }
    let first = u64::from_str_radix(low.get(start..end)?, 16).ok()?;
    let last = u64::from_str_radix(high.get(start..end)?, 16).ok()?;
    if last < first || last - first >= MAX_BLOCKS || (!ipv4 && first == 0) {
        return None;
    }
    let prefix = &low[..start];
    Some(
        (first..=last)
            .map(|b| format!("{prefix}{b:0width$x}"))
            .collect(),
    )
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

    #[test]
    fn a_block_of_whole_v4_slash_24s_or_v6_slash_64s_is_listed() {
        let blocks_of = |cidr: &str| {
            let (low, high) = range(cidr).unwrap();
            blocks(&low, &high)
        };
        let slash16 = blocks_of("10.1.0.0/16").unwrap();
        assert_eq!(slash16.len(), 256);
        assert_eq!(slash16[0], "00000000000000000000ffff0a0100");
        assert_eq!(slash16[255], "00000000000000000000ffff0a01ff");
        let key = key("10.1.255.7").unwrap();
        assert!(slash16.iter().any(|b| key.starts_with(b.as_str())));
        assert_eq!(
            blocks_of("10.1.2.0/24").unwrap(),
            vec!["00000000000000000000ffff0a0102"]
        );
        assert_eq!(blocks_of("10.1.16.0/20").unwrap().len(), 16);
        let slash56 = blocks_of("2001:db8:0:100::/56").unwrap();
        assert_eq!(slash56.len(), 256);
        assert_eq!(slash56[0], "20010db800000100");
        // Too many blocks, less than a block, or the /64 that holds IPv4: not listed.
        assert_eq!(blocks_of("10.0.0.0/8"), None);
        assert_eq!(blocks_of("10.1.2.0/25"), None);
        assert_eq!(blocks_of("10.1.2.3"), None);
        assert_eq!(blocks_of("2001:db8::/48"), None);
        assert_eq!(blocks_of("2001:db8::/80"), None);
        assert_eq!(blocks_of("::/64"), None);
        assert_eq!(blocks_of("::ffff:0:0/96"), None);
    }
}
