//! The sans-IO Chord core (Stoica et al., "Chord: A Scalable Peer-to-peer
//! Lookup Service", §4 and §5).
//!
//! [`Chord`] owns one node's routing state. The caller feeds it time and
//! events (`handle(now, input)`, [`Chord::handle_request`]) and carries out
//! what it asks for ([`Chord::poll_output`]); [`Chord::poll_timeout`] says
//! when it next needs to be woken. Periodic upkeep (stabilize, fix_fingers,
//! check_predecessor) and RPC deadlines are timers held as data.

mod admit;
mod crosscheck;
mod density;
mod lookup;
mod neighbours;
mod requests;
mod routing;
mod search;
mod verify;

pub use crosscheck::MAX_CHECKS;
pub use neighbours::{DISTRUST_FOR, UNACKED_ROUNDS};
pub use verify::Refusal;

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use thiserror::Error;

use crate::admission::{NetworkTag, Rules, Ticket};
use crate::node::{NodeInfo, PeerRef};
use crate::ring::RingId;
use crate::wire::{Request, Response};
use lookup::{Lookup, Purpose};
use routing::Routing;

/// Every this many fix_fingers ticks, look up my own id instead of a finger.
const SELF_CHECK_EVERY: u64 = 16;

/// Most contacts kept for looking up my own id from outside my routing state.
const MAX_CONTACTS: usize = 16;

/// Tuning of the core. Defaults suit a network of up to some thousands of
/// nodes on the Internet; the simulator uses the same defaults.
#[derive(Clone, Debug)]
pub struct Config {
    /// Length `r` of the successor list (Chord §5.2). At least the committee size.
    pub successors: usize,
    /// Period of `stabilize` (Chord §4.4, Fig. 6).
    pub stabilize_interval: Duration,
    /// Period of `fix_fingers`: one finger lookup per tick.
    pub fix_fingers_interval: Duration,
    /// Period of `check_predecessor`.
    pub check_predecessor_interval: Duration,
    /// How long to wait for one RPC before retrying or giving up.
    pub rpc_timeout: Duration,
    /// Attempts per RPC before the peer is declared failed.
    pub rpc_attempts: u8,
    /// Deadline of a whole lookup.
    pub lookup_timeout: Duration,
    /// Most hops a lookup may take.
    pub max_lookup_hops: u32,
    /// How many closer nodes a `FindSuccessor` step returns.
    pub closer_nodes: usize,
    /// Disjoint paths of a caller's lookup and of a join (S/Kademlia
    /// §4.4), compared before an answer is believed ([`crosscheck`]).
    pub lookup_paths: usize,
    /// Disjoint paths of the core's periodic upkeep lookups (fingers and
    /// self-checks): one lookup a second, so each path costs.
    pub upkeep_paths: usize,
    /// The network's admission rules: nodes that break them never enter
    /// routing state or lookups. The default admits everyone (unit tests
    /// and the simulator's baseline); a node always sets its network's.
    pub admission: Rules,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            successors: 8,
            stabilize_interval: Duration::from_secs(1),
            fix_fingers_interval: Duration::from_secs(1),
            check_predecessor_interval: Duration::from_secs(2),
            rpc_timeout: Duration::from_secs(1),
            rpc_attempts: 3,
            lookup_timeout: Duration::from_secs(15),
            max_lookup_hops: 64,
            closer_nodes: 3,
            lookup_paths: 3,
            upkeep_paths: 1,
            admission: Rules::permissive(NetworkTag([0; 32])),
        }
    }
}

/// Identifies an outgoing request; echoed back with its response or failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId(pub u64);

/// Identifies a lookup started with [`Chord::start_lookup`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LookupId(pub u64);

/// A finished lookup: the successor list of the key.
#[derive(Clone, Debug, PartialEq)]
pub struct LookupResult {
    /// The key looked up.
    pub key: RingId,
    /// The key's successors, clockwise; the first is the key's successor.
    pub successors: Vec<NodeInfo>,
    /// Remote steps the lookup's answering path took (0 when answered from
    /// local state).
    pub hops: u32,
    /// Requests the lookup sent over all its paths, confirmations and
    /// cross-checks (retries not counted): what verification costs.
    pub messages: u32,
}

/// Why a lookup did not finish.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum LookupError {
    /// The lookup's deadline passed.
    #[error("lookup timed out")]
    Timeout,
    /// Every candidate node failed or none was known.
    #[error("no reachable node could continue the lookup")]
    Exhausted,
    /// The lookup exceeded the hop limit.
    #[error("lookup exceeded the hop limit")]
    TooManyHops,
    /// The node is leaving the ring.
    #[error("node is leaving")]
    Leaving,
}

