//! One chunk's replica: the PBFT state machine of Castro & Liskov ("Practical
//! Byzantine Fault Tolerance", OSDI '99) ordering blocks of DNS changes,
//! sans-IO.
//!
//! Normal case (§4.2): the primary of the view proposes a block for the next
//! height (pre-prepare); each member asks its environment to validate the
//! block's transactions (for a `Put`, by resolving the name itself) and only
//! then sends a prepare; 2f+1 prepares make the block *prepared* and the
//! member sends a commit; 2f+1 commits form the certificate, and block,
//! certificate and new state are written in one durable batch.
//!
//! View change (§4.4): a member whose timer expires while work is pending
//! asks for the next view, carrying its prepared certificate; f+1 such
//! requests make every member join; the new primary's new-view message holds
//! 2f+1 of them and re-proposes the highest prepared block, which every
//! member checks. Nothing committed is ever lost or contradicted.
//!
//! Persist before send: every vote is recorded in the [`VoteLog`] before it
//! leaves, and the replica never signs two different blocks for one phase,
//! view and height, even across restarts.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dhtr_protocol::{ChunkId, PeerRef};
use serde_bytes::ByteBuf;

use crate::msg::{Body, MAX_SYNC_BLOCKS, Message, NewView, Prepared, Proposal, ViewChange};
use crate::pending::Pending;
use crate::sign::Signer;
use crate::store::{Store, StoreError, Tip, VoteLog};
use crate::tally::{Insert, Tally};
use crate::types::{Block, Certificate, Committee, Digest, Phase, Tx, Vote, cbor, vote_digest};
use crate::verify::{self, Reject};

/// Tuning of a replica.
#[derive(Clone, Debug)]
pub struct Config {
    /// How long pending work may wait for a commit before a view change;
    /// doubled after every timeout without progress (PBFT §4.5.2).
    pub view_timeout: Duration,
    /// Most transactions in one block.
    pub max_batch: usize,
    /// Most pending transactions kept.
    pub max_pending: usize,
    /// Least time between two sync requests.
    pub sync_retry: Duration,
    /// Pending transactions not committed within this time are dropped
    /// (their submitter retries), so one unorderable transaction cannot
    /// cause view changes forever.
    pub pending_ttl: Duration,
    /// How often an idle replica asks another member, in turn, for blocks
    /// beyond its tip (anti-entropy: a member that missed the last commit
    /// while nothing else happens would otherwise never learn of it).
    pub poll_interval: Duration,
    /// A transaction this node's validator refused is refused without
    /// asking again for this long; a later submission is validated afresh
    /// (a committee change refused while the ring was still settling must
    /// be able to pass once it settled).
    pub refusal_ttl: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            view_timeout: Duration::from_secs(2),
            max_batch: 64,
            max_pending: 4096,
            sync_retry: Duration::from_millis(500),
            pending_ttl: Duration::from_secs(60),
            poll_interval: Duration::from_secs(30),
            refusal_ttl: Duration::from_secs(10),
        }
    }
}

/// Inputs of a replica.
// An input is moved once into `handle`; boxing messages would only add an
// allocation per message.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug)]
pub enum Input {
    /// A message from a peer (authenticated by the transport as `from`).
    Message {
        /// The sender.
        from: PeerRef,
        /// The content.
        body: Body,
    },
    /// A transaction to order, from this node.
    Submit(Tx),
    /// The environment's verdict on each transaction of a block, in order.
    Validated {
        /// The block.
        block: Digest,
        /// One verdict per transaction.
        verdicts: Vec<bool>,
    },
    /// Time passed (at or after [`Replica::poll_timeout`]).
    Timeout,
}

