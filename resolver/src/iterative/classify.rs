//! What an authoritative server's reply means for the question we asked it
//! (RFC 1034 §5.3.3 step 4), with the bailiwick rules that keep a server from
//! telling us about names it is not authoritative for (RFC 5452 §6, the
//! "credibility" ranking of RFC 2181 §5.4.1). Pure: no I/O, no clock.

use std::net::IpAddr;

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};

/// A delegation to a child zone, as a parent's referral gave it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Referral {
    /// The child zone: strictly below the zone asked, at or above the name.
    pub zone: Name,
    /// The child's name servers.
    pub ns: Vec<Name>,
    /// Addresses of those name servers from the additional section (glue),
    /// only for names in the bailiwick of the server that sent them.
    pub glue: Vec<(Name, IpAddr, u32)>,
    /// The smallest TTL of the NS records.
    pub ttl: u32,
}

/// The meaning of a reply from the servers of `zone`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The records asked for, after the CNAMEs in `chain` (maybe none).
    Answer {
        /// CNAMEs from the question to the owner of `records`.
        chain: Vec<Record>,
        /// The answer RRset.
        records: Vec<Record>,
    },
    /// The CNAMEs in `chain` lead to `target`, which this zone cannot answer
    /// for (out of its bailiwick, or not in the reply): ask again for it
    /// from the top (RFC 1034 §5.3.3 step 4c).
    Cname {
        /// CNAMEs followed, ending at `target`.
        chain: Vec<Record>,
        /// The name to resolve next.
        target: Name,
    },
    /// Go one zone down (RFC 1034 §5.3.3 step 4b).
    Referral(Referral),
    /// The name (the last one of `chain`, or the question) does not exist (RFC 2308 §2.1).
    NxDomain {
        /// CNAMEs followed.
        chain: Vec<Record>,
        /// The zone's SOA, if the server sent it.
        soa: Option<Record>,
    },
    /// The name exists without the type (RFC 2308 §2.2).
    NoData {
        /// CNAMEs followed.
        chain: Vec<Record>,
        /// The zone's SOA, if the server sent it.
        soa: Option<Record>,
    },
    /// TC set: ask the same server again over TCP (RFC 7766 §5).
    Truncated,
    /// FORMERR: maybe the server does not do EDNS (RFC 6891 §7).
    FormErr,
    /// This server failed us (SERVFAIL, REFUSED, lame, nonsense): try another.
    Failure(String),
}

/// True if `name` is `zone` or below it.
pub(crate) fn in_bailiwick(zone: &Name, name: &Name) -> bool {
    zone.zone_of(name)
}

/// True if `child` is strictly below `zone`.
pub(crate) fn strictly_below(zone: &Name, child: &Name) -> bool {
    zone.zone_of(child) && zone.iter().count() < child.iter().count()
}

/// Classifies `msg`, a reply from a server of `zone` to (`qname`, `qtype`).
/// Only records in `zone`'s bailiwick that belong to the CNAME chain from
/// `qname` are kept; everything else in the answer is dropped.
pub(crate) fn classify(msg: &Message, qname: &Name, qtype: RecordType, zone: &Name) -> Outcome {
    if msg.metadata.truncation {
        return Outcome::Truncated;
    }
    let rcode = msg.metadata.response_code;
    match rcode {
        ResponseCode::NoError | ResponseCode::NXDomain => {}
        ResponseCode::FormErr => return Outcome::FormErr,
        other => return Outcome::Failure(format!("rcode {other}")),
    }
    if !in_bailiwick(zone, qname) {
        return Outcome::Failure(format!("{qname} is not in zone {zone}"));
    }
    let (chain, name, looped) = follow_chain(&msg.answers, qname, qtype, zone);
    if looped || !in_bailiwick(zone, &name) {
        // RFC 1034 §5.3.3 4c: the target is another zone's business (any of
        // its records in this reply are out of bailiwick and dropped). A loop
        // is reported as the CNAME it is; the core's loop check rejects it.
        return Outcome::Cname { chain, target: name };
    }
    let records = rrset(&msg.answers, &name, qtype);
    if !records.is_empty() {
        return Outcome::Answer { chain, records };
    }
    if chain.is_empty() && !msg.answers.is_empty() {
        // Records, but none for the question: confused or lying (RFC 5452 §6).
        return Outcome::Failure("answer section holds nothing for the question".to_string());
    }
    let aa = msg.metadata.authoritative;
    let soa = negative_soa(&msg.authorities, zone, &name);
    if rcode == ResponseCode::NXDomain {
        // RFC 6604 §3: with a chain, NXDOMAIN speaks of its last target.
        return if aa || soa.is_some() {
            Outcome::NxDomain { chain, soa }
        } else if !chain.is_empty() {
            Outcome::Cname { chain, target: name }
        } else {
            Outcome::Failure("lame: NXDOMAIN without AA or SOA".to_string())
        };
    }
    if !aa {
        match referral(msg, zone, &name) {
            Ok(Some(r)) if chain.is_empty() => return Outcome::Referral(r),
            // The chain ends in a child zone: start over from the target.
            Ok(Some(_)) => return Outcome::Cname { chain, target: name },
            Ok(None) => {}
            Err(lame) if soa.is_none() && chain.is_empty() => return Outcome::Failure(lame),
            Err(_) => {}
        }
    }
    if aa || soa.is_some() {
        return Outcome::NoData { chain, soa };
    }
    if !chain.is_empty() {
        return Outcome::Cname { chain, target: name };
    }
    Outcome::Failure("lame: no answer, referral or SOA, and not authoritative".to_string())
}

