//! Driving lookups (Chord §4.3, iterative): starting them, moving each
//! path one hop closer, and handing the result to whoever asked, the
//! caller or the core's own upkeep (join, fingers, self-checks).

use std::time::Instant;

use super::density::Density;
use super::lookup::{Lookup, Purpose, Step};
use super::{Chord, Event, LookupError, LookupId, LookupResult, Output, RpcPurpose};
use crate::node::NodeInfo;
use crate::ring::RingId;
use crate::wire::{Request, Response};

impl Chord {
    pub(super) fn lookup(&mut self, now: Instant, key: RingId, purpose: Purpose) -> LookupId {
        self.lookup_from(now, key, purpose, None)
    }

    /// A lookup starting at `start`, or at my own closest preceding nodes,
    /// over [`super::Config::lookup_paths`] disjoint paths (upkeep:
    /// [`super::Config::upkeep_paths`]).
    pub(super) fn lookup_from(
        &mut self,
        now: Instant,
        key: RingId,
        purpose: Purpose,
        start: Option<Vec<NodeInfo>>,
    ) -> LookupId {
        let id = self.new_lookup_id();
        if self.leaving.is_some() {
            self.out.push_back(Output::LookupDone { id, result: Err(LookupError::Leaving) });
            return id;
        }
        let local = if purpose == Purpose::SelfCheck { None } else { self.routing.local_successors(&key) };
        if let Some(successors) = local {
            self.lookups.insert(id, Lookup::new(key, purpose, now, Vec::new(), 1));
            self.finish_lookup(now, id, Ok(LookupResult { key, successors, hops: 0, messages: 0 }));
            return id;
        }
        let paths = match purpose {
            Purpose::User | Purpose::Join => self.cfg.lookup_paths,
            Purpose::Finger(_) | Purpose::SelfCheck => self.cfg.upkeep_paths,
        }
        .max(1);
        let start = start.unwrap_or_else(|| self.routing.closest_preceding(&key, self.cfg.closer_nodes.max(2 * paths)));
        // An empty start list makes the lookup finish at once as exhausted.
        let mut l = Lookup::new(key, purpose, now + self.cfg.lookup_timeout, start, paths);
        // What I know of the ring takes part in the cross-check.
        let r = &self.routing;
        l.learn_all(r.successors.iter().chain(&r.predecessor).chain(r.fingers.iter().flatten()), &r.me);
        // So does how dense it is: my own list is the first sample.
        l.density.sample(&r.me.id, &r.successors);
        let ready: Vec<usize> = (1..l.paths.len()).filter(|&p| l.ready(p)).collect();
        self.lookups.insert(id, l);
        // Path 0 always: with no start node at all it ends the lookup.
        for p in std::iter::once(0).chain(ready) {
            self.advance_lookup(now, id, p);
        }
        id
    }

    /// Query path `p`'s next candidate, or end the path.
    pub(super) fn advance_lookup(&mut self, now: Instant, id: LookupId, p: usize) {
        let Some(l) = self.lookups.get_mut(&id) else { return };
        let key = l.key;
        match l.next(p) {
            Step::Query(n) => {
                l.messages += 1;
                self.send(now, n, Request::FindSuccessor { key }, RpcPurpose::Lookup(id, p))
            }
            Step::Exhausted => self.path_ended(now, id, p, Err(LookupError::Exhausted)),
        }
    }

    pub(super) fn on_lookup_response(
        &mut self,
        now: Instant,
        id: LookupId,
        p: usize,
        from: &NodeInfo,
        response: Response,
    ) {
        if !self.lookups.contains_key(&id) {
            return;
        }
        match response {
            Response::Successors { successors } if !successors.is_empty() => {
                self.on_successors(now, id, p, from, successors);
            }
            Response::Closer { nodes } => {
                // A distrusted node is not asked ([`super::neighbours`]).
                let nodes: Vec<NodeInfo> = nodes.into_iter().filter(|n| self.trusted(now, n)).collect();
                let Some(l) = self.lookups.get_mut(&id) else { return };
                let spawned = l.on_closer(p, from, nodes, &self.routing.me.peer);
                for q in spawned {
                    self.advance_lookup(now, id, q);
                }
                let Some(l) = self.lookups.get(&id) else { return };
                if l.paths.get(p).is_some_and(|path| path.hops >= self.cfg.max_lookup_hops) {
                    self.path_ended(now, id, p, Err(LookupError::TooManyHops));
                } else {
                    self.advance_lookup(now, id, p);
                }
            }
            // A wrong answer counts as a failure of that peer for this lookup.
            _ => self.advance_lookup(now, id, p),
        }
    }

