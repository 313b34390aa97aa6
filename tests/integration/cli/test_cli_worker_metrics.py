"""`pgflow worker --metrics-port`: the worker process serves its Prometheus metrics."""

from __future__ import annotations

import socket
import urllib.request
from pathlib import Path

from tests.support.cli import run_cli, start_cli
from tests.support.waiting import wait_until


def test_cli_worker_serves_metrics_on_the_given_port(db_dsn: str, tmp_path: Path) -> None:
    (tmp_path / "m_flows.py").write_text(
        "from pgflow.dsl import Flow\n"
        "flow = Flow('m_cli')\n"
        "@flow.step('only')\n"
        "def only(inp):\n"
        "    return inp\n",
        encoding="utf-8",
    )
    with socket.socket() as s:  # a free port (released for the worker to bind)
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = start_cli("worker", "m_flows:flow", "--dsn", db_dsn, "--metrics-port", str(port), cwd=tmp_path)

    def scrape() -> str:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
                return str(r.read().decode())
        except OSError:
            return ""

    try:
        # served once the worker has compiled its flow and started
        wait_until("the worker's metrics endpoint", lambda: "# TYPE pgflow_queue_depth gauge" in scrape())
        out = run_cli("start", "m_cli", "--input", "{}", "--wait", "--timeout", "60", "--dsn", db_dsn, cwd=tmp_path)
        assert out.returncode == 0, out.stderr
        wait_until("the endpoint to count the task",
                   lambda: 'pgflow_tasks_completed_total{flow="m_cli",step="only"} 1.0' in scrape())
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=60)
    assert f"serving Prometheus metrics on http://0.0.0.0:{port}/metrics" in err
    bad = run_cli("worker", "m_flows:flow", "--dsn", db_dsn, "--metrics-port", "0", cwd=tmp_path)
    assert bad.returncode != 0 and "expected a TCP port number (1-65535), got '0'" in bad.stderr
