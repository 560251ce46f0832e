"""Issue 12, items 1, 3 and 4, end to end: real `maao sweep` processes on a
tiny spec (MiniLM, 1 shot, a few steps) against the fake OpenAI server.

Each test disturbs a sweep (SIGTERM or SIGKILL in the middle of an LLM call,
two sweeps at once on a fresh store and one JSONL, a test-server run in the
same store) and asserts that nothing recorded is lost and that the final
numbers equal those of an undisturbed sweep.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from fake_openai_server import Fault, FakeOpenAIServer, wait_for

pytestmark = pytest.mark.slow

SPEC = """\
name: tiny
version: 1
table: tiny
methods: [single_start, combined]
method_settings:
  combined: {top_k: 3}
scales:
  mini:
    backbone: minilm
    recipe: coop-mini
    datasets: [intent_recognition]
    shots: [1]
    seeds: [1, 2]
    budget: {rounds: 2, steps_per_round: 2, final_steps: 2}
    llm: {model: fake-model, temperature: 0.7, max_tokens: 80, seed: 0, max_retries: 1, backoff_s: 0.1, timeout_s: 60}
"""
WORDS = ["photo", "picture", "image", "snapshot", "drawing", "sketch", "scan"]


def replies(salt: str):
    """A deterministic server: the reply depends only on the request (and `salt`)."""
    def respond(body):
        h = hashlib.sha256((salt + json.dumps(body["messages"], sort_keys=True)).encode()).digest()
        return "\n".join(f"{i + 1}. a {WORDS[h[i] % len(WORDS)]} of a {{}}." for i in range(3))
    return respond


class Env:
    def __init__(self, root: Path, server: FakeOpenAIServer):
        self.root, self.server = root, server
        self.spec = root / "tiny.yaml"
        self.spec.write_text(SPEC)

    def start(self, db: Path | None, *argv, mode="replay", responses: Path | None = None, command="sweep",
              extra_env=None, uri=None, verbose=True):
        cmd = [sys.executable, "-m", "maao.cli", command]
        cmd += [str(self.spec)] if command == "sweep" else ["--spec", str(self.spec)]
        cmd += [*argv, "--tracking-uri", uri or f"sqlite:///{db}", "--llm-mode", mode,
                "--responses", str(responses or self.root / "ref.jsonl"),
                "--llm-base-url", self.server.base_url] + (["-v"] if verbose else [])
        env = {**os.environ, "MAAO_CACHE_DIR": str(self.root / "cache"), "MAAO_THREADS": "1",
               "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", **(extra_env or {})}
        return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                cwd=self.root)

    def run(self, db, *argv, **kw):
        proc = self.start(db, *argv, **kw)
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, (proc.returncode, out[-2000:], err[-3000:])
        return out + err


def runs(db: Path) -> list:
    """The cell runs of the sweep (not the sweep's parent run, which has no cell)."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{db}")
    exp = client.get_experiment_by_name("maao-tiny-mini")
    found = client.search_runs([exp.experiment_id], max_results=1000) if exp else []
    return [r for r in found if r.data.tags.get("run_kind") != "sweep"]


def numbers(db: Path) -> dict:
    """(method, seed) -> test accuracy of the FINISHED runs; one run per cell."""
    finished = [r for r in runs(db) if r.info.status == "FINISHED"]
    cells = [(r.data.tags["method"], r.data.tags["seed"]) for r in finished]
    assert len(cells) == len(set(cells)), f"duplicate finished runs: {sorted(cells)}"
    return {c: r.data.metrics["test_accuracy"] for c, r in zip(cells, finished)}


def recorded(path: Path) -> dict:
    return {r["key"]: r["response"]["text"] for r in map(json.loads, path.read_text().splitlines())}


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    with FakeOpenAIServer(responder=replies("ref")) as server:
        e = Env(tmp_path_factory.mktemp("sweep-faults"), server)
        e.run(e.root / "ref.db", mode="record-missing")      # the undisturbed sweep
        e.reference = numbers(e.root / "ref.db")
        e.records = recorded(e.root / "ref.jsonl")
        assert len(e.reference) == 4 and len(e.records) == 4  # 2 combined runs x 2 rounds
        yield e


def _interrupt_mid_llm_call(env, tmp_path, kill):
    db, jsonl = tmp_path / "mlflow.db", tmp_path / "r.jsonl"
    n0 = len(env.server.chat_requests)
    env.server.script(Fault.hang(30))                  # the first LLM call hangs: the run is mid-way
    proc = env.start(db, mode="record-missing", responses=jsonl)
    assert wait_for(lambda: len(env.server.chat_requests) > n0, timeout=180), proc.communicate()
    proc.kill() if kill else proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    interrupted = [r for r in runs(db) if r.data.tags["method"] == "combined" and r.data.tags["seed"] == "1"]
    assert len(interrupted) == 1
    return db, jsonl, proc.returncode, err, interrupted[0].info.run_id


@pytest.mark.parametrize("kill", [False, True], ids=["SIGTERM", "SIGKILL"])
def test_interrupted_sweep_resumes_to_the_same_numbers(env, tmp_path, kill):
    from mlflow.tracking import MlflowClient

    db, jsonl, rc, err, old = _interrupt_mid_llm_call(env, tmp_path, kill)
    client = MlflowClient(f"sqlite:///{db}")
    if kill:
        assert rc == -signal.SIGKILL and client.get_run(old).info.status == "RUNNING"
    else:  # handled like Ctrl-C: the run is closed at once
        assert rc == 143 and "interrupted" in err and "Traceback" not in err
        assert client.get_run(old).info.status == "KILLED"
    out = env.run(db, mode="record-missing", responses=jsonl)
    assert "skipped (already finished)" in out           # the single_start runs were kept
    stale = client.get_run(old)
    assert stale.info.status == "KILLED"
    new = stale.data.tags["replaced_by"]
    assert client.get_run(new).info.status == "FINISHED"
    assert client.get_run(new).data.tags["method"] == "combined" and client.get_run(new).data.tags["seed"] == "1"
    assert not [r for r in runs(db) if r.info.status == "RUNNING"]
    assert numbers(db) == env.reference
    assert recorded(jsonl) == env.records                 # nothing recorded lost, nothing else


def test_two_sweeps_on_a_fresh_store_and_one_jsonl(env, tmp_path):
    db, jsonl = tmp_path / "fresh.db", tmp_path / "shared.jsonl"
    procs = [env.start(db, mode="record-missing", responses=jsonl) for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, err[-3000:]
    assert numbers(db) == env.reference                   # no duplicate: numbers() asserts it
    assert not [r for r in runs(db) if r.info.status != "FINISHED"]
    assert recorded(jsonl) == env.records
    trained = sum(int(re.search(r"maao: (\d+) run\(s\) trained", out + err).group(1)) for out, err in outs)
    assert trained == 4


def _acc_and_run(out: str, method="combined", seed=1):
    m = re.search(rf"{method} intent_recognition 1-shot seed {seed}: test acc ([\d.]+) .*\[(.+?)\] run (\w+)", out)
    return float(m.group(1)), m.group(2), m.group(3)


def test_a_test_server_run_is_never_served_as_the_replayed_one(env, tmp_path):
    """Item 1: runs are tagged with their LLM provenance; a finished run is
    reused only when every (key, reply) it used is what the store holds."""
    from reports.runs import load_runs

    db = tmp_path / "mlflow.db"
    one = ["--method", "combined", "--dataset", "intent_recognition", "--shots", "1", "--seed", "1"]
    env.server.responder = replies("a different test server")
    try:
        out = env.run(db, *one, command="run", mode="record-missing", responses=tmp_path / "test.jsonl")
        _, state, test_run = _acc_and_run(out)
        assert "skipped" not in state
        out = env.run(db, *one, command="run")                         # replay the committed records
        _, state, replay_run = _acc_and_run(out)
        assert "skipped" not in state and replay_run != test_run
        out = env.run(db, *one, command="run", mode="live")             # replies recorded nowhere
        live_run = _acc_and_run(out)[2]
    finally:
        env.server.responder = replies("ref")
    _, state, run_id = _acc_and_run(env.run(db, *one, command="run"))
    assert state == "skipped (already finished)" and run_id == replay_run  # not the newer live run
    tags = {r.info.run_id: r.data.tags for r in runs(db)}
    acc = {r.info.run_id: r.data.metrics["test_accuracy"] for r in runs(db)}
    assert acc[replay_run] == env.reference[("combined", "1")]
    assert tags[replay_run]["llm_mode"] == "replay" and tags[live_run]["llm_source"] == "live"
    assert tags[test_run]["llm_pairs_sha256"] != tags[replay_run]["llm_pairs_sha256"]
    with pytest.warns(UserWarning, match="ignored 2 finished run"):
        df = load_runs(f"sqlite:///{db}", "tiny", "mini", responses=env.root / "ref.jsonl")
    assert df.set_index(["method", "seed"]).loc[("combined", 1), "run_id"] == replay_run


def test_planted_key_reaches_no_output_of_a_run(env, tmp_path):
    """Item 6 end to end: the server echoes pieces of the key in an error and in
    a reply; no 8-character piece of it is in stdout/stderr, the MLflow store,
    its artifacts or the recorded responses."""
    secret = "sk-live-Qm29XcVt7LpW4rNsY8dHbK"
    db, jsonl = tmp_path / "mlflow.db", tmp_path / "r.jsonl"
    env.server.script(Fault.status(503, f"overloaded; key {secret[3:]}"),
                      f"1. a photo of a {{}} {secret[5:21]}\n2. a scan of a {{}}.")
    proc = env.start(db, "--method", "combined", "--dataset", "intent_recognition", "--shots", "1",
                     "--seed", "2", command="run", mode="record-missing", responses=jsonl,
                     extra_env={"OPENAI_API_KEY": secret, "MAAO_TEST_NOTE": secret})
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-3000:]
    assert "retry 1/" in err                                   # the echoing error was logged
    pieces = {secret[i:i + 8] for i in range(len(secret) - 7)}
    outputs = {"stdout+stderr": out + err}
    outputs.update({str(p): p.read_bytes().decode("latin-1") for p in tmp_path.rglob("*") if p.is_file()})
    assert any("llm_transcript.json" in name for name in outputs) and jsonl.exists()
    leaks = {name: sorted(p for p in pieces if p in text) for name, text in outputs.items()}
    assert not any(leaks.values()), leaks


# ---------------------------------------------------------------------------
# Issue 21, item 4: faults of the environment (a full disk, a read-only store,
# a tracking server that stops) end in one line naming the cause and what to
# do, exit 2; finished runs are kept and the same command resumes exactly.

def private_mounts_work() -> bool:
    import shutil

    if not shutil.which("unshare"):
        return False
    probe = subprocess.run(["unshare", "--user", "--map-root-user", "--mount", "sh", "-c",
                            "mount -t tmpfs -o size=1m tmpfs /mnt"], capture_output=True)
    return probe.returncode == 0


needs_mounts = pytest.mark.skipif(not private_mounts_work(),
                                  reason="needs `unshare --user --mount` (a private tmpfs or read-only mount)")


def sweep_argv(env, db: str, jsonl: Path, mode="record-missing") -> list[str]:
    return [sys.executable, "-m", "maao.cli", "sweep", str(env.spec), "--tracking-uri", db,
            "--llm-mode", mode, "--responses", str(jsonl), "--llm-base-url", env.server.base_url]


def in_private_mounts(env, script: str, tmp_path: Path, **values) -> subprocess.Popen:
    """`script` (sh) in its own user and mount namespace, as its root."""
    import shlex

    shell_env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PYTHONPATH": os.pathsep.join(sys.path),
                 "MAAO_CACHE_DIR": str(env.root / "cache"), "MAAO_THREADS": "1", "HF_HUB_OFFLINE": "1",
                 "TRANSFORMERS_OFFLINE": "1", "PYTHONHASHSEED": "0",
                 **{k: " ".join(map(shlex.quote, v)) if isinstance(v, list) else str(v) for k, v in values.items()}}
    return subprocess.Popen(["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", script],
                            env=shell_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=tmp_path)


