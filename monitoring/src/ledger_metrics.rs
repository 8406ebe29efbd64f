//! Prometheus metrics of the per-chunk ledger (consensus, committees,
//! chains). Registered by [`crate::Metrics::register`]; exposed names:
//!
//! | exposed name | type | labels |
//! | --- | --- | --- |
//! | `dhtr_ledger_proposals_total` | counter | |
//! | `dhtr_ledger_commits_total` | counter | |
//! | `dhtr_ledger_commit_latency_seconds` | histogram (1 ms × 2ⁿ) | |
//! | `dhtr_ledger_view_changes_total` | counter | |
//! | `dhtr_ledger_rejected_total` | counter | `reason` |
//! | `dhtr_ledger_equivocations_total` | counter | |
//! | `dhtr_ledger_synced_total` | counter | |
//! | `dhtr_ledger_joins_total` | counter | `outcome` = started, joined, failed |
//! | `dhtr_ledger_reconfigurations_total` | counter | `stage` = submitted, committed |
//! | `dhtr_ledger_geneses_total` | counter | `kind` = created, replaced, kept, abandoned, released |
//! | `dhtr_ledger_validations_total` | counter | `verdict` = accepted, refused |
//! | `dhtr_ledger_dropped_total` | counter | `reason` |
//! | `dhtr_ledger_halted_total` | counter | |
//! | `dhtr_ledger_messages_total` | counter | `direction`, `kind` |
//! | `dhtr_ledger_chunks` | gauge | `state` = held, member, joining |
//!
//! Labels come from fixed sets chosen by the node (reject reasons, message
//! kinds), never from peers.

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

use crate::metrics::Direction;

/// Label set `{reason}`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    /// Why.
    pub reason: String,
}

/// Label set `{outcome}`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    /// How it ended.
    pub outcome: String,
}

/// Label set `{stage}`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StageLabels {
    /// How far it got.
    pub stage: String,
}

/// Label set `{kind}`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabels {
    /// Which kind.
    pub kind: String,
}

/// Label set `{verdict}`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct VerdictLabels {
    /// The validator's answer.
    pub verdict: String,
}

/// Label set `{state}`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StateLabels {
    /// Which chunks.
    pub state: String,
}

/// Label set `{direction,kind}`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct MessageLabels {
    /// Received or sent.
    pub direction: Direction,
    /// Message kind (`proposal`, `prepare`, `commit`, ...).
    pub kind: String,
}

/// Handles to the ledger metrics. Cloning is cheap.
#[derive(Clone, Debug)]
pub struct LedgerMetrics {
    /// Blocks proposed by this node as primary.
    pub proposals: Counter,
    /// Blocks committed here.
    pub commits: Counter,
    /// Submission to commit, for transactions this node saw submitted.
    pub commit_latency: Histogram,
    /// Views entered after a view change.
    pub view_changes: Counter,
    /// Ledger messages refused, by reason.
    pub rejected: Family<ReasonLabels, Counter>,
    /// Members caught signing two conflicting messages.
    pub equivocations: Counter,
    /// Times certified blocks were taken over from a peer.
    pub synced: Counter,
    /// Chain fetches by new members.
    pub joins: Family<OutcomeLabels, Counter>,
    /// Committee changes.
    pub reconfigurations: Family<StageLabels, Counter>,
    /// Chains started and bare geneses replaced.
    pub geneses: Family<KindLabels, Counter>,
    /// Validator verdicts on transactions.
    pub validations: Family<VerdictLabels, Counter>,
    /// Transactions dropped before ordering, by reason.
    pub dropped: Family<ReasonLabels, Counter>,
    /// Chunks whose storage failed (no longer served).
    pub halted: Counter,
    /// Ledger messages by direction and kind.
    pub messages: Family<MessageLabels, Counter>,
    /// Chunks held, chunks this node is a member of, chunks being joined.
    pub chunks: Family<StateLabels, Gauge>,
}

