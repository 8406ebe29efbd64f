//! A seeded, virtual-time network of one chunk's committee running the
//! unchanged [`Replica`], with delay, loss, duplication, reordering,
//! partitions, crash-restarts and Byzantine members. Messages cross the
//! network as bytes, so garbage exercises the real decoder.
//!
//! After a run, [`Sim::check`] verifies agreement (no two honest replicas
//! commit different blocks at one height), validity (every committed `Put`
//! is one that honest validators accept; a quorum needs f+1 of them) and,
//! when asked, liveness (every valid submitted transaction committed).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dhtr_protocol::sched::Schedule;
use dhtr_protocol::{ChunkId, PeerRef};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_bytes::ByteBuf;

use crate::msg::{self, Body, Message, Proposal};
use crate::replica::{Config, Event, Input, Output, Replica};
use crate::sign::{KeySigner, Signer};
use crate::store::MemStore;
use crate::types::{Committee, Phase, RRset, Tx, Vote, vote_digest};

/// How a simulated member behaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Behaviour {
    /// Follows the protocol.
    Honest,
    /// Sends nothing at all (crashed or muted).
    Silent,
    /// As primary, sends two different signed proposals to two halves of
    /// the committee.
    Equivocate,
    /// Its validator accepts everything, so it votes for invalid blocks and
    /// proposes invalid transactions when primary.
    ApproveAll,
    /// Also sends votes with forged signatures, in other members' names,
    /// and replays old votes.
    Forger,
    /// Also sends random bytes.
    Garbage,
}

/// A whole scenario.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// Seed of every random choice.
    pub seed: u64,
    /// Committee size.
    pub members: usize,
    /// Members that do not behave (index, behaviour).
    pub byzantine: Vec<(usize, Behaviour)>,
    /// Valid transactions submitted by clients.
    pub valid_txs: usize,
    /// Invalid transactions submitted by clients (honest validators refuse them).
    pub invalid_txs: usize,
    /// One-way delay, uniform in this range (random delays reorder).
    pub delay: (Duration, Duration),
    /// Probability a message is lost.
    pub loss: f64,
    /// Probability a message is delivered twice.
    pub duplicate: f64,
    /// A partition: from, until, and the members cut off from the rest.
    pub partition: Option<(Duration, Duration, Vec<usize>)>,
    /// Honest members that crash at a time and restart from their store later.
    pub restarts: Vec<(usize, Duration, Duration)>,
    /// Transactions are submitted during this first stretch of time.
    pub submit_window: Duration,
    /// Total virtual time.
    pub duration: Duration,
}

impl SimConfig {
    /// A calm network of `members` honest members.
    pub fn new(seed: u64, members: usize) -> SimConfig {
        SimConfig {
            seed,
            members,
            byzantine: Vec::new(),
            valid_txs: 20,
            invalid_txs: 0,
            delay: (Duration::from_millis(2), Duration::from_millis(40)),
            loss: 0.0,
            duplicate: 0.0,
            partition: None,
            restarts: Vec::new(),
            submit_window: Duration::from_secs(5),
            duration: Duration::from_secs(120),
        }
    }
}

/// What a run produced.
#[derive(Debug, Default)]
pub struct Report {
    /// Highest committed height at each honest member.
    pub heights: Vec<u64>,
    /// Messages refused, by reason.
    pub rejected: HashMap<&'static str, u64>,
    /// Undecodable messages.
    pub undecodable: u64,
    /// Equivocation events observed by honest members.
    pub equivocations: u64,
    /// View changes completed (summed over honest members).
    pub view_changes: u64,
    /// Messages sent.
    pub messages: u64,
}

const NETWORK: &str = "sim";
const CHUNK: ChunkId = ChunkId(7);
const UNIX_BASE: u64 = 1_700_000_000;
/// How often clients resubmit transactions they have not seen committed
/// (pending transactions are not persisted: a member that restarts forgets
/// them, as the submitting node's retry expects).
const CLIENT_RETRY: Duration = Duration::from_secs(3);

