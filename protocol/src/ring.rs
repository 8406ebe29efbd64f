//! Ring identifiers and the modular interval arithmetic of Chord §3–4.
//!
//! The identifier circle has 2^256 points. A [`RingId`] is a big-endian
//! 256-bit number; intervals are taken clockwise, so `(a, b]` is every point
//! reached by walking clockwise from `a` (exclusive) up to `b` (inclusive).

use std::fmt;

use serde::{Deserialize, Serialize};

/// A point on the 2^256 identifier circle (a node id or a key).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct RingId(#[serde(with = "serde_bytes")] pub [u8; 32]);

impl RingId {
    /// The number of bits in an id: the finger table has this many entries.
    pub const BITS: usize = 256;
    /// The point 0.
    pub const ZERO: RingId = RingId([0; 32]);

    /// The ring id of arbitrary bytes: blake3 of them. A node id is
    /// `hash(PeerId bytes)`, a key is `hash(lower-cased FQDN)`.
    pub fn hash(bytes: &[u8]) -> RingId {
        RingId(*blake3::hash(bytes).as_bytes())
    }

    /// Clockwise distance from `self` to `other`: `other - self mod 2^256`.
    pub fn distance_to(&self, other: &RingId) -> RingId {
        let (ah, al) = self.halves();
        let (bh, bl) = other.halves();
        let (lo, borrow) = bl.overflowing_sub(al);
        let hi = bh.wrapping_sub(ah).wrapping_sub(borrow as u128);
        let mut out = [0u8; 32];
        out[..16].copy_from_slice(&hi.to_be_bytes());
        out[16..].copy_from_slice(&lo.to_be_bytes());
        RingId(out)
    }

    /// The id as a fraction of the ring, in [0, 1): a distance's share of
    /// the ring (64 bits of precision, plenty for a density estimate).
    pub fn fraction(&self) -> f64 {
        let mut hi = [0u8; 8];
        hi.copy_from_slice(&self.0[..8]);
        u64::from_be_bytes(hi) as f64 / 18_446_744_073_709_551_616.0
    }

    /// The id as two big-endian 128-bit halves (high, low).
    fn halves(&self) -> (u128, u128) {
        let mut hi = [0u8; 16];
        let mut lo = [0u8; 16];
        hi.copy_from_slice(&self.0[..16]);
        lo.copy_from_slice(&self.0[16..]);
        (u128::from_be_bytes(hi), u128::from_be_bytes(lo))
    }

    /// `self + 2^i mod 2^256`: the start of finger `i` (Chord §4.2, with
    /// fingers numbered from 0).
    pub fn add_pow2(&self, i: usize) -> RingId {
        debug_assert!(i < Self::BITS);
        let mut out = self.0;
        let byte = 31 - i / 8;
        let mut carry = 1u16 << (i % 8);
        let mut idx = byte as isize;
        while carry != 0 && idx >= 0 {
            let s = out[idx as usize] as u16 + carry;
            out[idx as usize] = s as u8;
            carry = s >> 8;
            idx -= 1;
        }
        RingId(out)
    }

    /// Is `self` in the open interval `(a, b)`? When `a == b` the interval is
    /// the whole ring except `a`.
    pub fn in_open(&self, a: &RingId, b: &RingId) -> bool {
        let d = a.distance_to(self);
        if d == Self::ZERO {
            return false;
        }
        a == b || d < a.distance_to(b)
    }

    /// Is `self` in the half-open interval `(a, b]`? When `a == b` the
    /// interval is the whole ring (Chord's convention for a one-node ring).
    pub fn in_open_closed(&self, a: &RingId, b: &RingId) -> bool {
        if a == b {
            return true;
        }
        let d = a.distance_to(self);
        d != Self::ZERO && d <= a.distance_to(b)
    }

    /// The top `bits` bits of the id as an integer (`bits <= 32`).
    pub fn prefix(&self, bits: u8) -> u32 {
        let bits = bits.min(32) as u32;
        if bits == 0 {
            return 0;
        }
        let top = u32::from_be_bytes([self.0[0], self.0[1], self.0[2], self.0[3]]);
        top >> (32 - bits)
    }

    /// The id whose top `bits` bits are `prefix` and whose other bits are 0.
    pub fn from_prefix(prefix: u32, bits: u8) -> RingId {
        let bits = bits.min(32) as u32;
        let mut out = [0u8; 32];
        if bits > 0 {
            let v = prefix << (32 - bits);
            out[..4].copy_from_slice(&v.to_be_bytes());
        }
        RingId(out)
    }

    /// Full lower-case hex.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// The first 8 bytes as hex, for logs.
    pub fn short(&self) -> String {
        hex::encode(&self.0[..4])
    }
}

impl fmt::Debug for RingId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RingId({})", self.short())
    }
}

impl fmt::Display for RingId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(v: u8) -> RingId {
        let mut b = [0u8; 32];
        b[31] = v;
        RingId(b)
    }

    fn max() -> RingId {
        RingId([0xff; 32])
    }

    #[test]
    fn distance_wraps() {
        assert_eq!(id(3).distance_to(&id(5)), id(2));
        assert_eq!(id(5).distance_to(&id(3)), id(1).distance_to(&max()));
        assert_eq!(max().distance_to(&id(0)), id(1));
    }

    #[test]
    fn add_pow2_carries_and_wraps() {
        assert_eq!(id(0).add_pow2(0), id(1));
        assert_eq!(id(0xff).add_pow2(0).0[30], 1);
        assert_eq!(max().add_pow2(0), RingId::ZERO);
        let top = RingId::ZERO.add_pow2(255);
        assert_eq!(top.0[0], 0x80);
    }

    #[test]
    fn intervals() {
        assert!(id(5).in_open(&id(3), &id(9)));
        assert!(!id(3).in_open(&id(3), &id(9)));
        assert!(!id(9).in_open(&id(3), &id(9)));
        assert!(id(9).in_open_closed(&id(3), &id(9)));
        // wrapping interval (250, 4)
        assert!(id(1).in_open(&id(250), &id(4)));
        assert!(max().in_open(&id(250), &id(4)));
        assert!(!id(100).in_open(&id(250), &id(4)));
        // degenerate: (a, a) is everything but a; (a, a] is everything
        assert!(id(7).in_open(&id(3), &id(3)));
        assert!(!id(3).in_open(&id(3), &id(3)));
        assert!(id(3).in_open_closed(&id(3), &id(3)));
    }

    #[test]
    fn prefixes_round_trip() {
        let k = RingId::hash(b"www.example.org.");
        let p = k.prefix(12);
        assert!(p < 4096);
        let start = RingId::from_prefix(p, 12);
        assert_eq!(start.prefix(12), p);
        assert!(start <= k);
        assert_eq!(RingId::from_prefix(0, 0), RingId::ZERO);
    }
}
