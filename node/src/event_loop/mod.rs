//! The one task that owns the Swarm. It drives the sans-IO Chord core:
//! carries its requests over libp2p, feeds back responses, failures and
//! timers, answers inbound requests, and serves commands from
//! [`crate::handle::NodeHandle`]s. Nothing else touches the Swarm.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::time::{Duration, Instant, SystemTime};

use anyhow::Result;
use dhtr_bootstrap::{Backoff, JoinPlan, PeerStore};
use dhtr_monitoring::{Direction, JoinOutcome, LookupOutcome, Metrics, StatusReport};
use dhtr_protocol::{
    Addr, Chord, Event, Input, LookupError, LookupId, NodeInfo, Output, PeerRef, RequestId, WireRequest,
};
use futures::StreamExt;
use libp2p::metrics::Recorder;
use libp2p::multiaddr::Protocol;
use libp2p::request_response::{self, InboundFailure, OutboundFailure, OutboundRequestId};
use libp2p::swarm::SwarmEvent;
use libp2p::{Multiaddr, PeerId, Swarm, identify};
use rand::SeedableRng;
use rand::rngs::StdRng;
use tokio::sync::{mpsc, watch};
use tracing::{debug, info, warn};

use crate::behaviour::{Behaviour, BehaviourEvent, identify_protocol};
use crate::codec::{Inbound, is_bad_message};
use crate::config::Settings;
use crate::handle::{Command, LookupReply};
use crate::report;

mod ledger;
mod records;
pub use ledger::LedgerState;
pub use records::{ReadError, ReadOutcome, ReadReply};

/// Bad messages from one peer before it is banned.
const STRIKES_BEFORE_BAN: u32 = 3;
/// How long a banned peer stays banned.
const BAN: Duration = Duration::from_secs(600);
/// How often the peer store is written when it changed.
const SAVE_EVERY: Duration = Duration::from_secs(10);
/// Peers with strikes or observations remembered before both are forgotten.
const MAX_PEER_NOTES: usize = 4096;
/// How long a graceful leave may take.
const LEAVE_TIMEOUT: Duration = Duration::from_secs(3);
/// Distinct peers that must observe the same IP before an external address
/// candidate on it is confirmed.
const OBSERVERS_TO_CONFIRM: usize = 2;

/// The Swarm-owning task's state.
pub struct NodeLoop {
    swarm: Swarm<Behaviour>,
    chord: Chord,
    settings: Settings,
    commands: mpsc::Receiver<Command>,
    commands_open: bool,
    metrics: Metrics,
    p2p_metrics: libp2p::metrics::Metrics,
    /// libp2p request → (core request, kind for metrics).
    outbound: HashMap<OutboundRequestId, (RequestId, &'static str)>,
    lookups: HashMap<LookupId, (LookupReply, Instant)>,
    store: PeerStore,
    plan: JoinPlan,
    next_join: Option<Instant>,
    joining_via: Option<PeerId>,
    joined: bool,
    listen_addrs: Vec<Multiaddr>,
    observers: HashMap<IpAddr, HashSet<PeerId>>,
    strikes: HashMap<PeerId, u32>,
    banned: HashMap<PeerId, Instant>,
    rng: StdRng,
    started: Instant,
    save_at: Instant,
    left: bool,
    /// The chunk chains this node holds and the consensus over them.
    led: LedgerState,
    /// Network reads in flight and looked-up committees.
    rec: records::RecordsState,
}

impl NodeLoop {
    /// Set up the loop around a Swarm that is already listening.
    pub fn new(
        swarm: Swarm<Behaviour>,
        settings: Settings,
        commands: mpsc::Receiver<Command>,
        metrics: Metrics,
        p2p_metrics: libp2p::metrics::Metrics,
        store: PeerStore,
        led: LedgerState,
    ) -> NodeLoop {
        let now = Instant::now();
        let me = NodeInfo::new(PeerRef(swarm.local_peer_id().to_bytes()), Vec::new());
        let chord = Chord::new(me, settings.chord.clone(), now);
        let plan = new_plan(&settings, &store, *swarm.local_peer_id());
        let joined = plan.is_empty();
        if joined {
            info!("no bootstrap peers and an empty peer store: starting a new ring");
        }
        NodeLoop {
            next_join: if joined { None } else { Some(now) },
            swarm,
            chord,
            settings,
            commands,
            commands_open: true,
            metrics,
            p2p_metrics,
            outbound: HashMap::new(),
            lookups: HashMap::new(),
            store,
            plan,
            joining_via: None,
            joined,
            listen_addrs: Vec::new(),
            observers: HashMap::new(),
            strikes: HashMap::new(),
            banned: HashMap::new(),
            rng: StdRng::from_os_rng(),
            started: now,
            save_at: now + SAVE_EVERY,
            left: false,
            led,
            rec: records::RecordsState::new(now),
        }
    }

