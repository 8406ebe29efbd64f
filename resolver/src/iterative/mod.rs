//! The iterative resolver: answers a question by asking the authoritative
//! servers, starting at the root (RFC 1034 §5.3.3), with no upstream
//! recursive resolver. Used when the network has no record of a name, and
//! by committee members to check a proposed RRset against the authorities.
//!
//! - [`hints`]: the IANA root servers, and root hints files;
//! - `wire`: queries (RD=0, EDNS0 payload 1232) and the reply checks of RFC 5452;
//! - `classify`: what a reply means (answer, CNAME, referral, NXDOMAIN,
//!   NODATA, lame), with the bailiwick rules;
//! - `delegation`: the cache of zone cuts (NS names and addresses), bounded,
//!   with TTLs; the roots never expire;
//! - `servers`: which server of a zone to ask next, SRTT and EDNS knowledge;
//! - `core`: the sans-IO state machine (timers and I/O as data);
//! - `transport` and `driver`: tokio UDP (a fresh socket per query) and TCP
//!   (RFC 7766 length framing) running the core.
//!
//! [`Iterative`] never answers from a cache of answers: every resolution asks
//! the authorities; the delegation cache only saves referral steps.

mod classify;
mod core;
mod delegation;
mod driver;
pub mod hints;
mod servers;
mod transport;
mod wire;

#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use crate::answer::{Question, Resolution, ResolveError};
use delegation::DelegationCache;
use servers::ServerStats;

pub use hints::{HintsError, iana_roots, load_root_hints, parse_root_hints};

/// Settings of the iterative resolver.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IterConfig {
    /// Root server addresses (with port); default: the IANA roots on port 53.
    pub roots: Vec<SocketAddr>,
    /// How long to wait for one server's reply before trying another (TCP gets twice this).
    pub try_timeout: Duration,
    /// How long one resolution may take in all.
    pub deadline: Duration,
    /// Upstream queries one resolution may send, glueless lookups included.
    pub max_queries: usize,
    /// UDP payload size offered in EDNS0 (RFC 6891 §6.2.5); 1232 avoids fragmentation.
    pub edns_payload: u16,
    /// CNAMEs one resolution may follow.
    pub max_cname: usize,
    /// Referrals followed for one name (the delegation depth).
    pub max_referrals: usize,
    /// Glueless name servers looked up per zone cut.
    pub max_glueless: usize,
    /// Nesting of glueless lookups (a lookup needing another lookup...).
    pub max_glueless_depth: usize,
    /// Times a server that timed out is asked (in one resolution).
    pub tries_per_server: u32,
    /// The port of servers learnt from referrals (53; tests use others).
    pub port: u16,
    /// Zones the delegation cache holds at most.
    pub cache_zones: usize,
    /// The longest a delegation is cached, whatever its TTL.
    pub max_delegation_ttl: Duration,
}

impl Default for IterConfig {
    fn default() -> IterConfig {
        IterConfig {
            roots: iana_roots(),
            try_timeout: Duration::from_millis(800),
            deadline: Duration::from_secs(10),
            max_queries: 100,
            edns_payload: 1232,
            max_cname: 16,
            max_referrals: 16,
            max_glueless: 4,
            max_glueless_depth: 3,
            tries_per_server: 2,
            port: hints::DNS_PORT,
            cache_zones: 10_000,
            max_delegation_ttl: Duration::from_secs(86_400),
        }
    }
}

impl IterConfig {
    /// The default settings with these root hints.
    pub fn with_roots(roots: Vec<SocketAddr>) -> IterConfig {
        IterConfig { roots, ..IterConfig::default() }
    }
}

/// What all resolutions of one [`Iterative`] share.
#[derive(Debug)]
pub(crate) struct Shared {
    cfg: IterConfig,
    cache: Mutex<DelegationCache>,
    stats: Mutex<ServerStats>,
}

impl Shared {
    fn new(cfg: IterConfig) -> Shared {
        let cache = DelegationCache::new(&cfg.roots, cfg.cache_zones, cfg.max_delegation_ttl);
        let stats = ServerStats::new(cfg.cache_zones.saturating_mul(4));
        Shared { cfg, cache: Mutex::new(cache), stats: Mutex::new(stats) }
    }
}

/// Locks a mutex that no code path can poison with a broken invariant (the
/// guarded maps stay valid at every point): a poisoned lock is used as is.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The iterative resolver. Cheap to clone; clones share the delegation
/// cache and server statistics.
#[derive(Clone, Debug)]
pub struct Iterative {
    shared: Arc<Shared>,
}

impl Iterative {
    /// A resolver with these settings.
    pub fn new(cfg: IterConfig) -> Iterative {
        Iterative { shared: Arc::new(Shared::new(cfg)) }
    }

    /// The settings.
    pub fn config(&self) -> &IterConfig {
        &self.shared.cfg
    }

    /// Zones in the delegation cache (the root included).
    pub fn cached_zones(&self) -> usize {
        lock(&self.shared.cache).len()
    }

    /// Resolves `q` from the authorities (never from an answer cache; the
    /// delegation cache only saves referral steps). Records keep the TTLs
    /// the authorities gave. Only class IN is supported.
    pub async fn resolve(&self, q: &Question) -> Result<Resolution, ResolveError> {
        driver::run(Arc::clone(&self.shared), q).await
    }
}
