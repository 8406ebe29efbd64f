//! dhtr's DNS side (seed 001 §4.2, seed 004 for the front end and cache):
//!
//! - [`answer`]: the vocabulary every part shares — a client's question,
//!   a resolution (records, NXDOMAIN or NODATA with the SOA), where it came
//!   from, and why resolving failed.
//! - [`cache`]: the answer cache — TTL-decrementing, negative caching
//!   (RFC 2308), bounded, serve-stale (RFC 8767).
//! - [`frontend`]: the DNS front end over UDP and TCP (RFC 1035, 6891, 7766):
//!   ACL, rate limiting, the cache on the hot path, coalesced misses handed
//!   to the node's [`frontend::Handler`].
//! - [`iterative`]: the iterative resolver from the root servers (RFC 1034
//!   §5.3.3), for names the network does not hold and for checking proposals.
//! - [`pipeline`]: the DNS policy behind the cache — the committee read
//!   (CNAMEs followed through the network), the fallback to the roots, the
//!   insertion of what they said, serve-stale — over a [`pipeline::Network`]
//!   the node implements; and the canonical RRsets of the ledger.

pub mod answer;
pub mod cache;
pub mod frontend;
pub mod iterative;
pub mod pipeline;

pub use answer::{Question, Resolution, ResolveError, Source};
