//! JSON reports served by the HTTP endpoint and printed by the CLI.
//!
//! The same types are serialised by [`crate::http`] and deserialised by
//! [`crate::client`]; [`Display`](std::fmt::Display) (and `render_text`)
//! renders them for people.

use std::fmt::{self, Display, Formatter};

use serde::{Deserialize, Serialize};

/// Hex digits of a ring id shown in short form.
pub const SHORT_HEX: usize = 16;

/// One peer as seen by the node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerReport {
    /// libp2p PeerId (base58).
    pub peer_id: String,
    /// Ring id (blake3 of the PeerId bytes), hex.
    pub ring_id: String,
    /// Known multiaddrs of the peer.
    #[serde(default)]
    pub addrs: Vec<String>,
}

/// State of the node: identity, addresses, ring neighbours, connections.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusReport {
    /// dhtr version.
    pub version: String,
    /// Network id (name).
    pub network: String,
    /// This node's PeerId.
    pub peer_id: String,
    /// This node's ring id, hex.
    pub ring_id: String,
    /// Addresses the node listens on.
    #[serde(default)]
    pub listen_addrs: Vec<String>,
    /// Addresses other peers have confirmed as reachable.
    #[serde(default)]
    pub external_addrs: Vec<String>,
    /// Predecessor on the ring, if known.
    pub predecessor: Option<PeerReport>,
    /// Successor list, nearest first.
    #[serde(default)]
    pub successors: Vec<PeerReport>,
    /// Distinct finger-table entries.
    #[serde(default)]
    pub fingers: Vec<PeerReport>,
    /// PeerIds of connected peers.
    #[serde(default)]
    pub connected_peers: Vec<String>,
    /// Seconds since the node started.
    pub uptime_seconds: f64,
    /// Whether the node has joined a ring (a single-node ring counts).
    pub joined: bool,
    /// The chunk chains this node holds.
    #[serde(default)]
    pub ledger: LedgerReport,
    /// Admission: the network's mode and parameters, and this node's ticket.
    #[serde(default)]
    pub admission: AdmissionReport,
}

/// The network's admission rules and this node's standing under them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AdmissionReport {
    /// `open` (proof of work bound to an address prefix) or
    /// `permissioned` (membership certificates signed by k of m admission keys).
    pub mode: String,
    /// `permissioned`: this node's own membership certificate.
    #[serde(default)]
    pub membership: Option<MembershipReport>,
    /// The network id (hex): a hash over every network parameter.
    pub network_id: String,
    /// Leading zero bits an identity's work must have.
    pub difficulty: u8,
    /// Most committee members from one prefix.
    pub per_prefix_committee: u8,
    /// Most fingers from one prefix.
    pub per_prefix_routing: u8,
    /// The address prefix this node's position is bound to.
    pub prefix: String,
}

/// This node's membership certificate (`permissioned` networks).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MembershipReport {
    /// The certificate file.
    pub path: String,
    /// End of validity, UNIX seconds.
    pub not_after: u64,
    /// Whole days left (negative once expired).
    pub days_left: i64,
    /// Set when fewer than 7 days are left: what to do.
    pub warning: Option<String>,
    /// Revocations this node knows.
    pub revocations: usize,
}

/// The chunk chains a node holds, as verified at start.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LedgerReport {
    /// Where the ledger lives.
    #[serde(default)]
    pub path: String,
    /// Chunks whose chains verified, with their committed heights.
    #[serde(default)]
    pub chunks: Vec<ChunkReport>,
    /// Chunks whose chains failed verification (not served), with the reason.
    #[serde(default)]
    pub corrupt: Vec<String>,
    /// Chunks being fetched from a committee this node joins.
    #[serde(default)]
    pub joining: usize,
}

/// One chunk chain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChunkReport {
    /// The chunk.
    pub chunk: u32,
    /// Height of its last committed block.
    pub height: u64,
    /// Committee epoch at the tip.
    #[serde(default)]
    pub epoch: u64,
    /// Is this node a member of the committee at the tip?
    #[serde(default)]
    pub member: bool,
}

/// A chunk's chain as an audit trail: every block with its commit
/// certificate, which anyone can check against the committee of the
/// block's epoch (the genesis names the first committee; every
/// `reconfigure` transaction names the next).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChainReport {
    /// The chunk.
    pub chunk: u32,
    /// Height of the last committed block.
    pub height: u64,
    /// The committee at the tip: epoch and members (PeerIds).
    pub epoch: u64,
    /// Members at the tip, in ring order.
    pub committee: Vec<String>,
    /// The blocks asked for, in height order.
    pub blocks: Vec<BlockReport>,
}

