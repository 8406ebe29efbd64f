//! The configuration file as a user writes it: the top-level keys and the
//! `[ring]`, `[limits]`, `[ledger]` and `[dns]` tables, with their embedded
//! defaults. Unknown keys are errors.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow};
use dhtr_protocol::NetworkParams;
use serde::{Deserialize, Serialize};

/// The `[ring]` table: Chord timing and sizes.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RingSection {
    /// Length of the successor list (at least the committee size).
    pub successors: usize,
    /// Milliseconds between stabilize rounds.
    pub stabilize_interval_ms: u64,
    /// Milliseconds between fix_fingers ticks.
    pub fix_fingers_interval_ms: u64,
    /// Milliseconds between predecessor liveness checks.
    pub check_predecessor_interval_ms: u64,
    /// Milliseconds before one Chord request attempt is given up.
    pub rpc_timeout_ms: u64,
    /// Attempts per Chord request before the peer is declared failed.
    pub rpc_attempts: u8,
    /// Milliseconds before a whole lookup is given up.
    pub lookup_timeout_ms: u64,
}

impl Default for RingSection {
    fn default() -> Self {
        let c = dhtr_protocol::Config::default();
        RingSection {
            successors: c.successors,
            stabilize_interval_ms: c.stabilize_interval.as_millis() as u64,
            fix_fingers_interval_ms: c.fix_fingers_interval.as_millis() as u64,
            check_predecessor_interval_ms: c.check_predecessor_interval.as_millis() as u64,
            rpc_timeout_ms: c.rpc_timeout.as_millis() as u64,
            rpc_attempts: c.rpc_attempts,
            lookup_timeout_ms: c.lookup_timeout.as_millis() as u64,
        }
    }
}

/// The `[admission]` table: who may stand on the ring (network parameters:
/// every node of a network must agree, and they are part of its id).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdmissionSection {
    /// Leading zero bits an identity's proof of work must have.
    pub difficulty: u8,
    /// Most members of one committee from one IPv4 /24 or IPv6 /48.
    pub per_prefix_committee: u8,
    /// Most fingers from one prefix.
    pub per_prefix_routing: u8,
}

/// The public network's admission parameters: 2^28 hashes are about 74 s
/// of one core of the reference machine (`cargo run --release --example
/// hashrate -p dhtr-protocol`).
pub const PUBLIC_ADMISSION: AdmissionSection =
    AdmissionSection { difficulty: 28, per_prefix_committee: 1, per_prefix_routing: 2 };

/// `--test-network`: a loopback or test network's admission, explicit and
/// never allowed on `main`: 2^12 hashes (about a millisecond) and no prefix
/// limits (every process of a loopback test shares 127.0.0.0/24).
pub const TEST_ADMISSION: AdmissionSection =
    AdmissionSection { difficulty: 12, per_prefix_committee: u8::MAX, per_prefix_routing: u8::MAX };

impl Default for AdmissionSection {
    fn default() -> Self {
        PUBLIC_ADMISSION
    }
}

/// The `[ledger]` table: consensus timing and durability.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LedgerSection {
    /// Sync every commit and vote to disk before acknowledging it. Turn off
    /// only for benchmarks: a power loss could then lose acknowledged commits.
    pub fsync: bool,
    /// Milliseconds pending work may wait for a commit before a view change.
    pub view_timeout_ms: u64,
    /// Seconds between comparisons of each committee with the ring.
    pub check_interval_secs: u64,
    /// Most transactions in one block.
    pub max_batch: usize,
}

impl Default for LedgerSection {
    fn default() -> Self {
        let c = dhtr_ledger::chunks::ChunksConfig::default();
        LedgerSection {
            fsync: true,
            view_timeout_ms: c.replica.view_timeout.as_millis() as u64,
            check_interval_secs: c.check_interval.as_secs(),
            max_batch: c.replica.max_batch,
        }
    }
}

/// The `[dns]` table: the DNS front end and the records it commits.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DnsSection {
    /// Addresses (IP:port) to serve DNS on, UDP and TCP.
    pub listen: Vec<String>,
    /// Client networks (CIDR) allowed to query; others get REFUSED.
    pub allow: Vec<String>,
    /// A root hints file replacing the built-in IANA hints.
    pub root_hints: Option<PathBuf>,
    /// RRsets with a TTL below this many seconds are answered by direct
    /// resolution but never committed to the network.
    pub ttl_floor_secs: u32,
    /// Most answers in the cache.
    pub cache_entries: u64,
    /// Serve expired answers when the authorities are unreachable (RFC 8767).
    pub serve_stale: bool,
    /// Responses per second per client network before rate limiting.
    pub rate_per_second: u32,
    /// Seconds between scans for expired committed records to refresh.
    pub refresh_interval_secs: u64,
    /// An expired record nobody read for this many seconds is deleted
    /// instead of refreshed.
    pub unused_after_secs: u64,
}

