//! Catalog candidates: the failures the catalog does not know well enough (no match, or a match
//! below a confidence threshold), grouped by signature into proposals for new catalog entries.
//! Pure: a streaming fold over records with no I/O (`aggregate` feeds it from the store).
//!
//! Memory is bounded whatever the number of records: at most `capacity` signatures are tracked,
//! with the Space-Saving heavy-hitter scheme (Metwally et al., 2005). A record of an untracked
//! signature, when the table is full, takes over the slot of the smallest count and inherits that
//! count (+1): every signature seen more than `records / capacity` times is tracked, and each
//! count overestimates the true one by at most its `count_error` (0 while nothing was evicted).
//! Per signature, at most `MAX_SKILLS` skills and `MAX_EXAMPLES` examples are kept.

use super::record::FailureRecord;
use crate::redact::redact_credentials;
use aos_core::failure::{FailureKind, RecoveryMode};
use aos_core::outcome::Category;
use serde::{Deserialize, Serialize};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use utoipa::ToSchema;

/// Matches below this confidence are candidates by default: every specific catalog entry scores
/// at least 0.80 (status ranges) and most 0.92 or more, while family catch-alls (`generic`
/// entries: "some 4xx") and short keyword patterns score 0.70 or less.
pub const DEFAULT_LOW_CONFIDENCE: f64 = 0.75;
/// Days of records one aggregation reads by default.
pub const DEFAULT_WINDOW_DAYS: u32 = 7;
/// Signatures tracked at once by default.
pub const DEFAULT_CAPACITY: usize = 1000;
/// Candidates kept per result by default (the most frequent).
pub const DEFAULT_MAX_CANDIDATES: usize = 200;
/// Examples kept per candidate.
pub const MAX_EXAMPLES: usize = 3;
/// Skills listed per candidate.
pub const MAX_SKILLS: usize = 10;
/// Example messages are cut to this many characters.
pub const EXAMPLE_CHARS: usize = 500;

/// What the fold keeps and what counts as a candidate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FoldConfig {
    /// Matched failures with a confidence below this are candidates (unmatched ones always are).
    pub low_confidence: f64,
    /// Signatures tracked at once (the memory bound).
    pub capacity: usize,
    /// Candidates in the result, most frequent first.
    pub max_candidates: usize,
}

impl Default for FoldConfig {
    fn default() -> Self {
        Self { low_confidence: DEFAULT_LOW_CONFIDENCE, capacity: DEFAULT_CAPACITY, max_candidates: DEFAULT_MAX_CANDIDATES }
    }
}

/// What the catalog would gain: a category, a recovery mode and why they were chosen.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct Suggestion {
    pub category: Category,
    pub recovery_mode: RecoveryMode,
    /// The rule that chose them, e.g. "the message says `timed out`".
    pub reason: String,
}

/// One failure of a candidate, as recorded (secret values were redacted when it was recorded;
/// credential-looking text is redacted again here), cut to 500 characters.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct CandidateExample {
    pub message: String,
    pub at_ms: i64,
    /// The failure record's id (see `GET /api/v1/failures`).
    pub failure_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skill: Option<String>,
}

/// A proposed catalog entry: one signature of failures the catalog did not match confidently.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct FailureCandidate {
    /// The failures' signature (skill, error code and normalized message, hashed).
    pub signature: String,
    /// Failures with this signature in the window (an overestimate by at most `count_error`).
    pub count: u64,
    /// 0 when `count` is exact; see "bounded memory" in docs/concepts.md.
    pub count_error: u64,
    /// Tenants that had this failure: in the platform-wide export only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_count: Option<u32>,
    /// The error code, e.g. `HTTP_418`.
    pub code: String,
    /// Skills that failed this way (at most 10, sorted).
    pub skills: Vec<String>,
    /// How many of the failures matched no entry at all (the others matched below the threshold).
    pub unmatched: u64,
    /// The catalog entry that matched below the threshold, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closest_entry: Option<String>,
    /// The best confidence any of the failures was matched with (0 when none was).
    pub confidence: f64,
    /// The first example's normalized message: a starting point for a catalog pattern.
    pub normalized: String,
    pub first_seen_ms: i64,
    pub last_seen_ms: i64,
    /// Up to three examples with distinct messages, earliest seen first.
    pub examples: Vec<CandidateExample>,
    pub suggested: Suggestion,
}

