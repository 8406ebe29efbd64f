//! Eclipse resistance at the connection layer (issue 9): no one address
//! prefix may fill a node's connection slots, and a prefix that keeps
//! sending banned peers is shut out as a whole.
//!
//! A node's routing state is only as good as the peers it can still reach.
//! An attacker on one /24 (or /48) can mint any number of identities there
//! (each costs work, not addresses) and open connections from all of them,
//! until libp2p's total limit refuses the node's own ring neighbours. The
//! [`Gate`] decides, before the handshake, from the remote address alone:
//!
//! - at most `per_prefix` *inbound* connections from one prefix
//!   (Heilman et al., "Eclipse attacks on Bitcoin's peer-to-peer network",
//!   2015, countermeasure: limit inbound per /16; discv5 does the same per
//!   /24 in its table). Outbound connections, which this node chose, are
//!   never refused here, and the total inbound limit leaves
//!   `reserved_outbound` slots that only they can take
//!   (`connection_limits`, set in [`crate::behaviour`]);
//! - a prefix from which [`PREFIX_BAN_PEERS`] distinct peers were banned
//!   within [`BAN`] is refused for [`BAN`] (a ban per peer costs an
//!   attacker one identity; this makes it cost the prefix).
//!
//! The gate is a pure state machine with time passed in; [`Behaviour`] is
//! its libp2p adapter.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::IpAddr;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use libp2p::core::transport::PortUse;
use libp2p::core::{Endpoint, Multiaddr};
use libp2p::swarm::{
    ConnectionClosed, ConnectionDenied, ConnectionId, FromSwarm, NetworkBehaviour, THandler, THandlerInEvent,
    THandlerOutEvent, ToSwarm, dummy,
};
use libp2p::{PeerId, multiaddr::Protocol};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;

use dhtr_monitoring::metrics::RefusalLabels;
use dhtr_protocol::Prefix;

/// How long a banned prefix stays shut out (as long as a peer's ban).
pub const BAN: Duration = Duration::from_secs(600);

/// Distinct banned peers of one prefix, within [`BAN`], that ban the prefix.
pub const PREFIX_BAN_PEERS: usize = 3;

/// Why an inbound connection was refused (`dhtr_connections_denied_total`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Denied {
    /// Its prefix already holds its share of inbound connections.
    PrefixFull,
    /// Its prefix is banned.
    PrefixBanned,
}

impl Denied {
    /// Every reason, for metric labels.
    pub const ALL: [Denied; 2] = [Denied::PrefixFull, Denied::PrefixBanned];

    /// The metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Denied::PrefixFull => "prefix_full",
            Denied::PrefixBanned => "prefix_banned",
        }
    }
}

impl std::fmt::Display for Denied {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Denied::PrefixFull => f.write_str("too many inbound connections from this address prefix"),
            Denied::PrefixBanned => f.write_str("this address prefix is banned"),
        }
    }
}

impl std::error::Error for Denied {}

/// The per-prefix accounting.
#[derive(Debug)]
pub struct Gate {
    /// Most inbound connections from one prefix (`None`: no limit).
    per_prefix: Option<u32>,
    /// Open connections: peer, prefix, inbound?
    open: HashMap<ConnectionId, (PeerId, Prefix, bool)>,
    inbound: HashMap<Prefix, u32>,
    /// Peers banned lately, by prefix, with when.
    banned_peers: HashMap<Prefix, Vec<(PeerId, Instant)>>,
    /// Banned prefixes and until when.
    banned: HashMap<Prefix, Instant>,
}

impl Gate {
    /// A gate letting at most `per_prefix` inbound connections from one
    /// prefix (`None`: no limit).
    pub fn new(per_prefix: Option<u32>) -> Gate {
        Gate {
            per_prefix,
            open: HashMap::new(),
            inbound: HashMap::new(),
            banned_peers: HashMap::new(),
            banned: HashMap::new(),
        }
    }

    /// May an inbound connection from `ip` go on at `now`?
    pub fn admit(&self, now: Instant, ip: IpAddr) -> Result<(), Denied> {
        let prefix = Prefix::of(ip);
        if self.banned.get(&prefix).is_some_and(|until| *until > now) {
            return Err(Denied::PrefixBanned);
        }
        let held = self.inbound.get(&prefix).copied().unwrap_or(0);
        if self.per_prefix.is_some_and(|cap| held >= cap) {
            return Err(Denied::PrefixFull);
        }
        Ok(())
    }

