//! The persistent peer store (`peers.json` in the data dir).
//!
//! It remembers peers we have seen and their addresses so a restarted node
//! can rejoin the ring without `--bootstrap`. The file looks like:
//!
//! ```json
//! {
//!   "version": 1,
//!   "peers": {
//!     "12D3KooW...": { "addrs": ["/ip4/192.0.2.1/tcp/4001"], "last_seen_unix": 1700000000, "failures": 0 }
//!   }
//! }
//! ```
//!
//! A file that cannot be read or understood is an error: the node refuses to
//! start rather than silently forgetting its peers, and the file is never
//! overwritten (a [`PeerStore`] only exists after a successful open).

use std::cmp::Reverse;
use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use multiaddr::{Multiaddr, PeerId};
use serde::{Deserialize, Serialize};

use dhtr_protocol::Prefix;

use crate::addr::split_p2p;

/// Most peers of one address prefix (/24, /48) the store keeps: a flood of
/// identities from one prefix replaces only that prefix's own entries, so
/// the peers a restarted node rejoins through stay spread over prefixes
/// (issue 9, eclipse resistance; Bitcoin's address manager buckets by
/// prefix for the same reason, Heilman et al. 2015).
pub const MAX_PER_PREFIX: usize = 8;

/// The file name of the peer store inside the data dir.
pub const FILE_NAME: &str = "peers.json";
/// The file format version this build reads and writes.
pub const VERSION: u64 = 1;
/// How many peers the store keeps by default; the oldest are evicted beyond that.
pub const DEFAULT_CAPACITY: usize = 256;
/// How many addresses are kept per peer (most recently reported first).
pub const MAX_ADDRS_PER_PEER: usize = 8;

/// Why the peer store could not be opened or saved.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The file exists but could not be read.
    #[error("cannot read peer store {}: {source}", path.display())]
    Read {
        /// The peer store file.
        path: PathBuf,
        /// The underlying I/O error.
        source: io::Error,
    },
    /// The file was read but its contents are invalid.
    #[error("peer store {} is corrupt: {reason} (the file was left untouched; fix or remove it)", path.display())]
    Corrupt {
        /// The peer store file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The file was written by an incompatible version.
    #[error("peer store {} has unsupported version {found} (this build reads version {VERSION}; the file was left untouched)", path.display())]
    UnsupportedVersion {
        /// The peer store file.
        path: PathBuf,
        /// The version found in the file.
        found: u64,
    },
    /// The file could not be written.
    #[error("cannot write peer store {}: {source}", path.display())]
    Write {
        /// The peer store file.
        path: PathBuf,
        /// The underlying I/O error.
        source: io::Error,
    },
}

/// What the store knows about one peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerEntry {
    /// Dial addresses (without `/p2p`), most recently reported first, deduplicated, at most [`MAX_ADDRS_PER_PEER`].
    pub addrs: Vec<Multiaddr>,
    /// When the peer was last seen, in seconds since the Unix epoch.
    pub last_seen_unix: u64,
    /// Failed dial/join attempts since the peer was last seen.
    pub failures: u32,
}

/// A bounded set of known peers persisted as JSON.
#[derive(Debug)]
pub struct PeerStore {
    path: PathBuf,
    capacity: usize,
    peers: HashMap<PeerId, PeerEntry>,
    dirty: bool,
}

/// On-disk format: just the version, read first so a newer format is reported as such.
#[derive(Deserialize)]
struct FileHeader {
    version: u64,
}

/// On-disk format.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileV1 {
    version: u64,
    peers: BTreeMap<String, FileEntry>,
}

/// On-disk format of one entry.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileEntry {
    addrs: Vec<String>,
    last_seen_unix: u64,
    #[serde(default)]
    failures: u32,
}