def one_line(err: str, *words) -> str:
    lines = [line for line in err.strip().splitlines() if line.startswith("maao: error: ")]
    assert len(lines) == 1 and "Traceback" not in err, err[-4000:]
    for word in words:
        assert word in lines[0], (word, lines[0])
    return lines[0]


FULL_DISK = """
mount -t tmpfs -o size=64m tmpfs "$STORE" || exit 9
eval "$SWEEP" > "$OUT/first.out" 2> "$OUT/first.err" &
pid=$!
while [ ! -e "$OUT/fill" ]; do sleep 0.05; done
head -c 100m /dev/zero > "$STORE/filler" 2>/dev/null
touch "$OUT/filled"
wait $pid; echo $? > "$OUT/first.rc"
rm -f "$STORE/filler"
eval "$SWEEP" > "$OUT/second.out" 2> "$OUT/second.err"; echo $? > "$OUT/second.rc"
cp "$STORE/mlflow.db" "$OUT/after.db"
"""


@needs_mounts
def test_a_disk_that_fills_mid_sweep_is_one_line_and_the_sweep_resumes(env, tmp_path):
    from mlflow.tracking import MlflowClient

    store, out, jsonl = tmp_path / "store", tmp_path / "out", tmp_path / "r.jsonl"
    store.mkdir()
    out.mkdir()
    n0 = len(env.server.chat_requests)
    env.server.script(Fault.hang(8))             # the first LLM call hangs: its run is mid-way
    proc = in_private_mounts(env, FULL_DISK, tmp_path, STORE=store, OUT=out,
                             SWEEP=sweep_argv(env, f"sqlite:///{store}/mlflow.db", jsonl))
    try:
        assert wait_for(lambda: len(env.server.chat_requests) > n0, timeout=240), (out / "first.err").read_text()
        (out / "fill").touch()                   # the disk fills while that run trains
        assert wait_for(lambda: (out / "filled").exists(), timeout=5)
        proc.communicate(timeout=500)
    finally:
        if proc.poll() is None:
            proc.kill()
    first = (out / "first.err").read_text()
    assert (out / "first.rc").read_text().strip() == "2", first[-4000:]
    one_line(first, "disk full", "free space", "re-run the same command")
    assert (out / "second.rc").read_text().strip() == "0", (out / "second.err").read_text()[-4000:]
    db = out / "after.db"
    assert numbers(db) == env.reference
    assert recorded(jsonl) == env.records
    closed = [r for r in runs(db) if r.info.status != "FINISHED"]
    assert closed and all(r.info.status in ("FAILED", "KILLED") for r in closed)
    assert all("replaced_by" in r.data.tags for r in closed if r.info.status == "KILLED")
    client = MlflowClient(f"sqlite:///{db}")
    exp = client.get_experiment_by_name("maao-tiny-mini")
    (parent,) = client.search_runs([exp.experiment_id], "tags.run_kind = 'sweep'")
    assert parent.info.status == "FINISHED"


