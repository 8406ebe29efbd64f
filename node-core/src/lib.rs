//! dhtr's node core (issue 8): what a node decides *between* its sans-IO
//! cores — the Chord core (`dhtr-protocol`), the chunk manager and PBFT
//! replicas (`dhtr-ledger`) and the DNS side (`dhtr-resolver`) — as one
//! sans-IO state machine, [`NodeCore`]. The libp2p Swarm task in the `dhtr`
//! binary only turns network events into [`Input`]s and [`Output`]s into
//! sends; the whole-node simulator drives the same code with virtual time.
//!
//! - [`committees`]: chunk → committee, one component for every purpose.
//! - [`reads`] and [`majority`]: strict-majority network reads (seed 001 §4.2).
//! - [`records`]: the records protocol's messages and a member's answers.
//! - [`validate`]: a member's check of proposed records by its own resolution (§4.3).
//! - [`refresh`]: refreshing expired records, and the "unused" rule.
//! - [`resolve`]: the DNS resolutions the core asks its environment for.
//! - [`peers`]: strikes and bans of misbehaving peers.
//! - [`wire`]: the three peer protocols, bounded, with decoders that never panic.

pub mod committees;
mod io;
pub mod majority;
mod node;
pub mod peers;
pub mod reads;
pub mod records;
pub mod refresh;
pub mod resolve;
pub mod validate;
pub mod wire;

pub use io::{BadMessage, CoreConfig, Event, Input, Output, Protocol, SubmitError, Submitted, Token};
pub use node::NodeCore;
