//! Whole nodes, simulated: N unchanged [`NodeCore`]s (Chord, chunk
//! managers, committee resolution, reads, insertions, validation, refresh)
//! on the kit's network, with a DNS [`oracle::Oracle`] in place of the
//! authoritative servers and DNS clients that ask random nodes through the
//! same policy as the real front end (`dhtr_resolver::pipeline`'s walk,
//! fallback decision and insertion filter). Nodes join, leave, crash and
//! restart from their stores; the network loses, delays, duplicates and
//! partitions; [`attack::Attack`]s give some nodes a strategy.
//!
//! Checked at the level a DNS client sees ([`NodeReport`]): every answer is
//! a version the oracle held within the answer's TTL, or a stale one served
//! only while the authorities were down; "forged" counts answers the oracle
//! never held. And every committed chain agrees across nodes.

pub mod attack;
mod client;
pub mod oracle;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use dhtr_ledger::chunks::ChunkEvent;
use dhtr_ledger::sign::{KeySigner, Signer};
use dhtr_ledger::{MemStore, msg::Message};
use dhtr_node_core::reads::RequestId as ReadRequestId;
use dhtr_node_core::records::{RecordsRequest, RecordsResponse};
use dhtr_node_core::resolve::{ResolveId, Resolved};
use dhtr_node_core::{CoreConfig, Input, NodeCore, Output};
use dhtr_protocol::admission::mint;
use dhtr_protocol::{
    NetworkParams, NetworkTag, NodeInfo, PeerRef, Prefix, Request, RequestId, Rules, Ticket, WireResponse,
};
use rand::Rng;

use crate::kit::{Envelope, Kit, Net, NetConfig, Timers};
use attack::{Attack, Attacker};
use client::Queries;
use oracle::Oracle;

/// Unix time of the simulation's start (the ledger stamps blocks with it).
const UNIX_START: u64 = 1_800_000_000;
/// How long a records request waits before it counts as failed (the
/// node's libp2p request timeout).
const RECORDS_TIMEOUT: Duration = Duration::from_secs(3);
/// How often a flooder sends a round of forged submissions.
const FLOOD_EVERY: Duration = Duration::from_secs(1);

/// Node `i`'s key of a run.
fn node_secret(i: usize, seed: u64) -> [u8; 32] {
    *blake3::hash(format!("node {i} of seed {seed}").as_bytes()).as_bytes()
}

/// The simulated network's admission tag.
pub const SIM_NETWORK: NetworkTag = NetworkTag([0x51; 32]);

/// The simulated network's rules: real proofs of work at a difficulty that
/// costs microseconds (each solution still places a node uniformly at
/// random, which is all a simulated attacker's budget buys), and the public
/// network's prefix limits. Honest node `i` sits alone on 10.x.y.0/24.
pub fn sim_rules() -> Rules {
    Rules { network: SIM_NETWORK, difficulty: 6, per_prefix_committee: 1, per_prefix_routing: 2, permission: None }
}

/// A ticket for `peer` on `prefix` with valid work under [`sim_rules`].
pub fn sim_ticket(peer: &PeerRef, prefix: Prefix) -> Ticket {
    let rules = sim_rules();
    let nonce = (0..).step_by(4096).find_map(|from| mint(&rules.network, peer, rules.difficulty, from, 4096));
    Ticket { nonce: nonce.unwrap_or(0), prefix }
}

/// Honest node `i`'s own /24.
fn honest_prefix(i: usize) -> Prefix {
    Prefix::V4([10, (i >> 8) as u8, i as u8])
}

/// The first `n` nodes at or after `start` in a ring order.
fn committee_of(ring: &[(dhtr_protocol::RingId, usize)], start: dhtr_protocol::RingId, n: usize) -> Vec<usize> {
    if ring.is_empty() {
        return Vec::new();
    }
    let at = ring.iter().position(|(id, _)| *id >= start).unwrap_or(0);
    (0..n.min(ring.len())).map(|k| ring[(at + k) % ring.len()].1).collect()
}

