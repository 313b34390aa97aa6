"""The dashboard's actions: POST only, the token checked, read-only refusing, JSON input checked,
and cancel/retry/resume calling the run-control functions when the database has them (a clear
501 when it does not)."""

from __future__ import annotations

import re
import uuid
from typing import Any

import psycopg
import pytest

from tests.ui.conftest import TOKEN, UiServer, claim, fail, make_flow, start_run


def _runs_of(conn: psycopg.Connection[Any], flow: str) -> list[tuple[uuid.UUID, Any]]:
    return [(uuid.UUID(str(r[0])), r[1]) for r in
            conn.execute("select run_id, input from pgflow.runs where flow_slug = %s order by started_at", (flow,))]


def test_start_a_run_with_a_json_input(ui: UiServer, conn: psycopg.Connection[Any]) -> None:
    make_flow(conn, "greet", [("hello", [], "single")])
    r = ui.post("/flows/greet/start", data={"input": '{"name": "Ada"}', "token": TOKEN})
    assert r.status_code == 303
    (run_id, value), = _runs_of(conn, "greet")
    assert value == {"name": "Ada"} and r.headers["location"] == f"/runs/{run_id}?done=started"
    assert "Run started." in ui.get(r.headers["location"]).text
    r = ui.post("/flows/greet/start", data={"input": "[1, 2]"}, headers={"Authorization": f"Bearer {TOKEN}"})
    assert r.status_code == 303 and [v for _, v in _runs_of(conn, "greet")] == [{"name": "Ada"}, [1, 2]]


def test_start_refuses_bad_json_and_keeps_what_was_typed(ui: UiServer, conn: psycopg.Connection[Any]) -> None:
    make_flow(conn, "greet", [("hello", [], "single")])
    r = ui.post("/flows/greet/start", data={"input": '{"name": ', "token": TOKEN})
    assert r.status_code == 400 and "the input is not JSON: Expecting value" in r.text
    assert '>{&#34;name&#34;: </textarea>' in r.text
    r = ui.post("/flows/nope/start", data={"input": "{}", "token": TOKEN})
    assert r.status_code == 404 and "no flow &#39;nope&#39;" in r.text
    assert _runs_of(conn, "greet") == []


@pytest.mark.parametrize("auth", [{}, {"token": "wrong"}, {"token": TOKEN[:-1]}])
def test_actions_need_the_token(ui: UiServer, conn: psycopg.Connection[Any], auth: dict[str, str]) -> None:
    make_flow(conn, "greet", [("hello", [], "single")])
    run_id = start_run(conn, "greet", {})
    r = ui.post("/flows/greet/start", data={"input": "{}", **auth})
    assert r.status_code == 403 and ("wrong token" in r.text or "needs the dashboard&#39;s token" in r.text)
    r = ui.post(f"/runs/{run_id}/cancel", data=auth, headers={"Authorization": "Bearer nope"})
    assert r.status_code == 403
    assert len(_runs_of(conn, "greet")) == 1
    assert conn.execute("select status from pgflow.runs where run_id = %s", (run_id,)).fetchone() == ("started",)


def test_read_only_shows_no_actions_and_refuses_them(ui_read_only: UiServer, conn: psycopg.Connection[Any]) -> None:
    ui = ui_read_only
    make_flow(conn, "greet", [("hello", [], "single")])
    run_id = start_run(conn, "greet", {})
    run_page, flow_page = ui.get(f"/runs/{run_id}").text, ui.get("/flows/greet").text
    assert "<form" not in run_page and "action-cancel" not in run_page
    assert "Start a run" not in flow_page and 'name="token"' not in flow_page
    for path in ("/flows/greet/start", f"/runs/{run_id}/cancel", f"/runs/{run_id}/retry"):
        r = ui.post(path, data={"input": "{}", "token": "anything"})
        assert r.status_code == 403 and "read-only" in r.text
    assert len(_runs_of(conn, "greet")) == 1


def test_only_form_posts_are_actions(ui: UiServer, conn: psycopg.Connection[Any]) -> None:
    make_flow(conn, "greet", [("hello", [], "single")])
    run_id = start_run(conn, "greet", {})
    assert ui.get(f"/runs/{run_id}/cancel").status_code == 405
    r = ui.post(f"/runs/{run_id}/cancel", json={"token": TOKEN})
    assert r.status_code == 415 and "x-www-form-urlencoded" in r.text
    r = ui.post(f"/runs/{run_id}/explode", data={"token": TOKEN})
    assert r.status_code == 404 and "no action &#39;explode&#39;" in r.text


def test_run_control_actions(ui: UiServer, conn: psycopg.Connection[Any]) -> None:
    """cancel on a started run, retry and resume on a failed one: through the SQL functions when the
    database has them, else a 501 that names the missing function."""
    make_flow(conn, "greet", [("hello", [], "single")])
    started = start_run(conn, "greet", {"n": 1})
    failed = start_run(conn, "greet", {"n": 2})  # retried
    stopped = start_run(conn, "greet", {"n": 3})  # resumed
    for run_id, step, index in claim(conn, "greet"):
        if run_id in (failed, stopped):
            fail(conn, run_id, step, index, "boom")
    present = {name: conn.execute("select to_regprocedure(%s) is not null", (f"pgflow.{name}(uuid)",)).fetchone()[0]  # type: ignore[index]
               for name in ("cancel_run", "retry_run", "resume_run")}

    r = ui.post(f"/runs/{started}/cancel", data={"token": TOKEN})
    if present["cancel_run"]:
        assert r.status_code == 303 and r.headers["location"] == f"/runs/{started}?done=cancelled"
        assert conn.execute("select status from pgflow.runs where run_id = %s", (started,)).fetchone() == ("cancelled",)
    else:
        assert r.status_code == 501 and "this database has no pgflow.cancel_run(run_id uuid) yet" in r.text

    r = ui.post(f"/runs/{failed}/retry", data={"token": TOKEN})
    if present["retry_run"]:
        assert r.status_code == 303
        new_id = re.match(r"/runs/([0-9a-f-]{36})\?done=retried$", r.headers["location"])
        assert new_id is not None and uuid.UUID(new_id.group(1)) != failed
    else:
        assert r.status_code == 501 and "pgflow.retry_run" in r.text

    r = ui.post(f"/runs/{stopped}/resume", data={"token": TOKEN})
    if present["resume_run"]:
        assert r.status_code == 303 and r.headers["location"] == f"/runs/{stopped}?done=resumed"
    else:
        assert r.status_code == 501 and "pgflow.resume_run" in r.text
