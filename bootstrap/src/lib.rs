//! Bootstrap for dhtr nodes: everything about *finding* the ring, without I/O.
//!
//! - [`addr`]: parsing and validating `--bootstrap` and listen multiaddrs.
//! - [`backoff`]: exponential backoff with jitter.
//! - [`store`]: the persistent peer store (`peers.json` in the data dir), so a
//!   restarted node can rejoin without `--bootstrap`.
//! - [`plan`]: the join planner deciding whom to join through and when.
//!
//! The crate is synchronous and sans-IO except for the peer store file: time
//! values and random number generators are passed in by the caller, so the
//! node's event loop (and tests) stay in control.

pub mod addr;
pub mod backoff;
pub mod plan;
pub mod store;

pub use addr::{AddrError, BootstrapAddr, check_listen_addr, split_p2p};
pub use backoff::Backoff;
pub use multiaddr::{Multiaddr, PeerId};
pub use plan::{Attempt, JoinPlan};
pub use store::{PeerEntry, PeerStore, StoreError};