    /// Run until `shutdown` flips, then leave the ring gracefully and save
    /// the peer store.
    pub async fn run(mut self, mut shutdown: watch::Receiver<bool>) -> Result<()> {
        loop {
            let deadline = self.next_deadline();
            tokio::select! {
                ev = self.swarm.select_next_some() => self.on_swarm_event(ev),
                cmd = self.commands.recv(), if self.commands_open => match cmd {
                    Some(c) => self.on_command(c),
                    None => self.commands_open = false,
                },
                Some(v) = self.led.verdict_rx.recv() => self.on_verdict(v),
                _ = tokio::time::sleep_until(deadline.into()) => self.on_timer(),
                _ = shutdown.changed() => break,
            }
            self.drain();
        }
        self.leave().await;
        self.save_store();
        Ok(())
    }

    fn next_deadline(&self) -> Instant {
        let mut t = self.save_at;
        for c in [self.chord.poll_timeout(), self.next_join, self.led.poll_timeout()].into_iter().flatten() {
            t = t.min(c);
        }
        t
    }

    fn on_timer(&mut self) {
        let now = Instant::now();
        if self.chord.poll_timeout().is_some_and(|t| t <= now) {
            self.chord.handle(now, Input::Timeout);
        }
        self.maybe_join(now);
        if self.led.poll_timeout().is_some_and(|t| t <= now) {
            self.ledger_rechecks();
            self.ledger_input(dhtr_ledger::chunks::Input::Timeout);
        }
        if self.save_at <= now {
            self.save_at = now + SAVE_EVERY;
            self.save_store();
            self.update_ledger_gauges();
        }
        self.banned.retain(|_, until| *until > now);
        // Strikes and observed addresses are forgotten when too many peers
        // have them (bounded memory, whatever peers do).
        if self.strikes.len() + self.observers.len() > MAX_PEER_NOTES {
            self.strikes.clear();
            self.observers.clear();
        }
    }

    fn save_store(&mut self) {
        if self.store.is_dirty()
            && let Err(e) = self.store.save()
        {
            warn!("cannot save the peer store: {e}");
        }
    }

    // ---- joining -------------------------------------------------------

    fn maybe_join(&mut self, now: Instant) {
        if self.joining_via.is_some() || self.next_join.is_none_or(|t| t > now) {
            return;
        }
        match self.plan.next(now, &mut self.rng) {
            Some(a) if a.at <= now => {
                info!(peer = %a.peer, "joining the ring through {}", a.addrs.first().map(|m| m.to_string()).unwrap_or_default());
                let via = NodeInfo::new(PeerRef(a.peer.to_bytes()), a.addrs.iter().map(|m| Addr(m.to_vec())).collect());
                self.joining_via = Some(a.peer);
                self.next_join = None;
                self.chord.handle(now, Input::Join(via));
            }
            Some(a) => self.next_join = Some(a.at),
            None => self.next_join = None,
        }
    }