enum What {
    Deliver {
        to: usize,
        from: PeerRef,
        bytes: Vec<u8>,
    },
    Timer(usize),
    Validated {
        node: usize,
        block: crate::types::Digest,
        verdicts: Vec<bool>,
    },
    Submit(Tx),
    Crash(usize),
    Restart(usize),
    /// Clients resubmit what no honest member has committed yet.
    Retry,
}

struct Node {
    signer: Arc<KeySigner>,
    behaviour: Behaviour,
    replica: Option<Replica>,
    store: MemStore,
    timer: Option<Duration>,
    /// Votes this node saw, for replay attacks.
    seen_votes: Vec<Vote>,
}

/// The simulated committee.
pub struct Sim {
    cfg: SimConfig,
    rng: StdRng,
    base: Instant,
    now: Duration,
    queue: Schedule<What>,
    nodes: Vec<Node>,
    index: HashMap<PeerRef, usize>,
    committee: Committee,
    /// Every valid transaction submitted.
    pub valid: HashSet<crate::types::Digest>,
    /// Every transaction submitted so far (for client retries).
    txs: Vec<Tx>,
    report: Report,
}

/// Is a transaction valid in the eyes of honest validators?
pub fn is_valid(tx: &Tx) -> bool {
    match tx {
        Tx::Put(rr) => !rr.rdata.iter().any(|r| r.as_slice() == b"forged"),
        Tx::Delete { .. } => true,
        Tx::Reconfigure { .. } => false,
    }
}

/// A `Put` of one A record, as the simulators' clients submit.
pub fn put(name: &str, rdata: &[u8]) -> Tx {
    Tx::Put(RRset {
        name: name.to_string(),
        rtype: 1,
        class: 1,
        ttl: 300,
        rdata: vec![ByteBuf::from(rdata.to_vec())],
        fetched_at: UNIX_BASE,
    })
}

impl Sim {
    /// Build the committee and schedule the clients, crashes and restarts.
    pub fn new(cfg: SimConfig) -> Sim {
        let mut rng = StdRng::seed_from_u64(cfg.seed);
        let mut nodes = Vec::new();
        for i in 0..cfg.members {
            let mut secret = [0u8; 32];
            rng.fill(&mut secret);
            let behaviour = cfg.byzantine.iter().find(|(j, _)| *j == i).map_or(Behaviour::Honest, |(_, b)| *b);
            nodes.push(Node {
                signer: Arc::new(KeySigner::from_secret(secret)),
                behaviour,
                replica: None,
                store: MemStore::new(),
                timer: None,
                seen_votes: Vec::new(),
            });
        }
        let committee = Committee { epoch: 0, members: nodes.iter().map(|n| n.signer.peer().clone()).collect() };
        let index = committee.members.iter().enumerate().map(|(i, p)| (p.clone(), i)).collect();
        let mut sim = Sim {
            rng,
            base: Instant::now(),
            now: Duration::ZERO,
            queue: Schedule::default(),
            nodes,
            index,
            committee,
            valid: HashSet::new(),
            txs: Vec::new(),
            report: Report::default(),
            cfg,
        };
        for i in 0..sim.nodes.len() {
            sim.open(i);
        }
        for k in 0..sim.cfg.valid_txs + sim.cfg.invalid_txs {
            let tx = if k < sim.cfg.valid_txs {
                let tx = put(&format!("host{k}.example."), &[10, 0, (k / 256) as u8, (k % 256) as u8]);
                sim.valid.insert(tx.id());
                tx
            } else {
                put(&format!("evil{k}.example."), b"forged")
            };
            let at = Duration::from_micros(sim.rng.random_range(0..=sim.cfg.submit_window.as_micros() as u64));
            sim.schedule(at, What::Submit(tx));
        }
        sim.schedule(CLIENT_RETRY, What::Retry);
        for (i, down, up) in sim.cfg.restarts.clone() {
            sim.schedule(down, What::Crash(i));
            sim.schedule(up, What::Restart(i));
        }
        sim
    }

