//! The iterative resolver against a real NSD hierarchy on 127.0.0.101–104
//! port 53 (see `tests/hierarchy/README.md`): root → test. → example.test. /
//! other.test. / glueless.test. Needs root (port 53); `start.sh` installs
//! nsd with apt if it is missing. Every process started is stopped by a
//! Drop guard, also when an assertion fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::str::FromStr;
use std::time::{Duration, Instant};

use dhtr_resolver::iterative::{IterConfig, Iterative};
use dhtr_resolver::{Question, Resolution, ResolveError};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};

const INSTANCES: [(&str, &str); 4] =
    [("root", "127.0.0.101"), ("tld", "127.0.0.102"), ("ns3", "127.0.0.103"), ("ns4", "127.0.0.104")];

/// The running hierarchy; dropping it resumes paused servers and stops all.
struct Hierarchy {
    dir: tempfile::TempDir,
    scripts: PathBuf,
}

impl Hierarchy {
    fn start() -> Hierarchy {
        for (name, ip) in INSTANCES {
            let addr: SocketAddr = format!("{ip}:53").parse().unwrap();
            if let Err(e) = UdpSocket::bind(addr) {
                panic!(
                    "cannot use {addr} for the test hierarchy ({name}): {e}. Port 53 on 127.0.0.101-104 must be \
                     free (is another hierarchy test running?) and the test must run as root."
                );
            }
        }
        let scripts = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/hierarchy");
        let hierarchy = Hierarchy { dir: tempfile::tempdir().unwrap(), scripts };
        // apt-get may run on a fresh box: allow it a few minutes.
        hierarchy.script("start.sh", &[], Duration::from_secs(300));
        hierarchy
    }

    fn script(&self, name: &str, args: &[&str], limit: Duration) {
        let mut cmd = Command::new(self.scripts.join(name));
        cmd.arg(self.dir.path()).args(args).stdout(Stdio::null());
        run_bounded(cmd, limit);
    }

    fn pgid(&self, instance: &str) -> String {
        let pid = std::fs::read_to_string(self.dir.path().join(instance).join("nsd.pid")).unwrap();
        pid.trim().to_string()
    }

    /// SIGSTOP/SIGCONT to an instance's process group (its pid is the group id, README).
    fn signal(&self, instance: &str, signal: &str) {
        let mut cmd = Command::new("kill");
        cmd.args([signal, "--", &format!("-{}", self.pgid(instance))]);
        run_bounded(cmd, Duration::from_secs(5));
    }
}

impl Drop for Hierarchy {
    fn drop(&mut self) {
        for (instance, _) in INSTANCES {
            if let Ok(pid) = std::fs::read_to_string(self.dir.path().join(instance).join("nsd.pid")) {
                let _ = Command::new("kill").args(["-CONT", "--", &format!("-{}", pid.trim())]).status();
            }
        }
        let _ = Command::new(self.scripts.join("stop.sh")).arg(self.dir.path()).status();
    }
}

