//! The front end's settings and their defaults: a loopback port, a loopback
//! ACL (a public node never becomes an open resolver by accident), the
//! EDNS0 payload size of DNS Flag Day 2020, RFC 7766 TCP limits.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use crate::cache::CacheConfig;

/// The port DNS listens on by default: on loopback, neither 53 (needs
/// privileges, usually taken by the system's stub) nor 5353 (mDNS).
pub const DEFAULT_PORT: u16 = 5335;

/// Per-client response rate limiting (in the spirit of BIND's RRL): a token
/// bucket per client prefix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RateLimit {
    /// Queries per second a client prefix may send; 0 disables limiting.
    pub per_second: u32,
    /// How many queries a quiet prefix may send at once.
    pub burst: u32,
    /// Over the limit on UDP, every `slip`-th query gets an empty truncated
    /// answer (so a real client retries over TCP) instead of nothing; 0 never.
    pub slip: u32,
    /// IPv4 clients are grouped by this prefix length.
    pub ipv4_prefix: u8,
    /// IPv6 clients are grouped by this prefix length.
    pub ipv6_prefix: u8,
    /// At most this many prefixes are tracked (least recently seen go first).
    pub max_clients: u64,
}

impl Default for RateLimit {
    fn default() -> Self {
        RateLimit { per_second: 500, burst: 1000, slip: 2, ipv4_prefix: 24, ipv6_prefix: 56, max_clients: 100_000 }
    }
}

/// Settings of the DNS front end.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FrontendConfig {
    /// Addresses to serve DNS on, each over UDP and TCP (port 0: any free
    /// port, the same for both).
    pub listen: Vec<SocketAddr>,
    /// Clients allowed to query; everyone else is REFUSED.
    pub allow: Vec<IpNet>,
    /// At most this many TCP connections at once; more are closed at once (RFC 7766 §6.2.2).
    pub max_tcp: usize,
    /// A TCP connection with nothing in flight is closed after this long (RFC 7766 §6.2.3).
    pub tcp_idle: Duration,
    /// At most this many queries in flight per TCP connection (RFC 7766 §6.2.1.1
    /// pipelining); the connection is not read further until one finishes.
    pub tcp_pipeline: usize,
    /// A TCP query longer than this closes the connection.
    pub max_tcp_query: usize,
    /// The EDNS0 UDP payload size advertised and the most sent over UDP
    /// (RFC 6891 §6.2.5; 1232 avoids fragmentation).
    pub udp_payload: u16,
    /// Receive loops per UDP socket.
    pub udp_workers: usize,
    /// Per-client rate limiting.
    pub rate: RateLimit,
    /// The answer cache.
    pub cache: CacheConfig,
    /// Answer from expired cache entries when resolving fails (RFC 8767).
    pub serve_stale: bool,
    /// The longest the handler may take; then the query is answered SERVFAIL (or stale).
    pub resolve_timeout: Duration,
    /// At most this many distinct questions being resolved at once; more are dropped.
    pub max_inflight: usize,
    /// At most this many clients waiting for the same question; more are dropped.
    pub max_waiters: usize,
}

impl FrontendConfig {
    /// The loopback-only ACL: 127.0.0.0/8 and ::1.
    pub fn loopback_acl() -> Vec<IpNet> {
        vec![
            IpNet::V4(Ipv4Net::new_assert(Ipv4Addr::new(127, 0, 0, 0), 8)),
            IpNet::V6(Ipv6Net::new_assert(Ipv6Addr::LOCALHOST, 128)),
        ]
    }

    /// Whether `client` may query.
    pub fn allows(&self, client: IpAddr) -> bool {
        let client = client.to_canonical();
        self.allow.iter().any(|net| net.contains(&client))
    }
}

impl Default for FrontendConfig {
    fn default() -> Self {
        FrontendConfig {
            listen: vec![SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), DEFAULT_PORT)],
            allow: FrontendConfig::loopback_acl(),
            max_tcp: 256,
            tcp_idle: Duration::from_secs(10),
            tcp_pipeline: 32,
            max_tcp_query: 4096,
            udp_payload: 1232,
            udp_workers: std::thread::available_parallelism().map_or(2, |n| n.get().min(8)),
            rate: RateLimit::default(),
            cache: CacheConfig::default(),
            serve_stale: true,
            resolve_timeout: Duration::from_secs(10),
            max_inflight: 10_000,
            max_waiters: 256,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_acl_is_loopback_only() {
        let cfg = FrontendConfig::default();
        assert!(cfg.allows("127.0.0.1".parse().unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))));
        assert!(cfg.allows(IpAddr::V4(Ipv4Addr::new(127, 9, 9, 9))));
        assert!(cfg.allows(IpAddr::V6(Ipv6Addr::LOCALHOST)));
        // An IPv4-mapped loopback client of a dual-stack socket.
        assert!(cfg.allows(IpAddr::V6(Ipv4Addr::LOCALHOST.to_ipv6_mapped())));
        assert!(!cfg.allows(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1))));
        assert!(!cfg.allows(IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1))));
        assert!(cfg.listen.iter().all(|a| a.ip().is_loopback() && a.port() != 53 && a.port() != 5353));
    }
}
