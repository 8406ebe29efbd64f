//! Ledger messages between committee members, and their bounded encoding.
//! Every message names its chunk; proposals, votes, view changes and new
//! views are signed by their senders (PBFT §4), so they can be relayed and
//! kept as evidence.

use dhtr_protocol::{ChunkId, PeerRef};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;
use thiserror::Error;

use crate::types::{Block, Certificate, Digest, Phase, Tx, Vote, cbor};

/// Largest encoded ledger message accepted.
pub const MAX_MESSAGE_BYTES: usize = 1024 * 1024;
/// Most blocks in one sync answer.
pub const MAX_SYNC_BLOCKS: usize = 64;

/// The primary's proposal of a block for a height in a view (pre-prepare).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Proposal {
    /// The view it is proposed in (may be later than `block.view` when a
    /// new primary re-proposes a prepared block).
    pub view: u64,
    /// The block.
    pub block: Block,
    /// The primary of `view`.
    pub proposer: PeerRef,
    /// Signature over the pre-prepare vote digest of `(view, height, hash)`.
    pub sig: ByteBuf,
}

/// Proof that a block was prepared: 2f+1 prepare votes for it in one view.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Prepared {
    /// The block.
    pub block: Block,
    /// The view of the prepare votes.
    pub view: u64,
    /// The votes.
    pub votes: Vec<Vote>,
}

/// A member's request to move to `new_view` (PBFT §4.4), carrying what it
/// prepared at the undecided height so nothing prepared is lost.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ViewChange {
    /// The view asked for.
    pub new_view: u64,
    /// The height the sender is deciding (its last committed + 1).
    pub height: u64,
    /// The hash of the sender's last committed block.
    pub last: Digest,
    /// The sender's highest prepared certificate at `height`, if any.
    pub prepared: Option<Prepared>,
    /// Who asks.
    pub sender: PeerRef,
    /// Signature over [`ViewChange::digest`].
    pub sig: ByteBuf,
}

impl ViewChange {
    /// What the signature covers.
    pub fn digest(&self, network: &str, chunk: ChunkId) -> Digest {
        let prepared = self.prepared.as_ref().map(|p| (p.view, p.block.hash()));
        Digest::of(
            "dhtr/viewchange/v1",
            &cbor(&(network, chunk, self.new_view, self.height, self.last, prepared, &self.sender)),
        )
    }
}

/// The new primary's announcement of a view (PBFT §4.4): 2f+1 view changes
/// and the proposal they force (the highest prepared block), if any.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewView {
    /// The view.
    pub view: u64,
    /// The height.
    pub height: u64,
    /// 2f+1 signed view changes for `view`.
    pub view_changes: Vec<ViewChange>,
    /// The proposal for `height` in `view`.
    pub proposal: Option<Proposal>,
    /// The new primary.
    pub sender: PeerRef,
    /// Signature over [`NewView::digest`].
    pub sig: ByteBuf,
}

impl NewView {
    /// What the signature covers.
    pub fn digest(&self, network: &str, chunk: ChunkId) -> Digest {
        let vcs: Vec<Digest> = self.view_changes.iter().map(|v| Digest::of("vc", &cbor(v))).collect();
        let prop = self.proposal.as_ref().map(|p| p.block.hash());
        Digest::of("dhtr/newview/v1", &cbor(&(network, chunk, self.view, self.height, vcs, prop, &self.sender)))
    }
}

/// What members say to each other about one chunk.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Body {
    /// A transaction to order. Any node may submit; it must send it to every
    /// member (members do not forward it), and retry until it sees it committed.
    Submit(Tx),
    /// Pre-prepare.
    Proposal(Proposal),
    /// Prepare or commit.
    Vote(Vote),
    /// View change.
    ViewChange(ViewChange),
    /// New view.
    NewView(NewView),
    /// "Send me your committed blocks from this height on."
    GetBlocks {
        /// First height wanted.
        from: u64,
    },
    /// Committed blocks with their certificates, in height order.
    Blocks(Vec<(Block, Certificate)>),
}

impl Body {
    /// A short name for metrics and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Body::Submit(_) => "submit",
            Body::Proposal(_) => "proposal",
            Body::Vote(v) if v.phase == Phase::Commit => "commit",
            Body::Vote(_) => "prepare",
            Body::ViewChange(_) => "view_change",
            Body::NewView(_) => "new_view",
            Body::GetBlocks { .. } => "get_blocks",
            Body::Blocks(_) => "blocks",
        }
    }
}

/// A ledger message for one chunk.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// The chunk.
    pub chunk: ChunkId,
    /// The content.
    pub body: Body,
}

/// Why bytes are not a ledger message.
#[derive(Debug, Error)]
pub enum DecodeError {
    /// Larger than [`MAX_MESSAGE_BYTES`].
    #[error("message of {0} bytes exceeds the limit")]
    TooLarge(usize),
    /// Not CBOR of the right shape.
    #[error("undecodable message: {0}")]
    Invalid(String),
}

/// Encode a message.
pub fn encode(m: &Message) -> Vec<u8> {
    cbor(m)
}

/// Decode a message, refusing oversized input; never panics.
pub fn decode(bytes: &[u8]) -> Result<Message, DecodeError> {
    decode_bounded(bytes)
}

fn decode_bounded<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, DecodeError> {
    if bytes.len() > MAX_MESSAGE_BYTES {
        return Err(DecodeError::TooLarge(bytes.len()));
    }
    ciborium::from_reader(bytes).map_err(|e| DecodeError::Invalid(e.to_string()))
}
