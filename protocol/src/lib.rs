//! The sans-IO heart of dhtr's ring: 256-bit ring ids and their interval
//! arithmetic, DNS name keys and chunks, the wire messages peers exchange, the
//! Chord core (stabilization, fingers, iterative lookups) and a deterministic
//! simulator that runs the unchanged core for thousands of virtual nodes.
//!
//! Nothing here performs I/O or reads a clock: every method takes `now`, and
//! the caller (the libp2p adapter in `dhtr-node`, or [`sim`]) moves the
//! messages and fires the timers. See `DESIGN.md` for the vocabulary.

pub mod chord;
pub mod key;
pub mod node;
pub mod ring;
pub mod sched;
pub mod sim;
pub mod wire;

pub use chord::{Chord, Config, Event, Input, LookupError, LookupId, LookupResult, Output, RequestId};
pub use key::{ChunkId, NameError, NetworkParams, ParamsError};
pub use node::{Addr, NodeInfo, PeerRef};
pub use ring::RingId;
pub use wire::{NetworkName, Request, Response, WireError, WireRequest};
