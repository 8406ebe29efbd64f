//! Verified lookups (issue 9; after Castro et al. 2002, "Secure routing for
//! structured peer-to-peer overlay networks", §4, and S/Kademlia): the last
//! hop's `Successors` answer is checked before it is used.
//!
//! 1. *Form.* The list must be in ring order from the key (strictly growing
//!    clockwise distance, no repeats), and the key must lie in (responder,
//!    first successor]: an honest node answers `Successors` only then. An
//!    answer that fails this is a provable lie: the responder is struck
//!    ([`Refusal::is_lie`]).
//! 2. *Confirmation.* A range check against the responder alone proves
//!    little: a liar can name made-up identities, or real nodes just behind
//!    itself. So the claimed first successor S is asked itself
//!    (`GetNeighbours`): the key must lie in (S's predecessor, S], and the
//!    lookup's result is S followed by *S's own* successor list, not the
//!    responder's. A named node that does not answer, or disowns the key,
//!    fails that answer; the lookup goes on with its next candidate (no
//!    strike: during churn an honest hop can be behind).
//!
//! It costs one extra round trip per path. A responder that names itself
//! is asked again too (its predecessor matters below). An answer whose
//! named first successor is an attacker's own identity passes this
//! confirmation; the paths' answers are therefore compared before one is
//! believed ([`super::crosscheck`]).

use std::time::Instant;

use super::lookup::Answer;
use super::{Chord, Event, LookupId, RpcPurpose};
use crate::node::NodeInfo;
use crate::ring::RingId;
use crate::wire::{Request, Response};

/// Why a lookup answer was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The successors are not in ring order from the key.
    OutOfOrder,
    /// The key does not lie between the responder and its first successor.
    NotPreceding,
    /// The named first successor says the key is not its own.
    Disowned,
    /// The named first successor did not answer.
    Unconfirmed,
    /// The answer (or its responder) names a node the network's admission
    /// rules refuse: work below the difficulty.
    Unadmitted,
    /// Another answer's evidence says the named node is not on the ring: a
    /// node before the key does not list it ([`super::crosscheck`]).
    Contradicted,
}

impl Refusal {
    /// Is the answer a provable lie (the responder is to blame), rather than
    /// an answer that may just be out of date?
    pub fn is_lie(self) -> bool {
        matches!(self, Refusal::OutOfOrder | Refusal::NotPreceding | Refusal::Unadmitted)
    }

    /// The metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::OutOfOrder => "out_of_order",
            Refusal::NotPreceding => "not_preceding",
            Refusal::Disowned => "disowned",
            Refusal::Unconfirmed => "unconfirmed",
            Refusal::Unadmitted => "unadmitted",
            Refusal::Contradicted => "contradicted",
        }
    }
}

/// A node's answer for the key: `named` followed by its own successor
/// list, without repeats, at most `r` long.
pub(crate) fn own_list(named: &NodeInfo, successors: Vec<NodeInfo>, r: usize) -> Vec<NodeInfo> {
    let mut list = vec![named.clone()];
    for n in successors {
        if list.len() >= r {
            break;
        }
        if !list.iter().any(|m| m.same(&n)) {
            list.push(n);
        }
    }
    list
}

/// The form check of a `Successors` answer from `responder` for `key`.
pub(crate) fn check_form(key: &RingId, responder: &NodeInfo, successors: &[NodeInfo]) -> Result<(), Refusal> {
    let Some(first) = successors.first() else { return Err(Refusal::OutOfOrder) };
    let ordered = successors.windows(2).all(|w| key.distance_to(&w[0].id) < key.distance_to(&w[1].id));
    if !ordered {
        return Err(Refusal::OutOfOrder);
    }
    if !key.in_open_closed(&responder.id, &first.id) {
        return Err(Refusal::NotPreceding);
    }
    Ok(())
}

impl Chord {
    /// A `Successors` answer to path `p` of lookup `id` from `from`: check
    /// its form, then confirm its first successor with that node.
    pub(super) fn on_successors(
        &mut self,
        now: Instant,
        id: LookupId,
        p: usize,
        from: &NodeInfo,
        successors: Vec<NodeInfo>,
    ) {
        let Some(l) = self.lookups.get_mut(&id) else { return };
        let key = l.key;
        if let Err(reason) = check_form(&key, from, &successors) {
            self.emit(Event::AnswerRefused { peer: from.clone(), reason });
            return self.advance_lookup(now, id, p);
        }
        l.learn_all(std::iter::once(from).chain(&successors), &self.routing.me);
        let Some(path) = l.paths.get_mut(p) else { return };
        path.hops += 1;
        let hops = path.hops;
        let first = successors[0].clone();
        if first.same(&self.routing.me) {
            // We are named: our own state says whether the key is ours.
            return match self.routing.local_successors(&key) {
                Some(own) if own.first().is_some_and(|n| n.same(&self.routing.me)) => {
                    let predecessor = self.routing.predecessor.clone();
                    let answer = Answer { named: first, predecessor, successors: own, hops };
                    self.path_ended(now, id, p, Ok(answer))
                }
                _ => {
                    self.emit(Event::AnswerRefused { peer: from.clone(), reason: Refusal::Disowned });
                    self.advance_lookup(now, id, p)
                }
            };
        }
        // Even a responder that names itself is asked again: its answer
        // to `GetNeighbours` says where its predecessor is, which the
        // cross-check weighs.
        path.in_flight = Some(first.clone());
        l.messages += 1;
        self.send(now, first, Request::GetNeighbours, RpcPurpose::Confirm(id, p));
    }

