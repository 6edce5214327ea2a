//! Throughput and quality of `FailureMatcher` against the predecessor's naive matcher, both run
//! on one core over the labelled corpus in the same process, so the ratio is meaningful.
//! Run: `cargo run --release -p aos-failures --example matcher_bench [-- CORPUS.jsonl [BASELINE_CATALOG.json]]`.
//! With a baseline catalog file (e.g. the catalog before a change, from `git show`), the builtin
//! catalog and that one are timed in the same process too, so their ratio is meaningful.

use aos_failures::{Category, Entry, FailureInput, FailureMatcher};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::hint::black_box;
use std::time::Instant;

const RUNS: usize = 7;
/// Classifications per timed run, for each matcher.
const PER_RUN: usize = 1_000_000;

struct Case {
    message: String,
    code: Option<String>,
    skill: Option<String>,
    http_status: Option<u16>,
    aws_code: Option<String>,
    smtp_code: Option<String>,
    os_kind: Option<String>,
    category: String,
}

impl Case {
    fn input(&self) -> FailureInput<'_> {
        FailureInput {
            message: &self.message,
            code: self.code.as_deref(),
            skill: self.skill.as_deref(),
            http_status: self.http_status,
            aws_code: self.aws_code.as_deref(),
            smtp_code: self.smtp_code.as_deref(),
            os_kind: self.os_kind.as_deref(),
        }
    }
}

