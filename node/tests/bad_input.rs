//! Bad input against the real `dhtr` binary: a peer sending garbage on the
//! Chord protocol, command-line and configuration mistakes, addresses already
//! in use, corrupt files in the data dir, and identity reuse.
//!
//! Every test runs `env!("CARGO_BIN_EXE_dhtr")` in its own temporary
//! directory, always with explicit `--listen`/`--http-listen` on its own
//! loopback address (127.0.0.41..=49, libp2p port 4201/4202, HTTP port 9474),
//! so nothing here clashes with other tests even if the binary wrongly starts.
//! Every wait is bounded, and [`Proc`] SIGKILLs and reaps the process it owns
//! when dropped (printing its log if the test is failing).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use common::raw::{Outcome, RawClient};
use libp2p::{Multiaddr, PeerId};

mod common;

/// The network every node here runs on.
const NETWORK: &str = "badin";
/// The Chord protocol string of [`NETWORK`].
const CHORD_PROTOCOL: &str = "/dhtr/badin/chord/1";
const LEDGER_PROTOCOL: &str = "/dhtr/badin/ledger/1";
/// Log filter for the nodes; request-response at debug shows inbound
/// streams that libp2p failed to decode (in the log tail of a failing test).
const RUST_LOG: &str = "info,libp2p=warn,libp2p_request_response=debug";
/// Bound for a process that should exit by itself (a startup error).
const EXIT_TIMEOUT: Duration = Duration::from_secs(20);
/// Bound for a node's HTTP endpoint to come up.
const START_TIMEOUT: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------------------
// 1. A misbehaving peer
// ---------------------------------------------------------------------------

