//! The ledger's data: digests, RRsets, transactions, blocks, votes,
//! certificates and committees, with their canonical encodings (seed 001 §4.3).
//!
//! Everything a signature or a hash covers is encoded as canonical CBOR
//! (ciborium writes struct fields in declaration order and integers in their
//! shortest form, so one value has exactly one encoding).

use std::fmt;

use dhtr_protocol::{ChunkId, PeerRef};
use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;

/// A blake3 digest (block hashes, committee digests, transaction ids).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Default)]
pub struct Digest(#[serde(with = "serde_bytes")] pub [u8; 32]);

impl Digest {
    /// blake3 of `domain` followed by `bytes`; the domain keeps digests of
    /// different kinds of data apart.
    pub fn of(domain: &str, bytes: &[u8]) -> Digest {
        let mut h = blake3::Hasher::new();
        h.update(domain.as_bytes());
        h.update(&[0]);
        h.update(bytes);
        Digest(*h.finalize().as_bytes())
    }

    /// Lower-case hex.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", hex::encode(&self.0[..4]))
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// Canonical CBOR of a value (infallible for the ledger's own types).
pub fn cbor<T: Serialize>(v: &T) -> Vec<u8> {
    let mut buf = Vec::with_capacity(128);
    // Writing to a Vec cannot fail, and our types have no maps with
    // non-string keys or other unencodable values.
    if ciborium::into_writer(v, &mut buf).is_err() {
        buf.clear();
    }
    buf
}

/// All records of one (name, type) in canonical form: lower-cased owner
/// with a trailing dot, rdata in DNS wire form sorted and deduplicated, one
/// TTL (the authoritative source's), and when it was fetched.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RRset {
    /// Owner name, canonical (lower case, trailing dot).
    pub name: String,
    /// Record type (1 = A, 28 = AAAA, ...).
    pub rtype: u16,
    /// Record class (1 = IN).
    pub class: u16,
    /// TTL as served by the authoritative server.
    pub ttl: u32,
    /// Rdata of each record, wire form, sorted, no duplicates.
    pub rdata: Vec<ByteBuf>,
    /// Unix seconds when the proposer fetched it.
    pub fetched_at: u64,
}

impl RRset {
    /// Put the RRset in canonical form (owner lower-cased with a trailing
    /// dot, rdata sorted and deduplicated).
    pub fn canonical(mut self) -> RRset {
        self.name = self.name.to_ascii_lowercase();
        if !self.name.ends_with('.') {
            self.name.push('.');
        }
        self.rdata.sort();
        self.rdata.dedup();
        self
    }

    /// Do two RRsets hold the same records (owner, type, class, rdata and
    /// source TTL), whenever each was fetched?
    pub fn same_records(&self, other: &RRset) -> bool {
        (&self.name, self.rtype, self.class, self.ttl, &self.rdata)
            == (&other.name, other.rtype, other.class, other.ttl, &other.rdata)
    }

    /// The TTL an answer may carry at unix time `now`: the authority's TTL
    /// (capped at [`MAX_TTL`]; values with the top bit set count as 0, RFC
    /// 2181 §8) minus the time since the fetch. A fetch time in the future
    /// cannot make a record live longer.
    pub fn remaining_ttl(&self, now: u64) -> u32 {
        let age = u32::try_from(now.saturating_sub(self.fetched_at.min(now))).unwrap_or(u32::MAX);
        self.capped_ttl().saturating_sub(age)
    }

    /// Seconds since the RRset expired at unix time `now` (0 while fresh).
    pub fn expired_for(&self, now: u64) -> u64 {
        now.saturating_sub(self.fetched_at.min(now).saturating_add(u64::from(self.capped_ttl())))
    }

    fn capped_ttl(&self) -> u32 {
        if self.ttl >= 1 << 31 { 0 } else { self.ttl.min(MAX_TTL) }
    }
}

/// Longest TTL a committed record is served with (a day).
pub const MAX_TTL: u32 = 86_400;

/// A change to a chunk's records or committee.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Tx {
    /// Insert or replace an RRset (a new record, or a refresh at TTL expiry).
    Put(RRset),
    /// Remove an RRset.
    Delete {
        /// Owner name, canonical.
        name: String,
        /// Record type.
        rtype: u16,
    },
    /// Hand the chunk to a new committee (ring membership changed).
    Reconfigure {
        /// The new members, in ring order from the chunk start.
        committee: Vec<PeerRef>,
    },
}

impl Tx {
    /// The transaction's id: a digest of its canonical encoding.
    pub fn id(&self) -> Digest {
        Digest::of("dhtr/tx/v1", &cbor(self))
    }
}

