//! Queries out and replies in: the wire format (hickory-proto) and the
//! acceptance checks of RFC 5452 §9.1 (source address, query ID, question).

use std::net::SocketAddr;

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{DNSClass, Name, RecordType};

/// The DNS header is 12 bytes (RFC 1035 §4.1.1).
const HEADER_LEN: usize = 12;

/// An iterative query: RD=0 (RFC 1034 §5.3.3: we do the recursion), one
/// question of class IN and, unless `edns_payload` is None, an OPT record
/// advertising that UDP payload size (RFC 6891 §6.2.5; 1232 is the DNS Flag
/// Day 2020 value).
pub(crate) fn build_query(
    id: u16,
    name: &Name,
    qtype: RecordType,
    edns_payload: Option<u16>,
) -> Result<Vec<u8>, String> {
    let mut msg = Message::new(id, MessageType::Query, OpCode::Query);
    msg.metadata.recursion_desired = false;
    let mut query = Query::query(name.clone(), qtype);
    query.set_query_class(DNSClass::IN);
    msg.add_query(query);
    if let Some(payload) = edns_payload {
        let mut edns = Edns::new();
        edns.set_max_payload(payload).set_version(0);
        msg.set_edns(edns);
    }
    msg.to_vec().map_err(|e| format!("cannot encode query for {name} {qtype}: {e}"))
}

/// What to make of a datagram or TCP message received for a query.
#[derive(Debug)]
pub(crate) enum Checked {
    /// Not the reply we wait for (wrong source, ID, question, or not a
    /// response): drop it and keep waiting (RFC 5452 §9.1). The reason is for logs.
    Ignore(&'static str),
    /// From the server, with our ID, but not a usable DNS message: that
    /// server failed.
    Malformed(String),
    /// The reply.
    Reply(Box<Message>),
}

/// What was asked, to check a reply against.
#[derive(Clone, Debug)]
pub(crate) struct Expect<'a> {
    /// The server the query went to.
    pub to: SocketAddr,
    /// The query ID.
    pub id: u16,
    /// The question name.
    pub name: &'a Name,
    /// The question type.
    pub qtype: RecordType,
}

/// Checks a received message against the query it should answer. A reply
/// must come from the address the query went to, carry its ID, be a
/// response to a standard query and echo the question (RFC 5452 §9.1);
/// anything else is ignored, so a spoofer has to guess port, ID and
/// question at once. Only a message that passes the address and ID checks
/// and then fails to decode counts as a malformed reply from that server.
pub(crate) fn check_reply(expect: &Expect<'_>, from: SocketAddr, bytes: &[u8]) -> Checked {
    if from != expect.to {
        return Checked::Ignore("source address differs");
    }
    let Some(id) = bytes.get(..2) else { return Checked::Ignore("shorter than a DNS header") };
    if u16::from_be_bytes([id[0], id[1]]) != expect.id {
        return Checked::Ignore("query ID differs");
    }
    if bytes.len() < HEADER_LEN {
        return Checked::Malformed(format!("reply of {} bytes, shorter than a header", bytes.len()));
    }
    let msg = match Message::from_vec(bytes) {
        Ok(msg) => msg,
        Err(e) => return Checked::Malformed(format!("undecodable reply: {e}")),
    };
    if msg.metadata.message_type != MessageType::Response {
        return Checked::Ignore("not a response");
    }
    if msg.metadata.op_code != OpCode::Query {
        return Checked::Malformed(format!("reply with opcode {:?}", msg.metadata.op_code));
    }
    let echoes = match msg.queries.as_slice() {
        [q] => q.name() == expect.name && q.query_type() == expect.qtype && q.query_class() == DNSClass::IN,
        // Some servers drop the question from error replies (e.g. FORMERR to an OPT they dislike).
        [] => !matches!(msg.metadata.response_code, ResponseCode::NoError | ResponseCode::NXDomain),
        _ => false,
    };
    if !echoes {
        return Checked::Ignore("question differs");
    }
    Checked::Reply(Box::new(msg))
}
