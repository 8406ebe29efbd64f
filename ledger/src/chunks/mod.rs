//! Every chunk one node takes part in, sans-IO: replicas opened lazily from
//! the store, first committees taken from the ring, committees that follow
//! the ring through `Reconfigure`, and members that join by fetching and
//! verifying a chain (seed 001 §4.3).
//!
//! - A chunk gets a chain when the first transaction for it reaches a member
//!   whose ring view puts it in the chunk's committee: its genesis is that
//!   committee ([`genesis_block`]). Members that see the ring differently
//!   compute a different genesis and never form a quorum with it; a genesis
//!   on which nothing was decided is replaced once the ring settles.
//! - Every `check_interval` a member compares the committee with the ring
//!   ([`Output::CheckRing`] → [`Input::Ring`]). When two looks in a row agree
//!   on a different committee, it submits `Reconfigure` to the current
//!   members; each validates it against its own fresh ring view.
//! - A node that hears about a chunk it holds no chain for (a new member)
//!   never takes the chain from the sender: it looks the committee up on the
//!   ring and, if its view names it, adopts the chain f+1 members of that
//!   view agree on ([`join`]), verifies every certificate against the
//!   committee of its epoch, and takes part once the chain names it. A
//!   restarted member catches up through its replica's polling, from blocks
//!   certified by the committee it already holds.
//!
//! [`genesis_block`]: replica::genesis_block

mod fork;
pub mod join;
mod ring;
mod validate;

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dhtr_protocol::{ChunkId, PeerRef};

use crate::msg::{Body, Message};
use crate::replica::{self, Config, Replica};
use crate::sign::Signer;
use crate::store::Store;
use crate::types::{Block, Certificate, Committee, Digest, Tx};

use join::{Hint, Join, Probe};
use ring::Check;
use validate::Gathering;

/// Tuning of the chunk manager.
#[derive(Clone, Debug)]
pub struct ChunksConfig {
    /// Tuning of every replica.
    pub replica: Config,
    /// How often the committee of each chunk this node is a member of is
    /// compared with the ring.
    pub check_interval: Duration,
    /// How soon to look again after the ring disagreed with a committee (a
    /// change is acted on only when two looks in a row agree).
    pub recheck: Duration,
    /// How long a ring view counts as current when validating a committee
    /// change.
    pub view_fresh: Duration,
    /// How long a join may take before it is given up.
    pub join_timeout: Duration,
    /// Least time between two block requests of one join.
    pub join_retry: Duration,
    /// Most chunks joined at once.
    pub max_joins: usize,
    /// Most transactions waiting for the ring view of a chunk without a chain.
    pub max_waiting: usize,
    /// How long a node about to start a chain waits for the other members
    /// to say whether they already hold one.
    pub probe_wait: Duration,
    /// How long a chain is kept after this node left its committee (members
    /// joining meanwhile may fetch it here), before it is released.
    pub keep_after_leaving: Duration,
}

impl Default for ChunksConfig {
    fn default() -> Self {
        ChunksConfig {
            replica: Config::default(),
            check_interval: Duration::from_secs(30),
            recheck: Duration::from_secs(5),
            view_fresh: Duration::from_secs(10),
            join_timeout: Duration::from_secs(60),
            join_retry: Duration::from_secs(2),
            max_joins: 16,
            max_waiting: 256,
            probe_wait: Duration::from_secs(2),
            keep_after_leaving: Duration::from_secs(120),
        }
    }
}

/// Inputs of the chunk manager.
// Moved once into `handle`; see `replica::Input`.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug)]
pub enum Input {
    /// A ledger message from a peer (authenticated by the transport).
    Message {
        /// The sender.
        from: PeerRef,
        /// The message.
        msg: Message,
    },
    /// The ring's current view of a chunk's committee (the first n
    /// successors of the chunk's start), in ring order.
    Ring {
        /// The chunk.
        chunk: ChunkId,
        /// The members.
        members: Vec<PeerRef>,
        /// The next successors after them (up to n more), in ring order:
        /// members a join just displaced, who may hold the chain. A node
        /// fetching the chain asks them too, and counts them as vouchers.
        more: Vec<PeerRef>,
    },
    /// This node wants a transaction ordered; `members` is the ring's view
    /// of the chunk's committee.
    Submit {
        /// The chunk.
        chunk: ChunkId,
        /// The transaction.
        tx: Tx,
        /// Who to send it to.
        members: Vec<PeerRef>,
    },
    /// The environment's verdicts on the transactions of an
    /// [`Output::Validate`], in order.
    Validated {
        /// The chunk.
        chunk: ChunkId,
        /// The block (or transaction id) asked about.
        block: Digest,
        /// One verdict per transaction asked about.
        verdicts: Vec<bool>,
    },
    /// Time passed (at or after [`Chunks::poll_timeout`]).
    Timeout,
}

