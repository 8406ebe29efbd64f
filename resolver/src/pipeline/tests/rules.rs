//! The decision after the fallback and the insertion filter, sans-IO.

use std::time::{Duration, Instant};

use super::support::*;
use crate::answer::{Resolution, ResolveError};
use crate::pipeline::{
    Decision, Insertion, InsertionFilter, MAX_INSERTIONS_PER_SECOND, RESUBMIT_AFTER, after_fallback,
};

fn answer(last: u8) -> Resolution {
    Resolution::Answer { records: vec![a_record("www.example.test.", last, 300)] }
}

#[test]
fn a_stale_answer_is_served_only_when_the_authorities_time_out_or_all_fail() {
    let stale = || Some(answer(1));
    assert_eq!(after_fallback(Err(timeout()), stale()), Decision::Stale(answer(1)));
    assert_eq!(after_fallback(Err(all_failed()), stale()), Decision::Stale(answer(1)));
    // Nothing stale to serve: the error.
    assert_eq!(after_fallback(Err(timeout()), None), Decision::Fail(timeout()));
    assert_eq!(after_fallback(Err(all_failed()), None), Decision::Fail(all_failed()));
}

#[test]
fn the_fallback_answer_wins_and_other_errors_are_never_hidden_by_a_stale_answer() {
    assert_eq!(after_fallback(Ok(answer(2)), Some(answer(1))), Decision::Fallback(answer(2)));
    // NXDOMAIN and NODATA are answers: the name is gone, nothing stale is served.
    let nx = Resolution::NxDomain { cname_chain: Vec::new(), soa: None };
    assert_eq!(after_fallback(Ok(nx.clone()), Some(answer(1))), Decision::Fallback(nx));
    let nodata = Resolution::NoData { cname_chain: Vec::new(), soa: None };
    assert_eq!(after_fallback(Ok(nodata.clone()), Some(answer(1))), Decision::Fallback(nodata));
    for e in [
        ResolveError::Loop("a.test. → b.test. → a.test.".into()),
        ResolveError::Budget("queries".into()),
        ResolveError::NotSupported("class CH".into()),
    ] {
        assert_eq!(after_fallback(Err(e.clone()), Some(answer(1))), Decision::Fail(e));
    }
}

#[test]
fn rrsets_under_the_ttl_floor_are_not_proposed_nor_remembered() {
    let t0 = Instant::now();
    let mut f = InsertionFilter::new(30, t0);
    assert_eq!(f.check(&a_set("a.test.", 1, 29, NOW), t0), Insertion::SkippedTtlFloor);
    assert_eq!(f.remembered(), 0);
    assert_eq!(f.check(&a_set("a.test.", 1, 30, NOW), t0), Insertion::Proposed);
}

#[test]
fn the_same_records_are_not_proposed_again_within_the_resubmit_window() {
    let t0 = Instant::now();
    let mut f = InsertionFilter::new(0, t0);
    assert_eq!(f.check(&a_set("a.test.", 1, 300, NOW), t0), Insertion::Proposed);
    // Fetched later, same records: recent.
    let later = t0 + Duration::from_secs(5);
    assert_eq!(f.check(&a_set("a.test.", 1, 300, NOW + 5), later), Insertion::SkippedRecent);
    // Changed records (or TTL) are proposed at once.
    assert_eq!(f.check(&a_set("a.test.", 2, 300, NOW + 5), later), Insertion::Proposed);
    assert_eq!(f.check(&a_set("a.test.", 1, 301, NOW + 5), later), Insertion::Proposed);
    // After the window, the same records again.
    let t1 = t0 + RESUBMIT_AFTER - Duration::from_millis(1);
    assert_eq!(f.check(&a_set("a.test.", 1, 300, NOW), t1), Insertion::SkippedRecent);
    assert_eq!(f.check(&a_set("a.test.", 1, 300, NOW), t0 + RESUBMIT_AFTER), Insertion::Proposed);
}

#[test]
fn at_most_the_rate_per_second_is_proposed_and_the_window_resets() {
    let t0 = Instant::now();
    let mut f = InsertionFilter::new(0, t0);
    let rr = |i: u32| a_set(&format!("n{i}.test."), 1, 300, NOW);
    for i in 0..MAX_INSERTIONS_PER_SECOND {
        assert_eq!(f.check(&rr(i), t0 + Duration::from_millis(u64::from(i))), Insertion::Proposed, "{i}");
    }
    let over = MAX_INSERTIONS_PER_SECOND;
    assert_eq!(f.check(&rr(over), t0 + Duration::from_millis(999)), Insertion::SkippedRate);
    // One second after the window opened, a new one starts.
    let t1 = t0 + Duration::from_secs(1);
    assert_eq!(f.check(&rr(over + 1), t1), Insertion::Proposed);
    // An RRset skipped for the rate counts as submitted (as before the
    // policy moved to this crate): it waits for the resubmit window.
    assert_eq!(f.check(&rr(over), t1), Insertion::SkippedRecent);
}

#[test]
fn remembered_submissions_are_bounded() {
    let t0 = Instant::now();
    let mut f = InsertionFilter::new(0, t0).remembering(4);
    let rr = |i: u32| a_set(&format!("n{i}.test."), 1, 300, NOW);
    for i in 0..4 {
        assert_eq!(f.check(&rr(i), t0), Insertion::Proposed);
    }
    // Full of recent submissions: forgotten all at once.
    assert_eq!(f.check(&rr(4), t0), Insertion::Proposed);
    assert_eq!(f.remembered(), 1);
    for i in 5..8 {
        assert_eq!(f.check(&rr(i), t0 + Duration::from_secs(1)), Insertion::Proposed);
    }
    // Full again, later: only the expired entries go.
    let t1 = t0 + RESUBMIT_AFTER;
    assert_eq!(f.check(&rr(8), t1), Insertion::Proposed);
    assert_eq!(f.remembered(), 4);
    assert_eq!(f.check(&rr(5), t1), Insertion::SkippedRecent);
}
