//! The answer cache seen from clients (TTL aging, coalescing, serve-stale)
//! and rate limiting.

use std::sync::atomic::Ordering;
use std::time::Duration;

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::RecordType;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

use super::support::*;

#[tokio::test(flavor = "multi_thread")]
async fn cache_ages_ttls_and_coalesces_misses() {
    let Some(s) = start_for_dig(|_| {}).await else { return };
    assert_eq!(ttls(&dig(s.addr, &["+noall", "+answer", "www.example."]).await), vec![300]);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let later = ttls(&dig(s.addr, &["+noall", "+answer", "WWW.example."]).await);
    assert!(later.len() == 1 && later[0] < 300, "{later:?}");
    assert_eq!(s.stub.calls("www.example."), 1);
    // Eight clients ask for a slow name at once: one resolution.
    let q = query(9, "slow2.example.", RecordType::A).to_vec().unwrap();
    let asks: Vec<_> = (0..8)
        .map(|_| {
            let (q, addr) = (q.clone(), s.addr);
            tokio::spawn(async move { udp_raw(addr, [127, 0, 0, 1], &q, 2 * SECOND).await })
        })
        .collect();
    for ask in asks {
        assert_eq!(ask.await.unwrap().unwrap().answers.len(), 1);
    }
    assert_eq!(s.stub.calls("slow2.example."), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn expired_entries_are_served_stale_when_resolution_fails() {
    let Some(s) = start_for_dig(|_| {}).await else { return };
    assert_eq!(ttls(&dig(s.addr, &["+noall", "+answer", "stale.example."]).await), vec![1]);
    s.stub.failing.store(true, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let out = norm(&dig(s.addr, &["stale.example."]).await);
    assert!(out.contains("status: NOERROR"), "{out}");
    assert!(out.contains("stale.example. 30 IN A 192.0.2.1"), "{out}");
    assert!(out.contains("EDE: 3 (Stale Answer)"), "{out}");
    assert_eq!(s.stub.calls("stale.example."), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_flood_from_one_client_does_not_starve_another() {
    let s = start([127, 0, 0, 1], |c| {
        c.rate.per_second = 5;
        c.rate.burst = 5;
        c.rate.slip = 2;
        c.rate.ipv4_prefix = 32;
    })
    .await;
    let flooder = UdpSocket::bind("127.0.0.3:0").await.unwrap();
    let q = query(1, "www.example.", RecordType::A).to_vec().unwrap();
    for _ in 0..60 {
        flooder.send_to(&q, s.addr).await.unwrap();
    }
    let (mut full, mut truncated) = (0, 0);
    let mut buf = vec![0u8; 4096];
    while let Ok(Ok((n, _))) = tokio::time::timeout(Duration::from_millis(300), flooder.recv_from(&mut buf)).await {
        let m = Message::from_vec(&buf[..n]).unwrap();
        if m.truncation { truncated += 1 } else { full += 1 }
    }
    assert!((5..=10).contains(&full), "{full} full answers of 60");
    assert!(truncated > 10, "slipped truncated answers: {truncated}");
    // Another client is answered meanwhile.
    let m = udp_raw(s.addr, [127, 0, 0, 4], &q, SECOND).await.unwrap();
    assert_eq!((m.response_code, m.answers.len()), (ResponseCode::NoError, 1));
    assert!(s.counts.dropped.lock().unwrap().get("rate_limited").copied().unwrap_or(0) >= 40);
    assert!(s.counts.answered.load(Ordering::SeqCst) >= 6);
}

#[tokio::test(flavor = "multi_thread")]
async fn over_the_rate_on_tcp_is_refused() {
    let s = start([127, 0, 0, 1], |c| {
        c.rate.per_second = 1;
        c.rate.burst = 2;
    })
    .await;
    let mut conn = TcpStream::connect(s.addr).await.unwrap();
    let mut rcodes = Vec::new();
    for id in 0..4u16 {
        let q = query(id, "www.example.", RecordType::A).to_vec().unwrap();
        conn.write_all(&u16::try_from(q.len()).unwrap().to_be_bytes()).await.unwrap();
        conn.write_all(&q).await.unwrap();
        let len = tokio::time::timeout(SECOND, conn.read_u16()).await.unwrap().unwrap();
        let mut buf = vec![0u8; usize::from(len)];
        conn.read_exact(&mut buf).await.unwrap();
        let m = Message::from_vec(&buf).unwrap();
        assert_eq!((m.id, m.queries.len()), (id, 1));
        rcodes.push(m.response_code);
    }
    assert_eq!(rcodes[..2], [ResponseCode::NoError; 2]);
    assert_eq!(rcodes[2..], [ResponseCode::Refused; 2]);
}
