//! The RocksDB store: durability across reopen, record state, chain
//! verification with real signatures, and refusal to open what is not this
//! network's ledger store (without touching it).
#![cfg(feature = "rocksdb")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::Path;

use dhtr_ledger::replica::genesis_block;
use dhtr_ledger::rocks::RocksStore;
use dhtr_ledger::sign::{KeySigner, Signer};
use dhtr_ledger::types::{Block, Certificate, Committee, Phase, RRset, Tx, cbor, vote_digest};
use dhtr_ledger::{Store, StoreError, Tip, VoteLog};
use dhtr_protocol::{ChunkId, PeerRef};
use serde_bytes::ByteBuf;

const NET: &str = "dhtr-test";

fn rr(name: &str, rtype: u16, ip: [u8; 4]) -> RRset {
    RRset {
        name: name.into(),
        rtype,
        class: 1,
        ttl: 300,
        rdata: vec![ByteBuf::from(ip.to_vec())],
        fetched_at: 1_700_000_000,
    }
}

fn signers(range: std::ops::RangeInclusive<u8>) -> Vec<KeySigner> {
    range.map(|i| KeySigner::from_secret([i; 32])).collect()
}

fn members(keys: &[KeySigner]) -> Vec<PeerRef> {
    keys.iter().map(|k| k.peer().clone()).collect()
}

/// Builds and commits a chain whose certificates carry real commit
/// signatures of 3 of the 4 members of the committee in force.
struct Chain {
    chunk: ChunkId,
    keys: Vec<KeySigner>,
    tip: Tip,
}

impl Chain {
    /// Commit genesis for a committee of keys 1..=4.
    fn start(store: &mut RocksStore, chunk: ChunkId) -> Chain {
        let keys = signers(1..=4);
        let committee = Committee { epoch: 0, members: members(&keys) };
        let block = genesis_block(chunk, &committee);
        let cert = Certificate { chunk, height: 0, view: 0, block: block.hash(), sigs: Vec::new() };
        let tip = Tip { height: 0, hash: block.hash(), committee };
        store.commit(&block, &cert, &tip).unwrap();
        Chain { chunk, keys, tip }
    }

    /// The next block with `txs`, signed (commit phase) by 3 of 4 members.
    fn next(&self, txs: Vec<Tx>) -> (Block, Certificate) {
        let c = &self.tip.committee;
        let block = Block {
            chunk: self.chunk,
            height: self.tip.height + 1,
            prev: self.tip.hash,
            view: 0,
            proposer: c.members[0].clone(),
            epoch: c.epoch,
            committee: c.digest(),
            time: 1_700_000_000 + self.tip.height,
            txs,
        };
        let cert = self.sign(&block);
        (block, cert)
    }

    fn sign(&self, block: &Block) -> Certificate {
        let hash = block.hash();
        let d = vote_digest(NET, self.chunk, block.view, block.height, Phase::Commit, &hash);
        let sigs = self.keys[..3].iter().map(|k| (k.peer().clone(), ByteBuf::from(k.sign(&d)))).collect();
        Certificate { chunk: self.chunk, height: block.height, view: block.view, block: hash, sigs }
    }

    /// Commit the next block (following a `Reconfigure` to `new_keys`).
    fn push(&mut self, store: &mut RocksStore, txs: Vec<Tx>, new_keys: Option<Vec<KeySigner>>) -> Block {
        let (block, cert) = self.next(txs);
        let mut committee = self.tip.committee.clone();
        for tx in &block.txs {
            if let Tx::Reconfigure { committee: m } = tx {
                committee = Committee { epoch: committee.epoch + 1, members: m.clone() };
            }
        }
        let tip = Tip { height: block.height, hash: block.hash(), committee };
        store.commit(&block, &cert, &tip).unwrap();
        self.tip = tip;
        if let Some(k) = new_keys {
            self.keys = k;
        }
        block
    }
}

