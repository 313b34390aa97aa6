"""The viewing role the README documents (pgflow.grant_viewer) serves every page of the dashboard,
read-only and with a token, and the dashboard's actions under it fail with a message about the
role (not a crash); the terminal views work under it too."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.support.cli import run_cli
from tests.ui.conftest import TOKEN, UiServer, claim, fail, make_flow, start_run, start_server

README = Path(__file__).resolve().parents[2] / "README.md"
PAGES = ("/runs", "/runs/{run}", "/runs/{run}/live", "/runs/{run}/steps/b", "/flows", "/flows/seen", "/workers")


def _documented_grants() -> str:
    text = README.read_text(encoding="utf-8")
    block = re.search(r"<!-- viewer-role -->\n```sql\n(.*?)```", text, re.S)
    assert block is not None, "README.md has no ```sql block after <!-- viewer-role -->"
    return block.group(1)


@pytest.fixture
def viewer_dsn(db_dsn: str, conn: psycopg.Connection[Any]) -> Iterator[str]:
    make_flow(conn, "seen", [("a", [], "single"), ("b", ["a"], "map")])  # before the grant: its queue too
    role = f"viewer_{uuid.uuid4().hex[:8]}"
    conn.execute(_documented_grants().replace("pgflow_viewer", role).replace("'change me'", "'pw'"))
    yield re.sub(r"//[^@/]+@", f"//{role}:pw@", db_dsn)
    conn.execute(f"drop owned by {role}")
    conn.execute(f"drop role {role}")


def _check_pages(ui: UiServer, run_id: uuid.UUID) -> None:
    for path in PAGES:
        r = ui.get(path.format(run=run_id))
        assert r.status_code == 200, (path, r.text[:500])
    workers = ui.get("/workers").text
    assert "queue depth unavailable" not in workers and "seen" in workers


def test_the_documented_viewer_role_serves_every_page_and_writes_nothing(
    viewer_dsn: str, conn: psycopg.Connection[Any]
) -> None:
    run_id = start_run(conn, "seen", {"x": 1})
    claim(conn, "seen")
    with psycopg.connect(viewer_dsn, autocommit=True) as viewer:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            viewer.execute("select pgflow.start_flow('seen', '{}')")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            viewer.execute("delete from pgflow.runs")

    read_only: Iterator[UiServer] = start_server(viewer_dsn, token=None, read_only=True)
    ui = next(read_only)
    try:
        _check_pages(ui, run_id)
        assert "read-only" in ui.get("/runs").text
        assert ui.post("/flows/seen/start", data={"input": "{}"}).status_code == 403
    finally:
        next(read_only, None)

    with_token: Iterator[UiServer] = start_server(viewer_dsn, token=TOKEN)
    ui = next(with_token)
    try:
        _check_pages(ui, run_id)
        r = ui.post("/flows/seen/start", data={"input": "{}", "token": TOKEN})
        assert r.status_code == 403 and "role may not start runs" in r.text
        r = ui.post(f"/runs/{run_id}/cancel", data={"token": TOKEN})
        assert r.status_code == 403, r.text[:300]
    finally:
        next(with_token, None)
    assert conn.execute("select count(*), min(status) from pgflow.runs").fetchone() == (1, "started")


def test_the_terminal_views_work_as_the_viewer(viewer_dsn: str, conn: psycopg.Connection[Any]) -> None:
    run_id = start_run(conn, "seen", {"x": 1})
    claim(conn, "seen")
    fail(conn, run_id, "a", 0, "boom")
    status = run_cli("status", str(run_id), "--dsn", viewer_dsn)
    assert status.returncode == 0 and "status   failed" in status.stdout, status.stderr
    inspect = run_cli("inspect", str(run_id), "--dsn", viewer_dsn)
    assert inspect.returncode == 0 and "error    boom" in inspect.stdout, inspect.stderr
    runs = run_cli("runs", "--dsn", viewer_dsn)
    assert runs.returncode == 0 and str(run_id) in runs.stdout, runs.stderr
