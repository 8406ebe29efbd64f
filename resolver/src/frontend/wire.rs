//! Reading a client's query and checking it (RFC 1035 §4.1, RFC 6891 for
//! EDNS0): what is answered at once with an error RCODE, what is dropped,
//! and what goes on to the cache and the handler.

use hickory_proto::op::{Header, Message, MessageType, Metadata, OpCode, ResponseCode};
use hickory_proto::rr::{DNSClass, RecordType};
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder};

use super::DropReason;
use super::response::{Ede, Response, error_response};
use crate::answer::Question;

/// What the client said about EDNS0 (RFC 6891 §6.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ClientEdns {
    /// Its UDP payload size (at least 512).
    pub(crate) payload: u16,
    /// The DO bit, copied into the response (RFC 3225 §3).
    pub(crate) dnssec_ok: bool,
}

/// A well-formed query to be answered from the cache or the handler.
#[derive(Clone, Debug)]
pub(crate) struct Request {
    /// The header fields echoed in the response (ID, RD, CD).
    pub(crate) metadata: Metadata,
    /// The question, its name in the client's letter case.
    pub(crate) question: Question,
    /// The client's EDNS0, if it sent an OPT record.
    pub(crate) edns: Option<ClientEdns>,
}

impl Request {
    /// The largest response the client takes over UDP: 512 without EDNS0,
    /// else its payload size capped by ours (RFC 6891 §6.2.5).
    pub(crate) fn udp_limit(&self, our_payload: u16) -> usize {
        match self.edns {
            Some(e) => usize::from(e.payload.max(512).min(our_payload.max(512))),
            None => 512,
        }
    }
}

/// The outcome of reading a packet.
#[derive(Debug)]
pub(crate) enum Parsed {
    /// A query to answer.
    Query(Request),
    /// Answer this at once.
    Reply(Response),
    /// No answer (the reason, for metrics).
    Drop(DropReason),
}

