//! Prometheus metric definitions for a dhtr node.
//!
//! [`Metrics::register`] registers every metric with a
//! [`prometheus_client::registry::Registry`] and returns cheap, cloneable
//! handles. Names are given to the registry *without* the suffixes that
//! prometheus-client adds itself (`_total` for counters, the unit for metrics
//! registered with a [`Unit`]), so the exposed names are exactly:
//!
//! | exposed name | type | labels |
//! | --- | --- | --- |
//! | `dhtr_connected_peers` | gauge | |
//! | `dhtr_lookups_total` | counter | `outcome` = ok, failed, timeout |
//! | `dhtr_lookup_hops` | histogram (le = 0..16, +Inf) | |
//! | `dhtr_lookup_messages` | histogram (le = 0, 2, …, 64, +Inf) | |
//! | `dhtr_lookup_duration_seconds` | histogram (0.5 ms × 2ⁿ) | |
//! | `dhtr_stabilization_rounds_total` | counter | |
//! | `dhtr_peer_decode_errors_total` | counter | `protocol` |
//! | `dhtr_peer_streams_dropped_total` | counter | `protocol`, `reason` |
//! | `dhtr_peers_penalised_total` | counter | |
//! | `dhtr_ring_neighbours` | gauge | `kind` = predecessor, successors, fingers |
//! | `dhtr_chord_requests_total` | counter | `direction` = in, out; `kind` |
//! | `dhtr_chord_request_failures_total` | counter | `kind` |
//! | `dhtr_lookup_answers_refused_total` | counter | `reason` = out_of_order, not_preceding, disowned, unconfirmed, unadmitted, contradicted, sparse |
//! | `dhtr_neighbours_refused_total` | counter | |
//! | `dhtr_admissions_refused_total` | counter | `reason` = work, prefix, not_admitted, certificate, expired, revoked |
//! | `dhtr_admission_difficulty` | gauge | |
//! | `dhtr_certificate_expiry_timestamp_seconds` | gauge | (permissioned: end of this node's certificate) |
//! | `dhtr_revocations_known` | gauge | (permissioned) |
//! | `dhtr_join_attempts_total` | counter | `outcome` = ok, failed |
//! | `dhtr_build_info` | gauge (always 1) | `version` |
//! | `dhtr_uptime_seconds` | gauge (computed at scrape) | |
//!
//! The ledger's `dhtr_ledger_*` metrics are listed in [`crate::ledger_metrics`],
//! the DNS side's `dhtr_dns_*` metrics in [`crate::dns_metrics`].
//!
//! String labels (`protocol`, `reason`, `kind`) must come from a small fixed
//! set chosen by the caller (protocol names, Chord message kinds): never put
//! peer-controlled data in a label, or the number of series is unbounded.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, EncodeMetric, LabelValueEncoder, MetricEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets, linear_buckets};
use prometheus_client::metrics::{MetricType, TypedMetric};
use prometheus_client::registry::{Registry, Unit};

/// The version reported by `dhtr_build_info` (the workspace version).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Largest hop count with its own `dhtr_lookup_hops` bucket; more goes to `+Inf`.
pub const MAX_HOP_BUCKET: u16 = 16;

/// Implements [`EncodeLabelValue`] for a label enum via its `as_str`.
macro_rules! label_value {
    ($ty:ty) => {
        impl EncodeLabelValue for $ty {
            fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
                encoder.write_str(self.as_str())
            }
        }
    };
}

/// Outcome of one lookup (`outcome` label of `dhtr_lookups_total`).
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub enum LookupOutcome {
    /// The lookup found the responsible nodes.
    Ok,
    /// The lookup ended with an error other than a timeout.
    Failed,
    /// The lookup did not finish in time.
    Timeout,
}

impl LookupOutcome {
    /// All values, in label order.
    pub const ALL: [Self; 3] = [Self::Ok, Self::Failed, Self::Timeout];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Failed => "failed",
            Self::Timeout => "timeout",
        }
    }
}
label_value!(LookupOutcome);

/// Outcome of one attempt to join the ring (`outcome` label of `dhtr_join_attempts_total`).
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub enum JoinOutcome {
    /// The node joined the ring.
    Ok,
    /// The attempt failed (no bootstrap reachable, lookup failed, ...).
    Failed,
}

impl JoinOutcome {
    /// All values, in label order.
    pub const ALL: [Self; 2] = [Self::Ok, Self::Failed];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Failed => "failed",
        }
    }
}
label_value!(JoinOutcome);

