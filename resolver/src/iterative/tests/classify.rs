//! Table tests of reply classification: answers, CNAMEs, negatives, failures.

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType::{self, A, CNAME, MX};

use super::util::{Reply, a, aaaa, cname, name, ns, show, soa, txt};
use crate::iterative::classify::{Outcome, classify};

/// A short description of an outcome to compare against.
fn kind(outcome: &Outcome) -> String {
    let soa_owner =
        |soa: &Option<hickory_proto::rr::Record>| soa.as_ref().map_or("none".to_string(), |s| s.name.to_string());
    match outcome {
        Outcome::Answer { chain, records } => format!("answer {:?} {:?}", show(chain), show(records)),
        Outcome::Cname { chain, target } => format!("cname {} -> {target}", chain.len()),
        Outcome::Referral(r) => {
            let glue: Vec<String> = r.glue.iter().map(|(n, ip, _)| format!("{n}={ip}")).collect();
            let ns: Vec<String> = r.ns.iter().map(|n| n.to_string()).collect();
            format!("referral {} ns={ns:?} glue={glue:?} ttl={}", r.zone, r.ttl)
        }
        Outcome::NxDomain { chain, soa } => format!("nxdomain {} soa={}", chain.len(), soa_owner(soa)),
        Outcome::NoData { chain, soa } => format!("nodata {} soa={}", chain.len(), soa_owner(soa)),
        Outcome::Truncated => "truncated".to_string(),
        Outcome::FormErr => "formerr".to_string(),
        Outcome::Failure(reason) => format!("failure: {reason}"),
    }
}

/// One row: (what it shows, zone asked, question name, type, the reply, the expected [`kind`]).
pub(super) type Case = (&'static str, &'static str, &'static str, RecordType, Reply, &'static str);

