//! `dhtr-ledger-load`: a committee of 4 replicas on RocksDB in one process,
//! committing under load, for the crash test. It prints `ACK <height>
//! <hash>` once member 0's commit of a block is durable, so a test can kill
//! it at any moment and check, after a restart, that every acknowledged
//! commit is still there. `--verify` checks every member's chain instead.
//!
//! Usage: `dhtr-ledger-load --dir DIR [--seconds N] [--verify]`

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use dhtr_ledger::local::{LocalCommittee, NETWORK};
use dhtr_ledger::rocks::RocksStore;
use dhtr_ledger::{Config, Store, Tx};
use dhtr_protocol::ChunkId;
use serde_bytes::ByteBuf;

const MEMBERS: usize = 4;
const CHUNK: ChunkId = ChunkId(1);

fn main() -> ExitCode {
    let mut dir = None;
    let mut verify = false;
    let mut seconds = 60u64;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--dir" => dir = args.next().map(PathBuf::from),
            "--verify" => verify = true,
            "--seconds" => seconds = args.next().and_then(|s| s.parse().ok()).unwrap_or(seconds),
            _ => {
                eprintln!("usage: dhtr-ledger-load --dir DIR [--seconds N] [--verify]");
                return ExitCode::from(2);
            }
        }
    }
    let Some(dir) = dir else {
        eprintln!("--dir is required");
        return ExitCode::from(2);
    };
    let mut stores = Vec::new();
    for i in 0..MEMBERS {
        match RocksStore::open(&dir.join(format!("m{i}")), NETWORK) {
            Ok(s) => stores.push(s),
            Err(e) => {
                eprintln!("cannot open member {i}: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    if verify { check(&stores) } else { load(stores, Duration::from_secs(seconds)) }
}

/// Print every member's verified chain: `CHAIN m<i> <height> <hash>` per block.
fn check(stores: &[RocksStore]) -> ExitCode {
    for (i, s) in stores.iter().enumerate() {
        let tip = match s.verify_chain(CHUNK, u64::MAX) {
            Ok(t) => t,
            Err(e) => {
                println!("BAD m{i} {e}");
                return ExitCode::FAILURE;
            }
        };
        for h in 0..=tip {
            match s.block(CHUNK, h) {
                Ok(Some((b, _))) => println!("CHAIN m{i} {h} {}", b.hash()),
                other => {
                    println!("BAD m{i} height {h}: {other:?}");
                    return ExitCode::FAILURE;
                }
            }
        }
    }
    ExitCode::SUCCESS
}

fn load(stores: Vec<RocksStore>, limit: Duration) -> ExitCode {
    let cfg = Config { view_timeout: Duration::from_millis(200), ..Config::default() };
    let mut committee = match LocalCommittee::open_with(CHUNK, stores, cfg) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("cannot open the committee: {e}");
            return ExitCode::FAILURE;
        }
    };
    // Continue numbering after what member 0 already committed.
    let mut k: u64 = committee.height() * 1000;
    let started = Instant::now();
    let mut out = std::io::stdout().lock();
    while started.elapsed() < limit {
        for _ in 0..8 {
            k += 1;
            committee.submit(put(k));
        }
        committee.run_until_idle();
        let mut acked = committee.take_commits();
        if acked.is_empty() {
            // Stuck after a restart (a proposal signed before the crash):
            // let the view-change timer do its work.
            std::thread::sleep(Duration::from_millis(20));
            committee.tick();
            acked = committee.take_commits();
        }
        for (b, _) in acked {
            if writeln!(out, "ACK {} {}", b.height, b.hash()).and_then(|_| out.flush()).is_err() {
                return ExitCode::FAILURE;
            }
        }
    }
    ExitCode::SUCCESS
}

fn put(k: u64) -> Tx {
    Tx::Put(dhtr_ledger::RRset {
        name: format!("load{k}.example."),
        rtype: 1,
        class: 1,
        ttl: 300,
        rdata: vec![ByteBuf::from(k.to_be_bytes()[4..].to_vec())],
        fetched_at: 0,
    })
}