#[test]
fn garbage_from_a_peer_is_dropped_counted_and_the_node_keeps_serving() {
    let dir = tempdir();
    let data_dir = dir.path().join("node");
    let peer_id: PeerId = read_identity(&data_dir).0.parse().expect("dhtr id prints a valid peer id");
    let listen = "/ip4/127.0.0.41/tcp/4201";
    let http = "127.0.0.41:9474";
    let mut node = Proc::start(dir.path(), "node", &run_args(&data_dir, listen, http));
    node.wait_for_http(http);
    let addr: Multiaddr = format!("{listen}/p2p/{peer_id}").parse().unwrap();

    // Valid CBOR, but not a WireRequest: an unknown `body` variant.
    let wrong_shape = {
        use ciborium::Value;
        let msg = Value::Map(vec![
            (Value::Text("sender_addrs".into()), Value::Array(vec![])),
            (Value::Text("body".into()), Value::Text("Bogus".into())),
        ]);
        let mut buf = Vec::new();
        ciborium::into_writer(&msg, &mut buf).unwrap();
        buf
    };
    // 0xff (a CBOR "break") cannot start a CBOR item; the rest is random.
    let garbage: Vec<u8> = [&[0xff_u8][..], &rand::random::<[u8; 63]>()[..]].concat();
    let oversized = vec![0x41_u8; dhtr_protocol::wire::MAX_REQUEST_BYTES + 4096];
    let network = dhtr_protocol::NetworkTag(read_network_id(&data_dir));
    // A Ping carrying a ticket with (`worked`) or without the network's work.
    let ping = |client: &RawClient, worked: bool| {
        let me = dhtr_protocol::PeerRef(client.swarm.local_peer_id().to_bytes());
        let nonce = (0..).find(|&n| (dhtr_protocol::admission::work_bits(&network, &me, n) >= 12) == worked).unwrap();
        let sender_ticket = dhtr_protocol::Ticket { nonce, prefix: dhtr_protocol::Prefix::V4([127, 0, 0]) };
        dhtr_protocol::wire::encode(
            &dhtr_protocol::WireRequest {
                sender_ticket,
                sender_addrs: vec![],
                sender_cert: None,
                body: dhtr_protocol::Request::Ping,
            },
            dhtr_protocol::wire::MAX_REQUEST_BYTES,
        )
        .unwrap()
    };

    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let (bad_outcomes, banned_ping, fresh_ping, unworked_ping) = rt.block_on(async {
        let mut bad = RawClient::speaking(CHORD_PROTOCOL);
        let mut outcomes = Vec::new();
        for (what, bytes) in [("garbage", garbage), ("wrong-shape CBOR", wrong_shape), ("oversized", oversized)] {
            let outcome = bad.exchange(peer_id, &addr, bytes).await;
            println!("{what}: {outcome}");
            outcomes.push((what, outcome));
        }
        // Three strikes: the same identity is now banned.
        let bytes = ping(&bad, true);
        let banned = bad.exchange(peer_id, &addr, bytes).await;
        println!("well-formed Ping from the banned peer: {banned}");
        // Another identity is still served.
        let mut fresh = RawClient::speaking(CHORD_PROTOCOL);
        let bytes = ping(&fresh, true);
        let fresh = fresh.exchange(peer_id, &addr, bytes).await;
        println!("well-formed Ping from a fresh peer: {fresh}");
        // One whose ticket lacks the network's work is refused and struck.
        let mut unworked = RawClient::speaking(CHORD_PROTOCOL);
        let bytes = ping(&unworked, false);
        let unworked = unworked.exchange(peer_id, &addr, bytes).await;
        println!("well-formed Ping from a peer without work: {unworked}");
        (outcomes, banned, fresh, unworked)
    });

    for (what, outcome) in &bad_outcomes {
        assert!(
            matches!(outcome, Outcome::Failed(_)),
            "{what}: the node must drop the stream without answering; the client saw {outcome}"
        );
    }
    node.assert_alive();

    let metrics = http_get(&format!("http://{http}/metrics"));
    let value = |series: &str| metric(&metrics, series);
    println!(
        "decode errors {:?}, dropped undecodable {:?}, dropped oversized {:?}, penalised {:?}",
        value("dhtr_peer_decode_errors_total{protocol=\"chord\"}"),
        value("dhtr_peer_streams_dropped_total{protocol=\"chord\",reason=\"undecodable\"}"),
        value("dhtr_peer_streams_dropped_total{protocol=\"chord\",reason=\"oversized\"}"),
        value("dhtr_peers_penalised_total"),
    );
    let context = || format!("\n/metrics (dhtr_peer* lines):\n{}", dhtr_peer_lines(&metrics));
    assert_eq!(value("dhtr_peer_decode_errors_total{protocol=\"chord\"}"), Some(3.0), "{}", context());
    assert_eq!(
        value("dhtr_peer_streams_dropped_total{protocol=\"chord\",reason=\"undecodable\"}"),
        Some(2.0),
        "{}",
        context()
    );
    assert_eq!(
        value("dhtr_peer_streams_dropped_total{protocol=\"chord\",reason=\"oversized\"}"),
        Some(1.0),
        "{}",
        context()
    );
    assert!(
        !matches!(unworked_ping, Outcome::Response(_)),
        "a peer without work must not be answered: {unworked_ping}"
    );
    assert_eq!(
        value("dhtr_peer_streams_dropped_total{protocol=\"chord\",reason=\"unadmitted_work\"}"),
        Some(1.0),
        "{}",
        context()
    );
    assert_eq!(value("dhtr_peers_penalised_total"), Some(4.0), "{}", context());

    assert!(
        !matches!(banned_ping, Outcome::Response(_)),
        "a peer banned after 3 bad messages must not be answered; got {banned_ping}"
    );
    match &fresh_ping {
        Outcome::Response(bytes) => {
            let response = dhtr_protocol::wire::decode_response(bytes);
            assert!(
                matches!(&response, Ok(r) if r.body == dhtr_protocol::Response::Ack),
                "a Ping from another peer must be acknowledged; got {response:?}"
            );
        }
        other => panic!("a well-formed Ping from another peer must be answered; got {other}"),
    }

    let status = dhtr_monitoring::get_status(http).expect("/status still answers after the bad peer");
    assert_eq!(status.peer_id, peer_id.to_string());
    node.assert_alive();
}

