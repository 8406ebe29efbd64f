//! How a committee member judges record changes before voting for them
//! (seed 001 §4.3): it resolves the name and type itself, from the
//! authorities, and votes yes only on an identical canonical RRset (owner,
//! type, class, authority TTL and rdata). TTLs under the floor and fetch
//! times far from now are refused without resolving; a `Delete` is right
//! when the name or type no longer resolves, or when nobody read the record
//! for the configured period (every member sees every read, so members
//! judge that alike). Committee changes are judged by the chunk manager
//! against the ring, not here.
//!
//! The resolutions are outputs ([`Resolve`]) and their results inputs
//! ([`Resolved`]): the core never awaits. At most [`CONCURRENCY`] run per
//! block, each within [`TIMEOUT`].

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use dhtr_ledger::{Digest, RRset, Tx};
use dhtr_protocol::ChunkId;
use serde_bytes::ByteBuf;

use crate::resolve::{Resolve, ResolveId, Resolved};

/// This node's verdict on one transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Identical to what the authorities say (or a justified delete).
    Agreed,
    /// The authorities say something else.
    Differs,
    /// TTL under the floor: not committed.
    TtlFloor,
    /// The fetch time is far from now.
    BadFetchTime,
    /// The authorities could not be asked.
    Unresolvable,
    /// Not a record change this validator judges.
    Unsupported,
    /// Not resolved within [`TIMEOUT`].
    Timeout,
    /// Too many validations in flight.
    Overloaded,
}

impl Verdict {
    /// The metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Agreed => "agreed",
            Verdict::Differs => "differs",
            Verdict::TtlFloor => "ttl_floor",
            Verdict::BadFetchTime => "bad_fetch_time",
            Verdict::Unresolvable => "unresolvable",
            Verdict::Unsupported => "unsupported",
            Verdict::Timeout => "timeout",
            Verdict::Overloaded => "overloaded",
        }
    }
}

/// How record changes are judged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mode {
    /// By resolving them (the real validator), refusing TTLs under the floor.
    Resolve {
        /// Least TTL committed.
        ttl_floor: u32,
    },
    /// TEST ONLY (`--test-hooks`): accept exactly the deterministic
    /// [`test_record`] of a name, which every honest node computes alone.
    TestRecord,
}

/// Most resolutions of one block at once.
pub const CONCURRENCY: usize = 8;
/// A transaction not validated within this time is refused.
pub const TIMEOUT: Duration = Duration::from_secs(3);
/// How far in the future a proposal's fetch time may be (clock skew).
pub const FETCH_SKEW: u64 = 30;
/// How old a proposal's fetch time may be when it is validated.
pub const FETCH_AGE: u64 = 120;
/// Most blocks being validated at once; beyond, blocks are refused.
pub const MAX_JOBS: usize = 1024;

/// A finished validation: one verdict per transaction, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finished {
    /// The chunk.
    pub chunk: ChunkId,
    /// The block (or transaction id) the chunk manager asked about.
    pub block: Digest,
    /// The verdicts.
    pub verdicts: Vec<Verdict>,
}

struct Job {
    chunk: ChunkId,
    block: Digest,
    txs: Vec<Tx>,
    verdicts: Vec<Option<Verdict>>,
    queue: VecDeque<usize>,
    running: usize,
}

/// The validations in flight.
pub struct Validations {
    mode: Mode,
    jobs: HashMap<u64, Job>,
    resolving: HashMap<ResolveId, (u64, usize, Instant)>,
    next_job: u64,
    next_resolve: u64,
}

impl Validations {
    /// No validations yet, judging by `mode`.
    pub fn new(mode: Mode) -> Validations {
        Validations { mode, jobs: HashMap::new(), resolving: HashMap::new(), next_job: 0, next_resolve: 0 }
    }

