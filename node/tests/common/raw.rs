//! A libp2p peer that speaks a dhtr protocol string but sends raw bytes:
//! what a misbehaving or unadmitted peer sends, and what it gets back.

use std::io;
use std::time::Duration;

use futures::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _, StreamExt as _};
use libp2p::request_response::{self, OutboundFailure, ProtocolSupport};
use libp2p::swarm::SwarmEvent;
use libp2p::{Multiaddr, PeerId, StreamProtocol, Swarm, noise, tcp, yamux};

/// Bound for one exchange with the node over libp2p (dial + request).
const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(20);

/// What became of one request sent by [`RawClient::exchange`].
pub enum Outcome {
    /// The node answered with these (non-empty) bytes.
    Response(Vec<u8>),
    /// No answer: the request failed (stream reset or closed empty,
    /// connection closed, dial refused, ...).
    Failed(String),
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Outcome::Response(bytes) => write!(f, "a response of {} bytes ({})", bytes.len(), hex::encode(bytes)),
            Outcome::Failed(reason) => write!(f, "no response: {reason}"),
        }
    }
}

/// A libp2p peer that speaks the Chord protocol string but sends raw bytes.
pub struct RawClient {
    pub swarm: Swarm<request_response::Behaviour<RawCodec>>,
}

impl RawClient {
    /// A client of `protocol` with a fresh identity.
    pub fn speaking(protocol: &str) -> RawClient {
        let swarm = libp2p::SwarmBuilder::with_new_identity()
            .with_tokio()
            .with_tcp(tcp::Config::default(), noise::Config::new, yamux::Config::default)
            .unwrap()
            .with_behaviour(|_| {
                request_response::Behaviour::with_codec(
                    RawCodec,
                    [(
                        StreamProtocol::try_from_owned(protocol.to_owned()).expect("a protocol string starting with /"),
                        ProtocolSupport::Outbound,
                    )],
                    request_response::Config::default().with_request_timeout(Duration::from_secs(10)),
                )
            })
            .unwrap()
            .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(30)))
            .build();
        RawClient { swarm }
    }

    /// Connects to `peer` at `addr` if needed, sends `bytes` as one request
    /// and reports its outcome; then, if the request failed, waits (bounded)
    /// for the node to close the connection, so the next exchange starts on
    /// a fresh one.
    pub async fn exchange(&mut self, peer: PeerId, addr: &Multiaddr, bytes: Vec<u8>) -> Outcome {
        let outcome = match tokio::time::timeout(EXCHANGE_TIMEOUT, self.request(peer, addr, bytes)).await {
            Ok(outcome) => outcome,
            Err(_) => panic!("no outcome within {} s", EXCHANGE_TIMEOUT.as_secs()),
        };
        if matches!(outcome, Outcome::Failed(_)) {
            let closed = tokio::time::timeout(Duration::from_secs(10), async {
                while self.swarm.is_connected(&peer) {
                    self.swarm.select_next_some().await;
                }
            })
            .await;
            if closed.is_err() {
                println!("note: the node kept the connection open after a failed request");
            }
        }
        outcome
    }

    async fn request(&mut self, peer: PeerId, addr: &Multiaddr, bytes: Vec<u8>) -> Outcome {
        if !self.swarm.is_connected(&peer) {
            self.swarm.dial(addr.clone()).unwrap();
            loop {
                match self.swarm.select_next_some().await {
                    SwarmEvent::ConnectionEstablished { peer_id, .. } if peer_id == peer => break,
                    SwarmEvent::OutgoingConnectionError { error, .. } => {
                        return Outcome::Failed(format!("dial failed: {error}"));
                    }
                    _ => {}
                }
            }
        }
        let id = self.swarm.behaviour_mut().send_request(&peer, bytes);
        loop {
            match self.swarm.select_next_some().await {
                SwarmEvent::Behaviour(request_response::Event::Message {
                    message: request_response::Message::Response { request_id, response },
                    ..
                }) if request_id == id => return Outcome::Response(response),
                SwarmEvent::Behaviour(request_response::Event::OutboundFailure { request_id, error, .. })
                    if request_id == id =>
                {
                    return Outcome::Failed(match error {
                        OutboundFailure::Io(e) => format!("stream error: {e}"),
                        other => other.to_string(),
                    });
                }
                _ => {}
            }
        }
    }
}

/// Writes a request's bytes as they are and reads a response to the end of
/// the stream. A stream closed without a single byte is not a response (no
/// dhtr message is empty), so it is reported as an `UnexpectedEof` error.
#[derive(Clone, Default)]
pub struct RawCodec;

impl request_response::Codec for RawCodec {
    type Protocol = StreamProtocol;
    type Request = Vec<u8>;
    type Response = Vec<u8>;

    async fn read_request<T: AsyncRead + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
    ) -> io::Result<Vec<u8>> {
        let mut buf = Vec::new();
        io.read_to_end(&mut buf).await?;
        Ok(buf)
    }

    async fn read_response<T: AsyncRead + Unpin + Send>(
        &mut self,
        protocol: &StreamProtocol,
        io: &mut T,
    ) -> io::Result<Vec<u8>> {
        let buf = self.read_request(protocol, io).await?;
        if buf.is_empty() {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "stream closed without a response"));
        }
        Ok(buf)
    }

    async fn write_request<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        req: Vec<u8>,
    ) -> io::Result<()> {
        write_all_and_close(io, &req).await
    }

    async fn write_response<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        res: Vec<u8>,
    ) -> io::Result<()> {
        write_all_and_close(io, &res).await
    }
}

/// Write one message's bytes and close the stream.
async fn write_all_and_close<T: AsyncWrite + Unpin + Send>(io: &mut T, bytes: &[u8]) -> io::Result<()> {
    io.write_all(bytes).await?;
    io.close().await
}
