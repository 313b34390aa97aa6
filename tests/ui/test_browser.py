"""The dashboard in a real headless Chromium: the runs list, a run page, a step changing state
while the page is open (no reload), the actions, and escaped user data that never runs."""

from __future__ import annotations

import uuid
from typing import Any

import psycopg
from selenium.webdriver.common.by import By

from tests.ui.browser import Browser, browser  # noqa: F401  (the fixture)
from tests.ui.conftest import TOKEN, UiServer, claim, complete, fail, make_flow, start_run

SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(1)>'


def _node_status(b: Browser, step: str) -> str:
    return str(b.driver.execute_script(
        "var n = document.querySelector('g.node[data-step=\"' + arguments[0] + '\"]');"
        "return n ? n.getAttribute('data-status') : null;", step))


def _digest_flow(conn: psycopg.Connection[Any]) -> None:
    make_flow(conn, "article_digest", [("fetch", [], "single"), ("paragraphs", ["fetch"], "map"),
                                       ("keywords", ["fetch"], "single"), ("summary", ["paragraphs"], "single"),
                                       ("publish", ["summary", "keywords"], "single")])


def test_runs_list_then_a_run_that_updates_live_without_a_reload(
    ui: UiServer, conn: psycopg.Connection[Any], browser: Browser,  # noqa: F811
) -> None:
    _digest_flow(conn)
    older = start_run(conn, "article_digest", {"url": "https://example.com/older"})
    run_id = start_run(conn, "article_digest", {"url": "https://example.com/a"})
    b = browser
    b.driver.get(ui.url + "/runs")
    rows = b.driver.find_elements(By.CSS_SELECTOR, "table.runs tbody tr")
    assert [r.find_element(By.CSS_SELECTOR, "a.mono").text for r in rows] == [str(run_id), str(older)]
    # the first page of the list shows a run started meanwhile, without a reload
    b.wait_js("the list's event stream", "return document.getElementById('live-state').textContent === 'live'")
    b.driver.execute_script("window.__sameDocument = 'list';")
    newest = start_run(conn, "article_digest", {"url": "https://example.com/newest"})
    b.wait_js("the new run in the list", "var a = document.querySelector('table.runs tbody tr a.mono');"
              f"return a !== null && a.textContent === '{newest}'")
    assert b.driver.execute_script("return window.__sameDocument") == "list"
    b.screenshot("runs-list")
    rows = b.driver.find_elements(By.CSS_SELECTOR, "table.runs tbody tr")
    assert len(rows) == 3
    rows = rows[1:]
    rows[0].find_element(By.CSS_SELECTOR, "a.mono").click()
    b.wait_js("the run page", "return document.querySelector('svg.dag') !== null")
    assert b.driver.current_url == f"{ui.url}/runs/{run_id}"
    assert _node_status(b, "fetch") == "started" and _node_status(b, "paragraphs") == "created"
    b.wait_js("the event stream to connect", "return document.getElementById('live-state').textContent === 'live'")
    b.driver.execute_script("window.__sameDocument = 'yes';")

    # complete fetch through SQL while the page is open: the map starts, 5 elements
    for rid, step, idx in claim(conn, "article_digest"):
        if rid == run_id:
            complete(conn, rid, step, idx, [f"paragraph {i}" for i in range(5)])
    b.wait_js("fetch to turn completed", "return document.querySelector('g.node[data-step=fetch]')"
              ".getAttribute('data-status') === 'completed'")
    assert _node_status(b, "paragraphs") == "started" and _node_status(b, "keywords") == "started"
    # the event stream, not only the in-progress refresh, drove it: the note shows an event's name
    b.wait_js("an event to arrive", "return document.getElementById('live-note').textContent"
              ".startsWith('last event: step:')")
    tasks = [t for t in claim(conn, "article_digest") if t[0] == run_id and t[1] == "paragraphs"]
    for rid, step, idx in sorted(tasks)[:3]:
        complete(conn, rid, step, idx, f"summary of {idx}")
    b.wait_js("the map to show 3/5", "return document.querySelector('g.node[data-step=paragraphs] .count')"
              ".textContent === '3/5'")
    assert b.driver.execute_script("return window.__sameDocument") == "yes"  # no reload happened
    assert int(b.driver.find_element(By.ID, "live").get_attribute("data-refreshes") or 0) >= 2
    b.screenshot("run-map-midway")