    fn open(&mut self, i: usize) {
        let n = &mut self.nodes[i];
        let signer: Arc<dyn Signer + Send + Sync> = n.signer.clone();
        let cfg = Config {
            view_timeout: Duration::from_millis(500),
            poll_interval: Duration::from_secs(5),
            ..Config::default()
        };
        n.replica =
            Replica::open(cfg, NETWORK, CHUNK, signer, &mut n.store, Some(self.committee.clone())).ok().flatten();
        n.timer = None;
        self.drain(i);
    }

    fn schedule(&mut self, at: Duration, what: What) {
        self.queue.push(at, what);
    }

    fn unix(&self) -> u64 {
        UNIX_BASE + self.now.as_secs()
    }

    fn is_honest(&self, i: usize) -> bool {
        self.nodes[i].behaviour == Behaviour::Honest
    }

    fn cut(&self, a: usize, b: usize) -> bool {
        match &self.cfg.partition {
            Some((from, until, group)) if self.now >= *from && self.now < *until => {
                group.contains(&a) != group.contains(&b)
            }
            _ => false,
        }
    }

    /// Put bytes on the network from node `from` to node `to`.
    fn transmit(&mut self, from: usize, to: usize, bytes: Vec<u8>) {
        self.report.messages += 1;
        if self.cut(from, to) || self.rng.random_bool(self.cfg.loss) {
            return;
        }
        let copies = if self.rng.random_bool(self.cfg.duplicate) { 2 } else { 1 };
        for _ in 0..copies {
            let (lo, hi) = (self.cfg.delay.0.as_micros() as u64, self.cfg.delay.1.as_micros() as u64);
            let at = self.now + Duration::from_micros(self.rng.random_range(lo..=hi.max(lo)));
            let sender = self.nodes[from].signer.peer().clone();
            self.schedule(at, What::Deliver { to, from: sender, bytes: bytes.clone() });
        }
    }

    /// Run the scenario to its end and return what happened.
    pub fn run(mut self) -> (Sim, Report) {
        let end = self.cfg.duration;
        while let Some((at, what)) = self.queue.pop_until(end) {
            self.now = at;
            self.dispatch(what);
        }
        self.now = end;
        let mut report = std::mem::take(&mut self.report);
        report.heights = (0..self.nodes.len())
            .filter(|&i| self.is_honest(i))
            .map(|i| self.nodes[i].store.chain(CHUNK).len() as u64 - 1)
            .collect();
        (self, report)
    }

    fn input(&mut self, i: usize, input: Input) {
        let now = self.base + self.now;
        let unix = self.unix();
        let n = &mut self.nodes[i];
        let Some(r) = n.replica.as_mut() else { return };
        r.handle(now, unix, input, &mut n.store);
        self.drain(i);
    }

    fn dispatch(&mut self, what: What) {
        match what {
            What::Deliver { to, from, bytes } => {
                let Ok(m) = msg::decode(&bytes) else {
                    self.report.undecodable += 1;
                    return;
                };
                if let Body::Vote(v) = &m.body {
                    self.nodes[to].seen_votes.push(v.clone());
                }
                self.input(to, Input::Message { from, body: m.body });
            }
            What::Timer(i) => {
                if self.nodes[i].timer == Some(self.now) {
                    self.nodes[i].timer = None;
                    self.input(i, Input::Timeout);
                }
            }
            What::Validated { node, block, verdicts } => self.input(node, Input::Validated { block, verdicts }),
            What::Retry => {
                let committed: HashSet<_> = (0..self.nodes.len())
                    .filter(|&i| self.is_honest(i))
                    .flat_map(|i| self.nodes[i].store.chain(CHUNK))
                    .flat_map(|(b, _)| b.txs.into_iter().map(|t| t.id()))
                    .collect();
                let again: Vec<Tx> = self.txs.iter().filter(|t| !committed.contains(&t.id())).cloned().collect();
                for tx in again {
                    for i in 0..self.nodes.len() {
                        self.input(i, Input::Submit(tx.clone()));
                    }
                }
                let at = self.now + CLIENT_RETRY;
                self.schedule(at, What::Retry);
            }
            What::Submit(tx) => {
                self.txs.push(tx.clone());
                // A client sends the transaction to every member.
                for i in 0..self.nodes.len() {
                    self.input(i, Input::Submit(tx.clone()));
                }
            }
            What::Crash(i) => self.nodes[i].replica = None,
            What::Restart(i) => self.open(i),
        }
    }

