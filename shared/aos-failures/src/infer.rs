//! The second stage: a guess at the category and retry decision of a failure that no catalog
//! entry matches, from the labelled messages people wrote and the catalog's own patterns.
//!
//! Nearest neighbours over words: a message becomes the set of its words and word pairs (camel
//! case split, lower-cased, HTTP-status-like numbers kept as `n429` and `n4xx`) plus its structured
//! facts; each feature weighs its inverse document frequency; the three most similar labelled
//! messages (cosine) vote for a category, weighted by similarity, and those of the winning category
//! vote for the retry decision. A message that shares too little with every example gets no
//! guess. Chosen over a trained model (naive Bayes was tried; docs/performance.md, "A second stage") because it
//! generalized better on messages from sources it had not seen and because each guess can be
//! explained by the examples it came from.
//!
//! A guess is marked `inferred`, never `matched`: its confidence is below
//! `aos_core::failure::DECISIVE_CONFIDENCE`, so it informs people and never decides a retry, and
//! the nightly candidates still count the failure as one the catalog does not know.
//!
//! Bounded by construction: the message is read up to `MAX_SCAN_BYTES`, a query keeps at most
//! `MAX_FEATURES` features, and scoring is one pass over their postings.

use crate::catalog::Catalog;
use crate::input::FailureInput;
use crate::normalize::MAX_SCAN_BYTES;
use aos_core::outcome::Category;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// The labelled sets that the catalog's authors may read (tests/failures/README.md).
/// The held-out sets are never embedded: they measure this guess.
const EXAMPLES: [&str; 5] = [
    include_str!("../../../tests/failures/corpus.jsonl"),
    include_str!("../../../tests/failures/holdout.jsonl"),
    include_str!("../../../tests/failures/unseen-dev.jsonl"),
    include_str!("../../../tests/failures/unseen2-dev.jsonl"),
    include_str!("../../../tests/failures/unseen4-dev.jsonl"),
];

/// How many neighbours vote.
const K: usize = 3;
/// Below this similarity to the nearest example there is no guess.
const MIN_SIMILARITY: f32 = 0.1;
/// A query's features beyond these are ignored.
pub const MAX_FEATURES: usize = 512;
/// The highest confidence a guess can have: below `DECISIVE_CONFIDENCE` (0.5).
pub const MAX_INFERRED_CONFIDENCE: f64 = 0.45;

/// A guess for a failure no catalog entry matched.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Inference {
    pub category: Category,
    pub retryable: bool,
    /// `MAX_INFERRED_CONFIDENCE` times the nearest example's similarity times the winning
    /// category's share of the vote.
    pub confidence: f64,
    /// The nearest example's message (or the catalog pattern), to explain the guess.
    pub nearest: String,
}

/// One labelled example as the files spell it; other fields are ignored.
#[derive(Deserialize)]
struct Example {
    message: String,
    code: Option<String>,
    http_status: Option<u16>,
    aws_code: Option<String>,
    smtp_code: Option<String>,
    os_kind: Option<String>,
    expected_category: Category,
    expected_retryable: bool,
}

struct Doc {
    category: Category,
    retryable: bool,
    text: String,
}

/// The examples indexed for similarity: immutable once built, `Sync`.
pub(crate) struct Inferrer {
    docs: Vec<Doc>,
    /// Feature → (document, weight), documents in ascending order.
    postings: HashMap<String, Vec<(u32, f32)>>,
    idf: HashMap<String, f32>,
}

impl std::fmt::Debug for Inferrer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inferrer").field("docs", &self.docs.len()).field("features", &self.idf.len()).finish()
    }
}

