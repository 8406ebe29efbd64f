//! The sans-IO core with scripted replies: referrals, failover, TCP, EDNS
//! fallback, spoofed datagrams, limits.

use std::net::SocketAddr;
use std::time::Duration;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{DNSClass, RecordType};

use super::harness::{Action, Sent, run, shared};
use super::util::{Reply, a, cname, name, ns, soa, txt};
use crate::answer::{Question, Resolution, ResolveError};
use crate::iterative::IterConfig;

const ROOT: &str = "10.0.0.1:53";
const EX1: &str = "10.1.0.1:53";
const EX2: &str = "10.1.0.2:53";
const OTHER: &str = "10.2.0.1:53";
const GLUELESS: &str = "10.3.0.1:53";

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn cfg() -> IterConfig {
    IterConfig::with_roots(vec![addr(ROOT)])
}

fn q(n: &str, t: RecordType) -> Question {
    Question::new(name(n), t)
}

/// A small world: `.` refers example./other./glueless.; example. has two
/// servers; glueless. is served by ns.other. (no glue anywhere).
fn world(s: &Sent) -> Action {
    let under = |zone: &str| s.qname == zone || s.qname.ends_with(&format!(".{zone}"));
    let nx = |zone: &str| Action::Reply(Reply::new().aa().rcode(ResponseCode::NXDomain).auth([soa(zone)]));
    let to = s.to.to_string();
    if to == ROOT {
        return Action::Reply(if under("example.") {
            Reply::new()
                .auth([ns("example.", "ns1.example."), ns("example.", "ns2.example.")])
                .add([a("ns1.example.", "10.1.0.1"), a("ns2.example.", "10.1.0.2")])
        } else if under("other.") {
            Reply::new().auth([ns("other.", "ns.other.")]).add([a("ns.other.", "10.2.0.1")])
        } else if under("glueless.") {
            Reply::new().auth([ns("glueless.", "ns.glueless-host.other.")])
        } else {
            Reply::new().aa().rcode(ResponseCode::NXDomain).auth([soa(".")])
        });
    }
    let answer = |records| Action::Reply(Reply::new().aa().ans(records));
    match (to.as_str(), s.qname.as_str(), s.qtype) {
        (EX1 | EX2, "www.example.", RecordType::A) => answer(vec![a("www.example.", "192.0.2.10")]),
        (EX1 | EX2, "cross.example.", RecordType::A) => answer(vec![cname("cross.example.", "www.other.")]),
        (EX1 | EX2, "big.example.", RecordType::TXT) if !s.tcp => Action::Reply(Reply::new().aa().tc()),
        (EX1 | EX2, "big.example.", RecordType::TXT) => {
            answer((0..12).map(|i| txt("big.example.", &format!("part {i}"))).collect())
        }
        (EX1 | EX2, _, _) => nx("example."),
        (OTHER, "www.other.", RecordType::A) => answer(vec![a("www.other.", "192.0.2.20")]),
        (OTHER, "ns.glueless-host.other.", RecordType::A) => answer(vec![a("ns.glueless-host.other.", "10.3.0.1")]),
        (OTHER, _, _) => nx("other."),
        (GLUELESS, "www.glueless.", RecordType::A) => answer(vec![a("www.glueless.", "192.0.2.30")]),
        (GLUELESS, _, _) => nx("glueless."),
        _ => Action::Silent,
    }
}

fn is_example_server(s: &Sent) -> bool {
    s.to == addr(EX1) || s.to == addr(EX2)
}

/// `world`, except that the first example. server asked does `action()` (always).
fn first_example_server_does(mut action: impl FnMut() -> Action) -> impl FnMut(&Sent) -> Action {
    let mut first = None;
    move |s: &Sent| {
        if is_example_server(s) && *first.get_or_insert(s.to) == s.to {
            return action();
        }
        world(s)
    }
}

#[test]
fn referrals_then_the_delegation_cache() {
    let shared = shared(cfg());
    let run1 = run(&shared, &q("www.example.", RecordType::A), world);
    assert_eq!(run1.answer(), ["www.example. A 192.0.2.10"]);
    assert_eq!(run1.log.len(), 2);
    assert_eq!(run1.log[0].to, addr(ROOT));
    assert!(run1.log.iter().all(|s| s.edns && !s.tcp), "EDNS over UDP");
    assert_ne!(run1.log[0].id, run1.log[1].id, "a new random ID per query");
    let run2 = run(&shared, &q("WWW.example.", RecordType::A), world);
    assert_eq!(run2.log.len(), 1, "the root is skipped: {:?}", run2.log);
    assert!(is_example_server(&run2.log[0]));
}

