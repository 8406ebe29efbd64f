//! What to answer once the resolution from the roots is back (sans-IO).

use crate::answer::{Resolution, ResolveError};

/// The answer to a question the network had no fresh answer for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// The resolution from the roots (its RRsets are then proposed for insertion).
    Fallback(Resolution),
    /// The last committed answer, recently expired: the authorities could
    /// not be reached (RFC 8767 §4).
    Stale(Resolution),
    /// No answer.
    Fail(ResolveError),
}

/// The decision after the fallback resolution `resolved`, given the
/// network's expired answer `stale` if it had one. A stale answer beats no
/// answer only when the authorities time out or all fail; any other error
/// (a loop, a budget exceeded, an unsupported question) is the answer, and
/// so is a negative resolution (NXDOMAIN, NODATA).
pub fn after_fallback(resolved: Result<Resolution, ResolveError>, stale: Option<Resolution>) -> Decision {
    match resolved {
        Ok(res) => Decision::Fallback(res),
        Err(e @ (ResolveError::Timeout { .. } | ResolveError::AllServersFailed { .. })) => match stale {
            Some(res) => Decision::Stale(res),
            None => Decision::Fail(e),
        },
        Err(e) => Decision::Fail(e),
    }
}
