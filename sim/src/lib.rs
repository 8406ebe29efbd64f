//! dhtr's deterministic simulations, for tests and `make sim` only (no
//! release crate depends on this one).
//!
//! - [`kit`]: the generic kit: virtual clock, time-ordered event queue,
//!   seeded randomness, per-node wake-ups, and a message network with
//!   latency, loss, duplication, reordering, partitions and an adversary hook.
//! - [`chord`]: thousands of unchanged Chord cores on the kit, with an oracle.
//! - [`committee`]: one chunk's committee of unchanged PBFT replicas, with
//!   network faults and Byzantine members.
//! - [`ring`]: whole nodes' chunk managers on a ring whose membership changes.
//! - [`ledger`]: what the two ledger simulators share (clients'
//!   transactions, validity, chain checks).
//! - [`node`]: whole node cores (Chord, chunks, reads, insertions, refresh)
//!   with a DNS oracle, DNS clients and adversaries.
//!
//! Every run is a pure function of its configuration and seed.

pub mod chord;
pub mod committee;
pub mod kit;
pub mod ledger;
pub mod node;
pub mod ring;
