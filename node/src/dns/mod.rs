//! The node's DNS side (seed 001 §4.2, DESIGN "The two paths"): the front
//! end answers from its cache; a miss is read from the chunk's committee
//! (strict majority); if the network has nothing agreed, the node resolves
//! from the root servers itself, answers, and asks the committees to insert
//! the RRsets it found, which every member checks by its own resolution.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use dhtr_ledger::RRset;
use dhtr_monitoring::dns_metrics::DnsMetrics;
use dhtr_resolver::frontend::{Handler, Observer, Transport};
use dhtr_resolver::iterative::Iterative;
use dhtr_resolver::{Question, Resolution, ResolveError, Source};
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{RData, Record};
use tracing::debug;

use crate::handle::NodeHandle;
use dhtr_node_core::majority::Verdict;

pub mod convert;

/// What the network has for a question.
enum Network {
    /// An agreed, unexpired answer.
    Fresh(Resolution),
    /// An agreed answer some part of which expired less than [`MAX_STALE`] ago.
    Expired(Resolution),
    /// No agreed answer.
    Nothing,
}

/// Time allowed for the network read before resolving from the roots.
const NETWORK_BUDGET: Duration = Duration::from_secs(2);
/// Time allowed for the resolution from the roots (the front end gives the
/// whole question 10 s).
const RESOLVE_BUDGET: Duration = Duration::from_secs(7);
/// How long after expiry a committed record may still be served stale
/// (RFC 8767 §5 suggests 1 to 3 days).
const MAX_STALE: Duration = Duration::from_secs(86_400);
/// DNS type number of CNAME.
const CNAME: u16 = 5;
/// TTL of an expired committed record served because its authorities are
/// unreachable (RFC 8767 §4 recommends 30 s).
const STALE_TTL: u32 = 30;
/// Most CNAMEs followed through the network before falling back.
const MAX_NETWORK_CNAMES: usize = 8;
/// Most RRsets one node proposes for insertion per second.
const MAX_INSERTIONS_PER_SECOND: u32 = 100;
/// How long an RRset this node submitted is not submitted again.
const RESUBMIT_AFTER: Duration = Duration::from_secs(600);
/// Most remembered submissions.
const MAX_REMEMBERED: usize = 65_536;

/// What the authorities say now about one (name, type), resolved afresh
/// (the iterative resolver never answers from an answer cache).
pub enum Current {
    /// The RRset, canonical, stamped with the given fetch time.
    Records(RRset),
    /// An answer without that RRset (e.g. a CNAME chain to elsewhere).
    NotInAnswer,
    /// NXDOMAIN or NODATA.
    Negative,
    /// Not resolvable now (bad name, unreachable or failing servers).
    Failed,
}

/// Resolve (canonical name, type) from the authorities.
pub async fn current(iterative: &Iterative, name: &str, rtype: u16, fetched_at: u64) -> Current {
    let Ok(n) = hickory_proto::rr::Name::from_ascii(name) else { return Current::Failed };
    let q = Question::new(n, hickory_proto::rr::RecordType::from(rtype));
    match iterative.resolve(&q).await {
        Ok(Resolution::Answer { records }) => convert::rrsets_of(&records, fetched_at)
            .into_iter()
            .find(|m| m.name == name && m.rtype == rtype)
            .map_or(Current::NotInAnswer, Current::Records),
        Ok(Resolution::NxDomain { .. } | Resolution::NoData { .. }) => Current::Negative,
        Err(_) => Current::Failed,
    }
}

/// Unix seconds now.
pub fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// The resolution pipeline behind the front end's cache.
#[derive(Clone)]
pub struct Pipeline {
    node: NodeHandle,
    iterative: Iterative,
    metrics: DnsMetrics,
    ttl_floor: u32,
    /// Insertions proposed in the current second (a per-node limit: clients
    /// cannot make the committees commit without bound).
    rate: Arc<Mutex<(Instant, u32)>>,
    /// RRsets submitted recently (their records, not when they were
    /// fetched) → when, so a popular name is not proposed again on every
    /// cache miss, while a changed one is proposed at once.
    submitted: Arc<Mutex<HashMap<dhtr_ledger::Digest, Instant>>>,
}

impl Pipeline {
    /// A pipeline reading through `node` and resolving with `iterative`.
    pub fn new(node: NodeHandle, iterative: Iterative, metrics: DnsMetrics, ttl_floor: u32) -> Pipeline {
        Pipeline {
            node,
            iterative,
            metrics,
            ttl_floor,
            rate: Arc::new(Mutex::new((Instant::now(), 0))),
            submitted: Arc::default(),
        }
    }