/// Things that happened to the ring, for metrics, logs and the caller's plans.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// The join through a bootstrap peer succeeded.
    Joined {
        /// My successor.
        successor: NodeInfo,
    },
    /// The join through `via` failed; the caller may try another peer.
    JoinFailed {
        /// The peer joined through.
        via: PeerRef,
        /// Why.
        error: LookupError,
    },
    /// One stabilization round completed (successor answered).
    StabilizationRound,
    /// Predecessor or successor list changed.
    NeighboursChanged,
    /// A peer failed to answer and was removed from the routing state.
    PeerFailed(NodeInfo),
    /// Every known successor failed: the node is alone and should rejoin.
    Alone,
    /// The graceful leave finished: neighbours were told (or timed out).
    Left,
    /// My successor did not hold me as its predecessor for
    /// [`UNACKED_ROUNDS`] stabilizations: it was dropped and is distrusted
    /// ([`neighbours`]).
    NeighbourRefused {
        /// The dropped successor.
        peer: NodeInfo,
    },
    /// A lookup answer was refused ([`verify`]); `peer` is the responder for
    /// a lie, else the node that failed to confirm it.
    AnswerRefused {
        /// Who is answerable.
        peer: NodeInfo,
        /// Why.
        reason: Refusal,
    },
}

/// What the core asks its caller to do.
#[derive(Clone, Debug)]
pub enum Output {
    /// Send `request` to `to`; report the answer with `Input::Response` or
    /// a failure with `Input::Failure`, both carrying `id`.
    Send {
        /// Echo this back.
        id: RequestId,
        /// The destination.
        to: NodeInfo,
        /// The request.
        request: Request,
    },
    /// A lookup started with [`Chord::start_lookup`] finished.
    LookupDone {
        /// Which lookup.
        id: LookupId,
        /// Its outcome.
        result: Result<LookupResult, LookupError>,
    },
    /// Something worth knowing happened.
    Event(Event),
}

/// Inputs to [`Chord::handle`].
#[derive(Clone, Debug)]
pub enum Input {
    /// Time passed (at or after [`Chord::poll_timeout`]).
    Timeout,
    /// The answer to request `id`.
    Response {
        /// The request answered.
        id: RequestId,
        /// The responder's ticket (where it sits; a bootstrap peer's was
        /// not known before).
        responder: Ticket,
        /// The answer.
        response: Response,
    },
    /// Request `id` could not be delivered or answered.
    Failure {
        /// The request that failed.
        id: RequestId,
    },
    /// Join the ring through this node (Chord §4.4 `join`).
    Join(NodeInfo),
    /// Leave gracefully: hand neighbours over.
    Leave,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum RpcPurpose {
    Stabilize,
    Notify,
    CheckPredecessor,
    /// A step of path `.1` of a lookup.
    Lookup(LookupId, usize),
    /// Confirming path `.1`'s answer with its named first successor.
    Confirm(LookupId, usize),
    /// A cross-check question of a lookup.
    Check(LookupId),
    /// Asking my second successor whether it holds my first as its
    /// predecessor ([`neighbours`]).
    Vouch,
    Leave,
}

#[derive(Debug)]
pub(super) struct Rpc {
    to: NodeInfo,
    request: Request,
    deadline: Instant,
    attempts_left: u8,
    purpose: RpcPurpose,
}

/// One node's Chord state machine.
#[derive(Debug)]
pub struct Chord {
    cfg: Config,
    routing: Routing,
    rpcs: HashMap<RequestId, Rpc>,
    lookups: HashMap<LookupId, Lookup>,
    next_request: u64,
    next_lookup: u64,
    stabilize_at: Instant,
    fix_fingers_at: Instant,
    check_predecessor_at: Instant,
    stabilizing: bool,
    pinging: bool,
    finger_lookup: Option<LookupId>,
    next_finger: usize,
    finger_ticks: u64,
    joining: Option<(LookupId, PeerRef)>,
    leaving: Option<usize>,
    /// Nodes known from outside the routing state (join points, bootstrap
    /// and stored peers); every other self-check starts at one of them, so
    /// a ring that split off (a join through a node that was on no ring,
    /// a partition) finds the rest again.
    contacts: VecDeque<NodeInfo>,
    next_contact: usize,
    distrust: neighbours::Distrust,
    out: VecDeque<Output>,
}

impl Chord {
    /// A node alone on its own ring (Chord §4.4 `create`).
    pub fn new(me: NodeInfo, cfg: Config, now: Instant) -> Chord {
        let r = cfg.successors.max(1);
        Chord {
            routing: Routing::new(me, r),
            rpcs: HashMap::new(),
            lookups: HashMap::new(),
            next_request: 0,
            next_lookup: 0,
            stabilize_at: now + cfg.stabilize_interval,
            fix_fingers_at: now + cfg.fix_fingers_interval,
            check_predecessor_at: now + cfg.check_predecessor_interval,
            stabilizing: false,
            pinging: false,
            finger_lookup: None,
            next_finger: 0,
            finger_ticks: 0,
            joining: None,
            leaving: None,
            contacts: VecDeque::new(),
            next_contact: 0,
            distrust: neighbours::Distrust::default(),
            out: VecDeque::new(),
            cfg,
        }
    }

