//! The confidence model of recovery suggestions: a Beta-Binomial posterior per evidence key.
//!
//! For one failure key and action, the chance `p` that the action is followed by the step's
//! success has the prior `Beta(α₀, β₀)`, from the catalog's advice ([`Prior::for_expectation`]):
//! the advised action starts optimistic, the others pessimistic, both scaled by how sure the
//! catalog match is. Each observation counts with the weight `2^(-age / half_life)`, so the
//! posterior is `Beta(α₀ + S, β₀ + F)` with `S` and `F` the decayed successes and failures.
//! A suggestion reports the posterior mean `α / (α + β)` and the lower credible bound (the 5%
//! quantile), and suggestions are ranked by the lower bound: an action must be both good and well
//! evidenced to rank first. Specified with a worked example in `docs/recovery.md`.

use crate::evidence::Expectation;
use serde::{Deserialize, Serialize};
use statrs::distribution::{Beta, Binomial, ContinuousCDF, DiscreteCDF};
use utoipa::ToSchema;

/// The default half-life of evidence: after 14 days an observation counts half.
pub const DEFAULT_HALF_LIFE_DAYS: f64 = 14.0;
/// The quantile reported as the lower credible bound.
pub const LOWER_QUANTILE: f64 = 0.05;
const DAY_MS: f64 = 86_400_000.0;

/// Prior pseudo-counts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Prior {
    pub alpha: f64,
    pub beta: f64,
}

impl Prior {
    /// Pseudo-counts for an action the catalog leads one to expect `e` of, from a match of
    /// `match_confidence` (0 when nothing matched): the advised action `Beta(0.8·n, 0.2·n)`, a
    /// plausible one `Beta(0.3·n, 0.7·n)`, an unlikely one `Beta(0.15·n, 0.85·n)`, where
    /// `n = 2 + 3·confidence` (2 to 5 pseudo-observations: a confident match counts as five).
    pub fn for_expectation(e: Expectation, match_confidence: f64) -> Self {
        let n = 2.0 + 3.0 * match_confidence.clamp(0.0, 1.0);
        let p = match e {
            Expectation::Advised => 0.8,
            Expectation::Plausible => 0.3,
            Expectation::Unlikely => 0.15,
        };
        Prior { alpha: p * n, beta: (1.0 - p) * n }
    }
}

/// Observations of one action, already summed: `attempts` and `successes` may be decayed
/// (fractional) counts.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Tally {
    pub attempts: f64,
    pub successes: f64,
}

impl Tally {
    /// Adds `attempts`/`successes` observed at `at_ms`, weighted by their age at `now_ms`.
    pub fn add_decayed(&mut self, attempts: u64, successes: u64, at_ms: i64, now_ms: i64, half_life_days: f64) {
        let w = decay_weight(now_ms.saturating_sub(at_ms), half_life_days);
        self.attempts += w * attempts as f64;
        self.successes += w * successes.min(attempts) as f64;
    }
}

/// The weight of an observation `age_ms` old: `2^(-age / half_life)`, 1 for an observation from
/// the future (clock skew) and for a non-positive half-life (no decay).
pub fn decay_weight(age_ms: i64, half_life_days: f64) -> f64 {
    if age_ms <= 0 || half_life_days <= 0.0 || !half_life_days.is_finite() {
        return 1.0;
    }
    (-(age_ms as f64) / (half_life_days * DAY_MS)).exp2()
}

/// The posterior mean and lower credible bound.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Confidence {
    /// Posterior mean chance that the step succeeds after this action.
    pub mean: f64,
    /// The 5% quantile of the posterior: 95% sure the chance is at least this.
    pub lower: f64,
}

/// The posterior of `prior` after `tally`.
pub fn posterior(prior: Prior, tally: Tally) -> Confidence {
    let successes = tally.successes.clamp(0.0, tally.attempts.max(0.0));
    let alpha = prior.alpha + successes;
    let beta = prior.beta + (tally.attempts.max(0.0) - successes);
    let mean = alpha / (alpha + beta);
    let lower = Beta::new(alpha, beta).map(|d| d.inverse_cdf(LOWER_QUANTILE)).unwrap_or(0.0);
    Confidence { mean: round4(mean), lower: round4(lower.clamp(0.0, 1.0)) }
}

/// The probability of `successes` or fewer in `trials` if the success chance were `p`: the
/// p-value of a one-sided exact binomial test that the chance is below `p` (1 when undefined).
pub fn binomial_lower_tail(successes: u64, trials: u64, p: f64) -> f64 {
    Binomial::new(p.clamp(0.0, 1.0), trials).map(|d| d.cdf(successes.min(trials))).unwrap_or(1.0)
}