/// A chain of height 6 on `chunk`, with a committee change at height 3
/// (keys 1..=4 hand over to keys 3..=6).
fn build_chain(store: &mut RocksStore, chunk: ChunkId) -> Chain {
    let mut chain = Chain::start(store, chunk);
    chain.push(store, vec![Tx::Put(rr("a.example.", 1, [192, 0, 2, 1]))], None);
    chain.push(store, vec![Tx::Put(rr("b.example.", 1, [192, 0, 2, 2]))], None);
    let next = signers(3..=6);
    chain.push(store, vec![Tx::Reconfigure { committee: members(&next) }], Some(next));
    chain.push(store, vec![Tx::Put(rr("c.example.", 28, [0x20, 1, 0xd, 0xb8]))], None);
    chain.push(store, vec![Tx::Delete { name: "a.example.".into(), rtype: 1 }], None);
    chain.push(store, vec![Tx::Put(rr("b.example.", 1, [192, 0, 2, 22]))], None);
    chain
}

/// Every file under `dir` (or `dir` itself if it is a file) with its bytes.
fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    if dir.is_file() {
        out.insert(String::new(), std::fs::read(dir).unwrap());
        return out;
    }
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let name = e.file_name().to_string_lossy().into_owned();
        if e.path().is_dir() {
            for (k, v) in snapshot(&e.path()) {
                out.insert(format!("{name}/{k}"), v);
            }
        } else {
            out.insert(name, std::fs::read(e.path()).unwrap());
        }
    }
    out
}

fn io_message(r: Result<RocksStore, StoreError>) -> String {
    match r {
        Err(StoreError::Io(m)) => m,
        Err(e) => panic!("expected an Io error, got {e:?}"),
        Ok(s) => panic!("expected an error, opened {s:?}"),
    }
}

#[test]
fn commit_votes_and_evidence_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger");
    let (chunk, other) = (ChunkId(7), ChunkId(2));
    let (tip, block3) = {
        let mut s = RocksStore::open(&path, NET).unwrap();
        assert_eq!(s.tip(chunk).unwrap(), None);
        assert_eq!(s.chunks().unwrap(), vec![]);
        let chain = build_chain(&mut s, chunk);
        Chain::start(&mut s, other);
        let mut log = VoteLog { view: 3, ..VoteLog::default() };
        log.record(Phase::Prepare, 3, 7, chain.tip.hash);
        s.save_votes(chunk, &log).unwrap();
        s.save_evidence(chunk, b"first").unwrap();
        s.save_evidence(other, b"elsewhere").unwrap();
        s.save_evidence(chunk, b"second").unwrap();
        (chain.tip.clone(), s.block(chunk, 3).unwrap().unwrap())
    };

    let s = RocksStore::open(&path, NET).unwrap();
    assert_eq!(s.network(), NET);
    assert_eq!(s.tip(chunk).unwrap(), Some(tip.clone()));
    assert_eq!(tip.height, 6);
    assert_eq!(tip.committee.epoch, 1);
    assert_eq!(s.chunks().unwrap(), vec![ChunkId(2), ChunkId(7)]);
    assert_eq!(s.block(chunk, 3).unwrap(), Some(block3));
    assert_eq!(s.block(chunk, 6).unwrap().unwrap().0.hash(), tip.hash);
    assert_eq!(s.block(chunk, 7).unwrap(), None);
    assert_eq!(s.block(ChunkId(8), 0).unwrap(), None);
    assert_eq!(s.rrset(chunk, "b.example.", 1).unwrap(), Some(rr("b.example.", 1, [192, 0, 2, 22])));
    assert_eq!(s.rrset(chunk, "c.example.", 28).unwrap(), Some(rr("c.example.", 28, [0x20, 1, 0xd, 0xb8])));
    assert_eq!(s.rrset(chunk, "c.example.", 1).unwrap(), None, "type is part of the key");
    assert_eq!(s.rrset(other, "b.example.", 1).unwrap(), None, "chunk is part of the key");
    let log = s.votes(chunk).unwrap().unwrap();
    assert_eq!(log.view, 3);
    assert_eq!(log.signed(Phase::Prepare, 3, 7), Some(tip.hash));
    assert_eq!(s.votes(other).unwrap(), None);
    assert_eq!(s.evidence(chunk).unwrap(), vec![b"first".to_vec(), b"second".to_vec()]);
    assert_eq!(s.evidence(other).unwrap(), vec![b"elsewhere".to_vec()]);
    assert_eq!(s.evidence(ChunkId(9)).unwrap(), Vec::<Vec<u8>>::new());
}

