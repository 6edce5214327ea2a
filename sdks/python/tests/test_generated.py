"""The sync client is generated from the async one (scripts/generate_sync_client.py, with unasync):
the committed src/aos/client.py must be exactly what the generator makes of src/aos/async_client.py
today, so that a change to one client is never missing from the other."""

from __future__ import annotations

import difflib
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import SDK_DIR

GENERATOR = SDK_DIR / "scripts" / "generate_sync_client.py"
GENERATED = SDK_DIR / "src" / "aos" / "client.py"
REGENERATE = "python scripts/generate_sync_client.py"


def run_generator(*args: str) -> "subprocess.CompletedProcess[str]":
    return subprocess.run(
        [sys.executable, str(GENERATOR), *args], cwd=SDK_DIR, capture_output=True, text=True, timeout=120
    )


def test_sync_client_is_up_to_date(tmp_path: Path) -> None:
    out = tmp_path / "client.py"
    result = run_generator("--output", str(out))
    assert result.returncode == 0, f"the generator failed:\n{result.stdout}{result.stderr}"
    fresh = out.read_text(encoding="utf-8")
    committed = GENERATED.read_text(encoding="utf-8")
    if fresh != committed:
        diff = "".join(
            difflib.unified_diff(
                committed.splitlines(keepends=True),
                fresh.splitlines(keepends=True),
                "src/aos/client.py",
                "src/aos/client.py, generated from async_client.py",
            )
        )
        pytest.fail(
            f"src/aos/client.py is stale or was edited by hand: it is generated from src/aos/async_client.py. "
            f"Regenerate it, in sdks/python, with `{REGENERATE}`.\n{diff[:6000]}",
            pytrace=False,
        )


def test_generated_file_says_so() -> None:
    head = GENERATED.read_text(encoding="utf-8").splitlines()[:4]
    assert head[0].startswith("# GENERATED from async_client.py"), head
    assert any(REGENERATE in line for line in head), head


def test_check_mode_spots_a_stale_file(tmp_path: Path) -> None:
    stale = tmp_path / "client.py"
    stale.write_text(GENERATED.read_text(encoding="utf-8") + "# edited by hand\n", encoding="utf-8")
    result = run_generator("--check", "--output", str(stale))
    assert result.returncode == 1 and REGENERATE in result.stderr, result.stdout + result.stderr
