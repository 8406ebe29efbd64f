//! Chord wire messages and their bounded CBOR encoding.
//!
//! Every message is size-limited before and after decoding; decoding never
//! panics and reports failure as a [`WireError`] value. The protocol string
//! carries the network name and a version, so two networks never mix.

use std::fmt;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::admission::Ticket;
use crate::node::{Addr, NodeInfo};
use crate::permit::{Certificate, Revocation};
use crate::ring::RingId;

/// Largest encoded Chord request accepted.
pub const MAX_REQUEST_BYTES: usize = 16 * 1024;
/// Largest encoded Chord response accepted.
pub const MAX_RESPONSE_BYTES: usize = 64 * 1024;
/// Most nodes in any list inside a message.
pub const MAX_LIST: usize = 32;
/// Most revocations in one [`Request::Revocations`].
pub const MAX_REVOCATIONS_PER_MESSAGE: usize = 8;

/// Why a message could not be encoded or decoded.
#[derive(Debug, Error)]
pub enum WireError {
    /// The message is larger than the limit for its kind.
    #[error("message of {size} bytes exceeds the {limit}-byte limit")]
    TooLarge {
        /// Bytes seen (or at least this many).
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The bytes are not a valid CBOR message of the expected shape.
    #[error("undecodable message: {0}")]
    Decode(String),
    /// The message decoded but breaks a rule (sizes, lengths).
    #[error("invalid message: {0}")]
    Invalid(&'static str),
    /// Encoding failed (a bug, not bad input).
    #[error("cannot encode message: {0}")]
    Encode(String),
}

/// A network's name: part of every protocol string.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct NetworkName(String);

impl NetworkName {
    /// Checked constructor: 1–32 characters of `a-z`, `0-9` and `-`.
    pub fn new(name: &str) -> Result<NetworkName, String> {
        let ok = !name.is_empty()
            && name.len() <= 32
            && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if ok {
            Ok(NetworkName(name.to_string()))
        } else {
            Err(format!("network name {name:?} must be 1-32 characters of a-z, 0-9 and '-'"))
        }
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The libp2p protocol string of the Chord protocol on this network.
    pub fn chord_protocol(&self) -> String {
        format!("/dhtr/{}/chord/1", self.0)
    }

    /// The records protocol of this network (`/dhtr/<name>/records/1`).
    pub fn records_protocol(&self) -> String {
        format!("/dhtr/{}/records/1", self.0)
    }

    /// The ledger protocol of this network (`/dhtr/<name>/ledger/1`).
    pub fn ledger_protocol(&self) -> String {
        format!("/dhtr/{}/ledger/1", self.0)
    }
}

impl fmt::Display for NetworkName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A Chord request as sent: the sender's ticket (its ring position's
/// proof), its addresses (so the receiver can route to it later) and the
/// request itself. The sender's identity comes from the authenticated
/// connection, not from the message.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct WireRequest {
    /// The sender's admission ticket.
    pub sender_ticket: Ticket,
    /// Where the sender can be dialled.
    pub sender_addrs: Vec<Addr>,
    /// The sender's membership certificate (`permissioned` networks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sender_cert: Option<Certificate>,
    /// The request.
    pub body: Request,
}

/// Chord requests (Chord §4–5).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Request {
    /// One step of an iterative lookup: "who succeeds `key`, or who is closer?"
    FindSuccessor {
        /// The key looked up.
        key: RingId,
    },
    /// Stabilization: "what are your predecessor and successor list?"
    GetNeighbours,
    /// "I think I might be your predecessor."
    Notify,
    /// Liveness check (check_predecessor).
    Ping,
    /// Graceful leave: the sender hands its neighbours to the receiver.
    Leaving {
        /// The leaver's predecessor.
        predecessor: Option<NodeInfo>,
        /// The leaver's successor list.
        successors: Vec<NodeInfo>,
    },
    /// `permissioned` networks: revocations the sender knows, passed on
    /// along the ring (at most [`MAX_REVOCATIONS_PER_MESSAGE`]).
    Revocations {
        /// Signed revocations.
        revocations: Vec<Revocation>,
    },
}

impl Request {
    /// A short name for metrics and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Request::FindSuccessor { .. } => "find_successor",
            Request::GetNeighbours => "neighbours",
            Request::Notify => "notify",
            Request::Ping => "ping",
            Request::Leaving { .. } => "leaving",
            Request::Revocations { .. } => "revocations",
        }
    }
}