def test_a_failed_run_shows_its_error(ui: UiServer, conn: psycopg.Connection[Any], browser: Browser) -> None:  # noqa: F811
    _digest_flow(conn)
    run_id = start_run(conn, "article_digest", {"url": "https://example.com/broken"})
    (rid, step, idx), = claim(conn, "article_digest")
    complete(conn, rid, step, idx, ["intro", "body"])
    tasks = claim(conn, "article_digest")
    for rid, step, idx in sorted(tasks, key=lambda t: t[1] != "paragraphs"):  # the map's first, then the failure
        if step == "paragraphs":
            complete(conn, rid, step, idx, f"ok {idx}")
        else:
            fail(conn, rid, step, idx, "KeyError: 'keywords' (the extractor returned no keywords)")
    browser.driver.get(f"{ui.url}/runs/{run_id}")
    assert _node_status(browser, "keywords") == "failed"
    assert browser.text("#run-status") == "failed"
    assert "the extractor returned no keywords" in browser.text("#step-keywords")
    assert browser.driver.find_element(By.ID, "action-retry").is_displayed()
    assert not browser.driver.find_element(By.ID, "action-cancel").is_displayed()
    browser.screenshot("run-failed")


def test_start_a_run_then_cancel_it(ui: UiServer, conn: psycopg.Connection[Any], browser: Browser) -> None:  # noqa: F811
    _digest_flow(conn)
    b = browser
    b.driver.get(ui.url + "/flows/article_digest")
    assert len(b.driver.find_elements(By.CSS_SELECTOR, "svg.dag g.node")) == 5
    area = b.driver.find_element(By.ID, "start-input")
    area.clear()
    area.send_keys('{"url": "https://example.com/from-the-browser"}')
    b.driver.find_element(By.CSS_SELECTOR, "form.start input[name=token]").send_keys(TOKEN)
    b.screenshot("flow-page")
    b.driver.find_element(By.ID, "action-start").click()
    b.wait_js("the new run's page", "return document.getElementById('run-status') !== null")
    assert "Run started." in b.driver.find_element(By.CSS_SELECTOR, ".flash.ok").text
    run_id = uuid.UUID(b.driver.current_url.split("/runs/")[1].split("?")[0])
    row = conn.execute("select input from pgflow.runs where run_id = %s", (run_id,)).fetchone()
    assert row == ({"url": "https://example.com/from-the-browser"},)

    # the token typed once is remembered for the tab
    assert b.driver.find_element(By.CSS_SELECTOR, "form.actions input[name=token]").get_attribute("value") == TOKEN
    b.driver.find_element(By.ID, "action-cancel").click()
    has_cancel = conn.execute("select to_regprocedure('pgflow.cancel_run(uuid)') is not null").fetchone() == (True,)
    if has_cancel:
        b.wait_js("the run to show cancelled", "return (document.getElementById('run-status') || {}).textContent"
                  " === 'cancelled'")
        assert conn.execute("select status from pgflow.runs where run_id = %s", (run_id,)).fetchone() == ("cancelled",)
    else:
        b.wait_js("the action's answer", "return document.querySelector('.flash.error') !== null")
        answer = b.driver.find_element(By.CSS_SELECTOR, ".flash.error").text
        assert "has no pgflow.cancel_run(run_id uuid) yet" in answer
    b.screenshot("after-cancel")


def test_user_data_never_runs_in_the_page_nor_in_live_updates(
    ui: UiServer, conn: psycopg.Connection[Any], browser: Browser,  # noqa: F811
) -> None:
    make_flow(conn, "xss", [("first", [], "single"), ("fan", ["first"], "map"), ("last", ["fan"], "single")])
    run_id = start_run(conn, "xss", {"name": SCRIPT, "note": IMG})
    (rid, step, idx), = claim(conn, "xss")
    complete(conn, rid, step, idx, [SCRIPT, IMG])
    b = browser
    b.driver.get(f"{ui.url}/runs/{run_id}")
    b.assert_no_alert()
    b.wait_js("the event stream to connect", "return document.getElementById('live-state').textContent === 'live'")
    counts = "return [document.images.length, document.scripts.length, document.querySelectorAll('img').length]"
    assert b.driver.execute_script(counts) == [0, 1, 0]
    shown = b.text("#run-input")
    assert SCRIPT in shown and IMG in shown

    # a live update brings more user text: an error message and an output
    tasks = sorted(claim(conn, "xss"))
    complete(conn, *tasks[0], IMG)
    fail(conn, *tasks[1], f"{SCRIPT} {IMG}")
    b.wait_js("the failure to arrive live", "return document.getElementById('run-status').textContent === 'failed'")
    b.assert_no_alert()
    assert b.driver.execute_script(counts) == [0, 1, 0]
    assert f"{SCRIPT} {IMG}" in b.text("#step-fan")
    b.screenshot("escaping")
