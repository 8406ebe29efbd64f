//! The cloneable handle through which everything outside the Swarm task
//! (the HTTP endpoint now, the DNS resolver later) talks to the node.

use std::time::{Duration, Instant};

use dhtr_monitoring::{
    ApiError, ChainReport, HistoryReport, LookupReport, NodeApi, RecordsReport, StatusReport, SubmitReport,
};
use dhtr_protocol::key::{canonical_name, name_key};
use dhtr_protocol::{LookupError, LookupResult, NetworkParams, RingId};
use tokio::sync::{mpsc, oneshot};

use dhtr_node_core::reads::{ReadError, ReadOutcome};

use crate::report::peer_report;

/// Where a lookup's outcome is sent.
pub type LookupReply = oneshot::Sender<Result<LookupResult, LookupError>>;

/// Where the outcome of a network read goes.
pub type ReadReply = oneshot::Sender<Result<ReadOutcome, ReadError>>;

/// Where the answer to a test submission goes.
pub type SubmitReply = oneshot::Sender<Result<SubmitReport, ApiError>>;

/// Requests to the Swarm task.
pub enum Command {
    /// Report the node's status.
    Status(oneshot::Sender<StatusReport>),
    /// Find the successor list of a key.
    Lookup {
        /// The key.
        key: RingId,
        /// Where the answer goes.
        reply: LookupReply,
    },
    /// Blocks of a chunk's chain with their certificates.
    Chain {
        /// The chunk.
        chunk: u32,
        /// First height.
        from: u64,
        /// Most blocks.
        limit: u64,
        /// Where the answer goes.
        reply: oneshot::Sender<Result<ChainReport, ApiError>>,
    },
    /// Read (canonical name, type) from the chunk's committee.
    NetworkRead {
        /// Canonical owner name.
        name: String,
        /// Record type.
        rtype: u16,
        /// Read the committed history instead of the state.
        history: bool,
        /// Where the outcome goes.
        reply: ReadReply,
    },
    /// Ask the committee of the transaction's chunk to order it.
    Insert(dhtr_ledger::Tx),
    /// Test hook: order the test record of a name.
    TestSubmit {
        /// The name.
        name: String,
        /// Where the answer goes.
        reply: SubmitReply,
    },
}

/// The node's task has stopped.
#[derive(Debug, thiserror::Error)]
#[error("the node is shutting down")]
pub struct NodeGone;

/// A cheap, cloneable handle to the running node.
#[derive(Clone)]
pub struct NodeHandle {
    tx: mpsc::Sender<Command>,
    params: NetworkParams,
}

/// How long an HTTP caller waits for the node's answer.
const STATUS_TIMEOUT: Duration = Duration::from_secs(5);

impl NodeHandle {
    /// A handle sending to the Swarm task's command queue.
    pub fn new(tx: mpsc::Sender<Command>, params: NetworkParams) -> NodeHandle {
        NodeHandle { tx, params }
    }

    /// The node's status.
    pub async fn status(&self) -> Result<StatusReport, NodeGone> {
        let (reply, rx) = oneshot::channel();
        self.tx.send(Command::Status(reply)).await.map_err(|_| NodeGone)?;
        rx.await.map_err(|_| NodeGone)
    }

    /// The successor list of `key`, found through the ring.
    pub async fn lookup(&self, key: RingId) -> Result<Result<LookupResult, LookupError>, NodeGone> {
        let (reply, rx) = oneshot::channel();
        self.tx.send(Command::Lookup { key, reply }).await.map_err(|_| NodeGone)?;
        rx.await.map_err(|_| NodeGone)
    }

    /// Read (canonical name, type) from its chunk's committee: the verdict of
    /// a strict-majority read.
    pub async fn network_read(&self, name: String, rtype: u16) -> Result<Result<ReadOutcome, ReadError>, NodeGone> {
        self.read(name, rtype, false).await
    }

    /// A network read of the state, or (with `history`) of the committed
    /// history of (name, type).
    pub async fn read(
        &self,
        name: String,
        rtype: u16,
        history: bool,
    ) -> Result<Result<ReadOutcome, ReadError>, NodeGone> {
        let (reply, rx) = oneshot::channel();
        self.tx.send(Command::NetworkRead { name, rtype, history, reply }).await.map_err(|_| NodeGone)?;
        rx.await.map_err(|_| NodeGone)
    }

    /// Ask the committee of the RRset's chunk to insert it (fire and forget:
    /// the committee decides).
    pub async fn insert(&self, rr: dhtr_ledger::RRset) -> Result<(), NodeGone> {
        self.submit(dhtr_ledger::Tx::Put(rr)).await
    }

