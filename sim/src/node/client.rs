//! DNS clients of the whole-node simulation. Each query goes to a random
//! live node that follows no strategy, through the same policy as the real
//! front end's pipeline: the network walk ([`Walk`], CNAMEs and all), the
//! fallback resolution from the authorities (the oracle here), the decision
//! between fallback and stale ([`after_fallback`]) and the insertion filter.
//! Every answer is judged against the oracle.

use std::collections::HashMap;
use std::time::Duration;

use dhtr_ledger::Tx;
use dhtr_node_core::majority::Verdict;
use dhtr_node_core::reads::{ReadError, ReadOutcome};
use dhtr_node_core::{Input, Token};
use dhtr_resolver::pipeline::convert::{records_of, rrsets_of};
use dhtr_resolver::pipeline::{
    Decision, Insertion, InsertionFilter, MAX_STALE, NetworkRead, Step, Walk, Walked, after_fallback,
};
use dhtr_resolver::{Question, Resolution, ResolveError};
use hickory_proto::rr::{Name, RecordType};
use rand::Rng;

use super::NodeSim;
use super::oracle::Oracle;

/// The queries in flight.
pub(super) struct Queries {
    names: usize,
    pub(super) asked: u64,
    next: u64,
    /// (node, token) → query id.
    reading: HashMap<(usize, Token), u64>,
    walks: HashMap<u64, (usize, Walk, usize)>,
    /// Per node: what it proposed recently.
    filters: HashMap<usize, InsertionFilter>,
    /// Expired network answers kept for a stale decision.
    stale: HashMap<u64, Resolution>,
}

impl Queries {
    pub(super) fn new(names: usize) -> Queries {
        Queries {
            names,
            asked: 0,
            next: 0,
            reading: HashMap::new(),
            walks: HashMap::new(),
            filters: HashMap::new(),
            stale: HashMap::new(),
        }
    }

    /// Queries not finished yet.
    pub(super) fn in_flight(&self) -> u64 {
        self.walks.len() as u64
    }
}

/// How a query was answered.
enum Source {
    Network,
    Fallback,
    Stale,
}

impl NodeSim {
    /// A client asks a random honest live node about a random name.
    pub(super) fn query(&mut self) {
        let honest: Vec<usize> = (0..self.nodes.len())
            .filter(|i| self.live(*i) && !self.cfg.attackers.iter().any(|(a, _)| a == i))
            .collect();
        if honest.is_empty() {
            return;
        }
        let node = honest[self.kit.rng.random_range(0..honest.len())];
        let k = self.kit.rng.random_range(0..self.queries.names);
        let Ok(name) = Name::from_ascii(Oracle::name(k)) else { return };
        let walk = Walk::new(&Question::new(name, RecordType::A), self.unix());
        let id = self.queries.next;
        self.queries.next += 1;
        self.queries.asked += 1;
        self.queries.walks.insert(id, (node, walk, k));
        self.read_next(id);
    }

    fn read_next(&mut self, id: u64) {
        let Some((node, walk, _)) = self.queries.walks.get(&id) else { return };
        let node = *node;
        let (name, rtype) = walk.next_read();
        let token = Token(id);
        self.queries.reading.insert((node, token), id);
        self.input(node, Input::Read { token, name, rtype, history: false });
    }

    /// A node's network read for a query finished.
    pub(super) fn on_read(&mut self, node: usize, token: Token, result: Result<ReadOutcome, ReadError>) {
        let Some(id) = self.queries.reading.remove(&(node, token)) else { return };
        let read = match result {
            Ok(r) => match r.verdict {
                Verdict::Agreed(a) => NetworkRead::Agreed { rrset: a.rrset, cname: a.cname, dissent: a.dissent },
                Verdict::NoMajority { answered, .. } => NetworkRead::NoMajority { answered },
            },
            Err(_) => NetworkRead::Failed,
        };
        let Some((_, walk, _)) = self.queries.walks.get_mut(&id) else { return };
        match walk.feed(read).1 {
            Step::ReadNext => self.read_next(id),
            Step::Done(Walked::Fresh(res)) => self.answered(id, Source::Network, &res),
            Step::Done(walked) => {
                if let Walked::Expired(res) = walked {
                    self.queries.stale.insert(id, res);
                }
                // The fallback resolution takes a few round trips.
                let delay = self.kit.uniform(Duration::from_millis(20), Duration::from_millis(150));
                let life = self.nodes[node].life;
                self.kit.after(delay, super::Ev::Fallback { node, life, query: id });
            }
        }
    }

    /// The fallback resolution of a query is done.
    pub(super) fn fallback(&mut self, node: usize, life: u32, id: u64) {
        let stale = self.queries.stale.remove(&id);
        let Some((_, _, k)) = self.queries.walks.get(&id) else { return };
        let k = *k;
        let now = self.kit.now();
        let resolved = if self.oracle.up(now) {
            let rr = self.oracle.rrset(k, now, self.unix());
            records_of(&rr, rr.ttl)
                .map(|records| Resolution::Answer { records })
                .map_err(|_| ResolveError::Timeout { zone: Oracle::name(k) })
        } else {
            Err(ResolveError::Timeout { zone: Oracle::name(k) })
        };
        match after_fallback(resolved, stale) {
            Decision::Fallback(res) => {
                self.answered(id, Source::Fallback, &res);
                // Insert what was found, through the node's filter.
                if self.nodes[node].life == life && self.live(node) {
                    let instant = self.kit.instant();
                    let Resolution::Answer { records } = &res else { return };
                    for rr in rrsets_of(records, self.unix()) {
                        let filter =
                            self.queries.filters.entry(node).or_insert_with(|| InsertionFilter::new(30, instant));
                        if filter.check(&rr, instant) == Insertion::Proposed {
                            self.input(node, Input::Submit(Tx::Put(rr)));
                        }
                    }
                }
            }
            Decision::Stale(res) => self.answered(id, Source::Stale, &res),
            Decision::Fail(_) => {
                self.queries.walks.remove(&id);
                self.report.failed += 1;
            }
        }
    }

    /// Judge an answer against the oracle.
    fn answered(&mut self, id: u64, source: Source, res: &Resolution) {
        let Some((_, _, k)) = self.queries.walks.remove(&id) else { return };
        let now = self.kit.now();
        match source {
            Source::Network => self.report.network += 1,
            Source::Fallback => self.report.fallback += 1,
            Source::Stale => {
                self.report.stale += 1;
                if self.oracle.up(now) {
                    self.report.stale_while_up += 1;
                }
            }
        }
        let Resolution::Answer { records } = res else { return };
        let Some(rr) = rrsets_of(records, 0).into_iter().find(|r| r.name == Oracle::name(k) && r.rtype == 1) else {
            return;
        };
        let Some(v) = self.oracle.version_of(k, &rr.rdata, now) else {
            self.report.forged += 1;
            return;
        };
        // A version may be served until its TTL after the authorities
        // replaced it (and stale, within MAX_STALE, while they are down).
        let grace = match source {
            Source::Stale => MAX_STALE,
            _ => Duration::from_secs(u64::from(super::oracle::TTL) + 1),
        };
        if self.oracle.version_end(k, v).is_some_and(|end| end + grace < now) {
            self.report.outdated += 1;
        }
    }
}
