//! `current`: one (name, type) resolved afresh, with a fake resolver.

use hickory_proto::rr::rdata::SOA;
use hickory_proto::rr::{RData, Record};

use super::support::*;
use crate::answer::Resolution;
use crate::pipeline::{Current, current};

#[tokio::test]
async fn current_gives_the_canonical_rrset_stamped_with_the_fetch_time() {
    let answer = Resolution::Answer {
        records: vec![
            cname_record("alias.example.test.", "www.example.test.", 3600),
            a_record("WWW.example.test.", 2, 300),
            a_record("www.example.test.", 1, 200),
        ],
    };
    let r = FakeResolver::new(Ok(answer));
    let got = current(&r, "www.example.test.", 1, 42).await;
    let mut want = a_set("www.example.test.", 1, 200, 42);
    want.rdata.push(serde_bytes::ByteBuf::from(vec![192, 0, 2, 2]));
    assert_eq!(got, Current::Records(want.canonical()));
    // The answer holds no RRset of that (name, type).
    assert_eq!(current(&r, "alias.example.test.", 1, 42).await, Current::NotInAnswer);
}

#[tokio::test]
async fn current_tells_negative_answers_from_failures() {
    let soa = Record::from_rdata(
        name("example.test."),
        60,
        RData::SOA(SOA::new(name("ns.example.test."), name("h.example.test."), 1, 60, 60, 60, 60)),
    );
    let r = FakeResolver::new(Ok(Resolution::NxDomain { cname_chain: Vec::new(), soa: Some(soa.clone()) }));
    assert_eq!(current(&r, "gone.example.test.", 1, 0).await, Current::Negative);
    let r = FakeResolver::new(Ok(Resolution::NoData { cname_chain: Vec::new(), soa: Some(soa) }));
    assert_eq!(current(&r, "www.example.test.", 28, 0).await, Current::Negative);
    let r = FakeResolver::new(Err(all_failed()));
    assert_eq!(current(&r, "www.example.test.", 1, 0).await, Current::Failed);
    // Not a name: not even asked.
    assert_eq!(current(&r, "bad..name.", 1, 0).await, Current::Failed);
    assert_eq!(r.calls(), 1);
}
