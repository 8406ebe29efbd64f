//! The DNS front end over real sockets, checked with `dig` (and raw UDP/TCP
//! clients where dig cannot say it): RCODEs, 0x20, EDNS0 truncation and
//! TCP fallback, TCP pipelining and limits, the answer cache, negative
//! caching, serve-stale and rate limiting. The handler is a stub.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

#[path = "frontend/caching.rs"]
mod caching;
#[path = "frontend/support.rs"]
mod support;

use std::sync::Arc;
use std::time::Duration;

use dhtr_resolver::frontend::{Frontend, FrontendConfig};
use hickory_proto::op::{Message, Query, ResponseCode};
use hickory_proto::rr::RecordType;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;

use self::support::*;

#[tokio::test(flavor = "multi_thread")]
async fn answers_echo_the_question_and_its_letter_case() {
    let Some(s) = start_for_dig(|_| {}).await else { return };
    let out = norm(&dig(s.addr, &["WwW.ExAmPlE.", "A"]).await);
    assert!(out.contains("status: NOERROR"), "{out}");
    assert!(out.contains("flags: qr rd ra;"), "{out}");
    assert!(out.contains(";WwW.ExAmPlE. IN A"), "{out}");
    assert!(out.contains("WwW.ExAmPlE. 300 IN A 192.0.2.1"), "{out}");
    assert!(out.contains("udp: 1232"), "our EDNS0 payload size: {out}");
    // RD copied: not set here, so not in the response.
    let out = dig(s.addr, &["+norecurse", "www.example."]).await;
    assert!(out.contains("flags: qr ra;"), "{out}");
    // The ID is echoed (dig checks it; so does this).
    let m = udp_raw(s.addr, [127, 0, 0, 1], &query(0xbeef, "x.example.", RecordType::A).to_vec().unwrap(), SECOND)
        .await
        .unwrap();
    assert_eq!((m.id, m.answers.len()), (0xbeef, 1));
}

#[tokio::test(flavor = "multi_thread")]
async fn negative_answers_carry_the_soa_and_are_cached() {
    let Some(s) = start_for_dig(|_| {}).await else { return };
    for _ in 0..2 {
        let out = norm(&dig(s.addr, &["nx.example."]).await);
        assert!(out.contains("status: NXDOMAIN"), "{out}");
        assert!(
            out.contains(
                ";; AUTHORITY SECTION:\nexample. 3600 IN SOA ns.example. hostmaster.example. 1 3600 600 86400 300"
            ),
            "{out}"
        );
    }
    assert_eq!(s.stub.calls("nx.example."), 1, "the second NXDOMAIN comes from the cache");
    let out = dig(s.addr, &["nodata.example.", "AAAA"]).await;
    assert!(out.contains("status: NOERROR") && out.contains("ANSWER: 0, AUTHORITY: 1"), "{out}");
}

#[tokio::test(flavor = "multi_thread")]
async fn failures_are_servfail_with_an_extended_error() {
    let Some(s) = start_for_dig(|_| {}).await else { return };
    let out = dig(s.addr, &["fail.example."]).await;
    assert!(out.contains("status: SERVFAIL"), "{out}");
    assert!(out.contains("EDE: 22 (No Reachable Authority)"), "{out}");
}

