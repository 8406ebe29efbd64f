//! The identity's proof of work in an open network (issue 9, part 1):
//! computed once, on all cores, with progress in the log, and stored in the
//! data dir (`identity.work`, mode 0600). A stored proof for another
//! network, or one that does not verify, stops the node naming the file: it
//! is never overwritten.

use std::fs;
use std::io::ErrorKind;
use std::net::{IpAddr, Ipv4Addr, UdpSocket};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use dhtr_protocol::admission::{mint, work_bits};
use dhtr_protocol::{NetworkTag, PeerRef, Prefix, Rules};
use libp2p::Multiaddr;
use libp2p::multiaddr::Protocol;
use thiserror::Error;
use tracing::{info, warn};

/// Name of the work file inside the data dir.
pub const WORK_FILE: &str = "identity.work";

/// Nonces one thread tries between looks at the others.
const BATCH: u64 = 1 << 18;

/// Why the work could not be loaded or stored.
#[derive(Debug, Error)]
pub enum WorkError {
    /// The file exists but cannot be read.
    #[error("cannot read {path}: {source}; refusing to start")]
    Read {
        /// The work file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not a proof for this identity and network.
    #[error(
        "{path} {reason}; refusing to start. It was left untouched: if this data dir moved to another \
         network on purpose, move the file away and the work is computed again"
    )]
    Mismatch {
        /// The work file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The new proof could not be written.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The work file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

/// The nonce of this identity's work on `rules.network`: read from the data
/// dir, or computed now (expected 2^difficulty hashes) and stored.
pub fn load_or_mint(data_dir: &Path, peer: &PeerRef, rules: &Rules) -> Result<u64, WorkError> {
    let path = data_dir.join(WORK_FILE);
    match fs::read_to_string(&path) {
        Ok(text) => parse(&path, &text, peer, rules),
        Err(e) if e.kind() == ErrorKind::NotFound => {
            let nonce = compute(peer, rules);
            match store(&path, nonce, rules) {
                // Another process (`dhtr id` beside `dhtr run`) stored it first.
                Err(WorkError::Write { source, .. }) if source.kind() == ErrorKind::AlreadyExists => {
                    let text =
                        fs::read_to_string(&path).map_err(|source| WorkError::Read { path: path.clone(), source })?;
                    parse(&path, &text, peer, rules)
                }
                other => other.map(|()| nonce),
            }
        }
        Err(source) => Err(WorkError::Read { path, source }),
    }
}

fn parse(path: &Path, text: &str, peer: &PeerRef, rules: &Rules) -> Result<u64, WorkError> {
    let bad = |reason: String| WorkError::Mismatch { path: path.to_path_buf(), reason };
    let field =
        |name: &str| text.lines().find_map(|l| l.strip_prefix(name).and_then(|v| v.strip_prefix(' '))).map(str::trim);
    let network = field("network").ok_or_else(|| bad("has no `network` line (corrupt?)".into()))?;
    if network != hex::encode(rules.network.0) {
        return Err(bad(format!(
            "holds work for network {network}, but this node is configured for network {} \
             (network name, chunk_bits, f or admission parameters changed?)",
            hex::encode(rules.network.0)
        )));
    }
    let nonce = field("nonce")
        .and_then(|v| v.parse::<u64>().ok())
        .ok_or_else(|| bad("has no valid `nonce` line (corrupt?)".into()))?;
    let bits = work_bits(&rules.network, peer, nonce);
    if bits < u32::from(rules.difficulty) {
        return Err(bad(format!(
            "holds work of {bits} bits for this identity, short of the network's {}: it belongs to \
             another identity.key, or is corrupt",
            rules.difficulty
        )));
    }
    Ok(nonce)
}

fn store(path: &Path, nonce: u64, rules: &Rules) -> Result<(), WorkError> {
    let write_err = |source| WorkError::Write { path: path.to_path_buf(), source };
    let text = format!(
        "# dhtr identity work: the proof that this identity.key may stand on the network's ring.\n\
         network {}\ndifficulty {}\nnonce {nonce}\n",
        hex::encode(rules.network.0),
        rules.difficulty
    );
    crate::identity::create_file(path, text.as_bytes(), 0o600).map_err(write_err)
}

/// Search for the work on every core, logging progress every 10 s.
fn compute(peer: &PeerRef, rules: &Rules) -> u64 {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()) as u64;
    let expected = 2f64.powi(i32::from(rules.difficulty));
    info!(
        difficulty = rules.difficulty,
        threads,
        "computing this identity's proof of work (about {expected:.0} hashes; done once, then kept in {WORK_FILE})"
    );
    let t0 = Instant::now();
    let done = AtomicBool::new(false);
    let found = AtomicU64::new(u64::MAX);
    let tried = AtomicU64::new(0);
    let network: NetworkTag = rules.network;
    std::thread::scope(|s| {
        for t in 0..threads {
            let (done, found, tried) = (&done, &found, &tried);
            s.spawn(move || {
                let mut from = t * BATCH;
                while !done.load(Ordering::Relaxed) {
                    if let Some(n) = mint(&network, peer, rules.difficulty, from, BATCH) {
                        found.fetch_min(n, Ordering::Relaxed);
                        done.store(true, Ordering::Relaxed);
                    }
                    tried.fetch_add(BATCH, Ordering::Relaxed);
                    from = from.saturating_add(threads * BATCH);
                }
            });
        }
        let mut last = Instant::now();
        while !done.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(50));
            if last.elapsed() >= Duration::from_secs(10) {
                last = Instant::now();
                let n = tried.load(Ordering::Relaxed) as f64;
                info!(
                    "proof of work: {:.0} M hashes tried in {:.0} s ({:.0}% of the expected count; it may take longer)",
                    n / 1e6,
                    t0.elapsed().as_secs_f64(),
                    100.0 * n / expected
                );
            }
        }
    });
    let nonce = found.load(Ordering::Relaxed);
    info!(nonce, "proof of work found in {:.1} s", t0.elapsed().as_secs_f64());
    nonce
}

