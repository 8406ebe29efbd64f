//! What misbehaving peers cost themselves: every undecodable or oversized
//! message is a strike; after [`STRIKES_BEFORE_BAN`] strikes the peer is
//! banned for [`BAN`] — not dialled, not answered, not asked in reads. The
//! memory is bounded whatever peers do.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use dhtr_protocol::PeerRef;

/// Bad messages from one peer before it is banned.
pub const STRIKES_BEFORE_BAN: u32 = 3;
/// How long a banned peer stays banned.
pub const BAN: Duration = Duration::from_secs(600);
/// Peers with strikes remembered before all strikes are forgotten.
const MAX_STRUCK: usize = 4096;

/// Strikes and bans.
#[derive(Default)]
pub struct Peers {
    strikes: HashMap<PeerRef, u32>,
    banned: HashMap<PeerRef, Instant>,
}

impl Peers {
    /// Is `peer` banned at `now`?
    pub fn is_banned(&self, now: Instant, peer: &PeerRef) -> bool {
        self.banned.get(peer).is_some_and(|until| *until > now)
    }

    /// A strike against `peer`; true if it is now banned.
    pub fn strike(&mut self, now: Instant, peer: &PeerRef) -> bool {
        if self.strikes.len() >= MAX_STRUCK && !self.strikes.contains_key(peer) {
            self.strikes.clear();
        }
        let strikes = self.strikes.entry(peer.clone()).or_insert(0);
        *strikes += 1;
        if *strikes >= STRIKES_BEFORE_BAN {
            self.strikes.remove(peer);
            self.banned.insert(peer.clone(), now + BAN);
            return true;
        }
        false
    }

    /// Forget bans that ended.
    pub fn expire(&mut self, now: Instant) {
        self.banned.retain(|_, until| *until > now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_strikes_ban_a_peer_for_a_while() {
        let t0 = Instant::now();
        let mut p = Peers::default();
        let bad = PeerRef(vec![6]);
        assert!(!p.strike(t0, &bad));
        assert!(!p.strike(t0, &bad));
        assert!(!p.is_banned(t0, &bad));
        assert!(p.strike(t0, &bad));
        assert!(p.is_banned(t0, &bad));
        assert!(!p.is_banned(t0, &PeerRef(vec![7])));
        assert!(!p.is_banned(t0 + BAN, &bad));
        p.expire(t0 + BAN);
        assert!(p.banned.is_empty());
    }
}