#[test]
fn answers_negatives_and_failures() {
    let www = "www.example.test.";
    let cases: Vec<Case> = vec![
        (
            "authoritative answer",
            "example.test.",
            www,
            A,
            Reply::new().aa().ans([a(www, "192.0.2.10")]),
            r#"answer [] ["www.example.test. A 192.0.2.10"]"#,
        ),
        (
            "answer without AA is still an answer",
            "example.test.",
            www,
            A,
            Reply::new().ans([a(www, "192.0.2.10")]),
            r#"answer [] ["www.example.test. A 192.0.2.10"]"#,
        ),
        (
            "records of other names and types are dropped",
            "example.test.",
            www,
            A,
            Reply::new().aa().ans([
                a("evil.example.test.", "6.6.6.6"),
                a("www.evil.", "6.6.6.6"),
                aaaa(www, "::1"),
                a(www, "192.0.2.10"),
            ]),
            r#"answer [] ["www.example.test. A 192.0.2.10"]"#,
        ),
        (
            "in-zone CNAME followed inside the reply",
            "example.test.",
            "alias.example.test.",
            A,
            Reply::new().aa().ans([cname("alias.example.test.", www), a(www, "192.0.2.10")]),
            r#"answer ["alias.example.test. CNAME www.example.test."] ["www.example.test. A 192.0.2.10"]"#,
        ),
        (
            "cross-zone CNAME: out-of-bailiwick target data dropped",
            "example.test.",
            "cross.example.test.",
            A,
            Reply::new()
                .aa()
                .ans([cname("cross.example.test.", "target.other.test."), a("target.other.test.", "6.6.6.6")])
                .auth([ns("other.test.", "ns1.other.test.")]),
            "cname 1 -> target.other.test.",
        ),
        (
            "asking for the CNAME itself",
            "example.test.",
            "alias.example.test.",
            CNAME,
            Reply::new().aa().ans([cname("alias.example.test.", www)]),
            r#"answer [] ["alias.example.test. CNAME www.example.test."]"#,
        ),
        (
            "CNAME loop inside a reply stops at the repeat",
            "example.test.",
            "a.example.test.",
            A,
            Reply::new()
                .aa()
                .ans([cname("a.example.test.", "b.example.test."), cname("b.example.test.", "a.example.test.")]),
            "cname 2 -> a.example.test.",
        ),
        (
            "in-zone CNAME to a name without the type",
            "example.test.",
            "alias.example.test.",
            MX,
            Reply::new().aa().ans([cname("alias.example.test.", www)]).auth([soa("example.test.")]),
            "nodata 1 soa=example.test.",
        ),
        (
            "in-zone CNAME to a missing name",
            "example.test.",
            "alias.example.test.",
            A,
            Reply::new()
                .aa()
                .rcode(ResponseCode::NXDomain)
                .ans([cname("alias.example.test.", "gone.example.test.")])
                .auth([soa("example.test.")]),
            "nxdomain 1 soa=example.test.",
        ),
        (
            "NXDOMAIN with SOA",
            "example.test.",
            "nope.example.test.",
            A,
            Reply::new().aa().rcode(ResponseCode::NXDomain).auth([soa("example.test.")]),
            "nxdomain 0 soa=example.test.",
        ),
        (
            "NXDOMAIN: an SOA of another zone is not the proof",
            "example.test.",
            "nope.example.test.",
            A,
            Reply::new().aa().rcode(ResponseCode::NXDomain).auth([soa("evil.")]),
            "nxdomain 0 soa=none",
        ),
        (
            "NXDOMAIN without AA or SOA is lame",
            "example.test.",
            "nope.example.test.",
            A,
            Reply::new().rcode(ResponseCode::NXDomain),
            "failure: lame: NXDOMAIN without AA or SOA",
        ),
        (
            "NODATA with SOA",
            "example.test.",
            "v4only.example.test.",
            RecordType::AAAA,
            Reply::new().aa().auth([soa("example.test.")]),
            "nodata 0 soa=example.test.",
        ),
        (
            "NODATA, authoritative, without SOA",
            "example.test.",
            "v4only.example.test.",
            RecordType::AAAA,
            Reply::new().aa(),
            "nodata 0 soa=none",
        ),
        (
            "empty non-authoritative reply is lame",
            "example.test.",
            www,
            A,
            Reply::new(),
            "failure: lame: no answer, referral or SOA, and not authoritative",
        ),
        (
            "truncated",
            "example.test.",
            "big.example.test.",
            RecordType::TXT,
            Reply::new().aa().tc().ans([txt("big.example.test.", "x")]),
            "truncated",
        ),
        ("FORMERR", "example.test.", www, A, Reply::new().rcode(ResponseCode::FormErr), "formerr"),
        (
            "SERVFAIL",
            "example.test.",
            www,
            A,
            Reply::new().rcode(ResponseCode::ServFail),
            "failure: rcode Server Failure",
        ),
        ("REFUSED", "example.test.", www, A, Reply::new().rcode(ResponseCode::Refused), "failure: rcode Query Refused"),
        (
            "records, but none for the question",
            "example.test.",
            www,
            A,
            Reply::new().aa().ans([a("www.evil.", "6.6.6.6")]).auth([soa("example.test.")]),
            "failure: answer section holds nothing for the question",
        ),
        (
            "a server asked outside its zone",
            "other.test.",
            www,
            A,
            Reply::new().aa().ans([a(www, "6.6.6.6")]),
            "failure: www.example.test. is not in zone other.test.",
        ),
    ];
    check(cases);
}

/// Classifies each case's reply and reports every mismatch at once.
pub(super) fn check(cases: Vec<Case>) {
    let mut failures = Vec::new();
    for (what, zone, qname, qtype, reply, expect) in cases {
        let msg = reply.to(1, qname, qtype);
        let got = kind(&classify(&msg, &name(qname), qtype, &name(zone)));
        if got != expect {
            failures.push(format!("{what}:\n   got {got}\n  want {expect}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
