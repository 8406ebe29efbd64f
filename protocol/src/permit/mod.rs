//! Who may stand on the ring in a `permissioned` network (issue 9, part 1,
//! second half): seed 001's model, a consortium of known operators.
//!
//! The network is defined by `m` admission keys (ed25519) and a threshold
//! `k`. A node holds a membership [`Certificate`]: its PeerId and a validity
//! period, signed by `k` distinct admission keys over a domain-separated
//! digest that also names the network. This is Castro et al. 2002 §4.1's
//! "certified nodeIds": an identity the admission authority vouched for,
//! whose ring position it cannot choose — in this mode the position is a
//! hash of the PeerId and the certificate's serial, a random number the
//! authority picks when it signs ([`crate::admission::certified_position`]),
//! so an operator cannot grind PeerIds for a position it wants.
//!
//! The certificate travels in every [`crate::NodeInfo`] that names the node
//! (requests, responses, successor lists), so any node named in a Chord
//! message is self-certifying; [`Membership::check`] verifies it against the
//! network's keys, the validity window (allowing [`CLOCK_SKEW_SECS`]), the
//! node it is attached to and the revocations known here. Signature checks
//! are cached by the certificate's hash in a bounded cache, so a peer cannot
//! make a node verify the same certificate over and over; a certificate
//! carries at most [`MAX_SIGNATURES`] signatures, so a new one costs at most
//! that many verifications, and one bad signature refuses it at once.
//!
//! A [`Revocation`] is the same kind of statement, signed by `k` keys,
//! naming a PeerId; it ends every certificate of that peer issued up to
//! its `not_before` (a later certificate is a re-admission), and carries
//! the `not_after` of the certificate it ends: once that has passed, the
//! certificate is dead anyway and the revocation is pruned.
//! Revocations are kept in a bounded set here and spread over the ring by
//! the node (`dhtr_protocol::Request::Revocations`).
//!
//! Time: certificates speak wall-clock seconds, the cores only monotonic
//! [`Instant`]s. The caller anchors one to the other ([`Membership::set_clock`])
//! at start and from time to time; nothing here reads a clock.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Mutex, MutexGuard};
use std::time::Instant;

use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::admission::{NetworkTag, Unadmitted};
use crate::node::{MAX_PEER_BYTES, PeerRef};

#[cfg(test)]
mod tests;

/// Most admission keys a network may name.
pub const MAX_ADMISSION_KEYS: usize = 16;
/// Most signatures one statement may carry (bounds the wire size of every
/// node entry and the work of verifying one).
pub const MAX_SIGNATURES: usize = 8;
/// Longest encoded statement accepted.
pub const MAX_STATEMENT_BYTES: usize = 1024;
/// Clock difference tolerated at both ends of a validity window.
pub const CLOCK_SKEW_SECS: u64 = 300;
/// Certificates whose signature check is remembered.
pub const CACHE_ENTRIES: usize = 4096;
/// Most revocations kept (the oldest-expiring are dropped beyond this).
pub const MAX_REVOCATIONS: usize = 4096;

/// What a signed statement says.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Kind {
    /// A membership certificate: the peer may stand on the ring.
    Certificate,
    /// A revocation: the peer's certificate no longer holds.
    Revocation,
}

/// One admission key's signature: the key's index in the network file.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeySignature {
    /// Index of the admission key (0-based, in the network file's order).
    pub key: u8,
    /// The ed25519 signature (64 bytes) over [`Statement::digest`].
    #[serde(with = "serde_bytes")]
    pub sig: Vec<u8>,
}

impl fmt::Debug for KeySignature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sig(key {})", self.key)
    }
}

/// A statement about a peer signed by admission keys: a membership
/// certificate or a revocation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Statement {
    /// Certificate or revocation.
    pub kind: Kind,
    /// The network it is valid on.
    pub network: NetworkTag,
    /// The peer it names (PeerId bytes).
    pub peer: PeerRef,
    /// Start of validity (a revocation: when it was issued), UNIX seconds.
    pub not_before: u64,
    /// End of validity (a revocation: the revoked certificate's), UNIX seconds.
    pub not_after: u64,
    /// A certificate: the authority's random number that, with the PeerId,
    /// places the node on the ring (kept across renewals to keep the
    /// position). A revocation: 0.
    #[serde(default)]
    pub serial: u64,
    /// The admission keys' signatures.
    pub signatures: Vec<KeySignature>,
}

