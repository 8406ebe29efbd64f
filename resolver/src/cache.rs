//! The answer cache: resolutions keyed by [`Question::key`], served with
//! decremented TTLs, negative answers cached per RFC 2308, expired entries
//! kept for a while to be served stale per RFC 8767.
//!
//! The bounded map is [`moka::sync::Cache`]: it is already in the tree (via
//! hickory), concurrent without a global lock (the UDP receive loops read it
//! inline), bounds a weighted size with TinyLFU admission (a scan of one-off
//! names does not flush popular ones) and expires entries per entry. One
//! weight bounds both limits of [`CacheConfig`]: an entry weighs its
//! approximate size in bytes, but at least `max_bytes / max_entries`, so the
//! cache never holds more than `max_entries` entries nor `max_bytes` bytes.
//!
//! Freshness is decided by this module against the `now` it is given (so it
//! is testable without sleeping); moka only drops entries once their stale
//! window has also passed.

use std::sync::Arc;
use std::time::{Duration, Instant};

use hickory_proto::rr::Record;
use hickory_proto::serialize::binary::BinEncodable;
use moka::sync::Cache;
use moka::{Expiry, policy::EvictionPolicy};

use crate::answer::{Question, Resolution};

/// Limits and lifetimes of the answer cache.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CacheConfig {
    /// At most this many entries.
    pub max_entries: u64,
    /// At most about this many bytes of records.
    pub max_bytes: u64,
    /// TTLs above this are lowered to it (RFC 8767 §4 suggests capping at 7 days).
    pub max_ttl: Duration,
    /// Negative answers are cached at most this long (RFC 2308 §5: 1–3 hours).
    pub max_negative_ttl: Duration,
    /// How long after expiry an entry may still be served stale (RFC 8767 §5: 1–3 days).
    pub stale_window: Duration,
    /// The TTL of a stale answer (RFC 8767 §4: 30 seconds).
    pub stale_ttl: Duration,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            max_entries: 100_000,
            max_bytes: 64 * 1024 * 1024,
            max_ttl: Duration::from_secs(86_400),
            max_negative_ttl: Duration::from_secs(3 * 3600),
            stale_window: Duration::from_secs(86_400),
            stale_ttl: Duration::from_secs(30),
        }
    }
}

/// One cached resolution, as stored (TTLs as of `stored`).
#[derive(Debug)]
struct Entry {
    resolution: Resolution,
    stored: Instant,
    ttl: Duration,
    weight: u32,
}

/// Expires an entry once its TTL and the stale window have both passed.
struct StaleExpiry(Duration);

impl Expiry<Question, Arc<Entry>> for StaleExpiry {
    fn expire_after_create(&self, _: &Question, entry: &Arc<Entry>, _: Instant) -> Option<Duration> {
        Some(entry.ttl.saturating_add(self.0))
    }

    fn expire_after_update(
        &self,
        _: &Question,
        entry: &Arc<Entry>,
        _: Instant,
        _: Option<Duration>,
    ) -> Option<Duration> {
        Some(entry.ttl.saturating_add(self.0))
    }
}

/// The answer cache. Cloning is cheap and shares the entries.
#[derive(Clone)]
pub struct AnswerCache {
    entries: Cache<Question, Arc<Entry>>,
    config: Arc<CacheConfig>,
}

impl std::fmt::Debug for AnswerCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AnswerCache").field("entries", &self.entries.entry_count()).finish()
    }
}

impl AnswerCache {
    /// An empty cache.
    pub fn new(config: CacheConfig) -> AnswerCache {
        let min_weight = u32::try_from(config.max_bytes / config.max_entries.max(1)).unwrap_or(u32::MAX).max(1);
        let entries = Cache::builder()
            .max_capacity(config.max_bytes.max(1))
            .weigher(move |_: &Question, e: &Arc<Entry>| e.weight.max(min_weight))
            .expire_after(StaleExpiry(config.stale_window))
            .eviction_policy(EvictionPolicy::tiny_lfu())
            .build();
        AnswerCache { entries, config: Arc::new(config) }
    }

    /// Stores `resolution` as the answer to `question` at `now`, with TTLs
    /// capped by the configuration. Returns false (and stores nothing) when
    /// the resolution may not be cached: a TTL of zero, or a negative answer
    /// without an SOA (RFC 2308 §5).
    pub fn insert(&self, question: &Question, resolution: &Resolution, now: Instant) -> bool {
        let cap = match resolution {
            Resolution::Answer { .. } => self.config.max_ttl,
            Resolution::NxDomain { .. } | Resolution::NoData { .. } => self.config.max_negative_ttl,
        };
        let resolution = capped(resolution, cap);
        let ttl = resolution.ttl();
        if ttl.is_zero() {
            return false;
        }
        let weight = approximate_size(&resolution);
        let entry = Entry { resolution, stored: now, ttl, weight };
        self.entries.insert(question.key(), Arc::new(entry));
        true
    }

