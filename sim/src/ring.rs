//! A seeded, virtual-time network of whole nodes ([`Chunks`] managers, each
//! with its own store) holding several chunks on a ring whose membership
//! changes: nodes join, leave for good, crash and come back. A ring oracle
//! answers each node's committee look-ups, sometimes with the view from
//! before the last change (Chord's stabilization lag), so members disagree
//! for a while as they do on a real ring.
//!
//! [`RingSim::check`] verifies, per chunk: agreement (every node whose chain
//! decided anything holds the same block at every height), validity (every
//! committed `Put` is valid, every certificate verifies against the
//! committee of its epoch), liveness (every valid transaction committed),
//! and reconfiguration safety (the committee at the tip is the ring's, and
//! every member of it ends with the identical chain).
//!
//! [`Chunks`]: dhtr_ledger::chunks::Chunks

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use dhtr_ledger::chunks::{ChunkEvent, Chunks, ChunksConfig, Input, Output};
use dhtr_ledger::replica::Config;
use dhtr_ledger::sign::{KeySigner, Signer};
use dhtr_ledger::store::{MemStore, Store};
use dhtr_ledger::types::{Digest, Tx};
use dhtr_protocol::{ChunkId, PeerRef};
use rand::Rng;

use crate::kit::{Envelope, Kit, Net, NetConfig, Passthrough, Timers};
use crate::ledger::{self, CLIENT_RETRY, Chain, Packet, agreement, is_valid, missing, put, verify_chain};

/// A ring scenario.
#[derive(Clone, Debug)]
pub struct RingSimConfig {
    /// Seed of every random choice.
    pub seed: u64,
    /// Nodes on the ring at the start.
    pub initial: usize,
    /// Committee size (3f + 1).
    pub committee: usize,
    /// Chunks in play.
    pub chunks: u32,
    /// Nodes that join later, at these times.
    pub joins: Vec<Duration>,
    /// Initial nodes that leave for good (index, time).
    pub leaves: Vec<(usize, Duration)>,
    /// Initial nodes that crash and come back (index, down, up).
    pub crashes: Vec<(usize, Duration, Duration)>,
    /// Probability a committee look-up answers with the ring as it was
    /// before the latest membership change, within `lag` of it.
    pub stale_view: f64,
    /// How long after a change stale views happen.
    pub lag: Duration,
    /// Valid transactions per chunk.
    pub txs_per_chunk: usize,
    /// Invalid transactions per chunk.
    pub invalid_per_chunk: usize,
    /// Transactions are submitted in this first stretch of time.
    pub submit_window: Duration,
    /// One-way delay range.
    pub delay: (Duration, Duration),
    /// Probability a message is lost.
    pub loss: f64,
    /// Total virtual time.
    pub duration: Duration,
    /// Clients resubmit what they have not seen committed (every 3 s);
    /// without it each transaction is submitted exactly once.
    pub client_retry: bool,
}

impl RingSimConfig {
    /// A calm ring of `initial` nodes, committees of 4, three chunks.
    pub fn new(seed: u64, initial: usize) -> RingSimConfig {
        RingSimConfig {
            seed,
            initial,
            committee: 4,
            chunks: 3,
            joins: Vec::new(),
            leaves: Vec::new(),
            crashes: Vec::new(),
            stale_view: 0.0,
            lag: Duration::from_secs(3),
            txs_per_chunk: 10,
            invalid_per_chunk: 0,
            submit_window: Duration::from_secs(60),
            delay: (Duration::from_millis(2), Duration::from_millis(40)),
            loss: 0.0,
            duration: Duration::from_secs(180),
            client_retry: true,
        }
    }
}

/// Figures of a run.
#[derive(Debug, Default)]
pub struct RingReport {
    /// Committed committee changes (counted once per chunk and epoch).
    pub reconfigurations: u64,
    /// Joins that completed.
    pub joins: u64,
    /// Bare geneses replaced.
    pub genesis_replaced: u64,
    /// Messages sent.
    pub messages: u64,
    /// Final height per chunk.
    pub heights: Vec<u64>,
}

const NETWORK: &str = "ringsim";

enum What {
    Deliver(Envelope<Packet>),
    Timer(usize),
    Ring { node: usize, chunk: ChunkId },
    Validated { node: usize, chunk: ChunkId, block: Digest, verdicts: Vec<bool> },
    Submit { chunk: ChunkId, tx: Tx },
    Join(usize),
    Leave(usize),
    Crash(usize),
    Restart(usize),
    Retry,
}

