"""What every database command needs: exit codes, the database URL, a checked connection, and
parsing of the values a user types (JSON input, run ids). Errors are PgflowError with a message
that says what was wrong; app.main turns them into exit code 1."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pgflow import queries
from pgflow.errors import PgflowError

if TYPE_CHECKING:
    import psycopg

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


def dsn(args: argparse.Namespace) -> str:
    """``--dsn``, else $DATABASE_URL, else the URL in ``.pgflow/dev.env`` of the current directory
    (written by a running ``pgflow dev``), else a PgflowError that says how to give one."""
    from pgflow.dev.env import dev_env_url

    value: str | None = getattr(args, "dsn", None) or os.environ.get("DATABASE_URL") or dev_env_url()
    if not value:
        raise PgflowError("no database given: pass --dsn postgresql://... or set DATABASE_URL, "
                          "or run `pgflow dev` in this directory")
    return value


def err(msg: str) -> None:
    """Progress and diagnostics: stderr, flushed, so stdout carries only results."""
    print(msg, file=sys.stderr, flush=True)


@contextlib.contextmanager
def connect(url: str) -> Iterator[psycopg.Connection[Any]]:
    """An autocommit connection to a database that has the pgflow schema."""
    import psycopg

    try:
        conn = psycopg.connect(url, autocommit=True)
    except psycopg.OperationalError as exc:
        from pgflow.dev.env import dev_env_url

        hint = " (the URL of .pgflow/dev.env: is `pgflow dev` running?)" if url == dev_env_url() else ""
        raise PgflowError(f"cannot connect to the database{hint}: {str(exc).strip()}") from exc
    with conn:
        if conn.execute(queries.CLI_SCHEMA_MISSING).fetchone() == (True,):
            raise PgflowError("this database has no pgflow schema: run `pgflow migrate --dsn <url>` first")
        yield conn


def sql_error(exc: psycopg.Error) -> PgflowError:
    from pgflow.errors import map_sql_error

    return map_sql_error(exc)


def parse_json(text: str, what: str) -> Any:
    """JSON given inline, as ``@file``, or as ``-`` (stdin)."""
    if text == "-":
        text = sys.stdin.read()
    elif text.startswith("@"):
        try:
            text = Path(text[1:]).read_text(encoding="utf-8")
        except OSError as exc:
            raise PgflowError(f"cannot read {what} from {text[1:]}: {exc.strerror}") from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise PgflowError(f"{what} is not valid JSON: {exc}") from None


def parse_uuid(text: str) -> uuid.UUID:
    try:
        return uuid.UUID(text)
    except ValueError:
        raise PgflowError(f"not a run id (uuid): {text!r}") from None
