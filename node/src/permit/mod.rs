//! The `permissioned` admission mode on the node's side (issue 9, part 1;
//! seed 001's consortium of known operators; Castro et al. 2002 §4.1's
//! certified nodeIds): the network file ([`network`]), admission key files,
//! this node's own membership certificate (checked before the node starts:
//! a missing, expired, foreign or too weakly signed certificate stops it,
//! naming the file), the data dir's record of its network (`network.id`),
//! and the revocations directory (`DATA_DIR/revocations/*.rev`: read at
//! start and every few seconds, so an operator hands a revocation to a
//! running node by copying it there; revocations learned from the ring are
//! written there too). The verification rules are `dhtr_protocol::permit`.

pub mod cli;
pub mod network;

use std::collections::HashSet;
use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Result, anyhow, bail};
use dhtr_protocol::permit::{Kind, Membership};
use dhtr_protocol::{Certificate, PeerRef, Revocation, Statement};

pub use network::Network;

/// A certificate expiring within this many days is warned about.
pub const WARN_DAYS: u64 = 7;
/// The data dir's record of the network it belongs to.
pub const NETWORK_ID_FILE: &str = "network.id";
/// The data dir's directory of revocations.
pub const REVOCATIONS_DIR: &str = "revocations";
/// The default certificate file inside the data dir.
pub const CERT_FILE: &str = "membership.cert";

const DAY: u64 = 86_400;

/// The wall clock in UNIX seconds.
pub fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// `YYYY-MM-DD HH:MM:SS UTC` for UNIX seconds.
pub fn format_time(unix: u64) -> String {
    let days = (unix / DAY) as i64;
    let secs = unix % DAY;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC", secs / 3600, secs % 3600 / 60, secs % 60)
}

/// Days (rounded down) from `now` to `until`; negative once passed.
pub fn days_left(until: u64, now: u64) -> i64 {
    (until as i64 - now as i64).div_euclid(DAY as i64)
}

/// Write `text` to a new file (mode 0600), never over an existing one.
pub fn write_new(path: &Path, text: &str) -> Result<()> {
    write_new_mode(path, text, 0o600)
}

/// Write `text` to a new file with permissions `mode`, never over an existing one.
pub fn write_new_mode(path: &Path, text: &str, mode: u32) -> Result<()> {
    crate::identity::create_file(path, text.as_bytes(), mode).map_err(|e| {
        if e.kind() == ErrorKind::AlreadyExists {
            anyhow!("{} exists already; not overwritten", path.display())
        } else {
            anyhow!("cannot write {}: {e}", path.display())
        }
    })
}

/// An admission secret key, as read from its file.
pub struct AdmissionKey {
    /// Its index in the network file.
    pub index: u8,
    /// The ed25519 seed.
    pub secret: [u8; 32],
}

impl AdmissionKey {
    /// The key file's text.
    pub fn to_text(&self, network: &Network) -> String {
        format!(
            "# dhtr admission key {} of network `{}` ({}).\n# SECRET: keep it offline (mode 0600); running nodes never need it.\n\
             index {}\npublic {}\nsecret {}\n",
            self.index,
            network.file.name,
            hex::encode(network.tag.0),
            self.index,
            hex::encode(dhtr_protocol::permit::public_of(&self.secret)),
            hex::encode(self.secret)
        )
    }

    /// Read a key file and check it is one of `network`'s keys.
    pub fn load(path: &Path, network: &Network) -> Result<AdmissionKey> {
        let text =
            fs::read_to_string(path).map_err(|e| anyhow!("cannot read admission key {}: {e}", path.display()))?;
        let bad = |why: &str| anyhow!("admission key {}: {why}", path.display());
        let field = |name: &str| text.lines().find_map(|l| l.strip_prefix(name).and_then(|v| v.strip_prefix(' ')));
        let index: u8 =
            field("index").and_then(|v| v.trim().parse().ok()).ok_or_else(|| bad("no valid `index` line"))?;
        let secret: [u8; 32] = field("secret")
            .and_then(|v| hex::decode(v.trim()).ok())
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| bad("no valid `secret` line (64 hex digits)"))?;
        let public = dhtr_protocol::permit::public_of(&secret);
        if network.keys.get(usize::from(index)) != Some(&public) {
            return Err(bad(&format!(
                "is not admission key {index} of network `{}` (another network's key, or a wrong index)",
                network.file.name
            )));
        }
        Ok(AdmissionKey { index, secret })
    }
}

