//! The node's HTTP monitoring endpoint (axum).
//!
//! | route | answer |
//! | --- | --- |
//! | `GET /metrics` | the registry in OpenMetrics text format |
//! | `GET /healthz` | `200 ok` while the server runs |
//! | `GET /status` | [`StatusReport`] as JSON |
//! | `GET /lookup?name=NAME` | [`LookupReport`] as JSON |
//! | `GET /chain?chunk=ID[&from=H][&limit=N]` | [`ChainReport`]: blocks with certificates (at most 256) |
//! | `GET /records?name=NAME&type=N` | [`RecordsReport`]: a strict-majority read from the name's committee |
//! | `GET /history?name=NAME[&type=N]` | [`HistoryReport`]: committed versions of an RRset, agreed by its committee |
//! | `POST /test/submit?name=NAME` | test hook (`--test-hooks` only): order the test record of NAME |
//!
//! Errors are JSON [`ErrorReport`]s; unknown paths get 404. The node side is
//! abstracted by [`NodeApi`] so this crate does not depend on libp2p.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use prometheus_client::registry::Registry;
use serde::Deserialize;
use tokio::net::TcpListener;

use crate::error::MonitoringError;
use crate::report::{ChainReport, ErrorReport, HistoryReport, LookupReport, RecordsReport, StatusReport, SubmitReport};

/// Content type of `GET /metrics`.
pub const OPENMETRICS_CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Longest accepted name, in bytes, not counting a trailing dot.
pub const MAX_NAME_LEN: usize = 253;

/// Longest accepted label, in bytes.
pub const MAX_LABEL_LEN: usize = 63;

/// What the HTTP endpoint needs from the running node.
///
/// Implemented by the node (which talks to its swarm task); tests use fakes.
pub trait NodeApi: Clone + Send + Sync + 'static {
    /// The node's current status.
    fn status(&self) -> impl Future<Output = Result<StatusReport, ApiError>> + Send;

    /// Looks up the nodes responsible for `name` (already checked with
    /// [`validate_name`]).
    fn lookup(&self, name: String) -> impl Future<Output = Result<LookupReport, ApiError>> + Send;

    /// Blocks `from..from+limit` of a chunk's chain with their certificates.
    fn chain(&self, chunk: u32, from: u64, limit: u64) -> impl Future<Output = Result<ChainReport, ApiError>> + Send;

    /// A strict-majority read of (name, type) from the chunk's committee.
    fn records(&self, name: String, rtype: u16) -> impl Future<Output = Result<RecordsReport, ApiError>> + Send;

    /// The committed history of (name, type; 0 = every type), agreed by the
    /// chunk's committee.
    fn history(&self, name: String, rtype: u16) -> impl Future<Output = Result<HistoryReport, ApiError>> + Send;

    /// Test hook: submit the deterministic test record of `name` for
    /// ordering. Nodes run without `--test-hooks` answer `NotFound`.
    fn test_submit(&self, name: String) -> impl Future<Output = Result<SubmitReport, ApiError>> + Send;
}

/// Why a [`NodeApi`] call failed; decides the HTTP status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// The request was invalid (400).
    #[error("{0}")]
    BadRequest(String),
    /// The node cannot answer now, e.g. still joining or shutting down (503).
    #[error("{0}")]
    Unavailable(String),
    /// The node tried but the network failed, e.g. a lookup timed out (502).
    #[error("{0}")]
    Failed(String),
    /// Nothing there, e.g. a chunk this node holds no chain of (404).
    #[error("{0}")]
    NotFound(String),
}

impl ApiError {
    /// The HTTP status this error is answered with.
    pub fn status_code(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Failed(_) => StatusCode::BAD_GATEWAY,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        error_response(self.status_code(), self.to_string())
    }
}

/// A JSON [`ErrorReport`] response.
fn error_response(status: StatusCode, message: String) -> Response {
    (status, Json(ErrorReport::new(message))).into_response()
}