READ_ONLY = """
mount --bind "$STORE" "$STORE" && mount -o remount,bind,ro "$STORE" || exit 9
eval "$SWEEP" > "$OUT/ro.out" 2> "$OUT/ro.err"; echo $? > "$OUT/ro.rc"
"""


@needs_mounts
def test_a_read_only_store_is_one_line(env, tmp_path):
    """Every run already finished, the store on a read-only mount."""
    import shutil

    store, out = tmp_path / "store", tmp_path / "out"
    store.mkdir()
    out.mkdir()
    shutil.copy(env.root / "ref.db", store / "mlflow.db")
    proc = in_private_mounts(env, READ_ONLY, tmp_path, STORE=store, OUT=out,
                             SWEEP=sweep_argv(env, f"sqlite:///{store}/mlflow.db", env.root / "ref.jsonl",
                                              mode="replay"))
    proc.communicate(timeout=300)
    err = (out / "ro.err").read_text()
    assert (out / "ro.rc").read_text().strip() == "2", err[-4000:]
    one_line(err, "read-only", str(store / "mlflow.db"), "writable")
    assert numbers(store / "mlflow.db") == env.reference


class TrackingServer:
    """`mlflow server` over a SQLite file on 127.0.0.1, stopped and started again on one port."""

    def __init__(self, root: Path):
        from maao.scale.mlflow_server import command
        from maao.scale.postgres import free_port

        self.port = free_port("127.0.0.1")
        self.uri = f"http://127.0.0.1:{self.port}"
        self.cmd = command(f"sqlite:///{root / 'server.db'}", root / "artifacts", "127.0.0.1", self.port)
        self.log = root / "server.log"
        self.proc = None

    def start(self):
        import urllib.request

        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(self.cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                         env={**os.environ, "MLFLOW_TRACKING_URI": "",
                                              "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"})

        def healthy():
            try:
                with urllib.request.urlopen(f"{self.uri}/health", timeout=2) as reply:
                    return reply.status == 200
            except OSError:
                return False
        assert wait_for(healthy, timeout=180), self.log.read_text()[-3000:]

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)   # the server and the workers it forked
            self.proc.wait()


