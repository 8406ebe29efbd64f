//! The generic deterministic kit every simulator here is built on: a virtual
//! clock, a time-ordered event queue, one seeded random generator, per-node
//! wake-ups for sans-IO cores, and a message network ([`net`]) with latency,
//! loss, duplication, reordering, partitions and an adversary hook.
//!
//! A simulator owns one [`Kit`] with its own event type `E`, pops events with
//! [`Kit::next`] and hands them to its nodes; every random choice it makes
//! goes through [`Kit::rng`], so a seed replays the same run exactly.

pub mod net;
pub mod sched;
#[cfg(test)]
mod tests;

use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

pub use net::{Adversary, Envelope, Net, NetConfig, NetStats, Passthrough, Wire};
pub use sched::Schedule;

/// Virtual time: a base [`Instant`] (taken once, at creation) plus the
/// virtual time elapsed since, so sans-IO cores that take `now: Instant` run
/// unchanged. Only the elapsed part ever matters to a run.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    base: Instant,
    now: Duration,
}

impl Default for Clock {
    fn default() -> Self {
        Clock { base: Instant::now(), now: Duration::ZERO }
    }
}

impl Clock {
    /// Virtual time elapsed since the start.
    pub fn now(&self) -> Duration {
        self.now
    }

    /// The current virtual time as an [`Instant`] for the cores.
    pub fn instant(&self) -> Instant {
        self.base + self.now
    }

    /// Virtual time of an [`Instant`] a core asked for, never in the past.
    pub fn at(&self, t: Instant) -> Duration {
        t.saturating_duration_since(self.base).max(self.now)
    }

    /// Move the clock to `to` (never backwards).
    pub fn advance(&mut self, to: Duration) {
        self.now = self.now.max(to);
    }
}

/// A seeded random generator: every simulator draws from one of these.
pub fn rng(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
}

/// A uniform duration in `[lo, hi]`, in whole microseconds; nothing is drawn
/// when the range is a single value.
pub fn uniform(rng: &mut StdRng, lo: Duration, hi: Duration) -> Duration {
    let (lo, hi) = (lo.as_micros() as u64, hi.as_micros() as u64);
    Duration::from_micros(if hi > lo { rng.random_range(lo..=hi) } else { lo })
}

/// The clock, the event queue and the random generator of one run.
pub struct Kit<E> {
    /// Virtual time.
    pub clock: Clock,
    /// Pending events.
    pub queue: Schedule<E>,
    /// The run's only source of randomness.
    pub rng: StdRng,
}

impl<E> Kit<E> {
    /// A run at virtual time zero, drawing from `seed`.
    pub fn new(seed: u64) -> Kit<E> {
        Kit::with_rng(rng(seed))
    }

    /// A run at virtual time zero, drawing from `rng` (a simulator that drew
    /// its setup from the generator already hands it over).
    pub fn with_rng(rng: StdRng) -> Kit<E> {
        Kit { clock: Clock::default(), queue: Schedule::default(), rng }
    }

    /// Virtual time elapsed.
    pub fn now(&self) -> Duration {
        self.clock.now()
    }

    /// The current virtual time as an [`Instant`].
    pub fn instant(&self) -> Instant {
        self.clock.instant()
    }

    /// Schedule `e` at virtual time `at`.
    pub fn schedule(&mut self, at: Duration, e: E) {
        self.queue.push(at, e);
    }

    /// Schedule `e` after `d` from now.
    pub fn after(&mut self, d: Duration, e: E) {
        let at = self.now() + d;
        self.queue.push(at, e);
    }

    /// The next event due at or before `until`, with the clock moved to it;
    /// `None` once nothing is due (the clock is then left where it was: call
    /// [`Kit::finish`]).
    pub fn next(&mut self, until: Duration) -> Option<E> {
        let (at, e) = self.queue.pop_until(until)?;
        self.clock.advance(at);
        Some(e)
    }

    /// Move the clock to `until` after the last event before it.
    pub fn finish(&mut self, until: Duration) {
        self.clock.advance(until);
    }

    /// A uniform duration in `[lo, hi]` (see [`uniform`]).
    pub fn uniform(&mut self, lo: Duration, hi: Duration) -> Duration {
        uniform(&mut self.rng, lo, hi)
    }

    /// Arm node `i`'s wake-up for the core's next deadline, if it has one:
    /// schedules `e` unless an earlier wake-up is already pending.
    pub fn wake(&mut self, timers: &mut Timers, i: usize, deadline: Option<Instant>, e: E) {
        if let Some(t) = deadline {
            let at = self.clock.at(t);
            if timers.arm(i, at) {
                self.queue.push(at, e);
            }
        }
    }

    /// Put `env` on `net` (through `adversary`); every copy that survives is
    /// scheduled as the event `deliver` makes of it.
    pub fn send<M: Clone>(
        &mut self,
        net: &mut Net<M>,
        adversary: &mut dyn Adversary<M>,
        env: Envelope<M>,
        mut deliver: impl FnMut(Envelope<M>) -> E,
    ) {
        let now = self.clock.now();
        let queue = &mut self.queue;
        net.send(&mut self.rng, now, adversary, env, &mut |at, env| queue.push(at, deliver(env)));
    }
}

/// One pending wake-up per node: a core re-arms its timer after every input,
/// and only the earliest deadline needs an event; an event that fires for a
/// deadline since replaced by an earlier one is stale.
#[derive(Clone, Debug, Default)]
pub struct Timers {
    due: Vec<Option<Duration>>,
}

impl Timers {
    /// Wake-ups for `n` nodes, none pending.
    pub fn new(n: usize) -> Timers {
        Timers { due: vec![None; n] }
    }

    /// Record a wake-up of node `i` at `at`; true if it must be scheduled
    /// (no earlier one is pending).
    pub fn arm(&mut self, i: usize, at: Duration) -> bool {
        let Some(due) = self.due.get_mut(i) else { return false };
        if due.is_none_or(|x| at < x) {
            *due = Some(at);
            true
        } else {
            false
        }
    }

    /// A wake-up event of node `i` fired at `now`: true if it is the pending
    /// one (which is then cleared), false if it is stale.
    pub fn fire(&mut self, i: usize, now: Duration) -> bool {
        match self.due.get_mut(i) {
            Some(due) if *due == Some(now) => {
                *due = None;
                true
            }
            _ => false,
        }
    }

    /// Forget node `i`'s pending wake-up (its core was replaced).
    pub fn clear(&mut self, i: usize) {
        if let Some(due) = self.due.get_mut(i) {
            *due = None;
        }
    }
}
