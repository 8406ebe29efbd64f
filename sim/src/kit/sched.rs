//! A deterministic virtual-time event queue for simulators: events come out
//! in time order, and events scheduled for the same instant in the order
//! they were scheduled, so a seeded run always replays identically.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::time::Duration;

struct Entry<W> {
    at: Duration,
    seq: u64,
    what: W,
}

impl<W> PartialEq for Entry<W> {
    fn eq(&self, o: &Self) -> bool {
        (self.at, self.seq) == (o.at, o.seq)
    }
}
impl<W> Eq for Entry<W> {}
impl<W> PartialOrd for Entry<W> {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl<W> Ord for Entry<W> {
    fn cmp(&self, o: &Self) -> Ordering {
        (self.at, self.seq).cmp(&(o.at, o.seq))
    }
}

/// Events of type `W` ordered by virtual time.
pub struct Schedule<W> {
    heap: BinaryHeap<Reverse<Entry<W>>>,
    seq: u64,
}

impl<W> Default for Schedule<W> {
    fn default() -> Self {
        Schedule { heap: BinaryHeap::new(), seq: 0 }
    }
}

impl<W> Schedule<W> {
    /// Schedule `what` at virtual time `at`.
    pub fn push(&mut self, at: Duration, what: W) {
        self.seq += 1;
        self.heap.push(Reverse(Entry { at, seq: self.seq, what }));
    }

    /// The earliest event, if it is due at or before `until`.
    pub fn pop_until(&mut self, until: Duration) -> Option<(Duration, W)> {
        if self.heap.peek().is_none_or(|Reverse(e)| e.at > until) {
            return None;
        }
        self.heap.pop().map(|Reverse(e)| (e.at, e.what))
    }
}
