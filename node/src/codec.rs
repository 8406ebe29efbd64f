//! The request-response codec of the Chord protocol: length-limited CBOR
//! over one stream per request. Oversized or undecodable messages are
//! `InvalidData` errors, which the event loop counts and penalises.

use std::io;

use dhtr_protocol::wire::{self, MAX_REQUEST_BYTES, MAX_RESPONSE_BYTES};
use dhtr_protocol::{Response, WireRequest};
use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use libp2p::StreamProtocol;

/// Encodes and decodes Chord messages.
#[derive(Clone, Default)]
pub struct ChordCodec;

/// Read at most `limit` bytes; one byte more means the message is oversized.
async fn read_limited<T: AsyncRead + Unpin + Send>(io: &mut T, limit: usize) -> io::Result<Vec<u8>> {
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
    type Request = WireRequest;
    type Response = Response;

    async fn read_request<T: AsyncRead + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
    ) -> io::Result<WireRequest> {
        let bytes = read_limited(io, MAX_REQUEST_BYTES).await?;
        wire::decode_request(&bytes).map_err(invalid)
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
        req: WireRequest,
    ) -> io::Result<()> {
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
