//! Admission at the core's edge (issue 9, part 1): every node a response
//! or request names must pass the network's [`Rules`] before it enters
//! routing state or a lookup, and fingers hold few nodes per address prefix.
//! A response naming an unadmitted node is a provable lie: it is refused as
//! a whole ([`Refusal::Unadmitted`]) and the responder is struck by the glue.
//!
//! In a `permissioned` network ([`crate::permit`]) admission is a valid
//! membership certificate at `now`: a node whose certificate expires or is
//! revoked later is dropped from routing state ([`Chord::drop_unadmitted`]),
//! and revocations received are verified, kept and passed on to the
//! predecessor and the first successors ([`Chord::take_revocations`]), so
//! one given to any node reaches the whole ring.

use std::sync::Arc;
use std::time::Instant;

use super::verify::Refusal;
use super::{Chord, Event, RequestId, Rpc, RpcPurpose};
use crate::admission::{Rules, Ticket};
use crate::node::{NodeInfo, PeerRef};
use crate::permit::{Certificate, Revocation};
use crate::wire::{MAX_REVOCATIONS_PER_MESSAGE, Request, Response};

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod permissioned;

/// Successors (besides the predecessor) a new revocation is passed to.
const REVOCATION_FANOUT: usize = 2;

/// The nodes a response names.
fn named(response: &Response) -> impl Iterator<Item = &NodeInfo> {
    let (one, list): (Option<&NodeInfo>, &[NodeInfo]) = match response {
        Response::Successors { successors } => (None, successors),
        Response::Closer { nodes } => (None, nodes),
        Response::Neighbours { predecessor, successors } => (predecessor.as_ref(), successors),
        Response::Ack => (None, &[]),
    };
    one.into_iter().chain(list)
}

impl Chord {
    /// The network's admission rules.
    pub fn rules(&self) -> &Rules {
        &self.cfg.admission
    }

    /// Is `node`, and every node `request` names, admitted? A request that
    /// fails is answered without effect (the glue strikes its sender).
    pub(super) fn request_admitted(&self, now: Instant, from: &NodeInfo, request: &Request) -> bool {
        let rules = &self.cfg.admission;
        let named: Vec<&NodeInfo> = match request {
            Request::Leaving { predecessor, successors } => predecessor.iter().chain(successors).collect(),
            _ => Vec::new(),
        };
        rules.check(now, from).is_ok() && named.into_iter().all(|n| rules.check(now, n).is_ok())
    }

    /// The answer to request `id`, with the certificate the responder
    /// presented (`permissioned` networks: a bootstrap peer's was not
    /// known before). The same as [`super::Input::Response`] otherwise.
    pub fn handle_certified_response(
        &mut self,
        now: Instant,
        id: RequestId,
        responder: Ticket,
        cert: Option<Certificate>,
        response: Response,
    ) {
        if let Some(cert) = cert
            && let Some(rpc) = self.rpcs.get_mut(&id)
            && rpc.to.cert.as_deref() != Some(&cert)
        {
            let to = &rpc.to;
            rpc.to = NodeInfo::certified(to.peer.clone(), to.ticket, Some(Arc::new(cert)), to.addrs.clone());
        }
        self.handle_response(now, id, responder, response);
    }

    /// Drop from routing state every node no longer admitted at `now` (its
    /// certificate expired or was revoked). Returns how many were dropped.
    pub fn drop_unadmitted(&mut self, now: Instant) -> usize {
        let rules = &self.cfg.admission;
        let r = &self.routing;
        let mut gone: Vec<PeerRef> = r
            .predecessor
            .iter()
            .chain(&r.successors)
            .chain(r.fingers.iter().flatten())
            .filter(|n| rules.check(now, n).is_err())
            .map(|n| n.peer.clone())
            .collect();
        gone.sort();
        gone.dedup();
        let first = self.routing.successors.first().map(|s| s.peer.clone());
        for peer in &gone {
            self.routing.evict(peer);
        }
        if !gone.is_empty() {
            self.emit(Event::NeighboursChanged);
            if first.is_some_and(|f| gone.contains(&f)) {
                self.successor_lost(now);
            }
        }
        gone.len()
    }

    /// Revocations from a peer or the operator (`permissioned` networks):
    /// each is verified against the network's admission keys and kept; the
    /// revoked nodes leave routing state, and the new revocations are
    /// passed on to my predecessor and first successors. Returns how many
    /// were new here. An open network ignores them.
    pub fn take_revocations(&mut self, now: Instant, revocations: Vec<Revocation>) -> usize {
        let Some(m) = self.cfg.admission.permission.clone() else { return 0 };
        let unix = m.unix(now);
        let network = self.cfg.admission.network;
        let new: Vec<Revocation> =
            revocations.into_iter().filter(|r| m.revoke(&network, unix, r).is_ok_and(|fresh| fresh)).collect();
        if new.is_empty() {
            return 0;
        }
        self.drop_unadmitted(now);
        for chunk in new.chunks(MAX_REVOCATIONS_PER_MESSAGE) {
            self.pass_on(now, chunk.to_vec());
        }
        new.len()
    }

