//! The three peer protocols as one shape: a bounded request, a bounded
//! response, and decoders that never panic. The node's libp2p codec is one
//! generic adapter over [`Wire`]; fuzz targets call the decoders directly.

use dhtr_ledger::msg::{self, MAX_MESSAGE_BYTES, Message};
use dhtr_protocol::wire::{self as chord_wire, WireError};
use dhtr_protocol::{WireRequest, WireResponse};

use crate::io::BadMessage;
use crate::records::{self, DecodeError, RecordsRequest, RecordsResponse};

/// Why bytes are not a message of a protocol: oversized or undecodable,
/// with a description for logs.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{detail}")]
pub struct Refused {
    /// What kind of bad.
    pub bad: BadMessage,
    /// What was wrong.
    pub detail: String,
}

impl Refused {
    fn oversized(size: usize, limit: usize) -> Refused {
        Refused { bad: BadMessage::Oversized, detail: format!("message of {size} bytes exceeds the limit of {limit}") }
    }
}

/// One request-response protocol: its messages, their size limits and
/// their encodings (CBOR unless a protocol says otherwise).
pub trait Wire: Send + Sync + 'static {
    /// A request.
    type Request: Send + std::fmt::Debug + 'static;
    /// A response.
    type Response: Send + std::fmt::Debug + 'static;
    /// Largest encoded request.
    const MAX_REQUEST: usize;
    /// Largest encoded response.
    const MAX_RESPONSE: usize;
    /// Encode a request (`None` if it would exceed the limit).
    fn encode_request(r: &Self::Request) -> Option<Vec<u8>>;
    /// Encode a response (`None` if it would exceed the limit).
    fn encode_response(r: &Self::Response) -> Option<Vec<u8>>;
    /// Decode a request of at most [`Self::MAX_REQUEST`] bytes.
    fn decode_request(bytes: &[u8]) -> Result<Self::Request, Refused>;
    /// Decode a response of at most [`Self::MAX_RESPONSE`] bytes.
    fn decode_response(bytes: &[u8]) -> Result<Self::Response, Refused>;
}

fn cbor_within<T: serde::Serialize>(v: &T, limit: usize) -> Option<Vec<u8>> {
    let bytes = dhtr_ledger::types::cbor(v);
    (bytes.len() <= limit).then_some(bytes)
}

/// `/dhtr/<network>/chord/1`: Chord requests and responses.
pub struct ChordWire;

fn chord_refused(e: WireError) -> Refused {
    let bad = if matches!(e, WireError::TooLarge { .. }) { BadMessage::Oversized } else { BadMessage::Undecodable };
    Refused { bad, detail: e.to_string() }
}

impl Wire for ChordWire {
    type Request = WireRequest;
    type Response = WireResponse;
    const MAX_REQUEST: usize = chord_wire::MAX_REQUEST_BYTES;
    const MAX_RESPONSE: usize = chord_wire::MAX_RESPONSE_BYTES;
    fn encode_request(r: &WireRequest) -> Option<Vec<u8>> {
        chord_wire::encode(r, Self::MAX_REQUEST).ok()
    }
    fn encode_response(r: &WireResponse) -> Option<Vec<u8>> {
        chord_wire::encode(r, Self::MAX_RESPONSE).ok()
    }
    fn decode_request(bytes: &[u8]) -> Result<WireRequest, Refused> {
        chord_wire::decode_request(bytes).map_err(chord_refused)
    }
    fn decode_response(bytes: &[u8]) -> Result<WireResponse, Refused> {
        chord_wire::decode_response(bytes).map_err(chord_refused)
    }
}

/// `/dhtr/<network>/ledger/1`: one ledger message per stream, answered by
/// an empty acknowledgement.
pub struct LedgerWire;

impl Wire for LedgerWire {
    type Request = Message;
    type Response = ();
    const MAX_REQUEST: usize = MAX_MESSAGE_BYTES;
    const MAX_RESPONSE: usize = 16;
    fn encode_request(m: &Message) -> Option<Vec<u8>> {
        let bytes = msg::encode(m);
        (bytes.len() <= Self::MAX_REQUEST).then_some(bytes)
    }
    fn encode_response(_: &()) -> Option<Vec<u8>> {
        Some(Vec::new())
    }
    fn decode_request(bytes: &[u8]) -> Result<Message, Refused> {
        msg::decode(bytes).map_err(|e| match e {
            msg::DecodeError::TooLarge(n) => Refused::oversized(n, Self::MAX_REQUEST),
            msg::DecodeError::Invalid(detail) => Refused { bad: BadMessage::Undecodable, detail },
        })
    }
    fn decode_response(_: &[u8]) -> Result<(), Refused> {
        Ok(())
    }
}

/// `/dhtr/<network>/records/1`: network reads.
pub struct RecordsWire;

fn records_refused(e: DecodeError, limit: usize) -> Refused {
    match e {
        DecodeError::TooLarge(n) => Refused::oversized(n, limit),
        DecodeError::Invalid(detail) => Refused { bad: BadMessage::Undecodable, detail },
    }
}

impl Wire for RecordsWire {
    type Request = RecordsRequest;
    type Response = RecordsResponse;
    const MAX_REQUEST: usize = records::MAX_REQUEST_BYTES;
    const MAX_RESPONSE: usize = records::MAX_RESPONSE_BYTES;
    fn encode_request(r: &RecordsRequest) -> Option<Vec<u8>> {
        cbor_within(r, Self::MAX_REQUEST)
    }
    fn encode_response(r: &RecordsResponse) -> Option<Vec<u8>> {
        cbor_within(r, Self::MAX_RESPONSE)
    }
    fn decode_request(bytes: &[u8]) -> Result<RecordsRequest, Refused> {
        records::decode_request(bytes).map_err(|e| records_refused(e, Self::MAX_REQUEST))
    }
    fn decode_response(bytes: &[u8]) -> Result<RecordsResponse, Refused> {
        records::decode_response(bytes).map_err(|e| records_refused(e, Self::MAX_RESPONSE))
    }
}

/// Oversized input refused by the reader before decoding (one byte more
/// than the limit was read).
pub fn oversized(limit: usize) -> Refused {
    Refused::oversized(limit + 1, limit)
}
