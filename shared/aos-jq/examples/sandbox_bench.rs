//! The sandbox's cost per evaluation: a tiny program (`{a: .x + 1}` on a small object) run N
//! times in-process and N times through the sandbox, in the same run.
//!
//! ```sh
//! cargo run --release -p aos-jq --features unsandboxed --example sandbox_bench -- 20000
//! ```

use aos_jq::sandbox::{self, EvalLimits};
use aos_jq::unsandboxed::ProgramCache;
use serde_json::json;
use std::time::{Duration, Instant};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let n: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(20_000);
    let expr = "{a: .x + 1}";
    let input = json!({"x": 41, "name": "bench", "tags": ["a", "b"]});
    let expected = vec![json!({"a": 42})];

    // In-process, as json_transform did before the sandbox: a cached compiled program, run on a clone
    // of the input (the skill receives the value by ownership).
    let cache = ProgramCache::new(16);
    cache.get_or_compile(expr).expect("compiles");
    let started = Instant::now();
    for _ in 0..n {
        let out = cache.get_or_compile(expr).unwrap().run(input.clone()).unwrap();
        assert_eq!(out, expected);
    }
    let in_process = started.elapsed();

    // Sandboxed, sequentially: one worker, warmed (started and the program compiled) first.
    let limits = EvalLimits::new(Duration::from_secs(5));
    let started = Instant::now();
    assert_eq!(sandbox::run(expr, &input, &limits).await.unwrap(), expected);
    let first = started.elapsed();
    let started = Instant::now();
    for _ in 0..n {
        assert_eq!(sandbox::run(expr, &input, &limits).await.unwrap(), expected);
    }
    let sandboxed = started.elapsed();

    // Sandboxed, 4 callers at once (the pool's workers in parallel).
    let callers = 4;
    let started = Instant::now();
    let tasks: Vec<_> = (0..callers)
        .map(|_| {
            let input = input.clone();
            let limits = limits.clone();
            let expected = expected.clone();
            tokio::spawn(async move {
                for _ in 0..n / callers {
                    assert_eq!(sandbox::run(expr, &input, &limits).await.unwrap(), expected);
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let parallel = started.elapsed();

    let per = |d: Duration, k: usize| d.as_secs_f64() * 1e6 / k as f64;
    let (a, b) = (per(in_process, n), per(sandboxed, n));
    println!("evaluations:            {n} of `{expr}`");
    println!("workers:                {}", sandbox::config().workers);
    println!("first sandboxed call:   {:.1} ms (worker start + compile)", first.as_secs_f64() * 1e3);
    println!("in-process:             {a:.2} µs/eval");
    println!("sandboxed (sequential): {b:.2} µs/eval  ({:.1}x in-process, +{:.2} µs)", b / a, b - a);
    println!(
        "sandboxed ({callers} callers):  {:.2} µs/eval wall clock ({:.0} evals/s)",
        per(parallel, n / callers * callers),
        (n / callers * callers) as f64 / parallel.as_secs_f64()
    );
}
