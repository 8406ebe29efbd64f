//! What the core does with a reply (RFC 1034 §5.3.3 step 4) and with a
//! finished goal.

use std::time::Instant;

use hickory_proto::op::Message;
use hickory_proto::rr::RecordType;

use super::goal::{Goal, Purpose, addresses};
use super::{Inflight, Step, Task};
use crate::answer::{Resolution, ResolveError};
use crate::iterative::classify::{Outcome, classify};
use crate::iterative::lock;
use crate::iterative::servers::Fail;

impl Task {
    /// Acts on a reply to the request in flight. Some: the task is done.
    pub(super) fn handle_reply(&mut self, now: Instant, sent: &Inflight, msg: &Message) -> Option<Step> {
        let cfg = &self.shared.cfg;
        let goal = self.goals.last_mut()?;
        let outcome = classify(msg, &goal.qname, goal.qtype, &goal.cut.zone);
        tracing::debug!(from = %sent.to, zone = %goal.cut.zone, name = %goal.qname, ?outcome, "reply");
        match outcome {
            // RFC 7766 §5: a truncated UDP reply is asked again of the same server over TCP.
            Outcome::Truncated if !sent.tcp => Some(self.send(now, sent.to, true, sent.edns)),
            Outcome::Truncated => self.failed(sent, "truncated reply over TCP".to_string()),
            // RFC 6891 §7: a FORMERR to a query with OPT may mean no EDNS support: ask again without.
            Outcome::FormErr if sent.edns => {
                lock(&self.shared.stats).set_no_edns(sent.to, now);
                Some(self.send(now, sent.to, sent.tcp, false))
            }
            Outcome::FormErr => self.failed(sent, "FORMERR".to_string()),
            Outcome::Failure(reason) => self.failed(sent, reason),
            Outcome::Answer { chain, records } => match goal.extend_chain(chain, cfg.max_cname) {
                Ok(()) => {
                    let mut all = std::mem::take(&mut goal.chain);
                    all.extend(records);
                    self.finish(now, Ok(Resolution::Answer { records: all }))
                }
                Err(e) => self.finish(now, Err(e)),
            },
            Outcome::Cname { chain, target } => match goal.extend_chain(chain, cfg.max_cname) {
                Ok(()) => {
                    goal.restart(target, &lock(&self.shared.cache), now);
                    None
                }
                Err(e) => self.finish(now, Err(e)),
            },
            Outcome::Referral(referral) => {
                goal.referrals += 1;
                if goal.referrals > cfg.max_referrals {
                    let e =
                        ResolveError::Budget(format!("more than {} referrals for {}", cfg.max_referrals, goal.qname));
                    return self.finish(now, Err(e));
                }
                lock(&self.shared.cache).insert_referral(&referral, cfg.port, now);
                goal.cut = super::goal::Cut::from_referral(&referral, cfg.port);
                None
            }
            Outcome::NxDomain { chain, soa } => match goal.extend_chain(chain, cfg.max_cname) {
                Ok(()) => {
                    let cname_chain = std::mem::take(&mut goal.chain);
                    self.finish(now, Ok(Resolution::NxDomain { cname_chain, soa }))
                }
                Err(e) => self.finish(now, Err(e)),
            },
            Outcome::NoData { chain, soa } => match goal.extend_chain(chain, cfg.max_cname) {
                Ok(()) => {
                    let cname_chain = std::mem::take(&mut goal.chain);
                    self.finish(now, Ok(Resolution::NoData { cname_chain, soa }))
                }
                Err(e) => self.finish(now, Err(e)),
            },
        }
    }

    /// The server of the request in flight failed us: the next one is tried.
    fn failed(&mut self, sent: &Inflight, reason: String) -> Option<Step> {
        tracing::debug!(server = %sent.to, %reason, "server failed");
        self.server_failed(sent.to, Fail::Error(reason));
        None
    }

    /// The goal on top is finished. The client's question ends the task; an
    /// address lookup hands its addresses (if any) to the cut that needed
    /// them, trying AAAA when A gave none, and a failure there only means one
    /// name server fewer.
    pub(super) fn finish(&mut self, now: Instant, result: Result<Resolution, ResolveError>) -> Option<Step> {
        let Some(goal) = self.goals.pop() else { return Some(Step::done(result)) };
        let Purpose::NsAddr { ns } = goal.purpose else { return Some(Step::done(result)) };
        let (addrs, ttl) = match &result {
            Ok(Resolution::Answer { records }) => addresses(records, self.shared.cfg.port),
            _ => (Vec::new(), 0),
        };
        tracing::debug!(%ns, ?addrs, ?result, "name server lookup finished");
        if addrs.is_empty() && goal.qtype == RecordType::A {
            let aaaa = Goal::new(ns.clone(), RecordType::AAAA, Purpose::NsAddr { ns }, &lock(&self.shared.cache), now);
            self.goals.push(aaaa);
            return None;
        }
        let parent = self.goals.last_mut()?;
        lock(&self.shared.cache).add_addrs(&parent.cut.zone, &ns, &addrs, ttl, now);
        parent.cut.servers.add(addrs);
        None
    }
}
