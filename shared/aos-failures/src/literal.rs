//! What a pattern's syntax tree says about it: how much literal text every match must contain
//! and how many anchors it has (its specificity), and a set of literals one of which must occur
//! in any match (its key in the Aho-Corasick prefilter).

use regex_syntax::hir::{Hir, HirKind};

/// Shortest literal a pattern may contribute to the prefilter; shorter ones would match nearly
/// every message and make the prefilter useless.
pub const MIN_PREFILTER_LITERAL: usize = 3;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatternInfo {
    /// Bytes of literal text that every match contains.
    pub literal_len: u32,
    /// Assertions (`^`, `$`, `\b`) every match passes through.
    pub anchors: u32,
    /// Every match contains at least one of these.
    pub required: Vec<Vec<u8>>,
    /// Set when the pattern is one literal, optionally between word boundaries: then a hit of
    /// the prefilter decides the match alone, with two boundary checks instead of a regex run.
    pub exact: Option<ExactLiteral>,
}

/// A pattern of the form `\bliteral\b` (each boundary optional).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExactLiteral {
    pub boundary_start: bool,
    pub boundary_end: bool,
}

impl ExactLiteral {
    /// Whether the literal found at `start..end` of `text` satisfies the boundaries (ASCII word
    /// characters, as the regexes are compiled without Unicode).
    pub fn accepts(&self, text: &[u8], start: usize, end: usize) -> bool {
        let word = |i: usize| text.get(i).is_some_and(|&c| c.is_ascii_alphanumeric() || c == b'_');
        let edge = |outside: Option<usize>, inside: usize| outside.is_some_and(word) != word(inside);
        (!self.boundary_start || edge(start.checked_sub(1), start)) && (!self.boundary_end || edge(Some(end), end - 1))
    }
}

/// Parses a pattern the way the matcher compiles it (bytes, ASCII-only classes).
pub fn analyze(pattern: &str) -> Result<PatternInfo, String> {
    let hir = regex_syntax::ParserBuilder::new().unicode(false).utf8(false).build().parse(pattern).map_err(|e| e.to_string())?;
    let required = required(&hir).ok_or("no literal that every match must contain")?;
    if let Some(short) = required.iter().find(|l| l.len() < MIN_PREFILTER_LITERAL) {
        return Err(format!("required literal {:?} is shorter than {MIN_PREFILTER_LITERAL} bytes", String::from_utf8_lossy(short)));
    }
    Ok(PatternInfo { literal_len: min_literal(&hir), anchors: anchors(&hir), required, exact: exact(&hir) })
}

fn exact(h: &Hir) -> Option<ExactLiteral> {
    use regex_syntax::hir::Look;
    let is_b = |h: &Hir| matches!(h.kind(), HirKind::Look(Look::WordAscii));
    match h.kind() {
        HirKind::Literal(_) => Some(ExactLiteral { boundary_start: false, boundary_end: false }),
        HirKind::Concat(hs) => {
            let (start, rest) = match hs.split_first() {
                Some((f, rest)) if is_b(f) => (true, rest),
                _ => (false, &hs[..]),
            };
            let (end, mid) = match rest.split_last() {
                Some((l, mid)) if is_b(l) => (true, mid),
                _ => (false, rest),
            };
            matches!(mid, [lit] if matches!(lit.kind(), HirKind::Literal(_)))
                .then_some(ExactLiteral { boundary_start: start, boundary_end: end })
        }
        _ => None,
    }
}

fn min_literal(h: &Hir) -> u32 {
    match h.kind() {
        HirKind::Literal(l) => l.0.len() as u32,
        HirKind::Capture(c) => min_literal(&c.sub),
        HirKind::Repetition(r) => min_literal(&r.sub).saturating_mul(r.min.min(4)),
        HirKind::Concat(hs) => hs.iter().map(min_literal).sum(),
        HirKind::Alternation(hs) => hs.iter().map(min_literal).min().unwrap_or(0),
        HirKind::Empty | HirKind::Class(_) | HirKind::Look(_) => 0,
    }
}

fn anchors(h: &Hir) -> u32 {
    match h.kind() {
        HirKind::Look(_) => 1,
        HirKind::Capture(c) => anchors(&c.sub),
        HirKind::Repetition(r) if r.min > 0 => anchors(&r.sub),
        HirKind::Concat(hs) => hs.iter().map(anchors).sum(),
        HirKind::Alternation(hs) => hs.iter().map(anchors).min().unwrap_or(0),
        _ => 0,
    }
}

/// Literals one of which every match contains: a literal itself; the best child of a
/// concatenation (longest shortest-member, then fewest members); all branches of an alternation.
fn required(h: &Hir) -> Option<Vec<Vec<u8>>> {
    match h.kind() {
        HirKind::Literal(l) => Some(vec![l.0.to_vec()]),
        HirKind::Capture(c) => required(&c.sub),
        HirKind::Repetition(r) if r.min > 0 => required(&r.sub),
        HirKind::Concat(hs) => hs.iter().filter_map(required).max_by(|a, b| score(a).cmp(&score(b))),
        HirKind::Alternation(hs) => {
            let mut all = Vec::new();
            for sub in hs {
                all.extend(required(sub)?);
            }
            Some(all)
        }
        _ => None,
    }
}

fn score(set: &[Vec<u8>]) -> (usize, std::cmp::Reverse<usize>) {
    (set.iter().map(Vec::len).min().unwrap_or(0), std::cmp::Reverse(set.len()))
}

#[cfg(test)]
mod tests {
    use super::analyze;

    #[test]
    fn literal_content_and_anchors() {
        let a = analyze(r"\b504 gateway time-?out\b").unwrap();
        assert_eq!((a.literal_len, a.anchors), (19, 2));
        assert_eq!(a.required, vec![b"504 gateway time".to_vec()]);
        let b = analyze(r"timed? ?out").unwrap();
        assert_eq!(b.literal_len, 7);
        assert_eq!(b.exact, None);
        let c = analyze(r"\bconnection refused\b").unwrap();
        let e = c.exact.expect("a bounded literal is exact");
        assert!(e.accepts(b"x connection refused.", 2, 20));
        assert!(!e.accepts(b"xconnection refused", 1, 19));
    }

    #[test]
    fn alternations_require_every_branch() {
        let a = analyze(r"(?:connection|conn) refused").unwrap();
        assert_eq!(a.required, vec![b" refused".to_vec()]);
        let b = analyze(r"econnreset|socket hang up").unwrap();
        assert_eq!(b.required.len(), 2);
        assert_eq!(b.literal_len, 10);
        assert!(analyze(r"\d+ s").is_err(), "a 3-byte literal is required");
    }
}
