//! The request-response codec of the Chord protocol: length-limited CBOR
//! over one stream per request.
//!
//! An oversized or undecodable *request* is read as a value
//! ([`Inbound::Bad`]): request-response drops read errors of inbound streams
//! silently, and the event loop must see them to count them and penalise the
//! sender. An oversized or undecodable *response* is an `InvalidData` error,
//! which request-response reports as an outbound failure.

use std::io;

use dhtr_protocol::wire::{self, MAX_REQUEST_BYTES, MAX_RESPONSE_BYTES};
use dhtr_protocol::{Response, WireRequest};
use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use libp2p::StreamProtocol;

/// Encodes and decodes Chord messages.
#[derive(Clone, Default)]
pub struct ChordCodec;

/// What came in on an inbound stream.
#[derive(Debug)]
pub enum Inbound {
    /// A well-formed request.
    Request(WireRequest),
    /// Bytes that are not one: the stream is dropped unanswered.
    Bad {
        /// `oversized` or `undecodable`, for metrics.
        reason: &'static str,
        /// What was wrong, for logs.
        detail: String,
    },
}

impl From<WireRequest> for Inbound {
    fn from(r: WireRequest) -> Inbound {
        Inbound::Request(r)
    }
}

/// Read at most `limit` bytes; one byte more means the message is oversized.
pub(crate) async fn read_limited<T: AsyncRead + Unpin + Send>(io: &mut T, limit: usize) -> io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    io.take(limit as u64 + 1).read_to_end(&mut buf).await?;
    if buf.len() > limit {
        return Err(invalid(wire::WireError::TooLarge { size: buf.len(), limit }));
    }
    Ok(buf)
}

fn invalid(e: wire::WireError) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

impl libp2p::request_response::Codec for ChordCodec {
    type Protocol = StreamProtocol;
    type Request = Inbound;
    type Response = Response;

    async fn read_request<T: AsyncRead + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
    ) -> io::Result<Inbound> {
        let bad = |e: wire::WireError| {
            let reason = if matches!(e, wire::WireError::TooLarge { .. }) { "oversized" } else { "undecodable" };
            Inbound::Bad { reason, detail: e.to_string() }
        };
        match read_limited(io, MAX_REQUEST_BYTES).await {
            Ok(bytes) => Ok(wire::decode_request(&bytes).map_or_else(bad, Inbound::Request)),
            Err(e) if is_bad_message(&e) => {
                Ok(bad(wire::WireError::TooLarge { size: MAX_REQUEST_BYTES + 1, limit: MAX_REQUEST_BYTES }))
            }
            Err(e) => Err(e),
        }
    }

    async fn read_response<T: AsyncRead + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
    ) -> io::Result<Response> {
        let bytes = read_limited(io, MAX_RESPONSE_BYTES).await?;
        wire::decode_response(&bytes).map_err(invalid)
    }

    async fn write_request<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        req: Inbound,
    ) -> io::Result<()> {
        let Inbound::Request(req) = req else {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "refusing to send a bad request"));
        };
        let bytes = wire::encode(&req, MAX_REQUEST_BYTES).map_err(invalid)?;
        io.write_all(&bytes).await?;
        io.close().await
    }

    async fn write_response<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        res: Response,
    ) -> io::Result<()> {
        let bytes = wire::encode(&res, MAX_RESPONSE_BYTES).map_err(invalid)?;
        io.write_all(&bytes).await?;
        io.close().await
    }
}

/// Is this I/O error a bad message from the peer (as opposed to a
/// connection problem)?
pub fn is_bad_message(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::InvalidData
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::io::Cursor;
    use libp2p::request_response::Codec;

    fn proto() -> StreamProtocol {
        StreamProtocol::new("/dhtr/test/chord/1")
    }

    fn read(bytes: Vec<u8>) -> Inbound {
        let mut io = Cursor::new(bytes);
        match futures::executor::block_on(ChordCodec.read_request(&proto(), &mut io)) {
            Ok(i) => i,
            Err(e) => panic!("bad requests are values, not errors: {e}"),
        }
    }

    #[test]
    fn bad_requests_are_values_with_a_reason() {
        assert!(matches!(read(b"\xff\x00garbage".to_vec()), Inbound::Bad { reason: "undecodable", .. }));
        assert!(matches!(read(vec![0; MAX_REQUEST_BYTES + 10]), Inbound::Bad { reason: "oversized", .. }));
        let ok =
            wire::encode(&WireRequest { sender_addrs: vec![], body: dhtr_protocol::Request::Ping }, MAX_REQUEST_BYTES);
        assert!(matches!(read(ok.unwrap_or_default()), Inbound::Request(_)));
    }

    #[test]
    fn bad_responses_are_invalid_data_errors() {
        let mut io = Cursor::new(vec![0xffu8; 10]);
        let r = futures::executor::block_on(ChordCodec.read_response(&proto(), &mut io));
        assert!(r.is_err_and(|e| is_bad_message(&e)));
    }
}
