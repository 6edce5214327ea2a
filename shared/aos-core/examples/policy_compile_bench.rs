//! The cost of compiling a plan with recovery policies at submission (docs/performance.md, "Learning
//! loop"): a 20-step plan, every step known to have met 3 failure codes, against 0 and 50 policies
//! of its skill; the baseline is cloning the plan (what submission does without policies), in the
//! same run.
//!
//! usage: cargo run --release -p aos-core --example policy_compile_bench [ITERATIONS]

use aos_core::evidence::ActionKind;
use aos_core::plan::Plan;
use aos_core::policy::{compile, PolicyRule};
use serde_json::json;
use std::collections::BTreeMap;
use std::time::Instant;

fn percentile(mut v: Vec<f64>, p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * p) as usize]
}

fn main() {
    let n: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(20_000);
    let steps: Vec<_> = (0..20)
        .map(|i| json!({"id": format!("s{i}"), "skill": "http_call", "input": {"url": format!("https://api{i}.example.com/x")}}))
        .collect();
    let plan: Plan = serde_json::from_value(json!({"name": "bench", "steps": steps})).unwrap();
    let codes = ["HTTP_SERVICE_UNAVAILABLE", "HTTP_TOO_MANY_REQUESTS", "HTTP_TIMEOUT"];
    let known: BTreeMap<String, Vec<String>> =
        plan.steps.iter().map(|s| (s.id.clone(), codes.iter().map(|c| c.to_string()).collect())).collect();
    let rules: Vec<PolicyRule> = (0..50)
        .map(|i| PolicyRule {
            id: format!("pol_{i:016x}"),
            skill: "http_call".into(),
            code: codes[i % 3].into(),
            target: None,
            action: ActionKind::Retry,
            patch: if i % 2 == 0 { json!({"retry": {"max_attempts": 4}}) } else { json!({"timeout_ms": 60000}) },
            approved_lower: 0.6 + (i as f64) / 200.0,
        })
        .collect();
    let timeout = |_: &str| 30_000u64;
    let time = |f: &dyn Fn()| -> Vec<f64> {
        (0..n)
            .map(|_| {
                let t = Instant::now();
                f();
                t.elapsed().as_secs_f64() * 1e6
            })
            .collect()
    };
    let base = time(&|| {
        std::hint::black_box(plan.clone());
    });
    let none = time(&|| {
        std::hint::black_box(compile(&plan, &[], &known, &timeout));
    });
    let fifty = time(&|| {
        std::hint::black_box(compile(&plan, &rules, &known, &timeout));
    });
    for (label, v) in [("clone the plan (baseline)", base), ("compile, no policy", none), ("compile, 50 policies", fifty)] {
        println!("{label:<28} p50 {:>8.1} µs  p99 {:>8.1} µs", percentile(v.clone(), 0.5), percentile(v, 0.99));
    }
}