/// Whether a record is a catalog candidate: unmatched, or matched below `low_confidence`. A run's
/// own failure is left out: it repeats the failure of the step that ended the run.
pub fn is_candidate(r: &FailureRecord, low_confidence: f64) -> bool {
    r.kind != FailureKind::Run && (!r.matched || r.confidence < low_confidence)
}

struct Slot {
    key: u64,
    signature: String,
    count: u64,
    error: u64,
    /// The last tenant (ordinal) counted, and how many were.
    last_tenant: u32,
    tenants: u32,
    code: String,
    skills: Vec<String>,
    unmatched: u64,
    closest_entry: Option<String>,
    confidence: f64,
    category: Category,
    advised: Option<RecoveryMode>,
    first_ms: i64,
    last_ms: i64,
    examples: Vec<CandidateExample>,
}

impl Slot {
    fn new(key: u64, tenant: u32, r: &FailureRecord, count: u64, error: u64) -> Self {
        let mut s = Slot {
            key,
            signature: r.signature.clone(),
            count,
            error,
            last_tenant: tenant,
            tenants: 1,
            code: r.code.clone(),
            skills: Vec::new(),
            unmatched: 0,
            closest_entry: None,
            confidence: 0.0,
            category: r.category,
            advised: r.advised_recovery,
            first_ms: r.at_ms,
            last_ms: r.at_ms,
            examples: Vec::new(),
        };
        s.observe(r);
        s
    }

    /// Everything but the count and the tenant.
    fn observe(&mut self, r: &FailureRecord) {
        self.first_ms = self.first_ms.min(r.at_ms);
        self.last_ms = self.last_ms.max(r.at_ms);
        if r.matched {
            if r.confidence > self.confidence || self.closest_entry.is_none() {
                self.confidence = self.confidence.max(r.confidence);
                self.closest_entry = r.catalog_code.clone();
                self.category = r.category;
                self.advised = r.advised_recovery;
            }
        } else {
            self.unmatched += 1;
        }
        if let Some(skill) = &r.skill {
            if self.skills.len() < MAX_SKILLS && !self.skills.iter().any(|s| s == skill) {
                self.skills.push(skill.clone());
            }
        }
        if self.examples.len() < MAX_EXAMPLES && !self.examples.iter().any(|e| e.message == r.message) {
            self.examples.push(CandidateExample {
                message: r.message.clone(),
                at_ms: r.at_ms,
                failure_id: r.id.clone(),
                run_id: r.run_id.clone(),
                skill: r.skill.clone(),
            });
        }
    }
}

/// The streaming fold. Feed it records with `add` (records of one tenant together, tenants
/// numbered by the caller), then take the candidates with `finish`.
pub struct CandidateFold {
    cfg: FoldConfig,
    slots: Vec<Slot>,
    by_key: HashMap<u64, u32>,
    /// One entry per slot: (count when pushed, key, slot). Counts only grow, so an entry whose
    /// count is still current at the top is the true minimum; stale ones are refreshed lazily.
    heap: BinaryHeap<Reverse<(u64, u64, u32)>>,
    /// Records given to `add`, candidates or not.
    pub scanned: u64,
    /// Records that were candidates.
    pub considered: u64,
    /// Slots taken over from a smaller signature (0: every count is exact).
    pub evictions: u64,
}

/// The signature as a number: it is 16 hex digits; anything else is hashed (FNV-1a).
fn key_of(signature: &str) -> u64 {
    if signature.len() == 16 {
        if let Ok(k) = u64::from_str_radix(signature, 16) {
            return k;
        }
    }
    signature.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3))
}

impl CandidateFold {
    pub fn new(cfg: FoldConfig) -> Self {
        let cfg = FoldConfig { capacity: cfg.capacity.max(1), ..cfg };
        Self { cfg, slots: Vec::new(), by_key: HashMap::new(), heap: BinaryHeap::new(), scanned: 0, considered: 0, evictions: 0 }
    }

