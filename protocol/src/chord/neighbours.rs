//! Verified neighbours (issue 9, part 2): a successor must hold me as its
//! predecessor.
//!
//! Chord's `stabilize` asks the successor for its predecessor and then
//! notifies it (§4.4, Fig. 6); a live successor on the ring adopts me as its
//! predecessor at the next notify, since nothing sits between us. An
//! identity that is not on the ring (made up to answer a lookup, with a
//! successor list of its own kind) never does: it keeps naming some node
//! before me. After [`UNACKED_ROUNDS`] stabilizations in a row it is
//! dropped and distrusted for [`DISTRUST_FOR`]: it enters neither the
//! successor list, nor fingers, nor a lookup's answer again, whoever names
//! it, so the successor lists of the nodes around it heal.
//!
//! What stays open: an identity that is on the ring (an attacker's node at
//! the position its work gave it) acknowledges correctly and stays; that is
//! its right, and committees never take two members from one prefix.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::density::Density;
use super::verify::clockwise;
use super::{Chord, Event, RpcPurpose};
use crate::node::{NodeInfo, PeerRef};
use crate::wire::Request;

/// Stabilization rounds in a row after which a successor that does not
/// name me (or a node between us) as its predecessor is dropped.
pub const UNACKED_ROUNDS: u8 = 3;

/// How long a dropped successor stays out of the routing state.
pub const DISTRUST_FOR: Duration = Duration::from_secs(600);

/// Most distrusted identities remembered (the oldest is forgotten first).
const MAX_DISTRUSTED: usize = 4096;

/// Identities this node will not route through, and the successor that is
/// failing to acknowledge it.
#[derive(Debug, Default)]
pub(super) struct Distrust {
    until: HashMap<PeerRef, Instant>,
    unacked: Option<(PeerRef, u8)>,
    /// The successor whose list was sparse, and for how many rounds in a row.
    sparse: Option<(PeerRef, u8)>,
    /// The first successor being vouched for, and the node asked.
    vouching: Option<(PeerRef, PeerRef)>,
    /// Whom my first successor listed first in its last stabilization
    /// answer: the node it claims comes next.
    first_lists: Option<NodeInfo>,
    /// The first successor my second did not hold as its predecessor, and
    /// for how many rounds in a row.
    unvouched: Option<(PeerRef, u8)>,
}

impl Distrust {
    /// The question to my second successor went unanswered: ask again
    /// next round.
    pub(super) fn vouch_failed(&mut self) {
        self.vouching = None;
    }
}

/// Count one more round for `s` in `slot` (restarting for another peer).
fn count(slot: &mut Option<(PeerRef, u8)>, s: &NodeInfo) -> u8 {
    match slot {
        Some((peer, n)) if *peer == s.peer => {
            *n = n.saturating_add(1);
            *n
        }
        slot => {
            *slot = Some((s.peer.clone(), 1));
            1
        }
    }
}

impl Distrust {
    /// Is `n` not distrusted at `now`?
    pub(super) fn allows(&self, now: Instant, n: &NodeInfo) -> bool {
        self.until.get(&n.peer).is_none_or(|until| *until <= now)
    }
}

impl Chord {
    /// My successor `from` answered `stabilize`: its predecessor and its
    /// successor list.
    pub(super) fn on_neighbours(
        &mut self,
        now: Instant,
        from: NodeInfo,
        predecessor: Option<NodeInfo>,
        successors: Vec<NodeInfo>,
    ) {
        let me = self.routing.me.id;
        // A successor without a predecessor (it just joined or lost it)
        // cannot say; one whose predecessor lies between us tells me of a
        // closer successor.
        let acked = predecessor.as_ref().is_none_or(|p| p.same(&self.routing.me) || p.id.in_open(&me, &from.id));
        // A successor whose list is far sparser than mine lists identities
        // standing for each other, not the ring ([`super::density`]): its
        // list is not taken, mine is kept, and after [`UNACKED_ROUNDS`]
        // such rounds it is dropped, but not distrusted: an honest node
        // whose join such identities captured lists them too, and comes
        // back with its next ping to me, its predecessor; its self-check,
        // which starts at me, hears my list and heals it
        // ([`super::search`]). One of the identities never pings.
        let sparse = Density::of(&me, &self.routing.successors).sparse(&from.id, &successors);
        if !self.acknowledged(now, &from, acked) {
            return;
        }
        self.distrust.first_lists = successors.first().filter(|n| !n.same(&self.routing.me)).cloned();
        if !sparse {
            self.distrust.sparse = None;
        } else if count(&mut self.distrust.sparse, &from) >= UNACKED_ROUNDS {
            self.distrust.sparse = None;
            return self.drop_successor(now, from);
        }
        let successors = if sparse {
            self.routing.successors.iter().filter(|n| !n.same(&from)).cloned().collect()
        } else {
            successors
        };
        let mut candidates = Vec::with_capacity(successors.len() + 2);
        // If the successor's predecessor sits between us, it is our new successor.
        if let Some(x) = predecessor.filter(|x| x.id.in_open(&me, &from.id)) {
            candidates.push(x);
        }
        // Only the part of its list before me: what follows has wrapped
        // around the ring and would re-import nodes between me and my
        // successor that it has not yet noticed are dead (small rings).
        // Nor anything past a break in its clockwise order, or past me
        // when I am not listed: it would sort in before my successor.
        let from_id = from.id;
        candidates.push(from);
        candidates.extend(clockwise(&from_id, successors).take_while(|n| n.id.in_open(&from_id, &me)));
        candidates.retain(|n| self.trusted(now, n));
        let changed = self.routing.set_successors(candidates);
        let succ = self.routing.successor().clone();
        self.send(now, succ.clone(), Request::Notify, RpcPurpose::Notify);
        // My second successor vouches for my first; with no second, the
        // node my first says comes next does (else a list worn down to one
        // such identity would never be questioned again).
        let voucher = self.routing.successors.get(1).cloned().or_else(|| self.distrust.first_lists.clone());
        if let Some(voucher) = voucher
            && self.distrust.vouching.is_none()
        {
            self.distrust.vouching = Some((succ.peer, voucher.peer.clone()));
            self.send(now, voucher, Request::GetNeighbours, RpcPurpose::Vouch);
        }
        self.emit(Event::StabilizationRound);
        if changed {
            self.emit(Event::NeighboursChanged);
        }
    }