/// One committed block.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BlockReport {
    /// Height.
    pub height: u64,
    /// blake3 hash of the block, hex.
    pub hash: String,
    /// Hash of the previous block, hex.
    pub prev: String,
    /// View it was proposed in.
    pub view: u64,
    /// The proposer (PeerId; empty for genesis).
    pub proposer: String,
    /// Committee epoch it was decided in.
    pub epoch: u64,
    /// Digest of that committee, hex.
    pub committee_digest: String,
    /// Proposer's clock, unix seconds.
    pub time: u64,
    /// The changes, in order.
    pub txs: Vec<TxReport>,
    /// The commit certificate.
    pub certificate: CertificateReport,
}

/// One transaction of a block.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase")]
pub enum TxReport {
    /// An RRset inserted or replaced.
    Put {
        /// Owner name.
        name: String,
        /// Record type number.
        rtype: u16,
        /// Class number.
        class: u16,
        /// TTL from the authoritative source.
        ttl: u32,
        /// Rdata in wire form, hex, one per record.
        rdata: Vec<String>,
        /// When the proposer fetched it, unix seconds.
        fetched_at: u64,
    },
    /// An RRset removed.
    Delete {
        /// Owner name.
        name: String,
        /// Record type number.
        rtype: u16,
    },
    /// The committee handed over.
    Reconfigure {
        /// The new members (PeerIds), in ring order.
        committee: Vec<String>,
    },
}

/// 2f+1 commit signatures of one view over the block hash.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CertificateReport {
    /// The view of the commit votes.
    pub view: u64,
    /// Signers and their ed25519 signatures (hex) over the commit digest.
    pub signatures: Vec<SignatureReport>,
}

/// One signature of a certificate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SignatureReport {
    /// The signer's PeerId (its ed25519 public key is inside).
    pub signer: String,
    /// The signature, hex.
    pub signature: String,
}

/// A network read: what the committee of the name's chunk said.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordsReport {
    /// Canonical name read.
    pub name: String,
    /// Record type number.
    pub rtype: u16,
    /// The chunk.
    pub chunk: u32,
    /// Committee size.
    pub members: usize,
    /// `agreed` (more than half returned one state) or `no_majority`.
    pub verdict: String,
    /// Members that returned the agreed state.
    pub votes: usize,
    /// Members that returned something else.
    pub dissent: usize,
    /// The agreed RRset of the type, if any (as a `put`).
    pub rrset: Option<TxReport>,
    /// The agreed CNAME at the name, if any.
    pub cname: Option<TxReport>,
}

/// The committed history of an RRset, as agreed by the committee.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryReport {
    /// Canonical name.
    pub name: String,
    /// Record type number (0: every type).
    pub rtype: u16,
    /// The chunk.
    pub chunk: u32,
    /// Committee size.
    pub members: usize,
    /// `agreed` or `no_majority`.
    pub verdict: String,
    /// Members that returned the agreed history.
    pub votes: usize,
    /// The versions, oldest first.
    pub versions: Vec<VersionReport>,
}

/// One committed version of an RRset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VersionReport {
    /// Height of the block that committed it.
    pub height: u64,
    /// The block's time, unix seconds.
    pub time: u64,
    /// The commit certificate's view.
    pub view: u64,
    /// `put` or `delete`.
    pub op: String,
    /// Record type (name, e.g. `A`).
    pub rtype: String,
    /// The authority's TTL.
    pub ttl: u32,
    /// The records, in presentation format.
    pub records: Vec<String>,
    /// PeerIds whose signatures make up the certificate.
    pub signers: Vec<String>,
}

impl HistoryReport {
    /// Human-readable rendering for `dhtr history`.
    pub fn render_text(&self) -> String {
        let mut out = format!(
            "{} (chunk {}): {} version(s), {} by {} of {} members\n",
            self.name,
            self.chunk,
            self.versions.len(),
            self.verdict,
            self.votes,
            self.members
        );
        for v in &self.versions {
            out += &format!(
                "  height {:<6} time {:<12} {} {} ttl {}  {}\n      signed by {}\n",
                v.height,
                v.time,
                v.op,
                v.rtype,
                v.ttl,
                v.records.join(", "),
                v.signers.join(", ")
            );
        }
        out
    }
}

/// What happened to a transaction submitted through the test hooks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubmitReport {
    /// The name.
    pub name: String,
    /// Its chunk.
    pub chunk: u32,
    /// The committee it was sent to (PeerIds).
    pub committee: Vec<String>,
}

/// Result of looking up the nodes responsible for a name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LookupReport {
    /// The name looked up, as normalised by the node.
    pub name: String,
    /// The name's key on the ring, hex.
    pub key: String,
    /// The chunk the key falls in.
    pub chunk: u32,
    /// Network parameter: bits of a key that select its chunk.
    pub chunk_bits: u8,
    /// First ring id of the chunk, hex.
    pub chunk_start: String,
    /// The chunk's committee.
    #[serde(default)]
    pub committee: Vec<PeerReport>,
    /// Successors of the key, nearest first.
    #[serde(default)]
    pub successors: Vec<PeerReport>,
    /// Hops the lookup took.
    pub hops: u32,
    /// Wall time of the lookup in milliseconds.
    pub duration_ms: f64,
}

