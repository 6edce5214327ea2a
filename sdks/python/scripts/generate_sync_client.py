"""Generate the sync client, src/aos/client.py, from the async one, src/aos/async_client.py.

    python scripts/generate_sync_client.py              # (re)write src/aos/client.py
    python scripts/generate_sync_client.py --check      # exit 1 if client.py is not what it would write
    python scripts/generate_sync_client.py --output F   # write the result to F instead

Run from anywhere, with the SDK's dev dependencies installed (requirements-dev.txt; run-tests.sh's
virtualenv has them). tests/test_generated.py fails while client.py is stale.

The `unasync` package (as used by httpcore) does the work on tokens: it drops ``async`` and
``await`` and renames ``__aenter__``, ``__aexit__``, ``__aiter__``, ``AsyncIterator``, ... and the
names in ``RENAMES`` below; every ``class AsyncX`` of the source becomes ``X``. What is not a token
(docstrings, comments, f-strings) and the few real differences are the ``TEXT`` and ``PATTERNS``
rules below; the operations that differ in kind (sleeping, awaiting a progress callback) are in the
hand-written ``aos._primitives``, whose ``async_`` functions ``RENAMES`` maps to the sync ones.
Every rule must apply, and the result must contain no trace of async, so a rule that stops matching
fails here instead of leaving a wrong client behind.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
from pathlib import Path
from typing import Callable, Dict, List, Tuple, Union

try:
    import unasync
except ImportError:  # pragma: no cover
    sys.exit("scripts/generate_sync_client.py needs unasync: pip install -r requirements-dev.txt")

SDK = Path(__file__).resolve().parents[1]
SOURCE = SDK / "src" / "aos" / "async_client.py"
TARGET = SDK / "src" / "aos" / "client.py"
COMMAND = "python scripts/generate_sync_client.py"

HEADER = f"""\
# GENERATED from async_client.py by scripts/generate_sync_client.py: do not edit. Change
# async_client.py (or the generator's rules) and regenerate, in sdks/python, with
#     {COMMAND}
# tests/test_generated.py fails while this file is stale.
"""

#: Token renames on top of unasync's own and the ``AsyncX`` classes of the source.
RENAMES: Dict[str, str] = {
    "aclose": "close",
    "async_sleep": "sleep",
    "async_notify": "notify",
}

#: Literal replacements in unasync's output: (old, new), each of which must occur.
TEXT: List[Tuple[str, str]] = [
    (
        '"""The asynchronous client: the same operations as :class:`aos.Client`, awaited."""',
        '"""The synchronous client."""',
    ),
    ('"""An asynchronous AOS client.', '"""A synchronous AOS client.'),
    # Async-only notes in docstrings.
    (" (``async for``)", ""),
    ("        ``on_progress`` may also return an awaitable (a coroutine or a future), which is awaited.\n", ""),
]

Replacement = Union[str, Callable[["re.Match[str]"], str]]


def _typing_import(m: "re.Match[str]") -> str:
    names = [n.strip() for n in m.group(1).split(",") if n.strip() != "Awaitable"]
    return "from typing import " + ", ".join(sorted(names))


#: Regular-expression rules (multi-line mode): (pattern, replacement), each of which must match.
PATTERNS: List[Tuple[str, Replacement]] = [
    # The comment about generation that follows the source's module docstring.
    (r'(?s)\A(""".*?"""\n\n)(?:#[^\n]*\n)+\n', r"\1"),
    # A fetched page is awaited in the source and returned as it is in the sync client.
    (r"Awaitable\[(\w+)\]", r"\1"),
    (r"^from typing import (.*)$", _typing_import),
]

#: What must not be left in the sync client.
LEFTOVERS = re.compile(r"\basync\b|\bawait\b|asyncio|Async|Awaitable|aclose|__a(?:enter|exit|iter|next)__|\bSync[A-Z]")


class RuleError(Exception):
    pass


def class_renames(source: str) -> Dict[str, str]:
    """``AsyncX`` -> ``X`` for every class the source defines."""
    return {f"Async{name}": name for name in re.findall(r"^class Async(\w+)\b", source, re.M)}


def generate(source: str) -> str:
    """The sync client for the text of the async one."""
    classes = class_renames(source)
    with tempfile.TemporaryDirectory(prefix="aos-unasync-") as tmp:
        src_dir = Path(tmp, "_async")
        src_dir.mkdir()
        (src_dir / "client.py").write_text(source, encoding="utf-8")
        rule = unasync.Rule(fromdir="/_async/", todir="/_sync/", additional_replacements={**classes, **RENAMES})
        unasync.unasync_files([str(src_dir / "client.py")], [rule])
        out = Path(tmp, "_sync", "client.py").read_text(encoding="utf-8")

    for old, new in TEXT:
        if old not in out:
            raise RuleError(f"text rule no longer matches: {old!r}")
        out = out.replace(old, new)
    # Mentions of the source's classes in docstrings and f-strings: :class:`AsyncClient`, ...
    mentions = (r"\bAsync(" + "|".join(sorted(classes.values())) + r")\b", r"\1")
    for pattern, repl in PATTERNS + [mentions]:
        out, n = re.subn(pattern, repl, out, flags=re.M)
        if n == 0:
            raise RuleError(f"pattern rule no longer matches: {pattern!r}")

    left = [f"{i}: {line}" for i, line in enumerate(out.splitlines(), 1) if LEFTOVERS.search(line)]
    if left:
        raise RuleError("async left in the sync client (add a rule):\n" + "\n".join(left))
    return HEADER + out


def main(argv: List[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help=f"exit 1 if {TARGET.name} is stale")
    parser.add_argument("--output", type=Path, default=TARGET, help=f"where to write (default {TARGET})")
    args = parser.parse_args(argv)
    try:
        text = generate(SOURCE.read_text(encoding="utf-8"))
    except RuleError as e:
        print(f"scripts/generate_sync_client.py: {e}", file=sys.stderr)
        return 2
    if args.check:
        if not args.output.exists() or args.output.read_text(encoding="utf-8") != text:
            print(f"{args.output} is stale: regenerate it with `{COMMAND}` (in sdks/python)", file=sys.stderr)
            return 1
        return 0
    args.output.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
