//! The queue of transactions waiting to be ordered, kept in arrival order
//! with their ids computed once (ids are digests of an encoding; computing
//! them in every scan made large queues quadratic).

use std::collections::{HashSet, VecDeque};
use std::time::{Duration, Instant};

use crate::types::{Digest, Tx};

/// Pending transactions by arrival.
#[derive(Debug, Default)]
pub struct Pending {
    queue: VecDeque<(Digest, Tx, Instant)>,
    ids: HashSet<Digest>,
}

impl Pending {
    /// Add a transaction unless it is already queued; returns whether it was new.
    pub fn insert(&mut self, id: Digest, tx: Tx, now: Instant) -> bool {
        if !self.ids.insert(id) {
            return false;
        }
        self.queue.push_back((id, tx, now));
        true
    }

    /// Is this transaction queued?
    pub fn contains(&self, id: &Digest) -> bool {
        self.ids.contains(id)
    }

    /// Remove every transaction whose id is in `gone`, in one pass.
    pub fn remove_all(&mut self, gone: &HashSet<Digest>) {
        if gone.iter().any(|id| self.ids.contains(id)) {
            self.queue.retain(|(id, ..)| !gone.contains(id));
            self.ids.retain(|id| !gone.contains(id));
        }
    }

    /// Remove and return the ids of transactions older than `ttl`.
    pub fn expire(&mut self, now: Instant, ttl: Duration) -> HashSet<Digest> {
        let old: HashSet<Digest> =
            self.queue.iter().filter(|(_, _, t)| now.duration_since(*t) > ttl).map(|(id, ..)| *id).collect();
        self.remove_all(&old);
        old
    }

    /// Queued transactions with their ids, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = (&Digest, &Tx)> {
        self.queue.iter().map(|(id, tx, _)| (id, tx))
    }

    /// How many are queued.
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// Is nothing queued?
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// The ids queued.
    pub fn ids(&self) -> &HashSet<Digest> {
        &self.ids
    }
}
