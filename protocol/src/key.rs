//! DNS names as ring keys, chunks and committees (seed 001 §4.1).
//!
//! A key is blake3 of the lower-cased fully qualified name; a chunk is the
//! top `chunk_bits` bits of a key; a chunk's committee is the first
//! `n = 3f + 1` distinct nodes clockwise from the chunk's start.

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::ring::RingId;

/// Why a string is not a usable DNS name.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum NameError {
    /// The name has no characters.
    #[error("empty name")]
    Empty,
    /// Longer than 253 characters (RFC 1035 §2.3.4, without the root dot).
    #[error("name is {0} characters long; at most 253 are allowed")]
    TooLong(usize),
    /// A label is empty (`a..b`) or longer than 63 characters.
    #[error("label {0:?} is empty or longer than 63 characters")]
    BadLabel(String),
    /// A character outside printable ASCII without spaces.
    #[error("name contains {0:?}, which is not a printable ASCII character")]
    BadChar(char),
}

/// The canonical form of a name: lower-case ASCII with a trailing dot.
pub fn canonical_name(name: &str) -> Result<String, NameError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    if name == "." {
        return Ok(".".to_string());
    }
    let body = name.strip_suffix('.').unwrap_or(name);
    if body.len() > 253 {
        return Err(NameError::TooLong(body.len()));
    }
    if let Some(c) = body.chars().find(|c| !c.is_ascii_graphic()) {
        return Err(NameError::BadChar(c));
    }
    for label in body.split('.') {
        if label.is_empty() || label.len() > 63 {
            return Err(NameError::BadLabel(label.to_string()));
        }
    }
    Ok(format!("{}.", body.to_ascii_lowercase()))
}

/// The ring key of a DNS name: blake3 of its canonical form.
pub fn name_key(name: &str) -> Result<RingId, NameError> {
    Ok(RingId::hash(canonical_name(name)?.as_bytes()))
}

/// A chunk: a fixed arc of the ring, numbered by the top `chunk_bits` bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ChunkId(pub u32);

/// Why network parameters are unusable.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ParamsError {
    /// `chunk_bits` outside 1..=24.
    #[error("chunk_bits = {0}; it must be between 1 and 24")]
    ChunkBits(u8),
    /// `f` outside 0..=10.
    #[error("f = {0}; it must be between 0 and 10")]
    Faults(u8),
}

/// Parameters fixed for a whole network: every node must agree on them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkParams {
    /// How many top bits of a key select its chunk.
    pub chunk_bits: u8,
    /// How many Byzantine members a committee tolerates.
    pub f: u8,
}

impl Default for NetworkParams {
    fn default() -> Self {
        NetworkParams { chunk_bits: 12, f: 1 }
    }
}

impl NetworkParams {
    /// Checked constructor.
    pub fn new(chunk_bits: u8, f: u8) -> Result<Self, ParamsError> {
        if !(1..=24).contains(&chunk_bits) {
            return Err(ParamsError::ChunkBits(chunk_bits));
        }
        if f > 10 {
            return Err(ParamsError::Faults(f));
        }
        Ok(NetworkParams { chunk_bits, f })
    }

    /// Committee size `n = 3f + 1`.
    pub fn committee_size(&self) -> usize {
        3 * self.f as usize + 1
    }

    /// The chunk a key falls in.
    pub fn chunk_of(&self, key: &RingId) -> ChunkId {
        ChunkId(key.prefix(self.chunk_bits))
    }

    /// The first point of a chunk: the key whose successors form its committee.
    pub fn chunk_start(&self, chunk: ChunkId) -> RingId {
        RingId::from_prefix(chunk.0, self.chunk_bits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_names() {
        assert_eq!(canonical_name("WWW.Example.ORG").as_deref(), Ok("www.example.org."));
        assert_eq!(canonical_name("www.example.org.").as_deref(), Ok("www.example.org."));
        assert_eq!(canonical_name(".").as_deref(), Ok("."));
        assert_eq!(canonical_name(""), Err(NameError::Empty));
        assert!(matches!(canonical_name("a..b"), Err(NameError::BadLabel(_))));
        assert!(matches!(canonical_name("a b"), Err(NameError::BadChar(' '))));
        assert!(matches!(canonical_name(&"a".repeat(64)), Err(NameError::BadLabel(_))));
        let long = vec!["abcdefghi"; 30].join(".");
        assert!(matches!(canonical_name(&long), Err(NameError::TooLong(_))));
    }

    #[test]
    fn keys_ignore_case_and_trailing_dot() {
        assert_eq!(name_key("Example.COM"), name_key("example.com."));
        assert_ne!(name_key("example.com"), name_key("example.net"));
    }

    #[test]
    fn chunks_contain_their_keys() {
        let p = NetworkParams::default();
        assert_eq!(p.committee_size(), 4);
        for name in ["a.example.", "b.example.", "www.example.org."] {
            let Ok(k) = name_key(name) else { panic!("valid name") };
            let c = p.chunk_of(&k);
            let start = p.chunk_start(c);
            assert!(start <= k);
            assert_eq!(p.chunk_of(&start), c);
        }
        assert!(NetworkParams::new(0, 1).is_err());
        assert!(NetworkParams::new(25, 1).is_err());
        assert!(NetworkParams::new(12, 11).is_err());
    }
}
