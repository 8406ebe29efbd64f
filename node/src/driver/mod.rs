//! The one task that owns the Swarm: a thin driver of the sans-IO
//! [`NodeCore`]. Libp2p events and the node's commands become core inputs
//! ([`swarm`]); core outputs become sends, replies, resolutions (spawned on
//! the iterative resolver) and metrics ([`events`]). Joining and the peer
//! store are [`joining`]'s. Nothing else touches the Swarm.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use anyhow::Result;
use dhtr_ledger::chunks::ChunkEvent;
use dhtr_ledger::rocks::RocksStore;
use dhtr_monitoring::{ApiError, Direction, LookupOutcome, Metrics, StatusReport, SubmitReport};
use dhtr_node_core::resolve::{ResolveId, Resolved};
use dhtr_node_core::{Input, NodeCore, Output, Token};
use dhtr_protocol::{Addr, LookupError, NodeInfo, RequestId, WireRequest};
use dhtr_resolver::pipeline::Current;
use futures::StreamExt;
use libp2p::request_response::OutboundRequestId;
use libp2p::{Multiaddr, PeerId, Swarm};
use tokio::sync::{mpsc, watch};
use tracing::{info, warn};

use crate::behaviour::Behaviour;
use crate::codec::Inbound;
use crate::config::Settings;
use crate::handle::{Command, LookupReply, ReadReply, SubmitReply};
use crate::report;

mod events;
mod joining;
mod permit;
mod swarm;

use joining::{Joining, to_multiaddrs};

/// How long a graceful leave may take.
const LEAVE_TIMEOUT: Duration = Duration::from_secs(3);
/// Longest a resolution for the core may run (the core gives up sooner).
const RESOLVE_LIMIT: Duration = Duration::from_secs(10);
/// How often the chunk gauges are refreshed without an event.
const GAUGES_EVERY: Duration = Duration::from_secs(10);

/// Where a core answer goes.
enum Reply {
    Read(ReadReply),
    Lookup(LookupReply, Instant),
    Submit(SubmitReply),
}

/// The Swarm-owning task's state.
pub struct Driver {
    swarm: Swarm<Behaviour>,
    core: NodeCore<RocksStore>,
    settings: Settings,
    commands: mpsc::Receiver<Command>,
    commands_open: bool,
    metrics: Metrics,
    p2p_metrics: libp2p::metrics::Metrics,
    /// libp2p request → (core request, kind for metrics).
    chord_out: HashMap<OutboundRequestId, (RequestId, &'static str)>,
    /// The remote IP of each open connection (a ticket's prefix must match).
    remote_ips: HashMap<libp2p::swarm::ConnectionId, std::net::IpAddr>,
    records_out: HashMap<OutboundRequestId, dhtr_node_core::reads::RequestId>,
    replies: HashMap<Token, Reply>,
    next_token: u64,
    iterative: dhtr_resolver::iterative::Iterative,
    resolved_tx: mpsc::UnboundedSender<(ResolveId, Resolved)>,
    resolved_rx: mpsc::UnboundedReceiver<(ResolveId, Resolved)>,
    joining: Joining,
    listen_addrs: Vec<Multiaddr>,
    observers: HashMap<IpAddr, std::collections::HashSet<PeerId>>,
    /// What opening the ledger found (path, corrupt chunks).
    ledger_report: dhtr_monitoring::LedgerReport,
    started: Instant,
    gauges_at: Instant,
    left: bool,
    /// `permissioned` networks: the revocations dir and expiry warnings.
    permit: Option<permit::Upkeep>,
}

impl Driver {
    /// Set up the driver around a Swarm that is already listening.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        swarm: Swarm<Behaviour>,
        mut core: NodeCore<RocksStore>,
        settings: Settings,
        commands: mpsc::Receiver<Command>,
        metrics: Metrics,
        p2p_metrics: libp2p::metrics::Metrics,
        store: dhtr_bootstrap::PeerStore,
        iterative: dhtr_resolver::iterative::Iterative,
        ledger_report: dhtr_monitoring::LedgerReport,
    ) -> Driver {
        let now = Instant::now();
        let joining = Joining::new(&settings, store, *swarm.local_peer_id(), now);
        // Bootstrap and stored peers: where self-checks look for the rest
        // of a ring this node's part split off from.
        for contact in joining.contacts() {
            core.add_contact(contact);
        }
        let (resolved_tx, resolved_rx) = mpsc::unbounded_channel();
        let permit = permit::Upkeep::new(&settings, core.chord().me(), &metrics, now);
        Driver {
            swarm,
            core,
            settings,
            commands,
            commands_open: true,
            metrics,
            p2p_metrics,
            chord_out: HashMap::new(),
            remote_ips: HashMap::new(),
            records_out: HashMap::new(),
            replies: HashMap::new(),
            next_token: 0,
            iterative,
            resolved_tx,
            resolved_rx,
            joining,
            listen_addrs: Vec::new(),
            observers: HashMap::new(),
            ledger_report,
            started: now,
            gauges_at: now,
            left: false,
            permit,
        }
    }

