"""A one-machine Ray cluster on 127.0.0.1 (`ray start --head --block`), for the
tests and the scaling measurement: what a team's head node runs, on loopback.

Ray's node address defaults to the machine's network address, and its
servers listen there. RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 is Ray's own switch
for one-machine use (its default on macOS and Windows): the node address is
127.0.0.1 and every Ray server listens on loopback only (checked by
tests/scale). Stopping ends exactly the processes this `ray start` started,
by their ids (never `ray stop`, which ends every Ray process of the machine).
"""
from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil

from .postgres import free_port

LOOPBACK_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0"}


class LocalRayCluster:
    def __init__(self, num_cpus: int, temp_dir: Path, log: Path, env: dict | None = None):
        self.num_cpus, self.temp_dir, self.log = num_cpus, Path(temp_dir), Path(log)
        self.port = free_port()
        # Token authentication (Ray's default) with a token of this cluster's
        # own, not ~/.ray/auth_token: drivers get it through `driver_env`.
        self.temp_dir.mkdir(parents=True, exist_ok=True)
        token = self.temp_dir / "auth_token"
        token.write_text(secrets.token_hex(32))
        token.chmod(0o600)
        self.driver_env = {**LOOPBACK_ENV, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(token),
                           "RAY_ADDRESS": self.address}
        self.env = {**os.environ, **self.driver_env, **(env or {})}
        self.env.pop("RAY_ADDRESS")
        self.proc: subprocess.Popen | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 120) -> "LocalRayCluster":
        ray = Path(sys.executable).with_name("ray")
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [str(ray), "start", "--head", "--block", "--node-ip-address", "127.0.0.1",
                 "--port", str(self.port), "--num-cpus", str(self.num_cpus), "--num-gpus", "0",
                 "--include-dashboard", "false", "--disable-usage-stats",
                 "--temp-dir", str(self.temp_dir)],
                stdout=log, stderr=subprocess.STDOUT, env=self.env, start_new_session=True)
        deadline = time.monotonic() + timeout_s
        while "Ray runtime started" not in self.log.read_text(errors="replace"):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"ray start failed:\n{self.log.read_text(errors='replace')[-3000:]}")
            time.sleep(0.5)
        return self

    def processes(self) -> list[psutil.Process]:
        """This cluster's processes (ray start and everything it started)."""
        if self.proc is None:
            return []
        try:
            root = psutil.Process(self.proc.pid)
            return [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def workers_running(self, task_name: str) -> list[psutil.Process]:
        """Worker processes executing `task_name` now (Ray titles them ray::<task>)."""
        found = []
        for p in self.processes():
            try:
                if p.name().startswith(f"ray::{task_name}") or \
                        " ".join(p.cmdline()).startswith(f"ray::{task_name}"):
                    found.append(p)
            except psutil.NoSuchProcess:
                continue
        return found

    def stop(self, timeout_s: float = 30) -> None:
        if self.proc is None:
            return
        family = self.processes()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)   # --block: ray start takes its processes down
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                pass
        for p in family:
            try:
                p.kill()
            except psutil.NoSuchProcess:
                pass
        psutil.wait_procs(family, timeout=timeout_s)
        if self.proc.poll() is None:
            self.proc.wait()

    def __enter__(self) -> "LocalRayCluster":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
