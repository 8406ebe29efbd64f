//! The storage a replica needs, as a small synchronous trait: chains of
//! certified blocks, the record state they produce, and what the replica
//! voted (persisted before any vote is sent). [`MemStore`] backs the
//! simulator; the node uses RocksDB.

use std::collections::{BTreeMap, HashMap};

use dhtr_protocol::ChunkId;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::msg::Prepared;
use crate::types::{Block, Certificate, Committee, Digest, Phase, RRset, Tx};

/// A storage failure. The replica stops serving the chunk rather than guess.
#[derive(Debug, Error)]
pub enum StoreError {
    /// The underlying database failed.
    #[error("storage failure: {0}")]
    Io(String),
    /// Stored data does not verify.
    #[error("chunk {chunk} height {height}: {reason}")]
    Corrupt {
        /// The chunk.
        chunk: u32,
        /// The height.
        height: u64,
        /// What is wrong.
        reason: String,
    },
}

/// The head of a chunk's chain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tip {
    /// Height of the last committed block.
    pub height: u64,
    /// Its hash.
    pub hash: Digest,
    /// The committee after it.
    pub committee: Committee,
}

/// What a replica signed and proved, so that after a crash it never signs
/// a conflicting message for the same view and height, and never forgets a
/// block it prepared (PBFT §4.4 relies on prepared certificates surviving).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VoteLog {
    /// The view the replica last entered.
    #[serde(default)]
    pub view: u64,
    /// The highest view it asked for in a view change.
    #[serde(default)]
    pub asked: u64,
    /// The height that view change was for (it is moot once that height
    /// is decided).
    #[serde(default)]
    pub asked_height: u64,
    /// Last signed message per phase (pre-prepare, prepare, commit):
    /// (view, height, block).
    #[serde(default)]
    pub last: Vec<(Phase, u64, u64, Digest)>,
    /// Its highest prepared certificate at the undecided height.
    #[serde(default)]
    pub prepared: Option<Prepared>,
}

impl VoteLog {
    /// The block this replica already signed for `(phase, view, height)`.
    pub fn signed(&self, phase: Phase, view: u64, height: u64) -> Option<Digest> {
        self.last.iter().find(|(p, v, h, _)| *p == phase && *v == view && *h == height).map(|(.., d)| *d)
    }

    /// Remember a signed message (replacing the older one of the same phase).
    pub fn record(&mut self, phase: Phase, view: u64, height: u64, block: Digest) {
        self.last.retain(|(p, ..)| *p != phase);
        self.last.push((phase, view, height, block));
    }
}

/// Synchronous storage of chains, record state and vote logs.
pub trait Store {
    /// The head of a chunk's chain, if this node holds it.
    fn tip(&self, chunk: ChunkId) -> Result<Option<Tip>, StoreError>;
    /// A committed block with its certificate.
    fn block(&self, chunk: ChunkId, height: u64) -> Result<Option<(Block, Certificate)>, StoreError>;
    /// Commit a block: block, certificate, new record state and new tip in
    /// one atomic, durable write, before anything is acknowledged.
    fn commit(&mut self, block: &Block, cert: &Certificate, tip: &Tip) -> Result<(), StoreError>;
    /// The committed RRset of (name, type) in a chunk.
    fn rrset(&self, chunk: ChunkId, name: &str, rtype: u16) -> Result<Option<RRset>, StoreError>;
    /// Every committed RRset of a chunk.
    fn records(&self, chunk: ChunkId) -> Result<Vec<RRset>, StoreError>;
    /// Persist the vote log (before the vote is sent).
    fn save_votes(&mut self, chunk: ChunkId, log: &VoteLog) -> Result<(), StoreError>;
    /// The persisted vote log.
    fn votes(&self, chunk: ChunkId) -> Result<Option<VoteLog>, StoreError>;
    /// Keep two conflicting signed messages of one member as evidence.
    fn save_evidence(&mut self, chunk: ChunkId, evidence: &[u8]) -> Result<(), StoreError>;
    /// Forget a chain that holds nothing but its genesis (a first committee
    /// that did not match the ring's, on which nothing was ever decided).
    /// The vote log stays: what was signed stays signed. Refuses a chain
    /// with committed blocks.
    fn discard_genesis(&mut self, chunk: ChunkId) -> Result<(), StoreError>;
    /// Forget a whole chain: its blocks, record state, tip and vote log (the
    /// votes bind to this chain's block hashes and count for no other).
    /// For a chain this node no longer takes part in, or one the chunk's
    /// committee abandoned for another after a partition (`chunks::fork`).
    /// Evidence stays.
    fn discard_chain(&mut self, chunk: ChunkId) -> Result<(), StoreError>;
}

