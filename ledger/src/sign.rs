//! Signing and verifying votes with the node's libp2p ed25519 identity.
//!
//! A libp2p PeerId of an ed25519 key embeds the public key (identity
//! multihash of the protobuf-encoded key), so a voter's PeerId is all that
//! is needed to check its signature; no key directory exists or is needed.

use dhtr_protocol::PeerRef;
use ed25519_dalek::{Signature, Signer as _, SigningKey, Verifier as _, VerifyingKey};

use crate::types::Digest;

/// The prefix of an ed25519 PeerId: identity multihash (code 0, 36 bytes)
/// of a protobuf `PublicKey { type: Ed25519, data: <32 bytes> }`.
const ED25519_PEER_PREFIX: [u8; 6] = [0x00, 0x24, 0x08, 0x01, 0x12, 0x20];

/// Something that signs digests as one peer (the node's libp2p key, or a
/// plain ed25519 key in tests and the simulator).
pub trait Signer {
    /// The identity signatures are checked against.
    fn peer(&self) -> &PeerRef;
    /// Sign a digest.
    fn sign(&self, digest: &Digest) -> Vec<u8>;
}

/// An ed25519 key used directly (the simulator's and tests' signer).
pub struct KeySigner {
    key: SigningKey,
    peer: PeerRef,
}

impl KeySigner {
    /// A signer from a 32-byte ed25519 secret.
    pub fn from_secret(secret: [u8; 32]) -> KeySigner {
        let key = SigningKey::from_bytes(&secret);
        let peer = peer_of(&key.verifying_key());
        KeySigner { key, peer }
    }
}

impl Signer for KeySigner {
    fn peer(&self) -> &PeerRef {
        &self.peer
    }

    fn sign(&self, digest: &Digest) -> Vec<u8> {
        self.key.sign(&digest.0).to_bytes().to_vec()
    }
}

/// The PeerId bytes of an ed25519 public key.
pub fn peer_of(key: &VerifyingKey) -> PeerRef {
    let mut b = ED25519_PEER_PREFIX.to_vec();
    b.extend_from_slice(key.as_bytes());
    PeerRef(b)
}

/// The ed25519 public key inside a PeerId, if it holds one.
pub fn key_of(peer: &PeerRef) -> Option<VerifyingKey> {
    let b = &peer.0;
    if b.len() != 38 || b[..6] != ED25519_PEER_PREFIX {
        return None;
    }
    let mut k = [0u8; 32];
    k.copy_from_slice(&b[6..]);
    VerifyingKey::from_bytes(&k).ok()
}

/// Is `sig` a valid signature of `digest` by `peer`? Any malformed input is
/// simply "no".
pub fn verify(peer: &PeerRef, digest: &Digest, sig: &[u8]) -> bool {
    let Some(key) = key_of(peer) else { return false };
    let Ok(sig) = Signature::from_slice(sig) else { return false };
    key.verify(&digest.0, &sig).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_and_verify_round_trip_and_reject_forgeries() {
        let a = KeySigner::from_secret([1; 32]);
        let b = KeySigner::from_secret([2; 32]);
        let d = Digest::of("test", b"hello");
        let sig = a.sign(&d);
        assert!(verify(a.peer(), &d, &sig));
        assert!(!verify(b.peer(), &d, &sig), "someone else's key");
        assert!(!verify(a.peer(), &Digest::of("test", b"other"), &sig), "other digest");
        let mut bad = sig.clone();
        bad[0] ^= 1;
        assert!(!verify(a.peer(), &d, &bad));
        assert!(!verify(a.peer(), &d, &sig[..10]));
        assert!(!verify(&PeerRef(vec![1, 2, 3]), &d, &sig));
    }
}
