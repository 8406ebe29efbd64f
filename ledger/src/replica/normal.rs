//! The normal case (Castro & Liskov, PBFT §4.2): transactions wait in the
//! pending queue once this node's validator accepted them; the primary of
//! the view assigns the next height to a batch of them (pre-prepare, a
//! signed [`Proposal`]); each member validates the block's transactions
//! through its environment ([`Output::Validate`]) before it sends a prepare;
//! 2f+1 prepares for the block make it *prepared* (kept as a [`Prepared`]
//! certificate for view changes) and the member sends a commit; 2f+1 commits
//! form the [`Certificate`], and block, certificate and new state (a
//! `Reconfigure` hands the chunk to a new committee) are written in one
//! durable batch before the replica moves to the next height.
//!
//! Every vote is persisted in the vote log before it is sent, and a member
//! never signs two different blocks for one phase, view and height; a member
//! that does is convicted with both signed messages as evidence.

use std::collections::HashSet;
use std::time::Instant;

use dhtr_protocol::PeerRef;
use serde_bytes::ByteBuf;

use super::{Event, MAX_BLOCK_BYTES, MAX_TX_BYTES, MAX_VIEWS_AHEAD, Output, Replica};
use crate::msg::{Body, Prepared, Proposal};
use crate::store::{Store, StoreError, Tip};
use crate::tally::Insert;
use crate::types::{Block, Certificate, Committee, Digest, Phase, Tx, Vote, cbor, vote_digest};
use crate::verify::{self, Reject};

/// Most early messages kept (about a height's worth of a large committee).
const MAX_EARLY: usize = 256;

/// Most members a `Reconfigure` may name.
const MAX_COMMITTEE: usize = 32;

impl Replica {
    // ---- pending work --------------------------------------------------

    pub(super) fn add_pending(&mut self, now: Instant, tx: Tx) {
        let id = tx.id();
        let full = self.pending.len() >= self.cfg.max_pending;
        if self.refused_at.get(&id).is_some_and(|t| now.saturating_duration_since(*t) >= self.cfg.refusal_ttl) {
            self.refused_at.remove(&id);
            self.tx_verdicts.remove(&id);
        }
        let refused = self.tx_verdicts.get(&id) == Some(&false);
        if full || refused || !well_formed(&tx) || cbor(&tx).len() > MAX_TX_BYTES {
            return;
        }
        let ask = !self.tx_verdicts.contains_key(&id);
        if !self.pending.insert(id, tx.clone(), now) {
            return;
        }
        if ask {
            self.out.push_back(Output::Validate { chunk: self.chunk, block: id, txs: vec![tx] });
        }
        self.arm(now);
    }

    /// Pending transactions this node's validator accepted.
    pub(super) fn proposable(&self) -> impl Iterator<Item = &Tx> {
        self.pending.iter().filter(|(id, _)| self.tx_verdicts.get(*id) == Some(&true)).map(|(_, t)| t)
    }

    /// Drop pending transactions that waited longer than `pending_ttl`.
    pub(super) fn expire_pending(&mut self, now: Instant) {
        for id in self.pending.expire(now, self.cfg.pending_ttl) {
            self.tx_verdicts.remove(&id);
        }
    }

    /// Send the transactions still waiting here (validated ones, at most a
    /// block's worth) to the other members.
    pub(super) fn relay_pending(&mut self) {
        let txs: Vec<Tx> = self.proposable().take(self.cfg.max_batch).cloned().collect();
        for tx in txs {
            self.broadcast(Body::Submit(tx));
        }
    }

    // ---- proposing (pre-prepare) ----------------------------------------

    pub(super) fn i_am_primary(&self, view: u64) -> bool {
        self.committee.primary(view) == Some(self.signer.peer())
    }

    pub(super) fn new_block(&self, view: u64, unix: u64) -> Block {
        Block {
            chunk: self.chunk,
            height: self.height,
            prev: self.last,
            view,
            proposer: self.signer.peer().clone(),
            epoch: self.committee.epoch,
            committee: self.committee.digest(),
            time: unix,
            txs: self.batch(),
        }
    }

