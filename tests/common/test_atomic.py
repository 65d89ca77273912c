"""Every file the project writes survives a SIGKILL at any instant: a reader finds the old version or the new
one, never a torn file and never nothing. Writers are killed in a child process, both at random moments and
deterministically at each step of common/atomic.py (before and after every rename and fsync)."""

from __future__ import annotations

import ast
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from common import atomic
from tests.helpers import ROOT

SIZE = 4_000_000  # large enough that a write takes a noticeable time, so random kills land mid-write

# Run in the child before the writer: SIGKILL this process just before (or after) the n-th call of
# `module.attr`, i.e. at one exact step of the write.
KILL_HOOK = """
import importlib, os, signal
def kill_at(module, attr, n, after=False):
    owner = importlib.import_module(module)
    real = getattr(owner, attr)
    calls = [0]
    def wrapped(*args, **kwargs):
        calls[0] += 1
        if calls[0] == n and not after:
            os.kill(os.getpid(), signal.SIGKILL)
        out = real(*args, **kwargs)
        if calls[0] == n and after:
            os.kill(os.getpid(), signal.SIGKILL)
        return out
    setattr(owner, attr, wrapped)
"""


def _child(code: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-c", KILL_HOOK + textwrap.dedent(code)], env=env)


def _run_child(code: str) -> int:
    proc = _child(code)
    return proc.wait(timeout=60)


def _versions(size: int) -> dict[bytes, str]:
    return {bytes([ord("a")]) * size: "old", bytes([ord("b")]) * size: "new"}


def _stray_temp_files(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir() if p.name.startswith(".") and p.name.endswith(".tmp")]


# --- a single file -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("attr", "n", "after", "expected"),
    [
        ("fsync", 1, False, "old"),  # data written to the temporary file, not yet synced or renamed
        ("replace", 1, False, "old"),  # synced, about to be renamed
        ("replace", 1, True, "new"),  # renamed, cleanup not yet done
    ],
)
def test_file_write_killed_at_each_step_leaves_old_or_new(tmp_path, attr, n, after, expected):
    target = tmp_path / "manifest.json"
    versions = _versions(1000)
    old = next(k for k, v in versions.items() if v == "old")
    atomic.write_bytes(target, old)
    rc = _run_child(
        f"""
        kill_at("os", {attr!r}, {n}, after={after})
        from pathlib import Path
        from common.atomic import write_bytes
        write_bytes(Path({str(target)!r}), b"b" * 1000)
        """
    )
    assert rc == -signal.SIGKILL
    assert versions.get(target.read_bytes()) == expected


def test_file_writer_killed_at_random_moments_never_leaves_a_torn_file(tmp_path):
    target = tmp_path / "trials.csv"
    versions = _versions(SIZE)
    atomic.write_bytes(target, next(iter(versions)))
    rng = random.Random(0)
    seen = set()
    for _ in range(6):
        proc = _child(
            f"""
            from pathlib import Path
            from common.atomic import write_bytes
            target = Path({str(target)!r})
            while True:
                for byte in (b"a", b"b"):
                    write_bytes(target, byte * {SIZE})
            """
        )
        time.sleep(rng.uniform(0.3, 1.5))
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL
        found = versions.get(target.read_bytes())
        assert found is not None, "torn file after a kill"
        seen.add(found)
    # Stray temporary files may remain after a kill; they are hidden and never read as the file itself.
    assert all(p.name.startswith(".trials.csv.") for p in _stray_temp_files(tmp_path))


def test_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "cache.json"
    atomic.write_json(target, {"version": 1})

    class Unserialisable:
        def __str__(self) -> str:
            raise RuntimeError("cannot render")

    with pytest.raises(RuntimeError):
        atomic.write_json(target, {"version": Unserialisable()})
    assert target.read_text() == '{\n  "version": 1\n}\n'
    assert _stray_temp_files(tmp_path) == []


# --- a directory filled, then renamed into place (corpus, base model, report) ----------------------------

DIR_WRITER = """
from pathlib import Path
from common.atomic import staged_path
with staged_path(Path({target!r})) as staging:
    staging.mkdir()
    for name in ("train.parquet", "manifest.json", "report.html"):
        (staging / name).write_text("new" * 1000)
"""


def _dir_version(folder: Path) -> str | None:
    """'old' or 'new' if the directory holds exactly one complete version of every file, else None."""
    if not folder.is_dir():
        return None
    texts = {p.name: p.read_text() for p in folder.iterdir()}
    if set(texts) != {"train.parquet", "manifest.json", "report.html"}:
        return None
    for label in ("old", "new"):
        if all(t == label * 1000 for t in texts.values()):
            return label
    return None


def _write_old_dir(target: Path) -> None:
    with atomic.staged_path(target) as staging:
        staging.mkdir()
        for name in ("train.parquet", "manifest.json", "report.html"):
            (staging / name).write_text("old" * 1000)


def _rename_steps() -> list[tuple[str, str]]:
    """Every rename primitive staged_path may use, as (module, attribute)."""
    steps = [("os", "replace")]
    if hasattr(atomic, "_exchange"):
        steps.append(("common.atomic", "_exchange"))
    return steps


