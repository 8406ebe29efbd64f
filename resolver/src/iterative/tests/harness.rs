//! Drives a core task with a scripted network and a fake clock.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hickory_proto::op::Message;
use hickory_proto::rr::RecordType;
use rand::SeedableRng;
use rand::rngs::StdRng;

use super::util::Reply;
use crate::answer::{Question, Resolution, ResolveError};
use crate::iterative::core::{Failure, Step, Task};
use crate::iterative::{IterConfig, Shared};

/// A query as the scripted network sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Sent {
    pub to: SocketAddr,
    pub tcp: bool,
    pub qname: String,
    pub qtype: RecordType,
    pub edns: bool,
    pub id: u16,
}

/// What the network does with a query.
pub(super) enum Action {
    /// This reply (ID and question filled in), from the server.
    Reply(Reply),
    /// Nothing: the query times out.
    Silent,
    /// Bytes with the query's ID that do not decode.
    Garbage,
    /// An I/O error (e.g. connection refused).
    Io,
    /// These datagrams (source, bytes), then silence.
    Datagrams(Vec<(SocketAddr, Vec<u8>)>),
}

/// A finished run.
pub(super) struct Run {
    pub result: Result<Resolution, ResolveError>,
    pub log: Vec<Sent>,
    pub elapsed: Duration,
}

impl Run {
    /// The answer's records, shown.
    pub(super) fn answer(&self) -> Vec<String> {
        match &self.result {
            Ok(Resolution::Answer { records }) => super::util::show(records),
            other => panic!("expected an answer, got {other:?}"),
        }
    }

    /// The servers asked, in order.
    pub(super) fn servers(&self) -> Vec<SocketAddr> {
        self.log.iter().map(|s| s.to).collect()
    }
}

pub(super) fn shared(cfg: IterConfig) -> Arc<Shared> {
    Arc::new(Shared::new(cfg))
}

/// Resolves `q` on `shared` against the scripted network `net`. Each
/// exchange takes 1 ms of fake time; a silent server costs the request's timeout.
pub(super) fn run(shared: &Arc<Shared>, q: &Question, mut net: impl FnMut(&Sent) -> Action) -> Run {
    let start = Instant::now();
    let mut now = start;
    let mut log = Vec::new();
    let mut task = match Task::new(Arc::clone(shared), q, now, StdRng::seed_from_u64(7)) {
        Ok(task) => task,
        Err(e) => return Run { result: Err(e), log, elapsed: Duration::ZERO },
    };
    let mut step = task.start(now);
    for _ in 0..1000 {
        let req = match step {
            Step::Done(result) => return Run { result: *result, log, elapsed: now - start },
            Step::Send(req) => req,
        };
        assert!(req.timeout_at > now, "a request must leave time to answer");
        let msg = Message::from_vec(&req.bytes).expect("the core sends decodable queries");
        assert!(!msg.metadata.recursion_desired, "RD must be 0");
        let query = msg.queries.first().expect("one question");
        let sent = Sent {
            to: req.to,
            tcp: req.tcp,
            qname: query.name().to_lowercase().to_string(),
            qtype: query.query_type(),
            edns: msg.edns.is_some(),
            id: msg.metadata.id,
        };
        log.push(sent.clone());
        now += Duration::from_millis(1);
        let datagrams = match net(&sent) {
            Action::Reply(reply) => vec![(req.to, reply.to(sent.id, &sent.qname, sent.qtype).to_vec().unwrap())],
            Action::Garbage => vec![(req.to, [sent.id.to_be_bytes().as_slice(), &[0xff; 30]].concat())],
            Action::Datagrams(datagrams) => datagrams,
            Action::Silent => Vec::new(),
            Action::Io => {
                step = task.on_failure(now, Failure::Io("connection refused".to_string()));
                continue;
            }
        };
        let accepted = datagrams.iter().find_map(|(from, bytes)| task.on_reply(now, *from, bytes));
        step = match accepted {
            Some(step) => step,
            None => {
                now = req.timeout_at;
                task.on_failure(now, Failure::Timeout)
            }
        };
    }
    panic!("the task did not finish in 1000 steps: {log:?}");
}