    /// The named first successor's own view: its predecessor and successors.
    pub(super) fn on_confirm(&mut self, now: Instant, id: LookupId, p: usize, named: &NodeInfo, response: Response) {
        let Some(l) = self.lookups.get_mut(&id) else { return };
        let key = l.key;
        let Response::Neighbours { predecessor, successors } = response else {
            return self.unconfirmed(now, id, p, named);
        };
        // A node without a predecessor (just joined, or its predecessor
        // failed) cannot say; its answer stands. Looking up my own id (a
        // join, a self-check), a node that already holds me as its
        // predecessor (it learned me from my own requests) is my successor.
        let mine = key == self.routing.me.id && predecessor.as_ref().is_some_and(|p| p.same(&self.routing.me));
        if !mine && predecessor.as_ref().is_some_and(|p| !key.in_open_closed(&p.id, &named.id)) {
            self.emit(Event::AnswerRefused { peer: named.clone(), reason: Refusal::Disowned });
            return self.advance_lookup(now, id, p);
        }
        l.learn_all(predecessor.iter().chain(&successors), &self.routing.me);
        let list = own_list(named, successors, self.cfg.successors);
        let hops = l.paths.get(p).map_or(0, |p| p.hops);
        let answer = Answer { named: named.clone(), predecessor, successors: list, hops };
        self.path_ended(now, id, p, Ok(answer));
    }