/// Direction of a Chord request (`direction` label of `dhtr_chord_requests_total`).
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub enum Direction {
    /// Received from a peer.
    In,
    /// Sent to a peer.
    Out,
}

impl Direction {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::In => "in",
            Self::Out => "out",
        }
    }
}
label_value!(Direction);

/// Which neighbour set a `dhtr_ring_neighbours` series counts.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub enum NeighbourKind {
    /// 1 if the node knows a predecessor, else 0.
    Predecessor,
    /// Length of the successor list.
    Successors,
    /// Number of distinct nodes in the finger table.
    Fingers,
}

impl NeighbourKind {
    /// All values, in label order.
    pub const ALL: [Self; 3] = [Self::Predecessor, Self::Successors, Self::Fingers];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Predecessor => "predecessor",
            Self::Successors => "successors",
            Self::Fingers => "fingers",
        }
    }
}
label_value!(NeighbourKind);

/// Label set `{outcome}` of `dhtr_lookups_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LookupLabels {
    /// How the lookup ended.
    pub outcome: LookupOutcome,
}

/// Label set `{outcome}` of `dhtr_join_attempts_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct JoinLabels {
    /// How the attempt ended.
    pub outcome: JoinOutcome,
}

/// Label set `{protocol}` of `dhtr_peer_decode_errors_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ProtocolLabels {
    /// Short protocol name, e.g. `chord`.
    pub protocol: String,
}

/// Label set `{protocol,reason}` of `dhtr_peer_streams_dropped_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DropLabels {
    /// Short protocol name, e.g. `chord`.
    pub protocol: String,
    /// Why the stream was dropped, e.g. `oversized`, `undecodable`, `timeout`.
    pub reason: String,
}

/// Label set `{kind}` of `dhtr_ring_neighbours`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct NeighbourLabels {
    /// Which neighbour set.
    pub kind: NeighbourKind,
}

/// Label set `{direction,kind}` of `dhtr_chord_requests_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ChordRequestLabels {
    /// Received or sent.
    pub direction: Direction,
    /// Request kind, e.g. `find_successor`, `neighbours`, `notify`, `ping`, `leaving`.
    pub kind: String,
}

/// Why a lookup answer was refused (`dhtr_lookup_answers_refused_total`).
pub const REFUSAL_REASONS: [&str; 7] =
    ["out_of_order", "not_preceding", "disowned", "unconfirmed", "unadmitted", "contradicted", "sparse"];

/// Why a peer was not admitted (`dhtr_admissions_refused_total`).
pub const ADMISSION_REASONS: [&str; 6] = ["work", "prefix", "not_admitted", "certificate", "expired", "revoked"];

/// Label set `{reason}` of `dhtr_lookup_answers_refused_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RefusalLabels {
    /// One of [`REFUSAL_REASONS`].
    pub reason: String,
}

/// Label set `{kind}` of `dhtr_chord_request_failures_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ChordKindLabels {
    /// Request kind, e.g. `find_successor`.
    pub kind: String,
}

/// Label set `{version}` of `dhtr_build_info`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BuildLabels {
    /// The crate version.
    pub version: String,
}

/// A gauge whose value is the time since it was created, computed at scrape
/// time (so nobody has to update it).
#[derive(Clone, Copy, Debug)]
pub struct Uptime {
    start: Instant,
}

impl Uptime {
    /// An uptime gauge counting from `start`.
    pub fn since(start: Instant) -> Self {
        Self { start }
    }

    /// Time elapsed since start.
    pub fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }
}

impl TypedMetric for Uptime {
    const TYPE: MetricType = MetricType::Gauge;
}

impl EncodeMetric for Uptime {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        encoder.encode_gauge(&self.elapsed().as_secs_f64())
    }

    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}

