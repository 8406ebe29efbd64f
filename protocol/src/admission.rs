//! Who may stand on the ring, and where (issue 9, part 1: the `open` mode;
//! the `permissioned` mode's certificates are [`crate::permit`]).
//!
//! A ring position must cost something and must not be chosen. In an open
//! network a node's [`Ticket`] carries:
//!
//! * a proof of work over its identity: `blake3(network ‖ peer ‖ nonce)`
//!   must start with `difficulty` zero bits (S/Kademlia's static puzzle,
//!   Baumgart and Mies 2007 §4.1, with the nonce carried instead of ground
//!   into the key, and bound to one network so work never transfers);
//! * the address prefix it is reached at, an IPv4 /24 or IPv6 /48 (the idea
//!   of Mainline DHT's BEP 42).
//!
//! The position is `blake3("dhtr position" ‖ peer ‖ nonce ‖ prefix)`: a hash
//! *independent* of the work condition, so the work does not cluster nodes
//! anywhere on the ring, and including the nonce, so that every candidate
//! position costs a full proof of work (a position over the key alone could
//! be ground for free first and paid for once). Any peer recomputes the
//! position from the ticket ([`NodeInfo`] never takes a ring id from the
//! wire), checks the work against its network's difficulty ([`Rules::check`])
//! and, for a peer it is connected to, that the prefix is the one the
//! connection comes from (the adapter's job: only it sees addresses).
//!
//! BEP 42 adds a small index so several keyless nodes can share one IP; here
//! the identity already tells them apart, and an index would only let each
//! identity choose among several positions, so there is none. What limits a
//! prefix is [`Rules::per_prefix_committee`] (a committee never holds two
//! members from one prefix by default) and [`Rules::per_prefix_routing`].

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::node::{NodeInfo, PeerRef};
use crate::permit::Membership;
use crate::ring::RingId;

/// The address group a position is bound to: an IPv4 /24 or an IPv6 /48.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Prefix {
    /// The first three octets of an IPv4 address.
    V4([u8; 3]),
    /// The first six bytes of an IPv6 address.
    V6([u8; 6]),
}

impl Prefix {
    /// The prefix of an address (an IPv4-mapped IPv6 address counts as IPv4).
    pub fn of(ip: IpAddr) -> Prefix {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
            v4 => v4,
        };
        match ip {
            IpAddr::V4(v4) => {
                let o = v4.octets();
                Prefix::V4([o[0], o[1], o[2]])
            }
            IpAddr::V6(v6) => {
                let o = v6.octets();
                Prefix::V6([o[0], o[1], o[2], o[3], o[4], o[5]])
            }
        }
    }

    fn bytes(&self) -> Vec<u8> {
        match self {
            Prefix::V4(b) => [&[4u8][..], b].concat(),
            Prefix::V6(b) => [&[6u8][..], b].concat(),
        }
    }
}

impl fmt::Debug for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Prefix::V4([a, b, c]) => write!(f, "{a}.{b}.{c}.0/24"),
            Prefix::V6(o) => write!(
                f,
                "{:x}:{:x}:{:x}::/48",
                u16::from_be_bytes([o[0], o[1]]),
                u16::from_be_bytes([o[2], o[3]]),
                u16::from_be_bytes([o[4], o[5]])
            ),
        }
    }
}

/// What a node presents for its ring position: its proof of work and the
/// prefix it is reached at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Ticket {
    /// Makes `work(network, peer, nonce)` start with enough zero bits.
    pub nonce: u64,
    /// The address prefix the position is bound to.
    pub prefix: Prefix,
}

impl Ticket {
    /// A stand-in for a peer known only by identity and address (a
    /// bootstrap peer, a committee member a chain names), used to address
    /// it: its own answers carry its real ticket, which replaces this one
    /// before its position is used. It carries no work.
    pub const fn placeholder() -> Ticket {
        Ticket { nonce: 0, prefix: Prefix::V4([0, 0, 0]) }
    }

    /// Where a node with this identity and ticket sits on the ring.
    pub fn position(&self, peer: &PeerRef) -> RingId {
        let mut h = blake3::Hasher::new_derive_key("dhtr 2026 ring position v1");
        h.update(&(peer.0.len() as u16).to_be_bytes());
        h.update(&peer.0);
        h.update(&self.nonce.to_be_bytes());
        h.update(&self.prefix.bytes());
        RingId(*h.finalize().as_bytes())
    }
}

/// Where a node with a membership certificate sits in a `permissioned`
/// network: a hash of its identity and the certificate's serial, a random
/// number the admission authority picks, so the node cannot choose it.
pub fn certified_position(peer: &PeerRef, serial: u64) -> RingId {
    let mut h = blake3::Hasher::new_derive_key("dhtr 2026 certified ring position v1");
    h.update(&(peer.0.len() as u16).to_be_bytes());
    h.update(&peer.0);
    h.update(&serial.to_be_bytes());
    RingId(*h.finalize().as_bytes())
}

/// Identifies one network's admission rules: work done for one network
/// is worthless on another.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct NetworkTag(pub [u8; 32]);

