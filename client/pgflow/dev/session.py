"""One ``pgflow dev`` session, from the lock to the last cleanup.

Order: take ``.pgflow/dev.lock`` (one session per directory); with ``reset``, wipe the data; start
(or reuse) the kept server; migrate it (pgmq included); write ``.pgflow/dev.env`` and print
``DATABASE_URL=...`` on stdout; start the worker child (when flows are given) and the dashboard
child (when ``pgflow.ui`` and its extra are installed); then poll: restart the worker when a
watched file changed, report a child that exited, stop when the server went away. The first
SIGTERM/SIGINT stops the children (the worker drains), then the server (a fast, clean shutdown),
and removes dev.env; a second one kills the children at once. Progress goes to stderr.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib.util
import os
import secrets
import signal
import socket
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from pgflow.dev.children import Child
from pgflow.dev.env import DEV_DIR, remove_dev_env, write_dev_env
from pgflow.dev.watch import SourceWatcher, spec_files
from pgflow.dev.worker_main import DEV_SHUTDOWN_GRACE
from pgflow.embedded import EmbeddedPostgres
from pgflow.errors import PgflowError

__all__ = ["DEFAULT_POLL_INTERVAL", "DEFAULT_UI_PORT", "DevOptions", "DevSession"]

DEFAULT_UI_PORT = 8080
"""The dashboard's port in dev (a free one instead when it is taken)."""
DEFAULT_POLL_INTERVAL = 0.5
"""Seconds between two looks at the watched files' modification times."""
_UI_TOKEN_ENV = "PGFLOW_UI_TOKEN"


def say(msg: str) -> None:
    print(f"pgflow dev: {msg}", file=sys.stderr, flush=True)


@dataclass(frozen=True, slots=True, kw_only=True)
class DevOptions:
    flows: tuple[str, ...] = ()
    directory: Path = field(default_factory=Path.cwd)
    port: int | None = None
    reset: bool = False
    ui: bool = True
    ui_port: int = DEFAULT_UI_PORT
    poll_interval: float = DEFAULT_POLL_INTERVAL


