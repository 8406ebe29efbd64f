//! dhtr's DNS side (seed 001 §4.2, seed 004 for the front end and cache):
//!
//! - [`answer`]: the vocabulary every part shares — a client's question,
//!   a resolution (records, NXDOMAIN or NODATA with the SOA), where it came
//!   from, and why resolving failed.
//! - [`iterative`]: the iterative resolver from the root servers (RFC 1034
//!   §5.3.3), for names the network does not hold and for checking proposals.
//!
//! The front end, the answer cache and the iterative resolver from the root
//! servers are added as modules of their own.

pub mod answer;
pub mod iterative;

pub use answer::{Question, Resolution, ResolveError, Source};
