//! Accuracy on the labelled corpora (tests/failures/): per category and overall, for the
//! category and for the retry decision. An unmatched message counts as wrong for both.

mod common;

use aos_failures::Category;
use common::{corpus, holdout, matcher, Case};
use common::{unseen2_dev, unseen2_holdout, unseen3_holdout, unseen4_dev, unseen4_holdout, unseen_dev, unseen_holdout};
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

/// Category and retry accuracy on one of the issue-18 unseen sets. With `show_misses`, prints the
/// misclassified messages grouped by cluster; without it (the held-out half), only the numbers.
fn evaluate_unseen(name: &str, cases: &[Case], show_misses: bool) -> Score {
    let (mut cat_ok, mut retry_ok) = (0, 0);
    let mut by_cluster: BTreeMap<&str, (usize, Vec<String>)> = BTreeMap::new();
    for c in cases {
        assert!(!c.source.trim().is_empty(), "every message names its source");
        let cluster = c.cluster.as_deref().unwrap_or("unclustered");
        let r = matcher().classify(&c.input());
        let good_cat = r.category() == Some(c.expected_category);
        let good_retry = r.retryable() == Some(c.expected_retryable);
        cat_ok += usize::from(good_cat);
        retry_ok += usize::from(good_retry);
        let slot = by_cluster.entry(cluster).or_default();
        slot.0 += 1;
        if show_misses && !(good_cat && good_retry) {
            let m: String = c.message.chars().take(110).collect::<String>().replace('\n', "\\n");
            slot.1.push(format!(
                "    want {}/{} got {}/{} ({}) | {m}",
                c.expected_category.as_str(),
                c.expected_retryable,
                r.category().map_or("-", |k| k.as_str()),
                r.retryable().map_or("-".to_string(), |b| b.to_string()),
                r.code().unwrap_or("unmatched"),
            ));
        }
    }
    let n = cases.len();
    println!("{name}: {n} messages, category {:.1}%, retryable {:.1}%", pct(cat_ok, n), pct(retry_ok, n));
    if show_misses {
        for (cluster, (total, misses)) in &by_cluster {
            println!("  {cluster}: {} of {total} missed", misses.len());
            for m in misses {
                println!("{m}");
            }
        }
    }
    Score { n, category: pct(cat_ok, n), retryable: pct(retry_ok, n) }
}

/// The issue-18 unseen set: real-world messages from public sources (provider docs, SDK error
/// enums, library sources, issue trackers) written by someone who does not edit the catalog, split
/// into a dev half the catalog's authors may read and a held-out half they may not
/// (tests/failures/README.md). The floors are today's scores (2026-12-07, before the catalog work)
/// less a margin, so the test catches regressions only. The target, ≥ 95% category and ≥ 97% retry
/// decision on the held-out half, is not reached yet (see `HELD_FLOOR`).
#[test]
fn unseen_accuracy_is_reported() {
    let dev = evaluate_unseen("unseen-dev", &unseen_dev(), true);
    let held = evaluate_unseen("unseen-holdout", &unseen_holdout(), false);
    assert!(dev.n >= 200 && held.n >= 150, "unseen sets too small: {} / {}", dev.n, held.n);
    assert!(dev.category >= DEV_FLOOR.0 && dev.retryable >= DEV_FLOOR.1, "unseen-dev {:.1}% / {:.1}%", dev.category, dev.retryable);
    assert!(
        held.category >= HELD_FLOOR.0 && held.retryable >= HELD_FLOOR.1,
        "unseen-holdout {:.1}% / {:.1}%",
        held.category,
        held.retryable
    );
}

/// (category %, retryable %) floors for the unseen sets. Before the issue-18 catalog work
/// (2026-12-07): dev 42.3% / 47.3% on 279 messages, held-out 40.7% / 45.9% on 231. After it (same
/// day): dev 100.0% / 100.0% (the catalog was written against it, so it says little), held-out
/// 91.3% / 94.4%; after the rules written from the second set's dev half (session 5, not from
/// this set), 94.4% / 96.1%; with the second stage (`infer`, session 7), 97.0% / 100.0%, and after
/// the fourth set's rules 96.5% / 99.6% — but this
/// set has been scored too often to be blind, so its figure is not the one that counts
/// (`unseen3_holdout_is_reported` is). The floors are the latest scores less one point.
const DEV_FLOOR: (f64, f64) = (99.0, 99.0);
const HELD_FLOOR: (f64, f64) = (96.0, 99.0);

/// The second unseen set: 320 more real-world messages, collected by another person after the
/// catalog work on the first set was done, from providers, libraries and tools the first set
/// mostly did not use, so that its held-out half measures generalization afresh. Two tests, so
/// that the catalog's authors can run the dev half (`unseen2_dev`) without seeing the held-out
/// half's numbers.
#[test]
fn unseen2_dev_is_reported() {
    reported("unseen2-dev", &unseen2_dev(), true, 150, DEV2_FLOOR);
}

#[test]
fn unseen2_holdout_is_reported() {
    reported("unseen2-holdout", &unseen2_holdout(), false, 120, HELD2_FLOOR);
}