#[test]
fn garbage_ledger_messages_are_dropped_counted_and_well_formed_ones_still_handled() {
    let dir = tempdir();
    let data_dir = dir.path().join("node");
    let peer_id: PeerId = read_identity(&data_dir).0.parse().expect("dhtr id prints a valid peer id");
    let listen = "/ip4/127.0.0.52/tcp/4202";
    let http = "127.0.0.52:9475";
    let mut node = Proc::start(dir.path(), "node", &run_args(&data_dir, listen, http));
    node.wait_for_http(http);
    let addr: Multiaddr = format!("{listen}/p2p/{peer_id}").parse().unwrap();

    let garbage: Vec<u8> = [&[0xff_u8][..], &rand::random::<[u8; 63]>()[..]].concat();
    let oversized = vec![0x41_u8; dhtr_ledger::msg::MAX_MESSAGE_BYTES + 4096];
    let fine = dhtr_ledger::msg::encode(&dhtr_ledger::msg::Message {
        chunk: dhtr_protocol::ChunkId(7),
        body: dhtr_ledger::msg::Body::GetBlocks { from: 0 },
    });
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let mut bad = RawClient::speaking(LEDGER_PROTOCOL);
        for (what, bytes) in [("garbage", garbage), ("oversized", oversized)] {
            println!("ledger {what}: {}", bad.exchange(peer_id, &addr, bytes).await);
        }
        // A well-formed message from another peer is handled (its answer is
        // an empty acknowledgement, which the raw client reports as such).
        println!(
            "well-formed ledger message: {}",
            RawClient::speaking(LEDGER_PROTOCOL).exchange(peer_id, &addr, fine).await
        );
    });
    node.assert_alive();
    let metrics = http_get(&format!("http://{http}/metrics"));
    let value = |series: &str| metric(&metrics, series);
    let context = || format!("\n/metrics (dhtr_peer* lines):\n{}", dhtr_peer_lines(&metrics));
    assert_eq!(value("dhtr_peer_decode_errors_total{protocol=\"ledger\"}"), Some(2.0), "{}", context());
    assert_eq!(
        value("dhtr_peer_streams_dropped_total{protocol=\"ledger\",reason=\"undecodable\"}"),
        Some(1.0),
        "{}",
        context()
    );
    assert_eq!(
        value("dhtr_peer_streams_dropped_total{protocol=\"ledger\",reason=\"oversized\"}"),
        Some(1.0),
        "{}",
        context()
    );
    assert_eq!(
        value("dhtr_ledger_messages_total{direction=\"in\",kind=\"get_blocks\"}"),
        Some(1.0),
        "the well-formed message from another peer is handled"
    );
    node.assert_alive();
}

/// A flood of connections from one address prefix (eclipse resistance,
/// issue 9): ten identities on 127.0.0.0/24 dial a node that lets one
/// prefix hold three inbound connections. Three are served; the rest are
/// refused before their handshake and counted; the node keeps serving.
#[test]
fn a_flood_of_connections_from_one_prefix_gets_only_its_share() {
    let dir = tempdir();
    let data_dir = dir.path().join("node");
    let peer_id: PeerId = read_identity(&data_dir).0.parse().expect("dhtr id prints a valid peer id");
    let config = dir.path().join("dhtr.toml");
    fs::write(&config, "[limits]\nmax_inbound_per_prefix = 3\n").unwrap();
    let listen = "/ip4/127.0.0.53/tcp/4203";
    let http = "127.0.0.53:9475";
    let mut args = run_args(&data_dir, listen, http);
    args.extend(["--config".to_owned(), config.display().to_string()]);
    let mut node = Proc::start(dir.path(), "node", &args);
    node.wait_for_http(http);
    let addr: Multiaddr = format!("{listen}/p2p/{peer_id}").parse().unwrap();
    let network = dhtr_protocol::NetworkTag(read_network_id(&data_dir));
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let outcomes = rt.block_on(async {
        // Each client keeps its connection open (its swarm lives on).
        let mut clients = Vec::new();
        let mut outcomes = Vec::new();
        for _ in 0..10 {
            let mut c = RawClient::speaking(CHORD_PROTOCOL);
            let me = dhtr_protocol::PeerRef(c.swarm.local_peer_id().to_bytes());
            let nonce = (0..).find(|&n| dhtr_protocol::admission::work_bits(&network, &me, n) >= 12).unwrap();
            let ticket = dhtr_protocol::Ticket { nonce, prefix: dhtr_protocol::Prefix::V4([127, 0, 0]) };
            let ping = dhtr_protocol::WireRequest {
                sender_ticket: ticket,
                sender_addrs: vec![],
                sender_cert: None,
                body: dhtr_protocol::Request::Ping,
            };
            let bytes = dhtr_protocol::wire::encode(&ping, dhtr_protocol::wire::MAX_REQUEST_BYTES).unwrap();
            outcomes.push(c.exchange(peer_id, &addr, bytes).await);
            clients.push(c);
        }
        outcomes
    });
    let served = outcomes.iter().filter(|o| matches!(o, Outcome::Response(_))).count();
    for (k, o) in outcomes.iter().enumerate() {
        println!("client {k}: {o}");
    }
    assert_eq!(served, 3, "one prefix holds three inbound connections");
    node.assert_alive();
    let metrics = http_get(&format!("http://{http}/metrics"));
    let denied = metric(&metrics, "dhtr_connections_denied_total{reason=\"prefix_full\"}");
    assert!(denied.is_some_and(|d| d >= 7.0), "refusals counted: {denied:?}");
    assert_eq!(metric(&metrics, "dhtr_connections_denied_total{reason=\"prefix_banned\"}"), Some(0.0));
}

