"""What several test modules share: the repository paths, the environment a CLI subprocess runs with, a free
loopback port, a real `mlflow server` (SQLite store, proxied artifacts; it can be killed and started again on the
same port and store, as a tracking server that crashed and came back), and a flaky OpenAI-compatible judge."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
CRITERIA = ("relevance", "grammar", "structure", "style")

# The folder every search of a test session builds its corpus in (tests/conftest.py creates it). A corpus is
# content-addressed (corpus/pipeline.py names it by a hash of its inputs) and reused when complete, so searches
# with the same corpus settings build it once: a tiny corpus build through Ray Data took about 25 s of each
# 50-170 s search on 2 cores. Tests that break or inspect the corpus keep a folder of their own.
SHARED_CORPUS_ENV = "LORAPARETO_TESTS_CORPUS_DIR"

QUIET_ENV = {
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",  # litellm's cost-map fetch at import deadlocks the server
    "MLFLOW_DISABLE_TELEMETRY": "true",
}


def subprocess_env(**extra: str) -> dict[str, str]:
    """The environment a CLI under test runs with: this repository importable, no tracking URI inherited."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), **extra}
    env.pop("MLFLOW_TRACKING_URI", None)
    return env


def shared_corpus() -> list[str]:
    """`--set paths.data_dir=<this session's corpus folder>`: the corpus built by an earlier search is reused."""
    return ["--set", f"paths.data_dir={os.environ[SHARED_CORPUS_ENV]}"]


def run_search(workdir: Path, *args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    """`python -m search.run ARGS` in `workdir`, as a user runs it, on the session's corpus folder unless ARGS
    name one; fails the test unless it exits 0."""
    if not any(arg.startswith("paths.data_dir=") for arg in args):
        args = (*args, *shared_corpus())
    proc = subprocess.run(
        [sys.executable, "-m", "search.run", *args],
        cwd=workdir, env=subprocess_env(), capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class MlflowServer:
    def __init__(self, root: Path):
        self.root = Path(root)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = self.root / "server.log"
        self.artifacts = self.root / "artifacts"
        self.process: subprocess.Popen | None = None

    def start(self) -> MlflowServer:
        command = [
            str(Path(sys.executable).parent / "mlflow"), "server",
            "--host", "127.0.0.1", "--port", str(self.port), "--workers", "1",
            "--backend-store-uri", f"sqlite:///{self.root / 'mlflow.db'}",
            "--serve-artifacts", "--artifacts-destination", str(self.artifacts),
        ]  # fmt: skip
        with self.log.open("a") as out:
            self.process = subprocess.Popen(
                command, env={**os.environ, **QUIET_ENV}, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        return self

    def wait_healthy(self, timeout_s: float = 180) -> None:
        """The server answers /health about 17 s after it starts on a 2-core machine (MLflow 3.17)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"mlflow server exited: {self.log.read_text()[-3000:]}"
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.5)
        raise AssertionError(f"{self.url} did not answer /health in {timeout_s} s: {self.log.read_text()[-3000:]}")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """The whole process group (gunicorn/uvicorn workers too); SIGKILL is a crash."""
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, sig)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


class FlakyJudgeServer:
    """An OpenAI-compatible chat endpoint standing in for a remote judge provider.

    Each distinct prompt gets a behaviour from a hash of its text: garbage on every attempt (so the item ends
    as NaN), or 429 / 500 / an answer slower than the client's timeout on its first attempt and a valid
    rubric reply after. Records every request's status and Authorization header.
    """

    GARBAGE, RATE_LIMIT, SERVER_ERROR, SLOW, OK = range(5)

    def __init__(self, slow_seconds: float = 3.0, modes: tuple[int, ...] = (0, 1, 2, 3, 4, 4)):
        self.slow_seconds = slow_seconds
        self.modes = modes
        self.attempts: dict[str, int] = {}
        self.log: list[tuple[int, int]] = []  # (mode, HTTP status)
        self.authorization: set[str] = set()
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.authorization.add(self.headers.get("Authorization", ""))
                status, reply = server.answer(body)
                payload = json.dumps(reply).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up on a slow answer: that is the point

            def log_message(self, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def answer(self, body: dict) -> tuple[int, dict]:
        prompt = body["messages"][1]["content"] if len(body["messages"]) > 1 else body["messages"][0]["content"]
        if "Reply with the word OK" in prompt:
            return 200, self._completion(body, "OK")
        mode = self.modes[zlib.crc32(prompt.encode()) % len(self.modes)]
        with self.lock:
            attempt = self.attempts.get(prompt, 0)
            self.attempts[prompt] = attempt + 1
        status, reply = 200, None
        if mode == self.GARBAGE:
            reply = self._completion(body, "Looks fine to me, maybe a four?")
        elif attempt == 0 and mode == self.RATE_LIMIT:
            status, reply = 429, {"error": {"message": "Rate limit reached", "type": "rate_limit_error"}}
        elif attempt == 0 and mode == self.SERVER_ERROR:
            status, reply = 500, {"error": {"message": "upstream exploded", "type": "server_error"}}
        elif attempt == 0 and mode == self.SLOW:
            time.sleep(self.slow_seconds)
        if reply is None:
            scores = {c: 1 + (zlib.crc32((prompt + c).encode()) % 5) for c in CRITERIA}
            reply = self._completion(body, json.dumps({"scores": scores, "rationale": "scored by the stand-in"}))
        with self.lock:
            self.log.append((mode, status))
        return status, reply

    @staticmethod
    def _completion(body: dict, content: str) -> dict:
        return {
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", "fake-judge"),
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
        }

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