/// Sign statement `s` with every key in `keys`; at least the network's
/// threshold of distinct keys is required.
pub fn sign(network: &Network, mut s: Statement, keys: &[AdmissionKey]) -> Result<Statement> {
    let mut used: Vec<u8> = Vec::new();
    for k in keys {
        if !used.contains(&k.index) {
            s.sign(k.index, &k.secret);
            used.push(k.index);
        }
    }
    if used.len() < usize::from(network.file.threshold) {
        bail!(
            "{} distinct admission key(s) given; network `{}` needs {} (repeat --key)",
            used.len(),
            network.file.name,
            network.file.threshold
        );
    }
    Ok(s)
}

/// Read a statement file of kind `kind`; errors name the file.
pub fn load_statement(path: &Path, kind: Kind) -> Result<Statement> {
    let what = match kind {
        Kind::Certificate => "certificate",
        Kind::Revocation => "revocation",
    };
    let text = fs::read_to_string(path).map_err(|e| anyhow!("cannot read {what} {}: {e}", path.display()))?;
    Statement::from_text(&text, kind).map_err(|e| anyhow!("{what} {}: {e}", path.display()))
}

/// This node's own certificate, checked before it starts: it must exist,
/// be for this network and this identity, carry the threshold of valid
/// signatures and be valid now. Every error names the file and the reason.
pub fn own_certificate(path: &Path, rules: &dhtr_protocol::Rules, me: &PeerRef) -> Result<Certificate> {
    let refuse = |why: String| anyhow!("certificate {}: {why}; refusing to start", path.display());
    let m = rules.permission.as_ref().ok_or_else(|| anyhow!("not a permissioned network"))?;
    let cert = match fs::read_to_string(path) {
        Ok(text) => Statement::from_text(&text, Kind::Certificate).map_err(|e| refuse(e.to_string()))?,
        Err(e) if e.kind() == ErrorKind::NotFound => {
            return Err(refuse(format!(
                "missing. Ask the network's admission authority for one: dhtr admit --peer {} ...",
                peer_text(me)
            )));
        }
        Err(e) => return Err(refuse(format!("cannot be read: {e}"))),
    };
    let now = unix_now();
    m.check(&rules.network, now, me, &cert).map_err(|e| {
        let why = match e {
            dhtr_protocol::PermitError::Expired { not_after, .. } => {
                format!("expired at {} (renew it: dhtr admit ...)", format_time(not_after))
            }
            dhtr_protocol::PermitError::NotYetValid { not_before, .. } => {
                format!("is not valid before {}", format_time(not_before))
            }
            dhtr_protocol::PermitError::WrongPeer { .. } => {
                format!("names peer {}, but this data dir's identity is {}", peer_text(&cert.peer), peer_text(me))
            }
            dhtr_protocol::PermitError::WrongNetwork { found, expected } => format!(
                "is for network id {found}, but the network file gives {expected} (a certificate of another network)"
            ),
            other => other.to_string(),
        };
        refuse(why)
    })?;
    Ok(cert)
}

/// A peer id as text (libp2p's base58 form when it parses).
pub fn peer_text(p: &PeerRef) -> String {
    libp2p::PeerId::from_bytes(&p.0).map_or_else(|_| hex::encode(&p.0), |id| id.to_string())
}

/// The warning for a certificate that ends within [`WARN_DAYS`], if so.
pub fn expiry_warning(not_after: u64, now: u64) -> Option<String> {
    (not_after < now.saturating_add(WARN_DAYS * DAY)).then(|| {
        format!(
            "this node's membership certificate expires at {} ({} days left): ask the admission authority to renew it",
            format_time(not_after),
            days_left(not_after, now).max(0)
        )
    })
}

