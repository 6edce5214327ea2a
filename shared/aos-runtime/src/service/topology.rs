//! How a deployment's processes share the work, and what follows from it: how long polls wait,
//! when a claimed attempt's worker counts as dead, and how a worker hands an outcome to the
//! orchestrator. A deployment names its topology once, when it builds the runtime.

use std::time::Duration;

/// Where the orchestrator and the skill workers run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Topology {
    /// `aos serve`: one process runs the API, the orchestrator and every skill worker over one
    /// data directory (which it locks).
    SingleProcess,
    /// AWS Lambda: many execution environments run side by side, each one function (an API
    /// resource, the orchestrator, one skill), and any of them may be frozen or recycled.
    Distributed,
}

impl Topology {
    /// How long polls wait ([`LongPoll::EMBEDDED`] in one process, [`LongPoll::LAMBDA`] behind API
    /// Gateway).
    pub fn long_poll(self) -> LongPoll {
        match self {
            Topology::SingleProcess => LongPoll::EMBEDDED,
            Topology::Distributed => LongPoll::LAMBDA,
        }
    }

    /// Whether a claim on an attempt belongs to a worker that stopped: its lease has passed, or —
    /// in one process, where every other owner is an earlier instance of this process (the data
    /// directory is locked) — another owner took it. Across processes another owner's claim is
    /// live until its lease passes.
    pub fn claim_is_dead(self, claim_owner: &str, lease_until_ms: i64, this_owner: &str, now_ms: i64) -> bool {
        // A claim's owner is the process's name, then (since claims name their delivery) `/` and
        // the delivery's id; the process is what decides.
        let this_process =
            claim_owner.strip_prefix(this_owner).is_some_and(|rest| rest.is_empty() || rest.starts_with(crate::worker::CLAIM_SEPARATOR));
        now_ms > lease_until_ms || (self == Topology::SingleProcess && !this_process)
    }

    /// Whether a worker hands a recorded outcome straight to the orchestrator of its own process
    /// (no queue hop), rather than sending an `Advance` through the orchestrator queue, and a
    /// submission starts its run's first advance itself (while the process has room for it). A
    /// crash in between is covered by the sweeper either way.
    pub fn hands_off_inline(self) -> bool {
        self == Topology::SingleProcess
    }

    /// The default owner name of this process's claims, for diagnosing interrupted attempts.
    pub(crate) fn owner_prefix(self) -> &'static str {
        match self {
            Topology::SingleProcess => "serve",
            Topology::Distributed => "lambda",
        }
    }
}

/// How a long poll (`GET /api/v1/runs/{id}?wait_ms=`) waits for a run to finish: at most
/// `max_wait`, whatever `wait_ms` asks, re-reading the run from the store every `interval` (a run
/// finished by this process wakes the waiter at once; one finished elsewhere is seen at the next read).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LongPoll {
    pub max_wait: Duration,
    pub interval: Duration,
}

impl LongPoll {
    /// `aos serve`: the API's own limit (30 s); workers usually finish runs in this process, so
    /// the in-process wake-up ends most waits and the store read is a cheap local fallback.
    pub const EMBEDDED: LongPoll = LongPoll { max_wait: Duration::from_secs(30), interval: Duration::from_millis(100) };
    /// AWS Lambda behind API Gateway, which gives up on a request after 30 s (the API functions'
    /// timeout is 29 s): answer by 25 s with the run as it is. Runs finish in other functions, so
    /// every wake-up is a DynamoDB read: one every 500 ms (3 RRU each) rather than ten a second.
    pub const LAMBDA: LongPoll = LongPoll { max_wait: Duration::from_secs(25), interval: Duration::from_millis(500) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_follows_from_the_topology() {
        let (me, other, lease) = ("serve-b", "serve-a", 1_000);
        // One process: another owner is an earlier instance, dead whatever its lease.
        assert!(Topology::SingleProcess.claim_is_dead(other, lease, me, 500));
        assert!(!Topology::SingleProcess.claim_is_dead(me, lease, me, 500));
        // A claim names this process and its delivery: still this process's.
        assert!(!Topology::SingleProcess.claim_is_dead("serve-b/0f3a", lease, me, 500));
        assert!(Topology::SingleProcess.claim_is_dead("serve-bb/0f3a", lease, me, 500));
        assert!(Topology::SingleProcess.claim_is_dead("serve-a/0f3a", lease, me, 500));
        assert!(Topology::SingleProcess.claim_is_dead(me, lease, me, 1_001));
        // Many processes: live until the lease passes.
        assert!(!Topology::Distributed.claim_is_dead(other, lease, me, 1_000));
        assert!(Topology::Distributed.claim_is_dead(other, lease, me, 1_001));
        assert!(Topology::SingleProcess.hands_off_inline() && !Topology::Distributed.hands_off_inline());
        assert_eq!((Topology::SingleProcess.long_poll(), Topology::Distributed.long_poll()), (LongPoll::EMBEDDED, LongPoll::LAMBDA));
    }
}
