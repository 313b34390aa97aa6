"""`pgflow dev` as a user runs it: a project directory the server's OS user can reach, and the
command as a background process whose output goes to a log file the test waits on."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.support.paths import subprocess_env
from tests.support.waiting import wait_until


@contextlib.contextmanager
def project_dir() -> Iterator[Path]:
    """An empty directory under the system temp directory, searchable by every user: as root, the
    dev server runs as the `postgres` OS user, which cannot enter pytest's private tmp_path. Any
    server left running in it is stopped at the end."""
    path = Path(tempfile.mkdtemp(prefix="pgflow-dev-test-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        pid_file = path / ".pgflow" / "data" / "postmaster.pid"
        if pid_file.exists():  # a failed test left its server: stop it (immediate: nothing to keep)
            from pgflow.embedded import EmbeddedPostgres

            with contextlib.suppress(Exception):
                EmbeddedPostgres.local(path / ".pgflow").stop()
        shutil.rmtree(path, ignore_errors=True)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie is not alive: it only waits for its parent to reap it
    with contextlib.suppress(OSError):
        if Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].startswith("Z"):
            return False
    return True


@dataclass
class DevProcess:
    proc: subprocess.Popen[bytes]
    log: Path
    cwd: Path

    def text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def wait_for(self, fragment: str, *, count: int = 1, timeout: float = 60.0) -> None:
        """Wait until the output holds ``fragment`` ``count`` times; fail with the output if the
        process exits first or the time is up."""

        def seen() -> bool:
            if self.text().count(fragment) >= count:
                return True
            if self.proc.poll() is not None:
                raise AssertionError(f"pgflow dev exited ({self.proc.returncode}) before printing "
                                     f"{fragment!r}:\n{self.text()}")
            return False

        try:
            wait_until(f"{fragment!r} x{count} from pgflow dev", seen, timeout=timeout)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{self.text()}") from None

    @property
    def url(self) -> str:
        m = re.search(r"^DATABASE_URL=(\S+)$", self.text(), re.M)
        assert m, self.text()
        return m.group(1)

    def pids(self, what: str) -> list[int]:
        """Every pid the output reports for ``what`` ("worker started", "worker restarted")."""
        return [int(p) for p in re.findall(rf"{what} \(pid (\d+)\)", self.text())]

    def stop(self, sig: signal.Signals = signal.SIGTERM, timeout: float = 60.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"pgflow dev did not stop within {timeout:.0f}s:\n{self.text()}") from None


def start_dev(cwd: Path, *args: str, name: str = "dev") -> DevProcess:
    """Start ``pgflow dev ARGS`` in ``cwd`` (no DATABASE_URL in its environment); its output goes
    to ``cwd/<name>.log`` (give each start in one directory its own name)."""
    log = cwd / f"{name}.log"
    with open(log, "wb") as fh:
        proc = subprocess.Popen([sys.executable, "-m", "pgflow", "dev", *args], cwd=cwd, stdout=fh,
                                stderr=subprocess.STDOUT, env=subprocess_env(drop=("DATABASE_URL",)))
    return DevProcess(proc, log, cwd)
