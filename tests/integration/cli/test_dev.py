"""`pgflow dev` as the README tells a new user to run it: a real subprocess in an empty directory,
its own PostgreSQL in .pgflow/, the other commands run in the same directory without a URL."""

from __future__ import annotations

import re
import signal
import uuid
from pathlib import Path

import httpx
import psycopg

from pgflow.dev.session import dashboard_missing
from tests.support.cli import run_cli
from tests.support.dev import DevProcess, alive, project_dir, start_dev
from tests.support.paths import ROOT
from tests.support.waiting import wait_until


def _readme_quickstart() -> tuple[str, list[str]]:
    """The README's first flows.py and the `pgflow` commands that follow it."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    m = re.search(r"```python\n(# flows\.py, in an empty directory\n.*?)```\s*```sh\n(.*?)```", text, re.S)
    assert m, "the README lost its quick start (flows.py, then pgflow dev / pgflow start)"
    commands = [line.split("#", 1)[0].strip() for line in m.group(2).splitlines() if line.startswith("pgflow ")]
    return m.group(1), commands


def _check_dashboard(dev: DevProcess) -> None:
    """With pgflow.ui and its extra installed, dev serves the dashboard; without, it says why not."""
    missing = dashboard_missing()
    if missing is not None:
        assert f"pgflow dev: no dashboard: {missing}" in dev.text()
        return
    m = re.search(r"dashboard started \(pid \d+\): (http://127\.0\.0\.1:\d+/)", dev.text())
    assert m, dev.text()

    def answers() -> bool:
        try:
            return httpx.get(m.group(1), timeout=5, follow_redirects=True).status_code == 200
        except httpx.TransportError:
            return False

    wait_until("the dashboard to answer", answers, timeout=60)


def _postmaster_pid(project: Path) -> int:
    return int((project / ".pgflow" / "data" / "postmaster.pid").read_text().splitlines()[0])


def _args(command: str) -> list[str]:
    """`pgflow start greet --input '{"name": "ada"}' --wait` -> its arguments after `pgflow`."""
    import shlex

    return shlex.split(command)[1:]


def test_the_readme_quick_start_keeps_its_runs_across_restarts_and_leaves_no_server_behind() -> None:
    flows_py, commands = _readme_quickstart()
    assert [c.split()[:2] for c in commands] == [["pgflow", "dev"], ["pgflow", "start"]]
    dev_args, start_args = _args(commands[0])[1:], _args(commands[1])
    with project_dir() as project:
        (project / "flows.py").write_text(flows_py, encoding="utf-8")

        dev = start_dev(project, *dev_args, "--ui-port", "0", name="first")
        try:
            dev.wait_for("pgflow dev: worker ready: greet")
            url = dev.url
            assert (project / ".pgflow" / "dev.env").read_text() == f"DATABASE_URL={url}\n"
            assert (project / ".pgflow" / ".gitignore").read_text().splitlines()[-1] == "*"
            assert "flow 'greet' compiled (2 step(s))" in dev.text()

            started = run_cli(*start_args, cwd=project)  # no --dsn, no DATABASE_URL: .pgflow/dev.env
            assert started.returncode == 0, started.stdout + started.stderr
            run_id = uuid.UUID(started.stdout.splitlines()[0])
            assert "status: completed" in started.stdout
            assert '"greeting": "Hello, Ada!"' in started.stdout

            _check_dashboard(dev)

            again = run_cli("dev", "flows:greet", cwd=project)  # one session per directory
            assert again.returncode == 1
            assert f"another `pgflow dev` (pid {dev.proc.pid}) is running" in again.stderr

            postmaster, children = _postmaster_pid(project), dev.pids("worker started") + dev.pids("dashboard started")
            assert alive(postmaster) and all(alive(p) for p in children)
        finally:
            code = dev.stop(signal.SIGTERM)
        assert code == 0, dev.text()
        assert not alive(postmaster), "the PostgreSQL server outlived pgflow dev"
        assert not any(alive(p) for p in children), "a child process outlived pgflow dev"
        assert "pgflow dev: worker stopped" in dev.text()
        assert "PostgreSQL stopped; its data stays in .pgflow/data" in dev.text()
        assert not (project / ".pgflow" / "dev.env").exists()
        down = run_cli("status", str(run_id), cwd=project)
        assert down.returncode == 1
        assert "no database given" in down.stderr and "or run `pgflow dev` in this directory" in down.stderr

        dev = start_dev(project, *dev_args, "--ui-port", "0", name="second")
        try:
            dev.wait_for("pgflow dev: worker ready: greet")
            assert dev.url == url, "the port is remembered"
            assert "schema up to date" in dev.text()
            assert "flow 'greet' unchanged" in dev.text()
            status = run_cli("status", str(run_id), cwd=project)
            assert status.returncode == 0, status.stdout + status.stderr
            assert "completed" in status.stdout
            postmaster = _postmaster_pid(project)
        finally:
            code = dev.stop(signal.SIGINT)  # Ctrl-C: the same clean stop
        assert code == 0, dev.text()
        assert not alive(postmaster)


def test_dev_restarts_the_worker_on_change_recompiles_a_changed_flow_and_resets() -> None:
    base = (
        "from pgflow.dsl import Flow\n"
        "from helpers import shout\n\n"
        "echo = Flow('dev_echo')\n\n"
        "@echo.step('say')\n"
        "def say(run):\n"
        "    return shout(run['text'])\n"
    )
    with project_dir() as project:
        (project / "helpers.py").write_text("def shout(s):\n    return s.upper()\n", encoding="utf-8")
        (project / "flows.py").write_text(base, encoding="utf-8")
        dev = start_dev(project, "flows:echo", "--no-ui", "--poll-interval", "0.1", name="first")
        try:
            dev.wait_for("worker ready: dev_echo")
            with psycopg.connect(dev.url, autocommit=True) as conn:
                first = _run(project, "hi")
                assert '"say": "HI"' in first

                # a helper module changed: a new worker process, the flow verified, its runs kept
                (project / "helpers.py").write_text("def shout(s):\n    return s.upper() + '!'\n", encoding="utf-8")
                dev.wait_for("worker ready: dev_echo", count=2)
                assert "helpers.py changed: restarting the worker" in dev.text()
                assert dev.text().count("flow 'dev_echo' unchanged") == 1
                assert '"say": "HI!"' in _run(project, "hi")
                assert _runs(conn) == 2

                # a syntax error: the worker exits, dev says so and waits for the fix
                (project / "flows.py").write_text(base + "oops(\n", encoding="utf-8")
                dev.wait_for("worker exited with code 1; it starts again when a watched file changes")
                assert "worker cannot start: importing flows failed: SyntaxError" in dev.text()

                # a new step: the flow is deleted with its runs and compiled again
                (project / "flows.py").write_text(
                    base + "\n@echo.step('size', depends_on=['say'])\ndef size(deps):\n    return len(deps['say'])\n",
                    encoding="utf-8",
                )
                dev.wait_for("worker ready: dev_echo", count=3)
                assert "flow 'dev_echo' changed (" in dev.text()
                assert "deleted with its runs and compiled again" in dev.text()
                assert _runs(conn) == 0
                assert '"size": 4' in _run(project, "hey")  # HEY!
                restarted = dev.pids("worker restarted")
            assert len(restarted) == 3 and not any(alive(p) for p in restarted[:-1])
        finally:
            assert dev.stop() == 0, dev.text()

        dev = start_dev(project, "--reset", "--no-ui", name="reset")
        try:
            dev.wait_for("no flows given: serving the database only")
            assert "wiped .pgflow/data" in dev.text()
            assert re.search(r"migrated: \d+ new migration\(s\)", dev.text())
            with psycopg.connect(dev.url, autocommit=True) as conn:
                assert conn.execute("select count(*) from pgflow.flows").fetchone() == (0,)
        finally:
            assert dev.stop() == 0, dev.text()


def _run(project: Path, text: str) -> str:
    out = run_cli("start", "dev_echo", "--input", f'{{"text": "{text}"}}', "--wait", "--timeout", "60", cwd=project)
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout


def _runs(conn: psycopg.Connection) -> int:
    row = conn.execute("select count(*) from pgflow.runs where flow_slug = 'dev_echo'").fetchone()
    assert row is not None
    return int(row[0])


def test_a_directory_the_server_user_cannot_reach_is_refused_with_the_reason(tmp_path: Path) -> None:
    import os

    if os.geteuid() != 0:  # as a regular user the server runs as that user: every directory works
        out = run_cli("dev", "--no-ui", "--port", "70000", cwd=tmp_path)
        assert out.returncode == 2 and "must be between 1 and 65535, got 70000" in out.stderr
        return
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    tmp_path.chmod(0o700)
    out = run_cli("dev", "--no-ui", cwd=private, timeout=60)
    assert out.returncode == 1
    assert "the `postgres` OS user cannot write to" in out.stderr
    assert "Traceback" not in out.stderr
    assert not (private / ".pgflow" / "dev.env").exists()


def test_a_port_in_use_is_refused_with_what_to_do() -> None:
    import socket

    with project_dir() as project, socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        out = run_cli("dev", "--no-ui", "--port", str(port), cwd=project, timeout=120)
        assert out.returncode == 1
        assert f"port {port} on 127.0.0.1 is in use by another program" in out.stderr
        assert "pgflow dev --port N" in out.stderr
        assert not (project / ".pgflow" / "data" / "postmaster.pid").exists()


def test_a_killed_dev_takes_its_worker_along_and_the_next_one_reuses_and_stops_its_server() -> None:
    with project_dir() as project:
        (project / "flows.py").write_text(_readme_quickstart()[0], encoding="utf-8")
        dev = start_dev(project, "flows:greet", "--no-ui", name="killed")
        try:
            dev.wait_for("worker ready: greet")
            worker, postmaster = dev.pids("worker started")[0], _postmaster_pid(project)
        finally:
            dev.stop(signal.SIGKILL)  # no cleanup at all
        wait_until("the orphaned worker to stop (SIGTERM on its parent's death)", lambda: not alive(worker))
        assert alive(postmaster), "a killed dev cannot stop its server; the next dev takes it over"

        dev = start_dev(project, "flows:greet", "--no-ui", name="next")
        try:
            dev.wait_for("worker ready: greet")
            assert "reusing the PostgreSQL already running on 127.0.0.1:" in dev.text()
            assert _postmaster_pid(project) == postmaster
        finally:
            assert dev.stop() == 0, dev.text()
        assert not alive(postmaster)


def test_a_data_directory_dev_did_not_make_is_refused_not_deleted() -> None:
    with project_dir() as project:
        foreign = project / ".pgflow" / "data"
        foreign.mkdir(parents=True)
        (foreign / "PG_VERSION").write_text("15\n")
        (foreign / "precious").write_text("keep me\n")
        out = run_cli("dev", "--no-ui", cwd=project)
        assert out.returncode == 1
        assert "holds a PostgreSQL data directory without the port pgflow dev gives its own" in out.stderr
        assert (foreign / "precious").read_text() == "keep me\n"