/// One whole-node scenario.
#[derive(Clone, Debug)]
pub struct NodeSimConfig {
    /// Seed of every random choice.
    pub seed: u64,
    /// Nodes at the start.
    pub nodes: usize,
    /// The network's latency, loss, duplication and reordering.
    pub net: NetConfig,
    /// Names the oracle serves.
    pub names: usize,
    /// Client queries per second (over all nodes).
    pub queries_per_second: u32,
    /// Clients start asking after this (the ring forms first).
    pub warmup: Duration,
    /// Total virtual time.
    pub duration: Duration,
    /// Nodes that join later, at these times.
    pub joins: Vec<Duration>,
    /// Nodes (by index) that leave gracefully for good, and when.
    pub leaves: Vec<(usize, Duration)>,
    /// Nodes that crash and restart from their store: (index, down, up).
    pub crashes: Vec<(usize, Duration, Duration)>,
    /// The ring split in two halves during this window.
    pub partition: Option<(Duration, Duration)>,
    /// Scheduled record changes: (time, name index).
    pub changes: Vec<(Duration, usize)>,
    /// The authorities are unreachable during this window.
    pub authorities_down: Option<(Duration, Duration)>,
    /// Nodes (by index) with a strategy.
    pub attackers: Vec<(usize, Attack)>,
}

impl NodeSimConfig {
    /// A calm run of `nodes` nodes: 5–30 ms latency, no loss, 40 names,
    /// 20 queries per second from 60 s to 180 s.
    pub fn new(seed: u64, nodes: usize) -> NodeSimConfig {
        NodeSimConfig {
            seed,
            nodes,
            net: NetConfig::latency(Duration::from_millis(5), Duration::from_millis(30)),
            names: 40,
            queries_per_second: 20,
            warmup: Duration::from_secs(60),
            duration: Duration::from_secs(180),
            joins: Vec::new(),
            leaves: Vec::new(),
            crashes: Vec::new(),
            partition: None,
            changes: Vec::new(),
            authorities_down: None,
            attackers: Vec::new(),
        }
    }
}

/// What a run found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeReport {
    /// Client queries asked and finished.
    pub queries: u64,
    /// Answered from the network (a committee's agreed record).
    pub network: u64,
    /// Answered by resolving from the authorities.
    pub fallback: u64,
    /// Answered stale (authorities down).
    pub stale: u64,
    /// Queries that got an error.
    pub failed: u64,
    /// Answers the oracle never held: forged.
    pub forged: u64,
    /// Answers with a version that ended longer than its TTL ago (not stale).
    pub outdated: u64,
    /// Stale answers while the authorities were up.
    pub stale_while_up: u64,
    /// Network reads (by honest nodes) that found no majority or failed.
    pub reads_failed: u64,
    /// Blocks committed (summed over nodes).
    pub commits: u64,
    /// Messages put on the network.
    pub messages: u64,
    /// Times a node met another chain of a chunk it holds and kept its own.
    pub other_kept: u64,
    /// Chains given up for the one more of the committee held.
    pub abandoned: u64,
    /// Chains released after their holder left the committee.
    pub released: u64,
    /// Resolutions the nodes asked of the authorities (fallbacks,
    /// validations, refreshes): what honest nodes paid.
    pub resolutions: u64,
    /// Forged submissions flooders sent.
    pub flooded: u64,
    /// Lookup answers refused before use (verified lookups).
    pub refused: u64,
    /// Of those, provable lies (the responder was struck).
    pub lies: u64,
    /// Successors dropped for not holding their node as predecessor.
    pub neighbours_refused: u64,
}

