//! Turning the core's node descriptions into the JSON reports of `/status`
//! and `/lookup`, with PeerIds and multiaddrs as text.

use dhtr_monitoring::PeerReport;
use dhtr_protocol::{NodeInfo, PeerRef};
use libp2p::{Multiaddr, PeerId};

/// A node as shown to users.
pub fn peer_report(n: &NodeInfo) -> PeerReport {
    PeerReport {
        peer_id: peer_label_bytes(&n.peer),
        ring_id: n.id.to_hex(),
        addrs: n.addrs.iter().filter_map(|a| Multiaddr::try_from(a.0.clone()).ok()).map(|m| m.to_string()).collect(),
    }
}

/// A node's PeerId as text (for logs).
pub fn peer_label(n: &NodeInfo) -> String {
    peer_label_bytes(&n.peer)
}

/// Peer bytes as a PeerId string, or hex if they are not a PeerId.
pub fn peer_label_bytes(p: &PeerRef) -> String {
    PeerId::from_bytes(&p.0).map(|p| p.to_string()).unwrap_or_else(|_| hex::encode(&p.0))
}