#[test]
fn delete_removes_the_record_durably() {
    let dir = tempfile::tempdir().unwrap();
    let chunk = ChunkId(1);
    {
        let mut s = RocksStore::open(dir.path(), NET).unwrap();
        let mut chain = Chain::start(&mut s, chunk);
        chain.push(&mut s, vec![Tx::Put(rr("x.example.", 1, [198, 51, 100, 1]))], None);
        assert!(s.rrset(chunk, "x.example.", 1).unwrap().is_some());
        chain.push(&mut s, vec![Tx::Delete { name: "x.example.".into(), rtype: 1 }], None);
        assert_eq!(s.rrset(chunk, "x.example.", 1).unwrap(), None);
        // Put and delete in one block: the later one wins.
        chain.push(
            &mut s,
            vec![Tx::Put(rr("y.example.", 1, [198, 51, 100, 2])), Tx::Delete { name: "y.example.".into(), rtype: 1 }],
            None,
        );
        assert_eq!(s.rrset(chunk, "y.example.", 1).unwrap(), None);
    }
    let s = RocksStore::open(dir.path(), NET).unwrap();
    assert_eq!(s.rrset(chunk, "x.example.", 1).unwrap(), None);
    assert_eq!(s.rrset(chunk, "y.example.", 1).unwrap(), None);
    assert_eq!(s.verify_chain(chunk, u64::MAX).unwrap(), 3);
}

#[test]
fn discarding_a_chain_forgets_it_durably_and_leaves_its_neighbours() {
    let dir = tempfile::tempdir().unwrap();
    // The chunks on either side share key prefixes' neighbourhood; the last
    // chunk id has no successor prefix to end a range at.
    let (before, chunk, after, last) = (ChunkId(6), ChunkId(7), ChunkId(8), ChunkId(u32::MAX));
    {
        let mut s = RocksStore::open(dir.path(), NET).unwrap();
        for c in [before, chunk, after, last] {
            build_chain(&mut s, c);
        }
        let mut log = VoteLog::default();
        log.record(Phase::Commit, 0, 7, Default::default());
        s.save_votes(chunk, &log).unwrap();
        s.save_evidence(chunk, b"kept").unwrap();
        s.discard_chain(chunk).unwrap();
        s.discard_chain(last).unwrap();
    }
    let s = RocksStore::open(dir.path(), NET).unwrap();
    assert_eq!(s.chunks().unwrap(), vec![before, after]);
    for gone in [chunk, last] {
        assert_eq!(s.tip(gone).unwrap(), None);
        assert_eq!(s.block(gone, 0).unwrap(), None);
        assert_eq!(s.block(gone, 6).unwrap(), None);
        assert_eq!(s.records(gone).unwrap(), Vec::<RRset>::new());
        assert_eq!(s.votes(gone).unwrap(), None, "votes bind to the discarded chain's blocks");
    }
    assert_eq!(s.evidence(chunk).unwrap(), vec![b"kept".to_vec()], "evidence stays");
    for kept in [before, after] {
        assert_eq!(s.verify_chain(kept, u64::MAX).unwrap(), 6);
        assert_eq!(s.rrset(kept, "b.example.", 1).unwrap(), Some(rr("b.example.", 1, [192, 0, 2, 22])));
    }
}

#[test]
fn verify_chain_accepts_a_signed_chain_across_a_committee_change() {
    let dir = tempfile::tempdir().unwrap();
    let chunk = ChunkId(5);
    {
        let mut s = RocksStore::open(dir.path(), NET).unwrap();
        build_chain(&mut s, chunk);
        assert_eq!(s.verify_chain(chunk, u64::MAX).unwrap(), 6);
    }
    let s = RocksStore::open(dir.path(), NET).unwrap();
    assert_eq!(s.verify_chain(chunk, u64::MAX).unwrap(), 6);
    assert_eq!(s.verify_chain(chunk, 2).unwrap(), 6);
    assert_eq!(s.verify_chain(chunk, 0).unwrap(), 6);
    match s.verify_chain(ChunkId(6), 10) {
        Err(StoreError::Corrupt { chunk: 6, height: 0, .. }) => {}
        r => panic!("a chunk without a chain: {r:?}"),
    }
}

