//! The node's ledger store: RocksDB in `DATA_DIR/ledger`, opened at start
//! and verified. A store that cannot be opened stops the node with a message
//! naming the path (it is never deleted or recreated); a chunk whose chain
//! tail does not verify is reported with its height and not served.

use std::path::Path;

use anyhow::{Context, Result};
use dhtr_ledger::Store;
use dhtr_ledger::rocks::RocksStore;
use dhtr_monitoring::{ChunkReport, LedgerReport};
use tracing::{info, warn};

/// Blocks at the end of each chain whose certificates are re-checked at start.
pub const VERIFY_TAIL: u64 = 64;

/// The opened ledger and what start-up verification found.
pub struct Ledger {
    /// The store.
    pub store: RocksStore,
    /// Verified chunks and corrupt ones.
    pub report: LedgerReport,
}

/// Open `data_dir/ledger` for `network` and verify every chain it holds.
pub fn open(data_dir: &Path, network: &str) -> Result<Ledger> {
    let path = data_dir.join("ledger");
    let store = RocksStore::open(&path, network).context("cannot open the ledger store; refusing to start")?;
    let mut report = LedgerReport { path: path.display().to_string(), ..LedgerReport::default() };
    for chunk in store.chunks().context("cannot list the ledger's chunks")? {
        match store.verify_chain(chunk, VERIFY_TAIL) {
            Ok(height) => report.chunks.push(ChunkReport { chunk: chunk.0, height }),
            Err(e) => {
                warn!("ledger chunk {} failed verification and will not be served: {e}", chunk.0);
                report.corrupt.push(e.to_string());
            }
        }
    }
    info!(path = %report.path, chunks = report.chunks.len(), corrupt = report.corrupt.len(), "ledger opened");
    Ok(Ledger { store, report })
}

/// The committed height of a chunk, for status pages.
pub fn height(store: &RocksStore, chunk: dhtr_protocol::ChunkId) -> Option<u64> {
    store.tip(chunk).ok().flatten().map(|t| t.height)
}
