//! Answering other nodes' requests (Chord §4.4): lookups, neighbours,
//! `notify`, pings and graceful leaves, and learning better neighbours from
//! whoever asks.

use std::time::Instant;

use super::{Chord, Event};
use crate::node::NodeInfo;
use crate::wire::{Request, Response};

impl Chord {
    /// Answer a request from `from` (authenticated by the transport).
    pub fn handle_request(&mut self, now: Instant, from: NodeInfo, request: Request) -> Response {
        if from.same(&self.routing.me) || !self.request_admitted(now, &from, &request) {
            return Response::Ack;
        }
        self.routing.update_addrs(&from);
        // A distrusted node is answered, but changes nothing here.
        let trusted = self.trusted(now, &from);
        if trusted && self.leaving.is_none() && !matches!(request, Request::Leaving { .. }) {
            self.learn(now, &from);
        }
        match request {
            // A node whose own join is under way is on no ring yet: it must
            // not answer as a ring of one, or a node joining through it
            // founds a second ring with it. An empty list fails that hop.
            Request::FindSuccessor { .. } if self.joining.is_some() => Response::Successors { successors: Vec::new() },
            Request::FindSuccessor { key } => match self.routing.answer_for(&key) {
                Some(successors) => Response::Successors { successors },
                None => Response::Closer { nodes: self.routing.closest_preceding(&key, self.cfg.closer_nodes) },
            },
            Request::GetNeighbours => Response::Neighbours {
                predecessor: self.routing.predecessor.clone(),
                successors: self.routing.successors.clone(),
            },
            Request::Notify if !trusted => Response::Ack,
            Request::Notify => {
                let mut changed = self.routing.offer_predecessor(&from);
                if self.routing.successors.is_empty() && self.leaving.is_none() && self.joining.is_none() {
                    // A one-node ring learns its first successor (Chord §4.4).
                    changed |= self.routing.set_successors([from]);
                    self.stabilize_at = now;
                }
                if changed {
                    self.emit(Event::NeighboursChanged);
                }
                Response::Ack
            }
            Request::Ping => Response::Ack,
            Request::Leaving { predecessor, successors } => {
                let predecessor = predecessor.filter(|p| self.trusted(now, p));
                let successors = successors.into_iter().filter(|s| self.trusted(now, s)).collect();
                self.on_leaving(from, predecessor, successors);
                Response::Ack
            }
            Request::Revocations { revocations } => {
                self.take_revocations(now, revocations);
                Response::Ack
            }
        }
    }

    /// Whoever contacts us is alive and authenticated: if it sits between us
    /// and our successor it is our better successor, and if it sits between
    /// our predecessor and us it is our better predecessor. This is Chord's
    /// `notify` rule applied to every request, and it lets concurrent joins
    /// converge in a few rounds instead of one node per round.
    fn learn(&mut self, now: Instant, from: &NodeInfo) {
        let me = self.routing.me.id;
        let mut changed = false;
        if !self.routing.successors.is_empty() && from.id.in_open(&me, &self.routing.successor().id) {
            let list: Vec<NodeInfo> =
                std::iter::once(from.clone()).chain(self.routing.successors.iter().cloned()).collect();
            changed |= self.routing.set_successors(list);
            self.stabilize_at = self.stabilize_at.min(now + self.cfg.stabilize_interval / 4);
        }
        if self.routing.predecessor.as_ref().is_some_and(|p| from.id.in_open(&p.id, &me)) {
            changed |= self.routing.offer_predecessor(from);
        }
        if changed {
            self.emit(Event::NeighboursChanged);
        }
    }

    fn on_leaving(&mut self, from: NodeInfo, predecessor: Option<NodeInfo>, successors: Vec<NodeInfo>) {
        let was_pred = self.routing.predecessor.as_ref().is_some_and(|p| p.same(&from));
        let was_succ = self.routing.successors.iter().any(|s| s.same(&from));
        self.routing.evict(&from.peer);
        if was_pred && let Some(p) = predecessor.filter(|p| !p.same(&self.routing.me)) {
            self.routing.predecessor = Some(p);
        }
        if was_succ {
            let merged: Vec<NodeInfo> = self
                .routing
                .successors
                .iter()
                .cloned()
                .chain(successors.into_iter().take_while(|s| !s.same(&self.routing.me)).filter(|s| !s.same(&from)))
                .collect();
            self.routing.set_successors(merged);
        }
        if was_pred || was_succ {
            self.emit(Event::NeighboursChanged);
        }
    }
}