/// Handles to every dhtr metric. Cloning is cheap: clones share the series.
#[derive(Clone, Debug)]
pub struct Metrics {
    /// `dhtr_connected_peers`: peers with at least one open connection.
    pub connected_peers: Gauge,
    /// `dhtr_lookups_total{outcome}`.
    pub lookups: Family<LookupLabels, Counter>,
    /// `dhtr_lookup_hops`: hops taken by successful lookups.
    pub lookup_hops: Histogram,
    /// `dhtr_lookup_messages`: requests a successful lookup sent over all
    /// its paths, confirmations and cross-checks.
    pub lookup_messages: Histogram,
    /// `dhtr_neighbours_refused_total`: successors dropped because they did
    /// not hold this node as their predecessor.
    pub neighbours_refused: Counter,
    /// `dhtr_lookup_duration_seconds`: wall time of lookups (all outcomes).
    pub lookup_duration: Histogram,
    /// `dhtr_stabilization_rounds_total`.
    pub stabilization_rounds: Counter,
    /// `dhtr_peer_decode_errors_total{protocol}`.
    pub peer_decode_errors: Family<ProtocolLabels, Counter>,
    /// `dhtr_peer_streams_dropped_total{protocol,reason}`.
    pub peer_streams_dropped: Family<DropLabels, Counter>,
    /// `dhtr_peers_penalised_total`.
    pub peers_penalised: Counter,
    /// `dhtr_ring_neighbours{kind}`.
    pub ring_neighbours: Family<NeighbourLabels, Gauge>,
    /// `dhtr_chord_requests_total{direction,kind}`.
    pub chord_requests: Family<ChordRequestLabels, Counter>,
    /// `dhtr_chord_request_failures_total{kind}`.
    pub chord_request_failures: Family<ChordKindLabels, Counter>,
    /// `dhtr_join_attempts_total{outcome}`.
    pub join_attempts: Family<JoinLabels, Counter>,
    /// `dhtr_lookup_answers_refused_total{reason}`.
    pub answers_refused: Family<RefusalLabels, Counter>,
    /// `dhtr_admissions_refused_total{reason}`: peers whose own ticket
    /// broke the network's admission rules.
    pub admissions_refused: Family<RefusalLabels, Counter>,
    /// `dhtr_admission_difficulty`: the network's work difficulty in bits.
    pub admission_difficulty: Gauge,
    /// `dhtr_certificate_expiry_timestamp_seconds`: when this node's
    /// membership certificate ends (UNIX seconds; permissioned networks).
    pub certificate_expiry: Gauge,
    /// `dhtr_revocations_known`: revocations this node knows (permissioned).
    pub revocations_known: Gauge,
    /// `dhtr_uptime_seconds`, computed at scrape time.
    pub uptime: Uptime,
    /// The ledger's metrics (`dhtr_ledger_*`, see [`crate::ledger_metrics`]).
    pub ledger: crate::ledger_metrics::LedgerMetrics,
    /// The DNS side's metrics (`dhtr_dns_*`, see [`crate::dns_metrics`]).
    pub dns: crate::dns_metrics::DnsMetrics,
}

