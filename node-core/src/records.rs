//! The records protocol (`/dhtr/<network>/records/1`, seed 001 §4.2): a node
//! asks the members of a chunk's committee for their committed state of one
//! (name, type); each member answers from its own verified chain. This
//! module holds the messages, their bounded decoding, and the member's side:
//! the answer built from its store.

use dhtr_ledger::{RRset, Store, Tx};
use dhtr_protocol::{ChunkId, PeerRef};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// Largest encoded request.
pub const MAX_REQUEST_BYTES: usize = 2048;
/// Largest encoded response (two RRsets of DNS size).
pub const MAX_RESPONSE_BYTES: usize = 160 * 1024;
/// Most history entries returned (the latest ones).
pub const MAX_HISTORY: usize = 64;
/// Most blocks scanned for one history request.
pub const HISTORY_SCAN: u64 = 4096;
/// DNS type number of CNAME (RFC 1035 §3.2.2).
pub const CNAME: u16 = 5;

/// "What is your committed state for this name and type?"
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordsRequest {
    /// The chunk the name falls in.
    pub chunk: ChunkId,
    /// Canonical owner name (lower case, trailing dot).
    pub name: String,
    /// Record type asked for (0: every type, for histories).
    pub rtype: u16,
    /// Ask for the committed history of the RRset instead of its state.
    #[serde(default)]
    pub history: bool,
    /// The reader's membership certificate (`permissioned` networks: a
    /// member answers only admitted readers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert: Option<dhtr_protocol::Certificate>,
}

/// One committed version of an RRset.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    /// Height of the block that committed it.
    pub height: u64,
    /// The block's time (unix seconds, the proposer's clock).
    pub time: u64,
    /// The view of its commit certificate.
    pub view: u64,
    /// The new RRset, or `None` for a delete.
    pub rrset: Option<RRset>,
    /// Owner and type (for deletes, which carry no RRset).
    pub name: String,
    /// Record type.
    pub rtype: u16,
    /// The members whose signatures make up the commit certificate.
    pub signers: Vec<PeerRef>,
}

/// A member's answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RecordsResponse {
    /// Its committed state: the RRset of the type asked for, and the CNAME
    /// at the name (either may be absent), at chain height `height`.
    State(MemberState),
    /// It holds no verified chain of the chunk.
    NotHeld,
}

/// One member's committed state for a question: what majority reads
/// compare (the height is informational and not compared).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberState {
    /// Height of the member's chain.
    pub height: u64,
    /// The RRset of the type asked for.
    pub rrset: Option<RRset>,
    /// The CNAME RRset at the name.
    pub cname: Option<RRset>,
    /// The committed history, when asked for.
    #[serde(default)]
    pub history: Option<Vec<HistoryEntry>>,
}

impl MemberState {
    /// Does it hold a committed record for the question (a read worth
    /// remembering for the "unused" rule)?
    pub fn holds_records(&self) -> bool {
        self.rrset.is_some() || self.cname.is_some()
    }
}

/// Why bytes are not a records message.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// Larger than the limit of its direction.
    #[error("records message of {0} bytes exceeds the limit")]
    TooLarge(usize),
    /// Not CBOR of the right shape.
    #[error("undecodable records message: {0}")]
    Invalid(String),
}

/// Decode a request, refusing more than [`MAX_REQUEST_BYTES`]; never panics.
pub fn decode_request(bytes: &[u8]) -> Result<RecordsRequest, DecodeError> {
    decode_bounded(bytes, MAX_REQUEST_BYTES)
}

/// Decode a response, refusing more than [`MAX_RESPONSE_BYTES`]; never panics.
pub fn decode_response(bytes: &[u8]) -> Result<RecordsResponse, DecodeError> {
    decode_bounded(bytes, MAX_RESPONSE_BYTES)
}

fn decode_bounded<T: DeserializeOwned>(bytes: &[u8], limit: usize) -> Result<T, DecodeError> {
    if bytes.len() > limit {
        return Err(DecodeError::TooLarge(bytes.len()));
    }
    ciborium::from_reader(bytes).map_err(|e| DecodeError::Invalid(e.to_string()))
}

