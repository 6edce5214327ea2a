//! The runtime's settings, parsed once per process: from the environment in a Lambda
//! ([`RuntimeSettings::from_env`]), and by `aos serve` from the same environment with its flags
//! laid over. Every problem is a [`ConfigError`] naming the variable.

use crate::failures::aggregate::{AggregateOptions, DAYS_ENV, LOW_CONFIDENCE_ENV};
use crate::failures::{DEFAULT_RETENTION_DAYS, RETENTION_ENV};
use crate::recovery::{RecoverySettings, CANDIDATE_LOWER_ENV, HALF_LIFE_ENV, MIN_EVIDENCE_ENV, WINDOW_ENV};
use crate::worker::OutputLimits;
pub use aos_core::error::ConfigError;

pub const MAX_STEP_OUTPUT_ENV: &str = "AOS_MAX_STEP_OUTPUT_BYTES";
pub const MAX_RUN_OUTPUT_ENV: &str = "AOS_MAX_RUN_OUTPUT_BYTES";
pub const INLINE_ATTEMPT_ENV: &str = "AOS_INLINE_ATTEMPT_MS";

/// What both deployments configure about the runtime itself.
#[derive(Debug, Clone, PartialEq)]
pub struct RuntimeSettings {
    /// Days failure records are kept (`AOS_FAILURE_RETENTION_DAYS`, 1 to 3650, default 30).
    pub failure_retention_days: u32,
    /// Caps on what attempts return (`AOS_MAX_STEP_OUTPUT_BYTES`, `AOS_MAX_RUN_OUTPUT_BYTES`).
    pub output_limits: OutputLimits,
    /// What a scheduled failure aggregation reads, and the defaults of an on-demand one
    /// (`AOS_AGGREGATE_DAYS`, `AOS_AGGREGATE_LOW_CONFIDENCE`).
    pub aggregate: AggregateOptions,
    /// How recovery evidence is weighed and when suggestions become candidates
    /// (`AOS_RECOVERY_HALF_LIFE_DAYS`, `AOS_RECOVERY_CANDIDATE_LOWER`, `AOS_RECOVERY_MIN_EVIDENCE`).
    pub recovery: RecoverySettings,
    /// The time the orchestrator gives a pure attempt it runs inline, in ms; `0` runs none inline
    /// (`AOS_INLINE_ATTEMPT_MS`, 0 to 1000, default 200; see `crate::orchestrator`).
    pub inline_attempt_ms: u64,
}

impl Default for RuntimeSettings {
    fn default() -> Self {
        Self {
            failure_retention_days: DEFAULT_RETENTION_DAYS,
            output_limits: OutputLimits::default(),
            aggregate: AggregateOptions::default(),
            recovery: RecoverySettings::default(),
            inline_attempt_ms: crate::orchestrator::INLINE_ATTEMPT_MS,
        }
    }
}

impl RuntimeSettings {
    /// The settings from the process environment; unset or empty variables keep the defaults.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// The settings from any variable source (tests need no process environment).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let var = Vars(&get);
        let mut s = Self::default();
        if let Some(days) =
            var.parse(RETENTION_ENV, "a number of days from 1 to 3650", |v| v.parse::<u32>().ok().filter(|d| (1..=3650).contains(d)))?
        {
            s.failure_retention_days = days;
        }
        for (name, slot) in [(MAX_STEP_OUTPUT_ENV, &mut s.output_limits.step_bytes), (MAX_RUN_OUTPUT_ENV, &mut s.output_limits.run_bytes)] {
            if let Some(n) = var.parse(name, "a number of bytes, at least 1024", |v| v.parse::<u64>().ok().filter(|n| *n >= 1024))? {
                *slot = n;
            }
        }
        let days = var.parse(DAYS_ENV, "a number of days from 1 to 366", |v| v.parse::<u32>().ok())?;
        let low = var.parse(LOW_CONFIDENCE_ENV, "a number above 0 and at most 1", |v| v.parse::<f64>().ok())?;
        s.aggregate = AggregateOptions::new(days, low).map_err(|e| {
            let (name, value) = match &e {
                aos_core::DomainError::Invalid(f) if f.first().and_then(|f| f.field.as_deref()) == Some("days") => {
                    (DAYS_ENV, days.map(|d| d.to_string()))
                }
                _ => (LOW_CONFIDENCE_ENV, low.map(|c| c.to_string())),
            };
            ConfigError::invalid(name, value.unwrap_or_default(), e.to_string())
        })?;
        if let Some(d) =
            var.parse(HALF_LIFE_ENV, "a number of days from 1 to 365", |v| v.parse::<f64>().ok().filter(|d| (1.0..=365.0).contains(d)))?
        {
            s.recovery.half_life_days = d;
        }
        if let Some(c) =
            var.parse(CANDIDATE_LOWER_ENV, "a number above 0 and below 1", |v| v.parse::<f64>().ok().filter(|c| *c > 0.0 && *c < 1.0))?
        {
            s.recovery.candidate_lower = c;
        }
        if let Some(n) = var.parse(MIN_EVIDENCE_ENV, "a whole number from 1 to 1000000", |v| {
            v.parse::<u64>().ok().filter(|n| (1..=1_000_000).contains(n))
        })? {
            s.recovery.min_evidence = n;
        }
        if let Some(w) = var.parse(WINDOW_ENV, "a number of ms from 1000 to 2592000000 (30 days)", |v| {
            v.parse::<i64>().ok().filter(|w| (1000..=2_592_000_000).contains(w))
        })? {
            s.recovery.window_ms = w;
        }
        if let Some(ms) = var
            .parse(INLINE_ATTEMPT_ENV, "a number of ms from 0 (none inline) to 1000", |v| v.parse::<u64>().ok().filter(|ms| *ms <= 1000))?
        {
            s.inline_attempt_ms = ms;
        }
        Ok(s)
    }
}