impl Inferrer {
    /// Indexes the embedded labelled examples and the catalog's patterns (each with its entry's
    /// category and retry decision).
    pub(crate) fn build(catalog: &Catalog) -> Inferrer {
        let mut raw: Vec<(Doc, BTreeSet<String>)> = Vec::new();
        for file in EXAMPLES {
            for line in file.lines().filter(|l| !l.trim().is_empty()) {
                // The files are checked by the crate's tests; a line that does not parse is skipped
                // rather than taking the matcher down.
                let Ok(e) = serde_json::from_str::<Example>(line) else { continue };
                let input = FailureInput {
                    message: &e.message,
                    code: e.code.as_deref(),
                    skill: None,
                    http_status: e.http_status,
                    aws_code: e.aws_code.as_deref(),
                    smtp_code: e.smtp_code.as_deref(),
                    os_kind: e.os_kind.as_deref(),
                };
                let features = features(&input);
                raw.push((Doc { category: e.expected_category, retryable: e.expected_retryable, text: e.message }, features));
            }
        }
        for entry in &catalog.entries {
            for p in &entry.rules.patterns {
                let text = pattern_words(p);
                let features = features(&FailureInput::message(&text));
                raw.push((Doc { category: entry.category, retryable: entry.retryable, text: p.clone() }, features));
            }
        }
        let n = raw.len() as f32;
        let mut df: HashMap<&str, u32> = HashMap::new();
        for (_, fs) in &raw {
            for f in fs {
                *df.entry(f.as_str()).or_default() += 1;
            }
        }
        let idf: HashMap<String, f32> = df.iter().map(|(f, d)| ((*f).to_string(), ((n + 1.0) / (*d as f32 + 1.0)).ln() + 1.0)).collect();
        let mut postings: HashMap<String, Vec<(u32, f32)>> = HashMap::new();
        for (i, (_, fs)) in raw.iter().enumerate() {
            let norm = fs.iter().map(|f| idf[f.as_str()].powi(2)).sum::<f32>().sqrt();
            if norm == 0.0 {
                continue;
            }
            for f in fs {
                postings.entry(f.clone()).or_default().push((i as u32, idf[f.as_str()] / norm));
            }
        }
        Inferrer { docs: raw.into_iter().map(|(d, _)| d).collect(), postings, idf }
    }

    /// The guess for one failure, or `None` when it shares too little with every example.
    pub(crate) fn infer(&self, input: &FailureInput<'_>) -> Option<Inference> {
        let query: Vec<(&str, f32)> =
            features(input).iter().filter_map(|f| self.idf.get_key_value(f.as_str()).map(|(k, w)| (k.as_str(), *w))).collect();
        let norm = query.iter().map(|(_, w)| w * w).sum::<f32>().sqrt();
        if norm == 0.0 {
            return None;
        }
        let mut score = vec![0f32; self.docs.len()];
        for (f, w) in &query {
            for (d, dw) in &self.postings[*f] {
                score[*d as usize] += w / norm * dw;
            }
        }
        // The K best, highest score first, ties to the earlier example: deterministic.
        let mut best: Vec<(f32, usize)> = Vec::with_capacity(K + 1);
        for (i, s) in score.iter().enumerate() {
            if *s > 0.0 && (best.len() < K || *s > best[best.len() - 1].0) {
                let at = best.partition_point(|(b, _)| *b >= *s);
                best.insert(at, (*s, i));
                best.truncate(K);
            }
        }
        let (top, nearest) = *best.first()?;
        if top < MIN_SIMILARITY {
            return None;
        }
        let mut votes: BTreeMap<Category, f32> = BTreeMap::new();
        for (s, i) in &best {
            *votes.entry(self.docs[*i].category).or_default() += s;
        }
        let total: f32 = votes.values().sum();
        // The most votes; on a tie the first category in the domain's order.
        let (category, won) = votes.iter().fold((Category::Transient, -1f32), |acc, (c, v)| if *v > acc.1 { (*c, *v) } else { acc });
        let (mut yes, mut no) = (0f32, 0f32);
        for (s, i) in best.iter().filter(|(_, i)| self.docs[*i].category == category) {
            if self.docs[*i].retryable {
                yes += s;
            } else {
                no += s;
            }
        }
        let confidence = MAX_INFERRED_CONFIDENCE * f64::from(top.min(1.0)) * f64::from(won / total);
        Some(Inference {
            category,
            // An even vote is not a reason to try again.
            retryable: yes > no,
            confidence: (confidence * 1000.0).round() / 1000.0,
            nearest: self.docs[nearest].text.clone(),
        })
    }
}

/// The words of a catalog pattern, without the regex syntax around them.
fn pattern_words(p: &str) -> String {
    let mut out = String::with_capacity(p.len());
    let mut chars = p.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            // An escape: `\b`, `\d`, `\s`, `\w`, `\.` ... is not a word.
            '\\' => {
                chars.next();
                out.push(' ');
            }
            '<' => {
                // A placeholder such as `<q>` or `<n>`.
                for c in chars.by_ref() {
                    if c == '>' {
                        break;
                    }
                }
                out.push(' ');
            }
            '?' if chars.peek() == Some(&':') => {
                chars.next();
                out.push(' ');
            }
            c => out.push(c),
        }
    }
    out
}

