//! A deterministic, seeded, virtual-time network that runs the unchanged
//! [`Chord`] core for many nodes, with latency, message loss and churn.
//!
//! Used by the tests (`make test`) and by `make sim` (the `sim` example).
//! An oracle computed from all live node ids says what every lookup and
//! every successor/predecessor pointer should be. Time, the event queue,
//! randomness and the network are the [`kit`](crate::kit)'s.

use std::collections::HashMap;
use std::time::Duration;

use dhtr_protocol::{
    Chord, Config, Event, Input, LookupError, LookupId, LookupResult, NodeInfo, Output, PeerRef, Request, RequestId,
    Response, RingId,
};
use rand::Rng;

use crate::kit::{Envelope, Kit, Net, NetConfig, Passthrough, Timers};

/// Parameters of one simulated network.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// Number of nodes.
    pub nodes: usize,
    /// Seed of every random choice (ids, latencies, losses, bootstrap picks).
    pub seed: u64,
    /// One-way latency is uniform in `[min_latency, max_latency]`.
    pub min_latency: Duration,
    /// See `min_latency`.
    pub max_latency: Duration,
    /// Probability that any one message is lost.
    pub loss: f64,
    /// Time between two consecutive joins while building the ring.
    pub join_spacing: Duration,
    /// The Chord configuration every node runs.
    pub chord: Config,
    /// Nodes that collude against lookups once [`Sim::start_colluding`] is
    /// called (see `Sim::collude`).
    pub colluders: Vec<usize>,
}

impl SimConfig {
    /// A lossless network of `nodes` nodes with 5–50 ms latency.
    pub fn new(nodes: usize, seed: u64) -> SimConfig {
        SimConfig {
            nodes,
            seed,
            min_latency: Duration::from_millis(5),
            max_latency: Duration::from_millis(50),
            loss: 0.0,
            join_spacing: Duration::from_millis(20),
            chord: Config::default(),
            colluders: Vec::new(),
        }
    }
}

/// Counters of the simulated network.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SimStats {
    /// Messages put on the network (requests and responses).
    pub messages: u64,
    /// Messages lost or sent to dead nodes.
    pub dropped: u64,
    /// Stabilization rounds completed, over all nodes.
    pub stabilization_rounds: u64,
}

/// The outcome of a batch of sampled lookups, checked against the oracle.
#[derive(Clone, Debug, Default)]
pub struct LookupCheck {
    /// Lookups started.
    pub total: usize,
    /// Lookups whose successor list equals the oracle's.
    pub correct: usize,
    /// Lookups whose first [`COMMITTEE`] successors equal the oracle's.
    pub committee_correct: usize,
    /// Lookups that returned an error.
    pub failed: usize,
    /// Hop counts of the lookups that finished.
    pub hops: Vec<u32>,
    /// Requests each finished lookup sent (all paths, confirmations and
    /// cross-checks).
    pub messages: Vec<u32>,
    /// A few wrong answers, described, for failure messages.
    pub mismatches: Vec<String>,
    /// Lookups whose first `n` successors (a committee of `n = 4`) hold at
    /// least f+1 = 2 colluders, and at least 2f+1 = 3: as answered, and as
    /// the oracle's true committee would hold.
    pub captured: Captured,
}

/// Committees (the first 4 successors) with colluders among them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Captured {
    /// Answers with at least 2 colluders in the committee.
    pub stalled: usize,
    /// Answers with at least 3 colluders in the committee.
    pub owned: usize,
    /// True committees with at least 2 colluders.
    pub stalled_by_chance: usize,
    /// True committees with at least 3 colluders.
    pub owned_by_chance: usize,
}

impl LookupCheck {
    /// Fraction of lookups that were correct.
    pub fn correctness(&self) -> f64 {
        if self.total == 0 { 1.0 } else { self.correct as f64 / self.total as f64 }
    }

