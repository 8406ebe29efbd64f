//! Comparing a lookup's answers before one is believed (issue 9, part 2).
//!
//! Each path ends at a node that confirmed itself as the key's successor:
//! "the key lies in (my predecessor, me]" ([`super::verify`]). A lying hop
//! can end its path at an identity of its own that confirms just as well,
//! so one confirmation is not enough. The answers, and every node the paths
//! met, are weighed as Castro et al. 2002 (§4.2, the routing-failure test
//! resolved toward the closest node) and S/Kademlia (disjoint paths) do:
//!
//! 1. The *best* answer is the confirmed node closest after the key: the
//!    true successor is the closest live node, and an identity made up to
//!    sit closer must still pass the next two questions.
//! 2. *Closer node.* If the lookup knows a node between the key and the
//!    best answer, that node is asked whether the key is its own; if so it
//!    becomes an answer (and the best one).
//! 3. *Witnesses.* When answers disagree, the best one's own predecessor
//!    must list it among its successors; and any known node between that
//!    predecessor and the key (which the best answer would have to know as
//!    its predecessor) must list it too, if its list reaches past the key.
//!    A witness that does not is evidence that the best answer is not on the
//!    ring: it is refused (`contradicted`) and the next best is weighed.
//!
//! An honest lookup on a settled ring asks nothing more: the paths agree,
//! and nothing is known between the true predecessor and the successor.
//! Each question is one `GetNeighbours`; at most [`MAX_CHECKS`] per lookup,
//! after which the lookup fails rather than guess.
//!
//! What stays open: an attacker whose identities hold every path's last
//! hop, or that is itself the key's predecessor, answers unopposed;
//! identities that cost work, the per-prefix limits and striking liars
//! (who then leave the honest nodes' routing state) keep that rare.

use std::time::Instant;

use super::lookup::{Answer, Check, Lookup};
use super::verify::{Refusal, own_list};
use super::{Chord, Event, LookupError, LookupId, LookupResult, RpcPurpose};
use crate::node::NodeInfo;
use crate::ring::RingId;
use crate::wire::{Request, Response};

/// Most cross-check questions one lookup asks.
pub const MAX_CHECKS: u32 = 8;

/// What to do next with a lookup whose paths have all ended.
enum Verdict {
    Ask(Check),
    Done(Result<LookupResult, LookupError>),
}

impl Chord {
    /// Path `p` of lookup `id` ended; when all have, weigh their answers.
    pub(super) fn path_ended(&mut self, now: Instant, id: LookupId, p: usize, outcome: Result<Answer, LookupError>) {
        let Some(l) = self.lookups.get_mut(&id) else { return };
        if let Some(path) = l.paths.get_mut(p) {
            path.in_flight = None;
            path.outcome = Some(outcome);
        }
        if l.paths_done() {
            self.conclude(now, id);
        }
    }

    /// Ask the next cross-check question, or finish the lookup.
    pub(super) fn conclude(&mut self, now: Instant, id: LookupId) {
        let Some(l) = self.lookups.get_mut(&id) else { return };
        if l.checking.is_some() {
            return;
        }
        match self.verdict(now, id) {
            Verdict::Ask(check) => {
                let Some(l) = self.lookups.get_mut(&id) else { return };
                if l.checks >= MAX_CHECKS {
                    return self.finish_lookup(now, id, Err(LookupError::Exhausted));
                }
                l.checks += 1;
                l.messages += 1;
                l.asked.insert(check.node().peer.clone());
                let to = check.node().clone();
                l.checking = Some(check);
                self.send(now, to, Request::GetNeighbours, RpcPurpose::Check(id));
            }
            Verdict::Done(result) => self.finish_lookup(now, id, result),
        }
    }