    /// Run until `shutdown` flips, then leave the ring gracefully and save
    /// the peer store.
    pub async fn run(mut self, mut shutdown: watch::Receiver<bool>) -> Result<()> {
        loop {
            let deadline =
                self.core.poll_timeout().map_or(self.joining.poll_timeout(), |t| t.min(self.joining.poll_timeout()));
            tokio::select! {
                ev = self.swarm.select_next_some() => self.on_swarm_event(ev),
                cmd = self.commands.recv(), if self.commands_open => match cmd {
                    Some(c) => self.on_command(c),
                    None => self.commands_open = false,
                },
                Some((id, resolved)) = self.resolved_rx.recv() => self.input(Input::Resolved { id, resolved }),
                _ = tokio::time::sleep_until(deadline.into()) => self.on_timer(),
                _ = shutdown.changed() => break,
            }
        }
        self.leave().await;
        self.joining.save();
        Ok(())
    }

    fn on_timer(&mut self) {
        let now = Instant::now();
        if self.core.poll_timeout().is_some_and(|t| t <= now) {
            self.input(Input::Timeout);
        }
        if let Some(via) = self.joining.on_timer(now) {
            self.input(Input::Join(via));
        }
        if self.gauges_at <= now {
            self.gauges_at = now + GAUGES_EVERY;
            self.update_ledger_gauges();
        }
        self.permit_upkeep(now);
    }

    /// Refresh `dhtr_ledger_chunks`: on commits and committee changes, and
    /// every [`GAUGES_EVERY`] (joins in progress change without an event).
    fn update_ledger_gauges(&self) {
        let c = self.core.chunks();
        self.metrics.ledger.set_chunks(c.held(), c.member_of(), c.joining());
    }

    /// Feed the core and carry out what it asks.
    fn input(&mut self, input: Input) {
        self.core.handle(Instant::now(), crate::dns::unix_now(), input);
        self.drain();
    }

    fn token(&mut self, reply: Reply) -> Token {
        let t = Token(self.next_token);
        self.next_token += 1;
        self.replies.insert(t, reply);
        t
    }