    /// The next batch: validated pending transactions, up to the count and
    /// byte limits of a block.
    fn batch(&self) -> Vec<Tx> {
        let mut bytes = 512;
        let mut txs = Vec::new();
        for t in self.proposable().take(self.cfg.max_batch) {
            bytes += cbor(t).len();
            if bytes > self.block_limit() {
                break;
            }
            txs.push(t.clone());
        }
        txs
    }

    /// The largest block for this committee: a new-view message carries up
    /// to 2f+2 copies of a block (2f+1 prepared certificates and the
    /// proposal) and must fit in one message.
    fn block_limit(&self) -> usize {
        let copies = self.committee.quorum() + 1;
        (crate::msg::MAX_MESSAGE_BYTES / 2 / copies).min(MAX_BLOCK_BYTES)
    }

    pub(super) fn sign_proposal(&self, view: u64, block: Block) -> Proposal {
        let d = vote_digest(&self.network, self.chunk, view, block.height, Phase::PrePrepare, &block.hash());
        Proposal { view, block, proposer: self.signer.peer().clone(), sig: ByteBuf::from(self.signer.sign(&d)) }
    }

    /// PBFT §4.2: the primary assigns the next height to a batch of requests.
    pub(super) fn maybe_propose<S: Store + ?Sized>(
        &mut self,
        now: Instant,
        unix: u64,
        store: &mut S,
    ) -> Result<(), StoreError> {
        let idle = self.changing_to.is_none() && self.proposal.is_none();
        // Never a second, different proposal for a view and height (also
        // not after a restart).
        let proposed = self.log.signed(Phase::PrePrepare, self.view, self.height).is_some();
        if !self.i_am_primary(self.view) || !idle || proposed || self.proposable().next().is_none() {
            return Ok(());
        }
        let p = self.sign_proposal(self.view, self.new_block(self.view, unix));
        self.log.record(Phase::PrePrepare, self.view, self.height, p.block.hash());
        store.save_votes(self.chunk, &self.log)?;
        self.emit(Event::Proposed { height: self.height });
        self.broadcast(Body::Proposal(p.clone()));
        self.accept_proposal(now, p, store)
    }

    // ---- validating, prepare and commit votes --------------------------

    pub(super) fn on_proposal<S: Store + ?Sized>(
        &mut self,
        now: Instant,
        from: PeerRef,
        p: Proposal,
        store: &mut S,
    ) -> Result<(), StoreError> {
        if p.block.height < self.height || p.view < self.view {
            self.reject(&from, Reject::Stale);
            return Ok(());
        }
        if let Err(r) = verify::check_proposal(&self.network, self.chunk, &self.committee, &p) {
            self.reject(&from, r);
            return Ok(());
        }
        if p.block.height > self.height {
            if p.block.height == self.height + 1 {
                self.keep_early(from.clone(), Body::Proposal(p));
            }
            self.behind(now, &from);
            return Ok(());
        }
        // A proposal for a later view only counts inside a new-view message.
        if p.view > self.view || self.changing_to.is_some() {
            return Ok(());
        }
        if let Some(mine) = &self.proposal {
            if mine.block.hash() == p.block.hash() {
                self.reject(&from, Reject::Duplicate);
            } else if mine.view == p.view {
                // PBFT §4.2: a primary that proposes two blocks for one view
                // and height is faulty; keep both signed proposals.
                if self.convicted.insert((p.proposer.clone(), Phase::PrePrepare, p.view)) {
                    let evidence = cbor(&(mine, &p));
                    store.save_evidence(self.chunk, &evidence)?;
                    self.emit(Event::Equivocation { member: p.proposer.clone() });
                }
                self.reject(&from, Reject::Equivocation);
            }
            return Ok(());
        }
        self.accept_proposal(now, p, store)
    }

