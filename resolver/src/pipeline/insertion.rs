//! Which RRsets of a fallback answer this node proposes for insertion
//! (sans-IO; the time is a parameter): none under the TTL floor, none it
//! proposed with the same records less than [`RESUBMIT_AFTER`] ago (a
//! popular name is not proposed again on every cache miss, while a changed
//! one is proposed at once), and at most [`MAX_INSERTIONS_PER_SECOND`].

use std::collections::HashMap;
use std::time::{Duration, Instant};

use dhtr_ledger::{Digest, RRset};

use super::{MAX_INSERTIONS_PER_SECOND, MAX_REMEMBERED, RESUBMIT_AFTER};

/// What became of one RRset of a fallback answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Insertion {
    /// Proposed to its chunk's committee.
    Proposed,
    /// Its TTL is under the floor (committing it would be wasted work).
    SkippedTtlFloor,
    /// The same records were proposed recently.
    SkippedRecent,
    /// Over [`MAX_INSERTIONS_PER_SECOND`].
    SkippedRate,
}

/// The insertion rules of one node.
#[derive(Clone, Debug)]
pub struct InsertionFilter {
    /// RRsets with a TTL under this are not proposed.
    ttl_floor: u32,
    /// When the current one-second window started.
    window: Instant,
    /// Proposals in the current window.
    in_window: u32,
    /// RRsets proposed recently (their records, not when they were
    /// fetched) → when.
    submitted: HashMap<Digest, Instant>,
    /// Most remembered submissions ([`MAX_REMEMBERED`]; lower in tests).
    max_remembered: usize,
}

impl InsertionFilter {
    /// The rules with this TTL floor, the first rate window starting at `now`.
    pub fn new(ttl_floor: u32, now: Instant) -> InsertionFilter {
        InsertionFilter {
            ttl_floor,
            window: now,
            in_window: 0,
            submitted: HashMap::new(),
            max_remembered: MAX_REMEMBERED,
        }
    }

    /// The same rules remembering at most `max` submissions.
    #[cfg(test)]
    pub(super) fn remembering(self, max: usize) -> InsertionFilter {
        InsertionFilter { max_remembered: max, ..self }
    }

    /// Submissions remembered now.
    pub fn remembered(&self) -> usize {
        self.submitted.len()
    }

    /// Whether to propose `rr` at `now`; a proposal (or one skipped only
    /// for the rate) is remembered as submitted.
    pub fn check(&mut self, rr: &RRset, now: Instant) -> Insertion {
        if rr.ttl < self.ttl_floor {
            return Insertion::SkippedTtlFloor;
        }
        let key = Digest::of("dhtr/submitted", &dhtr_ledger::types::cbor(&(&rr.name, rr.rtype, rr.ttl, &rr.rdata)));
        if self.submitted.get(&key).is_some_and(|t| now.saturating_duration_since(*t) < RESUBMIT_AFTER) {
            return Insertion::SkippedRecent;
        }
        if self.submitted.len() >= self.max_remembered {
            self.submitted.retain(|_, t| now.saturating_duration_since(*t) < RESUBMIT_AFTER);
            if self.submitted.len() >= self.max_remembered {
                self.submitted.clear();
            }
        }
        self.submitted.insert(key, now);
        if now.saturating_duration_since(self.window) >= Duration::from_secs(1) {
            (self.window, self.in_window) = (now, 0);
        }
        if self.in_window >= MAX_INSERTIONS_PER_SECOND {
            return Insertion::SkippedRate;
        }
        self.in_window += 1;
        Insertion::Proposed
    }
}
