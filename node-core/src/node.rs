//! [`NodeCore`]: one node as one sans-IO state machine, in the style of the
//! Chord core and quinn-proto — `handle(now, unix, input)` in, then
//! `poll_output()` until `None`, and `poll_timeout()` for the next
//! [`Input::Timeout`]. It owns the Chord core, the chunk manager and its
//! store, committee resolution, network reads, submissions, validation and
//! refresh; time, randomness and I/O are the caller's.
//!
//! A network read, end to end: [`Input::Read`] → the committee from this
//! node's own chain if it is a member, else [`Committees::get`] (cached, or
//! a Chord lookup: [`Output::Chord`]s until the lookup ends) → one
//! [`Output::Records`] per other member → [`Input::RecordsResponse`]s →
//! strict majority ([`crate::majority`]) → [`Output::ReadDone`].

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::Instant;

use dhtr_ledger::chunks::{self, Chunks};
use dhtr_ledger::sign::Signer;
use dhtr_ledger::{Store, Tx};
use dhtr_protocol::key::{canonical_name, name_key};
use dhtr_protocol::{Addr, Chord, ChunkId, LookupId, NodeInfo, PeerRef, Ticket, WireResponse};

use crate::committees::{Committees, Freshness, View};
use crate::io::{BadMessage, CoreConfig, Event, Input, Output, Protocol, SubmitError, Submitted, Token};
use crate::peers::Peers;
use crate::reads::{ReadError, Reads};
use crate::records::{self, RecordsRequest, RecordsResponse};
use crate::refresh::{Action, ReadLog, Refresher};
use crate::resolve::{Resolve, ResolveId};
use crate::validate::{Finished, Validations};

/// Why a chunk's committee is being looked up.
enum Purpose {
    /// A network read waits for it.
    Read { token: Token, request: RecordsRequest },
    /// A transaction to send to it.
    Submit(Tx),
    /// A test submission to send to it.
    TestSubmit { token: Token, name: String, tx: Tx },
    /// The chunk manager compares the chunk's committee with the ring.
    Check,
}

/// Most remembered peer addresses (from lookups) before the book is reset.
const MAX_ADDR_BOOK: usize = 4096;

/// One node's decisions, without I/O.
pub struct NodeCore<S: Store> {
    cfg: CoreConfig,
    me: PeerRef,
    chord: Chord,
    chunks: Chunks,
    store: S,
    /// Chunks whose stored chains failed verification: never served.
    corrupt: HashSet<ChunkId>,
    committees: Committees<Purpose>,
    /// Ring checks to repeat because the view was incomplete.
    recheck: Vec<(Instant, ChunkId)>,
    reads: Reads<Token>,
    lookups: HashMap<LookupId, Token>,
    validations: Validations,
    refresher: Refresher,
    read_log: ReadLog,
    peers: Peers,
    addrs: HashMap<PeerRef, Vec<Addr>>,
    out: VecDeque<Output>,
    now: Instant,
    unix: u64,
    /// `permissioned` networks: when certificates in routing state are
    /// next rechecked and revocations passed on again, and which piece.
    permit_at: Instant,
    permit_round: usize,
}

/// How often a `permissioned` node drops expired or revoked nodes from its
/// routing state and passes some of its revocations on again.
pub const PERMIT_UPKEEP: std::time::Duration = std::time::Duration::from_secs(30);

impl<S: Store> NodeCore<S> {
    /// A node `me` (with `addrs`) over `store`, whose verified chains are
    /// `held` and whose corrupt ones are `corrupt` (never served).
    pub fn new(
        cfg: CoreConfig,
        me: NodeInfo,
        signer: std::sync::Arc<dyn Signer + Send + Sync>,
        store: S,
        held: Vec<ChunkId>,
        corrupt: Vec<ChunkId>,
        now: Instant,
    ) -> NodeCore<S> {
        let mut chunks = Chunks::new(cfg.chunks.clone(), &cfg.network, signer, held, now);
        for c in &corrupt {
            chunks.quarantine(*c);
        }
        NodeCore {
            me: me.peer.clone(),
            chord: Chord::new(me, cfg.chord.clone(), now),
            chunks,
            store,
            corrupt: corrupt.into_iter().collect(),
            committees: Committees::new(cfg.params, cfg.committee_ttl),
            recheck: Vec::new(),
            reads: Reads::default(),
            lookups: HashMap::new(),
            validations: Validations::new(cfg.validation.clone()),
            refresher: Refresher::new(now, cfg.refresh_interval),
            read_log: ReadLog::new(now, cfg.unused_after),
            peers: Peers::default(),
            addrs: HashMap::new(),
            out: VecDeque::new(),
            now,
            unix: 0,
            permit_at: now + PERMIT_UPKEEP,
            permit_round: 0,
            cfg,
        }
    }

