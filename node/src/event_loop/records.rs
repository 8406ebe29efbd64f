//! Network reads in the Swarm task: answering members' records requests
//! from this node's committed state, and reading an RRset from every member
//! of a chunk's committee for the DNS side (strict majority, seed 001 §4.2).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use dhtr_ledger::Store;
use dhtr_protocol::key::name_key;
use dhtr_protocol::{ChunkId, LookupId, LookupResult, NodeInfo};
use libp2p::PeerId;
use libp2p::request_response::{self, OutboundRequestId};
use tokio::sync::oneshot;
use tracing::debug;

use super::{NodeLoop, to_multiaddrs};
use crate::records::codec::RecordsInbound;
use crate::records::majority::{self, Verdict};
use crate::records::{CNAME, HistoryEntry, MAX_HISTORY, MemberState, RecordsRequest, RecordsResponse};

/// How long a chunk's committee, once looked up, is used for reads (it is
/// also forgotten whenever this node's neighbours change).
const COMMITTEE_TTL: Duration = Duration::from_secs(30);

/// What a network read found.
#[derive(Clone, Debug)]
pub struct ReadOutcome {
    /// The committee's verdict.
    pub verdict: Verdict,
    /// The committee's size.
    pub members: usize,
    /// The chunk read.
    pub chunk: ChunkId,
}

/// Why a network read could not be made.
#[derive(Clone, Debug, thiserror::Error)]
pub enum ReadError {
    /// The name cannot be a key.
    #[error("invalid name: {0}")]
    Name(String),
    /// The committee could not be found.
    #[error("lookup of the chunk's committee failed: {0}")]
    Lookup(String),
}

/// Where a read's outcome goes.
pub type ReadReply = oneshot::Sender<Result<ReadOutcome, ReadError>>;

struct PendingRead {
    request: RecordsRequest,
    reply: ReadReply,
    members: usize,
    states: Vec<MemberState>,
    outstanding: usize,
}

/// The records part of the node's state.
pub struct RecordsState {
    committees: HashMap<ChunkId, (Vec<NodeInfo>, usize, Instant)>,
    lookups: HashMap<LookupId, Vec<(RecordsRequest, ReadReply)>>,
    pending_lookup: HashMap<ChunkId, LookupId>,
    reads: HashMap<u64, PendingRead>,
    requests: HashMap<OutboundRequestId, u64>,
    next_read: u64,
    /// When each (name, type) was last read through this node as a member
    /// (every network read asks every member, so all members see the same
    /// reads): records nobody reads are removed instead of refreshed.
    last_read: HashMap<(String, u16), Instant>,
    started: Instant,
}

/// Most remembered reads; beyond it the oldest half is forgotten.
const MAX_READS_TRACKED: usize = 1 << 20;

impl RecordsState {
    /// Empty state of a node started at `now`.
    pub fn new(now: Instant) -> RecordsState {
        RecordsState {
            committees: HashMap::new(),
            lookups: HashMap::new(),
            pending_lookup: HashMap::new(),
            reads: HashMap::new(),
            requests: HashMap::new(),
            next_read: 0,
            last_read: HashMap::new(),
            started: now,
        }
    }

    /// Remember that (name, type), and the CNAME at name, were read.
    fn note_read(&mut self, req: &RecordsRequest) {
        if req.history {
            return;
        }
        let now = Instant::now();
        if self.last_read.len() >= MAX_READS_TRACKED {
            let mut times: Vec<Instant> = self.last_read.values().copied().collect();
            times.sort();
            let median = times[times.len() / 2];
            self.last_read.retain(|_, t| *t >= median);
        }
        self.last_read.insert((req.name.clone(), req.rtype), now);
        self.last_read.insert((req.name.clone(), CNAME), now);
    }

    /// Has nobody read (name, type) through this node for `period` (and has
    /// this node been up that long)?
    pub fn unused(&self, name: &str, rtype: u16, period: std::time::Duration) -> bool {
        if self.started.elapsed() < period {
            return false;
        }
        self.last_read.get(&(name.to_string(), rtype)).is_none_or(|t| t.elapsed() >= period)
    }