/// Record the network in the data dir on first start; on later starts the
/// network file must give the same network id.
pub fn check_data_dir(data_dir: &Path, network: &Network, network_file: &Path) -> Result<()> {
    let path = data_dir.join(NETWORK_ID_FILE);
    let want = format!("{} {}\n", hex::encode(network.tag.0), network.file.name);
    match fs::read_to_string(&path) {
        Ok(have) if have.trim() == want.trim() => Ok(()),
        Ok(have) => bail!(
            "network file {} defines network `{}` (id {}), but data dir {} belongs to network {:?} ({}); \
             refusing to start. Use the network file this data dir was created with, or another data dir",
            network_file.display(),
            network.file.name,
            hex::encode(network.tag.0),
            data_dir.display(),
            have.trim(),
            path.display()
        ),
        Err(e) if e.kind() == ErrorKind::NotFound => {
            fs::create_dir_all(data_dir).map_err(|e| anyhow!("cannot create {}: {e}", data_dir.display()))?;
            write_new(&path, &want)
        }
        Err(e) => bail!("cannot read {}: {e}", path.display()),
    }
}

/// An open-network node must not run on a permissioned network's data dir
/// (its ledger and peers belong to that network).
pub fn refuse_permissioned_data_dir(data_dir: &Path) -> Result<()> {
    let path = data_dir.join(NETWORK_ID_FILE);
    match fs::read_to_string(&path) {
        Ok(have) => bail!(
            "data dir {} belongs to the permissioned network {:?} ({}); refusing to start without --network-file",
            data_dir.display(),
            have.trim(),
            path.display()
        ),
        Err(_) => Ok(()),
    }
}

/// The revocations directory of a data dir: read at start and polled.
pub struct RevocationsDir {
    dir: PathBuf,
    seen: HashSet<(PathBuf, Option<SystemTime>)>,
}

impl RevocationsDir {
    /// The directory inside `data_dir` (created when first written).
    pub fn new(data_dir: &Path) -> RevocationsDir {
        RevocationsDir { dir: data_dir.join(REVOCATIONS_DIR), seen: HashSet::new() }
    }

    /// Revocation files not read before (new or changed). A bad file is
    /// logged with its name and skipped, never fatal.
    pub fn poll(&mut self) -> Vec<Revocation> {
        let Ok(entries) = fs::read_dir(&self.dir) else { return Vec::new() };
        let mut out = Vec::new();
        for e in entries.flatten().take(10_000) {
            let path = e.path();
            if path.extension().and_then(|x| x.to_str()) != Some("rev") {
                continue;
            }
            let key = (path.clone(), e.metadata().and_then(|m| m.modified()).ok());
            if self.seen.contains(&key) {
                continue;
            }
            match load_statement(&path, Kind::Revocation) {
                Ok(r) => out.push(r),
                Err(e) => tracing::warn!("{e:#}; skipped"),
            }
            self.seen.insert(key);
        }
        out
    }

    /// Store the revocations `membership` knows that have no file yet.
    pub fn store(&mut self, membership: &Membership) {
        let all = membership.revocations(0, membership.revocation_count());
        for r in all {
            let path = self.dir.join(format!("{}.rev", hex::encode(blake3::hash(&r.peer.0).as_bytes())));
            if path.exists() {
                continue;
            }
            if let Err(e) =
                fs::create_dir_all(&self.dir).map_err(anyhow::Error::from).and_then(|()| write_new(&path, &r.to_text()))
            {
                tracing::warn!("cannot store a revocation in {}: {e:#}", self.dir.display());
                continue;
            }
            let modified = fs::metadata(&path).and_then(|m| m.modified()).ok();
            self.seen.insert((path, modified));
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn times_print_as_dates() {
        assert_eq!(format_time(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(format_time(1_800_000_000), "2027-01-15 08:00:00 UTC");
        assert_eq!(days_left(10 * DAY, 0), 10);
        assert_eq!(days_left(0, DAY), -1);
        assert!(expiry_warning(6 * DAY, 0).is_some());
        assert!(expiry_warning(8 * DAY, 0).is_none());
    }
}