    /// Pass some of the revocations known here to my neighbours again, so
    /// nodes that joined after they spread learn them too (the caller's
    /// timer; `round` picks which piece, rotating).
    pub fn spread_revocations(&mut self, now: Instant, round: usize) {
        let Some(m) = self.cfg.admission.permission.clone() else { return };
        let some = m.revocations(round.wrapping_mul(MAX_REVOCATIONS_PER_MESSAGE), MAX_REVOCATIONS_PER_MESSAGE);
        if !some.is_empty() {
            self.pass_on(now, some);
        }
    }

    fn pass_on(&mut self, now: Instant, revocations: Vec<Revocation>) {
        let mut to: Vec<NodeInfo> = self.routing.predecessor.iter().cloned().collect();
        for s in self.routing.successors.iter().take(REVOCATION_FANOUT) {
            if !to.iter().any(|t| t.same(s)) {
                to.push(s.clone());
            }
        }
        to.retain(|t| !t.same(&self.routing.me));
        for t in to {
            // An Ack is all that comes back; a failure costs nothing more
            // than a failed notify.
            self.send(now, t, Request::Revocations { revocations: revocations.clone() }, RpcPurpose::Notify);
        }
    }

    /// The responder as its own ticket places it, if it and every node its
    /// response names are admitted. Otherwise the answer is refused as a
    /// lie and the request counts as failed — except for named nodes whose
    /// certificate expired or was revoked: the responder may not know that
    /// yet, so they are only left out of the answer.
    fn admit_response(&mut self, now: Instant, rpc: Rpc, responder: Ticket, response: &mut Response) -> Option<Rpc> {
        let mut rpc = rpc;
        if rpc.to.ticket != responder {
            rpc.to = NodeInfo::certified(rpc.to.peer.clone(), responder, rpc.to.cert.clone(), rpc.to.addrs.clone());
        }
        let rules = &self.cfg.admission;
        let honest = |n: &NodeInfo| match rules.check(now, n) {
            Ok(()) => true,
            Err(why) => why.is_news(),
        };
        if rules.check(now, &rpc.to).is_ok() && named(response).all(honest) {
            let admitted = |n: &NodeInfo| rules.check(now, n).is_ok();
            match response {
                Response::Successors { successors: l } | Response::Closer { nodes: l } => l.retain(admitted),
                Response::Neighbours { predecessor, successors } => {
                    successors.retain(admitted);
                    if predecessor.as_ref().is_some_and(|p| !admitted(p)) {
                        *predecessor = None;
                    }
                }
                Response::Ack => {}
            }
            return Some(rpc);
        }
        self.emit(Event::AnswerRefused { peer: rpc.to.clone(), reason: Refusal::Unadmitted });
        rpc.attempts_left = 0;
        self.rpc_failed(now, rpc);
        None
    }

    /// May `node` become a finger? Not if its prefix already holds
    /// [`Rules::per_prefix_routing`] other fingers (discv5 keeps a few per
    /// /24 in its whole table; here the fingers are that table).
    pub(super) fn finger_allowed(&self, node: &NodeInfo) -> bool {
        let cap = usize::from(self.cfg.admission.per_prefix_routing);
        let same = self
            .routing
            .distinct_fingers()
            .iter()
            .filter(|f| !f.same(node) && f.ticket.prefix == node.ticket.prefix)
            .count();
        same < cap
    }