#[tokio::test(flavor = "multi_thread")]
async fn clients_outside_the_acl_are_refused() {
    let Some(s) = start_for_dig(|c| c.allow = vec!["127.0.0.1/32".parse().unwrap()]).await else { return };
    let out = dig(s.addr, &["-b", "127.0.0.2", "www.example."]).await;
    assert!(out.contains("status: REFUSED"), "{out}");
    assert!(out.contains("EDE: 18 (Prohibited)"), "{out}");
    let out = dig(s.addr, &["-b", "127.0.0.1", "www.example."]).await;
    assert!(out.contains("status: NOERROR"), "{out}");
    assert_eq!(s.stub.calls("www.example."), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn other_opcodes_garbage_and_classes() {
    let Some(s) = start_for_dig(|_| {}).await else { return };
    let out = dig(s.addr, &["+opcode=status", "www.example."]).await;
    assert!(out.contains("status: NOTIMP"), "{out}");
    let out = dig(s.addr, &["-c", "CH", "version.bind.", "TXT"]).await;
    assert!(out.contains("status: REFUSED"), "{out}");
    // A readable header with garbage after it: FORMERR, ID echoed.
    let mut garbage = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
    garbage.extend([0xc0, 0xff, 0x3f, 0x01, 0x02]);
    let m = udp_raw(s.addr, [127, 0, 0, 1], &garbage, SECOND).await.unwrap();
    assert_eq!((m.id, m.response_code), (0x1234, ResponseCode::FormErr));
    // Less than a header: dropped. Two questions: FORMERR.
    assert!(udp_raw(s.addr, [127, 0, 0, 1], &[1, 2, 3, 4, 5], Duration::from_millis(300)).await.is_none());
    let mut two = query(7, "a.example.", RecordType::A);
    two.add_query(Query::query(name("b.example."), RecordType::A));
    let m = udp_raw(s.addr, [127, 0, 0, 1], &two.to_vec().unwrap(), SECOND).await.unwrap();
    assert_eq!(m.response_code, ResponseCode::FormErr);
    // Still serving.
    assert!(dig(s.addr, &["www.example."]).await.contains("status: NOERROR"));
    assert_eq!(s.counts.dropped.lock().unwrap().get("unparseable"), Some(&1));
}

#[tokio::test(flavor = "multi_thread")]
async fn too_big_for_udp_is_truncated_and_complete_over_tcp() {
    let Some(s) = start_for_dig(|_| {}).await else { return };
    for args in [&["+notcp", "+ignore"][..], &["+notcp", "+ignore", "+noedns"]] {
        let out = dig(s.addr, &[args, &["big.example.", "TXT"]].concat()).await;
        assert!(out.contains(" tc ") || out.contains(" tc;"), "TC expected: {out}");
        assert!(out.contains("ANSWER: 0"), "{out}");
    }
    let out = dig(s.addr, &["+tcp", "big.example.", "TXT"]).await;
    assert!(out.contains("status: NOERROR") && out.contains("ANSWER: 20,"), "{out}");
    assert!(!out.contains(" tc"), "{out}");
    // dig on its own retries over TCP.
    let out = dig(s.addr, &["big.example.", "TXT"]).await;
    assert!(out.contains("ANSWER: 20,") && out.contains("(TCP)"), "{out}");
    assert_eq!(s.stub.calls("big.example."), 1, "cached after the first");
}

#[tokio::test(flavor = "multi_thread")]
async fn tcp_pipelining_idle_timeout_and_connection_cap() {
    let s = start([127, 0, 0, 1], |c| {
        c.tcp_idle = Duration::from_millis(700);
        c.max_tcp = 2;
    })
    .await;
    let mut conn = TcpStream::connect(s.addr).await.unwrap();
    let mut burst = Vec::new();
    for (id, qname) in [(1u16, "slow.example."), (2, "a.example."), (3, "b.example.")] {
        let q = query(id, qname, RecordType::A).to_vec().unwrap();
        burst.extend(u16::try_from(q.len()).unwrap().to_be_bytes());
        burst.extend(q);
    }
    conn.write_all(&burst).await.unwrap();
    let mut ids = Vec::new();
    for _ in 0..3 {
        let len = tokio::time::timeout(2 * SECOND, conn.read_u16()).await.unwrap().unwrap();
        let mut buf = vec![0u8; usize::from(len)];
        conn.read_exact(&mut buf).await.unwrap();
        let m = Message::from_vec(&buf).unwrap();
        assert_eq!(m.answers.len(), 1);
        ids.push(m.id);
    }
    assert_eq!(ids[2], 1, "the slow answer comes last, the others as they finish: {ids:?}");
    // A second connection is fine; a third is over the cap and closed at once.
    let _second = TcpStream::connect(s.addr).await.unwrap();
    let mut third = TcpStream::connect(s.addr).await.unwrap();
    let mut byte = [0u8; 1];
    let closed = tokio::time::timeout(Duration::from_millis(500), third.read(&mut byte)).await.unwrap();
    assert!(matches!(closed, Ok(0) | Err(_)), "{closed:?}");
    // Idle: closed after 700 ms without queries.
    let eof = tokio::time::timeout(3 * SECOND, conn.read(&mut byte)).await.unwrap();
    assert!(matches!(eof, Ok(0) | Err(_)), "{eof:?}");
    assert!(s.counts.dropped.lock().unwrap().get("tcp_connections").is_some());
}

#[tokio::test(flavor = "multi_thread")]
async fn bind_errors_name_the_address_and_shutdown_releases_it() {
    let cfg = FrontendConfig { listen: vec!["127.0.0.1:0".parse().unwrap()], ..FrontendConfig::default() };
    let frontend = Frontend::bind(cfg.clone()).await.unwrap();
    let addr = frontend.local_addrs()[0];
    let taken = FrontendConfig { listen: vec![addr], ..cfg.clone() };
    let err = Frontend::bind(taken.clone()).await.unwrap_err().to_string();
    assert!(err.starts_with(&format!("cannot listen for DNS on {addr} (udp): ")), "{err}");
    let none = FrontendConfig { listen: vec![], ..cfg };
    assert!(Frontend::bind(none).await.is_err());

    let (stop, stopped) = oneshot::channel::<()>();
    let serving = tokio::spawn(frontend.serve(Stub::default(), Arc::new(Counts::default()), async move {
        drop(stopped.await);
    }));
    let q = query(5, "www.example.", RecordType::A).to_vec().unwrap();
    assert!(udp_raw(addr, [127, 0, 0, 1], &q, SECOND).await.is_some());
    stop.send(()).unwrap();
    tokio::time::timeout(SECOND, serving).await.unwrap().unwrap().unwrap();
    assert!(udp_raw(addr, [127, 0, 0, 1], &q, Duration::from_millis(200)).await.is_none());
    Frontend::bind(taken).await.unwrap();
}