struct Node {
    signer: Arc<KeySigner>,
    pos: u64,
    chunks: Option<Chunks>,
    store: MemStore,
}

/// The simulated ring.
pub struct RingSim {
    cfg: RingSimConfig,
    kit: Kit<What>,
    net: Net<Packet>,
    timers: Timers,
    nodes: Vec<Node>,
    index: HashMap<PeerRef, usize>,
    /// Nodes on the ring now, and before the latest change (with its time).
    ring: Vec<usize>,
    before: Vec<usize>,
    changed: Duration,
    /// Valid transactions submitted, per chunk.
    valid: HashMap<ChunkId, HashSet<Digest>>,
    txs: Vec<(ChunkId, Tx)>,
    epochs: HashSet<(ChunkId, u64)>,
    report: RingReport,
}

impl RingSim {
    /// Build the ring and schedule clients and membership changes.
    pub fn new(cfg: RingSimConfig) -> RingSim {
        let mut rng = crate::kit::rng(cfg.seed);
        let total = cfg.initial + cfg.joins.len();
        let mut nodes = Vec::new();
        for _ in 0..total {
            let signer = ledger::identity(&mut rng);
            let h = blake3::hash(&signer.peer().0);
            let mut p = [0u8; 8];
            p.copy_from_slice(&h.as_bytes()[..8]);
            nodes.push(Node { signer, pos: u64::from_be_bytes(p), chunks: None, store: MemStore::new() });
        }
        let index = nodes.iter().enumerate().map(|(i, n)| (n.signer.peer().clone(), i)).collect();
        let ring: Vec<usize> = (0..cfg.initial).collect();
        let mut net = Net::new(NetConfig { loss: cfg.loss, ..NetConfig::latency(cfg.delay.0, cfg.delay.1) });
        // A node receives nothing until it runs.
        for i in 0..total {
            net.set_down(i, true);
        }
        let mut sim = RingSim {
            kit: Kit::with_rng(rng),
            net,
            timers: Timers::new(total),
            nodes,
            index,
            before: ring.clone(),
            ring,
            changed: Duration::ZERO,
            valid: HashMap::new(),
            txs: Vec::new(),
            epochs: HashSet::new(),
            report: RingReport::default(),
            cfg,
        };
        for i in 0..sim.cfg.initial {
            sim.start(i);
        }
        for c in 0..sim.cfg.chunks {
            let chunk = ChunkId(c);
            for k in 0..sim.cfg.txs_per_chunk + sim.cfg.invalid_per_chunk {
                let tx = if k < sim.cfg.txs_per_chunk {
                    let tx = put(&format!("host{k}.chunk{c}.example."), &[c as u8, k as u8]);
                    sim.valid.entry(chunk).or_default().insert(tx.id());
                    tx
                } else {
                    put(&format!("evil{k}.chunk{c}.example."), b"forged")
                };
                let at = ledger::submit_time(&mut sim.kit.rng, sim.cfg.submit_window);
                sim.kit.schedule(at, What::Submit { chunk, tx });
            }
        }
        if sim.cfg.client_retry {
            sim.kit.schedule(CLIENT_RETRY, What::Retry);
        }
        for (k, at) in sim.cfg.joins.clone().into_iter().enumerate() {
            sim.kit.schedule(at, What::Join(sim.cfg.initial + k));
        }
        for (i, at) in sim.cfg.leaves.clone() {
            sim.kit.schedule(at, What::Leave(i));
        }
        for (i, down, up) in sim.cfg.crashes.clone() {
            sim.kit.schedule(down, What::Crash(i));
            sim.kit.schedule(up, What::Restart(i));
        }
        sim
    }

    fn start(&mut self, i: usize) {
        let cfg = ChunksConfig {
            replica: Config {
                view_timeout: Duration::from_millis(500),
                poll_interval: Duration::from_secs(5),
                refusal_ttl: Duration::from_secs(2),
                ..Config::default()
            },
            check_interval: Duration::from_secs(5),
            recheck: Duration::from_secs(1),
            view_fresh: Duration::from_secs(3),
            join_timeout: Duration::from_secs(30),
            join_retry: Duration::from_secs(1),
            ..ChunksConfig::default()
        };
        let n = &mut self.nodes[i];
        let signer: Arc<dyn Signer + Send + Sync> = n.signer.clone();
        n.chunks = Some(Chunks::new(cfg, NETWORK, signer, n.store.chunks(), self.kit.instant()));
        self.net.set_down(i, false);
        self.timers.clear(i);
        self.drain(i);
    }