/// Runs `cmd`, killing it if it outlives `limit`; panics unless it succeeds.
fn run_bounded(mut cmd: Command, limit: Duration) {
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let until = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "{cmd:?} failed: {status}");
            return;
        }
        if Instant::now() > until {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{cmd:?} took more than {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn config() -> IterConfig {
    IterConfig::with_roots(vec!["127.0.0.101:53".parse().unwrap()])
}

fn question(name: &str, qtype: RecordType) -> Question {
    Question::new(Name::from_str(name).unwrap(), qtype)
}

async fn resolve(r: &Iterative, name: &str, qtype: RecordType) -> (Result<Resolution, ResolveError>, Duration) {
    let started = Instant::now();
    let result = tokio::time::timeout(Duration::from_secs(15), r.resolve(&question(name, qtype)))
        .await
        .unwrap_or_else(|_| panic!("{name} {qtype}: resolve did not return in 15 s"));
    let took = started.elapsed();
    println!("{:>7.1} ms  {name} {qtype}", took.as_secs_f64() * 1000.0);
    (result, took)
}

async fn answer(r: &Iterative, name: &str, qtype: RecordType) -> Vec<Record> {
    match resolve(r, name, qtype).await.0 {
        Ok(Resolution::Answer { records }) => records,
        other => panic!("{name} {qtype}: expected an answer, got {other:?}"),
    }
}

/// "owner TYPE rdata" per record, for compact assertions.
fn show(records: &[Record]) -> Vec<String> {
    records.iter().map(|r| format!("{} {} {}", r.name, r.record_type(), r.data)).collect()
}

fn soa_owner(soa: &Option<Record>) -> String {
    let soa = soa.as_ref().expect("negative answer without SOA");
    assert!(matches!(soa.data, RData::SOA(_)));
    soa.name.to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn iterative_resolution_against_nsd_hierarchy() {
    let hierarchy = Hierarchy::start();
    let r = Iterative::new(config());
    use RecordType::*;

    println!("cold and warm latencies (delegation cache shared):");
    let a = answer(&r, "example.test.", A).await;
    assert_eq!(show(&a), ["example.test. A 192.0.2.1"]);
    assert_eq!(a[0].ttl, 300, "TTL as the authority gave it");
    assert_eq!(show(&answer(&r, "example.test.", AAAA).await), ["example.test. AAAA 2001:db8::1"]);
    assert_eq!(show(&answer(&r, "example.test.", MX).await), ["example.test. MX 10 mail.example.test."]);
    assert_eq!(show(&answer(&r, "example.test.", TXT).await), ["example.test. TXT v=spf1 -all"]);
    assert_eq!(
        show(&answer(&r, "_sip._udp.example.test.", SRV).await),
        ["_sip._udp.example.test. SRV 10 60 5060 sip.example.test."]
    );
    assert_eq!(show(&answer(&r, "www.example.test.", AAAA).await), ["www.example.test. AAAA 2001:db8::10"]);

    // In-zone CNAME, cross-zone CNAME (NSD adds target.other.test data and
    // other.test NS: out of bailiwick, dropped and fetched from other.test),
    // a two-step chain, and a CNAME into the glueless delegation.
    assert_eq!(
        show(&answer(&r, "alias.example.test.", A).await),
        ["alias.example.test. CNAME www.example.test.", "www.example.test. A 192.0.2.10"]
    );
    assert_eq!(
        show(&answer(&r, "cross.example.test.", A).await),
        ["cross.example.test. CNAME target.other.test.", "target.other.test. A 192.0.2.77"]
    );
    assert_eq!(
        show(&answer(&r, "chain.example.test.", A).await),
        [
            "chain.example.test. CNAME cross.example.test.",
            "cross.example.test. CNAME target.other.test.",
            "target.other.test. A 192.0.2.77"
        ]
    );
    assert_eq!(
        show(&answer(&r, "deep.example.test.", A).await),
        ["deep.example.test. CNAME host.glueless.test.", "host.glueless.test. A 192.0.2.88"]
    );

    // Wildcards (one and two labels).
    assert_eq!(show(&answer(&r, "foo.wild.example.test.", A).await), ["foo.wild.example.test. A 192.0.2.99"]);
    assert_eq!(show(&answer(&r, "a.b.wild.example.test.", TXT).await), ["a.b.wild.example.test. TXT wildcard"]);

    // NXDOMAIN and NODATA with the zone's SOA (RFC 2308).
    match resolve(&r, "nope.example.test.", A).await.0 {
        Ok(res @ Resolution::NxDomain { .. }) => {
            let Resolution::NxDomain { cname_chain, soa } = &res else { unreachable!() };
            assert!(cname_chain.is_empty());
            assert_eq!(soa_owner(soa), "example.test.");
            assert_eq!(res.ttl(), Duration::from_secs(30), "SOA minimum bounds negative caching");
        }
        other => panic!("nope.example.test: expected NXDOMAIN, got {other:?}"),
    }
    match resolve(&r, "v4only.example.test.", AAAA).await.0 {
        Ok(Resolution::NoData { cname_chain, soa }) => {
            assert!(cname_chain.is_empty());
            assert_eq!(soa_owner(&soa), "example.test.");
        }
        other => panic!("v4only AAAA: expected NODATA, got {other:?}"),
    }
    match resolve(&r, "nothere.glueless.test.", A).await.0 {
        Ok(Resolution::NxDomain { soa, .. }) => assert_eq!(soa_owner(&soa), "glueless.test."),
        other => panic!("nothere.glueless.test: expected NXDOMAIN, got {other:?}"),
    }

    // 12 × 200-byte TXT: truncated over UDP, retried over TCP.
    let big = answer(&r, "big.example.test.", TXT).await;
    assert_eq!(big.len(), 12, "{:?}", show(&big));

    // Directly under the glueless delegation, with a cold cache (ns.other.test
    // has to be resolved on the side).
    let cold = Iterative::new(config());
    assert_eq!(show(&answer(&cold, "host.glueless.test.", A).await), ["host.glueless.test. A 192.0.2.88"]);
    assert_eq!(show(&answer(&cold, "glueless.test.", MX).await), ["glueless.test. MX 5 host.glueless.test."]);
    assert!(cold.cached_zones() >= 4, "root, test., other.test., glueless.test. cached");

    // Other classes are not supported.
    let chaos = Question { qclass: DNSClass::CH, ..question("example.test.", A) };
    assert!(matches!(r.resolve(&chaos).await, Err(ResolveError::NotSupported(_))));

    println!("one example.test. server stopped (connection refused), cold caches:");
    hierarchy.script("stop.sh", &["ns3"], Duration::from_secs(15));
    for name in ["www.example.test.", "cross.example.test.", "deep.example.test."] {
        let fresh = Iterative::new(config());
        let records = answer(&fresh, name, A).await;
        assert!(records.iter().any(|r| r.record_type() == A), "{name}: {:?}", show(&records));
    }
    hierarchy.script("start.sh", &["ns3"], Duration::from_secs(30));

    println!("one example.test. server silent (SIGSTOP), cold caches, try timeout 800 ms:");
    hierarchy.signal("ns3", "-STOP");
    let mut slow = 0;
    for round in 0..12 {
        let fresh = Iterative::new(config());
        let (result, took) = resolve(&fresh, "cross.example.test.", A).await;
        match result {
            Ok(Resolution::Answer { records }) => assert_eq!(records.len(), 2, "{:?}", show(&records)),
            other => panic!("cross.example.test with ns3 silent: {other:?}"),
        }
        assert!(took < Duration::from_secs(5), "one silent server cost {took:?}");
        if took >= Duration::from_millis(800) {
            slow += 1;
        }
        if slow > 0 && round >= 3 {
            break;
        }
    }
    assert!(slow > 0, "the silent server was never tried");
    // A warm resolver has learnt to avoid it.
    let warm = Iterative::new(config());
    for _ in 0..3 {
        let _ = answer(&warm, "cross.example.test.", A).await;
    }
    let (_, took) = resolve(&warm, "www.example.test.", A).await;
    assert!(took < Duration::from_millis(800), "a warm resolver should prefer the live server ({took:?})");
    hierarchy.signal("ns3", "-CONT");
    drop(hierarchy);
}