/// Chord responses.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Response {
    /// The lookup ends here: the key's successor list.
    Successors {
        /// Successors of the key, clockwise.
        successors: Vec<NodeInfo>,
    },
    /// The lookup continues: nodes closer to the key, closest first.
    Closer {
        /// Closest preceding nodes of the key.
        nodes: Vec<NodeInfo>,
    },
    /// Answer to [`Request::GetNeighbours`].
    Neighbours {
        /// The responder's predecessor.
        predecessor: Option<NodeInfo>,
        /// The responder's successor list.
        successors: Vec<NodeInfo>,
    },
    /// Acknowledges `Notify`, `Ping` and `Leaving`.
    Ack,
}

impl Response {
    fn lists_ok(&self) -> bool {
        match self {
            Response::Successors { successors: l } | Response::Closer { nodes: l } => l.len() <= MAX_LIST,
            Response::Neighbours { successors, .. } => successors.len() <= MAX_LIST,
            Response::Ack => true,
        }
    }
}

/// A Chord response as sent: the responder's ticket (so a node that knew
/// only a bootstrap peer's identity learns where it sits) and the answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WireResponse {
    /// The responder's admission ticket.
    pub responder_ticket: Ticket,
    /// The responder's membership certificate (`permissioned` networks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub responder_cert: Option<Certificate>,
    /// The answer.
    pub body: Response,
}

/// Encode a message as CBOR, refusing to exceed `limit` bytes.
pub fn encode<T: Serialize>(msg: &T, limit: usize) -> Result<Vec<u8>, WireError> {
    let mut buf = Vec::with_capacity(256);
    ciborium::into_writer(msg, &mut buf).map_err(|e| WireError::Encode(e.to_string()))?;
    if buf.len() > limit {
        return Err(WireError::TooLarge { size: buf.len(), limit });
    }
    Ok(buf)
}

fn decode<T: DeserializeOwned>(bytes: &[u8], limit: usize) -> Result<T, WireError> {
    if bytes.len() > limit {
        return Err(WireError::TooLarge { size: bytes.len(), limit });
    }
    ciborium::from_reader(bytes).map_err(|e| WireError::Decode(e.to_string()))
}

/// Decode a request, checking sizes and list lengths.
pub fn decode_request(bytes: &[u8]) -> Result<WireRequest, WireError> {
    let req: WireRequest = decode(bytes, MAX_REQUEST_BYTES)?;
    if req.sender_addrs.len() > crate::node::MAX_ADDRS {
        return Err(WireError::Invalid("too many sender addresses"));
    }
    if let Request::Leaving { successors, .. } = &req.body
        && successors.len() > MAX_LIST
    {
        return Err(WireError::Invalid("successor list too long"));
    }
    if let Request::Revocations { revocations } = &req.body
        && (revocations.len() > MAX_REVOCATIONS_PER_MESSAGE || revocations.iter().any(|r| r.check_shape().is_err()))
    {
        return Err(WireError::Invalid("too many or malformed revocations"));
    }
    if req.sender_cert.as_ref().is_some_and(|c| c.check_shape().is_err()) {
        return Err(WireError::Invalid("malformed membership certificate"));
    }
    Ok(req)
}

