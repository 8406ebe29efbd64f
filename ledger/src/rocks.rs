//! The node's durable [`Store`] on RocksDB (DESIGN "storage": one batch per
//! committed block, synced before anything is acknowledged).
//!
//! Layout, one column family each:
//!
//! | family     | key                                   | value                     |
//! |------------|---------------------------------------|---------------------------|
//! | `blocks`   | chunk u32 BE, height u64 BE           | CBOR `(Block, Certificate)` |
//! | `records`  | chunk u32 BE, rtype u16 BE, name      | CBOR `RRset`              |
//! | `meta`     | `tip` ++ chunk BE                     | CBOR `Tip`                |
//! |            | `votes` ++ chunk BE                   | CBOR `VoteLog`            |
//! |            | `format`                              | CBOR `1`                  |
//! |            | `network`                             | CBOR network name         |
//! | `evidence` | chunk u32 BE, sequence u64 BE         | the evidence bytes        |
//!
//! Opening never deletes, repairs or recreates anything: a path that holds
//! something other than this network's ledger store is refused with
//! [`StoreError::Io`] naming the path and the reason, and left as it was.

use std::fmt::Display;
use std::path::{Path, PathBuf};

use dhtr_protocol::ChunkId;
use rocksdb::{
    ColumnFamily, ColumnFamilyDescriptor, DB, DBCompressionType, Direction, IteratorMode, Options, WriteBatch,
    WriteOptions,
};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::store::{Store, StoreError, Tip, VoteLog, apply};
use crate::types::{Block, Certificate, Committee, RRset, Tx};
use crate::verify::check_certificate;

/// The on-disk format this code reads and writes (the `format` meta key).
pub const FORMAT_VERSION: u32 = 1;

const CF_BLOCKS: &str = "blocks";
const CF_RECORDS: &str = "records";
const CF_META: &str = "meta";
const CF_EVIDENCE: &str = "evidence";
const FAMILIES: [&str; 4] = [CF_BLOCKS, CF_RECORDS, CF_META, CF_EVIDENCE];

const KEY_TIP: &[u8] = b"tip";
const KEY_VOTES: &[u8] = b"votes";
const KEY_FORMAT: &[u8] = b"format";
const KEY_NETWORK: &[u8] = b"network";

/// A [`Store`] kept in a RocksDB database, for one network.
pub struct RocksStore {
    db: DB,
    path: PathBuf,
    network: String,
    durable: bool,
}

impl std::fmt::Debug for RocksStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RocksStore").field("path", &self.path).field("network", &self.network).finish()
    }
}

fn options() -> Options {
    let mut o = Options::default();
    o.set_compression_type(DBCompressionType::Lz4);
    o
}

fn db_options() -> Options {
    let mut o = options();
    // A batch spans families; flush them together so that what is on disk
    // is always one consistent state, WAL or no WAL.
    o.set_atomic_flush(true);
    o.set_keep_log_file_num(4);
    o.set_max_log_file_size(8 << 20);
    o
}

fn io_err(path: &Path, reason: impl Display) -> StoreError {
    StoreError::Io(format!("{}: {reason}", path.display()))
}

/// chunk u32 BE ++ n u64 BE: the key of a block (n = height) and of a
/// piece of evidence (n = sequence).
fn block_key(chunk: ChunkId, n: u64) -> [u8; 12] {
    let mut k = [0u8; 12];
    k[..4].copy_from_slice(&chunk.0.to_be_bytes());
    k[4..].copy_from_slice(&n.to_be_bytes());
    k
}

fn record_key(chunk: ChunkId, name: &str, rtype: u16) -> Vec<u8> {
    let mut k = Vec::with_capacity(6 + name.len());
    k.extend_from_slice(&chunk.0.to_be_bytes());
    k.extend_from_slice(&rtype.to_be_bytes());
    k.extend_from_slice(name.as_bytes());
    k
}

fn meta_key(prefix: &[u8], chunk: ChunkId) -> Vec<u8> {
    let mut k = prefix.to_vec();
    k.extend_from_slice(&chunk.0.to_be_bytes());
    k
}

fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    ciborium::from_reader(bytes).map_err(|e| e.to_string())
}

fn encode<T: Serialize>(v: &T) -> Result<Vec<u8>, StoreError> {
    let mut buf = Vec::with_capacity(256);
    ciborium::into_writer(v, &mut buf).map_err(|e| StoreError::Io(format!("cannot encode: {e}")))?;
    Ok(buf)
}

