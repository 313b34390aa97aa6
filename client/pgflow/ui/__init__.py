"""The web dashboard (`pgflow ui`): runs, a run's DAG and tasks live, flows, workers, and the
actions start/cancel/retry/resume behind a token.

Needs the `ui` extra (``pip install 'pgflow-py[ui]'``: Starlette, uvicorn, Jinja2); nothing here
imports them until the dashboard is created, so ``import pgflow`` and ``pgflow --help`` work
without them.

    from pgflow.ui import create_app     # an ASGI app to mount or serve yourself
    from pgflow.ui import serve          # serve it with uvicorn until interrupted
"""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING

from pgflow.errors import PgflowError

if TYPE_CHECKING:
    from starlette.applications import Starlette

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
TOKEN_ENV = "PGFLOW_UI_TOKEN"

__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "TOKEN_ENV", "add_arguments", "create_app", "run", "serve"]


def _require_extra() -> None:
    missing = []
    for module in ("starlette", "uvicorn", "jinja2"):
        try:
            __import__(module)
        except ImportError:
            missing.append(module)
    if missing:
        raise PgflowError(f"the dashboard needs {', '.join(missing)}: pip install 'pgflow-py[ui]'")


def create_app(dsn: str, *, token: str | None, read_only: bool) -> Starlette:
    """The dashboard as a Starlette app (see pgflow.ui.app.create_app)."""
    _require_extra()
    from pgflow.ui.app import create_app as _create_app

    return _create_app(dsn, token=token, read_only=read_only)


def serve(dsn: str, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, token: str | None = None,
          read_only: bool = False) -> None:
    """Serve the dashboard with uvicorn until interrupted (SIGINT/SIGTERM)."""
    app = create_app(dsn, token=token, read_only=read_only)
    import uvicorn

    # Event streams stay open; on shutdown give them a moment, then close them. log_config=None:
    # uvicorn's loggers are left to the application's logging setup (the CLI's), like ours.
    uvicorn.run(app, host=host, port=port, log_config=None, timeout_graceful_shutdown=3, lifespan="on")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `pgflow ui`."""
    parser.add_argument("--dsn", help="database URL (default: $DATABASE_URL)")
    parser.add_argument("--host", default=DEFAULT_HOST, help=f"address to listen on (default: {DEFAULT_HOST})")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port to listen on (default: {DEFAULT_PORT})")
    parser.add_argument("--token", help=f"the token actions need (default: ${TOKEN_ENV})")
    parser.add_argument("--read-only", action="store_true",
                        help="show everything, allow no action (no token needed)")


def run(args: argparse.Namespace) -> int:
    """`pgflow ui`: serve the dashboard until interrupted; returns the exit code."""
    dsn = args.dsn or os.environ.get("DATABASE_URL")
    if not dsn:
        raise PgflowError("no database given: pass --dsn postgresql://... or set DATABASE_URL")
    token = args.token or os.environ.get(TOKEN_ENV) or None
    if not args.read_only and not token:
        raise PgflowError(f"the dashboard's actions need a token: pass --token or set {TOKEN_ENV}, "
                          "or run it with --read-only")
    if not 0 < args.port < 65536:
        raise PgflowError(f"--port must be between 1 and 65535, got {args.port}")
    serve(dsn, host=args.host, port=args.port, token=token, read_only=args.read_only)
    return 0