/// A membership certificate ([`Kind::Certificate`]).
pub type Certificate = Statement;
/// A revocation ([`Kind::Revocation`]).
pub type Revocation = Statement;

/// Why a statement, a network's keys or a file is not acceptable.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum PermitError {
    /// Longer than [`MAX_STATEMENT_BYTES`].
    #[error("{size} bytes, more than the limit of {MAX_STATEMENT_BYTES}")]
    TooLarge {
        /// The size given.
        size: usize,
    },
    /// Not a statement at all.
    #[error("cannot be decoded: {0}")]
    Malformed(String),
    /// A certificate where a revocation was expected, or the reverse.
    #[error("is a {found:?}, not a {expected:?}")]
    WrongKind {
        /// What was expected.
        expected: Kind,
        /// What it is.
        found: Kind,
    },
    /// Signed for another network.
    #[error("is for network {found}, not this network ({expected})")]
    WrongNetwork {
        /// This network's id (hex).
        expected: String,
        /// The statement's network id (hex).
        found: String,
    },
    /// Names another peer than the one it is attached to.
    #[error("names peer {found}, not {expected}")]
    WrongPeer {
        /// The peer it should name (hex of the PeerId bytes).
        expected: String,
        /// The peer it names.
        found: String,
    },
    /// Its validity ended.
    #[error("expired at {not_after} (UNIX seconds; now {now})")]
    Expired {
        /// End of validity.
        not_after: u64,
        /// The time it was checked at.
        now: u64,
    },
    /// Its validity has not begun.
    #[error("is not valid before {not_before} (UNIX seconds; now {now})")]
    NotYetValid {
        /// Start of validity.
        not_before: u64,
        /// The time it was checked at.
        now: u64,
    },
    /// Too few distinct admission keys signed it.
    #[error("carries {valid} valid signature(s) of distinct admission keys; the network needs {needed}")]
    Threshold {
        /// Distinct keys with a valid signature.
        valid: usize,
        /// The network's threshold k.
        needed: usize,
    },
    /// A signature does not verify, or names no admission key.
    #[error("signature {index} (admission key {key}) does not verify")]
    BadSignature {
        /// Position of the signature in the statement.
        index: usize,
        /// The key index it names.
        key: u8,
    },
    /// The peer's certificate was revoked.
    #[error("was revoked")]
    Revoked,
    /// The network's keys or threshold are unusable.
    #[error("admission keys: {0}")]
    Keys(String),
}

impl PermitError {
    /// The refusal reason a peer is counted under.
    pub fn unadmitted(&self) -> Unadmitted {
        match self {
            PermitError::Expired { .. } | PermitError::NotYetValid { .. } => Unadmitted::Expired,
            PermitError::Revoked => Unadmitted::Revoked,
            _ => Unadmitted::Certificate,
        }
    }
}

impl Statement {
    /// The digest the admission keys sign: domain-separated by kind, over
    /// the network, the peer and the validity window.
    pub fn digest(&self) -> [u8; 32] {
        let domain = match self.kind {
            Kind::Certificate => "dhtr 2026 membership certificate v1",
            Kind::Revocation => "dhtr 2026 membership revocation v1",
        };
        let mut h = blake3::Hasher::new_derive_key(domain);
        h.update(&self.network.0);
        h.update(&(self.peer.0.len() as u16).to_be_bytes());
        h.update(&self.peer.0);
        h.update(&self.not_before.to_be_bytes());
        h.update(&self.not_after.to_be_bytes());
        h.update(&self.serial.to_be_bytes());
        *h.finalize().as_bytes()
    }

    /// An unsigned statement with serial 0; [`Statement::sign`] adds
    /// signatures.
    pub fn unsigned(kind: Kind, network: NetworkTag, peer: PeerRef, not_before: u64, not_after: u64) -> Statement {
        Statement { kind, network, peer, not_before, not_after, serial: 0, signatures: Vec::new() }
    }

