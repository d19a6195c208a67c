//! Bounded retries with exponential backoff and full jitter, for optimistic concurrency.

use rand::Rng;
use std::time::Duration;

/// How often and how patiently to retry an operation that lost a race.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in total, the first one included (at least 1 is always made).
    pub max_attempts: u32,
    /// Backoff ceiling after the first failed attempt; it doubles per failure.
    pub base: Duration,
    /// Largest backoff ceiling.
    pub max: Duration,
}

impl Default for RetryPolicy {
    /// 10 attempts, 20 ms doubling up to 1 s: about 5 s in the worst case.
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 10,
            base: Duration::from_millis(20),
            max: Duration::from_secs(1),
        }
    }
}

impl RetryPolicy {
    /// The backoff ceiling after `failed` failed attempts: `min(max, base * 2^(failed-1))`.
    pub fn ceiling(&self, failed: u32) -> Duration {
        let exponent = failed.saturating_sub(1).min(30);
        self.base.saturating_mul(1u32 << exponent).min(self.max)
    }

    /// A random wait in `[0, ceiling(failed)]` ("full jitter").
    pub fn backoff(&self, failed: u32) -> Duration {
        let ceiling = self.ceiling(failed);
        let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
        if nanos == 0 {
            return Duration::ZERO;
        }
        Duration::from_nanos(rand::rng().random_range(0..=nanos))
    }

    /// Sleeps for [`RetryPolicy::backoff`] of `failed` failed attempts.
    pub async fn wait(&self, failed: u32) {
        let wait = self.backoff(failed);
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceiling_doubles_up_to_max() {
        let policy = RetryPolicy {
            max_attempts: 5,
            base: Duration::from_millis(10),
            max: Duration::from_millis(70),
        };
        let ceilings: Vec<u128> = (1..=6).map(|n| policy.ceiling(n).as_millis()).collect();
        assert_eq!(ceilings, vec![10, 20, 40, 70, 70, 70]);
        assert_eq!(policy.ceiling(u32::MAX), Duration::from_millis(70));
    }

    #[test]
    fn backoff_stays_within_the_ceiling() {
        let policy = RetryPolicy::default();
        for failed in 1..20 {
            assert!(policy.backoff(failed) <= policy.ceiling(failed));
        }
        let zero = RetryPolicy {
            base: Duration::ZERO,
            ..policy
        };
        assert_eq!(zero.backoff(3), Duration::ZERO);
    }
}
