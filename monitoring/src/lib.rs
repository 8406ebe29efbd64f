//! Monitoring for a dhtr node: what operators and the CLI see of it.
//!
//! - [`metrics`]: every Prometheus metric the node exports
//!   ([`Metrics::register`]), with small helpers so callers stay short.
//! - [`http`]: the HTTP endpoint (axum) serving `/metrics` (OpenMetrics text),
//!   `/healthz`, `/status` and `/lookup?name=NAME`. The node plugs in through
//!   the [`NodeApi`] trait, so this crate does not depend on libp2p.
//! - [`report`]: the JSON reports exchanged by the endpoint and the CLI, with
//!   human-readable renderings.
//! - [`client`]: the blocking client the CLI uses to query a running node.
//! - [`logging`]: tracing setup (`RUST_LOG` overrides the default; text or
//!   JSON on stderr).

pub mod client;
pub mod dns_metrics;
pub mod error;
pub mod http;
pub mod ledger_metrics;
pub mod logging;
pub mod metrics;
pub mod report;

pub use client::{ClientError, get_chain, get_history, get_lookup, get_records, get_status, post_test_submit};
pub use error::MonitoringError;
pub use http::{ApiError, NodeApi, bind, serve, validate_name};
pub use logging::init_tracing;
pub use metrics::{Direction, JoinOutcome, LookupOutcome, Metrics, NeighbourKind};
pub use prometheus_client::registry::Registry;
pub use report::{
    AdmissionReport, BlockReport, CertificateReport, ChainReport, ChunkReport, ErrorReport, HistoryReport,
    LedgerReport, LookupReport, MembershipReport, PeerReport, RecordsReport, SignatureReport, StatusReport,
    SubmitReport, TxReport, VersionReport,
};
