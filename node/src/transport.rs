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
