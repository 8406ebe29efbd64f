//! `dhtr`: a peer-to-peer DNS resolver node. Nodes form a Chord ring over
//! libp2p; see `DESIGN.md` and the README for the whole picture.

mod behaviour;
mod codec;
mod config;
mod dns;
mod driver;
mod gate;
mod handle;
mod identity;
mod ledger;
mod permit;
mod records;
mod report;
mod transport;
mod work;

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result, anyhow};
use clap::{Args, Parser, Subcommand};
use dhtr_bootstrap::PeerStore;
use dhtr_monitoring::{Metrics, Registry};
use tokio::sync::{mpsc, watch};
use tracing::info;

use crate::config::{Overrides, Settings};
use crate::handle::NodeHandle;

/// A peer-to-peer DNS resolver node on a Chord ring.
#[derive(Parser)]
#[command(name = "dhtr", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run a node.
    Run(Box<RunArgs>),
    /// Create the identity key in the data dir (never overwrites one).
    Keygen(DirArgs),
    /// Print the node's PeerId, address prefix and ring id, with the same
    /// flags as `run` (the ring id depends on the network and the address);
    /// creates the key and computes the identity's work if missing.
    Id(Box<RunArgs>),
    /// Show a running node's status (peer id, predecessor, successors, peers).
    Status {
        /// The node's HTTP endpoint (its --http-listen).
        #[arg(long, env = "DHTR_HTTP", default_value = "127.0.0.1:9464")]
        http: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Ask a running node for a name's key, chunk, committee and hop count.
    Lookup {
        /// The node's HTTP endpoint (its --http-listen).
        #[arg(long, env = "DHTR_HTTP", default_value = "127.0.0.1:9464")]
        http: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        /// The DNS name.
        name: String,
    },
    /// Print the committed history of an RRset: each version, its block
    /// height and time, and the members who signed its certificate.
    History {
        /// The node's HTTP endpoint (its --http-listen).
        #[arg(long, env = "DHTR_HTTP", default_value = "127.0.0.1:9464")]
        http: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        /// The DNS name.
        name: String,
        /// The record type (A, AAAA, MX, ...); every type if omitted.
        rtype: Option<String>,
    },
    /// Permissioned networks: create one (network file + admission keys).
    Network {
        #[command(subcommand)]
        cmd: permit::cli::NetworkCmd,
    },
    /// Permissioned networks: sign a membership certificate for a PeerId.
    Admit(permit::cli::AdmitArgs),
    /// Permissioned networks: sign a revocation of a PeerId's certificate.
    Revoke(permit::cli::RevokeArgs),
    /// Permissioned networks: inspect a membership certificate.
    Cert {
        #[command(subcommand)]
        cmd: permit::cli::CertCmd,
    },
}

#[derive(Args)]
struct DirArgs {
    /// Configuration file (TOML); only its data_dir is used here.
    #[arg(long, short = 'c', env = "DHTR_CONFIG")]
    config: Option<PathBuf>,
    /// Data directory holding identity.key.
    #[arg(long, env = "DHTR_DATA_DIR")]
    data_dir: Option<PathBuf>,
}

