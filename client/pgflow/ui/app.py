"""The dashboard as a Starlette application: settings, lifespan (the pool and the LISTEN
connection), security headers and the route table. Pages are in pages.py, actions in actions.py.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import jinja2
from psycopg_pool import AsyncConnectionPool
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pgflow.ui import format as fmt
from pgflow.ui.events import Notifier

HERE = Path(__file__).resolve().parent
POOL_MAX_SIZE = 4
# No inline script or style anywhere: even a value that escaped the templates could not run.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; "
    "base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)
SECURITY_HEADERS = [
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
]


@dataclass(frozen=True, slots=True)
class Settings:
    dsn: str
    token: str | None
    read_only: bool
    # a worker heartbeats every 5 s by default; one silent for this long is shown as "silent"
    worker_silent_after: dt.timedelta = dt.timedelta(seconds=30)


class SecurityHeaders:
    """Adds the headers above to every HTTP response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = list(message.get("headers", [])) + SECURITY_HEADERS
            await send(message)

        await self.app(scope, receive, send_with_headers)


def templates() -> Jinja2Templates:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("pgflow.ui", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(ts=fmt.ts, took=fmt.took, age=fmt.age, pretty_json=fmt.pretty_json,
                       short_json=fmt.short_json)
    t = Jinja2Templates(env=env)

    @jinja2.pass_context
    def url_for(context: dict[str, Any], name: str, /, **params: Any) -> str:
        return path_for(context["request"], name, **params)

    env.globals["url_for"] = url_for
    env.filters["with_query"] = with_query
    return t


def path_for(request: Request, name: str, /, **params: Any) -> str:
    """The path (not the absolute URL: the dashboard may sit behind a proxy) of a named route."""
    if name == "static":
        path = request.app.url_path_for(name, path=params["path"])
    else:  # values may be any text (a worker's queue name): percent-encode them, "/" included
        path = request.app.url_path_for(name, **{k: quote(str(v), safe="") for k, v in params.items()})
    return str(request.scope.get("root_path", "")) + str(path)


def with_query(path: str, **params: Any) -> str:
    """`path` with the non-empty `params` as its query string."""
    query = urlencode({k: v for k, v in params.items() if v not in (None, "")})
    return f"{path}?{query}" if query else path


def create_app(dsn: str, *, token: str | None, read_only: bool) -> Starlette:
    """The dashboard for the database at `dsn`. Actions (start, cancel, retry, resume) need
    `token` in a form field `token` or an `Authorization: Bearer` header; with `read_only` they
    are neither shown nor accepted. A writable dashboard without a token is refused."""
    from pgflow.ui import actions, pages

    if not dsn:
        raise ValueError("no database given: pass the dsn of the pgflow database")
    if not read_only and not token:
        raise ValueError("the dashboard's actions need a token: give one (--token or PGFLOW_UI_TOKEN) "
                         "or make the dashboard read-only (--read-only)")
    settings = Settings(dsn=dsn, token=token or None, read_only=read_only)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
            dsn, min_size=1, max_size=POOL_MAX_SIZE, open=False, name="pgflow-ui",
            kwargs={"autocommit": True, "prepare_threshold": None},
        )
        await pool.open(wait=True, timeout=15)
        notifier = Notifier(dsn)
        await notifier.start()
        try:
            yield {"pool": pool, "notifier": notifier}
        finally:
            await notifier.stop()
            await pool.close()

    routes = [
        Route("/", pages.home, name="home"),
        Route("/runs", pages.runs, name="runs"),
        Route("/runs/{run_id}", pages.run, name="run"),
        Route("/runs/{run_id}/live", pages.run_live, name="run_live"),
        Route("/runs/{run_id}/events", pages.run_events, name="run_events"),
        Route("/runs/{run_id}/steps/{step_slug}", pages.step_tasks, name="step_tasks"),
        Route("/runs/{run_id}/{action:str}", actions.run_action, methods=["POST"], name="run_action"),
        Route("/events", pages.all_events, name="events"),
        Route("/flows", pages.flows, name="flows"),
        Route("/flows/{flow_slug}", pages.flow, name="flow"),
        Route("/flows/{flow_slug}/start", actions.start_run, methods=["POST"], name="start_run"),
        Route("/workers", pages.workers, name="workers"),
        Route("/healthz", pages.healthz, name="healthz"),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    app = Starlette(routes=routes, lifespan=lifespan, middleware=[Middleware(SecurityHeaders)],
                    exception_handlers={404: pages.not_found, 405: pages.not_allowed})
    app.state.settings = settings
    app.state.templates = templates()
    return app


def settings_of(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings
