"""Ray and Zeus import together (zeus 0.16's amdsmi dependency breaks `import ray` where AMD's library is absent;
scripts/install.sh removes it there), and no known-compromised release is installed."""

from __future__ import annotations

import subprocess
import sys

from tests.helpers import ROOT


def test_ray_and_zeus_import_together():
    code = "import ray, zeus.monitor, ray.tune; from ray.tune.search.optuna import OptunaSearch; print(ray.__version__)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().startswith("2.60")


def test_no_compromised_release_installed():
    sys.path.insert(0, str(ROOT / "scripts"))
    from check_supply_chain import LIST, compromised_installed

    assert "litellm==1.107.0" in LIST.read_text()
    assert compromised_installed() == []


def test_supply_chain_check_flags_an_installed_listed_version(tmp_path):
    sys.path.insert(0, str(ROOT / "scripts"))
    from importlib import metadata

    from check_supply_chain import compromised_installed

    listed = tmp_path / "list.txt"
    listed.write_text(f"# a test list\npydantic=={metadata.version('pydantic')}\nnot-a-package==1.0\n")
    assert compromised_installed(listed) == [f"pydantic=={metadata.version('pydantic')}"]


def test_dependency_ranges_exclude_compromised_litellm():
    text = (ROOT / "pyproject.toml").read_text()
    constraints = (ROOT / "constraints.txt").read_text()
    assert "litellm>=1.106.2,<1.107" in text
    assert "litellm!=1.107.*" in constraints and "torch==2.13.0" in constraints