impl Metrics {
    /// Registers every dhtr metric with `registry` and returns the handles.
    ///
    /// Uptime counts from this call, and `dhtr_build_info{version}` is set to 1
    /// with [`VERSION`]. Series with enum labels are created at 0 so they are
    /// exposed before the first event. Call once per registry: registering
    /// twice would expose every metric twice.
    pub fn register(registry: &mut Registry) -> Metrics {
        let metrics = Metrics {
            connected_peers: Gauge::default(),
            lookups: Family::default(),
            lookup_hops: Histogram::new(linear_buckets(0.0, 1.0, MAX_HOP_BUCKET + 1)),
            lookup_messages: Histogram::new(linear_buckets(0.0, 2.0, 33)),
            neighbours_refused: Counter::default(),
            lookup_duration: Histogram::new(exponential_buckets(0.0005, 2.0, 16)),
            stabilization_rounds: Counter::default(),
            peer_decode_errors: Family::default(),
            peer_streams_dropped: Family::default(),
            peers_penalised: Counter::default(),
            ring_neighbours: Family::default(),
            chord_requests: Family::default(),
            chord_request_failures: Family::default(),
            join_attempts: Family::default(),
            answers_refused: Family::default(),
            admissions_refused: Family::default(),
            admission_difficulty: Gauge::default(),
            certificate_expiry: Gauge::default(),
            revocations_known: Gauge::default(),
            uptime: Uptime::since(Instant::now()),
            ledger: crate::ledger_metrics::LedgerMetrics::register(registry),
            dns: crate::dns_metrics::DnsMetrics::register(registry),
        };
        for outcome in LookupOutcome::ALL {
            metrics.lookups.get_or_create_owned(&LookupLabels { outcome });
        }
        for outcome in JoinOutcome::ALL {
            metrics.join_attempts.get_or_create_owned(&JoinLabels { outcome });
        }
        for reason in REFUSAL_REASONS {
            metrics.answers_refused.get_or_create_owned(&RefusalLabels { reason: reason.to_owned() });
        }
        for reason in ADMISSION_REASONS {
            metrics.admissions_refused.get_or_create_owned(&RefusalLabels { reason: reason.to_owned() });
        }
        for kind in NeighbourKind::ALL {
            metrics.ring_neighbours.get_or_create_owned(&NeighbourLabels { kind });
        }
        let build_info = Family::<BuildLabels, Gauge>::default();
        build_info.get_or_create(&BuildLabels { version: VERSION.to_owned() }).set(1);

        let m = &metrics;
        registry.register("dhtr_connected_peers", "Peers with at least one open connection", m.connected_peers.clone());
        registry.register("dhtr_lookups", "Chord lookups by outcome", m.lookups.clone());
        registry.register(
            "dhtr_lookup_answers_refused",
            "Lookup answers refused before use: a false form (the responder is struck) or a named successor that did not confirm",
            m.answers_refused.clone(),
        );
        registry.register(
            "dhtr_admissions_refused",
            "Peers refused because their own ticket broke the network's admission rules (work short of the difficulty, or a prefix they are not reached from)",
            m.admissions_refused.clone(),
        );
        for (name, help, gauge) in [
            (
                "dhtr_admission_difficulty",
                "The network's identity work difficulty, in leading zero bits",
                &m.admission_difficulty,
            ),
            (
                "dhtr_certificate_expiry_timestamp_seconds",
                "When this node's membership certificate ends, UNIX seconds (permissioned networks; 0 otherwise)",
                &m.certificate_expiry,
            ),
            (
                "dhtr_revocations_known",
                "Membership revocations this node knows (permissioned networks)",
                &m.revocations_known,
            ),
        ] {
            registry.register(name, help, gauge.clone());
        }
        registry.register("dhtr_lookup_hops", "Hops taken by successful Chord lookups", m.lookup_hops.clone());
        registry.register(
            "dhtr_lookup_messages",
            "Requests a successful Chord lookup sent over all its disjoint paths, confirmations and cross-checks",
            m.lookup_messages.clone(),
        );
        registry.register(
            "dhtr_neighbours_refused",
            "Successors dropped and distrusted because they did not hold this node as their predecessor",
            m.neighbours_refused.clone(),
        );
        registry.register_with_unit(
            "dhtr_lookup_duration",
            "Wall time of Chord lookups",
            Unit::Seconds,
            m.lookup_duration.clone(),
        );
        registry.register(
            "dhtr_stabilization_rounds",
            "Chord stabilization rounds run",
            m.stabilization_rounds.clone(),
        );
        registry.register(
            "dhtr_peer_decode_errors",
            "Messages from peers that could not be decoded",
            m.peer_decode_errors.clone(),
        );
        registry.register(
            "dhtr_peer_streams_dropped",
            "Inbound streams dropped before a request was handled",
            m.peer_streams_dropped.clone(),
        );
        registry.register("dhtr_peers_penalised", "Times a misbehaving peer was penalised", m.peers_penalised.clone());
        registry.register(
            "dhtr_ring_neighbours",
            "Known ring neighbours: predecessor (0 or 1), successors, distinct fingers",
            m.ring_neighbours.clone(),
        );
        registry.register("dhtr_chord_requests", "Chord requests by direction and kind", m.chord_requests.clone());
        registry.register(
            "dhtr_chord_request_failures",
            "Outbound Chord requests that failed, by kind",
            m.chord_request_failures.clone(),
        );
        registry.register("dhtr_join_attempts", "Attempts to join the ring by outcome", m.join_attempts.clone());
        registry.register("dhtr_build_info", "Build information; always 1", build_info);
        registry.register_with_unit("dhtr_uptime", "Time since the node started", Unit::Seconds, m.uptime);
        metrics
    }

    /// Sets `dhtr_connected_peers`.
    pub fn set_connected_peers(&self, peers: usize) {
        self.connected_peers.set(to_i64(peers));
    }

    /// Records one finished lookup: counts it by outcome, records its
    /// duration, and records `hops` and `messages` only when the lookup
    /// succeeded.
    pub fn observe_lookup(&self, outcome: LookupOutcome, hops: u32, messages: u32, duration: Duration) {
        self.lookups.get_or_create(&LookupLabels { outcome }).inc();
        self.lookup_duration.observe(duration.as_secs_f64());
        if outcome == LookupOutcome::Ok {
            self.lookup_hops.observe(f64::from(hops));
            self.lookup_messages.observe(f64::from(messages));
        }
    }