/// Things the replica reports.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// A message was refused.
    Rejected {
        /// Who sent it.
        from: PeerRef,
        /// Why.
        reason: Reject,
    },
    /// A member signed two conflicting messages; the evidence was stored.
    Equivocation {
        /// The member.
        member: PeerRef,
    },
    /// The replica proposed a block (it is the primary).
    Proposed {
        /// Height proposed.
        height: u64,
    },
    /// The replica entered a new view.
    ViewChanged {
        /// The view.
        view: u64,
    },
    /// Blocks were taken over from a peer's chain.
    Synced {
        /// The new tip height.
        height: u64,
    },
    /// Storage failed; the replica stopped serving the chunk.
    Halted {
        /// What failed.
        error: String,
    },
}

/// What the replica asks its environment to do.
#[derive(Clone, Debug)]
pub enum Output {
    /// Send a message to a member.
    Send {
        /// The member.
        to: PeerRef,
        /// The message.
        msg: Message,
    },
    /// Validate these transactions; answer with [`Input::Validated`].
    Validate {
        /// The chunk.
        chunk: ChunkId,
        /// The block they are in.
        block: Digest,
        /// The transactions.
        txs: Vec<Tx>,
    },
    /// A block was committed (already durable).
    Committed {
        /// The block.
        block: Block,
        /// Its certificate.
        cert: Certificate,
    },
    /// Something worth counting or logging.
    Event(Event),
}

/// One chunk's replica.
pub struct Replica {
    cfg: Config,
    network: String,
    chunk: ChunkId,
    signer: Arc<dyn Signer + Send + Sync>,
    committee: Committee,
    /// Next height to decide.
    height: u64,
    /// Hash of the last committed block.
    last: Digest,
    view: u64,
    changing_to: Option<u64>,
    log: VoteLog,
    proposal: Option<Proposal>,
    blocks: HashMap<Digest, Block>,
    verdicts: HashMap<Digest, bool>,
    awaiting: Option<Digest>,
    tally: Tally,
    prepared: Option<Prepared>,
    view_changes: BTreeMap<u64, HashMap<PeerRef, ViewChange>>,
    new_view_sent: Option<u64>,
    pending: Pending,
    /// A view change to resume after a restart (asked for, never entered).
    resume: Option<u64>,
    /// (member, phase, view) already convicted at this height.
    convicted: HashSet<(PeerRef, Phase, u64)>,
    /// Rotates the member asked for a block we lack.
    fetch_turn: usize,
    /// When to next ask a member for blocks beyond our tip.
    next_poll: Option<Instant>,
    /// The new-view message of the view we are in (at this height), to
    /// re-send to members that missed it.
    entered_by: Option<NewView>,
    /// (member, view) we already sent our own request for (once per height).
    helped: HashSet<(PeerRef, u64)>,
    /// This node's validator verdicts on single transactions (pending ones
    /// are validated on arrival, so a primary proposes only what it checked).
    tx_verdicts: HashMap<Digest, bool>,
    /// When each refusal in `tx_verdicts` was made (see `refusal_ttl`).
    refused_at: HashMap<Digest, Instant>,
    deadline: Option<Instant>,
    failed_views: u32,
    next_sync: Option<Instant>,
    out: VecDeque<Output>,
    halted: bool,
    /// Wall clock (unix seconds) as of the last input, for block times.
    unix: u64,
    /// Proposals and votes for the next height that arrived before our own
    /// commit of this one (members commit a moment apart); replayed after it.
    early: Vec<(PeerRef, Body)>,
    /// Early messages to process now that their height is current.
    replay: VecDeque<(PeerRef, Body)>,
}

/// Most early messages kept (about a height's worth of a large committee).
const MAX_EARLY: usize = 256;

/// The view timer doubles at most this many times (8 × `view_timeout`):
/// enough to outgrow real delays, short enough that a committee recovers in
/// seconds once a partition or a wave of crashes is over.
const MAX_BACKOFF_DOUBLINGS: u32 = 3;
/// Votes for views further ahead than this are ignored (bounded memory).
const MAX_VIEWS_AHEAD: u64 = 64;
/// Largest encoded transaction accepted into the queue.
pub const MAX_TX_BYTES: usize = 16 * 1024;
/// Largest encoded block proposed or accepted (smaller for large
/// committees, see `Replica::block_limit`).
pub const MAX_BLOCK_BYTES: usize = 64 * 1024;
/// Most bytes of blocks in one sync answer.
const MAX_SYNC_BYTES: usize = 512 * 1024;