/// Checks a name given to `/lookup`: non-empty, at most [`MAX_NAME_LEN`]
/// bytes (without a trailing dot), no empty label or label over
/// [`MAX_LABEL_LEN`] bytes, no whitespace or control characters. `.` (the
/// root) is valid. The error says what is wrong, for people.
pub fn validate_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("the name is empty".into());
    }
    if name == "." {
        return Ok(());
    }
    let bare = name.strip_suffix('.').unwrap_or(name);
    if bare.len() > MAX_NAME_LEN {
        return Err(format!("the name is {} bytes long; a DNS name has at most {MAX_NAME_LEN}", bare.len()));
    }
    if bare.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("{name:?} contains whitespace or control characters"));
    }
    for label in bare.split('.') {
        if label.is_empty() {
            return Err(format!("{name:?} has an empty label (a leading dot or two dots in a row)"));
        }
        if label.len() > MAX_LABEL_LEN {
            return Err(format!("{name:?} has a label longer than {MAX_LABEL_LEN} bytes"));
        }
    }
    Ok(())
}

/// Binds the HTTP listener; the error names the address and the reason,
/// e.g. `cannot listen for HTTP on 127.0.0.1:9464: address in use`.
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, MonitoringError> {
    TcpListener::bind(addr).await.map_err(|io| {
        let reason = match io.kind() {
            std::io::ErrorKind::AddrInUse => "address in use".to_owned(),
            std::io::ErrorKind::AddrNotAvailable => "address not available (not an address of this host)".to_owned(),
            std::io::ErrorKind::PermissionDenied => "permission denied".to_owned(),
            _ => io.to_string(),
        };
        MonitoringError::Bind { addr, reason, io }
    })
}

/// Shared state of the handlers.
#[derive(Clone)]
struct AppState<A> {
    registry: Arc<Registry>,
    api: A,
}

/// The monitoring routes as an axum [`Router`], for embedding or testing.
pub fn router<A: NodeApi>(registry: Arc<Registry>, api: A) -> Router {
    Router::new()
        .route("/metrics", get(metrics::<A>))
        .route("/healthz", get(healthz))
        .route("/status", get(status::<A>))
        .route("/lookup", get(lookup::<A>))
        .route("/chain", get(chain::<A>))
        .route("/records", get(records::<A>))
        .route("/history", get(history::<A>))
        .route("/test/submit", axum::routing::post(test_submit::<A>))
        .fallback(not_found)
        .with_state(AppState { registry, api })
}

/// Serves the monitoring routes on `listener` until `shutdown` completes,
/// then finishes in-flight requests and returns.
pub async fn serve<A: NodeApi>(
    listener: TcpListener,
    registry: Arc<Registry>,
    api: A,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "HTTP monitoring endpoint listening");
    }
    axum::serve(listener, router(registry, api)).with_graceful_shutdown(shutdown).await
}

/// `GET /metrics`.
async fn metrics<A: NodeApi>(State(state): State<AppState<A>>) -> Response {
    let mut body = String::new();
    if let Err(err) = prometheus_client::encoding::text::encode(&mut body, &state.registry) {
        tracing::error!(%err, "cannot encode metrics");
        return error_response(StatusCode::INTERNAL_SERVER_ERROR, "cannot encode metrics".into());
    }
    ([(header::CONTENT_TYPE, HeaderValue::from_static(OPENMETRICS_CONTENT_TYPE))], body).into_response()
}

/// `GET /healthz`.
async fn healthz() -> &'static str {
    "ok\n"
}

/// `GET /status`.
async fn status<A: NodeApi>(State(state): State<AppState<A>>) -> Response {
    match state.api.status().await {
        Ok(report) => Json(report).into_response(),
        Err(err) => {
            tracing::debug!(%err, "status request failed");
            err.into_response()
        }
    }
}

/// Query string of `/lookup`.
#[derive(Debug, Deserialize)]
struct LookupParams {
    /// The name to look up.
    name: Option<String>,
}