/// What the manager reports besides the replicas' own events.
#[derive(Clone, Debug, PartialEq)]
pub enum ChunkEvent {
    /// An event of the chunk's replica.
    Replica(replica::Event),
    /// A chain was started with this first committee size.
    Created {
        /// Members of the first committee.
        members: usize,
    },
    /// A bare genesis that disagreed with the ring was replaced.
    GenesisReplaced,
    /// This node asked the committee to hand over to the ring's committee.
    ReconfigureSubmitted {
        /// The proposed members.
        members: usize,
    },
    /// A committee change was committed.
    Reconfigured {
        /// The new epoch.
        epoch: u64,
        /// Is this node a member of the new committee?
        member: bool,
    },
    /// Fetching a chain from a member began.
    JoinStarted {
        /// Where from.
        from: PeerRef,
    },
    /// The fetched chain verified and names this node: it takes part.
    Joined {
        /// Height reached.
        height: u64,
    },
    /// Blocks nobody asked for, from someone not asked, or a hint beyond the
    /// join limit: dropped (the node looks at the ring instead).
    Unsolicited,
    /// A peer of the ring's committee holds another chain of this chunk (two
    /// first committees formed across a partition): ours was `kept`, or
    /// given up for the one more members hold ([`fork`]).
    OtherChain {
        /// Did this node keep its chain?
        kept: bool,
        /// The height of our chain when the other was seen.
        height: u64,
    },
    /// A chain this node left the committee of was forgotten after
    /// `keep_after_leaving`.
    Released {
        /// Its height.
        height: u64,
    },
    /// A join was given up.
    JoinFailed {
        /// Why.
        reason: &'static str,
    },
    /// A transaction for a chunk this node cannot order was dropped.
    Dropped {
        /// Why.
        reason: &'static str,
    },
}

/// What the manager asks its environment to do.
#[derive(Clone, Debug)]
pub enum Output {
    /// Send a message to a peer.
    Send {
        /// The peer.
        to: PeerRef,
        /// The message.
        msg: Message,
    },
    /// Validate record changes (`Put`, `Delete`); answer with
    /// [`Input::Validated`] carrying one verdict per transaction, in order.
    /// Committee changes are judged here, against the ring.
    Validate {
        /// The chunk.
        chunk: ChunkId,
        /// What the verdicts are about.
        block: Digest,
        /// The transactions.
        txs: Vec<Tx>,
    },
    /// Look up the chunk's committee on the ring; answer with [`Input::Ring`].
    CheckRing {
        /// The chunk.
        chunk: ChunkId,
    },
    /// A block was committed (already durable).
    Committed {
        /// The block.
        block: Block,
        /// Its certificate.
        cert: Certificate,
        /// Time from the first submission of its oldest transaction seen
        /// here to the commit, if this node saw one.
        latency: Option<Duration>,
    },
    /// Something worth counting or logging.
    Event {
        /// The chunk.
        chunk: ChunkId,
        /// What happened.
        event: ChunkEvent,
    },
}

/// Most submission times kept for latency figures.
const MAX_TRACKED: usize = 16_384;
/// How long a transaction waits for the ring view of a chunk without a chain.
const WAIT_FOR_RING: Duration = Duration::from_secs(10);

