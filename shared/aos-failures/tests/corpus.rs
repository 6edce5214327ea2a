//! Accuracy on the labelled corpora (tests/failures/): per category and overall, for the
//! category and for the retry decision. An unmatched message counts as wrong for both.

mod common;

use aos_failures::Category;
use common::{corpus, holdout, matcher, Case};
use std::collections::BTreeMap;

struct Score {
    n: usize,
    category: f64,
    retryable: f64,
}

/// Prints the per-category table and the misclassified messages, returns the overall scores.
fn evaluate(name: &str, cases: &[Case]) -> Score {
    let mut per: BTreeMap<Category, (usize, usize, usize)> = BTreeMap::new();
    let (mut cat_ok, mut retry_ok) = (0, 0);
    let mut misses = Vec::new();
    for c in cases {
        assert!(!c.source.trim().is_empty(), "every message names its source: {}", c.message);
        let r = matcher().classify(&c.input());
        let good_cat = r.category() == Some(c.expected_category);
        let good_retry = r.retryable() == Some(c.expected_retryable);
        let slot = per.entry(c.expected_category).or_default();
        slot.0 += 1;
        slot.1 += usize::from(good_cat);
        slot.2 += usize::from(good_retry);
        cat_ok += usize::from(good_cat);
        retry_ok += usize::from(good_retry);
        if !(good_cat && good_retry) {
            let m: String = c.message.chars().take(100).collect();
            misses.push(format!("  [{}] want {:?}/{} got {:?} | {m}", c.source, c.expected_category, c.expected_retryable, r.code()));
        }
    }
    println!("{name}:\n{:<12} {:>5} {:>9} {:>10}", "category", "n", "category", "retryable");
    for (cat, (n, ok, rok)) in &per {
        println!("{:<12} {:>5} {:>8.1}% {:>9.1}%", cat.as_str(), n, pct(*ok, *n), pct(*rok, *n));
    }
    let n = cases.len();
    println!("{:<12} {:>5} {:>8.1}% {:>9.1}%", "overall", n, pct(cat_ok, n), pct(retry_ok, n));
    println!("misclassified ({}):\n{}\n", misses.len(), misses.join("\n"));
    Score { n, category: pct(cat_ok, n), retryable: pct(retry_ok, n) }
}

#[test]
fn corpus_accuracy_meets_targets() {
    let s = evaluate("corpus", &corpus());
    assert!(s.n >= 200, "corpus has only {} messages", s.n);
    assert!(s.category >= 90.0, "category accuracy {:.1}%", s.category);
    assert!(s.retryable >= 95.0, "retryable accuracy {:.1}%", s.retryable);
}

/// The held-out set was written after the catalog was frozen; its first run scored 82.6%
/// (category) and 87.0% (retryable) on 69 messages. Rules were then added for the gaps it
/// showed, so it is no longer blind: its bar is lower, to catch regressions only.
#[test]
fn holdout_accuracy_is_reported() {
    let s = evaluate("holdout", &holdout());
    assert!(s.n >= 50, "holdout has only {} messages", s.n);
    assert!(s.category >= 75.0 && s.retryable >= 75.0, "holdout {:.1}% / {:.1}%", s.category, s.retryable);
}

fn pct(ok: usize, n: usize) -> f64 {
    if n == 0 {
        0.0
    } else {
        100.0 * ok as f64 / n as f64
    }
}
