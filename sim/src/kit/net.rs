//! A simulated message network over node indices, generic over the message
//! type: one-way latency drawn from a range, loss, duplication, reordering
//! (a random extra delay), nodes that are down, partitions, and an
//! [`Adversary`] consulted for every message sent.
//!
//! Partitions follow tikv/raft-rs's test network: [`Net::cut`] separates two
//! nodes, [`Net::isolate`] one node from all others, [`Net::heal`] restores
//! every link. A probability of zero draws nothing from the generator, so a
//! feature left off never changes what a seed does.

use std::collections::HashSet;
use std::time::Duration;

use rand::Rng;
use rand::rngs::StdRng;

use super::uniform;

/// How the network treats messages.
#[derive(Clone, Debug)]
pub struct NetConfig {
    /// One-way latency, uniform in this range (random latencies reorder).
    pub latency: (Duration, Duration),
    /// Probability that a message is lost.
    pub loss: f64,
    /// Probability that a message is delivered twice (each copy with its own latency).
    pub duplicate: f64,
    /// Probability that a copy is held back by an extra delay, uniform in
    /// `[0, reorder_delay]`, so later messages overtake it.
    pub reorder: f64,
    /// See `reorder`.
    pub reorder_delay: Duration,
}

impl NetConfig {
    /// A lossless network with one-way latency uniform in `[lo, hi]`.
    pub fn latency(lo: Duration, hi: Duration) -> NetConfig {
        NetConfig { latency: (lo, hi), loss: 0.0, duplicate: 0.0, reorder: 0.0, reorder_delay: Duration::ZERO }
    }
}

/// A message on the network.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Envelope<M> {
    /// Sending node.
    pub from: usize,
    /// Receiving node.
    pub to: usize,
    /// Held back this much on top of the network's latency (an adversary's delay).
    pub delay: Duration,
    /// The message.
    pub msg: M,
}

impl<M> Envelope<M> {
    /// `msg` from `from` to `to`, without extra delay.
    pub fn new(from: usize, to: usize, msg: M) -> Envelope<M> {
        Envelope { from, to, delay: Duration::ZERO, msg }
    }
}

/// Counters of one run's network.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NetStats {
    /// Messages put on the network (adversary rewrites and injections included).
    pub sent: u64,
    /// Copies scheduled for delivery (duplicates count twice).
    pub delivered: u64,
    /// Messages lost, cut off by a partition, sent to a node that is down,
    /// or counted by a simulator as lost on arrival.
    pub dropped: u64,
    /// Messages delivered twice.
    pub duplicated: u64,
}

/// Consulted for every message a node sends, before the network sees it.
/// It hands the network whatever should travel instead, through the
/// [`Wire`]: the message itself (deliver), nothing (drop), the message with
/// an extra delay (delay), another message (rewrite), or more messages from
/// any node to any node (inject). It draws only from the wire's generator,
/// so runs stay deterministic.
pub trait Adversary<M> {
    /// Node `env.from` sends `env`.
    fn on_send(&mut self, env: Envelope<M>, wire: &mut Wire<'_, M>);
}

/// The adversary that changes nothing: every message is handed on.
#[derive(Clone, Copy, Debug, Default)]
pub struct Passthrough;

impl<M: Clone> Adversary<M> for Passthrough {
    fn on_send(&mut self, env: Envelope<M>, wire: &mut Wire<'_, M>) {
        wire.send(env);
    }
}

/// The network as an adversary sees it while one message is being sent.
pub struct Wire<'a, M> {
    cfg: &'a NetConfig,
    links: &'a Links,
    stats: &'a mut NetStats,
    rng: &'a mut StdRng,
    now: Duration,
    sink: &'a mut dyn FnMut(Duration, Envelope<M>),
}

