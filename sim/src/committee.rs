//! A seeded, virtual-time network of one chunk's committee running the
//! unchanged [`Replica`], with delay, loss, duplication, reordering,
//! partitions, crash-restarts and Byzantine members. Messages cross the
//! network as bytes, so garbage exercises the real decoder.
//!
//! After a run, [`Sim::check`] verifies agreement (no two honest replicas
//! commit different blocks at one height), validity (every committed `Put`
//! is one that honest validators accept; a quorum needs f+1 of them) and,
//! when asked, liveness (every valid submitted transaction committed).
//!
//! The Byzantine behaviours are the network's [`Adversary`]: it sees every
//! message a member sends and puts on the wire what that member would.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use dhtr_ledger::msg::{Body, Message, Proposal};
use dhtr_ledger::replica::{Config, Event, Input, Output, Replica};
use dhtr_ledger::sign::{KeySigner, Signer};
use dhtr_ledger::store::MemStore;
use dhtr_ledger::types::{self, Committee, Digest, Phase, Tx, Vote, vote_digest};
use dhtr_protocol::{ChunkId, PeerRef};
use rand::Rng;
use serde_bytes::ByteBuf;

use crate::kit::{Adversary, Envelope, Kit, Net, NetConfig, Timers, Wire};
use crate::ledger::{self, CLIENT_RETRY, Packet, agreement, is_valid, missing, put, verify_chain};

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

enum What {
    Deliver(Envelope<Packet>),
    Timer(usize),
    Validated {
        node: usize,
        block: Digest,
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
    replica: Option<Replica>,
    store: MemStore,
}

/// The simulated committee.
pub struct Sim {
    cfg: SimConfig,
    kit: Kit<What>,
    net: Net<Packet>,
    /// Whether the configured partition is in force.
    partitioned: bool,
    timers: Timers,
    nodes: Vec<Node>,
    byzantine: Byzantine,
    index: HashMap<PeerRef, usize>,
    committee: Committee,
    /// Every valid transaction submitted.
    pub valid: HashSet<Digest>,
    /// Every transaction submitted so far (for client retries).
    txs: Vec<Tx>,
    report: Report,
}

impl Sim {
    /// Build the committee and schedule the clients, crashes and restarts.
    pub fn new(cfg: SimConfig) -> Sim {
        let mut rng = crate::kit::rng(cfg.seed);
        let nodes: Vec<Node> = (0..cfg.members)
            .map(|_| Node { signer: ledger::identity(&mut rng), replica: None, store: MemStore::new() })
            .collect();
        let committee = Committee { epoch: 0, members: nodes.iter().map(|n| n.signer.peer().clone()).collect() };
        let index = committee.members.iter().enumerate().map(|(i, p)| (p.clone(), i)).collect();
        let byzantine = Byzantine {
            behaviour: (0..cfg.members)
                .map(|i| cfg.byzantine.iter().find(|(j, _)| *j == i).map_or(Behaviour::Honest, |(_, b)| *b))
                .collect(),
            signers: nodes.iter().map(|n| n.signer.clone()).collect(),
            members: committee.members.clone(),
            seen_votes: vec![Vec::new(); cfg.members],
        };
        let net = Net::new(NetConfig {
            loss: cfg.loss,
            duplicate: cfg.duplicate,
            ..NetConfig::latency(cfg.delay.0, cfg.delay.1)
        });
        let mut sim = Sim {
            kit: Kit::with_rng(rng),
            net,
            partitioned: false,
            timers: Timers::new(cfg.members),
            nodes,
            byzantine,
            index,
            committee,
            valid: HashSet::new(),
            txs: Vec::new(),
            report: Report::default(),
            cfg,
        };
        sim.sync_partition();
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
            let at = ledger::submit_time(&mut sim.kit.rng, sim.cfg.submit_window);
            sim.kit.schedule(at, What::Submit(tx));
        }
        sim.kit.schedule(CLIENT_RETRY, What::Retry);
        for (i, down, up) in sim.cfg.restarts.clone() {
            sim.kit.schedule(down, What::Crash(i));
            sim.kit.schedule(up, What::Restart(i));
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
        self.timers.clear(i);
        self.drain(i);
    }

