//! Real storage crash test: a process committing under load on RocksDB is
//! killed with SIGKILL at random moments; after every restart each member's
//! chain verifies (hash links and certificates), the members agree, and
//! every commit that had been acknowledged (printed after it was durable)
//! is there.
#![cfg(feature = "rocksdb")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::{Rng, SeedableRng};

const BIN: &str = env!("CARGO_BIN_EXE_dhtr-ledger-load");

#[test]
fn acknowledged_commits_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x5eed);
    let mut acked: HashMap<u64, String> = HashMap::new();
    let rounds = 8;
    for round in 0..rounds {
        let mut child = Command::new(BIN)
            .args(["--dir", dir.path().to_str().unwrap(), "--seconds", "30"])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        std::thread::sleep(Duration::from_millis(rng.random_range(150..1200)));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        reader.join().unwrap();
        let lines = lines.lock().unwrap();
        let mut n = 0;
        for l in lines.iter() {
            let mut it = l.split_whitespace();
            if let (Some("ACK"), Some(h), Some(hash)) = (it.next(), it.next(), it.next()) {
                let h: u64 = h.parse().unwrap();
                if let Some(prev) = acked.insert(h, hash.to_string()) {
                    assert_eq!(prev, hash, "height {h} acknowledged twice with different blocks");
                }
                n += 1;
            }
        }
        println!("round {round}: {n} commits acknowledged before SIGKILL");
        verify(dir.path(), &acked);
    }
    assert!(acked.len() > 20, "the load made progress across restarts: {}", acked.len());
}

/// Run `--verify` and check chains against each other and the acknowledgements.
fn verify(dir: &std::path::Path, acked: &HashMap<u64, String>) {
    let out = Command::new(BIN).args(["--dir", dir.to_str().unwrap(), "--verify"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "a chain failed verification:\n{text}\n{}", String::from_utf8_lossy(&out.stderr));
    let mut chains: HashMap<String, HashMap<u64, String>> = HashMap::new();
    for l in text.lines() {
        let f: Vec<&str> = l.split_whitespace().collect();
        if let ["CHAIN", m, h, hash] = f[..] {
            chains.entry(m.to_string()).or_default().insert(h.parse().unwrap(), hash.to_string());
        }
    }
    let m0 = &chains["m0"];
    for (h, hash) in acked {
        assert_eq!(m0.get(h), Some(hash), "acknowledged commit at height {h} lost after SIGKILL");
    }
    for (m, chain) in &chains {
        for (h, hash) in chain {
            if let Some(other) = m0.get(h) {
                assert_eq!(other, hash, "{m} and m0 disagree at height {h}");
            }
        }
    }
}
