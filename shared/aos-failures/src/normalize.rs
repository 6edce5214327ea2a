//! Message normalization in one left-to-right scan: variable parts (URLs, e-mail addresses,
//! paths, IPs, UUIDs, timestamps, hex ids, long numbers, back-quoted names) become placeholders
//! and the rest is ASCII lower-cased with whitespace collapsed, so that "403" inside an id can
//! never look like a status and the same failure always yields the same text.

/// Only the first this-many bytes of a message are read: past them a message is a body dump
/// (an HTML error page, a stack trace) whose tail adds nothing but cost.
pub const MAX_SCAN_BYTES: usize = 8192;

/// The normalized form of `message`.
pub fn normalize(message: &str) -> String {
    let mut out = String::with_capacity(message.len().min(MAX_SCAN_BYTES));
    normalize_into(message, &mut out);
    out
}

/// Normalizes into a reusable buffer (cleared first), for callers that avoid allocating.
pub fn normalize_into(message: &str, out: &mut String) {
    out.clear();
    let s = message.as_bytes();
    let end = scan_end(message);
    let has_url = message[..end].contains("://");
    let has_at = s[..end].contains(&b'@');
    let mut i = 0;
    let mut space = false;
    while i < end {
        let b = s[i];
        if b.is_ascii_whitespace() {
            space = !out.is_empty();
            i += 1;
            continue;
        }
        if space {
            out.push(' ');
            space = false;
        }
        if i == 0 || !s[i - 1].is_ascii_alphanumeric() {
            if let Some((j, tag)) = token(s, i, end, has_url, has_at) {
                out.push_str(tag);
                i = j;
                continue;
            }
        }
        if b.is_ascii_alphanumeric() {
            let j = run(s, i, end, |c| c.is_ascii_alphanumeric());
            word(&message[i..j], out);
            i = j;
        } else {
            // Punctuation and non-ASCII text up to the next word or space, copied as is.
            let j = run(s, i + 1, end, |c| {
                !c.is_ascii_alphanumeric() && !c.is_ascii_whitespace() && !matches!(c, b'`' | b'/' | b'~' | b'.' | b':')
            });
            let j = (j..=end).find(|&k| message.is_char_boundary(k)).unwrap_or(end);
            out.push_str(&message[i..j]);
            i = j;
        }
    }
    // Placeholders are lower-case already; one pass folds the copied text.
    out.make_ascii_lowercase();
}

/// The scan limit, moved back to a character boundary.
fn scan_end(message: &str) -> usize {
    let mut end = message.len().min(MAX_SCAN_BYTES);
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    end
}

/// A placeholder token starting at `i` (which starts a word), and where it ends.
fn token(s: &[u8], i: usize, end: usize, has_url: bool, has_at: bool) -> Option<(usize, &'static str)> {
    let b = s[i];
    match b {
        b'`' => backtick(s, i, end).map(|j| (j, "<q>")),
        b'/' | b'~' | b'.' => path(s, i, end).map(|j| (j, "<path>")),
        b':' => ipv6(s, i, end).map(|j| (j, "<ip>")),
        _ if b.is_ascii_alphanumeric() => {
            if has_url && b.is_ascii_alphabetic() {
                if let Some(j) = url(s, i, end) {
                    return Some((j, "<url>"));
                }
            }
            if has_at {
                if let Some(j) = email(s, i, end) {
                    return Some((j, "<email>"));
                }
            }
            if let Some(j) = uuid(s, i, end) {
                return Some((j, "<uuid>"));
            }
            if b.is_ascii_digit() {
                if let Some(j) = timestamp(s, i, end) {
                    return Some((j, "<ts>"));
                }
                if let Some(j) = ipv4(s, i, end) {
                    return Some((j, "<ip>"));
                }
            }
            if let Some(j) = ipv6(s, i, end) {
                return Some((j, "<ip>"));
            }
            windows_path(s, i, end).map(|j| (j, "<path>"))
        }
        _ => None,
    }
}

