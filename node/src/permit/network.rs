//! The network file of a `permissioned` network: its name, parameters,
//! threshold and admission public keys, in TOML. Every node of the network
//! runs with the same file; the network id is a hash over its parsed
//! content (comments and layout do not count), so a node with another file
//! is on another network and the two never admit each other.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Result, anyhow, bail};
use dhtr_protocol::permit::{MAX_ADMISSION_KEYS, MAX_SIGNATURES, Membership};
use dhtr_protocol::{NetworkName, NetworkParams, NetworkTag, Rules};
use serde::{Deserialize, Serialize};

/// The only mode a network file describes today.
pub const PERMISSIONED: &str = "permissioned";

/// A network file as written and read.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkFile {
    /// The network's name (part of every protocol string).
    pub name: String,
    /// Always `permissioned`.
    pub mode: String,
    /// Top bits of a key that select its chunk.
    pub chunk_bits: u8,
    /// Byzantine members a committee tolerates (committees have 3f+1).
    pub f: u8,
    /// Most members of one committee from one /24 or /48.
    pub per_prefix_committee: u8,
    /// Most fingers from one /24 or /48.
    pub per_prefix_routing: u8,
    /// Signatures of distinct admission keys a certificate needs (k).
    pub threshold: u8,
    /// The m admission public keys (ed25519, hex), in index order.
    pub admission_keys: Vec<String>,
}

/// A network file, checked, with what it defines.
#[derive(Clone, Debug)]
pub struct Network {
    /// The file as read.
    pub file: NetworkFile,
    /// Chunk bits and f.
    pub params: NetworkParams,
    /// The admission public keys.
    pub keys: Vec<[u8; 32]>,
    /// The network id.
    pub tag: NetworkTag,
}

impl Network {
    /// Read and check a network file; errors name the file.
    pub fn load(path: &Path) -> Result<Network> {
        let text =
            std::fs::read_to_string(path).map_err(|e| anyhow!("cannot read network file {}: {e}", path.display()))?;
        Network::parse(&text).map_err(|e| anyhow!("network file {}: {e:#}", path.display()))
    }

    /// Check a network file's content.
    pub fn parse(text: &str) -> Result<Network> {
        let file: NetworkFile = toml::from_str(text).map_err(|e| anyhow!("{}", e.to_string().trim_end()))?;
        Network::check(file)
    }

    /// Check the values of a network file.
    pub fn check(file: NetworkFile) -> Result<Network> {
        if file.mode != PERMISSIONED {
            bail!("mode = {:?}: a network file describes a `permissioned` network", file.mode);
        }
        let name = NetworkName::new(&file.name).map_err(|e| anyhow!("name: {e}"))?;
        if name.as_str() == "main" {
            bail!("name = \"main\" is the public open network; a permissioned network has its own name");
        }
        let params = NetworkParams::new(file.chunk_bits, file.f).map_err(|e| anyhow!("chunk_bits/f: {e}"))?;
        if file.per_prefix_committee == 0 || file.per_prefix_routing == 0 {
            bail!("per_prefix_committee and per_prefix_routing must be at least 1");
        }
        let m = file.admission_keys.len();
        if m == 0 || m > MAX_ADMISSION_KEYS {
            bail!("admission_keys: {m} keys; between 1 and {MAX_ADMISSION_KEYS} are needed");
        }
        let k = usize::from(file.threshold);
        if k == 0 || k > m || k > MAX_SIGNATURES {
            bail!("threshold = {k}: it must be between 1 and the number of keys ({m}), at most {MAX_SIGNATURES}");
        }
        let mut keys = Vec::with_capacity(m);
        for (i, hexkey) in file.admission_keys.iter().enumerate() {
            let bytes = hex::decode(hexkey).map_err(|e| anyhow!("admission_keys[{i}] is not hex: {e}"))?;
            let key: [u8; 32] =
                bytes.try_into().map_err(|_| anyhow!("admission_keys[{i}] is not 32 bytes (64 hex digits)"))?;
            keys.push(key);
        }
        // The keys' validity (distinct, on the curve) is Membership's check.
        Membership::new(file.threshold, keys.clone(), Instant::now(), 0).map_err(|e| anyhow!("{e}"))?;
        let tag = network_tag(&file, &keys);
        Ok(Network { file, params, keys, tag })
    }