    fn on_chord_event(&mut self, e: Event) {
        let now = Instant::now();
        match e {
            Event::Joined { successor } => {
                info!(successor = %report::peer_label(&successor), "joined the ring");
                self.metrics.join_attempt(JoinOutcome::Ok);
                self.plan.on_success();
                self.joining_via = None;
                self.joined = true;
                // Remember who we joined through right away: a crash now
                // must still be able to rejoin without --bootstrap.
                self.on_neighbours_changed();
                self.save_store();
            }
            Event::JoinFailed { via, error } => {
                warn!(via = %report::peer_label_bytes(&via), "join failed: {error}");
                self.metrics.join_attempt(JoinOutcome::Failed);
                self.plan.on_failure(now);
                self.joining_via = None;
                self.next_join = Some(now);
                if let Ok(p) = PeerId::from_bytes(&via.0) {
                    self.store.record_failure(&p);
                }
            }
            Event::StabilizationRound => self.metrics.stabilization_round(),
            Event::NeighboursChanged => self.on_neighbours_changed(),
            Event::PeerFailed(n) => {
                debug!(peer = %report::peer_label(&n), "peer failed to answer; removed from routing");
                if let Ok(p) = PeerId::from_bytes(&n.peer.0) {
                    self.store.record_failure(&p);
                }
            }
            Event::Alone => {
                warn!("every known successor failed; rejoining");
                self.joined = false;
                self.plan = new_plan(&self.settings, &self.store, *self.swarm.local_peer_id());
                self.next_join = if self.plan.is_empty() { None } else { Some(now) };
            }
            Event::Left => self.left = true,
        }
    }

    fn on_neighbours_changed(&mut self) {
        self.rec.forget_committees();
        let fingers = self.chord.fingers();
        self.metrics.set_ring_neighbours(
            self.chord.predecessor().is_some(),
            self.chord.successors().len(),
            fingers.len(),
        );
        // Successors are the best rejoin candidates after a restart.
        let now = SystemTime::now();
        for n in self.chord.successors().to_vec() {
            if let Ok(p) = PeerId::from_bytes(&n.peer.0) {
                self.store.record_seen(p, &to_multiaddrs(&n.addrs), now);
            }
        }
    }

    // ---- Chord core outputs -------------------------------------------

    fn drain(&mut self) {
        while let Some(out) = self.chord.poll_output() {
            match out {
                Output::Send { id, to, request } => self.send(id, to, request),
                Output::LookupDone { id, result } => {
                    if self.on_ledger_lookup(id, &result) || self.on_records_lookup(id, &result) {
                        continue;
                    }
                    if let Some((reply, started)) = self.lookups.remove(&id) {
                        let outcome = match &result {
                            Ok(_) => LookupOutcome::Ok,
                            Err(LookupError::Timeout) => LookupOutcome::Timeout,
                            Err(_) => LookupOutcome::Failed,
                        };
                        let hops = result.as_ref().map(|r| r.hops).unwrap_or(0);
                        self.metrics.observe_lookup(outcome, hops, started.elapsed());
                        let _ = reply.send(result);
                    }
                }
                Output::Event(e) => self.on_chord_event(e),
            }
        }
    }