impl NodeReport {
    /// The invariants every run without a successful attack must hold.
    pub fn check_honest(&self) -> Result<(), String> {
        if self.forged > 0 || self.outdated > 0 || self.stale_while_up > 0 {
            return Err(format!("clients were told wrong answers: {self:?}"));
        }
        if self.queries == 0 || self.network + self.fallback + self.stale + self.failed != self.queries {
            return Err(format!("queries unaccounted for: {self:?}"));
        }
        Ok(())
    }
}

/// What travels between nodes.
#[derive(Clone, Debug)]
pub enum Msg {
    /// A Chord request.
    ChordReq {
        /// Its id at the sender.
        id: RequestId,
        /// The sender.
        from: NodeInfo,
        /// The request.
        request: Request,
    },
    /// A Chord response.
    ChordResp {
        /// The request answered.
        id: RequestId,
        /// The answer.
        response: WireResponse,
    },
    /// A ledger message.
    Ledger(Message),
    /// A records request (to a peer, by peer id: it may be a made-up one).
    RecordsReq {
        /// Its id at the sender.
        id: ReadRequestId,
        /// The peer asked.
        to: PeerRef,
        /// The request.
        request: RecordsRequest,
    },
    /// A records response.
    RecordsResp {
        /// The request answered.
        id: ReadRequestId,
        /// The answer.
        response: RecordsResponse,
    },
}

// Scheduled and moved once each; boxing the delivery would only add an allocation.
#[allow(clippy::large_enum_variant)]
enum Ev {
    Deliver(Envelope<Msg>),
    Wake(usize),
    RecordsTimeout {
        node: usize,
        life: u32,
        id: ReadRequestId,
    },
    Resolved {
        node: usize,
        life: u32,
        id: ResolveId,
        resolved: Resolved,
    },
    Query,
    Fallback {
        node: usize,
        life: u32,
        query: u64,
    },
    Start(usize),
    Leave(usize),
    Crash(usize),
    Restart(usize),
    Partition(bool),
    Plant(usize),
    /// A flooder's next round of forged submissions.
    Flood(usize),
    /// Join again after a failed join or losing every successor (as the
    /// node binary's join plan does).
    Rejoin {
        node: usize,
        life: u32,
    },
}

struct Node {
    signer: Arc<KeySigner>,
    info: NodeInfo,
    core: Option<NodeCore<MemStore>>,
    /// The store survives crashes.
    store: Option<MemStore>,
    /// Incarnation: events of an earlier one are ignored.
    life: u32,
    left: bool,
    /// Has a join succeeded (or did it found the ring)? Until then the node
    /// keeps trying, through other nodes, as the binary's join plan does.
    joined: bool,
}

/// A whole-node simulation.
pub struct NodeSim {
    cfg: NodeSimConfig,
    kit: Kit<Ev>,
    net: Net<Msg>,
    nodes: Vec<Node>,
    by_peer: HashMap<PeerRef, usize>,
    timers: Timers,
    oracle: Oracle,
    queries: Queries,
    attacker: Attacker,
    report: NodeReport,
    params: NetworkParams,
    /// `DHTR_NODE_TRACE` is set: print progress and refused lookup answers.
    trace: bool,
}

