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

use std::collections::BTreeSet;
use std::fs::{self, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::str::FromStr as _;
use std::time::{Duration, Instant};

use dhtr_monitoring::{LookupReport, StatusReport, get_lookup, get_status};
use dhtr_protocol::key::{NetworkParams, name_key};
use dhtr_protocol::ring::RingId;

/// How many nodes the cluster has.
const NODES: usize = 8;
/// The network name every node is started with.
const NETWORK: &str = "itest";
/// Log filter for the nodes.
const RUST_LOG: &str = "info,libp2p=warn";
/// How often a condition is polled.
const POLL: Duration = Duration::from_millis(250);
/// Bound for one node's HTTP endpoint to come up (and, for the first node,
/// to form its one-node ring).
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// Bound for the ring to converge (initially, after the crashes, after the rejoin).
const CONVERGE_TIMEOUT: Duration = Duration::from_secs(90);
/// Bound for the committee check, retries included.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(90);
/// Bound for a node to write its peer store.
const PEER_STORE_TIMEOUT: Duration = Duration::from_secs(90);
/// How many names are looked up on every node.
const NAMES: usize = 200;
/// How many lines of each node's log are printed when the test fails.
const LOG_TAIL_LINES: usize = 40;

#[test]
fn eight_processes_form_a_ring_repair_and_rejoin() {
    let mut cluster = Cluster::new(NODES);
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

// ---------------------------------------------------------------------------
// The cluster of node processes
// ---------------------------------------------------------------------------

/// What `dhtr id` says about a node: fixed for the life of its data dir.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Identity {
    /// libp2p PeerId, base58.
    peer_id: String,
    /// blake3 of the PeerId bytes.
    ring_id: RingId,
}

/// One node: addresses, data dir, log file and, while it runs, its process.
struct Node {
    /// 1-based index; decides the node's loopback address.
    index: usize,
    data_dir: PathBuf,
    log_path: PathBuf,
    identity: Identity,
    /// The running process, `None` when not started or killed.
    child: Option<Child>,
}

impl Node {
    fn label(&self) -> String {
        format!("n{}", self.index)
    }

    fn ip(&self) -> String {
        format!("127.0.0.{}", 10 + self.index)
    }

    fn listen_addr(&self) -> String {
        format!("/ip4/{}/tcp/4101", self.ip())
    }

    fn http_addr(&self) -> String {
        format!("{}:9464", self.ip())
    }

    /// The multiaddr other nodes bootstrap through.
    fn p2p_addr(&self) -> String {
        format!("{}/p2p/{}", self.listen_addr(), self.identity.peer_id)
    }

    fn is_running(&self) -> bool {
        self.child.is_some()
    }
}

/// Owns the node processes and their files. Dropping it SIGKILLs and reaps
/// every process; if the test is failing it also prints each node's log tail
/// and keeps the temporary directory.
struct Cluster {
    bin: PathBuf,
    /// `None` only while being dropped.
    dir: Option<tempfile::TempDir>,
    root: PathBuf,
    nodes: Vec<Node>,
}

impl Cluster {
    /// Creates `count` data dirs and their identities (`dhtr id`); starts nothing.
    fn new(count: usize) -> Cluster {
        let dir = tempfile::Builder::new().prefix("dhtr-ring-").tempdir().expect("create a temporary directory");
        let root = dir.path().to_owned();
        let mut cluster =
            Cluster { bin: PathBuf::from(env!("CARGO_BIN_EXE_dhtr")), dir: Some(dir), root, nodes: Vec::new() };
        for index in 1..=count {
            let data_dir = cluster.root.join(format!("n{index}"));
            fs::create_dir_all(&data_dir).unwrap_or_else(|e| panic!("create {}: {e}", data_dir.display()));
            let identity = read_identity(&cluster.bin, &data_dir);
            let log_path = cluster.root.join(format!("n{index}.log"));
            cluster.nodes.push(Node { index, data_dir, log_path, identity, child: None });
        }
        let ids: BTreeSet<&str> = cluster.nodes.iter().map(|n| n.identity.peer_id.as_str()).collect();
        assert_eq!(ids.len(), count, "every data dir must get its own identity");
        cluster
    }

    fn root(&self) -> &Path {
        &self.root
    }

    fn node(&self, index: usize) -> &Node {
        &self.nodes[index - 1]
    }

    fn running(&self) -> impl Iterator<Item = &Node> {
        self.nodes.iter().filter(|n| n.is_running())
    }

    /// Starts `dhtr run` for node `index`, appending its output to its log.
    fn start(&mut self, index: usize, bootstrap: Option<&str>) {
        let bin = self.bin.clone();
        let node = &mut self.nodes[index - 1];
        assert!(node.child.is_none(), "{} is already running", node.label());
        let mut log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&node.log_path)
            .unwrap_or_else(|e| panic!("open {}: {e}", node.log_path.display()));
        let how = bootstrap.map_or_else(|| "without --bootstrap".to_owned(), |b| format!("--bootstrap {b}"));
        // A marker only helps reading the log; failing to write it is harmless.
        let _ = writeln!(log, "===== test: starting {} {how} =====", node.label());
        let stderr = log.try_clone().expect("duplicate the log file handle");

        let mut command = Command::new(&bin);
        command
            .arg("run")
            .arg("--data-dir")
            .arg(&node.data_dir)
            .arg("--listen")
            .arg(node.listen_addr())
            .arg("--http-listen")
            .arg(node.http_addr())
            .arg("--network")
            .arg(NETWORK);
        if let Some(bootstrap) = bootstrap {
            command.arg("--bootstrap").arg(bootstrap);
        }
        clear_dhtr_env(&mut command);
        command
            .env("RUST_LOG", RUST_LOG)
            .env("RUST_BACKTRACE", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(stderr));
        let child =
            command.spawn().unwrap_or_else(|e| panic!("cannot start {} ({}): {e}", node.label(), bin.display()));
        node.child = Some(child);
    }

    /// SIGKILLs node `index` and reaps it.
    fn kill(&mut self, index: usize) {
        let node = &mut self.nodes[index - 1];
        let label = node.label();
        let mut child = node.child.take().unwrap_or_else(|| panic!("{label} is not running"));
        child.kill().unwrap_or_else(|e| panic!("SIGKILL {label}: {e}"));
        child.wait().unwrap_or_else(|e| panic!("reap {label}: {e}"));
        if let Ok(mut log) = OpenOptions::new().append(true).open(&node.log_path) {
            let _ = writeln!(log, "===== test: {label} killed with SIGKILL =====");
        }
    }

    /// Sends SIGTERM to node `index` (graceful leave) and waits for it to
    /// exit; returns its exit status.
    fn terminate(&mut self, index: usize) -> std::process::ExitStatus {
        let node = &mut self.nodes[index - 1];
        let label = node.label();
        let mut child = node.child.take().unwrap_or_else(|| panic!("{label} is not running"));
        let sent = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
        assert!(sent.is_ok_and(|s| s.success()), "kill -TERM {label}");
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            match child.try_wait() {
                Ok(Some(status)) => {
                    if let Ok(mut log) = OpenOptions::new().append(true).open(&node.log_path) {
                        let _ = writeln!(log, "===== test: {label} exited after SIGTERM: {status} =====");
                    }
                    return status;
                }
                Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
                _ => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!("{label} did not exit within 15 s of SIGTERM");
                }
            }
        }
    }

    /// Panics if a node that should be running has exited.
    fn assert_alive(&mut self) {
        for node in &mut self.nodes {
            let Some(child) = node.child.as_mut() else { continue };
            match child.try_wait() {
                Ok(None) => {}
                Ok(Some(status)) => {
                    node.child = None;
                    panic!("{} exited unexpectedly ({status}); see its log below", node.label());
                }
                Err(e) => panic!("cannot check whether {} is running: {e}", node.label()),
            }
        }
    }

    /// Waits until node `index` answers `/status` (and, if `joined`, reports
    /// that it has joined a ring); returns that status.
    fn wait_for_status(&mut self, index: usize, joined: bool) -> StatusReport {
        let http = self.node(index).http_addr();
        let result = wait_until(Instant::now() + START_TIMEOUT, || {
            self.assert_alive();
            let status = get_status(&http).map_err(|e| e.to_string())?;
            if joined && !status.joined {
                return Err("it answers but has not joined a ring".to_owned());
            }
            Ok(status)
        });
        result.unwrap_or_else(|e| panic!("n{index} ({http}) not ready within {} s: {e}", START_TIMEOUT.as_secs()))
    }

    /// Waits until every running node's successor and predecessor are the
    /// oracle's; returns the time since `since`. Panics with every node's
    /// view if that takes longer than [`CONVERGE_TIMEOUT`].
    fn wait_for_ring(&mut self, what: &str, since: Instant) -> Duration {
        let result = wait_until(Instant::now() + CONVERGE_TIMEOUT, || {
            self.assert_alive();
            self.check_ring()
        });
        match result {
            Ok(()) => since.elapsed(),
            Err(dump) => panic!(
                "{what}: the ring did not converge within {} s.\noracle ring order: {}\nlast view of each node:\n{dump}",
                CONVERGE_TIMEOUT.as_secs(),
                self.ring_order()
            ),
        }
    }

    /// One look at every running node's `/status`: `Ok` if all agree with
    /// the oracle, else a line per node describing its view.
    fn check_ring(&self) -> Result<(), String> {
        let ring = self.live_ring();
        let mut converged = true;
        let mut dump = String::new();
        for node in self.running() {
            let view = match get_status(&node.http_addr()) {
                Err(e) => {
                    converged = false;
                    format!("WAIT /status failed: {e}")
                }
                Ok(status) => {
                    self.assert_identity(node, &status);
                    let (want_succ, want_pred) = oracle_neighbours(&ring, &node.identity.ring_id);
                    let succ = status.successors.first().map(|p| p.peer_id.as_str());
                    let pred = status.predecessor.as_ref().map(|p| p.peer_id.as_str());
                    let ok = status.joined
                        && succ == Some(want_succ.peer_id.as_str())
                        && pred == Some(want_pred.peer_id.as_str());
                    converged &= ok;
                    let successors: Vec<&str> = status.successors.iter().map(|p| p.peer_id.as_str()).collect();
                    format!(
                        "{} joined={} successor={} predecessor={} successors={} connected={}",
                        if ok { "ok  " } else { "WAIT" },
                        status.joined,
                        self.compare(succ, want_succ),
                        self.compare(pred, want_pred),
                        self.labels(&successors),
                        status.connected_peers.len(),
                    )
                }
            };
            dump.push_str(&format!(
                "  {} ({}, ring {}): {view}\n",
                node.label(),
                node.http_addr(),
                node.identity.ring_id.short()
            ));
        }
        if converged { Ok(()) } else { Err(dump) }
    }

    /// Panics if `status` is not from `node` (wrong peer id, ring id or network).
    fn assert_identity(&self, node: &Node, status: &StatusReport) {
        let label = node.label();
        assert_eq!(status.peer_id, node.identity.peer_id, "{label}: /status peer_id differs from `dhtr id`");
        assert_eq!(
            parse_ring_id(&status.ring_id),
            Ok(node.identity.ring_id),
            "{label}: /status ring_id differs from `dhtr id`"
        );
        assert_eq!(status.network, NETWORK, "{label}: /status network");
    }

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

    /// Identities of the running nodes, sorted by ring id.
    fn live_ring(&self) -> Vec<Identity> {
        let mut ring: Vec<Identity> = self.running().map(|n| n.identity.clone()).collect();
        ring.sort_by_key(|a| a.ring_id);
        ring
    }

    /// The running nodes in ring order, e.g. `n4 (0a1b2c3d) → n1 (…) → …`.
    fn ring_order(&self) -> String {
        let ring = self.live_ring();
        let parts: Vec<String> =
            ring.iter().map(|i| format!("{} ({})", self.label_of(&i.peer_id), i.ring_id.short())).collect();
        parts.join(" → ")
    }

    /// `n5` for a cluster node's peer id, else the peer id itself.
    fn label_of(&self, peer_id: &str) -> String {
        self.nodes
            .iter()
            .find(|n| n.identity.peer_id == peer_id)
            .map_or_else(|| format!("unknown peer {peer_id}"), Node::label)
    }

    /// `[n1, n5, n7]`.
    fn labels(&self, peer_ids: &[&str]) -> String {
        let labels: Vec<String> = peer_ids.iter().map(|p| self.label_of(p)).collect();
        format!("[{}]", labels.join(", "))
    }

    /// `n5` if `got` is `want`, else e.g. `n3 (want n5)` or `none (want n5)`.
    fn compare(&self, got: Option<&str>, want: &Identity) -> String {
        let want_label = self.label_of(&want.peer_id);
        match got {
            Some(p) if p == want.peer_id => want_label,
            Some(p) => format!("{} (want {want_label})", self.label_of(p)),
            None => format!("none (want {want_label})"),
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // SIGKILL and reap everything first: nothing may outlive the test.
        for node in &mut self.nodes {
            if let Some(mut child) = node.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        if std::thread::panicking() {
            for node in &self.nodes {
                eprintln!(
                    "----- last {LOG_TAIL_LINES} lines of {} ({}) -----\n{}",
                    node.label(),
                    node.log_path.display(),
                    log_tail(&node.log_path, LOG_TAIL_LINES)
                );
            }
            if let Some(dir) = self.dir.take() {
                eprintln!("----- test files kept in {} -----", dir.keep().display());
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// Calls `attempt` every [`POLL`] until it succeeds or `deadline` passes
/// (at least once); on timeout returns the last error.
fn wait_until<T>(deadline: Instant, mut attempt: impl FnMut() -> Result<T, String>) -> Result<T, String> {
    loop {
        let error = match attempt() {
            Ok(value) => return Ok(value),
            Err(error) => error,
        };
        let now = Instant::now();
        if now >= deadline {
            return Err(error);
        }
        std::thread::sleep(POLL.min(deadline - now));
    }
}

/// Runs `dhtr id --data-dir DIR` and parses its `peer_id:` and `ring_id:`
/// lines; checks that the ring id is blake3 of the PeerId bytes.
fn read_identity(bin: &Path, data_dir: &Path) -> Identity {
    let mut command = Command::new(bin);
    clear_dhtr_env(&mut command);
    let output = command
        .arg("id")
        .arg("--data-dir")
        .arg(data_dir)
        .env("RUST_LOG", RUST_LOG)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {} id: {e}", bin.display()));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let context = || {
        format!(
            "`dhtr id --data-dir {}` ({}):\nstdout:\n{stdout}\nstderr:\n{}",
            data_dir.display(),
            output.status,
            String::from_utf8_lossy(&output.stderr)
        )
    };
    assert!(output.status.success(), "failed: {}", context());
    let field = |name: &str| {
        stdout
            .lines()
            .find_map(|line| line.trim().strip_prefix(name))
            .map(|value| value.trim().to_owned())
            .unwrap_or_else(|| panic!("no `{name}` line in the output of {}", context()))
    };
    let peer_id = field("peer_id:");
    let ring_id = parse_ring_id(&field("ring_id:")).unwrap_or_else(|e| panic!("{e} in {}", context()));
    let parsed = dhtr_bootstrap::PeerId::from_str(&peer_id)
        .unwrap_or_else(|e| panic!("peer_id {peer_id:?} is not a PeerId ({e}) in {}", context()));
    assert_eq!(ring_id, RingId::hash(&parsed.to_bytes()), "ring_id must be blake3(PeerId bytes) in {}", context());
    Identity { peer_id, ring_id }
}

/// Removes every `DHTR_*` variable (each flag of `dhtr` can come from one,
/// e.g. `DHTR_BOOTSTRAP`) from the child's environment, so only the flags
/// given by the test apply.
fn clear_dhtr_env(command: &mut Command) {
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("DHTR_") {
            command.env_remove(name);
        }
    }
}

/// A 64-hex-digit ring id.
fn parse_ring_id(hex: &str) -> Result<RingId, String> {
    let bytes = hex::decode(hex.trim()).map_err(|e| format!("ring id {hex:?} is not hex: {e}"))?;
    let bytes: [u8; 32] =
        bytes.try_into().map_err(|b: Vec<u8>| format!("ring id {hex:?} has {} bytes, not 32", b.len()))?;
    Ok(RingId(bytes))
}

/// The oracle's (successor, predecessor) of `me` in `ring` (sorted by ring
/// id, containing `me`): the next larger and next smaller ring ids, wrapping.
fn oracle_neighbours<'a>(ring: &'a [Identity], me: &RingId) -> (&'a Identity, &'a Identity) {
    let pos = ring.iter().position(|i| i.ring_id == *me).expect("a running node is in the live ring");
    let n = ring.len();
    (&ring[(pos + 1) % n], &ring[(pos + n - 1) % n])
}

/// The oracle's committee of the chunk starting at `start`: the first
/// `min(size, live)` nodes clockwise from `start`, i.e. the successor of
/// `start` (first ring id ≥ `start`, wrapping) and the nodes after it.
fn oracle_committee<'a>(ring: &'a [Identity], start: &RingId, size: usize) -> Vec<&'a Identity> {
    let first = ring.iter().position(|i| i.ring_id >= *start).unwrap_or(0);
    (0..size.min(ring.len())).map(|k| &ring[(first + k) % ring.len()]).collect()
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

/// The last `lines` lines of the file at `path`.
fn log_tail(path: &Path, lines: usize) -> String {
    match fs::read(path) {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            let all: Vec<&str> = text.lines().collect();
            all[all.len().saturating_sub(lines)..].join("\n")
        }
        Err(e) => format!("(cannot read {}: {e})", path.display()),
    }
}
