//! Specificity, the order in which competing matches win. It depends only on what a rule says
//! (its kind, literal content, anchors, declared priority, entry code), never on where the rule
//! sits in the catalog file, so reordering the catalog cannot change any classification.

use std::cmp::Reverse;

/// Kinds of evidence, weakest first. A code the failing program chose outranks the AWS or SMTP
/// code a server chose, which outranks a bare HTTP status, which outranks any message text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Tier {
    Pattern,
    StatusRange,
    Status,
    Os,
    SmtpBasic,
    SmtpEnhanced,
    Aws,
    Code,
}

/// The comparison key of a candidate match; the greatest wins. Fields compare in order:
/// 1. `specific`: any match on a specific entry beats any match on a `generic` (family
///    catch-all) entry, so "HTTP_400" plus "ThrottlingException" in the body is throttling;
/// 2. `tier`: structured evidence beats message text (see `Tier`);
/// 3. `priority`: declared per entry (default 0) to rank a whole entry below its peers, e.g.
///    wrappers like "error sending request" below any cause found in the same message;
/// 4. `strength`: for patterns the bytes of literal text every match must contain
///    ("504 gateway timeout" beats "timeout"); for status ranges, narrower beats wider;
/// 5. `anchors`: more assertions (`\b`, `^`, `$`) beat fewer;
/// 6. `code_order`: the alphabetically first entry code, a total order as a last resort.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Rank {
    pub specific: bool,
    pub tier: Tier,
    pub priority: i32,
    pub strength: u32,
    pub anchors: u32,
    pub code_order: Reverse<u32>,
}

/// A status read from the message ranks as a pattern with this much literal text: stronger
/// than a keyword, weaker than a phrase that names the failure.
pub(crate) const STATUS_IN_TEXT_STRENGTH: u32 = 16;

/// Literal content beyond which a pattern gains no further confidence.
const SATURATING_LITERAL: u32 = 30;

/// How much to trust a match, by the kind of evidence: a structured exact key is near certain
/// (0.92-0.98), a status range less (0.80); a pattern earns 0.50-0.85 with its literal content
/// plus 0.05 when anchored, so a bare keyword is the least trusted. Generic entries lose 0.10
/// because they name only a family.
pub(crate) fn confidence(rank: &Rank) -> f64 {
    let base = match rank.tier {
        Tier::Code => 0.98,
        Tier::Aws => 0.97,
        Tier::SmtpEnhanced => 0.96,
        Tier::Os => 0.95,
        Tier::Status => 0.93,
        Tier::SmtpBasic => 0.92,
        Tier::StatusRange => 0.80,
        Tier::Pattern => {
            let lit = f64::from(rank.strength.min(SATURATING_LITERAL)) / f64::from(SATURATING_LITERAL);
            0.50 + 0.35 * lit + if rank.anchors > 0 { 0.05 } else { 0.0 }
        }
    };
    let c: f64 = if rank.specific { base } else { base - 0.10 };
    (c * 1000.0).round() / 1000.0
}