impl NodeSim {
    /// Set up a run (nothing happens until [`NodeSim::run`]).
    pub fn new(cfg: NodeSimConfig) -> NodeSim {
        let mut kit = Kit::new(cfg.seed);
        let total = cfg.nodes + cfg.joins.len();
        let mut nodes = Vec::with_capacity(total);
        let mut by_peer = HashMap::new();
        for i in 0..total {
            let secret = node_secret(i, cfg.seed);
            let signer = Arc::new(KeySigner::from_secret(secret));
            let peer = signer.peer().clone();
            let info = NodeInfo::new(peer.clone(), sim_ticket(&peer, honest_prefix(i)), Vec::new());
            by_peer.insert(info.peer.clone(), i);
            nodes.push(Node {
                signer,
                info,
                core: None,
                store: Some(MemStore::new()),
                life: 0,
                left: false,
                joined: false,
            });
        }
        // The first node starts a ring; the others join it, spread over 20 s.
        for i in 0..cfg.nodes {
            let at = Duration::from_millis(20 * i as u64).min(Duration::from_secs(20));
            kit.schedule(at, Ev::Start(i));
        }
        for (k, at) in cfg.joins.iter().enumerate() {
            kit.schedule(*at, Ev::Start(cfg.nodes + k));
        }
        for (i, at) in &cfg.leaves {
            kit.schedule(*at, Ev::Leave(*i));
        }
        for (i, down, up) in &cfg.crashes {
            kit.schedule(*down, Ev::Crash(*i));
            kit.schedule(*up, Ev::Restart(*i));
        }
        if let Some((from, to)) = cfg.partition {
            kit.schedule(from, Ev::Partition(true));
            kit.schedule(to, Ev::Partition(false));
        }
        kit.schedule(cfg.warmup, Ev::Query);
        for (i, a) in &cfg.attackers {
            if *a == Attack::FloodSubmissions {
                kit.schedule(cfg.warmup, Ev::Flood(*i));
            }
            if *a == Attack::PlantChain {
                kit.schedule(cfg.warmup + Duration::from_secs(5), Ev::Plant(*i));
            }
        }
        let oracle = Oracle::new(cfg.names, cfg.changes.clone(), cfg.authorities_down);
        let attacker =
            Attacker::new(&cfg.attackers, cfg.seed, &nodes.iter().map(|n| n.info.clone()).collect::<Vec<_>>());
        for p in attacker.sybils() {
            by_peer.entry(p.clone()).or_insert(usize::MAX);
        }
        NodeSim {
            net: Net::new(cfg.net.clone()),
            timers: Timers::new(total),
            queries: Queries::new(cfg.names),
            oracle,
            attacker,
            report: NodeReport::default(),
            params: NetworkParams::default(),
            trace: std::env::var_os("DHTR_NODE_TRACE").is_some(),
            nodes,
            by_peer,
            kit,
            cfg,
        }
    }

    /// Run to the end; the report, and the end-of-run invariants: the live
    /// nodes form one ring, and every decided chain agrees.
    pub fn run(mut self) -> (NodeReport, Result<(), String>) {
        let end = self.cfg.duration;
        // `DHTR_NODE_TRACE=1`: one line per 10 virtual seconds (virtual
        // time, messages sent so far), to find a run that stops advancing.
        let mut next_trace = Duration::ZERO;
        while let Some(ev) = self.kit.next(end) {
            if self.trace && self.kit.now() >= next_trace {
                eprintln!("t={:?} sent={}", self.kit.now(), self.net.stats.sent);
                next_trace = self.kit.now() + Duration::from_secs(10);
            }
            self.dispatch(ev);
        }
        self.kit.finish(end);
        self.report.messages = self.net.stats.sent;
        // Queries still in flight at the end are not judged.
        self.report.queries = self.queries.asked - self.queries.in_flight();
        let errors: Vec<String> = [self.one_ring(), self.agreement()].into_iter().filter_map(Result::err).collect();
        let invariants = if errors.is_empty() { Ok(()) } else { Err(errors.join("\n")) };
        (self.report, invariants)
    }

    fn unix(&self) -> u64 {
        UNIX_START + self.kit.now().as_secs()
    }

    fn live(&self, i: usize) -> bool {
        self.nodes.get(i).is_some_and(|n| n.core.is_some())
    }

