//! The life cycle of a `permissioned` network on the command line: create
//! it (network file + admission keys), admit a PeerId for N days, revoke
//! it, show a certificate.

use std::path::{Path, PathBuf};

use anyhow::{Result, anyhow, bail};
use clap::{Args, Subcommand};
use dhtr_protocol::admission::certified_position;
use dhtr_protocol::permit::{Kind, MAX_ADMISSION_KEYS, Membership};
use dhtr_protocol::{PeerRef, Statement};

use super::network::{NetworkFile, PERMISSIONED};
use super::{
    AdmissionKey, Network, days_left, format_time, load_statement, peer_text, sign, unix_now, write_new, write_new_mode,
};

/// Longest validity of a certificate (and of a revocation given no certificate).
const MAX_DAYS: u32 = 3660;

/// `dhtr network ...`
#[derive(Subcommand)]
pub enum NetworkCmd {
    /// Create a permissioned network: writes DIR/network.toml (for every
    /// node) and DIR/admission-key-<i>.secret (mode 0600; keep offline).
    Create(CreateArgs),
}

/// `dhtr network create`
#[derive(Args)]
pub struct CreateArgs {
    /// The network's name (part of every protocol string).
    #[arg(long)]
    name: String,
    /// Number of admission keys m.
    #[arg(long, default_value_t = 3)]
    keys: u8,
    /// Signatures of distinct keys a certificate needs (k of m).
    #[arg(long, default_value_t = 2)]
    threshold: u8,
    /// Directory to write to (created if missing; files are never overwritten).
    #[arg(long)]
    out: PathBuf,
    /// Network parameter: top bits of a key that select its chunk. [default: 8]
    #[arg(long)]
    chunk_bits: Option<u8>,
    /// Network parameter: Byzantine members per committee (committees have 3f+1). [default: 1]
    #[arg(long)]
    f: Option<u8>,
    /// Network parameter: most committee members from one /24 or /48.
    #[arg(long, default_value_t = 1)]
    per_prefix_committee: u8,
    /// Network parameter: most fingers from one /24 or /48.
    #[arg(long, default_value_t = 2)]
    per_prefix_routing: u8,
}

/// Who signs what about whom: `dhtr admit` and `dhtr revoke`.
#[derive(Args)]
pub struct SignArgs {
    /// The network file.
    #[arg(long)]
    network: PathBuf,
    /// An admission key file; repeat for as many as the threshold needs.
    #[arg(long = "key", required = true)]
    keys: Vec<PathBuf>,
    /// The PeerId (what `dhtr keygen` prints).
    #[arg(long)]
    peer: String,
}

/// `dhtr admit`
#[derive(Args)]
pub struct AdmitArgs {
    #[command(flatten)]
    sign: SignArgs,
    /// Days of validity, from now.
    #[arg(long)]
    days: u32,
    /// The certificate's serial, which with the PeerId places the node on
    /// the ring: give the old certificate's (`dhtr cert show`) to renew
    /// without moving the node. [default: random]
    #[arg(long)]
    serial: Option<u64>,
    /// Where to write the certificate (never overwritten).
    #[arg(long)]
    out: PathBuf,
}

/// `dhtr revoke`
#[derive(Args)]
pub struct RevokeArgs {
    #[command(flatten)]
    sign: SignArgs,
    /// The certificate revoked: the revocation lasts as long as it would
    /// have (without it, as long as any certificate can: 3660 days).
    #[arg(long)]
    cert: Option<PathBuf>,
    /// Where to write the revocation; copy it into a running node's
    /// DATA_DIR/revocations/ and it spreads over the ring.
    #[arg(long)]
    out: PathBuf,
}

/// `dhtr cert ...`
#[derive(Subcommand)]
pub enum CertCmd {
    /// Print a certificate: peer, network, validity, days left, signers.
    Show {
        /// The certificate file.
        cert: PathBuf,
        /// The network file: also verify the signatures against its keys.
        #[arg(long)]
        network: Option<PathBuf>,
    },
}

/// Run `dhtr network create`.
pub fn create(a: CreateArgs) -> Result<()> {
    let m = a.keys;
    if m == 0 || usize::from(m) > MAX_ADMISSION_KEYS {
        bail!("--keys {m}: between 1 and {MAX_ADMISSION_KEYS}");
    }
    let defaults = dhtr_protocol::NetworkParams::default();
    let secrets: Vec<[u8; 32]> = (0..m).map(|_| rand::random::<[u8; 32]>()).collect();
    let file = NetworkFile {
        name: a.name,
        mode: PERMISSIONED.into(),
        chunk_bits: a.chunk_bits.unwrap_or(defaults.chunk_bits),
        f: a.f.unwrap_or(defaults.f),
        per_prefix_committee: a.per_prefix_committee,
        per_prefix_routing: a.per_prefix_routing,
        threshold: a.threshold,
        admission_keys: secrets.iter().map(|s| hex::encode(dhtr_protocol::permit::public_of(s))).collect(),
    };
    let network = Network::check(file).map_err(|e| anyhow!("{e:#}"))?;
    std::fs::create_dir_all(&a.out).map_err(|e| anyhow!("cannot create {}: {e}", a.out.display()))?;
    let net_path = a.out.join("network.toml");
    // Public: every node of the network reads it.
    write_new_mode(&net_path, &network.to_text()?, 0o644)?;
    println!("network file: {}", net_path.display());
    println!("network id: {}", hex::encode(network.tag.0));
    for (i, secret) in secrets.into_iter().enumerate() {
        let key = AdmissionKey { index: i as u8, secret };
        let path = a.out.join(format!("admission-key-{i}.secret"));
        write_new(&path, &key.to_text(&network))?;
        println!("admission key {i}: {} (secret: keep it offline)", path.display());
    }
    println!("certificates need {} of these {m} keys", network.file.threshold);
    Ok(())
}