    pub(super) fn accept_proposal<S: Store + ?Sized>(
        &mut self,
        now: Instant,
        p: Proposal,
        store: &mut S,
    ) -> Result<(), StoreError> {
        let b = &p.block;
        let extends = b.height == self.height && b.prev == self.last;
        let committee_ok = b.epoch == self.committee.epoch && b.committee == self.committee.digest();
        let sane = cbor(b).len() <= self.block_limit() && b.txs.iter().all(well_formed);
        if !extends || !committee_ok || !sane {
            let proposer = p.proposer.clone();
            self.reject(&proposer, Reject::BadBlock);
            return Ok(());
        }
        let hash = b.hash();
        self.blocks.insert(hash, b.clone());
        let txs = b.txs.clone();
        self.proposal = Some(p);
        self.arm(now);
        if !self.verdicts.contains_key(&hash) {
            let known: Option<Vec<bool>> = txs.iter().map(|t| self.tx_verdicts.get(&t.id()).copied()).collect();
            if let Some(verdicts) = known {
                return self.on_validated(now, hash, verdicts, store);
            }
        }
        match self.verdicts.get(&hash) {
            Some(true) => self.vote(now, Phase::Prepare, hash, store)?,
            Some(false) => {}
            None => {
                if self.awaiting != Some(hash) {
                    self.awaiting = Some(hash);
                    self.out.push_back(Output::Validate { chunk: self.chunk, block: hash, txs });
                }
            }
        }
        self.progress(now, store)
    }

    pub(super) fn on_validated<S: Store + ?Sized>(
        &mut self,
        now: Instant,
        block: Digest,
        verdicts: Vec<bool>,
        store: &mut S,
    ) -> Result<(), StoreError> {
        if self.awaiting == Some(block) {
            self.awaiting = None;
        }
        let Some(b) = self.blocks.get(&block) else {
            // A verdict on one pending transaction (keyed by its id).
            if self.pending.contains(&block) {
                let ok = verdicts.first().copied().unwrap_or(false);
                self.tx_verdicts.insert(block, ok);
                if !ok {
                    self.refused_at.insert(block, now);
                    self.pending.remove_all(&HashSet::from([block]));
                }
                let unix = self.unix;
                return self.maybe_propose(now, unix, store);
            }
            return Ok(());
        };
        for (t, ok) in b.txs.iter().zip(&verdicts) {
            self.tx_verdicts.insert(t.id(), *ok);
            if !*ok {
                self.refused_at.insert(t.id(), now);
            }
        }
        // A block a new view proved prepared stays validated (see enter_view).
        if self.verdicts.get(&block) == Some(&true) {
            return self.progress(now, store);
        }
        let ok = verdicts.len() == b.txs.len() && verdicts.iter().all(|v| *v);
        // Transactions this node finds invalid are dropped from its own
        // queue, so it will not propose them when it becomes primary.
        let refused: HashSet<Digest> =
            b.txs.iter().zip(&verdicts).filter(|(_, ok)| !**ok).map(|(t, _)| t.id()).collect();
        self.pending.remove_all(&refused);
        self.verdicts.insert(block, ok);
        if !ok {
            let proposer = b.proposer.clone();
            self.reject(&proposer, Reject::Invalid);
            return Ok(());
        }
        if self.proposal.as_ref().is_some_and(|p| p.block.hash() == block && p.view == self.view) {
            self.vote(now, Phase::Prepare, block, store)?;
        }
        self.progress(now, store)
    }

