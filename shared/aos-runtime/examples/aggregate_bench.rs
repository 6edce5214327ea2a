//! Throughput and memory of the failure aggregation's fold (`CandidateFold`), one core.
//!
//! `cargo run --release -p aos-runtime --example aggregate_bench -- MODE [RECORDS]`
//! - `compare` (default): folds RECORDS (default 1M) synthetic records, 7 timed runs, and in the
//!   same process the baseline: the same pass over the same records doing only a hash of each
//!   signature. Prints the medians (records/s, wall and on-CPU) and the ratio.
//! - `fold` / `baseline`: one pass of RECORDS, for measuring peak memory with
//!   `/usr/bin/time -v` ("Maximum resident set size"); run with 1M and 10M to see it stay flat.
//! - `store`: writes RECORDS records to an embedded (SQLite) store and times the whole job
//!   (`FailureLog::aggregate`: read, deserialize, fold, store), end to end.
//!
//! The records are realistic: a pool of 4,000 records over 2,400 signatures (HTTP statuses,
//! connection errors, jq failures, custom codes; ids, URLs and numbers in the messages), 55%
//! matched with a high confidence (read and skipped, as in production), the rest unmatched or
//! below the threshold; signatures are drawn with a heavy skew, so a few dominate and a long tail
//! exceeds the fold's 1,000 slots (evictions happen). The stream picks pool records with a
//! xorshift generator, so memory is the pool plus the fold, not the stream.

use aos_core::failure::{FailureKind, FailureMatch, MatchType, RecoveryMode};
use aos_core::outcome::{Category, StepError};
use aos_runtime::failures::candidates::{CandidateFold, FoldConfig};
use aos_runtime::failures::record::{FailureRecord, Subject};
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::hint::black_box;
use std::time::Instant;

const RUNS: usize = 7;
const POOL: usize = 4_000;
const SIGNATURES: usize = 2_400;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mode = args.get(1).map(String::as_str).unwrap_or("compare");
    let n: usize = args.get(2).and_then(|v| v.replace('_', "").parse().ok()).unwrap_or(1_000_000);
    let pool = pool();
    match mode {
        "fold" => {
            let (f, _) = fold(&pool, n);
            println!("folded {n} records: {} tracked, {} evictions, {} candidates considered", f.tracked(), f.evictions, f.considered);
            let out = f.finish(true);
            println!("top: {} × {} ({} tenants)", out[0].code, out[0].count, out[0].tenant_count.unwrap_or(0));
        }
        "baseline" => println!("hashed {n} signatures: {:x}", baseline(&pool, n)),
        "store" => store(&pool, n),
        _ => compare(&pool, n),
    }
}

/// One pass: folds `n` records (tenants change every 50,000 records, as the job feeds them).
fn fold(pool: &[FailureRecord], n: usize) -> (CandidateFold, u64) {
    let mut f = CandidateFold::new(FoldConfig::default());
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for i in 0..n {
        f.add((i / 50_000) as u32, &pool[rng.index()]);
    }
    (f, 0)
}

/// The same pass doing only a hash of each record's signature.
fn baseline(pool: &[FailureRecord], n: usize) -> u64 {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut acc = 0u64;
    for _ in 0..n {
        let mut h = DefaultHasher::new();
        pool[rng.index()].signature.hash(&mut h);
        acc = acc.wrapping_add(h.finish());
    }
    acc
}