/// `GET /lookup?name=NAME`.
async fn lookup<A: NodeApi>(
    State(state): State<AppState<A>>,
    params: Result<Query<LookupParams>, QueryRejection>,
) -> Response {
    let name = match params {
        Ok(Query(LookupParams { name: Some(name) })) => name,
        Ok(Query(LookupParams { name: None })) => {
            return ApiError::BadRequest("missing `name` query parameter; try /lookup?name=example.com".into())
                .into_response();
        }
        Err(rejection) => {
            return ApiError::BadRequest(format!(
                "invalid query string (expected /lookup?name=NAME): {}",
                rejection.body_text()
            ))
            .into_response();
        }
    };
    if let Err(message) = validate_name(&name) {
        return ApiError::BadRequest(format!("invalid `name` query parameter: {message}")).into_response();
    }
    match state.api.lookup(name).await {
        Ok(report) => Json(report).into_response(),
        Err(err) => {
            tracing::debug!(%err, "lookup request failed");
            err.into_response()
        }
    }
}

/// Query string of `/chain`.
#[derive(Debug, Deserialize)]
struct ChainParams {
    chunk: Option<u32>,
    #[serde(default)]
    from: u64,
    limit: Option<u64>,
}

/// Most blocks one `/chain` answer holds.
pub const MAX_CHAIN_BLOCKS: u64 = 256;

/// `GET /chain?chunk=ID[&from=H][&limit=N]`.
async fn chain<A: NodeApi>(
    State(state): State<AppState<A>>,
    params: Result<Query<ChainParams>, QueryRejection>,
) -> Response {
    let (chunk, from, limit) = match params {
        Ok(Query(ChainParams { chunk: Some(c), from, limit })) => {
            (c, from, limit.unwrap_or(MAX_CHAIN_BLOCKS).clamp(1, MAX_CHAIN_BLOCKS))
        }
        Ok(Query(ChainParams { chunk: None, .. })) => {
            return ApiError::BadRequest("missing `chunk` query parameter; try /chain?chunk=17".into()).into_response();
        }
        Err(rejection) => {
            return ApiError::BadRequest(format!(
                "invalid query string (expected /chain?chunk=ID&from=HEIGHT&limit=N): {}",
                rejection.body_text()
            ))
            .into_response();
        }
    };
    match state.api.chain(chunk, from, limit).await {
        Ok(report) => Json(report).into_response(),
        Err(err) => err.into_response(),
    }
}

/// Query string of `/records`.
#[derive(Debug, Deserialize)]
struct RecordsParams {
    name: Option<String>,
    #[serde(rename = "type")]
    rtype: Option<u16>,
}

/// `GET /records?name=NAME&type=N`: a network read, as the DNS side makes it.
async fn records<A: NodeApi>(
    State(state): State<AppState<A>>,
    params: Result<Query<RecordsParams>, QueryRejection>,
) -> Response {
    match params {
        Ok(Query(RecordsParams { name: Some(name), rtype: Some(rtype) })) if validate_name(&name).is_ok() => {
            match state.api.records(name, rtype).await {
                Ok(report) => Json(report).into_response(),
                Err(err) => err.into_response(),
            }
        }
        _ => ApiError::BadRequest("expected /records?name=NAME&type=NUMBER (e.g. type=1 for A)".into()).into_response(),
    }
}

/// `GET /history?name=NAME[&type=N]`: committed versions of an RRset.
async fn history<A: NodeApi>(
    State(state): State<AppState<A>>,
    params: Result<Query<RecordsParams>, QueryRejection>,
) -> Response {
    match params {
        Ok(Query(RecordsParams { name: Some(name), rtype })) if validate_name(&name).is_ok() => {
            match state.api.history(name, rtype.unwrap_or(0)).await {
                Ok(report) => Json(report).into_response(),
                Err(err) => err.into_response(),
            }
        }
        _ => ApiError::BadRequest("expected /history?name=NAME[&type=NUMBER]".into()).into_response(),
    }
}

/// `POST /test/submit?name=NAME` (only with `--test-hooks`).
async fn test_submit<A: NodeApi>(
    State(state): State<AppState<A>>,
    params: Result<Query<LookupParams>, QueryRejection>,
) -> Response {
    let name = match params {
        Ok(Query(LookupParams { name: Some(name) })) if validate_name(&name).is_ok() => name,
        _ => return ApiError::BadRequest("expected /test/submit?name=NAME with a valid name".into()).into_response(),
    };
    match state.api.test_submit(name).await {
        Ok(report) => Json(report).into_response(),
        Err(err) => err.into_response(),
    }
}