def test_a_tracking_server_that_stops_is_one_line_and_the_sweep_resumes(env, tmp_path):
    from mlflow.tracking import MlflowClient

    server, jsonl = TrackingServer(tmp_path), tmp_path / "r.jsonl"
    fast = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1", "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "0",
            "MLFLOW_HTTP_REQUEST_TIMEOUT": "10"}
    server.start()
    try:
        n0 = len(env.server.chat_requests)
        env.server.script(Fault.hang(6))
        proc = env.start(None, mode="record-missing", responses=jsonl, extra_env=fast, uri=server.uri,
                         verbose=False)
        ok = wait_for(lambda: len(env.server.chat_requests) > n0 or proc.poll() is not None, timeout=240)
        assert ok and proc.poll() is None, (proc.poll(), proc.communicate(timeout=60)[1][-3000:] if proc.poll() is not None else "still running")
        server.stop()                               # the tracking server goes away mid-run
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 2, err[-4000:]
        one_line(err, server.uri, "does not answer", "start it", "re-run the same command")
        server.start()
        again = env.start(None, mode="record-missing", responses=jsonl, extra_env=fast, uri=server.uri)
        out, err = again.communicate(timeout=300)
        assert again.returncode == 0, err[-4000:]
        client = MlflowClient(server.uri)
        exp = client.get_experiment_by_name("maao-tiny-mini")
        found = client.search_runs([exp.experiment_id], max_results=1000)
        cells = [r for r in found if r.data.tags.get("run_kind") != "sweep"]
        done = {(r.data.tags["method"], r.data.tags["seed"]): r.data.metrics["test_accuracy"]
                for r in cells if r.info.status == "FINISHED"}
        assert done == env.reference and len([r for r in cells if r.info.status == "FINISHED"]) == 4
        assert not [r for r in found if r.info.status == "RUNNING"]
        assert recorded(jsonl) == env.records
    finally:
        server.stop()