/// The address prefix this node's ring position is bound to: that of the
/// first external address, else of the first listen address with a
/// concrete IP, else of the interface the default route leaves by (behind
/// NAT that is not what peers see: set `external_addrs` then).
pub fn own_prefix(external: &[Multiaddr], listen: &[Multiaddr]) -> Option<Prefix> {
    let concrete = |m: &Multiaddr| {
        m.iter().find_map(|p| match p {
            Protocol::Ip4(ip) if !ip.is_unspecified() => Some(IpAddr::V4(ip)),
            Protocol::Ip6(ip) if !ip.is_unspecified() => Some(IpAddr::V6(ip)),
            _ => None,
        })
    };
    if let Some(ip) = external.iter().chain(listen).find_map(concrete) {
        return Some(Prefix::of(ip));
    }
    // No packet is sent: connecting a UDP socket only picks the route.
    let sock = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).ok()?;
    sock.connect((Ipv4Addr::new(192, 0, 2, 1), 9)).ok()?;
    let ip = sock.local_addr().ok()?.ip();
    warn!(
        "no external address and no concrete listen address: the ring position is bound to {}, the \
         prefix of this host's default route; behind NAT peers see another address and refuse it, so \
         set external_addrs",
        Prefix::of(ip)
    );
    Some(Prefix::of(ip))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn rules(tag: u8) -> Rules {
        Rules {
            network: NetworkTag([tag; 32]),
            difficulty: 8,
            per_prefix_committee: 1,
            per_prefix_routing: 2,
            permission: None,
        }
    }

    #[test]
    fn computed_once_stored_0600_then_reused() {
        let dir = tempfile::tempdir().unwrap();
        let peer = PeerRef(vec![3; 38]);
        let nonce = load_or_mint(dir.path(), &peer, &rules(1)).unwrap();
        assert!(work_bits(&rules(1).network, &peer, nonce) >= 8);
        let mode = fs::metadata(dir.path().join(WORK_FILE)).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(load_or_mint(dir.path(), &peer, &rules(1)).unwrap(), nonce);
    }

    #[test]
    fn work_for_another_network_or_identity_refuses_to_start_and_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let peer = PeerRef(vec![3; 38]);
        load_or_mint(dir.path(), &peer, &rules(1)).unwrap();
        let before = fs::read(dir.path().join(WORK_FILE)).unwrap();
        let e = load_or_mint(dir.path(), &peer, &rules(2)).unwrap_err().to_string();
        assert!(e.contains("identity.work") && e.contains("network"), "{e}");
        // Another identity: the stored nonce almost surely has < 8 bits for it.
        let other = (4..=255u8).map(|b| PeerRef(vec![b; 38])).find(|p| {
            let n = parse(Path::new("x"), &String::from_utf8_lossy(&before), &peer, &rules(1)).unwrap();
            work_bits(&rules(1).network, p, n) < 8
        });
        let e = load_or_mint(dir.path(), &other.unwrap(), &rules(1)).unwrap_err().to_string();
        assert!(e.contains("short of"), "{e}");
        fs::write(dir.path().join(WORK_FILE), "garbage").unwrap();
        let e = load_or_mint(dir.path(), &peer, &rules(1)).unwrap_err().to_string();
        assert!(e.contains("corrupt"), "{e}");
        assert_eq!(fs::read(dir.path().join(WORK_FILE)).unwrap(), b"garbage", "never overwritten");
    }

    #[test]
    fn the_prefix_comes_from_the_external_then_a_concrete_listen_address() {
        let ext: Multiaddr = "/ip4/203.0.113.7/tcp/4001".parse().unwrap();
        let any: Multiaddr = "/ip4/0.0.0.0/tcp/4001".parse().unwrap();
        let lo: Multiaddr = "/ip4/127.0.5.1/tcp/4001".parse().unwrap();
        assert_eq!(own_prefix(std::slice::from_ref(&ext), std::slice::from_ref(&lo)), Some(Prefix::V4([203, 0, 113])));
        assert_eq!(own_prefix(&[], &[any, lo]), Some(Prefix::V4([127, 0, 5])));
    }
}