/// All chunks of one node.
pub struct Chunks {
    cfg: ChunksConfig,
    network: String,
    signer: Arc<dyn Signer + Send + Sync>,
    replicas: BTreeMap<ChunkId, Replica>,
    /// Chunks with a chain in the store whose replica is not open yet.
    dormant: BTreeSet<ChunkId>,
    checks: BTreeMap<ChunkId, Check>,
    ring: HashMap<ChunkId, (Vec<PeerRef>, Instant)>,
    waiting: HashMap<ChunkId, (Instant, Vec<Tx>)>,
    joins: HashMap<ChunkId, Join>,
    probes: HashMap<ChunkId, Probe>,
    /// Chunks someone talked about that we hold no chain for: the ring is
    /// being asked whether we are a member (since when).
    hinted: HashMap<ChunkId, Hint>,
    /// Bare geneses the ring moved away from whose waiting transactions
    /// were passed to the ring's committee.
    handed_off: BTreeSet<ChunkId>,
    /// When each chunk was last checked for another chain ([`fork`]).
    fork_checked: HashMap<ChunkId, Instant>,
    /// Chains whose committee this node left: when to release them.
    leaving: HashMap<ChunkId, Instant>,
    gathering: HashMap<(ChunkId, Digest), Gathering>,
    submitted: HashMap<Digest, Instant>,
    /// Chunks whose stored chains failed verification: left alone.
    quarantined: BTreeSet<ChunkId>,
    out: VecDeque<Output>,
    unix: u64,
}

impl Chunks {
    /// A manager for the chains in a store holding `held` (opened lazily).
    pub fn new(
        cfg: ChunksConfig,
        network: &str,
        signer: Arc<dyn Signer + Send + Sync>,
        held: impl IntoIterator<Item = ChunkId>,
        now: Instant,
    ) -> Chunks {
        let dormant: BTreeSet<ChunkId> = held.into_iter().collect();
        // Spread the first looks over one interval.
        let checks = dormant
            .iter()
            .map(|c| {
                let slot = cfg.check_interval.mul_f64(f64::from(c.0 % 64) / 64.0);
                (*c, Check { next: now + slot, candidate: None })
            })
            .collect();
        Chunks {
            cfg,
            network: network.to_string(),
            signer,
            replicas: BTreeMap::new(),
            dormant,
            checks,
            ring: HashMap::new(),
            waiting: HashMap::new(),
            joins: HashMap::new(),
            probes: HashMap::new(),
            hinted: HashMap::new(),
            handed_off: BTreeSet::new(),
            fork_checked: HashMap::new(),
            leaving: HashMap::new(),
            gathering: HashMap::new(),
            submitted: HashMap::new(),
            quarantined: BTreeSet::new(),
            out: VecDeque::new(),
            unix: 0,
        }
    }

    /// Never serve, extend or replace this chunk's chain (its stored chain
    /// failed verification; an operator must look at it).
    pub fn quarantine(&mut self, chunk: ChunkId) {
        self.quarantined.insert(chunk);
        self.dormant.remove(&chunk);
        self.replicas.remove(&chunk);
        self.checks.remove(&chunk);
    }

    fn me(&self) -> &PeerRef {
        self.signer.peer()
    }

    /// The replica of a chunk, if open.
    pub fn replica(&self, chunk: ChunkId) -> Option<&Replica> {
        self.replicas.get(&chunk)
    }

    /// How many chunks have a chain here (open or not), without listing
    /// them (open and dormant chunks are never both).
    pub fn held(&self) -> usize {
        self.replicas.len() + self.dormant.len()
    }

    /// Chunks with a chain here (open or not).
    pub fn chunks(&self) -> Vec<ChunkId> {
        let mut all: Vec<ChunkId> = self.replicas.keys().chain(self.dormant.iter()).copied().collect();
        all.sort();
        all
    }

    /// Chunks whose committee (as far as this node's chain says) has this
    /// node as a member, among open replicas.
    pub fn member_of(&self) -> usize {
        self.replicas.values().filter(|r| r.committee().contains(self.me())).count()
    }

    /// Chunks being joined.
    pub fn joining(&self) -> usize {
        self.joins.len()
    }