    /// The committee of `chunk` on a ring of `members`: the first n nodes at
    /// or after the chunk's start, in ring order.
    fn committee_on(&self, members: &[usize], chunk: ChunkId, n: usize) -> Vec<PeerRef> {
        let start = (u64::MAX / u64::from(self.cfg.chunks)) * u64::from(chunk.0);
        let mut order: Vec<usize> = members.to_vec();
        order.sort_by_key(|&i| self.nodes[i].pos.wrapping_sub(start));
        order.into_iter().take(n).map(|i| self.nodes[i].signer.peer().clone()).collect()
    }

    fn change_ring(&mut self, f: impl FnOnce(&mut Vec<usize>)) {
        self.before = self.ring.clone();
        f(&mut self.ring);
        self.changed = self.kit.now();
    }

    /// Run to the end.
    pub fn run(mut self) -> (RingSim, RingReport) {
        let end = self.cfg.duration;
        while let Some(what) = self.kit.next(end) {
            self.dispatch(what);
        }
        self.kit.finish(end);
        let mut report = std::mem::take(&mut self.report);
        report.messages = self.net.stats.sent;
        report.heights = (0..self.cfg.chunks).map(|c| self.longest(ChunkId(c)).len() as u64).collect();
        (self, report)
    }

    fn input(&mut self, i: usize, input: Input) {
        let (now, unix) = (self.kit.instant(), ledger::unix(self.kit.now()));
        let n = &mut self.nodes[i];
        let Some(c) = n.chunks.as_mut() else { return };
        c.handle(now, unix, input, &mut n.store);
        self.drain(i);
    }

    fn dispatch(&mut self, what: What) {
        match what {
            What::Deliver(env) => {
                if let Ok(m) = env.msg.decode() {
                    let from = self.nodes[env.from].signer.peer().clone();
                    self.input(env.to, Input::Message { from, msg: m });
                }
            }
            What::Timer(i) => {
                if self.timers.fire(i, self.kit.now()) {
                    self.input(i, Input::Timeout);
                }
            }
            What::Ring { node, chunk } => {
                let lagging =
                    self.kit.now() < self.changed + self.cfg.lag && self.kit.rng.random_bool(self.cfg.stale_view);
                let view = if lagging { self.before.clone() } else { self.ring.clone() };
                let mut members = self.committee_on(&view, chunk, 2 * self.cfg.committee);
                let more = members.split_off(members.len().min(self.cfg.committee));
                self.input(node, Input::Ring { chunk, members, more });
            }
            What::Validated { node, chunk, block, verdicts } => {
                self.input(node, Input::Validated { chunk, block, verdicts })
            }
            What::Submit { chunk, tx } => {
                self.txs.push((chunk, tx.clone()));
                self.submit(chunk, tx);
            }
            What::Retry => {
                let longest: Vec<Chain> = (0..self.cfg.chunks).map(|c| self.longest(ChunkId(c))).collect();
                let committed = ledger::tx_ids(&longest);
                let again: Vec<(ChunkId, Tx)> =
                    self.txs.iter().filter(|(_, t)| !committed.contains(&t.id())).cloned().collect();
                for (chunk, tx) in again {
                    self.submit(chunk, tx);
                }
                self.kit.after(CLIENT_RETRY, What::Retry);
            }
            What::Join(i) => {
                self.change_ring(|r| r.push(i));
                self.start(i);
            }
            What::Leave(i) | What::Crash(i) => {
                self.change_ring(|r| r.retain(|&x| x != i));
                self.nodes[i].chunks = None;
                self.net.set_down(i, true);
            }
            What::Restart(i) => {
                self.change_ring(|r| r.push(i));
                self.start(i);
            }
        }
    }

    /// A client asks a random node on the ring to get `tx` ordered.
    fn submit(&mut self, chunk: ChunkId, tx: Tx) {
        if self.ring.is_empty() {
            return;
        }
        let via = self.ring[self.kit.rng.random_range(0..self.ring.len())];
        let members = self.committee_on(&self.ring.clone(), chunk, self.cfg.committee);
        self.input(via, Input::Submit { chunk, tx, members });
    }

