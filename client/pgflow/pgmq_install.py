"""Making pgmq available in a database that lacks it.

pgflow needs pgmq (>= 1.5). Where the server offers the pgmq extension it is created as an
extension; otherwise the pgmq SQL bundled with the PyPI package ``pgmq`` is installed as plain
SQL (schema ``pgmq``), which works on any PostgreSQL 15+ without server access.
"""

from __future__ import annotations

import logging
from importlib.resources import files
from typing import Literal

import psycopg

logger = logging.getLogger(__name__)

PgmqState = Literal["present", "extension", "bundled-sql"]


def bundled_pgmq_sql() -> tuple[str, str]:
    """Return (version, sql) of the pgmq SQL shipped in the PyPI package ``pgmq``."""
    base = files("pgmq").joinpath("sql")
    version = next(
        line.strip() for line in base.joinpath("VERSION").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    )
    return version, base.joinpath("pgmq.sql").read_text(encoding="utf-8")


def pgmq_installed(conn: psycopg.Connection) -> bool:
    row = conn.execute("select to_regclass('pgmq.meta') is not null").fetchone()
    return bool(row and row[0])


def ensure_pgmq(conn: psycopg.Connection, *, prefer_extension: bool = True) -> PgmqState:
    """Make sure pgmq is installed; return how. Runs in its own transaction on ``conn``."""
    if pgmq_installed(conn):
        return "present"
    with conn.transaction():
        row = conn.execute("select exists (select 1 from pg_available_extensions where name = 'pgmq')").fetchone()
        if prefer_extension and row and row[0]:
            conn.execute("create schema if not exists pgmq")
            conn.execute("create extension if not exists pgmq with schema pgmq")
            logger.info("created extension pgmq")
            return "extension"
        version, sql = bundled_pgmq_sql()
        conn.execute(sql.encode())
        logger.info("installed bundled pgmq SQL", extra={"pgmq_version": version})
        return "bundled-sql"