    /// Carry out node `i`'s outputs, bending them to its behaviour.
    fn drain(&mut self, i: usize) {
        while let Some(out) = self.nodes[i].replica.as_mut().and_then(|r| r.poll_output()) {
            match out {
                Output::Send { to, msg } => self.send(i, to, msg),
                Output::Validate { block, txs, .. } => {
                    let approve = self.nodes[i].behaviour == Behaviour::ApproveAll;
                    let verdicts = txs.iter().map(|t| approve || is_valid(t)).collect();
                    // Resolving a name takes a while.
                    let at = self.now + Duration::from_millis(self.rng.random_range(1..30));
                    self.schedule(at, What::Validated { node: i, block, verdicts });
                }
                Output::Committed { .. } => {}
                Output::Event(e) => {
                    if self.is_honest(i) {
                        match e {
                            Event::Rejected { reason, .. } => {
                                *self.report.rejected.entry(reason.as_str()).or_default() += 1
                            }
                            Event::Equivocation { .. } => self.report.equivocations += 1,
                            Event::ViewChanged { .. } => self.report.view_changes += 1,
                            _ => {}
                        }
                    }
                }
            }
        }
        let next = self.nodes[i].replica.as_ref().and_then(|r| r.poll_timeout());
        if let Some(t) = next {
            let at = t.saturating_duration_since(self.base).max(self.now);
            if self.nodes[i].timer.is_none_or(|x| at < x) {
                self.nodes[i].timer = Some(at);
                self.schedule(at, What::Timer(i));
            }
        }
    }

    fn send(&mut self, i: usize, to: PeerRef, m: Message) {
        let Some(&j) = self.index.get(&to) else { return };
        match self.nodes[i].behaviour {
            Behaviour::Silent => {}
            Behaviour::Equivocate => {
                if let Body::Vote(v) = &m.body {
                    // Also sign a vote for another block: conflicting votes.
                    let mut other = v.clone();
                    other.block = crate::types::Digest::of("twin", &v.block.0);
                    let d = vote_digest(NETWORK, CHUNK, other.view, other.height, other.phase, &other.block);
                    other.sig = ByteBuf::from(self.nodes[i].signer.sign(&d));
                    self.transmit(i, j, msg::encode(&Message { chunk: m.chunk, body: Body::Vote(other) }));
                }
                if let Body::Proposal(p) = &m.body {
                    // Half the committee gets a different, properly signed block.
                    if j % 2 == 0 {
                        let twin = self.twin(i, p);
                        self.transmit(i, j, msg::encode(&Message { chunk: m.chunk, body: Body::Proposal(twin) }));
                        return;
                    }
                }
                self.transmit(i, j, msg::encode(&m));
            }
            Behaviour::Forger => {
                self.transmit(i, j, msg::encode(&m));
                if let Body::Vote(v) = &m.body {
                    // A vote in another member's name, with our signature.
                    let mut forged = v.clone();
                    forged.voter = self.committee.members[(i + 1) % self.committee.members.len()].clone();
                    self.transmit(i, j, msg::encode(&Message { chunk: m.chunk, body: Body::Vote(forged) }));
                    // A replay of an old vote somebody else cast.
                    if !self.nodes[i].seen_votes.is_empty() {
                        let k = self.rng.random_range(0..self.nodes[i].seen_votes.len());
                        let old = self.nodes[i].seen_votes[k].clone();
                        self.transmit(i, j, msg::encode(&Message { chunk: m.chunk, body: Body::Vote(old) }));
                    }
                    // Our own vote re-signed for another phase's digest.
                    let mut wrong = v.clone();
                    wrong.phase = if v.phase == Phase::Prepare { Phase::Commit } else { Phase::Prepare };
                    self.transmit(i, j, msg::encode(&Message { chunk: m.chunk, body: Body::Vote(wrong) }));
                }
            }
            Behaviour::Garbage => {
                self.transmit(i, j, msg::encode(&m));
                let len = self.rng.random_range(0..200);
                let junk: Vec<u8> = (0..len).map(|_| self.rng.random()).collect();
                self.transmit(i, j, junk);
                // Valid CBOR, wrong shape.
                self.transmit(i, j, crate::types::cbor(&("not", "a", "message", 42)));
            }
            Behaviour::Honest | Behaviour::ApproveAll => self.transmit(i, j, msg::encode(&m)),
        }
    }

