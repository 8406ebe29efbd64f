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
        // list is not taken, mine is kept. The successor itself stays: an
        // honest node whose join or self-check such identities captured
        // lists them until its self-check, which starts at me, its
        // predecessor, hears my list and heals it ([`super::search`]).
        let mut mine = Density::default();
        mine.sample(&me, &self.routing.successors);
        let sparse = mine.sparse(&from.id, &successors);
        if !self.acknowledged(now, &from, acked) {
            return;
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
        self.send(now, succ, Request::Notify, RpcPurpose::Notify);
        self.emit(Event::StabilizationRound);
        if changed {
            self.emit(Event::NeighboursChanged);
        }
    }

    /// Count one stabilization round in which successor `s` did (`acked`)
    /// or did not hold me as its predecessor. Returns `false` when `s` was
    /// dropped for it.
    fn acknowledged(&mut self, now: Instant, s: &NodeInfo, acked: bool) -> bool {
        if acked {
            self.distrust.unacked = None;
            return true;
        }
        let rounds = match &mut self.distrust.unacked {
            Some((peer, n)) if *peer == s.peer => {
                *n = n.saturating_add(1);
                *n
            }
            slot => {
                *slot = Some((s.peer.clone(), 1));
                1
            }
        };
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