impl LedgerMetrics {
    /// Create the handles and register them.
    pub fn register(registry: &mut Registry) -> LedgerMetrics {
        let m = LedgerMetrics {
            proposals: Counter::default(),
            commits: Counter::default(),
            commit_latency: Histogram::new(exponential_buckets(0.001, 2.0, 16)),
            view_changes: Counter::default(),
            rejected: Family::default(),
            equivocations: Counter::default(),
            synced: Counter::default(),
            joins: Family::default(),
            reconfigurations: Family::default(),
            geneses: Family::default(),
            validations: Family::default(),
            dropped: Family::default(),
            halted: Counter::default(),
            messages: Family::default(),
            chunks: Family::default(),
        };
        for outcome in ["started", "joined", "failed"] {
            m.joins.get_or_create_owned(&OutcomeLabels { outcome: outcome.into() });
        }
        for stage in ["submitted", "committed"] {
            m.reconfigurations.get_or_create_owned(&StageLabels { stage: stage.into() });
        }
        for state in ["held", "member", "joining"] {
            m.chunks.get_or_create_owned(&StateLabels { state: state.into() });
        }
        let r = registry;
        r.register("dhtr_ledger_proposals", "Blocks proposed by this node as primary", m.proposals.clone());
        r.register("dhtr_ledger_commits", "Blocks committed by this node", m.commits.clone());
        r.register_with_unit(
            "dhtr_ledger_commit_latency",
            "Time from a transaction's submission (as seen here) to its commit",
            Unit::Seconds,
            m.commit_latency.clone(),
        );
        r.register("dhtr_ledger_view_changes", "Views entered after a view change", m.view_changes.clone());
        r.register("dhtr_ledger_rejected", "Ledger messages refused, by reason", m.rejected.clone());
        r.register("dhtr_ledger_equivocations", "Committee members caught equivocating", m.equivocations.clone());
        r.register("dhtr_ledger_synced", "Times certified blocks were taken over from a peer", m.synced.clone());
        r.register("dhtr_ledger_joins", "Chain fetches by this node as a new member", m.joins.clone());
        r.register("dhtr_ledger_reconfigurations", "Committee changes by stage", m.reconfigurations.clone());
        r.register("dhtr_ledger_geneses", "Chains started and bare geneses replaced", m.geneses.clone());
        r.register("dhtr_ledger_validations", "Validator verdicts on transactions", m.validations.clone());
        r.register("dhtr_ledger_dropped", "Transactions dropped before ordering, by reason", m.dropped.clone());
        r.register("dhtr_ledger_halted", "Chunks whose storage failed", m.halted.clone());
        r.register("dhtr_ledger_messages", "Ledger messages by direction and kind", m.messages.clone());
        r.register(
            "dhtr_ledger_chunks",
            "Chunks held, chunks this node is a member of, chunks being joined",
            m.chunks.clone(),
        );
        m
    }

    /// Count a message of `kind` sent or received.
    pub fn message(&self, direction: Direction, kind: &str) {
        self.messages.get_or_create(&MessageLabels { direction, kind: kind.to_owned() }).inc();
    }

    /// Count a refused message.
    pub fn rejected(&self, reason: &str) {
        self.rejected.get_or_create(&ReasonLabels { reason: reason.to_owned() }).inc();
    }

    /// Count a commit and its latency, if known.
    pub fn committed(&self, latency: Option<Duration>) {
        self.commits.inc();
        if let Some(l) = latency {
            self.commit_latency.observe(l.as_secs_f64());
        }
    }

    /// Count a join step (`started`, `joined`, `failed`).
    pub fn join(&self, outcome: &str) {
        self.joins.get_or_create(&OutcomeLabels { outcome: outcome.to_owned() }).inc();
    }

    /// Count a reconfiguration step (`submitted`, `committed`).
    pub fn reconfiguration(&self, stage: &str) {
        self.reconfigurations.get_or_create(&StageLabels { stage: stage.to_owned() }).inc();
    }

    /// Count a chain event (`created`, `replaced`, `kept`, `abandoned`,
    /// `released`).
    pub fn genesis(&self, kind: &str) {
        self.geneses.get_or_create(&KindLabels { kind: kind.to_owned() }).inc();
    }

    /// Count validator verdicts.
    pub fn validated(&self, verdicts: &[bool]) {
        for v in verdicts {
            let verdict = if *v { "accepted" } else { "refused" };
            self.validations.get_or_create(&VerdictLabels { verdict: verdict.to_owned() }).inc();
        }
    }

    /// Count a dropped transaction.
    pub fn dropped(&self, reason: &str) {
        self.dropped.get_or_create(&ReasonLabels { reason: reason.to_owned() }).inc();
    }

    /// Set the chunk gauges.
    pub fn set_chunks(&self, held: usize, member: usize, joining: usize) {
        for (state, v) in [("held", held), ("member", member), ("joining", joining)] {
            self.chunks
                .get_or_create(&StateLabels { state: state.to_owned() })
                .set(i64::try_from(v).unwrap_or(i64::MAX));
        }
    }
}
