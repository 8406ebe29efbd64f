//! The sans-IO core of the iterative resolver (RFC 1034 §5.3.3): a task
//! that, given the time and the replies, says which query to send where and
//! when to give up on it, until it has the resolution. It does no I/O and
//! reads no clock: the driver (or a test) feeds it `now`, replies and
//! timeouts, so every path can be run with scripted replies.
//!
//! One query is in flight at a time. A task keeps a stack of goals: the
//! client's question at the bottom, above it lookups of glueless name
//! servers' addresses (bounded in number and depth).

mod goal;
mod reply;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use hickory_proto::rr::{DNSClass, RecordType};
use rand::Rng;
use rand::rngs::StdRng;

use super::{Shared, lock};
use crate::answer::{Question, Resolution, ResolveError};
use crate::iterative::classify::in_bailiwick;
use crate::iterative::servers::Fail;
use crate::iterative::wire;
use goal::{Goal, Purpose};

/// A query for the driver to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Request {
    /// The server.
    pub to: SocketAddr,
    /// Over TCP (after a truncated UDP reply) rather than UDP.
    pub tcp: bool,
    /// The encoded query.
    pub bytes: Vec<u8>,
    /// When to give up waiting and report [`Failure::Timeout`].
    pub timeout_at: Instant,
}

/// What the task wants next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// Send this and report the reply or the failure.
    Send(Request),
    /// Finished (boxed: a resolution is much larger than a request).
    Done(Box<Result<Resolution, ResolveError>>),
}

impl Step {
    fn done(result: Result<Resolution, ResolveError>) -> Step {
        Step::Done(Box::new(result))
    }
}

/// Why no reply came for the request in flight.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Failure {
    /// Nothing (acceptable) arrived by `timeout_at`.
    Timeout,
    /// Sending or receiving failed (unreachable, connection refused, reset, ...).
    Io(String),
}

/// The query in flight.
#[derive(Clone, Debug)]
struct Inflight {
    to: SocketAddr,
    id: u16,
    tcp: bool,
    edns: bool,
    sent_at: Instant,
}

/// One resolution.
pub(crate) struct Task {
    shared: Arc<Shared>,
    rng: StdRng,
    goals: Vec<Goal>,
    inflight: Option<Inflight>,
    queries: usize,
    deadline: Instant,
}

impl Task {
    /// A task for `q` (class IN only), started at `now`; `rng` draws query IDs
    /// and breaks ties between servers.
    pub(crate) fn new(shared: Arc<Shared>, q: &Question, now: Instant, rng: StdRng) -> Result<Task, ResolveError> {
        if q.qclass != DNSClass::IN {
            return Err(ResolveError::NotSupported(format!("class {}", q.qclass)));
        }
        if matches!(q.qtype, RecordType::AXFR | RecordType::IXFR | RecordType::OPT) {
            return Err(ResolveError::NotSupported(format!("type {}", q.qtype)));
        }
        let key = q.key();
        let goal = Goal::new(key.name, key.qtype, Purpose::Main, &lock(&shared.cache), now);
        let deadline = now.checked_add(shared.cfg.deadline).unwrap_or(now);
        Ok(Task { shared, rng, goals: vec![goal], inflight: None, queries: 0, deadline })
    }

    /// Upstream queries sent so far.
    pub(crate) fn queries(&self) -> usize {
        self.queries
    }

    /// The first step.
    pub(crate) fn start(&mut self, now: Instant) -> Step {
        self.next_step(now)
    }

    /// A message arrived from `from` for the request in flight. None: not
    /// the reply (wrong source, ID or question): keep waiting for it until
    /// the request's `timeout_at`.
    pub(crate) fn on_reply(&mut self, now: Instant, from: SocketAddr, bytes: &[u8]) -> Option<Step> {
        let inflight = self.inflight.clone()?;
        let goal = self.goals.last()?;
        let expect = wire::Expect { to: inflight.to, id: inflight.id, name: &goal.qname, qtype: goal.qtype };
        match wire::check_reply(&expect, from, bytes) {
            wire::Checked::Ignore(why) => {
                tracing::debug!(%from, why, "ignored a datagram");
                None
            }
            wire::Checked::Malformed(reason) => {
                self.inflight = None;
                self.server_failed(inflight.to, Fail::Error(reason));
                Some(self.next_step(now))
            }
            wire::Checked::Reply(msg) => {
                self.inflight = None;
                lock(&self.shared.stats).replied(inflight.to, now.saturating_duration_since(inflight.sent_at), now);
                Some(self.handle_reply(now, &inflight, &msg).unwrap_or_else(|| self.next_step(now)))
            }
        }
    }

