//! What the two ledger simulators ([`committee`](crate::committee) and
//! [`ring`](crate::ring)) share: the clients' transactions and the honest
//! validators' verdict on them, what travels on the simulated wire, and the
//! checks of a run's chains (agreement, validity, liveness).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use dhtr_ledger::msg::{self, DecodeError, Message};
use dhtr_ledger::sign::KeySigner;
use dhtr_ledger::types::{Block, Certificate, Committee, Digest, RRset, Tx};
use dhtr_ledger::verify::check_certificate;
use dhtr_protocol::ChunkId;
use rand::Rng;
use rand::rngs::StdRng;
use serde_bytes::ByteBuf;

/// Unix time at virtual time zero.
pub const UNIX_BASE: u64 = 1_700_000_000;

/// How often clients resubmit transactions they have not seen committed
/// (pending transactions are not persisted: a member that restarts forgets
/// them, as the submitting node's retry expects).
pub const CLIENT_RETRY: Duration = Duration::from_secs(3);

/// A chain as a store returns it: blocks from genesis with their certificates.
pub type Chain = Vec<(Block, Certificate)>;

/// Is a transaction valid in the eyes of honest validators? A `Put` whose
/// data says `forged` is not; nor is a `Reconfigure` a client submits.
pub fn is_valid(tx: &Tx) -> bool {
    match tx {
        Tx::Put(rr) => !rr.rdata.iter().any(|r| r.as_slice() == b"forged"),
        Tx::Delete { .. } => true,
        Tx::Reconfigure { .. } => false,
    }
}

/// A `Put` of one A record, as the simulators' clients submit.
pub fn put(name: &str, rdata: &[u8]) -> Tx {
    Tx::Put(RRset {
        name: name.to_string(),
        rtype: 1,
        class: 1,
        ttl: 300,
        rdata: vec![ByteBuf::from(rdata.to_vec())],
        fetched_at: UNIX_BASE,
    })
}

/// Unix time at virtual time `now`.
pub(crate) fn unix(now: Duration) -> u64 {
    UNIX_BASE + now.as_secs()
}

/// A member's identity drawn from the run's generator.
pub(crate) fn identity(rng: &mut StdRng) -> Arc<KeySigner> {
    let mut secret = [0u8; 32];
    rng.fill(&mut secret);
    Arc::new(KeySigner::from_secret(secret))
}

/// When a client submits, uniform in the first `window` of the run.
pub(crate) fn submit_time(rng: &mut StdRng, window: Duration) -> Duration {
    Duration::from_micros(rng.random_range(0..=window.as_micros() as u64))
}

/// How long a validator takes to check a block (resolving a name takes a while).
pub(crate) fn validation_delay(rng: &mut StdRng) -> Duration {
    Duration::from_millis(rng.random_range(1..30))
}

/// What travels between simulated members.
#[derive(Clone, Debug)]
pub enum Packet {
    /// A protocol message (encoded on arrival, so the real decoder reads it).
    Msg(Box<Message>),
    /// Arbitrary bytes, as a Byzantine member may send.
    Raw(Vec<u8>),
}

impl Packet {
    /// The packet as the receiver's decoder reads it.
    pub fn decode(&self) -> Result<Message, DecodeError> {
        match self {
            Packet::Msg(m) => msg::decode(&msg::encode(m)),
            Packet::Raw(bytes) => msg::decode(bytes),
        }
    }
}

/// The ids of every transaction in `chains`.
pub fn tx_ids<'a>(chains: impl IntoIterator<Item = &'a Chain>) -> HashSet<Digest> {
    chains.into_iter().flat_map(|c| c.iter().flat_map(|(b, _)| b.txs.iter().map(Tx::id))).collect()
}

/// How many of `valid` transactions `chain` does not hold.
pub fn missing(chain: &Chain, valid: &HashSet<Digest>) -> usize {
    let committed = tx_ids([chain]);
    valid.iter().filter(|id| !committed.contains(id)).count()
}

/// Agreement: at every height, every chain that reaches it holds the same block.
pub fn agreement<'a>(chains: impl IntoIterator<Item = &'a Chain> + Clone) -> Result<(), String> {
    let longest = chains.clone().into_iter().map(Vec::len).max().unwrap_or(0);
    for h in 0..longest {
        let hashes: HashSet<Digest> =
            chains.clone().into_iter().filter_map(|c| c.get(h)).map(|(b, _)| b.hash()).collect();
        if hashes.len() > 1 {
            return Err(format!("agreement violated at height {h}: {} different blocks", hashes.len()));
        }
    }
    Ok(())
}

/// A chain from genesis: hash links, every certificate against the
/// committee of its epoch, every transaction valid. With `fixed`, the
/// committee never changes (a `Reconfigure` is invalid like any other
/// transaction honest validators refuse); without, it is the genesis's and
/// follows every committed `Reconfigure`.
pub fn verify_chain(network: &str, chunk: ChunkId, chain: &Chain, fixed: Option<&Committee>) -> Result<(), String> {
    let Some((genesis, _)) = chain.first() else { return Ok(()) };
    let mut committee = match (fixed, genesis.txs.as_slice()) {
        (Some(c), _) => c.clone(),
        (None, [Tx::Reconfigure { committee }]) => Committee { epoch: 0, members: committee.clone() },
        (None, _) => return Err("genesis holds no committee".into()),
    };
    let follows = fixed.is_none();
    let allowed = |t: &Tx| is_valid(t) || (follows && matches!(t, Tx::Reconfigure { .. }));
    let mut prev = genesis.hash();
    for (b, cert) in &chain[1..] {
        if b.prev != prev || cert.block != b.hash() {
            return Err(format!("height {}: broken hash link", b.height));
        }
        if check_certificate(network, chunk, &committee, cert).is_err() {
            return Err(format!("height {}: certificate does not verify against epoch {}", b.height, committee.epoch));
        }
        if let Some(bad) = b.txs.iter().find(|t| !allowed(t)) {
            return Err(format!("validity violated at height {}: committed {bad:?}", b.height));
        }
        for t in b.txs.iter().filter(|_| follows) {
            if let Tx::Reconfigure { committee: m } = t {
                committee = Committee { epoch: committee.epoch + 1, members: m.clone() };
            }
        }
        prev = b.hash();
    }
    Ok(())
}
