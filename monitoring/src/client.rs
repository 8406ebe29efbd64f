//! Blocking client for the node's HTTP endpoint, used by the CLI
//! (`dhtr status`, `dhtr lookup NAME`).

use std::time::Duration;

use serde::de::DeserializeOwned;

use crate::http::validate_name;
use crate::report::{ChainReport, ErrorReport, HistoryReport, LookupReport, RecordsReport, StatusReport, SubmitReport};

/// How long one request may take, connecting included.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// Why a request to the node's HTTP endpoint failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The endpoint address is not `host:port` or an `http://` URL.
    #[error("invalid node HTTP address {addr:?}: {reason}")]
    InvalidAddress {
        /// The address as given.
        addr: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The name to look up is not a valid DNS name.
    #[error("invalid name: {0}")]
    InvalidName(String),
    /// No connection could be made.
    #[error("cannot reach the node's HTTP endpoint at {addr}: {reason}{hint}")]
    Connect {
        /// The endpoint address.
        addr: String,
        /// Why, e.g. `connection refused`.
        reason: String,
        /// Advice for the user (may be empty), starting with a space.
        hint: String,
    },
    /// The node did not answer in time.
    #[error("no answer from the node's HTTP endpoint at {addr} within {} s", .timeout.as_secs())]
    Timeout {
        /// The endpoint address.
        addr: String,
        /// The time allowed.
        timeout: Duration,
    },
    /// The node answered with an [`ErrorReport`]; displayed as its message.
    #[error("{message}")]
    Server {
        /// The endpoint address.
        addr: String,
        /// HTTP status code.
        status: u16,
        /// The node's error message.
        message: String,
    },
    /// The answer was not what a dhtr node sends.
    #[error("unexpected answer from {addr} (HTTP {status}): {reason}; is this a dhtr node's HTTP endpoint?")]
    UnexpectedResponse {
        /// The endpoint address.
        addr: String,
        /// HTTP status code.
        status: u16,
        /// What was wrong.
        reason: String,
    },
    /// Any other HTTP failure.
    #[error("HTTP request to {addr} failed: {reason}")]
    Http {
        /// The endpoint address.
        addr: String,
        /// What failed.
        reason: String,
    },
}

/// Fetches `GET /status` from the node at `http` (`host:port` or `http://` URL).
pub fn get_status(http: &str) -> Result<StatusReport, ClientError> {
    let url = format!("{}/status", base_url(http)?);
    fetch(http, agent().get(&url))
}

/// Fetches `GET /lookup?name=NAME` from the node at `http`.
pub fn get_lookup(http: &str, name: &str) -> Result<LookupReport, ClientError> {
    validate_name(name).map_err(ClientError::InvalidName)?;
    let url = format!("{}/lookup", base_url(http)?);
    fetch(http, agent().get(&url).query("name", name))
}

/// Fetches `GET /chain?chunk=ID&from=H&limit=N` from the node at `http`.
pub fn get_chain(http: &str, chunk: u32, from: u64, limit: u64) -> Result<ChainReport, ClientError> {
    let url = format!("{}/chain", base_url(http)?);
    let req = agent().get(&url).query("chunk", chunk.to_string()).query("from", from.to_string());
    fetch(http, req.query("limit", limit.to_string()))
}

/// Fetches `GET /records?name=NAME&type=N` from the node at `http`.
pub fn get_records(http: &str, name: &str, rtype: u16) -> Result<RecordsReport, ClientError> {
    validate_name(name).map_err(ClientError::InvalidName)?;
    let url = format!("{}/records", base_url(http)?);
    fetch(http, agent().get(&url).query("name", name).query("type", rtype.to_string()))
}

/// Fetches `GET /history?name=NAME&type=N` from the node at `http`.
pub fn get_history(http: &str, name: &str, rtype: u16) -> Result<HistoryReport, ClientError> {
    validate_name(name).map_err(ClientError::InvalidName)?;
    let url = format!("{}/history", base_url(http)?);
    fetch(http, agent().get(&url).query("name", name).query("type", rtype.to_string()))
}

/// `POST /test/submit?name=NAME` (nodes run with `--test-hooks` only).
pub fn post_test_submit(http: &str, name: &str) -> Result<SubmitReport, ClientError> {
    validate_name(name).map_err(ClientError::InvalidName)?;
    let url = format!("{}/test/submit", base_url(http)?);
    let mut response = agent()
        .post(&url)
        .query("name", name)
        .header("accept", "application/json")
        .send_empty()
        .map_err(|e| transport_error(http, e))?;
    let status = response.status().as_u16();
    let body = response.body_mut().read_to_string().map_err(|e| transport_error(http, e))?;
    if (200..300).contains(&status) {
        return serde_json::from_str(&body).map_err(|e| ClientError::UnexpectedResponse {
            addr: http.to_owned(),
            status,
            reason: format!("bad JSON: {e}"),
        });
    }
    let message = serde_json::from_str::<ErrorReport>(&body).map_or(body, |r| r.error);
    Err(ClientError::Server { addr: http.to_owned(), status, message })
}

