//! The pipeline with tokio: the rules of `walk`, `decide` and `insertion`
//! over a [`Network`] and a [`Resolve`], within [`NETWORK_BUDGET`] and
//! [`RESOLVE_BUDGET`].

use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::convert::rrsets_of;
use super::{
    Decision, Insertion, InsertionFilter, NETWORK_BUDGET, Network, Observer, RESOLVE_BUDGET, Resolve, Step, Walk,
    Walked, after_fallback, unix_now,
};
use crate::answer::{Question, Resolution, ResolveError, Source};
use crate::frontend::Handler;

/// The resolution pipeline behind the front end's cache: the network
/// first, then the roots (inserting what they said), then a stale answer.
pub struct Pipeline<N, R, O> {
    /// The committees.
    network: N,
    /// The resolver from the roots.
    resolver: R,
    /// Told about reads and insertions.
    observer: Arc<O>,
    /// Which fallback RRsets are proposed (shared by all clones).
    insertions: Arc<Mutex<InsertionFilter>>,
}

impl<N: Clone, R: Clone, O> Clone for Pipeline<N, R, O> {
    fn clone(&self) -> Self {
        Pipeline {
            network: self.network.clone(),
            resolver: self.resolver.clone(),
            observer: Arc::clone(&self.observer),
            insertions: Arc::clone(&self.insertions),
        }
    }
}

impl<N: Network, R: Resolve, O: Observer> Pipeline<N, R, O> {
    /// A pipeline reading through `network`, resolving with `resolver`,
    /// proposing no RRset with a TTL under `ttl_floor`.
    pub fn new(network: N, resolver: R, observer: Arc<O>, ttl_floor: u32) -> Pipeline<N, R, O> {
        let insertions = Arc::new(Mutex::new(InsertionFilter::new(ttl_floor, Instant::now())));
        Pipeline { network, resolver, observer, insertions }
    }

    /// The network's answer to `q` (see [`Walk`]), each read told to the observer.
    async fn read_network(&self, q: &Question) -> Walked {
        let mut walk = Walk::new(q, unix_now());
        loop {
            let (name, rtype) = walk.next_read();
            let read = self.network.read(name, rtype).await;
            let (outcome, step) = walk.feed(read);
            self.observer.network_read(outcome);
            if let Step::Done(walked) = step {
                return walked;
            }
        }
    }

    /// Ask the committees to insert the RRsets of a fallback answer.
    fn insert(&self, res: &Resolution) {
        let Resolution::Answer { records } = res else { return };
        let now = Instant::now();
        for rr in rrsets_of(records, unix_now()) {
            let outcome = {
                let Ok(mut filter) = self.insertions.lock() else { return };
                filter.check(&rr, now)
            };
            self.observer.insertion(outcome);
            if outcome == Insertion::Proposed {
                self.network.submit(rr);
            }
        }
    }
}

impl<N: Network, R: Resolve, O: Observer> Handler for Pipeline<N, R, O> {
    async fn resolve(&self, q: Question) -> Result<(Resolution, Source), ResolveError> {
        let q = q.key();
        let network = tokio::time::timeout(NETWORK_BUDGET, self.read_network(&q)).await.unwrap_or(Walked::Nothing);
        let stale = match network {
            Walked::Fresh(res) => return Ok((res, Source::Network)),
            Walked::Expired(res) => Some(res),
            Walked::Nothing => None,
        };
        let resolved = tokio::time::timeout(RESOLVE_BUDGET, self.resolver.resolve(&q))
            .await
            .unwrap_or_else(|_| Err(ResolveError::Timeout { zone: q.name.to_ascii() }));
        match after_fallback(resolved, stale) {
            Decision::Fallback(res) => {
                self.insert(&res);
                Ok((res, Source::Fallback))
            }
            Decision::Stale(res) => Ok((res, Source::Stale)),
            Decision::Fail(e) => Err(e),
        }
    }
}
