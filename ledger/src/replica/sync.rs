//! Catching up: state transfer between the members of a chunk's committee
//! (after Castro & Liskov, PBFT §4.3, where a replica that falls behind
//! fetches the state a stable checkpoint certifies). Here every committed
//! block carries its own commit certificate, so a member that sees a message
//! for a later height, or an idle member that polls its peers in turn, asks
//! for the blocks from its tip on (`GetBlocks`), and takes over each block of
//! the answer (`Blocks`) whose certificate checks out against the committee
//! of its epoch, in height order. Certified blocks are public: any node may
//! ask for them.

use std::time::Instant;

use dhtr_protocol::PeerRef;

use super::{Event, Replica};
use crate::msg::{Body, MAX_SYNC_BLOCKS};
use crate::store::{Store, StoreError};
use crate::types::{Block, Certificate, cbor};
use crate::verify::{self, Reject};

/// Most bytes of blocks in one sync answer.
const MAX_SYNC_BYTES: usize = 512 * 1024;

impl Replica {
    /// A message about a later height means we are behind: fetch blocks.
    pub(super) fn behind(&mut self, now: Instant, from: &PeerRef) {
        if self.next_sync.is_some_and(|t| now < t) || !self.committee.contains(from) {
            return;
        }
        self.next_sync = Some(now + self.cfg.sync_retry);
        self.send(from.clone(), Body::GetBlocks { from: self.tip_height() });
    }

    pub(super) fn send_blocks<S: Store + ?Sized>(
        &mut self,
        to: &PeerRef,
        from: u64,
        store: &mut S,
    ) -> Result<(), StoreError> {
        let mut list = Vec::new();
        let mut bytes = 0;
        for h in from..from.saturating_add(MAX_SYNC_BLOCKS as u64) {
            match store.block(self.chunk, h)? {
                Some(b) => {
                    bytes += cbor(&b).len();
                    if bytes > MAX_SYNC_BYTES && !list.is_empty() {
                        break;
                    }
                    list.push(b);
                }
                None => break,
            }
        }
        if !list.is_empty() {
            self.send(to.clone(), Body::Blocks(list));
        }
        Ok(())
    }

    /// Take over committed blocks, each verified against its certificate
    /// and the committee of its epoch, in height order.
    pub(super) fn on_blocks<S: Store + ?Sized>(
        &mut self,
        now: Instant,
        from: PeerRef,
        list: Vec<(Block, Certificate)>,
        store: &mut S,
    ) -> Result<(), StoreError> {
        let before = self.height;
        for (block, cert) in list {
            if block.height < self.height {
                continue;
            }
            if block.height > self.height {
                // Ahead of us (a committee change announced to its new
                // members, say): not wrong, just not next. Fetch the gap.
                self.behind(now, &from);
                break;
            }
            let hash = block.hash();
            let ok = block.chunk == self.chunk
                && block.prev == self.last
                && cert.block == hash
                && cert.height == block.height
                && verify::check_certificate(&self.network, self.chunk, &self.committee, &cert).is_ok();
            if !ok {
                self.reject(&from, Reject::BadCertificate);
                break;
            }
            self.commit(now, block, cert, store)?;
        }
        if self.height > before {
            self.next_sync = None;
            self.emit(Event::Synced { height: self.height - 1 });
        }
        Ok(())
    }

    /// Sync requests start at our tip, not after it: the answer's first
    /// block then shows whether the peer holds the same chain (the chunk
    /// manager compares it; a partition can leave two, see `chunks::fork`),
    /// even when neither is ahead.
    fn tip_height(&self) -> u64 {
        self.height.saturating_sub(1)
    }

    /// Anti-entropy while idle: ask the other members, in turn, for blocks
    /// beyond our tip (see [`super::Config::poll_interval`]).
    pub(super) fn poll(&mut self, now: Instant) {
        self.next_poll = Some(now + self.cfg.poll_interval);
        let me = self.signer.peer().clone();
        let others: Vec<PeerRef> = self.committee.members.iter().filter(|m| **m != me).cloned().collect();
        if !others.is_empty() {
            self.fetch_turn = self.fetch_turn.wrapping_add(1);
            let m = others[self.fetch_turn % others.len()].clone();
            self.send(m, Body::GetBlocks { from: self.tip_height() });
        }
    }
}
