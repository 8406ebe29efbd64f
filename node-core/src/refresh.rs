//! Refreshing committed records whose TTL ran out (seed 001 §4.3): every
//! scan interval, for each expired RRset of a chunk whose committee has this
//! node as the RRset's designated refresher (the member at position
//! blake3(name, type) mod n, so one member proposes each refresh and all of
//! them validate it), the node resolves the name again and proposes the
//! result — a `Put` of the current records (a new version, or the same
//! records with a new fetch time), or a `Delete` when the name or type is
//! gone. When the authorities cannot be reached nothing is proposed; the
//! expired version is then served stale. An expired RRset nobody read for
//! the configured period is removed by a `Delete` instead.
//!
//! Also here: which records were read recently ([`ReadLog`]), the "unused"
//! rule's memory.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use dhtr_ledger::{RRset, Store, Tx};
use dhtr_protocol::{ChunkId, PeerRef};

use crate::records::{CNAME, RecordsRequest, member_tip};
use crate::resolve::{Resolve, ResolveId, Resolved};

/// Most expired RRsets taken from one scan.
pub const MAX_PER_SCAN: usize = 256;
/// How long a refresh just proposed is not proposed again (a committed
/// refresh makes the record fresh; this only stops re-proposing one still
/// in flight, or one the committee refused, on every scan).
pub const RETRY_AFTER: Duration = Duration::from_secs(10);
/// Most remembered recent refreshes and resolutions in flight.
const MAX_REMEMBERED: usize = 65_536;

/// What a refresh came to, for metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefreshOutcome {
    /// The current records were proposed.
    Put,
    /// The name or type is gone: a delete was proposed.
    Delete,
    /// Nobody read it for the period: a delete was proposed.
    DeleteUnused,
    /// The authorities could not be asked; nothing proposed.
    Failed,
}

impl RefreshOutcome {
    /// The metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            RefreshOutcome::Put => "put",
            RefreshOutcome::Delete => "delete",
            RefreshOutcome::DeleteUnused => "delete_unused",
            RefreshOutcome::Failed => "failed",
        }
    }
}

/// What a refresh step asks of the core.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Resolve this (name, type) again.
    Resolve(Resolve),
    /// Submit this transaction to the record's committee.
    Submit(Tx, RefreshOutcome),
    /// Count this outcome (nothing to submit).
    Count(RefreshOutcome),
}

/// The refresher's state.
pub struct Refresher {
    interval: Duration,
    next_scan: Instant,
    cursor: u32,
    recent: HashMap<(String, u16), Instant>,
    resolving: HashMap<u64, (String, u16)>,
    next_id: u64,
}

impl Refresher {
    /// A refresher scanning every `interval`, first at `now + interval`.
    pub fn new(now: Instant, interval: Duration) -> Refresher {
        Refresher {
            interval,
            next_scan: now + interval,
            cursor: 0,
            recent: HashMap::new(),
            resolving: HashMap::new(),
            next_id: 0,
        }
    }

    /// When the next scan is due.
    pub fn poll_timeout(&self) -> Instant {
        self.next_scan
    }

    /// Scan if due: the expired RRsets this node refreshes, in `chunks`
    /// (rotating from where the last scan stopped, so records that keep
    /// failing cannot starve the others), at most [`MAX_PER_SCAN`].
    #[allow(clippy::too_many_arguments)]
    pub fn scan<S: Store + ?Sized>(
        &mut self,
        now: Instant,
        unix: u64,
        store: &S,
        mut chunks: Vec<ChunkId>,
        me: &PeerRef,
        unused: impl Fn(&str, u16) -> bool,
        out: &mut Vec<Action>,
    ) {
        if now < self.next_scan {
            return;
        }
        self.next_scan = now + self.interval;
        self.recent.retain(|_, t| now.saturating_duration_since(*t) < RETRY_AFTER);
        let start = chunks.iter().position(|c| c.0 > self.cursor).unwrap_or(0);
        chunks.rotate_left(start);
        let mut taken = 0;
        for chunk in chunks {
            self.cursor = chunk.0;
            let Some(tip) = member_tip(store, chunk, me) else { continue };
            let members = &tip.committee.members;
            let Ok(records) = store.records(chunk) else { continue };
            for rr in records {
                if designated(&rr, members) != Some(me) || rr.remaining_ttl(unix) > 0 {
                    continue;
                }
                let key = (rr.name.clone(), rr.rtype);
                if self.recent.contains_key(&key) || self.recent.len() >= MAX_REMEMBERED {
                    continue;
                }
                self.recent.insert(key.clone(), now);
                if unused(&rr.name, rr.rtype) {
                    let tx = Tx::Delete { name: rr.name.clone(), rtype: rr.rtype };
                    out.push(Action::Submit(tx, RefreshOutcome::DeleteUnused));
                } else if self.resolving.len() < MAX_REMEMBERED {
                    let id = self.next_id;
                    self.next_id += 1;
                    self.resolving.insert(id, key);
                    let r = Resolve { id: ResolveId::Refresh(id), name: rr.name, rtype: rr.rtype, fetched_at: unix };
                    out.push(Action::Resolve(r));
                }
                taken += 1;
                if taken >= MAX_PER_SCAN {
                    return;
                }
            }
        }
    }

