//! How this node judges record changes before voting for them (seed 001
//! §4.3: each member checks a `Put` by its own resolution — the DNS side's
//! `ResolverValidator`). Committee changes are judged by the ledger against
//! the ring, not here. This module holds the trait and the test-only oracle.

use std::future::Future;
use std::pin::Pin;

use dhtr_ledger::{RRset, Tx};
use serde_bytes::ByteBuf;

/// A boxed validation in flight.
pub type Verdicts = Pin<Box<dyn Future<Output = Vec<bool>> + Send>>;

/// Judges record changes (`Put`, `Delete`): one verdict per transaction.
pub trait Validator: Send + Sync + 'static {
    /// Validate `txs`, in order.
    fn validate(&self, txs: Vec<Tx>) -> Verdicts;
}

/// TEST ONLY (`--test-hooks`): accepts exactly the deterministic test
/// record of a name ([`test_record`]), which every honest node can compute
/// alone, standing in for "resolve it yourself and compare".
pub struct TestOracle;

impl Validator for TestOracle {
    fn validate(&self, txs: Vec<Tx>) -> Verdicts {
        let verdicts = txs
            .iter()
            .map(|t| match t {
                Tx::Put(rr) => test_record(&rr.name).same_records(rr),
                _ => false,
            })
            .collect();
        Box::pin(std::future::ready(verdicts))
    }
}

/// The test record of `name` (canonical, with trailing dot): a TXT RRset
/// whose text is the hex blake3 of the name.
pub fn test_record(name: &str) -> RRset {
    let text = blake3::hash(name.as_bytes()).to_hex().to_string();
    let mut rdata = vec![text.len() as u8];
    rdata.extend_from_slice(text.as_bytes());
    RRset { name: name.to_string(), rtype: 16, class: 1, ttl: 3600, rdata: vec![ByteBuf::from(rdata)], fetched_at: 0 }
        .canonical()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_test_oracle_accepts_only_the_test_record() {
        let good = Tx::Put(test_record("a.example."));
        let mut wrong = test_record("a.example.");
        wrong.rdata = vec![ByteBuf::from(b"\x03bad".to_vec())];
        let verdicts = futures::executor::block_on(TestOracle.validate(vec![good.clone(), Tx::Put(wrong)]));
        assert_eq!(verdicts, vec![true, false]);
    }
}