    /// A strict-majority read of the question from the network, following
    /// CNAMEs through the network: the answer if every step is agreed and
    /// unexpired ([`Network::Fresh`]), or if some step expired less than
    /// [`MAX_STALE`] ago ([`Network::Expired`], served only when the
    /// authorities cannot be reached; RFC 8767).
    async fn read_network(&self, q: &Question) -> Network {
        let now = unix_now();
        let mut chain: Vec<Record> = Vec::new();
        let mut expired = false;
        let mut name = q.name.to_lowercase().to_ascii();
        let qtype = u16::from(q.qtype);
        for _ in 0..=MAX_NETWORK_CNAMES {
            let read = match self.node.network_read(name.clone(), qtype).await {
                Ok(Ok(r)) => r,
                _ => {
                    self.metrics.network_read("failed", 0);
                    return Network::Nothing;
                }
            };
            let agreed = match read.verdict {
                Verdict::Agreed(a) => a,
                Verdict::NoMajority { answered, .. } => {
                    self.metrics.network_read("no_majority", answered);
                    return Network::Nothing;
                }
            };
            // Only records of the question count (a committee answers for
            // the name and type it was asked about, nothing else).
            let rrset = agreed.rrset.as_ref().filter(|r| r.name == name && r.rtype == qtype && r.class == 1);
            let cname = agreed.cname.as_ref().filter(|c| c.name == name && c.rtype == CNAME && c.class == 1);
            let usable = |rr: &RRset| convert::expired_for(rr, now) <= MAX_STALE.as_secs();
            let ttl = |rr: &RRset| match convert::remaining_ttl(rr, now) {
                0 => STALE_TTL,
                t => t,
            };
            match (rrset, cname) {
                (Some(rr), _) if usable(rr) => {
                    self.metrics.network_read("hit", agreed.dissent);
                    expired |= convert::remaining_ttl(rr, now) == 0;
                    let Ok(records) = convert::records_of(rr, ttl(rr)) else { return Network::Nothing };
                    chain.extend(records);
                    let res = Resolution::Answer { records: chain };
                    return if expired { Network::Expired(res) } else { Network::Fresh(res) };
                }
                (None, Some(c)) if usable(c) && qtype != CNAME => {
                    self.metrics.network_read("hit", agreed.dissent);
                    expired |= convert::remaining_ttl(c, now) == 0;
                    let Ok(records) = convert::records_of(c, ttl(c)) else { return Network::Nothing };
                    let target = records.iter().find_map(|r| match &r.data {
                        RData::CNAME(t) => Some(t.0.to_lowercase().to_ascii()),
                        _ => None,
                    });
                    let Some(target) = target else { return Network::Nothing };
                    chain.extend(records);
                    name = target;
                }
                _ => {
                    self.metrics.network_read("absent", agreed.dissent);
                    return Network::Nothing;
                }
            }
        }
        Network::Nothing
    }

    /// Ask the committees to insert the RRsets of a fallback answer.
    fn insert(&self, res: &Resolution) {
        let Resolution::Answer { records } = res else { return };
        let now = Instant::now();
        for rr in convert::rrsets_of(records, unix_now()) {
            if rr.ttl < self.ttl_floor {
                self.metrics.insertion("skipped_ttl_floor");
                continue;
            }
            let key = dhtr_ledger::Digest::of(
                "dhtr/submitted",
                &dhtr_ledger::types::cbor(&(&rr.name, rr.rtype, rr.ttl, &rr.rdata)),
            );
            {
                let Ok(mut recent) = self.submitted.lock() else { return };
                if recent.get(&key).is_some_and(|t| now.duration_since(*t) < RESUBMIT_AFTER) {
                    self.metrics.insertion("skipped_recent");
                    continue;
                }
                if recent.len() >= MAX_REMEMBERED {
                    recent.retain(|_, t| now.duration_since(*t) < RESUBMIT_AFTER);
                    if recent.len() >= MAX_REMEMBERED {
                        recent.clear();
                    }
                }
                recent.insert(key, now);
            }
            {
                let Ok(mut rate) = self.rate.lock() else { return };
                if now.duration_since(rate.0) >= Duration::from_secs(1) {
                    *rate = (now, 0);
                }
                if rate.1 >= MAX_INSERTIONS_PER_SECOND {
                    self.metrics.insertion("skipped_rate");
                    continue;
                }
                rate.1 += 1;
            }
            self.metrics.insertion("proposed");
            let node = self.node.clone();
            tokio::spawn(async move {
                if let Err(e) = node.insert(rr).await {
                    debug!("insertion not submitted: {e}");
                }
            });
        }
    }
}

impl Handler for Pipeline {
    async fn resolve(&self, q: Question) -> Result<(Resolution, Source), ResolveError> {
        let q = q.key();
        let network = tokio::time::timeout(NETWORK_BUDGET, self.read_network(&q)).await.unwrap_or(Network::Nothing);
        let stale = match network {
            Network::Fresh(res) => return Ok((res, Source::Network)),
            Network::Expired(res) => Some(res),
            Network::Nothing => None,
        };
        let resolved = tokio::time::timeout(RESOLVE_BUDGET, self.iterative.resolve(&q))
            .await
            .unwrap_or_else(|_| Err(ResolveError::Timeout { zone: q.name.to_ascii() }));
        match resolved {
            Ok(res) => {
                self.insert(&res);
                Ok((res, Source::Fallback))
            }
            // The authorities are unreachable: the last committed version,
            // recently expired, beats no answer (RFC 8767 §4).
            Err(e @ (ResolveError::Timeout { .. } | ResolveError::AllServersFailed { .. })) => match stale {
                Some(res) => Ok((res, Source::Stale)),
                None => Err(e),
            },
            Err(e) => Err(e),
        }
    }
}

/// Turns front-end events into `dhtr_dns_*` metrics.
pub struct Metrics(pub DnsMetrics);

impl Observer for Metrics {
    fn answered(&self, source: Option<Source>, rcode: ResponseCode, _transport: Transport, elapsed: Duration) {
        let source = source.map_or("none", Source::as_str);
        self.0.answered(source, rcode_label(rcode), elapsed);
    }

    fn dropped(&self, reason: &'static str) {
        self.0.dropped(reason);
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
    let pipeline = Pipeline::new(node, iterative, metrics.clone(), d.ttl_floor);
    let observer = Arc::new(Metrics(metrics));
    Ok(tokio::spawn(async move {
        if let Err(e) = frontend.serve(pipeline, observer, shutdown).await {
            tracing::error!("the DNS front end stopped: {e}");
        }
    }))
}