    /// The result of a refresh resolution: what to propose.
    pub fn on_resolved(&mut self, id: u64, resolved: Resolved) -> Option<Action> {
        let (name, rtype) = self.resolving.remove(&id)?;
        Some(match resolved {
            Resolved::Records(fresh) => Action::Submit(Tx::Put(fresh), RefreshOutcome::Put),
            Resolved::NotInAnswer | Resolved::Negative => {
                Action::Submit(Tx::Delete { name, rtype }, RefreshOutcome::Delete)
            }
            Resolved::Failed => Action::Count(RefreshOutcome::Failed),
        })
    }
}

/// The member that refreshes `rr`: position blake3(name, type) mod n.
pub fn designated<'a>(rr: &RRset, members: &'a [PeerRef]) -> Option<&'a PeerRef> {
    if members.is_empty() {
        return None;
    }
    let h = blake3::hash(&dhtr_ledger::types::cbor(&(&rr.name, rr.rtype)));
    let mut first = [0u8; 8];
    first.copy_from_slice(&h.as_bytes()[..8]);
    members.get((u64::from_le_bytes(first) % members.len() as u64) as usize)
}

/// When each (name, type) was last read through this node as a member
/// (every network read asks every member, so all members see the same
/// reads): records nobody reads are removed instead of refreshed.
pub struct ReadLog {
    last_read: HashMap<(String, u16), Instant>,
    started: Instant,
    period: Duration,
}

/// Most remembered reads; beyond it the older half is forgotten.
const MAX_READS_TRACKED: usize = 1 << 20;

impl ReadLog {
    /// Nothing read yet by a node started at `now`; "unused" after `period`.
    pub fn new(now: Instant, period: Duration) -> ReadLog {
        ReadLog { last_read: HashMap::new(), started: now, period }
    }

    /// Remember that (name, type), and the CNAME at name, were read (not
    /// for history reads, which are audits).
    pub fn note(&mut self, now: Instant, req: &RecordsRequest) {
        if req.history {
            return;
        }
        if self.last_read.len() >= MAX_READS_TRACKED {
            let mut times: Vec<Instant> = self.last_read.values().copied().collect();
            times.sort();
            let median = times[times.len() / 2];
            self.last_read.retain(|_, t| *t >= median);
        }
        self.last_read.insert((req.name.clone(), req.rtype), now);
        self.last_read.insert((req.name.clone(), CNAME), now);
    }

    /// Has nobody read (name, type) through this node for the period (and
    /// has this node been up that long)?
    pub fn unused(&self, now: Instant, name: &str, rtype: u16) -> bool {
        if now.saturating_duration_since(self.started) < self.period {
            return false;
        }
        self.last_read.get(&(name.to_string(), rtype)).is_none_or(|t| now.saturating_duration_since(*t) >= self.period)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use dhtr_ledger::MemStore;

    fn req(name: &str, rtype: u16) -> RecordsRequest {
        RecordsRequest { chunk: ChunkId(1), name: name.into(), rtype, history: false, cert: None }
    }

    #[test]
    fn records_nobody_reads_are_unused_after_the_period() {
        let t0 = Instant::now();
        let period = Duration::from_secs(50);
        let mut log = ReadLog::new(t0, period);
        let later = t0 + Duration::from_secs(100);
        assert!(!log.unused(t0, "a.test.", 1), "a node that just started has seen too little");
        assert!(log.unused(later, "a.test.", 1), "never read since a start long ago");
        log.note(later, &req("a.test.", 1));
        assert!(!log.unused(later, "a.test.", 1), "just read");
        assert!(!log.unused(later, "a.test.", CNAME), "a read also covers the CNAME at the name");
        assert!(log.unused(later + period, "a.test.", 1));
        // History reads are audits, not uses.
        log.note(later, &RecordsRequest { history: true, ..req("b.test.", 1) });
        assert!(log.unused(later, "b.test.", 1));
    }

    #[test]
    fn refreshes_follow_the_authorities_and_failures_propose_nothing() {
        let t0 = Instant::now();
        let mut r = Refresher::new(t0, Duration::from_secs(10));
        let mut out = Vec::new();
        // Nothing held: nothing to do, and no scan before the interval.
        r.scan(t0, 100, &MemStore::new(), Vec::new(), &PeerRef(vec![1]), |_, _| false, &mut out);
        assert!(out.is_empty());
        r.resolving.insert(7, ("a.test.".into(), 1));
        r.resolving.insert(8, ("b.test.".into(), 1));
        assert_eq!(
            r.on_resolved(7, Resolved::Negative),
            Some(Action::Submit(Tx::Delete { name: "a.test.".into(), rtype: 1 }, RefreshOutcome::Delete))
        );
        assert_eq!(r.on_resolved(8, Resolved::Failed), Some(Action::Count(RefreshOutcome::Failed)));
        assert_eq!(r.on_resolved(8, Resolved::Failed), None, "each resolution answers once");
    }

    #[test]
    fn one_member_is_designated_for_each_record() {
        let members: Vec<PeerRef> = (1..=4u8).map(|i| PeerRef(vec![i])).collect();
        let rr = RRset { name: "a.test.".into(), rtype: 1, class: 1, ttl: 1, rdata: Vec::new(), fetched_at: 0 };
        let d = designated(&rr, &members).expect("one");
        assert!(members.contains(d));
        assert_eq!(designated(&rr, &[]), None);
    }
}