#[test]
fn negative_answers_and_cross_zone_cname() {
    let shared = shared(cfg());
    match run(&shared, &q("nope.example.", RecordType::A), world).result {
        Ok(Resolution::NxDomain { cname_chain, soa: Some(soa) }) => {
            assert!(cname_chain.is_empty());
            assert_eq!(soa.name, name("example."));
        }
        other => panic!("{other:?}"),
    }
    let cross = run(&shared, &q("cross.example.", RecordType::A), world);
    assert_eq!(cross.answer(), ["cross.example. CNAME www.other.", "www.other. A 192.0.2.20"]);
    assert_eq!(cross.log.last().map(|s| s.to), Some(addr(OTHER)));
}

#[test]
fn timeout_moves_to_the_next_server() {
    let run = run(&shared(cfg()), &q("www.example.", RecordType::A), first_example_server_does(|| Action::Silent));
    assert_eq!(run.answer(), ["www.example. A 192.0.2.10"]);
    let servers = run.servers();
    assert_eq!(servers.len(), 3);
    assert_ne!(servers[1], servers[2], "the other example. server");
    assert!(run.elapsed >= Duration::from_millis(800) && run.elapsed < Duration::from_millis(900), "{:?}", run.elapsed);
}

#[test]
fn failing_servers_are_skipped_at_once() {
    type Failing = (&'static str, fn() -> Action);
    let failures: Vec<Failing> = vec![
        ("malformed", || Action::Garbage),
        ("connection refused", || Action::Io),
        ("REFUSED", || Action::Reply(Reply::new().rcode(ResponseCode::Refused))),
        ("SERVFAIL", || Action::Reply(Reply::new().rcode(ResponseCode::ServFail))),
        ("upward referral (lame)", || Action::Reply(Reply::new().auth([ns(".", "a.root.")]))),
        ("empty non-authoritative (lame)", || Action::Reply(Reply::new())),
        ("out-of-bailiwick answer only", || Action::Reply(Reply::new().aa().ans([a("www.evil.", "6.6.6.6")]))),
        ("FORMERR without EDNS either", || Action::Reply(Reply::new().rcode(ResponseCode::FormErr))),
    ];
    for (what, action) in failures {
        let run = run(&shared(cfg()), &q("www.example.", RecordType::A), first_example_server_does(action));
        assert_eq!(run.answer(), ["www.example. A 192.0.2.10"], "{what}");
        assert!(run.elapsed < Duration::from_millis(100), "{what}: no waiting ({:?})", run.elapsed);
        let example: Vec<_> = run.log.iter().filter(|s| is_example_server(s)).map(|s| s.to).collect();
        assert_eq!(example.first(), example.get(example.len().saturating_sub(2)), "{what}: {example:?}");
        assert_ne!(example.first(), example.last(), "{what}: the other server answered");
    }
}

#[test]
fn truncated_reply_is_retried_over_tcp_at_the_same_server() {
    let run = run(&shared(cfg()), &q("big.example.", RecordType::TXT), world);
    assert_eq!(run.answer().len(), 12);
    let [.., udp, tcp] = run.log.as_slice() else { panic!("{:?}", run.log) };
    assert!(!udp.tcp && tcp.tcp && udp.to == tcp.to, "{:?}", run.log);
    assert_ne!(udp.id, tcp.id);
}

#[test]
fn formerr_to_edns_is_retried_without_it() {
    let shared = shared(cfg());
    let net = |s: &Sent| {
        if is_example_server(s) && s.edns { Action::Reply(Reply::new().rcode(ResponseCode::FormErr)) } else { world(s) }
    };
    let run1 = run(&shared, &q("www.example.", RecordType::A), net);
    assert_eq!(run1.answer(), ["www.example. A 192.0.2.10"]);
    let [.., with, without] = run1.log.as_slice() else { panic!() };
    assert!(with.edns && !without.edns && with.to == without.to, "{:?}", run1.log);
    let run2 = run(&shared, &q("www.example.", RecordType::A), net);
    let first = run2.log.first().unwrap();
    assert!(!first.edns || first.to != without.to, "the server's lack of EDNS is remembered");
}

#[test]
fn spoofed_datagrams_are_ignored() {
    let net = |s: &Sent| {
        if !is_example_server(s) {
            return world(s);
        }
        let bytes = |id: u16, qname: &str, ip: &str| {
            Reply::new().aa().ans([a(qname, ip)]).to(id, qname, RecordType::A).to_vec().unwrap()
        };
        Action::Datagrams(vec![
            (addr("10.9.9.9:53"), bytes(s.id, "www.example.", "6.6.6.1")),
            (SocketAddr::new(s.to.ip(), 5353), bytes(s.id, "www.example.", "6.6.6.2")),
            (s.to, bytes(s.id.wrapping_add(1), "www.example.", "6.6.6.3")),
            (s.to, bytes(s.id, "mail.example.", "6.6.6.4")),
            (s.to, bytes(s.id, "www.example.", "192.0.2.10")),
        ])
    };
    let run = run(&shared(cfg()), &q("www.example.", RecordType::A), net);
    assert_eq!(run.answer(), ["www.example. A 192.0.2.10"]);
    assert_eq!(run.log.len(), 2);
}

#[test]
fn glueless_name_servers_are_resolved_on_the_side() {
    let found = run(&shared(cfg()), &q("www.glueless.", RecordType::A), world);
    assert_eq!(found.answer(), ["www.glueless. A 192.0.2.30"]);
    let asked: Vec<(String, String)> = found.log.iter().map(|s| (s.to.to_string(), s.qname.clone())).collect();
    assert!(asked.contains(&(OTHER.to_string(), "ns.glueless-host.other.".to_string())), "{asked:?}");
    assert_eq!(asked.last().unwrap().0, GLUELESS);
    // Without an address for its name server, the zone fails after a bounded number of queries.
    let net =
        |s: &Sent| if s.to == addr(OTHER) { Action::Reply(Reply::new().aa().auth([soa("other.")])) } else { world(s) };
    let failed = run(&shared(cfg()), &q("www.glueless.", RecordType::A), net);
    assert!(
        matches!(failed.result, Err(ResolveError::AllServersFailed { ref zone, .. }) if zone == "glueless."),
        "{:?}",
        failed.result
    );
    assert!(failed.log.len() <= 5, "A then AAAA of the NS name: {:?}", failed.log);
}

#[test]
fn everything_silent_is_a_timeout() {
    let all = run(&shared(cfg()), &q("www.example.", RecordType::A), |s| {
        if is_example_server(s) { Action::Silent } else { world(s) }
    });
    assert_eq!(all.result, Err(ResolveError::Timeout { zone: "example.".to_string() }));
    assert_eq!(all.log.len(), 1 + 2 * 2, "each server tried twice");

    let short = IterConfig { deadline: Duration::from_millis(1000), ..cfg() };
    let late = run(&shared(short), &q("www.example.", RecordType::A), |_| Action::Silent);
    assert!(matches!(late.result, Err(ResolveError::Timeout { .. })));
    assert!(late.elapsed <= Duration::from_millis(1000), "{:?}", late.elapsed);
}

#[test]
fn limits_on_queries_and_cnames() {
    let few = IterConfig { max_queries: 3, ..cfg() };
    let run1 = run(&shared(few), &q("cross.example.", RecordType::A), |s| {
        if s.to == addr(OTHER) { Action::Silent } else { world(s) }
    });
    assert!(matches!(run1.result, Err(ResolveError::Budget(_))), "{:?}", run1.result);
    assert_eq!(run1.log.len(), 3);

    // x0.example. → x1.other. → x2.example. → ... never ends.
    let endless = |s: &Sent| {
        let label = s.qname.split('.').next().unwrap_or("");
        match label.strip_prefix('x').and_then(|n| n.parse::<u32>().ok()) {
            Some(n) if s.to != addr(ROOT) => {
                let zone = if n % 2 == 0 { "other." } else { "example." };
                Action::Reply(Reply::new().aa().ans([cname(&s.qname, &format!("x{}.{zone}", n + 1))]))
            }
            _ => world(s),
        }
    };
    let run2 = run(&shared(cfg()), &q("x0.example.", RecordType::A), endless);
    assert!(matches!(&run2.result, Err(ResolveError::Budget(m)) if m.contains("16 CNAMEs")), "{:?}", run2.result);

    let looping = |s: &Sent| match s.qname.as_str() {
        "a.example." if s.to != addr(ROOT) => Action::Reply(Reply::new().aa().ans([cname("a.example.", "b.other.")])),
        "b.other." if s.to != addr(ROOT) => Action::Reply(Reply::new().aa().ans([cname("b.other.", "A.example.")])),
        _ => world(s),
    };
    let run3 = run(&shared(cfg()), &q("a.example.", RecordType::A), looping);
    assert!(matches!(run3.result, Err(ResolveError::Loop(_))), "{:?}", run3.result);
}

#[test]
fn only_class_in() {
    let chaos = Question { qclass: DNSClass::CH, ..q("www.example.", RecordType::A) };
    let run = run(&shared(cfg()), &chaos, world);
    assert!(matches!(run.result, Err(ResolveError::NotSupported(_))));
    assert!(run.log.is_empty());
}

#[test]
fn resolver_is_shareable_across_tasks() {
    fn send_sync_clone<T: Send + Sync + Clone>(_: &T) {}
    fn send<T: Send>(_: &T) {}
    let resolver = crate::iterative::Iterative::new(cfg());
    send_sync_clone(&resolver);
    let question = q("www.example.", RecordType::A);
    send(&resolver.resolve(&question));
}
