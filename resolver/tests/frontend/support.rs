//! The stub handler and observer, starting a front end, and the clients
//! (dig, raw UDP) the tests use.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dhtr_resolver::frontend::{DropReason, Frontend, FrontendConfig, Handler, Observer, Transport};
use dhtr_resolver::{Question, Resolution, ResolveError, Source};
use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::{A, SOA, TXT};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use tokio::net::UdpSocket;
use tokio::sync::oneshot;

pub const SECOND: Duration = Duration::from_secs(1);

pub fn name(s: &str) -> Name {
    Name::from_ascii(s).unwrap()
}

pub fn soa() -> Record {
    let soa = SOA::new(name("ns.example."), name("hostmaster.example."), 1, 3600, 600, 86400, 300);
    Record::from_rdata(name("example."), 3600, RData::SOA(soa))
}

/// Answers A for names under `example.`, with special names for the other cases.
#[derive(Clone, Default)]
pub struct Stub {
    pub calls: Arc<Mutex<HashMap<String, usize>>>,
    pub failing: Arc<AtomicBool>,
}

impl Stub {
    pub fn calls(&self, name: &str) -> usize {
        self.calls.lock().unwrap().get(name).copied().unwrap_or(0)
    }
}

impl Handler for Stub {
    fn resolve(&self, q: Question) -> impl Future<Output = Result<(Resolution, Source), ResolveError>> + Send {
        let stub = self.clone();
        async move {
            let qname = q.name.to_string();
            *stub.calls.lock().unwrap().entry(qname.clone()).or_default() += 1;
            let a = |ttl| Record::from_rdata(q.name.clone(), ttl, RData::A(A(Ipv4Addr::new(192, 0, 2, 1))));
            let answer = |records| Ok((Resolution::Answer { records }, Source::Network));
            match qname.as_str() {
                "nx.example." => Ok((Resolution::NxDomain { cname_chain: vec![], soa: Some(soa()) }, Source::Fallback)),
                "nodata.example." => {
                    Ok((Resolution::NoData { cname_chain: vec![], soa: Some(soa()) }, Source::Fallback))
                }
                "fail.example." => Err(ResolveError::Timeout { zone: "example.".into() }),
                "slow.example." | "slow2.example." => {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    answer(vec![a(300)])
                }
                "big.example." => {
                    let txt = |i: usize| TXT::new(vec![format!("{i:03}-{}", "x".repeat(200))]);
                    let records =
                        (0..20).map(|i| Record::from_rdata(q.name.clone(), 300, RData::TXT(txt(i)))).collect();
                    answer(records)
                }
                "stale.example." if stub.failing.load(Ordering::SeqCst) => {
                    Err(ResolveError::AllServersFailed { zone: "example.".into(), reason: "refused".into() })
                }
                "stale.example." => answer(vec![a(1)]),
                n if n.ends_with(".example.") => answer(vec![a(300)]),
                _ => Err(ResolveError::NotSupported("outside example.".into())),
            }
        }
    }
}

#[derive(Default)]
pub struct Counts {
    pub answered: AtomicUsize,
    pub dropped: Mutex<HashMap<&'static str, usize>>,
}

impl Observer for Counts {
    fn answered(&self, _: Option<Source>, _: ResponseCode, _: Transport, _: Duration) {
        self.answered.fetch_add(1, Ordering::SeqCst);
    }
    fn dropped(&self, reason: DropReason) {
        *self.dropped.lock().unwrap().entry(reason.as_str()).or_default() += 1;
    }
}

pub struct Server {
    pub addr: SocketAddr,
    pub stub: Stub,
    pub counts: Arc<Counts>,
    pub _stop: oneshot::Sender<()>,
}

pub async fn start(ip: [u8; 4], tweak: impl FnOnce(&mut FrontendConfig)) -> Server {
    let mut cfg = FrontendConfig { listen: vec![SocketAddr::from((ip, 0))], ..FrontendConfig::default() };
    tweak(&mut cfg);
    let frontend = Frontend::bind(cfg).await.unwrap();
    let addr = frontend.local_addrs()[0];
    let (stub, counts) = (Stub::default(), Arc::new(Counts::default()));
    let (stop, stopped) = oneshot::channel::<()>();
    let (h, c) = (stub.clone(), Arc::clone(&counts));
    tokio::spawn(async move { frontend.serve(h, c, async move { drop(stopped.await) }).await });
    Server { addr, stub, counts, _stop: stop }
}

/// A server on 127.0.0.1 when `dig` is installed (else None, said loudly).
pub async fn start_for_dig(tweak: impl FnOnce(&mut FrontendConfig)) -> Option<Server> {
    if have("dig") { Some(start([127, 0, 0, 1], tweak).await) } else { None }
}

pub fn have(tool: &str) -> bool {
    let found = std::process::Command::new(tool).arg("-v").output().is_ok();
    if !found {
        eprintln!(
            "!!!!!! `{tool}` is not installed (apt-get install dnsutils knot-dnsutils): SKIPPING this test !!!!!!"
        );
    }
    found
}

/// Runs dig against `server` with `args` and returns its output.
pub async fn dig(server: SocketAddr, args: &[&str]) -> String {
    let out = tokio::process::Command::new("dig")
        .arg(format!("@{}", server.ip()))
        .args(["-p", &server.port().to_string(), "+time=2", "+tries=1"])
        .args(args)
        .output()
        .await
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// dig's output with each line's whitespace collapsed to single spaces.
pub fn norm(out: &str) -> String {
    out.lines().map(|l| l.split_whitespace().collect::<Vec<_>>().join(" ")).collect::<Vec<_>>().join("\n")
}

/// The TTLs of the answer section of dig's `+noall +answer` output.
pub fn ttls(out: &str) -> Vec<u32> {
    out.lines().filter_map(|l| l.split_whitespace().nth(1)?.parse().ok()).collect()
}

pub fn query(id: u16, qname: &str, qtype: RecordType) -> Message {
    let mut m = Message::new(id, MessageType::Query, OpCode::Query);
    m.metadata.recursion_desired = true;
    m.add_query(Query::query(name(qname), qtype));
    m.set_edns(Edns::new());
    m
}

/// Sends raw bytes over UDP from `from` and returns the response, if one comes within `wait`.
pub async fn udp_raw(server: SocketAddr, from: [u8; 4], bytes: &[u8], wait: Duration) -> Option<Message> {
    let sock = UdpSocket::bind(SocketAddr::from((from, 0))).await.unwrap();
    sock.send_to(bytes, server).await.unwrap();
    let mut buf = vec![0u8; 65535];
    let (n, _) = tokio::time::timeout(wait, sock.recv_from(&mut buf)).await.ok()?.unwrap();
    Some(Message::from_vec(&buf[..n]).unwrap())
}