    /// My second successor `from` answered: its predecessor should be my
    /// first successor (or a node between them, which my first will learn
    /// of), unless my first itself names `from` as its successor (with no
    /// second, `from` is that node). A first successor on the ring
    /// notifies my second every round,
    /// so after [`UNACKED_ROUNDS`] rounds without it, it is not on the
    /// ring as it claims: an identity that names whoever asks as its
    /// predecessor passes my own acknowledgement test but not this one.
    /// It is dropped, not distrusted: an honest node whose own successor
    /// list such identities captured fails the test too, and comes back
    /// with its next ping to me.
    pub(super) fn on_vouch(&mut self, now: Instant, from: &NodeInfo, predecessor: Option<NodeInfo>) {
        let Some((asked, voucher)) = self.distrust.vouching.take() else { return };
        let Some(first) = self.routing.successors.first().cloned() else { return };
        if first.peer != asked || from.peer != voucher {
            return;
        }
        // If my first names my second as its own successor, the two
        // contradict each other and either may lie (a colluder second
        // could drop an honest first this way): only a second that names
        // me, whom my first sits after, decides against it (identities
        // that name whoever asks do; a node on the ring names its own).
        let disputed = self.distrust.first_lists.as_ref().is_some_and(|n| n.same(from));
        let names_me = predecessor.as_ref().is_some_and(|p| p.same(&self.routing.me));
        // A voucher naming me never vouches, even where the ring wraps
        // (my first's next node may lie past me).
        let vouched = (disputed && !names_me)
            || predecessor.as_ref().is_none_or(|p| p.same(&first) || (!names_me && p.id.in_open(&first.id, &from.id)));
        if vouched {
            self.distrust.unvouched = None;
        } else if count(&mut self.distrust.unvouched, &first) >= UNACKED_ROUNDS {
            self.distrust.unvouched = None;
            self.drop_successor(now, first);
        }
    }

    /// Drop successor `s` (not distrusted) and go on with the next.
    fn drop_successor(&mut self, now: Instant, s: NodeInfo) {
        self.routing.evict(&s.peer);
        self.emit(Event::NeighbourRefused { peer: s });
        self.emit(Event::NeighboursChanged);
        self.successor_lost(now);
    }

    /// Count one stabilization round in which successor `s` did (`acked`)
    /// or did not hold me as its predecessor. Returns `false` when `s` was
    /// dropped for it.
    fn acknowledged(&mut self, now: Instant, s: &NodeInfo, acked: bool) -> bool {
        if acked {
            self.distrust.unacked = None;
            return true;
        }
        let rounds = count(&mut self.distrust.unacked, s);
        if rounds < UNACKED_ROUNDS {
            return true;
        }
        self.distrust.unacked = None;
        self.distrust(now, s);
        self.emit(Event::NeighbourRefused { peer: s.clone() });
        self.emit(Event::NeighboursChanged);
        self.successor_lost(now);
        false
    }

    /// Drop `n` from the routing state and keep it out for [`DISTRUST_FOR`].
    pub(super) fn distrust(&mut self, now: Instant, n: &NodeInfo) {
        let d = &mut self.distrust.until;
        if d.len() >= MAX_DISTRUSTED {
            d.retain(|_, until| *until > now);
            if d.len() >= MAX_DISTRUSTED
                && let Some(oldest) = d.iter().min_by_key(|(_, until)| **until).map(|(p, _)| p.clone())
            {
                d.remove(&oldest);
            }
        }
        d.insert(n.peer.clone(), now + DISTRUST_FOR);
        self.routing.evict(&n.peer);
    }

