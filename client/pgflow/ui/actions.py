"""The dashboard's actions (POST only): start a run of a flow with a JSON input; cancel, retry or
resume a run. Each needs the dashboard's token, in the form field `token` or an
`Authorization: Bearer <token>` header, compared in constant time; a read-only dashboard refuses
them all. A browser cannot add the token to a request another site makes it send, which is what
keeps these forms safe from cross-site requests.

cancel_run, retry_run and resume_run are recent SQL functions: on a database without them the
action answers 501 with a message saying which function is missing and how to get it.
"""

from __future__ import annotations

import hmac
import json
import uuid
from typing import Any
from urllib.parse import parse_qs

import psycopg
from psycopg.types.json import Jsonb
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from pgflow import queries
from pgflow.ui import pages
from pgflow.ui.app import path_for, settings_of, with_query

FORM_LIMIT = 1_000_000  # bytes of a form body (the start input is the big field)
RUN_ACTIONS: dict[str, tuple[str, str, str]] = {  # action -> (statement, SQL function, ?done= key)
    "cancel": (queries.UI_CANCEL_RUN, "pgflow.cancel_run", "cancelled"),
    "retry": (queries.UI_RETRY_RUN, "pgflow.retry_run", "retried"),
    "resume": (queries.UI_RESUME_RUN, "pgflow.resume_run", "resumed"),
}


class Refused(Exception):
    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code


async def _form(request: Request) -> dict[str, str]:
    """The url-encoded form body (what an HTML form posts), one value per field."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype not in ("", "application/x-www-form-urlencoded"):
        raise Refused(415, f"actions take an application/x-www-form-urlencoded form, not {ctype!r}")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > FORM_LIMIT:
            raise Refused(413, f"form larger than {FORM_LIMIT:,} bytes")
    try:
        fields = parse_qs(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError:
        raise Refused(400, "the form is not UTF-8") from None
    return {k: v[-1] for k, v in fields.items()}


def _check_token(request: Request, form: dict[str, str]) -> None:
    settings = settings_of(request)
    if settings.read_only:
        raise Refused(403, "this dashboard is read-only: actions are disabled")
    given = form.get("token", "")
    auth = request.headers.get("authorization", "")
    if not given and auth[:7].lower() == "bearer ":
        given = auth[7:].strip()
    if not given:
        raise Refused(403, "this action needs the dashboard's token (the token field, or an Authorization: "
                           "Bearer header)")
    expected = (settings.token or "").encode()
    if not hmac.compare_digest(given.encode(), expected):
        raise Refused(403, "wrong token")


def _sql_message(exc: psycopg.Error) -> str:
    diag = exc.diag
    return diag.message_primary or str(exc).strip() or type(exc).__name__


async def run_action(request: Request) -> Response:
    action = request.path_params["action"]
    run_id_text = request.path_params["run_id"]
    back = (path_for(request, "run", run_id=run_id_text), "back to the run")
    try:
        if action not in RUN_ACTIONS:
            raise Refused(404, f"no action {action!r}; the actions are " + ", ".join(RUN_ACTIONS))
        try:
            run_id = uuid.UUID(run_id_text)
        except ValueError:
            raise Refused(404, f"not a run id: {run_id_text!r}") from None
        _check_token(request, await _form(request))
        statement, function, done = RUN_ACTIONS[action]
        try:
            async with pages._pool(request).connection() as conn:
                row = await (await conn.execute(statement, {"run_id": run_id})).fetchone()
        except psycopg.errors.UndefinedFunction:
            raise Refused(501, f"this database has no {function}(run_id uuid) yet: upgrade the schema "
                               "(`pgflow migrate`) to a version with run control") from None
        except psycopg.errors.InsufficientPrivilege as exc:
            raise Refused(403, f"the dashboard's database role may not {action} runs: "
                               f"{_sql_message(exc)}") from None
        except psycopg.Error as exc:
            raise Refused(409, f"{action} refused by the database: {_sql_message(exc)}") from None
    except Refused as exc:
        return pages.error_page(request, exc.status_code, f"Could not {action} the run", str(exc), back=back)
    target = row[0] if row is not None else run_id
    return RedirectResponse(with_query(path_for(request, "run", run_id=target), done=done), status_code=303)


async def start_run(request: Request) -> Response:
    slug = request.path_params["flow_slug"]
    back = (path_for(request, "flow", flow_slug=slug), "back to the flow")
    input_text = "{}"
    try:
        form = await _form(request)
        input_text = form.get("input", "")
        _check_token(request, form)
        try:
            value: Any = json.loads(input_text)
        except ValueError as exc:
            raise Refused(400, f"the input is not JSON: {exc}") from None
        try:
            async with pages._pool(request).connection() as conn:
                row = await (await conn.execute(
                    queries.UI_START_FLOW, {"flow_slug": slug, "input": Jsonb(value)})).fetchone()
        except psycopg.errors.InsufficientPrivilege as exc:
            raise Refused(403, f"the dashboard's database role may not start runs: {_sql_message(exc)}") from None
        except psycopg.Error as exc:
            raise Refused(409, f"start refused by the database: {_sql_message(exc)}") from None
    except Refused as exc:
        if exc.status_code in (400, 409):  # show the form again, with what was typed
            return await pages.flow(request, status_code=exc.status_code, message=str(exc), input_text=input_text)
        return pages.error_page(request, exc.status_code, "Could not start the run", str(exc), back=back)
    assert row is not None
    return RedirectResponse(with_query(path_for(request, "run", run_id=row[0]), done="started"), status_code=303)
