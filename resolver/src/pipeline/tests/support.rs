//! RRsets, questions and fakes shared by the pipeline's tests.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use dhtr_ledger::RRset;
use hickory_proto::rr::rdata::{A, CNAME as CnameData};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use serde_bytes::ByteBuf;

use crate::answer::{Question, Resolution, ResolveError};
use crate::pipeline::convert::rdata_bytes;
use crate::pipeline::{Insertion, Network, NetworkRead, Observer, ReadOutcome, Resolve};

/// A unix time far from 0, so expiry arithmetic has room both ways.
pub const NOW: u64 = 1_000_000;

pub fn name(s: &str) -> Name {
    Name::from_ascii(s).unwrap()
}

pub fn question(n: &str, t: RecordType) -> Question {
    Question::new(name(n), t)
}

/// An RRset of (owner, type) with these rdata.
pub fn set(owner: &str, rtype: u16, ttl: u32, fetched_at: u64, rdata: Vec<Vec<u8>>) -> RRset {
    RRset {
        name: owner.into(),
        rtype,
        class: 1,
        ttl,
        rdata: rdata.into_iter().map(ByteBuf::from).collect(),
        fetched_at,
    }
    .canonical()
}

/// An A RRset with one address 192.0.2.`last`.
pub fn a_set(owner: &str, last: u8, ttl: u32, fetched_at: u64) -> RRset {
    set(owner, 1, ttl, fetched_at, vec![vec![192, 0, 2, last]])
}

/// A CNAME RRset from `owner` to `target`.
pub fn cname_set(owner: &str, target: &str, ttl: u32, fetched_at: u64) -> RRset {
    let rdata = rdata_bytes(&RData::CNAME(CnameData(name(target)))).unwrap();
    set(owner, 5, ttl, fetched_at, vec![rdata])
}

/// An A record.
pub fn a_record(owner: &str, last: u8, ttl: u32) -> Record {
    Record::from_rdata(name(owner), ttl, RData::A(A::new(192, 0, 2, last)))
}

/// A CNAME record.
pub fn cname_record(owner: &str, target: &str, ttl: u32) -> Record {
    Record::from_rdata(name(owner), ttl, RData::CNAME(CnameData(name(target))))
}

/// A committee agreeing on these, with one dissenting member.
pub fn agreed(rrset: Option<RRset>, cname: Option<RRset>) -> NetworkRead {
    NetworkRead::Agreed { rrset, cname, dissent: 1 }
}

/// The records of an answer, or a panic.
pub fn records(res: &Resolution) -> Vec<Record> {
    match res {
        Resolution::Answer { records } => records.clone(),
        other => panic!("not an answer: {other:?}"),
    }
}

/// A network of scripted committees: each (name, type) answers as set, or
/// agrees on nothing; or it never answers at all.
#[derive(Clone, Default)]
pub struct FakeNetwork {
    pub answers: Arc<Mutex<HashMap<(String, u16), NetworkRead>>>,
    pub reads: Arc<Mutex<Vec<(String, u16)>>>,
    pub submitted: Arc<Mutex<Vec<RRset>>>,
    pub hang: bool,
}

impl FakeNetwork {
    pub fn with(self, n: &str, rtype: u16, read: NetworkRead) -> FakeNetwork {
        self.answers.lock().unwrap().insert((n.to_owned(), rtype), read);
        self
    }

    pub fn submitted(&self) -> Vec<RRset> {
        self.submitted.lock().unwrap().clone()
    }
}

impl Network for FakeNetwork {
    fn read(&self, name: String, rtype: u16) -> impl Future<Output = NetworkRead> + Send {
        let this = self.clone();
        async move {
            if this.hang {
                std::future::pending::<()>().await;
            }
            this.reads.lock().unwrap().push((name.clone(), rtype));
            this.answers.lock().unwrap().get(&(name, rtype)).cloned().unwrap_or(agreed(None, None))
        }
    }

    fn submit(&self, rrset: RRset) {
        self.submitted.lock().unwrap().push(rrset);
    }
}

/// A resolver giving one scripted outcome, counting its calls.
#[derive(Clone)]
pub struct FakeResolver {
    pub outcome: Arc<Mutex<Result<Resolution, ResolveError>>>,
    pub calls: Arc<AtomicUsize>,
}

impl FakeResolver {
    pub fn new(outcome: Result<Resolution, ResolveError>) -> FakeResolver {
        FakeResolver { outcome: Arc::new(Mutex::new(outcome)), calls: Arc::default() }
    }

    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

impl Resolve for FakeResolver {
    fn resolve(&self, _q: &Question) -> impl Future<Output = Result<Resolution, ResolveError>> + Send {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let outcome = self.outcome.lock().unwrap().clone();
        async move { outcome }
    }
}

/// Records what the pipeline reports.
#[derive(Default)]
pub struct Recorder {
    pub reads: Mutex<Vec<ReadOutcome>>,
    pub insertions: Mutex<Vec<Insertion>>,
}

impl Observer for Recorder {
    fn network_read(&self, outcome: ReadOutcome) {
        self.reads.lock().unwrap().push(outcome);
    }

    fn insertion(&self, outcome: Insertion) {
        self.insertions.lock().unwrap().push(outcome);
    }
}

/// A timeout of the authorities.
pub fn timeout() -> ResolveError {
    ResolveError::Timeout { zone: "example.test.".into() }
}

/// Every authority failing.
pub fn all_failed() -> ResolveError {
    ResolveError::AllServersFailed { zone: "example.test.".into(), reason: "refused".into() }
}
