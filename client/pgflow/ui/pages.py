"""The dashboard's pages (GET): runs, a run (with its live fragment and event stream), flows,
workers. Each handler parses its parameters, reads through data.py and renders a template; bad
parameters get a 400 page that names what was wrong."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from psycopg_pool import AsyncConnectionPool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response, StreamingResponse
from starlette.templating import Jinja2Templates

from pgflow import queries
from pgflow.ui import data, events
from pgflow.ui.app import path_for, settings_of

RUN_STATUSES = ("started", "completed", "failed", "cancelled")
DONE_MESSAGES = {  # ?done=<key> after an action: fixed texts, nothing echoed from the URL
    "started": "Run started.",
    "cancelled": "Run cancelled.",
    "retried": "This is the new run started by retry.",
    "resumed": "Run resumed.",
}


class BadRequest(Exception):
    pass


def _pool(request: Request) -> AsyncConnectionPool[Any]:
    pool: AsyncConnectionPool[Any] = request.state.pool
    return pool


def render(request: Request, name: str, context: dict[str, Any], status_code: int = 200) -> Response:
    t: Jinja2Templates = request.app.state.templates
    settings = settings_of(request)
    base = {"read_only": settings.read_only, "nav": name.split(".")[0]}
    return t.TemplateResponse(request, name, {**base, **context}, status_code=status_code)


def error_page(request: Request, status_code: int, title: str, message: str,
               back: tuple[str, str] | None = None) -> Response:
    return render(request, "error.html", {"title": title, "message": message, "back": back}, status_code)


def _run_id(request: Request) -> uuid.UUID:
    text = request.path_params["run_id"]
    try:
        return uuid.UUID(text)
    except ValueError:
        raise HTTPException(404, f"not a run id: {text!r}") from None


def _when(params: Any, name: str) -> dt.datetime | None:
    text = (params.get(name) or "").strip()
    if not text:
        return None
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        raise BadRequest(f"{name}: not a date and time: {text!r} (expected YYYY-MM-DDTHH:MM, UTC)") from None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


async def home(request: Request) -> Response:
    return RedirectResponse(path_for(request, "runs"), status_code=302)


async def healthz(request: Request) -> Response:
    """ok once the pool answers and the LISTEN connection is in place; 503 before."""
    async with _pool(request).connection() as conn:
        await conn.execute(queries.UI_PING)
    notifier: events.Notifier = request.state.notifier
    if not notifier.connected:
        return PlainTextResponse("waiting for the LISTEN connection", status_code=503)
    return PlainTextResponse("ok")


async def runs(request: Request) -> Response:
    q = request.query_params
    try:
        status = q.get("status") or None
        if status is not None and status not in RUN_STATUSES:
            raise BadRequest(f"status: {status!r} is not one of {', '.join(RUN_STATUSES)}")
        filters = data.RunFilters(flow_slug=q.get("flow") or None, status=status,
                                  since=_when(q, "since"), until=_when(q, "until"))
        after = data.Cursor.decode(q["after"]) if q.get("after") else None
        before = data.Cursor.decode(q["before"]) if q.get("before") else None
    except (BadRequest, ValueError) as exc:
        return error_page(request, 400, "Bad filter", str(exc), back=(path_for(request, "runs"), "all runs"))
    async with _pool(request).connection() as conn:
        page = await data.runs_page(conn, filters, after=after, before=before)
        flow_rows = await data.flows(conn)
    keep = {k: v for k, v in (("flow", filters.flow_slug), ("status", filters.status),
                              ("since", q.get("since")), ("until", q.get("until"))) if v}
    if q.get("fragment") == "table":  # the first page's table, for the page's script to swap in
        response = render(request, "_runs_table.html", {"page": page, "keep": keep})
        response.headers["cache-control"] = "no-store"
        return response
    return render(request, "runs.html", {
        "page": page, "filters": filters, "flows": flow_rows, "statuses": RUN_STATUSES, "keep": keep,
        "since": q.get("since", ""), "until": q.get("until", ""), "first_page": after is None and before is None,
    })


async def _run_view(request: Request) -> data.RunView:
    run_id = _run_id(request)
    async with _pool(request).connection() as conn:
        view = await data.run_view(conn, run_id)
    if view is None:
        raise HTTPException(404, f"no run {run_id}")
    return view


async def run(request: Request) -> Response:
    view = await _run_view(request)
    done = DONE_MESSAGES.get(request.query_params.get("done", ""))
    return render(request, "run.html", {"view": view, "done": done})


async def run_live(request: Request) -> Response:
    """The part of the run page that changes, for the page's script to swap in."""
    view = await _run_view(request)
    response = render(request, "_run_live.html", {"view": view})
    response.headers["cache-control"] = "no-store"
    return response


