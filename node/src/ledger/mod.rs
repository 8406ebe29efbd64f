//! The node's ledger store: RocksDB in `DATA_DIR/ledger`, opened at start
//! and verified. A store that cannot be opened stops the node with a message
//! naming the path (it is never deleted or recreated); a chunk whose chain
//! tail does not verify is reported with its height and not served.

use std::path::Path;

use anyhow::{Context, Result};
use dhtr_ledger::rocks::RocksStore;
use dhtr_ledger::{Block, Certificate, Store, Tx};
use dhtr_monitoring::{
    ApiError, BlockReport, CertificateReport, ChainReport, ChunkReport, LedgerReport, SignatureReport, TxReport,
};
use dhtr_protocol::{ChunkId, PeerRef};
use tracing::{info, warn};

/// Blocks at the end of each chain whose certificates are re-checked at start.
pub const VERIFY_TAIL: u64 = 64;

/// The opened ledger and what start-up verification found.
pub struct Ledger {
    /// The store.
    pub store: RocksStore,
    /// Verified chunks and corrupt ones.
    pub report: LedgerReport,
    /// Chunks whose chains verified.
    pub verified: Vec<ChunkId>,
    /// Chunks whose chains did not verify: never served or extended.
    pub corrupt: Vec<ChunkId>,
}

/// Open `data_dir/ledger` for `network` and verify every chain it holds.
pub fn open(data_dir: &Path, network: &str) -> Result<Ledger> {
    let path = data_dir.join("ledger");
    let store = RocksStore::open(&path, network).context("cannot open the ledger store; refusing to start")?;
    let mut report = LedgerReport { path: path.display().to_string(), ..LedgerReport::default() };
    let (mut verified, mut corrupt) = (Vec::new(), Vec::new());
    for chunk in store.chunks().context("cannot list the ledger's chunks")? {
        match store.verify_chain(chunk, VERIFY_TAIL) {
            Ok(_) => verified.push(chunk),
            Err(e) => {
                warn!("ledger chunk {} failed verification and will not be served: {e}", chunk.0);
                report.corrupt.push(e.to_string());
                corrupt.push(chunk);
            }
        }
    }
    info!(path = %report.path, chunks = verified.len(), corrupt = corrupt.len(), "ledger opened");
    Ok(Ledger { store, report, verified, corrupt })
}

/// A chunk's tip as a status line: height, epoch, and whether `me` is in
/// the committee.
pub fn chunk_report(store: &RocksStore, chunk: ChunkId, me: &PeerRef) -> Option<ChunkReport> {
    let tip = store.tip(chunk).ok().flatten()?;
    Some(ChunkReport {
        chunk: chunk.0,
        height: tip.height,
        epoch: tip.committee.epoch,
        member: tip.committee.contains(me),
    })
}

/// Signs ledger votes with the node's libp2p identity (ed25519): the
/// signature checks against the public key inside the PeerId.
pub struct NodeSigner {
    key: libp2p::identity::Keypair,
    peer: PeerRef,
}

impl NodeSigner {
    /// A signer for `key`.
    pub fn new(key: libp2p::identity::Keypair) -> NodeSigner {
        let peer = PeerRef(key.public().to_peer_id().to_bytes());
        NodeSigner { key, peer }
    }
}

impl dhtr_ledger::sign::Signer for NodeSigner {
    fn peer(&self) -> &PeerRef {
        &self.peer
    }

    fn sign(&self, digest: &dhtr_ledger::Digest) -> Vec<u8> {
        // Ed25519 signing cannot fail; an empty signature would simply not verify.
        self.key.sign(&digest.0).unwrap_or_default()
    }
}

/// Blocks `from..from+limit` of a chunk's chain as an audit trail.
pub fn chain_report(store: &RocksStore, chunk: ChunkId, from: u64, limit: u64) -> Result<ChainReport, ApiError> {
    let tip = store
        .tip(chunk)
        .map_err(|e| ApiError::Failed(e.to_string()))?
        .ok_or_else(|| ApiError::NotFound(format!("this node holds no chain of chunk {}", chunk.0)))?;
    let mut blocks = Vec::new();
    for h in from..=tip.height.min(from.saturating_add(limit).saturating_sub(1)) {
        let Some((b, cert)) = store.block(chunk, h).map_err(|e| ApiError::Failed(e.to_string()))? else { break };
        blocks.push(block_report(&b, &cert));
    }
    Ok(ChainReport {
        chunk: chunk.0,
        height: tip.height,
        epoch: tip.committee.epoch,
        committee: tip.committee.members.iter().map(crate::report::peer_label_bytes).collect(),
        blocks,
    })
}

fn block_report(b: &Block, cert: &Certificate) -> BlockReport {
    let txs = b.txs.iter().map(tx_report).collect();
    BlockReport {
        height: b.height,
        hash: b.hash().to_hex(),
        prev: b.prev.to_hex(),
        view: b.view,
        proposer: if b.proposer.0.is_empty() { String::new() } else { crate::report::peer_label_bytes(&b.proposer) },
        epoch: b.epoch,
        committee_digest: b.committee.to_hex(),
        time: b.time,
        txs,
        certificate: CertificateReport {
            view: cert.view,
            signatures: cert
                .sigs
                .iter()
                .map(|(p, s)| SignatureReport { signer: crate::report::peer_label_bytes(p), signature: hex::encode(s) })
                .collect(),
        },
    }
}

/// One transaction as JSON.
pub fn tx_report(t: &Tx) -> TxReport {
    match t {
        Tx::Put(rr) => TxReport::Put {
            name: rr.name.clone(),
            rtype: rr.rtype,
            class: rr.class,
            ttl: rr.ttl,
            rdata: rr.rdata.iter().map(hex::encode).collect(),
            fetched_at: rr.fetched_at,
        },
        Tx::Delete { name, rtype } => TxReport::Delete { name: name.clone(), rtype: *rtype },
        Tx::Reconfigure { committee } => {
            TxReport::Reconfigure { committee: committee.iter().map(crate::report::peer_label_bytes).collect() }
        }
    }
}