#[derive(Args)]
struct RunArgs {
    /// Configuration file (TOML). Flags override it; it overrides defaults.
    #[arg(long, short = 'c', env = "DHTR_CONFIG")]
    config: Option<PathBuf>,
    /// Data directory: identity key, peer store. [default: dhtr-data]
    #[arg(long, env = "DHTR_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// libp2p listen multiaddr, repeatable. [default: /ip4/0.0.0.0/tcp/4001 and /ip4/0.0.0.0/udp/4001/quic-v1]
    #[arg(long, env = "DHTR_LISTEN", value_delimiter = ',')]
    listen: Vec<String>,
    /// Bootstrap peer multiaddr ending in /p2p/<peer id>, repeatable.
    #[arg(long, env = "DHTR_BOOTSTRAP", value_delimiter = ',')]
    bootstrap: Vec<String>,
    /// Address to advertise to peers (e.g. a public IP behind NAT), repeatable.
    #[arg(long, env = "DHTR_EXTERNAL_ADDR", value_delimiter = ',')]
    external_addr: Vec<String>,
    /// HTTP endpoint for /metrics, /healthz, /status, /lookup. [default: 127.0.0.1:9464]
    #[arg(long, env = "DHTR_HTTP_LISTEN")]
    http_listen: Option<String>,
    /// Network name; part of every protocol string. [default: main]
    #[arg(long, env = "DHTR_NETWORK")]
    network: Option<String>,
    /// Log filter, e.g. `info` or `dhtr=debug,libp2p=warn`; RUST_LOG wins. [default: info]
    #[arg(long, env = "DHTR_LOG")]
    log: Option<String>,
    /// Log JSON lines instead of text.
    #[arg(long, env = "DHTR_LOG_JSON")]
    log_json: bool,
    /// Address (IP:port) to serve DNS on over UDP and TCP, repeatable. [default: 127.0.0.1:5335]
    #[arg(long, env = "DHTR_DNS_LISTEN", value_delimiter = ',')]
    dns_listen: Vec<String>,
    /// Client network (CIDR) allowed to query, repeatable; others get REFUSED. [default: loopback only]
    #[arg(long, env = "DHTR_ALLOW", value_delimiter = ',')]
    allow: Vec<String>,
    /// Root hints file replacing the built-in IANA root servers.
    #[arg(long, env = "DHTR_ROOT_HINTS")]
    root_hints: Option<PathBuf>,
    /// A loopback or test network: admission difficulty 12 and no prefix
    /// limits unless set explicitly. Refused on the public network `main`.
    #[arg(long, env = "DHTR_TEST_NETWORK")]
    test_network: bool,
    /// Network parameter: leading zero bits of an identity's proof of work. [default: 28]
    #[arg(long, env = "DHTR_DIFFICULTY")]
    difficulty: Option<u8>,
    /// Network parameter: most committee members from one /24 or /48. [default: 1]
    #[arg(long, env = "DHTR_PER_PREFIX_COMMITTEE")]
    per_prefix_committee: Option<u8>,
    /// Network parameter: most fingers from one /24 or /48. [default: 2]
    #[arg(long, env = "DHTR_PER_PREFIX_ROUTING")]
    per_prefix_routing: Option<u8>,
    /// A permissioned network: its network file (from `dhtr network create`),
    /// which gives the name, parameters and admission keys.
    #[arg(long, env = "DHTR_NETWORK_FILE")]
    network_file: Option<PathBuf>,
    /// This node's membership certificate (from `dhtr admit`), with
    /// --network-file. [default: DATA_DIR/membership.cert]
    #[arg(long, env = "DHTR_CERTIFICATE")]
    certificate: Option<PathBuf>,
    /// TEST ONLY: enable POST /test/submit and the deterministic test
    /// validator. Never use on a real network.
    #[arg(long, env = "DHTR_TEST_HOOKS", hide = true)]
    test_hooks: bool,
    /// TEST ONLY: answer other nodes' network reads with falsified records
    /// (a lying committee member). Never use on a real network.
    #[arg(long, env = "DHTR_TEST_LIAR", hide = true)]
    test_liar: bool,
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Cmd::Run(args) => run(*args),
        Cmd::Keygen(args) => keygen(args),
        Cmd::Id(args) => id(*args),
        Cmd::Status { http, json } => dhtr_monitoring::get_status(&http)
            .map_err(Into::into)
            .and_then(|s| print_report(&s, json, |s| s.render_text())),
        Cmd::Lookup { http, json, name } => dhtr_monitoring::get_lookup(&http, &name)
            .map_err(Into::into)
            .and_then(|r| print_report(&r, json, |r| r.render_text())),
        Cmd::History { http, json, name, rtype } => history(&http, json, &name, rtype.as_deref()),
        Cmd::Network { cmd: permit::cli::NetworkCmd::Create(a) } => permit::cli::create(a),
        Cmd::Admit(a) => permit::cli::admit(a),
        Cmd::Revoke(a) => permit::cli::revoke(a),
        Cmd::Cert { cmd: permit::cli::CertCmd::Show { cert, network } } => permit::cli::show(cert, network),
    };
    if let Err(e) = result {
        eprintln!("dhtr: {e:#}");
        std::process::exit(1);
    }
}

fn history(http: &str, json: bool, name: &str, rtype: Option<&str>) -> Result<()> {
    let rtype = match rtype {
        None => 0,
        Some(t) => match t.parse::<u16>() {
            Ok(n) => n,
            Err(_) => u16::from(
                t.to_ascii_uppercase()
                    .parse::<hickory_proto::rr::RecordType>()
                    .map_err(|_| anyhow!("{t:?} is not a record type (try A, AAAA, MX, TXT or a number)"))?,
            ),
        },
    };
    let report = dhtr_monitoring::get_history(http, name, rtype)?;
    print_report(&report, json, |r| r.render_text())
}

fn print_report<T: serde::Serialize>(r: &T, json: bool, text: impl Fn(&T) -> String) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(r)?);
    } else {
        print!("{}", text(r));
    }
    Ok(())
}

fn data_dir(args: &DirArgs) -> Result<PathBuf> {
    let o = Overrides { data_dir: args.data_dir.clone(), ..Overrides::default() };
    Ok(Settings::resolve(args.config.as_deref(), o)?.data_dir)
}

