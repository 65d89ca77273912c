"""scripts/check_imports.py: the repository has no import cycle, and a cycle between files or packages is found."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.helpers import ROOT

SCRIPT = ROOT / "scripts" / "check_imports.py"


def _package(root: Path, name: str, modules: dict[str, str]) -> None:
    (root / name).mkdir()
    (root / name / "__init__.py").write_text("")
    for module, text in modules.items():
        (root / name / f"{module}.py").write_text(text)


def _check(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), str(root)], capture_output=True, text=True, timeout=60)


def test_a_cycle_between_files_is_reported(tmp_path):
    _package(tmp_path, "alpha", {"a": "from alpha.b import x\n", "b": "def f():\n    from alpha import a\n"})
    proc = _check(tmp_path)
    assert proc.returncode == 1
    assert "import cycle between files:" in proc.stdout and "alpha.a" in proc.stdout and "alpha.b" in proc.stdout


def test_a_cycle_between_packages_is_reported_even_without_a_file_cycle(tmp_path):
    _package(tmp_path, "low", {"settings": "X = 1\n", "cli": "import high.config\n"})
    _package(tmp_path, "high", {"config": "from low.settings import X\n"})
    proc = _check(tmp_path)
    assert proc.returncode == 1
    assert "import cycle between files" not in proc.stdout
    assert "import cycle between packages:" in proc.stdout


def test_an_ordered_tree_passes_and_prints_its_order(tmp_path):
    _package(tmp_path, "low", {"settings": "X = 1\n"})
    _package(tmp_path, "high", {"config": "from low.settings import X\nfrom . import config as again\n"})
    proc = _check(tmp_path)
    assert proc.returncode == 0, proc.stdout
    assert "low -> high" in proc.stdout
