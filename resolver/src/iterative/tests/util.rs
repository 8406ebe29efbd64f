//! Builders for names, records and replies.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, CNAME, NS, SOA, TXT};
use hickory_proto::rr::{Name, RData, Record, RecordType};

pub(super) fn name(s: &str) -> Name {
    Name::from_str(s).unwrap()
}

pub(super) fn a(owner: &str, ip: &str) -> Record {
    Record::from_rdata(name(owner), 300, RData::A(A(Ipv4Addr::from_str(ip).unwrap())))
}

pub(super) fn aaaa(owner: &str, ip: &str) -> Record {
    Record::from_rdata(name(owner), 300, RData::AAAA(AAAA(Ipv6Addr::from_str(ip).unwrap())))
}

pub(super) fn ns(owner: &str, target: &str) -> Record {
    Record::from_rdata(name(owner), 3600, RData::NS(NS(name(target))))
}

pub(super) fn cname(owner: &str, target: &str) -> Record {
    Record::from_rdata(name(owner), 300, RData::CNAME(CNAME(name(target))))
}

pub(super) fn txt(owner: &str, text: &str) -> Record {
    Record::from_rdata(name(owner), 300, RData::TXT(TXT::new(vec![text.to_string()])))
}

pub(super) fn soa(owner: &str) -> Record {
    let rdata = SOA::new(name(&format!("ns1.{owner}")), name(&format!("hostmaster.{owner}")), 1, 3600, 600, 86400, 30);
    Record::from_rdata(name(owner), 300, RData::SOA(rdata))
}

/// A reply builder: rcode NOERROR, not authoritative, no records.
#[derive(Clone, Debug)]
pub(super) struct Reply {
    pub msg: Message,
}

impl Reply {
    pub(super) fn new() -> Reply {
        Reply { msg: Message::new(0, MessageType::Response, OpCode::Query) }
    }
    /// Authoritative.
    pub(super) fn aa(mut self) -> Reply {
        self.msg.metadata.authoritative = true;
        self
    }
    pub(super) fn rcode(mut self, rcode: ResponseCode) -> Reply {
        self.msg.metadata.response_code = rcode;
        self
    }
    pub(super) fn tc(mut self) -> Reply {
        self.msg.metadata.truncation = true;
        self
    }
    pub(super) fn ans(mut self, records: impl IntoIterator<Item = Record>) -> Reply {
        self.msg.answers.extend(records);
        self
    }
    pub(super) fn auth(mut self, records: impl IntoIterator<Item = Record>) -> Reply {
        self.msg.authorities.extend(records);
        self
    }
    pub(super) fn add(mut self, records: impl IntoIterator<Item = Record>) -> Reply {
        self.msg.additionals.extend(records);
        self
    }
    /// The message, as a reply with `id` to (`qname`, `qtype`).
    pub(super) fn to(mut self, id: u16, qname: &str, qtype: RecordType) -> Message {
        self.msg.metadata.id = id;
        self.msg.queries = vec![Query::query(name(qname), qtype)];
        self.msg
    }
}

/// "owner TYPE rdata" per record.
pub(super) fn show(records: &[Record]) -> Vec<String> {
    records.iter().map(|r| format!("{} {} {}", r.name, r.record_type(), r.data)).collect()
}
