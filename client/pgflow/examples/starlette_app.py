"""A web app and its worker in one process: a Starlette app whose lifespan runs the worker
(``pgflow.serve``) and whose endpoints start runs and report them.

::

    pip install 'pgflow-py[ui]'        # Starlette and uvicorn
    DATABASE_URL=postgresql://... uvicorn pgflow.examples.starlette_app:app
    # or, in a directory where `pgflow dev` runs, without DATABASE_URL (it reads .pgflow/dev.env)

    curl -X POST localhost:8000/welcome -d '{"name": "ada lovelace", "email": "Ada@Example.com"}'
    # 202 {"run_id": "..."}
    curl 'localhost:8000/runs/<run_id>?wait=5'
    # 200 {"run_id": "...", "status": "completed", "output": {"message": "Welcome, Ada Lovelace! ..."}}

The lifespan opens a connection pool for the requests, then enters ``pgflow.serve([welcome], url)``,
which compiles the flow (or checks it), starts the worker and returns once it polls, so the first
request can already start a run. On shutdown (uvicorn's SIGTERM/Ctrl-C) the worker drains its
in-flight tasks before the pool closes. FastAPI's ``lifespan=`` takes the same function.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import AsyncIterator
from typing import Any

from psycopg_pool import AsyncConnectionPool
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

import pgflow
from pgflow.client import AsyncPgflowSqlClient
from pgflow.dsl import Flow
from pgflow.errors import RunTimeout

welcome = Flow("welcome", max_attempts=3, timeout=10)


@welcome.step("profile")
def profile(run: dict[str, str]) -> dict[str, str]:
    return {"name": run["name"].strip().title(), "email": run["email"].strip().lower()}


@welcome.step("message", depends_on=["profile"])
async def message(deps: dict[str, dict[str, str]]) -> str:
    p = deps["profile"]
    return f"Welcome, {p['name']}! A confirmation is on its way to {p['email']}."


def database_url() -> str:
    """$DATABASE_URL, else the URL of ``.pgflow/dev.env`` (a running ``pgflow dev``)."""
    from pgflow.dev.env import dev_env_url

    url = os.environ.get("DATABASE_URL") or dev_env_url()
    if not url:
        raise RuntimeError("set DATABASE_URL (or run `pgflow dev` in this directory)")
    return url


def create_app(dsn: str | None = None) -> Starlette:
    """The app; ``dsn`` defaults to :func:`database_url`, read when the app starts."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        url = dsn or database_url()
        pool = AsyncConnectionPool(url, min_size=1, max_size=5, open=False, kwargs={"autocommit": True})
        async with pool, pgflow.serve([welcome], url, concurrency=10):
            yield {"client": AsyncPgflowSqlClient(pool)}

    async def start_welcome(request: Request) -> JSONResponse:
        try:
            body = await request.json()
        except json.JSONDecodeError:
            return JSONResponse({"error": "the body must be JSON"}, status_code=400)
        if not isinstance(body, dict) or not all(isinstance(body.get(k), str) for k in ("name", "email")):
            return JSONResponse({"error": "expected {\"name\": string, \"email\": string}"}, status_code=400)
        client: AsyncPgflowSqlClient = request.state.client
        run = await client.start_flow(welcome.slug, {"name": body["name"], "email": body["email"]})
        return JSONResponse({"run_id": str(run.run_id)}, status_code=202)

    async def show_run(request: Request) -> JSONResponse:
        client: AsyncPgflowSqlClient = request.state.client
        run_id = request.path_params["run_id"]
        try:
            wait = float(request.query_params.get("wait", "0"))
        except ValueError:
            return JSONResponse({"error": "wait must be a number of seconds"}, status_code=400)
        if wait > 0:
            with contextlib.suppress(RunTimeout):
                await client.wait_for_run(run_id, timeout=min(wait, 30))
        state = await client.get_run(run_id)
        if state is None:
            return JSONResponse({"error": f"no run {run_id}"}, status_code=404)
        return JSONResponse({"run_id": str(state.run.run_id), "status": str(state.run.status),
                             "output": state.run.output})

    return Starlette(
        routes=[
            Route("/welcome", start_welcome, methods=["POST"]),
            Route("/runs/{run_id:uuid}", show_run),
        ],
        lifespan=lifespan,
    )


app = create_app()
