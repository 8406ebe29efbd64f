//! Eight real `dhtr` processes on loopback form a Chord ring, agree on chunk
//! committees, repair the ring after two crashes and take a restarted node
//! back without `--bootstrap`.
//!
//! Node i (1..=8) uses its own loopback address 127.0.0.(10+i): libp2p on TCP
//! port 4101, HTTP on port 9464, data dir `<tempdir>/n<i>`, log (stdout and
//! stderr) in `<tempdir>/n<i>.log`. The test talks to the nodes only through
//! their HTTP endpoints (`/status`, `/lookup`) and compares what they report
//! with an oracle computed from the ring ids of the live nodes:
//!
//! - the successor of node X is the live node with the next larger ring id
//!   (wrapping), its predecessor the one with the next smaller;
//! - the committee of a chunk is the first `n = 3f + 1` live nodes clockwise
//!   from the chunk's start (the successor of the start, then its successors).
//!
//! Every wait is bounded; times are printed, never asserted. The [`Cluster`]
//! SIGKILLs and reaps every process it started when it is dropped, so nothing
//! outlives a failing test, and prints the tail of each node's log then.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::{Cluster, Identity, Layout, Node, POLL, parse_ring_id, wait_until};
use dhtr_monitoring::{LookupReport, get_lookup};
use dhtr_protocol::key::{NetworkParams, name_key};
use dhtr_protocol::ring::RingId;

/// How many nodes the cluster has.
const NODES: usize = 8;
/// Bound for the committee check, retries included.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(90);
/// Bound for a node to write its peer store.
const PEER_STORE_TIMEOUT: Duration = Duration::from_secs(90);
/// How many names are looked up on every node.
const NAMES: usize = 200;

#[test]
fn eight_processes_form_a_ring_repair_and_rejoin() {
    let mut cluster = Cluster::new(NODES, Layout::new(10, 4101, 9464));
    println!("test files in {}", cluster.root().display());

    // Node 1 alone: a one-node ring.
    cluster.start(1, None);
    cluster.wait_for_status(1, true);

    // Nodes 2..=8 all at once, bootstrapping through node 1.
    let bootstrap = cluster.node(1).p2p_addr();
    let started = Instant::now();
    for index in 2..=NODES {
        cluster.start(index, Some(&bootstrap));
    }
    println!("oracle ring order: {}", cluster.ring_order());
    let took = cluster.wait_for_ring("8 nodes joining through n1", started);
    println!("ring of {NODES} nodes converged in {:.1} s", took.as_secs_f64());

    // Every node agrees with the oracle on the committee of every name.
    let names: Vec<String> = (0..NAMES).map(|k| format!("host{k}.example.org")).collect();
    cluster.check_committees(&names);

    // Crash nodes 3 and 6. Node 3 is restarted later without --bootstrap, so
    // first make sure it has written a peer store naming a survivor.
    let (crash_a, crash_b) = (3, 6);
    let survivors: Vec<usize> = (1..=NODES).filter(|&i| i != crash_a && i != crash_b).collect();
    cluster.wait_for_peer_store(crash_a, &survivors);
    let old_peer_id = cluster.node(crash_a).identity.peer_id.clone();
    let crashed = Instant::now();
    cluster.kill(crash_a);
    cluster.kill(crash_b);
    println!("SIGKILLed n{crash_a} and n{crash_b}; oracle ring order: {}", cluster.ring_order());
    let took = cluster.wait_for_ring("repair after SIGKILL of n3 and n6", crashed);
    println!("ring of {} survivors repaired in {:.1} s", survivors.len(), took.as_secs_f64());

    // Restart node 3 from its data dir alone: same identity, rejoins through
    // its peer store.
    let restarted = Instant::now();
    cluster.start(crash_a, None);
    let status = cluster.wait_for_status(crash_a, false);
    assert_eq!(status.peer_id, old_peer_id, "n{crash_a} restarted from its data dir must keep its identity (peer id)");
    println!("n{crash_a} restarted without --bootstrap; oracle ring order: {}", cluster.ring_order());
    let took = cluster.wait_for_ring("n3 rejoining from its peer store", restarted);
    println!("n{crash_a} rejoined; ring of {} nodes converged in {:.1} s", NODES - 1, took.as_secs_f64());

    // A graceful leave: SIGTERM makes node 5 hand its neighbours over and
    // exit cleanly; the ring is whole again without failure detection.
    let leaving = Instant::now();
    let status = cluster.terminate(5);
    assert!(status.success(), "n5 exits cleanly after SIGTERM, got {status}");
    let took = cluster.wait_for_ring("n5 leaving gracefully", leaving);
    println!("n5 left gracefully; ring of {} nodes consistent {:.1} s after SIGTERM", NODES - 2, took.as_secs_f64());
}

