"""Live updates over server-sent events, and user data (inputs, outputs, error messages, worker
names, echoed parameters) escaped in every page that shows it."""

from __future__ import annotations

import json
import threading
import uuid
from typing import Any

import httpx
import psycopg

from tests.support.waiting import wait_until
from tests.ui.conftest import UiServer, claim, complete, fail, make_flow, start_run

SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(1)>'
ESCAPED = ("&lt;script&gt;alert(1)&lt;/script&gt;", "&lt;img src=x onerror=alert(1)&gt;")


def _read_events(ui: UiServer, run_id: uuid.UUID | None, want: int, out: list[dict[str, Any]],
                 ready: threading.Event) -> None:
    path = f"/runs/{run_id}/events" if run_id else "/events"
    with httpx.stream("GET", ui.url + path, timeout=30) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        name = ""
        for line in r.iter_lines():
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                if name == "hello":
                    ready.set()
                else:
                    out.append({"name": name, **json.loads(line[6:])})
                    if len(out) >= want:
                        return


def test_a_run_s_event_stream_carries_its_events_and_only_its_own(ui: UiServer, conn: psycopg.Connection[Any]) -> None:
    make_flow(conn, "live", [("one", [], "single"), ("two", ["one"], "single")])
    run_id = start_run(conn, "live", {})
    other = start_run(conn, "live", {})
    got: list[dict[str, Any]] = []
    ready = threading.Event()
    reader = threading.Thread(target=_read_events, args=(ui, run_id, 4, got, ready), daemon=True)
    reader.start()
    assert ready.wait(15), "no hello on the event stream"
    for _ in range(2):  # step one of both runs, then step two of both
        for rid, step, idx in claim(conn, "live"):
            complete(conn, rid, step, idx, {"ok": True})
    reader.join(15)
    assert not reader.is_alive(), f"events missing; got {got}"
    assert [e["event"] for e in got] == ["step:one:completed", "step:two:started", "step:two:completed",
                                         "run:completed"]
    assert {e["run_id"] for e in got} == {str(run_id)} != {str(other)}
    assert all(e["name"] == "pgflow" and set(e) <= {"name", "event", "run_id", "step_slug", "status"} for e in got)


def test_a_lost_listen_connection_is_replaced_and_pages_told_to_resync(
    ui: UiServer, conn: psycopg.Connection[Any]
) -> None:
    make_flow(conn, "live", [("one", [], "single")])
    run_id = start_run(conn, "live", {})
    got: list[dict[str, Any]] = []
    ready = threading.Event()
    reader = threading.Thread(target=_read_events, args=(ui, run_id, 3, got, ready), daemon=True)
    reader.start()
    assert ready.wait(15), "no hello on the event stream"
    killed = conn.execute("select pg_terminate_backend(a.pid) from pg_stat_activity as a "
                          "where a.datname = current_database() and a.query = 'listen pgflow'").fetchall()
    assert killed == [(True,)]
    wait_until("the resync after the reconnect", lambda: got)
    assert got == [{"name": "resync", "event": "resync"}]
    wait_until("the new LISTEN", lambda: conn.execute(
        "select count(*) from pg_stat_activity as a where a.datname = current_database() "
        "and a.query = 'listen pgflow'").fetchone() == (1,))
    (rid, step, idx), = claim(conn, "live")
    complete(conn, rid, step, idx, 1)
    reader.join(15)
    assert [e["event"] for e in got] == ["resync", "step:one:completed", "run:completed"]


def test_the_all_runs_stream_carries_run_level_events_only(ui: UiServer, conn: psycopg.Connection[Any]) -> None:
    make_flow(conn, "live", [("one", [], "single")])
    got: list[dict[str, Any]] = []
    ready = threading.Event()
    reader = threading.Thread(target=_read_events, args=(ui, None, 3, got, ready), daemon=True)
    reader.start()
    assert ready.wait(15), "no hello on the event stream"
    first = start_run(conn, "live", {})
    (rid, step, idx), = claim(conn, "live")
    complete(conn, rid, step, idx, 1)
    second = start_run(conn, "live", {})
    reader.join(15)
    assert not reader.is_alive(), f"events missing; got {got}"
    assert [(e["event"], e["run_id"]) for e in got] == [
        ("run:started", str(first)), ("run:completed", str(first)), ("run:started", str(second))]


def test_user_data_is_escaped_in_every_page(ui: UiServer, conn: psycopg.Connection[Any]) -> None:
    make_flow(conn, "xss", [("first", [], "single"), ("fan", ["first"], "map"), ("last", ["fan"], "single")])
    run_id = start_run(conn, "xss", {"name": SCRIPT, "note": IMG, SCRIPT: IMG})
    (rid, step, idx), = claim(conn, "xss")
    complete(conn, rid, step, idx, [SCRIPT, IMG, {IMG: SCRIPT}])
    tasks = sorted(claim(conn, "xss"))
    complete(conn, *tasks[0], SCRIPT)
    complete(conn, *tasks[1], IMG)
    fail(conn, *tasks[2], f"{SCRIPT} {IMG}")
    conn.execute("insert into pgflow.workers (worker_id, queue_name, function_name) "
                 "values (gen_random_uuid(), 'xss', %s), (gen_random_uuid(), %s, 'fn')", (SCRIPT + IMG, SCRIPT + IMG))

    pages = {
        "run": ui.get(f"/runs/{run_id}").text,
        "live": ui.get(f"/runs/{run_id}/live").text,
        "workers": ui.get("/workers").text,
        "step tasks": ui.get(f"/runs/{run_id}/steps/fan").text,
        "unknown step": ui.get(f"/runs/{run_id}/steps/" + IMG).text,
        "bad since": ui.get("/runs", params={"since": IMG}).text,
        "unknown flow": ui.get("/flows/" + IMG).text,
        "unknown path": ui.get("/nothing/" + IMG).text,
        "bad start input": ui.post("/flows/xss/start", data={"input": IMG, "token": "s3cret-token"}).text,
    }
    for name, html in pages.items():
        assert "<script>alert" not in html and "<img" not in html and "onerror=alert(1)>" not in html, name
        assert any(e in html for e in ESCAPED), f"{name}: the payload is not shown (escaped) at all"
    assert pages["workers"].count("&lt;script&gt;alert(1)&lt;/script&gt;&#34;&gt;&lt;img") == 2  # function, queue
    assert 'href="/flows/%3Cscript%3Ealert%281%29%3C%2Fscript%3E%22%3E%3Cimg' in pages["workers"]
    run_page = pages["run"]
    for escaped in ESCAPED:
        assert run_page.count(escaped) >= 4, escaped  # input, step output, task output, error, history
