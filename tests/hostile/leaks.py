"""Every encoding of a secret value a careless server could let through, and a scanner that looks
for all of them in every text the suite sees (API responses, what the local HTTP servers received,
the server's log).

A value is looked for raw, upper- and lower-cased, reversed, as base64 and URL-safe base64 (with
and without padding, at every byte alignment, so an encoding of a longer text that contains the
value is found too), as hex (both cases), percent-encoded (several flavours), JSON-escaped, and as
any 16-character window of it (a truncated copy). Values are random, so none of these can match by
accident.
"""

import base64
import json
import threading
import urllib.parse
from typing import Dict, Iterable, List, Optional, Tuple

WINDOW = 16


def _b64_aligned(raw: bytes, urlsafe: bool) -> List[str]:
    """The base64 characters that depend only on `raw`, for each of the three byte alignments it
    can have inside a longer text."""
    out = []
    for k in range(3):
        enc = (base64.urlsafe_b64encode if urlsafe else base64.b64encode)(b"\0" * k + raw).decode()
        start = -(-8 * k // 6)  # ceil(8k / 6)
        end = (8 * (k + len(raw)) - 6) // 6
        piece = enc[start:end + 1]
        if len(piece) >= 8:
            out.append(piece)
    return out


def encodings(value: str, public: Iterable[str] = ()) -> List[Tuple[str, str]]:
    """(label, text) for every form of `value` the scanner looks for. `public` are parts of the
    value that are no secret on their own (the `http://127.0.0.1:PORT/services/` of a Slack webhook
    URL, which every local URL shares the start of): a 16-character window wholly inside one is not
    looked for; every other form of the whole value still is."""
    raw = value.encode()
    forms: List[Tuple[str, str]] = [
        ("raw", value),
        ("upper", value.upper()),
        ("lower", value.lower()),
        ("reversed", value[::-1]),
        ("base64", base64.b64encode(raw).decode()),
        ("base64-nopad", base64.b64encode(raw).decode().rstrip("=")),
        ("base64url", base64.urlsafe_b64encode(raw).decode()),
        ("base64url-nopad", base64.urlsafe_b64encode(raw).decode().rstrip("=")),
        ("hex", raw.hex()),
        ("HEX", raw.hex().upper()),
        ("percent", urllib.parse.quote(value, safe="")),
        ("percent-lowerhex", _lower_pct(urllib.parse.quote(value, safe=""))),
        ("percent-path", urllib.parse.quote(value)),
        ("percent-plus", urllib.parse.quote_plus(value)),
        ("percent-all", "".join(f"%{b:02X}" for b in raw)),
        ("json", json.dumps(value)[1:-1]),
        ("json-ascii", json.dumps(value, ensure_ascii=True)[1:-1]),
        ("json-slash", json.dumps(value)[1:-1].replace("/", "\\/")),
        ("json-in-json", json.dumps(json.dumps(value)[1:-1])[1:-1]),
    ]
    # How URL parsers (WHATWG, rust-url) encode a value put into a URL's query, path or userinfo:
    # only a few characters are escaped, the rest stays raw.
    query = set(' "#<>')
    for label, chars in (("url-query", query), ("url-special-query", query | {"'"}),
                         ("url-path", query | set("?`{}")), ("url-path-caret", query | set("?`{}^")),
                         ("url-userinfo", query | set("?`{}/:;=@[\\]^|"))):
        forms.append((label, _pct_set(value, chars)))
    forms.append(("url-path-backslash", _pct_set(value, query | set("?`{}")).replace("\\", "/")))
    for i, piece in enumerate(_b64_aligned(raw, False)):
        forms.append((f"base64-align{i}", piece))
    for i, piece in enumerate(_b64_aligned(raw, True)):
        forms.append((f"base64url-align{i}", piece))
    public = [p for p in public if p]
    if len(value) > WINDOW:
        for i in range(len(value) - WINDOW + 1):
            window = value[i:i + WINDOW]
            if not any(window in p for p in public):
                forms.append((f"window{i}", window))
    seen, unique = set(), []
    for label, text in forms:
        if text and text not in seen:
            seen.add(text)
            unique.append((label, text))
    return unique


def _pct_set(value: str, chars) -> str:
    """`value` with the characters of `chars`, controls and non-ASCII percent-encoded (UTF-8)."""
    out = []
    for ch in value:
        if ch in chars or ord(ch) < 0x20 or ord(ch) >= 0x7F:
            out.append("".join(f"%{b:02X}" for b in ch.encode()))
        else:
            out.append(ch)
    return "".join(out)


def _lower_pct(s: str) -> str:
    out, i = [], 0
    while i < len(s):
        if s[i] == "%":
            out.append(s[i:i + 3].lower())
            i += 3
        else:
            out.append(s[i])
            i += 1
    return "".join(out)


class Finding:
    def __init__(self, where: str, labels: List[str], excerpt: str):
        self.where, self.labels, self.excerpt = where, labels, excerpt

    def __str__(self) -> str:
        return f"{self.where}: {', '.join(self.labels[:6])}{' ...' if len(self.labels) > 6 else ''} in «{self.excerpt}»"


class LeakScanner:
    """Needles are registered under a name (`LEAKME`); `scan` records a finding for every text
    that holds one. Thread-safe: the suite's threads all report here."""

    def __init__(self):
        self._lock = threading.Lock()
        self._needles: List[Tuple[str, str]] = []  # (text, "NAME:form")
        self.findings: List[Finding] = []
        self._seen = set()  # (where, labels) already reported: a view read again is not news
        self.scanned = 0
        self.values: Dict[str, str] = {}

    def add(self, name: str, value: str, forms: bool = True, public: Iterable[str] = ()) -> None:
        with self._lock:
            self.values[name] = value
            for label, text in (encodings(value, public) if forms else [("raw", value)]):
                self._needles.append((text, f"{name}:{label}"))

    def find(self, text: str) -> List[Tuple[str, str]]:
        """(label, needle) of every needle in `text`."""
        with self._lock:
            needles = list(self._needles)
        return [(label, n) for n, label in needles if n in text]

    def mask(self, text: str) -> str:
        """`text` with every needle replaced by its label, so reports do not repeat values."""
        with self._lock:
            needles = sorted(self._needles, key=lambda x: -len(x[0]))
        for n, label in needles:
            text = text.replace(n, f"<{label}>")
        return text

    def scan(self, text, where: str) -> Optional[Finding]:
        if isinstance(text, bytes):
            text = text.decode("utf-8", "replace")
        with self._lock:
            self.scanned += 1
        texts = [text]
        decoded = _json_strings(text)
        if decoded:
            texts.append(decoded)
        hits: List[Tuple[str, str]] = []
        for t in texts:
            hits.extend(self.find(t))
        if not hits:
            return None
        labels = sorted({label for label, _ in hits})
        needle = hits[0][1]
        src = next(t for t in texts if needle in t)
        i = src.find(needle)
        excerpt = self.mask(src[max(0, i - 80): i + len(needle) + 80]).replace("\n", "\\n")
        f = Finding(where, labels, excerpt)
        with self._lock:
            key = (where, tuple(labels))
            if key in self._seen:
                return None
            self._seen.add(key)
            self.findings.append(f)
        return f

    def count(self) -> int:
        with self._lock:
            return len(self.findings)

    def since(self, n: int) -> List[Finding]:
        with self._lock:
            return self.findings[n:]


def _json_strings(text: str) -> str:
    """Every string (keys included) of `text` parsed as JSON, one per line; empty when it is not
    JSON. Catches values the server wrote with `\\u` escapes."""
    if not text or text[0] not in "{[\"":
        return ""
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError):
        return ""
    out: List[str] = []
    stack = [doc]
    while stack:
        v = stack.pop()
        if isinstance(v, str):
            out.append(v)
        elif isinstance(v, dict):
            out.extend(v.keys())
            stack.extend(v.values())
        elif isinstance(v, list):
            stack.extend(v)
    return "\n".join(out)