    /// Forget looked-up committees (the ring changed).
    pub fn forget_committees(&mut self) {
        self.committees.clear();
    }
}

/// The committed history of (name, type) in a chunk's chain (type 0: every
/// type), the latest [`MAX_HISTORY`] versions.
fn history(store: &dhtr_ledger::rocks::RocksStore, req: &RecordsRequest) -> Vec<HistoryEntry> {
    let Ok(Some(tip)) = store.tip(req.chunk) else { return Vec::new() };
    let mut out = Vec::new();
    // Bounded work per request: the latest HISTORY_SCAN blocks.
    for h in tip.height.saturating_sub(HISTORY_SCAN).max(1)..=tip.height {
        let Ok(Some((block, cert))) = store.block(req.chunk, h) else { break };
        for tx in &block.txs {
            let (name, rtype, rrset) = match tx {
                dhtr_ledger::Tx::Put(rr) => (&rr.name, rr.rtype, Some(rr.clone())),
                dhtr_ledger::Tx::Delete { name, rtype } => (name, *rtype, None),
                dhtr_ledger::Tx::Reconfigure { .. } => continue,
            };
            if *name == req.name && (req.rtype == 0 || rtype == req.rtype) {
                out.push(HistoryEntry {
                    height: h,
                    time: block.time,
                    view: cert.view,
                    rrset,
                    name: name.clone(),
                    rtype,
                    signers: cert.sigs.iter().map(|(p, _)| p.clone()).collect(),
                });
            }
        }
    }
    let skip = out.len().saturating_sub(MAX_HISTORY);
    let mut out = out.split_off(skip);
    // The answer must fit in one response.
    while out.len() > 1 && dhtr_ledger::types::cbor(&out).len() > crate::records::MAX_RESPONSE_BYTES / 2 {
        out.remove(0);
    }
    out
}

/// Most blocks scanned for one history request.
const HISTORY_SCAN: u64 = 4096;

impl NodeLoop {
    /// This node's committed state for a request, or `NotHeld`; falsified
    /// when `lie` (the test-only liar answering other nodes).
    fn member_state(&self, req: &RecordsRequest, lie: bool) -> RecordsResponse {
        let Some(tip) = self.member_tip(req.chunk) else { return RecordsResponse::NotHeld };
        let store = self.led_store();
        let mut rrset = store.rrset(req.chunk, &req.name, req.rtype).ok().flatten();
        let cname = store.rrset(req.chunk, &req.name, CNAME).ok().flatten();
        if lie {
            // TEST ONLY (`--test-liar`): a lying member.
            if let Some(rr) = rrset.as_mut() {
                for d in rr.rdata.iter_mut() {
                    if let Some(last) = d.last_mut() {
                        *last ^= 0x5a;
                    }
                }
            }
        }
        let history = req.history.then(|| history(store, req));
        RecordsResponse::State(MemberState { height: tip.height, rrset, cname, history })
    }

    /// Start a network read of (canonical name, type), or of its history.
    pub(super) fn network_read(&mut self, name: String, rtype: u16, history: bool, reply: ReadReply) {
        let key = match name_key(&name) {
            Ok(k) => k,
            Err(e) => {
                let _ = reply.send(Err(ReadError::Name(e.to_string())));
                return;
            }
        };
        let chunk = self.settings.params.chunk_of(&key);
        let request = RecordsRequest { chunk, name, rtype, history };
        // A current member knows the committee from its own chain: no
        // lookup, and nothing a lookup's last hop could make up.
        if let Some(members) = self.own_committee(chunk) {
            let size = members.len();
            return self.read_from(members, size, request, reply);
        }
        if let Some((members, size, at)) = self.rec.committees.get(&chunk)
            && at.elapsed() < COMMITTEE_TTL
        {
            let (members, size) = (members.clone(), *size);
            return self.read_from(members, size, request, reply);
        }
        let id = match self.rec.pending_lookup.get(&chunk) {
            Some(id) => *id,
            None => {
                let id = self.chord.start_lookup(Instant::now(), self.settings.params.chunk_start(chunk));
                self.rec.pending_lookup.insert(chunk, id);
                id
            }
        };
        self.rec.lookups.entry(id).or_default().push((request, reply));
    }

