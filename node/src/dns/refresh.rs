//! Refreshing committed records when their TTL runs out (issue 4, seed 001
//! §4.3): for every expired RRset it is the designated refresher of, a
//! committee member resolves the name again and proposes the result — a
//! `Put` of the current records (a new version, or the same records with a
//! new fetch time), or a `Delete` when the name or type no longer exists.
//! Every member validates the proposal by its own resolution, as for
//! insertions. When the authorities cannot be reached nothing is proposed;
//! the expired version is then served stale. An expired RRset nobody read
//! for `[dns] unused_after_secs` is removed by a `Delete` instead.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use dhtr_ledger::{RRset, Tx};
use dhtr_monitoring::dns_metrics::DnsMetrics;
use dhtr_resolver::iterative::Iterative;
use dhtr_resolver::pipeline::{Current, current, unix_now};
use tracing::debug;

use crate::handle::NodeHandle;

/// How long a refresh just proposed is not proposed again (a committed
/// refresh makes the record fresh; this only stops re-proposing one still
/// in flight, or one the committee refused, on every scan).
const RETRY_AFTER: Duration = Duration::from_secs(10);

/// Run until the node goes away: every `interval`, refresh what expired.
pub async fn run(node: NodeHandle, iterative: Iterative, metrics: DnsMetrics, interval: Duration) {
    let mut recent: HashMap<(String, u16), Instant> = HashMap::new();
    loop {
        tokio::time::sleep(interval).await;
        let Ok(expired) = node.expired().await else { return };
        recent.retain(|_, t| t.elapsed() < RETRY_AFTER);
        for (rr, unused) in expired {
            let key = (rr.name.clone(), rr.rtype);
            if recent.contains_key(&key) {
                continue;
            }
            recent.insert(key, Instant::now());
            if unused {
                // Nobody asked for it for the configured period: remove it
                // rather than keep resolving it.
                if node.submit(Tx::Delete { name: rr.name.clone(), rtype: rr.rtype }).await.is_err() {
                    return;
                }
                metrics.refresh("delete_unused");
                continue;
            }
            let outcome = match refresh(&iterative, &rr).await {
                Some(tx) => {
                    let label = if matches!(tx, Tx::Delete { .. }) { "delete" } else { "put" };
                    if node.submit(tx).await.is_err() {
                        return;
                    }
                    label
                }
                None => "failed",
            };
            debug!(name = %rr.name, rtype = rr.rtype, outcome, "refresh");
            metrics.refresh(outcome);
        }
    }
}

/// What to propose for an expired RRset, if its authorities answered.
async fn refresh(iterative: &Iterative, rr: &RRset) -> Option<Tx> {
    match current(iterative, &rr.name, rr.rtype, unix_now()).await {
        Current::Records(fresh) => Some(Tx::Put(fresh)),
        Current::NotInAnswer | Current::Negative => Some(Tx::Delete { name: rr.name.clone(), rtype: rr.rtype }),
        Current::Failed => None,
    }
}