    /// Sign and send a vote, after persisting it. Never signs a second,
    /// different block for the same phase, view and height.
    fn vote<S: Store + ?Sized>(
        &mut self,
        now: Instant,
        phase: Phase,
        block: Digest,
        store: &mut S,
    ) -> Result<(), StoreError> {
        // PBFT §4.4: once a member asked to leave a view it sends no more
        // prepares or commits in it; its view change already said what it
        // had prepared, and a commit now could be missed by the new view.
        if self.changing_to.is_some() {
            return Ok(());
        }
        let (view, height) = (self.view, self.height);
        match self.log.signed(phase, view, height) {
            Some(d) if d != block => return Ok(()),
            Some(_) => {}
            None => {
                self.log.record(phase, view, height, block);
                store.save_votes(self.chunk, &self.log)?;
            }
        }
        let d = vote_digest(&self.network, self.chunk, view, height, phase, &block);
        let v = Vote {
            phase,
            chunk: self.chunk,
            view,
            height,
            block,
            voter: self.signer.peer().clone(),
            sig: ByteBuf::from(self.signer.sign(&d)),
        };
        self.tally.insert(v.clone());
        self.broadcast(Body::Vote(v));
        self.progress(now, store)
    }

    pub(super) fn on_vote<S: Store + ?Sized>(
        &mut self,
        now: Instant,
        from: PeerRef,
        v: Vote,
        store: &mut S,
    ) -> Result<(), StoreError> {
        if v.phase == Phase::PrePrepare {
            self.reject(&from, Reject::BadBlock);
            return Ok(());
        }
        if v.height < self.height || v.view.saturating_add(MAX_VIEWS_AHEAD) < self.view {
            self.reject(&from, Reject::Stale);
            return Ok(());
        }
        if let Err(r) = verify::check_vote(&self.network, self.chunk, &self.committee, &v) {
            self.reject(&from, r);
            return Ok(());
        }
        if v.height > self.height {
            if v.height == self.height + 1 {
                self.keep_early(from.clone(), Body::Vote(v));
            }
            self.behind(now, &from);
            return Ok(());
        }
        if v.view > self.view.saturating_add(MAX_VIEWS_AHEAD) {
            return Ok(());
        }
        match self.tally.insert(v.clone()) {
            Insert::Counted => self.progress(now, store),
            Insert::Duplicate => {
                self.reject(&from, Reject::Duplicate);
                Ok(())
            }
            Insert::Conflict(earlier) => {
                if self.convicted.insert((v.voter.clone(), v.phase, v.view)) {
                    store.save_evidence(self.chunk, &cbor(&(&*earlier, &v)))?;
                    self.emit(Event::Equivocation { member: v.voter.clone() });
                }
                self.reject(&from, Reject::Equivocation);
                Ok(())
            }
        }
    }

    /// Move forward if the tallies allow: prepared → commit vote; 2f+1
    /// commits for a known block → commit it.
    fn progress<S: Store + ?Sized>(&mut self, now: Instant, store: &mut S) -> Result<(), StoreError> {
        let q = self.committee.quorum();
        if let Some(p) = &self.proposal {
            let hash = p.block.hash();
            let view = self.view;
            let prepared_now = p.view == view
                && self.verdicts.get(&hash) == Some(&true)
                && self.log.signed(Phase::Commit, view, self.height).is_none()
                && self.tally.count(Phase::Prepare, view, &hash) >= q;
            if prepared_now {
                // PBFT §4.2 prepared(m, v, n): keep the proof for view changes.
                let votes = self.tally.votes(Phase::Prepare, view, &hash);
                let prepared = Prepared { block: p.block.clone(), view, votes };
                self.prepared = Some(prepared.clone());
                if self.changing_to.is_none() {
                    // Persisted in the same write as the commit vote.
                    self.log.prepared = Some(prepared);
                    return self.vote(now, Phase::Commit, hash, store);
                }
            }
        }
        for (view, hash) in self.tally.decided(q) {
            match self.blocks.get(&hash).cloned() {
                Some(block) => {
                    let sigs =
                        self.tally.votes(Phase::Commit, view, &hash).into_iter().map(|v| (v.voter, v.sig)).collect();
                    let cert = Certificate { chunk: self.chunk, height: self.height, view, block: hash, sigs };
                    return self.commit(now, block, cert, store);
                }
                None => {
                    // Decided, but we never saw the block: fetch it from the
                    // committers in turn (one of them may be faulty).
                    let me = self.signer.peer().clone();
                    let voters: Vec<PeerRef> = self
                        .tally
                        .votes(Phase::Commit, view, &hash)
                        .into_iter()
                        .map(|v| v.voter)
                        .filter(|p| *p != me)
                        .collect();
                    if !voters.is_empty() {
                        self.fetch_turn = self.fetch_turn.wrapping_add(1);
                        let m = voters[self.fetch_turn % voters.len()].clone();
                        self.behind(now, &m);
                    }
                }
            }
        }
        Ok(())
    }

