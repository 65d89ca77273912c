"""A real `mlflow server` for tests: SQLite store, proxied artifacts, a free loopback port; it can be killed and
started again on the same port and store, as a tracking server that crashed and came back."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

QUIET_ENV = {
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",  # litellm's cost-map fetch deadlocks the server's import (NOTES.md)
    "MLFLOW_DISABLE_TELEMETRY": "true",
}


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
        """The server answers /health about 17 s after it starts on this machine (NOTES.md)."""
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