@pytest.mark.parametrize("after", [False, True], ids=["before", "after"])
@pytest.mark.parametrize("n", [1, 2])
@pytest.mark.parametrize("step", _rename_steps(), ids=lambda s: s[1])
def test_directory_swap_killed_at_each_rename_leaves_old_or_new_tree(tmp_path, step, n, after):
    target = tmp_path / "report"
    _write_old_dir(target)
    rc = _run_child(f"kill_at({step[0]!r}, {step[1]!r}, {n}, after={after})\n" + DIR_WRITER.format(target=str(target)))
    version = _dir_version(target)
    assert version in ("old", "new"), f"killed {'after' if after else 'before'} {step[1]} #{n}: {version}"
    if rc == 0:  # the step was never reached n times: the write completed
        assert version == "new"
    else:
        assert rc == -signal.SIGKILL


def test_new_directory_killed_before_rename_leaves_nothing_half_built(tmp_path):
    target = tmp_path / "corpus-abc123"
    rc = _run_child("kill_at('os', 'replace', 1)\n" + DIR_WRITER.format(target=str(target)))
    assert rc == -signal.SIGKILL
    assert not target.exists(), "a half-built directory must not appear under the final name"
    _run_child(DIR_WRITER.format(target=str(target)))
    assert _dir_version(target) == "new"


def test_failed_directory_fill_keeps_the_old_tree(tmp_path):
    target = tmp_path / "report"
    _write_old_dir(target)
    with pytest.raises(RuntimeError), atomic.staged_path(target) as staging:
        staging.mkdir()
        (staging / "report.html").write_text("new")
        raise RuntimeError("plotting failed")
    assert _dir_version(target) == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["report"]


# --- every writer in the project goes through common/atomic.py ------------------------------------------

PACKAGES = (
    "common", "front", "corpus", "judging", "trainables", "experiment", "reports", "search", "serve", "benchmarks",
)  # fmt: skip
# Calls that write to a path directly. Allowed only into a directory that is itself staged (or a temporary
# directory handed to Ray Tune, which persists checkpoints itself); each allowance names its function.
RAW_WRITERS = {
    "write_text",
    "write_bytes",
    "to_csv",
    "to_parquet",
    "to_json",
    "savefig",
    "save_pretrained",
    "write_parquet",
    "dump",
    "save",
    "open",
}
STAGED_CALLERS = {
    ("corpus/history.py", "to_parquet"),  # inside atomic.staged_path(out)
    ("corpus/pipeline.py", "write_parquet"),  # Ray Data writes into the staged corpus directory
    ("trainables/tiny_qwen2.py", "save_pretrained"),  # inside staged_path(target)
    ("trainables/train.py", "save_pretrained"),  # checkpoint into Tune's temporary directory
    ("trainables/train.py", "save"),  # torch.save into the same checkpoint directory
    ("reports/build.py", "write_text"),  # common.atomic.write_text into the staged report directory
    ("reports/build.py", "write_bytes"),  # common.atomic.write_bytes, same
    ("benchmarks/bench_corpus.py", "open"),  # append-only call counter shared by Ray workers (a log)
    ("benchmarks/bench_gpu.py", "save_pretrained"),  # model and adapters into the benchmark's own temp dir
    ("trainables/smollm2.py", "save_pretrained"),  # the converted model into a temporary sibling, renamed after
    ("corpus/pii_train.py", "dump"),  # json.dump of the training summary to standard output
    ("benchmarks/bench_pii.py", "to_csv"),  # the holdout as a CSV in the benchmark's own temp dir
    ("benchmarks/bench_serve.py", "save_pretrained"),  # random adapters into the benchmark's own temp dir
}


def _raw_writes(path: Path) -> list[tuple[str, int]]:
    tree = ast.parse(path.read_text())
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
        if name not in RAW_WRITERS:
            continue
        owner = func.value if isinstance(func, ast.Attribute) else None
        if isinstance(owner, ast.Name) and owner.id == "atomic":
            continue  # atomic.write_text(...) and friends
        if name == "open":
            mode = (
                node.args[1] if len(node.args) > 1 else next((k.value for k in node.keywords if k.arg == "mode"), None)
            )
            if not (isinstance(mode, ast.Constant) and set(str(mode.value)) & set("wax+")):
                continue
        if name in ("to_csv", "to_json", "savefig", "to_parquet") and (not node.args or _is_buffer(node.args[0])):
            continue  # rendered to a string or an in-memory buffer, then written atomically
        if name == "dump" and not (isinstance(owner, ast.Name) and owner.id in ("json", "yaml", "pickle")):
            continue
        if name == "save" and not (isinstance(owner, ast.Name) and owner.id == "torch"):
            continue
        found.append((name, node.lineno))
    return found


def _is_buffer(arg: ast.expr) -> bool:
    return isinstance(arg, ast.Name) and arg.id in ("buffer", "buf", "out_buffer")


def _imported_from_atomic(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    return {
        alias.asname or alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module == "common.atomic"
        for alias in node.names
    }


def test_every_project_writer_goes_through_common_atomic():
    offenders = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            if rel == "common/atomic.py":
                continue
            atomic_names = _imported_from_atomic(path)
            for name, line in _raw_writes(path):
                if name in atomic_names or (rel, name) in STAGED_CALLERS:
                    continue
                offenders.append(f"{rel}:{line}: {name}")
    assert offenders == [], "write through common/atomic.py (write_text/write_json/write_bytes/staged_path)"


def test_the_scan_finds_a_raw_write(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("from pathlib import Path\nPath('x').write_text('y')\nopen('z', 'w')\nopen('r')\n")
    assert [name for name, _ in _raw_writes(sample)] == ["write_text", "open"]
