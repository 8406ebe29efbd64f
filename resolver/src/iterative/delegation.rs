//! The delegation cache: zone → name servers and their addresses, learnt
//! from referrals (RFC 1034 §5.3.3 step 2: "find the nearest ancestor zone
//! we have servers for"). It only saves referral steps; answers are never
//! cached here. Bounded; entries expire with the NS/glue TTLs; the root
//! entry comes from the hints and never expires.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use hickory_proto::rr::Name;

use super::classify::Referral;

/// One name server of a zone. `name` is None for root hints given as bare addresses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct NsServer {
    /// The server's host name.
    pub name: Option<Name>,
    /// Its known addresses (empty: glueless, to be resolved).
    pub addrs: Vec<SocketAddr>,
}

/// A zone cut and its servers, as the cache knows them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Delegation {
    /// The zone.
    pub zone: Name,
    /// Its servers.
    pub servers: Vec<NsServer>,
}

#[derive(Debug)]
struct Entry {
    servers: Vec<NsServer>,
    /// None: never expires (the root hints).
    expires: Option<Instant>,
}

impl Entry {
    fn live(&self, now: Instant) -> bool {
        self.expires.is_none_or(|at| now < at)
    }
}

/// The cache. Not thread-safe by itself; [`super::Iterative`] keeps it behind a mutex.
#[derive(Debug)]
pub(crate) struct DelegationCache {
    entries: HashMap<Name, Entry>,
    capacity: usize,
    max_ttl: Duration,
}

impl DelegationCache {
    /// A cache holding the root hints, for at most `capacity` zones (at least
    /// 2, the root and one more), keeping a delegation at most `max_ttl`.
    pub(crate) fn new(roots: &[SocketAddr], capacity: usize, max_ttl: Duration) -> DelegationCache {
        let mut entries = HashMap::new();
        let servers = vec![NsServer { name: None, addrs: roots.to_vec() }];
        entries.insert(Name::root(), Entry { servers, expires: None });
        DelegationCache { entries, capacity: capacity.max(2), max_ttl }
    }

    /// Number of zones held (the root included).
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// The deepest live delegation at or above `name`; the root at worst.
    pub(crate) fn closest(&self, name: &Name, now: Instant) -> Delegation {
        let mut cut = name.to_lowercase();
        loop {
            if let Some(entry) = self.entries.get(&cut).filter(|e| e.live(now)) {
                return Delegation { zone: cut, servers: entry.servers.clone() };
            }
            if cut.is_root() {
                return Delegation { zone: cut, servers: Vec::new() };
            }
            cut = cut.base_name();
        }
    }

    /// Remembers a referral; glue gets `port`. The entry lives for the
    /// smallest TTL of the NS records and glue (at most `max_ttl`).
    pub(crate) fn insert_referral(&mut self, referral: &Referral, port: u16, now: Instant) {
        let mut ttl = referral.ttl;
        let servers = referral
            .ns
            .iter()
            .map(|ns| {
                let addrs = referral
                    .glue
                    .iter()
                    .filter(|(owner, _, _)| owner == ns)
                    .map(|(_, ip, glue_ttl)| {
                        ttl = ttl.min(*glue_ttl);
                        SocketAddr::new(*ip, port)
                    })
                    .collect();
                NsServer { name: Some(ns.to_lowercase()), addrs }
            })
            .collect();
        let zone = referral.zone.to_lowercase();
        if zone.is_root() {
            return; // the hints are not replaced by what a server says
        }
        let expires = self.expiry(now, ttl);
        self.make_room(&zone, now);
        self.entries.insert(zone, Entry { servers, expires: Some(expires) });
    }

    /// Adds addresses found for a glueless name server `ns` of `zone`
    /// (resolved on the side); the entry's lifetime shrinks to `ttl` if shorter.
    pub(crate) fn add_addrs(&mut self, zone: &Name, ns: &Name, addrs: &[SocketAddr], ttl: u32, now: Instant) {
        let expires = self.expiry(now, ttl);
        let Some(entry) = self.entries.get_mut(zone).filter(|e| e.live(now)) else { return };
        let Some(server) = entry.servers.iter_mut().find(|s| s.name.as_ref() == Some(ns)) else { return };
        for addr in addrs {
            if !server.addrs.contains(addr) {
                server.addrs.push(*addr);
            }
        }
        if let Some(at) = entry.expires.as_mut() {
            *at = (*at).min(expires);
        }
    }

    fn expiry(&self, now: Instant, ttl: u32) -> Instant {
        let ttl = Duration::from_secs(u64::from(ttl)).min(self.max_ttl);
        now.checked_add(ttl).unwrap_or(now)
    }

    /// Keeps the cache within its capacity before `zone` is inserted: drops
    /// expired entries, then those closest to expiry. The root stays.
    fn make_room(&mut self, zone: &Name, now: Instant) {
        if self.entries.len() < self.capacity || self.entries.contains_key(zone) {
            return;
        }
        self.entries.retain(|_, e| e.live(now));
        while self.entries.len() >= self.capacity {
            let victim = self
                .entries
                .iter()
                .filter_map(|(name, e)| e.expires.map(|at| (at, name)))
                .min_by_key(|(at, _)| *at)
                .map(|(_, name)| name.clone());
            match victim {
                Some(name) => {
                    self.entries.remove(&name);
                }
                None => break,
            }
        }
    }
}