    /// A finished Chord lookup that network reads were waiting for.
    pub(super) fn on_records_lookup(
        &mut self,
        id: LookupId,
        result: &Result<LookupResult, dhtr_protocol::LookupError>,
    ) -> bool {
        let Some(waiting) = self.rec.lookups.remove(&id) else { return false };
        self.rec.pending_lookup.retain(|_, l| *l != id);
        match result {
            Ok(r) => {
                let n = self.settings.params.committee_size();
                let mut seen = std::collections::HashSet::new();
                let members: Vec<NodeInfo> =
                    r.successors.iter().filter(|s| seen.insert(s.peer.clone())).take(n).cloned().collect();
                // Majority of the full committee unless the ring really is
                // smaller: a short, still-filling list must not let one or
                // two answers pass for a majority.
                let size = self.complete_view(members.len()).unwrap_or(n);
                if let Some((req, _)) = waiting.first() {
                    self.rec.committees.insert(req.chunk, (members.clone(), size, Instant::now()));
                }
                for (request, reply) in waiting {
                    self.read_from(members.clone(), size, request, reply);
                }
            }
            Err(e) => {
                for (_, reply) in waiting {
                    let _ = reply.send(Err(ReadError::Lookup(e.to_string())));
                }
            }
        }
        true
    }

    /// The tip of this node's verified chain of `chunk`, if this node is in
    /// its committee. A node that left the committee (or is still joining)
    /// holds a chain that may lag: it neither votes in reads nor reads from it.
    fn member_tip(&self, chunk: ChunkId) -> Option<dhtr_ledger::Tip> {
        if !self.led_serves(chunk) {
            return None;
        }
        let tip = self.led_store().tip(chunk).ok().flatten()?;
        tip.committee.contains(self.led_me()).then_some(tip)
    }

    /// The committee at the tip of this node's chain of `chunk`, if this
    /// node is in it.
    fn own_committee(&self, chunk: ChunkId) -> Option<Vec<NodeInfo>> {
        let tip = self.member_tip(chunk)?;
        let infos = tip
            .committee
            .members
            .iter()
            .map(|p| {
                let addrs = PeerId::from_bytes(&p.0).map(|id| self.addrs_of(&id)).unwrap_or_default();
                NodeInfo::new(p.clone(), addrs.iter().map(|a| dhtr_protocol::Addr(a.to_vec())).collect())
            })
            .collect();
        Some(infos)
    }

    /// Ask every distinct member; a verdict needs more than `size / 2`
    /// identical states (a list naming one peer several times counts it once).
    fn read_from(&mut self, mut members: Vec<NodeInfo>, size: usize, request: RecordsRequest, reply: ReadReply) {
        let mut seen = std::collections::HashSet::new();
        members.retain(|m| seen.insert(m.peer.clone()));
        let read = self.rec.next_read;
        self.rec.next_read += 1;
        let me = self.led_me().clone();
        let mut pending =
            PendingRead { request: request.clone(), reply, members: size, states: Vec::new(), outstanding: 0 };
        for m in &members {
            if m.peer == me {
                // Our own committed state counts as one vote.
                if let RecordsResponse::State(s) = self.member_state(&request, false) {
                    if s.rrset.is_some() || s.cname.is_some() {
                        self.rec.note_read(&request);
                    }
                    pending.states.push(s);
                }
                continue;
            }
            let Ok(peer) = PeerId::from_bytes(&m.peer.0) else { continue };
            if self.banned.contains_key(&peer) {
                continue;
            }
            let rid = self.swarm.behaviour_mut().records.send_request_with_addresses(
                &peer,
                RecordsInbound::Request(request.clone()),
                to_multiaddrs(&m.addrs),
            );
            self.rec.requests.insert(rid, read);
            pending.outstanding += 1;
        }
        self.rec.reads.insert(read, pending);
        self.maybe_finish_read(read);
    }

