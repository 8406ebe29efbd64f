//! The node's DNS side (seed 001 §4.2, DESIGN "The two paths"). The policy
//! — network read, fallback to the roots, insertion, serve-stale — is
//! `dhtr_resolver::pipeline`; here the node is its [`Network`] (strict-
//! majority reads of the chunk's committee, insertions submitted to it), its
//! metrics are the pipeline's and front end's observer, and [`start`] serves.

use std::sync::Arc;
use std::time::Duration;

use dhtr_ledger::RRset;
use dhtr_monitoring::dns_metrics::DnsMetrics;
use dhtr_resolver::Source;
use dhtr_resolver::frontend::{DropReason, Observer, Transport};
use dhtr_resolver::iterative::Iterative;
use dhtr_resolver::pipeline::{Insertion, Network, NetworkRead, Pipeline, ReadOutcome};
use hickory_proto::op::ResponseCode;
use tracing::debug;

use crate::handle::NodeHandle;
use dhtr_node_core::majority::Verdict;

/// Unix seconds now (the pipeline's clock, shared with the Swarm driver).
pub use dhtr_resolver::pipeline::unix_now;

impl Network for NodeHandle {
    async fn read(&self, name: String, rtype: u16) -> NetworkRead {
        match self.network_read(name, rtype).await {
            Ok(Ok(read)) => match read.verdict {
                Verdict::Agreed(a) => NetworkRead::Agreed { rrset: a.rrset, cname: a.cname, dissent: a.dissent },
                Verdict::NoMajority { answered, .. } => NetworkRead::NoMajority { answered },
            },
            // The committee could not be found, the name is not a key, or
            // the node is going away.
            Ok(Err(_)) | Err(_) => NetworkRead::Failed,
        }
    }

    fn submit(&self, rrset: RRset) {
        let node = self.clone();
        tokio::spawn(async move {
            if let Err(e) = node.insert(rrset).await {
                debug!("insertion not submitted: {e}");
            }
        });
    }
}

/// Turns front-end and pipeline events into `dhtr_dns_*` metrics.
pub struct Metrics(pub DnsMetrics);

impl Observer for Metrics {
    fn answered(&self, source: Option<Source>, rcode: ResponseCode, _transport: Transport, elapsed: Duration) {
        let source = source.map_or("none", Source::as_str);
        self.0.answered(source, rcode_label(rcode), elapsed);
    }

    fn dropped(&self, reason: DropReason) {
        self.0.dropped(reason.as_str());
    }
}

impl dhtr_resolver::pipeline::Observer for Metrics {
    fn network_read(&self, outcome: ReadOutcome) {
        match outcome {
            ReadOutcome::Hit { dissent } => self.0.network_read("hit", dissent),
            ReadOutcome::Absent { dissent } => self.0.network_read("absent", dissent),
            ReadOutcome::NoMajority { answered } => self.0.network_read("no_majority", answered),
            ReadOutcome::Failed => self.0.network_read("failed", 0),
        }
    }

    fn insertion(&self, outcome: Insertion) {
        self.0.insertion(match outcome {
            Insertion::Proposed => "proposed",
            Insertion::SkippedTtlFloor => "skipped_ttl_floor",
            Insertion::SkippedRecent => "skipped_recent",
            Insertion::SkippedRate => "skipped_rate",
        });
    }
}

fn rcode_label(r: ResponseCode) -> &'static str {
    match r {
        ResponseCode::NoError => "NOERROR",
        ResponseCode::FormErr => "FORMERR",
        ResponseCode::ServFail => "SERVFAIL",
        ResponseCode::NXDomain => "NXDOMAIN",
        ResponseCode::NotImp => "NOTIMP",
        ResponseCode::Refused => "REFUSED",
        _ => "OTHER",
    }
}

/// Start serving DNS: bind the front end (errors name the address) and run
/// it until `shutdown` completes.
pub async fn start(
    settings: &crate::config::Settings,
    node: NodeHandle,
    iterative: Iterative,
    metrics: DnsMetrics,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let d = &settings.dns;
    let mut cfg = dhtr_resolver::frontend::FrontendConfig {
        listen: d.listen.clone(),
        allow: d.allow.clone(),
        serve_stale: d.serve_stale,
        ..Default::default()
    };
    cfg.cache.max_entries = d.cache_entries;
    cfg.rate.per_second = d.rate_per_second;
    cfg.rate.burst = d.rate_per_second.saturating_mul(2);
    let frontend = dhtr_resolver::frontend::Frontend::bind(cfg).await?;
    for a in frontend.local_addrs() {
        tracing::info!("serving DNS on {a} (UDP and TCP)");
    }
    let observer = Arc::new(Metrics(metrics));
    let pipeline = Pipeline::new(node, iterative, Arc::clone(&observer), d.ttl_floor);
    Ok(tokio::spawn(async move {
        if let Err(e) = frontend.serve(pipeline, observer, shutdown).await {
            tracing::error!("the DNS front end stopped: {e}");
        }
    }))
}
