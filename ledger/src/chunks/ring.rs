//! Following the ring (seed 001 §4.3): the periodic look that compares a
//! chunk's committee with the ring and, once two looks in a row agree on a
//! different one, submits `Reconfigure` (or replaces a bare genesis); and the
//! probe that asks the ring's committee whether a chain already exists before
//! starting one.

use std::time::Instant;

use dhtr_protocol::{ChunkId, PeerRef};

use super::join::Join;
use super::{ChunkEvent, Chunks, Output};
use crate::msg::{Body, Message};
use crate::replica;
use crate::store::Store;
use crate::types::{Committee, Tx};

/// Asking the members of our ring view whether a chain exists before
/// starting one: a committee may already hold one that has not been handed
/// to the ring's current committee yet.
pub(super) struct Probe {
    members: Vec<PeerRef>,
    unanswered: Vec<PeerRef>,
    pub(super) deadline: Instant,
}

/// When to look at the ring for a chunk, and what the last look found.
pub(super) struct Check {
    pub(super) next: Instant,
    pub(super) candidate: Option<Vec<PeerRef>>,
}

impl Chunks {
    // ---- the ring ------------------------------------------------------

    pub(super) fn on_ring<S: Store + ?Sized>(
        &mut self,
        now: Instant,
        chunk: ChunkId,
        members: Vec<PeerRef>,
        store: &mut S,
    ) {
        let me = self.me().clone();
        self.ring.insert(chunk, (members.clone(), now));
        self.resolve_gathering(now, chunk, store);
        if self.waiting.contains_key(&chunk) && !self.probes.contains_key(&chunk) {
            if !members.contains(&me) {
                self.waiting.remove(&chunk);
                return self.event(chunk, ChunkEvent::Dropped { reason: "not a member" });
            }
            if self.wake(chunk, store) || self.joins.contains_key(&chunk) {
                return self.release_waiting(now, chunk, store);
            }
            return self.start_probe(now, chunk, members);
        }
        if !self.wake(chunk, store) {
            return;
        }
        let Some(r) = self.replicas.get(&chunk) else { return };
        let committee = r.committee().clone();
        // A bare genesis may be replaced only if this node never signed a
        // commit on it: the others may have decided height 1 with that
        // vote, and a node in two decided chains of one chunk could let
        // both gather quorums.
        let bare = r.committed_height() == 0 && !r.signed_commit(1);
        if !committee.contains(&me) {
            self.checks.remove(&chunk);
            return;
        }
        let check = self.checks.entry(chunk).or_insert(Check { next: now, candidate: None });
        if members == committee.members {
            check.candidate = None;
            check.next = now + self.cfg.check_interval;
            return;
        }
        if check.candidate.as_ref() != Some(&members) {
            // First sight of a different committee: look again soon.
            check.candidate = Some(members);
            check.next = now + self.cfg.recheck;
            return;
        }
        check.next = now + self.cfg.check_interval;
        if bare && members.contains(&me) {
            // Nothing was ever decided on this genesis: start over with the
            // committee the ring settled on.
            if let Err(e) = store.discard_genesis(chunk) {
                return self.event(chunk, ChunkEvent::Replica(replica::Event::Halted { error: e.to_string() }));
            }
            let carried = self.replicas.remove(&chunk).map(|r| r.pending_txs()).unwrap_or_default();
            if self.open(chunk, Some(Committee { epoch: 0, members }), store) {
                self.event(chunk, ChunkEvent::GenesisReplaced);
                self.resubmit(now, chunk, carried, store);
            }
            return;
        }
        let n = members.len();
        let tx = Tx::Reconfigure { committee: members };
        self.event(chunk, ChunkEvent::ReconfigureSubmitted { members: n });
        self.submit(now, chunk, tx, &committee.members, store);
    }

    /// Before starting a chain with the ring's committee, ask its other
    /// members whether one exists.
    fn start_probe(&mut self, now: Instant, chunk: ChunkId, members: Vec<PeerRef>) {
        let me = self.me().clone();
        let unanswered: Vec<PeerRef> = members.iter().filter(|m| **m != me).cloned().collect();
        for m in &unanswered {
            self.out
                .push_back(Output::Send { to: m.clone(), msg: Message { chunk, body: Body::GetBlocks { from: 0 } } });
        }
        self.probes.insert(chunk, Probe { members, unanswered, deadline: now + self.cfg.probe_wait });
    }

    pub(super) fn on_probe_answer<S: Store + ?Sized>(
        &mut self,
        now: Instant,
        chunk: ChunkId,
        from: PeerRef,
        body: Body,
        store: &mut S,
    ) {
        let Body::Blocks(list) = &body else { return };
        // A chain on which something was decided: take it (verified) rather
        // than starting a second one.
        if list.len() > 1 && list.first().is_some_and(|(b, _)| b.height == 0) {
            self.joins.insert(chunk, Join { source: from.clone(), started: now, next: now + self.cfg.join_retry });
            self.on_join_blocks(now, chunk, from, body, store);
            if self.replicas.contains_key(&chunk) {
                self.probes.remove(&chunk);
                self.release_waiting(now, chunk, store);
            }
            return;
        }
        if let Some(p) = self.probes.get_mut(&chunk) {
            p.unanswered.retain(|m| *m != from);
            if p.unanswered.is_empty() {
                self.create(now, chunk, store);
            }
        }
    }

    /// Start a chain with the probed committee as its genesis.
    pub(super) fn create<S: Store + ?Sized>(&mut self, now: Instant, chunk: ChunkId, store: &mut S) {
        let Some(p) = self.probes.remove(&chunk) else { return };
        if !self.wake(chunk, store) {
            let n = p.members.len();
            if !self.open(chunk, Some(Committee { epoch: 0, members: p.members }), store) {
                return;
            }
            self.event(chunk, ChunkEvent::Created { members: n });
            self.checks.insert(chunk, Check { next: now + self.cfg.recheck, candidate: None });
        }
        self.release_waiting(now, chunk, store);
    }

    /// Feed the transactions that waited for a chain.
    /// Feed transactions that were pending on a replaced replica to its successor.
    pub(super) fn resubmit<S: Store + ?Sized>(&mut self, now: Instant, chunk: ChunkId, txs: Vec<Tx>, store: &mut S) {
        let me = self.me().clone();
        for tx in txs {
            self.feed(now, chunk, replica::Input::Message { from: me.clone(), body: Body::Submit(tx) }, store);
        }
    }

    pub(super) fn release_waiting<S: Store + ?Sized>(&mut self, now: Instant, chunk: ChunkId, store: &mut S) {
        let me = self.me().clone();
        let Some((_, txs)) = self.waiting.remove(&chunk) else { return };
        for tx in txs {
            self.forward(chunk, &tx);
            self.feed(now, chunk, replica::Input::Message { from: me.clone(), body: Body::Submit(tx) }, store);
        }
    }
}
