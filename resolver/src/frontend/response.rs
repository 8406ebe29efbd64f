//! Building responses: the ID, question and RD echoed, RA set (RFC 1035
//! §4.1.1), the client's letter case kept (DNS 0x20), NXDOMAIN and NODATA
//! with the SOA in the authority section (RFC 2308 §3), an OPT record when
//! the client sent one (RFC 6891 §6.1.1) carrying Extended DNS Errors
//! (RFC 8914), and truncation with TC when it does not fit (RFC 1035
//! §4.2.1, RFC 6891 §7).

use hickory_proto::op::{Edns, Message, MessageType, Metadata, Query, ResponseCode};
use hickory_proto::rr::rdata::opt::EdnsOption;
use hickory_proto::rr::{Name, Record};

use super::wire::{ClientEdns, Request};
use crate::answer::{Resolution, ResolveError};

/// The EDNS option code of an Extended DNS Error (RFC 8914 §2).
const EDE_OPTION: u16 = 15;

/// An encoded response and its RCODE (for metrics).
#[derive(Clone, Debug)]
pub(crate) struct Response {
    /// The wire form; empty if it could not be encoded at all.
    pub(crate) bytes: Vec<u8>,
    /// The RCODE it carries.
    pub(crate) rcode: ResponseCode,
}

/// An Extended DNS Error (RFC 8914 §4): an INFO-CODE and EXTRA-TEXT.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Ede {
    code: u16,
    text: String,
}

impl Ede {
    /// 0, Other.
    const OTHER: Ede = Ede { code: 0, text: String::new() };
    /// 3, Stale Answer (RFC 8914 §4.4; RFC 8767).
    pub(crate) const STALE_ANSWER: Ede = Ede { code: 3, text: String::new() };
    /// 18, Prohibited: the client is outside the ACL.
    pub(crate) const PROHIBITED: Ede = Ede { code: 18, text: String::new() };
    /// 21, Not Supported.
    pub(crate) const NOT_SUPPORTED: Ede = Ede { code: 21, text: String::new() };
    /// 22, No Reachable Authority.
    const NO_REACHABLE_AUTHORITY: Ede = Ede { code: 22, text: String::new() };
    /// 23, Network Error.
    const NETWORK_ERROR: Ede = Ede { code: 23, text: String::new() };

    /// The EDE explaining a SERVFAIL, with the error as EXTRA-TEXT.
    pub(crate) fn for_error(err: &ResolveError) -> Ede {
        let base = match err {
            ResolveError::Timeout { .. } => Ede::NO_REACHABLE_AUTHORITY,
            ResolveError::AllServersFailed { .. } => Ede::NETWORK_ERROR,
            ResolveError::NotSupported(_) => Ede::NOT_SUPPORTED,
            ResolveError::Budget(_) | ResolveError::Loop(_) => Ede::OTHER,
        };
        let mut text = err.to_string();
        if text.len() > 200 {
            let mut end = 200;
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            text.truncate(end);
        }
        Ede { text, ..base }
    }

    fn option(&self) -> EdnsOption {
        let mut data = self.code.to_be_bytes().to_vec();
        data.extend_from_slice(self.text.as_bytes());
        EdnsOption::Unknown(EDE_OPTION, data)
    }
}

/// The response header for a query with `meta`: ID, opcode, RD and CD
/// echoed, RA set.
fn header(meta: &Metadata, rcode: ResponseCode) -> Metadata {
    let mut m = Metadata::new(meta.id, MessageType::Response, meta.op_code);
    m.recursion_desired = meta.recursion_desired;
    m.checking_disabled = meta.checking_disabled;
    m.recursion_available = true;
    m.response_code = rcode;
    m
}

/// Our OPT record, if the client sent one: our payload size, DO copied, EDE.
fn opt(client: Option<ClientEdns>, our_payload: u16, ede: Option<&Ede>) -> Option<Edns> {
    let client = client?;
    let mut edns = Edns::new();
    edns.set_max_payload(our_payload.max(512)).set_version(0).set_dnssec_ok(client.dnssec_ok);
    if let Some(ede) = ede {
        edns.options_mut().insert(ede.option());
    }
    Some(edns)
}

