//! dhtr serving DNS against a real hierarchy: NSD authoritative servers on
//! 127.0.0.101–104 (root, `test.`, `example.test.`, `other.test.`,
//! `glueless.test.`, see `resolver/tests/hierarchy/`), and 4 dhtr processes
//! on 127.0.0.71–74 whose root hints point at that root, queried with `dig`.
//!
//! Checks what a user of a resolver notices: answers for A, AAAA, MX, TXT,
//! SRV and CNAME (in-zone, across zones, into a glueless delegation), a
//! wildcard, NXDOMAIN and NODATA with the SOA, a large answer over TCP;
//! that a second node answers a name another node resolved from the
//! network; that committed names are still answered with the authorities
//! stopped; and that a lying committee member changes no answer.
//!
//! Needs root (port 53 on loopback addresses) and `nsd` + `dig` (installed
//! by `make deps`). Every wait is bounded; times are printed, not asserted.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::hierarchy::Hierarchy;
use common::{Cluster, Layout, wait_until};

const NODES: usize = 4;
const DNS_PORT: u16 = 5335;

/// `dig` output lines of the answer (+short) or the whole response.
fn dig(node: usize, args: &[&str]) -> String {
    let server = format!("@127.0.0.{}", 70 + node);
    let out = Command::new("dig")
        .arg(&server)
        .args(["-p", &DNS_PORT.to_string(), "+time=3", "+tries=2"])
        .args(args)
        .output()
        .expect("dig is installed (make deps)");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn short(node: usize, name: &str, qtype: &str) -> Vec<String> {
    let mut lines: Vec<String> = dig(node, &["+short", name, qtype])
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect();
    lines.sort();
    lines
}

fn status(node: usize, name: &str, qtype: &str) -> String {
    let out = dig(node, &[name, qtype]);
    out.lines()
        .find_map(|l| l.split("status: ").nth(1))
        .map(|s| s.split(',').next().unwrap_or("").to_string())
        .unwrap_or_else(|| format!("no status in:\n{out}"))
}

fn metric(node: usize, series: &str) -> f64 {
    let body = ureq::get(format!("http://127.0.0.{}:9491/metrics", 70 + node))
        .call()
        .and_then(|mut r| r.body_mut().read_to_string())
        .unwrap_or_default();
    body.lines().filter(|l| l.starts_with(series)).filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok()).sum()
}

