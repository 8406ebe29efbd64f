//! Bootstrap and listen multiaddrs: parsing and validation.
//!
//! A bootstrap address names both where to dial and whom we expect to find
//! there, e.g. `/ip4/192.0.2.1/tcp/4001/p2p/12D3KooW...`. Supported shapes:
//!
//! ```text
//! /{ip4,ip6,dns,dns4,dns6}/<host> / {tcp/<port> | udp/<port>/quic-v1} / p2p/<peer id>
//! ```

use std::fmt;
use std::str::FromStr;

use multiaddr::{Multiaddr, PeerId, Protocol};

/// An example shown in errors so operators see the expected shape.
const EXAMPLE: &str = "/ip4/192.0.2.1/tcp/4001/p2p/12D3KooW...";

/// Why a bootstrap or listen address was rejected.
///
/// Every variant carries the offending input so the message stands alone.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddrError {
    /// The text does not parse as a multiaddr at all.
    #[error("{input:?} is not a multiaddr: {reason} (expected something like {EXAMPLE})")]
    NotMultiaddr {
        /// The input as given.
        input: String,
        /// What the multiaddr parser complained about.
        reason: String,
    },
    /// The text after `/p2p/` is not a valid peer id.
    #[error("{input:?}: invalid peer id {peer:?} after /p2p/: {reason}")]
    BadPeerId {
        /// The input as given.
        input: String,
        /// The text that should have been a peer id.
        peer: String,
        /// What the peer id parser complained about.
        reason: String,
    },
    /// The address does not start with a host part.
    #[error("{input:?}: missing host; the address must start with /ip4, /ip6, /dns, /dns4 or /dns6")]
    MissingHost {
        /// The input as given.
        input: String,
    },
    /// The host part uses a protocol we cannot dial or listen on.
    #[error("{input:?}: unsupported host {found}; expected /ip4, /ip6, /dns, /dns4 or /dns6")]
    UnsupportedHost {
        /// The input as given.
        input: String,
        /// The offending host component.
        found: String,
    },
    /// A listen address uses a DNS name instead of an IP address.
    #[error("{input:?}: a listen address needs /ip4 or /ip6, not the DNS name {found}")]
    ListenNotIp {
        /// The input as given.
        input: String,
        /// The offending host component.
        found: String,
    },
    /// Nothing follows the host.
    #[error("{input:?}: missing transport after the host; expected /tcp/<port> or /udp/<port>/quic-v1")]
    MissingTransport {
        /// The input as given.
        input: String,
    },
    /// The transport part is not `/tcp/<port>` or `/udp/<port>/quic-v1`.
    #[error("{input:?}: unsupported transport {found}; expected /tcp/<port> or /udp/<port>/quic-v1")]
    UnsupportedTransport {
        /// The input as given.
        input: String,
        /// The offending transport components.
        found: String,
    },
    /// A bootstrap address uses port 0, which cannot be dialed.
    #[error("{input:?}: port 0 cannot be dialed")]
    ZeroPort {
        /// The input as given.
        input: String,
    },
    /// A bootstrap address does not end with `/p2p/<peer id>`.
    #[error("{input:?}: missing /p2p/<peer id> at the end")]
    MissingPeerId {
        /// The input as given.
        input: String,
    },
    /// Something follows `/p2p/<peer id>` (e.g. a relay circuit).
    #[error("{input:?}: unexpected {found} after /p2p/<peer id>; the peer id must come last")]
    TrailingAfterPeerId {
        /// The input as given.
        input: String,
        /// The trailing components.
        found: String,
    },
    /// A listen address contains `/p2p/<peer id>`.
    #[error("{input:?}: a listen address must not contain /p2p/<peer id>")]
    ListenWithPeerId {
        /// The input as given.
        input: String,
    },
}

/// A validated bootstrap address: a dialable multiaddr ending in `/p2p/<peer id>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BootstrapAddr {
    /// The peer we expect to reach; the same id as in the trailing `/p2p/`.
    pub peer: PeerId,
    /// The full address, including the trailing `/p2p/<peer id>`.
    pub addr: Multiaddr,
}

