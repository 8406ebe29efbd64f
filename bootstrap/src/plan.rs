//! Sans-IO join planning: whom to try to join the ring through, and when.
//!
//! The caller drives it:
//!
//! 1. [`JoinPlan::next`] gives an [`Attempt`]: a peer, its addresses, and the
//!    instant at which to dial it.
//! 2. The caller waits until then, dials, tries to join, and reports back with
//!    [`JoinPlan::on_success`] or [`JoinPlan::on_failure`].
//!
//! Candidates are tried round-robin: configured bootstrap peers first, then
//! peers from the store. Attempts within a round are immediate; after a whole
//! round fails, the next round starts after a [`Backoff`] delay, which grows
//! with each failed round and resets on success.

use std::time::Instant;

use multiaddr::{Multiaddr, PeerId};
use rand::Rng;

use crate::addr::{BootstrapAddr, split_p2p};
use crate::backoff::Backoff;

/// One planned join attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// The peer to join through.
    pub peer: PeerId,
    /// Its dial addresses (without `/p2p`), in preference order.
    pub addrs: Vec<Multiaddr>,
    /// When to dial it (may be in the past: dial right away).
    pub at: Instant,
}

/// Round-robin join planner with backoff between unsuccessful rounds.
#[derive(Debug, Clone)]
pub struct JoinPlan {
    candidates: Vec<(PeerId, Vec<Multiaddr>)>,
    backoff: Backoff,
    cursor: usize,
    pending: Option<Attempt>,
    /// Set when a round has just failed: the failure time the next round waits from.
    round_failed_at: Option<Instant>,
    failed_rounds: u32,
}

impl JoinPlan {
    /// Builds a plan from the configured bootstrap addresses (tried first, in
    /// order) and stored peers (e.g. [`crate::PeerStore::candidates`]).
    ///
    /// `me` is skipped (a node configured with its own address as bootstrap
    /// starts a new ring). Several entries for the same peer are merged into
    /// one candidate with all their addresses; peers without addresses are
    /// dropped.
    pub fn new(
        bootstraps: Vec<BootstrapAddr>,
        stored: Vec<(PeerId, Vec<Multiaddr>)>,
        me: PeerId,
        backoff: Backoff,
    ) -> Self {
        let configured = bootstraps.into_iter().map(|b| {
            let dial = b.dial_addr();
            (b.peer, vec![dial])
        });
        let mut candidates: Vec<(PeerId, Vec<Multiaddr>)> = Vec::new();
        for (peer, addrs) in configured.chain(stored) {
            if peer == me {
                continue;
            }
            let index = match candidates.iter().position(|(p, _)| *p == peer) {
                Some(i) => i,
                None => {
                    candidates.push((peer, Vec::new()));
                    candidates.len() - 1
                }
            };
            let known = &mut candidates[index].1;
            for addr in addrs {
                let (dial, named) = split_p2p(&addr);
                if named.is_some_and(|p| p != peer) || dial.is_empty() || known.contains(&dial) {
                    continue;
                }
                known.push(dial);
            }
        }
        candidates.retain(|(_, addrs)| !addrs.is_empty());
        Self { candidates, backoff, cursor: 0, pending: None, round_failed_at: None, failed_rounds: 0 }
    }

    /// Whether there is nothing to join through: the node should start a
    /// one-node ring (and wait for others to join it).
    pub fn is_empty(&self) -> bool {
        self.candidates.is_empty()
    }

    /// The candidates in the order they are tried.
    pub fn candidates(&self) -> &[(PeerId, Vec<Multiaddr>)] {
        &self.candidates
    }

    /// How many whole rounds failed since creation or the last success.
    pub fn failed_rounds(&self) -> u32 {
        self.failed_rounds
    }

    /// The next attempt, or `None` if [`JoinPlan::is_empty`].
    ///
    /// The first attempt of a round that follows a failed round is scheduled
    /// a backoff delay after that failure; other attempts are due at `now`.
    /// Until the attempt is reported with [`JoinPlan::on_success`] or
    /// [`JoinPlan::on_failure`], calling this again returns the same attempt.
    pub fn next<R: Rng + ?Sized>(&mut self, now: Instant, rng: &mut R) -> Option<Attempt> {
        if let Some(pending) = &self.pending {
            return Some(pending.clone());
        }
        let (peer, addrs) = self.candidates.get(self.cursor)?;
        let at = match self.round_failed_at.take() {
            Some(failed_at) => {
                let delay = self.backoff.next_delay(rng);
                failed_at.checked_add(delay).unwrap_or(now).max(now)
            }
            None => now,
        };
        let attempt = Attempt { peer: *peer, addrs: addrs.clone(), at };
        self.pending = Some(attempt.clone());
        Some(attempt)
    }

    /// The pending attempt succeeded (we joined): reset the backoff and start
    /// from the first candidate if asked again (e.g. to rejoin later).
    pub fn on_success(&mut self) {
        self.pending = None;
        self.cursor = 0;
        self.round_failed_at = None;
        self.failed_rounds = 0;
        self.backoff.reset();
    }