    fn is_honest(&self, i: usize) -> bool {
        self.byzantine.behaviour[i] == Behaviour::Honest
    }

    /// Cut the configured group off while its partition lasts, heal after.
    fn sync_partition(&mut self) {
        let now = self.kit.now();
        let Some((from, until, group)) = &self.cfg.partition else { return };
        let active = now >= *from && now < *until;
        if active != self.partitioned {
            self.partitioned = active;
            if active {
                self.net.partition(group, 0..self.nodes.len());
            } else {
                self.net.heal();
            }
        }
    }

    /// Run the scenario to its end and return what happened.
    pub fn run(mut self) -> (Sim, Report) {
        let end = self.cfg.duration;
        while let Some(what) = self.kit.next(end) {
            self.sync_partition();
            self.dispatch(what);
        }
        self.kit.finish(end);
        let mut report = std::mem::take(&mut self.report);
        report.messages = self.net.stats.sent;
        report.heights = (0..self.nodes.len())
            .filter(|&i| self.is_honest(i))
            .map(|i| self.nodes[i].store.chain(CHUNK).len() as u64 - 1)
            .collect();
        (self, report)
    }

    fn input(&mut self, i: usize, input: Input) {
        let (now, unix) = (self.kit.instant(), ledger::unix(self.kit.now()));
        let n = &mut self.nodes[i];
        let Some(r) = n.replica.as_mut() else { return };
        r.handle(now, unix, input, &mut n.store);
        self.drain(i);
    }

