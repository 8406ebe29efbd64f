//! Libp2p events as node-core inputs: requests and responses of the three
//! peer protocols, bad messages (counted against their senders), identify
//! (network check, observed addresses), listen and external addresses.

use std::time::{Instant, SystemTime};

use dhtr_monitoring::Direction;
use dhtr_node_core::wire::Refused;
use dhtr_node_core::{BadMessage, Input, Protocol};
use dhtr_protocol::{NodeInfo, PeerRef, Prefix, Ticket, WireResponse};
use libp2p::metrics::Recorder;
use libp2p::request_response::{self, InboundFailure, Message, OutboundFailure};
use libp2p::swarm::{ConnectionId, SwarmEvent};
use libp2p::{Multiaddr, PeerId, identify};
use tracing::{debug, info, warn};

use super::Driver;
use super::joining::to_multiaddrs;
use crate::behaviour::{BehaviourEvent, identify_protocol};
use crate::codec::{Inbound, is_bad_message};

/// Distinct peers that must observe the same IP before an external address
/// candidate on it is confirmed.
const OBSERVERS_TO_CONFIRM: usize = 2;
/// Most observed IPs remembered.
const MAX_OBSERVED: usize = 4096;

type ChordEvent = request_response::Event<Inbound<dhtr_protocol::WireRequest>, dhtr_protocol::WireResponse>;
type LedgerEvent = request_response::Event<Inbound<dhtr_ledger::msg::Message>, ()>;
type RecordsEvent =
    request_response::Event<Inbound<dhtr_node_core::records::RecordsRequest>, dhtr_node_core::records::RecordsResponse>;

