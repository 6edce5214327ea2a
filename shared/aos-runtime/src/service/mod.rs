//! The runtime facade: one [`Runtime`] per process, built once with [`Runtime::builder`] from the
//! deployment's ports, its [`Topology`], its settings and a clock. The API handlers call its
//! methods (runs here and in `runs`, the other resources in `resources` and `access`), the queue
//! consumers and Lambda handlers its message handlers (`crate::delivery`); nothing reaches through
//! it to the services inside. Tenant is always a parameter taken from the verified principal.

mod access;
mod recovery;
mod redrive;
mod resources;
mod runs;
mod topology;

pub use aos_core::ports::Ports;
pub use redrive::{RedriveRequest, RerunRequest, MAX_PATCH_BYTES};
pub(crate) use runs::view_of;
pub use runs::{RunView, StepView, SubmitRun, Submitted, MAX_SEED};
pub use topology::{LongPoll, Topology};

use crate::audit::AuditLog;
use crate::auth::ApiKeys;
use crate::clock::SystemClock;
use crate::executor::StepExecutor;
use crate::failures::FailureLog;
use crate::orchestrator::{FinishedRuns, Orchestrator};
use crate::recovery::Recovery;
use crate::runs::RunRepo;
use crate::settings::RuntimeSettings;
use crate::views::SettledViews;
use crate::worker::{Handoff, SkillWorker};
use crate::workflows::Workflows;
use aos_core::ports::Clock;
use std::sync::Arc;

/// One per process. Its parts are private: API handlers call its facade methods, deployment glue
/// and tests take a service through its accessor (`runs()`, `keys()`...).
pub struct Runtime {
    ports: Ports,
    topology: Topology,
    settings: RuntimeSettings,
    clock: Arc<dyn Clock>,
    /// Long polling's cap and store read interval (the topology's unless the builder set another).
    long_poll: LongPoll,
    runs: RunRepo,
    workflows: Workflows,
    keys: ApiKeys,
    audit: AuditLog,
    orchestrator: Arc<Orchestrator>,
    worker: SkillWorker,
    failures: FailureLog,
    recovery: Recovery,
    /// Wakes `get_view_json` callers in this process when a run finishes.
    finished: Arc<FinishedRuns>,
    /// Settled runs' views, serialized (`GET /api/v1/runs/{id}`).
    views: Arc<SettledViews>,
    /// First advances started by submissions in this process at once ([`MAX_STARTING`]).
    starting: Arc<tokio::sync::Semaphore>,
}

/// First advances a single-process runtime runs in tasks of their own at once; more submissions
/// at the same moment send an `Advance` through the queue, whose consumers bound the rest.
pub const MAX_STARTING: usize = 64;

/// Builds a [`Runtime`]: the ports and topology are required; the owner name, settings, clock and
/// long-poll timing have defaults (a fresh owner id, [`RuntimeSettings::default`], the system
/// clock, the topology's long poll).
pub struct RuntimeBuilder {
    ports: Ports,
    topology: Topology,
    owner: Option<String>,
    settings: RuntimeSettings,
    clock: Arc<dyn Clock>,
    long_poll: Option<LongPoll>,
}

impl RuntimeBuilder {
    /// Names this process in the attempts it claims (default `<serve|lambda>-<uuid>`).
    pub fn owner(mut self, owner: impl Into<String>) -> Self {
        self.owner = Some(owner.into());
        self
    }

    /// The deployment's settings (retention, output limits, aggregation defaults).
    pub fn settings(mut self, settings: RuntimeSettings) -> Self {
        self.settings = settings;
        self
    }

    /// The clock every time-dependent path reads (tests pass a `ManualClock`).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Long-poll timing other than the topology's (tests).
    pub fn long_poll(mut self, long_poll: LongPoll) -> Self {
        self.long_poll = Some(long_poll);
        self
    }