fn keygen(args: DirArgs) -> Result<()> {
    let dir = data_dir(&args)?;
    let (key, created) = identity::load_or_create(&dir)?;
    let what = if created { "created" } else { "already present, kept" };
    println!("identity key {what}: {}", dir.join(identity::KEY_FILE).display());
    println!("peer_id: {}", key.public().to_peer_id());
    Ok(())
}

fn id(args: RunArgs) -> Result<()> {
    let config = args.config.clone();
    let settings = Settings::resolve(config.as_deref(), overrides(args))?;
    dhtr_monitoring::init_tracing("warn", false)?;
    let (key, _) = identity::load_or_create(&settings.data_dir)?;
    let peer = key.public().to_peer_id();
    let me = whoami(&settings, &peer)?;
    println!("peer_id: {peer}");
    println!("network_id: {}", hex::encode(settings.admission.network.0));
    println!("prefix: {}", me.ticket.prefix);
    match &me.cert {
        Some(c) => println!("certificate_until: {}", permit::format_time(c.not_after)),
        None => println!("work_nonce: {}", me.ticket.nonce),
    }
    println!("ring_id: {}", me.id.to_hex());
    Ok(())
}

/// This node as the ring sees it: its identity, its work (computed now if
/// the data dir has none) or, in a permissioned network, its checked
/// membership certificate, and the address prefix its position is bound to.
fn whoami(settings: &Settings, peer: &libp2p::PeerId) -> Result<dhtr_protocol::NodeInfo> {
    let me = dhtr_protocol::PeerRef(peer.to_bytes());
    let prefix = work::own_prefix(&settings.external_addrs, &settings.listen)
        .ok_or_else(|| anyhow!("cannot tell this host's address prefix: set external_addrs"))?;
    if let Some(p) = &settings.permit {
        permit::check_data_dir(&settings.data_dir, &p.network, &p.network_file)?;
        let cert = permit::own_certificate(&p.certificate, &settings.admission, &me)?;
        if let Some(w) = permit::expiry_warning(cert.not_after, permit::unix_now()) {
            tracing::warn!(certificate = %p.certificate.display(), "{w}");
        }
        let ticket = dhtr_protocol::Ticket { nonce: 0, prefix };
        return Ok(dhtr_protocol::NodeInfo::certified(me, ticket, Some(Arc::new(cert)), Vec::new()));
    }
    permit::refuse_permissioned_data_dir(&settings.data_dir)?;
    let nonce = work::load_or_mint(&settings.data_dir, &me, &settings.admission)?;
    Ok(dhtr_protocol::NodeInfo::new(me, dhtr_protocol::Ticket { nonce, prefix }, Vec::new()))
}

fn run(args: RunArgs) -> Result<()> {
    let config = args.config.clone();
    let settings = Settings::resolve(config.as_deref(), overrides(args))?;
    dhtr_monitoring::init_tracing(&settings.log, settings.log_json)?;
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("cannot start the runtime")?;
    rt.block_on(serve(settings))
}

fn overrides(args: RunArgs) -> Overrides {
    Overrides {
        network: args.network,
        data_dir: args.data_dir,
        listen: args.listen,
        external_addrs: args.external_addr,
        bootstrap: args.bootstrap,
        http_listen: args.http_listen,
        log: args.log,
        log_json: args.log_json,
        test_hooks: args.test_hooks,
        test_liar: args.test_liar,
        dns_listen: args.dns_listen,
        allow: args.allow,
        root_hints: args.root_hints,
        test_network: args.test_network,
        difficulty: args.difficulty,
        per_prefix_committee: args.per_prefix_committee,
        per_prefix_routing: args.per_prefix_routing,
        network_file: args.network_file,
        certificate: args.certificate,
    }
}

