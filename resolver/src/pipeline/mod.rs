//! The DNS policy behind the front end's cache (seed 001 §4.2, DESIGN "The
//! two paths"): a miss is read from the chunk's committee (a strict
//! majority, following CNAMEs through the network); if the network has
//! nothing agreed, the node resolves from the root servers itself, answers,
//! and asks the committees to insert the RRsets it found. An expired
//! committed answer is served stale only when the authorities cannot be
//! reached (RFC 8767).
//!
//! The rules are sans-IO and take the time as a parameter:
//! - `walk`: the network read of one question, CNAME by CNAME;
//! - `decide`: what to answer once the resolution from the roots is back;
//! - `insertion`: which RRsets of a fallback answer are proposed.
//!
//! [`Pipeline`] (`driver`) runs them with tokio over a [`Network`] (the
//! node's committees) and a [`Resolve`] (the [`Iterative`] resolver), and
//! implements the front end's [`Handler`](crate::frontend::Handler).
//! `convert` maps hickory records to the ledger's canonical RRsets and
//! back; `current` resolves one (name, type) afresh for validators and
//! refreshers.

pub mod convert;
mod current;
mod decide;
mod driver;
mod insertion;
mod walk;

#[cfg(test)]
mod tests;

use std::future::Future;
use std::time::Duration;

use dhtr_ledger::RRset;

use crate::answer::{Question, Resolution, ResolveError};
use crate::iterative::Iterative;

pub use current::{Current, current, unix_now};
pub use decide::{Decision, after_fallback};
pub use driver::Pipeline;
pub use insertion::{Insertion, InsertionFilter};
pub use walk::{ReadOutcome, Step, Walk, Walked};

/// Time allowed for the network read (every CNAME step included) before
/// resolving from the roots.
pub const NETWORK_BUDGET: Duration = Duration::from_secs(2);
/// Time allowed for the resolution from the roots (the front end gives the
/// whole question 10 s).
pub const RESOLVE_BUDGET: Duration = Duration::from_secs(7);
/// How long after expiry a committed record may still be served stale
/// (RFC 8767 §5 suggests 1 to 3 days).
pub const MAX_STALE: Duration = Duration::from_secs(86_400);
/// TTL of an expired committed record served because its authorities are
/// unreachable (RFC 8767 §4 recommends 30 s).
pub const STALE_TTL: u32 = 30;
/// DNS type number of CNAME (RFC 1035 §3.2.2).
pub const CNAME: u16 = 5;
/// Most CNAMEs followed through the network before falling back.
pub const MAX_NETWORK_CNAMES: usize = 8;
/// Most RRsets one node proposes for insertion per second (clients cannot
/// make the committees commit without bound).
pub const MAX_INSERTIONS_PER_SECOND: u32 = 100;
/// How long an RRset this node submitted is not submitted again.
pub const RESUBMIT_AFTER: Duration = Duration::from_secs(600);
/// Most remembered submissions.
pub const MAX_REMEMBERED: usize = 65_536;

/// What a chunk's committee said about one (name, type).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NetworkRead {
    /// More than half of the committee returned the same state.
    Agreed {
        /// The RRset of the type asked for.
        rrset: Option<RRset>,
        /// The CNAME at the name.
        cname: Option<RRset>,
        /// Members that returned something else.
        dissent: usize,
    },
    /// No state reached a strict majority.
    NoMajority {
        /// Members that answered with a state.
        answered: usize,
    },
    /// No read could be made (the committee could not be found, the name
    /// is not a key, the node is shutting down).
    Failed,
}

/// The network of committees, as the pipeline uses it (the node implements it).
pub trait Network: Clone + Send + Sync + 'static {
    /// A strict-majority read of (canonical name, type) from its chunk's committee.
    fn read(&self, name: String, rtype: u16) -> impl Future<Output = NetworkRead> + Send;
    /// Ask the committee of the RRset's chunk to insert it (fire and
    /// forget: the committee decides, every member by its own resolution).
    fn submit(&self, rrset: RRset);
}

/// Resolves a question from the authorities (the [`Iterative`] resolver;
/// tests use fakes).
pub trait Resolve: Clone + Send + Sync + 'static {
    /// Resolves `q` afresh, never from an answer cache.
    fn resolve(&self, q: &Question) -> impl Future<Output = Result<Resolution, ResolveError>> + Send;
}

impl Resolve for Iterative {
    fn resolve(&self, q: &Question) -> impl Future<Output = Result<Resolution, ResolveError>> + Send {
        Iterative::resolve(self, q)
    }
}

/// Told what the pipeline decided, for metrics (the node maps it to Prometheus).
pub trait Observer: Send + Sync + 'static {
    /// One read of the network was made.
    fn network_read(&self, outcome: ReadOutcome);
    /// One RRset of a fallback answer was proposed for insertion, or not.
    fn insertion(&self, outcome: Insertion);
}
