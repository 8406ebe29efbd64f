//! The routing state of one node (Chord §4.2 and §5.2): predecessor,
//! successor list and finger table, and the questions asked of them.

use crate::node::{NodeInfo, PeerRef};
use crate::ring::RingId;

/// Predecessor, successor list and fingers of the local node.
#[derive(Debug)]
pub(crate) struct Routing {
    pub me: NodeInfo,
    pub predecessor: Option<NodeInfo>,
    /// Clockwise from the immediate successor; never contains `me`; empty
    /// means the node is alone on its ring.
    pub successors: Vec<NodeInfo>,
    /// `fingers[i]` is the first node that succeeds `me + 2^i`.
    pub fingers: Vec<Option<NodeInfo>>,
    pub max_successors: usize,
}

impl Routing {
    pub fn new(me: NodeInfo, max_successors: usize) -> Routing {
        Routing { me, predecessor: None, successors: Vec::new(), fingers: vec![None; RingId::BITS], max_successors }
    }

    /// The immediate successor, or `me` when alone.
    pub fn successor(&self) -> &NodeInfo {
        self.successors.first().unwrap_or(&self.me)
    }

    /// Replace the successor list by `candidates`, kept in clockwise order
    /// from `me`, without `me` or duplicates, at most `max_successors` long.
    pub fn set_successors(&mut self, candidates: impl IntoIterator<Item = NodeInfo>) -> bool {
        let mut list: Vec<NodeInfo> = Vec::with_capacity(self.max_successors + 1);
        for n in candidates {
            if n.same(&self.me) || list.iter().any(|m| m.same(&n)) {
                continue;
            }
            list.push(n);
        }
        let me = self.me.id;
        list.sort_by_key(|n| me.distance_to(&n.id));
        list.truncate(self.max_successors);
        let changed = !same_peers(&list, &self.successors);
        self.successors = list;
        changed
    }

    /// Chord's `notify`: adopt `n` as predecessor if it is closer than the
    /// current one (or there is none). Returns whether it was adopted.
    pub fn offer_predecessor(&mut self, n: &NodeInfo) -> bool {
        if n.same(&self.me) {
            return false;
        }
        let adopt = match &self.predecessor {
            None => true,
            Some(p) if p.same(n) => {
                // Same node, possibly new addresses.
                self.predecessor = Some(n.clone());
                return false;
            }
            Some(p) => n.id.in_open(&p.id, &self.me.id),
        };
        if adopt {
            self.predecessor = Some(n.clone());
        }
        adopt
    }

    /// Forget a node everywhere (it failed or left). Returns whether it was known.
    pub fn evict(&mut self, peer: &PeerRef) -> bool {
        let mut known = false;
        if self.predecessor.as_ref().is_some_and(|p| &p.peer == peer) {
            self.predecessor = None;
            known = true;
        }
        let before = self.successors.len();
        self.successors.retain(|n| &n.peer != peer);
        known |= before != self.successors.len();
        for f in self.fingers.iter_mut() {
            if f.as_ref().is_some_and(|n| &n.peer == peer) {
                *f = None;
                known = true;
            }
        }
        known
    }

    /// Forget `peer` as predecessor (check_predecessor failed).
    pub fn clear_predecessor(&mut self, peer: &PeerRef) -> bool {
        if self.predecessor.as_ref().is_some_and(|p| &p.peer == peer) {
            self.predecessor = None;
            return true;
        }
        false
    }

    /// Forget `peer` in the finger table only (a lookup step failed).
    pub fn evict_finger(&mut self, peer: &PeerRef) -> bool {
        let mut known = false;
        for f in self.fingers.iter_mut() {
            if f.as_ref().is_some_and(|n| &n.peer == peer) {
                *f = None;
                known = true;
            }
        }
        known
    }

    /// When the successor list has emptied, fall back to the closest known
    /// node (fingers, then predecessor) so the ring can heal (Chord §5.2).
    pub fn refill_successor(&mut self) {
        if !self.successors.is_empty() {
            return;
        }
        let known: Vec<NodeInfo> = self.fingers.iter().flatten().cloned().chain(self.predecessor.clone()).collect();
        self.set_successors(known);
        self.successors.truncate(1);
    }