    /// The pending attempt failed at `now`: move on to the next candidate.
    /// If that completes a round, the next round waits a backoff delay from
    /// `now`. Does nothing if no attempt is pending.
    pub fn on_failure(&mut self, now: Instant) {
        if self.pending.take().is_none() {
            return;
        }
        self.cursor += 1;
        if self.cursor >= self.candidates.len() {
            self.cursor = 0;
            self.failed_rounds = self.failed_rounds.saturating_add(1);
            self.round_failed_at = Some(now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use multiaddr::multihash::Multihash;
    use rand::SeedableRng;
    use rand::rngs::StdRng;
    use std::time::Duration;

    fn peer(n: u8) -> PeerId {
        let mh = Multihash::wrap(0, &[n; 32]).unwrap_or_else(|e| panic!("{e}"));
        PeerId::from_multihash(mh).unwrap_or_else(|_| panic!("peer id"))
    }

    fn tcp(n: u16) -> Multiaddr {
        format!("/ip4/192.0.2.1/tcp/{n}").parse().unwrap_or_else(|e| panic!("{e}"))
    }

    fn boot(p: u8, port: u16) -> BootstrapAddr {
        BootstrapAddr::parse(&format!("{}/p2p/{}", tcp(port), peer(p))).unwrap_or_else(|e| panic!("{e}"))
    }

    fn backoff() -> Backoff {
        Backoff::new(Duration::from_secs(1), Duration::from_secs(60))
    }

    fn plan() -> JoinPlan {
        JoinPlan::new(
            vec![boot(1, 1), boot(2, 2)],
            vec![(peer(3), vec![tcp(3)]), (peer(1), vec![tcp(11), tcp(1)])],
            peer(0),
            backoff(),
        )
    }

    #[test]
    fn bootstraps_first_then_stored_merged() {
        let p = plan();
        assert_eq!(
            p.candidates(),
            &[(peer(1), vec![tcp(1), tcp(11)]), (peer(2), vec![tcp(2)]), (peer(3), vec![tcp(3)]),]
        );
    }

    #[test]
    fn own_id_skipped_and_empty() {
        let p = JoinPlan::new(vec![boot(0, 1)], vec![(peer(0), vec![tcp(2)]), (peer(5), vec![])], peer(0), backoff());
        assert!(p.is_empty());
        let mut p = p;
        let mut rng = StdRng::seed_from_u64(0);
        assert_eq!(p.next(Instant::now(), &mut rng), None);

        let p = JoinPlan::new(vec![boot(0, 1), boot(4, 4)], vec![], peer(0), backoff());
        assert_eq!(p.candidates(), &[(peer(4), vec![tcp(4)])]);
    }

    #[test]
    fn round_robin_with_growing_backoff() {
        let mut rng = StdRng::seed_from_u64(42);
        let mut p = plan();
        let mut now = Instant::now();
        let mut last_wait = Duration::ZERO;
        for round in 0..6u32 {
            for (i, expected) in [1u8, 2, 3].into_iter().enumerate() {
                let a = p.next(now, &mut rng).unwrap_or_else(|| panic!("attempt"));
                assert_eq!(a.peer, peer(expected));
                // Asking again before reporting gives the same attempt.
                assert_eq!(p.next(now, &mut rng), Some(a.clone()));
                if i == 0 && round > 0 {
                    let wait = a.at - now;
                    let ceiling = Duration::from_secs(1 << (round - 1)).min(Duration::from_secs(60));
                    assert!(wait >= ceiling / 2 && wait <= ceiling, "round {round}: {wait:?}");
                    assert!(wait >= last_wait, "round {round}: {wait:?} < {last_wait:?}");
                    last_wait = wait;
                } else {
                    assert_eq!(a.at, now, "round {round} attempt {i} is immediate");
                }
                now = a.at + Duration::from_millis(10);
                p.on_failure(now);
            }
            assert_eq!(p.failed_rounds(), round + 1);
        }
    }

    #[test]
    fn success_resets() {
        let mut rng = StdRng::seed_from_u64(9);
        let mut p = plan();
        let mut now = Instant::now();
        for _ in 0..7 {
            let a = p.next(now, &mut rng).unwrap_or_else(|| panic!("attempt"));
            now = a.at;
            p.on_failure(now);
        }
        assert_eq!(p.failed_rounds(), 2);
        let a = p.next(now, &mut rng).unwrap_or_else(|| panic!("attempt"));
        assert_eq!(a.peer, peer(2));
        p.on_success();
        assert_eq!(p.failed_rounds(), 0);
        // Later rejoin: from the top, immediately.
        let a = p.next(now, &mut rng).unwrap_or_else(|| panic!("attempt"));
        assert_eq!((a.peer, a.at), (peer(1), now));
        // A full failed round now waits about `base` again.
        for _ in 0..3 {
            let a = p.next(now, &mut rng).unwrap_or_else(|| panic!("attempt"));
            now = a.at;
            p.on_failure(now);
        }
        let a = p.next(now, &mut rng).unwrap_or_else(|| panic!("attempt"));
        assert!(a.at - now <= Duration::from_secs(1) && a.at - now >= Duration::from_millis(500));
    }

    #[test]
    fn stray_failure_reports_are_ignored() {
        let mut rng = StdRng::seed_from_u64(1);
        let mut p = plan();
        let now = Instant::now();
        p.on_failure(now);
        let a = p.next(now, &mut rng).unwrap_or_else(|| panic!("attempt"));
        assert_eq!(a.peer, peer(1));
        p.on_failure(now);
        p.on_failure(now);
        let a = p.next(now, &mut rng).unwrap_or_else(|| panic!("attempt"));
        assert_eq!(a.peer, peer(2));
    }

    #[test]
    fn late_caller_is_not_delayed_further() {
        let mut rng = StdRng::seed_from_u64(2);
        let mut p = JoinPlan::new(vec![boot(1, 1)], vec![], peer(0), backoff());
        let t0 = Instant::now();
        let a = p.next(t0, &mut rng).unwrap_or_else(|| panic!("attempt"));
        assert_eq!(a.at, t0);
        p.on_failure(t0);
        let later = t0 + Duration::from_secs(3600);
        let a = p.next(later, &mut rng).unwrap_or_else(|| panic!("attempt"));
        assert_eq!(a.at, later);
    }
}