    /// Ask the committee of the transaction's chunk to order it.
    pub async fn submit(&self, tx: dhtr_ledger::Tx) -> Result<(), NodeGone> {
        self.tx.send(Command::Insert(tx)).await.map_err(|_| NodeGone)
    }

    /// A network read for the HTTP API: the canonical name and the outcome,
    /// bounded in time, errors as HTTP statuses.
    async fn api_read(&self, name: &str, rtype: u16, history: bool) -> Result<(String, ReadOutcome), ApiError> {
        let canonical = canonical_name(name).map_err(|e| ApiError::BadRequest(format!("invalid `name`: {e}")))?;
        let read = tokio::time::timeout(STATUS_TIMEOUT, self.read(canonical.clone(), rtype, history))
            .await
            .map_err(|_| ApiError::Unavailable("the read did not finish in time".into()))?
            .map_err(|e| ApiError::Unavailable(e.to_string()))?
            .map_err(|e| ApiError::Failed(e.to_string()))?;
        Ok((canonical, read))
    }

    /// Send a command and wait (bounded) for its answer.
    async fn ask<T>(&self, cmd: Command, rx: oneshot::Receiver<Result<T, ApiError>>) -> Result<T, ApiError> {
        let gone = || ApiError::Unavailable(NodeGone.to_string());
        self.tx.send(cmd).await.map_err(|_| gone())?;
        match tokio::time::timeout(STATUS_TIMEOUT, rx).await {
            Ok(Ok(r)) => r,
            Ok(Err(_)) => Err(gone()),
            Err(_) => Err(ApiError::Unavailable("the node did not answer in time".into())),
        }
    }

    /// Key, chunk and committee of a DNS name.
    pub async fn committee(&self, name: &str) -> Result<LookupReport, ApiError> {
        let canonical = canonical_name(name).map_err(|e| ApiError::BadRequest(format!("invalid `name`: {e}")))?;
        let key = name_key(&canonical).map_err(|e| ApiError::BadRequest(e.to_string()))?;
        let chunk = self.params.chunk_of(&key);
        let start = self.params.chunk_start(chunk);
        let t0 = Instant::now();
        let result = self.lookup(start).await.map_err(|e| ApiError::Unavailable(e.to_string()))?;
        let r = result.map_err(|e| ApiError::Failed(format!("lookup of chunk {} failed: {e}", chunk.0)))?;
        let n = self.params.committee_size();
        Ok(LookupReport {
            name: canonical,
            key: key.to_hex(),
            chunk: chunk.0,
            chunk_bits: self.params.chunk_bits,
            chunk_start: start.to_hex(),
            committee: r.successors.iter().take(n).map(peer_report).collect(),
            successors: r.successors.iter().map(peer_report).collect(),
            hops: r.hops,
            duration_ms: t0.elapsed().as_secs_f64() * 1000.0,
        })
    }
}

impl NodeApi for NodeHandle {
    async fn status(&self) -> Result<StatusReport, ApiError> {
        match tokio::time::timeout(STATUS_TIMEOUT, NodeHandle::status(self)).await {
            Ok(Ok(s)) => Ok(s),
            Ok(Err(e)) => Err(ApiError::Unavailable(e.to_string())),
            Err(_) => Err(ApiError::Unavailable("the node did not answer in time".into())),
        }
    }

    async fn lookup(&self, name: String) -> Result<LookupReport, ApiError> {
        self.committee(&name).await
    }

    async fn chain(&self, chunk: u32, from: u64, limit: u64) -> Result<ChainReport, ApiError> {
        let (reply, rx) = oneshot::channel();
        self.ask(Command::Chain { chunk, from, limit, reply }, rx).await
    }

    async fn records(&self, name: String, rtype: u16) -> Result<RecordsReport, ApiError> {
        let (canonical, read) = self.api_read(&name, rtype, false).await?;
        Ok(crate::records::report(canonical, rtype, read))
    }

    async fn history(&self, name: String, rtype: u16) -> Result<HistoryReport, ApiError> {
        let (canonical, read) = self.api_read(&name, rtype, true).await?;
        Ok(crate::records::history_report(canonical, rtype, read))
    }

    async fn test_submit(&self, name: String) -> Result<SubmitReport, ApiError> {
        let (reply, rx) = oneshot::channel();
        self.ask(Command::TestSubmit { name, reply }, rx).await
    }
}