    /// Add admission key `index`'s signature (`secret`: its 32-byte seed).
    pub fn sign(&mut self, index: u8, secret: &[u8; 32]) {
        let sig = SigningKey::from_bytes(secret).sign(&self.digest());
        self.signatures.push(KeySignature { key: index, sig: sig.to_bytes().to_vec() });
    }

    /// The hash of the whole statement, signatures included (the cache key).
    pub fn hash(&self) -> [u8; 32] {
        *blake3::hash(&self.to_bytes()).as_bytes()
    }

    /// The statement as CBOR.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut buf = Vec::with_capacity(512);
        // Writing plain data to a Vec cannot fail.
        let _ = ciborium::into_writer(self, &mut buf);
        buf
    }

    /// Decode a statement, size-limited and shape-checked; never panics.
    pub fn from_bytes(bytes: &[u8]) -> Result<Statement, PermitError> {
        if bytes.len() > MAX_STATEMENT_BYTES {
            return Err(PermitError::TooLarge { size: bytes.len() });
        }
        let s: Statement = ciborium::from_reader(bytes).map_err(|e| PermitError::Malformed(e.to_string()))?;
        s.check_shape()?;
        Ok(s)
    }

    /// Sizes within limits: a peer id of 1..=64 bytes, at most
    /// [`MAX_SIGNATURES`] signatures of 64 bytes each.
    pub fn check_shape(&self) -> Result<(), PermitError> {
        if self.peer.0.is_empty() || self.peer.0.len() > MAX_PEER_BYTES {
            return Err(PermitError::Malformed("peer identity length".into()));
        }
        if self.signatures.len() > MAX_SIGNATURES {
            return Err(PermitError::Malformed(format!("more than {MAX_SIGNATURES} signatures")));
        }
        if self.signatures.iter().any(|s| s.sig.len() != 64) {
            return Err(PermitError::Malformed("a signature is not 64 bytes".into()));
        }
        if self.not_after < self.not_before {
            return Err(PermitError::Malformed("validity ends before it begins".into()));
        }
        Ok(())
    }

    /// The text form stored in files: `dhtr-<kind>-v1 <hex of the CBOR>`.
    pub fn to_text(&self) -> String {
        format!("{} {}\n", Self::tag(self.kind), hex::encode(self.to_bytes()))
    }

    /// Read the text form: `#` lines are comments; the first other line is
    /// the statement. It must be of kind `kind`.
    pub fn from_text(text: &str, kind: Kind) -> Result<Statement, PermitError> {
        let line = text
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty() && !l.starts_with('#'))
            .ok_or_else(|| PermitError::Malformed("empty file".into()))?;
        let (tag, body) =
            line.split_once(' ').ok_or_else(|| PermitError::Malformed("no `dhtr-…-v1 <hex>` line".into()))?;
        let found = match tag {
            "dhtr-certificate-v1" => Kind::Certificate,
            "dhtr-revocation-v1" => Kind::Revocation,
            other => return Err(PermitError::Malformed(format!("unknown statement type {other:?}"))),
        };
        if found != kind {
            return Err(PermitError::WrongKind { expected: kind, found });
        }
        if body.len() > 2 * MAX_STATEMENT_BYTES {
            return Err(PermitError::TooLarge { size: body.len() / 2 });
        }
        let bytes = hex::decode(body.trim()).map_err(|e| PermitError::Malformed(format!("not hex: {e}")))?;
        let s = Statement::from_bytes(&bytes)?;
        if s.kind != kind {
            return Err(PermitError::WrongKind { expected: kind, found: s.kind });
        }
        Ok(s)
    }

    fn tag(kind: Kind) -> &'static str {
        match kind {
            Kind::Certificate => "dhtr-certificate-v1",
            Kind::Revocation => "dhtr-revocation-v1",
        }
    }

    /// Check the validity window at `now` (UNIX seconds), with skew allowed.
    pub fn check_window(&self, now: u64) -> Result<(), PermitError> {
        if self.kind == Kind::Certificate && now.saturating_add(CLOCK_SKEW_SECS) < self.not_before {
            return Err(PermitError::NotYetValid { not_before: self.not_before, now });
        }
        if self.not_after.saturating_add(CLOCK_SKEW_SECS) < now {
            return Err(PermitError::Expired { not_after: self.not_after, now });
        }
        Ok(())
    }
}

