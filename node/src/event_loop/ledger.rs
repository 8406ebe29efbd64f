//! The ledger side of the Swarm task: carries the chunk manager's messages
//! over `/dhtr/<network>/ledger/1`, answers its ring look-ups with Chord
//! lookups, runs validations as tasks, and turns its events into metrics
//! and logs. The consensus logic itself is the sans-IO [`Chunks`] core.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dhtr_ledger::chunks::{self, ChunkEvent, Chunks, ChunksConfig};
use dhtr_ledger::{Digest, Event as ReplicaEvent, Tx};
use dhtr_monitoring::{ApiError, ChainReport, Direction, LedgerReport, SubmitReport};
use dhtr_protocol::key::{canonical_name, name_key};
use dhtr_protocol::{ChunkId, LookupId, LookupResult, PeerRef};
use libp2p::request_response::{self, InboundFailure};
use libp2p::{Multiaddr, PeerId};
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, info, warn};

use super::{NodeLoop, to_multiaddrs};
use crate::dns::unix_now;
use crate::ledger::codec::LedgerInbound;
use crate::ledger::validator::{Validator, test_record};
use crate::ledger::{Ledger, NodeSigner};

/// Where the answer to a test submission goes.
pub type SubmitReply = oneshot::Sender<Result<SubmitReport, ApiError>>;

/// A validator's verdicts on one validation request.
pub struct Verdict {
    chunk: ChunkId,
    block: Digest,
    verdicts: Vec<bool>,
}

/// Why a Chord lookup of a chunk's start was made.
enum RingPurpose {
    /// The manager asked for the chunk's committee.
    Check(ChunkId),
    /// A record to insert after a fallback resolution.
    Insert { chunk: ChunkId, tx: Tx },
    /// A test submission needs the committee to send to.
    Submit { chunk: ChunkId, tx: Tx, name: String, reply: SubmitReply },
}

/// Most remembered peer addresses (from lookups) before the book is reset.
const MAX_ADDR_BOOK: usize = 4096;

/// The ledger's part of the node's state.
pub struct LedgerState {
    chunks: Chunks,
    ledger: Ledger,
    me: PeerRef,
    ring_lookups: HashMap<LookupId, RingPurpose>,
    ring_pending: HashSet<ChunkId>,
    /// Committee look-ups to repeat because the view was incomplete.
    recheck: Vec<(Instant, ChunkId)>,
    /// The chunk the last refresh scan stopped at.
    refresh_cursor: u32,
    addrs: HashMap<PeerId, Vec<Multiaddr>>,
    validator: Arc<dyn Validator>,
    verdict_tx: mpsc::UnboundedSender<Verdict>,
    /// Verdicts of finished validations, for the event loop to feed back.
    pub verdict_rx: mpsc::UnboundedReceiver<Verdict>,
    test_hooks: bool,
}

impl LedgerState {
    /// The manager over the verified chains of `ledger`, signing as `signer`.
    pub fn new(
        mut ledger: Ledger,
        signer: Arc<NodeSigner>,
        settings: &crate::config::Settings,
        validator: Arc<dyn Validator>,
    ) -> LedgerState {
        let me = dhtr_ledger::sign::Signer::peer(signer.as_ref()).clone();
        ledger.store.set_durable(settings.ledger_fsync);
        let (network, test_hooks) = (settings.network.as_str(), settings.test_hooks);
        let cfg: ChunksConfig = settings.ledger.clone();
        let mut chunks = Chunks::new(cfg, network, signer, ledger.verified.clone(), Instant::now());
        for c in &ledger.corrupt {
            chunks.quarantine(*c);
        }
        let (verdict_tx, verdict_rx) = mpsc::unbounded_channel();
        LedgerState {
            chunks,
            ledger,
            me,
            ring_lookups: HashMap::new(),
            ring_pending: HashSet::new(),
            recheck: Vec::new(),
            refresh_cursor: 0,
            addrs: HashMap::new(),
            validator,
            verdict_tx,
            verdict_rx,
            test_hooks,
        }
    }