/// A run of letters and digits, classified: long numbers, hex ids and digit-laden ids are
/// masked; short numbers (statuses, SMTP codes, line numbers) and words are kept.
fn word(text: &str, out: &mut String) {
    let w = text.as_bytes();
    let digits = w.iter().filter(|c| c.is_ascii_digit()).count();
    let len = w.len();
    let tag = if digits == 0 {
        None
    } else if digits == len {
        (len >= 4).then_some("<num>")
    } else if (len >= 3 && (w[..2] == *b"0x" || w[..2] == *b"0X") && w[2..].iter().all(u8::is_ascii_hexdigit))
        || (len >= 8 && w.iter().all(u8::is_ascii_hexdigit))
    {
        Some("<hex>")
    } else if w[..digits].iter().all(u8::is_ascii_digit) && digits >= 4 && len - digits <= 3 {
        // A long number with a unit (`30000ms`): keep the unit, which is stable.
        out.push_str("<num>");
        out.push_str(&text[digits..]);
        return;
    } else if digits >= 4 || (len >= 8 && digits >= 2) {
        Some("<id>")
    } else {
        None
    };
    out.push_str(tag.unwrap_or(text));
}

fn run(s: &[u8], mut i: usize, end: usize, f: impl Fn(u8) -> bool) -> usize {
    while i < end && f(s[i]) {
        i += 1;
    }
    i
}

/// True when the token ending at `j` is not glued to a following word.
fn ends_word(s: &[u8], j: usize, end: usize) -> bool {
    j >= end || !s[j].is_ascii_alphanumeric()
}

fn backtick(s: &[u8], i: usize, end: usize) -> Option<usize> {
    let limit = end.min(i + 256);
    let close = (i + 1..limit).find(|&k| s[k] == b'`' || s[k] == b'\n')?;
    (s[close] == b'`' && close > i + 1 && !status_line(&s[i + 1..close])).then_some(close + 1)
}

/// A back-quoted HTTP status line (`426 Upgrade Required`, as Guzzle quotes it) is the failure
/// itself, not a variable name: it stays text so that its status and reason phrase can match.
fn status_line(q: &[u8]) -> bool {
    q.len() > 5
        && matches!(q[0], b'1'..=b'5')
        && q[1].is_ascii_digit()
        && q[2].is_ascii_digit()
        && q[3] == b' '
        && q[4].is_ascii_alphabetic()
        && q[4..].iter().all(|&c| c.is_ascii_alphabetic() || matches!(c, b' ' | b'-' | b'\''))
}

fn url(s: &[u8], i: usize, end: usize) -> Option<usize> {
    let scheme_end = run(s, i, end.min(i + 20), |c| c.is_ascii_alphanumeric() || c == b'+' || c == b'.' || c == b'-');
    if s.get(scheme_end..scheme_end + 3) != Some(b"://") || scheme_end + 3 > end {
        return None;
    }
    let stop = |c: u8| c.is_ascii_whitespace() || matches!(c, b'"' | b'\'' | b'`' | b'<' | b'>' | b')' | b']' | b'}' | b'|');
    let mut j = run(s, scheme_end + 3, end, |c| !stop(c));
    while j > scheme_end + 3 && matches!(s[j - 1], b'.' | b',' | b';' | b':' | b'!' | b'?') {
        j -= 1;
    }
    (j > scheme_end + 3).then_some(j)
}

fn email(s: &[u8], i: usize, end: usize) -> Option<usize> {
    let at = run(s, i, end.min(i + 65), |c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'%' | b'+' | b'-'));
    if at >= end || s[at] != b'@' {
        return None;
    }
    let j = run(s, at + 1, end, |c| c.is_ascii_alphanumeric() || c == b'-' || c == b'.');
    let domain = &s[at + 1..j];
    let domain = domain.strip_suffix(b".").unwrap_or(domain);
    let tld_ok = domain.rsplit(|&c| c == b'.').next().is_some_and(|t| t.len() >= 2 && t.iter().all(u8::is_ascii_alphabetic));
    (domain.contains(&b'.') && tld_ok).then_some(at + 1 + domain.len())
}

fn uuid(s: &[u8], i: usize, end: usize) -> Option<usize> {
    const GROUPS: [usize; 5] = [8, 4, 4, 4, 12];
    let mut j = i;
    for (n, g) in GROUPS.iter().enumerate() {
        if n > 0 {
            if j >= end || s[j] != b'-' {
                return None;
            }
            j += 1;
        }
        if j + g > end || !s[j..j + g].iter().all(u8::is_ascii_hexdigit) {
            return None;
        }
        j += g;
    }
    ends_word(s, j, end).then_some(j)
}

