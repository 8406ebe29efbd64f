//! Following the ring (seed 001 §4.3): the periodic look that compares a
//! chunk's committee with the ring and, once two looks in a row agree on a
//! different one, submits `Reconfigure` (or replaces a bare genesis); and
//! starting a chain when the ring's committee holds none ([`super::join`]
//! asks them first).

use std::time::Instant;

use dhtr_protocol::{ChunkId, PeerRef};

use super::{ChunkEvent, Chunks};
use crate::msg::Body;
use crate::replica;
use crate::store::Store;
use crate::types::{Committee, Tx};

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
        more: Vec<PeerRef>,
        store: &mut S,
    ) {
        let me = self.me().clone();
        self.ring.insert(chunk, (members.clone(), now));
        self.resolve_gathering(now, chunk, store);
        let hinted = self.hinted.contains_key(&chunk);
        if (hinted || self.waiting.contains_key(&chunk)) && !self.probes.contains_key(&chunk) {
            let held = self.wake(chunk, store);
            if !members.contains(&me) {
                if self.waiting.remove(&chunk).is_some() {
                    self.event(chunk, ChunkEvent::Dropped { reason: "not a member" });
                }
                if !held {
                    return self.retry_hint(now, chunk);
                }
                // We hold a chain: the regular comparison below decides.
                self.hinted.remove(&chunk);
            } else if self.joins.contains_key(&chunk) {
                self.hinted.remove(&chunk);
                return self.release_waiting(now, chunk, store);
            } else if !held {
                // No chain here: ask the ring's committee for theirs.
                return self.start_probe(now, chunk, members, more, store);
            } else {
                if hinted {
                    // Someone holds another chain of this chunk (a bare
                    // genesis of ours, or two histories after a partition):
                    // ask the ring's committee, and go on comparing ours
                    // with the ring below.
                    self.start_probe(now, chunk, members.clone(), more, store);
                } else {
                    self.hinted.remove(&chunk);
                }
                if self.waiting.contains_key(&chunk) {
                    return self.release_waiting(now, chunk, store);
                }
            }
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
            return self.note_membership(now, chunk);
        }
        if members.contains(&me) {
            self.handed_off.remove(&chunk);
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
        if bare {
            // A first committee on which nothing was ever decided, and the
            // ring no longer puts us in it: there is nothing to hand over
            // (its members may never form a quorum to commit a Reconfigure).
            // Pass what waits in it to the ring's committee instead; keep
            // the genesis, in case the ring moves back. Once: resubmitting
            // would have the committee order the same transactions again.
            if !self.handed_off.insert(chunk) {
                return;
            }
            let pending = self.replicas.get(&chunk).map(|r| r.pending_txs()).unwrap_or_default();
            for tx in pending {
                self.send_submit(chunk, &tx, &members);
            }
            return;
        }
        let n = members.len();
        let tx = Tx::Reconfigure { committee: members };
        self.event(chunk, ChunkEvent::ReconfigureSubmitted { members: n });
        self.submit(now, chunk, tx, &committee.members, store);
    }

    /// Start a chain with the probed committee as its genesis.
    pub(super) fn create<S: Store + ?Sized>(
        &mut self,
        now: Instant,
        chunk: ChunkId,
        members: Vec<PeerRef>,
        store: &mut S,
    ) {
        if !self.wake(chunk, store) {
            let n = members.len();
            if !self.open(chunk, Some(Committee { epoch: 0, members }), store) {
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
