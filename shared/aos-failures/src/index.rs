//! The compiled catalog: hash tables for structured keys, a status table, and every pattern
//! compiled once, sorted by rank and keyed in an Aho-Corasick automaton by its required
//! literals, so a message runs only the few patterns whose literals it contains.

use crate::catalog::{fold_key, Catalog, CatalogError};
use crate::input::FailureInput;
use crate::literal::{analyze, ExactLiteral};
use crate::rank::{Rank, Tier, STATUS_IN_TEXT_STRENGTH};
use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};
use regex::bytes::{Regex, RegexBuilder};
use std::cmp::Reverse;
use std::collections::HashMap;

/// Candidate patterns are tracked in a fixed bitset, so there is a ceiling on their number.
const WORDS: usize = 36;
const MAX_PATTERNS: usize = WORDS * 64;

/// A winning candidate: the entry, why it won, and the rule text (an index into `rules`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Hit {
    pub entry: u32,
    pub rank: Rank,
    pub rule: u32,
}

#[derive(Debug)]
struct Pattern {
    regex: Regex,
    /// Decided by the prefilter hit itself when the pattern is a bounded literal.
    exact: Option<ExactLiteral>,
    hit: Hit,
}

#[derive(Debug)]
pub(crate) struct Index {
    /// Base rank per entry (specificity, priority, code order); tier and strength are added.
    base: Vec<Rank>,
    /// Per entry: its status rules rank as generic (`Entry::generic_status`).
    generic_status: Vec<bool>,
    codes: HashMap<String, (u32, u32)>,
    aws: HashMap<String, (u32, u32)>,
    smtp: HashMap<String, (u32, u32)>,
    os: HashMap<String, (u32, u32)>,
    status: Vec<Option<(u32, u32)>>,
    /// (low, high, entry, rule), narrowest first.
    ranges: Vec<(u16, u16, u32, u32)>,
    patterns: Vec<Pattern>,
    prefilter: AhoCorasick,
    literal_patterns: Vec<Vec<u32>>,
    status_in_text: Option<(Regex, Vec<u32>)>,
    /// The best rank a status read from the text can have; a better match makes reading it moot.
    status_ceiling: Rank,
    rules: Vec<String>,
}