TASK_STATUSES = ("queued", "started", "completed", "failed", "cancelled")


async def step_tasks(request: Request) -> Response:
    """Every task of one step of a run, a page at a time by task index, optionally of one status."""
    run_id = _run_id(request)
    slug = request.path_params["step_slug"]
    q = request.query_params
    back = (path_for(request, "run", run_id=run_id), "the run")
    status = q.get("status") or None
    if status is not None and status not in TASK_STATUSES:
        return error_page(request, 400, "Bad filter", f"status: {status!r} is not one of {', '.join(TASK_STATUSES)}",
                          back=back)
    try:
        after = int(q.get("after", "-1"))
    except ValueError:
        return error_page(request, 400, "Bad position", f"after: not a task index: {q.get('after')!r}", back=back)
    async with _pool(request).connection() as conn:
        view = await data.step_tasks_view(conn, run_id, slug, status=status, after=after)
    if view is None:
        raise HTTPException(404, f"no step {slug!r} in run {run_id}")
    return render(request, "step.html", {"view": view, "status": status, "statuses": TASK_STATUSES,
                                         "first_page": after < 0})


async def run_events(request: Request) -> Response:
    run_id = _run_id(request)
    notifier: events.Notifier = request.state.notifier
    return StreamingResponse(events.stream(notifier, str(run_id)), media_type="text/event-stream",
                             headers={"cache-control": "no-store", "x-accel-buffering": "no"})


async def all_events(request: Request) -> Response:
    """The run-level events (run:started, run:completed, ...) of every run, for the runs list."""
    notifier: events.Notifier = request.state.notifier
    return StreamingResponse(events.stream(notifier, None), media_type="text/event-stream",
                             headers={"cache-control": "no-store", "x-accel-buffering": "no"})


async def flows(request: Request) -> Response:
    async with _pool(request).connection() as conn:
        rows = await data.flows(conn)
    return render(request, "flows.html", {"flows": rows})


async def flow(request: Request, *, status_code: int = 200, message: str | None = None,
               input_text: str = "{}") -> Response:
    slug = request.path_params["flow_slug"]
    async with _pool(request).connection() as conn:
        view = await data.flow_view(conn, slug)
    if view is None:
        raise HTTPException(404, f"no flow {slug!r}")
    return render(request, "flow.html", {"view": view, "message": message, "input_text": input_text},
                  status_code)


async def workers(request: Request) -> Response:
    async with _pool(request).connection() as conn:
        view = await data.workers_view(conn)
    return render(request, "workers.html", {"view": view, "silent_after": settings_of(request).worker_silent_after})


async def not_found(request: Request, exc: Exception) -> Response:
    detail = exc.detail if isinstance(exc, HTTPException) and exc.detail != "Not Found" else \
        f"nothing at {request.url.path}"
    return error_page(request, 404, "Not found", detail, back=(path_for(request, "runs"), "runs"))


async def not_allowed(request: Request, exc: Exception) -> Response:
    return error_page(request, 405, "Method not allowed",
                      f"{request.method} is not allowed here; actions are POST forms on the run and flow pages")
