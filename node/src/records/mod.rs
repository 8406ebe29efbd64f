//! Network reads (seed 001 §4.2): a node asks every member of a chunk's
//! committee for an RRset over `/dhtr/<network>/records/1` and accepts an
//! answer only when more than half of the committee returned the identical
//! committed state ([`majority`]); a lying member is outvoted.

use dhtr_ledger::RRset;
use dhtr_protocol::ChunkId;
use serde::{Deserialize, Serialize};

pub mod codec;
pub mod majority;

/// Largest encoded request.
pub const MAX_REQUEST_BYTES: usize = 1024;
/// Largest encoded response (two RRsets of DNS size).
pub const MAX_RESPONSE_BYTES: usize = 160 * 1024;

/// "What is your committed state for this name and type?"
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordsRequest {
    /// The chunk the name falls in.
    pub chunk: ChunkId,
    /// Canonical owner name (lower case, trailing dot).
    pub name: String,
    /// Record type asked for.
    pub rtype: u16,
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
}

/// DNS type number of CNAME.
pub const CNAME: u16 = 5;

/// A network read as JSON for `/records`.
pub fn report(name: String, rtype: u16, read: crate::event_loop::ReadOutcome) -> dhtr_monitoring::RecordsReport {
    let put = |rr: &RRset| crate::ledger::tx_report(&dhtr_ledger::Tx::Put(rr.clone()));
    let (verdict, votes, dissent, rrset, cname) = match &read.verdict {
        majority::Verdict::Agreed(a) => {
            ("agreed", a.votes, a.dissent, a.rrset.as_ref().map(put), a.cname.as_ref().map(put))
        }
        majority::Verdict::NoMajority { answered, .. } => ("no_majority", 0, *answered, None, None),
    };
    dhtr_monitoring::RecordsReport {
        name,
        rtype,
        chunk: read.chunk.0,
        members: read.members,
        verdict: verdict.into(),
        votes,
        dissent,
        rrset,
        cname,
    }
}