// ---------------------------------------------------------------------------
// 2. Startup errors that name their cause
// ---------------------------------------------------------------------------

#[test]
fn a_bad_listen_address_names_the_flag() {
    let dir = tempdir();
    let args = run_args(&dir.path().join("d"), "/ip4/1.2.3.4/tcp/notaport", "127.0.0.45:9474");
    let stderr = run_expecting_failure(dir.path(), "listen", &args);
    assert!(stderr.contains("--listen"), "stderr must name --listen:\n{stderr}");
}

#[test]
fn a_bootstrap_address_without_peer_id_names_the_flag_and_p2p() {
    let dir = tempdir();
    let mut args = run_args(&dir.path().join("d"), "/ip4/127.0.0.46/tcp/4201", "127.0.0.46:9474");
    args.extend(["--bootstrap".into(), "/ip4/127.0.0.1/tcp/4001".into()]);
    let stderr = run_expecting_failure(dir.path(), "bootstrap", &args);
    assert!(
        stderr.contains("--bootstrap") && stderr.contains("/p2p"),
        "stderr must name --bootstrap and /p2p:\n{stderr}"
    );
}

#[test]
fn an_unknown_config_key_names_the_key_and_the_file() {
    let dir = tempdir();
    let config = dir.path().join("badkey.toml");
    fs::write(&config, "netwrok = \"x\"\n").unwrap();
    let mut args = run_args(&dir.path().join("d"), "/ip4/127.0.0.47/tcp/4201", "127.0.0.47:9474");
    args.extend(["--config".into(), config.display().to_string()]);
    let stderr = run_expecting_failure(dir.path(), "config", &args);
    assert!(
        stderr.contains("netwrok") && stderr.contains("badkey.toml"),
        "stderr must name the key `netwrok` and the file badkey.toml:\n{stderr}"
    );
}

#[test]
fn a_libp2p_address_in_use_names_the_address() {
    let dir = tempdir();
    let listen = "/ip4/127.0.0.42/tcp/4201";
    let mut first = Proc::start(dir.path(), "first", &run_args(&dir.path().join("first"), listen, "127.0.0.42:9474"));
    first.wait_for_http("127.0.0.42:9474");
    // Same --listen, another HTTP address.
    let stderr =
        run_expecting_failure(dir.path(), "second", &run_args(&dir.path().join("second"), listen, "127.0.0.43:9474"));
    assert!(
        stderr.contains("127.0.0.42") && stderr.contains("4201"),
        "stderr must name the address in use (127.0.0.42, port 4201):\n{stderr}"
    );
    first.assert_alive();
}

#[test]
fn an_http_address_in_use_names_the_address() {
    let dir = tempdir();
    let http = "127.0.0.48:9474";
    let mut first =
        Proc::start(dir.path(), "first", &run_args(&dir.path().join("first"), "/ip4/127.0.0.48/tcp/4201", http));
    first.wait_for_http(http);
    // Same --http-listen, another libp2p port.
    let args = run_args(&dir.path().join("second"), "/ip4/127.0.0.48/tcp/4202", http);
    let stderr = run_expecting_failure(dir.path(), "second", &args);
    assert!(stderr.contains(http), "stderr must name the HTTP address in use ({http}):\n{stderr}");
    first.assert_alive();
}

