//! Vote bookkeeping for one height: who voted for what in which phase and
//! view, duplicates, and equivocation (two different signed votes of one
//! member for the same phase, view and height).

use std::collections::{BTreeMap, HashMap};

use dhtr_protocol::PeerRef;

use crate::types::{Digest, Phase, Vote};

/// What inserting a vote did.
#[derive(Debug)]
pub enum Insert {
    /// A new vote, counted.
    Counted,
    /// The same vote again; ignored.
    Duplicate,
    /// A different block than this member's earlier vote: evidence.
    Conflict(Box<Vote>),
}

/// Votes at the current height.
#[derive(Debug, Default)]
pub struct Tally {
    by_block: HashMap<(Phase, u64, Digest), BTreeMap<PeerRef, Vote>>,
    first: HashMap<(Phase, u64, PeerRef), Digest>,
}

impl Tally {
    /// Record a (verified) vote.
    pub fn insert(&mut self, v: Vote) -> Insert {
        let key = (v.phase, v.view, v.voter.clone());
        if let Some(block) = self.first.get(&key) {
            if *block == v.block {
                return Insert::Duplicate;
            }
            let earlier = self
                .by_block
                .get(&(v.phase, v.view, *block))
                .and_then(|m| m.get(&v.voter))
                .cloned()
                .unwrap_or_else(|| v.clone());
            return Insert::Conflict(Box::new(earlier));
        }
        self.first.insert(key, v.block);
        self.by_block.entry((v.phase, v.view, v.block)).or_default().insert(v.voter.clone(), v);
        Insert::Counted
    }

    /// How many distinct members voted `block` in this phase and view.
    pub fn count(&self, phase: Phase, view: u64, block: &Digest) -> usize {
        self.by_block.get(&(phase, view, *block)).map_or(0, |m| m.len())
    }

    /// The votes for `block` in this phase and view.
    pub fn votes(&self, phase: Phase, view: u64, block: &Digest) -> Vec<Vote> {
        self.by_block.get(&(phase, view, *block)).map(|m| m.values().cloned().collect()).unwrap_or_default()
    }

    /// Every (view, block) with at least `quorum` commit votes.
    pub fn decided(&self, quorum: usize) -> Vec<(u64, Digest)> {
        self.by_block
            .iter()
            .filter(|((p, ..), m)| *p == Phase::Commit && m.len() >= quorum)
            .map(|((_, v, b), _)| (*v, *b))
            .collect()
    }

    /// Forget everything (the height was decided).
    pub fn clear(&mut self) {
        self.by_block.clear();
        self.first.clear();
    }
}
