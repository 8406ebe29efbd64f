//! DNS resolutions the core needs — to validate a proposed record, or to
//! refresh an expired one — are outputs, and their results inputs: the core
//! never awaits. The node answers them with its iterative resolver, a
//! simulation with its DNS oracle.

use dhtr_ledger::RRset;

/// What the authorities say now about one (name, type), resolved afresh.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Resolved {
    /// The RRset, canonical, stamped with the fetch time asked for.
    Records(RRset),
    /// An answer without that RRset (e.g. a CNAME chain to elsewhere).
    NotInAnswer,
    /// NXDOMAIN or NODATA.
    Negative,
    /// Not resolvable now (bad name, unreachable or failing servers).
    Failed,
}

/// One resolution the core needs; answer with `Input::Resolved`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolve {
    /// Its id.
    pub id: ResolveId,
    /// Canonical owner name.
    pub name: String,
    /// Record type.
    pub rtype: u16,
    /// The fetch time to stamp the RRset with.
    pub fetched_at: u64,
}

/// Names one [`Resolve`], and what it is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ResolveId {
    /// Checking a proposed record change ([`crate::validate`]).
    Validation(u64),
    /// Refreshing an expired record ([`crate::refresh`]).
    Refresh(u64),
}