/// Follows CNAMEs in the answer section from `qname` while the names stay in
/// `zone`'s bailiwick and no record of `qtype` exists at the current name.
/// Returns the CNAMEs followed, the name reached and whether that name was
/// met before (a loop stops the walk).
fn follow_chain(answers: &[Record], qname: &Name, qtype: RecordType, zone: &Name) -> (Vec<Record>, Name, bool) {
    let mut chain: Vec<Record> = Vec::new();
    let mut name = qname.clone();
    if qtype == RecordType::CNAME {
        return (chain, name, false);
    }
    // A chain longer than the answer section is impossible; this bounds the walk.
    for _ in 0..answers.len() {
        if !in_bailiwick(zone, &name) || !rrset(answers, &name, qtype).is_empty() {
            break;
        }
        let Some((record, target)) = answers.iter().find_map(|r| match &r.data {
            RData::CNAME(target) if r.dns_class == DNSClass::IN && r.name == name => Some((r, target.0.clone())),
            _ => None,
        }) else {
            break;
        };
        let repeated = target == *qname || chain.iter().any(|c| c.name == target);
        chain.push(record.clone());
        name = target;
        if repeated {
            return (chain, name, true);
        }
    }
    (chain, name, false)
}

/// The records at `name` of `qtype` (any type but CNAME for ANY).
fn rrset(answers: &[Record], name: &Name, qtype: RecordType) -> Vec<Record> {
    answers
        .iter()
        .filter(|r| r.dns_class == DNSClass::IN && r.name == *name)
        .filter(|r| r.record_type() == qtype || (qtype == RecordType::ANY && r.record_type() != RecordType::CNAME))
        .cloned()
        .collect()
}

/// The SOA that proves a negative answer for `name`: in the authority
/// section, owned by `zone` or a zone between it and `name` (RFC 2308 §3).
fn negative_soa(authorities: &[Record], zone: &Name, name: &Name) -> Option<Record> {
    authorities
        .iter()
        .find(|r| {
            r.dns_class == DNSClass::IN
                && matches!(r.data, RData::SOA(_))
                && in_bailiwick(zone, &r.name)
                && in_bailiwick(&r.name, name)
        })
        .cloned()
}

/// The referral in `msg` for `name`, if it has one: NS records in the
/// authority section whose owner is strictly below `zone` and at or above
/// `name`. NS records for other owners are dropped, and glue only kept for
/// those NS names and inside `zone` (RFC 5452 §6). `Err` when NS records are
/// there but none is a valid referral (an upward or sideways referral: lame).
fn referral(msg: &Message, zone: &Name, name: &Name) -> Result<Option<Referral>, String> {
    let ns_records: Vec<(&Record, &Name)> = msg
        .authorities
        .iter()
        .filter(|r| r.dns_class == DNSClass::IN)
        .filter_map(|r| match &r.data {
            RData::NS(ns) => Some((r, &ns.0)),
            _ => None,
        })
        .collect();
    let Some((first, _)) = ns_records.first() else { return Ok(None) };
    let Some(child) =
        ns_records.iter().map(|(r, _)| &r.name).find(|owner| strictly_below(zone, owner) && in_bailiwick(owner, name))
    else {
        return Err(format!("lame: referral to {} from {zone} for {name}", first.name));
    };
    let mut ns: Vec<Name> = Vec::new();
    let mut ttl = u32::MAX;
    for (record, target) in ns_records.iter().filter(|(r, _)| r.name == *child) {
        ttl = ttl.min(record.ttl);
        if !ns.contains(target) {
            ns.push((*target).clone());
        }
    }
    let glue = msg
        .additionals
        .iter()
        .filter(|r| r.dns_class == DNSClass::IN && ns.contains(&r.name) && in_bailiwick(zone, &r.name))
        .filter_map(|r| match &r.data {
            RData::A(a) => Some((r.name.clone(), IpAddr::V4(a.0), r.ttl)),
            RData::AAAA(aaaa) => Some((r.name.clone(), IpAddr::V6(aaaa.0), r.ttl)),
            _ => None,
        })
        .collect();
    Ok(Some(Referral { zone: child.clone(), ns, glue, ttl }))
}
