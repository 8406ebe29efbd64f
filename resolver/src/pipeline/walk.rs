//! The network read of one question, sans-IO: it asks for the reads of
//! (name, type) one at a time and is fed each read's result, following
//! CNAMEs through the network. The answer is the chain of agreed records if
//! every step is agreed and unexpired ([`Walked::Fresh`]), or if some step
//! expired less than [`MAX_STALE`] ago ([`Walked::Expired`], served only
//! when the authorities cannot be reached; RFC 8767 §4).

use dhtr_ledger::RRset;
use hickory_proto::rr::{RData, Record};

use super::convert::{expired_for, records_of, remaining_ttl};
use super::{CNAME, MAX_NETWORK_CNAMES, MAX_STALE, NetworkRead, STALE_TTL};
use crate::answer::{Question, Resolution};

/// What the network has for a question.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Walked {
    /// An agreed, unexpired answer.
    Fresh(Resolution),
    /// An agreed answer some part of which expired less than [`MAX_STALE`]
    /// ago (its expired records carry [`STALE_TTL`]): served only as stale.
    Expired(Resolution),
    /// No agreed answer.
    Nothing,
}

/// How one network read went, for metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadOutcome {
    /// The committee agreed on a usable record of the question (or a CNAME
    /// to follow).
    Hit {
        /// Members whose answer differed from the majority.
        dissent: usize,
    },
    /// The committee agreed on nothing usable (no record, a record of
    /// another name or type, or one expired too long ago).
    Absent {
        /// Members whose answer differed from the majority.
        dissent: usize,
    },
    /// No state reached a strict majority.
    NoMajority {
        /// Members that answered.
        answered: usize,
    },
    /// No read could be made.
    Failed,
}

/// What to do after a read.
#[derive(Clone, Debug, PartialEq, Eq)]
#[allow(clippy::large_enum_variant, reason = "one per network read, moved once")]
pub enum Step {
    /// Read [`Walk::next_read`] (a CNAME's target).
    ReadNext,
    /// The walk is over.
    Done(Walked),
}

/// The state of one network read, CNAME by CNAME.
#[derive(Clone, Debug)]
pub struct Walk {
    /// The type asked for.
    qtype: u16,
    /// Unix seconds when the walk started (expiry is judged at that time).
    now: u64,
    /// The canonical name to read next.
    name: String,
    /// The records so far (the CNAMEs followed).
    chain: Vec<Record>,
    /// Whether some record so far has expired.
    expired: bool,
    /// Reads fed so far.
    reads: usize,
}

impl Walk {
    /// A walk for `q` (case-folded here) at unix time `now`.
    pub fn new(q: &Question, now: u64) -> Walk {
        Walk {
            qtype: u16::from(q.qtype),
            now,
            name: q.name.to_lowercase().to_ascii(),
            chain: Vec::new(),
            expired: false,
            reads: 0,
        }
    }

    /// The (canonical name, type) to read now.
    pub fn next_read(&self) -> (String, u16) {
        (self.name.clone(), self.qtype)
    }

    /// The result of the read of [`Walk::next_read`]: how it counts, and
    /// what to do next.
    pub fn feed(&mut self, read: NetworkRead) -> (ReadOutcome, Step) {
        let done = |outcome| (outcome, Step::Done(Walked::Nothing));
        let (rrset, cname, dissent) = match read {
            NetworkRead::Agreed { rrset, cname, dissent } => (rrset, cname, dissent),
            NetworkRead::NoMajority { answered } => return done(ReadOutcome::NoMajority { answered }),
            NetworkRead::Failed => return done(ReadOutcome::Failed),
        };
        self.reads += 1;
        // Only records of the question count (a committee answers for the
        // name and type it was asked about, nothing else).
        let (name, qtype) = (self.name.as_str(), self.qtype);
        let rrset = rrset.filter(|r| r.name == name && r.rtype == qtype && r.class == 1);
        let cname = cname.filter(|c| c.name == name && c.rtype == CNAME && c.class == 1);
        let hit = ReadOutcome::Hit { dissent };
        match (rrset, cname) {
            (Some(rr), _) if self.usable(&rr) => {
                let Some(records) = self.take(&rr) else { return done(hit) };
                self.chain.extend(records);
                let res = Resolution::Answer { records: std::mem::take(&mut self.chain) };
                (hit, Step::Done(if self.expired { Walked::Expired(res) } else { Walked::Fresh(res) }))
            }
            (None, Some(c)) if self.usable(&c) && qtype != CNAME => {
                let Some(records) = self.take(&c) else { return done(hit) };
                let target = records.iter().find_map(|r| match &r.data {
                    RData::CNAME(t) => Some(t.0.to_lowercase().to_ascii()),
                    _ => None,
                });
                let Some(target) = target else { return done(hit) };
                self.chain.extend(records);
                self.name = target;
                // At most MAX_NETWORK_CNAMES are followed.
                if self.reads > MAX_NETWORK_CNAMES {
                    return done(hit);
                }
                (hit, Step::ReadNext)
            }
            _ => done(ReadOutcome::Absent { dissent }),
        }
    }

    /// Expired at most [`MAX_STALE`] ago.
    fn usable(&self, rr: &RRset) -> bool {
        expired_for(rr, self.now) <= MAX_STALE.as_secs()
    }

    /// The records of `rr` with their remaining TTL ([`STALE_TTL`] once
    /// expired, which marks the walk expired); `None` if they do not decode.
    fn take(&mut self, rr: &RRset) -> Option<Vec<Record>> {
        let ttl = match remaining_ttl(rr, self.now) {
            0 => {
                self.expired = true;
                STALE_TTL
            }
            t => t,
        };
        records_of(rr, ttl).ok()
    }
}