/// Reads `packet` from a client; `allowed` says whether the ACL lets it in.
///
/// RCODEs, in this order: REFUSED for clients outside the ACL; NOTIMP for
/// opcodes other than QUERY; FORMERR when QDCOUNT is not 1 (RFC 9619 §3)
/// or the message does not decode; BADVERS for EDNS versions other than 0
/// (RFC 6891 §6.1.3); REFUSED for classes other than IN and for zone
/// transfers. A packet without a readable header, or a response, is
/// dropped (answering responses invites loops).
pub(crate) fn parse(packet: &[u8], allowed: bool, our_payload: u16) -> Parsed {
    let Ok(header) = Header::read(&mut BinDecoder::new(packet)) else { return Parsed::Drop(DropReason::Unparseable) };
    if header.message_type == MessageType::Response {
        return Parsed::Drop(DropReason::Response);
    }
    let meta = header.metadata;
    // Decoded only with exactly one question: the decoder sizes an
    // allocation by QDCOUNT, which the sender chooses.
    let msg = if header.counts.queries == 1 { Message::from_vec(packet).ok() } else { None };
    let edns = msg.as_ref().and_then(|m| m.edns.as_ref());
    let client_edns = edns.map(|e| ClientEdns { payload: e.max_payload(), dnssec_ok: e.flags().dnssec_ok });
    let query = msg.as_ref().and_then(|m| m.queries.first());
    let reply = |rcode, ede| Parsed::Reply(error_response(&meta, query, client_edns, rcode, ede, our_payload));
    if !allowed {
        return reply(ResponseCode::Refused, Some(Ede::PROHIBITED));
    }
    if meta.op_code != OpCode::Query {
        return reply(ResponseCode::NotImp, None);
    }
    let Some(query) = query else { return reply(ResponseCode::FormErr, None) };
    if edns.is_some_and(|e| e.version() != 0) {
        return reply(ResponseCode::BADVERS, None);
    }
    if query.query_class() != DNSClass::IN {
        return reply(ResponseCode::Refused, Some(Ede::NOT_SUPPORTED));
    }
    match query.query_type() {
        RecordType::AXFR | RecordType::IXFR => return reply(ResponseCode::Refused, Some(Ede::NOT_SUPPORTED)),
        RecordType::OPT => return reply(ResponseCode::FormErr, None),
        _ => {}
    }
    let question = Question { name: query.name().clone(), qtype: query.query_type(), qclass: query.query_class() };
    Parsed::Query(Request { metadata: meta, question, edns: client_edns })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use hickory_proto::op::{Edns, Query};
    use hickory_proto::rr::Name;

    use super::*;

    fn query(name: &str, qtype: RecordType) -> Message {
        let mut m = Message::new(0x1234, MessageType::Query, OpCode::Query);
        m.metadata.recursion_desired = true;
        m.add_query(Query::query(Name::from_ascii(name).unwrap(), qtype));
        m
    }

    fn rcode(p: Parsed) -> ResponseCode {
        match p {
            Parsed::Reply(r) => {
                let m = Message::from_vec(&r.bytes).unwrap();
                assert_eq!(m.id, 0x1234);
                m.response_code
            }
            other => panic!("not a reply: {other:?}"),
        }
    }

    #[test]
    fn a_good_query() {
        let mut m = query("WwW.Example.", RecordType::A);
        let mut edns = Edns::new();
        edns.set_max_payload(4096);
        m.set_edns(edns);
        let Parsed::Query(req) = parse(&m.to_vec().unwrap(), true, 1232) else { panic!("not a query") };
        assert_eq!(req.question.name.to_string(), "WwW.Example.");
        assert_eq!(req.udp_limit(1232), 1232);
        let Parsed::Query(req) = parse(&query("a.", RecordType::A).to_vec().unwrap(), true, 1232) else { panic!() };
        assert_eq!(req.udp_limit(1232), 512);
    }

    #[test]
    fn error_rcodes() {
        let ok = query("www.example.", RecordType::A);
        assert_eq!(rcode(parse(&ok.to_vec().unwrap(), false, 1232)), ResponseCode::Refused);
        let mut status = ok.clone();
        status.metadata.op_code = OpCode::Status;
        assert_eq!(rcode(parse(&status.to_vec().unwrap(), true, 1232)), ResponseCode::NotImp);
        let mut two = ok.clone();
        two.add_query(Query::query(Name::from_ascii("b.").unwrap(), RecordType::A));
        assert_eq!(rcode(parse(&two.to_vec().unwrap(), true, 1232)), ResponseCode::FormErr);
        let mut none = ok.clone();
        none.queries.clear();
        assert_eq!(rcode(parse(&none.to_vec().unwrap(), true, 1232)), ResponseCode::FormErr);
        let mut chaos = ok.clone();
        chaos.queries[0].set_query_class(DNSClass::CH);
        assert_eq!(rcode(parse(&chaos.to_vec().unwrap(), true, 1232)), ResponseCode::Refused);
        let axfr = query("example.", RecordType::AXFR);
        assert_eq!(rcode(parse(&axfr.to_vec().unwrap(), true, 1232)), ResponseCode::Refused);
        let mut v1 = ok.clone();
        let mut edns = Edns::new();
        edns.set_version(1);
        v1.set_edns(edns);
        assert_eq!(u16::from(rcode(parse(&v1.to_vec().unwrap(), true, 1232))), 16); // BADVERS (decoded as BADSIG, same value)
    }

    #[test]
    fn garbage_never_panics() {
        let ok = query("www.example.", RecordType::A).to_vec().unwrap();
        assert!(matches!(parse(&[], true, 1232), Parsed::Drop(DropReason::Unparseable)));
        assert!(matches!(parse(&ok[..11], true, 1232), Parsed::Drop(DropReason::Unparseable)));
        assert_eq!(rcode(parse(&ok[..14], true, 1232)), ResponseCode::FormErr);
        // QDCOUNT 65535 and nothing after the header.
        assert_eq!(rcode(parse(&[0x12, 0x34, 1, 0, 0xff, 0xff, 0, 0, 0, 0, 0, 0], true, 1232)), ResponseCode::FormErr);
        let mut garbage = ok[..12].to_vec();
        garbage.extend(std::iter::repeat_n(0xff, 300));
        assert_eq!(rcode(parse(&garbage, true, 1232)), ResponseCode::FormErr);
        let mut response = ok.clone();
        response[2] |= 0x80;
        assert!(matches!(parse(&response, true, 1232), Parsed::Drop(DropReason::Response)));
        // Every prefix and a few bit flips of a valid query.
        for n in 0..ok.len() {
            let _ = parse(&ok[..n], true, 1232);
            let mut flipped = ok.clone();
            flipped[n] ^= 0x5a;
            let _ = parse(&flipped, true, 1232);
        }
    }
}