/// Body of every non-2xx JSON response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorReport {
    /// What went wrong, for people.
    pub error: String,
}

impl ErrorReport {
    /// An error report with `error` as its message.
    pub fn new(error: impl Into<String>) -> Self {
        Self { error: error.into() }
    }

    /// Human-readable rendering (one line).
    pub fn render_text(&self) -> String {
        self.to_string()
    }
}

impl Display for ErrorReport {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        writeln!(f, "error: {}", self.error)
    }
}

/// The first [`SHORT_HEX`] characters of a hex id, with `…` if cut.
pub fn short_hex(hex: &str) -> String {
    match hex.char_indices().nth(SHORT_HEX) {
        Some((i, _)) => format!("{}…", &hex[..i]),
        None => hex.to_owned(),
    }
}

/// Formats seconds as e.g. `2d 3h 4m 5s` (largest units first, zeros left out).
pub fn format_duration(seconds: f64) -> String {
    if !seconds.is_finite() || seconds < 1.0 {
        return format!("{:.1}s", seconds.max(0.0));
    }
    // Truncation is intended: whole seconds.
    let mut rest = seconds as u64;
    let mut parts = Vec::new();
    for (unit, len) in [("d", 86_400), ("h", 3_600), ("m", 60)] {
        if rest >= len {
            parts.push(format!("{}{unit}", rest / len));
            rest %= len;
        }
    }
    if rest > 0 || parts.is_empty() {
        parts.push(format!("{rest}s"));
    }
    parts.join(" ")
}

/// Writes `label:` padded to a common width, then `value`.
fn field(f: &mut Formatter<'_>, label: &str, value: impl Display) -> fmt::Result {
    writeln!(f, "{:<16}{value}", format!("{label}:"))
}

/// Writes a numbered list of peers under `label`, or `none`.
fn peer_list(f: &mut Formatter<'_>, label: &str, peers: &[PeerReport]) -> fmt::Result {
    if peers.is_empty() {
        return field(f, label, "none");
    }
    field(f, label, peers.len())?;
    for (i, p) in peers.iter().enumerate() {
        writeln!(f, "  {:>2}. {p}", i + 1)?;
    }
    Ok(())
}

/// Writes a list of strings under `label`, one per line, or `none`.
fn string_list(f: &mut Formatter<'_>, label: &str, items: &[String]) -> fmt::Result {
    match items.split_first() {
        None => field(f, label, "none"),
        Some((first, rest)) => {
            field(f, label, first)?;
            for item in rest {
                writeln!(f, "{:<16}{item}", "")?;
            }
            Ok(())
        }
    }
}

impl PeerReport {
    /// Human-readable rendering: short ring id, PeerId, first address.
    pub fn render_text(&self) -> String {
        self.to_string()
    }
}

impl Display for PeerReport {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        // Pad to SHORT_HEX + 1 characters ('…' is one char).
        write!(f, "{:<w$}  {}", short_hex(&self.ring_id), self.peer_id, w = SHORT_HEX + 1)?;
        match self.addrs.as_slice() {
            [] => Ok(()),
            [one] => write!(f, "  {one}"),
            [first, rest @ ..] => write!(f, "  {first} (+{} more)", rest.len()),
        }
    }
}

impl StatusReport {
    /// Human-readable, aligned multi-line rendering.
    pub fn render_text(&self) -> String {
        self.to_string()
    }
}

impl Display for StatusReport {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        field(f, "version", &self.version)?;
        field(f, "network", &self.network)?;
        field(f, "peer id", &self.peer_id)?;
        field(f, "ring id", short_hex(&self.ring_id))?;
        let a = &self.admission;
        field(
            f,
            "admission",
            format!(
                "{}, difficulty {} bits, prefix {} (at most {} per committee, {} per finger table)",
                a.mode, a.difficulty, a.prefix, a.per_prefix_committee, a.per_prefix_routing
            ),
        )?;
        if let Some(c) = &a.membership {
            field(
                f,
                "certificate",
                format!("{} days left ({}), {} revocations known", c.days_left, c.path, c.revocations),
            )?;
            if let Some(w) = &c.warning {
                field(f, "WARNING", w)?;
            }
        }
        field(f, "joined", if self.joined { "yes" } else { "no" })?;
        field(f, "uptime", format_duration(self.uptime_seconds))?;
        string_list(f, "listening on", &self.listen_addrs)?;
        string_list(f, "external addrs", &self.external_addrs)?;
        match &self.predecessor {
            Some(p) => field(f, "predecessor", p)?,
            None => field(f, "predecessor", "none")?,
        }
        peer_list(f, "successors", &self.successors)?;
        peer_list(f, "fingers", &self.fingers)?;
        field(f, "connected", format!("{} peers", self.connected_peers.len()))?;
        let heights: u64 = self.ledger.chunks.iter().map(|c| c.height).sum();
        field(f, "ledger", format!("{} chunks, {heights} blocks ({})", self.ledger.chunks.len(), self.ledger.path))?;
        for c in &self.ledger.corrupt {
            field(f, "  NOT SERVED", c)?;
        }
        Ok(())
    }
}