impl Index {
    pub fn build(c: &Catalog) -> Result<Index, CatalogError> {
        let mut order: Vec<usize> = (0..c.entries.len()).collect();
        order.sort_by(|&a, &b| c.entries[a].code.cmp(&c.entries[b].code));
        let mut code_order = vec![0u32; c.entries.len()];
        for (pos, &e) in order.iter().enumerate() {
            code_order[e] = pos as u32;
        }
        let base: Vec<Rank> = c
            .entries
            .iter()
            .zip(&code_order)
            .map(|(e, &o)| Rank {
                specific: !e.generic,
                tier: Tier::Pattern,
                strength: 0,
                anchors: 0,
                priority: e.priority,
                code_order: Reverse(o),
            })
            .collect();
        let mut ix = Index {
            base,
            generic_status: c.entries.iter().map(|e| e.generic_status).collect(),
            codes: HashMap::new(),
            aws: HashMap::new(),
            smtp: HashMap::new(),
            os: HashMap::new(),
            status: vec![None; 600],
            ranges: Vec::new(),
            patterns: Vec::new(),
            prefilter: AhoCorasick::new(Vec::<&str>::new()).map_err(|e| bad("", "", e.to_string()))?,
            literal_patterns: Vec::new(),
            status_in_text: None,
            status_ceiling: Rank {
                specific: false,
                tier: Tier::Pattern,
                priority: i32::MIN,
                strength: 0,
                anchors: 0,
                code_order: Reverse(u32::MAX),
            },
            rules: Vec::new(),
        };
        let mut patterns = Vec::new();
        for (i, e) in c.entries.iter().enumerate() {
            let i = i as u32;
            for k in &e.rules.codes {
                let r = ix.rule(k);
                ix.codes.insert(fold_key(k), (i, r));
            }
            for k in &e.rules.aws_codes {
                let r = ix.rule(k);
                ix.aws.insert(fold_key(k), (i, r));
            }
            for k in &e.rules.smtp_codes {
                let r = ix.rule(k);
                ix.smtp.insert(fold_key(k), (i, r));
            }
            for k in &e.rules.os_kinds {
                let r = ix.rule(k);
                ix.os.insert(fold_key(k), (i, r));
            }
            for s in &e.rules.http_status {
                let Some((lo, hi)) = s.bounds() else { continue };
                let r = ix.rule(&if lo == hi { lo.to_string() } else { format!("{lo}-{hi}") });
                if lo == hi {
                    ix.status[lo as usize] = Some((i, r));
                } else {
                    ix.ranges.push((lo, hi, i, r));
                }
            }
            for p in &e.rules.patterns {
                let info = analyze(p).map_err(|reason| bad(&e.code, p, reason))?;
                let regex = compile(p).map_err(|reason| bad(&e.code, p, reason))?;
                let rank = Rank { tier: Tier::Pattern, strength: info.literal_len, anchors: info.anchors, ..ix.base[i as usize] };
                let rule = ix.rule(p);
                patterns.push((Pattern { regex, exact: info.exact, hit: Hit { entry: i, rank, rule } }, info.required, p.clone()));
            }
        }
        if patterns.len() > MAX_PATTERNS {
            return Err(bad("", "", format!("{} patterns exceed the limit of {MAX_PATTERNS}", patterns.len())));
        }
        let base = &ix.base;
        ix.ranges.sort_by_key(|&(lo, hi, e, _)| (hi - lo, lo, base[e as usize].code_order.0));
        // Best rank first; the pattern text breaks ties inside one entry.
        patterns.sort_by(|a, b| b.0.hit.rank.cmp(&a.0.hit.rank).then_with(|| a.2.cmp(&b.2)));
        let mut literals: Vec<Vec<u8>> = Vec::new();
        let mut by_literal: HashMap<Vec<u8>, usize> = HashMap::new();
        for (pos, (_, required, _)) in patterns.iter().enumerate() {
            for lit in required {
                let id = *by_literal.entry(lit.clone()).or_insert_with(|| {
                    literals.push(lit.clone());
                    ix.literal_patterns.push(Vec::new());
                    literals.len() - 1
                });
                ix.literal_patterns[id].push(pos as u32);
            }
        }
        ix.prefilter = AhoCorasick::builder()
            .match_kind(MatchKind::Standard)
            .kind(Some(AhoCorasickKind::ContiguousNFA))
            .build(&literals)
            .map_err(|e| bad("", "", e.to_string()))?;
        ix.patterns = patterns.into_iter().map(|(p, _, _)| p).collect();
        for (i, _) in c.entries.iter().enumerate().filter(|(_, e)| !e.rules.http_status.is_empty()) {
            let c = &ix.status_ceiling;
            let r = ix.base[i];
            ix.status_ceiling = Rank {
                specific: c.specific || r.specific,
                tier: Tier::Pattern,
                priority: c.priority.max(r.priority),
                strength: STATUS_IN_TEXT_STRENGTH,
                anchors: 0,
                code_order: Reverse(0),
            };
        }
        if !c.status_in_message.is_empty() {
            let joined = c.status_in_message.iter().map(|p| format!("(?:{p})")).collect::<Vec<_>>().join("|");
            let regex = compile(&joined).map_err(|reason| bad("status_in_message", &joined, reason))?;
            if regex.captures_len() != c.status_in_message.len() + 1 {
                return Err(bad("status_in_message", &joined, "each pattern needs exactly one capture group".into()));
            }
            let rules = c.status_in_message.iter().map(|p| ix.rule(p)).collect();
            ix.status_in_text = Some((regex, rules));
        }
        Ok(ix)
    }

    fn rule(&mut self, text: &str) -> u32 {
        self.rules.push(text.to_string());
        (self.rules.len() - 1) as u32
    }

    /// Bitset words in use.
    fn words(&self) -> usize {
        self.patterns.len().div_ceil(64)
    }

    pub fn rule_text(&self, rule: u32) -> &str {
        self.rules.get(rule as usize).map_or("", String::as_str)
    }

