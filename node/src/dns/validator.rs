//! The validator a committee member runs before voting for a record
//! (seed 001 §4.3): it resolves the name and type itself, from the
//! authorities, and votes yes only on an identical canonical RRset (same
//! owner, type, class, authority TTL and rdata). Answers that differ between
//! vantage points (CDNs, GeoDNS) and TTLs under the floor are refused. A
//! `Delete` (proposed by a refresh) is accepted when the name or type no
//! longer resolves.

use dhtr_ledger::Tx;
use dhtr_monitoring::dns_metrics::DnsMetrics;
use dhtr_resolver::iterative::Iterative;
use dhtr_resolver::pipeline::{Current, current, unix_now};

use crate::ledger::validator::{Validator, Verdicts};

/// Checks `Put`s by resolving them again.
pub struct ResolverValidator {
    iterative: Iterative,
    ttl_floor: u32,
    metrics: DnsMetrics,
    node: crate::handle::NodeHandle,
}

impl ResolverValidator {
    /// A validator resolving with `iterative`, refusing TTLs below
    /// `ttl_floor`, asking `node` whether a record to delete went unread.
    pub fn new(
        iterative: Iterative,
        ttl_floor: u32,
        metrics: DnsMetrics,
        node: crate::handle::NodeHandle,
    ) -> ResolverValidator {
        ResolverValidator { iterative, ttl_floor, metrics, node }
    }
}

impl Validator for ResolverValidator {
    fn validate(&self, txs: Vec<Tx>) -> Verdicts {
        let (iterative, floor, metrics) = (self.iterative.clone(), self.ttl_floor, self.metrics.clone());
        let node = self.node.clone();
        Box::pin(async move {
            use futures::StreamExt;
            // Concurrently (a block holds up to 64 transactions), each within
            // a time limit: a slow zone must not stall the chunk.
            let verdicts: Vec<&'static str> = futures::stream::iter(txs)
                .map(|t| {
                    let (iterative, node) = (iterative.clone(), node.clone());
                    async move {
                        tokio::time::timeout(VALIDATION_TIMEOUT, judge(&iterative, floor, &node, t))
                            .await
                            .unwrap_or("timeout")
                    }
                })
                .buffered(VALIDATION_CONCURRENCY)
                .collect()
                .await;
            let mut out = Vec::with_capacity(verdicts.len());
            for verdict in verdicts {
                metrics.validation(verdict);
                out.push(verdict == "agreed");
            }
            out
        })
    }
}

/// Most validations of one block run at once.
const VALIDATION_CONCURRENCY: usize = 8;
/// A transaction not validated within this time is refused.
const VALIDATION_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);

/// The verdict label on one transaction.
async fn judge(iterative: &Iterative, floor: u32, node: &crate::handle::NodeHandle, t: Tx) -> &'static str {
    match t {
        Tx::Put(rr) => check_put(iterative, floor, &rr).await,
        // Every member sees every network read, so "nobody read it for the
        // period" is judged alike by all of them.
        Tx::Delete { name, rtype } if node.unused(name.clone(), rtype).await.unwrap_or(false) => "agreed",
        Tx::Delete { name, rtype } => check_delete(iterative, &name, rtype).await,
        Tx::Reconfigure { .. } => "unsupported",
    }
}

/// How far in the future a proposal's fetch time may be (clock skew).
const FETCH_SKEW: u64 = 30;
/// How old a proposal's fetch time may be when it is validated.
const FETCH_AGE: u64 = 120;

/// A delete is right when the name or type no longer resolves.
async fn check_delete(iterative: &Iterative, name: &str, rtype: u16) -> &'static str {
    match current(iterative, name, rtype, 0).await {
        Current::Negative | Current::NotInAnswer => "agreed",
        Current::Records(_) => "differs",
        Current::Failed => "unresolvable",
    }
}

/// Resolve the RRset's name and type and compare; the verdict label.
async fn check_put(iterative: &Iterative, floor: u32, rr: &dhtr_ledger::RRset) -> &'static str {
    if rr.ttl < floor {
        return "ttl_floor";
    }
    // The fetch time decides when the record expires: it must be about now
    // (a proposer could otherwise keep a record alive forever).
    let now = unix_now();
    if rr.fetched_at > now + FETCH_SKEW || rr.fetched_at + FETCH_AGE < now {
        return "bad_fetch_time";
    }
    match current(iterative, &rr.name, rr.rtype, rr.fetched_at).await {
        Current::Records(m) if m.same_records(rr) => "agreed",
        Current::Records(_) | Current::NotInAnswer => "differs",
        Current::Negative | Current::Failed => "unresolvable",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dhtr_resolver::iterative::IterConfig;
    use serde_bytes::ByteBuf;

    fn rr(ttl: u32, fetched_at: u64) -> dhtr_ledger::RRset {
        dhtr_ledger::RRset {
            name: "www.example.test.".into(),
            rtype: 1,
            class: 1,
            ttl,
            rdata: vec![ByteBuf::from(vec![192, 0, 2, 1])],
            fetched_at,
        }
    }

    #[test]
    fn proposals_with_a_low_ttl_or_a_fetch_time_far_from_now_are_refused_without_resolving() {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build();
        let Ok(rt) = rt else { panic!("runtime") };
        // No root servers: reaching the resolver would say "unresolvable".
        let it = Iterative::new(IterConfig::with_roots(Vec::new()));
        let now = unix_now();
        rt.block_on(async {
            assert_eq!(check_put(&it, 30, &rr(5, now)).await, "ttl_floor");
            assert_eq!(check_put(&it, 30, &rr(300, now + 3600)).await, "bad_fetch_time");
            assert_eq!(check_put(&it, 30, &rr(300, u64::MAX / 2)).await, "bad_fetch_time");
            assert_eq!(check_put(&it, 30, &rr(300, now - 3600)).await, "bad_fetch_time");
            assert_eq!(check_put(&it, 30, &rr(300, now)).await, "unresolvable");
        });
    }
}
