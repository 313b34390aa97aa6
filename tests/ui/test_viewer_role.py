"""The read-only role the README documents for the dashboard serves every page, and the
dashboard's actions under it fail with a message about the role (not a crash)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.ui.conftest import TOKEN, UiServer, claim, make_flow, start_run, start_server

README = Path(__file__).resolve().parents[2] / "README.md"


def _documented_grants() -> str:
    text = README.read_text(encoding="utf-8")
    block = re.search(r"<!-- viewer-role -->\n```sql\n(.*?)```", text, re.S)
    assert block is not None, "README.md has no ```sql block after <!-- viewer-role -->"
    return block.group(1)


@pytest.fixture
def viewer_dsn(db_dsn: str, conn: psycopg.Connection[Any]) -> Iterator[str]:
    role = f"viewer_{uuid.uuid4().hex[:8]}"
    conn.execute(_documented_grants().replace("pgflow_viewer", role).replace("'change me'", "'pw'"))
    yield re.sub(r"//[^@/]+@", f"//{role}:pw@", db_dsn)
    conn.execute(f"drop owned by {role}")
    conn.execute(f"drop role {role}")


def test_the_documented_viewer_role_serves_every_page_and_writes_nothing(
    viewer_dsn: str, conn: psycopg.Connection[Any]
) -> None:
    make_flow(conn, "seen", [("a", [], "single"), ("b", ["a"], "map")])
    run_id = start_run(conn, "seen", {"x": 1})
    claim(conn, "seen")
    with psycopg.connect(viewer_dsn, autocommit=True) as viewer:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            viewer.execute("select pgflow.start_flow('seen', '{}')")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            viewer.execute("delete from pgflow.runs")
    servers: Iterator[UiServer] = start_server(viewer_dsn, token=TOKEN)
    ui = next(servers)
    try:
        for path in ("/runs", f"/runs/{run_id}", f"/runs/{run_id}/live", "/flows", "/flows/seen", "/workers"):
            r = ui.get(path)
            assert r.status_code == 200, (path, r.text[:500])
        assert "queue depth unavailable" not in ui.get("/workers").text
        r = ui.post("/flows/seen/start", data={"input": "{}", "token": TOKEN})
        assert r.status_code == 403 and "role may not start runs" in r.text
        assert conn.execute("select count(*) from pgflow.runs").fetchone() == (1,)
    finally:
        next(servers, None)