    /// Mean hop count.
    pub fn mean_hops(&self) -> f64 {
        if self.hops.is_empty() {
            0.0
        } else {
            self.hops.iter().map(|&h| h as f64).sum::<f64>() / self.hops.len() as f64
        }
    }

    /// Mean requests per finished lookup.
    pub fn mean_messages(&self) -> f64 {
        if self.messages.is_empty() {
            0.0
        } else {
            self.messages.iter().map(|&m| m as f64).sum::<f64>() / self.messages.len() as f64
        }
    }

    /// The 99th percentile hop count.
    pub fn p99_hops(&self) -> u32 {
        let mut h = self.hops.clone();
        h.sort_unstable();
        if h.is_empty() { 0 } else { h[((h.len() - 1) as f64 * 0.99).round() as usize] }
    }
}

/// The committee size the lookup checks count colluders in (n = 3f+1, f = 1).
pub const COMMITTEE: usize = 4;

/// What travels between simulated Chord nodes.
#[derive(Clone, Debug)]
pub enum Packet {
    /// A request and the id its sender waits on.
    Request {
        /// The sender's request id.
        id: RequestId,
        /// The request.
        request: Request,
    },
    /// The answer to request `id`.
    Response {
        /// The request id answered.
        id: RequestId,
        /// The responder's ticket.
        responder: dhtr_protocol::Ticket,
        /// The answer.
        response: Response,
    },
}

enum What {
    Packet(Envelope<Packet>),
    Timer(usize),
    Join(usize),
}

struct SimNode {
    info: NodeInfo,
    core: Option<Chord>,
    alive: bool,
    joined: bool,
}

/// The simulated network.
pub struct Sim {
    cfg: SimConfig,
    kit: Kit<What>,
    net: Net<Packet>,
    timers: Timers,
    nodes: Vec<SimNode>,
    by_peer: HashMap<PeerRef, usize>,
    results: HashMap<(usize, LookupId), Result<LookupResult, LookupError>>,
    stabilization_rounds: u64,
    colluding: Vec<bool>,
    refusals: std::collections::BTreeMap<&'static str, u64>,
}

impl Sim {
    /// Create `cfg.nodes` nodes with random identities; none runs yet.
    pub fn new(cfg: SimConfig) -> Sim {
        let mut rng = crate::kit::rng(cfg.seed);
        let mut nodes = Vec::with_capacity(cfg.nodes);
        let mut by_peer = HashMap::with_capacity(cfg.nodes);
        for i in 0..cfg.nodes {
            let mut peer = vec![0u8; 38];
            rng.fill(&mut peer[..]);
            let prefix = dhtr_protocol::Prefix::V4([10, (i >> 8) as u8, i as u8]);
            let info = NodeInfo::new(PeerRef(peer), dhtr_protocol::Ticket { nonce: 0, prefix }, Vec::new());
            by_peer.insert(info.peer.clone(), i);
            nodes.push(SimNode { info, core: None, alive: true, joined: false });
        }
        let mut net = NetConfig::latency(cfg.min_latency, cfg.max_latency);
        net.loss = cfg.loss;
        let colluding = vec![false; cfg.nodes];
        Sim {
            kit: Kit::with_rng(rng),
            net: Net::new(net),
            timers: Timers::new(cfg.nodes),
            cfg,
            nodes,
            by_peer,
            results: HashMap::new(),
            stabilization_rounds: 0,
            colluding,
            refusals: std::collections::BTreeMap::new(),
        }
    }

    /// Virtual time elapsed.
    pub fn now(&self) -> Duration {
        self.kit.now()
    }

    /// Network counters.
    pub fn stats(&self) -> SimStats {
        SimStats {
            messages: self.net.stats.sent,
            dropped: self.net.stats.dropped,
            stabilization_rounds: self.stabilization_rounds,
        }
    }

    /// The network, to cut links or isolate nodes (see [`Net`]).
    pub fn net_mut(&mut self) -> &mut Net<Packet> {
        &mut self.net
    }

