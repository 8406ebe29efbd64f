//! Configuration: embedded defaults, overridden by a TOML file, overridden by
//! command-line flags (each flag can also come from a `DHTR_*` variable).
//! Every value is validated here, and an error names the flag or key.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Result, anyhow, bail};
use dhtr_bootstrap::{BootstrapAddr, check_listen_addr};
use dhtr_protocol::{NetworkName, NetworkParams};
use libp2p::Multiaddr;

mod file;
pub use file::{AdmissionSection, FileConfig, LimitsSection, PUBLIC_ADMISSION, TEST_ADMISSION};

/// Values given on the command line (or in `DHTR_*` variables); each
/// replaces the file's value when present.
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    /// `--network`
    pub network: Option<String>,
    /// `--data-dir`
    pub data_dir: Option<PathBuf>,
    /// `--listen` (repeatable)
    pub listen: Vec<String>,
    /// `--external-addr` (repeatable)
    pub external_addrs: Vec<String>,
    /// `--bootstrap` (repeatable)
    pub bootstrap: Vec<String>,
    /// `--http-listen`
    pub http_listen: Option<String>,
    /// `--log`
    pub log: Option<String>,
    /// `--log-json`
    pub log_json: bool,
    /// `--test-hooks`
    pub test_hooks: bool,
    /// `--test-liar`
    pub test_liar: bool,
    /// `--dns-listen` (repeatable)
    pub dns_listen: Vec<String>,
    /// `--allow` (repeatable)
    pub allow: Vec<String>,
    /// `--root-hints`
    pub root_hints: Option<PathBuf>,
    /// `--test-network`
    pub test_network: bool,
    /// `--difficulty`
    pub difficulty: Option<u8>,
    /// `--per-prefix-committee`
    pub per_prefix_committee: Option<u8>,
    /// `--per-prefix-routing`
    pub per_prefix_routing: Option<u8>,
    /// `--network-file`
    pub network_file: Option<PathBuf>,
    /// `--certificate`
    pub certificate: Option<PathBuf>,
}

/// Longest successor list in a permissioned network: each entry carries a
/// certificate of up to 8 signatures (about 1 KB), and a graceful leave
/// sends the whole list in one request of at most 16 KiB.
pub const MAX_PERMISSIONED_SUCCESSORS: usize = 12;

/// A `permissioned` network's files, as given.
#[derive(Clone, Debug)]
pub struct PermitSettings {
    /// The network file.
    pub network_file: PathBuf,
    /// What it defines.
    pub network: crate::permit::Network,
    /// This node's membership certificate file.
    pub certificate: PathBuf,
}

/// The validated configuration a node runs with.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Network name.
    pub network: NetworkName,
    /// Network parameters.
    pub params: NetworkParams,
    /// Admission rules (network parameters; `chord.admission` too).
    pub admission: dhtr_protocol::Rules,
    /// Data directory.
    pub data_dir: PathBuf,
    /// libp2p listen addresses.
    pub listen: Vec<Multiaddr>,
    /// Extra advertised addresses.
    pub external_addrs: Vec<Multiaddr>,
    /// Bootstrap peers.
    pub bootstrap: Vec<BootstrapAddr>,
    /// HTTP endpoint address.
    pub http_listen: SocketAddr,
    /// Log filter.
    pub log: String,
    /// JSON logs.
    pub log_json: bool,
    /// Test-only hooks enabled.
    pub test_hooks: bool,
    /// TEST ONLY: answer network reads with falsified records.
    pub test_liar: bool,
    /// Chord configuration.
    pub chord: dhtr_protocol::Config,
    /// Connection limits.
    pub limits: LimitsSection,
    /// Most inbound connections from one address prefix, `None` for no
    /// limit ([`crate::gate`]).
    pub inbound_per_prefix: Option<u32>,
    /// The ledger's tuning.
    pub ledger: dhtr_ledger::chunks::ChunksConfig,
    /// Sync ledger writes to disk.
    pub ledger_fsync: bool,
    /// The DNS side.
    pub dns: DnsSettings,
    /// `Some`: a `permissioned` network (`--network-file`).
    pub permit: Option<PermitSettings>,
}