/// Signatures of the wrong committee (or network) do not verify.
#[test]
fn verify_chain_checks_signatures_against_the_committee_in_force() {
    let dir = tempfile::tempdir().unwrap();
    let chunk = ChunkId(5);
    let mut s = RocksStore::open(dir.path(), NET).unwrap();
    let mut chain = build_chain(&mut s, chunk);
    // Height 7 signed by the old committee (keys 1..=3) after the handover.
    chain.keys = signers(1..=4);
    chain.push(&mut s, vec![Tx::Put(rr("d.example.", 1, [192, 0, 2, 4]))], None);
    match s.verify_chain(chunk, u64::MAX) {
        Err(StoreError::Corrupt { chunk: 5, height: 7, reason }) => assert!(reason.contains("certificate"), "{reason}"),
        r => panic!("expected corruption at 7: {r:?}"),
    }
}

#[test]
fn verify_chain_names_the_height_of_an_overwritten_block() {
    let dir = tempfile::tempdir().unwrap();
    let chunk = ChunkId(3);
    let mut s = RocksStore::open(dir.path(), NET).unwrap();
    build_chain(&mut s, chunk);
    let (mut block, cert) = s.block(chunk, 4).unwrap().unwrap();

    // A modified block under its old certificate.
    block.txs = vec![Tx::Put(rr("c.example.", 28, [6, 6, 6, 6]))];
    s.put_raw_block(chunk, 4, &cbor(&(&block, &cert))).unwrap();
    for tail in [u64::MAX, 1] {
        match s.verify_chain(chunk, tail) {
            Err(StoreError::Corrupt { chunk: 3, height: 4, .. }) => {}
            r => panic!("tail {tail}: expected corruption at height 4, got {r:?}"),
        }
    }
    let err = s.verify_chain(chunk, u64::MAX).unwrap_err().to_string();
    assert!(err.contains("chunk 3 height 4"), "{err}");

    // The modified block re-certified with forged signatures: links break
    // at the next block, and the forged signatures fail if in the tail.
    let mut forged = cert.clone();
    forged.block = block.hash();
    s.put_raw_block(chunk, 4, &cbor(&(&block, &forged))).unwrap();
    match s.verify_chain(chunk, u64::MAX) {
        Err(StoreError::Corrupt { height: 4, reason, .. }) => assert!(reason.contains("certificate"), "{reason}"),
        r => panic!("expected a bad certificate at 4: {r:?}"),
    }
    match s.verify_chain(chunk, 1) {
        Err(StoreError::Corrupt { height: 5, reason, .. }) => assert!(reason.contains("link"), "{reason}"),
        r => panic!("expected a broken link at 5: {r:?}"),
    }

    // Bytes that are not a block at all.
    s.put_raw_block(chunk, 2, b"\xff\x00garbage").unwrap();
    assert!(matches!(s.block(chunk, 2), Err(StoreError::Corrupt { chunk: 3, height: 2, .. })));
    assert!(matches!(s.verify_chain(chunk, 0), Err(StoreError::Corrupt { height: 2, .. })));

    // A valid block stored under the wrong height.
    let (b5, c5) = s.block(chunk, 5).unwrap().unwrap();
    s.put_raw_block(chunk, 2, &cbor(&(&b5, &c5))).unwrap();
    assert!(matches!(s.block(chunk, 2), Err(StoreError::Corrupt { height: 2, .. })));
}

#[test]
fn a_file_in_place_of_the_directory_is_refused_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger");
    std::fs::write(&path, b"not a database").unwrap();
    let msg = io_message(RocksStore::open(&path, NET));
    assert!(msg.contains(&path.display().to_string()), "{msg}");
    assert_eq!(std::fs::read(&path).unwrap(), b"not a database");
}

