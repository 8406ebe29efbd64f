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
//! Catching up: a member that sees messages for a later height, or that
//! polls an idle committee, fetches certified blocks from a peer and takes
//! each over once its certificate checks out against the committee.
//!
//! Persist before send: every vote is recorded in the [`VoteLog`] before it
//! leaves, and the replica never signs two different blocks for one phase,
//! view and height, even across restarts.
//!
//! The code follows that outline:
//!
//! - this module: the public types, opening a replica from the store, input
//!   dispatch ([`Replica::handle`]), timers, accessors and output helpers;
//! - `normal`: pending transactions, proposals, validation, prepare and
//!   commit votes, certificates and the durable commit of a block (§4.2);
//! - `view_change`: view changes, new views and prepared certificates
//!   (§4.4, timers §4.5.2);
//! - `sync`: asking peers for blocks, answering `GetBlocks` and taking
//!   certified `Blocks` over (state transfer, after §4.3's checkpoints).

mod normal;
mod sync;
mod view_change;

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dhtr_protocol::{ChunkId, PeerRef};

use crate::msg::{Body, Message, NewView, Prepared, Proposal, ViewChange};
use crate::pending::Pending;
use crate::sign::Signer;
use crate::store::{Store, StoreError, Tip, VoteLog};
use crate::tally::Tally;
use crate::types::{Block, Certificate, Committee, Digest, Phase, Tx};
use crate::verify::Reject;

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

    // ---- timers --------------------------------------------------------

    /// Start the view timer (PBFT §4.5.2) unless it runs already; it
    /// doubles after every view that failed, up to a bound.
    fn arm(&mut self, now: Instant) {
        if self.deadline.is_none() {
            let backoff = 1u32 << self.failed_views.min(MAX_BACKOFF_DOUBLINGS);
            self.deadline = Some(now + self.cfg.view_timeout * backoff);
        }
    }

    /// The two timers: the idle poll for blocks beyond our tip (see
    /// [`Config::poll_interval`]) and the view timer (PBFT §4.5.2).
    fn on_timeout<S: Store + ?Sized>(&mut self, now: Instant, unix: u64, store: &mut S) -> Result<(), StoreError> {
        if self.next_poll.is_some_and(|t| t <= now) {
            self.poll(now);
        }
        if self.deadline.is_some_and(|t| t <= now) {
            self.view_timer_expired(now, unix, store)?;
        }
        Ok(())
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
