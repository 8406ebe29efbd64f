//! The state of one lookup (Chord §4.3, made iterative as in §6 of the
//! paper's implementation notes): one or more *paths*, each querying the
//! closest known predecessor of the key, moving to the closer nodes it
//! returns, falling back to the next candidate when one fails, and ending at
//! a node that answers with the key's successors, which that successor
//! then confirms ([`super::verify`]).
//!
//! A caller's lookup runs several paths that never query the same node
//! (S/Kademlia §4.4, "disjoint paths"): one lying hop sits on one path only,
//! and the answers are compared before one is believed
//! ([`super::crosscheck`]). Everything a path learns about the ring near the
//! key is kept for that comparison.

use std::collections::HashSet;
use std::time::Instant;

use super::LookupError;
use super::density::Density;
use crate::node::{NodeInfo, PeerRef};
use crate::ring::RingId;

/// What a lookup was started for: the caller's, or the core's own upkeep.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Purpose {
    /// Asked for through [`crate::Chord::start_lookup`].
    User,
    /// Joining the ring: find my own successor through a bootstrap peer.
    Join,
    /// Refreshing finger `i` (fix_fingers).
    Finger(usize),
    /// Looking up my own id through the ring, to find out whether the ring
    /// knows me and whether a closer successor exists.
    SelfCheck,
}

/// What a path wants next.
#[derive(Debug)]
pub(crate) enum Step {
    /// Query this node.
    Query(NodeInfo),
    /// Nobody left to ask.
    Exhausted,
}

/// A confirmed answer: `named` says the key lies in (`predecessor`, `named`].
#[derive(Clone, Debug)]
pub(crate) struct Answer {
    /// The key's successor, as it confirmed itself.
    pub named: NodeInfo,
    /// Its predecessor, as it said (`None`: it has none yet).
    pub predecessor: Option<NodeInfo>,
    /// `named` followed by its own successor list.
    pub successors: Vec<NodeInfo>,
    /// Remote steps the path took.
    pub hops: u32,
}

/// One path of a lookup.
#[derive(Debug, Default)]
pub(crate) struct Path {
    /// Nodes still to try, closest preceding the key first.
    candidates: Vec<NodeInfo>,
    /// The node currently queried, or asked to confirm.
    pub in_flight: Option<NodeInfo>,
    /// Remote steps so far.
    pub hops: u32,
    /// Has the path queried anyone yet? A path that has not, and has no
    /// candidate, is idle: it waits for a node to start from.
    started: bool,
    /// How the path ended; `None` while it runs.
    pub outcome: Option<Result<Answer, LookupError>>,
}

impl Path {
    /// Not started, and nothing to start from.
    fn idle(&self) -> bool {
        !self.started && self.candidates.is_empty() && self.outcome.is_none()
    }
}

/// A cross-check under way: which node was asked, and why.
#[derive(Clone, Debug)]
pub(crate) enum Check {
    /// Does this node, between the key and the best answer, own the key?
    Closer(NodeInfo),
    /// Does `node`, before the key, list `against` (the best answer) among
    /// its successors?
    Witness {
        /// The node asked.
        node: NodeInfo,
        /// The answer it is asked about.
        against: NodeInfo,
    },
}

impl Check {
    /// The node asked.
    pub fn node(&self) -> &NodeInfo {
        match self {
            Check::Closer(node) | Check::Witness { node, .. } => node,
        }
    }
}

/// One lookup in progress.
#[derive(Debug)]
pub(crate) struct Lookup {
    pub key: RingId,
    pub purpose: Purpose,
    pub deadline: Instant,
    pub paths: Vec<Path>,
    /// Every node any path queried: paths stay disjoint.
    claimed: HashSet<PeerRef>,
    /// Admitted nodes learned during the lookup (and from the routing
    /// state), for the cross-check.
    pub known: Vec<NodeInfo>,
    /// Nodes that failed to answer during this lookup.
    pub dead: HashSet<PeerRef>,
    /// Nodes already asked by the cross-check.
    pub asked: HashSet<PeerRef>,
    /// Answers the cross-check found (closer nodes that own the key).
    pub found: Vec<Answer>,
    /// Answers refused by the cross-check.
    pub refused: HashSet<PeerRef>,
    /// The cross-check under way.
    pub checking: Option<Check>,
    /// Cross-check questions asked so far.
    pub checks: u32,
    /// Requests sent for this lookup (every attempt counts).
    pub messages: u32,
    /// The densest successor list seen ([`super::density`]).
    pub density: Density,
    /// Looking up my own id: the successors a node that named me as the
    /// key's owner listed after me. My own list answers such a lookup; this
    /// one shows whether mine is the ring's ([`super::search`]).
    pub heard: Vec<NodeInfo>,
}