    /// When the manager next needs a timeout.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let recheck = self.recheck.iter().map(|(t, _)| *t).min();
        [self.chunks.poll_timeout(), recheck].into_iter().flatten().min()
    }
}

/// How soon an incomplete committee view is looked up again.
const RECHECK_INCOMPLETE: Duration = Duration::from_secs(1);

impl NodeLoop {
    /// The committee size a look-up result of `found` successors stands
    /// for, if it is a complete view: the full `n`, or the whole ring when
    /// the ring is smaller than `n` (this node's successor list then reaches
    /// its predecessor, so it sees every node). `None` for a list that is
    /// merely short because it is still filling.
    pub(super) fn complete_view(&self, found: usize) -> Option<usize> {
        let n = self.settings.params.committee_size();
        if found >= n {
            return Some(n);
        }
        let ring = self.chord.successors().len() + 1;
        (self.chord.sees_whole_ring() && ring <= n && found == ring).then_some(found)
    }

    /// Repeat committee look-ups that found an incomplete view.
    pub(super) fn ledger_rechecks(&mut self) {
        let now = Instant::now();
        let due: Vec<ChunkId> = self.led.recheck.iter().filter(|(t, _)| *t <= now).map(|(_, c)| *c).collect();
        self.led.recheck.retain(|(t, _)| *t > now);
        for chunk in due {
            if self.led.ring_pending.insert(chunk) {
                let id = self.chord.start_lookup(now, self.settings.params.chunk_start(chunk));
                self.led.ring_lookups.insert(id, RingPurpose::Check(chunk));
            }
        }
    }

    /// Feed the chunk manager and carry out what it asks.
    pub(super) fn ledger_input(&mut self, input: chunks::Input) {
        let led = &mut self.led;
        led.chunks.handle(Instant::now(), unix_now(), input, &mut led.ledger.store);
        self.drain_ledger();
    }

    pub(super) fn on_verdict(&mut self, v: Verdict) {
        self.metrics.ledger.validated(&v.verdicts);
        self.ledger_input(chunks::Input::Validated { chunk: v.chunk, block: v.block, verdicts: v.verdicts });
    }

    fn drain_ledger(&mut self) {
        while let Some(out) = self.led.chunks.poll_output() {
            match out {
                chunks::Output::Send { to, msg } => self.send_ledger(to, msg),
                chunks::Output::Validate { chunk, block, txs } => {
                    let validation = self.led.validator.validate(txs);
                    let tx = self.led.verdict_tx.clone();
                    tokio::spawn(async move {
                        let verdicts = validation.await;
                        let _ = tx.send(Verdict { chunk, block, verdicts });
                    });
                }
                chunks::Output::CheckRing { chunk } => {
                    if self.led.ring_pending.insert(chunk) {
                        let id = self.chord.start_lookup(Instant::now(), self.settings.params.chunk_start(chunk));
                        self.led.ring_lookups.insert(id, RingPurpose::Check(chunk));
                    }
                }
                chunks::Output::Committed { block, cert, latency } => {
                    self.metrics.ledger.committed(latency);
                    info!(
                        chunk = block.chunk.0,
                        height = block.height,
                        view = cert.view,
                        txs = block.txs.len(),
                        "committed a block"
                    );
                    self.update_ledger_gauges();
                }
                chunks::Output::Event { chunk, event } => self.on_ledger_event(chunk, event),
            }
        }
    }

