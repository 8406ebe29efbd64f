//! Two histories of one chunk after a partition, and the one the committee
//! keeps (issue 8, "partitions and heal").
//!
//! A chunk first used while the ring is split gets a first committee on each
//! side, and both may decide blocks: each side looks like the whole ring from
//! inside, and nothing a node sees locally says otherwise (PBFT's safety
//! assumes one committee; seed 001 leaves partitions out). When the ring
//! merges, both chains hand over to the same ring committee, whose members
//! then meet the other chain: a sync answer whose first block differs from
//! ours at its height, or does not link to our tip ([`Chunks::forked`]; sync
//! requests start at the tip so that equal heights show it too).
//!
//! Such an answer is not fed to the replica (its sender did nothing wrong).
//! Once per `check_interval` per chunk, a member of the ring's committee asks
//! that committee and the next n successors for their chains, as a joining
//! node does, and counts the holders of each genesis. It gives up its chain
//! for another only when at least f+1 of them agree on that one block for
//! block (with at most f faulty among them, an honest node holds it) and it
//! has more holders than ours, or as many and a lower genesis hash. Every
//! member applies the same order to the same answers, so the committee
//! converges on one chain; a member that keeps its chain shows the holders
//! of the other its block at their height, so that they look too. The
//! abandoned chain's blocks, records and votes are forgotten; a query for a
//! name only it held resolves from the authorities again, as for a name
//! never asked. Clients never see an answer the authorities did not give:
//! both histories were validated by their committees.
//!
//! A chain this node no longer takes part in is kept for
//! `keep_after_leaving` (members joining in the meantime may count on it),
//! then released ([`Chunks::leaving_timers`]); so the copies of an abandoned
//! history on its former members go too.
//!
//! What an attacker gains: one forked answer per chunk and `check_interval`
//! costs the node a probe of up to 2n − 1 peers (as a hint does). f+1
//! colluding identities among the probed nodes can make a node adopt a
//! made-up chain only when it has more holders than the honest one, which
//! the model (at most f faulty per committee) rules out, but which
//! identities as cheap as today's make possible: the next issues (verified
//! ring views, a genesis certified against the ring) close it.

use std::collections::HashMap;
use std::time::Instant;

use dhtr_protocol::ChunkId;

use super::join::{Vouched, vouched_prefix};
use super::{ChunkEvent, Chunks};
use crate::msg::{Body, Message};
use crate::replica;
use crate::store::Store;
use crate::types::{Block, Certificate, Digest};

/// Most chunks remembered as recently checked for another chain.
const MAX_FORK_CHECKS: usize = 1024;

impl Chunks {
    /// Does a sync answer hold another chain than ours? Its first block is
    /// compared with ours at the same height, or, one above our tip, with our
    /// tip's hash. A block further ahead says nothing (the replica decides).
    pub(super) fn forked<S: Store + ?Sized>(&self, chunk: ChunkId, list: &[(Block, Certificate)], store: &S) -> bool {
        let Some((b, _)) = list.first() else { return false };
        let Ok(Some(tip)) = store.tip(chunk) else { return false };
        let next = tip.height.saturating_add(1);
        if b.chunk != chunk || b.height > next {
            return false;
        }
        if b.height == next {
            return b.prev != tip.hash;
        }
        matches!(store.block(chunk, b.height), Ok(Some((ours, _))) if ours.hash() != b.hash())
    }

    /// A peer holds another chain of a chunk we hold: look at the ring's
    /// committee (at once for a bare genesis, at most once per
    /// `check_interval` for a chain on which something was decided).
    pub(super) fn other_chain<S: Store + ?Sized>(&mut self, now: Instant, chunk: ChunkId, store: &S) {
        let decided = store.tip(chunk).ok().flatten().is_some_and(|t| t.height > 0);
        if decided {
            let every = self.cfg.check_interval;
            if self.fork_checked.get(&chunk).is_some_and(|t| now < *t + every) {
                return;
            }
            if self.fork_checked.len() >= MAX_FORK_CHECKS {
                self.fork_checked.retain(|_, t| now < *t + every);
                if self.fork_checked.len() >= MAX_FORK_CHECKS {
                    return;
                }
            }
            self.fork_checked.insert(chunk, now);
        }
        self.hint(now, chunk);
    }

