//! `dhtr-dns-latency SERVER:PORT NAME... ` — send one A query per name over
//! UDP (one at a time, 3 s timeout) and print p50/p99/max latency in ms and
//! the answered count; used by `make bench-dns` to time cold fallback
//! resolutions and network hits on the test hierarchy.

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use hickory_proto::op::{Message, Query};
use hickory_proto::rr::{Name, RecordType};
use hickory_proto::serialize::binary::{BinDecodable, BinEncodable};

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let server: SocketAddr = args.next().context("usage: dhtr-dns-latency SERVER:PORT NAME...")?.parse()?;
    let names: Vec<String> = args.collect();
    if names.is_empty() {
        bail!("no names given");
    }
    let sock = UdpSocket::bind("0.0.0.0:0")?;
    sock.set_read_timeout(Some(Duration::from_secs(3)))?;
    let mut times = Vec::new();
    let mut answered = 0;
    for (k, name) in names.iter().enumerate() {
        let mut m = Message::query();
        m.metadata.id = k as u16;
        m.metadata.recursion_desired = true;
        m.add_query(Query::query(Name::from_ascii(name)?, RecordType::A));
        let bytes = m.to_bytes()?;
        let t0 = Instant::now();
        sock.send_to(&bytes, server)?;
        let mut buf = [0u8; 4096];
        // Wait for the reply with our ID; a timeout leaves no sample.
        while let Ok((n, _)) = sock.recv_from(&mut buf) {
            if let Ok(r) = Message::from_bytes(&buf[..n]) {
                if r.metadata.id != k as u16 {
                    continue;
                }
                if !r.answers.is_empty() {
                    answered += 1;
                }
            }
            times.push(t0.elapsed());
            break;
        }
    }
    times.sort();
    let pct = |p: f64| {
        times.get(((times.len() as f64 - 1.0) * p).round() as usize).map_or(f64::NAN, |d| d.as_secs_f64() * 1e3)
    };
    println!(
        "{} queries, {answered} answered: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        names.len(),
        pct(0.5),
        pct(0.99),
        pct(1.0)
    );
    Ok(())
}
