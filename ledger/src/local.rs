//! A committee of replicas in one process, with messages delivered at once
//! and every transaction judged valid: the harness of the commit benchmark
//! and of the crash test's load generator. It exercises the real replica
//! and real stores, without a network.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use dhtr_protocol::{ChunkId, PeerRef};

use crate::replica::{Config, Input, Output, Replica};
use crate::sign::{KeySigner, Signer};
use crate::store::{Store, StoreError};
use crate::types::{Block, Certificate, Committee};

/// The network name local committees sign for.
pub const NETWORK: &str = "local";

/// `n` replicas of one chunk, each with its own store.
pub struct LocalCommittee<S: Store> {
    replicas: Vec<Replica>,
    stores: Vec<S>,
    peers: Vec<PeerRef>,
    queue: VecDeque<(usize, PeerRef, Input)>,
    /// Blocks committed by member 0, oldest first, since the last `take_commits`.
    commits: Vec<(Block, Certificate)>,
}

/// Deterministic keys for member `i`, so a restarted committee is the same one.
pub fn member_signer(i: usize) -> KeySigner {
    let mut secret = [0u8; 32];
    secret[0] = i as u8 + 1;
    secret[31] = 0x5a;
    KeySigner::from_secret(secret)
}

impl<S: Store> LocalCommittee<S> {
    /// Open (or reopen) the committee of `chunk` over `stores`.
    pub fn open(chunk: ChunkId, stores: Vec<S>) -> Result<LocalCommittee<S>, StoreError> {
        Self::open_with(chunk, stores, Config { max_batch: 256, ..Config::default() })
    }

    /// Open with a given replica configuration.
    pub fn open_with(chunk: ChunkId, mut stores: Vec<S>, cfg: Config) -> Result<LocalCommittee<S>, StoreError> {
        let signers: Vec<Arc<KeySigner>> = (0..stores.len()).map(|i| Arc::new(member_signer(i))).collect();
        let peers: Vec<PeerRef> = signers.iter().map(|s| s.peer().clone()).collect();
        let committee = Committee { epoch: 0, members: peers.clone() };
        let mut replicas = Vec::new();
        for (signer, store) in signers.into_iter().zip(stores.iter_mut()) {
            let signer: Arc<dyn Signer + Send + Sync> = signer;
            match Replica::open(cfg.clone(), NETWORK, chunk, signer, store, Some(committee.clone()))? {
                Some(r) => replicas.push(r),
                None => return Err(StoreError::Io("replica could not be opened".into())),
            }
        }
        Ok(LocalCommittee { replicas, stores, peers, queue: VecDeque::new(), commits: Vec::new() })
    }

    /// Height committed by member 0.
    pub fn height(&self) -> u64 {
        self.replicas[0].committed_height()
    }

    /// The stores (to inspect chains).
    pub fn stores(&self) -> &[S] {
        &self.stores
    }

    /// Submit a transaction to every member, as a client would.
    pub fn submit(&mut self, tx: crate::types::Tx) {
        let client = PeerRef(vec![0xc1]);
        for i in 0..self.replicas.len() {
            self.queue.push_back((i, client.clone(), Input::Submit(tx.clone())));
        }
    }

    /// Deliver messages until nothing is left to do.
    pub fn run_until_idle(&mut self) {
        let unix = 1_700_000_000;
        while let Some((i, from, input)) = self.queue.pop_front() {
            self.replicas[i].handle(Instant::now(), unix, input, &mut self.stores[i]);
            while let Some(out) = self.replicas[i].poll_output() {
                match out {
                    Output::Send { to, msg } => {
                        if let Some(j) = self.peers.iter().position(|p| *p == to) {
                            let from = self.peers[i].clone();
                            self.queue.push_back((
                                j,
                                from,
                                Input::Message { from: self.peers[i].clone(), body: msg.body },
                            ));
                        }
                    }
                    Output::Validate { block, txs, .. } => {
                        let verdicts = vec![true; txs.len()];
                        self.queue.push_back((i, from.clone(), Input::Validated { block, verdicts }));
                    }
                    Output::Committed { block, cert } => {
                        if i == 0 {
                            self.commits.push((block, cert));
                        }
                    }
                    Output::Event(_) => {}
                }
            }
        }
    }

    /// Deliver due timeouts (view changes), then run until idle.
    pub fn tick(&mut self) {
        let now = Instant::now();
        for i in 0..self.replicas.len() {
            if self.replicas[i].poll_timeout().is_some_and(|t| t <= now) {
                self.queue.push_back((i, self.peers[i].clone(), Input::Timeout));
            }
        }
        self.run_until_idle();
    }

    /// The blocks member 0 committed since the last call.
    pub fn take_commits(&mut self) -> Vec<(Block, Certificate)> {
        std::mem::take(&mut self.commits)
    }
}
