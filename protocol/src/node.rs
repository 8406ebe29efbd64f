//! How the core names other nodes: an opaque peer identity (the libp2p
//! PeerId bytes), its admission ticket, the ring id derived from both, and
//! opaque dial addresses.
//!
//! The ring id is never taken from the wire: it is always recomputed from
//! the identity and the ticket ([`Ticket::position`]), so a peer cannot
//! choose where it sits.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::admission::{Ticket, certified_position};
use crate::permit::Certificate;
use crate::ring::RingId;
use crate::wire::WireError;

/// Longest accepted peer identity (a PeerId is 38 bytes for ed25519).
pub const MAX_PEER_BYTES: usize = 64;
/// Longest accepted address (a binary multiaddr).
pub const MAX_ADDR_BYTES: usize = 256;
/// Most addresses kept for one node.
pub const MAX_ADDRS: usize = 8;

/// An opaque, authenticated peer identity (PeerId bytes under libp2p).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PeerRef(#[serde(with = "serde_bytes")] pub Vec<u8>);

impl fmt::Debug for PeerRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tail = &self.0[self.0.len().saturating_sub(4)..];
        write!(f, "Peer({})", hex::encode(tail))
    }
}

/// An opaque dial address (binary multiaddr under libp2p).
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Addr(#[serde(with = "serde_bytes")] pub Vec<u8>);

impl fmt::Debug for Addr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Addr({} bytes)", self.0.len())
    }
}

/// A node as the core knows it: identity, derived ring id and addresses.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "WireNode", into = "WireNode")]
pub struct NodeInfo {
    /// Where the node sits on the ring: [`Ticket::position`] of its identity.
    pub id: RingId,
    /// Its authenticated identity.
    pub peer: PeerRef,
    /// Its proof of work and the address prefix its position is bound to.
    pub ticket: Ticket,
    /// Addresses it can be dialled at, as last advertised.
    pub addrs: Vec<Addr>,
    /// Its membership certificate (`permissioned` networks only): with
    /// one, the ring id is [`certified_position`] of the identity and the
    /// certificate's serial.
    pub cert: Option<Arc<Certificate>>,
}

impl fmt::Debug for NodeInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Node({})", self.id.short())
    }
}

impl NodeInfo {
    /// A node from its identity, ticket and addresses; the ring id is derived.
    pub fn new(peer: PeerRef, ticket: Ticket, addrs: Vec<Addr>) -> NodeInfo {
        NodeInfo::certified(peer, ticket, None, addrs)
    }

    /// A node with its membership certificate (if any); the ring id is
    /// derived from the identity (and the ticket, without a certificate).
    /// Whether the certificate is valid is [`crate::Rules::check`]'s call.
    pub fn certified(peer: PeerRef, ticket: Ticket, cert: Option<Arc<Certificate>>, mut addrs: Vec<Addr>) -> NodeInfo {
        addrs.truncate(MAX_ADDRS);
        let id = match &cert {
            Some(c) => certified_position(&peer, c.serial),
            None => ticket.position(&peer),
        };
        NodeInfo { id, peer, ticket, addrs, cert }
    }

    /// Is this the same node (same identity) as `other`? Compares the ring
    /// ids, which are derived from the identities (fixed size, so cheap).
    pub fn same(&self, other: &NodeInfo) -> bool {
        self.id == other.id
    }
}

/// The on-the-wire form of [`NodeInfo`]: no ring id, sizes checked.
#[derive(Serialize, Deserialize)]
struct WireNode {
    #[serde(with = "serde_bytes")]
    peer: Vec<u8>,
    ticket: Ticket,
    addrs: Vec<Addr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cert: Option<Certificate>,
}

impl TryFrom<WireNode> for NodeInfo {
    type Error = WireError;

    fn try_from(w: WireNode) -> Result<Self, WireError> {
        if w.peer.is_empty() || w.peer.len() > MAX_PEER_BYTES {
            return Err(WireError::Invalid("peer identity length"));
        }
        if w.addrs.len() > MAX_ADDRS || w.addrs.iter().any(|a| a.0.len() > MAX_ADDR_BYTES) {
            return Err(WireError::Invalid("too many or too long addresses"));
        }
        if let Some(c) = &w.cert {
            c.check_shape().map_err(|_| WireError::Invalid("malformed membership certificate"))?;
        }
        Ok(NodeInfo::certified(PeerRef(w.peer), w.ticket, w.cert.map(Arc::new), w.addrs))
    }
}

impl From<NodeInfo> for WireNode {
    fn from(n: NodeInfo) -> WireNode {
        WireNode { peer: n.peer.0, ticket: n.ticket, addrs: n.addrs, cert: n.cert.map(Arc::unwrap_or_clone) }
    }
}