    /// Counts one successor dropped for not acknowledging this node.
    pub fn neighbour_refused(&self) {
        self.neighbours_refused.inc();
    }

    /// Counts one stabilization round.
    pub fn stabilization_round(&self) {
        self.stabilization_rounds.inc();
    }

    /// Counts a message from a peer that could not be decoded.
    pub fn peer_decode_error(&self, protocol: &str) {
        self.peer_decode_errors.get_or_create(&ProtocolLabels { protocol: protocol.to_owned() }).inc();
    }

    /// Counts an inbound stream dropped for `reason` (e.g. `oversized`).
    pub fn stream_dropped(&self, protocol: &str, reason: &str) {
        self.peer_streams_dropped
            .get_or_create(&DropLabels { protocol: protocol.to_owned(), reason: reason.to_owned() })
            .inc();
    }

    /// Counts one penalty applied to a misbehaving peer.
    pub fn peer_penalised(&self) {
        self.peers_penalised.inc();
    }

    /// Sets `dhtr_ring_neighbours`: whether a predecessor is known, the
    /// successor list length and the number of *distinct* finger entries.
    pub fn set_ring_neighbours(&self, has_predecessor: bool, successors: usize, fingers: usize) {
        let set = |kind, value: i64| {
            self.ring_neighbours.get_or_create(&NeighbourLabels { kind }).set(value);
        };
        set(NeighbourKind::Predecessor, i64::from(has_predecessor));
        set(NeighbourKind::Successors, to_i64(successors));
        set(NeighbourKind::Fingers, to_i64(fingers));
    }

    /// Counts one Chord request of `kind` (e.g. `find_successor`) sent or received.
    pub fn chord_request(&self, direction: Direction, kind: &str) {
        self.chord_requests.get_or_create(&ChordRequestLabels { direction, kind: kind.to_owned() }).inc();
    }

    /// Counts one failed outbound Chord request of `kind`.
    /// Count a refused lookup answer.
    pub fn answer_refused(&self, reason: &str) {
        self.answers_refused.get_or_create(&RefusalLabels { reason: reason.to_owned() }).inc();
    }

    /// Count a peer refused admission.
    pub fn admission_refused(&self, reason: &str) {
        self.admissions_refused.get_or_create(&RefusalLabels { reason: reason.to_owned() }).inc();
    }

    /// Count a failed outgoing Chord request.
    pub fn chord_request_failure(&self, kind: &str) {
        self.chord_request_failures.get_or_create(&ChordKindLabels { kind: kind.to_owned() }).inc();
    }

    /// Counts one attempt to join the ring.
    pub fn join_attempt(&self, outcome: JoinOutcome) {
        self.join_attempts.get_or_create(&JoinLabels { outcome }).inc();
    }

    /// Seconds since [`Metrics::register`] was called (as in `dhtr_uptime_seconds`).
    pub fn uptime_seconds(&self) -> f64 {
        self.uptime.elapsed().as_secs_f64()
    }
}