impl Driver {
    pub(super) fn on_swarm_event(&mut self, ev: SwarmEvent<BehaviourEvent>) {
        self.p2p_metrics.record(&ev);
        match ev {
            SwarmEvent::Behaviour(BehaviourEvent::Chord(e)) => self.on_chord(e),
            SwarmEvent::Behaviour(BehaviourEvent::Ledger(e)) => self.on_ledger(e),
            SwarmEvent::Behaviour(BehaviourEvent::Records(e)) => self.on_records(e),
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
                self.core.set_my_addrs(self.advertised_wire());
            }
            SwarmEvent::ExpiredListenAddr { address, .. } => {
                self.listen_addrs.retain(|a| a != &address);
                self.core.set_my_addrs(self.advertised_wire());
            }
            SwarmEvent::ListenerError { error, .. } => warn!("listener error: {error}"),
            SwarmEvent::ListenerClosed { addresses, reason, .. } => {
                warn!(?addresses, "listener closed: {reason:?}");
            }
            SwarmEvent::ConnectionEstablished { peer_id, connection_id, endpoint, .. } => {
                if let Some(ip) = crate::gate::ip_of(endpoint.get_remote_address()) {
                    self.remote_ips.insert(connection_id, ip);
                }
                if self.core.is_banned(Instant::now(), &PeerRef(peer_id.to_bytes())) {
                    let _ = self.swarm.disconnect_peer_id(peer_id);
                }
                self.metrics.set_connected_peers(self.swarm.connected_peers().count());
            }
            SwarmEvent::ConnectionClosed { connection_id, .. } => {
                self.remote_ips.remove(&connection_id);
                self.metrics.set_connected_peers(self.swarm.connected_peers().count());
            }
            SwarmEvent::NewExternalAddrCandidate { address } => self.on_external_candidate(address),
            SwarmEvent::ExternalAddrConfirmed { address } => {
                info!("external address confirmed: {address}");
                self.core.set_my_addrs(self.advertised_wire());
            }
            SwarmEvent::OutgoingConnectionError { peer_id, error, .. } => {
                debug!(?peer_id, "outgoing connection failed: {error}");
            }
            _ => {}
        }
    }

    /// `peer` was banned: it counts against its address prefix, which
    /// [`crate::gate::PREFIX_BAN_PEERS`] banned peers ban as a whole; the
    /// prefix's open connections are closed.
    pub(super) fn prefix_strike(&mut self, peer: &PeerId) {
        for prefix in self.swarm.behaviour_mut().gate.gate.peer_banned(Instant::now(), peer) {
            warn!(
                %prefix,
                "banning address prefix {prefix} for {} s: {} of its peers were banned",
                crate::gate::BAN.as_secs(),
                crate::gate::PREFIX_BAN_PEERS
            );
            for p in self.swarm.behaviour().gate.gate.peers_of(prefix) {
                let _ = self.swarm.disconnect_peer_id(p);
            }
        }
    }

    fn banned(&self, peer: &PeerId) -> bool {
        self.core.is_banned(Instant::now(), &PeerRef(peer.to_bytes()))
    }

    /// A peer sent something that is not a message of `protocol`: the
    /// stream is dropped, and the core counts it against the peer.
    fn misbehaved(&mut self, peer: PeerId, protocol: Protocol, refused: Refused) {
        debug!(%peer, "bad {} message: {}", protocol.as_str(), refused.detail);
        self.input(Input::Misbehaved { peer: PeerRef(peer.to_bytes()), protocol, bad: refused.bad });
    }

    /// An outbound request failed; a bad response counts against the peer.
    fn outbound_failed(&mut self, peer: PeerId, protocol: Protocol, error: &OutboundFailure) {
        match error {
            OutboundFailure::Io(e) if is_bad_message(e) => {
                let bad =
                    if e.to_string().contains("exceeds") { BadMessage::Oversized } else { BadMessage::Undecodable };
                self.misbehaved(peer, protocol, Refused { bad, detail: e.to_string() });
            }
            _ => debug!(%peer, "{} request failed: {error}", protocol.as_str()),
        }
    }

    /// An inbound request's payload, unless the peer is banned (dropped) or
    /// sent something that is not a message (dropped and counted against it).
    fn accept<R>(&mut self, peer: PeerId, protocol: Protocol, request: Inbound<R>) -> Option<R> {
        match request {
            _ if self.banned(&peer) => None,
            Inbound::Request(r) => Some(r),
            Inbound::Bad(refused) => {
                self.misbehaved(peer, protocol, refused);
                None
            }
        }
    }

    fn inbound_failed(&mut self, peer: PeerId, protocol: Protocol, error: &InboundFailure) {
        match error {
            InboundFailure::Timeout => self.metrics.stream_dropped(protocol.as_str(), "timeout"),
            _ => debug!(%peer, "inbound {} request failed: {error}", protocol.as_str()),
        }
    }

    fn on_chord(&mut self, e: ChordEvent) {
        match e {
            request_response::Event::Message { peer, connection_id, message } => match message {
                // Dropping the channel unanswered closes the stream.
                Message::Request { request, channel, .. } => {
                    let Some(request) = self.accept(peer, Protocol::Chord, request) else { return };
                    self.metrics.chord_request(Direction::In, request.body.kind());
                    if !self.reached_from(connection_id, &request.sender_ticket) {
                        self.misbehaved(peer, Protocol::Chord, unadmitted_prefix(&request.sender_ticket));
                        return;
                    }
                    let cert = request.sender_cert.map(std::sync::Arc::new);
                    let from = NodeInfo::certified(
                        PeerRef(peer.to_bytes()),
                        request.sender_ticket,
                        cert,
                        request.sender_addrs,
                    );
                    let addrs = to_multiaddrs(&from.addrs);
                    // Only an admitted peer is answered, and only it is remembered.
                    if let Some(response) = self.core.handle_chord_request(Instant::now(), from, request.body) {
                        self.joining.store.record_seen(peer, &addrs, SystemTime::now());
                        let _ = self.swarm.behaviour_mut().chord.send_response(channel, response);
                    }
                    self.drain();
                }
                Message::Response { request_id, response } => {
                    let Some((id, _)) = self.chord_out.remove(&request_id) else { return };
                    if !self.reached_from(connection_id, &response.responder_ticket) {
                        self.input(Input::ChordFailure { id });
                        self.misbehaved(peer, Protocol::Chord, unadmitted_prefix(&response.responder_ticket));
                        return;
                    }
                    let WireResponse { responder_ticket: responder, responder_cert, body: response } = response;
                    self.input(Input::ChordResponse { id, responder, responder_cert, response });
                }
            },
            request_response::Event::OutboundFailure { peer, request_id, error, .. } => {
                if let Some((id, kind)) = self.chord_out.remove(&request_id) {
                    self.metrics.chord_request_failure(kind);
                    self.input(Input::ChordFailure { id });
                }
                self.outbound_failed(peer, Protocol::Chord, &error);
            }
            request_response::Event::InboundFailure { peer, error, .. } => {
                self.inbound_failed(peer, Protocol::Chord, &error)
            }
            request_response::Event::ResponseSent { .. } => {}
        }
    }

    fn on_ledger(&mut self, e: LedgerEvent) {
        match e {
            request_response::Event::Message { peer, message: Message::Request { request, channel, .. }, .. } => {
                let Some(msg) = self.accept(peer, Protocol::Ledger, request) else { return };
                let _ = self.swarm.behaviour_mut().ledger.send_response(channel, ());
                self.metrics.ledger.message(Direction::In, msg.body.kind());
                self.input(Input::Ledger { from: PeerRef(peer.to_bytes()), msg });
            }
            request_response::Event::Message { .. } | request_response::Event::ResponseSent { .. } => {}
            request_response::Event::OutboundFailure { peer, error, .. } => {
                debug!(%peer, "ledger message not delivered: {error}");
            }
            request_response::Event::InboundFailure { peer, error, .. } => {
                self.inbound_failed(peer, Protocol::Ledger, &error)
            }
        }
    }

    fn on_records(&mut self, e: RecordsEvent) {
        match e {
            request_response::Event::Message { peer, message, .. } => match message {
                Message::Request { request, channel, .. } => {
                    let Some(request) = self.accept(peer, Protocol::Records, request) else { return };
                    let from = PeerRef(peer.to_bytes());
                    if let Some(response) = self.core.handle_records_request(Instant::now(), &from, &request) {
                        let _ = self.swarm.behaviour_mut().records.send_response(channel, response);
                    }
                    // A reader refused admission is struck and disconnected.
                    self.drain();
                }
                Message::Response { request_id, response } => {
                    if let Some(id) = self.records_out.remove(&request_id) {
                        self.input(Input::RecordsResponse { id, response: Some(response) });
                    }
                }
            },
            request_response::Event::OutboundFailure { request_id, peer, error, .. } => {
                if let Some(id) = self.records_out.remove(&request_id) {
                    self.input(Input::RecordsResponse { id, response: None });
                }
                self.outbound_failed(peer, Protocol::Records, &error);
            }
            request_response::Event::InboundFailure { peer, error, .. } => {
                self.inbound_failed(peer, Protocol::Records, &error)
            }
            request_response::Event::ResponseSent { .. } => {}
        }
    }

    fn on_identify(&mut self, e: identify::Event) {
        if let identify::Event::Received { peer_id, info, .. } = e {
            if info.protocol_version != identify_protocol(&self.settings) {
                warn!(peer = %peer_id, theirs = %info.protocol_version, "peer is on another network; disconnecting");
                let _ = self.swarm.disconnect_peer_id(peer_id);
                return;
            }
            if let Some(ip) = crate::gate::ip_of(&info.observed_addr) {
                if self.observers.len() >= MAX_OBSERVED && !self.observers.contains_key(&ip) {
                    self.observers.clear();
                }
                self.observers.entry(ip).or_default().insert(peer_id);
            }
        }
    }

    /// Confirm an external address once enough distinct peers saw us at its
    /// IP (identify has already translated the port to our listen port).
    fn on_external_candidate(&mut self, address: Multiaddr) {
        let Some(ip) = crate::gate::ip_of(&address) else { return };
        let seen = self.observers.get(&ip).map_or(0, |s| s.len());
        if seen >= OBSERVERS_TO_CONFIRM && !self.swarm.external_addresses().any(|a| a == &address) {
            self.swarm.add_external_address(address);
        }
    }
}

impl Driver {
    /// Is a ticket's prefix the one the connection comes from (issue 9: a
    /// position is bound to the address a node is reached at)? A connection
    /// without an IP address (none today) is not checked.
    fn reached_from(&self, connection: ConnectionId, ticket: &Ticket) -> bool {
        self.remote_ips.get(&connection).is_none_or(|ip| Prefix::of(*ip) == ticket.prefix)
    }
}

/// The strike for a ticket bound to another prefix than its connection's.
fn unadmitted_prefix(ticket: &Ticket) -> Refused {
    Refused {
        bad: BadMessage::Unadmitted(dhtr_protocol::Unadmitted::Prefix),
        detail: format!("ticket bound to {}, not the connection's prefix", ticket.prefix),
    }
}