/// `http://host:port` from `host:port` or an `http://` URL (no trailing `/`).
fn base_url(http: &str) -> Result<String, ClientError> {
    let invalid = |reason: &str| ClientError::InvalidAddress { addr: http.to_owned(), reason: reason.to_owned() };
    let trimmed = http.trim();
    let base = if trimmed.starts_with("http://") {
        trimmed.to_owned()
    } else if trimmed.starts_with("https://") {
        return Err(invalid("https is not supported; use http://HOST:PORT"));
    } else if trimmed.contains("://") {
        return Err(invalid("only http:// URLs are supported"));
    } else {
        format!("http://{trimmed}")
    };
    let base = base.trim_end_matches('/');
    if base.len() <= "http://".len() {
        return Err(invalid("expected HOST:PORT, e.g. 127.0.0.1:9464"));
    }
    Ok(base.to_owned())
}

/// An agent with [`TIMEOUT`], no proxy, and non-2xx answers as responses.
fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .proxy(None)
        .timeout_global(Some(TIMEOUT))
        .build()
        .new_agent()
}

/// Sends `request` and decodes a JSON `T` or an [`ErrorReport`].
fn fetch<T: DeserializeOwned>(
    addr: &str,
    request: ureq::RequestBuilder<ureq::typestate::WithoutBody>,
) -> Result<T, ClientError> {
    let mut response = request.header("accept", "application/json").call().map_err(|e| transport_error(addr, e))?;
    let status = response.status().as_u16();
    let body = response.body_mut().read_to_string().map_err(|e| transport_error(addr, e))?;
    let unexpected = |reason: String| ClientError::UnexpectedResponse { addr: addr.to_owned(), status, reason };
    if (200..300).contains(&status) {
        return serde_json::from_str(&body).map_err(|e| unexpected(format!("bad JSON: {e}")));
    }
    match serde_json::from_str::<ErrorReport>(&body) {
        Ok(report) => Err(ClientError::Server { addr: addr.to_owned(), status, message: report.error }),
        Err(_) => Err(unexpected("not a dhtr error report".to_owned())),
    }
}

/// Maps a ureq error to a [`ClientError`] naming `addr`.
fn transport_error(addr: &str, error: ureq::Error) -> ClientError {
    let connect = |reason: String, hint: String| ClientError::Connect { addr: addr.to_owned(), reason, hint };
    match error {
        ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => {
            connect("connection refused".to_owned(), format!(" (is the node running with --http-listen {addr}?)"))
        }
        ureq::Error::Io(io) => connect(io.to_string(), String::new()),
        ureq::Error::HostNotFound => connect("host not found".to_owned(), String::new()),
        ureq::Error::ConnectionFailed => connect("connection failed".to_owned(), String::new()),
        ureq::Error::Timeout(_) => ClientError::Timeout { addr: addr.to_owned(), timeout: TIMEOUT },
        ureq::Error::BadUri(reason) => ClientError::InvalidAddress { addr: addr.to_owned(), reason },
        other => ClientError::Http { addr: addr.to_owned(), reason: other.to_string() },
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn base_urls() {
        assert_eq!(base_url("127.0.0.1:9464").unwrap(), "http://127.0.0.1:9464");
        assert_eq!(base_url("http://[::1]:9464/").unwrap(), "http://[::1]:9464");
        assert!(base_url("https://x:1").is_err());
        assert!(base_url("ftp://x:1").is_err());
        assert!(base_url("").is_err());
    }

    #[test]
    fn connection_refused_gives_hint() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        drop(listener);
        let err = get_status(&addr).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "cannot reach the node's HTTP endpoint at {addr}: connection refused \
                 (is the node running with --http-listen {addr}?)"
            )
        );
    }

    #[test]
    fn invalid_name_is_rejected_locally() {
        let err = get_lookup("127.0.0.1:1", "a..b").unwrap_err();
        assert!(matches!(err, ClientError::InvalidName(_)), "{err}");
    }

    #[test]
    fn non_dhtr_server_is_reported() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let server = std::thread::spawn(move || {
            use std::io::{Read, Write};
            let (mut stream, _) = listener.accept().unwrap();
            let mut buf = [0u8; 1024];
            let _ = stream.read(&mut buf).unwrap();
            stream
                .write_all(b"HTTP/1.1 404 Not Found\r\ncontent-length: 5\r\nconnection: close\r\n\r\nnope\n")
                .unwrap();
        });
        let err = get_status(&addr).unwrap_err();
        server.join().unwrap();
        assert!(err.to_string().contains("(HTTP 404)"), "{err}");
        assert!(err.to_string().contains("dhtr node"), "{err}");
    }
}
