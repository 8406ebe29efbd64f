//! The cluster of real `dhtr` processes the process tests share: node i
//! (1-based) runs on its own loopback address 127.0.0.(base + i), with a
//! data dir and a log file in a temporary directory. Dropping the
//! [`Cluster`] SIGKILLs and reaps every process it started and, when the
//! test is failing, prints each node's log tail and keeps the files.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::fs::{self, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::str::FromStr as _;
use std::time::{Duration, Instant};

use dhtr_monitoring::{StatusReport, get_status};

pub mod hierarchy;
pub mod raw;
use dhtr_protocol::ring::RingId;

/// The network name every node is started with.
pub const NETWORK: &str = "itest";
/// Log filter for the nodes.
pub const RUST_LOG: &str = "info,libp2p=warn";
/// How often a condition is polled.
pub const POLL: Duration = Duration::from_millis(250);
/// Bound for one node's HTTP endpoint to come up (and, for the first node,
/// to form its one-node ring).
pub const START_TIMEOUT: Duration = Duration::from_secs(60);
/// Bound for the ring to converge.
pub const CONVERGE_TIMEOUT: Duration = Duration::from_secs(90);
/// How many lines of each node's log are printed when the test fails.
pub const LOG_TAIL_LINES: usize = 40;

/// Where a cluster's nodes listen, and flags every node gets.
#[derive(Clone, Debug)]
pub struct Layout {
    /// Node i uses 127.0.0.(ip_base + i).
    pub ip_base: u8,
    /// libp2p TCP port.
    pub port: u16,
    /// HTTP port.
    pub http_port: u16,
    /// Extra `dhtr run` flags.
    pub extra_args: Vec<String>,
    /// DNS port on each node's address (`--dns-listen IP:PORT`), if set.
    pub dns_port: Option<u16>,
    /// Flags naming the network, replacing `--network itest --test-network`
    /// (a permissioned network's `--network-file`).
    pub network_args: Option<Vec<String>>,
}

impl Layout {
    /// Nodes on 127.0.0.(ip_base + i), TCP `port`, HTTP `http_port`.
    pub fn new(ip_base: u8, port: u16, http_port: u16) -> Layout {
        Layout { ip_base, port, http_port, extra_args: Vec::new(), dns_port: None, network_args: None }
    }
}

// ---------------------------------------------------------------------------
// The cluster of node processes
// ---------------------------------------------------------------------------

/// What `dhtr id` says about a node: fixed for the life of its data dir.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    /// libp2p PeerId, base58.
    pub peer_id: String,
    /// blake3 of the PeerId bytes.
    pub ring_id: RingId,
}

/// One node: addresses, data dir, log file and, while it runs, its process.
pub struct Node {
    /// 1-based index; decides the node's loopback address.
    pub index: usize,
    pub data_dir: PathBuf,
    pub log_path: PathBuf,
    pub identity: Identity,
    /// The running process, `None` when not started or killed.
    pub child: Option<Child>,
    /// Addresses and extra flags.
    pub layout: Layout,
}

impl Node {
    pub fn label(&self) -> String {
        format!("n{}", self.index)
    }

    pub fn ip(&self) -> String {
        format!("127.0.0.{}", usize::from(self.layout.ip_base) + self.index)
    }

    pub fn listen_addr(&self) -> String {
        format!("/ip4/{}/tcp/{}", self.ip(), self.layout.port)
    }

    pub fn http_addr(&self) -> String {
        format!("{}:{}", self.ip(), self.layout.http_port)
    }

    /// The multiaddr other nodes bootstrap through.
    pub fn p2p_addr(&self) -> String {
        format!("{}/p2p/{}", self.listen_addr(), self.identity.peer_id)
    }

    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }
}

/// Owns the node processes and their files. Dropping it SIGKILLs and reaps
/// every process; if the test is failing it also prints each node's log tail
/// and keeps the temporary directory.
pub struct Cluster {
    pub bin: PathBuf,
    /// `None` only while being dropped.
    pub dir: Option<tempfile::TempDir>,
    pub root: PathBuf,
    pub nodes: Vec<Node>,
}