fn main() {
    let path =
        std::env::args().nth(1).unwrap_or_else(|| concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/failures/corpus.jsonl").to_string());
    let cases = match load(&path) {
        Ok(c) if !c.is_empty() => c,
        Ok(_) => return eprintln!("{path}: no cases"),
        Err(e) => return eprintln!("{path}: {e}"),
    };
    let started = Instant::now();
    let matcher = FailureMatcher::builtin();
    println!("catalog: {} entries, built in {:.1} ms", matcher.entries().len(), started.elapsed().as_secs_f64() * 1e3);
    let naive = Naive::new(matcher.entries());
    let bytes: usize = cases.iter().map(|c| c.message.len()).sum();
    println!(
        "corpus: {} messages, mean {} bytes; {RUNS} runs x {PER_RUN} classifications each, one thread\n",
        cases.len(),
        bytes / cases.len()
    );

    let fast = rate(&cases, |c| black_box(matcher.classify(&c.input()).entry.map(|e| e.category)));
    let slow = rate(&cases, |c| black_box(naive.classify(&c.input()).map(|e| e.category)));
    println!("{:<22} {:>18} {:>18}", "median of runs", "msg/s (wall)", "msg/s (on-CPU)");
    for (name, (wall, cpu)) in [("FailureMatcher", &fast), ("naive (predecessor)", &slow)] {
        println!("{name:<22} {:>18.0} {:>18.0}", median(wall), median(cpu));
    }
    println!("speed-up: {:.1}x (wall), {:.1}x (on-CPU)\n", median(&fast.0) / median(&slow.0), median(&fast.1) / median(&slow.1));

    quality(&cases, |c| matcher.classify(&c.input()).entry.map(|e| e.category), |c| naive.classify(&c.input()).map(|e| e.category));

    // The second stage (`infer`) runs only for a failure no entry matches. A catalog of one entry
    // that matches none of these messages sends every one of them there; its cost per message is
    // compared with the builtin catalog's over the same messages, in the same process.
    let one = serde_json::json!({"version": 2, "entries": [serde_json::to_value(&matcher.entries()[0]).unwrap_or_default()]});
    if let Ok(guesser) = FailureMatcher::from_json(&one.to_string()) {
        let built = Instant::now();
        black_box(guesser.classify_message("warm-up: build the index of labelled examples"));
        println!("\nsecond stage: index built in {:.1} ms", built.elapsed().as_secs_f64() * 1e3);
        let per = PER_RUN / 50;
        let guessed = rate_n(&cases, per, |c| black_box(guesser.classify(&c.input()).inferred.map(|i| i.category)));
        let matched = rate_n(&cases, per, |c| black_box(matcher.classify(&c.input()).entry.map(|e| e.category)));
        println!("{:<22} {:>18} {:>18}", "median of runs", "msg/s (wall)", "msg/s (on-CPU)");
        for (name, (wall, cpu)) in [("inferred (no entry)", &guessed), ("builtin catalog", &matched)] {
            println!("{name:<22} {:>18.0} {:>18.0}", median(wall), median(cpu));
        }
        println!(
            "inferred / matched: {:.2}x (wall), {:.2}x (on-CPU)",
            median(&guessed.0) / median(&matched.0),
            median(&guessed.1) / median(&matched.1)
        );
    }

    if let Some(baseline) = std::env::args().nth(2) {
        let other = match std::fs::read_to_string(&baseline)
            .map_err(|e| e.to_string())
            .and_then(|t| FailureMatcher::from_json(&t).map_err(|e| e.to_string()))
        {
            Ok(m) => m,
            Err(e) => return eprintln!("{baseline}: {e}"),
        };
        println!("\nbaseline catalog {baseline}: {} entries", other.entries().len());
        // Interleaved, so load on the machine hits both alike.
        let (mut now, mut then) = ((Vec::new(), Vec::new()), (Vec::new(), Vec::new()));
        for _ in 0..3 {
            let a = rate(&cases, |c| black_box(matcher.classify(&c.input()).entry.map(|e| e.category)));
            let b = rate(&cases, |c| black_box(other.classify(&c.input()).entry.map(|e| e.category)));
            now.0.extend(a.0);
            now.1.extend(a.1);
            then.0.extend(b.0);
            then.1.extend(b.1);
        }
        for v in [&mut now.0, &mut now.1, &mut then.0, &mut then.1] {
            v.sort_by(f64::total_cmp);
        }
        println!("{:<22} {:>18} {:>18}", "median of runs", "msg/s (wall)", "msg/s (on-CPU)");
        for (name, (wall, cpu)) in [("builtin catalog", &now), ("baseline catalog", &then)] {
            println!("{name:<22} {:>18.0} {:>18.0}", median(wall), median(cpu));
        }
        println!("builtin / baseline: {:.2}x (wall), {:.2}x (on-CPU)", median(&now.0) / median(&then.0), median(&now.1) / median(&then.1));
    }
}

/// Messages per second of each run, sorted: by wall clock, and by the thread's own time on the
/// CPU (from /proc/thread-self/schedstat, where available), which stays meaningful when other
/// processes share the core.
fn rate<R>(cases: &[Case], f: impl Fn(&Case) -> R) -> (Vec<f64>, Vec<f64>) {
    rate_n(cases, PER_RUN, f)
}

fn rate_n<R>(cases: &[Case], per_run: usize, f: impl Fn(&Case) -> R) -> (Vec<f64>, Vec<f64>) {
    for c in cases {
        black_box(f(c));
    }
    let (mut wall, mut cpu) = (Vec::new(), Vec::new());
    for _ in 0..RUNS {
        let (t, c0) = (Instant::now(), on_cpu_ns());
        for c in cases.iter().cycle().take(per_run) {
            black_box(f(c));
        }
        wall.push(per_run as f64 / t.elapsed().as_secs_f64());
        if let (Some(a), Some(b)) = (c0, on_cpu_ns()) {
            cpu.push(per_run as f64 / ((b - a) as f64 / 1e9));
        }
    }
    wall.sort_by(f64::total_cmp);
    cpu.sort_by(f64::total_cmp);
    (wall, cpu)
}

/// Nanoseconds this thread has run on a CPU (Linux).
fn on_cpu_ns() -> Option<u64> {
    std::fs::read_to_string("/proc/thread-self/schedstat").ok()?.split_whitespace().next()?.parse().ok()
}

fn median(sorted: &[f64]) -> f64 {
    sorted.get(sorted.len() / 2).copied().unwrap_or(f64::NAN)
}

fn quality(cases: &[Case], fast: impl Fn(&Case) -> Option<Category>, slow: impl Fn(&Case) -> Option<Category>) {
    let mut per: BTreeMap<&str, (usize, usize, usize)> = BTreeMap::new();
    for c in cases {
        let slot = per.entry(c.category.as_str()).or_default();
        slot.0 += 1;
        slot.1 += usize::from(fast(c).map(|k| k.as_str()) == Some(c.category.as_str()));
        slot.2 += usize::from(slow(c).map(|k| k.as_str()) == Some(c.category.as_str()));
    }
    println!("category accuracy {:<10} {:>5} {:>15} {:>10}", "", "n", "FailureMatcher", "naive");
    let (mut n, mut a, mut b) = (0, 0, 0);
    for (cat, (k, x, y)) in &per {
        println!("{:<28} {:>5} {:>14.1}% {:>9.1}%", cat, k, pct(*x, *k), pct(*y, *k));
        (n, a, b) = (n + k, a + x, b + y);
    }
    println!("{:<28} {:>5} {:>14.1}% {:>9.1}%", "overall", n, pct(a, n), pct(b, n));
}

fn pct(ok: usize, n: usize) -> f64 {
    100.0 * ok as f64 / n.max(1) as f64
}

fn load(path: &str) -> Result<Vec<Case>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let s = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: Value = serde_json::from_str(l).map_err(|e| e.to_string())?;
            Ok(Case {
                message: s(&v, "message").unwrap_or_default(),
                code: s(&v, "code"),
                skill: s(&v, "skill"),
                http_status: v.get("http_status").and_then(Value::as_u64).and_then(|n| u16::try_from(n).ok()),
                aws_code: s(&v, "aws_code"),
                smtp_code: s(&v, "smtp_code"),
                os_kind: s(&v, "os_kind"),
                category: s(&v, "expected_category").unwrap_or_default(),
            })
        })
        .collect()
}