    fn maybe_finish_read(&mut self, read: u64) {
        let Some(p) = self.rec.reads.get(&read) else { return };
        if p.outstanding > 0 && majority::undecided(p.members, &p.states, p.outstanding) {
            return;
        }
        if let Some(p) = self.rec.reads.remove(&read) {
            let verdict = majority::tally(p.members, &p.states);
            if let Verdict::Agreed(a) = &verdict
                && a.dissent > 0
            {
                debug!(name = %p.request.name, dissent = a.dissent, "a committee member disagreed with the majority");
            }
            let _ = p.reply.send(Ok(ReadOutcome { verdict, members: p.members, chunk: p.request.chunk }));
        }
    }

    pub(super) fn on_records_message(&mut self, e: request_response::Event<RecordsInbound, RecordsResponse>) {
        match e {
            request_response::Event::Message { peer, message, .. } => match message {
                request_response::Message::Request { request, channel, .. } => {
                    if self.banned.contains_key(&peer) {
                        return;
                    }
                    let request = match request {
                        RecordsInbound::Request(r) => r,
                        RecordsInbound::Bad { reason, detail } => {
                            return self.penalise(peer, "records", reason, &detail);
                        }
                    };
                    let response = self.member_state(&request, self.settings.test_liar);
                    // Only reads of committed records are remembered (bounded
                    // by what the chain holds, whatever peers ask for).
                    if matches!(&response, RecordsResponse::State(s) if s.rrset.is_some() || s.cname.is_some()) {
                        self.rec.note_read(&request);
                    }
                    let _ = self.swarm.behaviour_mut().records.send_response(channel, response);
                }
                request_response::Message::Response { request_id, response } => {
                    if let Some(read) = self.rec.requests.remove(&request_id) {
                        if let Some(p) = self.rec.reads.get_mut(&read) {
                            p.outstanding = p.outstanding.saturating_sub(1);
                            if let RecordsResponse::State(s) = response {
                                p.states.push(s);
                            }
                        }
                        self.maybe_finish_read(read);
                    }
                }
            },
            request_response::Event::OutboundFailure { request_id, peer, error, .. } => {
                debug!(%peer, "records request failed: {error}");
                if let Some(read) = self.rec.requests.remove(&request_id) {
                    if let Some(p) = self.rec.reads.get_mut(&read) {
                        p.outstanding = p.outstanding.saturating_sub(1);
                    }
                    self.maybe_finish_read(read);
                }
            }
            request_response::Event::InboundFailure { .. } | request_response::Event::ResponseSent { .. } => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dhtr_protocol::ChunkId;

    fn req(name: &str, rtype: u16) -> RecordsRequest {
        RecordsRequest { chunk: ChunkId(1), name: name.into(), rtype, history: false }
    }

    #[test]
    fn records_nobody_reads_are_unused_after_the_period() {
        let long_ago = Instant::now() - Duration::from_secs(100);
        let mut s = RecordsState::new(long_ago);
        let period = Duration::from_secs(50);
        assert!(s.unused("a.test.", 1, period), "never read since a start long ago");
        s.note_read(&req("a.test.", 1));
        assert!(!s.unused("a.test.", 1, period), "just read");
        assert!(!s.unused("a.test.", CNAME, period), "a read also covers the CNAME at the name");
        // History reads are audits, not uses.
        s.note_read(&RecordsRequest { history: true, ..req("b.test.", 1) });
        assert!(s.unused("b.test.", 1, period));
        // A node that just started has seen too little to call anything unused.
        let fresh = RecordsState::new(Instant::now());
        assert!(!fresh.unused("a.test.", 1, period));
    }
}