/// `2024-05-01`, `2024-05-01T12:00:00.123Z`, `2024-05-01 12:00:00+02:00`, `12:00:00`.
fn timestamp(s: &[u8], i: usize, end: usize) -> Option<usize> {
    let digits = |j: usize, n: usize| j + n <= end && s[j..j + n].iter().all(u8::is_ascii_digit);
    let at = |j: usize, c: u8| j < end && s[j] == c;
    let mut j;
    if digits(i, 4) && at(i + 4, b'-') && digits(i + 5, 2) && at(i + 7, b'-') && digits(i + 8, 2) {
        j = i + 10;
        if (at(j, b'T') || at(j, b't') || at(j, b' ')) && digits(j + 1, 2) && at(j + 3, b':') && digits(j + 4, 2) {
            j = time_tail(s, j + 6, end);
        }
    } else {
        let h = if digits(i, 2) {
            2
        } else if digits(i, 1) {
            1
        } else {
            return None;
        };
        if !(at(i + h, b':') && digits(i + h + 1, 2) && at(i + h + 3, b':') && digits(i + h + 4, 2)) {
            return None;
        }
        j = time_tail(s, i + h + 6, end);
    }
    ends_word(s, j, end).then_some(j)
}

/// After `hh:mm`: optional `:ss`, fraction and zone.
fn time_tail(s: &[u8], mut j: usize, end: usize) -> usize {
    if j + 2 < end && s[j] == b':' && s[j + 1].is_ascii_digit() && s[j + 2].is_ascii_digit() {
        j += 3;
    }
    if j + 1 < end && (s[j] == b'.' || s[j] == b',') && s[j + 1].is_ascii_digit() {
        j = run(s, j + 1, end, |c| c.is_ascii_digit());
    }
    if j < end && (s[j] == b'Z' || s[j] == b'z') {
        return j + 1;
    }
    if j + 2 < end && (s[j] == b'+' || s[j] == b'-') && s[j + 1].is_ascii_digit() && s[j + 2].is_ascii_digit() {
        j += 3;
        if j + 2 < end && s[j] == b':' && s[j + 1].is_ascii_digit() {
            j += 3;
        } else if j + 1 < end && s[j].is_ascii_digit() && s[j + 1].is_ascii_digit() {
            j += 2;
        }
    }
    j
}

/// Dotted quad with an optional port. Not preceded by a dot, so versions like 1.2.3.4.5 stay.
fn ipv4(s: &[u8], i: usize, end: usize) -> Option<usize> {
    if i > 0 && s[i - 1] == b'.' {
        return None;
    }
    let mut j = i;
    for part in 0..4 {
        if part > 0 {
            if j >= end || s[j] != b'.' {
                return None;
            }
            j += 1;
        }
        let k = run(s, j, end.min(j + 3), |c| c.is_ascii_digit());
        if k == j {
            return None;
        }
        j = k;
    }
    if j < end && (s[j].is_ascii_digit() || (s[j] == b'.' && j + 1 < end && s[j + 1].is_ascii_digit())) {
        return None;
    }
    if j + 1 < end && s[j] == b':' && s[j + 1].is_ascii_digit() {
        j = run(s, j + 1, end.min(j + 6), |c| c.is_ascii_digit());
    }
    ends_word(s, j, end).then_some(j)
}

/// Hex groups with colons: either eight groups or a `::` abbreviation, possibly ending in a
/// dotted quad (`::ffff:10.0.0.1`).
fn ipv6(s: &[u8], i: usize, end: usize) -> Option<usize> {
    // Cheap reject for ordinary words: a group has at most four hex digits before a colon.
    let first = run(s, i, end.min(i + 5), |c| c.is_ascii_hexdigit());
    if first >= end || s[first] != b':' {
        return None;
    }
    let mut j = run(s, i, end.min(i + 45), |c| c.is_ascii_hexdigit() || c == b':' || c == b'.');
    while j > i && (s[j - 1] == b'.' || (s[j - 1] == b':' && !(j >= i + 2 && s[j - 2] == b':'))) {
        j -= 1;
    }
    let t = &s[i..j];
    let colons = t.iter().filter(|&&c| c == b':').count();
    let has_hex = t.iter().any(u8::is_ascii_hexdigit);
    let abbreviated = t.windows(2).any(|w| w == b"::");
    let ok = has_hex && t.len() >= 3 && (colons == 7 || (abbreviated && colons >= 2)) && !t.windows(3).any(|w| w == b":::");
    (ok && ends_word(s, j, end)).then_some(j)
}