/// Scores one unseen set (misses printed only with `show_misses`, for a dev half) and holds it to
/// its size and its (category %, retryable %) floor.
fn reported(name: &str, cases: &[Case], show_misses: bool, min_n: usize, floor: (f64, f64)) -> Score {
    let s = evaluate_unseen(name, cases, show_misses);
    assert!(s.n >= min_n, "{name} too small: {}", s.n);
    assert!(s.category >= floor.0 && s.retryable >= floor.1, "{name} {:.1}% / {:.1}%", s.category, s.retryable);
    s
}

/// (category %, retryable %) floors for the second unseen set. Before any catalog work on it
/// (2026-12-07, session 5): dev 80.7% / 87.5% on 176 messages, held-out 77.1% / 83.3% on 144 —
/// the honest figure for messages from sources the catalog's authors had not seen. After one
/// round of family rules written from the dev half only (same day): dev 100.0% / 100.0%,
/// held-out 81.2% / 86.1% (read once); with the second stage (`infer`, session 7), 88.9% / 95.1%.
/// The floors are the latest scores less one point.
const DEV2_FLOOR: (f64, f64) = (99.0, 99.0);
const HELD2_FLOOR: (f64, f64) = (87.9, 94.1);

/// The third unseen set, held out whole (tests/failures/README.md): collected by someone who never
/// read the catalog or ran the matcher, and reserved for measuring the second stage (`infer`, the
/// guess for a failure no entry matches) together with the catalog. Numbers only, never its
/// messages. Measured once, at the commit that added the second stage, with nothing tuned after.
#[test]
fn unseen3_holdout_is_reported() {
    let cases = unseen3_holdout();
    assert!(cases.iter().all(|c| !c.source.trim().is_empty() && !c.message.trim().is_empty()));
    reported("unseen3-holdout", &cases, false, 200, HELD3_FLOOR);
    let (mut matched, mut inferred, mut alone) = (0, 0, (0, 0));
    for c in &cases {
        let r = matcher().classify(&c.input());
        matched += usize::from(r.matched);
        inferred += usize::from(r.inferred.is_some());
        alone.0 += usize::from(r.matched && r.category() == Some(c.expected_category));
        alone.1 += usize::from(r.matched && r.retryable() == Some(c.expected_retryable));
    }
    let n = cases.len();
    println!("unseen3-holdout: {matched} matched by the catalog, {inferred} inferred, {} neither", n - matched - inferred);
    println!("unseen3-holdout, the catalog alone: category {:.1}%, retryable {:.1}%", pct(alone.0, n), pct(alone.1, n));
}

/// (category %, retryable %) floors for the third set. Measured once (2026-12-07, session 7, the
/// commit that added `infer`): 81.0% / 88.3% (the catalog alone: 71.3% / 77.0%; 254 of 300 matched
/// by the catalog, 46 inferred). After the fourth set's rules and examples (same day): 81.3% / 88.7%.
/// The floors are the first reading less one point; the target (95 / 97) is not met
/// (docs/performance.md, "Unseen messages").
const HELD3_FLOOR: (f64, f64) = (80.0, 87.3);

/// The second stage's examples are the readable sets only: no held-out message is its own nearest
/// example (which it would be, at similarity 1, if its file were embedded). Prints nothing.
#[test]
fn held_out_messages_are_not_examples() {
    let sets = [
        ("unseen-holdout", unseen_holdout()),
        ("unseen2-holdout", unseen2_holdout()),
        ("unseen3-holdout", unseen3_holdout()),
        ("unseen4-holdout", unseen4_holdout()),
    ];
    for (name, cases) in sets {
        let leaked = cases.iter().filter(|c| matcher().infer(&c.input()).is_some_and(|i| i.nearest == c.message)).count();
        assert_eq!(leaked, 0, "{name}: {leaked} held-out messages are examples of the second stage");
    }
    // And a readable one is: the test above would see a leak.
    let c = &corpus()[0];
    assert_eq!(matcher().infer(&c.input()).map(|i| i.nearest), Some(c.message.clone()));
}

/// The fourth set: 435 messages collected in session 7 by two helpers who never read the catalog
/// or ran the matcher (tests/failures/README.md), split like the second. Two tests, so that the
/// catalog's authors can run the dev half without seeing the held-out half's numbers.
#[test]
fn unseen4_dev_is_reported() {
    reported("unseen4-dev", &unseen4_dev(), true, 150, DEV4_FLOOR);
}

#[test]
fn unseen4_holdout_is_reported() {
    reported("unseen4-holdout", &unseen4_holdout(), false, 150, HELD4_FLOOR);
}

/// (category %, retryable %) floors for the fourth set. With the catalog and second stage of the
/// commit that added the second stage, before anything was written from this set (2026-12-07,
/// session 7): dev 83.8% / 93.8% on 240 messages, held-out 79.5% / 90.3% on 195. After family rules
/// written from the dev half and the dev half added to the second stage's examples (same day): dev
/// 97.9% / 99.2%, held-out 80.0% / 90.3% (read once). The floors are those less one point.
const DEV4_FLOOR: (f64, f64) = (96.9, 98.2);
const HELD4_FLOOR: (f64, f64) = (79.0, 89.3);