impl PeerStore {
    /// Opens the store at `path` with [`DEFAULT_CAPACITY`]. A missing file
    /// gives an empty store; an unreadable or invalid file is an error.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        Self::open_with_capacity(path, DEFAULT_CAPACITY)
    }

    /// Opens `<data_dir>/peers.json` (see [`PeerStore::open`]).
    pub fn open_in_dir(data_dir: &Path) -> Result<Self, StoreError> {
        Self::open(&data_dir.join(FILE_NAME))
    }

    /// Like [`PeerStore::open`], keeping at most `capacity` peers (at least 1).
    /// If the file holds more, the oldest are dropped from memory (the file is
    /// only rewritten on the next [`PeerStore::save`]).
    pub fn open_with_capacity(path: &Path, capacity: usize) -> Result<Self, StoreError> {
        let mut store = Self { path: path.to_owned(), capacity: capacity.max(1), peers: HashMap::new(), dirty: false };
        let bytes = match fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(store),
            Err(source) => {
                return Err(StoreError::Read { path: path.to_owned(), source });
            }
        };
        store.peers = decode(&bytes).map_err(|e| e.at(path))?;
        if store.peers.len() > store.capacity {
            // Keep the newest: one sort, not one scan per dropped entry.
            let mut order: Vec<(PeerId, &PeerEntry)> = store.peers.iter().map(|(p, e)| (*p, e)).collect();
            order.sort_by_key(|(p, e)| age(p, e));
            let drop: Vec<PeerId> = order.iter().take(order.len() - store.capacity).map(|(p, _)| *p).collect();
            for p in drop {
                store.peers.remove(&p);
            }
        }
        Ok(store)
    }

    /// The file this store is saved to.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The maximum number of peers kept.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// How many peers are stored.
    pub fn len(&self) -> usize {
        self.peers.len()
    }

    /// Whether no peers are stored.
    pub fn is_empty(&self) -> bool {
        self.peers.is_empty()
    }

    /// Whether the store changed since it was opened or last saved.
    pub fn is_dirty(&self) -> bool {
        self.dirty
    }

    /// What the store knows about `peer`.
    pub fn get(&self, peer: &PeerId) -> Option<&PeerEntry> {
        self.peers.get(peer)
    }

    /// Records that `peer` was seen (connected or identified) at `now`,
    /// reachable at `addrs`, and clears its failure count.
    ///
    /// `addrs` go in front of the addresses already known (deduplicated, at
    /// most [`MAX_ADDRS_PER_PEER`] kept). A trailing `/p2p/<peer>` is stripped;
    /// addresses naming another peer are ignored. An unknown peer with no
    /// usable address is not added. Adding a peer to a full store evicts the
    /// oldest one.
    pub fn record_seen(&mut self, peer: PeerId, addrs: &[Multiaddr], now: SystemTime) {
        let fresh: Vec<Multiaddr> = addrs
            .iter()
            .filter_map(|a| match split_p2p(a) {
                (dial, None) => Some(dial),
                (dial, Some(p)) if p == peer => Some(dial),
                _ => None,
            })
            .filter(|a| !a.is_empty())
            .collect();
        let last_seen_unix = unix_secs(now);
        if !self.peers.contains_key(&peer) {
            if fresh.is_empty() {
                return;
            }
            let prefix = prefix_of(&fresh);
            let same: Vec<PeerId> = self
                .peers
                .iter()
                .filter(|(_, e)| prefix.is_some() && prefix_of(&e.addrs) == prefix)
                .map(|(p, _)| *p)
                .collect();
            if same.len() >= MAX_PER_PREFIX {
                self.evict_oldest_of(&same);
            } else if self.peers.len() >= self.capacity {
                let all: Vec<PeerId> = self.peers.keys().copied().collect();
                self.evict_oldest_of(&all);
            }
        }
        let entry =
            self.peers.entry(peer).or_insert_with(|| PeerEntry { addrs: Vec::new(), last_seen_unix, failures: 0 });
        let mut merged = fresh;
        merged.append(&mut entry.addrs);
        entry.addrs = dedup_addrs(merged);
        entry.last_seen_unix = entry.last_seen_unix.max(last_seen_unix);
        entry.failures = 0;
        self.dirty = true;
    }

    /// Records a failed attempt to reach `peer` (no-op for unknown peers).
    pub fn record_failure(&mut self, peer: &PeerId) {
        if let Some(entry) = self.peers.get_mut(peer) {
            entry.failures = entry.failures.saturating_add(1);
            self.dirty = true;
        }
    }

    /// Forgets `peer`; returns whether it was known.
    pub fn remove(&mut self, peer: &PeerId) -> bool {
        let removed = self.peers.remove(peer).is_some();
        self.dirty |= removed;
        removed
    }

    /// Up to `limit` peers to (re)join through, with their addresses,
    /// spread over address prefixes: each prefix's best peer first, then
    /// each prefix's second, and so on; within a round, most recently seen
    /// first, then fewer failures first. Peers without addresses are
    /// skipped.
    pub fn candidates(&self, limit: usize) -> Vec<(PeerId, Vec<Multiaddr>)> {
        let mut all: Vec<(&PeerId, &PeerEntry)> = self.peers.iter().filter(|(_, e)| !e.addrs.is_empty()).collect();
        all.sort_by_key(|(p, e)| (Reverse(e.last_seen_unix), e.failures, p.to_bytes()));
        let mut rank: HashMap<Prefix, usize> = HashMap::new();
        let mut ranked: Vec<(usize, usize, &PeerId, &PeerEntry)> = all
            .into_iter()
            .enumerate()
            .map(|(i, (p, e))| {
                // Peers without an IP address (a DNS name) each count alone.
                let this = match prefix_of(&e.addrs) {
                    Some(prefix) => {
                        let r = rank.entry(prefix).or_insert(0);
                        *r += 1;
                        *r - 1
                    }
                    None => 0,
                };
                (this, i, p, e)
            })
            .collect();
        ranked.sort_by_key(|(r, i, ..)| (*r, *i));
        ranked.into_iter().take(limit).map(|(_, _, p, e)| (*p, e.addrs.clone())).collect()
    }

    /// Writes the store to its file atomically (temporary file in the same
    /// dir, fsync, rename, fsync dir; mode 0600 on unix) and clears the dirty
    /// flag. The data dir must exist.
    pub fn save(&mut self) -> Result<(), StoreError> {
        let write_err = |source| StoreError::Write { path: self.path.clone(), source };
        let json = self.encode().map_err(|e| write_err(io::Error::other(e)))?;
        let dir = match self.path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        let mut tmp = tempfile::Builder::new().prefix(".peers.").suffix(".tmp").tempfile_in(dir).map_err(write_err)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            tmp.as_file().set_permissions(fs::Permissions::from_mode(0o600)).map_err(write_err)?;
        }
        tmp.write_all(&json).map_err(write_err)?;
        tmp.as_file().sync_all().map_err(write_err)?;
        tmp.persist(&self.path).map_err(|e| write_err(e.error))?;
        #[cfg(unix)]
        fs::File::open(dir).and_then(|d| d.sync_all()).map_err(write_err)?;
        self.dirty = false;
        Ok(())
    }

    /// Serialises the store (peers sorted by id, so output is deterministic).
    fn encode(&self) -> Result<Vec<u8>, serde_json::Error> {
        let file = FileV1 {
            version: VERSION,
            peers: self
                .peers
                .iter()
                .map(|(p, e)| {
                    let entry = FileEntry {
                        addrs: e.addrs.iter().map(ToString::to_string).collect(),
                        last_seen_unix: e.last_seen_unix,
                        failures: e.failures,
                    };
                    (p.to_base58(), entry)
                })
                .collect(),
        };
        let mut json = serde_json::to_vec_pretty(&file)?;
        json.push(b'\n');
        Ok(json)
    }

    /// Drops the peer of `among` seen longest ago (more failures first
    /// among ties).
    fn evict_oldest_of(&mut self, among: &[PeerId]) {
        let oldest = among
            .iter()
            .filter_map(|p| self.peers.get(p).map(|e| (p, e)))
            .min_by_key(|(p, e)| age(p, e))
            .map(|(p, _)| *p);
        if let Some(peer) = oldest {
            self.peers.remove(&peer);
            self.dirty = true;
        }
    }
}