impl fmt::Debug for NetworkTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NetworkTag({})", &hex::encode(self.0)[..16])
    }
}

/// The number of leading zero bits of `peer`'s work with `nonce`.
pub fn work_bits(network: &NetworkTag, peer: &PeerRef, nonce: u64) -> u32 {
    let mut h = blake3::Hasher::new_derive_key("dhtr 2026 identity work v1");
    h.update(&network.0);
    h.update(&(peer.0.len() as u16).to_be_bytes());
    h.update(&peer.0);
    h.update(&nonce.to_be_bytes());
    let out = h.finalize();
    let mut zeros = 0;
    for b in out.as_bytes() {
        zeros += b.leading_zeros();
        if *b != 0 {
            break;
        }
    }
    zeros
}

/// Search nonces `from..from + count` for one whose work has `difficulty`
/// zero bits. The caller loops (and reports progress) until one is found.
pub fn mint(network: &NetworkTag, peer: &PeerRef, difficulty: u8, from: u64, count: u64) -> Option<u64> {
    (from..from.saturating_add(count)).find(|&n| work_bits(network, peer, n) >= u32::from(difficulty))
}

/// Why a node is not admitted.
#[derive(Clone, Copy, Debug, Error, PartialEq, Eq)]
pub enum Unadmitted {
    /// Its proof of work is short of the network's difficulty.
    #[error("the identity's proof of work is below the network's difficulty")]
    Work,
    /// It is not reached from the prefix its position is bound to.
    #[error("the position is bound to another address prefix than the one it is reached from")]
    Prefix,
    /// Permissioned network: it presents no membership certificate (or,
    /// in an open network, presents one: positions there must be worked for).
    #[error("no membership certificate (or one where the network has none)")]
    NotAdmitted,
    /// Its certificate is malformed, too weakly signed, or for another
    /// network or peer.
    #[error("the membership certificate is invalid")]
    Certificate,
    /// Its certificate expired (or is not valid yet).
    #[error("the membership certificate expired or is not valid yet")]
    Expired,
    /// Its certificate was revoked.
    #[error("the membership certificate was revoked")]
    Revoked,
}

impl Unadmitted {
    /// Is this news another node may not have yet (a certificate that
    /// expired or was revoked since it learned of the node), rather than
    /// something anyone can see (no work, no valid certificate)?
    pub fn is_news(self) -> bool {
        matches!(self, Unadmitted::Expired | Unadmitted::Revoked)
    }

    /// The metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Unadmitted::Work => "work",
            Unadmitted::Prefix => "prefix",
            Unadmitted::NotAdmitted => "not_admitted",
            Unadmitted::Certificate => "certificate",
            Unadmitted::Expired => "expired",
            Unadmitted::Revoked => "revoked",
        }
    }
}

/// A network's admission rules (network parameters: every node must agree).
#[derive(Clone, Debug, PartialEq)]
pub struct Rules {
    /// The network the work is bound to.
    pub network: NetworkTag,
    /// Leading zero bits an identity's work must have.
    pub difficulty: u8,
    /// Most members of one committee from one prefix (1 on a public network).
    pub per_prefix_committee: u8,
    /// Most fingers and contacts from one prefix.
    pub per_prefix_routing: u8,
    /// `Some`: a `permissioned` network, admitting only nodes with a
    /// membership certificate of this authority (the work is then not
    /// checked). `None`: an `open` network.
    pub permission: Option<Arc<Membership>>,
}

impl Rules {
    /// Rules that admit everyone anywhere: only for unit tests and the
    /// simulator's baseline, never a network's parameters.
    pub fn permissive(network: NetworkTag) -> Rules {
        Rules { network, difficulty: 0, per_prefix_committee: u8::MAX, per_prefix_routing: u8::MAX, permission: None }
    }