    /// When the next resolution times out.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.resolving.values().map(|(_, _, t)| *t).min()
    }

    /// Judge `txs` of `block`; `unused(name, type)` says whether nobody read
    /// that record for the configured period. Resolutions to make go to
    /// `out`; the verdicts come back at once when none is needed.
    #[allow(clippy::too_many_arguments)]
    pub fn start(
        &mut self,
        now: Instant,
        unix: u64,
        chunk: ChunkId,
        block: Digest,
        txs: Vec<Tx>,
        unused: impl Fn(&str, u16) -> bool,
        out: &mut Vec<Resolve>,
    ) -> Option<Finished> {
        if self.jobs.len() >= MAX_JOBS {
            return Some(Finished { chunk, block, verdicts: vec![Verdict::Overloaded; txs.len()] });
        }
        let mut job =
            Job { chunk, block, verdicts: vec![None; txs.len()], queue: VecDeque::new(), running: 0, txs: Vec::new() };
        for (i, tx) in txs.iter().enumerate() {
            match self.quick(unix, tx, &unused) {
                Some(v) => job.verdicts[i] = Some(v),
                None => job.queue.push_back(i),
            }
        }
        job.txs = txs;
        let id = self.next_job;
        self.next_job += 1;
        self.jobs.insert(id, job);
        self.pump(now, id, out)
    }

    /// The verdict that needs no resolution, if any.
    fn quick(&self, unix: u64, tx: &Tx, unused: &impl Fn(&str, u16) -> bool) -> Option<Verdict> {
        let floor = match &self.mode {
            Mode::TestRecord => {
                let ok = matches!(tx, Tx::Put(rr) if test_record(&rr.name).same_records(rr));
                return Some(if ok { Verdict::Agreed } else { Verdict::Differs });
            }
            Mode::Resolve { ttl_floor } => *ttl_floor,
        };
        match tx {
            Tx::Put(rr) if rr.ttl < floor => Some(Verdict::TtlFloor),
            // The fetch time decides when the record expires: it must be
            // about now (a proposer could otherwise keep a record alive).
            Tx::Put(rr)
                if rr.fetched_at > unix.saturating_add(FETCH_SKEW)
                    || rr.fetched_at.saturating_add(FETCH_AGE) < unix =>
            {
                Some(Verdict::BadFetchTime)
            }
            Tx::Put(_) => None,
            Tx::Delete { name, rtype } if unused(name, *rtype) => Some(Verdict::Agreed),
            Tx::Delete { .. } => None,
            Tx::Reconfigure { .. } => Some(Verdict::Unsupported),
        }
    }

    /// Start queued resolutions up to the limit; the verdicts if all are in.
    fn pump(&mut self, now: Instant, job_id: u64, out: &mut Vec<Resolve>) -> Option<Finished> {
        let job = self.jobs.get_mut(&job_id)?;
        while job.running < CONCURRENCY
            && let Some(i) = job.queue.pop_front()
        {
            let (name, rtype, fetched_at) = match &job.txs[i] {
                Tx::Put(rr) => (rr.name.clone(), rr.rtype, rr.fetched_at),
                Tx::Delete { name, rtype } => (name.clone(), *rtype, 0),
                Tx::Reconfigure { .. } => continue,
            };
            let id = ResolveId::Validation(self.next_resolve);
            self.next_resolve += 1;
            self.resolving.insert(id, (job_id, i, now + TIMEOUT));
            job.running += 1;
            out.push(Resolve { id, name, rtype, fetched_at });
        }
        if job.verdicts.iter().all(Option::is_some) {
            let job = self.jobs.remove(&job_id)?;
            let verdicts = job.verdicts.into_iter().map(|v| v.unwrap_or(Verdict::Unresolvable)).collect();
            return Some(Finished { chunk: job.chunk, block: job.block, verdicts });
        }
        None
    }

    /// The result of a resolution this module asked for.
    pub fn on_resolved(
        &mut self,
        now: Instant,
        id: ResolveId,
        resolved: Resolved,
        out: &mut Vec<Resolve>,
    ) -> Option<Finished> {
        let (job_id, i, _) = self.resolving.remove(&id)?;
        let job = self.jobs.get_mut(&job_id)?;
        job.running = job.running.saturating_sub(1);
        job.verdicts[i] = Some(match &job.txs[i] {
            Tx::Put(rr) => match resolved {
                Resolved::Records(m) if m.same_records(rr) => Verdict::Agreed,
                Resolved::Records(_) | Resolved::NotInAnswer => Verdict::Differs,
                Resolved::Negative | Resolved::Failed => Verdict::Unresolvable,
            },
            Tx::Delete { .. } => match resolved {
                Resolved::Negative | Resolved::NotInAnswer => Verdict::Agreed,
                Resolved::Records(_) => Verdict::Differs,
                Resolved::Failed => Verdict::Unresolvable,
            },
            Tx::Reconfigure { .. } => Verdict::Unsupported,
        });
        self.pump(now, job_id, out)
    }

    /// Resolutions that ran out of time are refused.
    pub fn on_timeout(&mut self, now: Instant, out: &mut Vec<Resolve>) -> Vec<Finished> {
        let late: Vec<ResolveId> =
            self.resolving.iter().filter(|(_, (_, _, t))| *t <= now).map(|(id, _)| *id).collect();
        let mut done = Vec::new();
        for id in late {
            let Some((job_id, i, _)) = self.resolving.remove(&id) else { continue };
            if let Some(job) = self.jobs.get_mut(&job_id) {
                job.running = job.running.saturating_sub(1);
                job.verdicts[i] = Some(Verdict::Timeout);
            }
            done.extend(self.pump(now, job_id, out));
        }
        done
    }
}