fn compare(pool: &[FailureRecord], n: usize) {
    let mut fold_wall = Vec::new();
    let mut fold_cpu = Vec::new();
    let mut base_wall = Vec::new();
    let mut base_cpu = Vec::new();
    for _ in 0..RUNS {
        let (t, c) = (Instant::now(), on_cpu_ns());
        let (f, _) = fold(pool, n);
        let cands = black_box(f).finish(true);
        push(&mut fold_wall, &mut fold_cpu, n, t, c);
        black_box(cands);
        let (t, c) = (Instant::now(), on_cpu_ns());
        black_box(baseline(pool, n));
        push(&mut base_wall, &mut base_cpu, n, t, c);
    }
    let (f, _) = fold(pool, n);
    println!(
        "{n} records per run, {RUNS} runs; fold: {} tracked of {} signatures, {} evictions, {} of the records were candidates",
        f.tracked(),
        SIGNATURES,
        f.evictions,
        f.considered
    );
    println!("{:<34} {:>16} {:>16}", "median", "records/s (wall)", "records/s (CPU)");
    println!("{:<34} {:>16.0} {:>16.0}", "fold (CandidateFold)", median(&mut fold_wall), median(&mut fold_cpu));
    println!("{:<34} {:>16.0} {:>16.0}", "baseline (hash the signature)", median(&mut base_wall), median(&mut base_cpu));
    println!(
        "fold / baseline: {:.2} (wall), {:.2} (CPU)",
        median(&mut fold_wall) / median(&mut base_wall),
        median(&mut fold_cpu) / median(&mut base_cpu)
    );
}

fn store(pool: &[FailureRecord], n: usize) {
    use aos_core::ports::{Condition, Store};
    use aos_runtime::failures::aggregate::AggregateOptions;
    use aos_runtime::failures::FailureLog;
    let dir = std::env::temp_dir().join(format!("aos-aggregate-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    rt.block_on(async {
        let db = aos_store::EmbeddedDb::open(&dir.join("aos.db"), aos_store::Durability::Relaxed).expect("db");
        let store: std::sync::Arc<dyn Store> = std::sync::Arc::new(aos_store::EmbeddedStore::new(db));
        let log = FailureLog::new(store.clone(), 30);
        let now = aos_runtime::runs::now_ms();
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let t = Instant::now();
        for i in 0..n {
            let mut r = pool[rng.index()].clone();
            r.tenant = format!("tenant{}", i % 20);
            r.at_ms = now - 1 - (i as i64 % 86_400_000);
            r.id = format!("{:013}#r_{i}#call#0001", r.at_ms);
            r.expires_at = r.at_ms / 1000 + 30 * 86_400;
            log.note_days(std::slice::from_ref(&r)).await.expect("index");
            store.put_relaxed(r.item(), Condition::Always).await.expect("put");
        }
        println!("wrote {n} records in {:.1} s", t.elapsed().as_secs_f64());
        let mut times = Vec::new();
        for _ in 0..3 {
            let t = Instant::now();
            let run = log.aggregate(&AggregateOptions::default(), aos_runtime::runs::now_ms(), None).await.expect("aggregate");
            let s = t.elapsed().as_secs_f64();
            println!(
                "aggregate: {} tenants, {} records read, {} candidates in {:.2} s = {:.0} records/s",
                run.summary.tenants,
                run.summary.scanned,
                run.summary.candidates,
                s,
                run.summary.scanned as f64 / s
            );
            times.push(run.summary.scanned as f64 / s);
        }
        println!("median: {:.0} records/s end to end", median(&mut times));
    });
    let _ = std::fs::remove_dir_all(&dir);
}

fn push(wall: &mut Vec<f64>, cpu: &mut Vec<f64>, n: usize, t: Instant, c: Option<u64>) {
    wall.push(n as f64 / t.elapsed().as_secs_f64());
    if let (Some(a), Some(b)) = (c, on_cpu_ns()) {
        cpu.push(n as f64 / ((b - a) as f64 / 1e9));
    }
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

fn on_cpu_ns() -> Option<u64> {
    std::fs::read_to_string("/proc/thread-self/schedstat").ok()?.split_whitespace().next()?.parse().ok()
}

/// xorshift64*, skewed: `index` favours low pool indexes (signatures there repeat most).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn index(&mut self) -> usize {
        let u = (self.next() >> 11) as f64 / (1u64 << 53) as f64;
        ((u * u * u) * POOL as f64) as usize % POOL
    }
}

