//! The request-response codec of the records protocol
//! (`/dhtr/<network>/records/1`): one CBOR request and one CBOR response
//! per stream, each size-limited. An oversized or undecodable request is
//! read as a value ([`RecordsInbound::Bad`]) so the event loop can count it
//! and penalise the sender.

use std::io;

use futures::{AsyncRead, AsyncWrite, AsyncWriteExt};
use libp2p::StreamProtocol;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{MAX_REQUEST_BYTES, MAX_RESPONSE_BYTES, RecordsRequest, RecordsResponse};
use crate::codec::{is_bad_message, read_limited};

/// Encodes and decodes records requests and responses.
#[derive(Clone, Default)]
pub struct RecordsCodec;

/// What came in on an inbound records stream.
#[derive(Debug)]
pub enum RecordsInbound {
    /// A well-formed request.
    Request(RecordsRequest),
    /// Bytes that are not one.
    Bad {
        /// `oversized` or `undecodable`.
        reason: &'static str,
        /// What was wrong, for logs.
        detail: String,
    },
}

fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    ciborium::from_reader(bytes).map_err(|e| e.to_string())
}

fn encode<T: Serialize>(v: &T, limit: usize) -> io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    ciborium::into_writer(v, &mut buf).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
    if buf.len() > limit {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "records message too large to send"));
    }
    Ok(buf)
}

impl libp2p::request_response::Codec for RecordsCodec {
    type Protocol = StreamProtocol;
    type Request = RecordsInbound;
    type Response = RecordsResponse;

    async fn read_request<T: AsyncRead + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
    ) -> io::Result<RecordsInbound> {
        match read_limited(io, MAX_REQUEST_BYTES).await {
            Ok(bytes) => Ok(decode(&bytes)
                .map_or_else(|detail| RecordsInbound::Bad { reason: "undecodable", detail }, RecordsInbound::Request)),
            Err(e) if is_bad_message(&e) => Ok(RecordsInbound::Bad { reason: "oversized", detail: e.to_string() }),
            Err(e) => Err(e),
        }
    }

    async fn read_response<T: AsyncRead + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
    ) -> io::Result<RecordsResponse> {
        let bytes = read_limited(io, MAX_RESPONSE_BYTES).await?;
        decode(&bytes).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
    }

    async fn write_request<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        req: RecordsInbound,
    ) -> io::Result<()> {
        let RecordsInbound::Request(r) = req else {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "refusing to send a bad request"));
        };
        io.write_all(&encode(&r, MAX_REQUEST_BYTES)?).await?;
        io.close().await
    }

    async fn write_response<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        res: RecordsResponse,
    ) -> io::Result<()> {
        io.write_all(&encode(&res, MAX_RESPONSE_BYTES)?).await?;
        io.close().await
    }
}
