//! Per-client rate limiting: a token bucket per client prefix (/24 for
//! IPv4, /56 for IPv6 by default, as BIND's response rate limiting groups
//! clients), so a flood from one network does not starve the others.
//!
//! The table of buckets is a [`moka::sync::Cache`] with LRU eviction and a
//! time-to-idle: bounded, concurrent, and a prefix quiet long enough to have
//! refilled its bucket is simply forgotten (it would start full anyway).

use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ipnet::{Ipv4Net, Ipv6Net};
use moka::policy::EvictionPolicy;
use moka::sync::Cache;

use super::config::RateLimit;

/// What to do with a client's query.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Within its rate: answer.
    Allow,
    /// Over its rate: drop.
    Drop,
    /// Over its rate, but answer an empty truncated response (UDP "slip").
    Slip,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    last: Instant,
    limited: u32,
}

/// The bucket table.
#[derive(Clone)]
pub(crate) struct RateLimiter {
    buckets: Option<Cache<IpAddr, Arc<Mutex<Bucket>>>>,
    config: Arc<RateLimit>,
}

impl RateLimiter {
    pub(crate) fn new(config: RateLimit) -> RateLimiter {
        let buckets = (config.per_second > 0).then(|| {
            let refill = Duration::from_secs_f64(f64::from(config.burst.max(1)) / f64::from(config.per_second));
            Cache::builder()
                .max_capacity(config.max_clients.max(1))
                .eviction_policy(EvictionPolicy::lru())
                .time_to_idle(refill + Duration::from_secs(1))
                .build()
        });
        RateLimiter { buckets, config: Arc::new(config) }
    }

    /// The prefix `client` is limited as.
    fn prefix(&self, client: IpAddr) -> IpAddr {
        match client.to_canonical() {
            IpAddr::V4(a) => IpAddr::V4(Ipv4Net::new(a, self.config.ipv4_prefix.min(32)).map_or(a, |n| n.network())),
            IpAddr::V6(a) => IpAddr::V6(Ipv6Net::new(a, self.config.ipv6_prefix.min(128)).map_or(a, |n| n.network())),
        }
    }

    /// Takes a token for a query from `client` at `now`.
    pub(crate) fn check(&self, client: IpAddr, now: Instant) -> Verdict {
        let Some(buckets) = &self.buckets else { return Verdict::Allow };
        let burst = f64::from(self.config.burst.max(1));
        let bucket = buckets
            .get_with(self.prefix(client), || Arc::new(Mutex::new(Bucket { tokens: burst, last: now, limited: 0 })));
        let Ok(mut b) = bucket.lock() else { return Verdict::Allow };
        let elapsed = now.saturating_duration_since(b.last).as_secs_f64();
        b.tokens = (b.tokens + elapsed * f64::from(self.config.per_second)).min(burst);
        b.last = now.max(b.last);
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            return Verdict::Allow;
        }
        b.limited = b.limited.wrapping_add(1);
        if self.config.slip > 0 && b.limited % self.config.slip == 0 { Verdict::Slip } else { Verdict::Drop }
    }
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use super::*;

    fn limiter(slip: u32) -> RateLimiter {
        RateLimiter::new(RateLimit { per_second: 10, burst: 5, slip, ..RateLimit::default() })
    }

    #[test]
    fn burst_then_refill() {
        let rl = limiter(0);
        let a = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
        let t0 = Instant::now();
        for _ in 0..5 {
            assert_eq!(rl.check(a, t0), Verdict::Allow);
        }
        assert_eq!(rl.check(a, t0), Verdict::Drop);
        // The same /24 shares the bucket; another /24 does not.
        assert_eq!(rl.check(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 200)), t0), Verdict::Drop);
        assert_eq!(rl.check(IpAddr::V4(Ipv4Addr::new(192, 0, 3, 1)), t0), Verdict::Allow);
        // 10/s: one token back after 100 ms.
        assert_eq!(rl.check(a, t0 + Duration::from_millis(110)), Verdict::Allow);
        assert_eq!(rl.check(a, t0 + Duration::from_millis(110)), Verdict::Drop);
    }

    #[test]
    fn slip_every_nth() {
        let rl = limiter(3);
        let a = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0x12, 0, 0, 0, 1));
        let t0 = Instant::now();
        let verdicts: Vec<_> = (0..11).map(|_| rl.check(a, t0)).collect();
        assert_eq!(&verdicts[..5], &[Verdict::Allow; 5]);
        assert_eq!(
            &verdicts[5..],
            &[Verdict::Drop, Verdict::Drop, Verdict::Slip, Verdict::Drop, Verdict::Drop, Verdict::Slip]
        );
        // Same /56.
        assert_eq!(rl.check(IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0x34, 0, 0, 0, 1)), t0), Verdict::Drop);
    }

    #[test]
    fn disabled() {
        let rl = RateLimiter::new(RateLimit { per_second: 0, ..RateLimit::default() });
        let t0 = Instant::now();
        assert!((0..10_000).all(|_| rl.check(IpAddr::V4(Ipv4Addr::LOCALHOST), t0) == Verdict::Allow));
    }
}
