//! Runs a core task on tokio: sends its requests with the transport, feeds
//! back replies and timeouts.

use std::sync::Arc;
use std::time::Instant;

use rand::SeedableRng;
use rand::rngs::StdRng;

use super::Shared;
use super::core::{Failure, Step, Task};
use super::transport;
use crate::answer::{Question, Resolution, ResolveError};

/// Resolves `q` to the end.
pub(crate) async fn run(shared: Arc<Shared>, q: &Question) -> Result<Resolution, ResolveError> {
    let started = Instant::now();
    let mut task = Task::new(shared, q, started, StdRng::from_rng(&mut rand::rng()))?;
    let mut step = task.start(started);
    loop {
        let request = match step {
            Step::Done(result) => {
                tracing::debug!(name = %q.name, qtype = %q.qtype, queries = task.queries(),
                    elapsed_ms = started.elapsed().as_millis() as u64, ok = result.is_ok(), "iterative resolution");
                return *result;
            }
            Step::Send(request) => request,
        };
        step = if request.tcp {
            match transport::tcp_exchange(&request).await {
                // Over TCP there is nothing else to wait for: a reply that is not ours is a failure.
                Ok(bytes) => task.on_reply(Instant::now(), request.to, &bytes).unwrap_or_else(|| {
                    task.on_failure(Instant::now(), Failure::Io("TCP reply does not match the query".to_string()))
                }),
                Err(failure) => task.on_failure(Instant::now(), failure),
            }
        } else {
            transport::udp_exchange(&request, |from, bytes| task.on_reply(Instant::now(), from, bytes))
                .await
                .unwrap_or_else(|failure| task.on_failure(Instant::now(), failure))
        };
    }
}