fn peer_arg(text: &str) -> Result<PeerRef> {
    let id: libp2p::PeerId = text.parse().map_err(|e| anyhow!("--peer {text:?} is not a PeerId: {e}"))?;
    Ok(PeerRef(id.to_bytes()))
}

impl SignArgs {
    /// The network, the peer and the keys, read and checked.
    fn load(&self) -> Result<(Network, PeerRef, Vec<AdmissionKey>)> {
        let network = Network::load(&self.network)?;
        let peer = peer_arg(&self.peer)?;
        let keys = self.keys.iter().map(|p| AdmissionKey::load(p, &network)).collect::<Result<_>>()?;
        Ok((network, peer, keys))
    }

    /// Sign a statement of `kind` for `now..not_after` with `serial` and
    /// write it to `out` with a comment saying what it is.
    fn write(&self, kind: Kind, (now, not_after): (u64, u64), serial: u64, out: &Path) -> Result<()> {
        let (network, peer, keys) = self.load()?;
        let mut s = Statement::unsigned(kind, network.tag, peer, now, not_after);
        s.serial = serial;
        let s = sign(&network, s, &keys)?;
        let what = match kind {
            Kind::Certificate => "membership certificate",
            Kind::Revocation => "revocation",
        };
        let text = format!(
            "# dhtr {what}: peer {} on network `{}`, from {} until {}.\n{}",
            self.peer,
            network.file.name,
            format_time(now),
            format_time(not_after),
            s.to_text()
        );
        write_new(out, &text)?;
        println!("{what} for {} until {}: {}", self.peer, format_time(not_after), out.display());
        Ok(())
    }
}

/// Run `dhtr admit`.
pub fn admit(a: AdmitArgs) -> Result<()> {
    if a.days == 0 || a.days > MAX_DAYS {
        bail!("--days {}: between 1 and {MAX_DAYS}", a.days);
    }
    let now = unix_now();
    let serial = a.serial.unwrap_or_else(rand::random);
    a.sign.write(Kind::Certificate, (now, now.saturating_add(u64::from(a.days) * 86_400)), serial, &a.out)
}

/// Run `dhtr revoke`.
pub fn revoke(a: RevokeArgs) -> Result<()> {
    let peer = peer_arg(&a.sign.peer)?;
    let now = unix_now();
    let not_after = match &a.cert {
        Some(path) => {
            let c = load_statement(path, Kind::Certificate)?;
            if c.peer != peer {
                bail!("certificate {} names peer {}, not {}", path.display(), peer_text(&c.peer), a.sign.peer);
            }
            c.not_after
        }
        None => now.saturating_add(u64::from(MAX_DAYS) * 86_400),
    };
    a.sign.write(Kind::Revocation, (now, not_after), 0, &a.out)?;
    println!("copy it into a running node's DATA_DIR/revocations/: it spreads over the ring");
    Ok(())
}

/// Run `dhtr cert show`.
pub fn show(cert: PathBuf, network: Option<PathBuf>) -> Result<()> {
    let c = load_statement(&cert, Kind::Certificate)?;
    let now = unix_now();
    println!("certificate: {}", cert.display());
    println!("peer: {}", peer_text(&c.peer));
    println!("network id: {}", hex::encode(c.network.0));
    println!("valid from: {}", format_time(c.not_before));
    println!("valid until: {}", format_time(c.not_after));
    println!(
        "serial: {} (with the peer, its ring position: {})",
        c.serial,
        certified_position(&c.peer, c.serial).to_hex()
    );
    let left = days_left(c.not_after, now);
    println!("days left: {}{}", left.max(0), if c.not_after < now { " (expired)" } else { "" });
    let mut keys: Vec<u8> = c.signatures.iter().map(|s| s.key).collect();
    keys.dedup();
    let listed = keys.iter().map(u8::to_string).collect::<Vec<_>>().join(", ");
    println!("signed by admission keys: {listed}");
    if let Some(path) = network {
        let n = Network::load(&path)?;
        let m = Membership::new(n.file.threshold, n.keys.clone(), std::time::Instant::now(), now)
            .map_err(|e| anyhow!("{e}"))?;
        let verdict = if c.network != n.tag {
            format!("NOT for this network (network file {} gives id {})", path.display(), hex::encode(n.tag.0))
        } else {
            match m.signers(&c) {
                Ok(s) => format!("valid: {} of {} keys signed, {} needed", s.len(), n.keys.len(), n.file.threshold),
                Err(e) => format!("INVALID: {e}"),
            }
        };
        println!("signatures: {verdict}");
    }
    Ok(())
}
