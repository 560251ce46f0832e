"""`mlflow server` over PostgreSQL with proxied artifacts, as the tests start it.

The command is the one README gives a team (docs/scale.md):

    mlflow server --backend-store-uri postgresql://maao@127.0.0.1:5432/mlflow \\
        --artifacts-destination /srv/maao/mlartifacts --serve-artifacts \\
        --host 127.0.0.1 --port 5000 --workers 2

Clients then need only `MLFLOW_TRACKING_URI=http://127.0.0.1:5000`: run
records go to PostgreSQL, artifacts are uploaded through the server
(`mlflow-artifacts:/` locations), so no client needs the database password
or write access to the artifact folder.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from .postgres import free_port


def command(backend_uri: str, artifacts: Path, host: str, port: int, workers: int = 1) -> list[str]:
    mlflow = Path(sys.executable).with_name("mlflow")
    return [str(mlflow), "server", "--backend-store-uri", backend_uri,
            "--artifacts-destination", str(artifacts), "--serve-artifacts",
            "--host", host, "--port", str(port), "--workers", str(workers)]


class MlflowServer:
    """`mlflow server` as a child process; `start()` waits for /health."""

    def __init__(self, backend_uri: str, artifacts: Path, log: Path, host: str = "127.0.0.1",
                 port: int | None = None, workers: int = 1):
        self.backend_uri, self.artifacts, self.log = backend_uri, Path(artifacts), Path(log)
        self.host, self.port, self.workers = host, port or free_port(host), workers
        self.proc: subprocess.Popen | None = None

    @property
    def uri(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout_s: float = 120) -> "MlflowServer":
        self.artifacts.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as log:
            # Its own session: stop() ends the server and the workers it forks.
            self.proc = subprocess.Popen(command(self.backend_uri, self.artifacts, self.host, self.port,
                                                 self.workers),
                                         stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                         env={**os.environ, "MLFLOW_TRACKING_URI": ""})
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                with urllib.request.urlopen(f"{self.uri}/health", timeout=2) as reply:
                    if reply.status == 200:
                        return self
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"mlflow server did not start on {self.uri}:\n"
                                   f"{self.log.read_text(errors='replace')[-3000:]}")
            time.sleep(0.5)

    def stop(self, timeout_s: float = 30) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        import psutil

        family = [self.proc.pid] + [c.pid for c in psutil.Process(self.proc.pid).children(recursive=True)]
        self.proc.terminate()
        try:
            self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            pass
        for pid in family:   # a worker the server did not take down with it
            try:
                psutil.Process(pid).kill()
            except psutil.NoSuchProcess:
                pass
        self.proc.wait()

    def __enter__(self) -> "MlflowServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