    /// The admission mode's name: `open` or `permissioned`.
    pub fn mode(&self) -> &'static str {
        if self.permission.is_some() { "permissioned" } else { "open" }
    }

    /// Is `node` admitted at `now`? Open network: does its ticket carry
    /// enough work (and no certificate)? Permissioned network: does it
    /// carry a valid, unexpired, unrevoked membership certificate of its
    /// own identity for this network? (Its position is recomputed whenever
    /// a [`NodeInfo`] is built, so it cannot lie about where it sits;
    /// whether the prefix is really its own is for the adapter, which sees
    /// the address.)
    pub fn check(&self, now: Instant, node: &NodeInfo) -> Result<(), Unadmitted> {
        if let Some(m) = &self.permission {
            let cert = node.cert.as_deref().ok_or(Unadmitted::NotAdmitted)?;
            return m.check(&self.network, m.unix(now), &node.peer, cert).map_err(|e| e.unadmitted());
        }
        if node.cert.is_some() {
            return Err(Unadmitted::NotAdmitted);
        }
        if work_bits(&self.network, &node.peer, node.ticket.nonce) < u32::from(self.difficulty) {
            return Err(Unadmitted::Work);
        }
        Ok(())
    }

    /// Keep, in order, only the nodes whose prefix has not yet appeared
    /// `cap` times.
    pub fn cap_per_prefix(nodes: impl IntoIterator<Item = NodeInfo>, cap: u8) -> Vec<NodeInfo> {
        let mut out: Vec<NodeInfo> = Vec::new();
        for n in nodes {
            let same = out.iter().filter(|m| m.ticket.prefix == n.ticket.prefix).count();
            if same < usize::from(cap) {
                out.push(n);
            }
        }
        out
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn peer(b: u8) -> PeerRef {
        PeerRef(vec![b; 38])
    }

    #[test]
    fn prefixes_group_addresses() {
        let a = Prefix::of(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7)));
        assert_eq!(a, Prefix::of(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 200))));
        assert_ne!(a, Prefix::of(IpAddr::V4(Ipv4Addr::new(192, 0, 3, 7))));
        assert_eq!(a.to_string(), "192.0.2.0/24");
        let mapped = IpAddr::V6(Ipv4Addr::new(192, 0, 2, 9).to_ipv6_mapped());
        assert_eq!(Prefix::of(mapped), a);
        let v6 = Prefix::of("2001:db8:1::1".parse::<Ipv6Addr>().unwrap().into());
        assert_eq!(v6, Prefix::of("2001:db8:1:ffff::2".parse::<Ipv6Addr>().unwrap().into()));
        assert_ne!(v6, Prefix::of("2001:db8:2::1".parse::<Ipv6Addr>().unwrap().into()));
        assert_eq!(v6.to_string(), "2001:db8:1::/48");
    }

    #[test]
    fn minted_work_passes_and_binds_to_network_and_identity() {
        let net = NetworkTag([7; 32]);
        let nonce = mint(&net, &peer(1), 12, 0, 1 << 24).expect("12 bits within 2^24 tries");
        assert!(work_bits(&net, &peer(1), nonce) >= 12);
        // The same nonce is (almost surely) worthless for another identity
        // or network: 2^-12 each.
        assert!(work_bits(&NetworkTag([8; 32]), &peer(1), nonce) < 12);
        assert!(work_bits(&net, &peer(2), nonce) < 12);
    }

    #[test]
    fn position_depends_on_identity_nonce_and_prefix() {
        let p = Prefix::V4([10, 0, 0]);
        let t = Ticket { nonce: 5, prefix: p };
        let here = t.position(&peer(1));
        assert_eq!(here, t.position(&peer(1)));
        assert_ne!(here, t.position(&peer(2)));
        assert_ne!(here, Ticket { nonce: 6, prefix: p }.position(&peer(1)));
        assert_ne!(here, Ticket { nonce: 5, prefix: Prefix::V4([10, 0, 1]) }.position(&peer(1)));
    }

    #[test]
    fn work_does_not_cluster_positions() {
        // Positions of identities that passed 8 bits of work spread over
        // the ring like any others: each quarter holds about a quarter.
        let net = NetworkTag([1; 32]);
        let mut quarters = [0u32; 4];
        for i in 0..400u32 {
            let p = PeerRef(i.to_be_bytes().to_vec());
            let nonce = mint(&net, &p, 8, 0, 1 << 20).unwrap();
            let id = Ticket { nonce, prefix: Prefix::V4([10, 0, 0]) }.position(&p);
            quarters[usize::from(id.0[0] >> 6)] += 1;
        }
        assert!(quarters.iter().all(|&q| (60..=140).contains(&q)), "{quarters:?}");
    }

    #[test]
    fn rules_refuse_short_work() {
        let net = NetworkTag([3; 32]);
        let rules =
            Rules { network: net, difficulty: 10, per_prefix_committee: 1, per_prefix_routing: 2, permission: None };
        let prefix = Prefix::V4([10, 0, 0]);
        let good = mint(&net, &peer(1), 10, 0, 1 << 22).unwrap();
        let bad = (0..).find(|&n| work_bits(&net, &peer(1), n) < 10).unwrap();
        let node = |nonce| NodeInfo::new(peer(1), Ticket { nonce, prefix }, vec![]);
        let now = Instant::now();
        assert_eq!(rules.check(now, &node(good)), Ok(()));
        assert_eq!(rules.check(now, &node(bad)), Err(Unadmitted::Work));
        assert_eq!(Rules::permissive(net).check(now, &node(bad)), Ok(()));
    }

    #[test]
    fn caps_keep_order_and_limit_each_prefix() {
        let t = |c| Ticket { nonce: 0, prefix: Prefix::V4([10, 0, c]) };
        let nodes: Vec<NodeInfo> = [(1, 0), (2, 0), (3, 1), (4, 0), (5, 1)]
            .iter()
            .map(|&(b, c)| NodeInfo::new(peer(b), t(c), vec![]))
            .collect();
        let kept: Vec<u8> = Rules::cap_per_prefix(nodes.clone(), 1).iter().map(|n| n.peer.0[0]).collect();
        assert_eq!(kept, vec![1, 3]);
        let kept: Vec<u8> = Rules::cap_per_prefix(nodes, 2).iter().map(|n| n.peer.0[0]).collect();
        assert_eq!(kept, vec![1, 2, 3, 5]);
    }
}
