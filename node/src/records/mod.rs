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
    /// Record type asked for (0: every type, for histories).
    pub rtype: u16,
    /// Ask for the committed history of the RRset instead of its state.
    #[serde(default)]
    pub history: bool,
}

/// Most history entries returned (the latest ones).
pub const MAX_HISTORY: usize = 64;

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
    pub signers: Vec<dhtr_protocol::PeerRef>,
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

/// DNS type number of CNAME.
pub const CNAME: u16 = 5;

/// A history read as JSON for `/history` and `dhtr history`.
pub fn history_report(
    name: String,
    rtype: u16,
    read: crate::event_loop::ReadOutcome,
) -> dhtr_monitoring::HistoryReport {
    let (verdict, votes, entries) = match read.verdict {
        majority::Verdict::Agreed(a) => ("agreed", a.votes, a.history.unwrap_or_default()),
        majority::Verdict::NoMajority { .. } => ("no_majority", 0, Vec::new()),
    };
    let versions = entries
        .into_iter()
        .map(|e| {
            let rtype_name = hickory_proto::rr::RecordType::from(e.rtype).to_string();
            let (op, ttl, records) = match &e.rrset {
                Some(rr) => {
                    let records = dhtr_resolver::pipeline::convert::records_of(rr, rr.ttl)
                        .map(|rs| rs.iter().map(|r| r.data.to_string()).collect())
                        .unwrap_or_else(|_| rr.rdata.iter().map(hex::encode).collect());
                    ("put", rr.ttl, records)
                }
                None => ("delete", 0, Vec::new()),
            };
            dhtr_monitoring::VersionReport {
                height: e.height,
                time: e.time,
                view: e.view,
                op: op.into(),
                rtype: rtype_name,
                ttl,
                records,
                signers: e.signers.iter().map(crate::report::peer_label_bytes).collect(),
            }
        })
        .collect();
    dhtr_monitoring::HistoryReport {
        name,
        rtype,
        chunk: read.chunk.0,
        members: read.members,
        verdict: verdict.into(),
        votes,
        versions,
    }
}

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