/// Generate a new admission key: (secret seed, public key).
pub fn new_admission_key(seed: [u8; 32]) -> ([u8; 32], [u8; 32]) {
    (seed, public_of(&seed))
}

/// The public key of an admission secret seed.
pub fn public_of(secret: &[u8; 32]) -> [u8; 32] {
    SigningKey::from_bytes(secret).verifying_key().to_bytes()
}

/// A network's admission authority as a verifier: its keys and threshold,
/// the revocations known here, and the cache of checked signatures.
pub struct Membership {
    threshold: u8,
    keys: Vec<[u8; 32]>,
    verifying: Vec<VerifyingKey>,
    state: Mutex<State>,
}

struct State {
    /// A monotonic instant and the UNIX time it was at.
    clock: (Instant, u64),
    /// Statement hash → did its signatures reach the threshold?
    verified: HashMap<[u8; 32], Result<(), PermitError>>,
    /// Revoked peers → the revocation.
    revoked: HashMap<PeerRef, Statement>,
}

impl fmt::Debug for Membership {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Membership({} of {})", self.threshold, self.keys.len())
    }
}

impl PartialEq for Membership {
    fn eq(&self, other: &Self) -> bool {
        self.threshold == other.threshold && self.keys == other.keys
    }
}

impl Membership {
    /// The authority of `keys` with threshold `threshold`, its clock
    /// anchored at `now` = `unix` seconds.
    pub fn new(threshold: u8, keys: Vec<[u8; 32]>, now: Instant, unix: u64) -> Result<Membership, PermitError> {
        if keys.is_empty() || keys.len() > MAX_ADMISSION_KEYS {
            return Err(PermitError::Keys(format!("between 1 and {MAX_ADMISSION_KEYS} keys are needed")));
        }
        if threshold == 0 || usize::from(threshold) > keys.len() || usize::from(threshold) > MAX_SIGNATURES {
            return Err(PermitError::Keys(format!(
                "threshold {threshold} must be between 1 and the number of keys ({}), at most {MAX_SIGNATURES}",
                keys.len()
            )));
        }
        let mut verifying = Vec::with_capacity(keys.len());
        for (i, k) in keys.iter().enumerate() {
            if keys[..i].contains(k) {
                return Err(PermitError::Keys(format!("key {i} appears twice")));
            }
            verifying.push(
                VerifyingKey::from_bytes(k)
                    .map_err(|_| PermitError::Keys(format!("key {i} is not an ed25519 public key")))?,
            );
        }
        let state = State { clock: (now, unix), verified: HashMap::new(), revoked: HashMap::new() };
        Ok(Membership { threshold, keys, verifying, state: Mutex::new(state) })
    }

    /// The threshold k.
    pub fn threshold(&self) -> u8 {
        self.threshold
    }