    fn verdict(&mut self, now: Instant, id: LookupId) -> Verdict {
        let me = self.routing.me.clone();
        let own_successors = self.routing.successors.clone();
        let distrust = &self.distrust;
        let Some(l) = self.lookups.get_mut(&id) else { return Verdict::Done(Err(LookupError::Exhausted)) };
        let key = l.key;
        // A node worth a question: not me, not gone, not asked or refused
        // already, not distrusted.
        let usable = |l: &Lookup, n: &NodeInfo| {
            !n.same(&me)
                && !l.dead.contains(&n.peer)
                && !l.asked.contains(&n.peer)
                && !l.refused.contains(&n.peer)
                && distrust.allows(now, n)
        };
        loop {
            // An answer whose list is far sparser than the densest seen is
            // identities standing for each other ([`super::density`]).
            // Every node such a list names stands for it: none of them is
            // asked or believed in this lookup.
            let sparse: Vec<Vec<NodeInfo>> = l
                .answers()
                .filter(|a| !l.refused.contains(&a.named.peer) && l.density.sparse(&key, &a.successors))
                .map(|a| a.successors.clone())
                .collect();
            for list in sparse {
                l.refused.extend(list.iter().map(|n| n.peer.clone()));
                let Some(n) = list.into_iter().next() else { continue };
                self.out.push_back(super::Output::Event(Event::AnswerRefused { peer: n, reason: Refusal::Sparse }));
            }
            // A node this one distrusts ([`super::neighbours`]) is no answer.
            let answers: Vec<&Answer> =
                l.answers().filter(|a| !l.refused.contains(&a.named.peer) && distrust.allows(now, &a.named)).collect();
            let Some(best) = answers.iter().min_by_key(|a| key.distance_to(&a.named.id)).copied().cloned() else {
                // Every answer was refused: the witness that refused the
                // last one named the key's successor as it sees it; ask
                // the closest known node after the key whether it owns it.
                if !l.refused.is_empty()
                    && let Some(y) = l.known.iter().filter(|n| usable(l, n)).min_by_key(|n| key.distance_to(&n.id))
                {
                    return Verdict::Ask(Check::Closer(y.clone()));
                }
                let error = l
                    .paths
                    .iter()
                    .find_map(|p| match &p.outcome {
                        Some(Err(LookupError::TooManyHops)) => Some(LookupError::TooManyHops),
                        _ => None,
                    })
                    .unwrap_or(LookupError::Exhausted);
                return Verdict::Done(Err(error));
            };
            let disagree = answers.iter().any(|a| !a.named.same(&best.named));
            let open = |n: &&NodeInfo| usable(l, n) && !n.same(&best.named);
            // 2. A known node between the key and the best answer.
            if let Some(y) = l
                .known
                .iter()
                .filter(|n| best.named.id != key && n.id.in_open(&key, &best.named.id))
                .filter(open)
                .min_by_key(|n| key.distance_to(&n.id))
            {
                return Verdict::Ask(Check::Closer(y.clone()));
            }
            // 3. Witnesses: the best answer's own predecessor (when answers
            // disagree), then any known node between it and the key.
            let bound = best.predecessor.as_ref().map_or(best.named.id, |p| p.id);
            let own_pred = best.predecessor.as_ref().filter(|_| disagree);
            let witness = own_pred.filter(|p| open(p)).cloned().or_else(|| {
                l.known
                    .iter()
                    // A predecessor at the key itself (a node that holds me
                    // as predecessor, looking up my own id) bounds nothing:
                    // every known node before the key may witness.
                    .filter(|n| n.id.in_open(&bound, &key))
                    .filter(open)
                    .min_by_key(|n| n.id.distance_to(&key))
                    .cloned()
            });
            if let Some(w) = witness {
                return Verdict::Ask(Check::Witness { node: w, against: best.named.clone() });
            }
            // I am the witness myself: my own successor list decides.
            if own_pred.is_some_and(|p| p.same(&me)) && !l.asked.contains(&me.peer) {
                l.asked.insert(me.peer.clone());
                if !acknowledges(&key, &me, &own_successors, &best.named) {
                    l.refused.insert(best.named.peer.clone());
                    self.out.push_back(super::Output::Event(Event::AnswerRefused {
                        peer: best.named.clone(),
                        reason: Refusal::Contradicted,
                    }));
                }
                continue;
            }
            let result = LookupResult { key, successors: best.successors, hops: best.hops, messages: l.messages };
            return Verdict::Done(Ok(result));
        }
    }

    /// The answer to a cross-check question.
    pub(super) fn on_check(&mut self, now: Instant, id: LookupId, from: &NodeInfo, response: Response) {
        let Some(l) = self.lookups.get_mut(&id) else { return };
        let Some(check) = l.checking.take() else { return };
        let Response::Neighbours { predecessor, successors } = response else {
            l.dead.insert(from.peer.clone());
            return self.conclude(now, id);
        };
        let (key, purpose) = (l.key, l.purpose);
        l.learn_all(predecessor.iter().chain(&successors), &self.routing.me);
        match check {
            Check::Closer(y) => {
                let owns = predecessor.as_ref().is_none_or(|p| key.in_open_closed(&p.id, &y.id))
                    || self.holds_me(purpose, &key, &y, predecessor.as_ref());
                let list = own_list(from, successors, self.cfg.successors);
                if let Some(l) = self.lookups.get_mut(&id)
                    && owns
                {
                    l.density.sample(&key, &list);
                    let hops = l.hops();
                    l.found.push(Answer { named: from.clone(), predecessor, successors: list, hops });
                }
            }
            Check::Witness { node, against } => {
                // A witness whose own list is sparse stands for nobody but
                // itself: it cannot contradict ([`super::density`]).
                let sparse = self.lookups.get_mut(&id).is_some_and(|l| {
                    let sparse = l.density.sparse(&node.id, &successors);
                    l.density.sample(&node.id, &successors);
                    sparse
                });
                if !sparse && !acknowledges(&key, &node, &successors, &against) {
                    if let Some(l) = self.lookups.get_mut(&id) {
                        l.refused.insert(against.peer.clone());
                    }
                    self.emit(Event::AnswerRefused { peer: against, reason: Refusal::Contradicted });
                }
            }
        }
        self.conclude(now, id);
    }

    /// A cross-check question went unanswered: the node counts as gone.
    pub(super) fn check_failed(&mut self, now: Instant, id: LookupId, node: &NodeInfo) {
        let Some(l) = self.lookups.get_mut(&id) else { return };
        if l.checking.as_ref().is_some_and(|c| c.node().same(node)) {
            l.checking = None;
            l.dead.insert(node.peer.clone());
            self.conclude(now, id);
        }
    }
}

/// Does `witness`, whose successor list is `successors`, agree that `named`
/// follows the key? Yes if it lists `named`, or if its list does not reach
/// past the key (it cannot say); no if its list reaches past the key
/// without `named`.
fn acknowledges(key: &RingId, witness: &NodeInfo, successors: &[NodeInfo], named: &NodeInfo) -> bool {
    if successors.iter().any(|n| n.same(named)) {
        return true;
    }
    !successors.last().is_some_and(|last| key.in_open_closed(&witness.id, &last.id))
}
