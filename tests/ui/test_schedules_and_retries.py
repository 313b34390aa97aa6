"""What the dashboard shows of schedules (pgflow.schedules: on the flows list and a flow's page)
and of retries (a retried run links to the runs that retry_run started from it, and back)."""

from __future__ import annotations

import html
import json
import re
import uuid
from typing import Any

import psycopg

from tests.ui.conftest import UiServer, claim, fail, make_flow, start_run


def test_flows_show_their_schedules_escaped(ui: UiServer, conn: psycopg.Connection[Any]) -> None:
    make_flow(conn, "timed", [("a", [], "single")])
    make_flow(conn, "untimed", [("a", [], "single")])
    conn.execute("select pgflow.create_schedule('timed_nightly', 'timed', '0 3 * * *', %s::jsonb, 'Europe/Paris')",
                 (json.dumps({"note": "<script>alert(1)</script>"}),))
    conn.execute("select pgflow.create_schedule('timed_hourly', 'timed', '15 * * * *', enabled => false)")

    listing = ui.get("/flows").text
    row = re.search(r"<tr>\s*<td><a href=\"/flows/timed\">.*?</tr>", listing, re.S)
    assert row is not None
    assert "<code>15 * * * * (paused)</code><br><code>0 3 * * *</code>" in row.group(0)
    untimed = re.search(r"<tr>\s*<td><a href=\"/flows/untimed\">.*?</tr>", listing, re.S)
    assert untimed is not None and "<td>—</td>" in untimed.group(0)

    page = ui.get("/flows/timed").text
    nightly = re.search(r'<tr id="schedule-timed_nightly">.*?</tr>', page, re.S)
    assert nightly is not None
    cells = [html.unescape(re.sub(r"<[^>]+>", "", c)).strip()
             for c in re.findall(r"<td.*?>(.*?)</td>", nightly.group(0), re.S)]
    assert cells[:4] == ["timed_nightly", "0 3 * * *", "Europe/Paris", "enabled"]
    # the next start, shown in UTC: 03:00 in Paris is 02:00 UTC in winter, 01:00 in summer
    assert re.fullmatch(r"\d{4}-\d\d-\d\d 0[12]:00:00(\.000)?", cells[4]), cells[4]
    assert cells[5:8] == ["—", "allow", "latest"]
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    hourly = re.search(r'<tr id="schedule-timed_hourly">.*?</tr>', page, re.S)
    assert hourly is not None and "<td>paused</td>" in hourly.group(0)
    assert "No schedules" in ui.get("/flows/untimed").text


def test_a_retried_run_links_to_its_retries_and_back(ui: UiServer, conn: psycopg.Connection[Any]) -> None:
    make_flow(conn, "again", [("a", [], "single")])
    original = start_run(conn, "again", {})
    claim(conn, "again")
    fail(conn, original, "a", 0, "boom")
    row = conn.execute("select run_id from pgflow.retry_run(%s)", (original,)).fetchone()
    assert row is not None
    retry = uuid.UUID(str(row[0]))

    page = ui.get(f"/runs/{original}").text
    retried = re.search(r'<dd id="retried-as">(.*?)</dd>', page, re.S)
    assert retried is not None, page[:2000]
    assert f'href="/runs/{retry}"' in retried.group(1) and "started" in retried.group(1)
    assert ui.get(f"/runs/{original}/live").text.count(f'href="/runs/{retry}"') == 1
    back = ui.get(f"/runs/{retry}").text
    assert f'href="/runs/{original}"' in back and 'id="retried-as"' not in back