    /// A connection to `peer` at `ip` was established.
    pub fn opened(&mut self, connection: ConnectionId, peer: PeerId, ip: IpAddr, inbound: bool) {
        let prefix = Prefix::of(ip);
        if inbound {
            *self.inbound.entry(prefix).or_insert(0) += 1;
        }
        self.open.insert(connection, (peer, prefix, inbound));
    }

    /// A connection closed.
    pub fn closed(&mut self, connection: ConnectionId) {
        let Some((_, prefix, true)) = self.open.remove(&connection) else { return };
        if let Some(n) = self.inbound.get_mut(&prefix) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.inbound.remove(&prefix);
            }
        }
    }

    /// `peer` was banned at `now`: count it against the prefixes it is
    /// connected from. Returns the prefixes this bans.
    pub fn peer_banned(&mut self, now: Instant, peer: &PeerId) -> Vec<Prefix> {
        let mut prefixes: Vec<Prefix> = self.open.values().filter(|(p, ..)| p == peer).map(|(_, x, _)| *x).collect();
        prefixes.sort_unstable();
        prefixes.dedup();
        let mut newly = Vec::new();
        for prefix in prefixes {
            let list = self.banned_peers.entry(prefix).or_default();
            list.retain(|(p, at)| p != peer && now.saturating_duration_since(*at) < BAN);
            list.push((*peer, now));
            if list.len() >= PREFIX_BAN_PEERS && self.banned.get(&prefix).is_none_or(|until| *until <= now) {
                self.banned.insert(prefix, now + BAN);
                newly.push(prefix);
            }
        }
        // Forget what has run out, so the maps stay bounded by what is current.
        self.banned.retain(|_, until| *until > now);
        self.banned_peers.retain(|_, l| l.iter().any(|(_, at)| now.saturating_duration_since(*at) < BAN));
        newly
    }

    /// Open connections to peers of a banned prefix (to close them).
    pub fn peers_of(&self, prefix: Prefix) -> Vec<PeerId> {
        let mut peers: Vec<PeerId> = self.open.values().filter(|(_, x, _)| *x == prefix).map(|(p, ..)| *p).collect();
        peers.sort_unstable();
        peers.dedup();
        peers
    }
}

/// The IP address a multiaddr is at, if any.
pub fn ip_of(addr: &Multiaddr) -> Option<IpAddr> {
    addr.iter().find_map(|p| match p {
        Protocol::Ip4(ip) => Some(IpAddr::V4(ip)),
        Protocol::Ip6(ip) => Some(IpAddr::V6(ip)),
        _ => None,
    })
}

/// The [`Gate`] as a libp2p behaviour: it refuses inbound connections
/// before their handshake, and again once established (a prefix may have
/// filled up meanwhile).
pub struct Behaviour {
    /// The accounting.
    pub gate: Gate,
    denied: Family<RefusalLabels, Counter>,
}

impl Behaviour {
    /// A gate of at most `per_prefix` inbound connections per prefix,
    /// counting refusals in `denied` (`dhtr_connections_denied_total`).
    pub fn new(per_prefix: Option<u32>, denied: Family<RefusalLabels, Counter>) -> Behaviour {
        for d in Denied::ALL {
            denied.get_or_create_owned(&RefusalLabels { reason: d.as_str().to_owned() });
        }
        Behaviour { gate: Gate::new(per_prefix), denied }
    }

    fn check(&self, remote: &Multiaddr) -> Result<(), ConnectionDenied> {
        let Some(ip) = ip_of(remote) else { return Ok(()) };
        self.gate.admit(Instant::now(), ip).map_err(|d| {
            self.denied.get_or_create(&RefusalLabels { reason: d.as_str().to_owned() }).inc();
            ConnectionDenied::new(d)
        })
    }
}

impl NetworkBehaviour for Behaviour {
    type ConnectionHandler = dummy::ConnectionHandler;
    type ToSwarm = Infallible;

    fn handle_pending_inbound_connection(
        &mut self,
        _: ConnectionId,
        _: &Multiaddr,
        remote: &Multiaddr,
    ) -> Result<(), ConnectionDenied> {
        self.check(remote)
    }

    fn handle_established_inbound_connection(
        &mut self,
        connection: ConnectionId,
        peer: PeerId,
        _: &Multiaddr,
        remote: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        self.check(remote)?;
        if let Some(ip) = ip_of(remote) {
            self.gate.opened(connection, peer, ip, true);
        }
        Ok(dummy::ConnectionHandler)
    }