    fn dispatch(&mut self, ev: Ev) {
        match ev {
            Ev::Deliver(env) => self.deliver(env),
            Ev::Wake(i) => {
                if self.timers.fire(i, self.kit.now()) && self.live(i) {
                    self.input(i, Input::Timeout);
                }
            }
            Ev::RecordsTimeout { node, life, id } => {
                if self.nodes[node].life == life && self.live(node) {
                    self.input(node, Input::RecordsResponse { id, response: None });
                }
            }
            Ev::Resolved { node, life, id, resolved } => {
                if self.nodes[node].life == life && self.live(node) {
                    self.input(node, Input::Resolved { id, resolved });
                }
            }
            Ev::Query => {
                let every = Duration::from_secs(1) / self.cfg.queries_per_second.max(1);
                self.kit.after(every, Ev::Query);
                self.query();
            }
            Ev::Fallback { node, life, query } => self.fallback(node, life, query),
            Ev::Rejoin { node, life } => {
                let idle = self.nodes[node].core.as_ref().is_some_and(|c| !c.chord().is_joining());
                if self.nodes[node].life == life && !self.nodes[node].joined && idle {
                    self.join(node);
                }
            }
            Ev::Start(i) => self.start(i, true),
            Ev::Leave(i) => {
                if self.live(i) {
                    self.input(i, Input::Leave);
                    self.nodes[i].left = true;
                    self.kit.after(Duration::from_secs(2), Ev::Crash(i));
                }
            }
            Ev::Crash(i) => {
                if let Some(core) = self.nodes[i].core.take() {
                    self.nodes[i].store = Some(core.into_store());
                    self.net.set_down(i, true);
                    self.timers.clear(i);
                }
            }
            Ev::Restart(i) => {
                if !self.nodes[i].left && !self.live(i) {
                    self.net.set_down(i, false);
                    self.start(i, false);
                }
            }
            Ev::Partition(on) => {
                if on {
                    let half: Vec<usize> = (0..self.nodes.len()).filter(|i| i % 2 == 0).collect();
                    self.net.partition(&half, 0..self.nodes.len());
                } else {
                    self.net.heal();
                }
            }
            Ev::Flood(i) => {
                if self.live(i) {
                    let unix = self.unix();
                    let n = self.params.committee_size();
                    let ring = self.ring_order();
                    let params = self.params;
                    let committee = |chunk| committee_of(&ring, params.chunk_start(chunk), n);
                    for env in self.attacker.flood(i, self.oracle.names(), unix, &self.params, committee) {
                        self.report.flooded += 1;
                        self.send(env);
                    }
                }
                self.kit.after(FLOOD_EVERY, Ev::Flood(i));
            }
            Ev::Plant(i) => {
                let victims: Vec<usize> = (0..self.nodes.len()).filter(|v| *v != i && self.live(*v)).collect();
                for env in self.attacker.plant(i, &victims, self.oracle.names(), &self.params) {
                    self.send(env);
                }
            }
        }
    }

    /// Start node `i` (first start, or a restart from its store).
    fn start(&mut self, i: usize, first: bool) {
        let mut cfg = CoreConfig::new("sim", self.params);
        cfg.chord.admission = sim_rules();
        cfg.validation = dhtr_node_core::validate::Mode::Resolve { ttl_floor: 30 };
        cfg.test_liar = self.attacker.lies_in_reads(i);
        let n = &mut self.nodes[i];
        n.life += 1;
        let store = n.store.take().unwrap_or_default();
        let held = store.chunks();
        let now = self.kit.instant();
        let core = NodeCore::new(cfg, n.info.clone(), n.signer.clone(), store, held, Vec::new(), now);
        n.core = Some(core);
        // Join through a live node (the first node starts the ring).
        self.nodes[i].joined = first && i == 0;
        if first && i == 0 {
            self.drain(i);
        } else {
            self.join(i);
        }
    }

    /// Join through a random live node (which may itself be joining).
    fn join(&mut self, i: usize) {
        let live: Vec<usize> = (0..self.nodes.len()).filter(|v| *v != i && self.live(*v)).collect();
        if live.is_empty() {
            return self.drain(i);
        }
        let info = self.nodes[live[self.kit.rng.random_range(0..live.len())]].info.clone();
        self.input(i, Input::Join(info));
    }

