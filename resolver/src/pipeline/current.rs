//! What the authorities say now about one (name, type), for the validators
//! and refreshers of committed records.

use std::time::{SystemTime, UNIX_EPOCH};

use dhtr_ledger::RRset;
use hickory_proto::rr::{Name, RecordType};

use super::Resolve;
use super::convert::rrsets_of;
use crate::answer::{Question, Resolution};

/// What the authorities say now about one (name, type), resolved afresh
/// (the iterative resolver never answers from an answer cache).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Current {
    /// The RRset, canonical, stamped with the given fetch time.
    Records(RRset),
    /// An answer without that RRset (e.g. a CNAME chain to elsewhere).
    NotInAnswer,
    /// NXDOMAIN or NODATA.
    Negative,
    /// Not resolvable now (bad name, unreachable or failing servers).
    Failed,
}

/// Resolve (canonical name, type) from the authorities with `resolver`,
/// stamping the RRset with `fetched_at`.
pub async fn current<R: Resolve>(resolver: &R, name: &str, rtype: u16, fetched_at: u64) -> Current {
    let Ok(n) = Name::from_ascii(name) else { return Current::Failed };
    let q = Question::new(n, RecordType::from(rtype));
    match resolver.resolve(&q).await {
        Ok(Resolution::Answer { records }) => rrsets_of(&records, fetched_at)
            .into_iter()
            .find(|m| m.name == name && m.rtype == rtype)
            .map_or(Current::NotInAnswer, Current::Records),
        Ok(Resolution::NxDomain { .. } | Resolution::NoData { .. }) => Current::Negative,
        Err(_) => Current::Failed,
    }
}

/// Unix seconds now.
pub fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}