    fn dispatch(&mut self, what: What) {
        match what {
            What::Deliver(env) => {
                let Ok(m) = env.msg.decode() else {
                    self.report.undecodable += 1;
                    return;
                };
                if let Body::Vote(v) = &m.body {
                    self.byzantine.seen_votes[env.to].push(v.clone());
                }
                let from = self.nodes[env.from].signer.peer().clone();
                self.input(env.to, Input::Message { from, body: m.body });
            }
            What::Timer(i) => {
                if self.timers.fire(i, self.kit.now()) {
                    self.input(i, Input::Timeout);
                }
            }
            What::Validated { node, block, verdicts } => self.input(node, Input::Validated { block, verdicts }),
            What::Retry => {
                let committed = ledger::tx_ids(&self.honest_chains());
                let again: Vec<Tx> = self.txs.iter().filter(|t| !committed.contains(&t.id())).cloned().collect();
                for tx in again {
                    for i in 0..self.nodes.len() {
                        self.input(i, Input::Submit(tx.clone()));
                    }
                }
                self.kit.after(CLIENT_RETRY, What::Retry);
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

    /// Carry out node `i`'s outputs.
    fn drain(&mut self, i: usize) {
        while let Some(out) = self.nodes[i].replica.as_mut().and_then(|r| r.poll_output()) {
            match out {
                Output::Send { to, msg } => {
                    let Some(&j) = self.index.get(&to) else { continue };
                    let env = Envelope::new(i, j, Packet::Msg(Box::new(msg)));
                    self.kit.send(&mut self.net, &mut self.byzantine, env, What::Deliver);
                }
                Output::Validate { block, txs, .. } => {
                    let approve = self.byzantine.behaviour[i] == Behaviour::ApproveAll;
                    let verdicts = txs.iter().map(|t| approve || is_valid(t)).collect();
                    let delay = ledger::validation_delay(&mut self.kit.rng);
                    self.kit.after(delay, What::Validated { node: i, block, verdicts });
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
        self.kit.wake(&mut self.timers, i, next, What::Timer(i));
    }

    fn honest_chains(&self) -> Vec<ledger::Chain> {
        (0..self.nodes.len()).filter(|&i| self.is_honest(i)).map(|i| self.nodes[i].store.chain(CHUNK)).collect()
    }

    /// Each member's state, for failure messages.
    pub fn describe(&self) -> String {
        let mut out = String::new();
        for (i, n) in self.nodes.iter().enumerate() {
            match &n.replica {
                Some(r) => {
                    out += &format!(
                        "\n  member {i} ({:?}): height {} view {} changing_to {:?} pending {} {}",
                        self.byzantine.behaviour[i],
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
        let chains = self.honest_chains();
        // Agreement: one block per height among honest replicas.
        agreement(&chains)?;
        // Validity: every committed transaction is one honest validators
        // accept, and every certificate verifies.
        for c in &chains {
            verify_chain(NETWORK, CHUNK, c, Some(&self.committee))?;
        }
        if expect_live {
            for (k, c) in chains.iter().enumerate() {
                let missing = missing(c, &self.valid);
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

/// The members' behaviours, as the network's adversary: every message a
/// member sends passes through here and comes out as that member would
/// send it.
struct Byzantine {
    behaviour: Vec<Behaviour>,
    signers: Vec<Arc<KeySigner>>,
    members: Vec<PeerRef>,
    /// Votes each member received, for replay attacks.
    seen_votes: Vec<Vec<Vote>>,
}

impl Adversary<Packet> for Byzantine {
    fn on_send(&mut self, env: Envelope<Packet>, wire: &mut Wire<'_, Packet>) {
        let (i, j) = (env.from, env.to);
        let Packet::Msg(m) = &env.msg else { return wire.send(env) };
        let chunk = m.chunk;
        let to_j = |body: Body| Envelope::new(i, j, Packet::Msg(Box::new(Message { chunk, body })));
        match self.behaviour[i] {
            Behaviour::Silent => {}
            Behaviour::Equivocate => {
                if let Body::Vote(v) = &m.body {
                    // Also sign a vote for another block: conflicting votes.
                    let mut other = v.clone();
                    other.block = Digest::of("twin", &v.block.0);
                    let d = vote_digest(NETWORK, CHUNK, other.view, other.height, other.phase, &other.block);
                    other.sig = ByteBuf::from(self.signers[i].sign(&d));
                    wire.send(to_j(Body::Vote(other)));
                }
                if let Body::Proposal(p) = &m.body {
                    // Half the committee gets a different, properly signed block.
                    if j % 2 == 0 {
                        let twin = self.twin(i, p);
                        return wire.send(to_j(Body::Proposal(twin)));
                    }
                }
                wire.send(env);
            }
            Behaviour::Forger => {
                let vote = if let Body::Vote(v) = &m.body { Some(v.clone()) } else { None };
                wire.send(env);
                if let Some(v) = vote {
                    // A vote in another member's name, with our signature.
                    let mut forged = v.clone();
                    forged.voter = self.members[(i + 1) % self.members.len()].clone();
                    wire.send(to_j(Body::Vote(forged)));
                    // A replay of an old vote somebody else cast.
                    if !self.seen_votes[i].is_empty() {
                        let k = wire.rng().random_range(0..self.seen_votes[i].len());
                        let old = self.seen_votes[i][k].clone();
                        wire.send(to_j(Body::Vote(old)));
                    }
                    // Our own vote re-signed for another phase's digest.
                    let mut wrong = v;
                    wrong.phase = if wrong.phase == Phase::Prepare { Phase::Commit } else { Phase::Prepare };
                    wire.send(to_j(Body::Vote(wrong)));
                }
            }
            Behaviour::Garbage => {
                wire.send(env);
                let len = wire.rng().random_range(0..200);
                let junk: Vec<u8> = (0..len).map(|_| wire.rng().random()).collect();
                wire.send(Envelope::new(i, j, Packet::Raw(junk)));
                // Valid CBOR, wrong shape.
                wire.send(Envelope::new(i, j, Packet::Raw(types::cbor(&("not", "a", "message", 42)))));
            }
            Behaviour::Honest | Behaviour::ApproveAll => wire.send(env),
        }
    }
}

impl Byzantine {
    /// A conflicting proposal for the same view and height, signed by node `i`.
    fn twin(&self, i: usize, p: &Proposal) -> Proposal {
        let mut block = p.block.clone();
        block.time += 1;
        block.txs.reverse();
        block.txs.push(put("twin.example.", &[1, 2, 3, 4]));
        let d = vote_digest(NETWORK, CHUNK, p.view, block.height, Phase::PrePrepare, &block.hash());
        Proposal { view: p.view, block, proposer: p.proposer.clone(), sig: ByteBuf::from(self.signers[i].sign(&d)) }
    }
}