#[test]
fn a_corrupt_identity_key_is_refused_and_left_untouched() {
    let dir = tempdir();
    let data_dir = dir.path().join("d");
    fs::create_dir_all(&data_dir).unwrap();
    let key = data_dir.join("identity.key");
    let garbage = b"\x00\x01 this is not a libp2p key \xfe\xff".to_vec();
    fs::write(&key, &garbage).unwrap();
    let stderr =
        run_expecting_failure(dir.path(), "run", &run_args(&data_dir, "/ip4/127.0.0.44/tcp/4201", "127.0.0.44:9474"));
    assert!(
        stderr.contains(&key.display().to_string()) && stderr.contains("corrupt"),
        "stderr must name {} and say it is corrupt:\n{stderr}",
        key.display()
    );
    assert_eq!(fs::read(&key).unwrap(), garbage, "the corrupt key file must be left byte-for-byte unchanged");
}

#[test]
fn a_corrupt_peer_store_is_refused_and_left_untouched() {
    let dir = tempdir();
    let data_dir = dir.path().join("d");
    read_identity(&data_dir); // a valid key, so only the peer store is bad
    let store = data_dir.join("peers.json");
    let garbage = b"{\"version\": 1, \"peers\": [oops".to_vec();
    fs::write(&store, &garbage).unwrap();
    let stderr =
        run_expecting_failure(dir.path(), "run", &run_args(&data_dir, "/ip4/127.0.0.49/tcp/4201", "127.0.0.49:9474"));
    assert!(stderr.contains("peers.json"), "stderr must name peers.json:\n{stderr}");
    assert_eq!(fs::read(&store).unwrap(), garbage, "the corrupt peer store must be left byte-for-byte unchanged");
}

// ---------------------------------------------------------------------------
// 3. Identity
// ---------------------------------------------------------------------------

#[test]
fn identity_is_reused_across_restarts() {
    let dir = tempdir();
    let data_dir = dir.path().join("d");
    let first = read_identity(&data_dir);
    let second = read_identity(&data_dir);
    assert_eq!(first, second, "`dhtr id` on the same data dir must print the same peer_id and ring_id");
    let mode = fs::metadata(data_dir.join("identity.key")).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "identity.key must be mode 0600, is {:o}", mode & 0o777);
}

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new().prefix("dhtr-badin-").tempdir().unwrap()
}

/// `dhtr` with no `DHTR_*` variables inherited.
fn dhtr() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_dhtr"));
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("DHTR_") {
            command.env_remove(name);
        }
    }
    command.env("RUST_LOG", RUST_LOG).stdin(Stdio::null());
    command
}

/// Arguments of `dhtr run` on [`NETWORK`] with explicit addresses.
fn run_args(data_dir: &Path, listen: &str, http: &str) -> Vec<String> {
    // DNS on the HTTP address's IP, any port: tests run side by side.
    let dns = format!("{}:0", http.split(':').next().unwrap_or("127.0.0.1"));
    ["run", "--network", NETWORK, "--test-network", "--data-dir", &data_dir.display().to_string(), "--listen", listen]
        .into_iter()
        .chain(["--http-listen", http, "--dns-listen", &dns])
        .map(String::from)
        .collect()
}

/// `dhtr id` on [`NETWORK`] (a test network, on 127.0.0.0/24).
fn id_args(data_dir: &Path) -> Vec<String> {
    ["id", "--network", NETWORK, "--test-network", "--listen", "/ip4/127.0.0.41/tcp/4201", "--data-dir"]
        .into_iter()
        .map(String::from)
        .chain([data_dir.display().to_string()])
        .collect()
}

/// The network id `dhtr id` prints for [`NETWORK`].
fn read_network_id(data_dir: &Path) -> [u8; 32] {
    let output = dhtr().args(id_args(data_dir)).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let hex = stdout.lines().find_map(|l| l.strip_prefix("network_id:")).map(str::trim).unwrap_or_default();
    let bytes: Vec<u8> =
        (0..hex.len() / 2).filter_map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()).collect();
    bytes.try_into().unwrap_or_else(|_| panic!("no network_id in dhtr id's output:\n{stdout}"))
}