#[test]
fn dig_through_dhtr_against_a_real_hierarchy() {
    let hier = Hierarchy::start();
    let mut layout = Layout::new(70, 4501, 9491);
    layout.dns_port = Some(DNS_PORT);
    // A TTL floor of 1 s lets the 5 s `short` record be committed, so a
    // change at the authority can be watched travel through the network.
    let config = hier.dir.path().join("dhtr.toml");
    std::fs::write(&config, "[dns]\nttl_floor_secs = 1\nrefresh_interval_secs = 2\n").unwrap();
    layout.extra_args = vec![
        "--root-hints".into(),
        hier.hints().display().to_string(),
        "--config".into(),
        config.display().to_string(),
    ];
    let mut cluster = Cluster::new(NODES, layout.clone());
    println!("test files in {}", cluster.root().display());
    // Node 4 is a lying committee member: it falsifies every record it
    // returns to other nodes' network reads.
    cluster.nodes[NODES - 1].layout.extra_args.push("--test-liar".into());
    cluster.start(1, None);
    cluster.wait_for_status(1, true);
    let boot = cluster.node(1).p2p_addr();
    let t = Instant::now();
    for i in 2..=NODES {
        cluster.start(i, Some(&boot));
    }
    cluster.wait_for_ring("4 nodes joining", t);
    // Successor lists fill one position per stabilization round.
    std::thread::sleep(Duration::from_secs(3));

    // Every record type and case, through node 1 (cold: fallback resolution).
    let cases: &[(&str, &str, &[&str])] = &[
        ("www.example.test.", "A", &["192.0.2.10"]),
        ("www.example.test.", "AAAA", &["2001:db8::10"]),
        ("alias.example.test.", "A", &["192.0.2.10", "www.example.test."]),
        ("cross.example.test.", "A", &["192.0.2.77", "target.other.test."]),
        ("foo.wild.example.test.", "A", &["192.0.2.99"]),
        ("host.glueless.test.", "A", &[]),
        ("deep.example.test.", "A", &["host.glueless.test."]),
    ];
    let t = Instant::now();
    for (name, qtype, want) in cases {
        let got = short(1, name, qtype);
        for w in *want {
            assert!(got.iter().any(|g| g == w), "{name} {qtype}: want {w} in {got:?}");
        }
        assert!(!got.is_empty(), "{name} {qtype}: empty answer");
    }
    for (name, qtype) in [("example.test.", "MX"), ("example.test.", "TXT"), ("_sip._udp.example.test.", "SRV")] {
        assert!(!short(1, name, qtype).is_empty(), "{name} {qtype}: empty answer");
    }
    assert_eq!(status(1, "nope.example.test.", "A"), "NXDOMAIN");
    assert_eq!(status(1, "v4only.example.test.", "AAAA"), "NOERROR");
    assert!(short(1, "v4only.example.test.", "AAAA").is_empty(), "NODATA has no answer");
    assert!(dig(1, &["nope.example.test.", "A"]).contains("SOA"), "NXDOMAIN carries the SOA");
    // The big TXT does not fit in UDP: dig retries over TCP on TC.
    let big = dig(1, &["big.example.test.", "TXT"]);
    assert!(big.contains("status: NOERROR") && big.matches("TXT").count() >= 12, "big TXT over TCP:\n{big}");
    println!("all record types and cases answered through n1 in {:.2} s", t.elapsed().as_secs_f64());

    // The RRsets n1 resolved are inserted by consensus (every member
    // resolves them itself); once committed, n2 answers them from the
    // network, not by resolving them itself, despite the liar.
    let t = Instant::now();
    let n2 = cluster.node(2).http_addr();
    let read = wait_until(Instant::now() + Duration::from_secs(90), || {
        let r = dhtr_monitoring::get_records(&n2, "www.example.test.", 1).map_err(|e| e.to_string())?;
        if r.verdict == "agreed" && r.rrset.is_some() { Ok(r) } else { Err(format!("{r:?}")) }
    })
    .unwrap_or_else(|e| panic!("www.example.test. A was never committed: {e}"));
    println!("www.example.test. A committed {:.1} s after n1 resolved it: {read:?}", t.elapsed().as_secs_f64());
    let before = metric(2, "dhtr_dns_queries_total{source=\"network\"");
    assert_eq!(short(2, "www.example.test.", "A"), ["192.0.2.10"], "n2 answers the committed record");
    assert!(metric(2, "dhtr_dns_queries_total{source=\"network\"") > before, "n2's answer came from the network");
    // CNAME chains are followed through the network too.
    for (name, want) in [("alias.example.test.", "192.0.2.10"), ("cross.example.test.", "192.0.2.77")] {
        wait_until(Instant::now() + Duration::from_secs(60), || {
            let r = dhtr_monitoring::get_records(&n2, name, 1).map_err(|e| e.to_string())?;
            if r.verdict == "agreed" && r.cname.is_some() { Ok(()) } else { Err(format!("{r:?}")) }
        })
        .unwrap_or_else(|e| panic!("{name}: CNAME not committed: {e}"));
        let answer = short(2, name, "A");
        assert!(answer.iter().any(|a| a == want), "{name} through n2: {answer:?}");
    }
    let dissent: f64 = (1..=3).map(|i| metric(i, "dhtr_dns_network_dissent_total")).sum();
    println!("network answers outvoted the liar {dissent} times");

    // `dhtr history` shows the committed version and who signed it.
    let n3 = cluster.node(3).http_addr();
    let hist = dhtr_monitoring::get_history(&n3, "www.example.test.", 1).unwrap();
    assert_eq!(hist.verdict, "agreed", "{hist:?}");
    // Usually one version; two nodes that resolved the name before either
    // insertion committed each propose it (the same records, two versions).
    assert!(!hist.versions.is_empty(), "{hist:?}");
    for v in &hist.versions {
        assert!(v.records == ["192.0.2.10"] && v.signers.len() >= 3, "{hist:?}");
    }
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_dhtr"))
        .args(["history", "--http", &n3, "www.example.test", "A"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && text.contains("192.0.2.10") && text.contains("signed by"), "dhtr history:\n{text}");
    println!("dhtr history www.example.test A:\n{text}");

    // A record changed at the authority is served new after its TTL: the
    // committed version expires, the node resolves again, answers the new
    // address and the committee commits it as a new version.
    assert_eq!(short(1, "short.example.test.", "A"), ["192.0.2.5"]);
    wait_until(Instant::now() + Duration::from_secs(60), || {
        let r = dhtr_monitoring::get_records(&n2, "short.example.test.", 1).map_err(|e| e.to_string())?;
        if r.rrset.is_some() { Ok(()) } else { Err(format!("{r:?}")) }
    })
    .unwrap_or_else(|e| panic!("short.example.test. never committed: {e}"));
    let changed = Instant::now();
    let out = Command::new("bash")
        .arg(hier.scripts.join("set-short.sh"))
        .arg(hier.dir.path())
        .arg("192.0.2.55")
        .output()
        .unwrap();
    assert!(out.status.success(), "set-short.sh: {}", String::from_utf8_lossy(&out.stderr));
    for node in [2, 3] {
        wait_until(Instant::now() + Duration::from_secs(60), || {
            let got = short(node, "short.example.test.", "A");
            if got == ["192.0.2.55"] { Ok(()) } else { Err(format!("n{node} still answers {got:?}")) }
        })
        .unwrap();
    }
    println!(
        "the changed record was answered by n2 and n3 {:.1} s after the change (TTL 5 s)",
        changed.elapsed().as_secs_f64()
    );
    let versions = wait_until(Instant::now() + Duration::from_secs(60), || {
        let h = dhtr_monitoring::get_history(&n3, "short.example.test.", 1).map_err(|e| e.to_string())?;
        if h.versions.len() >= 2 { Ok(h) } else { Err(format!("{h:?}")) }
    })
    .unwrap_or_else(|e| panic!("the new version was not committed: {e}"));
    let last = versions.versions.last().map(|v| v.records.clone()).unwrap_or_default();
    assert_eq!(last, ["192.0.2.55"], "{versions:?}");
    println!("short.example.test. has {} committed versions", versions.versions.len());

    // Without any query, the committee refreshes the expired record: its
    // designated member resolves it again and the new version is committed.
    let changed = Instant::now();
    let out = Command::new("bash")
        .arg(hier.scripts.join("set-short.sh"))
        .arg(hier.dir.path())
        .arg("192.0.2.66")
        .output()
        .unwrap();
    assert!(out.status.success(), "set-short.sh: {}", String::from_utf8_lossy(&out.stderr));
    wait_until(Instant::now() + Duration::from_secs(60), || {
        let h = dhtr_monitoring::get_history(&n3, "short.example.test.", 1).map_err(|e| e.to_string())?;
        let last = h.versions.last().map(|v| v.records.clone()).unwrap_or_default();
        if last == ["192.0.2.66"] { Ok(()) } else { Err(format!("last committed version {last:?}")) }
    })
    .unwrap_or_else(|e| panic!("the committee did not refresh the changed record: {e}"));
    let refreshes: f64 = (1..=NODES).map(|i| metric(i, "dhtr_dns_refreshes_total{outcome=\"put\"")).sum();
    println!(
        "refreshed by the committee without any query {:.1} s after the change ({refreshes} refresh proposals)",
        changed.elapsed().as_secs_f64()
    );

    // With every authority stopped, committed names are still answered
    // (n3 never asked before: network read).
    hier.stop(&[]);
    let got = short(3, "www.example.test.", "A");
    assert_eq!(got, ["192.0.2.10"], "a committed name with the authorities down");
    // An expired committed record is served stale, with a short TTL, rather
    // than failing (RFC 8767): `short` (TTL 5 s) expires while they are down.
    std::thread::sleep(Duration::from_secs(6));
    let stale = dig(4, &["+noall", "+answer", "short.example.test.", "A"]);
    let line = stale.lines().find(|l| l.contains("192.0.2.66")).unwrap_or_else(|| panic!("no stale answer:\n{stale}"));
    let ttl: u32 = line.split_whitespace().nth(1).and_then(|t| t.parse().ok()).unwrap_or(u32::MAX);
    assert!(ttl <= 30, "stale answers carry a short TTL: {line}");
    assert!(metric(4, "dhtr_dns_queries_total{source=\"stale\"") >= 1.0, "counted as stale");
    println!("with the authorities down, an expired committed record was served stale: {line}");
    drop(hier);
    let _ = &mut cluster;
}