/// An in-memory store (simulator, tests).
#[derive(Default, Debug)]
pub struct MemStore {
    tips: HashMap<ChunkId, Tip>,
    blocks: HashMap<ChunkId, BTreeMap<u64, (Block, Certificate)>>,
    records: HashMap<(ChunkId, String, u16), RRset>,
    votes: HashMap<ChunkId, VoteLog>,
    /// Evidence kept, per chunk.
    pub evidence: HashMap<ChunkId, Vec<Vec<u8>>>,
}

impl MemStore {
    /// An empty store.
    pub fn new() -> MemStore {
        MemStore::default()
    }

    /// The chunks with a chain here.
    pub fn chunks(&self) -> Vec<ChunkId> {
        let mut c: Vec<ChunkId> = self.tips.keys().copied().collect();
        c.sort();
        c
    }

    /// The whole committed chain of a chunk (for checks).
    pub fn chain(&self, chunk: ChunkId) -> Vec<(Block, Certificate)> {
        self.blocks.get(&chunk).map(|m| m.values().cloned().collect()).unwrap_or_default()
    }
}

/// Apply a block's transactions to record state (shared by all stores).
pub fn apply<F: FnMut(String, u16, Option<RRset>)>(block: &Block, mut set: F) {
    for tx in &block.txs {
        match tx {
            Tx::Put(rr) => set(rr.name.clone(), rr.rtype, Some(rr.clone())),
            Tx::Delete { name, rtype } => set(name.clone(), *rtype, None),
            Tx::Reconfigure { .. } => {}
        }
    }
}

impl Store for MemStore {
    fn tip(&self, chunk: ChunkId) -> Result<Option<Tip>, StoreError> {
        Ok(self.tips.get(&chunk).cloned())
    }

    fn block(&self, chunk: ChunkId, height: u64) -> Result<Option<(Block, Certificate)>, StoreError> {
        Ok(self.blocks.get(&chunk).and_then(|m| m.get(&height)).cloned())
    }

    fn commit(&mut self, block: &Block, cert: &Certificate, tip: &Tip) -> Result<(), StoreError> {
        let chunk = block.chunk;
        let records = &mut self.records;
        apply(block, |name, rtype, rr| match rr {
            Some(rr) => {
                records.insert((chunk, name, rtype), rr);
            }
            None => {
                records.remove(&(chunk, name, rtype));
            }
        });
        self.blocks.entry(chunk).or_default().insert(block.height, (block.clone(), cert.clone()));
        self.tips.insert(chunk, tip.clone());
        Ok(())
    }

    fn rrset(&self, chunk: ChunkId, name: &str, rtype: u16) -> Result<Option<RRset>, StoreError> {
        Ok(self.records.get(&(chunk, name.to_string(), rtype)).cloned())
    }

    fn records(&self, chunk: ChunkId) -> Result<Vec<RRset>, StoreError> {
        let mut out: Vec<RRset> =
            self.records.iter().filter(|((c, _, _), _)| *c == chunk).map(|(_, rr)| rr.clone()).collect();
        out.sort_by(|a, b| (&a.name, a.rtype).cmp(&(&b.name, b.rtype)));
        Ok(out)
    }

    fn save_votes(&mut self, chunk: ChunkId, log: &VoteLog) -> Result<(), StoreError> {
        self.votes.insert(chunk, log.clone());
        Ok(())
    }

    fn votes(&self, chunk: ChunkId) -> Result<Option<VoteLog>, StoreError> {
        Ok(self.votes.get(&chunk).cloned())
    }

    fn save_evidence(&mut self, chunk: ChunkId, evidence: &[u8]) -> Result<(), StoreError> {
        self.evidence.entry(chunk).or_default().push(evidence.to_vec());
        Ok(())
    }

    fn discard_genesis(&mut self, chunk: ChunkId) -> Result<(), StoreError> {
        match self.tips.get(&chunk) {
            Some(t) if t.height > 0 => Err(StoreError::Io(format!(
                "chunk {} has {} committed blocks; only a bare genesis may be discarded",
                chunk.0, t.height
            ))),
            _ => {
                self.tips.remove(&chunk);
                self.blocks.remove(&chunk);
                Ok(())
            }
        }
    }

    fn discard_chain(&mut self, chunk: ChunkId) -> Result<(), StoreError> {
        self.tips.remove(&chunk);
        self.blocks.remove(&chunk);
        self.votes.remove(&chunk);
        self.records.retain(|(c, _, _), _| *c != chunk);
        Ok(())
    }
}