    fn send(&mut self, id: RequestId, to: NodeInfo, request: dhtr_protocol::Request) {
        let now = Instant::now();
        let peer = match PeerId::from_bytes(&to.peer.0) {
            Ok(p) if !self.banned.contains_key(&p) => p,
            _ => {
                self.chord.handle(now, Input::Failure { id });
                return;
            }
        };
        let kind = request.kind();
        let wire = Inbound::Request(WireRequest { sender_addrs: self.advertised_wire(), body: request });
        let rid = self.swarm.behaviour_mut().chord.send_request_with_addresses(&peer, wire, to_multiaddrs(&to.addrs));
        self.outbound.insert(rid, (id, kind));
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
                let id = self.chord.start_lookup(Instant::now(), key);
                self.lookups.insert(id, (reply, Instant::now()));
            }
            Command::Chain { chunk, from, limit, reply } => {
                let _ = reply.send(self.chain(chunk, from, limit));
            }
            Command::TestSubmit { name, reply } => self.test_submit(name, reply),
            Command::NetworkRead { name, rtype, history, reply } => self.network_read(name, rtype, history, reply),
            Command::Insert(tx) => self.insert(tx),
            Command::Expired(reply) => {
                let _ = reply.send(self.expired());
            }
            Command::Unused { name, rtype, reply } => {
                let period = self.settings.dns.unused_after;
                let _ = reply.send(self.rec.unused(&name, rtype, period));
            }
        }
    }

    fn status(&self) -> StatusReport {
        let me = self.chord.me();
        StatusReport {
            version: env!("CARGO_PKG_VERSION").to_string(),
            network: self.settings.network.to_string(),
            peer_id: self.swarm.local_peer_id().to_string(),
            ring_id: me.id.to_hex(),
            listen_addrs: self.listen_addrs.iter().map(|a| a.to_string()).collect(),
            external_addrs: self.advertised().iter().map(|a| a.to_string()).collect(),
            predecessor: self.chord.predecessor().map(report::peer_report),
            successors: self.chord.successors().iter().map(report::peer_report).collect(),
            fingers: self.chord.fingers().iter().map(report::peer_report).collect(),
            connected_peers: self.swarm.connected_peers().map(|p| p.to_string()).collect(),
            uptime_seconds: self.started.elapsed().as_secs_f64(),
            joined: self.joined,
            ledger: self.ledger_report(),
        }
    }

    // ---- swarm events --------------------------------------------------

    fn on_swarm_event(&mut self, ev: SwarmEvent<BehaviourEvent>) {
        self.p2p_metrics.record(&ev);
        match ev {
            SwarmEvent::Behaviour(BehaviourEvent::Chord(e)) => self.on_chord_message(e),
            SwarmEvent::Behaviour(BehaviourEvent::Ledger(e)) => self.on_ledger_message(e),
            SwarmEvent::Behaviour(BehaviourEvent::Records(e)) => self.on_records_message(e),
            SwarmEvent::Behaviour(BehaviourEvent::Identify(e)) => {
                self.p2p_metrics.record(&e);
                self.on_identify(e);
            }
            SwarmEvent::Behaviour(BehaviourEvent::Ping(e)) => self.p2p_metrics.record(&e),
            SwarmEvent::Behaviour(BehaviourEvent::Limits(_)) => {}
            SwarmEvent::NewListenAddr { address, .. } => {
                info!("listening on {address}/p2p/{}", self.swarm.local_peer_id());
                if !self.listen_addrs.contains(&address) {
                    self.listen_addrs.push(address);
                }
                self.chord.set_my_addrs(self.advertised_wire());
            }
            SwarmEvent::ExpiredListenAddr { address, .. } => {
                self.listen_addrs.retain(|a| a != &address);
                self.chord.set_my_addrs(self.advertised_wire());
            }
            SwarmEvent::ListenerError { error, .. } => warn!("listener error: {error}"),
            SwarmEvent::ListenerClosed { addresses, reason, .. } => {
                warn!(?addresses, "listener closed: {reason:?}");
            }
            SwarmEvent::ConnectionEstablished { peer_id, .. } => {
                if self.banned.contains_key(&peer_id) {
                    let _ = self.swarm.disconnect_peer_id(peer_id);
                }
                self.metrics.set_connected_peers(self.swarm.connected_peers().count());
            }
            SwarmEvent::ConnectionClosed { .. } => {
                self.metrics.set_connected_peers(self.swarm.connected_peers().count());
            }
            SwarmEvent::NewExternalAddrCandidate { address } => self.on_external_candidate(address),
            SwarmEvent::ExternalAddrConfirmed { address } => {
                info!("external address confirmed: {address}");
                self.chord.set_my_addrs(self.advertised_wire());
            }
            SwarmEvent::OutgoingConnectionError { peer_id, error, .. } => {
                debug!(?peer_id, "outgoing connection failed: {error}");
            }
            _ => {}
        }
    }

    fn on_identify(&mut self, e: identify::Event) {
        if let identify::Event::Received { peer_id, info, .. } = e {
            if info.protocol_version != identify_protocol(&self.settings) {
                warn!(peer = %peer_id, theirs = %info.protocol_version, "peer is on another network; disconnecting");
                let _ = self.swarm.disconnect_peer_id(peer_id);
                return;
            }
            if let Some(ip) = ip_of(&info.observed_addr) {
                self.observers.entry(ip).or_default().insert(peer_id);
            }
        }
    }

    /// Confirm an external address once enough distinct peers saw us at its
    /// IP (identify has already translated the port to our listen port).
    fn on_external_candidate(&mut self, address: Multiaddr) {
        let Some(ip) = ip_of(&address) else { return };
        let seen = self.observers.get(&ip).map_or(0, |s| s.len());
        if seen >= OBSERVERS_TO_CONFIRM && !self.swarm.external_addresses().any(|a| a == &address) {
            self.swarm.add_external_address(address);
        }
    }

    fn on_chord_message(&mut self, e: request_response::Event<Inbound, dhtr_protocol::Response>) {
        let now = Instant::now();
        match e {
            request_response::Event::Message { peer, message, .. } => match message {
                request_response::Message::Request { request, channel, .. } => {
                    // Dropping the channel unanswered closes the stream.
                    let request = match request {
                        _ if self.banned.contains_key(&peer) => return,
                        Inbound::Request(r) => r,
                        Inbound::Bad { reason, detail } => return self.penalise(peer, "chord", reason, &detail),
                    };
                    let kind = request.body.kind();
                    self.metrics.chord_request(Direction::In, kind);
                    let from = NodeInfo::new(PeerRef(peer.to_bytes()), request.sender_addrs);
                    self.store.record_seen(peer, &to_multiaddrs(&from.addrs), SystemTime::now());
                    let response = self.chord.handle_request(now, from, request.body);
                    let _ = self.swarm.behaviour_mut().chord.send_response(channel, response);
                }
                request_response::Message::Response { request_id, response } => {
                    if let Some((id, _)) = self.outbound.remove(&request_id) {
                        self.chord.handle(now, Input::Response { id, response });
                    }
                }
            },
            request_response::Event::OutboundFailure { peer, request_id, error, .. } => {
                if let Some((id, kind)) = self.outbound.remove(&request_id) {
                    self.metrics.chord_request_failure(kind);
                    self.chord.handle(now, Input::Failure { id });
                }
                match &error {
                    OutboundFailure::Io(e) if is_bad_message(e) => {
                        let reason = if e.to_string().contains("exceeds") { "oversized" } else { "undecodable" };
                        self.penalise(peer, "chord", reason, &e.to_string());
                    }
                    _ => debug!(%peer, "chord request failed: {error}"),
                }
            }
            request_response::Event::InboundFailure { peer, error, .. } => match &error {
                InboundFailure::Timeout => self.metrics.stream_dropped("chord", "timeout"),
                _ => debug!(%peer, "inbound chord request failed: {error}"),
            },
            request_response::Event::ResponseSent { .. } => {}
        }
    }

    /// A peer sent something undecodable or oversized: drop the stream,
    /// count it, disconnect the peer, and ban it after repeated offences.
    fn penalise(&mut self, peer: PeerId, protocol: &'static str, reason: &'static str, detail: &str) {
        warn!(%peer, "dropped a bad {protocol} message ({reason}): {detail}");
        self.metrics.peer_decode_error(protocol);
        self.metrics.stream_dropped(protocol, reason);
        self.metrics.peer_penalised();
        let strikes = self.strikes.entry(peer).or_insert(0);
        *strikes += 1;
        if *strikes >= STRIKES_BEFORE_BAN {
            warn!(%peer, "banning peer for {} s after {strikes} bad messages", BAN.as_secs());
            self.banned.insert(peer, Instant::now() + BAN);
            self.store.remove(&peer);
        }
        let _ = self.swarm.disconnect_peer_id(peer);
    }

    // ---- leaving -------------------------------------------------------

    async fn leave(&mut self) {
        info!("leaving the ring");
        self.chord.handle(Instant::now(), Input::Leave);
        self.drain();
        let deadline = tokio::time::Instant::now() + LEAVE_TIMEOUT;
        while !self.left {
            tokio::select! {
                ev = self.swarm.select_next_some() => self.on_swarm_event(ev),
                _ = tokio::time::sleep_until(deadline) => {
                    warn!("neighbours did not acknowledge the leave in time");
                    break;
                }
            }
            self.drain();
        }
    }
}

fn new_plan(settings: &Settings, store: &PeerStore, me: PeerId) -> JoinPlan {
    JoinPlan::new(
        settings.bootstrap.clone(),
        store.candidates(32),
        me,
        Backoff::new(Duration::from_secs(1), Duration::from_secs(60)),
    )
}

fn to_multiaddrs(addrs: &[Addr]) -> Vec<Multiaddr> {
    addrs.iter().filter_map(|a| Multiaddr::try_from(a.0.clone()).ok()).collect()
}

fn ip_of(addr: &Multiaddr) -> Option<IpAddr> {
    addr.iter().find_map(|p| match p {
        Protocol::Ip4(ip) => Some(IpAddr::V4(ip)),
        Protocol::Ip6(ip) => Some(IpAddr::V6(ip)),
        _ => None,
    })
}