    /// Feed node `i` and carry out what it asks.
    fn input(&mut self, i: usize, input: Input) {
        let (now, unix) = (self.kit.instant(), self.unix());
        let Some(core) = self.nodes[i].core.as_mut() else { return };
        core.handle(now, unix, input);
        self.drain(i);
    }

    fn drain(&mut self, i: usize) {
        loop {
            let Some(core) = self.nodes[i].core.as_mut() else { return };
            let Some(out) = core.poll_output() else { break };
            self.on_output(i, out);
        }
        let deadline = self.nodes[i].core.as_ref().and_then(|c| c.poll_timeout());
        self.kit.wake(&mut self.timers, i, deadline, Ev::Wake(i));
    }

    fn on_output(&mut self, i: usize, out: Output) {
        let life = self.nodes[i].life;
        match out {
            Output::Chord { id, to, request } => {
                let from = self.nodes[i].info.clone();
                self.send_to(i, &to.peer, Msg::ChordReq { id, from, request });
            }
            Output::Ledger { to, msg } => self.send_to(i, &to.peer, Msg::Ledger(msg)),
            Output::Records(s) => {
                self.kit.after(RECORDS_TIMEOUT, Ev::RecordsTimeout { node: i, life, id: s.id });
                let to = s.to.peer.clone();
                self.send_to(i, &to, Msg::RecordsReq { id: s.id, to: to.clone(), request: s.request });
            }
            Output::Resolve(r) => {
                self.report.resolutions += 1;
                let resolved = self.resolve(&r.name, r.rtype, r.fetched_at);
                let delay = self.kit.uniform(Duration::from_millis(5), Duration::from_millis(80));
                self.kit.after(delay, Ev::Resolved { node: i, life, id: r.id, resolved });
            }
            Output::ReadDone { token, result } => {
                let agreed =
                    matches!(&result, Ok(r) if matches!(r.verdict, dhtr_node_core::majority::Verdict::Agreed(_)));
                if !agreed {
                    self.report.reads_failed += 1;
                }
                self.on_read(i, token, result);
            }
            Output::Event(dhtr_node_core::Event::Committed { .. }) => self.report.commits += 1,
            Output::Event(dhtr_node_core::Event::Chord(dhtr_protocol::Event::AnswerRefused { reason, .. })) => {
                self.report.refused += 1;
                if self.trace {
                    eprintln!("t={:?} node {i} refused an answer: {}", self.kit.now(), reason.as_str());
                }
                if reason.is_lie() {
                    self.report.lies += 1;
                }
            }
            Output::Event(dhtr_node_core::Event::Chord(dhtr_protocol::Event::NeighbourRefused { peer })) => {
                self.report.neighbours_refused += 1;
                if self.trace {
                    let who = self.by_peer.get(&peer.peer).copied();
                    eprintln!("t={:?} node {i} dropped its successor {who:?}", self.kit.now());
                }
            }
            Output::Event(dhtr_node_core::Event::Ledger { event, .. }) => match event {
                ChunkEvent::OtherChain { kept: true, .. } => self.report.other_kept += 1,
                ChunkEvent::OtherChain { kept: false, .. } => self.report.abandoned += 1,
                ChunkEvent::Released { .. } => self.report.released += 1,
                _ => {}
            },
            Output::Event(dhtr_node_core::Event::Chord(dhtr_protocol::Event::Joined { .. })) => {
                self.nodes[i].joined = true;
            }
            Output::Event(dhtr_node_core::Event::Chord(
                dhtr_protocol::Event::JoinFailed { .. } | dhtr_protocol::Event::Alone,
            )) => {
                self.nodes[i].joined = false;
                let backoff = self.kit.uniform(Duration::from_secs(1), Duration::from_secs(3));
                self.kit.after(backoff, Ev::Rejoin { node: i, life });
            }
            Output::LookupDone { .. } | Output::Submitted { .. } | Output::Disconnect(_) | Output::Event(_) => {}
        }
    }