#[test]
fn a_garbage_current_file_is_refused_and_nothing_is_touched() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("CURRENT"), b"\x00\x01 garbage").unwrap();
    std::fs::write(dir.path().join("000003.log"), b"whatever").unwrap();
    let before = snapshot(dir.path());
    let msg = io_message(RocksStore::open(dir.path(), NET));
    assert!(msg.contains(&dir.path().display().to_string()), "{msg}");
    assert!(msg.contains("CURRENT"), "{msg}");
    assert_eq!(snapshot(dir.path()), before);

    // CURRENT that names a manifest holding garbage.
    std::fs::write(dir.path().join("CURRENT"), b"MANIFEST-000001\n").unwrap();
    std::fs::write(dir.path().join("MANIFEST-000001"), b"garbage garbage garbage").unwrap();
    let before = snapshot(dir.path());
    let msg = io_message(RocksStore::open(dir.path(), NET));
    assert!(msg.contains(&dir.path().display().to_string()), "{msg}");
    assert_eq!(snapshot(dir.path()), before);
}

#[test]
fn a_directory_of_other_files_is_refused_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("notes.txt"), b"keep me").unwrap();
    let before = snapshot(dir.path());
    let msg = io_message(RocksStore::open(dir.path(), NET));
    assert!(msg.contains(&dir.path().display().to_string()), "{msg}");
    assert!(msg.contains("not a RocksDB database"), "{msg}");
    assert_eq!(snapshot(dir.path()), before);
}

#[test]
fn another_network_is_refused_and_the_store_stays_intact() {
    let dir = tempfile::tempdir().unwrap();
    let chunk = ChunkId(4);
    {
        let mut s = RocksStore::open(dir.path(), NET).unwrap();
        build_chain(&mut s, chunk);
    }
    let msg = io_message(RocksStore::open(dir.path(), "dhtr-other"));
    assert!(msg.contains(&dir.path().display().to_string()), "{msg}");
    assert!(msg.contains("dhtr-other") && msg.contains(NET), "{msg}");
    let s = RocksStore::open(dir.path(), NET).unwrap();
    assert_eq!(s.verify_chain(chunk, u64::MAX).unwrap(), 6);
}

#[test]
fn a_store_in_use_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let _held = RocksStore::open(dir.path(), NET).unwrap();
    let msg = io_message(RocksStore::open(dir.path(), NET));
    assert!(msg.contains(&dir.path().display().to_string()), "{msg}");
}

#[test]
fn on_disk_layout_and_format_version() {
    let dir = tempfile::tempdir().unwrap();
    let chunk = ChunkId(0x0102_0304);
    {
        let mut s = RocksStore::open(dir.path(), NET).unwrap();
        build_chain(&mut s, chunk);
    }
    let families = ["blocks", "records", "meta", "evidence"];
    {
        let db = rocksdb::DB::open_cf(&rocksdb::Options::default(), dir.path(), families).unwrap();
        let blocks = db.cf_handle("blocks").unwrap();
        let records = db.cf_handle("records").unwrap();
        let meta = db.cf_handle("meta").unwrap();
        let mut key = vec![1, 2, 3, 4];
        key.extend_from_slice(&6u64.to_be_bytes());
        assert!(db.get_cf(blocks, &key).unwrap().is_some());
        let mut key = vec![1, 2, 3, 4, 0, 28];
        key.extend_from_slice(b"c.example.");
        assert!(db.get_cf(records, &key).unwrap().is_some());
        assert!(db.get_cf(meta, b"tip\x01\x02\x03\x04").unwrap().is_some());
        assert_eq!(db.get_cf(meta, b"format").unwrap(), Some(cbor(&1u32)));
        assert_eq!(db.get_cf(meta, b"network").unwrap(), Some(cbor(&NET)));
        // A future format.
        db.put_cf(meta, b"format", cbor(&2u32)).unwrap();
    }
    let msg = io_message(RocksStore::open(dir.path(), NET));
    assert!(msg.contains("format 2"), "{msg}");

    // A RocksDB database of something else (no ledger column families).
    let foreign = tempfile::tempdir().unwrap();
    {
        let mut o = rocksdb::Options::default();
        o.create_if_missing(true);
        let db = rocksdb::DB::open(&o, foreign.path()).unwrap();
        db.put(b"k", b"v").unwrap();
    }
    let before = snapshot(foreign.path());
    let msg = io_message(RocksStore::open(foreign.path(), NET));
    assert!(msg.contains("column family"), "{msg}");
    assert_eq!(snapshot(foreign.path()), before);
}