impl Replica {
    /// Open the replica of `chunk` from `store`. A chunk without a chain
    /// starts from the deterministic genesis of `genesis` (its first
    /// committee); members who see the ring differently compute a different
    /// genesis and simply never form a quorum with it.
    pub fn open<S: Store + ?Sized>(
        cfg: Config,
        network: &str,
        chunk: ChunkId,
        signer: Arc<dyn Signer + Send + Sync>,
        store: &mut S,
        genesis: Option<Committee>,
    ) -> Result<Option<Replica>, StoreError> {
        let tip = match store.tip(chunk)? {
            Some(t) => t,
            None => {
                let Some(committee) = genesis else { return Ok(None) };
                let block = genesis_block(chunk, &committee);
                let cert = Certificate { chunk, height: 0, view: 0, block: block.hash(), sigs: Vec::new() };
                let tip = Tip { height: 0, hash: block.hash(), committee };
                store.commit(&block, &cert, &tip)?;
                tip
            }
        };
        let log = store.votes(chunk)?.unwrap_or_default();
        let resume = (log.asked > log.view && log.asked_height == tip.height + 1).then_some(log.asked);
        // A prepared certificate for the undecided height survives restarts.
        let prepared = log.prepared.clone().filter(|p| p.block.height == tip.height + 1 && p.block.prev == tip.hash);
        let blocks = prepared.iter().map(|p| (p.block.hash(), p.block.clone())).collect();
        Ok(Some(Replica {
            cfg,
            network: network.to_string(),
            chunk,
            signer,
            committee: tip.committee,
            height: tip.height + 1,
            last: tip.hash,
            view: log.view,
            changing_to: None,
            log,
            proposal: None,
            blocks,
            verdicts: HashMap::new(),
            awaiting: None,
            tally: Tally::default(),
            prepared,
            view_changes: BTreeMap::new(),
            new_view_sent: None,
            pending: Pending::default(),
            resume,
            convicted: HashSet::new(),
            fetch_turn: 0,
            next_poll: None,
            entered_by: None,
            helped: HashSet::new(),
            tx_verdicts: HashMap::new(),
            refused_at: HashMap::new(),
            deadline: None,
            failed_views: 0,
            next_sync: None,
            out: VecDeque::new(),
            halted: false,
            unix: 0,
            early: Vec::new(),
            replay: VecDeque::new(),
        }))
    }

    /// The chunk.
    pub fn chunk(&self) -> ChunkId {
        self.chunk
    }

    /// Height of the last committed block.
    pub fn committed_height(&self) -> u64 {
        self.height - 1
    }

    /// The current view.
    pub fn view(&self) -> u64 {
        self.view
    }

    /// A one-line summary of the view-change state, for test failures.
    pub fn debug_views(&self) -> String {
        let vcs: Vec<String> = self.view_changes.iter().map(|(v, m)| format!("{v}:{}", m.len())).collect();
        format!(
            "vcs [{}] entered_by {:?} failed_views {} deadline {}",
            vcs.join(" "),
            self.entered_by.as_ref().map(|n| n.view),
            self.failed_views,
            self.deadline.is_some()
        )
    }

    /// The view asked for in a view change under way, if any.
    pub fn changing_to(&self) -> Option<u64> {
        self.changing_to
    }

    /// Has this replica signed a commit vote at `height` (in any view)?
    /// A commit vote may be part of a certificate this replica never saw.
    pub fn signed_commit(&self, height: u64) -> bool {
        self.log.last.iter().any(|(p, _, h, _)| *p == Phase::Commit && *h == height)
    }

    /// The current committee.
    pub fn committee(&self) -> &Committee {
        &self.committee
    }