    /// What the authorities say now about (name, type).
    fn resolve(&self, name: &str, rtype: u16, fetched_at: u64) -> Resolved {
        let now = self.kit.now();
        if !self.oracle.up(now) {
            return Resolved::Failed;
        }
        match Oracle::index_of(name) {
            Some(k) if k < self.oracle.names() && rtype == 1 => {
                Resolved::Records(self.oracle.rrset(k, now, fetched_at))
            }
            _ => Resolved::Negative,
        }
    }

    fn send_to(&mut self, from: usize, peer: &PeerRef, msg: Msg) {
        let Some(&to) = self.by_peer.get(peer) else { return };
        // Made-up identities answer network reads through their owner, and
        // Chord requests if they confirm lies (answered for by the attacker).
        if to == usize::MAX
            && let Msg::ChordReq { id, request, .. } = &msg
            && let Some(owner) = self.attacker.owner()
            && let Some((ticket, body)) =
                self.attacker.chord_as_sybil(peer, request, &self.nodes[owner].info, &self.nodes[from].info)
        {
            let response = WireResponse { responder_ticket: ticket, responder_cert: None, body };
            self.send(Envelope::new(owner, from, Msg::ChordResp { id: *id, response }));
            return;
        }
        let to = match (to, &msg) {
            (usize::MAX, Msg::RecordsReq { .. }) => match self.attacker.owner() {
                Some(owner) => owner,
                None => return,
            },
            (usize::MAX, _) => return,
            (to, _) => to,
        };
        self.send(Envelope::new(from, to, msg));
    }

    fn send(&mut self, env: Envelope<Msg>) {
        self.kit.send(&mut self.net, &mut self.attacker, env, Ev::Deliver);
    }

    fn deliver(&mut self, env: Envelope<Msg>) {
        let (from, to) = (env.from, env.to);
        if !self.live(to) {
            return;
        }
        let now = self.kit.instant();
        let sender = self.nodes[from].info.peer.clone();
        match env.msg {
            Msg::ChordReq { id, from: info, request } => {
                let Some(core) = self.nodes[to].core.as_mut() else { return };
                if let Some(response) = core.handle_chord_request(now, info, request) {
                    self.drain(to);
                    self.send(Envelope::new(to, from, Msg::ChordResp { id, response }));
                }
            }
            Msg::ChordResp { id, response } => self.input(
                to,
                Input::ChordResponse {
                    id,
                    responder: response.responder_ticket,
                    responder_cert: response.responder_cert,
                    response: response.body,
                },
            ),
            Msg::Ledger(msg) => self.input(to, Input::Ledger { from: sender, msg }),
            Msg::RecordsReq { id, to: peer, request } => {
                let unix = self.unix();
                let response = match self.attacker.answer_as_sybil(&peer, &request, unix) {
                    Some(forged) => Some(forged),
                    None => {
                        let Some(core) = self.nodes[to].core.as_mut() else { return };
                        core.handle_records_request(now, &sender, &request)
                    }
                };
                if let Some(response) = response {
                    self.send(Envelope::new(to, from, Msg::RecordsResp { id, response }));
                }
            }
            Msg::RecordsResp { id, response } => {
                self.input(to, Input::RecordsResponse { id, response: Some(response) })
            }
        }
    }