    // ---- committing ----------------------------------------------------

    /// Write block, certificate and new state durably, then move to the
    /// next height.
    pub(super) fn commit<S: Store + ?Sized>(
        &mut self,
        now: Instant,
        block: Block,
        cert: Certificate,
        store: &mut S,
    ) -> Result<(), StoreError> {
        let mut committee = self.committee.clone();
        for tx in &block.txs {
            if let Tx::Reconfigure { committee: members } = tx {
                committee = Committee { epoch: committee.epoch + 1, members: members.clone() };
            }
        }
        let hash = block.hash();
        let tip = Tip { height: block.height, hash, committee: committee.clone() };
        store.commit(&block, &cert, &tip)?;
        let done: HashSet<Digest> = block.txs.iter().map(Tx::id).collect();
        self.pending.remove_all(&done);
        // Keep verdicts only for what is still pending (bounded memory).
        let pending = self.pending.ids();
        self.tx_verdicts.retain(|id, _| pending.contains(id));
        self.refused_at.clear();
        self.convicted.clear();
        self.entered_by = None;
        self.helped.clear();
        self.log.prepared = None;
        self.height = block.height + 1;
        self.last = hash;
        self.committee = committee;
        self.proposal = None;
        self.blocks.clear();
        self.verdicts.clear();
        self.awaiting = None;
        self.tally.clear();
        self.prepared = None;
        self.view_changes.clear();
        self.new_view_sent = None;
        self.changing_to = None;
        self.failed_views = 0;
        self.deadline = None;
        // Messages for the height we now decide, which arrived early.
        let early = std::mem::take(&mut self.early);
        self.replay.extend(early.into_iter().filter(|(_, b)| match b {
            Body::Proposal(p) => p.block.height == self.height,
            Body::Vote(v) => v.height == self.height,
            _ => false,
        }));
        // A replica that caught up learns the view the others decided in.
        if cert.view > self.view {
            self.view = cert.view;
            self.log.view = self.log.view.max(cert.view);
        }
        self.out.push_back(Output::Committed { block, cert });
        if !self.pending.is_empty() {
            self.arm(now);
        }
        // PBFT §4.2: the primary moves on to the next batch at once.
        self.maybe_propose(now, self.unix, store)
    }

    /// Keep a signed proposal or vote for the next height (already checked
    /// against the current committee) until our commit of this one.
    fn keep_early(&mut self, from: PeerRef, body: Body) {
        if self.early.len() < MAX_EARLY && !self.early.iter().any(|(_, b)| *b == body) {
            self.early.push((from, body));
        }
    }
}

/// Structural checks every member applies before validating a transaction:
/// a committee handover names 1 to 32 distinct members; names and rdata
/// are present and of DNS size.
fn well_formed(tx: &Tx) -> bool {
    match tx {
        Tx::Reconfigure { committee } => {
            let distinct: HashSet<&PeerRef> = committee.iter().collect();
            !committee.is_empty() && committee.len() <= MAX_COMMITTEE && distinct.len() == committee.len()
        }
        Tx::Put(rr) => !rr.name.is_empty() && rr.name.len() <= 255 && !rr.rdata.is_empty(),
        Tx::Delete { name, .. } => !name.is_empty() && name.len() <= 255,
    }
}