/// The two-proportion z statistic of `x1` of `n1` against `x0` of `n0` (pooled standard error):
/// positive when the first rate is the higher; 0 when either sample is empty or nothing varies.
pub fn two_proportion_z(x1: u64, n1: u64, x0: u64, n0: u64) -> f64 {
    if n1 == 0 || n0 == 0 {
        return 0.0;
    }
    let (x1, n1, x0, n0) = (x1.min(n1) as f64, n1 as f64, x0.min(n0) as f64, n0 as f64);
    let pooled = (x1 + x0) / (n1 + n0);
    let se = (pooled * (1.0 - pooled) * (1.0 / n1 + 1.0 / n0)).sqrt();
    if se == 0.0 {
        return 0.0;
    }
    (x1 / n1 - x0 / n0) / se
}

fn round4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use Expectation::*;

    const NOW: i64 = 1_800_000_000_000;

    fn tally(attempts: u64, successes: u64) -> Tally {
        let mut t = Tally::default();
        t.add_decayed(attempts, successes, NOW, NOW, DEFAULT_HALF_LIFE_DAYS);
        t
    }

    #[test]
    fn ten_of_ten_outranks_one_of_one_which_outranks_no_evidence() {
        for e in [Advised, Plausible, Unlikely] {
            let prior = Prior::for_expectation(e, 0.9);
            let ten = posterior(prior, tally(10, 10)).lower;
            let one = posterior(prior, tally(1, 1)).lower;
            let none = posterior(prior, Tally::default()).lower;
            assert!(ten > one && one > none, "{e:?}: {ten} > {one} > {none}");
        }
    }

    #[test]
    fn the_advised_action_starts_ahead() {
        let advised = posterior(Prior::for_expectation(Advised, 0.95), Tally::default());
        let plausible = posterior(Prior::for_expectation(Plausible, 0.95), Tally::default());
        let unlikely = posterior(Prior::for_expectation(Unlikely, 0.95), Tally::default());
        assert!(advised.lower > plausible.lower && plausible.lower > unlikely.lower);
        assert!(advised.mean > 0.75 && unlikely.mean < 0.2);
    }

    #[test]
    fn decay_moves_old_evidence_back_toward_the_prior() {
        let prior = Prior::for_expectation(Advised, 0.9);
        let fresh = posterior(prior, tally(0, 0));
        let mut recent = Tally::default();
        recent.add_decayed(20, 0, NOW, NOW, 14.0);
        let mut old = Tally::default();
        old.add_decayed(20, 0, NOW - 60 * 86_400_000, NOW, 14.0);
        let (recent, old) = (posterior(prior, recent), posterior(prior, old));
        assert!(recent.mean < old.mean && old.mean < fresh.mean, "{recent:?} < {old:?} < {fresh:?}");
        assert!((decay_weight(14 * 86_400_000, 14.0) - 0.5).abs() < 1e-12, "one half-life halves");
        assert_eq!(decay_weight(-5, 14.0), 1.0, "the future does not count more");
    }

    #[test]
    fn a_string_of_failures_demotes_an_action_below_the_alternative() {
        let retry = Prior::for_expectation(Advised, 0.95);
        let fallback = Prior::for_expectation(Plausible, 0.95);
        let alt = posterior(fallback, tally(3, 3));
        assert!(posterior(retry, Tally::default()).lower > alt.lower, "the advised action first");
        assert!(posterior(retry, tally(6, 0)).lower < alt.lower, "six failures in a row put it below");
    }

    #[test]
    fn the_two_proportion_test() {
        assert_eq!(two_proportion_z(5, 0, 1, 10), 0.0);
        assert_eq!(two_proportion_z(0, 10, 0, 10), 0.0);
        let z = two_proportion_z(30, 100, 10, 700);
        assert!(z > 8.0, "{z}");
        assert!(two_proportion_z(10, 700, 30, 100) < -8.0);
        assert!(two_proportion_z(2, 100, 14, 700).abs() < 0.5, "the same rate");
        assert!((binomial_lower_tail(0, 5, 0.6) - 0.4f64.powi(5)).abs() < 1e-12);
    }

    #[test]
    fn bounds_stay_within_zero_and_one() {
        for (a, s) in [(0, 0), (1000, 1000), (1000, 0), (5, 9)] {
            let c = posterior(Prior::for_expectation(Unlikely, 0.0), tally(a, s));
            assert!((0.0..=1.0).contains(&c.lower) && (0.0..=1.0).contains(&c.mean) && c.lower <= c.mean, "{c:?}");
        }
    }
}
