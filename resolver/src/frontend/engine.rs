//! The query path shared by UDP and TCP: rate limit, parse and check, answer
//! from the cache inline (no task, no lock held across an await), and on a
//! miss start one resolution per question that every concurrent asker of
//! the same question waits on (coalescing).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use hickory_proto::op::ResponseCode;
use tokio::net::UdpSocket;
use tokio::sync::{OwnedSemaphorePermit, mpsc, watch};

use super::config::FrontendConfig;
use super::ratelimit::{RateLimiter, Verdict};
use super::response::{Response, failure_response, rcode_response, resolution_response, truncated_response};
use super::wire::{Parsed, Request, parse};
use super::{DropReason, Handler, Observer, Transport};
use crate::answer::{Question, ResolveError, Source};
use crate::cache::AnswerCache;

/// The largest DNS message over TCP (the 2-byte length prefix, RFC 1035 §4.2.2).
const TCP_LIMIT: usize = 65_535;

/// Where a response goes.
pub(crate) enum Reply {
    /// Back to a UDP client.
    Udp {
        /// The socket the query came in on.
        socket: Arc<UdpSocket>,
        /// The client.
        peer: SocketAddr,
    },
    /// To a TCP connection's writer, with the pipelining slot the query holds
    /// until its response is written (RFC 7766 §6.2.1.1).
    Tcp {
        /// The connection's writer.
        tx: mpsc::Sender<(Vec<u8>, OwnedSemaphorePermit)>,
        /// The query's slot.
        permit: OwnedSemaphorePermit,
    },
}

impl Reply {
    fn transport(&self) -> Transport {
        match self {
            Reply::Udp { .. } => Transport::Udp,
            Reply::Tcp { .. } => Transport::Tcp,
        }
    }

    /// The largest response `req` may get on this transport.
    fn limit(&self, req: &Request, our_payload: u16) -> usize {
        match self {
            Reply::Udp { .. } => req.udp_limit(our_payload),
            Reply::Tcp { .. } => TCP_LIMIT,
        }
    }

    /// Sends `bytes`; never waits on a slow TCP client (its writer has room
    /// for every query it has in flight).
    async fn send(self, bytes: Vec<u8>) {
        match self {
            Reply::Udp { socket, peer } => {
                if let Err(e) = socket.send_to(&bytes, peer).await {
                    tracing::debug!(%peer, error = %e, "cannot send a DNS response");
                }
            }
            Reply::Tcp { tx, permit } => {
                let _ = tx.try_send((bytes, permit));
            }
        }
    }
}

/// A client waiting for a question being resolved.
struct Waiter {
    req: Request,
    reply: Reply,
    started: Instant,
}

/// The state every listener shares.
pub(crate) struct Engine<H, O> {
    pub(crate) cfg: FrontendConfig,
    pub(crate) observer: Arc<O>,
    cache: AnswerCache,
    limiter: RateLimiter,
    inflight: Mutex<HashMap<Question, Vec<Waiter>>>,
    handler: H,
    shutdown: watch::Receiver<bool>,
}

impl<H: Handler, O: Observer> Engine<H, O> {
    pub(crate) fn new(
        cfg: FrontendConfig,
        cache: AnswerCache,
        handler: H,
        observer: Arc<O>,
        shutdown: watch::Receiver<bool>,
    ) -> Engine<H, O> {
        let limiter = RateLimiter::new(cfg.rate.clone());
        Engine { cfg, observer, cache, limiter, inflight: Mutex::new(HashMap::new()), handler, shutdown }
    }

    /// Handles one query packet from `peer`: answered here if it can be,
    /// else handed to a resolution.
    pub(crate) async fn query(self: &Arc<Self>, packet: &[u8], peer: SocketAddr, reply: Reply) {
        let started = Instant::now();
        let payload = self.cfg.udp_payload;
        let verdict = self.limiter.check(peer.ip(), started);
        if verdict != Verdict::Allow {
            return self.limited(verdict, packet, reply, started).await;
        }
        let req = match parse(packet, self.cfg.allows(peer.ip()), payload) {
            Parsed::Query(req) => req,
            Parsed::Reply(resp) => return self.send(reply, resp, None, started).await,
            Parsed::Drop(reason) => return self.observer.dropped(reason),
        };
        if let Some(res) = self.cache.get(&req.question, started) {
            let resp = resolution_response(&req, &res, false, reply.limit(&req, payload), payload);
            return self.send(reply, resp, Some(Source::Cache), started).await;
        }
        self.miss(Waiter { req, reply, started });
    }