impl Lookup {
    /// A lookup whose `paths` paths share out `start` (round robin: path
    /// `i` gets start nodes `i`, `i + paths`, …). With fewer start nodes
    /// than paths, the others wait idle until a `Closer` answer names nodes
    /// they can start from ([`Self::on_closer`]): a join through one
    /// bootstrap peer still spreads over several paths after one hop.
    pub fn new(key: RingId, purpose: Purpose, deadline: Instant, start: Vec<NodeInfo>, paths: usize) -> Lookup {
        let n = paths.max(1);
        let mut l = Lookup {
            key,
            purpose,
            deadline,
            paths: (0..n).map(|_| Path::default()).collect(),
            claimed: HashSet::new(),
            known: Vec::new(),
            dead: HashSet::new(),
            asked: HashSet::new(),
            found: Vec::new(),
            refused: HashSet::new(),
            checking: None,
            checks: 0,
            messages: 0,
            density: Density::default(),
            heard: Vec::new(),
        };
        for (i, s) in start.into_iter().enumerate() {
            l.add_candidate(i % n, s);
        }
        l
    }

    fn add_candidate(&mut self, p: usize, n: NodeInfo) {
        let key = self.key;
        let Some(path) = self.paths.get_mut(p) else { return };
        if self.claimed.contains(&n.peer) || path.candidates.iter().any(|c| c.same(&n)) {
            return;
        }
        path.candidates.push(n);
        // Closest preceding first: smallest clockwise distance to the key.
        path.candidates.sort_by_key(|c| c.id.distance_to(&key));
    }

    /// Remember an admitted node for the cross-check. A node's own latest
    /// ticket replaces what was known of it (a start node may have been
    /// known by a placeholder).
    pub fn learn(&mut self, n: &NodeInfo) {
        match self.known.iter_mut().find(|k| k.peer == n.peer) {
            Some(k) => *k = n.clone(),
            None => self.known.push(n.clone()),
        }
    }

    /// Remember every node of `nodes` but `me`.
    pub fn learn_all<'a>(&mut self, nodes: impl IntoIterator<Item = &'a NodeInfo>, me: &NodeInfo) {
        for n in nodes.into_iter().filter(|n| !n.same(me)) {
            self.learn(n);
        }
    }

    /// The next node path `p` queries: its closest candidate that no path
    /// has queried yet.
    pub fn next(&mut self, p: usize) -> Step {
        let Some(path) = self.paths.get_mut(p) else { return Step::Exhausted };
        path.started = true;
        while !path.candidates.is_empty() {
            let n = path.candidates.remove(0);
            if self.claimed.insert(n.peer.clone()) {
                path.in_flight = Some(n.clone());
                return Step::Query(n);
            }
        }
        path.in_flight = None;
        Step::Exhausted
    }

    /// The node path `p` queried answered "ask these, they are closer".
    /// Only nodes in `(responder, key)` are accepted, so every hop strictly
    /// approaches the key and a lying peer cannot send the lookup backwards
    /// or in circles. The closest stays with path `p`; the others start
    /// idle paths first. Returns the paths that got their first node.
    pub fn on_closer(&mut self, p: usize, responder: &NodeInfo, nodes: Vec<NodeInfo>, me: &PeerRef) -> Vec<usize> {
        if let Some(path) = self.paths.get_mut(p) {
            path.hops += 1;
        }
        self.learn(responder);
        let key = self.key;
        let mut nodes: Vec<NodeInfo> = nodes
            .into_iter()
            .filter(|n| &n.peer != me && n.id.in_open(&responder.id, &key) && !self.claimed.contains(&n.peer))
            .collect();
        nodes.sort_by_key(|n| n.id.distance_to(&key));
        let mut spawned = Vec::new();
        for (k, n) in nodes.into_iter().enumerate() {
            self.learn(&n);
            let idle = (k > 0).then(|| self.paths.iter().position(Path::idle)).flatten();
            match idle {
                Some(q) => {
                    self.add_candidate(q, n);
                    spawned.push(q);
                }
                None => self.add_candidate(p, n),
            }
        }
        spawned
    }

    /// Has every path ended (or never started)?
    pub fn paths_done(&self) -> bool {
        self.paths.iter().all(|p| p.outcome.is_some() || p.idle())
    }

    /// Has path `p` a node to start from and not started yet?
    pub fn ready(&self, p: usize) -> bool {
        self.paths.get(p).is_some_and(|p| !p.started && !p.candidates.is_empty())
    }

    /// Is `peer` the node path `p` is waiting for?
    pub fn awaits(&self, p: usize, peer: &PeerRef) -> bool {
        self.paths.get(p).and_then(|p| p.in_flight.as_ref()).is_some_and(|n| &n.peer == peer)
    }

    /// Every confirmed answer: the paths' and the cross-check's.
    pub fn answers(&self) -> impl Iterator<Item = &Answer> {
        self.paths.iter().filter_map(|p| p.outcome.as_ref().and_then(|o| o.as_ref().ok())).chain(&self.found)
    }

    /// The most remote steps any path took.
    pub fn hops(&self) -> u32 {
        self.paths.iter().map(|p| p.hops).max().unwrap_or(0)
    }
}