impl Default for DnsSection {
    fn default() -> Self {
        DnsSection {
            listen: vec![format!("127.0.0.1:{}", dhtr_resolver::frontend::DEFAULT_PORT)],
            allow: vec!["127.0.0.0/8".into(), "::1/128".into()],
            root_hints: None,
            ttl_floor_secs: 30,
            cache_entries: 100_000,
            serve_stale: true,
            rate_per_second: 500,
            refresh_interval_secs: 10,
            unused_after_secs: 86_400,
        }
    }
}

/// The `[limits]` table: libp2p connection limits.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsSection {
    /// Most established connections in total.
    pub max_connections: u32,
    /// Most established connections to one peer.
    pub max_connections_per_peer: u32,
    /// Most incoming connections still handshaking.
    pub max_pending_incoming: u32,
    /// Most outgoing connections still handshaking.
    pub max_pending_outgoing: u32,
    /// Seconds an idle connection is kept open.
    pub idle_connection_timeout_secs: u64,
    /// Most inbound connections from one address prefix (/24, /48). Unset:
    /// [`DEFAULT_INBOUND_PER_PREFIX`] where the network has prefix limits,
    /// none where it has not (a loopback or lab network).
    pub max_inbound_per_prefix: Option<u32>,
    /// Connection slots only outbound connections (chosen by this node:
    /// its ring neighbours) may take.
    pub reserved_outbound: u32,
}

/// Inbound connections one prefix may hold by default.
pub const DEFAULT_INBOUND_PER_PREFIX: u32 = 8;

impl Default for LimitsSection {
    fn default() -> Self {
        LimitsSection {
            max_connections: 256,
            max_connections_per_peer: 2,
            max_pending_incoming: 64,
            max_pending_outgoing: 64,
            idle_connection_timeout_secs: 60,
            max_inbound_per_prefix: None,
            reserved_outbound: 32,
        }
    }
}

/// The configuration file, as written by a user. Unknown keys are errors.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FileConfig {
    /// Network name; part of every protocol string.
    pub network: String,
    /// Where the identity key, peer store and (later) the ledger live.
    pub data_dir: PathBuf,
    /// libp2p listen multiaddrs.
    pub listen: Vec<String>,
    /// Addresses to advertise in addition to the listen addresses.
    pub external_addrs: Vec<String>,
    /// Bootstrap multiaddrs, each ending in `/p2p/<peer id>`.
    pub bootstrap: Vec<String>,
    /// Address of the HTTP endpoint (`/metrics`, `/status`, ...).
    pub http_listen: String,
    /// Log filter (`RUST_LOG` syntax); `RUST_LOG` itself wins if set.
    pub log: String,
    /// Log as JSON lines instead of text.
    pub log_json: bool,
    /// Test-only hooks (`POST /test/submit`, a deterministic test validator).
    /// Never on in production: it lets the HTTP endpoint submit records.
    pub test_hooks: bool,
    /// Top bits of a key that select its chunk (a network parameter).
    pub chunk_bits: u8,
    /// Byzantine members a committee tolerates; committees have 3f+1 (a network parameter).
    pub f: u8,
    /// Admission (network parameters).
    pub admission: AdmissionSection,
    /// Chord timing.
    pub ring: RingSection,
    /// Connection limits.
    pub limits: LimitsSection,
    /// Ledger timing and durability.
    pub ledger: LedgerSection,
    /// The DNS side.
    pub dns: DnsSection,
}

impl Default for FileConfig {
    fn default() -> Self {
        let p = NetworkParams::default();
        FileConfig {
            network: "main".into(),
            data_dir: PathBuf::from("dhtr-data"),
            listen: vec!["/ip4/0.0.0.0/tcp/4001".into(), "/ip4/0.0.0.0/udp/4001/quic-v1".into()],
            external_addrs: Vec::new(),
            bootstrap: Vec::new(),
            http_listen: "127.0.0.1:9464".into(),
            log: "info".into(),
            log_json: false,
            test_hooks: false,
            chunk_bits: p.chunk_bits,
            f: p.f,
            admission: AdmissionSection::default(),
            ring: RingSection::default(),
            limits: LimitsSection::default(),
            ledger: LedgerSection::default(),
            dns: DnsSection::default(),
        }
    }
}

impl FileConfig {
    /// Read a TOML file; a syntax error or unknown key names the file and key.
    pub fn load(path: &Path) -> Result<FileConfig> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("cannot read config file {}", path.display()))?;
        toml::from_str(&text).map_err(|e| anyhow!("config file {}: {}", path.display(), e.to_string().trim_end()))
    }
}
