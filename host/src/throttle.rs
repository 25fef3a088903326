//! Per-node rate limits for the paths anyone can call without a credential: a keyed
//! generic cell rate algorithm (GCRA), one timestamp per key, over a table with a hard size.
//! Callers name the key (`ip:…`, `connection:…`, `account:…`) and the rate; a refusal says
//! when to come back. This module decides; it does not answer HTTP or write audit events.
//!
//! Weighed: the `governor` crate does keyed GCRA, but its keyed store has no size bound and
//! its own clock; here the table is capped (a flood of new keys is refused, never grows
//! memory) and time comes from the injectable [`Clock`], so tests move it.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use crate::types::{Clock, Timestamp};

/// Most keys remembered per node. A key whose allowance has fully recovered is dropped when
/// the table is full; if it is still full of live keys, new keys are refused until some
/// recover (fail closed: an attacker rotating addresses slows sign-in, never exhausts memory).
/// 100,000 keys is a few MiB.
pub const MAX_KEYS: usize = 100_000;

/// A rate: up to `burst` requests at once, refilled evenly to `burst` per `period`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub burst: u32,
    pub period: Duration,
}

impl Rate {
    /// `n` per minute; `None` when `n` is 0 (the limit is off).
    pub fn per_minute(n: u32) -> Option<Rate> {
        (n > 0).then_some(Rate {
            burst: n,
            period: Duration::from_secs(60),
        })
    }

    /// `n` per hour; `None` when `n` is 0.
    pub fn per_hour(n: u32) -> Option<Rate> {
        (n > 0).then_some(Rate {
            burst: n,
            period: Duration::from_secs(3600),
        })
    }

    /// Microseconds between two requests at the sustained rate.
    fn interval_micros(self) -> i64 {
        let period = i64::try_from(self.period.as_micros()).unwrap_or(i64::MAX);
        (period / i64::from(self.burst.max(1))).max(1)
    }
}

/// A refused request: try again after this long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limited {
    pub retry_after: Duration,
}

impl Limited {
    /// Whole seconds for a `Retry-After` header, at least 1.
    pub fn retry_after_secs(self) -> u64 {
        self.retry_after.as_secs().max(1)
    }
}

/// The node's rate-limit table.
#[derive(Debug, Default)]
pub struct Throttle {
    /// Key → the theoretical arrival time (unix µs) of the next request at the sustained
    /// rate; a request is allowed while it is no more than a burst ahead of now.
    table: Mutex<HashMap<String, i64>>,
}

impl Throttle {
    pub fn new() -> Self {
        Self::default()
    }

    /// Counts one request for `key` at `rate`; refuses it when the key is over its rate.
    /// `None` as the rate (a limit switched off) always allows.
    pub fn check(&self, clock: &Clock, key: &str, rate: Option<Rate>) -> Result<(), Limited> {
        self.check_n(clock, key, rate, 1)
    }

    /// Counts `n` requests at once (a SCIM Bulk of `n` operations), all or none. `n` is
    /// capped at the burst, so a batch larger than the burst still passes when the key is idle.
    pub fn check_n(
        &self,
        clock: &Clock,
        key: &str,
        rate: Option<Rate>,
        n: u32,
    ) -> Result<(), Limited> {
        let Some(rate) = rate else { return Ok(()) };
        self.check_at(clock.now(), key, rate, n)
    }

    fn check_at(&self, now: Timestamp, key: &str, rate: Rate, n: u32) -> Result<(), Limited> {
        let now = now.as_micros();
        let interval = rate.interval_micros();
        let burst = rate.burst.max(1);
        let n = i64::from(n.clamp(1, burst));
        let tolerance = interval.saturating_mul(i64::from(burst) - 1);
        // The requests after the first of the batch take from the burst too.
        let extra = interval.saturating_mul(n - 1);
        let mut table = self.table.lock().unwrap_or_else(|p| p.into_inner());
        let tat = match table.get(key) {
            Some(tat) => (*tat).max(now),
            None => {
                if table.len() >= MAX_KEYS {
                    // Keys at or behind now have their whole burst back: forgetting them
                    // changes nothing.
                    table.retain(|_, tat| *tat > now);
                }
                if table.len() >= MAX_KEYS {
                    return Err(Limited {
                        retry_after: Duration::from_secs(1),
                    });
                }
                now
            }
        };
        if tat - now + extra > tolerance {
            let wait = u64::try_from(tat - now + extra - tolerance).unwrap_or(0);
            return Err(Limited {
                retry_after: Duration::from_micros(wait),
            });
        }
        table.insert(
            key.to_string(),
            tat.saturating_add(interval.saturating_mul(n)),
        );
        Ok(())
    }