/// The predecessor's algorithm over this catalog: exact code lookup; then, in file order, the
/// first entry any of whose codes or keys (AWS, SMTP, OS codes, statuses) occurs as a
/// substring of the lower-cased message; then a keyword table.
struct Naive<'a> {
    exact: HashMap<String, &'a Entry>,
    substrings: Vec<(String, &'a Entry)>,
    keywords: Vec<(&'static str, &'a Entry)>,
}

impl<'a> Naive<'a> {
    fn new(entries: &'a [Entry]) -> Self {
        let mut exact = HashMap::new();
        let mut substrings = Vec::new();
        for e in entries {
            exact.insert(e.code.clone(), e);
            let r = &e.rules;
            for k in r.codes.iter().chain(&r.aws_codes).chain(&r.smtp_codes).chain(&r.os_kinds) {
                exact.insert(k.clone(), e);
            }
            let statuses = r.http_status.iter().filter_map(|s| s.bounds()).filter(|(lo, hi)| lo == hi).map(|(lo, _)| lo.to_string());
            let keys = std::iter::once(e.code.clone())
                .chain(r.codes.iter().chain(&r.aws_codes).chain(&r.smtp_codes).chain(&r.os_kinds).cloned())
                .chain(statuses);
            substrings.extend(keys.map(|k| (k.to_lowercase(), e)));
        }
        let by_code = |c: &str| entries.iter().find(|e| e.code == c);
        let keywords = KEYWORDS.iter().filter_map(|&(k, c)| by_code(c).map(|e| (k, e))).collect();
        Naive { exact, substrings, keywords }
    }

    fn classify(&self, input: &FailureInput<'_>) -> Option<&'a Entry> {
        if let Some(e) = input.code.and_then(|c| self.exact.get(c)) {
            return Some(e);
        }
        let lower = input.message.to_lowercase();
        if let Some((_, e)) = self.substrings.iter().find(|(k, _)| lower.contains(k.as_str())) {
            return Some(e);
        }
        self.keywords.iter().find(|(k, _)| lower.contains(k)).map(|(_, e)| *e)
    }
}

const KEYWORDS: &[(&str, &str)] = &[
    ("timeout", "HTTP_TIMEOUT"),
    ("timed out", "HTTP_TIMEOUT"),
    ("refused", "CONNECTION_REFUSED"),
    ("reset", "CONNECTION_RESET"),
    ("dns", "DNS_RESOLUTION_FAILED"),
    ("resolve", "DNS_RESOLUTION_FAILED"),
    ("certificate", "TLS_ERROR"),
    ("ssl", "TLS_ERROR"),
    ("tls", "TLS_ERROR"),
    ("unauthorized", "HTTP_UNAUTHORIZED"),
    ("forbidden", "HTTP_FORBIDDEN"),
    ("permission", "HTTP_FORBIDDEN"),
    ("denied", "HTTP_FORBIDDEN"),
    ("not found", "HTTP_NOT_FOUND"),
    ("rate limit", "HTTP_TOO_MANY_REQUESTS"),
    ("too many requests", "HTTP_TOO_MANY_REQUESTS"),
    ("throttl", "AWS_THROTTLING"),
    ("conflict", "HTTP_CONFLICT"),
    ("json", "JSON_SYNTAX_ERROR"),
    ("too large", "HTTP_PAYLOAD_TOO_LARGE"),
    ("unavailable", "HTTP_SERVICE_UNAVAILABLE"),
    ("invalid", "HTTP_BAD_REQUEST"),
    ("budget", "BUDGET_COST_EXCEEDED"),
    ("panic", "SKILL_PANIC"),
];