impl LookupReport {
    /// Human-readable, aligned multi-line rendering.
    pub fn render_text(&self) -> String {
        self.to_string()
    }
}

impl Display for LookupReport {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        field(f, "name", &self.name)?;
        field(f, "key", &self.key)?;
        field(
            f,
            "chunk",
            format!("{} of 2^{} (starts at {})", self.chunk, self.chunk_bits, short_hex(&self.chunk_start)),
        )?;
        peer_list(f, "committee", &self.committee)?;
        peer_list(f, "successors", &self.successors)?;
        field(f, "hops", self.hops)?;
        field(f, "time", format!("{:.1} ms", self.duration_ms))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn peer(n: u8) -> PeerReport {
        PeerReport {
            peer_id: format!("12D3KooWPeer{n}"),
            ring_id: format!("{n:02x}").repeat(32),
            addrs: vec![format!("/ip4/10.0.0.{n}/tcp/4001")],
        }
    }

    fn status() -> StatusReport {
        StatusReport {
            version: "0.1.0".into(),
            network: "testnet".into(),
            peer_id: "12D3KooWSelf".into(),
            ring_id: "ab".repeat(32),
            listen_addrs: vec!["/ip4/0.0.0.0/tcp/4001".into(), "/ip4/0.0.0.0/udp/4001/quic-v1".into()],
            external_addrs: vec![],
            predecessor: Some(peer(1)),
            successors: vec![peer(2), peer(3)],
            fingers: vec![peer(2)],
            connected_peers: vec!["a".into(), "b".into(), "c".into()],
            uptime_seconds: 93_784.2,
            joined: true,
            ledger: Default::default(),
            admission: Default::default(),
        }
    }

    #[test]
    fn json_round_trip() {
        let s = status();
        let json = serde_json::to_string(&s).unwrap();
        assert!(json.contains("\"peer_id\":\"12D3KooWSelf\""));
        assert_eq!(serde_json::from_str::<StatusReport>(&json).unwrap(), s);
        let e: ErrorReport = serde_json::from_str(r#"{"error":"boom"}"#).unwrap();
        assert_eq!(e, ErrorReport::new("boom"));
    }

    #[test]
    fn status_text() {
        let text = status().render_text();
        assert!(text.contains("peer id:        12D3KooWSelf\n"), "{text}");
        assert!(text.contains("ring id:        abababababababab…\n"), "{text}");
        assert!(text.contains("uptime:         1d 2h 3m 4s\n"), "{text}");
        assert!(text.contains("predecessor:    01010101"), "{text}");
        assert!(text.contains("   1. 0202020202020202…  12D3KooWPeer2  /ip4/10.0.0.2/tcp/4001\n"), "{text}");
        assert!(text.contains("   2. 0303"), "{text}");
        assert!(text.contains("external addrs: none\n"), "{text}");
        assert!(text.contains("                /ip4/0.0.0.0/udp/4001/quic-v1\n"), "{text}");
        assert!(text.contains("connected:      3 peers\n"), "{text}");
        assert!(text.ends_with("ledger:         0 chunks, 0 blocks ()\n"), "{text}");
    }

    #[test]
    fn lookup_text() {
        let l = LookupReport {
            name: "example.com.".into(),
            key: "cd".repeat(32),
            chunk: 205,
            chunk_bits: 8,
            chunk_start: format!("cd{}", "00".repeat(31)),
            committee: vec![peer(4)],
            successors: vec![],
            hops: 3,
            duration_ms: 12.345,
        };
        let text = l.render_text();
        assert!(text.contains("chunk:          205 of 2^8 (starts at cd00000000000000…)\n"), "{text}");
        assert!(text.contains("successors:     none\n"), "{text}");
        assert!(text.contains("time:           12.3 ms\n"), "{text}");
    }

    #[test]
    fn helpers() {
        assert_eq!(short_hex("abc"), "abc");
        assert_eq!(format_duration(0.3), "0.3s");
        assert_eq!(format_duration(60.0), "1m");
        assert_eq!(format_duration(f64::NAN), "0.0s");
        assert_eq!(ErrorReport::new("x").render_text(), "error: x\n");
    }
}
