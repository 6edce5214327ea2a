"""The package is typed: mypy --strict passes on the SDK, on the examples, and on a sample of
user code that checks the types the public API exposes."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile

import pytest

from conftest import EXAMPLES, SDK_DIR


def mypy(*args: str) -> None:
    cache = tempfile.mkdtemp(prefix="aos-sdk-mypy-")
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--cache-dir", cache, *args],
        cwd=SDK_DIR,
        capture_output=True,
        text=True,
        timeout=600,
    )
    shutil.rmtree(cache, ignore_errors=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_sdk_is_strictly_typed() -> None:
    mypy("--strict", "src/aos")


@pytest.mark.parametrize("target", ["examples", "usage"])
def test_users_see_the_types(target: str) -> None:
    files = sorted(str(p) for p in EXAMPLES.glob("*.py")) if target == "examples" else [str(SDK_DIR / "tests" / "typed_usage.py")]
    mypy("--strict", *files)


def test_py_typed_marker() -> None:
    assert (SDK_DIR / "src" / "aos" / "py.typed").exists()