    /// A conflicting proposal for the same view and height, signed by node `i`.
    fn twin(&self, i: usize, p: &Proposal) -> Proposal {
        let mut block = p.block.clone();
        block.time += 1;
        block.txs.reverse();
        block.txs.push(put("twin.example.", &[1, 2, 3, 4]));
        let signer = &self.nodes[i].signer;
        let d = vote_digest(NETWORK, CHUNK, p.view, block.height, Phase::PrePrepare, &block.hash());
        Proposal { view: p.view, block, proposer: p.proposer.clone(), sig: ByteBuf::from(signer.sign(&d)) }
    }

    /// Each member's state, for failure messages.
    pub fn describe(&self) -> String {
        let mut out = String::new();
        for (i, n) in self.nodes.iter().enumerate() {
            match &n.replica {
                Some(r) => {
                    out += &format!(
                        "\n  member {i} ({:?}): height {} view {} changing_to {:?} pending {} {}",
                        n.behaviour,
                        r.committed_height(),
                        r.view(),
                        r.changing_to(),
                        r.pending(),
                        r.debug_views()
                    )
                }
                None => out += &format!("\n  member {i}: down"),
            }
        }
        out
    }

    /// Check agreement and validity, and liveness if `expect_live`.
    pub fn check(&self, expect_live: bool) -> Result<(), String> {
        let honest: Vec<usize> = (0..self.nodes.len()).filter(|&i| self.is_honest(i)).collect();
        let chains: Vec<_> = honest.iter().map(|&i| self.nodes[i].store.chain(CHUNK)).collect();
        let longest = chains.iter().map(|c| c.len()).max().unwrap_or(0);
        // Agreement: one block per height among honest replicas.
        for h in 0..longest {
            let hashes: HashSet<_> = chains.iter().filter_map(|c| c.get(h)).map(|(b, _)| b.hash()).collect();
            if hashes.len() > 1 {
                return Err(format!("agreement violated at height {h}: {} different blocks", hashes.len()));
            }
        }
        // Validity: every committed Put is one honest validators accept, and
        // every certificate verifies.
        for c in &chains {
            for (b, cert) in c.iter().skip(1) {
                if let Some(bad) = b.txs.iter().find(|t| !is_valid(t)) {
                    return Err(format!("validity violated at height {}: committed {bad:?}", b.height));
                }
                if crate::verify::check_certificate(NETWORK, CHUNK, &self.committee, cert).is_err() {
                    return Err(format!("height {}: certificate does not verify", b.height));
                }
            }
        }
        if expect_live {
            for (k, c) in chains.iter().enumerate() {
                let committed: HashSet<_> = c.iter().flat_map(|(b, _)| b.txs.iter().map(|t| t.id())).collect();
                let missing = self.valid.iter().filter(|id| !committed.contains(id)).count();
                if missing > 0 {
                    return Err(format!(
                        "liveness: honest member {} misses {missing} of {} valid transactions (height {})",
                        honest[k],
                        self.valid.len(),
                        c.len() - 1
                    ));
                }
            }
        }
        Ok(())
    }
}
