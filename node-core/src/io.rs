//! What goes into the node core and what comes out of it.

use std::time::Duration;

use dhtr_ledger::chunks::{ChunkEvent, ChunksConfig};
use dhtr_ledger::msg::Message;
use dhtr_ledger::{Block, Certificate, Tx};
use dhtr_protocol::{
    ChunkId, LookupError, LookupResult, NetworkParams, NodeInfo, PeerRef, RequestId, Response, RingId,
};

use crate::reads::{self, ReadError, ReadOutcome};
use crate::records::RecordsResponse;
use crate::refresh::RefreshOutcome;
use crate::resolve::{Resolve, ResolveId, Resolved};
use crate::validate::{Mode, Verdict};

/// The caller's name for a request whose answer comes back as an output
/// (a network read, a lookup, a test submission).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Token(pub u64);

/// The core's tuning.
#[derive(Clone, Debug)]
pub struct CoreConfig {
    /// The network's name (part of every vote signature).
    pub network: String,
    /// Chunk bits and committee size.
    pub params: NetworkParams,
    /// The Chord core's timing and sizes.
    pub chord: dhtr_protocol::Config,
    /// The chunk manager's timing.
    pub chunks: ChunksConfig,
    /// How long a looked-up committee is used for reads and submissions (it
    /// is also forgotten whenever this node's neighbours change).
    pub committee_ttl: Duration,
    /// How soon a ring check whose view was incomplete looks again.
    pub recheck_incomplete: Duration,
    /// How record changes are validated.
    pub validation: Mode,
    /// How often expired records are looked for.
    pub refresh_interval: Duration,
    /// An expired record nobody read for this long is deleted, not refreshed.
    pub unused_after: Duration,
    /// TEST ONLY (`--test-liar`): answer other nodes' reads with falsified records.
    pub test_liar: bool,
    /// TEST ONLY (`--test-hooks`): allow [`Input::TestSubmit`].
    pub test_hooks: bool,
}

impl CoreConfig {
    /// Defaults for a network `network` with `params`.
    pub fn new(network: &str, params: NetworkParams) -> CoreConfig {
        CoreConfig {
            network: network.to_string(),
            params,
            chord: dhtr_protocol::Config::default(),
            chunks: ChunksConfig::default(),
            committee_ttl: Duration::from_secs(30),
            recheck_incomplete: Duration::from_secs(1),
            validation: Mode::Resolve { ttl_floor: 30 },
            refresh_interval: Duration::from_secs(10),
            unused_after: Duration::from_secs(86_400),
            test_liar: false,
            test_hooks: false,
        }
    }
}

/// Which peer protocol a message came on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// `/dhtr/<network>/chord/1`.
    Chord,
    /// `/dhtr/<network>/ledger/1`.
    Ledger,
    /// `/dhtr/<network>/records/1`.
    Records,
}

impl Protocol {
    /// The metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Chord => "chord",
            Protocol::Ledger => "ledger",
            Protocol::Records => "records",
        }
    }
}

/// What was wrong with a peer's message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BadMessage {
    /// Larger than the protocol's limit.
    Oversized,
    /// Not a message of the protocol.
    Undecodable,
    /// A provably false answer (a lookup answer out of ring order, or from
    /// a node that does not precede the key, or naming an unadmitted node).
    FalseAnswer,
    /// The sender's own ticket breaks the network's admission rules (work
    /// below the difficulty, or a prefix it is not reached from).
    Unadmitted(dhtr_protocol::Unadmitted),
}

impl BadMessage {
    /// The metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            BadMessage::Oversized => "oversized",
            BadMessage::Undecodable => "undecodable",
            BadMessage::FalseAnswer => "false_answer",
            BadMessage::Unadmitted(dhtr_protocol::Unadmitted::Work) => "unadmitted_work",
            BadMessage::Unadmitted(dhtr_protocol::Unadmitted::Prefix) => "unadmitted_prefix",
            BadMessage::Unadmitted(dhtr_protocol::Unadmitted::NotAdmitted) => "unadmitted_not_admitted",
            BadMessage::Unadmitted(dhtr_protocol::Unadmitted::Certificate) => "unadmitted_certificate",
            BadMessage::Unadmitted(dhtr_protocol::Unadmitted::Expired) => "unadmitted_expired",
            BadMessage::Unadmitted(dhtr_protocol::Unadmitted::Revoked) => "unadmitted_revoked",
        }
    }
}

