//! The crate's error type for setting up monitoring.

use std::net::SocketAddr;

/// Errors from starting the HTTP endpoint or the logger.
#[derive(Debug, thiserror::Error)]
pub enum MonitoringError {
    /// The HTTP listener could not be bound.
    #[error("cannot listen for HTTP on {addr}: {reason}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// Human-readable reason, e.g. `address in use`.
        reason: String,
        /// The underlying error.
        io: std::io::Error,
    },
    /// `RUST_LOG` or the default directive is not a valid filter.
    #[error("invalid log filter {filter:?} (from {origin}): {reason}")]
    LogFilter {
        /// The filter text.
        filter: String,
        /// Where it came from: `RUST_LOG` or `the default`.
        origin: &'static str,
        /// Parser message.
        reason: String,
    },
    /// A global tracing subscriber (or `log` logger) is already installed.
    #[error("logging is already initialised: {0}")]
    LoggingAlreadyInitialised(String),
}