    fn on_ledger_event(&mut self, chunk: ChunkId, event: ChunkEvent) {
        let m = &self.metrics.ledger;
        match event {
            ChunkEvent::Replica(e) => match e {
                ReplicaEvent::Rejected { reason, .. } => m.rejected(reason.as_str()),
                ReplicaEvent::Equivocation { member } => {
                    m.equivocations.inc();
                    warn!(chunk = chunk.0, member = %crate::report::peer_label_bytes(&member), "member equivocated; evidence kept");
                }
                ReplicaEvent::Proposed { .. } => {
                    m.proposals.inc();
                }
                ReplicaEvent::ViewChanged { view } => {
                    m.view_changes.inc();
                    debug!(chunk = chunk.0, view, "entered a new view");
                }
                ReplicaEvent::Synced { height } => {
                    m.synced.inc();
                    debug!(chunk = chunk.0, height, "caught up from a peer");
                }
                ReplicaEvent::Halted { error } => {
                    m.halted.inc();
                    warn!(chunk = chunk.0, "ledger storage failed; chunk no longer served: {error}");
                }
            },
            ChunkEvent::Created { members } => {
                m.genesis("created");
                info!(chunk = chunk.0, members, "started the chunk's chain");
            }
            ChunkEvent::GenesisReplaced => {
                m.genesis("replaced");
                info!(chunk = chunk.0, "replaced a first committee the ring no longer agrees with");
            }
            ChunkEvent::ReconfigureSubmitted { members } => {
                m.reconfiguration("submitted");
                info!(chunk = chunk.0, members, "the ring moved: proposing a committee change");
            }
            ChunkEvent::Reconfigured { epoch, member } => {
                m.reconfiguration("committed");
                info!(chunk = chunk.0, epoch, member, "committee changed");
                self.update_ledger_gauges();
            }
            ChunkEvent::JoinStarted { from } => {
                m.join("started");
                debug!(chunk = chunk.0, from = %crate::report::peer_label_bytes(&from), "fetching the chain");
            }
            ChunkEvent::Joined { height } => {
                m.join("joined");
                info!(chunk = chunk.0, height, "joined the chunk's committee");
                self.update_ledger_gauges();
            }
            ChunkEvent::JoinFailed { reason } => {
                m.join("failed");
                debug!(chunk = chunk.0, "gave up fetching the chain: {reason}");
            }
            ChunkEvent::Dropped { reason } => m.dropped(reason),
        }
    }

    /// Refresh `dhtr_ledger_chunks`.
    pub(super) fn update_ledger_gauges(&self) {
        // Called on every commit: counts, no list of chunks.
        let c = &self.led.chunks;
        self.metrics.ledger.set_chunks(c.held(), c.member_of(), c.joining());
    }

    fn send_ledger(&mut self, to: PeerRef, msg: dhtr_ledger::msg::Message) {
        if to == self.led.me {
            return;
        }
        let Ok(peer) = PeerId::from_bytes(&to.0) else { return };
        if self.banned.contains_key(&peer) {
            return;
        }
        self.metrics.ledger.message(Direction::Out, msg.body.kind());
        let addrs = self.addrs_of(&peer);
        self.swarm.behaviour_mut().ledger.send_request_with_addresses(&peer, LedgerInbound::Message(msg), addrs);
    }

    /// Known dial addresses of a peer: from lookups, the ring and the peer store.
    pub(super) fn addrs_of(&self, peer: &PeerId) -> Vec<Multiaddr> {
        let mut out: Vec<Multiaddr> = self.led.addrs.get(peer).cloned().unwrap_or_default();
        let bytes = peer.to_bytes();
        let fingers = self.chord.fingers();
        let ring = self.chord.successors().iter().chain(fingers.iter()).chain(self.chord.predecessor());
        for n in ring.filter(|n| n.peer.0 == bytes) {
            out.extend(to_multiaddrs(&n.addrs));
        }
        if let Some(e) = self.store.get(peer) {
            out.extend(e.addrs.iter().cloned());
        }
        out.dedup();
        out
    }

