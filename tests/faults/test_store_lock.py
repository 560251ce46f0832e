"""Issue 21, item 5: a store lock held by another process is waited for
with a message naming the holder, never silently."""
from __future__ import annotations

import subprocess
import sys
import threading
import time

from maao.claims import lock_dir

HOLD = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o644)
fcntl.flock(fd, fcntl.LOCK_EX)
print("held", flush=True)
time.sleep(120)
"""
OPEN_STORE = "import sys; from maao.tracking import Tracker; Tracker(sys.argv[1]); print('opened')"


def test_a_held_store_lock_names_its_holder_and_is_waited_for(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    lock = lock_dir(uri) / "store.lock"
    lock.parent.mkdir(parents=True)
    script = tmp_path / "hold_the_store_lock.py"
    script.write_text(HOLD)
    holder = subprocess.Popen([sys.executable, str(script), str(lock)], stdout=subprocess.PIPE, text=True)
    waiter = None
    try:
        assert holder.stdout.readline().strip() == "held"
        waiter = subprocess.Popen([sys.executable, "-c", OPEN_STORE, uri], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
        lines = []
        reader = threading.Thread(target=lambda: lines.extend(iter(waiter.stderr.readline, "")), daemon=True)
        reader.start()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not any("waiting for the store lock" in s for s in lines):
            time.sleep(0.2)
        said = [s for s in lines if "waiting for the store lock" in s]
        assert said, f"no message while the lock was held: {lines}"
        assert f"held by pid {holder.pid} (command {sys.executable} {script}" in said[0], said[0]
        assert waiter.poll() is None, "it should keep waiting while the lock is held"
        holder.kill()
        holder.wait()
        out, _ = waiter.communicate(timeout=120)
        reader.join(timeout=5)
        assert waiter.returncode == 0 and "opened" in out, lines
        assert len(said) == 1 and not any("Traceback" in s for s in lines), lines
    finally:
        for proc in (holder, waiter):
            if proc is not None and proc.poll() is None:
                proc.kill()
