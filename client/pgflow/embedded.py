"""A throwaway PostgreSQL server started from the local server binaries.

Used by the test suite (through pytest-postgresql's janitor), by ``pgflow demo`` and by the
benchmarks. The server lives in a temporary directory, listens on 127.0.0.1 on a free port, trusts
local connections and is removed on ``stop()``.

PostgreSQL refuses to run as root; when this process is root the data directory is given to the
``postgres`` OS user and the server binaries are run as that user (``runuser``).

Binaries are looked up in ``$PGFLOW_PG_BINDIR``, then next to ``pg_config --bindir``, then on
PATH, then in /usr/lib/postgresql/<major>/bin (Debian keeps them there, off PATH), newest major
first. Where none exist but Docker does, use testcontainers' PostgresContainer with a pgmq image
instead (not needed, nor possible, on machines without a Docker engine).
"""

from __future__ import annotations

import contextlib
import glob
import logging
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from pgflow.errors import PgflowError

logger = logging.getLogger(__name__)


class EmbeddedPostgresError(PgflowError):
    """The throwaway server could not be found, initialised or started."""


def find_bindir() -> Path:
    """Return the directory holding initdb/pg_ctl/postgres, or raise with what to install."""
    candidates: list[Path] = []
    env = os.environ.get("PGFLOW_PG_BINDIR")
    if env:
        candidates.append(Path(env))
    pg_config = shutil.which("pg_config")
    if pg_config:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=True)
            candidates.append(Path(out.stdout.strip()))
    initdb = shutil.which("initdb")
    if initdb:
        candidates.append(Path(initdb).parent)

    def major(path: str) -> int:
        try:
            return int(Path(path).parent.name)
        except ValueError:
            return 0

    debian = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=major, reverse=True)
    candidates.extend(Path(p) for p in debian)
    for c in candidates:
        if (c / "initdb").exists() and (c / "pg_ctl").exists():
            return c
    raise EmbeddedPostgresError(
        "no PostgreSQL server binaries (initdb, pg_ctl) found; install them "
        "(Debian/Ubuntu: `apt-get install postgresql-15`) or set PGFLOW_PG_BINDIR"
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class EmbeddedPostgres:
    """A PostgreSQL server in a temporary directory. Use as a context manager or start()/stop()."""

    settings: dict[str, str] = field(default_factory=dict)
    fast: bool = True  # fsync off etc.: for tests and demos, never for data you keep
    port: int = 0
    bindir: Path | None = None
    basedir: Path | None = None
    user: str = "postgres"

    @property
    def datadir(self) -> Path:
        assert self.basedir is not None
        return self.basedir / "data"

    @property
    def dsn(self) -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/postgres"

    def dsn_for(self, dbname: str) -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{dbname}"

    def postmaster_pid(self) -> int | None:
        """The running server's postmaster process id (from postmaster.pid), or None."""
        try:
            return int((self.datadir / "postmaster.pid").read_text().splitlines()[0])
        except (OSError, ValueError, IndexError, AssertionError):
            return None

    def _run(self, args: list[str]) -> subprocess.CompletedProcess[str]:
        cmd = [str(a) for a in args]
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise EmbeddedPostgresError(
                f"{Path(args[0]).name} failed (exit {proc.returncode}): {proc.stderr.strip() or proc.stdout.strip()}"
            )
        return proc

    def start(self) -> EmbeddedPostgres:
        self.bindir = self.bindir or find_bindir()
        self.basedir = Path(tempfile.mkdtemp(prefix="pgflow-pg-"))
        if os.geteuid() == 0:
            try:
                pw = pwd.getpwnam("postgres")
            except KeyError as exc:
                raise EmbeddedPostgresError(
                    "running as root, but there is no `postgres` OS user to run the server as "
                    "(the Debian postgresql package creates it)"
                ) from exc
            os.chown(self.basedir, pw.pw_uid, pw.pw_gid)
        self._run([
            str(self.bindir / "initdb"), "-D", str(self.datadir), "-U", self.user,
            "--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync",
        ])
        self.port = self.port or _free_port()
        opts = {
            "listen_addresses": "127.0.0.1",
            "port": str(self.port),
            "unix_socket_directories": str(self.basedir),
            "max_connections": "200",
            "shared_buffers": "128MB",
        }
        if self.fast:
            opts |= {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}
        opts |= self.settings
        with open(self.datadir / "postgresql.auto.conf", "a", encoding="utf-8") as f:
            for k, v in opts.items():
                f.write(f"{k} = '{v}'\n")
        self._run([
            str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-l", str(self.basedir / "server.log"),
            "-w", "-t", "60", "start",
        ])
        logger.info("embedded postgres started", extra={"port": self.port, "datadir": str(self.datadir)})
        return self

    def restart(self) -> None:
        """Stop and start the same server (same data, same port): for crash and reconnect tests."""
        if self.bindir is None or self.basedir is None:
            raise EmbeddedPostgresError("restart() before start()")
        self._run([str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-m", "fast", "-w", "stop"])
        self._run([
            str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-l", str(self.basedir / "server.log"),
            "-w", "-t", "60", "start",
        ])

    def stop(self) -> None:
        if self.basedir is None:
            return
        if self.bindir is not None and (self.datadir / "postmaster.pid").exists():
            with contextlib.suppress(EmbeddedPostgresError):
                self._run([str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-m", "immediate", "-w", "stop"])
        shutil.rmtree(self.basedir, ignore_errors=True)
        self.basedir = None

    def wait_ready(self, timeout: float = 30.0) -> None:
        import psycopg

        deadline = time.monotonic() + timeout
        while True:
            try:
                with psycopg.connect(self.dsn, connect_timeout=2):
                    return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def __enter__(self) -> EmbeddedPostgres:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextlib.contextmanager
def embedded_postgres(**kwargs: object) -> Iterator[EmbeddedPostgres]:
    pg = EmbeddedPostgres(**kwargs)  # type: ignore[arg-type]
    try:
        yield pg.start()
    finally:
        pg.stop()