    /// The network file's text, with comments for the reader.
    pub fn to_text(&self) -> Result<String> {
        let body = toml::to_string(&self.file).map_err(|e| anyhow!("cannot write the network file: {e}"))?;
        Ok(format!(
            "# dhtr network file: the parameters and admission keys of network `{}`.\n\
             # Every node of the network runs with this same file (dhtr run --network-file);\n\
             # its content is hashed into the network id ({}).\n\
             # Certificates need {} of the {} admission keys' signatures.\n{body}",
            self.file.name,
            hex::encode(self.tag.0),
            self.file.threshold,
            self.keys.len()
        ))
    }

    /// The admission rules of this network, its clock anchored at `now` =
    /// `unix` seconds.
    pub fn rules(&self, now: Instant, unix: u64) -> Result<Rules> {
        let m = Membership::new(self.file.threshold, self.keys.clone(), now, unix).map_err(|e| anyhow!("{e}"))?;
        Ok(Rules {
            network: self.tag,
            difficulty: 0,
            per_prefix_committee: self.file.per_prefix_committee,
            per_prefix_routing: self.file.per_prefix_routing,
            permission: Some(Arc::new(m)),
        })
    }
}

/// The network id: a hash over every parameter, the threshold and the keys.
fn network_tag(f: &NetworkFile, keys: &[[u8; 32]]) -> NetworkTag {
    let mut id = format!(
        "network {}\nchunk_bits {}\nf {}\nmode permissioned\nper_prefix_committee {}\nper_prefix_routing {}\nthreshold {}\n",
        f.name, f.chunk_bits, f.f, f.per_prefix_committee, f.per_prefix_routing, f.threshold
    );
    for k in keys {
        id.push_str(&format!("key {}\n", hex::encode(k)));
    }
    NetworkTag(*blake3::Hasher::new_derive_key("dhtr 2026 network id v1").update(id.as_bytes()).finalize().as_bytes())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use dhtr_protocol::permit::public_of;

    fn file(k: u8, m: u8) -> NetworkFile {
        NetworkFile {
            name: "consortium".into(),
            mode: PERMISSIONED.into(),
            chunk_bits: 8,
            f: 1,
            per_prefix_committee: 1,
            per_prefix_routing: 2,
            threshold: k,
            admission_keys: (0..m).map(|i| hex::encode(public_of(&[i + 1; 32]))).collect(),
        }
    }

    #[test]
    fn a_written_network_file_reads_back_with_the_same_id() {
        let n = Network::check(file(2, 3)).unwrap();
        let back = Network::parse(&n.to_text().unwrap()).unwrap();
        assert_eq!(back.tag, n.tag);
        assert_eq!(back.file, n.file);
    }

    #[test]
    fn every_parameter_and_key_changes_the_network_id() {
        let base = Network::check(file(2, 3)).unwrap().tag;
        let mut other = file(2, 3);
        other.threshold = 3;
        assert_ne!(Network::check(other).unwrap().tag, base);
        let mut other = file(2, 3);
        other.admission_keys.swap(0, 1);
        assert_ne!(Network::check(other).unwrap().tag, base);
        let mut other = file(2, 3);
        other.name = "other".into();
        assert_ne!(Network::check(other).unwrap().tag, base);
        let mut other = file(2, 3);
        other.per_prefix_committee = 2;
        assert_ne!(Network::check(other).unwrap().tag, base);
    }

    #[test]
    fn bad_network_files_are_refused_with_the_reason() {
        let err = |f: NetworkFile| format!("{:#}", Network::check(f).unwrap_err());
        assert!(err(file(0, 3)).contains("threshold"));
        assert!(err(file(4, 3)).contains("threshold"));
        let mut f = file(1, 2);
        f.admission_keys[1] = f.admission_keys[0].clone();
        assert!(err(f).contains("twice"));
        let mut f = file(1, 2);
        f.admission_keys[1] = "abcd".into();
        assert!(err(f).contains("admission_keys[1]"));
        let mut f = file(1, 1);
        f.name = "main".into();
        assert!(err(f).contains("main"));
        let mut f = file(1, 1);
        f.mode = "open".into();
        assert!(err(f).contains("mode"));
        assert!(Network::parse("name = \"x\"\nunknown = 1\n").is_err());
        assert!(Network::parse("not toml [").is_err());
    }
}