/// Inputs of the node core.
// Moved once into `handle`.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug)]
pub enum Input {
    /// Time passed (at or after [`crate::NodeCore::poll_timeout`]).
    Timeout,
    /// The answer to a Chord request of an [`Output::Chord`].
    ChordResponse {
        /// The request.
        id: RequestId,
        /// The responder's ticket, from its answer.
        responder: dhtr_protocol::Ticket,
        /// The responder's membership certificate, from its answer.
        responder_cert: Option<dhtr_protocol::Certificate>,
        /// The answer.
        response: Response,
    },
    /// Revocations handed to this node (by its operator, from the data
    /// dir): verified, kept and passed on along the ring.
    Revocations(Vec<dhtr_protocol::Revocation>),
    /// A Chord request could not be delivered or answered.
    ChordFailure {
        /// The request.
        id: RequestId,
    },
    /// Join the ring through this node.
    Join(NodeInfo),
    /// Leave the ring gracefully.
    Leave,
    /// A ledger message from a peer (authenticated by the transport).
    Ledger {
        /// The sender.
        from: PeerRef,
        /// The message.
        msg: Message,
    },
    /// A member's answer to an [`Output::Records`] request, `None` if it failed.
    RecordsResponse {
        /// The request.
        id: reads::RequestId,
        /// The answer.
        response: Option<RecordsResponse>,
    },
    /// The result of an [`Output::Resolve`].
    Resolved {
        /// The resolution.
        id: ResolveId,
        /// What the authorities said.
        resolved: Resolved,
    },
    /// Read (canonical name, type) from the network, or its history;
    /// answered by [`Output::ReadDone`].
    Read {
        /// The caller's token.
        token: Token,
        /// Canonical owner name.
        name: String,
        /// Record type (0 with `history`: every type).
        rtype: u16,
        /// Read the committed history instead of the state.
        history: bool,
    },
    /// Look a key up on the ring; answered by [`Output::LookupDone`].
    Lookup {
        /// The caller's token.
        token: Token,
        /// The key.
        key: RingId,
    },
    /// Ask the committee of the transaction's chunk to order it.
    Submit(Tx),
    /// TEST ONLY: order the deterministic test record of `name`; answered
    /// by [`Output::Submitted`].
    TestSubmit {
        /// The caller's token.
        token: Token,
        /// The name.
        name: String,
    },
    /// A peer sent something that is not a message of the protocol.
    Misbehaved {
        /// The peer.
        peer: PeerRef,
        /// On which protocol.
        protocol: Protocol,
        /// What was wrong.
        bad: BadMessage,
    },
}

/// Where a test submission went.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Submitted {
    /// The canonical name.
    pub name: String,
    /// Its chunk.
    pub chunk: ChunkId,
    /// The committee it was sent to.
    pub committee: Vec<PeerRef>,
}

/// Why a test submission was not made.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SubmitError {
    /// The node runs without test hooks.
    #[error("test hooks are off (start the node with --test-hooks)")]
    HooksOff,
    /// Not a DNS name.
    #[error("invalid name: {0}")]
    Name(String),
    /// The committee could not be found.
    #[error("lookup of chunk {chunk} failed: {error}")]
    Lookup {
        /// The chunk.
        chunk: u32,
        /// Why.
        error: String,
    },
}

/// What the node core asks its environment to do.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug)]
pub enum Output {
    /// Send a Chord request; answer with [`Input::ChordResponse`] or
    /// [`Input::ChordFailure`].
    Chord {
        /// The request's id.
        id: RequestId,
        /// The peer, with the addresses known for it.
        to: NodeInfo,
        /// The request.
        request: dhtr_protocol::Request,
    },
    /// Send a ledger message (no answer expected).
    Ledger {
        /// The peer, with the addresses known for it.
        to: NodeInfo,
        /// The message.
        msg: Message,
    },
    /// Send a records request; answer with [`Input::RecordsResponse`].
    Records(reads::Send),
    /// Resolve (name, type) from the authorities; answer with [`Input::Resolved`].
    Resolve(Resolve),
    /// A network read finished.
    ReadDone {
        /// The caller's token.
        token: Token,
        /// What it found.
        result: Result<ReadOutcome, ReadError>,
    },
    /// A lookup finished.
    LookupDone {
        /// The caller's token.
        token: Token,
        /// What it found.
        result: Result<LookupResult, LookupError>,
    },
    /// A test submission was sent (or not).
    Submitted {
        /// The caller's token.
        token: Token,
        /// Where it went.
        result: Result<Submitted, SubmitError>,
    },
    /// Close every connection to this peer (it misbehaved).
    Disconnect(PeerRef),
    /// Something worth counting or logging.
    Event(Event),
}

/// What happened, for metrics and logs.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug)]
pub enum Event {
    /// An event of the Chord core.
    Chord(dhtr_protocol::Event),
    /// An event of the chunk manager.
    Ledger {
        /// The chunk.
        chunk: ChunkId,
        /// What happened.
        event: ChunkEvent,
    },
    /// A block was committed (durably).
    Committed {
        /// The block.
        block: Block,
        /// Its certificate.
        cert: Certificate,
        /// From the first submission seen here to the commit.
        latency: Option<Duration>,
    },
    /// This node judged the record changes of one block (in order).
    Validated(Vec<Verdict>),
    /// This node refreshed an expired record.
    Refreshed(RefreshOutcome),
    /// A peer's bad message was dropped and counted against it.
    Penalised {
        /// The peer.
        peer: PeerRef,
        /// On which protocol.
        protocol: Protocol,
        /// What was wrong.
        bad: BadMessage,
        /// Whether it is now banned.
        banned: bool,
    },
}
