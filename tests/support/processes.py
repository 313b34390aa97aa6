"""Worker processes: one wrapper, :class:`WorkerProcess`, for a worker started through the test
entry point (``spawn_worker``: tests/support/worker_main.py) or through the CLI a deployment runs
(``spawn_cli_worker``: ``pgflow -v worker``). stdout and stderr go to ``<tmp>/<name>.log``; the
test reads the log, waits for a line in it, signals, stops or kills the process."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support.paths import ROOT, subprocess_env
from tests.support.waiting import wait_until


@dataclass
class WorkerProcess:
    """A worker process and its log file. ``worker_id`` is set when the test chose it."""

    proc: subprocess.Popen[bytes]
    log: Path
    env: dict[str, str] = field(default_factory=dict)
    worker_id: uuid.UUID | None = None

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log_text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace") if self.log.exists() else ""

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def expect(self, line: str, timeout: float = 30.0) -> None:
        """Wait until the process has printed ``line`` (a whole line); fail with the log's tail
        if it does not within ``timeout`` or exits first."""

        def seen() -> bool:
            if line in self.log_text().splitlines():
                return True
            if self.proc.poll() is not None:
                raise AssertionError(f"the worker exited ({self.proc.returncode}) before printing {line!r}:\n"
                                     + self.log_tail())
            return False

        try:
            wait_until(f"{line!r} from {self.log.name}", seen, timeout=timeout)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{self.log_tail()}") from None

    def signal(self, sig: signal.Signals) -> None:
        self.proc.send_signal(sig)

    def kill(self) -> None:
        """SIGKILL: no cleanup, no goodbye to the database."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self, timeout: float = 20.0) -> int:
        """SIGTERM (graceful drain), escalating to SIGKILL after ``timeout``. Returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=30)
        return int(self.proc.returncode)


def _start(cmd: list[str], tmp: Path, name: str, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], Path]:
    log = tmp / f"{name}.log"
    with open(log, "wb") as fh:  # the child keeps its own descriptor
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=fh, stderr=subprocess.STDOUT)
    return proc, log


def _env(dsn: str, tmp: Path, extra_env: dict[str, str] | None) -> dict[str, str]:
    # REL_DSN and REL_DIR: where the reliability flows' handlers record effects and markers
    return subprocess_env({"REL_DSN": dsn, "REL_DIR": str(tmp), **(extra_env or {})})


def spawn_worker(
    dsn: str, flow: str, tmp: Path, *, name: str, workers: int = 1, worker_id: uuid.UUID | None = None,
    extra_env: dict[str, str] | None = None, clock_file: Path | None = None, **options: Any,
) -> WorkerProcess:
    """Start a worker process serving ``flow`` ("module:attribute"): ``workers`` Worker instances
    in one event loop, each given the keyword ``options`` (and, with ``clock_file``, a
    ``schedule_clock`` reading it: tests/support/clock.py). Prints READY / STOPPING (see
    tests/support/worker_main.py)."""
    cmd = [sys.executable, "-m", "tests.support.worker_main", "--dsn", dsn, "--flow", flow,
           "--workers", str(workers), "--options", json.dumps(options)]
    if worker_id is not None:
        cmd += ["--worker-id", str(worker_id)]
    if clock_file is not None:
        cmd += ["--clock-file", str(clock_file)]
    env = _env(dsn, tmp, extra_env)
    proc, log = _start(cmd, tmp, name, env)
    return WorkerProcess(proc, log, env, worker_id)


def spawn_cli_worker(dsn: str, flow: str, tmp: Path, *, name: str, extra_env: dict[str, str] | None = None,
                     args: Sequence[str] = ()) -> WorkerProcess:
    """Start ``pgflow -v worker MODULE:FLOW`` (the CLI a deployment runs) as a process."""
    env = _env(dsn, tmp, extra_env)
    proc, log = _start([sys.executable, "-m", "pgflow", "-v", "worker", flow, "--dsn", dsn, *args], tmp, name, env)
    return WorkerProcess(proc, log, env)


def stop_all(procs: Iterable[WorkerProcess]) -> None:
    """SIGTERM every process first (they drain in parallel), then wait for each (KILL after 20 s)."""
    procs = list(procs)
    for p in procs:
        if p.proc.poll() is None:
            p.proc.send_signal(signal.SIGTERM)
    for p in procs:
        p.stop()