    /// Keys currently remembered (for metrics and tests).
    pub fn len(&self) -> usize {
        self.table.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drops the keys that have recovered their whole burst; run from housekeeping.
    pub fn forget_recovered(&self, clock: &Clock) {
        let now = clock.now().as_micros();
        let mut table = self.table.lock().unwrap_or_else(|p| p.into_inner());
        table.retain(|_, tat| *tat > now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_micros(1_700_000_000_000_000 + secs * 1_000_000)
    }

    const FIVE_PER_MINUTE: Rate = Rate {
        burst: 5,
        period: Duration::from_secs(60),
    };

    #[test]
    fn a_burst_is_allowed_then_requests_refill_evenly() {
        let t = Throttle::new();
        for _ in 0..5 {
            t.check_at(at(0), "ip:a", FIVE_PER_MINUTE, 1).unwrap();
        }
        let refused = t.check_at(at(0), "ip:a", FIVE_PER_MINUTE, 1).unwrap_err();
        assert_eq!(refused.retry_after, Duration::from_secs(12));
        // Another key has its own allowance.
        t.check_at(at(0), "ip:b", FIVE_PER_MINUTE, 1).unwrap();
        // One interval later, one more request.
        t.check_at(at(12), "ip:a", FIVE_PER_MINUTE, 1).unwrap();
        assert!(t.check_at(at(12), "ip:a", FIVE_PER_MINUTE, 1).is_err());
        // After a full period the whole burst is back.
        for _ in 0..5 {
            t.check_at(at(80), "ip:a", FIVE_PER_MINUTE, 1).unwrap();
        }
    }

    #[test]
    fn a_batch_takes_its_size_from_the_burst_all_or_nothing() {
        let t = Throttle::new();
        t.check_at(at(0), "scim:t", FIVE_PER_MINUTE, 3).unwrap();
        // Two left: a batch of three is refused whole, and takes nothing.
        let refused = t.check_at(at(0), "scim:t", FIVE_PER_MINUTE, 3).unwrap_err();
        assert_eq!(refused.retry_after, Duration::from_secs(12));
        t.check_at(at(0), "scim:t", FIVE_PER_MINUTE, 2).unwrap();
        assert!(t.check_at(at(0), "scim:t", FIVE_PER_MINUTE, 1).is_err());
        // A batch larger than the burst passes once the key is idle, as a full burst.
        t.check_at(at(120), "scim:t", FIVE_PER_MINUTE, 50).unwrap();
        assert!(t.check_at(at(120), "scim:t", FIVE_PER_MINUTE, 1).is_err());
    }

    #[test]
    fn the_table_never_grows_past_its_bound() {
        let t = Throttle::new();
        for i in 0..MAX_KEYS {
            t.check_at(at(0), &format!("ip:{i}"), FIVE_PER_MINUTE, 1)
                .unwrap();
        }
        // Full of live keys: a new key is refused rather than remembered.
        assert!(t.check_at(at(1), "ip:new", FIVE_PER_MINUTE, 1).is_err());
        assert_eq!(t.len(), MAX_KEYS);
        // Once they recover, room is made.
        t.check_at(at(61), "ip:new", FIVE_PER_MINUTE, 1).unwrap();
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn a_switched_off_limit_allows_everything() {
        let t = Throttle::new();
        let clock = Clock::system();
        for _ in 0..1000 {
            t.check(&clock, "ip:a", Rate::per_minute(0)).unwrap();
        }
        assert!(t.is_empty());
    }
}