impl<M: Clone> Wire<'_, M> {
    /// The run's random generator.
    pub fn rng(&mut self) -> &mut StdRng {
        self.rng
    }

    /// Virtual time of the send.
    pub fn now(&self) -> Duration {
        self.now
    }

    /// Put `env` on the network: it may be cut off, lost or duplicated, and
    /// each surviving copy arrives after a random latency (plus `env.delay`).
    pub fn send(&mut self, env: Envelope<M>) {
        self.stats.sent += 1;
        if !self.links.reachable(env.from, env.to) || draw(self.rng, self.cfg.loss) {
            self.stats.dropped += 1;
            return;
        }
        if draw(self.rng, self.cfg.duplicate) {
            let first = self.arrival(env.delay);
            let second = self.arrival(env.delay);
            self.stats.duplicated += 1;
            self.stats.delivered += 2;
            (self.sink)(first, env.clone());
            (self.sink)(second, env);
        } else {
            let at = self.arrival(env.delay);
            self.stats.delivered += 1;
            (self.sink)(at, env);
        }
    }

    /// When one copy sent now arrives: latency, maybe a reordering delay.
    fn arrival(&mut self, extra: Duration) -> Duration {
        let mut at = self.now + extra + uniform(self.rng, self.cfg.latency.0, self.cfg.latency.1);
        if draw(self.rng, self.cfg.reorder) {
            at += uniform(self.rng, Duration::ZERO, self.cfg.reorder_delay);
        }
        at
    }
}

/// `true` with probability `p`; draws nothing when `p` is zero.
fn draw(rng: &mut StdRng, p: f64) -> bool {
    p > 0.0 && rng.random_bool(p.min(1.0))
}

/// Which nodes can reach which.
#[derive(Clone, Debug, Default)]
struct Links {
    /// Unordered pairs cut apart.
    cut: HashSet<(usize, usize)>,
    /// Nodes cut off from every other node.
    isolated: HashSet<usize>,
    /// Nodes that receive nothing (crashed).
    down: HashSet<usize>,
}

impl Links {
    fn reachable(&self, from: usize, to: usize) -> bool {
        if self.down.contains(&to) {
            return false;
        }
        if from == to {
            return true;
        }
        !(self.isolated.contains(&from) || self.isolated.contains(&to) || self.cut.contains(&pair(from, to)))
    }
}

fn pair(a: usize, b: usize) -> (usize, usize) {
    (a.min(b), a.max(b))
}

/// The network of one run, carrying messages of type `M`.
#[derive(Clone, Debug)]
pub struct Net<M> {
    /// Latency, loss, duplication and reordering.
    pub cfg: NetConfig,
    /// Counters.
    pub stats: NetStats,
    links: Links,
    _msg: std::marker::PhantomData<fn(M)>,
}

impl<M: Clone> Net<M> {
    /// A fully connected network.
    pub fn new(cfg: NetConfig) -> Net<M> {
        Net { cfg, stats: NetStats::default(), links: Links::default(), _msg: std::marker::PhantomData }
    }

    /// Cut the link between `a` and `b`, both ways.
    pub fn cut(&mut self, a: usize, b: usize) {
        self.links.cut.insert(pair(a, b));
    }

    /// Cut every link between `group` and the nodes of `all` outside it.
    pub fn partition(&mut self, group: &[usize], all: impl IntoIterator<Item = usize>) {
        for b in all {
            if !group.contains(&b) {
                for &a in group {
                    self.cut(a, b);
                }
            }
        }
    }

    /// Cut node `n` off from every other node.
    pub fn isolate(&mut self, n: usize) {
        self.links.isolated.insert(n);
    }

    /// Restore every cut and isolated link (nodes that are down stay down).
    pub fn heal(&mut self) {
        self.links.cut.clear();
        self.links.isolated.clear();
    }

    /// Mark node `n` down (it receives nothing) or up again.
    pub fn set_down(&mut self, n: usize, down: bool) {
        if down {
            self.links.down.insert(n);
        } else {
            self.links.down.remove(&n);
        }
    }

    /// Whether a message from `from` would reach `to` now (loss aside).
    pub fn reachable(&self, from: usize, to: usize) -> bool {
        self.links.reachable(from, to)
    }

    /// Node `env.from` sends `env`: the adversary decides what travels, and
    /// `sink` receives every copy that survives with its arrival time.
    pub fn send(
        &mut self,
        rng: &mut StdRng,
        now: Duration,
        adversary: &mut dyn Adversary<M>,
        env: Envelope<M>,
        sink: &mut dyn FnMut(Duration, Envelope<M>),
    ) {
        let mut wire = Wire { cfg: &self.cfg, links: &self.links, stats: &mut self.stats, rng, now, sink };
        adversary.on_send(env, &mut wire);
    }
}