    /// The core of node `i`, if it has started.
    pub fn node(&self, i: usize) -> Option<&Chord> {
        self.nodes.get(i).and_then(|n| n.core.as_ref())
    }

    /// Indices of live, started nodes.
    pub fn live(&self) -> Vec<usize> {
        (0..self.nodes.len()).filter(|&i| self.nodes[i].alive && self.nodes[i].core.is_some()).collect()
    }

    /// Start node 0 alone and have every other node join through a random
    /// node already started, `join_spacing` apart; then run until every
    /// node has joined (or `limit` passes). Returns whether all joined.
    pub fn build_ring(&mut self, limit: Duration) -> bool {
        self.start(0);
        self.nodes[0].joined = true;
        for i in 1..self.nodes.len() {
            self.kit.after(self.cfg.join_spacing * i as u32, What::Join(i));
        }
        let deadline = self.now() + limit;
        while self.now() < deadline {
            if self.nodes.iter().all(|n| n.joined || !n.alive) {
                return true;
            }
            self.run_for(Duration::from_millis(500));
        }
        self.nodes.iter().all(|n| n.joined || !n.alive)
    }

    /// From now on the configured colluders lie ([`SimConfig::colluders`]).
    pub fn start_colluding(&mut self) {
        for &i in &self.cfg.colluders {
            if let Some(c) = self.colluding.get_mut(i) {
                *c = true;
            }
        }
    }