    /// The transactions waiting here (to carry over when a bare genesis is
    /// replaced).
    pub fn pending_txs(&self) -> Vec<Tx> {
        self.pending.iter().map(|(_, t)| t.clone()).collect()
    }

    /// Transactions waiting to be ordered.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Has storage failed?
    pub fn is_halted(&self) -> bool {
        self.halted
    }

    /// The next output, if any.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    /// When [`Input::Timeout`] should next be delivered.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match (self.deadline, self.next_poll) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Feed one input. `unix` is the wall clock in seconds (block times).
    pub fn handle<S: Store + ?Sized>(&mut self, now: Instant, unix: u64, input: Input, store: &mut S) {
        if self.halted {
            return;
        }
        self.unix = unix;
        if self.next_poll.is_none() {
            self.next_poll = Some(now + self.cfg.poll_interval);
        }
        if let Some(target) = self.resume.take()
            && let Err(e) = self.start_view_change(now, unix, target, store)
        {
            self.halted = true;
            self.deadline = None;
            self.emit(Event::Halted { error: e.to_string() });
            return;
        }
        let mut r = match input {
            Input::Message { from, body } => self.on_message(now, unix, from, body, store),
            Input::Submit(tx) => {
                self.add_pending(now, tx);
                self.maybe_propose(now, unix, store)
            }
            Input::Validated { block, verdicts } => self.on_validated(now, block, verdicts, store),
            Input::Timeout => self.on_timeout(now, unix, store),
        };
        while r.is_ok() {
            let Some((from, body)) = self.replay.pop_front() else { break };
            r = self.on_message(now, unix, from, body, store);
        }
        if let Err(e) = r {
            self.halted = true;
            self.deadline = None;
            self.next_poll = None;
            self.emit(Event::Halted { error: e.to_string() });
        }
    }

    // ---- dispatch ------------------------------------------------------

    fn on_message<S: Store + ?Sized>(
        &mut self,
        now: Instant,
        unix: u64,
        from: PeerRef,
        body: Body,
        store: &mut S,
    ) -> Result<(), StoreError> {
        match body {
            Body::Submit(tx) => {
                self.add_pending(now, tx);
                self.maybe_propose(now, unix, store)
            }
            Body::Proposal(p) => self.on_proposal(now, from, p, store),
            Body::Vote(v) => self.on_vote(now, from, v, store),
            Body::ViewChange(vc) => self.on_view_change(now, unix, from, vc, store),
            Body::NewView(nv) => self.on_new_view(now, from, nv, store),
            // Certified blocks are public (any node may audit a chain, and
            // a node about to start a chain asks whether one exists).
            Body::GetBlocks { from: h } => self.send_blocks(&from, h, store),
            Body::Blocks(list) => self.on_blocks(now, from, list, store),
        }
    }

    fn reject(&mut self, from: &PeerRef, reason: Reject) {
        self.emit(Event::Rejected { from: from.clone(), reason });
    }

    /// A message about a later height means we are behind: fetch blocks.
    fn behind(&mut self, now: Instant, from: &PeerRef) {
        if self.next_sync.is_some_and(|t| now < t) || !self.committee.contains(from) {
            return;
        }
        self.next_sync = Some(now + self.cfg.sync_retry);
        self.send(from.clone(), Body::GetBlocks { from: self.height });
    }

    // ---- pending work and proposing -----------------------------------

