//! Joining the ring through bootstrap peers or the peer store, with
//! backoff, and keeping the peer store up to date from the Chord core's
//! events (the store lets a restarted node rejoin without `--bootstrap`).

use std::time::{Duration, Instant, SystemTime};

use dhtr_bootstrap::{Backoff, JoinPlan, PeerStore};
use dhtr_monitoring::{JoinOutcome, Metrics};
use dhtr_protocol::{Addr, Chord, Event, NodeInfo, PeerRef, Ticket};
use libp2p::{Multiaddr, PeerId};
use rand::SeedableRng;
use rand::rngs::StdRng;
use tracing::{debug, info, warn};

use crate::config::Settings;
use crate::report;

/// How often the peer store is written when it changed.
const SAVE_EVERY: Duration = Duration::from_secs(10);

/// The join plan and the peer store.
pub struct Joining {
    pub store: PeerStore,
    plan: JoinPlan,
    next_join: Option<Instant>,
    joining_via: Option<PeerId>,
    /// Has this node joined a ring (or started its own)?
    pub joined: bool,
    save_at: Instant,
    rng: StdRng,
    me: PeerId,
}

impl Joining {
    /// Plan the first join of node `me`: through the bootstrap peers and the
    /// stored ones, or none (a new ring) if there are neither.
    pub fn new(settings: &Settings, store: PeerStore, me: PeerId, now: Instant) -> Joining {
        let plan = new_plan(settings, &store, me);
        let joined = plan.is_empty();
        if joined {
            info!("no bootstrap peers and an empty peer store: starting a new ring");
        }
        Joining {
            store,
            plan,
            next_join: if joined { None } else { Some(now) },
            joining_via: None,
            joined,
            save_at: now + SAVE_EVERY,
            rng: StdRng::from_os_rng(),
            me,
        }
    }

    /// The peers the join plan would try (bootstrap, then stored ones).
    pub fn contacts(&self) -> Vec<NodeInfo> {
        self.plan.candidates().iter().map(|(p, addrs)| node_info(p, addrs)).collect()
    }

    /// When to act next (a join attempt, saving the store).
    pub fn poll_timeout(&self) -> Instant {
        self.next_join.map_or(self.save_at, |t| t.min(self.save_at))
    }

    /// The node to join through, if an attempt is due; saves the store when due.
    pub fn on_timer(&mut self, now: Instant) -> Option<NodeInfo> {
        if self.save_at <= now {
            self.save_at = now + SAVE_EVERY;
            self.save();
        }
        if self.joining_via.is_some() || self.next_join.is_none_or(|t| t > now) {
            return None;
        }
        match self.plan.next(now, &mut self.rng) {
            Some(a) if a.at <= now => {
                info!(peer = %a.peer, "joining the ring through {}", a.addrs.first().map(|m| m.to_string()).unwrap_or_default());
                self.joining_via = Some(a.peer);
                self.next_join = None;
                Some(node_info(&a.peer, &a.addrs))
            }
            Some(a) => {
                self.next_join = Some(a.at);
                None
            }
            None => {
                self.next_join = None;
                None
            }
        }
    }

    /// Act on an event of the Chord core.
    pub fn on_chord_event(&mut self, now: Instant, e: &Event, chord: &Chord, metrics: &Metrics, settings: &Settings) {
        match e {
            Event::Joined { successor } => {
                info!(successor = %report::peer_label(successor), "joined the ring");
                metrics.join_attempt(JoinOutcome::Ok);
                self.plan.on_success();
                self.joining_via = None;
                self.joined = true;
                // Remember who we joined through right away: a crash now
                // must still be able to rejoin without --bootstrap.
                self.on_neighbours_changed(chord, metrics);
                self.save();
            }
            Event::JoinFailed { via, error } => {
                warn!(via = %report::peer_label_bytes(via), "join failed: {error}");
                metrics.join_attempt(JoinOutcome::Failed);
                self.plan.on_failure(now);
                self.joining_via = None;
                self.next_join = Some(now);
                if let Ok(p) = PeerId::from_bytes(&via.0) {
                    self.store.record_failure(&p);
                }
            }
            Event::StabilizationRound => metrics.stabilization_round(),
            Event::NeighboursChanged => self.on_neighbours_changed(chord, metrics),
            Event::PeerFailed(n) => {
                debug!(peer = %report::peer_label(n), "peer failed to answer; removed from routing");
                if let Ok(p) = PeerId::from_bytes(&n.peer.0) {
                    self.store.record_failure(&p);
                }
            }
            Event::Alone => {
                warn!("every known successor failed; rejoining");
                self.joined = false;
                self.plan = new_plan(settings, &self.store, self.me);
                self.next_join = if self.plan.is_empty() { None } else { Some(now) };
            }
            Event::NeighbourRefused { peer } => {
                metrics.neighbour_refused();
                warn!(peer = %report::peer_label(peer), "successor does not hold this node as its predecessor; dropped and distrusted");
                if let Ok(p) = PeerId::from_bytes(&peer.peer.0) {
                    self.store.record_failure(&p);
                }
            }
            Event::AnswerRefused { peer, reason } => {
                metrics.answer_refused(reason.as_str());
                debug!(peer = %report::peer_label(peer), reason = reason.as_str(), "refused a lookup answer");
            }
            Event::Left => {}
        }
    }

    fn on_neighbours_changed(&mut self, chord: &Chord, metrics: &Metrics) {
        metrics.set_ring_neighbours(chord.predecessor().is_some(), chord.successors().len(), chord.fingers().len());
        // Successors are the best rejoin candidates after a restart.
        let now = SystemTime::now();
        for n in chord.successors() {
            if let Ok(p) = PeerId::from_bytes(&n.peer.0) {
                self.store.record_seen(p, &to_multiaddrs(&n.addrs), now);
            }
        }
    }

    /// Write the peer store if it changed.
    pub fn save(&mut self) {
        if self.store.is_dirty()
            && let Err(e) = self.store.save()
        {
            warn!("cannot save the peer store: {e}");
        }
    }
}

fn new_plan(settings: &Settings, store: &PeerStore, me: PeerId) -> JoinPlan {
    JoinPlan::new(
        settings.bootstrap.clone(),
        store.candidates(32),
        me,
        Backoff::new(Duration::from_secs(1), Duration::from_secs(60)),
    )
}

/// A libp2p peer and its addresses as the Chord core names them. Its
/// ticket is not known yet: its first answer carries it.
fn node_info(peer: &PeerId, addrs: &[Multiaddr]) -> NodeInfo {
    NodeInfo::new(PeerRef(peer.to_bytes()), Ticket::placeholder(), addrs.iter().map(|m| Addr(m.to_vec())).collect())
}

/// The multiaddrs among wire addresses.
pub fn to_multiaddrs(addrs: &[Addr]) -> Vec<Multiaddr> {
    addrs.iter().filter_map(|a| Multiaddr::try_from(a.0.clone()).ok()).collect()
}
