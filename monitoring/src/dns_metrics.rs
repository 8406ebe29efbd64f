//! Prometheus metrics of the DNS side. Registered by
//! [`crate::Metrics::register`]; exposed names:
//!
//! | exposed name | type | labels |
//! | --- | --- | --- |
//! | `dhtr_dns_queries_total` | counter | `source` = cache, network, fallback, stale, none; `rcode` |
//! | `dhtr_dns_query_duration_seconds` | histogram (50 µs × 2ⁿ) | `source` |
//! | `dhtr_dns_dropped_total` | counter | `reason` |
//! | `dhtr_dns_network_reads_total` | counter | `outcome` = hit, absent, no_majority, failed |
//! | `dhtr_dns_network_dissent_total` | counter | |
//! | `dhtr_dns_insertions_total` | counter | `outcome` = proposed, skipped_ttl_floor, skipped_recent, skipped_rate |
//! | `dhtr_dns_validations_total` | counter | `verdict` = agreed, differs, ttl_floor, unresolvable, unsupported |
//! | `dhtr_dns_refreshes_total` | counter | `outcome` = put, delete, failed |
//!
//! Label values come from fixed sets, never from clients or peers.

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

use crate::ledger_metrics::{OutcomeLabels, ReasonLabels, VerdictLabels};

/// Label set `{source,rcode}`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct QueryLabels {
    /// Where the answer came from.
    pub source: String,
    /// The response code (`NOERROR`, `NXDOMAIN`, ...).
    pub rcode: String,
}

/// Label set `{source}`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SourceLabels {
    /// Where the answer came from.
    pub source: String,
}

fn source_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.00005, 2.0, 18))
}

/// Handles to the DNS metrics. Cloning is cheap.
#[derive(Clone, Debug)]
pub struct DnsMetrics {
    /// Queries answered, by source and RCODE.
    pub queries: Family<QueryLabels, Counter>,
    /// Time from query to response, by source.
    pub duration: Family<SourceLabels, Histogram, fn() -> Histogram>,
    /// Queries that got no response, by reason.
    pub dropped: Family<ReasonLabels, Counter>,
    /// Network reads by outcome.
    pub network_reads: Family<OutcomeLabels, Counter>,
    /// Members whose answer differed from the majority.
    pub network_dissent: Counter,
    /// RRsets this node asked committees to insert, or chose not to.
    pub insertions: Family<OutcomeLabels, Counter>,
    /// This node's validator verdicts on proposed records.
    pub validations: Family<VerdictLabels, Counter>,
    /// Refreshes of expired committed records this node proposed.
    pub refreshes: Family<OutcomeLabels, Counter>,
}

impl DnsMetrics {
    /// Create the handles and register them.
    pub fn register(registry: &mut Registry) -> DnsMetrics {
        let m = DnsMetrics {
            queries: Family::default(),
            duration: Family::new_with_constructor(source_histogram),
            dropped: Family::default(),
            network_reads: Family::default(),
            network_dissent: Counter::default(),
            insertions: Family::default(),
            validations: Family::default(),
            refreshes: Family::default(),
        };
        for outcome in ["hit", "absent", "no_majority", "failed"] {
            m.network_reads.get_or_create_owned(&OutcomeLabels { outcome: outcome.into() });
        }
        let r = registry;
        r.register("dhtr_dns_queries", "DNS queries answered, by source and RCODE", m.queries.clone());
        r.register_with_unit(
            "dhtr_dns_query_duration",
            "Time from a DNS query to its response, by source",
            Unit::Seconds,
            m.duration.clone(),
        );
        r.register("dhtr_dns_dropped", "DNS queries that got no response, by reason", m.dropped.clone());
        r.register("dhtr_dns_network_reads", "Reads from chunk committees, by outcome", m.network_reads.clone());
        r.register(
            "dhtr_dns_network_dissent",
            "Committee members whose answer differed from the majority",
            m.network_dissent.clone(),
        );
        r.register(
            "dhtr_dns_insertions",
            "RRsets submitted to committees after fallback resolution",
            m.insertions.clone(),
        );
        r.register("dhtr_dns_validations", "This node's validator verdicts on proposed records", m.validations.clone());
        r.register(
            "dhtr_dns_refreshes",
            "Refreshes of expired committed records this node proposed, by outcome",
            m.refreshes.clone(),
        );
        m
    }

    /// Count an answered query.
    pub fn answered(&self, source: &str, rcode: &str, elapsed: Duration) {
        self.queries.get_or_create(&QueryLabels { source: source.to_owned(), rcode: rcode.to_owned() }).inc();
        self.duration.get_or_create(&SourceLabels { source: source.to_owned() }).observe(elapsed.as_secs_f64());
    }

    /// Count a dropped query.
    pub fn dropped(&self, reason: &str) {
        self.dropped.get_or_create(&ReasonLabels { reason: reason.to_owned() }).inc();
    }

    /// Count a network read.
    pub fn network_read(&self, outcome: &str, dissent: usize) {
        self.network_reads.get_or_create(&OutcomeLabels { outcome: outcome.to_owned() }).inc();
        self.network_dissent.inc_by(dissent as u64);
    }

    /// Count an insertion decision.
    pub fn insertion(&self, outcome: &str) {
        self.insertions.get_or_create(&OutcomeLabels { outcome: outcome.to_owned() }).inc();
    }

    /// Count a refresh.
    pub fn refresh(&self, outcome: &str) {
        self.refreshes.get_or_create(&OutcomeLabels { outcome: outcome.to_owned() }).inc();
    }

    /// Count a validator verdict.
    pub fn validation(&self, verdict: &str) {
        self.validations.get_or_create(&VerdictLabels { verdict: verdict.to_owned() }).inc();
    }
}
