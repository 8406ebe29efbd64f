//! `dhtr-ledger-bench` (`make bench`): commit latency and throughput of one
//! committee of 4 replicas in one process, on memory and on RocksDB with
//! and without fsync, and the cost of ed25519 verification one by one
//! versus in batches. Prints a table; every figure comes from this run.
//!
//! Usage: `dhtr-ledger-bench [--quick]`

use std::time::{Duration, Instant};

use dhtr_ledger::local::{LocalCommittee, NETWORK};
use dhtr_ledger::rocks::RocksStore;
use dhtr_ledger::sign::{KeySigner, Signer, key_of};
use dhtr_ledger::{Digest, MemStore, RRset, Store, Tx};
use dhtr_protocol::ChunkId;
use serde_bytes::ByteBuf;

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let (seq, batch) = if quick { (100, 1000) } else { (500, 5000) };
    println!("one committee of 4, in-process, every transaction validated; {seq} sequential commits, {batch} batched");
    println!("{:<18} {:>9} {:>9} {:>12} {:>10}", "store", "p50 ms", "p99 ms", "tx/s", "blocks/s");
    row("memory", seq, batch, |_| Some(MemStore::new()));
    let dir = std::env::temp_dir().join(format!("dhtr-bench-{}", std::process::id()));
    for (name, durable) in [("rocksdb fsync", true), ("rocksdb no fsync", false)] {
        let sub = dir.join(name.replace(' ', "-"));
        row(name, seq, batch, |i| {
            let mut s = RocksStore::open(&sub.join(format!("m{i}")), NETWORK).ok()?;
            s.set_durable(durable);
            Some(s)
        });
    }
    let _ = std::fs::remove_dir_all(&dir);
    signatures(if quick { 2000 } else { 20000 });
}

fn put(k: u64) -> Tx {
    Tx::Put(RRset {
        name: format!("bench{k}.example."),
        rtype: 1,
        class: 1,
        ttl: 300,
        rdata: vec![ByteBuf::from(vec![10, 0, (k >> 8) as u8, k as u8])],
        fetched_at: 0,
    })
}

fn row<S: Store>(name: &str, seq: usize, batch: usize, mut open: impl FnMut(usize) -> Option<S>) {
    let stores: Option<Vec<S>> = (0..4).map(&mut open).collect();
    let Some(stores) = stores else {
        println!("{name:<18} cannot open the store");
        return;
    };
    let Ok(mut c) = LocalCommittee::open(ChunkId(1), stores) else {
        println!("{name:<18} cannot open the committee");
        return;
    };
    // Latency: one transaction at a time, submit to commit at member 0.
    let mut lat = Vec::with_capacity(seq);
    for k in 0..seq as u64 {
        let t0 = Instant::now();
        c.submit(put(k));
        c.run_until_idle();
        if !c.take_commits().is_empty() {
            lat.push(t0.elapsed());
        }
    }
    lat.sort();
    let pct = |p: f64| lat.get(((lat.len().max(1) - 1) as f64 * p) as usize).copied().unwrap_or_default();
    // Throughput: many transactions queued at once, batched into blocks.
    let t0 = Instant::now();
    for k in 0..batch as u64 {
        c.submit(put(1_000_000 + k));
    }
    c.run_until_idle();
    let commits = c.take_commits();
    let txs: usize = commits.iter().map(|(b, _)| b.txs.len()).sum();
    let secs = t0.elapsed().as_secs_f64();
    println!(
        "{name:<18} {:>9.3} {:>9.3} {:>12.0} {:>10.0}",
        ms(pct(0.5)),
        ms(pct(0.99)),
        txs as f64 / secs,
        commits.len() as f64 / secs
    );
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn signatures(n: usize) {
    let signer = KeySigner::from_secret([9; 32]);
    let Some(key) = key_of(signer.peer()) else { return };
    let msgs: Vec<Digest> = (0..n).map(|i| Digest::of("bench", &i.to_be_bytes())).collect();
    let sigs: Vec<ed25519_dalek::Signature> =
        msgs.iter().filter_map(|m| ed25519_dalek::Signature::from_slice(&signer.sign(m)).ok()).collect();
    let t0 = Instant::now();
    let ok = msgs.iter().zip(&sigs).filter(|(m, s)| key.verify_strict(&m.0, s).is_ok()).count();
    let single = t0.elapsed().as_secs_f64() * 1e6 / n as f64;
    let t0 = Instant::now();
    let mut batched = 0;
    for (ms, ss) in msgs.chunks(64).zip(sigs.chunks(64)) {
        let m: Vec<&[u8]> = ms.iter().map(|d| &d.0[..]).collect();
        let keys = vec![key; ss.len()];
        if ed25519_dalek::verify_batch(&m, ss, &keys).is_ok() {
            batched += ss.len();
        }
    }
    let batch = t0.elapsed().as_secs_f64() * 1e6 / n as f64;
    println!(
        "ed25519 verify: single {single:.1} µs/signature ({ok}/{n} ok), batches of 64 {batch:.1} µs/signature ({batched}/{n} ok), ratio {:.2}",
        single / batch
    );
}