impl Cluster {
    /// Creates `count` data dirs and their identities (`dhtr id`); starts nothing.
    pub fn new(count: usize, layout: Layout) -> Cluster {
        let dir = tempfile::Builder::new().prefix("dhtr-ring-").tempdir().expect("create a temporary directory");
        let root = dir.path().to_owned();
        let mut cluster =
            Cluster { bin: PathBuf::from(env!("CARGO_BIN_EXE_dhtr")), dir: Some(dir), root, nodes: Vec::new() };
        for index in 1..=count {
            let data_dir = cluster.root.join(format!("n{index}"));
            fs::create_dir_all(&data_dir).unwrap_or_else(|e| panic!("create {}: {e}", data_dir.display()));
            let listen = format!("/ip4/127.0.0.{}/tcp/{}", usize::from(layout.ip_base) + index, layout.port);
            let identity = read_identity(&cluster.bin, &data_dir, &listen);
            let log_path = cluster.root.join(format!("n{index}.log"));
            cluster.nodes.push(Node { index, data_dir, log_path, identity, child: None, layout: layout.clone() });
        }
        let ids: BTreeSet<&str> = cluster.nodes.iter().map(|n| n.identity.peer_id.as_str()).collect();
        assert_eq!(ids.len(), count, "every data dir must get its own identity");
        cluster
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn node(&self, index: usize) -> &Node {
        &self.nodes[index - 1]
    }

    pub fn running(&self) -> impl Iterator<Item = &Node> {
        self.nodes.iter().filter(|n| n.is_running())
    }

    /// Starts `dhtr run` for node `index`, appending its output to its log.
    pub fn start(&mut self, index: usize, bootstrap: Option<&str>) {
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
            .arg(node.http_addr());
        match &node.layout.network_args {
            Some(args) => command.args(args),
            None => command.args(["--network", NETWORK, "--test-network"]),
        };
        if let Some(bootstrap) = bootstrap {
            command.arg("--bootstrap").arg(bootstrap);
        }
        command.args(&node.layout.extra_args);
        if let Some(p) = node.layout.dns_port {
            command.arg("--dns-listen").arg(format!("{}:{p}", node.ip()));
        } else {
            // Every node would otherwise take the default 127.0.0.1:5335.
            command.arg("--dns-listen").arg(format!("{}:0", node.ip()));
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
    pub fn kill(&mut self, index: usize) {
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
    pub fn terminate(&mut self, index: usize) -> std::process::ExitStatus {
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
    pub fn assert_alive(&mut self) {
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
    pub fn wait_for_status(&mut self, index: usize, joined: bool) -> StatusReport {
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

    /// Starts node 1 alone, then every other node bootstrapping through
    /// it, and waits for the ring ([`Cluster::wait_for_ring`]); returns
    /// how long the others took to converge.
    pub fn start_ring(&mut self, what: &str) -> Duration {
        self.start(1, None);
        self.wait_for_status(1, true);
        let bootstrap = self.node(1).p2p_addr();
        let started = Instant::now();
        for i in 2..=self.nodes.len() {
            self.start(i, Some(&bootstrap));
        }
        self.wait_for_ring(what, started)
    }

    /// Waits until every running node's successor and predecessor are the
    /// oracle's; returns the time since `since`. Panics with every node's
    /// view if that takes longer than [`CONVERGE_TIMEOUT`].
    pub fn wait_for_ring(&mut self, what: &str, since: Instant) -> Duration {
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
    pub fn check_ring(&self) -> Result<(), String> {
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
    pub fn assert_identity(&self, node: &Node, status: &StatusReport) {
        let label = node.label();
        assert_eq!(status.peer_id, node.identity.peer_id, "{label}: /status peer_id differs from `dhtr id`");
        assert_eq!(
            parse_ring_id(&status.ring_id),
            Ok(node.identity.ring_id),
            "{label}: /status ring_id differs from `dhtr id`"
        );
        assert_eq!(status.network, NETWORK, "{label}: /status network");
    }

    /// Identities of the running nodes, sorted by ring id.
    pub fn live_ring(&self) -> Vec<Identity> {
        let mut ring: Vec<Identity> = self.running().map(|n| n.identity.clone()).collect();
        ring.sort_by_key(|a| a.ring_id);
        ring
    }

    /// The running nodes in ring order, e.g. `n4 (0a1b2c3d) → n1 (…) → …`.
    pub fn ring_order(&self) -> String {
        let ring = self.live_ring();
        let parts: Vec<String> =
            ring.iter().map(|i| format!("{} ({})", self.label_of(&i.peer_id), i.ring_id.short())).collect();
        parts.join(" → ")
    }

    /// `n5` for a cluster node's peer id, else the peer id itself.
    pub fn label_of(&self, peer_id: &str) -> String {
        self.nodes
            .iter()
            .find(|n| n.identity.peer_id == peer_id)
            .map_or_else(|| format!("unknown peer {peer_id}"), Node::label)
    }

    /// `[n1, n5, n7]`.
    pub fn labels(&self, peer_ids: &[&str]) -> String {
        let labels: Vec<String> = peer_ids.iter().map(|p| self.label_of(p)).collect();
        format!("[{}]", labels.join(", "))
    }

    /// `n5` if `got` is `want`, else e.g. `n3 (want n5)` or `none (want n5)`.
    pub fn compare(&self, got: Option<&str>, want: &Identity) -> String {
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
pub fn wait_until<T>(deadline: Instant, mut attempt: impl FnMut() -> Result<T, String>) -> Result<T, String> {
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

/// Runs `dhtr id` (on the test network, listening on `listen`) and parses
/// its `peer_id:` and `ring_id:` lines; checks that the ring id is the
/// position its work and address prefix give.
pub fn read_identity(bin: &Path, data_dir: &Path, listen: &str) -> Identity {
    let mut command = Command::new(bin);
    clear_dhtr_env(&mut command);
    let output = command
        .args(["id", "--network", NETWORK, "--test-network", "--listen", listen])
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
    let nonce: u64 = field("work_nonce:").parse().unwrap_or_else(|e| panic!("work_nonce: {e} in {}", context()));
    let ip: std::net::IpAddr =
        listen.split('/').nth(2).and_then(|ip| ip.parse().ok()).expect("an /ip4/ listen address");
    let ticket = dhtr_protocol::Ticket { nonce, prefix: dhtr_protocol::Prefix::of(ip) };
    let position = ticket.position(&dhtr_protocol::PeerRef(parsed.to_bytes()));
    assert_eq!(ring_id, position, "ring_id must be the position of the identity's work and prefix in {}", context());
    Identity { peer_id, ring_id }
}

/// Removes every `DHTR_*` variable (each flag of `dhtr` can come from one,
/// e.g. `DHTR_BOOTSTRAP`) from the child's environment, so only the flags
/// given by the test apply.
pub fn clear_dhtr_env(command: &mut Command) {
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("DHTR_") {
            command.env_remove(name);
        }
    }
}

/// A 64-hex-digit ring id.
pub fn parse_ring_id(hex: &str) -> Result<RingId, String> {
    let bytes = hex::decode(hex.trim()).map_err(|e| format!("ring id {hex:?} is not hex: {e}"))?;
    let bytes: [u8; 32] =
        bytes.try_into().map_err(|b: Vec<u8>| format!("ring id {hex:?} has {} bytes, not 32", b.len()))?;
    Ok(RingId(bytes))
}

/// The oracle's (successor, predecessor) of `me` in `ring` (sorted by ring
/// id, containing `me`): the next larger and next smaller ring ids, wrapping.
pub fn oracle_neighbours<'a>(ring: &'a [Identity], me: &RingId) -> (&'a Identity, &'a Identity) {
    let pos = ring.iter().position(|i| i.ring_id == *me).expect("a running node is in the live ring");
    let n = ring.len();
    (&ring[(pos + 1) % n], &ring[(pos + n - 1) % n])
}

/// The last `lines` lines of the file at `path`.
pub fn log_tail(path: &Path, lines: usize) -> String {
    match fs::read(path) {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            let all: Vec<&str> = text.lines().collect();
            all[all.len().saturating_sub(lines)..].join("\n")
        }
        Err(e) => format!("(cannot read {}: {e})", path.display()),
    }
}