async fn serve(settings: Settings) -> Result<()> {
    let mut signals = Signals::register();
    let (key, created) = identity::load_or_create(&settings.data_dir)?;
    let peer_id = key.public().to_peer_id();
    let me = whoami(&settings, &peer_id)?;
    info!(
        %peer_id,
        ring_id = %me.id.to_hex(),
        prefix = %me.ticket.prefix,
        network = %settings.network,
        admission = settings.admission.mode(),
        data_dir = %settings.data_dir.display(),
        "{} identity",
        if created { "created a new" } else { "loaded the" }
    );
    let store = PeerStore::open_in_dir(&settings.data_dir)?;
    let ledger = ledger::open(&settings.data_dir, settings.network.as_str())?;

    let mut registry = Registry::default();
    let metrics = Metrics::register(&mut registry);
    metrics.admission_difficulty.set(i64::from(settings.admission.difficulty));
    let p2p_metrics = libp2p::metrics::Metrics::new(&mut registry);
    let signer = Arc::new(ledger::NodeSigner::new(key.clone()));
    let mut swarm = behaviour::build_swarm(key, &settings, &mut registry)?;
    for addr in &settings.listen {
        transport::ensure_free(addr).map_err(|e| anyhow!("cannot listen on {addr}: {e}"))?;
        swarm.listen_on(addr.clone()).map_err(|e| anyhow!("cannot listen on {addr}: {e}"))?;
    }
    for addr in &settings.external_addrs {
        swarm.add_external_address(addr.clone());
    }
    let http = dhtr_monitoring::bind(settings.http_listen).await?;
    info!("HTTP endpoint on http://{}/ (metrics, healthz, status, lookup, chain)", settings.http_listen);

    let (tx, rx) = mpsc::channel(256);
    let handle = NodeHandle::new(tx, settings.params);
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let iterative = dhtr_resolver::iterative::Iterative::new(dhtr_resolver::iterative::IterConfig::with_roots(
        settings.dns.roots.clone(),
    ));
    let mut dns_rx = shutdown_rx.clone();
    let dns_task = dns::start(&settings, handle.clone(), iterative.clone(), metrics.dns.clone(), async move {
        let _ = dns_rx.changed().await;
    })
    .await?;
    let core = node_core(&settings, me, signer, ledger.store, ledger.verified, ledger.corrupt);
    let node = driver::Driver::new(swarm, core, settings, rx, metrics, p2p_metrics, store, iterative, ledger.report);
    let mut node_task = tokio::spawn(node.run(shutdown_rx.clone()));
    let mut http_rx = shutdown_rx;
    let http_task = tokio::spawn(dhtr_monitoring::serve(http, Arc::new(registry), handle, async move {
        let _ = http_rx.changed().await;
    }));

    tokio::select! {
        sig = signals.shutdown() => info!("{sig}: shutting down"),
        res = &mut node_task => return res.context("the node task panicked")?,
    }
    let _ = shutdown_tx.send(true);
    node_task.await.context("the node task panicked")??;
    let _ = http_task.await;
    let _ = dns_task.await;
    info!("stopped");
    Ok(())
}

/// The node core over the opened ledger, configured from `settings`.
fn node_core(
    settings: &Settings,
    me: dhtr_protocol::NodeInfo,
    signer: Arc<ledger::NodeSigner>,
    mut store: dhtr_ledger::rocks::RocksStore,
    held: Vec<dhtr_protocol::ChunkId>,
    corrupt: Vec<dhtr_protocol::ChunkId>,
) -> dhtr_node_core::NodeCore<dhtr_ledger::rocks::RocksStore> {
    store.set_durable(settings.ledger_fsync);
    let mut cfg = dhtr_node_core::CoreConfig::new(settings.network.as_str(), settings.params);
    cfg.chord = settings.chord.clone();
    cfg.chunks = settings.ledger.clone();
    cfg.validation = if settings.test_hooks {
        dhtr_node_core::validate::Mode::TestRecord
    } else {
        dhtr_node_core::validate::Mode::Resolve { ttl_floor: settings.dns.ttl_floor }
    };
    cfg.refresh_interval = settings.dns.refresh_interval;
    cfg.unused_after = settings.dns.unused_after;
    cfg.test_liar = settings.test_liar;
    cfg.test_hooks = settings.test_hooks;
    dhtr_node_core::NodeCore::new(cfg, me, signer, store, held, corrupt, std::time::Instant::now())
}

/// The signals the node acts on, registered before anything else starts so
/// that an early SIGHUP cannot kill the node.
struct Signals {
    term: Option<tokio::signal::unix::Signal>,
    hup: Option<tokio::signal::unix::Signal>,
}

impl Signals {
    fn register() -> Signals {
        use tokio::signal::unix::{SignalKind, signal};
        Signals { term: signal(SignalKind::terminate()).ok(), hup: signal(SignalKind::hangup()).ok() }
    }

    /// Wait for SIGTERM or SIGINT. A SIGHUP is logged and ignored: there is
    /// no configuration reload yet, and it must not end the node without a
    /// graceful leave.
    async fn shutdown(&mut self) -> &'static str {
        async fn next(s: &mut Option<tokio::signal::unix::Signal>) {
            match s {
                Some(s) => {
                    if s.recv().await.is_none() {
                        std::future::pending::<()>().await;
                    }
                }
                None => std::future::pending().await,
            }
        }
        loop {
            tokio::select! {
                _ = next(&mut self.term) => return "SIGTERM",
                _ = tokio::signal::ctrl_c() => return "SIGINT",
                _ = next(&mut self.hup) => {
                    tracing::warn!("SIGHUP: configuration reload is not supported yet; ignored (SIGTERM stops the node)");
                }
            }
        }
    }
}
