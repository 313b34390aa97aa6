"""The dashboard's pages over HTTP against a real server and database: the runs list (filters,
keyset pages), a run (DAG, map progress, tasks, history), flows, workers, and bad parameters."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Any

import psycopg

from tests.ui.conftest import UiServer, claim, complete, fail, make_flow, start_run

RUN_ID = re.compile(r'href="/runs/([0-9a-f-]{36})"')


def _listed(html: str) -> list[str]:
    return list(dict.fromkeys(RUN_ID.findall(html)))


def test_runs_list_is_newest_first_filtered_and_paged_by_keyset(ui: UiServer, conn: psycopg.Connection[Any]) -> None:
    make_flow(conn, "alpha", [("one", [], "single")])
    make_flow(conn, "beta", [("one", [], "single")])
    base = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    runs: list[tuple[dt.datetime, str, str]] = []
    for i in range(120):
        flow = "alpha" if i % 3 else "beta"
        run_id = start_run(conn, flow, {"i": i})
        at = base + dt.timedelta(minutes=i // 2)  # pairs share a start time: the run id breaks the tie
        conn.execute("update pgflow.runs set started_at = %s where run_id = %s", (at, run_id))
        runs.append((at, str(run_id), flow))
    newest_first = [r for _, r, _ in sorted(runs, reverse=True)]

    seen: list[str] = []
    path = "/runs"
    while True:
        page = ui.get(path)
        assert page.status_code == 200
        seen += _listed(page.text)
        more = re.search(r'rel="next" href="([^"]+)"', page.text)
        if not more:
            break
        path = more.group(1).replace("&amp;", "&")
    assert seen == newest_first

    # the "newer" link of the second page leads back to the first page's rows
    second = ui.get(re.search(r'rel="next" href="([^"]+)"', ui.get("/runs").text).group(1).replace("&amp;", "&"))  # type: ignore[union-attr]
    back = re.search(r'rel="prev" href="([^"]+)"', second.text)
    assert back is not None
    assert _listed(ui.get(back.group(1).replace("&amp;", "&")).text) == newest_first[:50]

    betas = _listed(ui.get("/runs", params={"flow": "beta"}).text)
    assert betas == [r for r in newest_first if dict((x[1], x[2]) for x in runs)[r] == "beta"][:50]
    window = ui.get("/runs", params={"since": "2026-01-01T00:10", "until": "2026-01-01T00:20"}).text
    assert _listed(window) == [r for at, r, _ in sorted(runs, reverse=True)
                               if base + dt.timedelta(minutes=10) <= at < base + dt.timedelta(minutes=20)]
    assert _listed(ui.get("/runs", params={"status": "completed"}).text) == []
    assert "No runs match these filters" in ui.get("/runs", params={"status": "completed"}).text


def test_bad_filters_and_unknown_things_get_pages_that_say_what_was_wrong(ui: UiServer) -> None:
    r = ui.get("/runs", params={"status": "bogus"})
    assert r.status_code == 400 and "status: &#39;bogus&#39; is not one of started" in r.text
    r = ui.get("/runs", params={"since": "yesterday"})
    assert r.status_code == 400 and "since: not a date and time: &#39;yesterday&#39;" in r.text
    r = ui.get("/runs", params={"after": "nonsense"})
    assert r.status_code == 400 and "not a runs-list position" in r.text
    r = ui.get(f"/runs/{uuid.uuid4()}")
    assert r.status_code == 404 and "no run " in r.text
    r = ui.get("/runs/not-a-uuid")
    assert r.status_code == 404 and "not a run id: &#39;not-a-uuid&#39;" in r.text
    r = ui.get("/flows/nope")
    assert r.status_code == 404 and "no flow &#39;nope&#39;" in r.text
    assert ui.get(f"/runs/{uuid.uuid4()}/cancel").status_code == 405  # actions are POST only
    r = ui.get("/runs")
    assert "default-src 'self'" in r.headers["content-security-policy"] and r.headers["x-frame-options"] == "DENY"


def test_run_page_draws_the_dag_with_states_map_progress_tasks_and_history(
    ui: UiServer, conn: psycopg.Connection[Any]
) -> None:
    make_flow(conn, "digest", [("fetch", [], "single"), ("items", ["fetch"], "map"),
                               ("summary", ["items"], "single"), ("notify", ["fetch"], "single")])
    run_id = start_run(conn, "digest", {"url": "https://example.com"})
    (rid, step, idx), = claim(conn, "digest")
    complete(conn, rid, step, idx, ["a", "b", "c", "d"])
    tasks = claim(conn, "digest")
    items = sorted(t for t in tasks if t[1] == "items")
    complete(conn, *items[0][:3], "A")
    complete(conn, *items[1][:3], "B")
    notify = next(t for t in tasks if t[1] == "notify")
    fail(conn, *notify, "SMTP said no")

    html = ui.get(f"/runs/{run_id}").text
    nodes = dict(re.findall(r'data-step="([a-z_]+)" data-status="([a-z]*)">\s*<title>', html))
    assert nodes == {"fetch": "completed", "items": "started", "summary": "created", "notify": "failed"}
    assert '<tspan class="count">2/4</tspan>' in html
    edges = re.findall(r'data-from="([a-z]+)" data-to="([a-z]+)"', html)
    assert sorted(edges) == [("fetch", "items"), ("fetch", "notify"), ("items", "summary")]
    assert "https://example.com" in html and "SMTP said no" in html
    assert html.count('class="badge st-failed"') >= 3  # the run, the notify step and its task
    history = re.findall(r"<tr><td>[^<]+</td><td>([a-z:]+)</td>", html)
    assert history[0] == "run:started" and "step:completed" in history and history[-1] == "run:failed"
    assert ui.get(f"/runs/{run_id}/live").text.count("<svg") == 1


def test_flows_and_workers_pages(ui: UiServer, conn: psycopg.Connection[Any]) -> None:
    make_flow(conn, "shape", [("a", [], "single"), ("b", ["a"], "map")])
    conn.execute("select pgflow.add_step('shape', 'c', deps_slugs => array['a', 'b'], timeout => 7, "
                 "required_input_pattern => '{\"go\": true}')")
    html = ui.get("/flows").text
    assert 'href="/flows/shape"' in html
    html = ui.get("/flows/shape").text
    assert len(re.findall(r'<g class="node st-definition', html)) == 3
    assert "{&#34;go&#34;: true}" in html and "7 s" in html
    start_run(conn, "shape", {})
    claim(conn, "shape")
    conn.execute("insert into pgflow.workers (worker_id, queue_name, function_name, stopped_at) "
                 "values (gen_random_uuid(), 'shape', 'old', now())")
    html = ui.get("/workers").text
    assert re.search(r'badge w-alive">alive</span>.*?<td>1</td>', html, re.S)
    assert 'badge w-stopped">stopped</span>' in html
    assert re.search(r'<td><a href="/flows/shape">shape</a></td><td>\d+</td>', html)


def test_a_big_map_shows_its_progress_and_what_needs_attention_first(
    ui: UiServer, conn: psycopg.Connection[Any]
) -> None:
    make_flow(conn, "big", [("items", [], "map")])
    run_id = start_run(conn, "big", list(range(300)))
    tasks = sorted(claim(conn, "big", qty=300))
    assert len(tasks) == 300
    for rid, step, idx in tasks[:200]:
        complete(conn, rid, step, idx, idx)
    fail(conn, *tasks[250], "element 250 is cursed")
    html = ui.get(f"/runs/{run_id}").text
    assert '<tspan class="count">200/300</tspan> · 1 failed' in html
    rows = re.findall(r'<tr class="st-([a-z]+)">\s*<td>(\d+)</td>', html)
    assert len(rows) == 50 and rows[0] == ("failed", "250") and all(s == "started" for s, _ in rows[1:])
    assert "50 of 300 tasks shown (failed, started and queued first): 200 completed, 99 started, 0 queued, 1 failed." \
        in html

    # "all tasks": every task by index, 200 a page, optionally of one status
    link = re.search(r'<a href="(/runs/[0-9a-f-]+/steps/items)">all tasks</a>', html)
    assert link is not None
    seen: list[int] = []
    path = link.group(1)
    while path:
        page = ui.get(path).text
        seen += [int(i) for i in re.findall(r'<tr class="st-[a-z]+">\s*<td>(\d+)</td>', page)]
        more = re.search(r'rel="next" href="([^"]+)"', page)
        path = more.group(1).replace("&amp;", "&") if more else ""
    assert seen == list(range(300))
    page = ui.get(link.group(1), params={"status": "failed"}).text
    assert re.findall(r'<tr class="st-([a-z]+)">\s*<td>(\d+)</td>', page) == [("failed", "250")]
    assert "element 250 is cursed" in page
    assert ui.get(link.group(1), params={"status": "nope"}).status_code == 400
    assert ui.get(link.group(1), params={"after": "x"}).status_code == 400
    assert ui.get(link.group(1).replace("/items", "/ghost")).status_code == 404


def test_run_control_columns_are_shown_where_the_schema_has_them(ui: UiServer, conn: psycopg.Connection[Any]) -> None:
    """cancel_run and retry_run add runs.cancelled_at, runs.retry_of_run_id and the status
    'cancelled' (branch runctl); the run page reads them when present (added here by hand) and
    works without them (every other test)."""
    make_flow(conn, "rc", [("one", [], "single")])
    first = start_run(conn, "rc", {})
    second = start_run(conn, "rc", {})
    conn.execute("alter table pgflow.runs drop constraint status_is_valid")
    conn.execute("alter table pgflow.runs add column if not exists cancelled_at timestamptz, "
                 "add column if not exists retry_of_run_id uuid")
    conn.execute("update pgflow.runs set status = 'cancelled', cancelled_at = started_at + interval '2 seconds' "
                 "where run_id = %s", (first,))
    conn.execute("update pgflow.runs set retry_of_run_id = %s where run_id = %s", (first, second))
    html = ui.get(f"/runs/{first}").text
    assert '<span class="badge st-cancelled" id="run-status">cancelled</span>' in html
    assert re.search(r"<dt>Cancelled</dt><dd>[0-9: .-]+ <span class=\"muted\">\(took 2.0 s\)</span>", html)
    assert re.findall(r"<tr><td>[^<]+</td><td>([a-z:]+)</td>", html)[-1] == "run:cancelled"
    html = ui.get(f"/runs/{second}").text
    assert f'<dt>Retry of</dt><dd><a class="mono" href="/runs/{first}">{first}</a></dd>' in html
    assert _listed(ui.get("/runs", params={"status": "cancelled"}).text) == [str(first)]
