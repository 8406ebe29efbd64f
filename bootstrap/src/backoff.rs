//! Exponential backoff with "equal jitter".
//!
//! The n-th delay (counting from 0) is drawn uniformly from `[c/2, c]` where
//! `c = min(max, base * 2^n)`.
//!
//! We use *equal* jitter rather than *full* jitter (`[0, c]`): full jitter
//! spreads retries best but can retry almost immediately even after many
//! failures, which defeats the point when the peers we rejoin through are
//! down or overloaded. Equal jitter keeps half of the spread (so a crowd of
//! nodes restarting together still de-synchronises) while guaranteeing the
//! wait grows with the number of failures and is never zero.

use std::time::Duration;

use rand::Rng;

/// The smallest base delay; a zero base would make every delay zero.
const MIN_BASE: Duration = Duration::from_millis(1);

/// Exponential backoff state: how many delays were handed out since the last reset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backoff {
    base: Duration,
    max: Duration,
    attempts: u32,
}

impl Backoff {
    /// Creates a backoff whose first delay is about `base` and whose delays
    /// never exceed `max`.
    ///
    /// `base` is raised to at least 1 ms, and `max` to at least `base`, so
    /// that delays are never zero and the bounds are consistent.
    pub fn new(base: Duration, max: Duration) -> Self {
        let base = base.max(MIN_BASE);
        Self { base, max: max.max(base), attempts: 0 }
    }

    /// The (clamped) base delay.
    pub fn base(&self) -> Duration {
        self.base
    }

    /// The (clamped) maximum delay.
    pub fn max(&self) -> Duration {
        self.max
    }

    /// How many delays were handed out since creation or the last [`Backoff::reset`].
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// The upper bound of the next delay: `min(max, base * 2^attempts)`.
    pub fn ceiling(&self) -> Duration {
        2u32.checked_pow(self.attempts)
            .and_then(|factor| self.base.checked_mul(factor))
            .map_or(self.max, |d| d.min(self.max))
    }

    /// Returns the next delay, in `[ceiling/2, ceiling]` (see [`Backoff::ceiling`]),
    /// and counts an attempt. Never zero, never more than `max`.
    pub fn next_delay<R: Rng + ?Sized>(&mut self, rng: &mut R) -> Duration {
        let ceiling = self.ceiling();
        let half = ceiling / 2;
        let spread = u64::try_from((ceiling - half).as_nanos()).unwrap_or(u64::MAX);
        let jitter = Duration::from_nanos(rng.random_range(0..=spread));
        self.attempts = self.attempts.saturating_add(1);
        (half + jitter).clamp(MIN_BASE / 2, self.max)
    }

    /// Starts over: the next delay is about `base` again.
    pub fn reset(&mut self) {
        self.attempts = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    #[test]
    fn bounds_and_growth() {
        for seed in 0..50 {
            let mut rng = StdRng::seed_from_u64(seed);
            let base = Duration::from_millis(100);
            let max = Duration::from_secs(30);
            let mut b = Backoff::new(base, max);
            for n in 0..40u32 {
                assert_eq!(b.attempts(), n);
                let ceiling = b.ceiling();
                let expected = base.checked_mul(2u32.saturating_pow(n)).map_or(max, |d| d.min(max));
                assert_eq!(ceiling, expected, "attempt {n}");
                let d = b.next_delay(&mut rng);
                assert!(d > Duration::ZERO);
                assert!(d <= max, "{d:?} > {max:?}");
                assert!(d >= ceiling / 2 && d <= ceiling, "attempt {n}: {d:?} vs {ceiling:?}");
            }
            assert_eq!(b.attempts(), 40);
        }
    }

    #[test]
    fn delays_grow_on_average() {
        let mut rng = StdRng::seed_from_u64(7);
        let mut b = Backoff::new(Duration::from_millis(10), Duration::from_secs(3600));
        let delays: Vec<Duration> = (0..10).map(|_| b.next_delay(&mut rng)).collect();
        // Equal jitter: delay n is in [c_n/2, c_n] and c_{n+1} = 2 c_n, so it never shrinks.
        for w in delays.windows(2) {
            assert!(w[1] >= w[0], "{delays:?}");
        }
        assert!(delays[9] >= Duration::from_millis(10 * 512 / 2));
    }

    #[test]
    fn jitter_varies() {
        let mut rng = StdRng::seed_from_u64(1);
        let delays: Vec<Duration> = (0..20)
            .map(|_| Backoff::new(Duration::from_secs(1), Duration::from_secs(60)).next_delay(&mut rng))
            .collect();
        let first = delays[0];
        assert!(delays.iter().any(|d| *d != first), "{delays:?}");
    }

    #[test]
    fn reset_starts_over() {
        let mut rng = StdRng::seed_from_u64(3);
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(10));
        for _ in 0..10 {
            b.next_delay(&mut rng);
        }
        assert_eq!(b.ceiling(), Duration::from_secs(10));
        b.reset();
        assert_eq!(b.attempts(), 0);
        assert_eq!(b.ceiling(), Duration::from_millis(100));
        assert!(b.next_delay(&mut rng) <= Duration::from_millis(100));
    }

    #[test]
    fn degenerate_parameters() {
        let mut rng = StdRng::seed_from_u64(5);
        let mut b = Backoff::new(Duration::ZERO, Duration::ZERO);
        assert_eq!(b.base(), Duration::from_millis(1));
        assert_eq!(b.max(), Duration::from_millis(1));
        for _ in 0..100 {
            let d = b.next_delay(&mut rng);
            assert!(d > Duration::ZERO && d <= Duration::from_millis(1));
        }
        let b = Backoff::new(Duration::from_secs(10), Duration::from_secs(1));
        assert_eq!(b.max(), Duration::from_secs(10));
        let mut b = Backoff::new(Duration::from_secs(1), Duration::MAX);
        for _ in 0..200 {
            assert!(b.next_delay(&mut rng) > Duration::ZERO);
        }
    }
}