    pub(super) fn handle_response(&mut self, now: Instant, id: RequestId, responder: Ticket, response: Response) {
        let Some(rpc) = self.rpcs.remove(&id) else { return };
        let mut response = response;
        let Some(rpc) = self.admit_response(now, rpc, responder, &mut response) else {
            return;
        };
        let to = rpc.to;
        match (rpc.purpose, response) {
            (RpcPurpose::Stabilize, Response::Neighbours { predecessor, successors }) => {
                self.stabilizing = false;
                self.on_neighbours(now, to, predecessor, successors);
            }
            (RpcPurpose::Lookup(lid, p), response) => {
                if self.lookups.get(&lid).is_some_and(|l| l.awaits(p, &to.peer)) {
                    self.on_lookup_response(now, lid, p, &to, response);
                }
            }
            (RpcPurpose::Confirm(lid, p), response) => {
                if self.lookups.get(&lid).is_some_and(|l| l.awaits(p, &to.peer)) {
                    self.on_confirm(now, lid, p, &to, response);
                }
            }
            (RpcPurpose::Check(lid), response) => {
                if self.lookups.get(&lid).and_then(|l| l.checking.as_ref()).is_some_and(|c| c.node().peer == to.peer) {
                    self.on_check(now, lid, &to, response);
                }
            }
            (RpcPurpose::Vouch, Response::Neighbours { predecessor, .. }) => self.on_vouch(now, &to, predecessor),
            (RpcPurpose::CheckPredecessor, Response::Ack) => self.pinging = false,
            (RpcPurpose::Notify, Response::Ack) => {}
            (RpcPurpose::Leave, Response::Ack) => self.leave_step(),
            // The peer answered with the wrong kind of message: treat as failed.
            (purpose, _) => {
                self.rpc_failed(now, Rpc { to, request: Request::Ping, deadline: now, attempts_left: 0, purpose })
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::time::Instant;

    use super::*;
    use crate::admission::{NetworkTag, Prefix, mint, work_bits};
    use crate::chord::{Config, Input, Output};
    use crate::node::PeerRef;

    const NET: NetworkTag = NetworkTag([9; 32]);
    const BITS: u8 = 8;

    fn rules() -> Rules {
        Rules { network: NET, difficulty: BITS, per_prefix_committee: 1, per_prefix_routing: 2, permission: None }
    }

    /// Node `b` with (`worked`) or without enough work, on prefix 10.0.b.
    fn node(b: u8, worked: bool) -> NodeInfo {
        let peer = PeerRef(vec![b; 38]);
        let nonce = if worked {
            mint(&NET, &peer, BITS, 0, 1 << 20).unwrap()
        } else {
            (0..).find(|&n| work_bits(&NET, &peer, n) < u32::from(BITS)).unwrap()
        };
        NodeInfo::new(peer, Ticket { nonce, prefix: Prefix::V4([10, 0, b]) }, Vec::new())
    }

    fn chord() -> Chord {
        Chord::new(node(1, true), Config { admission: rules(), ..Config::default() }, Instant::now())
    }

    fn drain(c: &mut Chord) -> Vec<Output> {
        std::iter::from_fn(|| c.poll_output()).collect()
    }

    /// The id of the first request `c` sends.
    fn first_send(c: &mut Chord) -> crate::chord::RequestId {
        drain(c)
            .into_iter()
            .find_map(|o| match o {
                Output::Send { id, .. } => Some(id),
                _ => None,
            })
            .unwrap()
    }

    #[test]
    fn an_unadmitted_sender_changes_nothing() {
        let mut c = chord();
        let now = Instant::now();
        c.handle_request(now, node(2, false), Request::Notify);
        assert!(c.predecessor().is_none() && c.successors().is_empty());
        c.handle_request(now, node(2, true), Request::Notify);
        assert!(c.predecessor().is_some_and(|p| p.peer == node(2, true).peer));
    }

    #[test]
    fn an_answer_naming_an_unadmitted_node_is_refused_as_a_lie() {
        let mut c = chord();
        let now = Instant::now();
        let via = node(2, true);
        c.handle(now, Input::Join(via.clone()));
        let id = first_send(&mut c);
        let response = Response::Closer { nodes: vec![node(3, false)] };
        c.handle(now, Input::Response { id, responder: via.ticket, response });
        let out = drain(&mut c);
        assert!(
            out.iter().any(|o| matches!(o, Output::Event(Event::AnswerRefused { reason: Refusal::Unadmitted, .. }))),
            "{out:?}"
        );
        assert!(Refusal::Unadmitted.is_lie());
        assert!(!out.iter().any(|o| matches!(o, Output::Send { to, .. } if to.peer == node(3, false).peer)));
    }

    #[test]
    fn a_bootstrap_peer_is_placed_by_its_own_ticket() {
        // The joining node knew only the bootstrap peer's identity (any
        // placeholder ticket); its answer carries its real one.
        let mut c = chord();
        let now = Instant::now();
        let real = node(2, true);
        let guess = NodeInfo::new(real.peer.clone(), Ticket { nonce: 0, prefix: Prefix::V4([0, 0, 0]) }, Vec::new());
        c.handle(now, Input::Join(guess));
        let id = first_send(&mut c);
        // It names itself the owner of my id, and confirms it: a ring of
        // one, it has no predecessor.
        let response = Response::Successors { successors: vec![real.clone()] };
        c.handle(now, Input::Response { id, responder: real.ticket, response });
        let id = first_send(&mut c);
        let response = Response::Neighbours { predecessor: None, successors: Vec::new() };
        c.handle(now, Input::Response { id, responder: real.ticket, response });
        let out = drain(&mut c);
        assert!(out.iter().any(|o| matches!(o, Output::Event(Event::Joined { .. }))), "{out:?}");
        assert_eq!(c.successors().first().map(|s| s.id), Some(real.id));
    }
}