    fn handle_established_outbound_connection(
        &mut self,
        connection: ConnectionId,
        peer: PeerId,
        addr: &Multiaddr,
        _: Endpoint,
        _: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        if let Some(ip) = ip_of(addr) {
            self.gate.opened(connection, peer, ip, false);
        }
        Ok(dummy::ConnectionHandler)
    }

    fn on_swarm_event(&mut self, event: FromSwarm) {
        if let FromSwarm::ConnectionClosed(ConnectionClosed { connection_id, .. }) = event {
            self.gate.closed(connection_id);
        }
    }

    fn on_connection_handler_event(&mut self, _: PeerId, _: ConnectionId, event: THandlerOutEvent<Self>) {
        match event {}
    }

    fn poll(&mut self, _: &mut Context<'_>) -> Poll<ToSwarm<Self::ToSwarm, THandlerInEvent<Self>>> {
        Poll::Pending
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn one_prefix_fills_only_its_own_share_of_inbound_connections() {
        let now = Instant::now();
        let mut g = Gate::new(Some(3));
        for k in 0..3 {
            assert_eq!(g.admit(now, ip("203.0.113.7")), Ok(()));
            g.opened(ConnectionId::new_unchecked(k), PeerId::random(), ip(&format!("203.0.113.{k}")), true);
        }
        assert_eq!(g.admit(now, ip("203.0.113.99")), Err(Denied::PrefixFull), "a /24 is one prefix");
        assert_eq!(g.admit(now, ip("203.0.114.1")), Ok(()), "the next /24 is not");
        // Outbound connections (chosen by this node) do not count.
        g.opened(ConnectionId::new_unchecked(10), PeerId::random(), ip("198.51.100.1"), false);
        g.opened(ConnectionId::new_unchecked(11), PeerId::random(), ip("198.51.100.2"), false);
        g.opened(ConnectionId::new_unchecked(12), PeerId::random(), ip("198.51.100.3"), false);
        assert_eq!(g.admit(now, ip("198.51.100.4")), Ok(()));
        // A slot frees when a connection closes.
        g.closed(ConnectionId::new_unchecked(1));
        assert_eq!(g.admit(now, ip("203.0.113.99")), Ok(()));
        // IPv6: a /48.
        let mut g = Gate::new(Some(1));
        g.opened(ConnectionId::new_unchecked(0), PeerId::random(), ip("2001:db8:1:2::1"), true);
        assert_eq!(g.admit(now, ip("2001:db8:1:ffff::9")), Err(Denied::PrefixFull));
        assert_eq!(g.admit(now, ip("2001:db8:2::1")), Ok(()));
    }

    #[test]
    fn a_prefix_that_keeps_sending_banned_peers_is_banned_for_a_while() {
        let now = Instant::now();
        let mut g = Gate::new(None);
        let peers: Vec<PeerId> = (0..PREFIX_BAN_PEERS).map(|_| PeerId::random()).collect();
        for (k, p) in peers.iter().enumerate() {
            g.opened(ConnectionId::new_unchecked(k), *p, ip("203.0.113.5"), true);
        }
        let other = PeerId::random();
        g.opened(ConnectionId::new_unchecked(99), other, ip("192.0.2.1"), true);
        for p in &peers[..PREFIX_BAN_PEERS - 1] {
            assert!(g.peer_banned(now, p).is_empty());
            // The same peer banned twice counts once.
            assert!(g.peer_banned(now, p).is_empty());
        }
        assert_eq!(g.admit(now, ip("203.0.113.200")), Ok(()));
        let banned = g.peer_banned(now, &peers[PREFIX_BAN_PEERS - 1]);
        assert_eq!(banned, vec![Prefix::of(ip("203.0.113.1"))]);
        assert_eq!(g.admit(now, ip("203.0.113.200")), Err(Denied::PrefixBanned));
        assert_eq!(g.admit(now, ip("192.0.2.2")), Ok(()), "other prefixes are not touched");
        assert_eq!(g.peers_of(banned[0]).len(), PREFIX_BAN_PEERS);
        assert_eq!(g.admit(now + BAN, ip("203.0.113.200")), Ok(()), "the ban runs out");
    }

    #[test]
    fn bans_spread_over_longer_than_a_ban_do_not_add_up() {
        let start = Instant::now();
        let mut g = Gate::new(None);
        for k in 0..2 * PREFIX_BAN_PEERS {
            let p = PeerId::random();
            g.opened(ConnectionId::new_unchecked(k), p, ip("203.0.113.5"), true);
            let at = start + BAN * u32::try_from(k).unwrap();
            assert!(g.peer_banned(at, &p).is_empty(), "one ban per BAN never bans the prefix");
        }
    }
}