    /// The admission public keys, in order.
    pub fn keys(&self) -> &[[u8; 32]] {
        &self.keys
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A poisoned lock only means another thread panicked mid-update of
        // plain maps; their contents stay usable.
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Anchor the clock: `now` is `unix` seconds.
    pub fn set_clock(&self, now: Instant, unix: u64) {
        self.state().clock = (now, unix);
    }

    /// UNIX seconds at `now`, by the anchor.
    pub fn unix(&self, now: Instant) -> u64 {
        let (at, unix) = self.state().clock;
        if now >= at {
            unix.saturating_add(now.duration_since(at).as_secs())
        } else {
            unix.saturating_sub(at.duration_since(now).as_secs())
        }
    }

    /// The indices of the distinct admission keys whose signatures on `s`
    /// verify (uncached: for tools). Any bad signature refuses it all.
    pub fn signers(&self, s: &Statement) -> Result<Vec<u8>, PermitError> {
        let digest = s.digest();
        let mut signers: Vec<u8> = Vec::new();
        for (index, ks) in s.signatures.iter().enumerate() {
            let bad = PermitError::BadSignature { index, key: ks.key };
            let key = self.verifying.get(usize::from(ks.key)).ok_or(bad.clone())?;
            let bytes: [u8; 64] = ks.sig.as_slice().try_into().map_err(|_| bad.clone())?;
            key.verify_strict(&digest, &ed25519_dalek::Signature::from_bytes(&bytes)).map_err(|_| bad)?;
            if !signers.contains(&ks.key) {
                signers.push(ks.key);
            }
        }
        if signers.len() < usize::from(self.threshold) {
            return Err(PermitError::Threshold { valid: signers.len(), needed: usize::from(self.threshold) });
        }
        Ok(signers)
    }

    /// Everything about `s` but time and revocation: kind, network, peer,
    /// shape and signatures (cached by its hash).
    fn check_static(&self, kind: Kind, network: &NetworkTag, peer: &PeerRef, s: &Statement) -> Result<(), PermitError> {
        if s.kind != kind {
            return Err(PermitError::WrongKind { expected: kind, found: s.kind });
        }
        if s.network != *network {
            return Err(PermitError::WrongNetwork {
                expected: hex::encode(network.0),
                found: hex::encode(s.network.0),
            });
        }
        if s.peer != *peer {
            return Err(PermitError::WrongPeer { expected: hex::encode(&peer.0), found: hex::encode(&s.peer.0) });
        }
        s.check_shape()?;
        let hash = s.hash();
        if let Some(r) = self.state().verified.get(&hash) {
            return r.clone();
        }
        let result = self.signers(s).map(|_| ());
        let mut st = self.state();
        if st.verified.len() >= CACHE_ENTRIES {
            // Bounded: start over rather than track ages; honest peers'
            // certificates are verified again once each.
            st.verified.clear();
        }
        st.verified.insert(hash, result.clone());
        result
    }

    /// Is `cert` a valid, unexpired, unrevoked certificate of `peer` on
    /// `network` at `now` (UNIX seconds)?
    pub fn check(&self, network: &NetworkTag, now: u64, peer: &PeerRef, cert: &Certificate) -> Result<(), PermitError> {
        self.check_static(Kind::Certificate, network, peer, cert)?;
        cert.check_window(now)?;
        // A revocation ends every certificate issued up to it; one issued
        // later (a re-admission) holds.
        if self.state().revoked.get(peer).is_some_and(|r| cert.not_before <= r.not_before) {
            return Err(PermitError::Revoked);
        }
        Ok(())
    }

    /// Verify a revocation and keep it. `Ok(true)`: it is new here.
    pub fn revoke(&self, network: &NetworkTag, now: u64, r: &Revocation) -> Result<bool, PermitError> {
        self.check_static(Kind::Revocation, network, &r.peer, r)?;
        r.check_window(now)?;
        let mut st = self.state();
        // Kept unless it covers no more than the one known (issued no later
        // and kept no longer).
        if st.revoked.get(&r.peer).is_some_and(|old| old.not_before >= r.not_before && old.not_after >= r.not_after) {
            return Ok(false);
        }
        if st.revoked.len() >= MAX_REVOCATIONS {
            st.revoked.retain(|_, old| !outlived(old, now));
            if st.revoked.len() >= MAX_REVOCATIONS {
                return Ok(false);
            }
        }
        st.revoked.insert(r.peer.clone(), r.clone());
        Ok(true)
    }

    /// Is `peer` revoked?
    pub fn is_revoked(&self, peer: &PeerRef) -> bool {
        self.state().revoked.contains_key(peer)
    }

    /// Up to `max` of the revocations known here, starting at the
    /// `from`-th (wrapping), for spreading them in bounded pieces.
    pub fn revocations(&self, from: usize, max: usize) -> Vec<Revocation> {
        let st = self.state();
        let mut all: Vec<&Statement> = st.revoked.values().collect();
        all.sort_by(|a, b| a.peer.cmp(&b.peer));
        let n = all.len();
        if n == 0 {
            return Vec::new();
        }
        (0..max.min(n)).map(|i| all[(from + i) % n].clone()).collect()
    }

    /// How many revocations are known here.
    pub fn revocation_count(&self) -> usize {
        self.state().revoked.len()
    }

    /// Forget revocations of certificates that have expired anyway.
    pub fn prune(&self, now: u64) {
        self.state().revoked.retain(|_, r| !outlived(r, now));
    }
}

/// Has the certificate a revocation ends expired anyway by `now` (with the
/// skew allowance)? Then the revocation can be forgotten.
fn outlived(r: &Revocation, now: u64) -> bool {
    r.not_after.saturating_add(CLOCK_SKEW_SECS) < now
}