/// Eviction order: seen longest ago first, more failures first among ties.
fn age(peer: &PeerId, e: &PeerEntry) -> (u64, Reverse<u32>, Vec<u8>) {
    (e.last_seen_unix, Reverse(e.failures), peer.to_bytes())
}

/// The address prefix of a peer: its first IP address's (/24 or /48).
fn prefix_of(addrs: &[Multiaddr]) -> Option<Prefix> {
    addrs.iter().flat_map(|a| a.iter()).find_map(|p| match p {
        multiaddr::Protocol::Ip4(ip) => Some(Prefix::of(ip.into())),
        multiaddr::Protocol::Ip6(ip) => Some(Prefix::of(ip.into())),
        _ => None,
    })
}

/// A decoding problem, before the file path is attached.
enum DecodeError {
    Corrupt(String),
    Version(u64),
}

impl DecodeError {
    fn at(self, path: &Path) -> StoreError {
        let path = path.to_owned();
        match self {
            Self::Corrupt(reason) => StoreError::Corrupt { path, reason },
            Self::Version(found) => StoreError::UnsupportedVersion { path, found },
        }
    }
}

/// Parses the file contents.
fn decode(bytes: &[u8]) -> Result<HashMap<PeerId, PeerEntry>, DecodeError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(DecodeError::Corrupt("the file is empty".to_owned()));
    }
    let header: FileHeader = serde_json::from_slice(bytes)
        .map_err(|e| DecodeError::Corrupt(format!("invalid JSON or missing \"version\": {e}")))?;
    if header.version != VERSION {
        return Err(DecodeError::Version(header.version));
    }
    let file: FileV1 = serde_json::from_slice(bytes).map_err(|e| DecodeError::Corrupt(e.to_string()))?;
    let mut peers = HashMap::with_capacity(file.peers.len());
    for (id, entry) in file.peers {
        let peer: PeerId = id.parse().map_err(|e| DecodeError::Corrupt(format!("invalid peer id {id:?}: {e}")))?;
        let mut addrs = Vec::with_capacity(entry.addrs.len());
        for text in &entry.addrs {
            let addr: Multiaddr =
                text.parse().map_err(|e| DecodeError::Corrupt(format!("peer {id}: invalid address {text:?}: {e}")))?;
            addrs.push(split_p2p(&addr).0);
        }
        let entry =
            PeerEntry { addrs: dedup_addrs(addrs), last_seen_unix: entry.last_seen_unix, failures: entry.failures };
        peers.insert(peer, entry);
    }
    Ok(peers)
}