/// Is `dir/CURRENT` a RocksDB pointer to a manifest that exists? Checked
/// before RocksDB is asked to open anything, so that a directory that is
/// not a database is refused without a file being written into it.
fn check_current(dir: &Path) -> Result<(), StoreError> {
    let current = dir.join("CURRENT");
    let text = match std::fs::read(&current) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(io_err(dir, "not empty and not a RocksDB database (no CURRENT file)"));
        }
        Err(e) => return Err(io_err(dir, format!("cannot read CURRENT: {e}"))),
    };
    let name = std::str::from_utf8(&text).ok().and_then(|t| t.strip_suffix('\n')).unwrap_or_default();
    let valid = name.strip_prefix("MANIFEST-").is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
    if !valid {
        return Err(io_err(dir, "not a RocksDB database (CURRENT does not name a manifest)"));
    }
    if !dir.join(name).is_file() {
        return Err(io_err(dir, format!("not a usable RocksDB database (CURRENT names {name}, which is missing)")));
    }
    Ok(())
}

impl RocksStore {
    /// Open the ledger store of `network` at `path`, creating it if `path`
    /// does not exist or is an empty directory.
    ///
    /// Refused with [`StoreError::Io`] naming the path and the reason: a
    /// path that is not a directory, a non-empty directory that is not a
    /// RocksDB database, a database RocksDB cannot open (corrupt, or locked
    /// by another process), one without this store's column families, of
    /// another format version, or of another network. Nothing is ever
    /// deleted, repaired or recreated; the first three are refused before
    /// RocksDB writes anything at `path`.
    pub fn open(path: &Path, network: &str) -> Result<RocksStore, StoreError> {
        let existing = match std::fs::metadata(path) {
            Ok(m) if !m.is_dir() => return Err(io_err(path, "exists and is not a directory")),
            Ok(_) => {
                let mut entries = std::fs::read_dir(path).map_err(|e| io_err(path, e))?;
                entries.next().is_some()
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
            Err(e) => return Err(io_err(path, e)),
        };
        let mut opts = db_options();
        // RocksDB must be given every family a database has; ours must be
        // among them.
        let names: Vec<String> = if existing {
            check_current(path)?;
            let names = DB::list_cf(&opts, path).map_err(|e| io_err(path, format!("cannot open: {e}")))?;
            if let Some(missing) = FAMILIES.iter().find(|f| !names.iter().any(|n| n == *f)) {
                return Err(io_err(
                    path,
                    format!("not a dhtr ledger store, or its manifest is damaged (no column family `{missing}`)"),
                ));
            }
            names
        } else {
            opts.create_if_missing(true);
            opts.create_missing_column_families(true);
            FAMILIES.iter().map(|f| f.to_string()).collect()
        };
        let cfs = names.iter().map(|n| ColumnFamilyDescriptor::new(n, options()));
        let db = DB::open_cf_descriptors(&opts, path, cfs).map_err(|e| io_err(path, format!("cannot open: {e}")))?;
        let store = RocksStore { db, path: path.to_path_buf(), network: network.to_string(), durable: true };
        store.check_identity()?;
        Ok(store)
    }

    /// Check (or, on a new database, write) the format version and network.
    fn check_identity(&self) -> Result<(), StoreError> {
        let meta = self.cf(CF_META)?;
        let format = self.db.get_cf(meta, KEY_FORMAT).map_err(|e| self.io(e))?;
        let network = self.db.get_cf(meta, KEY_NETWORK).map_err(|e| self.io(e))?;
        match (format, network) {
            (Some(f), Some(n)) => {
                let f: u32 = decode(&f).map_err(|e| self.io(format!("unreadable format version: {e}")))?;
                if f != FORMAT_VERSION {
                    return Err(self.io(format!("store format {f}, this build reads format {FORMAT_VERSION}")));
                }
                let n: String = decode(&n).map_err(|e| self.io(format!("unreadable network name: {e}")))?;
                if n != self.network {
                    return Err(self.io(format!("holds the ledger of network {n:?}, not {:?}", self.network)));
                }
                Ok(())
            }
            (None, None) if self.is_empty()? => {
                // New (or created but never initialised) store.
                let mut batch = WriteBatch::default();
                batch.put_cf(meta, KEY_FORMAT, encode(&FORMAT_VERSION)?);
                batch.put_cf(meta, KEY_NETWORK, encode(&self.network)?);
                self.write(batch)
            }
            _ => Err(self.io("not a dhtr ledger store (format version or network name missing)")),
        }
    }

    /// Does the database hold no data at all?
    fn is_empty(&self) -> Result<bool, StoreError> {
        for name in FAMILIES {
            let cf = self.cf(name)?;
            if let Some(item) = self.db.iterator_cf(cf, IteratorMode::Start).next() {
                item.map_err(|e| self.io(e))?;
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// The directory the store lives in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The network whose ledger this is.
    pub fn network(&self) -> &str {
        &self.network
    }

    fn io(&self, reason: impl Display) -> StoreError {
        io_err(&self.path, reason)
    }

    /// Whether every write waits for fsync (the default, and the only safe
    /// setting for a node: a commit is acknowledged only once durable).
    /// Benchmarks turn it off to measure what fsync costs.
    pub fn set_durable(&mut self, durable: bool) {
        self.durable = durable;
    }

    fn cf(&self, name: &str) -> Result<&ColumnFamily, StoreError> {
        self.db.cf_handle(name).ok_or_else(|| self.io(format!("column family `{name}` is not open")))
    }

    fn write(&self, batch: WriteBatch) -> Result<(), StoreError> {
        let mut wo = WriteOptions::default();
        wo.set_sync(self.durable);
        self.db.write_opt(batch, &wo).map_err(|e| self.io(format!("write failed: {e}")))
    }

    fn get(&self, family: &str, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let cf = self.cf(family)?;
        self.db.get_cf(cf, key).map_err(|e| self.io(format!("read failed: {e}")))
    }

    /// The tip height for error reports about a chunk's other values (0 if
    /// it cannot be read).
    fn height_hint(&self, chunk: ChunkId) -> u64 {
        self.tip(chunk).ok().flatten().map_or(0, |t| t.height)
    }

    /// The chunks that have a chain here (a stored tip), in order.
    pub fn chunks(&self) -> Result<Vec<ChunkId>, StoreError> {
        let cf = self.cf(CF_META)?;
        let mut out = Vec::new();
        for item in self.db.iterator_cf(cf, IteratorMode::From(KEY_TIP, Direction::Forward)) {
            let (key, _) = item.map_err(|e| self.io(format!("read failed: {e}")))?;
            let Some(rest) = key.strip_prefix(KEY_TIP) else { break };
            let bytes: [u8; 4] = rest.try_into().map_err(|_| StoreError::Corrupt {
                chunk: 0,
                height: 0,
                reason: format!("malformed tip key {}", hex::encode(&key)),
            })?;
            out.push(ChunkId(u32::from_be_bytes(bytes)));
        }
        Ok(out)
    }

    /// The values of a chunk's keys in a column family, in key order.
    fn chunk_values(&self, family: &str, chunk: ChunkId) -> Result<Vec<Vec<u8>>, StoreError> {
        let cf = self.cf(family)?;
        let prefix = chunk.0.to_be_bytes();
        let mut out = Vec::new();
        for item in self.db.iterator_cf(cf, IteratorMode::From(&prefix, Direction::Forward)) {
            let (key, value) = item.map_err(|e| self.io(format!("read failed: {e}")))?;
            if !key.starts_with(&prefix) {
                break;
            }
            out.push(value.into_vec());
        }
        Ok(out)
    }

    /// Every committed RRset of a chunk (for refreshing them).
    pub fn records(&self, chunk: ChunkId) -> Result<Vec<RRset>, StoreError> {
        self.chunk_values(CF_RECORDS, chunk)?
            .iter()
            .map(|v| {
                decode(v).map_err(|e| StoreError::Corrupt {
                    chunk: chunk.0,
                    height: self.height_hint(chunk),
                    reason: format!("record does not decode: {e}"),
                })
            })
            .collect()
    }

    /// The evidence kept for a chunk, oldest first.
    pub fn evidence(&self, chunk: ChunkId) -> Result<Vec<Vec<u8>>, StoreError> {
        self.chunk_values(CF_EVIDENCE, chunk)
    }

    /// The next free evidence sequence number of a chunk.
    fn next_evidence_seq(&self, chunk: ChunkId) -> Result<u64, StoreError> {
        let cf = self.cf(CF_EVIDENCE)?;
        let prefix = chunk.0.to_be_bytes();
        let last = block_key(chunk, u64::MAX);
        let Some(item) = self.db.iterator_cf(cf, IteratorMode::From(&last, Direction::Reverse)).next() else {
            return Ok(0);
        };
        let (key, _) = item.map_err(|e| self.io(format!("read failed: {e}")))?;
        if !key.starts_with(&prefix) {
            return Ok(0);
        }
        let seq: [u8; 8] = key.get(4..).and_then(|s| s.try_into().ok()).ok_or_else(|| StoreError::Corrupt {
            chunk: chunk.0,
            height: self.height_hint(chunk),
            reason: format!("malformed evidence key {}", hex::encode(&key)),
        })?;
        u64::from_be_bytes(seq).checked_add(1).ok_or_else(|| self.io("evidence sequence exhausted"))
    }

    /// Check the stored chain of `chunk` and return its tip height.
    ///
    /// The whole chain is walked from genesis, whose single
    /// `Tx::Reconfigure` names the first committee, following every
    /// `Reconfigure` (epoch + 1) so the committee in force is known at each
    /// height. Every block must be at its key's chunk and height, link to
    /// the previous block's hash, name the committee in force (epoch and
    /// digest) and carry a certificate for its own hash and height; the tip
    /// must name the last block and the committee after it. The commit
    /// signatures (2f+1 of the committee in force) are checked for the last
    /// `tail` blocks only (`u64::MAX` for all; genesis has none). Any failure
    /// is [`StoreError::Corrupt`] naming the chunk and the first bad height.
    pub fn verify_chain(&self, chunk: ChunkId, tail: u64) -> Result<u64, StoreError> {
        let corrupt = |height: u64, reason: String| StoreError::Corrupt { chunk: chunk.0, height, reason };
        let tip = self.tip(chunk)?.ok_or_else(|| corrupt(0, "no chain stored (no tip)".into()))?;
        let first_signed = tip.height.saturating_sub(tail).saturating_add(1).max(1);
        let mut committee: Option<Committee> = None;
        let mut prev = None;
        for height in 0..=tip.height {
            let (block, cert) = self.block(chunk, height)?.ok_or_else(|| corrupt(height, "block missing".into()))?;
            let hash = block.hash();
            if cert.block != hash || cert.height != height || cert.chunk != chunk {
                return Err(corrupt(height, "certificate is not for this block".into()));
            }
            match &committee {
                None => {
                    let members = match block.txs.as_slice() {
                        [Tx::Reconfigure { committee }] => committee.clone(),
                        _ => return Err(corrupt(0, "genesis does not name exactly one committee".into())),
                    };
                    let first = Committee { epoch: block.epoch, members };
                    if block.prev != Default::default() || block.committee != first.digest() {
                        return Err(corrupt(0, "genesis is not the genesis of its committee".into()));
                    }
                    committee = Some(first);
                }
                Some(c) => {
                    if Some(block.prev) != prev {
                        return Err(corrupt(height, "does not link to the previous block".into()));
                    }
                    if block.epoch != c.epoch || block.committee != c.digest() {
                        return Err(corrupt(height, "names another committee than the one in force".into()));
                    }
                    if height >= first_signed {
                        check_certificate(&self.network, chunk, c, &cert)
                            .map_err(|r| corrupt(height, format!("certificate does not verify ({})", r.as_str())))?;
                    }
                    let mut next = c.clone();
                    for tx in &block.txs {
                        if let Tx::Reconfigure { committee: members } = tx {
                            next = Committee { epoch: next.epoch + 1, members: members.clone() };
                        }
                    }
                    committee = Some(next);
                }
            }
            prev = Some(hash);
        }
        if prev != Some(tip.hash) {
            return Err(corrupt(tip.height, "tip does not name the last block".into()));
        }
        if committee.as_ref() != Some(&tip.committee) {
            return Err(corrupt(tip.height, "tip names another committee than the chain".into()));
        }
        Ok(tip.height)
    }

    /// Test hook: store `value` as the raw value of block `height` of
    /// `chunk`, bypassing every check (to simulate corruption).
    #[doc(hidden)]
    pub fn put_raw_block(&mut self, chunk: ChunkId, height: u64, value: &[u8]) -> Result<(), StoreError> {
        let mut batch = WriteBatch::default();
        batch.put_cf(self.cf(CF_BLOCKS)?, block_key(chunk, height), value);
        self.write(batch)
    }
}

impl Store for RocksStore {
    fn records(&self, chunk: ChunkId) -> Result<Vec<RRset>, StoreError> {
        RocksStore::records(self, chunk)
    }

    fn tip(&self, chunk: ChunkId) -> Result<Option<Tip>, StoreError> {
        let Some(bytes) = self.get(CF_META, &meta_key(KEY_TIP, chunk))? else { return Ok(None) };
        let tip = decode(&bytes).map_err(|e| StoreError::Corrupt {
            chunk: chunk.0,
            height: 0,
            reason: format!("tip does not decode: {e}"),
        })?;
        Ok(Some(tip))
    }

    fn block(&self, chunk: ChunkId, height: u64) -> Result<Option<(Block, Certificate)>, StoreError> {
        let Some(bytes) = self.get(CF_BLOCKS, &block_key(chunk, height))? else { return Ok(None) };
        let corrupt = |reason: String| StoreError::Corrupt { chunk: chunk.0, height, reason };
        let (block, cert): (Block, Certificate) =
            decode(&bytes).map_err(|e| corrupt(format!("block does not decode: {e}")))?;
        if block.chunk != chunk || block.height != height {
            return Err(corrupt(format!("holds block {} of chunk {}", block.height, block.chunk.0)));
        }
        Ok(Some((block, cert)))
    }

    fn commit(&mut self, block: &Block, cert: &Certificate, tip: &Tip) -> Result<(), StoreError> {
        let chunk = block.chunk;
        let records = self.cf(CF_RECORDS)?;
        let mut batch = WriteBatch::default();
        let mut failed = None;
        apply(block, |name, rtype, rr| {
            let key = record_key(chunk, &name, rtype);
            match rr {
                Some(rr) => match encode(&rr) {
                    Ok(v) => batch.put_cf(records, key, v),
                    Err(e) => failed = Some(e),
                },
                None => batch.delete_cf(records, key),
            }
        });
        if let Some(e) = failed {
            return Err(e);
        }
        batch.put_cf(self.cf(CF_BLOCKS)?, block_key(chunk, block.height), encode(&(block, cert))?);
        batch.put_cf(self.cf(CF_META)?, meta_key(KEY_TIP, chunk), encode(tip)?);
        self.write(batch)
    }

    fn rrset(&self, chunk: ChunkId, name: &str, rtype: u16) -> Result<Option<RRset>, StoreError> {
        let Some(bytes) = self.get(CF_RECORDS, &record_key(chunk, name, rtype))? else { return Ok(None) };
        let rr = decode(&bytes).map_err(|e| StoreError::Corrupt {
            chunk: chunk.0,
            height: self.height_hint(chunk),
            reason: format!("record {name} type {rtype} does not decode: {e}"),
        })?;
        Ok(Some(rr))
    }

    fn save_votes(&mut self, chunk: ChunkId, log: &VoteLog) -> Result<(), StoreError> {
        let mut batch = WriteBatch::default();
        batch.put_cf(self.cf(CF_META)?, meta_key(KEY_VOTES, chunk), encode(log)?);
        self.write(batch)
    }

    fn votes(&self, chunk: ChunkId) -> Result<Option<VoteLog>, StoreError> {
        let Some(bytes) = self.get(CF_META, &meta_key(KEY_VOTES, chunk))? else { return Ok(None) };
        let log = decode(&bytes).map_err(|e| StoreError::Corrupt {
            chunk: chunk.0,
            height: self.height_hint(chunk),
            reason: format!("vote log does not decode: {e}"),
        })?;
        Ok(Some(log))
    }

    fn save_evidence(&mut self, chunk: ChunkId, evidence: &[u8]) -> Result<(), StoreError> {
        let seq = self.next_evidence_seq(chunk)?;
        let mut batch = WriteBatch::default();
        batch.put_cf(self.cf(CF_EVIDENCE)?, block_key(chunk, seq), evidence);
        self.write(batch)
    }

    fn discard_genesis(&mut self, chunk: ChunkId) -> Result<(), StoreError> {
        if let Some(t) = self.tip(chunk)?
            && t.height > 0
        {
            return Err(self.io(format!(
                "chunk {} has {} committed blocks; only a bare genesis may be discarded",
                chunk.0, t.height
            )));
        }
        let mut batch = WriteBatch::default();
        batch.delete_cf(self.cf(CF_BLOCKS)?, block_key(chunk, 0));
        batch.delete_cf(self.cf(CF_META)?, meta_key(KEY_TIP, chunk));
        self.write(batch)
    }

    fn discard_chain(&mut self, chunk: ChunkId) -> Result<(), StoreError> {
        // Blocks and records are keyed by the chunk first: one range each.
        let (from, to) = (chunk.0.to_be_bytes(), chunk.0.checked_add(1).map(u32::to_be_bytes));
        let mut batch = WriteBatch::default();
        for family in [CF_BLOCKS, CF_RECORDS] {
            let cf = self.cf(family)?;
            match to {
                Some(to) => batch.delete_range_cf(cf, from, to),
                // The last chunk: past every key it can have (names are ASCII).
                None => batch.delete_range_cf(cf, from.as_slice(), [0xffu8; 300].as_slice()),
            }
        }
        batch.delete_cf(self.cf(CF_META)?, meta_key(KEY_TIP, chunk));
        batch.delete_cf(self.cf(CF_META)?, meta_key(KEY_VOTES, chunk));
        self.write(batch)
    }
}