/// Any other path.
async fn not_found() -> Response {
    error_response(
        StatusCode::NOT_FOUND,
        "not found; try /metrics, /healthz, /status, /lookup?name=NAME or /chain?chunk=ID".into(),
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::metrics::Metrics;
    use crate::report::PeerReport;
    use std::time::Duration;

    #[derive(Clone)]
    struct Fake;

    fn peer() -> PeerReport {
        PeerReport {
            peer_id: "12D3KooWPeer".into(),
            ring_id: "01".repeat(32),
            addrs: vec!["/ip4/127.0.0.1/tcp/1".into()],
        }
    }

    impl NodeApi for Fake {
        async fn status(&self) -> Result<StatusReport, ApiError> {
            Ok(StatusReport {
                version: "0.1.0".into(),
                network: "test".into(),
                peer_id: "12D3KooWSelf".into(),
                ring_id: "ff".repeat(32),
                listen_addrs: vec![],
                external_addrs: vec![],
                predecessor: Some(peer()),
                successors: vec![peer()],
                fingers: vec![],
                connected_peers: vec!["12D3KooWPeer".into()],
                uptime_seconds: 1.5,
                joined: true,
                ledger: Default::default(),
                admission: Default::default(),
            })
        }

        async fn chain(&self, chunk: u32, _from: u64, _limit: u64) -> Result<ChainReport, ApiError> {
            Err(ApiError::NotFound(format!("no chain of chunk {chunk} here")))
        }

        async fn records(&self, name: String, _rtype: u16) -> Result<RecordsReport, ApiError> {
            Err(ApiError::NotFound(format!("nothing about {name}")))
        }

        async fn history(&self, name: String, _rtype: u16) -> Result<HistoryReport, ApiError> {
            Err(ApiError::NotFound(format!("nothing about {name}")))
        }

        async fn test_submit(&self, _name: String) -> Result<SubmitReport, ApiError> {
            Err(ApiError::NotFound("test hooks are off".into()))
        }

        async fn lookup(&self, name: String) -> Result<LookupReport, ApiError> {
            match name.as_str() {
                "down.example" => Err(ApiError::Unavailable("not joined yet".into())),
                "fail.example" => Err(ApiError::Failed("lookup timed out".into())),
                _ => Ok(LookupReport {
                    name,
                    key: "aa".repeat(32),
                    chunk: 170,
                    chunk_bits: 8,
                    chunk_start: format!("aa{}", "00".repeat(31)),
                    committee: vec![peer()],
                    successors: vec![peer()],
                    hops: 2,
                    duration_ms: 3.0,
                }),
            }
        }
    }

    struct Server {
        rt: tokio::runtime::Runtime,
        addr: SocketAddr,
        stop: Option<tokio::sync::oneshot::Sender<()>>,
        task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    }

    impl Server {
        fn start() -> Self {
            let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
            let mut registry = Registry::default();
            let metrics = Metrics::register(&mut registry);
            metrics.set_connected_peers(7);
            let listener = rt.block_on(bind("127.0.0.1:0".parse().unwrap())).unwrap();
            let addr = listener.local_addr().unwrap();
            let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
            let task = rt.spawn(serve(listener, Arc::new(registry), Fake, async {
                let _ = stopped.await;
            }));
            Self { rt, addr, stop: Some(stop), task: Some(task) }
        }

        fn url(&self, path: &str) -> String {
            format!("http://{}{path}", self.addr)
        }

        fn stop(mut self) {
            self.stop.take().unwrap().send(()).unwrap();
            let task = self.task.take().unwrap();
            let result = self.rt.block_on(async { tokio::time::timeout(Duration::from_secs(5), task).await });
            result.unwrap().unwrap().unwrap();
        }
    }

    fn agent() -> ureq::Agent {
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .proxy(None)
            .timeout_global(Some(Duration::from_secs(5)))
            .build()
            .new_agent()
    }

    /// GET `url`: (status, content type, body).
    fn get(agent: &ureq::Agent, url: &str) -> (u16, String, String) {
        let mut resp = agent.get(url).call().unwrap();
        let ct = resp.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
        let body = resp.body_mut().read_to_string().unwrap();
        (resp.status().as_u16(), ct, body)
    }

    fn error_of(body: &str) -> String {
        serde_json::from_str::<ErrorReport>(body).unwrap().error
    }

    #[test]
    fn routes() {
        let server = Server::start();
        let agent = agent();

        let (code, ct, body) = get(&agent, &server.url("/metrics"));
        assert_eq!(code, 200);
        assert_eq!(ct, OPENMETRICS_CONTENT_TYPE);
        assert!(body.contains("dhtr_connected_peers 7\n"), "{body}");
        assert!(body.ends_with("# EOF\n"));

        let (code, _, body) = get(&agent, &server.url("/healthz"));
        assert_eq!((code, body.as_str()), (200, "ok\n"));

        let (code, ct, body) = get(&agent, &server.url("/status"));
        assert_eq!(code, 200);
        assert_eq!(ct, "application/json");
        let status: StatusReport = serde_json::from_str(&body).unwrap();
        assert_eq!(status.peer_id, "12D3KooWSelf");
        assert_eq!(status.successors.len(), 1);

        let (code, ct, body) = get(&agent, &server.url("/lookup?name=ex%20ample.com"));
        assert_eq!((code, ct.as_str()), (400, "application/json"));
        assert!(error_of(&body).contains("`name`"), "{body}");

        let (code, _, body) = get(&agent, &server.url("/lookup?name=Example.COM."));
        assert_eq!(code, 200);
        let lookup: LookupReport = serde_json::from_str(&body).unwrap();
        assert_eq!((lookup.name.as_str(), lookup.hops), ("Example.COM.", 2));

        for query in ["", "?name=", "?other=x", "?name=a..b", "?name=.a"] {
            let (code, _, body) = get(&agent, &server.url(&format!("/lookup{query}")));
            assert_eq!(code, 400, "{query}");
            assert!(error_of(&body).contains("`name`"), "{query}: {body}");
        }
        let long = format!("/lookup?name={}ab", "a.".repeat(126));
        let (code, _, body) = get(&agent, &server.url(&long));
        assert_eq!(code, 400);
        assert!(error_of(&body).contains("at most 253"), "{body}");

        let (code, _, body) = get(&agent, &server.url("/lookup?name=down.example"));
        assert_eq!((code, error_of(&body)), (503, "not joined yet".to_owned()));
        let (code, _, body) = get(&agent, &server.url("/lookup?name=fail.example"));
        assert_eq!((code, error_of(&body)), (502, "lookup timed out".to_owned()));

        let (code, ct, body) = get(&agent, &server.url("/nope"));
        assert_eq!((code, ct.as_str()), (404, "application/json"));
        assert!(error_of(&body).contains("not found"));

        drop(agent);
        server.stop();
    }

    #[test]
    fn client_against_server() {
        let server = Server::start();
        let addr = server.addr.to_string();
        let status = crate::client::get_status(&addr).unwrap();
        assert_eq!(status.network, "test");
        let status = crate::client::get_status(&format!("http://{addr}/")).unwrap();
        assert!(status.joined);
        let lookup = crate::client::get_lookup(&addr, "a b&c=d.example").unwrap_err();
        assert!(lookup.to_string().contains("whitespace"), "{lookup}");
        let lookup = crate::client::get_lookup(&addr, "x.example&name=y").unwrap();
        assert_eq!(lookup.name, "x.example&name=y");
        let err = crate::client::get_lookup(&addr, "fail.example").unwrap_err();
        assert_eq!(err.to_string(), "lookup timed out");
        server.stop();
    }

    #[test]
    fn validation() {
        assert!(validate_name(".").is_ok());
        assert!(validate_name("example.com").is_ok());
        assert!(validate_name("example.com.").is_ok());
        assert!(validate_name(&format!("{}a", "a.".repeat(126))).is_ok());
        assert!(validate_name(&"a".repeat(64)).is_err());
        assert!(validate_name("a.").is_ok());
        assert!(validate_name("a..").is_err());
        assert!(validate_name("").is_err());
        assert!(validate_name("a\tb").is_err());
    }

    #[test]
    fn bind_error_names_address() {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let first = bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
            let addr = first.local_addr().unwrap();
            let err = bind(addr).await.unwrap_err();
            assert_eq!(err.to_string(), format!("cannot listen for HTTP on {addr}: address in use"));
        });
    }
}