/// The pool: record `i` has signature family `i % SIGNATURES`.
fn pool() -> Vec<FailureRecord> {
    let hosts = ["api.partner.example.com", "payments.internal:8443", "hooks.slack.com", "inventory.eu-west-1.example.net"];
    (0..POOL)
        .map(|i| {
            let fam = i % SIGNATURES;
            let host = hosts[fam % hosts.len()];
            let word = |k: usize| ["orders", "invoices", "customers", "shipments", "quotes", "refunds"][k % 6];
            let (skill, code, message, m): (&str, String, String, (bool, f64, Option<&str>)) = match fam % 9 {
                0..=2 => (
                    "http_call",
                    "HTTP_503".into(),
                    format!("https://{host}/v1/{}/{} answered HTTP 503 Service Unavailable", word(fam), 100_000 + i),
                    (true, 0.93, Some("HTTP_SERVICE_UNAVAILABLE")),
                ),
                3 => (
                    "http_call",
                    "HTTP_404".into(),
                    format!("https://{host}/v1/{}/{} answered HTTP 404 Not Found", word(fam), 100_000 + i),
                    (true, 0.93, Some("HTTP_NOT_FOUND")),
                ),
                4 => (
                    "json_transform",
                    "JQ_RUNTIME_ERROR".into(),
                    format!("jq program failed: null (null) has no keys; family {}", alpha(fam)),
                    (true, 0.98, Some("JQ_RUNTIME_ERROR")),
                ),
                5 => (
                    "http_call",
                    format!("HTTP_{}", 440 + fam % 40),
                    format!("https://{host}/v2/{} answered HTTP {} custom refusal {}", word(fam), 440 + fam % 40, alpha(fam)),
                    (true, 0.7, Some("HTTP_CLIENT_ERROR")),
                ),
                6 => (
                    "http_call",
                    "HTTP_699".into(),
                    format!("https://{host}/x/{}?token=abc{i} answered HTTP 699 variant {}", 9_000_000 + i, alpha(fam)),
                    (false, 0.0, None),
                ),
                7 => (
                    "partner_sync",
                    format!("PARTNER_{}", alpha(fam).to_uppercase()),
                    format!(
                        "partner {} declined order {} at 2026-11-{:02}T10:00:00Z: quota {}",
                        alpha(fam),
                        7_000_000 + i,
                        1 + i % 28,
                        alpha(fam + 1)
                    ),
                    (false, 0.0, None),
                ),
                _ => (
                    "http_call",
                    "HTTP_CONNECT".into(),
                    format!("error sending request to https://{host}/{}: connection reset by peer ({})", word(fam), alpha(fam)),
                    (true, 0.55, Some("NETWORK_CONNECTION_RESET")),
                ),
            };
            let error = StepError::new(code.clone(), Category::Transient, true, message.clone());
            let normalized = aos_failures::normalize(&message);
            let signature = aos_failures::signature(Some(skill), Some(&code), &normalized);
            let fm = FailureMatch {
                matched: m.0,
                code: m.2.map(str::to_string),
                category: m.0.then_some(Category::Transient),
                retryable: Some(true),
                severity: None,
                recovery_mode: m.0.then_some(RecoveryMode::RetryExponential),
                confidence: m.1,
                match_type: if m.0 { MatchType::HttpStatus } else { MatchType::None },
                signature,
            };
            let run = format!("r_{i:032x}");
            let s = Subject {
                kind: FailureKind::Attempt,
                tenant: "bench",
                subject: &run,
                run_id: Some(&run),
                step_id: Some("call"),
                attempt: 1,
                skill: Some(skill),
                at_ms: 1_790_000_000_000 + i as i64,
            };
            FailureRecord::new(&s, &error, &fm, 30)
        })
        .collect()
}

/// Letters only (numbers would be normalized away and merge the families).
fn alpha(mut n: usize) -> String {
    let mut s = String::new();
    loop {
        s.push(char::from(b'a' + (n % 26) as u8));
        n /= 26;
        if n == 0 {
            return s;
        }
    }
}
