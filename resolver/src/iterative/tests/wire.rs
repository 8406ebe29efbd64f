//! Queries as sent, and the acceptance checks on replies (RFC 5452 §9.1).

use std::net::SocketAddr;

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::RecordType;

use super::util::{Reply, a, name};
use crate::iterative::wire::{Checked, Expect, build_query, check_reply};

const SERVER: &str = "192.0.2.53:53";

fn expect<'a>(qname: &'a hickory_proto::rr::Name) -> Expect<'a> {
    Expect { to: SERVER.parse().unwrap(), id: 0x1234, name: qname, qtype: RecordType::A }
}

fn verdict(bytes: &[u8], from: &str) -> String {
    let qname = name("www.example.test.");
    match check_reply(&expect(&qname), from.parse::<SocketAddr>().unwrap(), bytes) {
        Checked::Ignore(why) => format!("ignore: {why}"),
        Checked::Malformed(_) => "malformed".to_string(),
        Checked::Reply(_) => "reply".to_string(),
    }
}

#[test]
fn queries_are_iterative_with_edns() {
    let bytes = build_query(7, &name("www.example.test."), RecordType::AAAA, Some(1232)).unwrap();
    let msg = Message::from_vec(&bytes).unwrap();
    assert_eq!(msg.metadata.id, 7);
    assert!(!msg.metadata.recursion_desired, "RD must be 0");
    assert_eq!(msg.queries.len(), 1);
    assert_eq!(msg.queries[0].query_type(), RecordType::AAAA);
    let edns = msg.edns.expect("OPT record");
    assert_eq!(edns.max_payload(), 1232);
    assert_eq!(edns.version(), 0);
    assert!(!edns.flags().dnssec_ok);

    let plain = Message::from_vec(&build_query(8, &name("www.example.test."), RecordType::A, None).unwrap()).unwrap();
    assert!(plain.edns.is_none(), "no OPT when EDNS is off");
}

#[test]
fn reply_acceptance_table() {
    let good = Reply::new().aa().ans([a("www.example.test.", "192.0.2.10")]);
    let bytes = |m: Message| m.to_vec().unwrap();
    let ok = bytes(good.clone().to(0x1234, "www.example.test.", RecordType::A));
    let mut query_not_response = good.clone().to(0x1234, "www.example.test.", RecordType::A);
    query_not_response.metadata.message_type = hickory_proto::op::MessageType::Query;
    let mut garbage = vec![0x12, 0x34];
    garbage.extend_from_slice(&[0xff; 40]);
    let cases: Vec<(&str, Vec<u8>, &str, &str)> = vec![
        ("the reply", ok.clone(), SERVER, "reply"),
        (
            "same name in other case",
            bytes(good.clone().to(0x1234, "WWW.Example.TEST.", RecordType::A)),
            SERVER,
            "reply",
        ),
        ("from another address", ok.clone(), "192.0.2.54:53", "ignore: source address differs"),
        ("from another port", ok.clone(), "192.0.2.53:5353", "ignore: source address differs"),
        (
            "another ID",
            bytes(good.clone().to(0x4321, "www.example.test.", RecordType::A)),
            SERVER,
            "ignore: query ID differs",
        ),
        (
            "another name",
            bytes(good.clone().to(0x1234, "mail.example.test.", RecordType::A)),
            SERVER,
            "ignore: question differs",
        ),
        (
            "another type",
            bytes(good.clone().to(0x1234, "www.example.test.", RecordType::MX)),
            SERVER,
            "ignore: question differs",
        ),
        ("a query, not a response", bytes(query_not_response), SERVER, "ignore: not a response"),
        ("one byte", vec![0x12], SERVER, "ignore: shorter than a DNS header"),
        ("our ID, short header", vec![0x12, 0x34, 0x80], SERVER, "malformed"),
        ("our ID, garbage", garbage, SERVER, "malformed"),
        ("truncated in the middle of a record", ok[..ok.len() - 3].to_vec(), SERVER, "malformed"),
    ];
    for (what, bytes, from, want) in cases {
        assert_eq!(verdict(&bytes, from), want, "{what}");
    }
}

#[test]
fn error_replies_without_question_are_accepted() {
    let mut formerr = Reply::new().rcode(ResponseCode::FormErr).to(0x1234, "www.example.test.", RecordType::A);
    formerr.queries.clear();
    assert_eq!(verdict(&formerr.to_vec().unwrap(), SERVER), "reply");
    let mut empty_ok = Reply::new().aa().to(0x1234, "www.example.test.", RecordType::A);
    empty_ok.queries.clear();
    assert_eq!(verdict(&empty_ok.to_vec().unwrap(), SERVER), "ignore: question differs");
}