    /// The probe of a member holding a decided chain is over: keep ours, or
    /// give it up for the one the committee holds more of (ties: the lower
    /// genesis hash).
    pub(super) fn decide_fork<S: Store + ?Sized>(&mut self, now: Instant, chunk: ChunkId, store: &mut S) {
        let Some(p) = self.probes.remove(&chunk) else { return };
        self.hinted.remove(&chunk);
        let (Ok(Some((genesis, _))), Ok(Some(tip))) = (store.block(chunk, 0), store.tip(chunk)) else { return };
        let ours = genesis.hash();
        let mut holders: HashMap<Digest, usize> = HashMap::new();
        for (_, list) in &p.answers {
            if let Some((b, _)) = list.first().filter(|(b, _)| b.height == 0) {
                *holders.entry(b.hash()).or_default() += 1;
            }
        }
        let ours_held = 1 + holders.get(&ours).copied().unwrap_or(0);
        let others: Vec<_> = p
            .answers
            .iter()
            .filter(|(_, list)| list.first().is_some_and(|(b, _)| b.height == 0 && b.hash() != ours))
            .cloned()
            .collect();
        if others.is_empty() {
            return;
        }
        let need = p.members.len().saturating_sub(1) / 3 + 1;
        let better = vouched_prefix(&others, need).filter(|v| v.blocks.len() > 1).filter(|v| {
            let g = v.blocks[0].0.hash();
            let held = holders.get(&g).copied().unwrap_or(0);
            held > ours_held || (held == ours_held && g < ours)
        });
        if let Some(v) = better {
            return self.abandon(now, chunk, tip.height, v, store);
        }
        self.event(chunk, ChunkEvent::OtherChain { kept: true, height: tip.height });
        // Show the holders of the other chain ours, at their height.
        for (peer, list) in others {
            let h = (list.len() as u64).saturating_sub(1).min(tip.height);
            if let Ok(Some(b)) = store.block(chunk, h) {
                self.out
                    .push_back(super::Output::Send { to: peer, msg: Message { chunk, body: Body::Blocks(vec![b]) } });
            }
        }
    }

    /// Forget our chain and take the vouched one; what waited in ours is
    /// submitted again.
    fn abandon<S: Store + ?Sized>(&mut self, now: Instant, chunk: ChunkId, height: u64, v: Vouched, store: &mut S) {
        let carried = self.replicas.get(&chunk).map(|r| r.pending_txs()).unwrap_or_default();
        if !self.forget_chain(chunk, store) {
            return;
        }
        self.event(chunk, ChunkEvent::OtherChain { kept: false, height });
        self.adopt(now, chunk, v, store);
        if self.replicas.contains_key(&chunk) {
            self.resubmit(now, chunk, carried, store);
        }
    }

    /// Start or stop the countdown of a chain this node holds: it is
    /// released `keep_after_leaving` after this node left its committee,
    /// unless it joins again (or is fetching the rest) meanwhile.
    pub(super) fn note_membership(&mut self, now: Instant, chunk: ChunkId) {
        let member = self.replicas.get(&chunk).map(|r| r.committee().contains(self.me()));
        match member {
            Some(false) if !self.joins.contains_key(&chunk) => {
                self.leaving.entry(chunk).or_insert(now + self.cfg.keep_after_leaving);
            }
            _ => {
                self.leaving.remove(&chunk);
            }
        }
    }

    /// Release the chains whose countdown ran out (and stop the countdown
    /// of those this node is a member of again).
    pub(super) fn leaving_timers<S: Store + ?Sized>(&mut self, now: Instant, store: &mut S) {
        let due: Vec<ChunkId> = self.leaving.iter().filter(|(_, t)| **t <= now).map(|(c, _)| *c).collect();
        for chunk in due {
            self.leaving.remove(&chunk);
            let Some(r) = self.replicas.get(&chunk) else { continue };
            if r.committee().contains(self.me()) || self.joins.contains_key(&chunk) {
                continue;
            }
            let height = r.committed_height();
            if !self.forget_chain(chunk, store) {
                return;
            }
            self.event(chunk, ChunkEvent::Released { height });
        }
    }

    /// Close a chunk's replica, stop every look after it, and discard its
    /// chain from the store (false, with the replica halted, if the store
    /// fails).
    fn forget_chain<S: Store + ?Sized>(&mut self, chunk: ChunkId, store: &mut S) -> bool {
        self.replicas.remove(&chunk);
        self.checks.remove(&chunk);
        self.joins.remove(&chunk);
        self.leaving.remove(&chunk);
        if let Err(e) = store.discard_chain(chunk) {
            self.event(chunk, ChunkEvent::Replica(replica::Event::Halted { error: e.to_string() }));
            return false;
        }
        true
    }
}