    pub(super) fn finish_lookup(&mut self, now: Instant, id: LookupId, result: Result<LookupResult, LookupError>) {
        let Some(l) = self.lookups.remove(&id) else { return };
        match l.purpose {
            Purpose::User => self.out.push_back(Output::LookupDone { id, result }),
            Purpose::Finger(i) => {
                self.finger_lookup = None;
                match result.ok().and_then(|r| r.successors.into_iter().next()) {
                    // A prefix already holding its share of fingers gets no
                    // more: this finger stays empty and lookups use others.
                    Some(n) if !n.same(&self.routing.me) && (!self.finger_allowed(&n) || !self.trusted(now, &n)) => {
                        self.next_finger = (i + 1) % RingId::BITS;
                    }
                    Some(n) if !n.same(&self.routing.me) => {
                        self.next_finger = self.routing.set_finger(i, &n) % RingId::BITS;
                    }
                    // The finger wraps around to me: no further finger is useful.
                    Some(_) => {
                        self.routing.fingers[i..].iter_mut().for_each(|f| *f = None);
                        self.next_finger = 0;
                    }
                    None => self.next_finger = (i + 1) % RingId::BITS,
                }
            }
            Purpose::SelfCheck => {
                self.finger_lookup = None;
                // If the ring routed my own id to someone other than me, the
                // node that answered did not know me: merge what it said, so a
                // node that joined with a wrong successor is found in one
                // lookup instead of one node per stabilization round. The
                // answering node learned me from the request itself.
                //
                // If my own list is far sparser than the one found, it is
                // not the ring but identities standing for each other (a
                // join or a stabilization they captured, [`super::density`]):
                // the list found replaces it instead. So may the list that
                // the node naming me as the owner of my id holds after me
                // ([`Lookup::heard`]): unconfirmed, it only ever replaces a
                // captured list.
                if let Ok(r) = result {
                    let found: Vec<NodeInfo> = r.successors.into_iter().filter(|n| self.trusted(now, n)).collect();
                    let heard: Vec<NodeInfo> = l.heard.into_iter().filter(|n| self.trusted(now, n)).collect();
                    let me = self.routing.me.id;
                    let mine = &self.routing.successors;
                    let merged: Vec<NodeInfo> = if Density::of(&me, &found).sparse(&me, mine) {
                        found
                    } else if Density::of(&me, &heard).sparse(&me, mine) {
                        heard
                    } else {
                        mine.iter().cloned().chain(found).collect()
                    };
                    if self.routing.set_successors(merged) {
                        self.stabilize_at = now;
                        self.emit(Event::NeighboursChanged);
                    }
                }
            }
            Purpose::Join => {
                let via = match self.joining.take() {
                    Some((_, via)) => via,
                    None => return,
                };
                match result {
                    Ok(r) => {
                        let found: Vec<NodeInfo> = r.successors.into_iter().filter(|n| self.trusted(now, n)).collect();
                        self.routing.set_successors(found);
                        let Some(succ) = self.routing.successors.first().cloned() else {
                            self.emit(Event::JoinFailed { via, error: LookupError::Exhausted });
                            return;
                        };
                        self.emit(Event::Joined { successor: succ });
                        self.emit(Event::NeighboursChanged);
                        // Stabilize and notify at the next tick (Chord §4.4).
                        self.stabilize_at = now;
                    }
                    Err(error) => self.emit(Event::JoinFailed { via, error }),
                }
            }
        }
    }
}
