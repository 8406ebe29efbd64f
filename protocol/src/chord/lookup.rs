//! The iterative lookup state machine (Chord §4.3, made iterative as in
//! §6 of the paper's implementation notes): query the closest known
//! predecessor of the key, move to the closer nodes it returns, fall back to
//! the next candidate when one fails, and stop at the node whose successor
//! interval holds the key.

use std::collections::HashSet;
use std::time::Instant;

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

/// What the lookup wants next.
#[derive(Debug)]
pub(crate) enum Step {
    /// Query this node.
    Query(NodeInfo),
    /// Nobody left to ask.
    Exhausted,
}

/// One iterative lookup in progress.
#[derive(Debug)]
pub(crate) struct Lookup {
    pub key: RingId,
    pub purpose: Purpose,
    pub deadline: Instant,
    pub hops: u32,
    /// Nodes still to try, closest preceding the key first.
    candidates: Vec<NodeInfo>,
    tried: HashSet<PeerRef>,
    /// The node currently being queried.
    pub in_flight: Option<NodeInfo>,
}

impl Lookup {
    pub fn new(key: RingId, purpose: Purpose, deadline: Instant, start: Vec<NodeInfo>) -> Lookup {
        let mut l =
            Lookup { key, purpose, deadline, hops: 0, candidates: Vec::new(), tried: HashSet::new(), in_flight: None };
        for n in start {
            l.add_candidate(n);
        }
        l
    }

    fn add_candidate(&mut self, n: NodeInfo) {
        if self.tried.contains(&n.peer) || self.candidates.iter().any(|c| c.same(&n)) {
            return;
        }
        self.candidates.push(n);
        let key = self.key;
        // Closest preceding first: smallest clockwise distance to the key.
        self.candidates.sort_by_key(|c| c.id.distance_to(&key));
    }

    /// The next node to query.
    pub fn next(&mut self) -> Step {
        if self.candidates.is_empty() {
            self.in_flight = None;
            return Step::Exhausted;
        }
        let n = self.candidates.remove(0);
        self.tried.insert(n.peer.clone());
        self.in_flight = Some(n.clone());
        Step::Query(n)
    }

    /// The queried node answered "ask these, they are closer". Only nodes in
    /// `(responder, key)` are accepted, so every hop strictly approaches the
    /// key and a lying peer cannot send the lookup backwards or in circles.
    pub fn on_closer(&mut self, responder: &NodeInfo, nodes: Vec<NodeInfo>, me: &PeerRef) {
        self.hops += 1;
        for n in nodes {
            if &n.peer != me && n.id.in_open(&responder.id, &self.key) {
                self.add_candidate(n);
            }
        }
    }
}
