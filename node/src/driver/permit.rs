//! `permissioned` networks, on the driver's side: revocations handed over
//! in `DATA_DIR/revocations/` go to the core (and from there round the
//! ring), revocations learned from the ring are written there, and a
//! certificate ending within 7 days is warned about at start and every
//! hour (log, `/status`, `dhtr_certificate_expiry_timestamp_seconds`).

use std::time::{Duration, Instant};

use dhtr_monitoring::{MembershipReport, Metrics};
use dhtr_node_core::Input;
use dhtr_protocol::{NodeInfo, Rules};
use tracing::{info, warn};

use super::Driver;
use crate::config::Settings;
use crate::permit::{RevocationsDir, days_left, expiry_warning, unix_now};

/// How often the revocations dir is read.
const POLL_EVERY: Duration = Duration::from_secs(5);
/// How often a certificate about to expire is warned about in the log.
const WARN_EVERY: Duration = Duration::from_secs(3600);

/// The driver's permissioned upkeep.
pub(super) struct Upkeep {
    dir: RevocationsDir,
    path: String,
    not_after: u64,
    poll_at: Instant,
    warn_at: Instant,
}

impl Upkeep {
    /// `None` in an open network.
    pub(super) fn new(settings: &Settings, me: &NodeInfo, metrics: &Metrics, now: Instant) -> Option<Upkeep> {
        let p = settings.permit.as_ref()?;
        let not_after = me.cert.as_ref().map_or(0, |c| c.not_after);
        metrics.certificate_expiry.set(i64::try_from(not_after).unwrap_or(i64::MAX));
        Some(Upkeep {
            dir: RevocationsDir::new(&settings.data_dir),
            path: p.certificate.display().to_string(),
            not_after,
            poll_at: now,
            warn_at: now,
        })
    }

    /// What `/status` shows.
    pub(super) fn report(&self, rules: &Rules) -> MembershipReport {
        let now = unix_now();
        MembershipReport {
            path: self.path.clone(),
            not_after: self.not_after,
            days_left: days_left(self.not_after, now),
            warning: expiry_warning(self.not_after, now),
            revocations: rules.permission.as_ref().map_or(0, |m| m.revocation_count()),
        }
    }
}

impl Driver {
    /// Read new revocation files, store learned ones, warn about expiry.
    pub(super) fn permit_upkeep(&mut self, now: Instant) {
        let Some(mut up) = self.permit.take() else { return };
        if up.poll_at <= now {
            up.poll_at = now + POLL_EVERY;
            let new = up.dir.poll();
            if !new.is_empty() {
                info!(count = new.len(), "revocations read from the data dir");
                self.input(Input::Revocations(new));
            }
            if let Some(m) = self.core.chord().rules().permission.clone() {
                up.dir.store(&m);
                self.metrics.revocations_known.set(i64::try_from(m.revocation_count()).unwrap_or(i64::MAX));
            }
        }
        if up.warn_at <= now {
            up.warn_at = now + WARN_EVERY;
            if let Some(w) = expiry_warning(up.not_after, unix_now()) {
                warn!(certificate = %up.path, "{w}");
            }
        }
        self.permit = Some(up);
    }
}
