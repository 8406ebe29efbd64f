//! The async pipeline with a fake network and a fake resolver.

use std::sync::Arc;

use hickory_proto::rr::RecordType;

use super::support::*;
use crate::answer::{Resolution, ResolveError, Source};
use crate::frontend::Handler;
use crate::pipeline::{Insertion, NetworkRead, Pipeline, ReadOutcome, STALE_TTL, unix_now};

type Fake = Pipeline<FakeNetwork, FakeResolver, Recorder>;

fn pipeline(network: &FakeNetwork, resolver: &FakeResolver, ttl_floor: u32) -> (Fake, Arc<Recorder>) {
    let recorder = Arc::new(Recorder::default());
    (Pipeline::new(network.clone(), resolver.clone(), Arc::clone(&recorder), ttl_floor), recorder)
}

fn fallback_answer() -> Resolution {
    Resolution::Answer {
        records: vec![
            cname_record("alias.example.test.", "www.example.test.", 3600),
            a_record("www.example.test.", 7, 300),
        ],
    }
}

/// A network whose committee for www.example.test. A holds a record
/// fetched `age` seconds ago with a TTL of 300.
fn network_with_a(age: u64) -> FakeNetwork {
    let rr = a_set("www.example.test.", 1, 300, unix_now() - age);
    FakeNetwork::default().with("www.example.test.", 1, agreed(Some(rr), None))
}

#[tokio::test]
async fn a_fresh_network_answer_is_served_without_resolving() {
    let network = network_with_a(0);
    let resolver = FakeResolver::new(Ok(fallback_answer()));
    let (p, seen) = pipeline(&network, &resolver, 0);
    let (res, source) = p.resolve(question("WWW.example.test.", RecordType::A)).await.unwrap();
    assert_eq!(source, Source::Network);
    assert_eq!(records(&res).len(), 1);
    assert_eq!(resolver.calls(), 0);
    assert_eq!(*seen.reads.lock().unwrap(), vec![ReadOutcome::Hit { dissent: 1 }]);
    assert!(network.submitted().is_empty());
}

#[tokio::test]
async fn a_cname_chain_is_read_through_the_network() {
    let now = unix_now();
    let network = network_with_a(0).with(
        "alias.example.test.",
        1,
        agreed(None, Some(cname_set("alias.example.test.", "www.example.test.", 600, now))),
    );
    let resolver = FakeResolver::new(Err(timeout()));
    let (p, _) = pipeline(&network, &resolver, 0);
    let (res, source) = p.resolve(question("alias.example.test.", RecordType::A)).await.unwrap();
    assert_eq!(source, Source::Network);
    assert_eq!(records(&res)[0].name, name("alias.example.test."));
    assert_eq!(network.reads.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn no_majority_falls_back_and_proposes_the_rrsets_found() {
    let network = FakeNetwork::default().with("alias.example.test.", 1, NetworkRead::NoMajority { answered: 2 });
    let resolver = FakeResolver::new(Ok(fallback_answer()));
    let (p, seen) = pipeline(&network, &resolver, 0);
    let (res, source) = p.resolve(question("alias.example.test.", RecordType::A)).await.unwrap();
    assert_eq!((res, source), (fallback_answer(), Source::Fallback));
    assert_eq!(*seen.reads.lock().unwrap(), vec![ReadOutcome::NoMajority { answered: 2 }]);
    assert_eq!(*seen.insertions.lock().unwrap(), vec![Insertion::Proposed; 2]);
    let names: Vec<String> = network.submitted().into_iter().map(|r| r.name).collect();
    assert_eq!(names, ["alias.example.test.", "www.example.test."]);
    // Asked again: the same records were just submitted.
    p.resolve(question("alias.example.test.", RecordType::A)).await.unwrap();
    assert_eq!(network.submitted().len(), 2);
    assert_eq!(seen.insertions.lock().unwrap()[2..], [Insertion::SkippedRecent; 2]);
}

#[tokio::test]
async fn rrsets_under_the_ttl_floor_are_answered_but_not_proposed() {
    let network = FakeNetwork::default();
    let resolver = FakeResolver::new(Ok(fallback_answer()));
    let (p, seen) = pipeline(&network, &resolver, 600);
    let (_, source) = p.resolve(question("alias.example.test.", RecordType::A)).await.unwrap();
    assert_eq!(source, Source::Fallback);
    assert_eq!(*seen.insertions.lock().unwrap(), vec![Insertion::Proposed, Insertion::SkippedTtlFloor]);
    assert_eq!(network.submitted().len(), 1);
    assert_eq!(*seen.reads.lock().unwrap(), vec![ReadOutcome::Absent { dissent: 1 }]);
}

#[tokio::test]
async fn an_expired_network_answer_is_served_stale_only_when_the_authorities_are_unreachable() {
    // Expired an hour ago.
    let network = network_with_a(3600 + 300);
    let q = || question("www.example.test.", RecordType::A);
    for unreachable in [timeout(), all_failed()] {
        let resolver = FakeResolver::new(Err(unreachable));
        let (p, _) = pipeline(&network, &resolver, 0);
        let (res, source) = p.resolve(q()).await.unwrap();
        assert_eq!(source, Source::Stale);
        assert_eq!(records(&res)[0].ttl, STALE_TTL);
    }
    // The authorities answered: their answer, even a negative one.
    let nx = Resolution::NxDomain { cname_chain: Vec::new(), soa: None };
    let resolver = FakeResolver::new(Ok(nx.clone()));
    let (p, _) = pipeline(&network, &resolver, 0);
    assert_eq!(p.resolve(q()).await, Ok((nx, Source::Fallback)));
    // Another failure than unreachable authorities: the failure.
    let resolver = FakeResolver::new(Err(ResolveError::Loop("cname".into())));
    let (p, _) = pipeline(&network, &resolver, 0);
    assert_eq!(p.resolve(q()).await, Err(ResolveError::Loop("cname".into())));
    assert!(network.submitted().is_empty());
}

#[tokio::test]
async fn an_answer_expired_longer_than_max_stale_is_not_served() {
    let network = network_with_a(2 * 86_400);
    let resolver = FakeResolver::new(Err(timeout()));
    let (p, seen) = pipeline(&network, &resolver, 0);
    assert_eq!(p.resolve(question("www.example.test.", RecordType::A)).await, Err(timeout()));
    assert_eq!(*seen.reads.lock().unwrap(), vec![ReadOutcome::Absent { dissent: 1 }]);
}

#[tokio::test(start_paused = true)]
async fn a_network_that_does_not_answer_in_its_budget_falls_back() {
    let network = FakeNetwork { hang: true, ..FakeNetwork::default() };
    let resolver = FakeResolver::new(Ok(fallback_answer()));
    let (p, seen) = pipeline(&network, &resolver, 0);
    let (_, source) = p.resolve(question("alias.example.test.", RecordType::A)).await.unwrap();
    assert_eq!(source, Source::Fallback);
    assert!(seen.reads.lock().unwrap().is_empty(), "an unfinished read is not counted");
}
