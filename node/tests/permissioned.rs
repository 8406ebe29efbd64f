//! A `permissioned` network made with the CLI, as its operators would:
//! `dhtr network create`, `dhtr admit` for each node, `dhtr run
//! --network-file`. Four real processes on 127.0.0.81–84 form a ring and
//! answer `dig` (against the NSD test hierarchy: needs root and nsd), one
//! of them from the network once the committee committed the record; a peer without a certificate, or
//! with one signed by too few admission keys, is refused by the nodes and
//! counted by reason, while a peer the authority admitted is answered; a
//! revocation handed to one node reaches the others, which drop the
//! revoked node and refuse it; `dhtr cert show` prints a certificate; a
//! node with an expired, foreign, too weakly signed or missing certificate,
//! or a network file that is not its data dir's, refuses to start naming
//! the file; one whose certificate ends within 7 days warns in its log,
//! `/status` and a metric; the README's life-cycle recipe runs as written.
//!
//! Every wait is bounded; the [`Cluster`] kills what it started.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::hierarchy::Hierarchy;
use common::raw::{Outcome, RawClient};
use common::{Cluster, Layout, clear_dhtr_env, wait_until};
use dhtr_protocol::permit::{Kind, Statement};
use dhtr_protocol::{PeerRef, Prefix, Request, Ticket, WireRequest};
use libp2p::{Multiaddr, PeerId};

const NODES: usize = 4;
const DNS_PORT: u16 = 5335;
const NAME: &str = "www.example.test.";
/// Bound for a revocation to reach every node, a record to commit.
const SPREAD_TIMEOUT: Duration = Duration::from_secs(90);

/// Runs `dhtr args…` to its end (bounded); returns (success, stdout, stderr).
fn dhtr(bin: &Path, args: &[&str]) -> (bool, String, String) {
    let mut command = Command::new(bin);
    clear_dhtr_env(&mut command);
    let mut child = command
        .args(args)
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("`dhtr {}` still runs after 30 s", args.join(" "));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = child.wait_with_output().unwrap();
    let (stdout, stderr) =
        (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned());
    println!("$ dhtr {}\n{stdout}{stderr}", args.join(" "));
    (out.status.success(), stdout, stderr)
}

fn ok(bin: &Path, args: &[&str]) -> String {
    let (success, stdout, stderr) = dhtr(bin, args);
    assert!(success, "`dhtr {}` failed:\n{stderr}", args.join(" "));
    stdout
}

/// `dhtr network create` in `dir`: (network file, key files).
fn create_network(bin: &Path, dir: &Path, name: &str) -> (PathBuf, Vec<PathBuf>) {
    let out = dir.to_str().unwrap();
    // Loopback nodes share 127.0.0.0/24: no per-prefix limits here.
    let relaxed = ["--per-prefix-committee", "255", "--per-prefix-routing", "255"];
    let mut args = vec!["network", "create", "--name", name, "--keys", "3", "--threshold", "2", "--out", out];
    args.extend(relaxed);
    ok(bin, &args);
    (dir.join("network.toml"), (0..3).map(|i| dir.join(format!("admission-key-{i}.secret"))).collect())
}

fn admit(bin: &Path, network: &Path, keys: &[&Path], peer: &str, out: &Path) {
    let mut args = vec!["admit", "--network", network.to_str().unwrap()];
    for k in keys {
        args.extend(["--key", k.to_str().unwrap()]);
    }
    args.extend(["--peer", peer, "--days", "30", "--out", out.to_str().unwrap()]);
    ok(bin, &args);
}

/// A certificate made without the CLI (which refuses to make bad ones):
/// signed by `keys` (index, key file) for `peer`, valid `from..until`.
fn forge(network: &Statement, keys: &[(u8, &Path)], peer: PeerRef, from: u64, until: u64) -> Statement {
    let mut s = Statement::unsigned(Kind::Certificate, network.network, peer, from, until);
    for (index, file) in keys {
        let text = std::fs::read_to_string(file).unwrap();
        let secret = text.lines().find_map(|l| l.strip_prefix("secret ")).unwrap();
        s.sign(*index, &hex::decode(secret.trim()).unwrap().try_into().unwrap());
    }
    s
}

fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

/// A Chord `Ping` carrying `cert`.
fn ping(cert: Option<Statement>) -> Vec<u8> {
    let request = WireRequest {
        sender_ticket: Ticket { nonce: 0, prefix: Prefix::V4([127, 0, 0]) },
        sender_addrs: vec![],
        sender_cert: cert,
        body: Request::Ping,
    };
    dhtr_protocol::wire::encode(&request, dhtr_protocol::wire::MAX_REQUEST_BYTES).unwrap()
}