    // ---- accessors -----------------------------------------------------

    /// The Chord core (routing state for status reports).
    pub fn chord(&self) -> &Chord {
        &self.chord
    }

    /// The chunk manager.
    pub fn chunks(&self) -> &Chunks {
        &self.chunks
    }

    /// The ledger store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The ledger store, giving up the node (a crash, in a simulation).
    pub fn into_store(self) -> S {
        self.store
    }

    /// This node's peer id.
    pub fn me(&self) -> &PeerRef {
        &self.me
    }

    /// Does this node serve `chunk`'s committed state (its chain verified)?
    pub fn serves(&self, chunk: ChunkId) -> bool {
        !self.corrupt.contains(&chunk)
    }

    /// Is `peer` banned now?
    pub fn is_banned(&self, now: Instant, peer: &PeerRef) -> bool {
        self.peers.is_banned(now, peer)
    }

    /// Remember a peer known from outside the routing state (bootstrap or
    /// stored): the Chord core's self-checks start at such peers in turn,
    /// which merges a part of the ring that split off back into the rest.
    pub fn add_contact(&mut self, peer: NodeInfo) {
        self.chord.add_contact(peer);
    }

    /// The addresses this node advertises changed.
    pub fn set_my_addrs(&mut self, addrs: Vec<Addr>) {
        self.chord.set_my_addrs(addrs);
    }

    /// Known addresses of a peer: from lookups and the routing state.
    pub fn addrs_of(&self, peer: &PeerRef) -> Vec<Addr> {
        let mut out: Vec<Addr> = self.addrs.get(peer).cloned().unwrap_or_default();
        for n in self.routing_entries(peer) {
            out.extend(n.addrs);
        }
        out.dedup();
        out
    }

    /// A peer as far as this node knows it, to address it: its identity,
    /// its routing entry's ticket if it has one, and its known addresses.
    pub fn contact(&self, peer: &PeerRef) -> NodeInfo {
        let known = self.routing_entries(peer).into_iter().next();
        let (ticket, cert) = known.map_or((Ticket::placeholder(), None), |n| (n.ticket, n.cert));
        NodeInfo::certified(peer.clone(), ticket, cert, self.addrs_of(peer))
    }

    /// The routing state's entries (successors, fingers, predecessor) for `peer`.
    fn routing_entries(&self, peer: &PeerRef) -> Vec<NodeInfo> {
        let fingers = self.chord.fingers();
        let ring = self.chord.successors().iter().chain(fingers.iter()).chain(self.chord.predecessor());
        ring.filter(|n| n.peer == *peer).cloned().collect()
    }

    /// Has nobody read (name, type) through this node for the configured period?
    pub fn unused(&self, name: &str, rtype: u16) -> bool {
        self.read_log.unused(self.now, name, rtype)
    }

    // ---- the state machine ---------------------------------------------