    pub fn build(self) -> Runtime {
        let RuntimeBuilder { ports, topology, owner, settings, clock, long_poll } = self;
        let owner = owner.unwrap_or_else(|| format!("{}-{}", topology.owner_prefix(), uuid::Uuid::new_v4().simple()));
        let runs = RunRepo::new(ports.store.clone());
        let failures = FailureLog::new(ports.store.clone(), settings.failure_retention_days);
        let finished = Arc::new(FinishedRuns::default());
        let views = Arc::new(SettledViews::default());
        let exec = StepExecutor {
            runs: runs.clone(),
            secrets: ports.secrets.clone(),
            skills: ports.skills.clone(),
            limits: settings.output_limits,
            clock: clock.clone(),
        };
        let orchestrator = Arc::new(Orchestrator {
            exec: exec.clone(),
            runs: runs.clone(),
            queue: ports.queue.clone(),
            skills: ports.skills.clone(),
            finished: finished.clone(),
            // In one process the reader of a run it finishes is in this process too.
            views: topology.hands_off_inline().then(|| views.clone()),
            locks: Default::default(),
            failures: failures.clone(),
            limits: settings.output_limits,
            evidence_keep_days: settings.recovery.keep_days(),
            recovery_window_ms: settings.recovery.window_ms,
            inline_attempt_ms: settings.inline_attempt_ms,
            clock: clock.clone(),
        });
        let handoff = if topology.hands_off_inline() { Handoff::Inline(orchestrator.clone()) } else { Handoff::Queue };
        let worker = SkillWorker { runs: runs.clone(), queue: ports.queue.clone(), exec, owner, topology, handoff, clock: clock.clone() };
        let recovery = Recovery::new(ports.store.clone(), runs.clone(), ports.skills.clone(), settings.recovery);
        Runtime {
            recovery,
            long_poll: long_poll.unwrap_or_else(|| topology.long_poll()),
            workflows: Workflows::new(ports.store.clone()).with_clock(clock.clone()),
            keys: ApiKeys::new(ports.store.clone()).with_clock(clock.clone()),
            audit: AuditLog::new(ports.store.clone()).with_clock(clock.clone()),
            orchestrator,
            worker,
            runs,
            failures,
            ports,
            topology,
            settings,
            clock,
            finished,
            views,
            starting: Arc::new(tokio::sync::Semaphore::new(MAX_STARTING)),
        }
    }
}

/// The services inside, for deployment glue and tests (handlers use the facade methods).
impl Runtime {
    /// A runtime over `ports` for a deployment shaped as `topology`.
    pub fn builder(ports: Ports, topology: Topology) -> RuntimeBuilder {
        RuntimeBuilder { ports, topology, owner: None, settings: RuntimeSettings::default(), clock: SystemClock::shared(), long_poll: None }
    }

    pub fn ports(&self) -> &Ports {
        &self.ports
    }

    pub fn topology(&self) -> Topology {
        self.topology
    }

    pub fn settings(&self) -> &RuntimeSettings {
        &self.settings
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// The time by the runtime's clock (ms since the epoch).
    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    pub fn long_poll(&self) -> LongPoll {
        self.long_poll
    }

    pub fn runs(&self) -> &RunRepo {
        &self.runs
    }

    pub fn keys(&self) -> &ApiKeys {
        &self.keys
    }

    pub fn audit(&self) -> &AuditLog {
        &self.audit
    }

    pub fn failures(&self) -> &FailureLog {
        &self.failures
    }

    pub fn workflows(&self) -> &Workflows {
        &self.workflows
    }

    pub fn orchestrator(&self) -> &Arc<Orchestrator> {
        &self.orchestrator
    }

    pub fn worker(&self) -> &SkillWorker {
        &self.worker
    }

    /// Settled runs' views kept in this process ([`crate::views`]).
    pub fn views(&self) -> &SettledViews {
        &self.views
    }

    /// The in-process notifications of finished runs.
    pub(crate) fn finished(&self) -> &FinishedRuns {
        &self.finished
    }
}
