//! The UDP listener (RFC 1035 §4.2.1): receive loops that answer cache hits
//! inline and hand misses to a resolution.

use std::sync::Arc;
use std::time::Duration;

use tokio::net::UdpSocket;

use super::engine::{Engine, Reply};
use super::{Handler, Observer};

/// Larger datagrams are cut to this and then fail to parse (FORMERR or
/// dropped); a real query is far smaller.
const MAX_QUERY: usize = 4096;

/// Serves queries arriving on `socket` until the task is aborted. Several
/// loops may share one socket.
pub(crate) async fn serve<H: Handler, O: Observer>(engine: Arc<Engine<H, O>>, socket: Arc<UdpSocket>) {
    let mut buf = vec![0u8; MAX_QUERY];
    loop {
        let (len, peer) = match socket.recv_from(&mut buf).await {
            Ok(got) => got,
            Err(e) => {
                // Transient (e.g. ICMP errors surfacing on some systems); do not spin.
                tracing::debug!(error = %e, "DNS UDP receive failed");
                tokio::time::sleep(Duration::from_millis(1)).await;
                continue;
            }
        };
        let Some(packet) = buf.get(..len) else { continue };
        engine.query(packet, peer, Reply::Udp { socket: Arc::clone(&socket), peer }).await;
    }
}