/// A network read of [`NAME`] carrying `cert`.
fn read(cert: Option<Statement>) -> Vec<u8> {
    let request = dhtr_node_core::records::RecordsRequest {
        chunk: dhtr_protocol::ChunkId(0),
        name: NAME.into(),
        rtype: 1,
        history: false,
        cert,
    };
    let mut bytes = Vec::new();
    ciborium::into_writer(&request, &mut bytes).unwrap();
    bytes
}

fn metrics(http: &str) -> String {
    ureq::get(&format!("http://{http}/metrics")).call().unwrap().body_mut().read_to_string().unwrap()
}

/// The sum of the series starting with `prefix` (a name and some labels).
fn metric(text: &str, prefix: &str) -> f64 {
    text.lines().filter(|l| l.starts_with(prefix)).filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok()).sum()
}

fn dig_a(ip: &str, name: &str) -> String {
    let out = Command::new("dig")
        .args([&format!("@{ip}"), "-p", &DNS_PORT.to_string(), "+time=5", "+tries=1", "+short", name, "A"])
        .output()
        .expect("dig is installed (make deps)");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_permissioned_network_made_with_the_cli_admits_its_certified_nodes_only() {
    let hier = Hierarchy::start();
    let mut layout = Layout::new(80, 4601, 9495);
    layout.extra_args = vec!["--root-hints".into(), hier.hints().display().to_string()];
    layout.dns_port = Some(DNS_PORT);
    let mut cluster = Cluster::new(NODES, layout);
    let bin = cluster.bin.clone();
    println!("test files in {}", cluster.root().display());
    let (network, keys) = create_network(&bin, &cluster.root().join("net"), common::NETWORK);
    for node in &mut cluster.nodes {
        let cert = node.data_dir.join("membership.cert");
        admit(&bin, &network, &[&keys[0], &keys[2]], &node.identity.peer_id, &cert);
        node.layout.network_args = Some(vec!["--network-file".into(), network.display().to_string()]);
        // A certified node's position is its identity's and its
        // certificate's serial, as `dhtr cert show` prints it.
        let peer = PeerRef(node.identity.peer_id.parse::<PeerId>().unwrap().to_bytes());
        let c = Statement::from_text(&std::fs::read_to_string(&cert).unwrap(), Kind::Certificate).unwrap();
        node.identity.ring_id = dhtr_protocol::admission::certified_position(&peer, c.serial);
        let shown = ok(&bin, &["cert", "show", cert.to_str().unwrap()]);
        assert!(shown.contains(&node.identity.ring_id.to_hex()), "{shown}");
    }

    // `dhtr cert show`: what a user checks before handing a certificate out.
    let n1_cert = cluster.node(1).data_dir.join("membership.cert");
    let shown = ok(&bin, &["cert", "show", n1_cert.to_str().unwrap(), "--network", network.to_str().unwrap()]);
    assert!(shown.contains(&format!("peer: {}", cluster.node(1).identity.peer_id)), "{shown}");
    assert!(shown.contains("days left: 29") || shown.contains("days left: 30"), "{shown}");
    assert!(shown.contains("signed by admission keys: 0, 2"), "{shown}");
    assert!(shown.contains("signatures: valid: 2 of 3 keys signed, 2 needed"), "{shown}");

    let took = cluster.start_ring("4 certified nodes joining");
    println!("permissioned ring of {NODES} converged in {:.1} s", took.as_secs_f64());
    let status = cluster.wait_for_status(2, true);
    assert_eq!(status.admission.mode, "permissioned");
    let membership = status.admission.membership.clone().expect("/status shows the certificate");
    assert!((29..=30).contains(&membership.days_left) && membership.warning.is_none(), "{membership:?}");
    let m2 = metrics(&cluster.node(2).http_addr());
    assert!(metric(&m2, "dhtr_certificate_expiry_timestamp_seconds") > unix_now() as f64 + 29.0 * 86_400.0);

    // `dig` at n1 resolves a name from the authorities; its RRset is
    // committed by the committee, and n3 answers it from the network.
    let ip1 = cluster.node(1).ip();
    assert_eq!(dig_a(&ip1, NAME).trim(), "192.0.2.10", "n1 answers {NAME}");
    let n3_http = cluster.node(3).http_addr();
    wait_until(Instant::now() + SPREAD_TIMEOUT, || {
        let r = dhtr_monitoring::get_records(&n3_http, NAME, 1).map_err(|e| e.to_string())?;
        if r.verdict == "agreed" && r.rrset.is_some() { Ok(()) } else { Err(format!("{r:?}")) }
    })
    .unwrap_or_else(|e| panic!("{NAME} A was never committed: {e}"));
    let network_answers = "dhtr_dns_queries_total{source=\"network\"";
    let before = metric(&metrics(&n3_http), network_answers);
    let ip3 = cluster.node(3).ip();
    assert_eq!(dig_a(&ip3, NAME).trim(), "192.0.2.10", "n3 answers {NAME}");
    assert!(metric(&metrics(&n3_http), network_answers) > before, "n3's answer came from the network");

    // Peers that are not admitted are refused and counted by reason; one
    // the authority admitted is answered.
    let n1 = cluster.node(1);
    let target: PeerId = n1.identity.peer_id.parse().unwrap();
    let addr: Multiaddr = n1.p2p_addr().parse().unwrap();
    let protocol = format!("/dhtr/{}/chord/1", common::NETWORK);
    let n1_http = n1.http_addr();
    let net_statement = Statement::from_text(&std::fs::read_to_string(&n1_cert).unwrap(), Kind::Certificate).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let cert_path = cluster.root().join("raw.cert");
    let records = format!("/dhtr/{}/records/1", common::NETWORK);
    let reader_path = cluster.root().join("reader.cert");
    let (none, weak, admitted, read_none, read_admitted) = rt.block_on(async {
        let mut stranger = RawClient::speaking(&protocol);
        let bytes = ping(None);
        let none = stranger.exchange(target, &addr, bytes).await;
        let mut weak_client = RawClient::speaking(&protocol);
        let me = PeerRef(weak_client.swarm.local_peer_id().to_bytes());
        let now = unix_now();
        let weak = forge(&net_statement, &[(1, &keys[1])], me, now, now + 86_400);
        let bytes = ping(Some(weak));
        let weak = weak_client.exchange(target, &addr, bytes).await;
        let mut member = RawClient::speaking(&protocol);
        admit(&bin, &network, &[&keys[1], &keys[2]], &member.swarm.local_peer_id().to_string(), &cert_path);
        let text = std::fs::read_to_string(&cert_path).unwrap();
        let cert = Statement::from_text(&text, Kind::Certificate).unwrap();
        let admitted = member.exchange(target, &addr, ping(Some(cert))).await;
        // Reads too: a member answers only admitted readers.
        let read_none = RawClient::speaking(&records).exchange(target, &addr, read(None)).await;
        let mut reader = RawClient::speaking(&records);
        admit(&bin, &network, &[&keys[0], &keys[1]], &reader.swarm.local_peer_id().to_string(), &reader_path);
        let text = std::fs::read_to_string(&reader_path).unwrap();
        let reader_cert = Statement::from_text(&text, Kind::Certificate).unwrap();
        let read_admitted = reader.exchange(target, &addr, read(Some(reader_cert))).await;
        (none, weak, admitted, read_none, read_admitted)
    });
    println!("no certificate: {none}\none signature: {weak}\nadmitted: {admitted}");
    println!("a read without a certificate: {read_none}\nan admitted read: {read_admitted}");
    assert!(matches!(read_none, Outcome::Failed(_)), "a reader without a certificate is not answered");
    assert!(matches!(read_admitted, Outcome::Response(_)), "an admitted reader is answered");
    assert!(matches!(none, Outcome::Failed(_)), "a peer without a certificate is not answered");
    assert!(matches!(weak, Outcome::Failed(_)), "a certificate signed by 1 of 2 keys is not enough");
    assert!(matches!(admitted, Outcome::Response(_)), "an admitted peer is answered");
    let m1 = metrics(&n1_http);
    assert!(metric(&m1, "dhtr_admissions_refused_total{reason=\"not_admitted\"}") >= 1.0, "{m1}");
    assert!(metric(&m1, "dhtr_admissions_refused_total{reason=\"certificate\"}") >= 1.0, "{m1}");
    cluster.assert_alive();

    // A revocation handed to n1 reaches every node; n4 leaves their
    // routing state and is refused.
    let n4 = cluster.node(4).identity.peer_id.clone();
    let rev = cluster.root().join("n4.rev");
    let n4_cert = cluster.node(4).data_dir.join("membership.cert");
    ok(
        &bin,
        &[
            "revoke",
            "--network",
            network.to_str().unwrap(),
            "--key",
            keys[0].to_str().unwrap(),
            "--key",
            keys[1].to_str().unwrap(),
            "--peer",
            &n4,
            "--cert",
            n4_cert.to_str().unwrap(),
            "--out",
            rev.to_str().unwrap(),
        ],
    );
    let dir = cluster.node(1).data_dir.join("revocations");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(&rev, dir.join("n4.rev")).unwrap();
    let spread = Instant::now();
    wait_until(Instant::now() + SPREAD_TIMEOUT, || {
        cluster.assert_alive();
        for i in 1..NODES {
            let node = cluster.node(i);
            let s = dhtr_monitoring::get_status(&node.http_addr()).map_err(|e| e.to_string())?;
            if s.admission.membership.as_ref().is_none_or(|m| m.revocations != 1) {
                return Err(format!("{} knows no revocation yet", node.label()));
            }
            let named = s.successors.iter().chain(&s.predecessor).chain(&s.fingers).any(|p| p.peer_id == n4);
            if named {
                return Err(format!("{} still routes through n4", node.label()));
            }
            if !node.data_dir.join("revocations").read_dir().is_ok_and(|mut d| d.next().is_some()) {
                return Err(format!("{} has not stored the revocation", node.label()));
            }
        }
        Ok(())
    })
    .unwrap_or_else(|e| panic!("the revocation did not spread: {e}"));
    println!("the revocation reached n1..n3 in {:.1} s", spread.elapsed().as_secs_f64());
    let revoked: f64 = (1..NODES)
        .map(|i| metric(&metrics(&cluster.node(i).http_addr()), "dhtr_admissions_refused_total{reason=\"revoked\"}"))
        .sum();
    println!("requests from n4 refused as revoked: {revoked}");
    assert!(revoked >= 1.0, "n4 still talks to the others, which refuse it as revoked");
}

/// The README's life-cycle block, run as written but for its `dhtr run`
/// lines: each command by bash in a fresh directory, the `dhtr` under test
/// first on the PATH.
#[test]
fn the_readme_life_cycle_recipe_works() {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md")).unwrap();
    let after = readme.split_once("<!-- readme-test: permissioned -->").expect("the marker").1;
    let block = after.split_once("```sh\n").unwrap().1.split_once("```").unwrap().0;
    let script: String = block
        .replace("\\\n", " ")
        .lines()
        .filter(|l| !l.trim_start().starts_with("dhtr run"))
        .map(|l| format!("{l}\n"))
        .collect();
    let dir = tempfile::Builder::new().prefix("dhtr-recipe-").tempdir().unwrap();
    let bin_dir = PathBuf::from(env!("CARGO_BIN_EXE_dhtr")).parent().unwrap().to_owned();
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap_or_default());
    let mut command = Command::new("bash");
    clear_dhtr_env(&mut command);
    let out = command.args(["-e", "-c", &script]).current_dir(dir.path()).env("PATH", path).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{script}\n{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "the recipe failed");
    assert!(stdout.contains("signatures: valid: 2 of 3 keys signed, 2 needed"), "cert show verifies");
    assert!(dir.path().join("n2/revocations/n1.rev").is_file());
    let rev = std::fs::read_to_string(dir.path().join("n1.rev")).unwrap();
    assert!(Statement::from_text(&rev, Kind::Revocation).is_ok());
}