    /// May `n` enter the routing state or a lookup's answer?
    pub(super) fn trusted(&self, now: Instant, n: &NodeInfo) -> bool {
        self.distrust.allows(now, n)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::time::{Duration, Instant};

    use super::super::tests::{drain, node};
    use super::super::{Config, Input, Output};
    use super::*;
    use crate::wire::Response;

    /// Me, my first successor `first` and the ring after it; stabilization
    /// rounds where `first` acknowledges me and my second successor says
    /// who its predecessor is (`second_pred`).
    fn rounds(second_pred: impl Fn(&NodeInfo, &NodeInfo) -> NodeInfo, n: usize) -> (Chord, NodeInfo, Vec<Output>) {
        let me = node(1);
        let mut ring: Vec<NodeInfo> = (2..40).map(node).collect();
        ring.sort_by_key(|n| me.id.distance_to(&n.id));
        let after = ring[1..8].to_vec();
        rounds_with(ring[..8].to_vec(), after, second_pred, n)
    }

    /// As [`rounds`], with my successor list `mine` and my first's answer
    /// listing `after`.
    fn rounds_with(
        mine: Vec<NodeInfo>,
        after: Vec<NodeInfo>,
        second_pred: impl Fn(&NodeInfo, &NodeInfo) -> NodeInfo,
        n: usize,
    ) -> (Chord, NodeInfo, Vec<Output>) {
        let me = node(1);
        let mut ring: Vec<NodeInfo> = (2..40).map(node).collect();
        ring.sort_by_key(|n| me.id.distance_to(&n.id));
        let first = mine[0].clone();
        let mut now = Instant::now();
        let mut chord = Chord::new(me.clone(), Config::default(), now);
        chord.routing.set_successors(mine);
        chord.routing.predecessor = ring.last().cloned();
        let mut events = Vec::new();
        for _ in 0..n {
            now += Duration::from_secs(1);
            chord.handle(now, Input::Timeout);
            let mut pending = drain(&mut chord);
            while let Some(o) = pending.pop() {
                let Output::Send { id, to, request } = o else {
                    events.push(o);
                    continue;
                };
                let response = match request {
                    Request::GetNeighbours if to.same(&first) => {
                        Response::Neighbours { predecessor: Some(me.clone()), successors: after.clone() }
                    }
                    Request::GetNeighbours => {
                        Response::Neighbours { predecessor: Some(second_pred(&me, &first)), successors: Vec::new() }
                    }
                    _ => continue,
                };
                chord.handle(now, Input::Response { id, responder: to.ticket, response });
                pending.extend(drain(&mut chord));
            }
        }
        (chord, first, events)
    }

    fn refused(out: &[Output]) -> usize {
        out.iter().filter(|o| matches!(o, Output::Event(Event::NeighbourRefused { .. }))).count()
    }

    #[test]
    fn a_first_successor_my_second_does_not_know_is_dropped() {
        // It names me as its predecessor (as an identity answering every
        // asker would), but my second successor never heard of it.
        let (chord, first, out) = rounds(|me, _| me.clone(), 2 + usize::from(UNACKED_ROUNDS));
        assert!(!chord.successors().iter().any(|n| n.same(&first)), "dropped");
        assert_eq!(refused(&out), 1);
        assert!(chord.trusted(Instant::now(), &first), "not distrusted: an honest node pings its way back");
    }

    #[test]
    fn with_no_second_the_node_my_first_lists_next_vouches() {
        // My list is worn down to one identity; it lists next a node that
        // would sort in before it (so it is not taken) and that, asked,
        // names me as its predecessor as such identities do.
        let me = node(1);
        let first = (2..40).map(node).min_by_key(|n| me.id.distance_to(&n.id)).unwrap();
        let ghost = (40..=255).map(node).find(|n| n.id.in_open(&me.id, &first.id)).expect("a node before my first");
        let (chord, first, out) =
            rounds_with(vec![first], vec![ghost], |me, _| me.clone(), 2 + usize::from(UNACKED_ROUNDS));
        assert!(!chord.successors().iter().any(|n| n.same(&first)), "dropped: {:?}", chord.successors());
        assert_eq!(refused(&out), 1);
    }

    #[test]
    fn a_second_that_names_a_third_node_does_not_drop_a_first_that_lists_it() {
        // My first lists my second as its successor; my second names some
        // node before me: one of them lies or is behind, and a colluding
        // second must not be able to drop an honest first.
        let (chord, first, out) = rounds(|_, _| node(200), 2 + usize::from(UNACKED_ROUNDS));
        assert!(chord.successors().first().is_some_and(|n| n.same(&first)));
        assert_eq!(refused(&out), 0);
    }

    #[test]
    fn a_first_successor_my_second_holds_as_predecessor_stays() {
        let (chord, first, out) = rounds(|_, first| first.clone(), 2 + usize::from(UNACKED_ROUNDS));
        assert!(chord.successors().first().is_some_and(|n| n.same(&first)));
        assert_eq!(refused(&out), 0);
    }
}
