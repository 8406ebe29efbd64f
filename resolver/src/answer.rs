//! The vocabulary shared by the front end, the cache and the resolvers.

use std::time::Duration;

use hickory_proto::rr::{DNSClass, Name, Record, RecordData, RecordType};

/// What a client asked. `name` is kept as sent (its letter case is echoed
/// back, DNS 0x20); [`Question::key`] is the case-folded form used for
/// caching and lookups.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Question {
    /// The owner name, fully qualified, as sent.
    pub name: Name,
    /// The record type asked for.
    pub qtype: RecordType,
    /// The class (IN; others are refused by the front end).
    pub qclass: DNSClass,
}

impl Question {
    /// An IN question.
    pub fn new(name: Name, qtype: RecordType) -> Question {
        Question { name, qtype, qclass: DNSClass::IN }
    }

    /// The case-folded, fully qualified form of the question.
    pub fn key(&self) -> Question {
        let mut name = self.name.to_lowercase();
        name.set_fqdn(true);
        Question { name, qtype: self.qtype, qclass: self.qclass }
    }
}

/// Where an answer came from (the `source` label of the query metrics).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Source {
    /// This node's answer cache.
    Cache,
    /// The chunk's committee (a strict-majority read).
    Network,
    /// Resolved from the root servers by this node.
    Fallback,
    /// An expired record served because its authorities were unreachable (RFC 8767).
    Stale,
}

impl Source {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Cache => "cache",
            Source::Network => "network",
            Source::Fallback => "fallback",
            Source::Stale => "stale",
        }
    }
}

/// The outcome of resolving a question, whatever answered it. TTLs in the
/// records are the remaining TTLs at the time the resolution is handed out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Resolution {
    /// Records answering the question: the CNAME chain that leads to the
    /// answer (in order, possibly empty), then the answer's RRset.
    Answer {
        /// The records, in answer-section order.
        records: Vec<Record>,
    },
    /// The name does not exist (RFC 2308 §2.1). `cname_chain` leads to the
    /// name that does not exist; `soa` is the zone's SOA from the authority
    /// section, whose TTL bounds negative caching (RFC 2308 §5).
    NxDomain {
        /// CNAMEs followed before the non-existent name.
        cname_chain: Vec<Record>,
        /// The SOA of the zone that said so.
        soa: Option<Record>,
    },
    /// The name exists but has no records of this type (RFC 2308 §2.2).
    NoData {
        /// CNAMEs followed before the name without the type.
        cname_chain: Vec<Record>,
        /// The SOA of the zone that said so.
        soa: Option<Record>,
    },
}

impl Resolution {
    /// How long this resolution may be cached: the smallest TTL of its
    /// records; for a negative answer, the smallest of the CNAME TTLs, the
    /// SOA's TTL and its MINIMUM field (RFC 2308 §5). A negative answer
    /// without an SOA is not cached.
    pub fn ttl(&self) -> Duration {
        let min = |rs: &[Record]| rs.iter().map(|r| r.ttl).min();
        let secs = match self {
            Resolution::Answer { records } => min(records).unwrap_or(0),
            Resolution::NxDomain { cname_chain, soa } | Resolution::NoData { cname_chain, soa } => match soa {
                Some(soa) => {
                    let minimum = hickory_proto::rr::rdata::SOA::try_borrow(&soa.data).map_or(0, |s| s.minimum);
                    let negative = soa.ttl.min(minimum);
                    min(cname_chain).map_or(negative, |c| c.min(negative))
                }
                None => 0,
            },
        };
        Duration::from_secs(u64::from(secs))
    }

    /// Every record, with TTLs lowered by `elapsed` (at least 0).
    pub fn aged(&self, elapsed: Duration) -> Resolution {
        let age = u32::try_from(elapsed.as_secs()).unwrap_or(u32::MAX);
        let lower = |rs: &[Record]| {
            rs.iter()
                .map(|r| {
                    let mut r = r.clone();
                    r.ttl = r.ttl.saturating_sub(age);
                    r
                })
                .collect::<Vec<_>>()
        };
        match self {
            Resolution::Answer { records } => Resolution::Answer { records: lower(records) },
            Resolution::NxDomain { cname_chain, soa } => Resolution::NxDomain {
                cname_chain: lower(cname_chain),
                soa: soa.as_ref().map(|s| lower(std::slice::from_ref(s)).remove(0)),
            },
            Resolution::NoData { cname_chain, soa } => Resolution::NoData {
                cname_chain: lower(cname_chain),
                soa: soa.as_ref().map(|s| lower(std::slice::from_ref(s)).remove(0)),
            },
        }
    }
}

/// Why a question could not be resolved (answered with SERVFAIL, and an
/// Extended DNS Error where one fits).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    /// No server of a zone answered in time.
    #[error("no server for {zone} answered in time")]
    Timeout {
        /// The zone whose servers were tried.
        zone: String,
    },
    /// Every server of a zone failed (refused, lame, malformed answers).
    #[error("every server for {zone} failed: {reason}")]
    AllServersFailed {
        /// The zone.
        zone: String,
        /// The last failure.
        reason: String,
    },
    /// Resolving took more queries, referrals or CNAMEs than allowed.
    #[error("resolution budget exceeded: {0}")]
    Budget(String),
    /// A CNAME or delegation loop.
    #[error("loop: {0}")]
    Loop(String),
    /// The question itself cannot be resolved (e.g. a class other than IN).
    #[error("not supported: {0}")]
    NotSupported(String),
}
