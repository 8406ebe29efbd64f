//! dhtr's per-chunk ledger (seed 001 §4.1, §4.3): the members of a chunk's
//! committee agree on every change to the chunk's records through a
//! PBFT-style protocol and keep the result as a chain of blocks with commit
//! certificates.
//!
//! - [`types`]: RRsets, transactions, blocks, votes, certificates, committees.
//! - [`sign`]: ed25519 signatures by libp2p identities.
//! - [`msg`]: the messages members exchange, with bounded decoding.
//! - [`replica`]: one chunk's PBFT state machine (sans-IO).
//! - [`chunks`]: every chunk of one node, committees that follow the ring.
//! - [`store`]: the storage trait and an in-memory store.
//!
//! The seeded simulations of committees and rings are in the dev-only
//! `dhtr-sim` crate.

pub mod chunks;
pub mod local;
pub mod msg;
mod pending;
pub mod replica;
#[cfg(feature = "rocksdb")]
pub mod rocks;
pub mod sign;
pub mod store;
mod tally;
pub mod types;
pub mod verify;

pub use replica::{Config, Event, Input, Output, Replica};
pub use store::{MemStore, Store, StoreError, Tip, VoteLog};
pub use types::{Block, Certificate, Committee, Digest, Phase, RRset, Tx, Vote};