    fn add_pending(&mut self, now: Instant, tx: Tx) {
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
    fn proposable(&self) -> impl Iterator<Item = &Tx> {
        self.pending.iter().filter(|(id, _)| self.tx_verdicts.get(*id) == Some(&true)).map(|(_, t)| t)
    }

    fn arm(&mut self, now: Instant) {
        if self.deadline.is_none() {
            let backoff = 1u32 << self.failed_views.min(MAX_BACKOFF_DOUBLINGS);
            self.deadline = Some(now + self.cfg.view_timeout * backoff);
        }
    }

    fn i_am_primary(&self, view: u64) -> bool {
        self.committee.primary(view) == Some(self.signer.peer())
    }

    fn new_block(&self, view: u64, unix: u64) -> Block {
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

    /// Drop pending transactions that waited longer than `pending_ttl`.
    fn expire_pending(&mut self, now: Instant) {
        for id in self.pending.expire(now, self.cfg.pending_ttl) {
            self.tx_verdicts.remove(&id);
        }
    }

    fn sign_proposal(&self, view: u64, block: Block) -> Proposal {
        let d = vote_digest(&self.network, self.chunk, view, block.height, Phase::PrePrepare, &block.hash());
        Proposal { view, block, proposer: self.signer.peer().clone(), sig: ByteBuf::from(self.signer.sign(&d)) }
    }

    /// PBFT §4.2: the primary assigns the next height to a batch of requests.
    fn maybe_propose<S: Store + ?Sized>(&mut self, now: Instant, unix: u64, store: &mut S) -> Result<(), StoreError> {
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

    // ---- normal case ---------------------------------------------------

    fn on_proposal<S: Store + ?Sized>(
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

    fn accept_proposal<S: Store + ?Sized>(
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

    fn on_validated<S: Store + ?Sized>(
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

    fn on_vote<S: Store + ?Sized>(
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

    /// Write block, certificate and new state durably, then move to the
    /// next height.
    fn commit<S: Store + ?Sized>(
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

    // ---- view change ---------------------------------------------------

    fn on_timeout<S: Store + ?Sized>(&mut self, now: Instant, unix: u64, store: &mut S) -> Result<(), StoreError> {
        if self.next_poll.is_some_and(|t| t <= now) {
            self.next_poll = Some(now + self.cfg.poll_interval);
            let me = self.signer.peer().clone();
            let others: Vec<PeerRef> = self.committee.members.iter().filter(|m| **m != me).cloned().collect();
            if !others.is_empty() {
                self.fetch_turn = self.fetch_turn.wrapping_add(1);
                let m = others[self.fetch_turn % others.len()].clone();
                self.send(m, Body::GetBlocks { from: self.height });
            }
        }
        if self.deadline.is_some_and(|t| t <= now) {
            self.deadline = None;
            self.expire_pending(now);
            if self.proposal.is_none() && self.pending.is_empty() && self.changing_to.is_none() {
                return Ok(());
            }
            // PBFT §4.5.2: a backup whose timer expires relays the requests
            // it waits for to the other members; a member that never received
            // a transaction (or lost it) learns it, times out too, and the
            // view change it then joins can make progress.
            self.relay_pending();
            self.failed_views += 1;
            match self.changing_to {
                // PBFT §4.5.2: move past a view change only once 2f+1
                // members asked for it (its new primary then failed);
                // otherwise ask again, in case our request was lost.
                Some(t) if self.view_changes.get(&t).map_or(0, |m| m.len()) < self.committee.quorum() => {
                    let me = self.signer.peer().clone();
                    if let Some(vc) = self.view_changes.get(&t).and_then(|m| m.get(&me)).cloned() {
                        self.broadcast(Body::ViewChange(vc));
                    }
                    self.arm(now);
                }
                Some(t) => self.start_view_change(now, unix, t + 1, store)?,
                None => self.start_view_change(now, unix, self.view + 1, store)?,
            }
        }
        Ok(())
    }

    /// Our signed request to move to `target` at the current height,
    /// carrying what we prepared.
    fn own_view_change(&self, target: u64) -> ViewChange {
        let mut vc = ViewChange {
            new_view: target,
            height: self.height,
            last: self.last,
            prepared: self.prepared.clone(),
            sender: self.signer.peer().clone(),
            sig: ByteBuf::new(),
        };
        vc.sig = ByteBuf::from(self.signer.sign(&vc.digest(&self.network, self.chunk)));
        vc
    }

    /// PBFT §4.4: ask to move to `target`, carrying what we prepared.
    fn start_view_change<S: Store + ?Sized>(
        &mut self,
        now: Instant,
        unix: u64,
        target: u64,
        store: &mut S,
    ) -> Result<(), StoreError> {
        if target <= self.view || self.changing_to.is_some_and(|c| c >= target) {
            return Ok(());
        }
        self.changing_to = Some(target);
        self.log.asked = self.log.asked.max(target);
        self.log.asked_height = self.height;
        store.save_votes(self.chunk, &self.log)?;
        let vc = self.own_view_change(target);
        self.view_changes.entry(target).or_default().insert(vc.sender.clone(), vc.clone());
        self.broadcast(Body::ViewChange(vc));
        self.deadline = None;
        self.arm(now);
        self.maybe_new_view(now, unix, store)
    }

    fn on_view_change<S: Store + ?Sized>(
        &mut self,
        now: Instant,
        unix: u64,
        from: PeerRef,
        vc: ViewChange,
        store: &mut S,
    ) -> Result<(), StoreError> {
        if vc.height < self.height {
            // The sender is behind: help it catch up (members only).
            if !self.committee.contains(&from) {
                return Ok(());
            }
            return self.send_blocks(&from, vc.height, store);
        }
        if vc.height > self.height {
            if verify::check_view_change(&self.network, self.chunk, &self.committee, &vc).is_ok() {
                self.behind(now, &from);
            }
            return Ok(());
        }
        // Cheap checks before any signature is verified.
        let too_far = vc.new_view > self.view.saturating_add(MAX_VIEWS_AHEAD);
        if vc.new_view <= self.view && vc.last == self.last {
            // The sender still asks for a view we already entered: it missed
            // the new-view message. Send it again, to it alone.
            if let Some(nv) = self.entered_by.as_ref().filter(|nv| nv.view >= vc.new_view).cloned() {
                self.send(from.clone(), Body::NewView(nv));
            } else if self.committee.contains(&from) && self.helped.insert((from.clone(), vc.new_view)) {
                // We are past that view without a new-view message to show
                // (we learned the view from a certificate): our own request
                // for it lets the sender gather 2f+1 and move on. It promises
                // nothing we have not done: we take no part in lower views.
                let mine = self.own_view_change(vc.new_view);
                self.send(from.clone(), Body::ViewChange(mine));
            }
        }
        if vc.new_view <= self.view || vc.last != self.last || too_far {
            self.reject(&from, Reject::Stale);
            return Ok(());
        }
        if let Err(r) = verify::check_view_change(&self.network, self.chunk, &self.committee, &vc) {
            self.reject(&from, r);
            return Ok(());
        }
        let asked_for = vc.new_view;
        self.view_changes.entry(asked_for).or_default().insert(vc.sender.clone(), vc);
        // We already moved past that view: the sender may be missing our
        // request for it (lost), without which it can never see 2f+1 and
        // follow us. Send it again, to it alone.
        if self.changing_to.is_some_and(|t| t > asked_for) {
            let me = self.signer.peer().clone();
            if let Some(mine) = self.view_changes.get(&asked_for).and_then(|m| m.get(&me)).cloned() {
                self.send(from.clone(), Body::ViewChange(mine));
            }
        }
        // PBFT §4.5.2: f+1 members asking for later views prove at least
        // one honest member timed out: join the smallest such view.
        let current = self.changing_to.unwrap_or(self.view);
        let mut askers: HashMap<&PeerRef, u64> = HashMap::new();
        for (v, m) in self.view_changes.range(current + 1..) {
            for p in m.keys() {
                askers.entry(p).or_insert(*v);
            }
        }
        if askers.len() > self.committee.f()
            && let Some(target) = askers.values().min().copied()
        {
            self.start_view_change(now, unix, target, store)?;
        }
        self.maybe_new_view(now, unix, store)
    }

    /// PBFT §4.4: the new primary, holding 2f+1 view changes, announces the
    /// view and re-proposes the highest prepared block (or a fresh one).
    fn maybe_new_view<S: Store + ?Sized>(&mut self, now: Instant, unix: u64, store: &mut S) -> Result<(), StoreError> {
        let Some(target) = self.changing_to else { return Ok(()) };
        if !self.i_am_primary(target) || self.new_view_sent == Some(target) {
            return Ok(());
        }
        let Some(vcs) = self.view_changes.get(&target) else { return Ok(()) };
        if vcs.len() < self.committee.quorum() {
            return Ok(());
        }
        let vcs: Vec<ViewChange> = vcs.values().cloned().collect();
        let justified = highest_prepared(&vcs).map(|b| b.hash());
        let proposal = match highest_prepared(&vcs) {
            Some(block) => Some(self.sign_proposal(target, block)),
            None if self.proposable().next().is_some() => {
                Some(self.sign_proposal(target, self.new_block(target, unix)))
            }
            None => None,
        };
        if let Some(p) = &proposal {
            self.log.record(Phase::PrePrepare, target, self.height, p.block.hash());
            store.save_votes(self.chunk, &self.log)?;
            self.emit(Event::Proposed { height: self.height });
        }
        let mut nv = NewView {
            view: target,
            height: self.height,
            view_changes: vcs,
            proposal: proposal.clone(),
            sender: self.signer.peer().clone(),
            sig: ByteBuf::new(),
        };
        nv.sig = ByteBuf::from(self.signer.sign(&nv.digest(&self.network, self.chunk)));
        self.new_view_sent = Some(target);
        self.entered_by = Some(nv.clone());
        self.broadcast(Body::NewView(nv));
        self.enter_view(now, target, proposal, justified, store)
    }

    fn on_new_view<S: Store + ?Sized>(
        &mut self,
        now: Instant,
        from: PeerRef,
        nv: NewView,
        store: &mut S,
    ) -> Result<(), StoreError> {
        if !crate::sign::verify(&nv.sender, &nv.digest(&self.network, self.chunk), &nv.sig)
            || !self.committee.contains(&nv.sender)
        {
            self.reject(&from, Reject::BadSignature);
            return Ok(());
        }
        if nv.height > self.height {
            self.behind(now, &from);
            return Ok(());
        }
        // Asking for view t promised not to take part in any view below t
        // (PBFT §4.4): a new view below it is refused, or two new views could
        // each gather 2f+1 members and decide different blocks.
        let below_asked = self.changing_to.is_some_and(|t| nv.view < t);
        if nv.height < self.height || nv.view <= self.view || below_asked {
            self.reject(&from, Reject::Stale);
            return Ok(());
        }
        match self.check_new_view(&nv) {
            Ok(()) => {
                let justified = highest_prepared(&nv.view_changes).map(|b| b.hash());
                let (view, proposal) = (nv.view, nv.proposal.clone());
                self.entered_by = Some(nv);
                self.enter_view(now, view, proposal, justified, store)
            }
            Err(r) => {
                self.reject(&from, r);
                Ok(())
            }
        }
    }

    /// Every member re-does the new primary's work: 2f+1 valid view changes
    /// for this view, and the proposal they force.
    fn check_new_view(&self, nv: &NewView) -> Result<(), Reject> {
        let (net, chunk, c) = (&self.network, self.chunk, &self.committee);
        if c.primary(nv.view) != Some(&nv.sender) {
            return Err(Reject::WrongProposer);
        }
        if !crate::sign::verify(&nv.sender, &nv.digest(net, chunk), &nv.sig) {
            return Err(Reject::BadSignature);
        }
        let mut senders = HashSet::new();
        for vc in &nv.view_changes {
            if vc.new_view != nv.view || vc.height != self.height || vc.last != self.last {
                return Err(Reject::BadCertificate);
            }
            verify::check_view_change(net, chunk, c, vc).map_err(|_| Reject::BadCertificate)?;
            senders.insert(&vc.sender);
        }
        if senders.len() < c.quorum() {
            return Err(Reject::BadCertificate);
        }
        match (highest_prepared(&nv.view_changes), &nv.proposal) {
            (Some(b), Some(p)) if p.block.hash() == b.hash() && p.view == nv.view => {
                verify::check_proposal(net, chunk, c, p)
            }
            (None, Some(p)) if p.view == nv.view && p.block.view == nv.view => verify::check_proposal(net, chunk, c, p),
            (None, None) => Ok(()),
            _ => Err(Reject::BadCertificate),
        }
    }

    /// Enter `view`. `justified` is the block the new view's 2f+1 view
    /// changes proved prepared: 2f+1 prepares mean at least f+1 honest
    /// validators accepted it, so it counts as validated here too (otherwise
    /// one member whose validator now disagrees could stall the height).
    fn enter_view<S: Store + ?Sized>(
        &mut self,
        now: Instant,
        view: u64,
        proposal: Option<Proposal>,
        justified: Option<Digest>,
        store: &mut S,
    ) -> Result<(), StoreError> {
        if let Some(h) = justified {
            self.verdicts.insert(h, true);
        }
        self.view = view;
        self.changing_to = None;
        if self.log.view < view {
            self.log.view = view;
            store.save_votes(self.chunk, &self.log)?;
        }
        self.proposal = None;
        self.view_changes = self.view_changes.split_off(&(view + 1));
        self.deadline = None;
        self.emit(Event::ViewChanged { view });
        match proposal {
            Some(p) => self.accept_proposal(now, p, store),
            None => {
                if !self.pending.is_empty() {
                    self.arm(now);
                }
                Ok(())
            }
        }
    }

    // ---- catching up ---------------------------------------------------

    fn send_blocks<S: Store + ?Sized>(&mut self, to: &PeerRef, from: u64, store: &mut S) -> Result<(), StoreError> {
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
    fn on_blocks<S: Store + ?Sized>(
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
            let hash = block.hash();
            let ok = block.height == self.height
                && block.chunk == self.chunk
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

    /// Send the transactions still waiting here (validated ones, at most a
    /// block's worth) to the other members.
    fn relay_pending(&mut self) {
        let txs: Vec<Tx> = self.proposable().take(self.cfg.max_batch).cloned().collect();
        for tx in txs {
            self.broadcast(Body::Submit(tx));
        }
    }

    /// Keep a signed proposal or vote for the next height (already checked
    /// against the current committee) until our commit of this one.
    fn keep_early(&mut self, from: PeerRef, body: Body) {
        if self.early.len() < MAX_EARLY && !self.early.iter().any(|(_, b)| *b == body) {
            self.early.push((from, body));
        }
    }

    // ---- output helpers ------------------------------------------------

    fn send(&mut self, to: PeerRef, body: Body) {
        self.out.push_back(Output::Send { to, msg: Message { chunk: self.chunk, body } });
    }

    fn broadcast(&mut self, body: Body) {
        let me = self.signer.peer().clone();
        let members: Vec<PeerRef> = self.committee.members.iter().filter(|m| **m != me).cloned().collect();
        for m in members {
            self.send(m, body.clone());
        }
    }

    fn emit(&mut self, e: Event) {
        self.out.push_back(Output::Event(e));
    }
}

/// Most members a `Reconfigure` may name.
const MAX_COMMITTEE: usize = 32;

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

/// The block of the highest-view prepared certificate among view changes.
fn highest_prepared(vcs: &[ViewChange]) -> Option<Block> {
    vcs.iter().filter_map(|vc| vc.prepared.as_ref()).max_by_key(|p| p.view).map(|p| p.block.clone())
}

/// The deterministic first block of a chunk: its committee, nothing else.
pub fn genesis_block(chunk: ChunkId, committee: &Committee) -> Block {
    Block {
        chunk,
        height: 0,
        prev: Digest::default(),
        view: 0,
        proposer: PeerRef(Vec::new()),
        epoch: committee.epoch,
        committee: committee.digest(),
        time: 0,
        txs: vec![Tx::Reconfigure { committee: committee.members.clone() }],
    }
}