/// The API's per-caller rate limits as configured (`AOS_RATE_LIMIT_PER_MINUTE`, default 6000, `0`
/// turns limits off; `AOS_RATE_LIMIT_BURST`, default 300), for `aos serve` and the API functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitSettings {
    pub per_minute: u32,
    pub burst: u32,
}

impl Default for RateLimitSettings {
    fn default() -> Self {
        Self { per_minute: 6000, burst: 300 }
    }
}

impl RateLimitSettings {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let var = Vars(&get);
        let mut s = Self::default();
        if let Some(n) = var.parse("AOS_RATE_LIMIT_PER_MINUTE", "a whole number (0 turns limits off)", |v| v.parse().ok())? {
            s.per_minute = n;
        }
        if let Some(n) = var.parse("AOS_RATE_LIMIT_BURST", "a whole number", |v| v.parse().ok())? {
            s.burst = n;
        }
        Ok(s)
    }
}

/// Variables from a lookup function, empty ones counting as unset: the one way every settings
/// parser of AOS reads a variable.
pub struct Vars<'a, F: Fn(&str) -> Option<String>>(pub &'a F);

impl<F: Fn(&str) -> Option<String>> Vars<'_, F> {
    /// The variable, trimmed, if set and not empty.
    pub fn get(&self, name: &str) -> Option<String> {
        (self.0)(name).map(|v| v.trim().to_string()).filter(|v| !v.is_empty())
    }

    /// The variable parsed by `parse`; a value it refuses is an error saying what was `expected`.
    pub fn parse<T>(&self, name: &str, expected: &str, parse: impl Fn(&str) -> Option<T>) -> Result<Option<T>, ConfigError> {
        let Some(value) = (self.0)(name).filter(|v| !v.trim().is_empty()) else { return Ok(None) };
        parse(value.trim()).map(Some).ok_or_else(|| ConfigError::invalid(name, value, format!("expected {expected}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(vars: &[(&str, &str)]) -> Result<RuntimeSettings, ConfigError> {
        RuntimeSettings::from_lookup(|k| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string()))
    }

    #[test]
    fn every_variable_is_read_and_empty_ones_keep_the_defaults() {
        assert_eq!(settings(&[]).unwrap(), RuntimeSettings::default());
        assert_eq!(settings(&[(RETENTION_ENV, " "), (DAYS_ENV, "")]).unwrap(), RuntimeSettings::default());
        let s = settings(&[
            (RETENTION_ENV, "7"),
            (MAX_STEP_OUTPUT_ENV, "2048"),
            (MAX_RUN_OUTPUT_ENV, "4096"),
            (DAYS_ENV, "3"),
            (LOW_CONFIDENCE_ENV, "0.5"),
            (INLINE_ATTEMPT_ENV, "0"),
        ])
        .unwrap();
        assert_eq!((s.failure_retention_days, s.output_limits.step_bytes, s.output_limits.run_bytes), (7, 2048, 4096));
        assert_eq!(s.inline_attempt_ms, 0);
        assert_eq!((s.aggregate.days, s.aggregate.fold.low_confidence), (3, 0.5));
    }

    #[test]
    fn errors_name_the_variable_and_the_value() {
        let err = |vars: &[(&str, &str)]| settings(vars).expect_err("invalid");
        for (name, value) in [
            (RETENTION_ENV, "0"),
            (RETENTION_ENV, "x"),
            (MAX_STEP_OUTPUT_ENV, "10"),
            (MAX_RUN_OUTPUT_ENV, "-1"),
            (DAYS_ENV, "400"),
            (DAYS_ENV, "a"),
            (LOW_CONFIDENCE_ENV, "2"),
            (HALF_LIFE_ENV, "0"),
            (CANDIDATE_LOWER_ENV, "1"),
            (MIN_EVIDENCE_ENV, "0"),
            (INLINE_ATTEMPT_ENV, "1001"),
        ] {
            let e = err(&[(name, value)]);
            assert_eq!(e.name(), name, "{e}");
            assert!(e.to_string().contains(name) && e.to_string().contains(value), "{e}");
        }
    }
}