/// `dhtr id` → (peer_id, ring_id), asserting success.
fn read_identity(data_dir: &Path) -> (String, String) {
    let output = dhtr().args(id_args(data_dir)).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "dhtr id failed ({}):\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let field = |name: &str| {
        stdout
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.trim().to_owned())
            .unwrap_or_else(|| panic!("no `{name}` line in the output of dhtr id:\n{stdout}"))
    };
    (field("peer_id:"), field("ring_id:"))
}

/// Runs `dhtr <args>`, which must exit non-zero within [`EXIT_TIMEOUT`];
/// returns its stderr.
fn run_expecting_failure(dir: &Path, name: &str, args: &[String]) -> String {
    let mut proc = Proc::start(dir, name, args);
    let status = proc.wait_for_exit();
    let stderr = fs::read_to_string(&proc.stderr_path).unwrap_or_default();
    println!("`dhtr {}` exited with {status}; stderr:\n{stderr}", args.join(" "));
    assert!(!status.success(), "`dhtr {}` must fail, but exited with {status}", args.join(" "));
    stderr
}

/// A `dhtr` process with stdout and stderr in files; SIGKILLed and reaped
/// when dropped.
struct Proc {
    name: String,
    child: Option<Child>,
    stdout_path: PathBuf,
    stderr_path: PathBuf,
}

impl Proc {
    fn start(dir: &Path, name: &str, args: &[String]) -> Proc {
        let stdout_path = dir.join(format!("{name}.stdout"));
        let stderr_path = dir.join(format!("{name}.stderr"));
        let child = dhtr()
            .args(args)
            .stdout(fs::File::create(&stdout_path).unwrap())
            .stderr(fs::File::create(&stderr_path).unwrap())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start dhtr {}: {e}", args.join(" ")));
        Proc { name: name.to_owned(), child: Some(child), stdout_path, stderr_path }
    }

    /// Waits for the process to exit by itself; kills it and panics after
    /// [`EXIT_TIMEOUT`].
    fn wait_for_exit(&mut self) -> ExitStatus {
        let deadline = Instant::now() + EXIT_TIMEOUT;
        let child = self.child.as_mut().expect("the process was started");
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                self.child = None;
                return status;
            }
            if Instant::now() >= deadline {
                panic!(
                    "{} was expected to exit with an error but still runs after {} s",
                    self.name,
                    EXIT_TIMEOUT.as_secs()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn assert_alive(&mut self) {
        let child = self.child.as_mut().unwrap_or_else(|| panic!("{} is not running", self.name));
        if let Some(status) = child.try_wait().unwrap() {
            self.child = None;
            panic!("{} exited unexpectedly ({status})", self.name);
        }
    }

    /// Waits until `/status` answers on `http`.
    fn wait_for_http(&mut self, http: &str) {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            self.assert_alive();
            match dhtr_monitoring::get_status(http) {
                Ok(_) => return,
                Err(e) if Instant::now() >= deadline => {
                    panic!("{} ({http}) not up within {} s: {e}", self.name, START_TIMEOUT.as_secs())
                }
                Err(_) => std::thread::sleep(Duration::from_millis(200)),
            }
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            for path in [&self.stdout_path, &self.stderr_path] {
                let text = fs::read_to_string(path).unwrap_or_default();
                let tail: Vec<&str> = text.lines().rev().take(30).collect();
                eprintln!("----- {} (last lines) -----", path.display());
                for line in tail.iter().rev() {
                    eprintln!("{line}");
                }
            }
        }
    }
}

fn http_get(url: &str) -> String {
    ureq::get(url)
        .call()
        .unwrap_or_else(|e| panic!("GET {url}: {e}"))
        .body_mut()
        .read_to_string()
        .unwrap_or_else(|e| panic!("GET {url}: {e}"))
}

/// The value of one series (name with its labels exactly as exposed) in
/// Prometheus text format.
fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.trim().parse().ok())
}