impl BootstrapAddr {
    /// Parses and validates a bootstrap address from text (surrounding
    /// whitespace is ignored).
    pub fn parse(input: &str) -> Result<Self, AddrError> {
        let trimmed = input.trim();
        let addr = parse_multiaddr(trimmed)?;
        Self::from_multiaddr(addr).map_err(|e| e.with_input(trimmed))
    }

    /// Validates an already parsed multiaddr as a bootstrap address.
    pub fn from_multiaddr(addr: Multiaddr) -> Result<Self, AddrError> {
        let shape = shape(&addr)?;
        if shape.port == 0 {
            return Err(AddrError::ZeroPort { input: addr.to_string() });
        }
        match shape.peer {
            Some(peer) => Ok(Self { peer, addr }),
            None => Err(AddrError::MissingPeerId { input: addr.to_string() }),
        }
    }

    /// The address to dial: [`BootstrapAddr::addr`] without the trailing `/p2p/<peer id>`.
    pub fn dial_addr(&self) -> Multiaddr {
        split_p2p(&self.addr).0
    }
}

impl FromStr for BootstrapAddr {
    type Err = AddrError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<Multiaddr> for BootstrapAddr {
    type Error = AddrError;

    fn try_from(addr: Multiaddr) -> Result<Self, Self::Error> {
        Self::from_multiaddr(addr)
    }
}

impl fmt::Display for BootstrapAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.addr.fmt(f)
    }
}

/// Splits a trailing `/p2p/<peer id>` off an address.
///
/// Returns the address without it and the peer id, or the address unchanged
/// and `None` if it does not end with `/p2p/`.
pub fn split_p2p(addr: &Multiaddr) -> (Multiaddr, Option<PeerId>) {
    let mut rest = addr.clone();
    match rest.pop() {
        Some(Protocol::P2p(peer)) => (rest, Some(peer)),
        _ => (addr.clone(), None),
    }
}

/// Checks that `addr` can be listened on: `/ip4` or `/ip6`, then `/tcp/<port>`
/// or `/udp/<port>/quic-v1`, and no `/p2p/<peer id>`. Port 0 (any free port)
/// is allowed.
pub fn check_listen_addr(addr: &Multiaddr) -> Result<(), AddrError> {
    let input = addr.to_string();
    let shape = shape(addr)?;
    if shape.peer.is_some() {
        return Err(AddrError::ListenWithPeerId { input });
    }
    if !shape.is_ip {
        return Err(AddrError::ListenNotIp { input, found: shape.host });
    }
    Ok(())
}

/// The structure of a supported address.
struct Shape {
    /// The host component as text, e.g. `/dns/example.org`.
    host: String,
    /// Whether the host is an IP address (as opposed to a DNS name).
    is_ip: bool,
    /// The TCP or UDP port.
    port: u16,
    /// The trailing peer id, if any.
    peer: Option<PeerId>,
}

/// Checks host, transport and optional trailing peer id.
fn shape(addr: &Multiaddr) -> Result<Shape, AddrError> {
    let input = || addr.to_string();
    let mut parts = addr.iter().peekable();

    let (host, is_ip) = match parts.next() {
        None => return Err(AddrError::MissingHost { input: input() }),
        Some(p @ (Protocol::Ip4(_) | Protocol::Ip6(_))) => (p.to_string(), true),
        Some(p @ (Protocol::Dns(_) | Protocol::Dns4(_) | Protocol::Dns6(_))) => (p.to_string(), false),
        Some(Protocol::P2p(_)) => return Err(AddrError::MissingHost { input: input() }),
        Some(p) => {
            return Err(AddrError::UnsupportedHost { input: input(), found: p.to_string() });
        }
    };

    let mut transport = Vec::new();
    while let Some(p) = parts.next_if(|p| !matches!(p, Protocol::P2p(_))) {
        transport.push(p);
    }
    let port = match transport.as_slice() {
        [] => return Err(AddrError::MissingTransport { input: input() }),
        [Protocol::Tcp(port)] | [Protocol::Udp(port), Protocol::QuicV1] => *port,
        other => {
            return Err(AddrError::UnsupportedTransport {
                input: input(),
                found: other.iter().map(ToString::to_string).collect(),
            });
        }
    };

    let peer = match parts.next() {
        Some(Protocol::P2p(peer)) => Some(peer),
        _ => None,
    };
    let trailing: String = parts.map(|p| p.to_string()).collect();
    if !trailing.is_empty() {
        return Err(AddrError::TrailingAfterPeerId { input: input(), found: trailing });
    }
    Ok(Shape { host, is_ip, port, peer })
}

