//! One request-response codec for the three peer protocols: a bounded
//! message per direction per stream, encoded and decoded by the protocol's
//! [`Wire`] (in `dhtr-node-core`, where the decoders are fuzzed).
//!
//! An oversized or undecodable *request* is read as a value
//! ([`Inbound::Bad`]): request-response drops read errors of inbound streams
//! silently, and the Swarm task must see them to count them and penalise
//! the sender. An oversized or undecodable *response* is an `InvalidData`
//! error, which request-response reports as an outbound failure.

use std::io;
use std::marker::PhantomData;

use dhtr_node_core::wire::{Refused, Wire, oversized};
use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use libp2p::StreamProtocol;

/// The codec of protocol `W`.
pub struct Codec<W>(PhantomData<W>);

impl<W> Clone for Codec<W> {
    fn clone(&self) -> Self {
        Codec(PhantomData)
    }
}

impl<W> Default for Codec<W> {
    fn default() -> Self {
        Codec(PhantomData)
    }
}

/// What came in on an inbound stream.
#[derive(Debug)]
pub enum Inbound<R> {
    /// A well-formed request.
    Request(R),
    /// Bytes that are not one: the stream is dropped unanswered.
    Bad(Refused),
}

/// Read at most `limit` bytes; one byte more means the message is oversized.
async fn read_limited<T: AsyncRead + Unpin + Send>(io: &mut T, limit: usize) -> io::Result<Option<Vec<u8>>> {
    let mut buf = Vec::new();
    io.take(limit as u64 + 1).read_to_end(&mut buf).await?;
    Ok((buf.len() <= limit).then_some(buf))
}

fn invalid(e: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e.to_string())
}

async fn write_all<T: AsyncWrite + Unpin + Send>(io: &mut T, bytes: Option<Vec<u8>>) -> io::Result<()> {
    let bytes = bytes.ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "message too large to send"))?;
    io.write_all(&bytes).await?;
    io.close().await
}

impl<W: Wire> libp2p::request_response::Codec for Codec<W> {
    type Protocol = StreamProtocol;
    type Request = Inbound<W::Request>;
    type Response = W::Response;

    async fn read_request<T: AsyncRead + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
    ) -> io::Result<Self::Request> {
        Ok(match read_limited(io, W::MAX_REQUEST).await? {
            Some(bytes) => W::decode_request(&bytes).map_or_else(Inbound::Bad, Inbound::Request),
            None => Inbound::Bad(oversized(W::MAX_REQUEST)),
        })
    }

    async fn read_response<T: AsyncRead + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
    ) -> io::Result<W::Response> {
        let bytes = read_limited(io, W::MAX_RESPONSE).await?.ok_or_else(|| invalid(oversized(W::MAX_RESPONSE)))?;
        W::decode_response(&bytes).map_err(invalid)
    }

    async fn write_request<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        req: Self::Request,
    ) -> io::Result<()> {
        let Inbound::Request(req) = req else {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "refusing to send a bad request"));
        };
        write_all(io, W::encode_request(&req)).await
    }

    async fn write_response<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        res: W::Response,
    ) -> io::Result<()> {
        write_all(io, W::encode_response(&res)).await
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
    use dhtr_ledger::msg::{Body, Message};
    use dhtr_node_core::BadMessage;
    use dhtr_node_core::wire::{ChordWire, LedgerWire, RecordsWire};
    use dhtr_protocol::ChunkId;
    use futures::io::Cursor;
    use libp2p::request_response::Codec as _;

    fn read<W: Wire>(bytes: Vec<u8>) -> Inbound<W::Request> {
        let mut io = Cursor::new(bytes);
        match futures::executor::block_on(Codec::<W>::default().read_request(&StreamProtocol::new("/t"), &mut io)) {
            Ok(i) => i,
            Err(e) => panic!("bad requests are values, not errors: {e}"),
        }
    }

    fn bad<R>(i: &Inbound<R>) -> Option<BadMessage> {
        match i {
            Inbound::Bad(r) => Some(r.bad),
            Inbound::Request(_) => None,
        }
    }

    #[test]
    fn bad_requests_are_values_with_a_reason_on_every_protocol() {
        assert_eq!(bad(&read::<ChordWire>(b"\xff\x00garbage".to_vec())), Some(BadMessage::Undecodable));
        assert_eq!(bad(&read::<ChordWire>(vec![0; ChordWire::MAX_REQUEST + 10])), Some(BadMessage::Oversized));
        let ping = dhtr_protocol::WireRequest {
            sender_ticket: dhtr_protocol::Ticket::placeholder(),
            sender_addrs: vec![],
            sender_cert: None,
            body: dhtr_protocol::Request::Ping,
        };
        assert_eq!(bad(&read::<ChordWire>(ChordWire::encode_request(&ping).unwrap_or_default())), None);
        assert_eq!(bad(&read::<LedgerWire>(b"\xff\x00junk".to_vec())), Some(BadMessage::Undecodable));
        assert_eq!(bad(&read::<LedgerWire>(vec![0; LedgerWire::MAX_REQUEST + 1])), Some(BadMessage::Oversized));
        let get = Message { chunk: ChunkId(3), body: Body::GetBlocks { from: 0 } };
        assert_eq!(bad(&read::<LedgerWire>(LedgerWire::encode_request(&get).unwrap_or_default())), None);
        assert_eq!(bad(&read::<RecordsWire>(vec![0x9f; 64])), Some(BadMessage::Undecodable));
        assert_eq!(bad(&read::<RecordsWire>(vec![0; RecordsWire::MAX_REQUEST + 1])), Some(BadMessage::Oversized));
    }

    #[test]
    fn bad_responses_are_invalid_data_errors() {
        let mut io = Cursor::new(vec![0xffu8; 10]);
        let r = futures::executor::block_on(
            Codec::<ChordWire>::default().read_response(&StreamProtocol::new("/t"), &mut io),
        );
        assert!(r.is_err_and(|e| is_bad_message(&e)));
    }
}