    /// The fresh answer to `question` at `now`, its TTLs lowered by the
    /// time it has spent in the cache (RFC 1035 §7.4).
    pub fn get(&self, question: &Question, now: Instant) -> Option<Resolution> {
        let entry = self.entries.get(&question.key())?;
        let age = now.saturating_duration_since(entry.stored);
        (age < entry.ttl).then(|| entry.resolution.aged(age))
    }

    /// An expired answer to `question` still inside the stale window, with
    /// every TTL set to the stale TTL (RFC 8767 §4). A fresh entry is also
    /// returned this way: the caller asks only after resolving failed.
    pub fn get_stale(&self, question: &Question, now: Instant) -> Option<Resolution> {
        let entry = self.entries.get(&question.key())?;
        let age = now.saturating_duration_since(entry.stored);
        if age >= entry.ttl.saturating_add(self.config.stale_window) {
            return None;
        }
        let stale = u32::try_from(self.config.stale_ttl.as_secs()).unwrap_or(u32::MAX);
        Some(map_records(&entry.resolution, |r| r.ttl = stale))
    }

    /// Forgets the answer to `question`.
    pub fn remove(&self, question: &Question) {
        self.entries.invalidate(&question.key());
    }

    /// How many entries are held (approximate until [`AnswerCache::run_pending_tasks`]).
    pub fn entry_count(&self) -> u64 {
        self.entries.entry_count()
    }

    /// The weighted size of the entries, about their size in bytes.
    pub fn weighted_size(&self) -> u64 {
        self.entries.weighted_size()
    }

    /// Applies pending evictions now (moka does this lazily; for tests and metrics).
    pub fn run_pending_tasks(&self) {
        self.entries.run_pending_tasks();
    }
}

/// `resolution` with every record passed through `f`.
fn map_records(resolution: &Resolution, f: impl Fn(&mut Record)) -> Resolution {
    let map = |rs: &[Record]| {
        rs.iter()
            .map(|r| {
                let mut r = r.clone();
                f(&mut r);
                r
            })
            .collect::<Vec<_>>()
    };
    let map_one = |r: &Option<Record>| {
        r.clone().map(|mut r| {
            f(&mut r);
            r
        })
    };
    match resolution {
        Resolution::Answer { records } => Resolution::Answer { records: map(records) },
        Resolution::NxDomain { cname_chain, soa } => {
            Resolution::NxDomain { cname_chain: map(cname_chain), soa: map_one(soa) }
        }
        Resolution::NoData { cname_chain, soa } => {
            Resolution::NoData { cname_chain: map(cname_chain), soa: map_one(soa) }
        }
    }
}

/// `resolution` with no TTL above `cap`.
fn capped(resolution: &Resolution, cap: Duration) -> Resolution {
    let cap = u32::try_from(cap.as_secs()).unwrap_or(u32::MAX);
    map_records(resolution, |r| r.ttl = r.ttl.min(cap))
}