/// The validated `[dns]` settings.
#[derive(Clone, Debug)]
pub struct DnsSettings {
    /// Where to serve DNS.
    pub listen: Vec<SocketAddr>,
    /// Who may query.
    pub allow: Vec<ipnet::IpNet>,
    /// Root hints (IANA's unless a file was given).
    pub roots: Vec<SocketAddr>,
    /// TTL floor for committing RRsets.
    pub ttl_floor: u32,
    /// Cache size in answers.
    pub cache_entries: u64,
    /// RFC 8767 serve-stale.
    pub serve_stale: bool,
    /// Rate limit per client network.
    pub rate_per_second: u32,
    /// Scan interval of the refresher.
    pub refresh_interval: Duration,
    /// Unread for this long: deleted instead of refreshed.
    pub unused_after: Duration,
}

impl Settings {
    /// Merge defaults, the optional file and the overrides, and validate.
    pub fn resolve(file: Option<&Path>, o: Overrides) -> Result<Settings> {
        let mut f = match file {
            Some(p) => FileConfig::load(p)?,
            None => FileConfig::default(),
        };
        // Where a value came from, for error messages.
        let src = |flag: bool, flag_name: &str, key: &str| {
            if flag { flag_name.to_string() } else { format!("config key `{key}`") }
        };
        let listen_from_flag = !o.listen.is_empty();
        let ext_from_flag = !o.external_addrs.is_empty();
        let boot_from_flag = !o.bootstrap.is_empty();
        let net_from_flag = o.network.is_some();
        let http_from_flag = o.http_listen.is_some();
        if let Some(v) = o.network {
            f.network = v;
        }
        if let Some(v) = o.data_dir {
            f.data_dir = v;
        }
        if listen_from_flag {
            f.listen = o.listen;
        }
        if ext_from_flag {
            f.external_addrs = o.external_addrs;
        }
        if boot_from_flag {
            f.bootstrap = o.bootstrap;
        }
        if let Some(v) = o.http_listen {
            f.http_listen = v;
        }
        if let Some(v) = o.log {
            f.log = v;
        }
        f.log_json |= o.log_json;
        f.test_hooks |= o.test_hooks;
        let dns_listen_from_flag = !o.dns_listen.is_empty();
        let allow_from_flag = !o.allow.is_empty();
        if dns_listen_from_flag {
            f.dns.listen = o.dns_listen;
        }
        if allow_from_flag {
            f.dns.allow = o.allow;
        }
        if o.root_hints.is_some() {
            f.dns.root_hints = o.root_hints;
        }

        let adm_flags = o.test_network
            || o.difficulty.is_some()
            || o.per_prefix_committee.is_some()
            || o.per_prefix_routing.is_some();
        let permit = match o.network_file {
            Some(path) => {
                let network = crate::permit::Network::load(&path)?;
                if adm_flags {
                    bail!(
                        "--network-file {}: admission comes from the network file; drop \
                         --test-network/--difficulty/--per-prefix-*",
                        path.display()
                    );
                }
                if net_from_flag && f.network != network.file.name {
                    bail!(
                        "--network {:?} differs from the name {:?} in network file {}",
                        f.network,
                        network.file.name,
                        path.display()
                    );
                }
                f.network = network.file.name.clone();
                f.chunk_bits = network.params.chunk_bits;
                f.f = network.params.f;
                let certificate = o.certificate.unwrap_or_else(|| f.data_dir.join(crate::permit::CERT_FILE));
                Some(PermitSettings { network_file: path, network, certificate })
            }
            None if o.certificate.is_some() => bail!("--certificate needs --network-file (a permissioned network)"),
            None => None,
        };
        let network =
            NetworkName::new(&f.network).map_err(|e| anyhow!("{}: {e}", src(net_from_flag, "--network", "network")))?;
        let params = NetworkParams::new(f.chunk_bits, f.f).map_err(|e| anyhow!("config key `chunk_bits`/`f`: {e}"))?;
        if o.test_network {
            f.admission = TEST_ADMISSION;
        }
        f.admission.difficulty = o.difficulty.unwrap_or(f.admission.difficulty);
        f.admission.per_prefix_committee = o.per_prefix_committee.unwrap_or(f.admission.per_prefix_committee);
        f.admission.per_prefix_routing = o.per_prefix_routing.unwrap_or(f.admission.per_prefix_routing);
        let admission = match &permit {
            Some(p) => p.network.rules(std::time::Instant::now(), crate::permit::unix_now())?,
            None => admission_rules(&network, &params, &f.admission, adm_flags)?,
        };
        let mut listen = Vec::new();
        for a in &f.listen {
            let what = src(listen_from_flag, "--listen", "listen");
            let m: Multiaddr = a.parse().map_err(|e| anyhow!("{what}: {a:?} is not a multiaddr: {e}"))?;
            check_listen_addr(&m).map_err(|e| anyhow!("{what}: {e}"))?;
            listen.push(m);
        }
        if listen.is_empty() {
            bail!("{}: at least one listen address is needed", src(listen_from_flag, "--listen", "listen"));
        }
        let mut external_addrs = Vec::new();
        for a in &f.external_addrs {
            let what = src(ext_from_flag, "--external-addr", "external_addrs");
            external_addrs.push(a.parse::<Multiaddr>().map_err(|e| anyhow!("{what}: {a:?} is not a multiaddr: {e}"))?);
        }
        let mut bootstrap = Vec::new();
        for a in &f.bootstrap {
            let what = src(boot_from_flag, "--bootstrap", "bootstrap");
            bootstrap.push(BootstrapAddr::parse(a).map_err(|e| anyhow!("{what}: {e}"))?);
        }
        let http_listen: SocketAddr = f.http_listen.parse().map_err(|e| {
            anyhow!(
                "{}: {:?} is not an IP:port address: {e}",
                src(http_from_flag, "--http-listen", "http_listen"),
                f.http_listen
            )
        })?;
        let r = &f.ring;
        if permit.is_some() && r.successors > MAX_PERMISSIONED_SUCCESSORS {
            bail!(
                "config key `ring.successors` = {}: a permissioned network allows at most {MAX_PERMISSIONED_SUCCESSORS} \
                 (every entry carries a certificate, and a graceful leave sends the list in one request)",
                r.successors
            );
        }
        let n = params.committee_size();
        if r.successors < n || r.successors > dhtr_protocol::wire::MAX_LIST {
            bail!(
                "config key `ring.successors` = {}: it must be between the committee size {n} and {}",
                r.successors,
                dhtr_protocol::wire::MAX_LIST
            );
        }
        for (key, v) in [
            ("ring.stabilize_interval_ms", r.stabilize_interval_ms),
            ("ring.fix_fingers_interval_ms", r.fix_fingers_interval_ms),
            ("ring.check_predecessor_interval_ms", r.check_predecessor_interval_ms),
            ("ring.rpc_timeout_ms", r.rpc_timeout_ms),
            ("ring.lookup_timeout_ms", r.lookup_timeout_ms),
        ] {
            if !(10..=3_600_000).contains(&v) {
                bail!("config key `{key}` = {v}: it must be between 10 and 3600000 milliseconds");
            }
        }
        if r.rpc_attempts == 0 {
            bail!("config key `ring.rpc_attempts` must be at least 1");
        }
        let chord = dhtr_protocol::Config {
            successors: r.successors,
            stabilize_interval: Duration::from_millis(r.stabilize_interval_ms),
            fix_fingers_interval: Duration::from_millis(r.fix_fingers_interval_ms),
            check_predecessor_interval: Duration::from_millis(r.check_predecessor_interval_ms),
            rpc_timeout: Duration::from_millis(r.rpc_timeout_ms),
            rpc_attempts: r.rpc_attempts,
            lookup_timeout: Duration::from_millis(r.lookup_timeout_ms),
            admission: admission.clone(),
            ..dhtr_protocol::Config::default()
        };
        let l = &f.limits;
        if l.max_connections == 0 || l.max_connections_per_peer == 0 {
            bail!("config keys `limits.max_connections` and `limits.max_connections_per_peer` must be at least 1");
        }
        if l.reserved_outbound >= l.max_connections {
            bail!(
                "config key `limits.reserved_outbound` = {}: it must be below `limits.max_connections` ({})",
                l.reserved_outbound,
                l.max_connections
            );
        }
        if l.max_inbound_per_prefix == Some(0) {
            bail!("config key `limits.max_inbound_per_prefix` must be at least 1");
        }
        let inbound_per_prefix = l
            .max_inbound_per_prefix
            .or_else(|| (admission.per_prefix_routing != u8::MAX).then_some(file::DEFAULT_INBOUND_PER_PREFIX));
        let lg = &f.ledger;
        if !(50..=600_000).contains(&lg.view_timeout_ms) {
            bail!("config key `ledger.view_timeout_ms` = {}: it must be between 50 and 600000", lg.view_timeout_ms);
        }
        if !(1..=86_400).contains(&lg.check_interval_secs) {
            bail!(
                "config key `ledger.check_interval_secs` = {}: it must be between 1 and 86400",
                lg.check_interval_secs
            );
        }
        if !(1..=1024).contains(&lg.max_batch) {
            bail!("config key `ledger.max_batch` = {}: it must be between 1 and 1024", lg.max_batch);
        }
        let mut dns_listen = Vec::new();
        for a in &f.dns.listen {
            let what = src(dns_listen_from_flag, "--dns-listen", "dns.listen");
            dns_listen
                .push(a.parse::<SocketAddr>().map_err(|e| anyhow!("{what}: {a:?} is not an IP:port address: {e}"))?);
        }
        let mut allow = Vec::new();
        for a in &f.dns.allow {
            let what = src(allow_from_flag, "--allow", "dns.allow");
            let net = a
                .parse::<ipnet::IpNet>()
                .or_else(|_| a.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .map_err(|e| anyhow!("{what}: {a:?} is not a CIDR network (e.g. 192.0.2.0/24): {e}"))?;
            allow.push(net);
        }
        let roots = match &f.dns.root_hints {
            Some(p) => {
                dhtr_resolver::iterative::load_root_hints(p).map_err(|e| anyhow!("root hints {}: {e}", p.display()))?
            }
            None => dhtr_resolver::iterative::IterConfig::default().roots,
        };
        let dns = DnsSettings {
            listen: dns_listen,
            allow,
            roots,
            ttl_floor: f.dns.ttl_floor_secs,
            cache_entries: f.dns.cache_entries.max(1),
            serve_stale: f.dns.serve_stale,
            rate_per_second: f.dns.rate_per_second.max(1),
            refresh_interval: Duration::from_secs(f.dns.refresh_interval_secs.max(1)),
            unused_after: Duration::from_secs(f.dns.unused_after_secs.max(1)),
        };
        let mut ledger = dhtr_ledger::chunks::ChunksConfig::default();
        ledger.replica.view_timeout = Duration::from_millis(lg.view_timeout_ms);
        ledger.replica.max_batch = lg.max_batch;
        ledger.check_interval = Duration::from_secs(lg.check_interval_secs);
        Ok(Settings {
            network,
            params,
            admission,
            data_dir: f.data_dir,
            listen,
            external_addrs,
            bootstrap,
            http_listen,
            log: f.log,
            log_json: f.log_json,
            test_hooks: f.test_hooks,
            test_liar: o.test_liar,
            chord,
            limits: f.limits,
            inbound_per_prefix,
            ledger,
            ledger_fsync: f.ledger.fsync,
            dns,
            permit,
        })
    }
}

/// The network's admission rules, checked: work bound to a tag over every
/// network parameter, so nodes that disagree on any never admit each other.
/// The public network `main` cannot be relaxed.
fn admission_rules(
    network: &NetworkName,
    params: &NetworkParams,
    a: &AdmissionSection,
    from_flags: bool,
) -> Result<dhtr_protocol::Rules> {
    let what = if from_flags { "--test-network/--difficulty/--per-prefix-*" } else { "config table `[admission]`" };
    if a.difficulty > 40 {
        bail!("{what}: difficulty = {}: at most 40 bits (2^40 hashes is weeks of CPU)", a.difficulty);
    }
    if a.per_prefix_committee == 0 || a.per_prefix_routing == 0 {
        bail!("{what}: per_prefix_committee and per_prefix_routing must be at least 1");
    }
    let public = PUBLIC_ADMISSION;
    let relaxed = a.difficulty < public.difficulty
        || a.per_prefix_committee > public.per_prefix_committee
        || a.per_prefix_routing > public.per_prefix_routing;
    if network.as_str() == "main" && relaxed {
        bail!(
            "{what}: network `main` is the public network; its admission cannot be relaxed below difficulty = {}, \
             per_prefix_committee = {}, per_prefix_routing = {}. A test or lab network sets --network to its own name",
            public.difficulty,
            public.per_prefix_committee,
            public.per_prefix_routing
        );
    }
    let id = format!(
        "network {}\nchunk_bits {}\nf {}\nmode open\ndifficulty {}\nper_prefix_committee {}\nper_prefix_routing {}\n",
        network.as_str(),
        params.chunk_bits,
        params.f,
        a.difficulty,
        a.per_prefix_committee,
        a.per_prefix_routing
    );
    let tag = *blake3::Hasher::new_derive_key("dhtr 2026 network id v1").update(id.as_bytes()).finalize().as_bytes();
    Ok(dhtr_protocol::Rules {
        network: dhtr_protocol::NetworkTag(tag),
        difficulty: a.difficulty,
        per_prefix_committee: a.per_prefix_committee,
        per_prefix_routing: a.per_prefix_routing,
        permission: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lab(o: Overrides) -> Result<Settings> {
        Settings::resolve(None, Overrides { network: Some("lab".into()), ..o })
    }

    #[test]
    fn admission_defaults_to_the_public_network_and_cannot_be_relaxed_on_main() {
        let s = Settings::resolve(None, Overrides::default()).unwrap_or_else(|e| panic!("{e:#}"));
        assert_eq!(
            (s.admission.difficulty, s.admission.per_prefix_committee, s.admission.per_prefix_routing),
            (28, 1, 2)
        );
        assert_eq!(s.chord.admission, s.admission, "the Chord core enforces the same rules");
        for o in [
            Overrides { test_network: true, ..Overrides::default() },
            Overrides { difficulty: Some(20), ..Overrides::default() },
            Overrides { per_prefix_committee: Some(2), ..Overrides::default() },
        ] {
            let e = err(None, o);
            assert!(e.contains("network `main` is the public network"), "{e}");
        }
    }

    #[test]
    fn a_test_network_says_so_and_its_parameters_make_its_id() {
        let t = lab(Overrides { test_network: true, ..Overrides::default() }).unwrap_or_else(|e| panic!("{e:#}"));
        assert_eq!((t.admission.difficulty, t.admission.per_prefix_committee), (12, u8::MAX));
        // Inbound connections per prefix: limited where prefixes are, not on loopback labs.
        assert_eq!(t.inbound_per_prefix, None);
        // An explicit flag wins over --test-network's value.
        let d = lab(Overrides { test_network: true, difficulty: Some(14), ..Overrides::default() })
            .unwrap_or_else(|e| panic!("{e:#}"));
        assert_eq!(d.admission.difficulty, 14);
        // Any parameter that differs is another network: work never transfers.
        let public = lab(Overrides::default()).unwrap_or_else(|e| panic!("{e:#}"));
        assert_ne!(t.admission.network, d.admission.network);
        assert_ne!(t.admission.network, public.admission.network);
        let e = err(None, Overrides { network: Some("lab".into()), difficulty: Some(41), ..Overrides::default() });
        assert!(e.contains("at most 40 bits"), "{e}");
    }

    #[test]
    fn a_network_file_makes_a_permissioned_network_with_its_own_parameters() -> Result<()> {
        let dir = tempfile::tempdir()?;
        let keys: Vec<String> = (1..=3u8).map(|i| hex::encode(dhtr_protocol::permit::public_of(&[i; 32]))).collect();
        let file = crate::permit::network::NetworkFile {
            name: "acme".into(),
            mode: "permissioned".into(),
            chunk_bits: 10,
            f: 2,
            per_prefix_committee: 1,
            per_prefix_routing: 2,
            threshold: 2,
            admission_keys: keys,
        };
        let path = dir.path().join("network.toml");
        std::fs::write(&path, crate::permit::Network::check(file)?.to_text()?)?;
        let with = |o: Overrides| Overrides { network_file: Some(path.clone()), ..o };
        let s = Settings::resolve(None, with(Overrides::default()))?;
        assert_eq!((s.network.as_str(), s.params.chunk_bits, s.params.f), ("acme", 10, 2));
        assert_eq!(s.admission.mode(), "permissioned");
        assert_eq!(s.chord.admission, s.admission, "the Chord core enforces the same rules");
        let p = s.permit.as_ref().map(|p| p.certificate.clone());
        assert_eq!(p, Some(PathBuf::from("dhtr-data").join("membership.cert")));
        for (o, want) in [
            (Overrides { difficulty: Some(20), ..Overrides::default() }, "admission comes from the network file"),
            (Overrides { test_network: true, ..Overrides::default() }, "admission comes from the network file"),
            (Overrides { network: Some("other".into()), ..Overrides::default() }, "differs from the name"),
        ] {
            let e = err(None, with(o));
            assert!(e.contains(want) && e.contains("network.toml"), "{e}");
        }
        let e = err(None, Overrides { certificate: Some("c".into()), ..Overrides::default() });
        assert!(e.contains("--certificate needs --network-file"), "{e}");
        let config = dir.path().join("dhtr.toml");
        std::fs::write(&config, "[ring]\nsuccessors = 20\n")?;
        let e = err(Some(&config), with(Overrides::default()));
        assert!(e.contains("at most 12"), "{e}");
        Ok(())
    }

    fn err(file: Option<&Path>, o: Overrides) -> String {
        match Settings::resolve(file, o) {
            Ok(_) => String::new(),
            Err(e) => format!("{e:#}"),
        }
    }

    #[test]
    fn defaults_are_valid() {
        let s = Settings::resolve(None, Overrides::default());
        assert!(s.as_ref().is_ok_and(|s| s.inbound_per_prefix == Some(file::DEFAULT_INBOUND_PER_PREFIX)), "{s:?}");
    }

    #[test]
    fn connection_limits_are_checked() -> Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("dhtr.toml");
        std::fs::write(&path, "[limits]\nmax_connections = 16\nreserved_outbound = 16\n")?;
        let e = err(Some(&path), Overrides::default());
        assert!(e.contains("reserved_outbound") && e.contains("below"), "{e}");
        std::fs::write(&path, "[limits]\nmax_inbound_per_prefix = 0\n")?;
        assert!(err(Some(&path), Overrides::default()).contains("max_inbound_per_prefix"));
        std::fs::write(&path, "[limits]\nmax_inbound_per_prefix = 2\n")?;
        let lab = Overrides { network: Some("lab".into()), test_network: true, ..Overrides::default() };
        let s = Settings::resolve(Some(&path), lab)?;
        assert_eq!(s.inbound_per_prefix, Some(2), "an explicit limit holds on a test network too");
        Ok(())
    }

    #[test]
    fn flags_override_the_file_and_errors_name_their_source() -> Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("dhtr.toml");
        std::fs::write(&path, "network = \"lab\"\nhttp_listen = \"127.0.0.1:1\"\n[ring]\nsuccessors = 10\n")?;
        let s = Settings::resolve(
            Some(&path),
            Overrides { http_listen: Some("127.0.0.2:2".into()), ..Overrides::default() },
        )?;
        assert_eq!(s.network.as_str(), "lab");
        assert_eq!(s.http_listen.to_string(), "127.0.0.2:2");
        assert_eq!(s.chord.successors, 10);

        let e = err(None, Overrides { listen: vec!["/ip4/1.2.3.4/tcp/x".into()], ..Overrides::default() });
        assert!(e.contains("--listen"), "{e}");
        let e = err(None, Overrides { bootstrap: vec!["/ip4/1.2.3.4/tcp/1".into()], ..Overrides::default() });
        assert!(e.contains("--bootstrap") && e.contains("/p2p/"), "{e}");
        std::fs::write(&path, "netwrok = \"x\"\n")?;
        let e = err(Some(&path), Overrides::default());
        assert!(e.contains("netwrok") && e.contains("dhtr.toml"), "{e}");
        std::fs::write(&path, "[ring]\nsuccessors = 2\n")?;
        let e = err(Some(&path), Overrides::default());
        assert!(e.contains("ring.successors"), "{e}");
        let e = err(None, Overrides { network: Some("Bad Name".into()), ..Overrides::default() });
        assert!(e.contains("--network"), "{e}");
        Ok(())
    }
}
