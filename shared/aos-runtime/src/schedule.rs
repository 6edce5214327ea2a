//! Periodic jobs of a long-lived process (`aos serve`: the sweeper, the failure aggregation, the
//! metrics upkeep), declared once each in a [`Schedule`] and run by it on the runtime's clock:
//! one task per job, runs of a job never overlapping, all stopping together. (On AWS the same
//! work is done by scheduled Lambda functions instead.)

use aos_core::ports::Clock;
use futures::future::BoxFuture;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// When a job runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cadence {
    /// Every `interval` after the previous run began (the first `interval` after the start).
    Every(Duration),
    /// At `at_secs` seconds after a UTC midnight plus whole multiples of `every` (`every` 24 h and
    /// 02:00: nightly at 02:00 UTC).
    Aligned { every: Duration, at_secs: u32 },
}

impl Cadence {
    /// The first run time strictly after `now_ms`.
    pub fn next_after(self, now_ms: i64) -> i64 {
        match self {
            Cadence::Every(interval) => now_ms.saturating_add(ms(interval)),
            Cadence::Aligned { every, at_secs } => {
                let every = ms(every).max(1);
                let anchor = now_ms.div_euclid(86_400_000) * 86_400_000 + i64::from(at_secs) * 1000;
                anchor + ((now_ms - anchor).div_euclid(every) + 1) * every
            }
        }
    }
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// One run of a job: whether it is the first (a job that also runs at start sees `first` then).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tick {
    pub first: bool,
    /// The time of the run by the schedule's clock.
    pub at_ms: i64,
}

type Task = Arc<dyn Fn(Tick) -> BoxFuture<'static, ()> + Send + Sync>;

struct Job {
    name: &'static str,
    cadence: Cadence,
    at_start: bool,
    task: Task,
}

/// The periodic jobs of a process. Declare each with [`Schedule::job`], then [`Schedule::spawn`].
pub struct Schedule {
    clock: Arc<dyn Clock>,
    jobs: Vec<Job>,
}

impl Schedule {
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self { clock, jobs: Vec::new() }
    }

    /// Declares a job: `name` (for logs), when it runs, whether it also runs once at start, and
    /// what it does. A job that fails logs its own error: the schedule only keeps time.
    pub fn job<F, Fut>(mut self, name: &'static str, cadence: Cadence, at_start: bool, task: F) -> Self
    where
        F: Fn(Tick) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        self.jobs.push(Job { name, cadence, at_start, task: Arc::new(move |tick| Box::pin(task(tick))) });
        self
    }

    /// The names of the declared jobs, in declaration order.
    pub fn names(&self) -> Vec<&'static str> {
        self.jobs.iter().map(|j| j.name).collect()
    }

    /// Starts every job; each stops when `stop` turns true (a run in progress is finished first).
    pub fn spawn(self, stop: watch::Receiver<bool>) -> Vec<tokio::task::JoinHandle<()>> {
        self.jobs
            .into_iter()
            .map(|job| {
                let (clock, mut stop) = (self.clock.clone(), stop.clone());
                tokio::spawn(async move {
                    let mut first = true;
                    let mut next = if job.at_start { clock.now_ms() } else { job.cadence.next_after(clock.now_ms()) };
                    loop {
                        tokio::select! {
                            _ = clock.sleep_until(next) => {}
                            _ = stop.wait_for(|stopped| *stopped) => return,
                        }
                        let at_ms = clock.now_ms();
                        tracing::debug!(job = job.name, "scheduled job starts");
                        (job.task)(Tick { first, at_ms }).await;
                        first = false;
                        next = job.cadence.next_after(at_ms);
                    }
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use std::sync::Mutex;

    #[test]
    fn aligned_runs_fall_on_the_time_of_day() {
        let day = 86_400_000i64;
        let nightly = Cadence::Aligned { every: Duration::from_secs(86_400), at_secs: 7_200 };
        let now = 20_000 * day + 3_600_000; // 01:00 UTC
        assert_eq!(nightly.next_after(now), 20_000 * day + 7_200_000);
        assert_eq!(nightly.next_after(20_000 * day + 7_200_000), 20_001 * day + 7_200_000, "strictly after now");
        assert_eq!(Cadence::Aligned { every: Duration::from_secs(1), at_secs: 7_200 }.next_after(now + 1), now + 1000);
        assert_eq!(Cadence::Every(Duration::from_secs(30)).next_after(now), now + 30_000);
    }

    /// Jobs run when the clock says so, without a second of real waiting.
    #[tokio::test]
    async fn jobs_run_on_the_clock_and_stop_together() {
        let clock = ManualClock::new(1_000_000);
        let runs: Arc<Mutex<Vec<(&'static str, Tick)>>> = Arc::default();
        let record = |name: &'static str| {
            let runs = runs.clone();
            move |tick: Tick| {
                runs.lock().unwrap().push((name, tick));
                async {}
            }
        };
        let schedule = Schedule::new(clock.clone()).job("sweep", Cadence::Every(Duration::from_secs(30)), true, record("sweep")).job(
            "upkeep",
            Cadence::Every(Duration::from_secs(5)),
            false,
            record("upkeep"),
        );
        assert_eq!(schedule.names(), ["sweep", "upkeep"]);
        let (stop_tx, stop_rx) = watch::channel(false);
        let handles = schedule.spawn(stop_rx);
        let count = |name: &str| runs.lock().unwrap().iter().filter(|(n, _)| *n == name).count();
        let settle = || async {
            for _ in 0..50 {
                tokio::task::yield_now().await;
            }
        };
        settle().await;
        assert_eq!((count("sweep"), count("upkeep")), (1, 0), "the sweep runs at start, the upkeep waits");
        assert!(runs.lock().unwrap()[0].1.first);
        for _ in 0..6 {
            clock.advance(Duration::from_secs(5));
            settle().await;
        }
        assert_eq!((count("sweep"), count("upkeep")), (2, 6));
        let second = runs.lock().unwrap().iter().filter(|(n, _)| *n == "sweep").nth(1).map(|(_, t)| *t).unwrap();
        assert_eq!(second, Tick { first: false, at_ms: 1_030_000 });
        stop_tx.send(true).unwrap();
        for h in handles {
            tokio::time::timeout(Duration::from_secs(5), h).await.expect("stopped").expect("no panic");
        }
    }
}