/// Parses text as a multiaddr, explaining failures (including bad peer ids).
fn parse_multiaddr(input: &str) -> Result<Multiaddr, AddrError> {
    if input.is_empty() {
        return Err(AddrError::NotMultiaddr { input: input.to_owned(), reason: "empty".to_owned() });
    }
    if !input.starts_with('/') {
        return Err(AddrError::NotMultiaddr { input: input.to_owned(), reason: "it must start with '/'".to_owned() });
    }
    input.parse::<Multiaddr>().map_err(|err| {
        // The multiaddr parser reports a bad peer id vaguely; say which part is wrong.
        let mut segments = input.split('/');
        while let Some(segment) = segments.next() {
            if segment != "p2p" {
                continue;
            }
            if let Some(peer) = segments.next()
                && let Err(e) = peer.parse::<PeerId>()
            {
                return AddrError::BadPeerId { input: input.to_owned(), peer: peer.to_owned(), reason: e.to_string() };
            }
        }
        AddrError::NotMultiaddr { input: input.to_owned(), reason: err.to_string() }
    })
}

impl AddrError {
    /// Replaces the reported input (e.g. with the exact text the user gave).
    fn with_input(mut self, text: &str) -> Self {
        match &mut self {
            Self::NotMultiaddr { input, .. }
            | Self::BadPeerId { input, .. }
            | Self::MissingHost { input }
            | Self::UnsupportedHost { input, .. }
            | Self::ListenNotIp { input, .. }
            | Self::MissingTransport { input }
            | Self::UnsupportedTransport { input, .. }
            | Self::ZeroPort { input }
            | Self::MissingPeerId { input }
            | Self::TrailingAfterPeerId { input, .. }
            | Self::ListenWithPeerId { input } => *input = text.to_owned(),
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PEER: &str = "12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA";

    fn peer() -> PeerId {
        PEER.parse().unwrap_or_else(|e| panic!("test peer id: {e}"))
    }

    fn ok(s: &str) -> BootstrapAddr {
        BootstrapAddr::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn err(s: &str) -> AddrError {
        match BootstrapAddr::parse(s) {
            Ok(a) => panic!("{s} unexpectedly parsed as {a}"),
            Err(e) => e,
        }
    }

    fn ma(s: &str) -> Multiaddr {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn accepts_supported_shapes() {
        for host in [
            "/ip4/192.0.2.1",
            "/ip6/2001:db8::1",
            "/dns/seed.example.org",
            "/dns4/seed.example.org",
            "/dns6/seed.example.org",
        ] {
            for transport in ["/tcp/4001", "/udp/4001/quic-v1"] {
                let text = format!("{host}{transport}/p2p/{PEER}");
                let b = ok(&text);
                assert_eq!(b.peer, peer());
                assert_eq!(b.addr.to_string(), text);
                assert_eq!(b.dial_addr().to_string(), format!("{host}{transport}"));
                assert_eq!(b.to_string(), text);
                assert_eq!(text.parse::<BootstrapAddr>(), Ok(b));
            }
        }
    }

    #[test]
    fn trims_whitespace() {
        let b = ok(&format!("  /ip4/192.0.2.1/tcp/4001/p2p/{PEER}\n"));
        assert_eq!(b.peer, peer());
    }

    #[test]
    fn missing_peer_id() {
        let e = err("/ip4/192.0.2.1/tcp/4001");
        assert!(matches!(e, AddrError::MissingPeerId { .. }), "{e:?}");
        let msg = e.to_string();
        assert!(msg.contains("/ip4/192.0.2.1/tcp/4001"), "{msg}");
        assert!(msg.contains("missing /p2p/<peer id> at the end"), "{msg}");
    }

    #[test]
    fn unsupported_transport() {
        for (text, found) in [
            (format!("/ip4/192.0.2.1/tcp/4001/ws/p2p/{PEER}"), "/tcp/4001/ws"),
            (format!("/ip4/192.0.2.1/udp/4001/quic/p2p/{PEER}"), "/udp/4001/quic"),
            (format!("/ip4/192.0.2.1/udp/4001/p2p/{PEER}"), "/udp/4001"),
        ] {
            let e = err(&text);
            assert!(matches!(e, AddrError::UnsupportedTransport { .. }), "{e:?}");
            let msg = e.to_string();
            assert!(msg.contains("unsupported transport"), "{msg}");
            assert!(msg.contains(found), "{msg}");
            assert!(msg.contains(&text), "{msg}");
        }
        let e = err(&format!("/ip4/192.0.2.1/p2p/{PEER}"));
        assert!(matches!(e, AddrError::MissingTransport { .. }), "{e:?}");
    }

    #[test]
    fn not_a_multiaddr() {
        for text in ["", "192.0.2.1:4001", "/ip4/300.1.1.1/tcp/1", "/bogus/1"] {
            let e = err(text);
            assert!(matches!(e, AddrError::NotMultiaddr { .. }), "{text}: {e:?}");
            let msg = e.to_string();
            assert!(msg.contains("not a multiaddr"), "{msg}");
            assert!(msg.contains(text), "{msg}");
        }
    }

    #[test]
    fn bad_peer_id() {
        let e = err("/ip4/192.0.2.1/tcp/4001/p2p/notapeer");
        assert!(matches!(e, AddrError::BadPeerId { ref peer, .. } if peer == "notapeer"), "{e:?}");
    }

    #[test]
    fn bad_host_and_trailing() {
        let e = err(&format!("/unix/tmp%2Fsock/p2p/{PEER}"));
        assert!(matches!(e, AddrError::UnsupportedHost { .. }), "{e:?}");
        let e = err(&format!("/p2p/{PEER}"));
        assert!(matches!(e, AddrError::MissingHost { .. }), "{e:?}");
        let e = err(&format!("/ip4/192.0.2.1/tcp/4001/p2p/{PEER}/p2p-circuit"));
        assert!(matches!(e, AddrError::TrailingAfterPeerId { .. }), "{e:?}");
        let e = err(&format!("/ip4/192.0.2.1/tcp/0/p2p/{PEER}"));
        assert!(matches!(e, AddrError::ZeroPort { .. }), "{e:?}");
    }

    #[test]
    fn split() {
        let full = ma(&format!("/ip4/192.0.2.1/tcp/4001/p2p/{PEER}"));
        assert_eq!(split_p2p(&full), (ma("/ip4/192.0.2.1/tcp/4001"), Some(peer())));
        let bare = ma("/ip4/192.0.2.1/tcp/4001");
        assert_eq!(split_p2p(&bare), (bare.clone(), None));
        assert_eq!(split_p2p(&Multiaddr::empty()), (Multiaddr::empty(), None));
    }

    #[test]
    fn listen_addrs() {
        for ok in ["/ip4/0.0.0.0/tcp/4001", "/ip6/::/tcp/0", "/ip4/127.0.0.1/udp/4001/quic-v1"] {
            assert_eq!(check_listen_addr(&ma(ok)), Ok(()), "{ok}");
        }
        let e = check_listen_addr(&ma(&format!("/ip4/0.0.0.0/tcp/4001/p2p/{PEER}")));
        assert!(matches!(e, Err(AddrError::ListenWithPeerId { .. })), "{e:?}");
        let e = check_listen_addr(&ma("/dns/example.org/tcp/4001"));
        assert!(matches!(e, Err(AddrError::ListenNotIp { .. })), "{e:?}");
        let e = check_listen_addr(&ma("/ip4/0.0.0.0/tcp/4001/ws"));
        assert!(matches!(e, Err(AddrError::UnsupportedTransport { .. })), "{e:?}");
        let e = check_listen_addr(&ma("/ip4/0.0.0.0"));
        assert!(matches!(e, Err(AddrError::MissingTransport { .. })), "{e:?}");
    }
}