    /// The best-ranked match for a failure, if any.
    pub fn best(&self, input: &FailureInput<'_>, text: &[u8]) -> Option<Hit> {
        let mut best: Option<Hit> = None;
        let mut status = input.http_status;
        if let Some(code) = input.code {
            let found = self.lookup(&self.codes, code, Tier::Code);
            let found = found.or_else(|| self.lookup(&self.aws, aws_code(code), Tier::Aws));
            offer(&mut best, found.or_else(|| self.lookup(&self.os, code, Tier::Os)));
            status = status.or_else(|| status_of_code(code));
        }
        if let Some(aws) = input.aws_code {
            offer(&mut best, self.lookup(&self.aws, aws_code(aws), Tier::Aws));
        }
        if let Some(smtp) = input.smtp_code {
            for part in smtp.split(|c: char| !(c.is_ascii_digit() || c == '.')).filter(|p| !p.is_empty()) {
                let tier = if part.contains('.') { Tier::SmtpEnhanced } else { Tier::SmtpBasic };
                offer(&mut best, self.lookup(&self.smtp, part, tier));
            }
        }
        if let Some(os) = input.os_kind {
            offer(&mut best, self.lookup(&self.os, os, Tier::Os));
        }
        if let Some(s) = status {
            offer(&mut best, self.status_hit(s, None));
        }
        // A specific structured match outranks every pattern: no need to read the message.
        if best.is_some_and(|b| b.rank.specific) {
            return best;
        }
        let pattern = self.best_pattern(text, best.map(|b| b.rank));
        offer(&mut best, pattern);
        if status.is_none() && best.is_none_or(|b| b.rank < self.status_ceiling) {
            offer(&mut best, self.status_in_text(text));
        }
        best
    }

    fn lookup(&self, table: &HashMap<String, (u32, u32)>, key: &str, tier: Tier) -> Option<Hit> {
        let key = key.trim();
        let mut buf = [0u8; 64];
        let found = if key.len() <= buf.len() && key.is_ascii() {
            buf[..key.len()].copy_from_slice(key.as_bytes());
            buf[..key.len()].make_ascii_lowercase();
            std::str::from_utf8(&buf[..key.len()]).ok().and_then(|k| table.get(k))
        } else {
            table.get(&key.to_ascii_lowercase())
        };
        found.map(|&(entry, rule)| Hit { entry, rank: Rank { tier, ..self.base[entry as usize] }, rule })
    }

    /// The entry of an HTTP status: exact first, then the narrowest range. Read from the text
    /// (`from_text`), it ranks as a pattern. An entry with `generic_status` ranks its status as a
    /// generic one, so a specific entry's message match can refine it.
    fn status_hit(&self, s: u16, from_text: Option<u32>) -> Option<Hit> {
        let (entry, rule, tier, strength) = match self.status.get(s as usize).copied().flatten() {
            Some((e, r)) => (e, r, Tier::Status, 0),
            None => {
                let &(lo, hi, e, r) = self.ranges.iter().find(|&&(lo, hi, _, _)| (lo..=hi).contains(&s))?;
                (e, r, Tier::StatusRange, 1000u32.saturating_sub(u32::from(hi - lo)))
            }
        };
        let base =
            Rank { specific: self.base[entry as usize].specific && !self.generic_status[entry as usize], ..self.base[entry as usize] };
        let rank = match from_text {
            Some(_) => Rank { tier: Tier::Pattern, strength: STATUS_IN_TEXT_STRENGTH, ..base },
            None => Rank { tier, strength, ..base },
        };
        Some(Hit { entry, rank, rule: from_text.unwrap_or(rule) })
    }

    fn status_in_text(&self, text: &[u8]) -> Option<Hit> {
        let (regex, rules) = self.status_in_text.as_ref()?;
        // Most messages name no status: a plain search answers them without allocating captures.
        if !regex.is_match(text) {
            return None;
        }
        let caps = regex.captures(text)?;
        let (group, m) = caps.iter().enumerate().skip(1).find_map(|(g, m)| m.map(|m| (g, m)))?;
        let s: u16 = std::str::from_utf8(m.as_bytes()).ok()?.parse().ok()?;
        self.status_hit(s, rules.get(group - 1).copied())
    }

