//! The clocks behind `aos_core::ports::Clock`: the system's, and a manual one tests move by hand so
//! that leases, key expiry, item expiry, long polls and periodic jobs are tested without sleeping.

use aos_core::ports::Clock;
use async_trait::async_trait;
use std::sync::Arc;
use std::time::Duration;

/// The operating system's wall clock; sleeping is tokio's timer.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl SystemClock {
    /// The system clock as the `Arc<dyn Clock>` the runtime and the store take.
    pub fn shared() -> Arc<dyn Clock> {
        Arc::new(SystemClock)
    }
}

/// Milliseconds since the Unix epoch by the system clock (0 if it is set before 1970).
pub fn system_now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

#[async_trait]
impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        system_now_ms()
    }

    async fn sleep_until(&self, at_ms: i64) {
        // Re-checked after waking: the wall clock may have been set back meanwhile.
        loop {
            let left = at_ms.saturating_sub(system_now_ms());
            if left <= 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(left as u64)).await;
        }
    }
}

/// A clock that moves only when told to ([`ManualClock::advance`], [`ManualClock::set`]); every
/// `sleep_until` whose time has come then returns.
#[derive(Debug)]
pub struct ManualClock {
    now: tokio::sync::watch::Sender<i64>,
}

impl ManualClock {
    /// A clock standing at `now_ms`.
    pub fn new(now_ms: i64) -> Arc<Self> {
        Arc::new(Self { now: tokio::sync::watch::Sender::new(now_ms) })
    }

    /// A clock standing at the system's current time.
    pub fn at_system_time() -> Arc<Self> {
        Self::new(system_now_ms())
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        let by = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        self.now.send_modify(|now| *now = now.saturating_add(by));
    }

    /// Sets the clock to `now_ms` (backwards too).
    pub fn set(&self, now_ms: i64) {
        self.now.send_replace(now_ms);
    }

    /// How many tasks are waiting in `sleep_until` now (so a test can move the clock once a
    /// waiter is in place).
    pub fn sleepers(&self) -> usize {
        self.now.receiver_count()
    }
}

#[async_trait]
impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        *self.now.borrow()
    }

    async fn sleep_until(&self, at_ms: i64) {
        let mut now = self.now.subscribe();
        // The sender lives as long as `self`, so this only ends when the time has come.
        let _ = now.wait_for(|now| *now >= at_ms).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_manual_clock_wakes_sleepers_when_moved_past_their_time() {
        let clock = ManualClock::new(1_000);
        let sleeper = {
            let clock = clock.clone();
            tokio::spawn(async move { clock.sleep_until(5_000).await })
        };
        while clock.sleepers() == 0 {
            tokio::task::yield_now().await;
        }
        clock.advance(Duration::from_millis(3_000));
        tokio::task::yield_now().await;
        assert!(!sleeper.is_finished(), "woken before its time");
        clock.advance(Duration::from_millis(1_000));
        tokio::time::timeout(Duration::from_secs(5), sleeper).await.expect("woken").expect("no panic");
        assert_eq!(clock.now_ms(), 5_000);
        // A time already passed returns at once.
        clock.sleep_until(10).await;
        clock.set(7);
        assert_eq!(clock.now_ms(), 7);
    }
}
