//! Joining a chunk (seed 001 §4.3): fetching its chain from a member,
//! checking the genesis and every certificate against the committee of its
//! epoch, and replacing a bare genesis the others do not share.

use std::time::Instant;

use dhtr_protocol::{ChunkId, PeerRef};

use super::ring::Check;
use super::{ChunkEvent, Chunks, Output};
use crate::msg::{Body, Message};
use crate::replica::{self, genesis_block};
use crate::store::Store;
use crate::types::{Block, Certificate, Committee, Digest, Tx};
use crate::verify;

/// A chain being fetched from a member.
pub(super) struct Join {
    pub(super) source: PeerRef,
    pub(super) started: Instant,
    pub(super) next: Instant,
}

impl Chunks {
    // ---- joining -------------------------------------------------------

    pub(super) fn start_join(&mut self, now: Instant, chunk: ChunkId, from: PeerRef) {
        if self.joins.contains_key(&chunk) || self.joins.len() >= self.cfg.max_joins || from == *self.me() {
            return;
        }
        self.joins.insert(chunk, Join { source: from.clone(), started: now, next: now + self.cfg.join_retry });
        self.event(chunk, ChunkEvent::JoinStarted { from: from.clone() });
        self.out.push_back(Output::Send { to: from, msg: Message { chunk, body: Body::GetBlocks { from: 0 } } });
    }

    /// Blocks for a chunk being joined (or whose bare genesis others do not
    /// share): verify the genesis, then let the replica verify every
    /// certificate against the committee of its epoch.
    pub(super) fn on_join_blocks<S: Store + ?Sized>(
        &mut self,
        now: Instant,
        chunk: ChunkId,
        from: PeerRef,
        body: Body,
        store: &mut S,
    ) {
        let Body::Blocks(mut list) = body else { return };
        let first = list.first().map(|(b, _)| b.height);
        if first == Some(1) && self.forked_genesis(chunk, &list) {
            // Ask the sender for its genesis and chain from the start.
            self.joins.remove(&chunk);
            return self.start_join(now, chunk, from);
        }
        let mut carried = Vec::new();
        if first == Some(0) && !list.is_empty() {
            let (genesis, cert) = list.remove(0);
            let Some(committee) = genesis_committee(&genesis, &cert) else {
                self.joins.remove(&chunk);
                return self.event(chunk, ChunkEvent::JoinFailed { reason: "not a genesis block" });
            };
            let ours = self.genesis_hash(chunk);
            if ours.is_some_and(|h| h != genesis.hash()) {
                // Replace our bare genesis only with a chain on which
                // something was decided: its first block must be certified
                // by the genesis committee.
                let decided = list.first().is_some_and(|(b, c)| {
                    b.prev == genesis.hash()
                        && c.block == b.hash()
                        && c.height == 1
                        && verify::check_certificate(&self.network, chunk, &committee, c).is_ok()
                });
                if !decided {
                    self.joins.remove(&chunk);
                    return self.event(chunk, ChunkEvent::JoinFailed { reason: "no decided block on that genesis" });
                }
                if let Err(e) = store.discard_genesis(chunk) {
                    return self.event(chunk, ChunkEvent::Replica(replica::Event::Halted { error: e.to_string() }));
                }
                carried = self.replicas.remove(&chunk).map(|r| r.pending_txs()).unwrap_or_default();
                self.event(chunk, ChunkEvent::GenesisReplaced);
            }
            if !self.wake(chunk, store) && !self.open(chunk, Some(committee), store) {
                self.joins.remove(&chunk);
                return;
            }
        }
        if !self.replicas.contains_key(&chunk) {
            return;
        }
        let got = list.len();
        self.resubmit(now, chunk, carried, store);
        self.feed(now, chunk, replica::Input::Message { from: from.clone(), body: Body::Blocks(list) }, store);
        let me = self.me().clone();
        let Some(r) = self.replicas.get(&chunk) else { return };
        let (member, height) = (r.committee().contains(&me), r.committed_height());
        // Transactions that reached us before the chain did.
        self.release_waiting(now, chunk, store);
        if member {
            if self.joins.remove(&chunk).is_some() {
                self.event(chunk, ChunkEvent::Joined { height });
            }
            self.checks.entry(chunk).or_insert(Check { next: now + self.cfg.recheck, candidate: None });
        } else if let Some(j) = self.joins.get_mut(&chunk)
            && got > 0
        {
            // More may follow: ask for the next stretch at once.
            j.next = now + self.cfg.join_retry;
            let msg = Message { chunk, body: Body::GetBlocks { from: height + 1 } };
            self.out.push_back(Output::Send { to: j.source.clone(), msg });
        }
    }

    /// Does a sync answer start from a genesis other than our bare one?
    /// (Our first committee disagreed with the one the others formed.)
    pub(super) fn forked_genesis(&self, chunk: ChunkId, list: &[(Block, Certificate)]) -> bool {
        let Some(r) = self.replicas.get(&chunk) else { return false };
        r.committed_height() == 0
            && list.first().is_some_and(|(b, _)| b.height == 1 && self.genesis_hash(chunk).is_some_and(|g| g != b.prev))
    }

    fn genesis_hash(&self, chunk: ChunkId) -> Option<Digest> {
        let r = self.replicas.get(&chunk)?;
        (r.committed_height() == 0).then(|| genesis_block(chunk, r.committee()).hash())
    }
}

/// The first committee of a genesis block, if the block is exactly the
/// deterministic genesis of that committee (with its empty certificate).
fn genesis_committee(block: &Block, cert: &Certificate) -> Option<Committee> {
    let members = match block.txs.as_slice() {
        [Tx::Reconfigure { committee }] => committee.clone(),
        _ => return None,
    };
    let committee = Committee { epoch: 0, members };
    let ok = block.height == 0
        && *block == genesis_block(block.chunk, &committee)
        && cert.block == block.hash()
        && cert.height == 0;
    ok.then_some(committee)
}
