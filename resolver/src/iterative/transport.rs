//! UDP and TCP for the core's requests. Every UDP query gets a new socket
//! bound to port 0, so the kernel picks a fresh random source port (RFC 5452
//! §9.2: port and ID together make spoofing hard); the socket is connected,
//! so the kernel drops datagrams from other addresses and reports ICMP
//! unreachables at once. TCP uses the 2-byte length prefix of RFC 1035
//! §4.2.2 / RFC 7766 §8, one query per connection.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::time::{Instant, timeout_at};

use super::core::{Failure, Request, Step};

/// The largest DNS message (TCP length prefix, and any UDP datagram).
const MAX_MESSAGE: usize = 65_535;

/// Sends `req` over UDP and hands each datagram received to `on_datagram`
/// until it returns a step (the reply was accepted) or `req.timeout_at` passes.
pub(crate) async fn udp_exchange<F>(req: &Request, mut on_datagram: F) -> Result<Step, Failure>
where
    F: FnMut(SocketAddr, &[u8]) -> Option<Step>,
{
    let io = async {
        let any = if req.to.is_ipv4() {
            SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0))
        } else {
            SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0))
        };
        let socket = UdpSocket::bind(any).await.map_err(|e| io_failure("UDP bind", &e))?;
        socket.connect(req.to).await.map_err(|e| io_failure("UDP connect", &e))?;
        socket.send(&req.bytes).await.map_err(|e| io_failure("UDP send", &e))?;
        let mut buf = vec![0u8; MAX_MESSAGE];
        loop {
            let (len, from) = socket.recv_from(&mut buf).await.map_err(|e| io_failure("UDP receive", &e))?;
            if let Some(step) = buf.get(..len).and_then(|bytes| on_datagram(from, bytes)) {
                return Ok(step);
            }
        }
    };
    timeout_at(Instant::from_std(req.timeout_at), io).await.unwrap_or(Err(Failure::Timeout))
}

/// Sends `req` over TCP and returns the first message that comes back.
pub(crate) async fn tcp_exchange(req: &Request) -> Result<Vec<u8>, Failure> {
    let io = async {
        let mut stream = TcpStream::connect(req.to).await.map_err(|e| io_failure("TCP connect", &e))?;
        let len = u16::try_from(req.bytes.len()).map_err(|_| Failure::Io("query too long for TCP".to_string()))?;
        let mut framed = Vec::with_capacity(req.bytes.len() + 2);
        framed.extend_from_slice(&len.to_be_bytes());
        framed.extend_from_slice(&req.bytes);
        stream.write_all(&framed).await.map_err(|e| io_failure("TCP send", &e))?;
        let mut prefix = [0u8; 2];
        stream.read_exact(&mut prefix).await.map_err(|e| io_failure("TCP receive", &e))?;
        let mut reply = vec![0u8; usize::from(u16::from_be_bytes(prefix)).min(MAX_MESSAGE)];
        stream.read_exact(&mut reply).await.map_err(|e| io_failure("TCP receive", &e))?;
        Ok(reply)
    };
    timeout_at(Instant::from_std(req.timeout_at), io).await.unwrap_or(Err(Failure::Timeout))
}

fn io_failure(what: &str, e: &std::io::Error) -> Failure {
    Failure::Io(format!("{what}: {e}"))
}