/// The features of a failure: words, word pairs, status-like numbers and structured facts,
/// sorted, at most `MAX_FEATURES`.
pub(crate) fn features(input: &FailureInput<'_>) -> BTreeSet<String> {
    let mut end = input.message.len().min(MAX_SCAN_BYTES);
    while !input.message.is_char_boundary(end) {
        end -= 1;
    }
    let mut tokens: Vec<String> = Vec::new();
    words(&input.message[..end], &mut tokens);
    let mut out: BTreeSet<String> = BTreeSet::new();
    let add = |out: &mut BTreeSet<String>, f: String| {
        if out.len() < MAX_FEATURES {
            out.insert(f);
        }
    };
    if let Some(s) = input.http_status {
        add(&mut out, format!("hs{s}"));
        add(&mut out, format!("hs{}xx", s / 100));
    }
    if let Some(a) = input.aws_code {
        add(&mut out, "aws".to_string());
        let mut ws = Vec::new();
        words(a.rsplit('#').next().unwrap_or(a), &mut ws);
        for w in ws {
            add(&mut out, format!("a_{w}"));
        }
    }
    if let Some(s) = input.smtp_code {
        add(&mut out, format!("smtp{}", s.trim().replace(['.', ' '], "_").to_ascii_lowercase()));
    }
    if let Some(k) = input.os_kind {
        add(&mut out, format!("os_{}", k.trim().to_ascii_lowercase()));
    }
    if let Some(c) = input.code {
        for w in c.split(|ch: char| !ch.is_ascii_alphanumeric()).filter(|w| !w.is_empty()) {
            add(&mut out, format!("c_{}", w.to_ascii_lowercase()));
        }
    }
    for t in &tokens {
        add(&mut out, t.clone());
    }
    for pair in tokens.windows(2) {
        add(&mut out, format!("{}_{}", pair[0], pair[1]));
    }
    out
}

/// The message's words in order: runs of ASCII letters and digits that start with a letter
/// (camel case split, lower-cased, at least two characters), and three-digit numbers that look
/// like an HTTP status (`n429` followed by `n4xx`). Other numbers and characters separate words.
fn words(text: &str, out: &mut Vec<String>) {
    let mut word = String::new();
    let mut prev_lower = false;
    let flush = |word: &mut String, out: &mut Vec<String>| {
        if word.is_empty() {
            return;
        }
        if word.bytes().all(|b| b.is_ascii_digit()) {
            if word.len() == 3 && (b'1'..=b'5').contains(&word.as_bytes()[0]) {
                out.push(format!("n{word}"));
                out.push(format!("n{}xx", &word[..1]));
            }
        } else if word.as_bytes()[0].is_ascii_alphabetic() && word.len() > 1 {
            out.push(std::mem::take(word));
        }
        word.clear();
    };
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            let digit_boundary = !word.is_empty() && word.bytes().all(|b| b.is_ascii_digit()) && c.is_ascii_alphabetic();
            if (prev_lower && c.is_ascii_uppercase()) || digit_boundary {
                flush(&mut word, out);
            }
            word.push(c.to_ascii_lowercase());
            prev_lower = c.is_ascii_lowercase();
        } else {
            flush(&mut word, out);
            prev_lower = false;
        }
    }
    flush(&mut word, out);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ws(s: &str) -> Vec<String> {
        let mut v = Vec::new();
        words(s, &mut v);
        v
    }

    #[test]
    fn words_split_camel_case_and_keep_status_like_numbers() {
        assert_eq!(ws("ProvisionedThroughputExceeded: 429"), ["provisioned", "throughput", "exceeded", "n429", "n4xx"]);
        assert_eq!(ws("ERR_TLS_CERT 12345 a x9"), ["err", "tls", "cert", "x9"]);
        assert_eq!(ws("héllo wörld"), ["llo", "rld"]);
    }

    #[test]
    fn pattern_syntax_is_not_words() {
        assert_eq!(ws(&pattern_words(r"\bunknown (?:tool|task)\b <q> \d+")), ["unknown", "tool", "task"]);
    }

    #[test]
    fn features_are_bounded() {
        let long: String = (0..20_000).map(|i| format!("w{i} ")).collect();
        let f = features(&FailureInput::message(&long));
        assert!(f.len() <= MAX_FEATURES);
    }
}