    /// Over the rate limit: on UDP drop, or "slip" an empty truncated
    /// response so a real client retries over TCP (BIND RRL's SLIP); on TCP
    /// (the client's address is proven, nothing is amplified) REFUSED.
    async fn limited(&self, verdict: Verdict, packet: &[u8], reply: Reply, started: Instant) {
        let payload = self.cfg.udp_payload;
        let req = match parse(packet, true, payload) {
            Parsed::Query(req) => req,
            _ => return self.observer.dropped(DropReason::RateLimited),
        };
        match (reply.transport(), verdict) {
            (Transport::Udp, Verdict::Slip) => {
                self.observer.dropped(DropReason::RateLimited);
                reply.send(truncated_response(&req, payload).bytes).await;
            }
            (Transport::Udp, _) => self.observer.dropped(DropReason::RateLimited),
            (Transport::Tcp, _) => {
                let resp = rcode_response(&req, ResponseCode::Refused, payload);
                self.send(reply, resp, None, started).await;
            }
        }
    }

    /// Sends `resp` and tells the observer.
    async fn send(&self, reply: Reply, resp: Response, source: Option<Source>, started: Instant) {
        if resp.bytes.is_empty() {
            return self.observer.dropped(DropReason::Unencodable);
        }
        let transport = reply.transport();
        reply.send(resp.bytes).await;
        self.observer.answered(source, resp.rcode, transport, started.elapsed());
    }

    /// A cache miss: join the resolution of the same question, or start one.
    fn miss(self: &Arc<Self>, waiter: Waiter) {
        let key = waiter.req.question.key();
        {
            let Ok(mut inflight) = self.inflight.lock() else { return self.observer.dropped(DropReason::Overloaded) };
            if let Some(waiters) = inflight.get_mut(&key) {
                if waiters.len() < self.cfg.max_waiters {
                    return waiters.push(waiter);
                }
            } else if inflight.len() < self.cfg.max_inflight {
                inflight.insert(key.clone(), vec![waiter]);
                let engine = Arc::clone(self);
                tokio::spawn(async move { engine.resolve(key).await });
                return;
            }
        }
        self.observer.dropped(DropReason::Overloaded);
    }

    /// Resolves `key` with the handler (bounded by the resolve timeout),
    /// caches the outcome, and answers everyone waiting for it. A failure is
    /// answered from a stale entry when there is one (RFC 8767 §4).
    async fn resolve(self: Arc<Self>, key: Question) {
        let mut guard = Unregister { engine: &self, key: &key, armed: true };
        let handler = self.handler.clone();
        let mut shutdown = self.shutdown.clone();
        let resolved = tokio::select! {
            r = tokio::time::timeout(self.cfg.resolve_timeout, handler.resolve(key.clone())) => r,
            _ = shutdown.wait_for(|stop| *stop) => return,
        };
        let outcome = resolved.unwrap_or_else(|_| Err(ResolveError::Timeout { zone: key.name.to_string() }));
        let now = Instant::now();
        let outcome = match outcome {
            Ok((res, source)) => {
                if source != Source::Stale {
                    self.cache.insert(&key, &res, now);
                }
                Ok((res, source))
            }
            Err(err) => match self.cfg.serve_stale.then(|| self.cache.get_stale(&key, now)).flatten() {
                Some(stale) => Ok((stale, Source::Stale)),
                None => Err(err),
            },
        };
        let waiters = guard.take();
        let payload = self.cfg.udp_payload;
        for w in waiters {
            let (resp, source) = match &outcome {
                Ok((res, source)) => {
                    let limit = w.reply.limit(&w.req, payload);
                    (resolution_response(&w.req, res, *source == Source::Stale, limit, payload), Some(*source))
                }
                Err(err) => (failure_response(&w.req, err, payload), None),
            };
            self.send(w.reply, resp, source, w.started).await;
        }
    }
}

/// Removes a question's waiters from the in-flight table when its
/// resolution ends in any way, so a panicking or cancelled resolution never
/// leaves a question stuck.
struct Unregister<'a, H, O> {
    engine: &'a Engine<H, O>,
    key: &'a Question,
    armed: bool,
}

impl<H, O> Unregister<'_, H, O> {
    fn take(&mut self) -> Vec<Waiter> {
        self.armed = false;
        self.engine.inflight.lock().map(|mut m| m.remove(self.key).unwrap_or_default()).unwrap_or_default()
    }
}

impl<H, O> Drop for Unregister<'_, H, O> {
    fn drop(&mut self) {
        if self.armed {
            drop(self.take());
        }
    }
}
