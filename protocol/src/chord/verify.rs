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

use super::lookup::{Answer, Purpose};
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
    /// The named node's successor list is far sparser than the other lists
    /// the lookup saw: identities standing for each other, not the ring
    /// ([`super::density`]).
    Sparse,
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
            Refusal::Sparse => "sparse",
        }
    }
}

/// A node's answer for the key: `named` followed by its own successor
/// list, at most `r` long, cut where the list stops going clockwise from
/// `named` (a repeat, or a wrap past it): what follows would sort in before
/// entries it came after.
pub(crate) fn own_list(named: &NodeInfo, successors: Vec<NodeInfo>, r: usize) -> Vec<NodeInfo> {
    let mut list = vec![named.clone()];
    list.extend(clockwise(&named.id, successors).take(r.saturating_sub(1)));
    list
}

/// The entries of `list` that follow `from` clockwise in order, up to the
/// first that does not (a repeat, `from` itself, or one wrapping past it).
pub(crate) fn clockwise(from: &RingId, list: Vec<NodeInfo>) -> impl Iterator<Item = NodeInfo> {
    let from = *from;
    let mut last = RingId::ZERO;
    list.into_iter().map_while(move |n| {
        let d = from.distance_to(&n.id);
        (d > last).then(|| {
            last = d;
            n
        })
    })
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
            if l.heard.is_empty() {
                l.heard = successors[1..].to_vec();
            }
            // We are named: our own state says whether the key is ours.
            return match self.routing.local_successors(&key) {
                Some(own) if own.first().is_some_and(|n| n.same(&self.routing.me)) => {
                    let predecessor = self.routing.predecessor.clone();
                    l.density.sample(&key, &own);
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
        let Some((key, purpose)) = self.lookups.get(&id).map(|l| (l.key, l.purpose)) else { return };
        let Response::Neighbours { predecessor, successors } = response else {
            return self.unconfirmed(now, id, p, named);
        };
        // A node without a predecessor (just joined, or its predecessor
        // failed) cannot say; its answer stands. Looking up my own id, a
        // node that holds me as its predecessor is my successor: but only
        // one I already know as such ([`Chord::holds_me`]).
        let mine = self.holds_me(purpose, &key, named, predecessor.as_ref());
        if !mine && predecessor.as_ref().is_some_and(|p| !key.in_open_closed(&p.id, &named.id)) {
            self.emit(Event::AnswerRefused { peer: named.clone(), reason: Refusal::Disowned });
            return self.advance_lookup(now, id, p);
        }
        let Some(l) = self.lookups.get_mut(&id) else { return };
        l.learn_all(predecessor.iter().chain(&successors), &self.routing.me);
        let list = own_list(named, successors, self.cfg.successors);
        l.density.sample(&key, &list);
        let hops = l.paths.get(p).map_or(0, |p| p.hops);
        let answer = Answer { named: named.clone(), predecessor, successors: list, hops };
        self.path_ended(now, id, p, Ok(answer));
    }

    /// Does `named`, saying its predecessor is `predecessor`, own `key` as
    /// my successor? Only when `key` is my own id, it names me, and it is
    /// a node I know that from: an honest node holds me as its predecessor
    /// only after I notified it, and I notify only my successor. A node
    /// outside my successor list that claims to hold me is a made-up
    /// identity answering every asker alike (or a stale former successor,
    /// which stabilization finds again through my successor): believing it
    /// would make it my first successor, whose list then replaces mine.
    /// A join may believe it: a node that rejoins has no successors yet,
    /// and its old successor still holds it.
    pub(super) fn holds_me(
        &self,
        purpose: Purpose,
        key: &RingId,
        named: &NodeInfo,
        predecessor: Option<&NodeInfo>,
    ) -> bool {
        let me = &self.routing.me;
        *key == me.id
            && predecessor.is_some_and(|p| p.same(me))
            && (purpose == Purpose::Join || self.routing.successors.iter().any(|s| s.same(named)))
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

    /// The first `FindSuccessor` in `out` (sent to `to`, if given).
    fn find_successor_sent(out: &[Output], to: Option<&NodeInfo>) -> Option<(crate::chord::RequestId, NodeInfo)> {
        out.iter().find_map(|o| match o {
            Output::Send { id, to: t, request: Request::FindSuccessor { .. } } if to.is_none_or(|to| to.same(t)) => {
                Some((*id, t.clone()))
            }
            _ => None,
        })
    }

    /// Start a lookup of the setup's key; s is asked; s answers `response`.
    fn ask(st: &mut Setup, response: Response) -> (LookupId, Vec<Output>) {
        let now = Instant::now();
        let id = st.chord.start_lookup(now, st.key);
        let out = drain(&mut st.chord);
        let (rid, _) = find_successor_sent(&out, Some(&st.s)).expect("s asked");
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

    /// Answer request `rid` of `st`'s chord with `response` from `from`.
    fn reply(st: &mut Setup, rid: crate::chord::RequestId, from: &NodeInfo, response: Response) -> Vec<Output> {
        st.chord.handle(Instant::now(), Input::Response { id: rid, responder: from.ticket, response });
        drain(&mut st.chord)
    }

    #[test]
    fn a_stranger_claiming_to_hold_me_is_not_my_successor() {
        // A self-check (my own id) reaches s, which names a node between
        // me and s; that node says I am its predecessor. Only a node
        // already in my successor list may say so: this one is an
        // identity answering every asker alike.
        let mut st = setup();
        let now = Instant::now();
        let me = st.chord.me().clone();
        let mut between: Vec<NodeInfo> = (60..=255).map(node).filter(|n| n.id.in_open(&me.id, &st.s.id)).collect();
        between.sort_by_key(|n| me.id.distance_to(&n.id));
        let ghost = between.first().cloned().expect("a node between me and s");
        let id = st.chord.lookup_from(now, me.id, crate::chord::lookup::Purpose::SelfCheck, Some(vec![st.s.clone()]));
        let out = drain(&mut st.chord);
        let (rid, _) = find_successor_sent(&out, Some(&st.s)).expect("s asked");
        let s = st.s.clone();
        let out = reply(&mut st, rid, &s, Response::Successors { successors: vec![ghost.clone()] });
        let rid = confirm_request(&out, &ghost).expect("the named node is asked");
        let claim = Response::Neighbours { predecessor: Some(me.clone()), successors: vec![st.s.clone()] };
        let out = reply(&mut st, rid, &ghost, claim.clone());
        assert_eq!(refused(&out), vec![Refusal::Disowned]);
        assert!(!st.chord.successors().iter().any(|n| n.same(&ghost)));
        let _ = id;
        // My own successor saying the same is believed.
        let p = st.chord.predecessor().cloned().expect("a predecessor");
        let id = st.chord.lookup_from(now, me.id, crate::chord::lookup::Purpose::SelfCheck, Some(vec![p.clone()]));
        let out = drain(&mut st.chord);
        let (rid, _) = find_successor_sent(&out, None).expect("asked");
        let out = reply(&mut st, rid, &p, Response::Successors { successors: vec![s.clone()] });
        let rid = confirm_request(&out, &s).expect("s is asked");
        let out = reply(&mut st, rid, &s, Response::Neighbours { predecessor: Some(me), successors: Vec::new() });
        assert!(refused(&out).is_empty(), "{out:?}");
        let _ = id;
    }

    #[test]
    fn an_answer_whose_list_is_far_sparser_than_mine_is_refused() {
        let mut st = setup();
        let me = st.chord.me().clone();
        // My list: my eight successors, dense (as on a 254-node ring).
        let mut ring: Vec<NodeInfo> = (2..=255).map(node).collect();
        ring.sort_by_key(|n| me.id.distance_to(&n.id));
        st.chord.routing.set_successors(ring[..8].to_vec());
        st.chord.cfg.lookup_paths = 1;
        let now = Instant::now();
        let id = st.chord.start_lookup(now, st.key);
        let out = drain(&mut st.chord);
        let (rid, hop) = find_successor_sent(&out, None).expect("a hop asked");
        // The hop names the owner; the owner lists one node, far around the ring.
        let t = st.after[0].clone();
        let far = ring.last().cloned().unwrap();
        let out = reply(&mut st, rid, &hop, Response::Successors { successors: vec![t.clone()] });
        let rid = confirm_request(&out, &t).expect("t is asked");
        let out = reply(&mut st, rid, &t, Response::Neighbours { predecessor: Some(hop), successors: vec![far] });
        assert!(refused(&out).contains(&Refusal::Sparse), "{out:?}");
        assert!(!matches!(done(&out, id), Some(Ok(_))), "a sparse answer is not the result: {out:?}");
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
