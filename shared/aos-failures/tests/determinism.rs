//! Same input, same result: independent of the catalog's order, of repetition, and of the
//! variable parts of a message (ids, timestamps, addresses), which never reach the signature.

mod common;

use aos_failures::{Catalog, FailureInput, FailureMatcher};
use common::{corpus, matcher};

/// A deterministic permutation (LCG-driven Fisher-Yates), so the test needs no RNG crate.
fn shuffle<T>(items: &mut [T], mut seed: u64) {
    for i in (1..items.len()).rev() {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let j = (seed >> 33) as usize % (i + 1);
        items.swap(i, j);
    }
}

fn outcomes(m: &FailureMatcher) -> Vec<(Option<String>, String, String, String)> {
    let cases = corpus();
    cases
        .iter()
        .map(|c| {
            let r = m.classify(&c.input());
            (r.code().map(str::to_string), format!("{:?}/{}", r.match_type, r.confidence), r.rule.unwrap_or("").to_string(), r.signature)
        })
        .collect()
}

#[test]
fn catalog_order_does_not_change_any_result() {
    let reference = outcomes(matcher());
    for seed in [1u64, 7, 42, 2024] {
        let mut c = Catalog::builtin().expect("catalog loads");
        shuffle(&mut c.entries, seed);
        for e in &mut c.entries {
            e.rules.patterns.reverse();
            e.rules.aws_codes.reverse();
        }
        let shuffled = FailureMatcher::new(c).expect("shuffled catalog builds");
        assert_eq!(outcomes(&shuffled), reference, "seed {seed}");
    }
}

#[test]
fn repeated_classification_is_identical() {
    let input = FailureInput::message("curl: (28) Operation timed out after 30001 milliseconds with 0 bytes received");
    let first = matcher().classify(&input);
    for _ in 0..100 {
        assert_eq!(matcher().classify(&input), first);
    }
}

#[test]
fn signatures_ignore_ids_times_and_addresses() {
    let a = "2024-05-01T10:00:00Z request 550e8400-e29b-41d4-a716-446655440000 to https://api.example.com/v1/users/123 from 10.0.0.7:51234 timed out after 30001 ms";
    let b = "2025-11-30T23:59:59.999Z request 123e4567-e89b-12d3-a456-426614174000 to https://api.example.com/v1/users/98765 from 192.168.1.20:40000 timed out after 29876 ms";
    let ra = matcher().classify(&FailureInput::message(a).with_skill("http_call").with_code("HTTP_TIMEOUT"));
    let rb = matcher().classify(&FailureInput::message(b).with_skill("http_call").with_code("HTTP_TIMEOUT"));
    assert_eq!(ra.normalized, "<ts> request <uuid> to <url> from <ip> timed out after <num> ms");
    assert_eq!(ra.signature, rb.signature);
    let other_skill = matcher().classify(&FailureInput::message(a).with_skill("smtp_send").with_code("HTTP_TIMEOUT"));
    assert_ne!(ra.signature, other_skill.signature);
    // Pinned: a signature is a stored grouping key, so changing it must be a deliberate act.
    let pinned = matcher().classify(
        &FailureInput::message("https://a.example/x answered HTTP 503 Service Unavailable").with_skill("http_call").with_code("HTTP_503"),
    );
    assert_eq!(pinned.signature, "b9e898c1f206297b");
}