/// Saturating `usize` to `i64` for gauges.
fn to_i64(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use prometheus_client::encoding::text::encode;

    fn scrape(registry: &Registry) -> String {
        let mut out = String::new();
        encode(&mut out, registry).unwrap();
        out
    }

    fn type_of(text: &str, name: &str) -> Option<String> {
        let prefix = format!("# TYPE {name} ");
        text.lines().find_map(|l| l.strip_prefix(&prefix).map(str::to_owned))
    }

    #[test]
    fn names_types_and_labels() {
        let mut registry = Registry::default();
        let m = Metrics::register(&mut registry);
        m.set_connected_peers(3);
        m.observe_lookup(LookupOutcome::Ok, 4, 9, Duration::from_millis(12));
        m.observe_lookup(LookupOutcome::Timeout, 9, 20, Duration::from_secs(5));
        m.stabilization_round();
        m.peer_decode_error("chord");
        m.stream_dropped("chord", "oversized");
        m.peer_penalised();
        m.set_ring_neighbours(true, 8, 5);
        m.chord_request(Direction::Out, "find_successor");
        m.chord_request(Direction::In, "notify");
        m.chord_request_failure("ping");
        m.join_attempt(JoinOutcome::Ok);
        let text = scrape(&registry);

        let types = [
            ("dhtr_connected_peers", "gauge"),
            ("dhtr_lookups", "counter"),
            ("dhtr_lookup_hops", "histogram"),
            ("dhtr_lookup_duration_seconds", "histogram"),
            ("dhtr_stabilization_rounds", "counter"),
            ("dhtr_peer_decode_errors", "counter"),
            ("dhtr_peer_streams_dropped", "counter"),
            ("dhtr_peers_penalised", "counter"),
            ("dhtr_ring_neighbours", "gauge"),
            ("dhtr_chord_requests", "counter"),
            ("dhtr_chord_request_failures", "counter"),
            ("dhtr_join_attempts", "counter"),
            ("dhtr_build_info", "gauge"),
            ("dhtr_uptime_seconds", "gauge"),
        ];
        for (name, ty) in types {
            assert_eq!(type_of(&text, name).as_deref(), Some(ty), "{name}\n{text}");
        }

        let lines = [
            "dhtr_connected_peers 3",
            "dhtr_lookups_total{outcome=\"ok\"} 1",
            "dhtr_lookups_total{outcome=\"failed\"} 0",
            "dhtr_lookups_total{outcome=\"timeout\"} 1",
            "dhtr_lookup_hops_count 1",
            "dhtr_lookup_hops_bucket{le=\"3.0\"} 0",
            "dhtr_lookup_hops_bucket{le=\"4.0\"} 1",
            "dhtr_lookup_duration_seconds_count 2",
            "dhtr_lookup_duration_seconds_bucket{le=\"0.0005\"} 0",
            "dhtr_stabilization_rounds_total 1",
            "dhtr_peer_decode_errors_total{protocol=\"chord\"} 1",
            "dhtr_peer_streams_dropped_total{protocol=\"chord\",reason=\"oversized\"} 1",
            "dhtr_peers_penalised_total 1",
            "dhtr_ring_neighbours{kind=\"predecessor\"} 1",
            "dhtr_ring_neighbours{kind=\"successors\"} 8",
            "dhtr_ring_neighbours{kind=\"fingers\"} 5",
            "dhtr_chord_requests_total{direction=\"out\",kind=\"find_successor\"} 1",
            "dhtr_chord_requests_total{direction=\"in\",kind=\"notify\"} 1",
            "dhtr_chord_request_failures_total{kind=\"ping\"} 1",
            "dhtr_join_attempts_total{outcome=\"ok\"} 1",
            "dhtr_join_attempts_total{outcome=\"failed\"} 0",
        ];
        for line in lines {
            assert!(text.lines().any(|l| l == line), "missing {line}\n{text}");
        }
        let build = format!("dhtr_build_info{{version=\"{VERSION}\"}} 1");
        assert!(text.lines().any(|l| l == build), "{text}");
        assert!(text.lines().any(|l| l.starts_with("dhtr_uptime_seconds ")));
        assert!(text.ends_with("# EOF\n"));
    }

    #[test]
    fn hop_buckets_are_zero_to_sixteen_then_inf() {
        let mut registry = Registry::default();
        let m = Metrics::register(&mut registry);
        m.observe_lookup(LookupOutcome::Ok, 40, 70, Duration::ZERO);
        m.observe_lookup(LookupOutcome::Failed, 2, 3, Duration::ZERO);
        let text = scrape(&registry);
        let les: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("dhtr_lookup_hops_bucket{le=\""))
            .filter_map(|l| l.split('"').next())
            .collect();
        let mut expected: Vec<String> = (0..=16).map(|i| format!("{i}.0")).collect();
        expected.push("+Inf".to_owned());
        assert_eq!(les, expected);
        assert!(text.contains("dhtr_lookup_hops_bucket{le=\"16.0\"} 0\n"));
        assert!(text.contains("dhtr_lookup_hops_bucket{le=\"+Inf\"} 1\n"));
    }

    #[test]
    fn unused_string_families_are_not_exposed_and_clones_share_series() {
        let mut registry = Registry::default();
        let m = Metrics::register(&mut registry);
        let text = scrape(&registry);
        assert!(!text.contains("dhtr_peer_decode_errors_total"));
        m.clone().peer_penalised();
        assert!(scrape(&registry).contains("dhtr_peers_penalised_total 1\n"));
        assert!(m.uptime_seconds() >= 0.0);
    }
}
