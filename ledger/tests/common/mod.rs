//! What the chunk-manager tests share: keys, one node's chunk manager
//! with its store and a virtual clock, and output filters.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use dhtr_ledger::chunks::{Chunks, ChunksConfig, Input, Output};
use dhtr_ledger::msg::{Body, Message};
use dhtr_ledger::replica::genesis_block;
use dhtr_ledger::sign::{KeySigner, Signer};
use dhtr_ledger::types::vote_digest;
use dhtr_ledger::{Block, Certificate, Committee, MemStore, Phase, Store, Tip, Tx};
use dhtr_protocol::{ChunkId, PeerRef};
use serde_bytes::ByteBuf;

pub const NET: &str = "t";
pub const CHUNK: ChunkId = ChunkId(7);

/// A fixed key.
pub fn key(i: u8) -> Arc<KeySigner> {
    Arc::new(KeySigner::from_secret([i; 32]))
}

/// One node's chunk manager, its store and a virtual clock.
pub struct Victim {
    pub chunks: Chunks,
    pub store: MemStore,
    pub t0: Instant,
    pub ms: u64,
}

impl Victim {
    /// A node holding no chain.
    pub fn new(signer: Arc<KeySigner>) -> Victim {
        Victim::holding(signer, Vec::new())
    }

    /// A node whose store holds `chain` of [`CHUNK`] (committed as is; the
    /// tip's committee follows its `Reconfigure`s).
    pub fn holding(signer: Arc<KeySigner>, chain: Vec<(Block, Certificate)>) -> Victim {
        let t0 = Instant::now();
        let mut store = MemStore::new();
        let mut committee: Option<Committee> = None;
        for (block, cert) in &chain {
            for tx in &block.txs {
                if let Tx::Reconfigure { committee: members } = tx {
                    let epoch = committee.as_ref().map_or(0, |c| c.epoch + 1);
                    committee = Some(Committee { epoch, members: members.clone() });
                }
            }
            let Some(c) = committee.clone() else { panic!("a chain starts with its genesis") };
            let tip = Tip { height: block.height, hash: block.hash(), committee: c };
            store.commit(block, cert, &tip).expect("commit");
        }
        let held = if chain.is_empty() { Vec::new() } else { vec![CHUNK] };
        let chunks = Chunks::new(ChunksConfig::default(), NET, signer, held, t0);
        Victim { chunks, store, t0, ms: 0 }
    }

    pub fn feed(&mut self, input: Input) -> Vec<Output> {
        self.ms += 10;
        self.chunks.handle(self.t0 + Duration::from_millis(self.ms), 1, input, &mut self.store);
        std::iter::from_fn(|| self.chunks.poll_output()).collect()
    }

    /// Time passes to `ms` after the start.
    pub fn timeout_at(&mut self, ms: u64) -> Vec<Output> {
        self.ms = ms;
        self.feed_now(Input::Timeout)
    }

    pub fn feed_now(&mut self, input: Input) -> Vec<Output> {
        self.chunks.handle(self.now(), 1, input, &mut self.store);
        std::iter::from_fn(|| self.chunks.poll_output()).collect()
    }

    pub fn now(&self) -> Instant {
        self.t0 + Duration::from_millis(self.ms)
    }

    pub fn message(&mut self, from: &KeySigner, body: Body) -> Vec<Output> {
        self.feed(Input::Message { from: from.peer().clone(), msg: Message { chunk: CHUNK, body } })
    }

    pub fn holds_chain(&self) -> bool {
        self.store.tip(CHUNK).ok().flatten().is_some() || self.chunks.replica(CHUNK).is_some()
    }
}

/// Whom the outputs ask for blocks.
pub fn asked_for_blocks(out: &[Output]) -> Vec<PeerRef> {
    out.iter()
        .filter_map(|o| match o {
            Output::Send { to, msg } if matches!(msg.body, Body::GetBlocks { .. }) => Some(to.clone()),
            _ => None,
        })
        .collect()
}

/// The peers of keys.
pub fn peers(keys: &[&KeySigner]) -> Vec<PeerRef> {
    keys.iter().map(|k| k.peer().clone()).collect()
}

/// A first committee of `members` and its genesis, then block 1 with `txs`
/// proposed by the first signer and certified (commit votes) by `signers`.
pub fn first_block(members: &[&KeySigner], signers: &[&KeySigner], txs: Vec<Tx>) -> Vec<(Block, Certificate)> {
    let committee = Committee { epoch: 0, members: peers(members) };
    let genesis = genesis_block(CHUNK, &committee);
    let gcert = Certificate { chunk: CHUNK, height: 0, view: 0, block: genesis.hash(), sigs: Vec::new() };
    let block = Block {
        chunk: CHUNK,
        height: 1,
        prev: genesis.hash(),
        view: 0,
        proposer: signers[0].peer().clone(),
        epoch: 0,
        committee: committee.digest(),
        time: 1,
        txs,
    };
    let d = vote_digest(NET, CHUNK, 0, 1, Phase::Commit, &block.hash());
    let sigs = signers.iter().map(|k| (k.peer().clone(), ByteBuf::from(k.sign(&d)))).collect();
    let cert = Certificate { chunk: CHUNK, height: 1, view: 0, block: block.hash(), sigs };
    vec![(genesis, gcert), (block, cert)]
}