#[test]
fn a_node_with_a_bad_certificate_or_another_network_file_refuses_to_start_naming_the_file() {
    let dir = tempfile::Builder::new().prefix("dhtr-perm-").tempdir().unwrap();
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_dhtr"));
    let (network, keys) = create_network(&bin, &dir.path().join("net"), "permstart");
    let data = dir.path().join("d");
    let key_out = ok(&bin, &["keygen", "--data-dir", data.to_str().unwrap()]);
    let peer_id = key_out.lines().find_map(|l| l.strip_prefix("peer_id: ")).unwrap().trim().to_owned();
    let peer = PeerRef(peer_id.parse::<PeerId>().unwrap().to_bytes());
    let good = dir.path().join("good.cert");
    admit(&bin, &network, &[&keys[0], &keys[1]], &peer_id, &good);
    let template = Statement::from_text(&std::fs::read_to_string(&good).unwrap(), Kind::Certificate).unwrap();
    let now = unix_now();
    let write = |name: &str, s: &Statement| {
        let p = dir.path().join(name);
        std::fs::write(&p, s.to_text()).unwrap();
        p
    };
    let expired = write(
        "expired.cert",
        &forge(&template, &[(0, &keys[0]), (1, &keys[1])], peer.clone(), now - 40 * 86_400, now - 10 * 86_400),
    );
    let weak = write("weak.cert", &forge(&template, &[(2, &keys[2])], peer.clone(), now, now + 86_400));
    let other = PeerRef(PeerId::random().to_bytes());
    let foreign = write("foreign.cert", &forge(&template, &[(0, &keys[0]), (2, &keys[2])], other, now, now + 86_400));
    let run = |network: &Path, cert: &Path| {
        let args = [
            "run",
            "--data-dir",
            data.to_str().unwrap(),
            "--network-file",
            network.to_str().unwrap(),
            "--certificate",
            cert.to_str().unwrap(),
            "--listen",
            "/ip4/127.0.0.86/tcp/4601",
            "--http-listen",
            "127.0.0.86:9495",
            "--dns-listen",
            "127.0.0.86:0",
        ];
        let (success, _, stderr) = dhtr(&bin, &args);
        assert!(!success, "`dhtr run` with {} must refuse to start", cert.display());
        stderr
    };
    for (cert, why) in [
        (&expired, "expired"),
        (&weak, "1 valid signature(s)"),
        (&foreign, "names peer"),
        (&dir.path().join("missing.cert"), "missing"),
    ] {
        let stderr = run(&network, cert);
        assert!(
            stderr.contains(&cert.display().to_string())
                && stderr.contains(why)
                && stderr.contains("refusing to start"),
            "the error must name {} and say {why:?}:\n{stderr}",
            cert.display()
        );
    }
    // The data dir now belongs to network `permstart`; another network file is refused.
    let (other_net, other_keys) = create_network(&bin, &dir.path().join("net2"), "permstart");
    // A certificate of that other network (same name, other keys).
    let elsewhere = dir.path().join("elsewhere.cert");
    admit(&bin, &other_net, &[&other_keys[0], &other_keys[1]], &peer_id, &elsewhere);
    let stderr = run(&network, &elsewhere);
    assert!(
        stderr.contains(&elsewhere.display().to_string()) && stderr.contains("another network"),
        "the error must name the certificate and say it is another network's:\n{stderr}"
    );
    let stderr = run(&other_net, &good);
    assert!(
        stderr.contains(&other_net.display().to_string()) && stderr.contains("network.id"),
        "the error must name the network file and the data dir's record:\n{stderr}"
    );

    // Without the network file, the data dir is not taken for an open network's.
    let open = ["run", "--data-dir", data.to_str().unwrap(), "--network", "permstart", "--test-network"];
    let (success, _, stderr) = dhtr(&bin, &open);
    assert!(!success && stderr.contains("network.id") && stderr.contains("--network-file"), "{stderr}");

    // A certificate with 3 days left: the node runs, and says so in its
    // log, in /status and in a metric.
    let short = dir.path().join("short.cert");
    let mut args = vec!["admit", "--network", network.to_str().unwrap(), "--key", keys[1].to_str().unwrap()];
    args.extend(["--key", keys[2].to_str().unwrap(), "--peer", &peer_id, "--days", "3"]);
    args.extend(["--out", short.to_str().unwrap()]);
    ok(&bin, &args);
    // The log is on stderr.
    let log = dir.path().join("short.log");
    let mut command = Command::new(&bin);
    clear_dhtr_env(&mut command);
    let mut child = command
        .args(["run", "--data-dir", data.to_str().unwrap(), "--network-file", network.to_str().unwrap()])
        .args(["--certificate", short.to_str().unwrap(), "--listen", "/ip4/127.0.0.86/tcp/4601"])
        .args(["--http-listen", "127.0.0.86:9495", "--dns-listen", "127.0.0.86:0"])
        .env("RUST_LOG", "info,libp2p=warn")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let status = wait_until(Instant::now() + Duration::from_secs(30), || {
        dhtr_monitoring::get_status("127.0.0.86:9495").map_err(|e| e.to_string())
    });
    let text = metrics("127.0.0.86:9495");
    let _ = child.kill();
    let _ = child.wait();
    let logged = std::fs::read_to_string(&log).unwrap_or_default();
    let status = status.unwrap_or_else(|e| panic!("the node with a short certificate did not come up: {e}\n{logged}"));
    let m = status.admission.membership.expect("/status shows the certificate");
    assert!((2..=3).contains(&m.days_left), "{m:?}");
    assert!(m.warning.as_deref().is_some_and(|w| w.contains("expires")), "{m:?}");
    assert!(logged.contains("WARN") && logged.contains("expires"), "the log warns:\n{logged}");
    let expiry = metric(&text, "dhtr_certificate_expiry_timestamp_seconds");
    assert!((expiry - (now + 3 * 86_400) as f64).abs() < 120.0, "expiry metric {expiry}");
}