    /// Lookup answers refused so far, by reason; the count is reset.
    pub fn take_refusals(&mut self) -> std::collections::BTreeMap<&'static str, u64> {
        std::mem::take(&mut self.refusals)
    }

    /// Live nodes that have not joined yet.
    pub fn unjoined(&self) -> Vec<usize> {
        (0..self.nodes.len()).filter(|&i| self.nodes[i].alive && !self.nodes[i].joined).collect()
    }

    /// Run the network for `d` of virtual time.
    pub fn run_for(&mut self, d: Duration) {
        let until = self.now() + d;
        while let Some(what) = self.kit.next(until) {
            self.dispatch(what);
        }
        self.kit.finish(until);
    }

    /// Crash node `i`: it stops answering and sending, without a goodbye.
    pub fn kill(&mut self, i: usize) {
        if let Some(n) = self.nodes.get_mut(i) {
            n.alive = false;
            self.net.set_down(i, true);
        }
    }

    /// Have node `i` leave gracefully; it stops once its neighbours were told.
    pub fn leave(&mut self, i: usize) {
        let now = self.kit.instant();
        if let Some(core) = self.nodes.get_mut(i).and_then(|n| n.core.as_mut()) {
            core.handle(now, Input::Leave);
            self.drain(i);
        }
    }

    /// The oracle: the first `r` live nodes clockwise from `key` (inclusive).
    pub fn oracle_successors(&self, key: &RingId, r: usize) -> Vec<PeerRef> {
        let mut ids: Vec<(RingId, usize)> = self.live().into_iter().map(|i| (self.nodes[i].info.id, i)).collect();
        ids.sort_unstable();
        let start = ids.partition_point(|(id, _)| id < key);
        (0..r.min(ids.len())).map(|k| self.nodes[ids[(start + k) % ids.len()].1].info.peer.clone()).collect()
    }

    /// Fraction of live nodes whose successor and predecessor are the
    /// oracle's (the ring is consistent when this is 1.0).
    pub fn ring_consistency(&self) -> f64 {
        let mut ids: Vec<(RingId, usize)> = self.live().into_iter().map(|i| (self.nodes[i].info.id, i)).collect();
        ids.sort_unstable();
        let n = ids.len();
        if n < 2 {
            return 1.0;
        }
        let mut good = 0;
        for (k, (_, i)) in ids.iter().enumerate() {
            let want_succ = &self.nodes[ids[(k + 1) % n].1].info.peer;
            let want_pred = &self.nodes[ids[(k + n - 1) % n].1].info.peer;
            let Some(core) = self.nodes[*i].core.as_ref() else { continue };
            let succ_ok = core.successors().first().is_some_and(|s| &s.peer == want_succ);
            let pred_ok = core.predecessor().is_some_and(|p| &p.peer == want_pred);
            if succ_ok && pred_ok {
                good += 1;
            }
        }
        good as f64 / n as f64
    }

    /// Every live node's view (id, predecessor, successors), for failure messages.
    pub fn describe(&self) -> String {
        let mut live = self.live();
        live.sort_by_key(|&i| self.nodes[i].info.id);
        let mut s = String::new();
        for i in live {
            let Some(c) = self.nodes[i].core.as_ref() else { continue };
            s += &format!("\n  {:?} pred {:?} succs {:?}", c.me(), c.predecessor(), c.successors());
        }
        s
    }

    /// The nodes whose successor or predecessor differ from the oracle's.
    pub fn describe_bad(&self) -> String {
        let mut ids: Vec<(RingId, usize)> = self.live().into_iter().map(|i| (self.nodes[i].info.id, i)).collect();
        ids.sort_unstable();
        let n = ids.len();
        let mut s = String::new();
        for (k, (_, i)) in ids.iter().enumerate() {
            let want_succ = &self.nodes[ids[(k + 1) % n].1].info;
            let want_pred = &self.nodes[ids[(k + n - 1) % n].1].info;
            let Some(c) = self.nodes[*i].core.as_ref() else { continue };
            let succ_ok = c.successors().first().is_some_and(|x| x.same(want_succ));
            let pred_ok = c.predecessor().is_some_and(|x| x.same(want_pred));
            if !(succ_ok && pred_ok) {
                s += &format!(
                    "\n  {:?} pred {:?} (want {:?}) succ {:?} (want {:?})",
                    c.me(),
                    c.predecessor(),
                    want_pred,
                    c.successors().first(),
                    want_succ
                );
            }
        }
        s
    }

    /// Run until every live node's successor and predecessor are the
    /// oracle's, checking each second; returns the virtual time it took, or
    /// `None` if `limit` passed first.
    pub fn run_until_consistent(&mut self, limit: Duration) -> Option<Duration> {
        let start = self.now();
        while self.now() - start <= limit {
            if self.ring_consistency() == 1.0 {
                return Some(self.now() - start);
            }
            self.run_for(Duration::from_secs(1));
        }
        None
    }

    /// Run `count` lookups of random keys from random live nodes at once,
    /// wait for them, and compare each result with the oracle's first
    /// `r = min(successor list length, live - 1)` successors.
    pub fn check_lookups(&mut self, count: usize) -> LookupCheck {
        let live = self.live();
        let readers: Vec<usize> = live.iter().copied().filter(|&i| !self.colluding[i]).collect();
        let mut started = Vec::with_capacity(count);
        for _ in 0..count {
            let Some(&i) = readers.get(self.kit.rng.random_range(0..readers.len().max(1))) else { break };
            let mut key = [0u8; 32];
            self.kit.rng.fill(&mut key);
            let key = RingId(key);
            let now = self.kit.instant();
            let Some(core) = self.nodes[i].core.as_mut() else { continue };
            let id = core.start_lookup(now, key);
            self.drain(i);
            started.push((i, id, key));
        }
        let limit = self.cfg.chord.lookup_timeout + Duration::from_secs(1);
        let mut waited = Duration::ZERO;
        while waited < limit && started.iter().any(|(i, id, _)| !self.results.contains_key(&(*i, *id))) {
            self.run_for(Duration::from_millis(100));
            waited += Duration::from_millis(100);
        }
        // In a ring smaller than the list, the key's successors are the
        // whole ring (committees of small rings have every node in them).
        let r = self.cfg.chord.successors.min(live.len()).max(1);
        let mut check = LookupCheck { total: started.len(), ..LookupCheck::default() };
        for (i, id, key) in started {
            match self.results.remove(&(i, id)) {
                Some(Ok(res)) => {
                    check.hops.push(res.hops);
                    check.messages.push(res.messages);
                    let got: Vec<PeerRef> = res.successors.iter().take(r).map(|n| n.peer.clone()).collect();
                    let want = self.oracle_successors(&key, r);
                    let n = COMMITTEE.min(r);
                    if got.get(..n) == want.get(..n) {
                        check.committee_correct += 1;
                    }
                    let bad = |l: &[PeerRef]| {
                        l.iter().take(n).filter(|p| self.by_peer.get(*p).is_some_and(|&j| self.colluding[j])).count()
                    };
                    let (got_bad, want_bad) = (bad(&got), bad(&want));
                    check.captured.stalled += usize::from(got_bad >= 2);
                    check.captured.owned += usize::from(got_bad >= 3);
                    check.captured.stalled_by_chance += usize::from(want_bad >= 2);
                    check.captured.owned_by_chance += usize::from(want_bad >= 3);
                    if got == want {
                        check.correct += 1;
                    } else if check.mismatches.len() < 5 {
                        let short =
                            |l: &[PeerRef]| l.iter().map(|p| RingId::hash(&p.0).short()).collect::<Vec<_>>().join(",");
                        check.mismatches.push(format!(
                            "from {} key {}: got [{}] want [{}]",
                            self.nodes[i].info.id.short(),
                            key.short(),
                            short(&got),
                            short(&want)
                        ));
                    }
                }
                _ => check.failed += 1,
            }
        }
        check
    }

    /// A colluder's answer to `request` from `asker` (`honest` is what its
    /// core answered). Colluders pretend the ring is theirs alone: a lookup
    /// ends at the colluders closest after the key, and each confirms it
    /// (its predecessor is the colluder before it, its successors the
    /// colluders after it) to everyone but its real predecessor, which
    /// gets the truth so that it stays on the ring.
    fn collude(&self, me: usize, asker: &NodeInfo, request: &Request, honest: Response) -> Response {
        let mut ring: Vec<(RingId, usize)> = (0..self.nodes.len())
            .filter(|&i| self.colluding[i] && self.nodes[i].alive && self.nodes[i].core.is_some())
            .map(|i| (self.nodes[i].info.id, i))
            .collect();
        ring.sort_unstable();
        let r = self.cfg.chord.successors;
        let from = |key: &RingId, skip: usize| -> Vec<NodeInfo> {
            let start = ring.partition_point(|(id, _)| id < key);
            (skip..r + skip)
                .filter_map(|k| ring.get((start + k) % ring.len().max(1)))
                .map(|(_, i)| self.nodes[*i].info.clone())
                .collect()
        };
        let me_info = &self.nodes[me].info;
        let real_pred = self.nodes[me].core.as_ref().and_then(|c| c.predecessor()).is_some_and(|p| p.same(asker));
        match request {
            Request::FindSuccessor { key } => Response::Successors { successors: from(key, 0) },
            Request::GetNeighbours if !real_pred => {
                let at = ring.partition_point(|(id, _)| *id < me_info.id);
                let before = ring[(at + ring.len() - 1) % ring.len()].1;
                Response::Neighbours {
                    predecessor: Some(self.nodes[before].info.clone()),
                    successors: from(&me_info.id, 1),
                }
            }
            _ => honest,
        }
    }

    fn start(&mut self, i: usize) {
        let now = self.kit.instant();
        self.nodes[i].core = Some(Chord::new(self.nodes[i].info.clone(), self.cfg.chord.clone(), now));
        self.drain(i);
    }

    fn random_joined(&mut self, except: usize) -> Option<usize> {
        let pool: Vec<usize> =
            (0..self.nodes.len()).filter(|&k| k != except && self.nodes[k].alive && self.nodes[k].joined).collect();
        if pool.is_empty() { None } else { Some(pool[self.kit.rng.random_range(0..pool.len())]) }
    }

    fn dispatch(&mut self, what: What) {
        let now = self.kit.instant();
        match what {
            What::Join(i) => {
                if !self.nodes[i].alive {
                    return;
                }
                if self.nodes[i].core.is_none() {
                    self.start(i);
                }
                if let Some(via) = self.random_joined(i) {
                    let via = self.nodes[via].info.clone();
                    if let Some(core) = self.nodes[i].core.as_mut() {
                        core.handle(now, Input::Join(via));
                    }
                    self.drain(i);
                }
            }
            What::Timer(i) => {
                if !self.timers.fire(i, self.kit.now()) {
                    return; // superseded by an earlier wakeup
                }
                let n = &mut self.nodes[i];
                if let (true, Some(core)) = (n.alive, n.core.as_mut()) {
                    if core.poll_timeout().is_some_and(|t| t <= now) {
                        core.handle(now, Input::Timeout);
                    }
                    self.drain(i);
                }
            }
            What::Packet(Envelope { from, to, msg: Packet::Request { id, request }, .. }) => {
                let from_info = self.nodes[from].info.clone();
                let n = &mut self.nodes[to];
                let (true, Some(core)) = (n.alive, n.core.as_mut()) else {
                    self.net.stats.dropped += 1;
                    return;
                };
                let asker = from_info.clone();
                let honest = core.handle_request(now, from_info, request.clone());
                let response = if self.colluding[to] { self.collude(to, &asker, &request, honest) } else { honest };
                self.drain(to);
                let responder = self.nodes[to].info.ticket;
                self.transmit(Envelope::new(to, from, Packet::Response { id, responder, response }));
            }
            What::Packet(Envelope { to, msg: Packet::Response { id, responder, response }, .. }) => {
                let n = &mut self.nodes[to];
                if let (true, Some(core)) = (n.alive, n.core.as_mut()) {
                    core.handle(now, Input::Response { id, responder, response });
                    self.drain(to);
                }
            }
        }
    }

    /// Put a message on the network.
    fn transmit(&mut self, env: Envelope<Packet>) {
        self.kit.send(&mut self.net, &mut Passthrough, env, What::Packet);
    }

    /// Carry out everything node `i`'s core asked for, then re-arm its timer.
    fn drain(&mut self, i: usize) {
        loop {
            let Some(core) = self.nodes[i].core.as_mut() else { return };
            let Some(out) = core.poll_output() else { break };
            match out {
                Output::Send { id, to, request } => match self.by_peer.get(&to.peer).copied() {
                    Some(j) => self.transmit(Envelope::new(i, j, Packet::Request { id, request })),
                    None => {
                        let now = self.kit.instant();
                        if let Some(core) = self.nodes[i].core.as_mut() {
                            core.handle(now, Input::Failure { id });
                        }
                    }
                },
                Output::LookupDone { id, result } => {
                    self.results.insert((i, id), result);
                }
                Output::Event(e) => self.on_event(i, e),
            }
        }
        let next = self.nodes[i].core.as_ref().and_then(|c| c.poll_timeout());
        self.kit.wake(&mut self.timers, i, next, What::Timer(i));
    }

    fn on_event(&mut self, i: usize, e: Event) {
        match e {
            Event::Joined { .. } => self.nodes[i].joined = true,
            Event::JoinFailed { .. } | Event::Alone => {
                self.kit.after(Duration::from_secs(1), What::Join(i));
            }
            Event::StabilizationRound => self.stabilization_rounds += 1,
            Event::AnswerRefused { reason, .. } => *self.refusals.entry(reason.as_str()).or_default() += 1,
            Event::Left => {
                self.nodes[i].alive = false;
                self.net.set_down(i, true);
            }
            _ => {}
        }
    }
}