/// Removes duplicates (keeping the first) and truncates to [`MAX_ADDRS_PER_PEER`].
fn dedup_addrs(addrs: Vec<Multiaddr>) -> Vec<Multiaddr> {
    let mut out: Vec<Multiaddr> = Vec::with_capacity(MAX_ADDRS_PER_PEER);
    for a in addrs {
        if out.len() == MAX_ADDRS_PER_PEER {
            break;
        }
        if !out.contains(&a) {
            out.push(a);
        }
    }
    out
}

/// Seconds since the Unix epoch (0 for times before it).
fn unix_secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;
    use multiaddr::multihash::Multihash;
    use std::time::Duration;

    fn peer(n: u8) -> PeerId {
        let mh = Multihash::wrap(0, &[n; 32]).unwrap_or_else(|e| panic!("{e}"));
        PeerId::from_multihash(mh).unwrap_or_else(|_| panic!("peer id"))
    }

    fn ma(s: &str) -> Multiaddr {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    fn tcp(n: u16) -> Multiaddr {
        ma(&format!("/ip4/192.0.2.1/tcp/{n}"))
    }

    fn open(path: &Path) -> PeerStore {
        PeerStore::open(path).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn missing_file_is_empty_and_round_trips() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let mut s = PeerStore::open_in_dir(dir.path()).unwrap_or_else(|e| panic!("{e}"));
        assert!(s.is_empty() && !s.is_dirty());
        assert_eq!(s.path(), dir.path().join(FILE_NAME));

        s.record_seen(peer(1), &[tcp(1), tcp(2)], at(100));
        s.record_seen(peer(2), &[ma("/dns/a.example/udp/9/quic-v1")], at(200));
        s.record_failure(&peer(2));
        assert!(s.is_dirty());
        s.save().unwrap_or_else(|e| panic!("{e}"));
        assert!(!s.is_dirty());

        let t = open(s.path());
        assert!(!t.is_dirty());
        assert_eq!(t.len(), 2);
        assert_eq!(t.get(&peer(1)), s.get(&peer(1)));
        assert_eq!(
            t.get(&peer(2)),
            Some(&PeerEntry { addrs: vec![ma("/dns/a.example/udp/9/quic-v1")], last_seen_unix: 200, failures: 1 })
        );
        let text = fs::read_to_string(s.path()).unwrap_or_else(|e| panic!("{e}"));
        assert!(text.contains("\"version\": 1"), "{text}");

        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(s.path()).map(|m| m.permissions().mode());
            assert_eq!(mode.ok().map(|m| m & 0o777), Some(0o600));
        }
        // No temporary files left behind.
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap_or_else(|e| panic!("{e}"))
            .filter_map(|e| e.ok().map(|e| e.file_name()))
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from(FILE_NAME)]);
    }

    #[test]
    fn corrupt_files_are_refused_and_left_intact() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join(FILE_NAME);
        let cases: &[(&[u8], &str)] = &[
            (b"", "empty"),
            (b"{\"version\": 1, \"peers\": {", "corrupt"),
            (b"\xff\xfe garbage", "corrupt"),
            (b"{\"peers\": {}}", "version"),
            (b"{\"version\": 1, \"peers\": {\"nope\": {\"addrs\": [], \"last_seen_unix\": 1}}}", "invalid peer id"),
            (b"{\"version\": 2, \"peers\": {}}", "unsupported version 2"),
        ];
        for (bytes, expect) in cases {
            fs::write(&path, bytes).unwrap_or_else(|e| panic!("{e}"));
            let err = match PeerStore::open(&path) {
                Ok(_) => panic!("{:?} accepted", String::from_utf8_lossy(bytes)),
                Err(e) => e,
            };
            let msg = err.to_string();
            assert!(msg.contains(&path.display().to_string()), "{msg}");
            assert!(msg.contains(expect), "{msg}");
            assert_eq!(fs::read(&path).ok().as_deref(), Some(*bytes));
        }
        let bad_addr = format!(
            "{{\"version\": 1, \"peers\": {{\"{}\": {{\"addrs\": [\"/nope\"], \"last_seen_unix\": 1}}}}}}",
            peer(1)
        );
        fs::write(&path, &bad_addr).unwrap_or_else(|e| panic!("{e}"));
        let err = PeerStore::open(&path).err();
        assert!(matches!(err, Some(StoreError::Corrupt { .. })), "{err:?}");
        assert_eq!(fs::read(&path).ok(), Some(bad_addr.into_bytes()));
    }

    #[test]
    fn unreadable_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        // A directory where the file should be cannot be read.
        let path = dir.path().join(FILE_NAME);
        fs::create_dir(&path).unwrap_or_else(|e| panic!("{e}"));
        let err = PeerStore::open(&path).err();
        assert!(matches!(err, Some(StoreError::Read { .. })), "{err:?}");
    }

    #[test]
    fn addrs_are_merged_deduped_and_bounded() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let mut s = open(&dir.path().join(FILE_NAME));
        s.record_seen(peer(1), &[tcp(1), tcp(2), tcp(1)], at(10));
        s.record_failure(&peer(1));
        let with_p2p = ma(&format!("/ip4/192.0.2.1/tcp/3/p2p/{}", peer(1)));
        let other = ma(&format!("/ip4/192.0.2.1/tcp/4/p2p/{}", peer(2)));
        s.record_seen(peer(1), &[with_p2p, other, tcp(2)], at(20));
        let e = s.get(&peer(1)).cloned();
        assert_eq!(e, Some(PeerEntry { addrs: vec![tcp(3), tcp(2), tcp(1)], last_seen_unix: 20, failures: 0 }));
        let many: Vec<Multiaddr> = (100..120).map(tcp).collect();
        s.record_seen(peer(1), &many, at(30));
        assert_eq!(s.get(&peer(1)).map(|e| e.addrs.clone()), Some(many[..8].to_vec()));

        // Unknown peer without usable addresses is not added.
        s.record_seen(peer(9), &[], at(40));
        assert!(s.get(&peer(9)).is_none());
        // A known one is refreshed.
        s.record_seen(peer(1), &[], at(50));
        assert_eq!(s.get(&peer(1)).map(|e| e.last_seen_unix), Some(50));

        assert!(s.remove(&peer(1)));
        assert!(!s.remove(&peer(1)));
        assert!(s.is_empty());
    }

    #[test]
    fn candidates_order() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let mut s = open(&dir.path().join(FILE_NAME));
        s.record_seen(peer(1), &[tcp(1)], at(100));
        s.record_seen(peer(2), &[tcp(2)], at(300));
        s.record_seen(peer(3), &[tcp(3)], at(200));
        s.record_seen(peer(4), &[tcp(4)], at(200));
        s.record_failure(&peer(3));
        let order: Vec<PeerId> = s.candidates(10).into_iter().map(|(p, _)| p).collect();
        assert_eq!(order, vec![peer(2), peer(4), peer(3), peer(1)]);
        let top = s.candidates(2);
        assert_eq!(top, vec![(peer(2), vec![tcp(2)]), (peer(4), vec![tcp(4)])]);
        assert!(s.candidates(0).is_empty());
    }

    #[test]
    fn eviction_drops_the_oldest() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join(FILE_NAME);
        let mut s = PeerStore::open_with_capacity(&path, 3).unwrap_or_else(|e| panic!("{e}"));
        s.record_seen(peer(1), &[tcp(1)], at(30));
        s.record_seen(peer(2), &[tcp(2)], at(10));
        s.record_seen(peer(3), &[tcp(3)], at(20));
        // Refreshing a known peer never evicts.
        s.record_seen(peer(2), &[tcp(2)], at(40));
        assert_eq!(s.len(), 3);
        s.record_seen(peer(4), &[tcp(4)], at(50));
        assert_eq!(s.len(), 3);
        assert!(s.get(&peer(3)).is_none(), "oldest (20) evicted");
        s.save().unwrap_or_else(|e| panic!("{e}"));

        // Reopening with a smaller capacity keeps the newest.
        let t = PeerStore::open_with_capacity(&path, 2).unwrap_or_else(|e| panic!("{e}"));
        let order: Vec<PeerId> = t.candidates(10).into_iter().map(|(p, _)| p).collect();
        assert_eq!(order, vec![peer(4), peer(2)]);
        assert_eq!(PeerStore::open(&path).map(|s| s.capacity()).ok(), Some(DEFAULT_CAPACITY));
    }

    #[test]
    fn a_flood_from_one_prefix_replaces_only_its_own_entries() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let mut s = PeerStore::open_with_capacity(&dir.path().join(FILE_NAME), 16).unwrap_or_else(|e| panic!("{e}"));
        // Four honest peers on four prefixes, seen long ago.
        for k in 0..4u8 {
            s.record_seen(peer(k), &[ma(&format!("/ip4/198.51.{k}.1/tcp/4001"))], at(10));
        }
        // A hundred fresh identities from one /24.
        for k in 0..100u16 {
            let id = u8::try_from(100 + k % 150).unwrap_or(255);
            s.record_seen(peer(id), &[ma(&format!("/ip4/203.0.113.{}/tcp/{k}", k % 250))], at(1000 + u64::from(k)));
        }
        assert!((0..4u8).all(|k| s.get(&peer(k)).is_some()), "the honest peers stay");
        assert_eq!(s.len(), 4 + MAX_PER_PREFIX);
        // Rejoin candidates take each prefix's best first.
        let first: Vec<PeerId> = s.candidates(5).into_iter().map(|(p, _)| p).collect();
        assert_eq!(first.iter().filter(|p| (0..4u8).any(|k| **p == peer(k))).count(), 4, "{first:?}");
    }

    #[test]
    fn save_fails_cleanly_without_data_dir() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let mut s = open(&dir.path().join("missing").join(FILE_NAME));
        s.record_seen(peer(1), &[tcp(1)], at(1));
        let err = s.save().err();
        assert!(matches!(err, Some(StoreError::Write { .. })), "{err:?}");
        assert!(s.is_dirty());
    }
}