    /// The best pattern that matches, among those the prefilter flags, that could beat `floor`.
    /// Bounded-literal patterns are confirmed during the automaton pass (`confirmed`); the rest
    /// are flagged (`flagged`) and run as regexes, best rank first, until one matches.
    fn best_pattern(&self, text: &[u8], floor: Option<Rank>) -> Option<Hit> {
        let mut flagged = [0u64; WORDS];
        let mut confirmed = [0u64; WORDS];
        let mut any = false;
        for m in self.prefilter.find_overlapping_iter(text) {
            for &p in &self.literal_patterns[m.pattern().as_usize()] {
                let (w, bit) = (p as usize / 64, 1u64 << (p % 64));
                match self.patterns[p as usize].exact {
                    Some(e) if e.accepts(text, m.start(), m.end()) => confirmed[w] |= bit,
                    Some(_) => continue,
                    None => flagged[w] |= bit,
                }
                any = true;
            }
        }
        if !any {
            return None;
        }
        for w in 0..self.words() {
            let mut bits = flagged[w] | confirmed[w];
            while bits != 0 {
                let b = bits.trailing_zeros() as usize;
                bits &= bits - 1;
                let p = &self.patterns[w * 64 + b];
                if floor.is_some_and(|f| p.hit.rank <= f) {
                    return None;
                }
                if confirmed[w] & (1 << b) != 0 || p.regex.is_match(text) {
                    return Some(p.hit);
                }
            }
        }
        None
    }
}

/// Keeps the better of two candidates; on an exact tie the earlier one stays.
fn offer(best: &mut Option<Hit>, h: Option<Hit>) {
    if let Some(h) = h {
        if best.is_none_or(|b| h.rank > b.rank) {
            *best = Some(h);
        }
    }
}

/// Patterns run over normalized bytes; ASCII classes and word boundaries keep them on the
/// fast DFA paths.
fn compile(p: &str) -> Result<Regex, String> {
    RegexBuilder::new(p).unicode(false).build().map_err(|e| e.to_string())
}

fn bad(code: &str, pattern: &str, reason: String) -> CatalogError {
    CatalogError::BadPattern { code: code.to_string(), pattern: pattern.to_string(), reason }
}

/// `com.amazonaws.dynamodb.v20120810#ThrottlingException` and `ThrottlingException: Rate
/// exceeded` both name `ThrottlingException`.
fn aws_code(k: &str) -> &str {
    let k = k.rsplit('#').next().unwrap_or(k);
    k.split(|c: char| c == ':' || c.is_whitespace()).find(|p| !p.is_empty()).unwrap_or(k)
}

/// Skills report a response status as `HTTP_<status>`.
fn status_of_code(code: &str) -> Option<u16> {
    let d = code.strip_prefix("HTTP_")?;
    (d.len() == 3 && d.bytes().all(|b| b.is_ascii_digit())).then(|| d.parse().ok()).flatten()
}

#[cfg(test)]
mod tests {
    use super::Index;
    use crate::catalog::Catalog;
    use crate::input::FailureInput;
    use crate::normalize::normalize;

    /// Confirming bounded literals from the automaton must agree with running their regexes.
    #[test]
    fn literal_fast_path_agrees_with_regexes() {
        let catalog = Catalog::builtin().expect("catalog loads");
        let fast = Index::build(&catalog).expect("index builds");
        let mut slow = Index::build(&catalog).expect("index builds");
        assert!(slow.patterns.iter().filter(|p| p.exact.is_some()).count() > slow.patterns.len() / 2);
        slow.patterns.iter_mut().for_each(|p| p.exact = None);
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/failures/corpus.jsonl");
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let messages: Vec<String> = text
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter_map(|v| v.get("message").and_then(|m| m.as_str()).map(str::to_string))
            .collect();
        assert!(messages.len() >= 200);
        for m in &messages {
            let norm = normalize(m);
            let input = FailureInput::message(m);
            let (a, b) = (fast.best(&input, norm.as_bytes()), slow.best(&input, norm.as_bytes()));
            assert_eq!(a.map(|h| (h.entry, h.rule)), b.map(|h| (h.entry, h.rule)), "{m}");
        }
    }
}