/// The tip of `chunk`'s chain in `store` if `me` is in its committee: a
/// node that left the committee (or is still joining) holds a chain that
/// may lag; it neither answers reads nor reads from it.
pub fn member_tip<S: Store + ?Sized>(store: &S, chunk: ChunkId, me: &PeerRef) -> Option<dhtr_ledger::Tip> {
    let tip = store.tip(chunk).ok().flatten()?;
    tip.committee.contains(me).then_some(tip)
}

/// A member's answer to `req` from its store: its committed state (or
/// history), or [`RecordsResponse::NotHeld`].
pub fn member_state<S: Store + ?Sized>(store: &S, req: &RecordsRequest, me: &PeerRef) -> RecordsResponse {
    let Some(tip) = member_tip(store, req.chunk, me) else { return RecordsResponse::NotHeld };
    let rrset = store.rrset(req.chunk, &req.name, req.rtype).ok().flatten();
    let cname = store.rrset(req.chunk, &req.name, CNAME).ok().flatten();
    let history = req.history.then(|| history(store, req));
    RecordsResponse::State(MemberState { height: tip.height, rrset, cname, history })
}

/// The committed history of (name, type) in a chunk's chain (type 0: every
/// type), the latest [`MAX_HISTORY`] versions, from the last
/// [`HISTORY_SCAN`] blocks (bounded work per request).
fn history<S: Store + ?Sized>(store: &S, req: &RecordsRequest) -> Vec<HistoryEntry> {
    let Ok(Some(tip)) = store.tip(req.chunk) else { return Vec::new() };
    let mut out = Vec::new();
    for h in tip.height.saturating_sub(HISTORY_SCAN).max(1)..=tip.height {
        let Ok(Some((block, cert))) = store.block(req.chunk, h) else { break };
        for tx in &block.txs {
            let (name, rtype, rrset) = match tx {
                Tx::Put(rr) => (&rr.name, rr.rtype, Some(rr.clone())),
                Tx::Delete { name, rtype } => (name, *rtype, None),
                Tx::Reconfigure { .. } => continue,
            };
            if *name == req.name && (req.rtype == 0 || rtype == req.rtype) {
                out.push(HistoryEntry {
                    height: h,
                    time: block.time,
                    view: cert.view,
                    rrset,
                    name: name.clone(),
                    rtype,
                    signers: cert.sigs.iter().map(|(p, _)| p.clone()).collect(),
                });
            }
        }
    }
    let skip = out.len().saturating_sub(MAX_HISTORY);
    let mut out = out.split_off(skip);
    // The answer must fit in one response.
    while out.len() > 1 && dhtr_ledger::types::cbor(&out).len() > MAX_RESPONSE_BYTES / 2 {
        out.remove(0);
    }
    out
}

/// TEST ONLY (`--test-liar`): the same state with every rdata falsified, as
/// a lying member would answer.
pub fn falsify(mut response: RecordsResponse) -> RecordsResponse {
    if let RecordsResponse::State(s) = &mut response
        && let Some(rr) = s.rrset.as_mut()
    {
        for d in rr.rdata.iter_mut() {
            if let Some(last) = d.last_mut() {
                *last ^= 0x5a;
            }
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oversized_and_garbage_messages_are_refused_without_panicking() {
        assert!(matches!(decode_request(&vec![0u8; MAX_REQUEST_BYTES + 1]), Err(DecodeError::TooLarge(_))));
        assert!(matches!(decode_request(&[0xff, 0x00, 0x13]), Err(DecodeError::Invalid(_))));
        assert!(matches!(decode_response(&[0x9f; 64]), Err(DecodeError::Invalid(_))));
        let req = RecordsRequest { chunk: ChunkId(3), name: "a.example.".into(), rtype: 1, history: false, cert: None };
        let bytes = dhtr_ledger::types::cbor(&req);
        assert_eq!(decode_request(&bytes).ok(), Some(req));
    }
}