    /// Chord's correctness condition (Zave, "Reasoning about identifier
    /// spaces", 2017): following first successors from every live node
    /// reaches one cycle, and that cycle holds every live node. A ring that
    /// split into two (a join through a node on no ring, a partition that
    /// never merged) gives a chunk two first committees. An attacker's own
    /// pointers are not the honest nodes' state (honest nodes may have
    /// banned it): the walk passes over it to its true successor.
    fn one_ring(&self) -> Result<(), String> {
        let live: Vec<usize> = (0..self.nodes.len()).filter(|&i| self.live(i)).collect();
        let ring = self.ring_order();
        let true_next = |i: usize| -> Option<usize> {
            let at = ring.iter().position(|(_, j)| *j == i)?;
            Some(ring[(at + 1) % ring.len()].1)
        };
        let next = |i: usize| -> Option<usize> {
            if self.attacker.is_attacker(i) {
                return true_next(i);
            }
            let first = self.nodes[i].core.as_ref()?.chord().successors().first()?;
            self.by_peer.get(&first.peer).copied().filter(|&j| self.live(j))
        };
        let Some(&start) = live.first() else { return Ok(()) };
        // Walk at most |live| steps from one node onto its cycle, then round it.
        let mut at = start;
        for _ in 0..live.len() {
            at = next(at).ok_or_else(|| format!("ring broken: node {at} has no live successor"))?;
        }
        let mut cycle = vec![at];
        let mut k = next(at);
        while let Some(j) = k {
            if j == at || cycle.len() > live.len() {
                break;
            }
            cycle.push(j);
            k = next(j);
        }
        // Honest nodes may have banned an attacker out of their ring.
        let honest: Vec<usize> = live.iter().copied().filter(|&i| !self.attacker.is_attacker(i)).collect();
        if honest.iter().any(|i| !cycle.contains(i)) {
            let outside: Vec<usize> = honest.iter().copied().filter(|i| !cycle.contains(i)).take(12).collect();
            return Err(format!(
                "ring split: the cycle through node {at} holds {} of {} live honest nodes; outside it: {outside:?}…",
                honest.iter().filter(|i| cycle.contains(i)).count(),
                honest.len()
            ));
        }
        Ok(())
    }

    /// The live nodes in ring order.
    fn ring_order(&self) -> Vec<(dhtr_protocol::RingId, usize)> {
        let mut ring: Vec<(dhtr_protocol::RingId, usize)> =
            (0..self.nodes.len()).filter(|&i| self.live(i)).map(|i| (self.nodes[i].info.id, i)).collect();
        ring.sort();
        ring
    }

    /// Every chain of every chunk, on every node (live or not), agrees.
    fn agreement(&self) -> Result<(), String> {
        let stores: Vec<&MemStore> =
            self.nodes.iter().filter_map(|n| n.core.as_ref().map(|c| c.store()).or(n.store.as_ref())).collect();
        let mut chunks: Vec<dhtr_protocol::ChunkId> = stores.iter().flat_map(|s| s.chunks()).collect();
        chunks.sort();
        chunks.dedup();
        for chunk in chunks {
            // Only chains on which something was decided: a bare genesis
            // is one node's view of a first committee, replaced as the ring
            // settles.
            let chains: Vec<crate::ledger::Chain> =
                stores.iter().map(|s| s.chain(chunk)).filter(|c| c.len() > 1).collect();
            if let Err(e) = crate::ledger::agreement(chains.iter()) {
                let mut detail = String::new();
                for (i, n) in self.nodes.iter().enumerate() {
                    let Some(store) = n.core.as_ref().map(|c| c.store()).or(n.store.as_ref()) else { continue };
                    let chain = store.chain(chunk);
                    let Some((g, _)) = chain.first() else { continue };
                    let members: Vec<usize> = match g.txs.first() {
                        Some(dhtr_ledger::Tx::Reconfigure { committee }) => {
                            committee.iter().map(|p| self.by_peer.get(p).copied().unwrap_or(usize::MAX)).collect()
                        }
                        _ => Vec::new(),
                    };
                    detail.push_str(&format!("\n  node {i}: genesis {members:?}, height {}", chain.len() - 1));
                }
                let order = committee_of(&self.ring_order(), self.params.chunk_start(chunk), 12);
                detail.push_str(&format!("\n  ring order from the chunk start: {order:?}"));
                return Err(format!("chunk {}: {e}{detail}", chunk.0));
            }
        }
        Ok(())
    }
}