/// Ring-specific checks.
impl Cluster {
    /// Looks every name up on every running node and checks that all nodes
    /// report the oracle's committee. Names that fail (lookup errors or a
    /// wrong committee, e.g. right after convergence) are retried in rounds
    /// until [`LOOKUP_TIMEOUT`].
    fn check_committees(&mut self, names: &[String]) {
        let params = NetworkParams::default();
        let started = Instant::now();
        let deadline = started + LOOKUP_TIMEOUT;
        let mut pending: Vec<&str> = names.iter().map(String::as_str).collect();
        let mut rounds = 0;
        let (mut hops, mut millis) = (Vec::new(), Vec::new());
        loop {
            self.assert_alive();
            rounds += 1;
            let ring = self.live_ring();
            let nodes: Vec<&Node> = self.running().collect();
            let answers = lookup_on_every_node(&nodes, &pending);
            let mut failures = Vec::new();
            let mut retry = Vec::new();
            for (j, &name) in pending.iter().enumerate() {
                let per_node: Vec<(&Node, &Result<LookupReport, String>)> =
                    nodes.iter().zip(&answers).map(|(&node, of_node)| (node, &of_node[j])).collect();
                match self.check_lookup(name, &per_node, &ring, &params) {
                    Ok(()) => {
                        for report in per_node.iter().filter_map(|(_, a)| a.as_ref().ok()) {
                            hops.push(report.hops);
                            millis.push(report.duration_ms);
                        }
                    }
                    Err(e) => {
                        failures.push(format!("  {name}: {e}"));
                        retry.push(name);
                    }
                }
            }
            if retry.is_empty() {
                break;
            }
            if Instant::now() >= deadline {
                let shown = failures.len().min(10);
                panic!(
                    "committees still wrong after {} s ({rounds} rounds) for {} of {} names; first {shown}:\n{}\n\
                     oracle ring order: {}",
                    LOOKUP_TIMEOUT.as_secs(),
                    failures.len(),
                    names.len(),
                    failures[..shown].join("\n"),
                    self.ring_order()
                );
            }
            println!("lookup round {rounds}: {} of {} names to retry, e.g.\n{}", retry.len(), names.len(), failures[0]);
            pending = retry;
            std::thread::sleep(POLL);
        }
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
        let hops_f: Vec<f64> = hops.iter().map(|&h| f64::from(h)).collect();
        println!(
            "committees of {} names agree with the oracle on all {} nodes: {:.1} s, {rounds} round(s); \
             hops mean {:.2} max {}; node-reported lookup time mean {:.1} ms max {:.1} ms",
            names.len(),
            self.running().count(),
            started.elapsed().as_secs_f64(),
            mean(&hops_f),
            hops.iter().max().copied().unwrap_or(0),
            mean(&millis),
            millis.iter().copied().fold(0.0, f64::max),
        );
    }

