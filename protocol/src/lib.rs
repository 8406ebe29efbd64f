//! The sans-IO heart of dhtr's ring: 256-bit ring ids and their interval
//! arithmetic, DNS name keys and chunks, the wire messages peers exchange, the
//! Chord core (stabilization, fingers, iterative lookups).
//!
//! Nothing here performs I/O or reads a clock: every method takes `now`, and
//! the caller (the libp2p adapter in `dhtr-node`, or the deterministic
//! simulator in the dev-only `dhtr-sim` crate) moves the messages and fires
//! the timers. See `DESIGN.md` for the vocabulary.

pub mod admission;
pub mod chord;
pub mod key;
pub mod node;
pub mod permit;
pub mod ring;
pub mod wire;

pub use admission::{NetworkTag, Prefix, Rules, Ticket, Unadmitted};
pub use chord::{Chord, Config, Event, Input, LookupError, LookupId, LookupResult, Output, RequestId};
pub use key::{ChunkId, NameError, NetworkParams, ParamsError};
pub use node::{Addr, NodeInfo, PeerRef};
pub use permit::{Certificate, Membership, PermitError, Revocation, Statement};
pub use ring::RingId;
pub use wire::{NetworkName, Request, Response, WireError, WireRequest, WireResponse};