/// The test record of `name` (canonical, with trailing dot): a TXT RRset
/// whose text is the hex blake3 of the name.
pub fn test_record(name: &str) -> RRset {
    let text = blake3::hash(name.as_bytes()).to_hex().to_string();
    let mut rdata = vec![text.len() as u8];
    rdata.extend_from_slice(text.as_bytes());
    RRset { name: name.to_string(), rtype: 16, class: 1, ttl: 3600, rdata: vec![ByteBuf::from(rdata)], fetched_at: 0 }
        .canonical()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn rr(ttl: u32, fetched_at: u64) -> RRset {
        RRset {
            name: "www.example.test.".into(),
            rtype: 1,
            class: 1,
            ttl,
            rdata: vec![ByteBuf::from(vec![192, 0, 2, 1])],
            fetched_at,
        }
    }

    fn judge(v: &mut Validations, txs: Vec<Tx>, out: &mut Vec<Resolve>) -> Option<Finished> {
        v.start(Instant::now(), 10_000, ChunkId(1), Digest::default(), txs, |n, _| n == "old.test.", out)
    }

    #[test]
    fn proposals_with_a_low_ttl_or_a_fetch_time_far_from_now_are_refused_without_resolving() {
        let mut v = Validations::new(Mode::Resolve { ttl_floor: 30 });
        let mut out = Vec::new();
        let txs = vec![
            Tx::Put(rr(5, 10_000)),
            Tx::Put(rr(300, 10_000 + 3600)),
            Tx::Put(rr(300, u64::MAX / 2)),
            Tx::Put(rr(300, 10_000 - 3600)),
            Tx::Delete { name: "old.test.".into(), rtype: 1 },
            Tx::Reconfigure { committee: Vec::new() },
        ];
        let done = judge(&mut v, txs, &mut out).expect("no resolution needed");
        assert!(out.is_empty());
        use Verdict::*;
        assert_eq!(done.verdicts, vec![TtlFloor, BadFetchTime, BadFetchTime, BadFetchTime, Agreed, Unsupported]);
    }

    #[test]
    fn a_put_is_agreed_only_when_the_authorities_say_the_same() {
        let mut v = Validations::new(Mode::Resolve { ttl_floor: 30 });
        let mut out = Vec::new();
        let put = rr(300, 10_000);
        let mut other = put.clone();
        other.rdata = vec![ByteBuf::from(vec![192, 0, 2, 9])];
        let txs = vec![Tx::Put(put.clone()), Tx::Put(put.clone()), Tx::Delete { name: "x.test.".into(), rtype: 1 }];
        assert!(judge(&mut v, txs, &mut out).is_none());
        assert_eq!(out.len(), 3);
        assert_eq!((out[0].name.as_str(), out[0].fetched_at), ("www.example.test.", 10_000));
        let now = Instant::now();
        let mut more = Vec::new();
        assert!(v.on_resolved(now, out[0].id, Resolved::Records(put), &mut more).is_none());
        assert!(v.on_resolved(now, out[1].id, Resolved::Records(other), &mut more).is_none());
        let done = v.on_resolved(now, out[2].id, Resolved::Negative, &mut more).expect("all in");
        assert_eq!(done.verdicts, vec![Verdict::Agreed, Verdict::Differs, Verdict::Agreed]);
    }

    #[test]
    fn at_most_eight_resolutions_per_block_and_late_ones_time_out() {
        let mut v = Validations::new(Mode::Resolve { ttl_floor: 30 });
        let mut out = Vec::new();
        let txs: Vec<Tx> = (0..10).map(|_| Tx::Put(rr(300, 10_000))).collect();
        assert!(judge(&mut v, txs, &mut out).is_none());
        assert_eq!(out.len(), CONCURRENCY);
        let at = v.poll_timeout().expect("a deadline");
        let mut more = Vec::new();
        let done = v.on_timeout(at, &mut more);
        assert!(done.is_empty());
        assert_eq!(more.len(), 2, "the queued two start as the first eight time out");
        let done = v.on_timeout(at + TIMEOUT, &mut Vec::new());
        assert_eq!(done.len(), 1);
        assert!(done[0].verdicts.iter().all(|v| *v == Verdict::Timeout));
        // A result after the deadline is ignored.
        assert!(v.on_resolved(at, out[0].id, Resolved::Failed, &mut Vec::new()).is_none());
    }

    #[test]
    fn the_test_oracle_accepts_only_the_test_record() {
        let mut v = Validations::new(Mode::TestRecord);
        let good = Tx::Put(test_record("a.example."));
        let mut wrong = test_record("a.example.");
        wrong.rdata = vec![ByteBuf::from(b"\x03bad".to_vec())];
        let done = judge(&mut v, vec![good, Tx::Put(wrong)], &mut Vec::new()).expect("at once");
        assert_eq!(done.verdicts, vec![Verdict::Agreed, Verdict::Differs]);
    }
}