    /// A finished Chord lookup that the ledger asked for; false if it was not.
    pub(super) fn on_ledger_lookup(
        &mut self,
        id: LookupId,
        result: &Result<LookupResult, dhtr_protocol::LookupError>,
    ) -> bool {
        if let Ok(r) = result {
            if self.led.addrs.len() > MAX_ADDR_BOOK {
                self.led.addrs.clear();
            }
            for n in &r.successors {
                if let Ok(p) = PeerId::from_bytes(&n.peer.0) {
                    self.led.addrs.insert(p, to_multiaddrs(&n.addrs));
                }
            }
        }
        let Some(purpose) = self.led.ring_lookups.remove(&id) else { return false };
        let n = self.settings.params.committee_size();
        // Distinct members only: a lookup answer naming one peer several
        // times must not pass for a committee.
        let members = |r: &LookupResult| -> Vec<PeerRef> {
            let mut seen = HashSet::new();
            r.successors.iter().filter(|s| seen.insert(s.peer.clone())).take(n).map(|s| s.peer.clone()).collect()
        };
        match purpose {
            RingPurpose::Check(chunk) => {
                self.led.ring_pending.remove(&chunk);
                match result {
                    Ok(r) if self.complete_view(members(r).len()).is_some() => {
                        self.ledger_input(chunks::Input::Ring { chunk, members: members(r) });
                    }
                    // A successor list still filling (right after joins or
                    // churn) is no committee: look again shortly rather than
                    // start or change a chain on it.
                    Ok(_) => self.led.recheck.push((Instant::now() + RECHECK_INCOMPLETE, chunk)),
                    Err(_) => {}
                }
            }
            RingPurpose::Insert { chunk, tx } => {
                if let Ok(r) = result {
                    self.ledger_input(chunks::Input::Submit { chunk, tx, members: members(r) });
                }
            }
            RingPurpose::Submit { chunk, tx, name, reply } => match result {
                Ok(r) => {
                    let members = members(r);
                    let committee = members.iter().map(crate::report::peer_label_bytes).collect();
                    self.ledger_input(chunks::Input::Submit { chunk, tx, members });
                    let _ = reply.send(Ok(SubmitReport { name, chunk: chunk.0, committee }));
                }
                Err(e) => {
                    let _ = reply.send(Err(ApiError::Failed(format!("lookup of chunk {} failed: {e}", chunk.0))));
                }
            },
        }
        true
    }

    /// Ask the committee of a transaction's chunk to order it.
    pub(super) fn insert(&mut self, tx: Tx) {
        let name = match &tx {
            Tx::Put(rr) => &rr.name,
            Tx::Delete { name, .. } => name,
            Tx::Reconfigure { .. } => return,
        };
        let Ok(key) = name_key(name) else { return };
        let chunk = self.settings.params.chunk_of(&key);
        let id = self.chord.start_lookup(Instant::now(), self.settings.params.chunk_start(chunk));
        self.led.ring_lookups.insert(id, RingPurpose::Insert { chunk, tx });
    }

    /// Committed RRsets whose TTL ran out, in chunks whose committee has this
    /// node as the designated refresher of that RRset: the member at
    /// position blake3(name, type) mod n, so one member proposes each
    /// refresh (and all of them validate it).
    pub(super) fn expired(&mut self) -> Vec<(dhtr_ledger::RRset, bool)> {
        const MAX: usize = 256;
        let now = unix_now();
        let mut out = Vec::new();
        // Start after the chunk the last scan stopped at, so records that
        // keep failing to refresh cannot starve the others.
        let mut chunks = self.led.chunks.chunks();
        let start = chunks.iter().position(|c| c.0 > self.led.refresh_cursor).unwrap_or(0);
        chunks.rotate_left(start);
        for chunk in chunks {
            self.led.refresh_cursor = chunk.0;
            if self.led.ledger.corrupt.contains(&chunk) {
                continue;
            }
            let Ok(Some(tip)) = dhtr_ledger::Store::tip(&self.led.ledger.store, chunk) else { continue };
            let members = &tip.committee.members;
            if !members.contains(&self.led.me) || members.is_empty() {
                continue;
            }
            let Ok(records) = self.led.ledger.store.records(chunk) else { continue };
            for rr in records {
                let h = blake3::hash(&dhtr_ledger::types::cbor(&(&rr.name, rr.rtype)));
                let pick = u64::from_le_bytes(h.as_bytes()[..8].try_into().unwrap_or([0; 8])) as usize % members.len();
                if members[pick] == self.led.me && dhtr_resolver::pipeline::convert::remaining_ttl(&rr, now) == 0 {
                    let unused = self.rec.unused(&rr.name, rr.rtype, self.settings.dns.unused_after);
                    out.push((rr, unused));
                    if out.len() >= MAX {
                        return out;
                    }
                }
            }
        }
        out
    }