    fn drain(&mut self) {
        while let Some(out) = self.core.poll_output() {
            match out {
                Output::Chord { id, to, request } => self.send_chord(id, to, request),
                Output::Ledger { to, msg } => {
                    let Some((peer, addrs)) = self.dial(&to) else { continue };
                    self.metrics.ledger.message(Direction::Out, msg.body.kind());
                    self.swarm.behaviour_mut().ledger.send_request_with_addresses(&peer, Inbound::Request(msg), addrs);
                }
                Output::Records(send) => {
                    let Some((peer, addrs)) = self.dial(&send.to) else {
                        self.core.handle(
                            Instant::now(),
                            crate::dns::unix_now(),
                            Input::RecordsResponse { id: send.id, response: None },
                        );
                        continue;
                    };
                    let b = self.swarm.behaviour_mut();
                    let rid = b.records.send_request_with_addresses(&peer, Inbound::Request(send.request), addrs);
                    self.records_out.insert(rid, send.id);
                }
                Output::Resolve(r) => {
                    let (iterative, tx) = (self.iterative.clone(), self.resolved_tx.clone());
                    tokio::spawn(async move {
                        let current = dhtr_resolver::pipeline::current(&iterative, &r.name, r.rtype, r.fetched_at);
                        let resolved = match tokio::time::timeout(RESOLVE_LIMIT, current).await {
                            Ok(Current::Records(rr)) => Resolved::Records(rr),
                            Ok(Current::NotInAnswer) => Resolved::NotInAnswer,
                            Ok(Current::Negative) => Resolved::Negative,
                            Ok(Current::Failed) | Err(_) => Resolved::Failed,
                        };
                        let _ = tx.send((r.id, resolved));
                    });
                }
                Output::ReadDone { token, result } => {
                    if let Some(Reply::Read(reply)) = self.replies.remove(&token) {
                        let _ = reply.send(result);
                    }
                }
                Output::LookupDone { token, result } => {
                    if let Some(Reply::Lookup(reply, started)) = self.replies.remove(&token) {
                        let outcome = match &result {
                            Ok(_) => LookupOutcome::Ok,
                            Err(LookupError::Timeout) => LookupOutcome::Timeout,
                            Err(_) => LookupOutcome::Failed,
                        };
                        let (hops, messages) = result.as_ref().map(|r| (r.hops, r.messages)).unwrap_or((0, 0));
                        self.metrics.observe_lookup(outcome, hops, messages, started.elapsed());
                        let _ = reply.send(result);
                    }
                }
                Output::Submitted { token, result } => {
                    if let Some(Reply::Submit(reply)) = self.replies.remove(&token) {
                        let _ = reply.send(submit_report(result));
                    }
                }
                Output::Disconnect(peer) => {
                    if let Ok(p) = PeerId::from_bytes(&peer.0) {
                        if self.core.is_banned(Instant::now(), &peer) {
                            self.joining.store.remove(&p);
                            self.prefix_strike(&p);
                        }
                        let _ = self.swarm.disconnect_peer_id(p);
                    }
                }
                Output::Event(e) => {
                    events::record(&self.metrics, &e);
                    if matches!(
                        &e,
                        dhtr_node_core::Event::Committed { .. }
                            | dhtr_node_core::Event::Ledger {
                                event: ChunkEvent::Joined { .. } | ChunkEvent::Reconfigured { .. },
                                ..
                            }
                    ) {
                        self.update_ledger_gauges();
                    }
                    if let dhtr_node_core::Event::Chord(e) = &e {
                        if matches!(e, dhtr_protocol::Event::Left) {
                            self.left = true;
                        }
                        let (now, chord) = (Instant::now(), self.core.chord());
                        self.joining.on_chord_event(now, e, chord, &self.metrics, &self.settings);
                    }
                }
            }
        }
    }

    /// The peer and every address known for it (the core's and the peer
    /// store's), unless it is not a valid peer id.
    fn dial(&self, to: &NodeInfo) -> Option<(PeerId, Vec<Multiaddr>)> {
        let peer = PeerId::from_bytes(&to.peer.0).ok()?;
        let mut addrs = to_multiaddrs(&to.addrs);
        if let Some(e) = self.joining.store.get(&peer) {
            addrs.extend(e.addrs.iter().cloned());
        }
        addrs.dedup();
        Some((peer, addrs))
    }

    fn send_chord(&mut self, id: RequestId, to: NodeInfo, request: dhtr_protocol::Request) {
        let Some((peer, addrs)) = self.dial(&to) else {
            self.core.handle(Instant::now(), crate::dns::unix_now(), Input::ChordFailure { id });
            return;
        };
        let kind = request.kind();
        let me = self.core.chord().me();
        let (sender_ticket, sender_cert) = (me.ticket, me.cert.as_deref().cloned());
        let sender_addrs = self.advertised_wire();
        let wire = Inbound::Request(WireRequest { sender_ticket, sender_addrs, sender_cert, body: request });
        let rid = self.swarm.behaviour_mut().chord.send_request_with_addresses(&peer, wire, addrs);
        self.chord_out.insert(rid, (id, kind));
        self.metrics.chord_request(Direction::Out, kind);
    }

    /// What this node advertises: configured and confirmed external
    /// addresses first, then concrete listen addresses.
    fn advertised(&self) -> Vec<Multiaddr> {
        let mut out: Vec<Multiaddr> = self.settings.external_addrs.clone();
        for a in self.swarm.external_addresses().chain(self.listen_addrs.iter()) {
            if !out.contains(a) {
                out.push(a.clone());
            }
        }
        out.truncate(dhtr_protocol::node::MAX_ADDRS);
        out
    }

    fn advertised_wire(&self) -> Vec<Addr> {
        self.advertised().iter().map(|m| Addr(m.to_vec())).collect()
    }