    /// The request in flight failed.
    pub(crate) fn on_failure(&mut self, now: Instant, failure: Failure) -> Step {
        if let Some(inflight) = self.inflight.take() {
            lock(&self.shared.stats).timed_out(inflight.to, self.shared.cfg.try_timeout, now);
            let fail = match failure {
                Failure::Timeout => Fail::Timeout,
                Failure::Io(e) => Fail::Error(e),
            };
            tracing::debug!(to = %inflight.to, tcp = inflight.tcp, ?fail, "query failed");
            self.server_failed(inflight.to, fail);
        }
        self.next_step(now)
    }

    fn server_failed(&mut self, addr: SocketAddr, fail: Fail) {
        if let Some(goal) = self.goals.last_mut() {
            goal.cut.servers.failed(addr, fail);
        }
    }

    /// RFC 1034 §5.3.3 step 3: send to the best server of the current cut;
    /// if none is left, look up a glueless name server's address; if that
    /// is impossible too, the goal fails.
    fn next_step(&mut self, now: Instant) -> Step {
        loop {
            let cfg = &self.shared.cfg;
            let Some(goal) = self.goals.last_mut() else {
                return Step::done(Err(ResolveError::Budget("nothing left to resolve".to_string())));
            };
            if now >= self.deadline {
                let zone = goal.cut.zone.to_string();
                tracing::debug!(%zone, "resolution deadline passed");
                return Step::done(Err(ResolveError::Timeout { zone }));
            }
            if self.queries >= cfg.max_queries {
                return Step::done(Err(ResolveError::Budget(format!("{} upstream queries", cfg.max_queries))));
            }
            let pick = goal.cut.servers.pick(&lock(&self.shared.stats), cfg.tries_per_server, &mut self.rng);
            if let Some(addr) = pick {
                return self.send(now, addr, false, true);
            }
            if let Some(ns) = self.next_glueless() {
                let goal = Goal::new(ns.clone(), RecordType::A, Purpose::NsAddr { ns }, &lock(&self.shared.cache), now);
                self.goals.push(goal);
                continue;
            }
            // The cut is used up: this goal fails (the loop's start handles an empty stack).
            let Some(error) = self.goals.last().map(|g| g.cut.servers.error(&g.cut.zone.to_string())) else { continue };
            if let Some(step) = self.finish(now, Err(error)) {
                return step;
            }
        }
    }

    /// A glueless name server of the current cut worth looking up: within the
    /// per-cut and depth limits, not inside the zone itself (it could only be
    /// found by asking that zone), and not already being looked up.
    fn next_glueless(&mut self) -> Option<hickory_proto::rr::Name> {
        let cfg = &self.shared.cfg;
        if self.goals.len() > cfg.max_glueless_depth {
            return None;
        }
        let (goal, below) = self.goals.split_last_mut()?;
        while goal.cut.lookups < cfg.max_glueless && !goal.cut.pending.is_empty() {
            let ns = goal.cut.pending.remove(0);
            if in_bailiwick(&goal.cut.zone, &ns) || goal.is_for(&ns) || below.iter().any(|g| g.is_for(&ns)) {
                continue;
            }
            goal.cut.lookups += 1;
            return Some(ns);
        }
        None
    }

    /// Sends the current goal's question to `addr`; EDNS unless `edns` is
    /// false or the server is known to reject it.
    fn send(&mut self, now: Instant, addr: SocketAddr, tcp: bool, edns: bool) -> Step {
        let cfg = &self.shared.cfg;
        let edns = edns && !lock(&self.shared.stats).no_edns(addr);
        let id: u16 = self.rng.random();
        let Some(goal) = self.goals.last_mut() else {
            return Step::done(Err(ResolveError::Budget("nothing left to resolve".to_string())));
        };
        let bytes = match wire::build_query(id, &goal.qname, goal.qtype, edns.then_some(cfg.edns_payload)) {
            Ok(bytes) => bytes,
            Err(e) => return Step::done(Err(ResolveError::NotSupported(e))),
        };
        goal.cut.servers.sent(addr);
        self.queries += 1;
        // TCP needs a handshake before the exchange: give it twice as long.
        let wait = if tcp { cfg.try_timeout.saturating_mul(2) } else { cfg.try_timeout };
        let timeout_at = now.checked_add(wait).unwrap_or(self.deadline).min(self.deadline);
        tracing::debug!(to = %addr, tcp, edns, name = %goal.qname, qtype = %goal.qtype, zone = %goal.cut.zone, "query");
        self.inflight = Some(Inflight { to: addr, id, tcp, edns, sent_at: now });
        Step::Send(Request { to: addr, tcp, bytes, timeout_at })
    }
}
