//! Committee resolution: chunk → the committee that holds it, for every
//! purpose a node has — network reads, insertions, test submissions and the
//! chunk manager's ring checks (seed 001 §4.2–4.3).
//!
//! One component owns what each purpose used to repeat: the Chord lookup of
//! the chunk's start (one in flight per chunk, shared by every waiter), the
//! first n *distinct* successors as the committee, the complete-view rule
//! (a successor list still filling is no committee), and a short-lived cache
//! that ring changes clear. Ring checks always take a fresh lookup; the
//! others may use a cached view.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use dhtr_protocol::{Chord, ChunkId, LookupError, LookupId, LookupResult, NetworkParams, NodeInfo, PeerRef};

/// A committee as one lookup saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct View {
    /// The first n distinct successors of the chunk's start, in ring order.
    pub members: Vec<NodeInfo>,
    /// The next distinct successors after the committee (up to n more):
    /// members a join just displaced, who may still hold the chain.
    pub more: Vec<NodeInfo>,
    /// The committee size this view stands for if it is complete: n, or the
    /// whole ring when the ring is smaller than n. `None` when the list is
    /// merely short because this node's successor list is still filling.
    pub complete: Option<usize>,
}

impl View {
    /// The members' peer ids.
    pub fn peers(&self) -> Vec<PeerRef> {
        self.members.iter().map(|m| m.peer.clone()).collect()
    }

    /// The peer ids of the successors after the committee.
    pub fn more_peers(&self) -> Vec<PeerRef> {
        self.more.iter().map(|m| m.peer.clone()).collect()
    }
}

/// Whether a waiter accepts a cached view.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Freshness {
    /// A view at most the cache's age old is fine (reads, insertions).
    Cached,
    /// Only a lookup started now will do (ring checks compare with the ring).
    Fresh,
}

struct Pending<W> {
    lookup: LookupId,
    waiters: Vec<W>,
}

/// Chunk → committee, with waiters of any purpose `W`.
pub struct Committees<W> {
    params: NetworkParams,
    ttl: Duration,
    cache: HashMap<ChunkId, (View, Instant)>,
    pending: HashMap<ChunkId, Pending<W>>,
    lookups: HashMap<LookupId, ChunkId>,
}

/// Most cached committees before the cache is cleared (bounded memory
/// whatever names clients ask for).
const MAX_CACHED: usize = 16_384;

impl<W> Committees<W> {
    /// Committees of a network with `params`, cached for `ttl`.
    pub fn new(params: NetworkParams, ttl: Duration) -> Committees<W> {
        Committees { params, ttl, cache: HashMap::new(), pending: HashMap::new(), lookups: HashMap::new() }
    }

    /// The committee of `chunk` for `waiter`: at once if a cached view will
    /// do, else `None` and the waiter is kept and handed back by [`Self::on_lookup`]
    /// when the lookup (started here unless one is in flight) ends.
    pub fn get(
        &mut self,
        now: Instant,
        chunk: ChunkId,
        freshness: Freshness,
        waiter: W,
        chord: &mut Chord,
    ) -> Option<(View, W)> {
        if freshness == Freshness::Cached
            && let Some((view, at)) = self.cache.get(&chunk)
            && now.saturating_duration_since(*at) < self.ttl
        {
            return Some((view.clone(), waiter));
        }
        match self.pending.get_mut(&chunk) {
            Some(p) => p.waiters.push(waiter),
            None => {
                let lookup = chord.start_lookup(now, self.params.chunk_start(chunk));
                self.lookups.insert(lookup, chunk);
                self.pending.insert(chunk, Pending { lookup, waiters: vec![waiter] });
            }
        }
        None
    }

    /// Is this lookup one of ours?
    pub fn owns(&self, id: LookupId) -> bool {
        self.lookups.contains_key(&id)
    }

    /// A finished lookup: the chunk, the view (or why there is none) and
    /// every waiter for it.
    #[allow(clippy::type_complexity)]
    pub fn on_lookup(
        &mut self,
        now: Instant,
        id: LookupId,
        result: &Result<LookupResult, LookupError>,
        chord: &Chord,
    ) -> Option<(ChunkId, Result<View, LookupError>, Vec<W>)> {
        let chunk = self.lookups.remove(&id)?;
        let pending = self.pending.remove(&chunk)?;
        debug_assert_eq!(pending.lookup, id);
        let view = match result {
            Ok(r) => {
                let view = self.view_of(r, chord);
                if self.cache.len() >= MAX_CACHED {
                    self.cache.clear();
                }
                self.cache.insert(chunk, (view.clone(), now));
                Ok(view)
            }
            Err(e) => Err(e.clone()),
        };
        Some((chunk, view, pending.waiters))
    }

    /// Forget cached views (this node's neighbours changed).
    pub fn forget(&mut self) {
        self.cache.clear();
    }

    /// The committee a lookup answer names: its first n distinct successors
    /// (an answer naming one peer several times must not pass for a
    /// committee), at most [`dhtr_protocol::Rules::per_prefix_committee`] from one
    /// address prefix (issue 9: a committee never holds two members from
    /// one /24 or /48 on a public network), and whether that is a complete
    /// view.
    fn view_of(&self, r: &LookupResult, chord: &Chord) -> View {
        let n = self.params.committee_size();
        let cap = usize::from(chord.rules().per_prefix_committee);
        let mut members: Vec<NodeInfo> = Vec::with_capacity(2 * n);
        for s in &r.successors {
            if members.len() == 2 * n {
                break;
            }
            let crowded = members.iter().filter(|m| m.ticket.prefix == s.ticket.prefix).count() >= cap;
            if !crowded && !members.iter().any(|m| m.peer == s.peer) {
                members.push(s.clone());
            }
        }
        let more = members.split_off(members.len().min(n));
        let complete = complete_view(members.len(), n, chord);
        View { members, more, complete }
    }
}

/// The committee size a view of `found` distinct members stands for, if it
/// is complete: the full `n`, or the whole ring when the ring is smaller
/// than `n` (this node's successor list then reaches its predecessor, so it
/// sees every node). `None` for a list that is short because it is filling.
pub fn complete_view(found: usize, n: usize, chord: &Chord) -> Option<usize> {
    if found >= n {
        return Some(n);
    }
    let ring = chord.successors().len() + 1;
    (chord.sees_whole_ring() && ring <= n && found == ring).then_some(found)
}
