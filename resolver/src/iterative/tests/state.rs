//! The delegation cache and the choice of servers.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rand::SeedableRng;
use rand::rngs::StdRng;

use super::util::name;
use crate::answer::ResolveError;
use crate::iterative::classify::Referral;
use crate::iterative::delegation::DelegationCache;
use crate::iterative::servers::{Fail, ServerSet, ServerStats};

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn referral(zone: &str, ttl: u32, glue_ttl: u32) -> Referral {
    Referral {
        zone: name(zone),
        ns: vec![name(&format!("ns1.{zone}")), name("ns.elsewhere.")],
        glue: vec![(name(&format!("ns1.{zone}")), "192.0.2.1".parse().unwrap(), glue_ttl)],
        ttl,
    }
}

#[test]
fn closest_cut_and_expiry() {
    let now = Instant::now();
    let mut cache = DelegationCache::new(&[addr("127.0.0.101:53")], 100, Duration::from_secs(86_400));
    assert_eq!(cache.closest(&name("www.example.test."), now).zone, name("."));
    cache.insert_referral(&referral("test.", 3600, 3600), 53, now);
    cache.insert_referral(&referral("example.test.", 600, 60), 5301, now);
    let cut = cache.closest(&name("WWW.Example.Test."), now);
    assert_eq!(cut.zone, name("example.test."));
    assert_eq!(cut.servers[0].addrs, vec![addr("192.0.2.1:5301")], "glue gets the configured port");
    assert!(cut.servers[1].addrs.is_empty(), "glueless NS kept by name");
    assert_eq!(cache.closest(&name("other.test."), now).zone, name("test."));
    // The entry lives for the smallest of the NS and glue TTLs (60 s).
    let later = now + Duration::from_secs(61);
    assert_eq!(cache.closest(&name("www.example.test."), later).zone, name("test."));
    // The roots never expire.
    let much_later = now + Duration::from_secs(10 * 365 * 86_400);
    let root = cache.closest(&name("www.example.test."), much_later);
    assert_eq!((root.zone, root.servers[0].addrs.clone()), (name("."), vec![addr("127.0.0.101:53")]));
}

#[test]
fn ttl_is_capped_and_addresses_added_later() {
    let now = Instant::now();
    let mut cache = DelegationCache::new(&[addr("127.0.0.101:53")], 100, Duration::from_secs(100));
    cache.insert_referral(&referral("test.", 1_000_000, 1_000_000), 53, now);
    assert_eq!(cache.closest(&name("x.test."), now + Duration::from_secs(99)).zone, name("test."));
    assert_eq!(cache.closest(&name("x.test."), now + Duration::from_secs(101)).zone, name("."));
    cache.insert_referral(&referral("test.", 3600, 3600), 53, now);
    cache.add_addrs(&name("test."), &name("ns.elsewhere."), &[addr("192.0.2.9:53")], 10, now);
    let cut = cache.closest(&name("x.test."), now);
    assert_eq!(cut.servers[1].addrs, vec![addr("192.0.2.9:53")]);
    assert_eq!(cache.closest(&name("x.test."), now + Duration::from_secs(11)).zone, name("."), "shortened to 10 s");
}

#[test]
fn cache_is_bounded_and_keeps_the_root() {
    let now = Instant::now();
    let mut cache = DelegationCache::new(&[addr("127.0.0.101:53")], 10, Duration::from_secs(86_400));
    for i in 0..50u32 {
        cache.insert_referral(&referral(&format!("z{i}.test."), 100 + i, 100 + i), 53, now);
        assert!(cache.len() <= 10);
    }
    assert_eq!(cache.closest(&name("z49.test."), now).zone, name("z49.test."), "the newest is kept");
    assert_eq!(cache.closest(&name("z0.test."), now).zone, name("."), "the first to expire went first");
    // A referral can never replace the root hints.
    let root = Referral { zone: name("."), ns: vec![name("a.evil.")], glue: Vec::new(), ttl: 100 };
    cache.insert_referral(&root, 53, now);
    assert_eq!(cache.closest(&name("."), now).servers[0].addrs, vec![addr("127.0.0.101:53")]);
}

#[test]
fn server_choice() {
    let now = Instant::now();
    let mut rng = StdRng::seed_from_u64(1);
    let (s1, s2, s3) = (addr("192.0.2.1:53"), addr("192.0.2.2:53"), addr("192.0.2.3:53"));
    let mut stats = ServerStats::new(100);
    stats.replied(s1, Duration::from_millis(300), now);
    stats.replied(s2, Duration::from_millis(5), now);
    let mut set = ServerSet::new([s1, s2, s1]);
    // Fastest measured first; then the unmeasured one beats the slow one.
    assert_eq!(set.pick(&stats, 2, &mut rng), Some(s2));
    set.sent(s2);
    set.failed(s2, Fail::Error("REFUSED".to_string()));
    set.add([s3, s2]);
    assert_eq!(set.pick(&stats, 2, &mut rng), Some(s3));
    set.sent(s3);
    set.failed(s3, Fail::Timeout);
    assert_eq!(set.pick(&stats, 2, &mut rng), Some(s1));
    set.sent(s1);
    set.failed(s1, Fail::Timeout);
    // Second round: only servers that timed out, fewest tries first; errors are not retried.
    let again = set.pick(&stats, 2, &mut rng).unwrap();
    assert!(again == s1 || again == s3);
    set.sent(s1);
    set.sent(s3);
    assert_eq!(set.pick(&stats, 2, &mut rng), None);
    assert!(
        matches!(set.error("example."), ResolveError::AllServersFailed { reason, .. } if reason.contains("REFUSED"))
    );

    let mut silent = ServerSet::new([s1]);
    silent.sent(s1);
    silent.failed(s1, Fail::Timeout);
    assert_eq!(silent.error("example."), ResolveError::Timeout { zone: "example.".to_string() });
    assert!(matches!(ServerSet::new([]).error("x."), ResolveError::AllServersFailed { .. }));
}

#[test]
fn stats_learn_timeouts_and_edns_and_stay_bounded() {
    let now = Instant::now();
    let mut stats = ServerStats::new(8);
    let s = addr("192.0.2.1:53");
    stats.replied(s, Duration::from_millis(10), now);
    stats.timed_out(s, Duration::from_millis(800), now);
    assert!(stats.srtt_ms(s).unwrap() >= 800);
    assert!(!stats.no_edns(s));
    stats.set_no_edns(s, now);
    assert!(stats.no_edns(s));
    for i in 0..100u16 {
        stats.replied(
            SocketAddr::from(([192, 0, 2, 1], i)),
            Duration::from_millis(1),
            now + Duration::from_millis(u64::from(i)),
        );
    }
    assert!(stats.srtt_ms(SocketAddr::from(([192, 0, 2, 1], 99))).is_some(), "the latest is kept");
    assert!(stats.len() <= 8);
}