/// Decode a response, checking sizes and list lengths.
pub fn decode_response(bytes: &[u8]) -> Result<WireResponse, WireError> {
    let resp: WireResponse = decode(bytes, MAX_RESPONSE_BYTES)?;
    if !resp.body.lists_ok() {
        return Err(WireError::Invalid("node list too long"));
    }
    if resp.responder_cert.as_ref().is_some_and(|c| c.check_shape().is_err()) {
        return Err(WireError::Invalid("malformed membership certificate"));
    }
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admission::Prefix;
    use crate::node::PeerRef;

    fn ticket(b: u8) -> Ticket {
        Ticket { nonce: u64::from(b), prefix: Prefix::V4([10, 0, b]) }
    }

    fn node(b: u8) -> NodeInfo {
        NodeInfo::new(PeerRef(vec![b; 38]), ticket(b), vec![Addr(vec![4, 127, 0, 0, b])])
    }

    #[test]
    fn round_trip() {
        let req = WireRequest {
            sender_ticket: ticket(9),
            sender_addrs: vec![Addr(vec![1, 2])],
            sender_cert: None,
            body: Request::FindSuccessor { key: RingId::hash(b"k") },
        };
        let bytes = encode(&req, MAX_REQUEST_BYTES).ok();
        let back = bytes.as_deref().map(decode_request);
        assert!(matches!(back, Some(Ok(WireRequest { body: Request::FindSuccessor { .. }, .. }))));
        let body = Response::Neighbours { predecessor: Some(node(1)), successors: vec![node(2), node(3)] };
        let resp = WireResponse { responder_ticket: ticket(4), responder_cert: None, body };
        let bytes = encode(&resp, MAX_RESPONSE_BYTES).unwrap_or_default();
        match decode_response(&bytes) {
            Ok(r) => {
                assert_eq!(r, resp);
                // The ring id is recomputed from identity and ticket, never read.
                if let Response::Neighbours { predecessor: Some(p), .. } = r.body {
                    assert_eq!(p.id, ticket(1).position(&PeerRef(vec![1; 38])));
                }
            }
            Err(e) => panic!("decode failed: {e}"),
        }
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for bytes in [&b""[..], b"\xff\xff\xff", b"\xa1\x61x\x01", &[0x9f; 4000][..]] {
            assert!(decode_request(bytes).is_err());
            assert!(decode_response(bytes).is_err());
        }
        let big = vec![0u8; MAX_REQUEST_BYTES + 1];
        assert!(matches!(decode_request(&big), Err(WireError::TooLarge { .. })));
    }

    #[test]
    fn oversized_lists_and_identities_are_rejected() {
        let resp = WireResponse {
            responder_ticket: ticket(1),
            responder_cert: None,
            body: Response::Closer { nodes: (0..40).map(node).collect() },
        };
        let bytes = encode(&resp, MAX_RESPONSE_BYTES).unwrap_or_default();
        assert!(matches!(decode_response(&bytes), Err(WireError::Invalid(_))));
        let body = Response::Closer { nodes: vec![NodeInfo::new(PeerRef(vec![0; 100]), ticket(0), vec![])] };
        let bad = WireResponse { responder_ticket: ticket(1), responder_cert: None, body };
        let bytes = encode(&bad, MAX_RESPONSE_BYTES).unwrap_or_default();
        assert!(decode_response(&bytes).is_err());
    }

    #[test]
    fn random_and_mutated_bytes_never_panic() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(5);
        let valid = [
            encode(
                &WireRequest {
                    sender_ticket: ticket(1),
                    sender_addrs: vec![Addr(vec![1; 20])],
                    sender_cert: None,
                    body: Request::Notify,
                },
                MAX_REQUEST_BYTES,
            ),
            encode(
                &WireResponse {
                    responder_ticket: ticket(2),
                    responder_cert: None,
                    body: Response::Closer { nodes: (0..5).map(node).collect() },
                },
                MAX_RESPONSE_BYTES,
            ),
            encode(
                &WireResponse {
                    responder_ticket: ticket(3),
                    responder_cert: None,
                    body: Response::Neighbours { predecessor: Some(node(1)), successors: vec![node(2)] },
                },
                MAX_RESPONSE_BYTES,
            ),
        ];
        let valid: Vec<Vec<u8>> = valid.into_iter().filter_map(Result::ok).collect();
        assert_eq!(valid.len(), 3);
        for i in 0..20_000 {
            let bytes = if i % 2 == 0 {
                let len = rng.random_range(0..300);
                (0..len).map(|_| rng.random()).collect::<Vec<u8>>()
            } else {
                // Flip, drop or duplicate bytes of a valid message.
                let mut b = valid[i % valid.len()].clone();
                for _ in 0..rng.random_range(1..4) {
                    let at = rng.random_range(0..b.len());
                    match rng.random_range(0..3) {
                        0 => b[at] ^= 1 << rng.random_range(0..8),
                        1 => {
                            b.remove(at);
                        }
                        _ => b.insert(at, b[at]),
                    }
                    if b.is_empty() {
                        break;
                    }
                }
                b
            };
            let _ = decode_request(&bytes);
            let _ = decode_response(&bytes);
        }
    }

    #[test]
    fn network_names() {
        assert!(NetworkName::new("main-1").is_ok());
        assert!(NetworkName::new("Main").is_err());
        assert!(NetworkName::new("").is_err());
        assert!(NetworkName::new(&"a".repeat(33)).is_err());
        let n = NetworkName::new("test").map(|n| n.chord_protocol()).unwrap_or_default();
        assert_eq!(n, "/dhtr/test/chord/1");
    }
}
