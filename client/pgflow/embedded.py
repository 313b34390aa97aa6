"""A PostgreSQL server started from the local server binaries: throwaway, or kept in a directory.

Throwaway (``EmbeddedPostgres()``): used by the test suite (through pytest-postgresql's janitor),
by ``pgflow demo`` and by the benchmarks. The server lives in a temporary directory, listens on
127.0.0.1 on a free port, trusts local connections and is removed on ``stop()``.

Kept (``EmbeddedPostgres.local(directory)``): used by ``pgflow dev``. The data lives in
``<directory>/data`` and survives ``stop()``; the settings are PostgreSQL's durable defaults (fsync
on); the port is chosen once (or given) and remembered in the server's own configuration;
``start()`` reuses a server that is already running there and starts one that is stopped;
``wipe()`` stops it and deletes its data.

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
import re
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
    persistent: bool = False  # basedir is kept: its data is reused, stop() keeps it (see local())
    reused: bool = field(default=False, init=False)
    """start() found the kept server already running and reused it."""

    @classmethod
    def local(cls, directory: Path | str, port: int | None = None) -> EmbeddedPostgres:
        """A server kept in ``directory`` (data in ``directory/data``), with durable settings.
        ``port``: listen there (remembered for the next start); None: the remembered port, or a
        free one on the first start. Nothing happens until start()."""
        return cls(basedir=Path(directory).resolve(), persistent=True, fast=False, port=port or 0)

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

    def _give_to_server_user(self, directory: Path) -> None:
        """As root, the server runs as the ``postgres`` OS user: hand it ``directory``."""
        if os.geteuid() != 0:
            return
        try:
            pw = pwd.getpwnam("postgres")
        except KeyError as exc:
            raise EmbeddedPostgresError(
                "running as root, but there is no `postgres` OS user to run the server as "
                "(the Debian postgresql package creates it)"
            ) from exc
        os.chown(directory, pw.pw_uid, pw.pw_gid)

    def start(self) -> EmbeddedPostgres:
        self.bindir = self.bindir or find_bindir()
        if self.persistent:
            return self._start_kept()
        self.basedir = Path(tempfile.mkdtemp(prefix="pgflow-pg-"))
        self._give_to_server_user(self.basedir)
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
        """Throwaway: stop at once and delete the directory. Kept: a fast (clean) shutdown; the
        data stays."""
        if self.basedir is None:
            return
        if self.persistent:
            if self.is_running():
                self._run([str(self._bin("pg_ctl")), "-D", str(self.datadir), "-m", "fast", "-w", "-t", "60", "stop"])
                logger.info("embedded postgres stopped", extra={"datadir": str(self.datadir)})
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

    # -- a server kept in a directory (pgflow dev) ----------------------------------------------

    def _bin(self, name: str) -> Path:
        self.bindir = self.bindir or find_bindir()
        return self.bindir / name

    def is_running(self) -> bool:
        """A postmaster runs on this data directory (``pg_ctl status``)."""
        if self.basedir is None or not (self.datadir / "PG_VERSION").exists():
            return False
        cmd = [str(self._bin("pg_ctl")), "-D", str(self.datadir), "status"]
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        return subprocess.run(cmd, capture_output=True, text=True).returncode == 0

    def configured_port(self) -> int | None:
        """The port the kept server's configuration names (its last ``port`` setting), or None."""
        try:
            text = (self.datadir / "postgresql.auto.conf").read_text(encoding="utf-8")
        except OSError:
            return None
        ports = re.findall(r"^\s*port\s*=\s*'?(\d+)'?", text, re.M)
        return int(ports[-1]) if ports else None

    def _set(self, settings: dict[str, str]) -> None:
        # postgresql.auto.conf: the last line for a name wins; ALTER SYSTEM keeps working on it
        with open(self.datadir / "postgresql.auto.conf", "a", encoding="utf-8") as f:
            for k, v in settings.items():
                f.write(f"{k} = '{v}'\n")

    def _start_kept(self) -> EmbeddedPostgres:
        assert self.basedir is not None
        base = self.basedir
        base.mkdir(parents=True, exist_ok=True)
        self._give_to_server_user(base)
        reachable = ["runuser", "-u", "postgres", "--", "test", "-w", str(base)]
        if os.geteuid() == 0 and subprocess.run(reachable).returncode != 0:
            raise EmbeddedPostgresError(
                f"the `postgres` OS user cannot write to {base}: as root the server runs as `postgres`, so every "
                "directory above it must be searchable by others (chmod o+x), or run pgflow as a regular user"
            )
        remembered = self.configured_port()
        if remembered is None and (self.datadir / "PG_VERSION").exists():  # never delete a cluster
            raise EmbeddedPostgresError(
                f"{self.datadir} holds a PostgreSQL data directory without the port pgflow dev gives its own: "
                "move it away, or wipe it with `pgflow dev --reset`"
            )
        if remembered is None:  # first start: initialise, durable settings, a port
            if self.datadir.exists():
                shutil.rmtree(self.datadir)  # no PG_VERSION: an initdb that did not finish
            self._run([
                str(self._bin("initdb")), "-D", str(self.datadir), "-U", self.user,
                "--auth=trust", "--encoding=UTF8", "--locale=C",
            ])
            self.port = self.port or _free_port()
            # no Unix socket: its path would be too long in a deep directory; clients use TCP
            self._set({"listen_addresses": "127.0.0.1", "port": str(self.port), "unix_socket_directories": "",
                       "max_connections": "100"} | self.settings)
        elif self.is_running():
            if self.port and self.port != remembered:
                raise EmbeddedPostgresError(
                    f"the server in {self.datadir} is running on port {remembered}: stop it before changing its port"
                )
            self.port, self.reused = remembered, True
            logger.info("embedded postgres already running", extra={"port": self.port, "datadir": str(self.datadir)})
            return self
        elif self.port and self.port != remembered:
            self._set({"port": str(self.port)})
        else:
            self.port = remembered
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server does: TIME_WAIT is no conflict
            try:
                s.bind(("127.0.0.1", self.port))
            except OSError:
                raise EmbeddedPostgresError(
                    f"port {self.port} on 127.0.0.1 is in use by another program: choose another port "
                    "(pgflow dev --port N)"
                ) from None
        self._run([
            str(self._bin("pg_ctl")), "-D", str(self.datadir), "-l", str(base / "server.log"),
            "-w", "-t", "60", "start",
        ])
        logger.info("embedded postgres started", extra={"port": self.port, "datadir": str(self.datadir)})
        return self

    def wipe(self) -> None:
        """Kept server: stop it if it runs and delete its data (the next start() initialises anew)."""
        if not self.persistent or self.basedir is None:
            raise EmbeddedPostgresError("wipe() is for a server kept in a directory (EmbeddedPostgres.local)")
        self.stop()
        shutil.rmtree(self.datadir, ignore_errors=True)
        with contextlib.suppress(OSError):
            (self.basedir / "server.log").unlink()

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
