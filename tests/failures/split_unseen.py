#!/usr/bin/env python3
"""Split an issue-18 unseen set into <set>-dev.jsonl / <set>-holdout.jsonl.

Reads the combined, labelled file kept outside the repository (for `unseen2`, by default
/work/corpus2/all.jsonl), validates every line and writes the two halves next to this script:

- within each cluster, messages are ordered by the SHA-256 (hex) of their `message` text;
  the first round(0.55 * n) go to unseen2-dev.jsonl, the rest to unseen2-holdout.jsonl
  (round half up; the same rule as the first unseen set);
- every line must parse, carry only the fields of `Case`
  (shared/aos-failures/tests/common/mod.rs), a valid category, a boolean retry decision,
  a source and a known cluster;
- no message may repeat another of the set, or one already in any other tests/failures/*.jsonl
  (compared after lower-casing and collapsing whitespace), nor be a near-copy of one
  (difflib ratio >= 0.90 once digits are masked). No message is printed, of this set or of
  another file: a problem names the line only, since half of the set is to be held out from
  whoever runs this.

Usage: python3 tests/failures/split_unseen.py [SET [path/to/all.jsonl]]   (SET: unseen2, unseen4...)
"""

import difflib
import glob
import hashlib
import json
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SET = sys.argv[1] if len(sys.argv) > 1 else "unseen2"
DEFAULT_SOURCE = "/work/corpus2/all.jsonl"
OUT_DEV = os.path.join(HERE, f"{SET}-dev.jsonl")
OUT_HOLDOUT = os.path.join(HERE, f"{SET}-holdout.jsonl")
DEV_SHARE = 0.55
NEAR = 0.90

ALLOWED = {
    "message", "code", "skill", "http_status", "aws_code", "smtp_code", "os_kind",
    "expected_category", "expected_retryable", "source", "cluster",
}
REQUIRED = {"message", "expected_category", "expected_retryable", "source", "cluster"}
CATEGORIES = {
    "AUTH", "CONFLICT", "NOT_FOUND", "PERMANENT", "RATE_LIMIT", "RESOURCE", "SECURITY",
    "TRANSIENT", "VALIDATION",
}
CLUSTERS = {
    "no_status", "quota_vs_rate", "tool_template", "tool_schema", "tool_budget", "tool_ssrf",
    "tool_path_escape", "tool_unknown_skill", "slack", "aws", "http_rare_status", "provider_api",
    "tls_dns", "smtp", "json_jq", "fs_os", "db_conflict",
}
FIELD_ORDER = [
    "message", "code", "skill", "http_status", "aws_code", "smtp_code", "os_kind",
    "expected_category", "expected_retryable", "source", "cluster",
]


def norm(text):
    return " ".join(text.lower().split())


def masked(text):
    return re.sub(r"\d+", "0", norm(text))


def sha(text):
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def existing_messages():
    """Messages of the other files of tests/failures (never printed)."""
    out = []
    own = {os.path.basename(OUT_DEV), os.path.basename(OUT_HOLDOUT)}
    for path in sorted(glob.glob(os.path.join(HERE, "*.jsonl"))):
        name = os.path.basename(path)
        if name in own:
            continue
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                if line.strip():
                    out.append((name, json.loads(line)["message"]))
    return out


def validate(cases):
    errors = []
    seen = {}
    for n, case in enumerate(cases, 1):
        extra = set(case) - ALLOWED
        missing = REQUIRED - set(case)
        if extra:
            errors.append(f"line {n}: unknown fields {sorted(extra)}")
        if missing:
            errors.append(f"line {n}: missing fields {sorted(missing)}")
        if case.get("expected_category") not in CATEGORIES:
            errors.append(f"line {n}: invalid category {case.get('expected_category')!r}")
        if not isinstance(case.get("expected_retryable"), bool):
            errors.append(f"line {n}: expected_retryable must be a boolean")
        if case.get("cluster") not in CLUSTERS:
            errors.append(f"line {n}: unknown cluster {case.get('cluster')!r}")
        if not str(case.get("message", "")).strip() or not str(case.get("source", "")).strip():
            errors.append(f"line {n}: empty message or source")
        if "http_status" in case and not (isinstance(case["http_status"], int) and 100 <= case["http_status"] <= 599):
            errors.append(f"line {n}: http_status must be an integer status")
        for key in ("code", "skill", "aws_code", "smtp_code", "os_kind"):
            if key in case and not isinstance(case[key], str):
                errors.append(f"line {n}: {key} must be a string")
        key = norm(case.get("message", ""))
        if key in seen:
            errors.append(f"line {n}: repeats line {seen[key]} of this set")
        seen.setdefault(key, n)

    old = existing_messages()
    old_norm = {norm(m): name for name, m in old}
    old_masked = [(name, masked(m)) for name, m in old]
    for n, case in enumerate(cases, 1):
        msg = case.get("message", "")
        if norm(msg) in old_norm:
            errors.append(f"line {n}: already in {old_norm[norm(msg)]}")
            continue
        mine = masked(msg)
        matcher = difflib.SequenceMatcher(None, b=mine, autojunk=False)
        for name, theirs in old_masked:
            matcher.set_seq1(theirs)
            if matcher.real_quick_ratio() >= NEAR and matcher.quick_ratio() >= NEAR and matcher.ratio() >= NEAR:
                errors.append(f"line {n}: near-copy of a message in {name}")
                break
    return errors


def main():
    source = sys.argv[2] if len(sys.argv) > 2 else DEFAULT_SOURCE
    cases = []
    with open(source, encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                cases.append(json.loads(line))
            except json.JSONDecodeError as e:
                sys.exit(f"{source} line {n}: does not parse: {e}")
    errors = validate(cases)
    if errors:
        print("\n".join(errors), file=sys.stderr)
        sys.exit(f"{len(errors)} problem(s); nothing written")

    by_cluster = {}
    for case in cases:
        by_cluster.setdefault(case["cluster"], []).append(case)
    dev, holdout = [], []
    for cluster in sorted(by_cluster):
        group = sorted(by_cluster[cluster], key=lambda c: sha(c["message"]))
        k = int(DEV_SHARE * len(group) + 0.5)
        dev.extend(group[:k])
        holdout.extend(group[k:])

    for path, part in ((OUT_DEV, dev), (OUT_HOLDOUT, holdout)):
        with open(path, "w", encoding="utf-8") as fh:
            for case in part:
                ordered = {k: case[k] for k in FIELD_ORDER if k in case}
                fh.write(json.dumps(ordered, ensure_ascii=False) + "\n")
    print(f"{len(cases)} cases: {len(dev)} -> {os.path.basename(OUT_DEV)}, "
          f"{len(holdout)} -> {os.path.basename(OUT_HOLDOUT)}")


if __name__ == "__main__":
    main()