    fn drain(&mut self, i: usize) {
        while let Some(out) = self.nodes[i].chunks.as_mut().and_then(Chunks::poll_output) {
            match out {
                Output::Send { to, msg } => {
                    let Some(&j) = self.index.get(&to) else { continue };
                    let env = Envelope::new(i, j, Packet::Msg(Box::new(msg)));
                    self.kit.send(&mut self.net, &mut Passthrough, env, What::Deliver);
                }
                Output::Validate { chunk, block, txs } => {
                    let verdicts = txs.iter().map(is_valid).collect();
                    let delay = ledger::validation_delay(&mut self.kit.rng);
                    self.kit.after(delay, What::Validated { node: i, chunk, block, verdicts });
                }
                Output::CheckRing { chunk } => {
                    let delay = Duration::from_millis(self.kit.rng.random_range(1..20));
                    self.kit.after(delay, What::Ring { node: i, chunk });
                }
                Output::Committed { .. } => {}
                Output::Event { chunk, event } => match event {
                    ChunkEvent::Reconfigured { epoch, .. } if self.epochs.insert((chunk, epoch)) => {
                        self.report.reconfigurations += 1;
                    }
                    ChunkEvent::Joined { .. } => self.report.joins += 1,
                    ChunkEvent::GenesisReplaced => self.report.genesis_replaced += 1,
                    _ => {}
                },
            }
        }
        let next = self.nodes[i].chunks.as_ref().and_then(Chunks::poll_timeout);
        self.kit.wake(&mut self.timers, i, next, What::Timer(i));
    }

    /// The longest chain of a chunk held anywhere (decided blocks only).
    fn longest(&self, chunk: ChunkId) -> Chain {
        self.nodes.iter().map(|n| n.store.chain(chunk)).max_by_key(Vec::len).unwrap_or_default()
    }

    /// Per node and chunk: height, epoch and whether a replica is open.
    pub fn describe(&self) -> String {
        let mut out = String::new();
        for c in 0..self.cfg.chunks {
            let chunk = ChunkId(c);
            let oracle = self.committee_on(&self.ring, chunk, self.cfg.committee);
            out += &format!("\n  chunk {c}:");
            for (i, n) in self.nodes.iter().enumerate() {
                let tip = n.store.tip(chunk).ok().flatten();
                let member = if oracle.contains(n.signer.peer()) { "*" } else { "" };
                let up = if n.chunks.is_some() { "" } else { " (down)" };
                if let Some(t) = tip {
                    let view = n.chunks.as_ref().and_then(|c| c.replica(chunk)).map(|r| (r.view(), r.pending()));
                    out += &format!(
                        "\n    node {i}{member}{up}: height {} epoch {} members {} view/pending {view:?}",
                        t.height,
                        t.committee.epoch,
                        t.committee.members.len()
                    );
                } else if !member.is_empty() {
                    out += &format!("\n    node {i}{member}{up}: no chain");
                }
            }
        }
        out
    }

    /// Check agreement, validity, liveness (if `expect_live`) and
    /// reconfiguration safety.
    pub fn check(&self, expect_live: bool) -> Result<(), String> {
        for (i, n) in self.nodes.iter().enumerate() {
            if let Some(c) = &n.chunks
                && c.held() != c.chunks().len()
            {
                return Err(format!("node {i}: held() {} but {} chunks listed", c.held(), c.chunks().len()));
            }
        }
        for c in 0..self.cfg.chunks {
            let chunk = ChunkId(c);
            let chains: Vec<(usize, Chain)> = (0..self.nodes.len())
                .map(|i| (i, self.nodes[i].store.chain(chunk)))
                .filter(|(_, ch)| ch.len() > 1)
                .collect();
            agreement(chains.iter().map(|(_, ch)| ch)).map_err(|e| format!("chunk {c}: {e}"))?;
            for (i, ch) in &chains {
                verify_chain(NETWORK, chunk, ch, None).map_err(|e| format!("chunk {c} at node {i}: {e}"))?;
            }
            if !expect_live {
                continue;
            }
            let Some((_, best)) = chains.iter().max_by_key(|(_, ch)| ch.len()) else {
                return Err(format!("liveness: chunk {c} has no decided chain"));
            };
            let missing = self.valid.get(&chunk).map_or(0, |v| missing(best, v));
            if missing > 0 {
                return Err(format!("liveness: chunk {c} misses {missing} valid transactions"));
            }
            let oracle = self.committee_on(&self.ring, chunk, self.cfg.committee);
            let tip = best.last().map(|(b, _)| b.hash());
            for m in &oracle {
                let Some(&i) = self.index.get(m) else { continue };
                let mine = self.nodes[i].store.tip(chunk).ok().flatten();
                if mine.as_ref().map(|t| t.hash) != tip {
                    return Err(format!("reconfiguration: chunk {c}: member node {i} does not hold the final chain"));
                }
                if mine.is_some_and(|t| t.committee.members != oracle) {
                    return Err(format!("reconfiguration: chunk {c}: the committee at the tip is not the ring's"));
                }
            }
        }
        Ok(())
    }
}