    /// The next output, if any.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    /// When [`Input::Timeout`] is next due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let recheck = self.recheck.iter().map(|(t, _)| *t).min();
        [
            self.chord.poll_timeout(),
            self.chunks.poll_timeout(),
            recheck,
            self.validations.poll_timeout(),
            Some(self.refresher.poll_timeout()),
            self.chord.rules().permission.as_ref().map(|_| self.permit_at),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Feed one input at `now` (`unix`: the wall clock in seconds).
    pub fn handle(&mut self, now: Instant, unix: u64, input: Input) {
        self.now = now;
        self.unix = unix;
        if let Some(m) = &self.chord.rules().permission {
            m.set_clock(now, unix);
        }
        match input {
            Input::Timeout => self.on_timeout(),
            Input::ChordResponse { id, responder, responder_cert, response } => {
                self.chord.handle_certified_response(now, id, responder, responder_cert, response)
            }
            Input::Revocations(list) => {
                self.chord.take_revocations(now, list);
            }
            Input::ChordFailure { id } => self.chord.handle(now, dhtr_protocol::Input::Failure { id }),
            Input::Join(via) => self.chord.handle(now, dhtr_protocol::Input::Join(via)),
            Input::Leave => self.chord.handle(now, dhtr_protocol::Input::Leave),
            Input::Ledger { from, msg } => {
                // A revoked member's votes count no more, even before its
                // committee reconfigures without it.
                let revoked = self.chord.rules().permission.as_ref().is_some_and(|m| m.is_revoked(&from));
                if revoked {
                    self.misbehaved(from, Protocol::Ledger, BadMessage::Unadmitted(dhtr_protocol::Unadmitted::Revoked));
                } else if !self.peers.is_banned(now, &from) {
                    self.chunks_input(chunks::Input::Message { from, msg });
                }
            }
            Input::RecordsResponse { id, response } => {
                if let Some((token, outcome)) = self.reads.on_response(id, response) {
                    self.out.push_back(Output::ReadDone { token, result: Ok(outcome) });
                }
            }
            Input::Resolved { id, resolved } => self.on_resolved(id, resolved),
            Input::Read { token, name, rtype, history } => self.read(token, name, rtype, history),
            Input::Lookup { token, key } => {
                let id = self.chord.start_lookup(now, key);
                self.lookups.insert(id, token);
            }
            Input::Submit(tx) => self.submit(tx),
            Input::TestSubmit { token, name } => self.test_submit(token, name),
            Input::Misbehaved { peer, protocol, bad } => self.misbehaved(peer, protocol, bad),
        }
        self.drain();
    }

    /// A strike against a peer that sent a bad message or a false answer;
    /// its connection is dropped.
    fn misbehaved(&mut self, peer: PeerRef, protocol: Protocol, bad: BadMessage) {
        let banned = self.peers.strike(self.now, &peer);
        self.out.push_back(Output::Disconnect(peer.clone()));
        self.out.push_back(Output::Event(Event::Penalised { peer, protocol, bad, banned }));
    }

    /// Answer a peer's Chord request (`None`: the peer is banned, or its
    /// ticket is not admitted and it is struck; drop the stream unanswered).
    /// Whether the ticket's prefix is the one the request came from is the
    /// adapter's check: only it sees addresses.
    pub fn handle_chord_request(
        &mut self,
        now: Instant,
        from: NodeInfo,
        request: dhtr_protocol::Request,
    ) -> Option<WireResponse> {
        if self.peers.is_banned(now, &from.peer) {
            return None;
        }
        self.now = now;
        if let Err(why) = self.chord.rules().check(now, &from) {
            self.misbehaved(from.peer, Protocol::Chord, BadMessage::Unadmitted(why));
            self.drain();
            return None;
        }
        let body = self.chord.handle_request(now, from, request);
        self.drain();
        let me = self.chord.me();
        let responder_cert = me.cert.as_deref().cloned();
        Some(WireResponse { responder_ticket: me.ticket, responder_cert, body })
    }

    /// Answer a peer's records request from this node's committed state
    /// (`None`: the peer is banned).
    pub fn handle_records_request(
        &mut self,
        now: Instant,
        from: &PeerRef,
        request: &RecordsRequest,
    ) -> Option<RecordsResponse> {
        if self.peers.is_banned(now, from) {
            return None;
        }
        // A permissioned network answers only readers with a valid
        // certificate (an open one: whoever is not banned).
        if self.chord.rules().permission.is_some() {
            let cert = request.cert.clone().map(std::sync::Arc::new);
            let reader = NodeInfo::certified(from.clone(), Ticket::placeholder(), cert, Vec::new());
            if let Err(why) = self.chord.rules().check(now, &reader) {
                self.now = now;
                self.misbehaved(from.clone(), Protocol::Records, BadMessage::Unadmitted(why));
                return None;
            }
        }
        let response = self.own_state(now, request);
        Some(if self.cfg.test_liar { records::falsify(response) } else { response })
    }

    /// This node's committed state for a request; a read of a committed
    /// record is remembered (bounded by what the chain holds, whatever
    /// peers ask for).
    fn own_state(&mut self, now: Instant, request: &RecordsRequest) -> RecordsResponse {
        if !self.serves(request.chunk) {
            return RecordsResponse::NotHeld;
        }
        let response = records::member_state(&self.store, request, &self.me);
        if matches!(&response, RecordsResponse::State(s) if s.holds_records()) {
            self.read_log.note(now, request);
        }
        response
    }

    fn on_timeout(&mut self) {
        let now = self.now;
        if self.chord.poll_timeout().is_some_and(|t| t <= now) {
            self.chord.handle(now, dhtr_protocol::Input::Timeout);
        }
        let due: Vec<ChunkId> = self.recheck.iter().filter(|(t, _)| *t <= now).map(|(_, c)| *c).collect();
        self.recheck.retain(|(t, _)| *t > now);
        for chunk in due {
            self.check_ring(chunk);
        }
        if self.chunks.poll_timeout().is_some_and(|t| t <= now) {
            self.chunks_input(chunks::Input::Timeout);
        }
        let mut resolves = Vec::new();
        for done in self.validations.on_timeout(now, &mut resolves) {
            self.validated(done);
        }
        self.resolve_all(resolves);
        let mut actions = Vec::new();
        let held = self.chunks.chunks();
        let (read_log, store) = (&self.read_log, &self.store);
        self.refresher.scan(now, self.unix, store, held, &self.me, |n, t| read_log.unused(now, n, t), &mut actions);
        for a in actions {
            self.refresh_action(a);
        }
        self.peers.expire(now);
        if self.chord.rules().permission.is_some() && self.permit_at <= now {
            self.permit_at = now + PERMIT_UPKEEP;
            self.permit_round = self.permit_round.wrapping_add(1);
            self.chord.drop_unadmitted(now);
            self.chord.spread_revocations(now, self.permit_round);
        }
    }

    // ---- committees ----------------------------------------------------

    fn check_ring(&mut self, chunk: ChunkId) {
        if let Some((view, purpose)) =
            self.committees.get(self.now, chunk, Freshness::Fresh, Purpose::Check, &mut self.chord)
        {
            self.on_committee(chunk, Ok(view), purpose);
        }
    }

    fn committee_for(&mut self, chunk: ChunkId, purpose: Purpose) {
        if let Some((view, purpose)) = self.committees.get(self.now, chunk, Freshness::Cached, purpose, &mut self.chord)
        {
            self.on_committee(chunk, Ok(view), purpose);
        }
    }

    fn on_lookup_done(
        &mut self,
        id: LookupId,
        result: Result<dhtr_protocol::LookupResult, dhtr_protocol::LookupError>,
    ) {
        if let Ok(r) = &result {
            if self.addrs.len() > MAX_ADDR_BOOK {
                self.addrs.clear();
            }
            for n in &r.successors {
                self.addrs.insert(n.peer.clone(), n.addrs.clone());
            }
        }
        if let Some(token) = self.lookups.remove(&id) {
            self.out.push_back(Output::LookupDone { token, result });
            return;
        }
        let Some((chunk, view, waiters)) = self.committees.on_lookup(self.now, id, &result, &self.chord) else {
            return;
        };
        for w in waiters {
            self.on_committee(chunk, view.clone(), w);
        }
    }

    fn on_committee(&mut self, chunk: ChunkId, view: Result<View, dhtr_protocol::LookupError>, purpose: Purpose) {
        let n = self.cfg.params.committee_size();
        match (purpose, view) {
            (Purpose::Check, Ok(view)) if view.complete.is_some() => {
                self.chunks_input(chunks::Input::Ring { chunk, members: view.peers(), more: view.more_peers() });
            }
            // A successor list still filling (right after joins or churn)
            // is no committee: look again shortly rather than start or
            // change a chain on it.
            (Purpose::Check, Ok(_)) => self.recheck.push((self.now + self.cfg.recheck_incomplete, chunk)),
            (Purpose::Check, Err(_)) => {}
            (Purpose::Read { token, request }, Ok(view)) => {
                // Majority of the full committee unless the ring really is
                // smaller: a short list must not let one or two answers
                // pass for a majority.
                let size = view.complete.unwrap_or(n);
                self.start_read(token, request, &view.members, size);
            }
            (Purpose::Read { token, .. }, Err(e)) => {
                self.out.push_back(Output::ReadDone { token, result: Err(ReadError::Lookup(e.to_string())) });
            }
            (Purpose::Submit(tx), Ok(view)) => {
                self.chunks_input(chunks::Input::Submit { chunk, tx, members: view.peers() });
            }
            (Purpose::Submit(_), Err(_)) => {}
            (Purpose::TestSubmit { token, name, tx }, Ok(view)) => {
                let committee = view.peers();
                self.chunks_input(chunks::Input::Submit { chunk, tx, members: committee.clone() });
                self.out.push_back(Output::Submitted { token, result: Ok(Submitted { name, chunk, committee }) });
            }
            (Purpose::TestSubmit { token, .. }, Err(e)) => {
                let error = SubmitError::Lookup { chunk: chunk.0, error: e.to_string() };
                self.out.push_back(Output::Submitted { token, result: Err(error) });
            }
        }
    }

    // ---- reads ---------------------------------------------------------

    fn read(&mut self, token: Token, name: String, rtype: u16, history: bool) {
        let key = match name_key(&name) {
            Ok(k) => k,
            Err(e) => {
                let result = Err(ReadError::Name(e.to_string()));
                return self.out.push_back(Output::ReadDone { token, result });
            }
        };
        if self.reads.len() >= crate::reads::MAX_READS {
            return self.out.push_back(Output::ReadDone { token, result: Err(ReadError::Overloaded) });
        }
        let chunk = self.cfg.params.chunk_of(&key);
        let cert = self.chord.me().cert.as_deref().cloned();
        let request = RecordsRequest { chunk, name, rtype, history, cert };
        // A current member knows the committee from its own chain: no
        // lookup, and nothing a lookup's last hop could make up.
        if let Some(members) = self.own_committee(chunk) {
            let size = members.len();
            return self.start_read(token, request, &members, size);
        }
        self.committee_for(chunk, Purpose::Read { token, request });
    }

    /// The committee at the tip of this node's chain of `chunk`, if this
    /// node is in it.
    fn own_committee(&self, chunk: ChunkId) -> Option<Vec<NodeInfo>> {
        if !self.serves(chunk) {
            return None;
        }
        let tip = records::member_tip(&self.store, chunk, &self.me)?;
        Some(tip.committee.members.iter().map(|p| self.contact(p)).collect())
    }

    fn start_read(&mut self, token: Token, request: RecordsRequest, members: &[NodeInfo], size: usize) {
        let own = if members.iter().any(|m| m.peer == self.me) {
            match self.own_state(self.now, &request) {
                RecordsResponse::State(s) => Some(s),
                RecordsResponse::NotHeld => None,
            }
        } else {
            None
        };
        let mut sends = Vec::new();
        let (now, peers) = (self.now, &self.peers);
        let done =
            self.reads.start(token, request, members, size, &self.me, own, |p| peers.is_banned(now, p), &mut sends);
        self.out.extend(sends.into_iter().map(Output::Records));
        if let Some((token, outcome)) = done {
            self.out.push_back(Output::ReadDone { token, result: Ok(outcome) });
        }
    }

    // ---- submissions ---------------------------------------------------

    fn submit(&mut self, tx: Tx) {
        let name = match &tx {
            Tx::Put(rr) => &rr.name,
            Tx::Delete { name, .. } => name,
            Tx::Reconfigure { .. } => return,
        };
        let Ok(key) = name_key(name) else { return };
        let chunk = self.cfg.params.chunk_of(&key);
        self.committee_for(chunk, Purpose::Submit(tx));
    }

    fn test_submit(&mut self, token: Token, name: String) {
        if !self.cfg.test_hooks {
            return self.out.push_back(Output::Submitted { token, result: Err(SubmitError::HooksOff) });
        }
        let key = canonical_name(&name).map_err(|e| e.to_string()).and_then(|c| match name_key(&c) {
            Ok(k) => Ok((c, k)),
            Err(e) => Err(e.to_string()),
        });
        let (canonical, key) = match key {
            Ok(v) => v,
            Err(e) => return self.out.push_back(Output::Submitted { token, result: Err(SubmitError::Name(e)) }),
        };
        let chunk = self.cfg.params.chunk_of(&key);
        let tx = Tx::Put(crate::validate::test_record(&canonical));
        self.committee_for(chunk, Purpose::TestSubmit { token, name: canonical, tx });
    }

    // ---- validation and refresh -----------------------------------------

    fn on_resolved(&mut self, id: ResolveId, resolved: crate::resolve::Resolved) {
        match id {
            ResolveId::Validation(_) => {
                let mut resolves = Vec::new();
                let done = self.validations.on_resolved(self.now, id, resolved, &mut resolves);
                self.resolve_all(resolves);
                if let Some(done) = done {
                    self.validated(done);
                }
            }
            ResolveId::Refresh(n) => {
                if let Some(a) = self.refresher.on_resolved(n, resolved) {
                    self.refresh_action(a);
                }
            }
        }
    }

    fn resolve_all(&mut self, resolves: Vec<Resolve>) {
        self.out.extend(resolves.into_iter().map(Output::Resolve));
    }

    fn validated(&mut self, done: Finished) {
        self.out.push_back(Output::Event(Event::Validated(done.verdicts.clone())));
        let verdicts = done.verdicts.iter().map(|v| *v == crate::validate::Verdict::Agreed).collect();
        self.chunks_input(chunks::Input::Validated { chunk: done.chunk, block: done.block, verdicts });
    }

    fn refresh_action(&mut self, action: Action) {
        match action {
            Action::Resolve(r) => self.out.push_back(Output::Resolve(r)),
            Action::Submit(tx, outcome) => {
                self.out.push_back(Output::Event(Event::Refreshed(outcome)));
                self.submit(tx);
            }
            Action::Count(outcome) => self.out.push_back(Output::Event(Event::Refreshed(outcome))),
        }
    }

    // ---- the inner cores' outputs --------------------------------------

    fn chunks_input(&mut self, input: chunks::Input) {
        self.chunks.handle(self.now, self.unix, input, &mut self.store);
        self.drain();
    }

    /// Act on what the Chord core and the chunk manager asked for, until
    /// neither has anything more.
    fn drain(&mut self) {
        loop {
            if let Some(o) = self.chord.poll_output() {
                self.on_chord_output(o);
                continue;
            }
            if let Some(o) = self.chunks.poll_output() {
                self.on_chunks_output(o);
                continue;
            }
            break;
        }
    }

    fn on_chord_output(&mut self, o: dhtr_protocol::Output) {
        match o {
            dhtr_protocol::Output::Send { id, to, request } => {
                if self.peers.is_banned(self.now, &to.peer) {
                    self.chord.handle(self.now, dhtr_protocol::Input::Failure { id });
                } else {
                    self.out.push_back(Output::Chord { id, to, request });
                }
            }
            dhtr_protocol::Output::LookupDone { id, result } => self.on_lookup_done(id, result),
            dhtr_protocol::Output::Event(e) => {
                if matches!(e, dhtr_protocol::Event::NeighboursChanged | dhtr_protocol::Event::Joined { .. }) {
                    self.committees.forget();
                }
                if let dhtr_protocol::Event::AnswerRefused { peer, reason } = &e
                    && reason.is_lie()
                {
                    // A provably false lookup answer: a strike, as a bad message.
                    self.misbehaved(peer.peer.clone(), Protocol::Chord, BadMessage::FalseAnswer);
                }
                self.out.push_back(Output::Event(Event::Chord(e)));
            }
        }
    }

    fn on_chunks_output(&mut self, o: chunks::Output) {
        match o {
            chunks::Output::Send { to, msg } => {
                if to != self.me && !self.peers.is_banned(self.now, &to) {
                    let to = self.contact(&to);
                    self.out.push_back(Output::Ledger { to, msg });
                }
            }
            chunks::Output::Validate { chunk, block, txs } => {
                let mut resolves = Vec::new();
                let (now, read_log) = (self.now, &self.read_log);
                let done = self.validations.start(
                    now,
                    self.unix,
                    chunk,
                    block,
                    txs,
                    |n, t| read_log.unused(now, n, t),
                    &mut resolves,
                );
                self.resolve_all(resolves);
                if let Some(done) = done {
                    self.validated(done);
                }
            }
            chunks::Output::CheckRing { chunk } => self.check_ring(chunk),
            chunks::Output::Committed { block, cert, latency } => {
                self.out.push_back(Output::Event(Event::Committed { block, cert, latency }));
            }
            chunks::Output::Event { chunk, event } => self.out.push_back(Output::Event(Event::Ledger { chunk, event })),
        }
    }
}
