//! The node core's events as Prometheus metrics and log lines.

use dhtr_ledger::Event as ReplicaEvent;
use dhtr_ledger::chunks::ChunkEvent;
use dhtr_monitoring::Metrics;
use dhtr_node_core::Event;
use dhtr_protocol::ChunkId;
use tracing::{debug, info, warn};

use crate::report::peer_label_bytes;

/// Count and log one event (Chord events are the driver's: they steer
/// joining and the peer store).
pub fn record(metrics: &Metrics, event: &Event) {
    match event {
        Event::Chord(_) => {}
        Event::Ledger { chunk, event } => ledger_event(metrics, *chunk, event),
        Event::Committed { block, cert, latency } => {
            metrics.ledger.committed(*latency);
            info!(
                chunk = block.chunk.0,
                height = block.height,
                view = cert.view,
                txs = block.txs.len(),
                "committed a block"
            );
        }
        Event::Validated(verdicts) => {
            let agreed: Vec<bool> = verdicts.iter().map(|v| *v == dhtr_node_core::validate::Verdict::Agreed).collect();
            metrics.ledger.validated(&agreed);
            for v in verdicts {
                metrics.dns.validation(v.as_str());
            }
        }
        Event::Refreshed(outcome) => {
            debug!(outcome = outcome.as_str(), "refresh");
            metrics.dns.refresh(outcome.as_str());
        }
        Event::Penalised { peer, protocol, bad, banned } => {
            let (protocol, reason) = (protocol.as_str(), bad.as_str());
            if *bad == dhtr_node_core::BadMessage::FalseAnswer {
                // Counted with the refusal (`dhtr_lookup_answers_refused_total`).
                warn!(peer = %peer_label_bytes(peer), "a false {protocol} answer");
            } else if let dhtr_node_core::BadMessage::Unadmitted(why) = bad {
                warn!(peer = %peer_label_bytes(peer), "refused a peer that is not admitted: {why}");
                metrics.admission_refused(why.as_str());
                metrics.stream_dropped(protocol, reason);
            } else {
                warn!(peer = %peer_label_bytes(peer), "dropped a bad {protocol} message ({reason})");
                metrics.peer_decode_error(protocol);
                metrics.stream_dropped(protocol, reason);
            }
            metrics.peer_penalised();
            if *banned {
                warn!(peer = %peer_label_bytes(peer), "banning peer for {} s after repeated bad messages", dhtr_node_core::peers::BAN.as_secs());
            }
        }
    }
}

fn ledger_event(metrics: &Metrics, chunk: ChunkId, event: &ChunkEvent) {
    let m = &metrics.ledger;
    let chunk = chunk.0;
    match event {
        ChunkEvent::Replica(e) => match e {
            ReplicaEvent::Rejected { reason, .. } => m.rejected(reason.as_str()),
            ReplicaEvent::Equivocation { member } => {
                m.equivocations.inc();
                warn!(chunk, member = %peer_label_bytes(member), "member equivocated; evidence kept");
            }
            ReplicaEvent::Proposed { .. } => {
                m.proposals.inc();
            }
            ReplicaEvent::ViewChanged { view } => {
                m.view_changes.inc();
                debug!(chunk, view, "entered a new view");
            }
            ReplicaEvent::Synced { height } => {
                m.synced.inc();
                debug!(chunk, height, "caught up from a peer");
            }
            ReplicaEvent::Halted { error } => {
                m.halted.inc();
                warn!(chunk, "ledger storage failed; chunk no longer served: {error}");
            }
        },
        ChunkEvent::Created { members } => {
            m.genesis("created");
            info!(chunk, members, "started the chunk's chain");
        }
        ChunkEvent::GenesisReplaced => {
            m.genesis("replaced");
            info!(chunk, "replaced a first committee the ring no longer agrees with");
        }
        ChunkEvent::OtherChain { kept: true, height } => {
            m.genesis("kept");
            warn!(chunk, height, "a committee member holds another chain of this chunk (a partition); kept ours");
        }
        ChunkEvent::OtherChain { kept: false, height } => {
            m.genesis("abandoned");
            warn!(chunk, height, "gave up this chunk's chain for the one more committee members hold (a partition)");
        }
        ChunkEvent::Released { height } => {
            m.genesis("released");
            debug!(chunk, height, "forgot the chain of a committee this node left");
        }
        ChunkEvent::ReconfigureSubmitted { members } => {
            m.reconfiguration("submitted");
            info!(chunk, members, "the ring moved: proposing a committee change");
        }
        ChunkEvent::Reconfigured { epoch, member } => {
            m.reconfiguration("committed");
            info!(chunk, epoch, member, "committee changed");
        }
        ChunkEvent::JoinStarted { from } => {
            m.join("started");
            debug!(chunk, from = %peer_label_bytes(from), "fetching the chain");
        }
        ChunkEvent::Joined { height } => {
            m.join("joined");
            info!(chunk, height, "joined the chunk's committee");
        }
        ChunkEvent::JoinFailed { reason } => {
            m.join("failed");
            debug!(chunk, "gave up fetching the chain: {reason}");
        }
        ChunkEvent::Dropped { reason } => m.dropped(reason),
        ChunkEvent::Unsolicited => m.rejected("unsolicited"),
    }
}