@contextlib.contextmanager
def _session_lock(path: Path) -> Iterator[None]:
    """An exclusive lock held for the session (released by the OS if the process dies)."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            raise PgflowError(
                f"another `pgflow dev` (pid {holder}) is running in {path.parent.parent}: stop it first"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(fd)


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def dashboard_missing() -> str | None:
    """Why the dashboard cannot run here, or None when it can."""
    if importlib.util.find_spec("pgflow.ui") is None:
        return "this pgflow has no dashboard (pgflow.ui)"
    missing = [m for m in ("starlette", "uvicorn", "jinja2") if importlib.util.find_spec(m) is None]
    if missing:
        return f"the dashboard needs {', '.join(missing)}: pip install 'pgflow-py[ui]'"
    return None


class DevSession:
    """``run()`` does the whole session and returns the exit code; see the module docstring."""

    def __init__(self, options: DevOptions) -> None:
        self.options = options
        self.base = options.directory.resolve() / DEV_DIR
        self._stop = threading.Event()
        self._signals = 0
        self._children: list[Child] = []

    # -- signals ----------------------------------------------------------------------------

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        self._signals += 1
        if self._signals == 1:
            say(f"{signal.Signals(signum).name}: stopping (send it again to kill the worker at once)")
            self._stop.set()
            return
        for child in self._children:  # no waiting in a signal handler: the main thread reaps them
            child.signal_group(signal.SIGKILL)

    @contextlib.contextmanager
    def _signal_handlers(self) -> Iterator[None]:
        previous = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    # -- the session ------------------------------------------------------------------------

    def run(self) -> int:
        self.base.mkdir(exist_ok=True)
        ignore = self.base / ".gitignore"
        if not ignore.exists():  # the data never belongs in the project's repository
            ignore.write_text("# written by pgflow dev: local database files\n*\n", encoding="utf-8")
        with _session_lock(self.base / "dev.lock"), self._signal_handlers():
            pg = EmbeddedPostgres.local(self.base, self.options.port)
            if self.options.reset:
                pg.wipe()
                say(f"wiped {DEV_DIR}/data")
            try:
                return self._serve(pg)
            finally:
                for child in reversed(self._children):
                    code = child.stop(DEV_SHUTDOWN_GRACE + 5)
                    if code is not None:
                        say(f"{child.name} stopped")
                remove_dev_env(self.options.directory)
                if pg.is_running():
                    pg.stop()
                    say(f"PostgreSQL stopped; its data stays in {DEV_DIR}/data (`pgflow dev --reset` wipes it)")

    def _serve(self, pg: EmbeddedPostgres) -> int:
        from pgflow import migrator

        pg.start()
        how = "reusing the PostgreSQL already running" if pg.reused else "PostgreSQL started"
        say(f"{how} on 127.0.0.1:{pg.port} (data in {DEV_DIR}/data)")
        if self._stop.is_set():
            return 0
        applied = migrator.migrate(pg.dsn)
        say(f"migrated: {len(applied)} new migration(s)" if applied else "schema up to date")
        if self._stop.is_set():
            return 0
        url = pg.dsn
        write_dev_env(url, self.options.directory)
        print(f"DATABASE_URL={url}", flush=True)
        env = {**os.environ, "DATABASE_URL": url}
        worker, watcher = self._start_worker(url, env)
        self._start_dashboard(url, env)
        say("Ctrl-C or SIGTERM stops the worker and PostgreSQL")
        while not self._stop.wait(self.options.poll_interval):
            if not self._server_alive(pg):
                say(f"PostgreSQL stopped unexpectedly (see {DEV_DIR}/server.log)")
                return 1
            if worker is not None and watcher is not None:
                self._tick_worker(worker, watcher)
            for child in self._children:
                code = child.exited()
                if child is not worker and code is not None and not child.reported:
                    child.reported = True
                    say(f"{child.name} exited with code {code}")
        return 0

    def _start_worker(self, url: str, env: dict[str, str]) -> tuple[Child | None, SourceWatcher | None]:
        flows = self.options.flows
        if not flows:
            say("no flows given: serving the database only (pgflow dev MODULE:FLOW ... runs a worker)")
            return None, None
        root = self.options.directory.resolve()
        watcher = SourceWatcher(root, spec_files(flows, root))  # before the worker imports them
        worker = Child("worker", [sys.executable, "-m", "pgflow.dev.worker_main", "--dsn", url, *flows],
                       cwd=root, env=env)
        self._children.append(worker)
        worker.start()
        say(f"worker started (pid {worker.pid}) for {', '.join(flows)}; it restarts when one of the "
            f"{watcher.count} Python file(s) under {root} changes")
        return worker, watcher

    def _tick_worker(self, worker: Child, watcher: SourceWatcher) -> None:
        changed = watcher.changed()
        if changed:
            root = self.options.directory.resolve()
            names = ", ".join(str(p.relative_to(root)) if root in p.parents else str(p) for p in changed[:3])
            more = f" and {len(changed) - 3} more" if len(changed) > 3 else ""
            say(f"{names}{more} changed: restarting the worker")
            worker.stop(DEV_SHUTDOWN_GRACE + 5)
            worker.start()
            say(f"worker restarted (pid {worker.pid})")
            return
        code = worker.exited()
        if code is not None and not worker.reported:
            worker.reported = True
            say(f"worker exited with code {code}; it starts again when a watched file changes")

    def _start_dashboard(self, url: str, env: dict[str, str]) -> None:
        if not self.options.ui:
            return
        why = dashboard_missing()
        if why is not None:
            say(f"no dashboard: {why}")
            return
        port = self.options.ui_port or _free_port()
        if not _port_free(port):
            taken, port = port, _free_port()
            say(f"port {taken} is taken: the dashboard uses {port} (choose one with --ui-port)")
        token = env.get(_UI_TOKEN_ENV) or secrets.token_urlsafe(12)
        ui = Child("dashboard", [sys.executable, "-m", "pgflow.ui", "--dsn", url, "--host", "127.0.0.1",
                                 "--port", str(port)],
                   cwd=self.options.directory, env={**env, _UI_TOKEN_ENV: token})
        self._children.append(ui)
        ui.start()
        say(f"dashboard started (pid {ui.pid}): http://127.0.0.1:{port}/ (token for its actions: {token})")

    @staticmethod
    def _server_alive(pg: EmbeddedPostgres) -> bool:
        pid = pg.postmaster_pid()
        if pid is None:
            return False
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:  # alive, owned by another user
            return True
        return True
