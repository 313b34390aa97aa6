"""pgflow.ui without its extra, and its command-line options."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from pgflow.errors import PgflowError
from pgflow.ui import DEFAULT_HOST, DEFAULT_PORT, add_arguments, create_app, run


def test_pgflow_and_pgflow_ui_import_without_the_ui_extra() -> None:
    code = (
        "import sys\n"
        "for m in ('starlette', 'uvicorn', 'jinja2'): sys.modules[m] = None\n"
        "import pgflow, pgflow.ui\n"
        "try:\n"
        "    pgflow.ui.create_app('postgresql://x/y', token='t', read_only=False)\n"
        "except pgflow.PgflowError as exc:\n"
        "    print(exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "the dashboard needs starlette, uvicorn, jinja2: pip install 'pgflow-py[ui]'"


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(argv)


def test_options_and_their_defaults() -> None:
    args = _args("--dsn", "postgresql://h/db", "--token", "t")
    assert (args.dsn, args.host, args.port, args.token, args.read_only) == \
        ("postgresql://h/db", DEFAULT_HOST, DEFAULT_PORT, "t", False) == \
        ("postgresql://h/db", "127.0.0.1", 8080, "t", False)
    assert _args("--read-only", "--port", "9000", "--host", "0.0.0.0").read_only is True


def test_a_writable_dashboard_needs_a_token_and_a_database(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PGFLOW_UI_TOKEN", raising=False)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    with pytest.raises(PgflowError, match="no database given"):
        run(_args("--token", "t"))
    with pytest.raises(PgflowError, match="pass --token or set PGFLOW_UI_TOKEN, or run it with --read-only"):
        run(_args("--dsn", "postgresql://h/db"))
    with pytest.raises(PgflowError, match="--port must be between 1 and 65535, got 70000"):
        run(_args("--dsn", "postgresql://h/db", "--read-only", "--port", "70000"))
    with pytest.raises(ValueError, match="actions need a token"):
        create_app("postgresql://h/db", token=None, read_only=False)
    with pytest.raises(ValueError, match="actions need a token"):
        create_app("postgresql://h/db", token="", read_only=False)
    assert create_app("postgresql://h/db", token=None, read_only=True) is not None  # no I/O until served
