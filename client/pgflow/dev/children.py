"""A child process of ``pgflow dev`` (the worker, the dashboard): started in its own process
group, so that a Ctrl-C in the terminal reaches only ``pgflow dev``, which then stops each child
once with SIGTERM (a second signal would make the worker abort instead of drain). On Linux a child
also gets SIGTERM when ``pgflow dev`` dies without cleaning up (killed), instead of living on."""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

__all__ = ["Child"]

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> Callable[[], None] | None:
    """A ``preexec_fn`` that asks Linux to send the child SIGTERM when its parent dies, or None
    where that does not exist."""
    if sys.platform != "linux":
        return None
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    parent = os.getpid()

    def preexec() -> None:
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os.kill(os.getpid(), signal.SIGTERM)

    return preexec


class Child:
    """One child process: ``start()``, ``exited()``, ``stop()``. Output goes to this process's
    stdout/stderr."""

    def __init__(self, name: str, argv: Sequence[str], *, cwd: Path, env: dict[str, str]) -> None:
        self.name = name
        self.argv = list(argv)
        self.cwd = cwd
        self.env = env
        self.proc: subprocess.Popen[bytes] | None = None
        self.reported = False  # its exit was reported to the user

    @property
    def pid(self) -> int | None:
        return None if self.proc is None else self.proc.pid

    def start(self) -> None:
        self.proc = subprocess.Popen(self.argv, cwd=self.cwd, env=self.env, stdin=subprocess.DEVNULL,
                                     process_group=0, preexec_fn=_die_with_parent())
        self.reported = False

    def exited(self) -> int | None:
        """The exit code once the process has ended (None while it runs or before start)."""
        return None if self.proc is None else self.proc.poll()

    def stop(self, grace: float) -> int | None:
        """SIGTERM, then SIGKILL (to its whole process group) after ``grace`` seconds. Returns
        the exit code (None when it was never started)."""
        proc = self.proc
        if proc is None:
            return None
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                self.kill()
        return proc.wait()

    def signal_group(self, sig: signal.Signals) -> None:
        """Send ``sig`` to the child's process group without waiting (safe in a signal handler)."""
        if self.proc is not None and self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, sig)

    def kill(self) -> None:
        """SIGKILL the process and anything it started in its group."""
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
