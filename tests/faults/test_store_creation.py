"""Issue 21, item 2: no interruption of a new SQLite store's creation can
leave it broken. The process is killed (SIGKILL) at a chosen statement of
MLflow's schema migrations, not at a lucky moment, and the disk fills during
them (a small tmpfs in a private mount namespace); the next command must
find a store it can use."""
from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

# SIGKILL at the N-th writing statement (CREATE, ALTER, DROP, INSERT, UPDATE)
# of whatever migrates the store: ~440 of them for a new MLflow 3 store.
KILL_AT = """
import os, signal, sys
import sqlalchemy
from sqlalchemy import event

target, seen = int(sys.argv[1]), [0]

@event.listens_for(sqlalchemy.engine.Engine, "before_cursor_execute")
def kill_at(conn, cursor, statement, *args):
    if statement.lstrip().split(None, 1)[0].upper() in ("CREATE", "ALTER", "DROP", "INSERT", "UPDATE"):
        seen[0] += 1
        if seen[0] == target:
            os.kill(os.getpid(), signal.SIGKILL)

from maao.tracking import Tracker
Tracker(sys.argv[2])
print("created without being killed")
"""
# The next command: open the store, train-free, as a sweep would use it.
USE = """
import sys
from maao.run_record import RunRecord
from maao.tracking import Tracker
t = Tracker(sys.argv[1])
claim = t.claim("maao-x-mini", "h" * 20, "cell", {"config_hash": "h" * 20, "method": "m"})
t.finish(claim.run_id, RunRecord.build("cell", {"a": 1}, [], {"test_accuracy": 50.0}, {}))
print("usable", t.client.get_run(claim.run_id).info.status)
"""


def python(*argv, cwd) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *argv], capture_output=True, text=True, timeout=300, cwd=cwd)


@pytest.mark.parametrize("statement", [40, 300])
def test_a_store_killed_during_its_creation_is_usable_next_time(tmp_path, statement):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    killed = python("-c", KILL_AT, str(statement), uri, cwd=tmp_path)
    assert killed.returncode == -signal.SIGKILL, (killed.returncode, killed.stdout, killed.stderr[-2000:])
    used = python("-c", USE, uri, cwd=tmp_path)
    assert used.returncode == 0 and "usable FINISHED" in used.stdout, used.stderr[-3000:]
    assert not list(tmp_path.glob(".mlflow.db.*")), "a killed creation's temporary file was left behind"


SCRIPT = """
set -u
mount -t tmpfs -o size=400k tmpfs "$STORE"
"$PY" -m maao.cli sweep "$SPEC" --tracking-uri "sqlite:///$STORE/mlflow.db" > "$OUT/full.out" 2> "$OUT/full.err"
echo $? > "$OUT/full.rc"
ls -a "$STORE" > "$OUT/full.ls"
mount -o remount,size=64m "$STORE"
"$PY" -c "$USE" "sqlite:///$STORE/mlflow.db" > "$OUT/after.out" 2> "$OUT/after.err"
echo $? > "$OUT/after.rc"
"""
SPEC = """\
name: tiny
version: 1
table: tiny
methods: [single_start]
scales:
  mini: {backbone: minilm, recipe: coop-mini, datasets: [intent_recognition], shots: [1], seeds: [1],
         budget: {rounds: 1, steps_per_round: 1, final_steps: 1}}
"""


def private_mounts_work() -> bool:
    if not shutil.which("unshare"):
        return False
    probe = subprocess.run(["unshare", "--user", "--map-root-user", "--mount", "sh", "-c",
                            "mount -t tmpfs -o size=1m tmpfs /mnt"], capture_output=True)
    return probe.returncode == 0


@pytest.mark.skipif(not private_mounts_work(), reason="needs `unshare --user --mount` to mount a small tmpfs")
def test_a_full_disk_during_store_creation_is_one_line_and_leaves_no_broken_store(tmp_path):
    store, out = tmp_path / "store", tmp_path / "out"
    store.mkdir()
    out.mkdir()
    (tmp_path / "tiny.yaml").write_text(SPEC)
    env = {"STORE": str(store), "OUT": str(out), "PY": sys.executable, "SPEC": str(tmp_path / "tiny.yaml"),
           "USE": USE, "MAAO_CACHE_DIR": str(tmp_path / "cache"), "MAAO_THREADS": "1",
           "PATH": "/usr/bin:/bin", "PYTHONPATH": ":".join(sys.path), "HOME": str(tmp_path)}
    done = subprocess.run(["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", textwrap.dedent(SCRIPT)],
                          env=env, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    err = (out / "full.err").read_text()
    lines = err.strip().splitlines()
    assert (out / "full.rc").read_text().strip() == "2", err[-3000:]
    assert len(lines) == 1 and "Traceback" not in err, err[-3000:]
    assert "disk full" in lines[0] and "free space" in lines[0], lines[0]
    assert "mlflow.db\n" not in (out / "full.ls").read_text(), "a half-made store was left in place"
    assert (out / "after.rc").read_text().strip() == "0", (out / "after.err").read_text()[-3000:]
    assert "usable FINISHED" in (out / "after.out").read_text()


def test_a_store_half_made_elsewhere_is_one_line_saying_how_to_recover(tmp_path):
    """A file MLflow itself left half-made (created in place, killed among
    its migrations: what maao did before) is reported, not repaired."""
    db = tmp_path / "mlflow.db"
    in_place = KILL_AT.replace("from maao.tracking import Tracker\nTracker(sys.argv[2])",
                               "from mlflow.tracking import MlflowClient\n"
                               "MlflowClient(sys.argv[2]).search_experiments()")
    killed = python("-c", in_place, "120", f"sqlite:///{db}", cwd=tmp_path)
    assert killed.returncode == -signal.SIGKILL and db.exists(), killed.stderr[-2000:]
    (tmp_path / "tiny.yaml").write_text(SPEC)
    done = python("-m", "maao.cli", "sweep", str(tmp_path / "tiny.yaml"), "--tracking-uri", f"sqlite:///{db}",
                  cwd=tmp_path)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1 and "Traceback" not in done.stderr, done.stderr[-3000:]
    assert "half-made" in lines[0] and f"mv {db} {db}.broken" in lines[0], lines[0]
