//! Commit latency and throughput of one committee of 4 real `dhtr`
//! processes over loopback libp2p, with and without fsync (`make bench`).
//!
//! Four nodes run on 127.0.0.81–84 with `--test-hooks`; in a ring of four
//! every chunk's committee is all of them. Records are names chosen to fall
//! in one chunk, so the figures are those of a steady chain (its genesis is
//! made by a warm-up record). Latency: one record at a time, from the HTTP
//! submission to the block appearing in `/chain` of the node it was
//! submitted through (polled every 2 ms). Throughput: many records submitted
//! at once from 8 threads, until all are in the chain.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use dhtr_monitoring::{TxReport, get_chain, get_status, post_test_submit};
use dhtr_protocol::key::{NetworkParams, name_key};

const NODES: usize = 4;
const POLL: Duration = Duration::from_millis(2);
const WAIT: Duration = Duration::from_secs(60);

struct Cluster {
    children: Vec<Child>,
    _dir: tempfile::TempDir,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn http(i: usize) -> String {
    format!("127.0.0.{}:9501", 80 + i)
}

fn start(bin: &Path, fsync: bool) -> Result<Cluster> {
    let dir = tempfile::tempdir()?;
    let cfg = dir.path().join("bench.toml");
    std::fs::write(&cfg, format!("network = \"bench\"\ntest_hooks = true\n[ledger]\nfsync = {fsync}\n"))?;
    let mut cluster = Cluster { children: Vec::new(), _dir: dir };
    let mut bootstrap: Option<String> = None;
    for i in 1..=NODES {
        let data = cluster._dir.path().join(format!("n{i}"));
        let listen = format!("/ip4/127.0.0.{}/tcp/4401", 80 + i);
        let log = std::fs::File::create(cluster._dir.path().join(format!("n{i}.log")))?;
        let mut cmd = Command::new(bin);
        cmd.args(["run", "--test-network", "--config"]).arg(&cfg).arg("--data-dir").arg(&data);
        let dns = format!("127.0.0.{}:0", 80 + i);
        cmd.args(["--listen", &listen, "--http-listen", &http(i), "--dns-listen", &dns, "--log", "warn"]);
        if let Some(b) = &bootstrap {
            cmd.args(["--bootstrap", b]);
        }
        cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::from(log));
        cluster.children.push(cmd.spawn().with_context(|| format!("cannot start {}", bin.display()))?);
        let status = wait(|| get_status(&http(i)).ok().filter(|s| s.joined))?;
        if bootstrap.is_none() {
            bootstrap = Some(format!("{listen}/p2p/{}", status.peer_id));
        }
    }
    // Every node knows the three others as successors: a ring of four.
    wait(|| (1..=NODES).all(|i| get_status(&http(i)).is_ok_and(|s| s.successors.len() >= NODES - 1)).then_some(()))?;
    Ok(cluster)
}

fn wait<T>(mut f: impl FnMut() -> Option<T>) -> Result<T> {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(v) = f() {
            return Ok(v);
        }
        if Instant::now() > deadline {
            bail!("gave up waiting after {} s", WAIT.as_secs());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Names (canonical) whose keys fall in `chunk`.
fn names_in(chunk: u32, count: usize, tag: &str) -> Vec<String> {
    let params = NetworkParams::default();
    (0u64..)
        .map(|k| format!("{tag}{k}.bench.test."))
        .filter(|n| name_key(n).is_ok_and(|key| params.chunk_of(&key).0 == chunk))
        .take(count)
        .collect()
}

/// Records of `chunk` committed at node `i` (names of `Put`s), and its height.
fn committed(i: usize, chunk: u32) -> (Vec<String>, u64) {
    let mut names = Vec::new();
    let mut from = 0;
    let mut height = 0;
    while let Ok(c) = get_chain(&http(i), chunk, from, 256) {
        height = c.height;
        for b in &c.blocks {
            for t in &b.txs {
                if let TxReport::Put { name, .. } = t {
                    names.push(name.clone());
                }
            }
        }
        match c.blocks.last() {
            Some(b) if b.height < c.height => from = b.height + 1,
            _ => break,
        }
    }
    (names, height)
}

fn wait_committed(i: usize, chunk: u32, name: &str, from: u64) -> Result<u64> {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Ok(c) = get_chain(&http(i), chunk, from, 64) {
            let found =
                c.blocks.iter().any(|b| b.txs.iter().any(|t| matches!(t, TxReport::Put { name: n, .. } if n == name)));
            if found {
                return Ok(c.height);
            }
        }
        if Instant::now() > deadline {
            bail!("{name} not committed at node {i} within {} s", WAIT.as_secs());
        }
        std::thread::sleep(POLL);
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(idx).copied().unwrap_or_default()
}

fn run(bin: &Path, fsync: bool, latency_records: usize, burst: usize) -> Result<()> {
    let _cluster = start(bin, fsync)?;
    let chunk = 1234;
    let warm = names_in(chunk, 1, "warm");
    for name in &warm {
        wait(|| post_test_submit(&http(1), name).ok())?;
        wait_committed(1, chunk, name, 0)?;
    }
    let mut height = committed(1, chunk).1;
    let names = names_in(chunk, latency_records, "lat");
    let mut lat = Vec::new();
    for (k, name) in names.iter().enumerate() {
        let via = 1 + k % NODES;
        let t0 = Instant::now();
        post_test_submit(&http(via), name).map_err(|e| anyhow::anyhow!("{e}"))?;
        height = wait_committed(via, chunk, name, height)?;
        lat.push(t0.elapsed());
    }
    lat.sort();
    let burst_names = names_in(chunk, burst, "tput");
    let t0 = Instant::now();
    std::thread::scope(|s| {
        for part in burst_names.chunks(burst.div_ceil(8)) {
            s.spawn(move || {
                for (k, name) in part.iter().enumerate() {
                    let _ = post_test_submit(&http(1 + k % NODES), name);
                }
            });
        }
    });
    let deadline = Instant::now() + WAIT;
    let (done, final_height) = loop {
        let (have, h) = committed(1, chunk);
        let done = burst_names.iter().filter(|n| have.contains(n)).count();
        if done == burst || Instant::now() > deadline {
            break (done, h);
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let took = t0.elapsed();
    println!(
        "| loopback libp2p, 4 processes | {} | {:.2} ms | {:.2} ms | {:.0} tx/s ({done}/{burst} in {:.2} s, {} blocks) |",
        if fsync { "on" } else { "off" },
        percentile(&lat, 0.5).as_secs_f64() * 1e3,
        percentile(&lat, 0.99).as_secs_f64() * 1e3,
        done as f64 / took.as_secs_f64(),
        took.as_secs_f64(),
        final_height.saturating_sub(height),
    );
    Ok(())
}

fn main() -> Result<()> {
    let bin = std::env::args().nth(1).map(PathBuf::from).unwrap_or_else(|| {
        std::env::current_exe().ok().and_then(|p| p.parent().map(|d| d.join("dhtr"))).unwrap_or_default()
    });
    let latency_records = 200;
    let burst = 1000;
    println!(
        "commit latency ({latency_records} sequential records) and throughput ({burst} records at once), one chunk"
    );
    println!("| setup | fsync | p50 | p99 | throughput |");
    println!("| --- | --- | --- | --- | --- |");
    for fsync in [true, false] {
        run(&bin, fsync, latency_records, burst)?;
    }
    Ok(())
}