    /// Signatures tracked now (at most `capacity`).
    pub fn tracked(&self) -> usize {
        self.slots.len()
    }

    /// Counts one record of tenant number `tenant` if it is a candidate. Records of one tenant
    /// must come together (the tenant count compares with the previous tenant only).
    pub fn add(&mut self, tenant: u32, r: &FailureRecord) {
        self.scanned += 1;
        if !is_candidate(r, self.cfg.low_confidence) {
            return;
        }
        self.considered += 1;
        let key = key_of(&r.signature);
        if let Some(&i) = self.by_key.get(&key) {
            let s = &mut self.slots[i as usize];
            s.count += 1;
            if s.last_tenant != tenant {
                s.last_tenant = tenant;
                s.tenants += 1;
            }
            s.observe(r);
            return;
        }
        if self.slots.len() < self.cfg.capacity {
            let i = self.slots.len() as u32;
            self.slots.push(Slot::new(key, tenant, r, 1, 0));
            self.by_key.insert(key, i);
            self.heap.push(Reverse((1, key, i)));
            return;
        }
        // Full: take over the slot with the smallest count (ties: the smallest key).
        let i = loop {
            let Reverse((count, k, i)) = self.heap.pop().expect("one heap entry per slot");
            let s = &self.slots[i as usize];
            if s.count == count && s.key == k {
                break i;
            }
            self.heap.push(Reverse((s.count, s.key, i)));
        };
        let old = &self.slots[i as usize];
        let min = old.count;
        self.by_key.remove(&old.key);
        self.slots[i as usize] = Slot::new(key, tenant, r, min + 1, min);
        self.by_key.insert(key, i);
        self.heap.push(Reverse((min + 1, key, i)));
        self.evictions += 1;
    }

    /// The most frequent candidates, by count (then signature), with `tenant_count` when
    /// `with_tenants` (the platform-wide export).
    pub fn finish(self, with_tenants: bool) -> Vec<FailureCandidate> {
        let low = self.cfg.low_confidence;
        let mut slots = self.slots;
        slots.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.signature.cmp(&b.signature)));
        slots.truncate(self.cfg.max_candidates);
        slots
            .into_iter()
            .map(|mut s| {
                let normalized = s.examples.first().map(|e| aos_failures::normalize(&e.message)).unwrap_or_default();
                let suggested = suggest(&s, &normalized, low);
                for e in &mut s.examples {
                    e.message = redact_credentials(&truncate(&e.message, EXAMPLE_CHARS));
                }
                s.skills.sort();
                FailureCandidate {
                    signature: s.signature,
                    count: s.count,
                    count_error: s.error,
                    tenant_count: with_tenants.then_some(s.tenants),
                    code: s.code,
                    skills: s.skills,
                    unmatched: s.unmatched,
                    closest_entry: s.closest_entry,
                    confidence: s.confidence,
                    normalized: redact_credentials(&normalized),
                    first_seen_ms: s.first_ms,
                    last_seen_ms: s.last_ms,
                    examples: s.examples,
                    suggested,
                }
            })
            .collect()
    }
}