    /// `POST /test/submit`: order the test record of `name`.
    pub(super) fn test_submit(&mut self, name: String, reply: SubmitReply) {
        if !self.led.test_hooks {
            let _ = reply.send(Err(ApiError::NotFound("test hooks are off (start the node with --test-hooks)".into())));
            return;
        }
        let canonical = match canonical_name(&name) {
            Ok(c) => c,
            Err(e) => {
                let _ = reply.send(Err(ApiError::BadRequest(format!("invalid name: {e}"))));
                return;
            }
        };
        let key = match name_key(&canonical) {
            Ok(k) => k,
            Err(e) => {
                let _ = reply.send(Err(ApiError::BadRequest(e.to_string())));
                return;
            }
        };
        let chunk = self.settings.params.chunk_of(&key);
        let tx = Tx::Put(test_record(&canonical));
        let id = self.chord.start_lookup(Instant::now(), self.settings.params.chunk_start(chunk));
        self.led.ring_lookups.insert(id, RingPurpose::Submit { chunk, tx, name: canonical, reply });
    }

    /// Does this node serve the committed state of `chunk` (a verified chain)?
    pub(super) fn led_serves(&self, chunk: ChunkId) -> bool {
        !self.led.ledger.corrupt.contains(&chunk)
    }

    /// This node, as ledger messages name it.
    pub(super) fn led_me(&self) -> &PeerRef {
        &self.led.me
    }

    /// The ledger store, for reads.
    pub(super) fn led_store(&self) -> &dhtr_ledger::rocks::RocksStore {
        &self.led.ledger.store
    }

    /// `GET /chain`.
    pub(super) fn chain(&self, chunk: u32, from: u64, limit: u64) -> Result<ChainReport, ApiError> {
        let chunk = ChunkId(chunk);
        if self.led.ledger.corrupt.contains(&chunk) {
            return Err(ApiError::NotFound(format!(
                "chunk {} failed verification at start and is not served; see /status",
                chunk.0
            )));
        }
        crate::ledger::chain_report(&self.led.ledger.store, chunk, from, limit)
    }

    /// The ledger part of `/status`.
    pub(super) fn ledger_report(&self) -> LedgerReport {
        let mut r = self.led.ledger.report.clone();
        r.chunks = self
            .led
            .chunks
            .chunks()
            .into_iter()
            .filter_map(|c| crate::ledger::chunk_report(&self.led.ledger.store, c, &self.led.me))
            .collect();
        r.joining = self.led.chunks.joining();
        r
    }

    pub(super) fn on_ledger_message(&mut self, e: request_response::Event<LedgerInbound, ()>) {
        match e {
            request_response::Event::Message { peer, message, .. } => match message {
                request_response::Message::Request { request, channel, .. } => {
                    if self.banned.contains_key(&peer) {
                        return;
                    }
                    let msg = match request {
                        LedgerInbound::Message(m) => m,
                        LedgerInbound::Bad { reason, detail } => return self.penalise(peer, "ledger", reason, &detail),
                    };
                    let _ = self.swarm.behaviour_mut().ledger.send_response(channel, ());
                    self.metrics.ledger.message(Direction::In, msg.body.kind());
                    self.ledger_input(chunks::Input::Message { from: PeerRef(peer.to_bytes()), msg });
                }
                request_response::Message::Response { .. } => {}
            },
            request_response::Event::OutboundFailure { peer, error, .. } => {
                debug!(%peer, "ledger message not delivered: {error}");
            }
            request_response::Event::InboundFailure { peer, error, .. } => match &error {
                InboundFailure::Timeout => self.metrics.stream_dropped("ledger", "timeout"),
                _ => debug!(%peer, "inbound ledger message failed: {error}"),
            },
            request_response::Event::ResponseSent { .. } => {}
        }
    }
}