    /// Checks the answers of every node for `name`: the key, chunk and chunk
    /// start match our own computation (a mismatch there never heals: panic),
    /// and every node reports the same committee of distinct members, equal
    /// to the oracle's (`Err` otherwise: retried).
    fn check_lookup(
        &self,
        name: &str,
        per_node: &[(&Node, &Result<LookupReport, String>)],
        ring: &[Identity],
        params: &NetworkParams,
    ) -> Result<(), String> {
        let key = name_key(name).unwrap_or_else(|e| panic!("{name} is not a valid name: {e}"));
        let chunk = params.chunk_of(&key);
        let start = params.chunk_start(chunk);
        let want: Vec<&str> =
            oracle_committee(ring, &start, params.committee_size()).iter().map(|i| i.peer_id.as_str()).collect();
        let mut first: Option<(String, Vec<&str>)> = None;
        for &(node, answer) in per_node {
            let label = node.label();
            let report = answer.as_ref().map_err(|e| format!("{label}: lookup failed: {e}"))?;
            assert_eq!(report.chunk_bits, params.chunk_bits, "{label}: chunk_bits of {name}");
            assert_eq!(parse_ring_id(&report.key), Ok(key), "{label}: key of {name}");
            assert_eq!(report.chunk, chunk.0, "{label}: chunk of {name}");
            assert_eq!(parse_ring_id(&report.chunk_start), Ok(start), "{label}: chunk_start of {name}");
            for member in &report.committee {
                if let Some(known) = self.nodes.iter().find(|n| n.identity.peer_id == member.peer_id) {
                    assert_eq!(
                        parse_ring_id(&member.ring_id),
                        Ok(known.identity.ring_id),
                        "{label}: ring id of committee member {} for {name}",
                        known.label()
                    );
                }
            }

            let got: Vec<&str> = report.committee.iter().map(|p| p.peer_id.as_str()).collect();
            let distinct: BTreeSet<&str> = got.iter().copied().collect();
            if distinct.len() != want.len() || got.len() != want.len() {
                return Err(format!(
                    "{label}: committee {} has {} members ({} distinct), want {} distinct",
                    self.labels(&got),
                    got.len(),
                    distinct.len(),
                    want.len()
                ));
            }
            if let Some((first_label, first_got)) = &first {
                if *first_got != got {
                    return Err(format!(
                        "{first_label} and {label} disagree: {} vs {}",
                        self.labels(first_got),
                        self.labels(&got)
                    ));
                }
            } else {
                first = Some((label.clone(), got.clone()));
            }
            if got != want {
                return Err(format!(
                    "{label}: committee {} but the oracle says {} (chunk {} starts at {})",
                    self.labels(&got),
                    self.labels(&want),
                    chunk.0,
                    start.short()
                ));
            }
        }
        Ok(())
    }

    /// Waits until node `index` has saved a peer store naming at least one
    /// of the nodes `survivors`, so it can rejoin without `--bootstrap`.
    fn wait_for_peer_store(&mut self, index: usize, survivors: &[usize]) {
        let dir = self.node(index).data_dir.clone();
        let wanted: Vec<String> = survivors.iter().map(|&i| self.node(i).identity.peer_id.clone()).collect();
        let result = wait_until(Instant::now() + PEER_STORE_TIMEOUT, || {
            self.assert_alive();
            let store = dhtr_bootstrap::PeerStore::open_in_dir(&dir).map_err(|e| e.to_string())?;
            let known: Vec<String> = store.candidates(usize::MAX).into_iter().map(|(p, _)| p.to_string()).collect();
            let useful = known.iter().filter(|p| wanted.contains(p)).count();
            if useful == 0 {
                return Err(format!("it names {} peers, none of them a survivor", known.len()));
            }
            Ok((known.len(), useful))
        });
        match result {
            Ok((known, useful)) => println!("n{index} peer store: {known} peers, {useful} of them survivors"),
            Err(e) => panic!(
                "n{index} wrote no usable {} within {} s: {e}",
                dir.join(dhtr_bootstrap::store::FILE_NAME).display(),
                PEER_STORE_TIMEOUT.as_secs()
            ),
        }
    }
}

/// Looks each of `names` up on each of `nodes` (one thread per node);
/// `result[node][name]`.
fn lookup_on_every_node(nodes: &[&Node], names: &[&str]) -> Vec<Vec<Result<LookupReport, String>>> {
    std::thread::scope(|scope| {
        let workers: Vec<_> = nodes
            .iter()
            .map(|node| {
                let http = node.http_addr();
                scope.spawn(move || {
                    names.iter().map(|name| get_lookup(&http, name).map_err(|e| e.to_string())).collect::<Vec<_>>()
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().expect("a lookup thread panicked")).collect()
    })
}

/// The oracle's committee of the chunk starting at `start`: the first
/// `min(size, live)` nodes clockwise from `start`, i.e. the successor of
/// `start` (first ring id ≥ `start`, wrapping) and the nodes after it.
fn oracle_committee<'a>(ring: &'a [Identity], start: &RingId, size: usize) -> Vec<&'a Identity> {
    let first = ring.iter().position(|i| i.ring_id >= *start).unwrap_or(0);
    (0..size.min(ring.len())).map(|k| &ring[(first + k) % ring.len()]).collect()
}
