//! Table tests of referrals and their bailiwick rules (RFC 5452 §6).

use hickory_proto::rr::RecordType::A;

use super::classify::{Case, check};
use super::util::{Reply, a, name, ns};
use crate::iterative::classify::strictly_below;

#[test]
fn referrals_with_and_without_glue() {
    let glue = || [a("ns1.example.test.", "127.0.0.103"), a("ns2.example.test.", "127.0.0.104")];
    let ex_ns = || [ns("example.test.", "ns1.example.test."), ns("example.test.", "ns2.example.test.")];
    let www = "www.example.test.";
    let cases: Vec<Case> = vec![
        (
            "referral with glue",
            "test.",
            www,
            A,
            Reply::new().auth(ex_ns()).add(glue()),
            r#"referral example.test. ns=["ns1.example.test.", "ns2.example.test."] glue=["ns1.example.test.=127.0.0.103", "ns2.example.test.=127.0.0.104"] ttl=3600"#,
        ),
        (
            "referral without glue",
            "test.",
            "host.glueless.test.",
            A,
            Reply::new().auth([ns("glueless.test.", "ns.other.test.")]),
            r#"referral glueless.test. ns=["ns.other.test."] glue=[] ttl=3600"#,
        ),
        (
            "glue outside the parent's bailiwick is dropped",
            "test.",
            "host.glueless.test.",
            A,
            Reply::new().auth([ns("glueless.test.", "ns.evil.")]).add([a("ns.evil.", "6.6.6.6")]),
            r#"referral glueless.test. ns=["ns.evil."] glue=[] ttl=3600"#,
        ),
        (
            "addresses of names that are not NS targets are dropped",
            "test.",
            www,
            A,
            Reply::new().auth(ex_ns()).add([a("ns1.example.test.", "127.0.0.103"), a("www.example.test.", "6.6.6.6")]),
            r#"referral example.test. ns=["ns1.example.test.", "ns2.example.test."] glue=["ns1.example.test.=127.0.0.103"] ttl=3600"#,
        ),
        (
            "NS of another owner in a referral are dropped",
            "test.",
            www,
            A,
            Reply::new().auth([ns("other.test.", "ns.evil.test."), ns("example.test.", "ns1.example.test.")]),
            r#"referral example.test. ns=["ns1.example.test."] glue=[] ttl=3600"#,
        ),
        (
            "referral from the root",
            ".",
            www,
            A,
            Reply::new().auth([ns("test.", "ns.nic.test.")]).add([a("ns.nic.test.", "127.0.0.102")]),
            r#"referral test. ns=["ns.nic.test."] glue=["ns.nic.test.=127.0.0.102"] ttl=3600"#,
        ),
        (
            "upward referral is lame",
            "example.test.",
            www,
            A,
            Reply::new().auth([ns(".", "a.root-servers.net.")]),
            "failure: lame: referral to . from example.test. for www.example.test.",
        ),
        (
            "referral to the zone itself is lame",
            "example.test.",
            www,
            A,
            Reply::new().auth(ex_ns()),
            "failure: lame: referral to example.test. from example.test. for www.example.test.",
        ),
        (
            "sideways referral is lame",
            "test.",
            www,
            A,
            Reply::new().auth([ns("other.test.", "ns1.other.test.")]),
            "failure: lame: referral to other.test. from test. for www.example.test.",
        ),
        (
            "referral below the name asked is lame",
            "test.",
            "example.test.",
            A,
            Reply::new().auth([ns("sub.example.test.", "ns.sub.example.test.")]),
            "failure: lame: referral to sub.example.test. from test. for example.test.",
        ),
    ];
    check(cases);
}

#[test]
fn bailiwick_helpers() {
    assert!(strictly_below(&name("."), &name("test.")));
    assert!(strictly_below(&name("test."), &name("Example.TEST.")));
    assert!(!strictly_below(&name("test."), &name("test.")));
    assert!(!strictly_below(&name("example.test."), &name("test.")));
    assert!(!strictly_below(&name("example.test."), &name("badexample.test.")));
}