    /// The named first successor did not answer: try the next candidate.
    pub(super) fn unconfirmed(&mut self, now: Instant, id: LookupId, p: usize, named: &NodeInfo) {
        self.emit(Event::AnswerRefused { peer: named.clone(), reason: Refusal::Unconfirmed });
        if let Some(l) = self.lookups.get_mut(&id) {
            l.dead.insert(named.peer.clone());
        }
        self.advance_lookup(now, id, p);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::time::Instant;

    use super::*;
    use crate::chord::{Config, Input, LookupError, LookupResult, Output};
    use crate::node::PeerRef;

    fn node(b: u8) -> NodeInfo {
        NodeInfo::new(
            PeerRef(vec![b; 38]),
            crate::admission::Ticket { nonce: 0, prefix: crate::admission::Prefix::V4([10, 0, b]) },
            Vec::new(),
        )
    }

    /// Node 1 with predecessor p and successor s, a key k in (s, p) (so
    /// the lookup is remote and starts at s), and the other nodes in ring
    /// order after k.
    struct Setup {
        chord: Chord,
        s: NodeInfo,
        key: RingId,
        after: Vec<NodeInfo>,
    }

    fn setup() -> Setup {
        let now = Instant::now();
        let me = node(1);
        // Nodes in ring order clockwise from me.
        let mut others: Vec<NodeInfo> = (2..60).map(node).collect();
        others.sort_by_key(|n| me.id.distance_to(&n.id));
        let s = others[0].clone();
        let p = others.last().cloned().unwrap();
        // The key: the middle node's own id (that node is its owner).
        let mid = others.len() / 2;
        let key = others[mid].id;
        let after: Vec<NodeInfo> = others[mid..others.len() - 1].to_vec();
        let mut chord = Chord::new(me, Config::default(), now);
        chord.routing.set_successors(vec![s.clone()]);
        chord.routing.predecessor = Some(p);
        Setup { chord, s, key, after }
    }

    fn drain(c: &mut Chord) -> Vec<Output> {
        std::iter::from_fn(|| c.poll_output()).collect()
    }

    /// Start a lookup of the setup's key; s is asked; s answers `response`.
    fn ask(st: &mut Setup, response: Response) -> (LookupId, Vec<Output>) {
        let now = Instant::now();
        let id = st.chord.start_lookup(now, st.key);
        let out = drain(&mut st.chord);
        let rid = out
            .iter()
            .find_map(|o| match o {
                Output::Send { id, to, request: Request::FindSuccessor { .. } } if to.same(&st.s) => Some(*id),
                _ => None,
            })
            .expect("s asked");
        st.chord.handle(now, Input::Response { id: rid, responder: st.s.ticket, response });
        (id, drain(&mut st.chord))
    }

    fn confirm_request(out: &[Output], named: &NodeInfo) -> Option<crate::chord::RequestId> {
        out.iter().find_map(|o| match o {
            Output::Send { id, to, request: Request::GetNeighbours } if to.same(named) => Some(*id),
            _ => None,
        })
    }

    fn refused(out: &[Output]) -> Vec<Refusal> {
        out.iter()
            .filter_map(|o| match o {
                Output::Event(Event::AnswerRefused { reason, .. }) => Some(*reason),
                _ => None,
            })
            .collect()
    }

    fn done(out: &[Output], id: LookupId) -> Option<Result<LookupResult, LookupError>> {
        out.iter().find_map(|o| match o {
            Output::LookupDone { id: got, result } if *got == id => Some(result.clone()),
            _ => None,
        })
    }

    #[test]
    fn a_confirmed_answer_yields_the_named_nodes_own_successors() {
        let mut st = setup();
        let (t, u, v) = (st.after[0].clone(), st.after[1].clone(), st.after[2].clone());
        // s claims [t, u] (u made up beyond t, say); t confirms with [v, u].
        let (id, out) = ask(&mut st, Response::Successors { successors: vec![t.clone(), u.clone()] });
        let rid = confirm_request(&out, &t).expect("t is asked to confirm");
        assert!(done(&out, id).is_none(), "not believed before confirmation");
        let own = vec![u.clone(), v.clone()];
        st.chord.handle(
            Instant::now(),
            Input::Response {
                id: rid,
                responder: t.ticket,
                response: Response::Neighbours { predecessor: Some(st.s.clone()), successors: own },
            },
        );
        let out = drain(&mut st.chord);
        let r = done(&out, id).expect("done").expect("ok");
        assert_eq!(r.successors, vec![t, u, v], "t followed by t's own list");
        assert!(refused(&out).is_empty());
    }

    #[test]
    fn a_named_node_that_disowns_the_key_fails_the_answer() {
        let mut st = setup();
        let (t, u) = (st.after[1].clone(), st.after[2].clone());
        // s names t, but t's predecessor lies after the key: t is not its owner.
        let (id, out) = ask(&mut st, Response::Successors { successors: vec![t.clone(), u] });
        let rid = confirm_request(&out, &t).expect("t is asked");
        let pred = Some(st.after[0].clone());
        st.chord.handle(
            Instant::now(),
            Input::Response {
                id: rid,
                responder: t.ticket,
                response: Response::Neighbours { predecessor: pred, successors: Vec::new() },
            },
        );
        let out = drain(&mut st.chord);
        assert_eq!(refused(&out), vec![Refusal::Disowned]);
        assert!(!Refusal::Disowned.is_lie(), "no strike: s may be out of date");
        assert!(matches!(done(&out, id), Some(Err(LookupError::Exhausted))), "no other candidate: {out:?}");
    }

    #[test]
    fn a_made_up_first_successor_never_confirms() {
        let mut st = setup();
        let ghost = st.after[0].clone();
        let (id, mut out) = ask(&mut st, Response::Successors { successors: vec![ghost.clone()] });
        let mut refusals = Vec::new();
        for _ in 0..10 {
            if let Some(rid) = confirm_request(&out, &ghost) {
                st.chord.handle(Instant::now(), Input::Failure { id: rid });
                out = drain(&mut st.chord);
                refusals.extend(refused(&out));
                if done(&out, id).is_some() {
                    break;
                }
            } else {
                break;
            }
        }
        assert_eq!(refusals, vec![Refusal::Unconfirmed]);
        assert!(matches!(done(&out, id), Some(Err(LookupError::Exhausted))));
    }

    #[test]
    fn an_answer_out_of_ring_order_is_a_lie_of_its_responder() {
        let mut st = setup();
        let (t, u) = (st.after[0].clone(), st.after[1].clone());
        let (id, out) = ask(&mut st, Response::Successors { successors: vec![u, t] });
        let lies: Vec<(NodeInfo, Refusal)> = out
            .iter()
            .filter_map(|o| match o {
                Output::Event(Event::AnswerRefused { peer, reason }) => Some((peer.clone(), *reason)),
                _ => None,
            })
            .collect();
        assert_eq!(lies, vec![(st.s.clone(), Refusal::OutOfOrder)]);
        assert!(Refusal::OutOfOrder.is_lie());
        assert!(matches!(done(&out, id), Some(Err(LookupError::Exhausted))));
    }

    #[test]
    fn the_form_check_accepts_what_honest_nodes_answer() {
        let st = setup();
        let t = st.after[0].clone();
        // The key's predecessor answers with its successors.
        assert_eq!(check_form(&st.key, &st.s, &st.after), Ok(()));
        // The key's owner answers with itself first.
        assert_eq!(check_form(&st.key, &t, &st.after), Ok(()));
        // A node past the key claiming it.
        assert_eq!(check_form(&st.key, &st.after[1], &st.after[2..]), Err(Refusal::NotPreceding));
        assert_eq!(check_form(&st.key, &st.s, &[]), Err(Refusal::OutOfOrder));
    }
}
