//! Choosing among a zone's servers: which to ask next, which failed, and a
//! shared smoothed round-trip time per address so fast servers are preferred
//! (the "SRTT" selection of BIND and Unbound; RFC 1035 §7.2 asks resolvers to
//! keep such statistics and try the best server first).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rand::Rng;

use crate::answer::ResolveError;

/// How an attempt at a server went wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Fail {
    /// No reply in time: the server may be asked once more.
    Timeout,
    /// A definite failure (refused, lame, malformed, unreachable): not asked again.
    Error(String),
}

#[derive(Clone, Debug)]
struct Slot {
    addr: SocketAddr,
    tries: u32,
    last: Option<Fail>,
}

/// The servers of one zone cut during one resolution.
#[derive(Clone, Debug, Default)]
pub(crate) struct ServerSet {
    slots: Vec<Slot>,
}

impl ServerSet {
    /// A set of these addresses (duplicates dropped).
    pub(crate) fn new(addrs: impl IntoIterator<Item = SocketAddr>) -> ServerSet {
        let mut set = ServerSet::default();
        set.add(addrs);
        set
    }

    /// Adds addresses (e.g. of a glueless name server just resolved).
    pub(crate) fn add(&mut self, addrs: impl IntoIterator<Item = SocketAddr>) {
        for addr in addrs {
            if !self.slots.iter().any(|s| s.addr == addr) {
                self.slots.push(Slot { addr, tries: 0, last: None });
            }
        }
    }

    /// The next server to ask: one not asked yet, lowest SRTT first (servers
    /// without one get a small random SRTT so all are explored); when all
    /// were asked, one that timed out fewer than `max_tries` times. None when
    /// the set is used up.
    pub(crate) fn pick(&self, stats: &ServerStats, max_tries: u32, rng: &mut impl Rng) -> Option<SocketAddr> {
        let mut score = |slot: &Slot| stats.srtt_ms(slot.addr).unwrap_or_else(|| rng.random_range(1..UNKNOWN_SRTT_MS));
        let fresh = self.slots.iter().filter(|s| s.tries == 0).map(|s| (score(s), s.addr)).min();
        if let Some((_, addr)) = fresh {
            return Some(addr);
        }
        self.slots
            .iter()
            .filter(|s| s.last == Some(Fail::Timeout) && s.tries < max_tries)
            .map(|s| (s.tries, score(s), s.addr))
            .min()
            .map(|(_, _, addr)| addr)
    }

    /// A query is being sent to `addr`.
    pub(crate) fn sent(&mut self, addr: SocketAddr) {
        if let Some(slot) = self.slots.iter_mut().find(|s| s.addr == addr) {
            slot.tries += 1;
        }
    }

    /// `addr` failed.
    pub(crate) fn failed(&mut self, addr: SocketAddr, fail: Fail) {
        if let Some(slot) = self.slots.iter_mut().find(|s| s.addr == addr) {
            slot.last = Some(fail);
        }
    }

    /// The error to report once the set is used up for `zone`: a timeout if
    /// every failure was one, else the last definite failure.
    pub(crate) fn error(&self, zone: &str) -> ResolveError {
        let reason = self.slots.iter().rev().find_map(|s| match &s.last {
            Some(Fail::Error(reason)) => Some(format!("{}: {reason}", s.addr)),
            _ => None,
        });
        match reason {
            Some(reason) => ResolveError::AllServersFailed { zone: zone.to_string(), reason },
            None if self.slots.is_empty() => {
                ResolveError::AllServersFailed { zone: zone.to_string(), reason: "no server address".to_string() }
            }
            None => ResolveError::Timeout { zone: zone.to_string() },
        }
    }
}

/// Servers never measured look this fast (a random value from 1 ms below it), so a
/// measured server slower than this loses to an unmeasured one.
const UNKNOWN_SRTT_MS: u32 = 16;

#[derive(Clone, Copy, Debug)]
struct Stat {
    srtt_ms: u32,
    no_edns: bool,
    touched: Instant,
}

/// What we learnt about server addresses, shared by all resolutions:
/// smoothed RTT and whether a server rejects EDNS. Bounded.
#[derive(Debug)]
pub(crate) struct ServerStats {
    map: HashMap<SocketAddr, Stat>,
    capacity: usize,
}

impl ServerStats {
    /// Room for `capacity` addresses.
    pub(crate) fn new(capacity: usize) -> ServerStats {
        ServerStats { map: HashMap::new(), capacity: capacity.max(1) }
    }

    /// The smoothed RTT of `addr` in milliseconds, if measured.
    pub(crate) fn srtt_ms(&self, addr: SocketAddr) -> Option<u32> {
        self.map.get(&addr).map(|s| s.srtt_ms)
    }

    /// True if `addr` answered FORMERR to EDNS: ask it without (RFC 6891 §7).
    pub(crate) fn no_edns(&self, addr: SocketAddr) -> bool {
        self.map.get(&addr).is_some_and(|s| s.no_edns)
    }

    /// A reply came after `rtt`: SRTT ← 0.7·SRTT + 0.3·RTT.
    pub(crate) fn replied(&mut self, addr: SocketAddr, rtt: Duration, now: Instant) {
        let ms = u32::try_from(rtt.as_millis()).unwrap_or(u32::MAX);
        let stat = self.entry(addr, now, ms);
        stat.srtt_ms = ((u64::from(stat.srtt_ms) * 7 + u64::from(ms) * 3) / 10) as u32;
    }

    /// No reply within `timeout` (or unreachable): the SRTT is raised to at
    /// least the timeout, so others are preferred next time.
    pub(crate) fn timed_out(&mut self, addr: SocketAddr, timeout: Duration, now: Instant) {
        let ms = u32::try_from(timeout.as_millis()).unwrap_or(u32::MAX);
        let stat = self.entry(addr, now, ms);
        stat.srtt_ms = stat.srtt_ms.saturating_mul(2).max(ms);
    }

    /// Addresses known.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    /// `addr` rejected EDNS.
    pub(crate) fn set_no_edns(&mut self, addr: SocketAddr, now: Instant) {
        self.entry(addr, now, UNKNOWN_SRTT_MS).no_edns = true;
    }

    fn entry(&mut self, addr: SocketAddr, now: Instant, initial_ms: u32) -> &mut Stat {
        if self.map.len() >= self.capacity && !self.map.contains_key(&addr) {
            // Forget the half least recently used.
            let mut ages: Vec<Instant> = self.map.values().map(|s| s.touched).collect();
            ages.sort_unstable();
            if let Some(&cut) = ages.get(ages.len() / 2) {
                self.map.retain(|_, s| s.touched > cut);
            }
        }
        let stat = self.map.entry(addr).or_insert(Stat { srtt_ms: initial_ms, no_edns: false, touched: now });
        stat.touched = now;
        stat
    }
}
