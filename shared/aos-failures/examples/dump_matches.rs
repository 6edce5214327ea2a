//! The catalog's verdict on each message of a labelled file, one JSON line per message, for
//! experiments that need the catalog's output as it was at some commit (copy this file into a
//! worktree of that commit; it uses only API that has not changed since the catalog v2).
//! Refuses a held-out file: those are scored only by `tests/corpus.rs`, which prints numbers.
//! Run: `cargo run -p aos-failures --example dump_matches -- tests/failures/unseen2-dev.jsonl`.

use aos_failures::{FailureInput, FailureMatcher};
use serde_json::{json, Value};

fn main() {
    let Some(path) = std::env::args().nth(1) else { return eprintln!("usage: dump_matches FILE.jsonl") };
    if path.contains("-holdout") {
        return eprintln!("{path}: held-out files are not dumped");
    }
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) => return eprintln!("{path}: {e}"),
    };
    let m = FailureMatcher::builtin();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let Ok(v) = serde_json::from_str::<Value>(line) else { return eprintln!("{path}: a line does not parse") };
        let s = |k: &str| v.get(k).and_then(Value::as_str);
        let input = FailureInput {
            message: s("message").unwrap_or_default(),
            code: s("code"),
            skill: s("skill"),
            http_status: v.get("http_status").and_then(Value::as_u64).and_then(|x| u16::try_from(x).ok()),
            aws_code: s("aws_code"),
            smtp_code: s("smtp_code"),
            os_kind: s("os_kind"),
        };
        let r = m.classify(&input);
        let e = r.entry;
        println!(
            "{}",
            json!({"matched": r.matched, "code": e.map(|e| e.code.as_str()), "category": e.map(|e| e.category.as_str()),
                   "retryable": e.map(|e| e.retryable), "confidence": r.confidence, "generic": e.map(|e| e.generic)})
        );
    }
}
