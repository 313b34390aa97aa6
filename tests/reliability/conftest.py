"""Fixtures of the reliability suite and the session summary of faults injected and losses found.

The summary ("pgflow reliability: ...") is printed at the end of every pytest session that ran a
reliability test; docs/RELIABILITY.md quotes it. Set PGFLOW_RELIABILITY_REPORT=<path> to also get
it as JSON.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import psycopg
import pytest

from tests.support import reliability_flows as flows
from tests.support.faults import COUNTS


@pytest.fixture
def effects(conn: psycopg.Connection) -> psycopg.Connection:
    """The handler side-effect table, in this test's database."""
    flows.create_effects_table(conn)
    return conn


@pytest.fixture
def server_log(pg_server: object) -> Path | None:
    emb = getattr(pg_server, "embedded", None)
    return None if emb is None or emb.basedir is None else Path(emb.basedir) / "server.log"


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not COUNTS:
        return
    tr = terminalreporter
    tr.section("pgflow reliability: faults injected and what was lost")
    for area in sorted(COUNTS):
        metrics = ", ".join(f"{k}={v}" for k, v in sorted(COUNTS[area].items()))
        tr.write_line(f"{area}: {metrics}")
    path = os.environ.get("PGFLOW_RELIABILITY_REPORT")
    if path:
        Path(path).write_text(json.dumps({a: dict(m) for a, m in COUNTS.items()}, indent=2, sort_keys=True))