    /// Remember a node known from outside the routing state (a bootstrap
    /// or stored peer): self-checks start at such nodes in turn, which
    /// merges a ring that split off back into the rest. The oldest of more
    /// than [`MAX_CONTACTS`] is forgotten.
    pub fn add_contact(&mut self, n: NodeInfo) {
        if n.same(&self.routing.me) || self.contacts.iter().any(|c| c.same(&n)) {
            return;
        }
        if self.contacts.len() == MAX_CONTACTS {
            self.contacts.pop_front();
        }
        self.contacts.push_back(n);
    }

    /// This node.
    pub fn me(&self) -> &NodeInfo {
        &self.routing.me
    }

    /// Replace this node's advertised addresses (e.g. a new external address).
    pub fn set_my_addrs(&mut self, addrs: Vec<crate::node::Addr>) {
        self.routing.me.addrs = addrs;
    }

    /// The current predecessor, if known.
    pub fn predecessor(&self) -> Option<&NodeInfo> {
        self.routing.predecessor.as_ref()
    }

    /// Does the successor list cover the whole ring (it reaches the
    /// predecessor)? Then the ring has `successors().len() + 1` nodes.
    pub fn sees_whole_ring(&self) -> bool {
        self.routing.sees_whole_ring()
    }

    /// The successor list, clockwise; empty when alone.
    pub fn successors(&self) -> &[NodeInfo] {
        &self.routing.successors
    }

    /// Distinct nodes in the finger table.
    pub fn fingers(&self) -> Vec<NodeInfo> {
        self.routing.distinct_fingers()
    }

    /// Is this node alone on its ring?
    pub fn is_alone(&self) -> bool {
        self.routing.successors.is_empty()
    }

    /// Is a join in progress?
    pub fn is_joining(&self) -> bool {
        self.joining.is_some()
    }

