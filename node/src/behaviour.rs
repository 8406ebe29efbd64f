//! The libp2p side: one composed `NetworkBehaviour` (Chord and the ledger
//! over request-response, identify, ping, connection limits) and the Swarm
//! built on TCP + noise + yamux (dialing from fresh ports, see
//! [`crate::transport`]) and QUIC, with DNS for `/dns*` addresses.

use std::time::Duration;

use anyhow::{Context, Result};
use libp2p::core::upgrade;
use libp2p::identity::Keypair;
use libp2p::request_response::{self, ProtocolSupport};
use libp2p::swarm::NetworkBehaviour;
use libp2p::{StreamProtocol, Swarm, Transport, connection_limits, identify, noise, ping, tcp, yamux};
use prometheus_client::registry::Registry;

use dhtr_node_core::wire::{ChordWire, LedgerWire, RecordsWire};

use crate::codec::Codec;
use crate::config::Settings;
use crate::transport::FreshPorts;

/// Everything the node speaks over libp2p.
#[derive(NetworkBehaviour)]
pub struct Behaviour {
    /// Connection limits (total, per peer, pending).
    pub limits: connection_limits::Behaviour,
    /// Inbound connections per address prefix, banned prefixes.
    pub gate: crate::gate::Behaviour,
    /// Chord requests and responses (`/dhtr/<network>/chord/1`).
    pub chord: request_response::Behaviour<Codec<ChordWire>>,
    /// Ledger messages between committee members (`/dhtr/<network>/ledger/1`).
    pub ledger: request_response::Behaviour<Codec<LedgerWire>>,
    /// Network reads of committed RRsets (`/dhtr/<network>/records/1`).
    pub records: request_response::Behaviour<Codec<RecordsWire>>,
    /// Exchange of listen addresses, observed addresses and versions.
    pub identify: identify::Behaviour,
    /// Keep-alive and round-trip times.
    pub ping: ping::Behaviour,
}

/// The identify protocol version: carries the network name and the start
/// of its id (a hash over every network parameter, admission included), so
/// a peer of another network, or of the same name with other parameters, is
/// recognised and disconnected.
pub fn identify_protocol(settings: &Settings) -> String {
    format!("/dhtr/{}/{}/1", settings.network, &hex::encode(settings.admission.network.0)[..16])
}

/// Build the Swarm with the node's identity and settings; libp2p's own
/// metrics (bandwidth) are registered in `registry`.
pub fn build_swarm(key: Keypair, settings: &Settings, registry: &mut Registry) -> Result<Swarm<Behaviour>> {
    let chord_protocol = StreamProtocol::try_from_owned(settings.network.chord_protocol())
        .context("network name makes an invalid protocol string")?;
    let ledger_protocol = StreamProtocol::try_from_owned(settings.network.ledger_protocol())
        .context("network name makes an invalid protocol string")?;
    let records_protocol = StreamProtocol::try_from_owned(settings.network.records_protocol())
        .context("network name makes an invalid protocol string")?;
    let l = &settings.limits;
    let limits = connection_limits::ConnectionLimits::default()
        .with_max_established(Some(l.max_connections))
        // Slots a flood of inbound connections cannot take ([`crate::gate`]).
        .with_max_established_incoming(Some(l.max_connections - l.reserved_outbound))
        .with_max_established_per_peer(Some(l.max_connections_per_peer))
        .with_max_pending_incoming(Some(l.max_pending_incoming))
        .with_max_pending_outgoing(Some(l.max_pending_outgoing));
    // libp2p's own timeout is a backstop; the Chord core's RPC timer decides.
    let rr_timeout = settings.chord.rpc_timeout * u32::from(settings.chord.rpc_attempts) + Duration::from_secs(1);
    let identify_version = identify_protocol(settings);
    let denied = prometheus_client::metrics::family::Family::default();
    registry.register(
        "dhtr_connections_denied",
        "Inbound connections refused before their handshake: reason prefix_full (the address prefix holds its share) or prefix_banned",
        denied.clone(),
    );
    let gate = crate::gate::Behaviour::new(settings.inbound_per_prefix, denied);
    let idle = Duration::from_secs(l.idle_connection_timeout_secs);
    let swarm = libp2p::SwarmBuilder::with_existing_identity(key)
        .with_tokio()
        .with_quic()
        .with_other_transport(|key| {
            let noise = noise::Config::new(key).map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>)?;
            Ok(FreshPorts(tcp::tokio::Transport::new(tcp::Config::default().nodelay(true)))
                .upgrade(upgrade::Version::V1Lazy)
                .authenticate(noise)
                .multiplex(yamux::Config::default())
                .timeout(Duration::from_secs(20)))
        })
        .context("cannot set up the TCP transport")?
        .with_dns()
        .context("cannot set up DNS resolution for /dns addresses")?
        .with_bandwidth_metrics(registry)
        .with_behaviour(|key| Behaviour {
            limits: connection_limits::Behaviour::new(limits),
            gate,
            chord: request_response::Behaviour::with_codec(
                Codec::default(),
                [(chord_protocol, ProtocolSupport::Full)],
                request_response::Config::default().with_request_timeout(rr_timeout).with_max_concurrent_streams(64),
            ),
            ledger: request_response::Behaviour::with_codec(
                Codec::default(),
                [(ledger_protocol, ProtocolSupport::Full)],
                request_response::Config::default()
                    .with_request_timeout(Duration::from_secs(10))
                    .with_max_concurrent_streams(256),
            ),
            records: request_response::Behaviour::with_codec(
                Codec::default(),
                [(records_protocol, ProtocolSupport::Full)],
                request_response::Config::default()
                    .with_request_timeout(Duration::from_secs(3))
                    .with_max_concurrent_streams(256),
            ),
            identify: identify::Behaviour::new(
                identify::Config::new(identify_version, key.public())
                    .with_agent_version(format!("dhtr/{}", env!("CARGO_PKG_VERSION"))),
            ),
            ping: ping::Behaviour::new(ping::Config::new()),
        })
        .context("cannot build the libp2p behaviour")?
        .with_swarm_config(|c| c.with_idle_connection_timeout(idle))
        .build();
    Ok(swarm)
}
