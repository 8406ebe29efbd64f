//! A TCP transport wrapper that dials from a fresh ephemeral port.
//!
//! libp2p-tcp "reuses" the listen port for outgoing connections by binding
//! the dialing socket to `0.0.0.0:<listen port>`. When several nodes on one
//! host listen on the same port at different addresses (127.0.0.1:4001 and
//! 127.0.0.2:4001, or several IPs of a server), the kernel then picks a
//! source address equal to the destination and the connection reaches
//! itself: the noise handshake fails. Dialing from a new port avoids that;
//! dhtr does not rely on port reuse (there is no hole punching).

use std::pin::Pin;
use std::task::{Context, Poll};

use libp2p::core::transport::{DialOpts, ListenerId, PortUse, TransportError, TransportEvent};
use libp2p::{Multiaddr, Transport};

/// Wraps a transport so every dial uses a new local port.
pub struct FreshPorts<T>(pub T);

impl<T: Transport + Unpin> Transport for FreshPorts<T> {
    type Output = T::Output;
    type Error = T::Error;
    type ListenerUpgrade = T::ListenerUpgrade;
    type Dial = T::Dial;

    fn listen_on(&mut self, id: ListenerId, addr: Multiaddr) -> Result<(), TransportError<Self::Error>> {
        self.0.listen_on(id, addr)
    }

    fn remove_listener(&mut self, id: ListenerId) -> bool {
        self.0.remove_listener(id)
    }

    fn dial(&mut self, addr: Multiaddr, opts: DialOpts) -> Result<Self::Dial, TransportError<Self::Error>> {
        self.0.dial(addr, DialOpts { port_use: PortUse::New, ..opts })
    }

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<TransportEvent<Self::ListenerUpgrade, Self::Error>> {
        Pin::new(&mut self.get_mut().0).poll(cx)
    }
}

/// Check that a listen address is not taken by another process.
///
/// libp2p sets `SO_REUSEPORT` on its listening sockets, so a second node on
/// the same address would start "successfully" and the kernel would split
/// incoming connections between two identities. A plain bind without that
/// option fails if anyone holds the port; the socket is closed again at once.
pub fn ensure_free(addr: &Multiaddr) -> Result<(), std::io::Error> {
    use libp2p::multiaddr::Protocol;
    let mut ip = None;
    let mut tcp = None;
    let mut udp = None;
    for p in addr.iter() {
        match p {
            Protocol::Ip4(a) => ip = Some(std::net::IpAddr::V4(a)),
            Protocol::Ip6(a) => ip = Some(std::net::IpAddr::V6(a)),
            Protocol::Tcp(port) => tcp = Some(port),
            Protocol::Udp(port) => udp = Some(port),
            _ => {}
        }
    }
    let Some(ip) = ip else { return Ok(()) };
    match (tcp, udp) {
        (Some(port), _) if port != 0 => std::net::TcpListener::bind((ip, port)).map(drop),
        (_, Some(port)) if port != 0 => std::net::UdpSocket::bind((ip, port)).map(drop),
        _ => Ok(()),
    }
}
