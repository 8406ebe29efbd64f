//! What the core is resolving: a goal (the client's question, or an address
//! of a glueless name server) and the zone cut it is currently asking.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::time::Instant;

use hickory_proto::rr::{Name, RData, Record, RecordType};

use crate::answer::ResolveError;
use crate::iterative::classify::Referral;
use crate::iterative::delegation::{Delegation, DelegationCache};
use crate::iterative::servers::ServerSet;

/// Why a goal is being resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Purpose {
    /// The question the task was started for.
    Main,
    /// Addresses of the name server `ns` of the zone the goal below it on the stack is asking.
    NsAddr {
        /// The name server's name.
        ns: Name,
    },
}

/// A zone cut being asked: its servers, and its name servers whose
/// addresses we do not know yet (no glue).
#[derive(Clone, Debug)]
pub(crate) struct Cut {
    /// The zone.
    pub zone: Name,
    /// Addresses to try.
    pub servers: ServerSet,
    /// Name servers without addresses, to resolve on the side if needed.
    pub pending: Vec<Name>,
    /// How many of them were looked up so far.
    pub lookups: usize,
}

impl Cut {
    /// The cut the cache knows for `delegation`.
    pub(crate) fn from_delegation(delegation: Delegation) -> Cut {
        let servers = ServerSet::new(delegation.servers.iter().flat_map(|s| s.addrs.iter().copied()));
        let pending =
            delegation.servers.into_iter().filter(|s| s.addrs.is_empty()).filter_map(|s| s.name).collect::<Vec<_>>();
        Cut { zone: delegation.zone, servers, pending, lookups: 0 }
    }

    /// The cut a referral points to; glue addresses get `port`.
    pub(crate) fn from_referral(referral: &Referral, port: u16) -> Cut {
        let servers = ServerSet::new(referral.glue.iter().map(|(_, ip, _)| SocketAddr::new(*ip, port)));
        let pending = referral.ns.iter().filter(|ns| !referral.glue.iter().any(|(owner, _, _)| owner == *ns)).cloned();
        Cut { zone: referral.zone.clone(), servers, pending: pending.collect(), lookups: 0 }
    }
}

/// One name being resolved, with the CNAMEs followed so far.
#[derive(Debug)]
pub(crate) struct Goal {
    /// The name asked now (the question's, or the last CNAME target).
    pub qname: Name,
    /// The type asked.
    pub qtype: RecordType,
    /// What the result is for.
    pub purpose: Purpose,
    /// The CNAMEs followed, in order.
    pub chain: Vec<Record>,
    /// Names met along the chain, lower-cased (loop detection).
    seen: HashSet<Name>,
    /// The zone cut being asked.
    pub cut: Cut,
    /// Referrals followed for the current name.
    pub referrals: usize,
}

impl Goal {
    /// A goal for (`qname`, `qtype`), starting at the closest cut the cache knows.
    pub(crate) fn new(qname: Name, qtype: RecordType, purpose: Purpose, cache: &DelegationCache, now: Instant) -> Goal {
        let cut = start_cut(&qname, qtype, cache, now);
        let seen = HashSet::from([qname.to_lowercase()]);
        Goal { qname, qtype, purpose, chain: Vec::new(), seen, cut, referrals: 0 }
    }

    /// Appends CNAMEs to the chain: at most `max` in all, and no name twice.
    pub(crate) fn extend_chain(&mut self, chain: Vec<Record>, max: usize) -> Result<(), ResolveError> {
        for record in chain {
            let RData::CNAME(target) = &record.data else { continue };
            if self.chain.len() >= max {
                return Err(ResolveError::Budget(format!("more than {max} CNAMEs from {}", self.chain_start())));
            }
            if !self.seen.insert(target.0.to_lowercase()) {
                return Err(ResolveError::Loop(format!("CNAME loop at {} (from {})", target.0, self.chain_start())));
            }
            self.chain.push(record);
        }
        Ok(())
    }

    /// Starts over for the CNAME target `target` from the closest cut
    /// (RFC 1034 §5.3.3 step 4c).
    pub(crate) fn restart(&mut self, target: Name, cache: &DelegationCache, now: Instant) {
        self.cut = start_cut(&target, self.qtype, cache, now);
        self.qname = target;
        self.referrals = 0;
    }

    /// True if this goal resolves `name` (any type).
    pub(crate) fn is_for(&self, name: &Name) -> bool {
        self.qname == *name || matches!(&self.purpose, Purpose::NsAddr { ns } if ns == name)
    }

    fn chain_start(&self) -> &Name {
        self.chain.first().map_or(&self.qname, |r| &r.name)
    }
}

/// The closest cut for (`name`, `qtype`). A DS record lives in the parent
/// zone (RFC 4035 §3.1.4.1), so for DS the search starts above the name.
fn start_cut(name: &Name, qtype: RecordType, cache: &DelegationCache, now: Instant) -> Cut {
    let from = if qtype == RecordType::DS && !name.is_root() { name.base_name() } else { name.clone() };
    Cut::from_delegation(cache.closest(&from, now))
}

/// The addresses in an answer for a name server lookup, with their smallest TTL.
pub(crate) fn addresses(records: &[Record], port: u16) -> (Vec<SocketAddr>, u32) {
    let mut ttl = u32::MAX;
    let addrs = records
        .iter()
        .filter_map(|r| {
            let ip = match &r.data {
                RData::A(a) => std::net::IpAddr::V4(a.0),
                RData::AAAA(aaaa) => std::net::IpAddr::V6(aaaa.0),
                _ => return None,
            };
            ttl = ttl.min(r.ttl);
            Some(SocketAddr::new(ip, port))
        })
        .collect();
    (addrs, ttl)
}
