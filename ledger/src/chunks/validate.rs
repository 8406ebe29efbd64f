//! The replicas' validation requests: committee changes judged here against
//! a fresh ring view, record changes by the environment, verdicts gathered
//! until all are known.

use std::time::Instant;

use dhtr_protocol::{ChunkId, PeerRef};

use super::{Chunks, Output};
use crate::replica;
use crate::store::Store;
use crate::types::{Digest, Tx};

/// Verdicts being gathered for one validation request of a replica.
pub(super) struct Gathering {
    txs: Vec<Tx>,
    verdicts: Vec<Option<bool>>,
    /// Positions in `txs` sent to the environment, in order.
    asked: Vec<usize>,
}

impl Chunks {
    // ---- validation ----------------------------------------------------

    /// Judge a replica's validation request: committee changes here, record
    /// changes by the environment. Returns the verdicts if all are known.
    pub(super) fn gather(&mut self, now: Instant, chunk: ChunkId, block: Digest, txs: Vec<Tx>) -> Option<Vec<bool>> {
        let view = self.ring.get(&chunk).filter(|(_, t)| now.saturating_duration_since(*t) < self.cfg.view_fresh);
        let mut verdicts = Vec::with_capacity(txs.len());
        let mut asked = Vec::new();
        let mut need_ring = false;
        for (i, tx) in txs.iter().enumerate() {
            match tx {
                Tx::Reconfigure { committee } => match view {
                    Some((members, _)) => verdicts.push(Some(self.committee_change_ok(chunk, committee, members))),
                    None => {
                        need_ring = true;
                        verdicts.push(None);
                    }
                },
                Tx::Put(_) | Tx::Delete { .. } => {
                    asked.push(i);
                    verdicts.push(None);
                }
            }
        }
        if verdicts.iter().all(Option::is_some) {
            return Some(verdicts.into_iter().map(|v| v.unwrap_or(false)).collect());
        }
        if !asked.is_empty() {
            let subset = asked.iter().map(|i| txs[*i].clone()).collect();
            self.out.push_back(Output::Validate { chunk, block, txs: subset });
        }
        if need_ring {
            self.out.push_back(Output::CheckRing { chunk });
        }
        self.gathering.insert((chunk, block), Gathering { txs, verdicts, asked });
        None
    }

    pub(super) fn on_validated<S: Store + ?Sized>(
        &mut self,
        now: Instant,
        chunk: ChunkId,
        block: Digest,
        verdicts: Vec<bool>,
        store: &mut S,
    ) {
        let Some(g) = self.gathering.get_mut(&(chunk, block)) else { return };
        for (k, i) in g.asked.clone().into_iter().enumerate() {
            g.verdicts[i] = Some(verdicts.get(k).copied().unwrap_or(false));
        }
        g.asked.clear();
        self.finish_gathering(now, chunk, block, store);
    }

    /// A ring view arrived: judge the committee changes that waited for it.
    pub(super) fn resolve_gathering<S: Store + ?Sized>(&mut self, now: Instant, chunk: ChunkId, store: &mut S) {
        let Some((members, _)) = self.ring.get(&chunk).cloned() else { return };
        let keys: Vec<Digest> = self.gathering.keys().filter(|(c, _)| *c == chunk).map(|(_, b)| *b).collect();
        for block in keys {
            let Some(g) = self.gathering.get(&(chunk, block)) else { continue };
            let judged: Vec<Option<bool>> = g
                .txs
                .iter()
                .zip(g.verdicts.iter())
                .map(|(tx, v)| match tx {
                    Tx::Reconfigure { committee } => Some(self.committee_change_ok(chunk, committee, &members)),
                    _ => *v,
                })
                .collect();
            if let Some(g) = self.gathering.get_mut(&(chunk, block)) {
                g.verdicts = judged;
            }
            self.finish_gathering(now, chunk, block, store);
        }
    }

    /// A committee change is right when it names exactly the ring's
    /// committee by our fresh view, and that is not the committee already
    /// in charge (a no-op change would only bump the epoch, again and again
    /// if a lagging node keeps proposing it).
    fn committee_change_ok(&self, chunk: ChunkId, proposed: &[PeerRef], ring: &[PeerRef]) -> bool {
        proposed == ring && self.replicas.get(&chunk).is_none_or(|r| r.committee().members != proposed)
    }

    fn finish_gathering<S: Store + ?Sized>(&mut self, now: Instant, chunk: ChunkId, block: Digest, store: &mut S) {
        let done = self.gathering.get(&(chunk, block)).is_some_and(|g| g.verdicts.iter().all(Option::is_some));
        if !done {
            return;
        }
        if let Some(g) = self.gathering.remove(&(chunk, block)) {
            let verdicts = g.verdicts.into_iter().map(|v| v.unwrap_or(false)).collect();
            self.feed(now, chunk, replica::Input::Validated { block, verdicts }, store);
        }
    }
}
