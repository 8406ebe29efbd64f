//! Between DNS records (hickory) and the ledger's canonical RRsets: owner
//! lower-cased with a trailing dot, rdata in the canonical wire form of
//! RFC 4034 §6.2 (uncompressed, names lower-cased where that RFC says so),
//! sorted and deduplicated, one TTL (the authority's).

use dhtr_ledger::RRset;
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use hickory_proto::serialize::binary::{BinDecoder, BinEncodable, BinEncoder, Restrict};
use serde_bytes::ByteBuf;

/// Canonical wire form of one rdata, if it can be encoded.
pub fn rdata_bytes(rdata: &RData) -> Option<Vec<u8>> {
    let mut buf = Vec::new();
    let mut enc = BinEncoder::new(&mut buf);
    enc.set_canonical_form(true);
    rdata.emit(&mut enc).ok()?;
    Some(buf)
}

/// The RRsets in `records` (class IN only), one per owner and type, in
/// canonical form, stamped with `fetched_at`.
pub fn rrsets_of(records: &[Record], fetched_at: u64) -> Vec<RRset> {
    let mut out: Vec<RRset> = Vec::new();
    let mut broken: Vec<(String, u16)> = Vec::new();
    for r in records.iter().filter(|r| r.dns_class == DNSClass::IN) {
        let mut owner = r.name.to_lowercase();
        owner.set_fqdn(true);
        let name = owner.to_ascii();
        let rtype = u16::from(r.record_type());
        let Some(bytes) = rdata_bytes(&r.data) else {
            // Never a partial RRset: drop the whole set.
            broken.push((name, rtype));
            continue;
        };
        match out.iter_mut().find(|s| s.name == name && s.rtype == rtype) {
            Some(s) => {
                s.ttl = s.ttl.min(r.ttl);
                s.rdata.push(ByteBuf::from(bytes));
            }
            None => {
                out.push(RRset { name, rtype, class: 1, ttl: r.ttl, rdata: vec![ByteBuf::from(bytes)], fetched_at })
            }
        }
    }
    out.into_iter().filter(|s| !broken.contains(&(s.name.clone(), s.rtype))).map(RRset::canonical).collect()
}

/// Why an RRset could not be turned back into records.
#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    /// The owner is not a DNS name.
    #[error("bad owner name {0:?}")]
    Name(String),
    /// An rdata does not decode as its type.
    #[error("rdata of {name} type {rtype} does not decode: {reason}")]
    Rdata {
        /// Owner.
        name: String,
        /// Type.
        rtype: u16,
        /// Decoder message.
        reason: String,
    },
}

/// The records of an RRset with TTL `ttl`.
pub fn records_of(rr: &RRset, ttl: u32) -> Result<Vec<Record>, ConvertError> {
    let name = Name::from_ascii(&rr.name).map_err(|_| ConvertError::Name(rr.name.clone()))?;
    let rtype = RecordType::from(rr.rtype);
    rr.rdata
        .iter()
        .map(|bytes| {
            let len = u16::try_from(bytes.len()).map_err(|_| ConvertError::Rdata {
                name: rr.name.clone(),
                rtype: rr.rtype,
                reason: "longer than 65535 bytes".into(),
            })?;
            let mut dec = BinDecoder::new(bytes);
            let data = RData::read(&mut dec, rtype, Restrict::new(len)).map_err(|e| ConvertError::Rdata {
                name: rr.name.clone(),
                rtype: rr.rtype,
                reason: e.to_string(),
            })?;
            Ok(Record::from_rdata(name.clone(), ttl, data))
        })
        .collect()
}

pub use dhtr_ledger::types::MAX_TTL;

/// Seconds of TTL left at `now` (unix seconds): [`RRset::remaining_ttl`]
/// (the authority's TTL capped at [`MAX_TTL`]; a fetch time in the future
/// cannot make a record live longer).
pub fn remaining_ttl(rr: &RRset, now: u64) -> u32 {
    rr.remaining_ttl(now)
}

/// Seconds since an RRset expired at `now` (0 while it is fresh).
pub fn expired_for(rr: &RRset, now: u64) -> u64 {
    rr.expired_for(now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::rr::rdata::{A, CNAME, MX};
    use std::net::Ipv4Addr;

    fn name(s: &str) -> Name {
        Name::from_ascii(s).unwrap_or_else(|_| Name::root())
    }

    #[test]
    fn records_round_trip_through_canonical_rrsets() {
        let records = vec![
            Record::from_rdata(name("WWW.Example.test."), 300, RData::A(A(Ipv4Addr::new(192, 0, 2, 2)))),
            Record::from_rdata(name("www.example.test."), 300, RData::A(A(Ipv4Addr::new(192, 0, 2, 1)))),
            Record::from_rdata(name("alias.example.test."), 60, RData::CNAME(CNAME(name("WWW.example.test.")))),
            Record::from_rdata(name("example.test."), 60, RData::MX(MX::new(10, name("mail.example.test.")))),
        ];
        let sets = rrsets_of(&records, 1000);
        assert_eq!(sets.len(), 3);
        let a = &sets[0];
        assert_eq!((a.name.as_str(), a.rtype, a.rdata.len()), ("www.example.test.", 1, 2));
        assert!(a.rdata[0] < a.rdata[1], "rdata sorted");
        // The same records in another order and case give the same RRset.
        let again = rrsets_of(&[records[1].clone(), records[0].clone()], 1000);
        assert_eq!(again[0], *a);
        // Canonical form lower-cases names inside CNAME rdata.
        let back = records_of(&sets[1], 42).map_err(|e| e.to_string());
        assert_eq!(back.map(|r| r[0].data.clone()), Ok(RData::CNAME(CNAME(name("www.example.test.")))));
        assert_eq!(remaining_ttl(a, 1100), 200);
        assert_eq!(remaining_ttl(a, 9999), 0);
        // A fetch time in the future cannot make a record live longer, and
        // TTLs are capped at a day.
        let mut future = a.clone();
        future.fetched_at = 5000;
        assert_eq!(remaining_ttl(&future, 1000), 300);
        future.ttl = 10 * MAX_TTL;
        assert_eq!(remaining_ttl(&future, 1000), MAX_TTL);
        assert_eq!(expired_for(a, 1000 + 300 + 7), 7);
    }

    #[test]
    fn undecodable_rdata_is_an_error_not_a_panic() {
        let bad = RRset {
            name: "x.test.".into(),
            rtype: 1,
            class: 1,
            ttl: 1,
            rdata: vec![ByteBuf::from(vec![1, 2])],
            fetched_at: 0,
        };
        assert!(records_of(&bad, 1).is_err());
    }
}