/// A path with at least two separators (`/usr/lib/x.py`, `./a/b`, `~/x/y`). A single segment
/// (`/health`, `and/or`) is left as text.
fn path(s: &[u8], i: usize, end: usize) -> Option<usize> {
    let start = match s[i] {
        b'/' => i,
        b'~' | b'.' => {
            let k = run(s, i, end.min(i + 2), |c| c == b'.' || c == b'~');
            if k < end && s[k] == b'/' {
                k
            } else {
                return None;
            }
        }
        _ => return None,
    };
    if start + 1 >= end || s[start + 1] == b'/' || !is_path_char(s[start + 1]) {
        return None;
    }
    let mut j = run(s, start, end, |c| c == b'/' || is_path_char(c));
    while j > start && matches!(s[j - 1], b'.' | b',' | b':') {
        j -= 1;
    }
    let slashes = s[start..j].iter().filter(|&&c| c == b'/').count();
    (slashes >= 2).then_some(j)
}

fn is_path_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-' | b'~' | b'%' | b'+' | b'@' | b'=')
}

/// `C:\Users\x\file.txt`.
fn windows_path(s: &[u8], i: usize, end: usize) -> Option<usize> {
    if i + 3 < end && s[i].is_ascii_alphabetic() && s[i + 1] == b':' && s[i + 2] == b'\\' {
        Some(run(s, i, end, |c| !c.is_ascii_whitespace() && !matches!(c, b'"' | b'\'' | b'`')))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::normalize;

    #[test]
    fn masks_variable_parts() {
        let cases = [
            ("GET https://api.example.com/v1/users/42?x=1 failed", "get <url> failed"),
            ("request id 550e8400-e29b-41d4-a716-446655440000", "request id <uuid>"),
            ("RequestId: 4KJ3UQAAEVFQ8F3BSHU7DQ9VV4VV4KQNSO5AEMVJF66Q9ASUAAJG", "requestid: <id>"),
            ("connect to 10.0.0.12:8443 failed", "connect to <ip> failed"),
            ("dial tcp [2001:db8::1]:443: i/o timeout", "dial tcp [<ip>]:443: i/o timeout"),
            ("at 2024-05-01T12:00:03.120Z and 12:00:04", "at <ts> and <ts>"),
            ("<alice@example.com>: Recipient address rejected", "<<email>>: recipient address rejected"),
            ("File \"/usr/lib/python3.11/json/decoder.py\", line 355", "file \"<path>\", line 355"),
            ("did not finish within 30000 ms", "did not finish within <num> ms"),
            ("error:0A000086:SSL routines::certificate verify failed", "error:<hex>:ssl routines::certificate verify failed"),
            ("secret `SLACK_TOKEN` does not exist", "secret <q> does not exist"),
            ("resulted in a `507 Insufficient Storage` response", "resulted in a `507 insufficient storage` response"),
            ("`GET http://x.example/a` resulted", "<q> resulted"),
            ("object at 0x7f3a2c1d9e80", "object at <hex>"),
            ("  Spaces\t\n collapse  ", "spaces collapse"),
            ("550 5.7.1 Relay access denied", "550 5.7.1 relay access denied"),
        ];
        for (input, want) in cases {
            assert_eq!(normalize(input), want, "{input}");
        }
    }

    #[test]
    fn a_status_inside_an_id_disappears() {
        assert_eq!(normalize("user u-4031 (req 8f403a2b9c) denied"), "user u-<num> (req <hex>) denied");
        assert_eq!(normalize("order a403b1c2d9 failed"), "order <hex> failed");
    }

    #[test]
    fn keeps_short_numbers_and_utf8() {
        assert_eq!(normalize("line 1 column 1 (char 0) — 503"), "line 1 column 1 (char 0) — 503");
        assert_eq!(normalize("HTTP/1.1 404 Not Found"), "http/1.1 404 not found");
    }

    #[test]
    fn long_input_is_cut_on_a_char_boundary() {
        let long = "é".repeat(super::MAX_SCAN_BYTES);
        assert!(normalize(&long).len() <= super::MAX_SCAN_BYTES);
    }
}