/// About how many bytes the resolution occupies: its records' wire size
/// plus a fixed overhead per record and per entry.
fn approximate_size(resolution: &Resolution) -> u32 {
    let record = |r: &Record| r.name.len() + 48 + r.data.to_bytes().map_or(64, |b| b.len());
    let bytes: usize = match resolution {
        Resolution::Answer { records } => records.iter().map(record).sum(),
        Resolution::NxDomain { cname_chain, soa } | Resolution::NoData { cname_chain, soa } => {
            cname_chain.iter().chain(soa.iter()).map(record).sum()
        }
    };
    u32::try_from(bytes + 128).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::net::Ipv4Addr;

    use hickory_proto::rr::rdata::{A, SOA};
    use hickory_proto::rr::{Name, RData, RecordType};

    use super::*;

    fn name(s: &str) -> Name {
        Name::from_ascii(s).unwrap()
    }

    fn answer(owner: &str, ttl: u32) -> Resolution {
        let a = Record::from_rdata(name(owner), ttl, RData::A(A(Ipv4Addr::new(192, 0, 2, 1))));
        Resolution::Answer { records: vec![a] }
    }

    fn soa(ttl: u32, minimum: u32) -> Record {
        let soa = SOA::new(name("ns.example."), name("host.example."), 1, 3600, 600, 86400, minimum);
        Record::from_rdata(name("example."), ttl, RData::SOA(soa))
    }

    fn ttls(r: &Resolution) -> Vec<u32> {
        match r {
            Resolution::Answer { records } => records.iter().map(|r| r.ttl).collect(),
            Resolution::NxDomain { cname_chain, soa } | Resolution::NoData { cname_chain, soa } => {
                cname_chain.iter().chain(soa.iter()).map(|r| r.ttl).collect()
            }
        }
    }

    #[test]
    fn ttls_age_and_entries_expire() {
        let cache = AnswerCache::new(CacheConfig::default());
        let q = Question::new(name("WWW.Example."), RecordType::A);
        let t0 = Instant::now();
        assert!(cache.insert(&q, &answer("www.example.", 300), t0));
        // Any letter case finds it (the key is case-folded).
        let lower = Question::new(name("www.example."), RecordType::A);
        assert_eq!(ttls(&cache.get(&lower, t0).unwrap()), vec![300]);
        assert_eq!(ttls(&cache.get(&q, t0 + Duration::from_secs(100)).unwrap()), vec![200]);
        assert_eq!(ttls(&cache.get(&q, t0 + Duration::from_millis(299_900)).unwrap()), vec![1]);
        assert!(cache.get(&q, t0 + Duration::from_secs(300)).is_none());
        // Another type is another entry.
        assert!(cache.get(&Question::new(name("www.example."), RecordType::AAAA), t0).is_none());
    }

    #[test]
    fn ttls_are_capped() {
        let cfg = CacheConfig { max_ttl: Duration::from_secs(60), ..CacheConfig::default() };
        let cache = AnswerCache::new(cfg);
        let q = Question::new(name("www.example."), RecordType::A);
        let t0 = Instant::now();
        cache.insert(&q, &answer("www.example.", 86_400), t0);
        assert_eq!(ttls(&cache.get(&q, t0).unwrap()), vec![60]);
        assert!(cache.get(&q, t0 + Duration::from_secs(60)).is_none());
    }

    #[test]
    fn negative_answers_need_an_soa() {
        let cache = AnswerCache::new(CacheConfig::default());
        let q = Question::new(name("nx.example."), RecordType::A);
        let t0 = Instant::now();
        assert!(!cache.insert(&q, &Resolution::NxDomain { cname_chain: vec![], soa: None }, t0));
        assert!(cache.get(&q, t0).is_none());
        // RFC 2308 §5: min(SOA TTL, MINIMUM).
        assert!(cache.insert(&q, &Resolution::NxDomain { cname_chain: vec![], soa: Some(soa(3600, 60)) }, t0));
        let got = cache.get(&q, t0 + Duration::from_secs(10)).unwrap();
        assert!(matches!(got, Resolution::NxDomain { soa: Some(_), .. }));
        assert!(cache.get(&q, t0 + Duration::from_secs(60)).is_none());
        // Zero TTLs are not cached.
        assert!(!cache.insert(&q, &answer("nx.example.", 0), t0));
    }

    #[test]
    fn stale_window() {
        let cfg = CacheConfig { stale_window: Duration::from_secs(1000), ..CacheConfig::default() };
        let cache = AnswerCache::new(cfg);
        let q = Question::new(name("www.example."), RecordType::A);
        let t0 = Instant::now();
        cache.insert(&q, &answer("www.example.", 10), t0);
        let expired = t0 + Duration::from_secs(11);
        assert!(cache.get(&q, expired).is_none());
        assert_eq!(ttls(&cache.get_stale(&q, expired).unwrap()), vec![30]);
        assert!(cache.get_stale(&q, t0 + Duration::from_secs(1009)).is_some());
        assert!(cache.get_stale(&q, t0 + Duration::from_secs(1010)).is_none());
        cache.remove(&q);
        assert!(cache.get_stale(&q, expired).is_none());
    }

    #[test]
    fn entries_and_bytes_are_bounded() {
        let cfg = CacheConfig { max_entries: 100, max_bytes: 1_000_000, ..CacheConfig::default() };
        let cache = AnswerCache::new(cfg);
        let t0 = Instant::now();
        for i in 0..1000 {
            let owner = format!("host{i}.example.");
            cache.insert(&Question::new(name(&owner), RecordType::A), &answer(&owner, 300), t0);
        }
        cache.run_pending_tasks();
        assert!(cache.entry_count() <= 100, "{} entries", cache.entry_count());
        assert!(cache.entry_count() > 0);

        let cfg = CacheConfig { max_entries: 1_000_000, max_bytes: 20_000, ..CacheConfig::default() };
        let cache = AnswerCache::new(cfg);
        for i in 0..1000 {
            let owner = format!("host{i}.example.");
            cache.insert(&Question::new(name(&owner), RecordType::A), &answer(&owner, 300), t0);
        }
        cache.run_pending_tasks();
        assert!(cache.weighted_size() <= 20_000, "{} bytes", cache.weighted_size());
        assert!(cache.entry_count() < 1000);
    }
}
