"""`python -m build` makes an sdist and a wheel with complete metadata; the wheel installs into a
fresh virtualenv, and an example runs from there against `aos serve`.

These tests reach PyPI (the isolated build fetches hatchling; the fresh virtualenv fetches httpx),
as a user's installation would.
"""

from __future__ import annotations

import email
import glob
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path
from typing import Dict, List, Optional

import pytest

from conftest import SDK_DIR, AosServer
from standins import StandIn
from test_examples import run_example

pytestmark = pytest.mark.contract


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, Path]:
    out = tmp_path_factory.mktemp("dist")
    # Build from a copy, so that the build leaves nothing in the source tree.
    src = tmp_path_factory.mktemp("src") / "python"
    shutil.copytree(SDK_DIR, src, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "build", "dist", ".pytest_cache", ".mypy_cache"))
    result = subprocess.run(
        [sys.executable, "-m", "build", "--sdist", "--wheel", "--outdir", str(out), str(src)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    wheels = glob.glob(str(out / "*.whl"))
    sdists = glob.glob(str(out / "*.tar.gz"))
    assert len(wheels) == 1 and len(sdists) == 1, os.listdir(out)
    return {"wheel": Path(wheels[0]), "sdist": Path(sdists[0])}


def test_artifact_names(dist: Dict[str, Path]) -> None:
    from aos import __version__

    assert dist["wheel"].name == f"aos_sdk-{__version__}-py3-none-any.whl"
    assert dist["sdist"].name == f"aos_sdk-{__version__}.tar.gz"


def test_wheel_contents_and_metadata(dist: Dict[str, Path]) -> None:
    with zipfile.ZipFile(dist["wheel"]) as z:
        names = z.namelist()
        meta_name = next(n for n in names if n.endswith(".dist-info/METADATA"))
        meta = email.message_from_string(z.read(meta_name).decode("utf-8"))
    for module in ["__init__.py", "py.typed", "models.py", "client.py", "async_client.py", "trace.py", "plan.py",
                   "errors.py", "_ops.py", "_http.py", "_version.py"]:
        assert f"aos/{module}" in names, module
    assert not [n for n in names if n.startswith("tests/")]
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    assert meta["Name"] == "aos-sdk"
    assert meta["Summary"] and "AOS" in meta["Summary"]
    assert meta["License-Expression"] == "Apache-2.0"
    assert meta["Requires-Python"] == ">=3.9"
    classifiers: List[str] = meta.get_all("Classifier") or []
    assert "Typing :: Typed" in classifiers
    assert "Programming Language :: Python :: 3.9" in classifiers
    requires = meta.get_all("Requires-Dist") or []
    assert [r.split(">")[0].split("<")[0].strip() for r in requires] == ["httpx"]
    urls = meta.get_all("Project-URL") or []
    assert [u.split(",")[0] for u in urls] == ["Documentation"]
    assert not any("example.com" in u or "TODO" in u or "github.com/your" in u for u in urls)
    description = meta.get_payload()
    assert isinstance(description, str) and "PlanBuilder" in description, "README is the long description"
    assert meta["Description-Content-Type"] == "text/markdown"


def test_sdist_contents(dist: Dict[str, Path]) -> None:
    with tarfile.open(dist["sdist"]) as t:
        names = [n.split("/", 1)[1] for n in t.getnames() if "/" in n]
    for required in ["pyproject.toml", "README.md", "LICENSE", "src/aos/py.typed", "src/aos/__init__.py", "PKG-INFO"]:
        assert required in names, required


def _venv(base: Path, python: str) -> Path:
    subprocess.run([python, "-m", "venv", str(base)], check=True, timeout=300)
    return base / "bin" / "python"


def _install(py: Path, wheel: Path, constraints: Optional[Path]) -> None:
    cmd = [str(py), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    if constraints is not None:
        cmd += ["-c", str(constraints)]
    result = subprocess.run(cmd + [str(wheel)], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


def _check_installed(py: Path, venv: Path) -> None:
    where = subprocess.run(
        [str(py), "-c", "import aos, pathlib; print(pathlib.Path(aos.__file__).resolve()); "
         "print((pathlib.Path(aos.__file__).parent / 'py.typed').exists())"],
        capture_output=True, text=True, cwd="/", timeout=60,
        env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
    )
    assert where.returncode == 0, where.stderr
    path, typed = where.stdout.split()
    assert path.startswith(str(venv.resolve())), f"aos imported from {path}, not from the fresh venv"
    assert typed == "True"


def test_wheel_installs_in_a_fresh_venv_and_runs_an_example(
    dist: Dict[str, Path], tmp_path: Path, aos_server: AosServer, standin: StandIn, unique: str
) -> None:
    venv = tmp_path / "venv"
    py = _venv(venv, sys.executable)
    _install(py, dist["wheel"], SDK_DIR / "requirements-dev.txt")
    _check_installed(py, venv)
    result = run_example(
        "btc_price_slack.py",
        aos_server,
        {"PRICE_URL": f"{standin.url}/price", "SLACK_WEBHOOK_URL": f"{standin.url}/slack/{unique}", "PYTHONPATH": ""},
        python=str(py),
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert standin.slack_messages(unique) == [{"text": "BTC price: 43210.5 USD"}]


def _python39() -> Optional[str]:
    """A working Python 3.9 interpreter (pyenv shims may exist without one), or None."""
    candidates = sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.9*/bin/python3.9")), reverse=True)
    found = shutil.which("python3.9")
    if found:
        candidates.append(found)
    for c in candidates:
        probe = subprocess.run([c, "-c", "import sys, venv; assert sys.version_info[:2] == (3, 9)"],
                               capture_output=True, timeout=60)
        if probe.returncode == 0:
            return c
    return None


def test_wheel_works_on_the_oldest_supported_python(
    dist: Dict[str, Path], tmp_path: Path, aos_server: AosServer
) -> None:
    py39 = _python39()
    if py39 is None:
        pytest.skip("no Python 3.9 interpreter on this machine")
    venv = tmp_path / "venv39"
    py = _venv(venv, py39)
    _install(py, dist["wheel"], None)
    _check_installed(py, venv)
    result = run_example("json_transform_demo.py", aos_server, {"PYTHONPATH": ""}, python=str(py), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Local verification: ok" in result.stdout
