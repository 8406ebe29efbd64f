//! Tracing setup for the node and the CLI.

use std::io::IsTerminal as _;

use tracing_subscriber::EnvFilter;

use crate::error::MonitoringError;

/// Installs the global tracing subscriber, writing to stderr.
///
/// The filter is `RUST_LOG` if set and non-empty, else `default_directive`
/// (e.g. `"info"` or `"info,dhtr=debug"`). `json` selects one JSON object per
/// line (for log collectors); otherwise human-readable text, coloured only
/// when stderr is a terminal.
///
/// Calling it again returns [`MonitoringError::LoggingAlreadyInitialised`];
/// it never panics.
pub fn init_tracing(default_directive: &str, json: bool) -> Result<(), MonitoringError> {
    let filter = filter(std::env::var("RUST_LOG").ok(), default_directive)?;
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let result =
        if json { builder.json().try_init() } else { builder.with_ansi(std::io::stderr().is_terminal()).try_init() };
    result.map_err(|e| MonitoringError::LoggingAlreadyInitialised(e.to_string()))
}

/// The filter from `rust_log` if non-empty, else from `default_directive`.
fn filter(rust_log: Option<String>, default_directive: &str) -> Result<EnvFilter, MonitoringError> {
    let (text, origin) = match rust_log {
        Some(value) if !value.trim().is_empty() => (value, "RUST_LOG"),
        _ => (default_directive.to_owned(), "the default"),
    };
    EnvFilter::try_new(&text).map_err(|e| MonitoringError::LogFilter { filter: text, origin, reason: e.to_string() })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn filter_choice() {
        assert_eq!(filter(None, "info").unwrap().to_string(), "info");
        assert_eq!(filter(Some(" ".into()), "warn").unwrap().to_string(), "warn");
        assert_eq!(filter(Some("debug".into()), "warn").unwrap().to_string(), "debug");
        let err = filter(Some("foo=notalevel".into()), "info").unwrap_err();
        assert!(err.to_string().contains("RUST_LOG"), "{err}");
    }

    #[test]
    fn second_init_is_an_error_not_a_panic() {
        let first = init_tracing("info", true);
        let second = init_tracing("info", false);
        // Another test may have installed a subscriber first; either way the
        // second call must fail cleanly.
        assert!(first.is_ok() || second.is_err());
        assert!(matches!(second, Err(MonitoringError::LoggingAlreadyInitialised(_))));
    }
}