fn truncate(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

/// Message keywords, first match wins: (words, category, recovery).
const KEYWORDS: &[(&[&str], Category, RecoveryMode)] = &[
    (&["rate limit", "too many requests", "throttl", "quota exceeded", "slow down"], Category::RateLimit, RecoveryMode::RetryAfter),
    (
        &[
            "unauthorized",
            "unauthenticated",
            "forbidden",
            "permission denied",
            "access denied",
            "expired token",
            "invalid token",
            "credential",
        ],
        Category::Auth,
        RecoveryMode::RefreshCredentials,
    ),
    (
        &[
            "timed out",
            "timeout",
            "temporarily",
            "unavailable",
            "try again",
            "try later",
            "connection reset",
            "connection refused",
            "overloaded",
        ],
        Category::Transient,
        RecoveryMode::RetryExponential,
    ),
    (
        &["too large", "too long", "out of memory", "no space", "disk full", "limit exceeded", "quota"],
        Category::Resource,
        RecoveryMode::ReducePayload,
    ),
    (&["not found", "no such", "does not exist", "unknown"], Category::NotFound, RecoveryMode::Fallback),
    (&["conflict", "already exists", "version mismatch", "precondition"], Category::Conflict, RecoveryMode::Escalate),
    (
        &["invalid", "malformed", "missing", "required", "must be", "not allowed", "unsupported", "rejected"],
        Category::Validation,
        RecoveryMode::Abort,
    ),
];

/// The recovery a category usually calls for (the catalog's most common mode per category).
pub fn usual_recovery(c: Category) -> RecoveryMode {
    match c {
        Category::Transient => RecoveryMode::RetryExponential,
        Category::RateLimit => RecoveryMode::RetryAfter,
        Category::Auth => RecoveryMode::RefreshCredentials,
        Category::Validation => RecoveryMode::Abort,
        Category::NotFound => RecoveryMode::Fallback,
        Category::Conflict => RecoveryMode::Escalate,
        Category::Resource => RecoveryMode::ReducePayload,
        Category::Security | Category::Permanent => RecoveryMode::Escalate,
    }
}

/// Suggests a category and recovery mode, in order of evidence: the HTTP status class of an
/// `HTTP_<status>` code, then keywords of the normalized message, then the catalog's closest
/// (low-confidence) entry, then the error's own category.
fn suggest(s: &Slot, normalized: &str, low: f64) -> Suggestion {
    let status = s.code.strip_prefix("HTTP_").and_then(|n| n.parse::<u16>().ok());
    let by_status = match status {
        Some(429) => Some((Category::RateLimit, RecoveryMode::RetryAfter)),
        Some(401) => Some((Category::Auth, RecoveryMode::RefreshCredentials)),
        Some(404 | 410) => Some((Category::NotFound, RecoveryMode::Fallback)),
        Some(408 | 500..=599) => Some((Category::Transient, RecoveryMode::RetryExponential)),
        Some(400..=499) => None, // a 4xx says little beyond "this request": let the message speak first
        _ => None,
    };
    if let (Some((category, mode)), Some(st)) = (by_status, status) {
        return Suggestion { category, recovery_mode: mode, reason: format!("HTTP status {st} (error code {})", s.code) };
    }
    for (words, category, mode) in KEYWORDS {
        if let Some(w) = words.iter().find(|w| normalized.contains(*w)) {
            return Suggestion { category: *category, recovery_mode: *mode, reason: format!("the message says `{w}`") };
        }
    }
    if let (Some(entry), Some(mode)) = (&s.closest_entry, s.advised) {
        return Suggestion {
            category: s.category,
            recovery_mode: mode,
            reason: format!("the closest catalog entry {entry} (confidence {:.2}, below {low:.2})", s.confidence),
        };
    }
    if let Some(st) = status.filter(|st| (400..=499).contains(st)) {
        return Suggestion {
            category: Category::Validation,
            recovery_mode: RecoveryMode::Abort,
            reason: format!("HTTP status {st} is a client error (error code {})", s.code),
        };
    }
    Suggestion {
        category: s.category,
        recovery_mode: usual_recovery(s.category),
        reason: format!("no rule applies: the error's own category {} and its usual recovery", s.category.as_str()),
    }
}

#[cfg(test)]
mod tests {
    use super::super::record::Subject;
    use super::*;
    use aos_core::failure::{FailureMatch, MatchType};
    use aos_core::outcome::StepError;

    fn rec(tenant: &str, n: usize, code: &str, message: &str, m: Option<(&str, f64)>) -> FailureRecord {
        let error = StepError::new(code, Category::Permanent, false, message);
        let sig = aos_failures::signature(Some("http_call"), Some(code), &aos_failures::normalize(message));
        let mut fm = FailureMatch::unmatched(sig);
        if let Some((entry, confidence)) = m {
            fm = FailureMatch {
                matched: true,
                code: Some(entry.into()),
                category: Some(Category::Validation),
                recovery_mode: Some(RecoveryMode::Abort),
                confidence,
                match_type: MatchType::HttpStatus,
                ..fm
            };
        }
        let run = format!("r_{n}");
        let s = Subject {
            kind: FailureKind::Attempt,
            tenant,
            subject: &run,
            run_id: Some(&run),
            step_id: Some("call"),
            attempt: 1,
            skill: Some("http_call"),
            at_ms: 1_700_000_000_000 + n as i64,
        };
        FailureRecord::new(&s, &error, &fm, 30)
    }

    /// A guess of the second stage (`MatchType::Inferred`) is not a match: the failure stays an
    /// unmatched candidate, and its record keeps the skill's own category.
    #[test]
    fn an_inferred_failure_is_still_an_unmatched_candidate() {
        let message = "the frobnicator gave up: upstream hung up before sending a reply";
        let error = StepError::new("E_UPSTREAM", Category::Permanent, false, message);
        let fm = crate::failures::classify::classify_error(&error, Some("http_call"));
        assert_eq!((fm.matched, fm.match_type, fm.category), (false, MatchType::Inferred, Some(Category::Transient)));
        let s = Subject {
            kind: FailureKind::Attempt,
            tenant: "a",
            subject: "r_1",
            run_id: Some("r_1"),
            step_id: Some("call"),
            attempt: 1,
            skill: Some("http_call"),
            at_ms: 1_700_000_000_000,
        };
        let r = FailureRecord::new(&s, &error, &fm, 30);
        assert_eq!((r.matched, r.category, r.match_type), (false, Category::Permanent, MatchType::Inferred));
        let mut f = CandidateFold::new(FoldConfig::default());
        f.add(0, &r);
        let out = f.finish(false);
        assert_eq!((out.len(), out[0].unmatched), (1, 1));
    }

    #[test]
    fn groups_candidates_by_signature_with_counts_examples_and_suggestions() {
        let mut f = CandidateFold::new(FoldConfig::default());
        for n in 0..5 {
            f.add(0, &rec("a", n, "HTTP_699", &format!("http://x/status/699/{n} answered HTTP 699"), None));
        }
        for n in 0..3 {
            f.add(0, &rec("a", 10 + n, "HTTP_418", "http://x/t answered HTTP 418 I'm a teapot", Some(("HTTP_CLIENT_ERROR", 0.7))));
        }
        f.add(0, &rec("a", 20, "HTTP_404", "http://x answered HTTP 404 Not Found", Some(("HTTP_NOT_FOUND", 0.93))));
        f.add(1, &rec("b", 21, "ORDER_REJECTED", "order 7 timed out at partner; token=abc123", None));
        assert_eq!((f.scanned, f.considered, f.evictions), (10, 9, 0));
        let out = f.finish(true);
        assert_eq!(
            out.iter().map(|c| (c.code.as_str(), c.count)).collect::<Vec<_>>(),
            [("HTTP_699", 5), ("HTTP_418", 3), ("ORDER_REJECTED", 1)]
        );
        let c = &out[0];
        assert_eq!(
            (c.unmatched, c.examples.len(), c.tenant_count, c.skills.clone()),
            (5, MAX_EXAMPLES, Some(1), vec!["http_call".to_string()])
        );
        assert_eq!((c.first_seen_ms, c.last_seen_ms), (1_700_000_000_000, 1_700_000_000_004));
        assert_eq!((c.suggested.category, c.suggested.recovery_mode), (Category::Permanent, RecoveryMode::Escalate), "{:?}", c.suggested);
        let t = &out[1];
        assert_eq!((t.closest_entry.as_deref(), t.confidence, t.unmatched, t.examples.len()), (Some("HTTP_CLIENT_ERROR"), 0.7, 0, 1));
        assert!(t.suggested.reason.contains("HTTP_CLIENT_ERROR"), "{:?}", t.suggested);
        let o = &out[2];
        assert_eq!((o.suggested.category, o.suggested.recovery_mode), (Category::Transient, RecoveryMode::RetryExponential));
        assert_eq!(o.examples[0].message, "order 7 timed out at partner; token=[REDACTED]");
        assert!(f_without_tenants().iter().all(|c| c.tenant_count.is_none()));
    }

    fn f_without_tenants() -> Vec<FailureCandidate> {
        let mut f = CandidateFold::new(FoldConfig::default());
        f.add(0, &rec("a", 0, "X", "y", None));
        f.finish(false)
    }

    #[test]
    fn tenants_are_counted_once_each() {
        let mut f = CandidateFold::new(FoldConfig::default());
        for (t, n) in [(0, 0), (0, 1), (1, 2), (2, 3), (2, 4)] {
            f.add(t, &rec("x", n, "E", "same failure", None));
        }
        let out = f.finish(true);
        assert_eq!((out[0].count, out[0].tenant_count), (5, Some(3)));
    }

    #[test]
    fn memory_is_bounded_and_heavy_hitters_survive() {
        let cfg = FoldConfig { capacity: 16, max_candidates: 5, ..FoldConfig::default() };
        let mut f = CandidateFold::new(cfg);
        // 3 heavy signatures (5000 records) among 10 000 distinct one-offs: each heavy one is
        // above records / capacity = 937, so Space-Saving must keep it.
        for n in 0..10_000usize {
            f.add(0, &rec("a", n, "ONE_OFF", &format!("unique failure {}", words(n)), None));
            if n % 2 == 0 {
                f.add(0, &rec("a", n, &format!("HEAVY_{}", (n / 2) % 3), "the same heavy failure", None));
            }
            assert!(f.tracked() <= 16);
        }
        assert!(f.evictions > 9000);
        let out = f.finish(false);
        assert_eq!(out.len(), 5);
        let heavy: Vec<&str> = out[..3].iter().map(|c| c.code.as_str()).collect();
        assert_eq!(heavy.len(), 3);
        assert!(heavy.iter().all(|c| c.starts_with("HEAVY_")), "{heavy:?}");
        for c in &out[..3] {
            // Space-Saving: the true count (1666 or 1667) lies within [count - error, count].
            assert!(c.count - c.count_error <= 1667 && c.count >= 1666, "{} {} {}", c.code, c.count, c.count_error);
        }
    }

    /// Numbers become placeholders in normalized messages: spell them as letters to keep them apart.
    fn words(mut n: usize) -> String {
        let mut s = String::new();
        loop {
            s.push(char::from(b'a' + (n % 26) as u8));
            n /= 26;
            if n == 0 {
                return s;
            }
        }
    }

    #[test]
    fn results_are_deterministic_and_exact_below_capacity_in_any_order() {
        let records: Vec<FailureRecord> =
            (0..200).map(|n| rec("a", n, &format!("E{}", n % 7), &format!("failure {}", words(n % 13)), None)).collect();
        let run = |order: &mut dyn Iterator<Item = &FailureRecord>| {
            let mut f = CandidateFold::new(FoldConfig::default());
            order.for_each(|r| f.add(0, r));
            f.finish(false).into_iter().map(|c| (c.signature, c.count, c.count_error)).collect::<Vec<_>>()
        };
        let forward = run(&mut records.iter());
        assert_eq!(forward, run(&mut records.iter()));
        assert_eq!(forward, run(&mut records.iter().rev()), "exact counts do not depend on order");
        assert_eq!(forward.iter().map(|c| c.1).sum::<u64>(), 200);
        assert!(forward.windows(2).all(|w| w[0].1 > w[1].1 || (w[0].1 == w[1].1 && w[0].0 < w[1].0)), "count desc, then signature");
        // Over capacity the result is still a function of the input sequence.
        let small = FoldConfig { capacity: 5, ..FoldConfig::default() };
        let once = |cfg| {
            let mut f = CandidateFold::new(cfg);
            records.iter().for_each(|r| f.add(0, r));
            f.finish(false).into_iter().map(|c| (c.signature, c.count, c.count_error)).collect::<Vec<_>>()
        };
        assert_eq!(once(small), once(small));
    }

    #[test]
    fn redaction_covers_credential_shapes() {
        let m = redact_credentials("call failed: Authorization: Bearer abcdefghijkl12345, api_key=XYZ123 key aos_ab12cd34_0123456789abcdefXYZ AKIAABCDEFGHIJKLMNOP password: hunter2");
        assert!(
            !m.contains("abcdefghijkl12345")
                && !m.contains("XYZ123")
                && !m.contains("0123456789abcdef")
                && !m.contains("AKIAABCDEFGHIJKLMNOP")
                && !m.contains("hunter2"),
            "{m}"
        );
        assert_eq!(redact_credentials("nothing to hide here"), "nothing to hide here");
    }
}