    /// The next output, if any.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    /// When [`Input::Timeout`] should next be delivered.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let replicas = self.replicas.values().filter_map(Replica::poll_timeout);
        let checks = self.checks.values().map(|c| c.next);
        let joins = self.joins.values().map(|j| j.next.min(j.started + self.cfg.join_timeout));
        // Transactions of a chunk being looked for again wait for that look
        // (its hint has the deadline), not for the ring's first answer.
        let waiting =
            self.waiting.iter().filter(|(c, _)| !self.hinted.contains_key(c)).map(|(_, (t, _))| *t + WAIT_FOR_RING);
        let probes = self.probes.values().map(|p| p.deadline);
        let hints = self.hinted.values().map(|h| h.next.unwrap_or(h.since + self.cfg.join_timeout));
        let leaving = self.leaving.values().copied();
        replicas.chain(checks).chain(joins).chain(waiting).chain(probes).chain(hints).chain(leaving).min()
    }

    /// Feed one input. `unix` is the wall clock in seconds.
    pub fn handle<S: Store + ?Sized>(&mut self, now: Instant, unix: u64, input: Input, store: &mut S) {
        self.unix = unix;
        let chunk = match &input {
            Input::Message { msg, .. } => Some(msg.chunk),
            Input::Ring { chunk, .. } | Input::Submit { chunk, .. } | Input::Validated { chunk, .. } => Some(*chunk),
            Input::Timeout => None,
        };
        if chunk.is_some_and(|c| self.quarantined.contains(&c)) {
            return;
        }
        match input {
            Input::Message { from, msg } => self.on_message(now, from, msg, store),
            Input::Ring { chunk, members, more } => self.on_ring(now, chunk, members, more, store),
            Input::Submit { chunk, tx, members } => self.submit(now, chunk, tx, &members, store),
            Input::Validated { chunk, block, verdicts } => self.on_validated(now, chunk, block, verdicts, store),
            Input::Timeout => self.on_timeout(now, store),
        }
    }

    // ---- replicas ------------------------------------------------------

    /// Open the replica of a chunk held in the store, if not open yet.
    fn wake<S: Store + ?Sized>(&mut self, chunk: ChunkId, store: &mut S) -> bool {
        if self.replicas.contains_key(&chunk) {
            return true;
        }
        if !self.dormant.remove(&chunk) {
            return false;
        }
        self.open(chunk, None, store)
    }

    fn open<S: Store + ?Sized>(&mut self, chunk: ChunkId, genesis: Option<Committee>, store: &mut S) -> bool {
        let opened = Replica::open(self.cfg.replica.clone(), &self.network, chunk, self.signer.clone(), store, genesis);
        match opened {
            Ok(Some(r)) => {
                self.replicas.insert(chunk, r);
                true
            }
            Ok(None) => false,
            Err(e) => {
                self.event(chunk, ChunkEvent::Replica(replica::Event::Halted { error: e.to_string() }));
                false
            }
        }
    }

    /// Feed a replica and act on what it asks for.
    fn feed<S: Store + ?Sized>(&mut self, now: Instant, chunk: ChunkId, input: replica::Input, store: &mut S) {
        let mut queue = VecDeque::from([input]);
        while let Some(input) = queue.pop_front() {
            let Some(r) = self.replicas.get_mut(&chunk) else { return };
            r.handle(now, self.unix, input, store);
            let mut outs = Vec::new();
            while let Some(o) = r.poll_output() {
                outs.push(o);
            }
            for o in outs {
                match o {
                    replica::Output::Send { to, msg } => self.out.push_back(Output::Send { to, msg }),
                    replica::Output::Validate { block, txs, .. } => {
                        if let Some(verdicts) = self.gather(now, chunk, block, txs) {
                            queue.push_back(replica::Input::Validated { block, verdicts });
                        }
                    }
                    replica::Output::Committed { block, cert } => self.on_committed(now, block, cert),
                    replica::Output::Event(e) => self.event(chunk, ChunkEvent::Replica(e)),
                }
            }
        }
    }

    fn event(&mut self, chunk: ChunkId, event: ChunkEvent) {
        self.out.push_back(Output::Event { chunk, event });
    }

    fn on_committed(&mut self, now: Instant, block: Block, cert: Certificate) {
        let chunk = block.chunk;
        let latency = block.txs.iter().filter_map(|t| self.submitted.remove(&t.id())).min().map(|t| now - t);
        let me = self.me().clone();
        if let Some(r) = self.replicas.get(&chunk) {
            let reconfigured = block.txs.iter().any(|t| matches!(t, Tx::Reconfigure { .. }));
            let member = r.committee().contains(&me);
            if reconfigured && block.height > 0 {
                let epoch = r.committee().epoch;
                // Tell the new committee: a new member holds no chain yet
                // and would hear nothing until the next proposal.
                if member {
                    let msg = Message { chunk, body: Body::Blocks(vec![(block.clone(), cert.clone())]) };
                    for m in r.committee().members.iter().filter(|m| **m != me) {
                        self.out.push_back(Output::Send { to: m.clone(), msg: msg.clone() });
                    }
                }
                self.event(chunk, ChunkEvent::Reconfigured { epoch, member });
            }
            if member {
                if self.joins.remove(&chunk).is_some() {
                    self.event(chunk, ChunkEvent::Joined { height: block.height });
                }
                self.checks.entry(chunk).or_insert(Check { next: now + self.cfg.check_interval, candidate: None });
            } else {
                // Leaving members stop looking after the chunk.
                self.checks.remove(&chunk);
            }
            self.note_membership(now, chunk);
        }
        self.out.push_back(Output::Committed { block, cert, latency });
    }

    // ---- messages ------------------------------------------------------

    fn on_message<S: Store + ?Sized>(&mut self, now: Instant, from: PeerRef, msg: Message, store: &mut S) {
        let chunk = msg.chunk;
        let first_sight = match &msg.body {
            Body::Submit(tx) => self.track(now, tx),
            _ => false,
        };
        if let Body::Blocks(list) = msg.body {
            return self.on_blocks(now, chunk, from, list, store);
        }
        if self.wake(chunk, store) {
            // Each transaction is passed on once: two nodes holding
            // different chains of a chunk (after a partition), each outside
            // the other's committee, would otherwise pass it back and forth.
            if let Body::Submit(tx) = &msg.body
                && first_sight
            {
                self.forward(chunk, tx);
            }
            return self.feed(now, chunk, replica::Input::Message { from, body: msg.body }, store);
        }
        match msg.body {
            // A transaction for a chunk without a chain: the ring says
            // whether this node is a first member.
            Body::Submit(tx) => self.wait_for_ring(now, chunk, tx),
            // Someone asking for blocks we do not have: say so at once
            // (a node about to start the chain waits for this answer).
            Body::GetBlocks { .. } => {
                self.out.push_back(Output::Send { to: from, msg: Message { chunk, body: Body::Blocks(Vec::new()) } })
            }
            // Members talking about a chunk we hold no chain for: we may
            // be a new member. Ask the ring, not the sender.
            _ => self.hint(now, chunk),
        }
    }

    /// Blocks: a probed member's chain, the next stretch of a join from the
    /// member asked, or certified blocks for a chain we hold (the replica
    /// checks them against its committee). Anything else is dropped; about
    /// a chunk we hold no chain for, it is only a hint to look at the ring.
    fn on_blocks<S: Store + ?Sized>(
        &mut self,
        now: Instant,
        chunk: ChunkId,
        from: PeerRef,
        list: Vec<(Block, Certificate)>,
        store: &mut S,
    ) {
        if self.probes.contains_key(&chunk) {
            return self.on_probe_answer(now, chunk, from, list, store);
        }
        if self.joins.get(&chunk).is_some_and(|j| j.source == from) {
            return self.on_join_blocks(now, chunk, from, list, store);
        }
        if self.wake(chunk, store) {
            if self.forked(chunk, &list, store) {
                // The sender holds another chain of this chunk: not its
                // fault, nor ours; the ring's committee decides ([`fork`]).
                return self.other_chain(now, chunk, store);
            }
            return self.feed(now, chunk, replica::Input::Message { from, body: Body::Blocks(list) }, store);
        }
        if !list.is_empty() {
            self.event(chunk, ChunkEvent::Unsolicited);
            self.hint(now, chunk);
        }
    }

    /// A transaction reached a node that holds the chain but is not in its
    /// committee (the ring moved ahead of the chain): pass it on to the
    /// members, who do not forward.
    fn forward(&mut self, chunk: ChunkId, tx: &Tx) {
        let me = self.me().clone();
        let Some(r) = self.replicas.get(&chunk) else { return };
        if r.committee().contains(&me) {
            return;
        }
        let to: Vec<PeerRef> = r.committee().members.clone();
        self.send_submit(chunk, tx, &to);
    }

    /// Send a transaction to each of `to` but this node.
    pub(super) fn send_submit(&mut self, chunk: ChunkId, tx: &Tx, to: &[PeerRef]) {
        let (me, msg) = (self.me().clone(), Message { chunk, body: Body::Submit(tx.clone()) });
        for m in to.iter().filter(|m| **m != me) {
            self.out.push_back(Output::Send { to: m.clone(), msg: msg.clone() });
        }
    }

    fn wait_for_ring(&mut self, now: Instant, chunk: ChunkId, tx: Tx) {
        let total: usize = self.waiting.values().map(|(_, v)| v.len()).sum();
        if total >= self.cfg.max_waiting {
            return self.event(chunk, ChunkEvent::Dropped { reason: "too many waiting" });
        }
        let entry = self.waiting.entry(chunk).or_insert_with(|| (now, Vec::new()));
        if !entry.1.contains(&tx) {
            entry.1.push(tx);
        }
        if entry.1.len() == 1 {
            self.out.push_back(Output::CheckRing { chunk });
        }
    }

    /// Remember when a transaction was first seen; is this the first time?
    fn track(&mut self, now: Instant, tx: &Tx) -> bool {
        if self.submitted.len() >= MAX_TRACKED {
            self.submitted.clear();
        }
        let mut first = false;
        self.submitted.entry(tx.id()).or_insert_with(|| {
            first = true;
            now
        });
        first
    }

    /// Order a transaction of this node: send it to every member (members do
    /// not forward submissions), and to ourselves when we are one.
    fn submit<S: Store + ?Sized>(&mut self, now: Instant, chunk: ChunkId, tx: Tx, members: &[PeerRef], store: &mut S) {
        self.track(now, &tx);
        let me = self.me().clone();
        let mut to: Vec<PeerRef> = members.to_vec();
        if self.wake(chunk, store)
            && let Some(r) = self.replicas.get(&chunk)
        {
            for m in &r.committee().members {
                if !to.contains(m) {
                    to.push(m.clone());
                }
            }
        }
        for m in to.iter().filter(|m| **m != me) {
            self.out.push_back(Output::Send { to: m.clone(), msg: Message { chunk, body: Body::Submit(tx.clone()) } });
        }
        if to.contains(&me) {
            self.on_message(now, me, Message { chunk, body: Body::Submit(tx) }, store);
        }
    }

    // ---- time ----------------------------------------------------------

    fn on_timeout<S: Store + ?Sized>(&mut self, now: Instant, store: &mut S) {
        let due: Vec<ChunkId> =
            self.replicas.iter().filter(|(_, r)| r.poll_timeout().is_some_and(|t| t <= now)).map(|(c, _)| *c).collect();
        for chunk in due {
            self.feed(now, chunk, replica::Input::Timeout, store);
        }
        let checks: Vec<ChunkId> = self.checks.iter().filter(|(_, c)| c.next <= now).map(|(c, _)| *c).collect();
        for chunk in checks {
            if let Some(c) = self.checks.get_mut(&chunk) {
                c.next = now + self.cfg.check_interval;
            }
            self.out.push_back(Output::CheckRing { chunk });
        }
        let mut failed = Vec::new();
        for (chunk, j) in &mut self.joins {
            if now >= j.started + self.cfg.join_timeout {
                failed.push(*chunk);
            } else if j.next <= now {
                j.next = now + self.cfg.join_retry;
                let from = self.replicas.get(chunk).map_or(0, |r| r.committed_height() + 1);
                self.out.push_back(Output::Send {
                    to: j.source.clone(),
                    msg: Message { chunk: *chunk, body: Body::GetBlocks { from } },
                });
            }
        }
        for chunk in failed {
            self.joins.remove(&chunk);
            self.event(chunk, ChunkEvent::JoinFailed { reason: "timed out" });
            self.note_membership(now, chunk);
        }
        self.leaving_timers(now, store);
        let probes: Vec<ChunkId> = self.probes.iter().filter(|(_, p)| p.deadline <= now).map(|(c, _)| *c).collect();
        for chunk in probes {
            self.decide_probe(now, chunk, true, store);
        }
        self.hint_timers(now);
        let stale: Vec<ChunkId> = self
            .waiting
            .iter()
            .filter(|(c, (t, _))| *t + WAIT_FOR_RING <= now && !self.hinted.contains_key(c))
            .map(|(c, _)| *c)
            .collect();
        for chunk in stale {
            self.waiting.remove(&chunk);
            self.event(chunk, ChunkEvent::Dropped { reason: "no ring view" });
        }
    }
}
