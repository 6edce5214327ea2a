//! Simulation: estimates a plan's cost, latency and risk before running it — from this tenant's
//! recorded history of each skill (p50/p95 of recent attempts) or, without history, from the skill's
//! declared cost model — and says whether the budget suffices.

use aos_core::dag::topo_order;
use aos_core::plan::Plan;
use aos_core::run::AttemptRecord;
use aos_core::skill::SkillSpec;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use utoipa::ToSchema;

/// Attempts of history considered per skill.
pub const HISTORY_WINDOW: usize = 200;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct StepEstimate {
    pub step_id: String,
    pub skill: String,
    /// `history` or `cost_model`.
    pub source: String,
    pub samples: usize,
    pub latency_ms_p50: u64,
    pub latency_ms_p95: u64,
    pub cost_usd: f64,
    /// Share of recent attempts of this skill that failed (0 without history).
    pub risk: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct Simulation {
    pub feasible: bool,
    pub reasons: Vec<String>,
    pub steps: Vec<StepEstimate>,
    pub total_cost_usd: f64,
    /// Along the critical path of the DAG.
    pub total_latency_ms_p50: u64,
    pub total_latency_ms_p95: u64,
    /// Probability that at least one step fails on its first attempt.
    pub risk: f64,
    pub budget_max_cost_usd: Option<f64>,
    pub budget_max_duration_ms: Option<u64>,
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

pub fn estimate_step(step_id: &str, spec: &SkillSpec, history: &[AttemptRecord]) -> StepEstimate {
    if history.is_empty() {
        return StepEstimate {
            step_id: step_id.to_string(),
            skill: spec.id.clone(),
            source: "cost_model".into(),
            samples: 0,
            latency_ms_p50: spec.cost_model.latency_ms_p50,
            latency_ms_p95: spec.cost_model.latency_ms_p95,
            cost_usd: spec.cost_model.usd_per_call,
            risk: 0.0,
        };
    }
    let mut lat: Vec<u64> = history.iter().map(|a| a.duration_ms).collect();
    lat.sort_unstable();
    let failures = history.iter().filter(|a| !a.outcome.is_ok()).count();
    StepEstimate {
        step_id: step_id.to_string(),
        skill: spec.id.clone(),
        source: "history".into(),
        samples: history.len(),
        latency_ms_p50: percentile(&lat, 0.5),
        latency_ms_p95: percentile(&lat, 0.95),
        cost_usd: history.iter().map(|a| a.cost_usd).sum::<f64>() / history.len() as f64,
        risk: failures as f64 / history.len() as f64,
    }
}

/// Combines per-step estimates (keyed by step id) into the plan's totals and feasibility.
pub fn simulate(plan: &Plan, estimates: HashMap<String, StepEstimate>) -> Simulation {
    let order = topo_order(plan).unwrap_or_default();
    let mut finish50: HashMap<&str, u64> = HashMap::new();
    let mut finish95: HashMap<&str, u64> = HashMap::new();
    let mut steps = Vec::new();
    for i in order {
        let s = &plan.steps[i];
        let Some(e) = estimates.get(&s.id) else { continue };
        let start50 = s.depends_on.iter().filter_map(|d| finish50.get(d.as_str())).max().copied().unwrap_or(0);
        let start95 = s.depends_on.iter().filter_map(|d| finish95.get(d.as_str())).max().copied().unwrap_or(0);
        finish50.insert(&s.id, start50 + e.latency_ms_p50);
        finish95.insert(&s.id, start95 + e.latency_ms_p95);
        steps.push(e.clone());
    }
    let total_cost: f64 = steps.iter().map(|e| e.cost_usd).sum();
    let p50 = finish50.values().max().copied().unwrap_or(0);
    let p95 = finish95.values().max().copied().unwrap_or(0);
    let risk = 1.0 - steps.iter().map(|e| 1.0 - e.risk).product::<f64>();
    let mut reasons = Vec::new();
    if let Some(max) = plan.budget.max_cost_usd {
        if total_cost > max {
            reasons.push(format!("estimated cost {total_cost:.6} USD exceeds the budget of {max} USD"));
        }
    }
    if let Some(max) = plan.budget.max_duration_ms {
        if p95 > max {
            reasons.push(format!("estimated p95 latency {p95} ms exceeds the budget of {max} ms"));
        } else if p50 > max {
            reasons.push(format!("estimated p50 latency {p50} ms exceeds the budget of {max} ms"));
        }
    }
    for e in &steps {
        if e.risk >= 0.5 {
            reasons.push(format!("step `{}`: {:.0}% of recent `{}` attempts failed", e.step_id, e.risk * 100.0, e.skill));
        }
    }
    let feasible = !reasons.iter().any(|r| r.contains("exceeds"));
    Simulation {
        feasible,
        reasons,
        steps,
        total_cost_usd: total_cost,
        total_latency_ms_p50: p50,
        total_latency_ms_p95: p95,
        risk,
        budget_max_cost_usd: plan.budget.max_cost_usd,
        budget_max_duration_ms: plan.budget.max_duration_ms,
    }
}