    // ---- commands ------------------------------------------------------

    fn on_command(&mut self, c: Command) {
        match c {
            Command::Status(reply) => {
                let _ = reply.send(self.status());
            }
            Command::Lookup { key, reply } => {
                let token = self.token(Reply::Lookup(reply, Instant::now()));
                self.input(Input::Lookup { token, key });
            }
            Command::Chain { chunk, from, limit, reply } => {
                let chunk = dhtr_protocol::ChunkId(chunk);
                let r = if self.core.serves(chunk) {
                    crate::ledger::chain_report(self.core.store(), chunk, from, limit)
                } else {
                    Err(ApiError::NotFound(format!(
                        "chunk {} failed verification at start and is not served; see /status",
                        chunk.0
                    )))
                };
                let _ = reply.send(r);
            }
            Command::TestSubmit { name, reply } => {
                let token = self.token(Reply::Submit(reply));
                self.input(Input::TestSubmit { token, name });
            }
            Command::NetworkRead { name, rtype, history, reply } => {
                let token = self.token(Reply::Read(reply));
                self.input(Input::Read { token, name, rtype, history });
            }
            Command::Insert(tx) => self.input(Input::Submit(tx)),
        }
    }

    fn status(&self) -> StatusReport {
        let chord = self.core.chord();
        let mut ledger = self.ledger_report.clone();
        ledger.chunks = self
            .core
            .chunks()
            .chunks()
            .into_iter()
            .filter_map(|c| crate::ledger::chunk_report(self.core.store(), c, self.core.me()))
            .collect();
        ledger.joining = self.core.chunks().joining();
        StatusReport {
            version: env!("CARGO_PKG_VERSION").to_string(),
            network: self.settings.network.to_string(),
            peer_id: self.swarm.local_peer_id().to_string(),
            ring_id: chord.me().id.to_hex(),
            listen_addrs: self.listen_addrs.iter().map(|a| a.to_string()).collect(),
            external_addrs: self.advertised().iter().map(|a| a.to_string()).collect(),
            predecessor: chord.predecessor().map(report::peer_report),
            successors: chord.successors().iter().map(report::peer_report).collect(),
            fingers: chord.fingers().iter().map(report::peer_report).collect(),
            connected_peers: self.swarm.connected_peers().map(|p| p.to_string()).collect(),
            uptime_seconds: self.started.elapsed().as_secs_f64(),
            joined: self.joining.joined,
            ledger,
            admission: dhtr_monitoring::AdmissionReport {
                mode: chord.rules().mode().into(),
                membership: self.permit.as_ref().map(|p| p.report(chord.rules())),
                network_id: hex::encode(chord.rules().network.0),
                difficulty: chord.rules().difficulty,
                per_prefix_committee: chord.rules().per_prefix_committee,
                per_prefix_routing: chord.rules().per_prefix_routing,
                prefix: chord.me().ticket.prefix.to_string(),
            },
        }
    }

    // ---- leaving -------------------------------------------------------

    async fn leave(&mut self) {
        info!("leaving the ring");
        self.input(Input::Leave);
        let deadline = tokio::time::Instant::now() + LEAVE_TIMEOUT;
        while !self.left {
            tokio::select! {
                ev = self.swarm.select_next_some() => self.on_swarm_event(ev),
                _ = tokio::time::sleep_until(deadline) => {
                    warn!("neighbours did not acknowledge the leave in time");
                    break;
                }
            }
        }
    }
}

/// A test submission's outcome as the HTTP API reports it.
fn submit_report(
    result: Result<dhtr_node_core::Submitted, dhtr_node_core::SubmitError>,
) -> Result<SubmitReport, ApiError> {
    use dhtr_node_core::SubmitError;
    match result {
        Ok(s) => Ok(SubmitReport {
            name: s.name,
            chunk: s.chunk.0,
            committee: s.committee.iter().map(report::peer_label_bytes).collect(),
        }),
        Err(e @ SubmitError::HooksOff) => Err(ApiError::NotFound(e.to_string())),
        Err(e @ SubmitError::Name(_)) => Err(ApiError::BadRequest(e.to_string())),
        Err(e @ SubmitError::Lookup { .. }) => Err(ApiError::Failed(e.to_string())),
    }
}