/// Encodes `msg`; if it exceeds `limit`, again without records and with TC.
fn encode(mut msg: Message, limit: usize) -> Response {
    let rcode = msg.response_code;
    match msg.to_vec() {
        Ok(bytes) if bytes.len() <= limit => Response { bytes, rcode },
        Ok(_) => {
            msg.answers.clear();
            msg.authorities.clear();
            msg.additionals.clear();
            msg.metadata.truncation = true;
            Response { bytes: msg.to_vec().unwrap_or_default(), rcode }
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot encode a DNS response; answering SERVFAIL");
            let mut fail = Message::new(msg.id, MessageType::Response, msg.op_code);
            fail.metadata = header(&msg.metadata, ResponseCode::ServFail);
            Response { bytes: fail.to_vec().unwrap_or_default(), rcode: ResponseCode::ServFail }
        }
    }
}

/// An error response (no records) to a query with `meta`.
pub(crate) fn error_response(
    meta: &Metadata,
    query: Option<&Query>,
    edns: Option<ClientEdns>,
    rcode: ResponseCode,
    ede: Option<Ede>,
    our_payload: u16,
) -> Response {
    let mut msg = Message::new(meta.id, MessageType::Response, meta.op_code);
    msg.metadata = header(meta, rcode);
    msg.queries.extend(query.cloned());
    msg.edns = opt(edns, our_payload, ede.as_ref());
    encode(msg, 512)
}

/// A response to `req` with no records: the question and `rcode`.
fn bare(req: &Request, rcode: ResponseCode, ede: Option<&Ede>, our_payload: u16) -> Message {
    let q = &req.question;
    let mut query = Query::query(q.name.clone(), q.qtype);
    query.set_query_class(q.qclass);
    let mut msg = Message::new(req.metadata.id, MessageType::Response, req.metadata.op_code);
    msg.metadata = header(&req.metadata, rcode);
    msg.add_query(query);
    msg.edns = opt(req.edns, our_payload, ede);
    msg
}

/// `records` with owner names equal to `qname` spelled as the client did.
fn client_case(records: &[Record], qname: &Name) -> Vec<Record> {
    records
        .iter()
        .map(|r| {
            let mut r = r.clone();
            if r.name == *qname {
                r.name = qname.clone();
            }
            r
        })
        .collect()
}

/// The response carrying `res`, at most `limit` bytes.
pub(crate) fn resolution_response(
    req: &Request,
    res: &Resolution,
    stale: bool,
    limit: usize,
    our_payload: u16,
) -> Response {
    let qname = &req.question.name;
    let ede = stale.then_some(Ede::STALE_ANSWER);
    let (rcode, answers, soa) = match res {
        Resolution::Answer { records } => (ResponseCode::NoError, records, None),
        Resolution::NxDomain { cname_chain, soa } => (ResponseCode::NXDomain, cname_chain, soa.as_ref()),
        Resolution::NoData { cname_chain, soa } => (ResponseCode::NoError, cname_chain, soa.as_ref()),
    };
    let mut msg = bare(req, rcode, ede.as_ref(), our_payload);
    msg.answers = client_case(answers, qname);
    msg.authorities.extend(soa.cloned());
    encode(msg, limit)
}

/// SERVFAIL for `req`, with an EDE saying why (RFC 8914).
pub(crate) fn failure_response(req: &Request, err: &ResolveError, our_payload: u16) -> Response {
    encode(bare(req, ResponseCode::ServFail, Some(&Ede::for_error(err)), our_payload), 512)
}

/// An empty response to `req` with `rcode` and the question echoed.
pub(crate) fn rcode_response(req: &Request, rcode: ResponseCode, our_payload: u16) -> Response {
    encode(bare(req, rcode, None, our_payload), 512)
}

/// An empty truncated response to `req` (rate-limit "slip": a real client
/// retries over TCP).
pub(crate) fn truncated_response(req: &Request, our_payload: u16) -> Response {
    let mut msg = bare(req, ResponseCode::NoError, None, our_payload);
    msg.metadata.truncation = true;
    encode(msg, 512)
}
