//! The request-response codec of the ledger protocol
//! (`/dhtr/<network>/ledger/1`): one ledger message per stream, CBOR, at
//! most [`MAX_MESSAGE_BYTES`]; the answer is an empty acknowledgement
//! (PBFT messages are one-way; replies travel as messages of their own).
//!
//! As with Chord, an oversized or undecodable inbound message is read as a
//! value ([`LedgerInbound::Bad`]) so the event loop can count it and
//! penalise the sender.

use std::io;

use dhtr_ledger::msg::{self, DecodeError, MAX_MESSAGE_BYTES, Message};
use futures::{AsyncRead, AsyncWrite, AsyncWriteExt};
use libp2p::StreamProtocol;

use crate::codec::{is_bad_message, read_limited};

/// Encodes and decodes ledger messages.
#[derive(Clone, Default)]
pub struct LedgerCodec;

/// What came in on an inbound ledger stream.
// Moved once from the codec to the event loop; boxing would only add an
// allocation per message.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum LedgerInbound {
    /// A well-formed message.
    Message(Message),
    /// Bytes that are not one.
    Bad {
        /// `oversized` or `undecodable`.
        reason: &'static str,
        /// What was wrong, for logs.
        detail: String,
    },
}

fn bad(e: DecodeError) -> LedgerInbound {
    let reason = if matches!(e, DecodeError::TooLarge(_)) { "oversized" } else { "undecodable" };
    LedgerInbound::Bad { reason, detail: e.to_string() }
}

impl libp2p::request_response::Codec for LedgerCodec {
    type Protocol = StreamProtocol;
    type Request = LedgerInbound;
    type Response = ();

    async fn read_request<T: AsyncRead + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
    ) -> io::Result<LedgerInbound> {
        match read_limited(io, MAX_MESSAGE_BYTES).await {
            Ok(bytes) => Ok(msg::decode(&bytes).map_or_else(bad, LedgerInbound::Message)),
            Err(e) if is_bad_message(&e) => Ok(bad(DecodeError::TooLarge(MAX_MESSAGE_BYTES + 1))),
            Err(e) => Err(e),
        }
    }

    async fn read_response<T: AsyncRead + Unpin + Send>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<()> {
        read_limited(io, 16).await.map(|_| ())
    }

    async fn write_request<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        req: LedgerInbound,
    ) -> io::Result<()> {
        let LedgerInbound::Message(m) = req else {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "refusing to send a bad message"));
        };
        let bytes = msg::encode(&m);
        if bytes.len() > MAX_MESSAGE_BYTES {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "ledger message too large to send"));
        }
        io.write_all(&bytes).await?;
        io.close().await
    }

    async fn write_response<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        _: (),
    ) -> io::Result<()> {
        io.close().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dhtr_ledger::msg::Body;
    use dhtr_protocol::ChunkId;
    use futures::io::Cursor;
    use libp2p::request_response::Codec;

    fn read(bytes: Vec<u8>) -> LedgerInbound {
        let mut io = Cursor::new(bytes);
        let proto = StreamProtocol::new("/dhtr/test/ledger/1");
        match futures::executor::block_on(LedgerCodec.read_request(&proto, &mut io)) {
            Ok(i) => i,
            Err(e) => panic!("bad messages are values, not errors: {e}"),
        }
    }

    #[test]
    fn bad_messages_are_values_with_a_reason() {
        assert!(matches!(read(b"\xff\x00junk".to_vec()), LedgerInbound::Bad { reason: "undecodable", .. }));
        assert!(matches!(read(vec![0; MAX_MESSAGE_BYTES + 1]), LedgerInbound::Bad { reason: "oversized", .. }));
        let ok = msg::encode(&Message { chunk: ChunkId(3), body: Body::GetBlocks { from: 0 } });
        assert!(matches!(read(ok), LedgerInbound::Message(_)));
    }
}
