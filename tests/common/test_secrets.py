"""No secret leaves the process: with canary API keys in the environment, a real search (whose judge really
uses the key, against a stand-in provider that even echoes it back in an error), a report and the judge CLI
leave no trace of any canary in any file they write (MLflow's database read as bytes, artifacts, Tune's
results, Ray's session logs, reports, caches, data) or in their stdout and stderr."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from tests.helpers import ROOT, FlakyJudgeServer

MARKER = "CANARY7f3a9c"  # in every canary; no real key contains it
CANARIES = {
    "OPENAI_API_KEY": f"sk-{MARKER}-0123456789abcdef",
    "ANTHROPIC_API_KEY": f"sk-ant-{MARKER}-fedcba9876543210",
    "HF_TOKEN": f"hf_{MARKER}abcdefghijklmnop",
    "LORAPARETO_DB_PASSWORD": f"pw-{MARKER}-secret",
}
SEARCH = [
    "--preset", "tiny",
    "--set", "experiment.name=canary",
    "--set", "search.num_samples=2",
    "--set", "search.seed_grid=none",
    "--set", "search.space.epochs.choices=[1]",
    "--set", "corpus.max_scenarios=40",
    "--set", "corpus.max_judge_items=6",
    "--set", "judging.panel=[local/reference-judge, openai/fake-judge]",
]  # fmt: skip


class EchoingJudgeServer(FlakyJudgeServer):
    """Scores most prompts; for about one in four, rejects the key and echoes it, as OpenAI's 401 does."""

    def answer(self, body: dict) -> tuple[int, dict]:
        prompt = body["messages"][-1]["content"]
        if "Reply with the word OK" not in prompt and zlib.crc32(prompt.encode()) % 4 == 0:
            key = next(iter(self.authorization)).removeprefix("Bearer ")
            message = f"Incorrect API key provided: {key}. You can find your API key at https://example.invalid."
            return 401, {"error": {"message": message, "type": "invalid_request_error", "code": "invalid_api_key"}}
        return super().answer(body)


def _files_with_canary(folder: Path) -> list[str]:
    hits = []
    for path in folder.rglob("*"):
        if path.is_file() and not path.is_symlink():
            try:
                data = path.read_bytes()
            except OSError:
                continue
            if MARKER.encode() in data:
                hits.append(str(path.relative_to(folder)))
    return hits


@pytest.fixture(scope="module")
def canary_run(tmp_path_factory):
    """A search, its report and the judge CLI, all with canary keys in the environment."""
    workdir = tmp_path_factory.mktemp("secrets")
    # Ray's session logs too: a short path, because Ray's socket paths must fit in 107 bytes.
    ray_tmp = Path(tempfile.mkdtemp(prefix="rs", dir="/tmp"))
    server = EchoingJudgeServer(modes=(FlakyJudgeServer.OK,))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "RAY_TMPDIR": str(ray_tmp), **CANARIES}
    env.pop("MLFLOW_TRACKING_URI", None)
    outputs = []
    try:
        commands = [
            ["search.run", *SEARCH, "--set", f"judging.api_base={server.url}"],
            ["reports.build", "canary", "--tracking-uri", f"sqlite:///{workdir / 'mlflow.db'}"],
        ]
        answers = workdir / "answers.csv"
        answers.write_text(
            "question,reference,answer\n"
            + "".join(f'"My eSIM fails, case {i}?","Re-scan the QR code.","Scan the code {i}."\n' for i in range(8))
        )
        commands.append(
            ["judging.score", "--input", str(answers), "--output", str(workdir / "judged.csv"),
             "--panel", "openai/fake-judge", "local/reference-judge", "--api-base", server.url]
        )  # fmt: skip
        for command in commands:
            proc = subprocess.run(
                [sys.executable, "-m", *command], cwd=workdir, env=env, capture_output=True, text=True, timeout=900
            )
            outputs.append(proc)
            assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        yield workdir, ray_tmp, outputs, server
    finally:
        server.close()
        shutil.rmtree(ray_tmp, ignore_errors=True)


@pytest.mark.e2e
def test_the_key_was_really_used(canary_run):
    workdir, _, _, server = canary_run
    assert server.authorization == {f"Bearer {CANARIES['OPENAI_API_KEY']}"}
    client = MlflowClient(f"sqlite:///{workdir / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("canary")
    children = client.search_runs([experiment.experiment_id], filter_string="tags.`lorapareto.role` = 'trial'")
    assert len(children) == 2
    # The 401 echoes were recorded as judge failures with a (redacted) reason, so the echo reached the code.
    assert sum(c.data.metrics["judge_failures"] for c in children) >= 1
    judged = (workdir / "judged.csv").read_text()
    assert "AuthenticationError" in judged and "[redacted]" in judged


@pytest.mark.e2e
def test_no_file_written_holds_a_canary(canary_run):
    workdir, ray_tmp, _, _ = canary_run
    written = [p for p in workdir.rglob("*") if p.is_file()]
    assert any(p.name == "mlflow.db" for p in written)
    assert any("ray_results" in p.parts for p in written)
    assert any(p.name == "report.html" for p in written)
    assert any(".cache" in p.parts for p in written)
    assert _files_with_canary(workdir) == []
    assert any(ray_tmp.rglob("*.log")) or any(ray_tmp.rglob("*.out")), "Ray's logs were not where expected"
    assert _files_with_canary(ray_tmp) == []


@pytest.mark.e2e
def test_no_output_stream_holds_a_canary(canary_run):
    _, _, outputs, _ = canary_run
    for proc in outputs:
        assert MARKER not in proc.stdout and MARKER not in proc.stderr


@pytest.mark.e2e
def test_no_mlflow_param_tag_or_artifact_holds_a_canary(canary_run):
    workdir, _, _, _ = canary_run
    client = MlflowClient(f"sqlite:///{workdir / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("canary")
    runs = client.search_runs([experiment.experiment_id])
    assert len(runs) == 3
    for run in runs:
        assert MARKER not in repr(run.data.params) and MARKER not in repr(run.data.tags)
        local = Path(client.download_artifacts(run.info.run_id, "", str(workdir / "dl" / run.info.run_id)))
        assert any(local.rglob("*")), f"run {run.info.run_id} has no artifacts"
        assert _files_with_canary(local) == []