    /// Does the successor list reach the predecessor, i.e. cover the whole
    /// ring (a ring smaller than the list)? A list that is merely short
    /// because it is still filling does not.
    pub fn sees_whole_ring(&self) -> bool {
        self.predecessor.as_ref().is_some_and(|p| self.successors.iter().any(|n| n.same(p)))
    }

    /// If `key` is owned locally, its successor list: `(pred, me]` belongs to
    /// me, `(me, succ]` to my successor. `None` means "ask someone closer".
    pub fn local_successors(&self, key: &RingId) -> Option<Vec<NodeInfo>> {
        if self.successors.is_empty() {
            return Some(vec![self.me.clone()]);
        }
        if let Some(p) = &self.predecessor
            && key.in_open_closed(&p.id, &self.me.id)
        {
            let mut l = Vec::with_capacity(self.max_successors);
            l.push(self.me.clone());
            l.extend(self.successors.iter().take(self.max_successors - 1).cloned());
            return Some(l);
        }
        if key.in_open_closed(&self.me.id, &self.successor().id) {
            let mut l = self.successors.clone();
            // A list that reaches my predecessor covers the whole ring
            // (small ring): clockwise after the predecessor, I come next.
            // A list that is merely short (still filling) does not.
            if self.sees_whole_ring() && l.len() < self.max_successors && !l.iter().any(|n| n.same(&self.me)) {
                l.push(self.me.clone());
            }
            return Some(l);
        }
        None
    }

    /// The answer to another node's `FindSuccessor`: [`Self::local_successors`],
    /// or, when the key falls further along my successor list, the part of
    /// the list from the key's successor on. So the last few nodes before a
    /// key can all answer for it, and disjoint lookup paths (which may not
    /// both ask the key's predecessor) each end with an answer.
    pub fn answer_for(&self, key: &RingId) -> Option<Vec<NodeInfo>> {
        if let Some(l) = self.local_successors(key) {
            return Some(l);
        }
        let j = self.successors.windows(2).position(|w| key.in_open_closed(&w[0].id, &w[1].id))?;
        Some(self.successors[j + 1..].to_vec())
    }

    /// Chord's `closest_preceding_node`, returning up to `k` distinct nodes
    /// from the fingers and successor list that lie in `(me, key)`, closest
    /// to `key` first.
    pub fn closest_preceding(&self, key: &RingId, k: usize) -> Vec<NodeInfo> {
        let mut out: Vec<&NodeInfo> = Vec::with_capacity(k + 8);
        let mut last: Option<RingId> = None;
        // Fingers repeat in runs; look at each run once.
        for f in self.fingers.iter().rev().flatten().chain(self.successors.iter()) {
            if last == Some(f.id) {
                continue;
            }
            last = Some(f.id);
            if f.id.in_open(&self.me.id, key) && !out.iter().any(|m| m.id == f.id) {
                out.push(f);
            }
        }
        out.sort_by_key(|n| n.id.distance_to(key));
        out.into_iter().take(k).cloned().collect()
    }

    /// Set finger `i` and every following finger whose start also falls in
    /// `(me, node]`. Returns the first finger index not covered by `node`.
    pub fn set_finger(&mut self, i: usize, node: &NodeInfo) -> usize {
        let mut j = i;
        while j < RingId::BITS {
            let start = self.me.id.add_pow2(j);
            if j > i && !start.in_open_closed(&self.me.id, &node.id) {
                break;
            }
            self.fingers[j] = Some(node.clone());
            j += 1;
        }
        j
    }

    /// Distinct nodes in the finger table.
    pub fn distinct_fingers(&self) -> Vec<NodeInfo> {
        let mut out: Vec<NodeInfo> = Vec::new();
        for f in self.fingers.iter().flatten() {
            if !out.iter().any(|m| m.same(f)) {
                out.push(f.clone());
            }
        }
        out
    }

    /// Refresh the stored addresses of a node wherever it appears.
    pub fn update_addrs(&mut self, n: &NodeInfo) {
        if n.addrs.is_empty() {
            return;
        }
        let fix = |slot: &mut NodeInfo| {
            if slot.same(n) && slot.addrs != n.addrs {
                slot.addrs = n.addrs.clone();
            }
        };
        self.predecessor.iter_mut().for_each(fix);
        self.successors.iter_mut().for_each(fix);
        self.fingers.iter_mut().flatten().for_each(fix);
    }
}

fn same_peers(a: &[NodeInfo], b: &[NodeInfo]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.same(y))
}