/// A chunk's committee for one epoch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Committee {
    /// Epoch number: 0 at genesis, +1 at every `Reconfigure`.
    pub epoch: u64,
    /// Members in ring order; `n = 3f + 1` of them when the ring is big enough.
    pub members: Vec<PeerRef>,
}

impl Committee {
    /// Faults tolerated: `f = (n - 1) / 3`.
    pub fn f(&self) -> usize {
        self.members.len().saturating_sub(1) / 3
    }

    /// Votes needed for a quorum: `⌈(n + f + 1) / 2⌉`, which is PBFT's
    /// `2f + 1` when `n = 3f + 1` (Castro & Liskov §4), and still makes any
    /// two quorums share an honest member in the smaller committees of a
    /// young ring (two members: both; three: two).
    pub fn quorum(&self) -> usize {
        (self.members.len() + self.f() + 2) / 2
    }

    /// Is `p` a member?
    pub fn contains(&self, p: &PeerRef) -> bool {
        self.members.contains(p)
    }

    /// The primary of a view: member `view mod n` (PBFT §4.1).
    pub fn primary(&self, view: u64) -> Option<&PeerRef> {
        if self.members.is_empty() {
            return None;
        }
        self.members.get((view % self.members.len() as u64) as usize)
    }

    /// Digest of the member list and epoch, recorded in every block.
    pub fn digest(&self) -> Digest {
        Digest::of("dhtr/committee/v1", &cbor(self))
    }
}

/// A block of a chunk's chain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Block {
    /// The chunk.
    pub chunk: ChunkId,
    /// Position in the chain; genesis is 0.
    pub height: u64,
    /// Hash of the previous block (zero for genesis).
    pub prev: Digest,
    /// The view in which it was proposed.
    pub view: u64,
    /// Who proposed it.
    pub proposer: PeerRef,
    /// The committee epoch it was decided in.
    pub epoch: u64,
    /// Digest of that committee.
    pub committee: Digest,
    /// Proposer's clock, unix seconds (informational).
    pub time: u64,
    /// The changes, applied in order.
    pub txs: Vec<Tx>,
}

impl Block {
    /// The block hash: covers every field, so a vote for the hash is a vote
    /// for everything in the block.
    pub fn hash(&self) -> Digest {
        Digest::of("dhtr/block/v1", &cbor(self))
    }
}

/// The two voting phases of PBFT (§4.2); a pre-prepare is the primary's
/// proposal and is signed as phase `PrePrepare`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Phase {
    /// The primary's proposal.
    PrePrepare,
    /// "I accept this block for this view and height."
    Prepare,
    /// "I saw 2f+1 prepares; commit it."
    Commit,
}

impl Phase {
    fn tag(self) -> u8 {
        match self {
            Phase::PrePrepare => 0,
            Phase::Prepare => 1,
            Phase::Commit => 2,
        }
    }
}

/// A signed vote of one member.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vote {
    /// Which phase.
    pub phase: Phase,
    /// The chunk.
    pub chunk: ChunkId,
    /// The view.
    pub view: u64,
    /// The height.
    pub height: u64,
    /// The block voted for.
    pub block: Digest,
    /// Who votes.
    pub voter: PeerRef,
    /// ed25519 signature over [`vote_digest`].
    pub sig: ByteBuf,
}

/// A commit certificate: 2f+1 commit signatures of the block's committee.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Certificate {
    /// The chunk.
    pub chunk: ChunkId,
    /// The height.
    pub height: u64,
    /// The view in which the commits were cast.
    pub view: u64,
    /// The block.
    pub block: Digest,
    /// (voter, signature) pairs, distinct voters.
    pub sigs: Vec<(PeerRef, ByteBuf)>,
}

/// What a vote signature covers: network id, chunk, view, height, phase and
/// block hash, behind a domain tag. Signatures for one network, chunk or
/// phase can never be replayed as another.
pub fn vote_digest(network: &str, chunk: ChunkId, view: u64, height: u64, phase: Phase, block: &Digest) -> Digest {
    let mut b = Vec::with_capacity(96);
    b.extend_from_slice(network.as_bytes());
    b.push(0);
    b.extend_from_slice(&chunk.0.to_be_bytes());
    b.extend_from_slice(&view.to_be_bytes());
    b.extend_from_slice(&height.to_be_bytes());
    b.push(phase.tag());
    b.extend_from_slice(&block.0);
    Digest::of("dhtr/vote/v1", &b)
}
