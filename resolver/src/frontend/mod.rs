//! The DNS front end stub resolvers talk to: UDP and TCP listeners on
//! configurable addresses, an ACL (loopback only by default), per-client
//! rate limiting, the answer cache on the hot path, and a [`Handler`] (the
//! node's resolution pipeline) for everything the cache does not have.
//!
//! - [`config`]: settings and defaults.
//! - `wire` / `response`: checking queries and building responses
//!   (RFC 1035, 6891, 2308, 8914).
//! - `engine`: the query path shared by both transports, with coalescing
//!   of concurrent misses and serve-stale (RFC 8767).
//! - `udp` / `tcp`: the listeners (RFC 7766 for TCP).
//! - `ratelimit`: token buckets per client prefix.

pub mod config;
mod engine;
mod ratelimit;
mod response;
mod tcp;
mod udp;
mod wire;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::op::ResponseCode;
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::watch;
use tokio::task::JoinSet;

pub use self::config::{DEFAULT_PORT, FrontendConfig, RateLimit};
use self::engine::Engine;
use crate::answer::{Question, Resolution, ResolveError, Source};
use crate::cache::AnswerCache;

/// What answers a question the cache did not have.
pub trait Handler: Clone + Send + Sync + 'static {
    /// Resolves `q` (its name case-folded, see [`Question::key`]); the front
    /// end caches the outcome unless its source is [`Source::Stale`].
    fn resolve(&self, q: Question) -> impl Future<Output = Result<(Resolution, Source), ResolveError>> + Send;
}

/// Told about every query, for metrics (the node maps it to Prometheus).
pub trait Observer: Send + Sync + 'static {
    /// A response was sent: where its answer came from (`None` for error
    /// RCODEs decided by the front end itself and for failed resolutions),
    /// its RCODE, the transport and the time since the query arrived.
    fn answered(&self, source: Option<Source>, rcode: ResponseCode, transport: Transport, elapsed: Duration);
    /// A query got no response, for this reason.
    fn dropped(&self, reason: DropReason);
}

/// Why a query got no response.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// The client is over its rate limit (on UDP; a slipped truncated
    /// response counts here too).
    RateLimited,
    /// Not even a DNS header.
    Unparseable,
    /// A response, not a query (answering responses invites loops).
    Response,
    /// A TCP message longer than the front end accepts.
    Oversized,
    /// Too many questions being resolved, or too many clients waiting for one.
    Overloaded,
    /// Too many TCP connections.
    TcpConnections,
    /// The response could not be encoded.
    Unencodable,
}

impl DropReason {
    /// The metric label value.
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::RateLimited => "rate_limited",
            DropReason::Unparseable => "unparseable",
            DropReason::Response => "response",
            DropReason::Oversized => "oversized",
            DropReason::Overloaded => "overloaded",
            DropReason::TcpConnections => "tcp_connections",
            DropReason::Unencodable => "unencodable",
        }
    }
}

/// The transport a query came over.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Transport {
    /// DNS over UDP.
    Udp,
    /// DNS over TCP.
    Tcp,
}

impl Transport {
    /// The metric label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
        }
    }
}

/// Why the front end could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum FrontendError {
    /// A listen address could not be bound.
    #[error("cannot listen for DNS on {addr} ({transport}): {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// "udp" or "tcp".
        transport: &'static str,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The configuration lists no address to listen on.
    #[error("no DNS listen address configured")]
    NoListeners,
    /// A listener task failed.
    #[error("a DNS listener failed: {0}")]
    Listener(String),
}

/// The bound front end, ready to [`serve`](Frontend::serve).
#[derive(Debug)]
pub struct Frontend {
    cfg: FrontendConfig,
    cache: AnswerCache,
    udp: Vec<UdpSocket>,
    tcp: Vec<TcpListener>,
}

impl Frontend {
    /// Bind every listener, UDP and TCP on each address (errors name the
    /// address: "cannot listen for DNS on 127.0.0.1:53 (udp): Address in
    /// use"). With port 0 both transports get the same free port.
    pub async fn bind(cfg: FrontendConfig) -> Result<Frontend, FrontendError> {
        if cfg.listen.is_empty() {
            return Err(FrontendError::NoListeners);
        }
        let (mut udp, mut tcp) = (Vec::new(), Vec::new());
        for &addr in &cfg.listen {
            let (u, t) = bind_pair(addr).await?;
            tracing::info!(addr = %u.local_addr().map_or(addr, |a| a), "DNS listening (udp, tcp)");
            udp.push(u);
            tcp.push(t);
        }
        let cache = AnswerCache::new(cfg.cache.clone());
        Ok(Frontend { cfg, cache, udp, tcp })
    }

    /// The bound addresses (the same port for UDP and TCP).
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.udp.iter().filter_map(|s| s.local_addr().ok()).collect()
    }

    /// The answer cache (shared: the node may read, fill or flush it).
    pub fn cache(&self) -> AnswerCache {
        self.cache.clone()
    }

    /// Serve until `shutdown` completes.
    pub async fn serve<H: Handler, O: Observer>(
        self,
        handler: H,
        observer: Arc<O>,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), FrontendError> {
        let (stop, stopped) = watch::channel(false);
        let workers = self.cfg.udp_workers.max(1);
        let engine = Arc::new(Engine::new(self.cfg, self.cache, handler, observer, stopped));
        let mut tasks = JoinSet::new();
        for socket in self.udp {
            let socket = Arc::new(socket);
            for _ in 0..workers {
                tasks.spawn(udp::serve(Arc::clone(&engine), Arc::clone(&socket)));
            }
        }
        for listener in self.tcp {
            tasks.spawn(tcp::serve(Arc::clone(&engine), listener));
        }
        let result = tokio::select! {
            () = shutdown => Ok(()),
            Some(ended) = tasks.join_next() => Err(FrontendError::Listener(match ended {
                Ok(()) => "ended".to_owned(),
                Err(e) => e.to_string(),
            })),
        };
        let _ = stop.send(true);
        tasks.shutdown().await;
        result
    }
}

/// Binds UDP and TCP on `addr`; with port 0, retries until both get the same port.
async fn bind_pair(addr: SocketAddr) -> Result<(UdpSocket, TcpListener), FrontendError> {
    let mut attempts = 0;
    loop {
        let udp =
            UdpSocket::bind(addr).await.map_err(|source| FrontendError::Bind { addr, transport: "udp", source })?;
        let bound = udp.local_addr().map_err(|source| FrontendError::Bind { addr, transport: "udp", source })?;
        match TcpListener::bind(bound).await {
            Ok(tcp) => return Ok((udp, tcp)),
            Err(e) if addr.port() == 0 && attempts < 16 => {
                tracing::debug!(%bound, error = %e, "TCP port taken; trying another");
                attempts += 1;
            }
            Err(source) => return Err(FrontendError::Bind { addr: bound, transport: "tcp", source }),
        }
    }
}