fn dhtr_peer_lines(text: &str) -> String {
    text.lines().filter(|l| l.starts_with("dhtr_peer")).collect::<Vec<_>>().join("\n")
}

#[test]
fn a_corrupt_ledger_store_is_refused_and_left_untouched() {
    let dir = tempdir();
    let data_dir = dir.path().join("d");
    read_identity(&data_dir); // a valid key, so only the ledger is bad
    let ledger = data_dir.join("ledger");
    fs::create_dir_all(&ledger).unwrap();
    let garbage = b"MANIFEST-not-a-rocksdb\n".to_vec();
    fs::write(ledger.join("CURRENT"), &garbage).unwrap();
    let stderr =
        run_expecting_failure(dir.path(), "run", &run_args(&data_dir, "/ip4/127.0.0.50/tcp/4201", "127.0.0.50:9474"));
    assert!(
        stderr.contains(&ledger.display().to_string()) && stderr.contains("ledger"),
        "stderr must name the ledger directory:\n{stderr}"
    );
    assert_eq!(fs::read(ledger.join("CURRENT")).unwrap(), garbage, "the ledger must be left untouched");
    let names: Vec<_> = fs::read_dir(&ledger).unwrap().filter_map(|e| e.ok()).map(|e| e.file_name()).collect();
    assert_eq!(names.len(), 1, "nothing created beside it: {names:?}");
}

#[test]
fn a_chunk_whose_chain_does_not_verify_is_reported_and_not_served() {
    use dhtr_ledger::local::{LocalCommittee, NETWORK};
    use dhtr_ledger::rocks::RocksStore;
    let dir = tempdir();
    let data_dir = dir.path().join("d");
    read_identity(&data_dir);
    // That computed the work for `badin`; this node runs on the ledger's
    // test network and computes its own.
    fs::remove_file(data_dir.join("identity.work")).unwrap();
    // Build two real certified chains with an in-process committee; member
    // 0's store is the node's ledger.
    for chunk in [5u32, 6] {
        let stores: Vec<RocksStore> = (0..4)
            .map(|i| {
                let path = if i == 0 { data_dir.join("ledger") } else { dir.path().join(format!("c{chunk}-m{i}")) };
                RocksStore::open(&path, NETWORK).unwrap()
            })
            .collect();
        let mut committee = LocalCommittee::open(dhtr_protocol::ChunkId(chunk), stores).unwrap();
        for k in 0..5u8 {
            committee.submit(dhtr_ledger::Tx::Put(dhtr_ledger::RRset {
                name: format!("h{k}.example."),
                rtype: 1,
                class: 1,
                ttl: 60,
                rdata: vec![serde_bytes::ByteBuf::from(vec![10, 0, 0, k])],
                fetched_at: 0,
            }));
            committee.run_until_idle();
        }
        assert!(committee.height() >= 3, "chunk {chunk} has a chain");
    }
    // Corrupt block 2 of chunk 6.
    let mut store = RocksStore::open(&data_dir.join("ledger"), NETWORK).unwrap();
    store.put_raw_block(dhtr_protocol::ChunkId(6), 2, b"garbage").unwrap();
    drop(store);

    // The chains were signed for the in-process committee's network.
    let args: Vec<String> =
        ["run", "--network", NETWORK, "--test-network", "--data-dir", &data_dir.display().to_string()]
            .into_iter()
            .chain(["--listen", "/ip4/127.0.0.51/tcp/4201", "--http-listen", "127.0.0.51:9474"])
            .map(String::from)
            .collect();
    let mut node = Proc::start(dir.path(), "ledger-node", &args);
    node.wait_for_http("127.0.0.51:9474");
    let status = dhtr_monitoring::get_status("127.0.0.51:9474").unwrap();
    let held: Vec<u32> = status.ledger.chunks.iter().map(|c| c.chunk).collect();
    assert_eq!(held, vec![5], "only the intact chunk is served: {:?}", status.ledger);
    assert!(status.ledger.chunks[0].height >= 3);
    assert_eq!(status.ledger.corrupt.len(), 1);
    assert!(
        status.ledger.corrupt[0].contains("chunk 6") && status.ledger.corrupt[0].contains("height 2"),
        "{:?}",
        status.ledger.corrupt
    );
    node.assert_alive();
}