    /// The configuration in use.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// The next output to carry out, if any.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    /// When [`Input::Timeout`] should next be delivered.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let mut t = if self.leaving.is_some() {
            None
        } else {
            Some(self.stabilize_at.min(self.fix_fingers_at).min(self.check_predecessor_at))
        };
        for d in self.rpcs.values().map(|r| r.deadline).chain(self.lookups.values().map(|l| l.deadline)) {
            t = Some(t.map_or(d, |t| t.min(d)));
        }
        t
    }

    /// Feed one input.
    pub fn handle(&mut self, now: Instant, input: Input) {
        match input {
            Input::Timeout => self.handle_timeout(now),
            Input::Response { id, responder, response } => self.handle_response(now, id, responder, response),
            Input::Failure { id } => {
                if let Some(rpc) = self.rpcs.remove(&id) {
                    self.rpc_failed(now, rpc);
                }
            }
            Input::Join(via) => self.join(now, via),
            Input::Leave => self.leave(now),
        }
    }

    /// Start a lookup of `key`'s successor list; the result arrives as
    /// [`Output::LookupDone`] (possibly already queued on return).
    pub fn start_lookup(&mut self, now: Instant, key: RingId) -> LookupId {
        self.lookup(now, key, Purpose::User)
    }

    fn join(&mut self, now: Instant, via: NodeInfo) {
        if via.same(&self.routing.me) || self.leaving.is_some() {
            return;
        }
        let key = self.routing.me.id;
        let id = self.new_lookup_id();
        let peer = via.peer.clone();
        self.add_contact(via.clone());
        self.lookups.insert(
            id,
            Lookup::new(key, Purpose::Join, now + self.cfg.lookup_timeout, vec![via], self.cfg.lookup_paths),
        );
        self.joining = Some((id, peer));
        self.advance_lookup(now, id, 0);
    }

    fn leave(&mut self, now: Instant) {
        if self.leaving.is_some() {
            return;
        }
        let mut targets: Vec<NodeInfo> = self.routing.successors.first().cloned().into_iter().collect();
        if let Some(p) = &self.routing.predecessor
            && !targets.iter().any(|t| t.same(p))
        {
            targets.push(p.clone());
        }
        self.leaving = Some(targets.len());
        let mut ids: Vec<LookupId> = self.lookups.keys().copied().collect();
        ids.sort_unstable();
        for id in ids {
            self.finish_lookup(now, id, Err(LookupError::Leaving));
        }
        if targets.is_empty() {
            self.emit(Event::Left);
            return;
        }
        let request = Request::Leaving {
            predecessor: self.routing.predecessor.clone(),
            successors: self.routing.successors.clone(),
        };
        for t in targets {
            self.send(now, t, request.clone(), RpcPurpose::Leave);
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        // RPC deadlines: retry, then declare the peer failed. In id order, not
        // the maps' (random) order, so the outputs are a function of the inputs.
        let mut expired: Vec<RequestId> =
            self.rpcs.iter().filter(|(_, r)| r.deadline <= now).map(|(id, _)| *id).collect();
        expired.sort_unstable();
        for id in expired {
            let Some(rpc) = self.rpcs.remove(&id) else { continue };
            if rpc.attempts_left > 1 {
                let Rpc { to, request, attempts_left, purpose, .. } = rpc;
                self.send_attempt(now, to, request, purpose, attempts_left - 1);
            } else {
                self.rpc_failed(now, rpc);
            }
        }
        let mut late: Vec<LookupId> =
            self.lookups.iter().filter(|(_, l)| l.deadline <= now).map(|(id, _)| *id).collect();
        late.sort_unstable();
        for id in late {
            self.finish_lookup(now, id, Err(LookupError::Timeout));
        }
        if self.leaving.is_some() {
            return;
        }
        if self.stabilize_at <= now {
            self.stabilize_at = now + self.cfg.stabilize_interval;
            self.stabilize(now);
        }
        if self.check_predecessor_at <= now {
            self.check_predecessor_at = now + self.cfg.check_predecessor_interval;
            self.check_predecessor(now);
        }
        if self.fix_fingers_at <= now {
            self.fix_fingers_at = now + self.cfg.fix_fingers_interval;
            self.fix_fingers(now);
        }
    }

    /// Chord §4.4 `stabilize`: ask the successor for its predecessor and
    /// successor list.
    fn stabilize(&mut self, now: Instant) {
        if self.stabilizing || self.joining.is_some() {
            return;
        }
        if self.routing.successors.is_empty() {
            // Alone, but someone notified us: it is our successor too.
            if let Some(p) = self.routing.predecessor.clone() {
                self.routing.set_successors([p]);
                self.emit(Event::NeighboursChanged);
            } else {
                return;
            }
        }
        let succ = self.routing.successor().clone();
        self.stabilizing = true;
        self.send(now, succ, Request::GetNeighbours, RpcPurpose::Stabilize);
    }

    /// Chord §4.4 `check_predecessor`.
    fn check_predecessor(&mut self, now: Instant) {
        if self.pinging {
            return;
        }
        if let Some(p) = self.routing.predecessor.clone() {
            self.pinging = true;
            self.send(now, p, Request::Ping, RpcPurpose::CheckPredecessor);
        }
    }

    /// Chord §4.4 `fix_fingers`: refresh the next finger. Fingers whose start
    /// falls before the successor are set locally; one remote lookup per tick.
    fn fix_fingers(&mut self, now: Instant) {
        if self.finger_lookup.is_some() || self.joining.is_some() {
            return;
        }
        if self.routing.successors.is_empty() {
            self.routing.fingers.iter_mut().for_each(|f| *f = None);
            self.next_finger = 0;
            return;
        }
        self.finger_ticks += 1;
        if self.routing.predecessor.is_none() || self.finger_ticks.is_multiple_of(SELF_CHECK_EVERY) {
            // Every other self-check starts at a contact instead of my own
            // routing state (which cannot see past a split-off ring).
            let from_contact = (self.finger_ticks / SELF_CHECK_EVERY) % 2 == 1 && !self.contacts.is_empty();
            // Otherwise it starts at my predecessor, the node the ring
            // itself routes my id through last: if my successors are not the
            // ring's (identities that captured them, [`density`]), it names
            // the ring's.
            let start = if from_contact {
                self.next_contact = (self.next_contact + 1) % self.contacts.len();
                Some(vec![self.contacts[self.next_contact].clone()])
            } else {
                self.routing.predecessor.clone().map(|p| {
                    let me = self.routing.me.id;
                    let k = self.cfg.closer_nodes.max(2 * self.cfg.upkeep_paths);
                    std::iter::once(p).chain(self.routing.closest_preceding(&me, k)).collect()
                })
            };
            let id = self.lookup_from(now, self.routing.me.id, Purpose::SelfCheck, start);
            if self.lookups.contains_key(&id) {
                self.finger_lookup = Some(id);
            }
            return;
        }
        let succ = self.routing.successor().clone();
        let me = self.routing.me.id;
        for _ in 0..RingId::BITS {
            let i = self.next_finger;
            let start = me.add_pow2(i);
            if start.in_open_closed(&me, &succ.id) {
                let next = self.routing.set_finger(i, &succ);
                self.next_finger = next % RingId::BITS;
                if next >= RingId::BITS {
                    return;
                }
                continue;
            }
            let id = self.lookup(now, start, Purpose::Finger(i));
            if self.lookups.contains_key(&id) {
                self.finger_lookup = Some(id);
            }
            return;
        }
    }

    /// A peer did not answer. What is forgotten depends on what was asked:
    /// only stabilization evicts a successor (Chord §5.2), only
    /// check_predecessor clears the predecessor, and a failed lookup step
    /// drops the peer from the fingers. One lost message thus never costs a
    /// live neighbour its place in the successor list.
    pub(super) fn rpc_failed(&mut self, now: Instant, rpc: Rpc) {
        let peer = &rpc.to.peer;
        let forgotten = match rpc.purpose {
            RpcPurpose::Stabilize => self.routing.evict(peer),
            RpcPurpose::CheckPredecessor => self.routing.clear_predecessor(peer),
            RpcPurpose::Lookup(..) | RpcPurpose::Confirm(..) | RpcPurpose::Check(_) => self.routing.evict_finger(peer),
            RpcPurpose::Notify | RpcPurpose::Leave | RpcPurpose::Vouch => false,
        };
        if forgotten {
            self.emit(Event::PeerFailed(rpc.to.clone()));
            self.emit(Event::NeighboursChanged);
        }
        match rpc.purpose {
            RpcPurpose::Stabilize => {
                self.stabilizing = false;
                self.successor_lost(now);
            }
            RpcPurpose::CheckPredecessor => self.pinging = false,
            RpcPurpose::Notify => {}
            RpcPurpose::Vouch => self.distrust.vouch_failed(),
            RpcPurpose::Lookup(lid, p) => {
                if let Some(l) = self.lookups.get_mut(&lid)
                    && l.awaits(p, &rpc.to.peer)
                {
                    l.dead.insert(rpc.to.peer.clone());
                    self.advance_lookup(now, lid, p);
                }
            }
            RpcPurpose::Confirm(lid, p) => {
                if self.lookups.get(&lid).is_some_and(|l| l.awaits(p, &rpc.to.peer)) {
                    self.unconfirmed(now, lid, p, &rpc.to);
                }
            }
            RpcPurpose::Check(lid) => self.check_failed(now, lid, &rpc.to),
            RpcPurpose::Leave => self.leave_step(),
        }
    }

    /// My first successor was removed (it failed, or was dropped): fall
    /// back on the next known node and stabilize with it right away (Chord
    /// §5.2); with nobody left at all, the node is alone and rejoins.
    pub(super) fn successor_lost(&mut self, now: Instant) {
        self.routing.refill_successor();
        if self.routing.successors.is_empty() {
            if self.routing.predecessor.is_none() {
                self.emit(Event::Alone);
            }
        } else {
            self.stabilize_at = now;
        }
    }

    fn leave_step(&mut self) {
        if let Some(n) = self.leaving.as_mut() {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.emit(Event::Left);
            }
        }
    }

    fn send(&mut self, now: Instant, to: NodeInfo, request: Request, purpose: RpcPurpose) {
        let attempts = self.cfg.rpc_attempts.max(1);
        self.send_attempt(now, to, request, purpose, attempts);
    }

    fn send_attempt(&mut self, now: Instant, to: NodeInfo, request: Request, purpose: RpcPurpose, attempts_left: u8) {
        let id = RequestId(self.next_request);
        self.next_request += 1;
        self.out.push_back(Output::Send { id, to: to.clone(), request: request.clone() });
        self.rpcs.insert(id, Rpc { to, request, deadline: now + self.cfg.rpc_timeout, attempts_left, purpose });
    }

    fn new_lookup_id(&mut self) -> LookupId {
        let id = LookupId(self.next_lookup);
        self.next_lookup += 1;
        id
    }

    fn emit(&mut self, e: Event) {
        self.out.push_back(Output::Event(e));
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests;
#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests_verified;
