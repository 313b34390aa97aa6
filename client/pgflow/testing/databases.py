"""Throwaway databases for users' tests: one server (an embedded one started from the local
PostgreSQL binaries, or an existing one named by ``PGFLOW_TESTING_SERVER``), one migrated template
database, and a fresh database per test cloned from it (``CREATE DATABASE ... TEMPLATE``: a few
milliseconds, where migrating would take about a second).

The pytest fixtures of :mod:`pgflow.testing.plugin` use this; it works without pytest too::

    with TestServer() as server:
        template = server.create_template()
        dsn = server.create_database(template)
        ...
        server.drop_database(dsn)
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

from pgflow import migrator
from pgflow import queries as q
from pgflow.embedded import EmbeddedPostgres
from pgflow.errors import PgflowError

__all__ = ["SERVER_ENV", "TestServer"]

SERVER_ENV = "PGFLOW_TESTING_SERVER"
"""Environment variable: the URL of an existing server (any database on it) whose user may create
and drop databases. Unset: an embedded server is started from the local PostgreSQL binaries."""


class TestServer:
    """A PostgreSQL server that hands out migrated throwaway databases. ``url`` (default: the
    ``PGFLOW_TESTING_SERVER`` environment variable) names an existing server; without one, an
    embedded server is started by :meth:`start` and removed by :meth:`stop`."""

    __test__ = False  # not a test class, whatever pytest's name patterns say

    def __init__(self, url: str | None = None) -> None:
        self.url = url if url is not None else os.environ.get(SERVER_ENV) or None
        self._embedded: EmbeddedPostgres | None = None
        self._created: set[str] = set()

    def start(self) -> TestServer:
        if self.url is None and self._embedded is None:
            self._embedded = EmbeddedPostgres().start()
            self._embedded.wait_ready()
            self.url = self._embedded.dsn
        return self

    @property
    def embedded(self) -> EmbeddedPostgres | None:
        """The embedded server this object started (None when it uses an existing one)."""
        return self._embedded

    def stop(self) -> None:
        """Drop the databases this object created (on an existing server), stop an embedded one."""
        if self._embedded is not None:
            self._embedded.stop()
            self._embedded = None
            self.url = None
            self._created.clear()
            return
        for name in sorted(self._created):
            self._drop(name)

    def __enter__(self) -> TestServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def dsn(self, dbname: str) -> str:
        """The server's URL with ``dbname`` as its database."""
        if self.url is None:
            raise PgflowError("TestServer.dsn() before start()")
        parts = urlsplit(self.url)
        if parts.scheme not in ("postgresql", "postgres"):
            raise PgflowError(f"{SERVER_ENV} must be a postgresql:// URL, got {self.url!r}")
        return urlunsplit(parts._replace(path="/" + dbname))

    def create_template(self, *, with_testing: bool = True, flows: Iterable[Any] = ()) -> str:
        """A new database with pgmq and pgflow (and, by default, the pgflow_testing SQL helpers),
        ``flows`` compiled in it, ready to be cloned by :meth:`create_database`. Returns its name."""
        name = f"pgflow_template_{uuid.uuid4().hex[:12]}"
        self._execute(q.CREATE_DATABASE.format(name=sql.Identifier(name)))
        self._created.add(name)
        dsn = self.dsn(name)
        migrator.migrate(dsn)
        if with_testing:
            migrator.install_optional(dsn, "pgflow_testing")
        compile_flows(dsn, flows)
        return name

    def create_database(self, template: str) -> str:
        """A fresh database cloned from ``template``; returns its URL."""
        name = f"pgflow_test_{uuid.uuid4().hex[:12]}"
        stmt = q.CREATE_DATABASE_FROM_TEMPLATE.format(name=sql.Identifier(name), template=sql.Identifier(template))
        self._execute(stmt)
        self._created.add(name)
        return self.dsn(name)

    def drop_database(self, name_or_dsn: str) -> None:
        name = urlsplit(name_or_dsn).path.lstrip("/") if "://" in name_or_dsn else name_or_dsn
        self._drop(name)

    def _drop(self, name: str) -> None:
        self._execute(q.DROP_DATABASE.format(name=sql.Identifier(name)))
        self._created.discard(name)

    def _execute(self, stmt: sql.Composed) -> None:
        if self.url is None:
            raise PgflowError("TestServer used before start()")
        try:
            with psycopg.connect(self.url, autocommit=True) as conn:
                conn.execute(stmt)
        except psycopg.OperationalError as exc:
            raise PgflowError(f"cannot use the test server {self._safe_url()}: {str(exc).strip()}") from exc

    def _safe_url(self) -> str:
        parts = urlsplit(self.url or "")
        host = parts.hostname or "?"
        return f"{parts.scheme}://{parts.username or ''}@{host}:{parts.port or 5432}"


def compile_flows(dsn: str, flows: Iterable[Any]) -> None:
    """Compile ``flows`` (pgflow.dsl.Flow) into the database, as the worker does
    (``pgflow.ensure_flow_compiled``); a different definition already there is replaced."""
    flows = list(flows)
    if not flows:
        return
    from pgflow.client import PgflowSqlClient

    with psycopg.connect(dsn, autocommit=True) as conn:
        client = PgflowSqlClient(conn)
        for flow in flows:
            client.ensure_flow_compiled(flow.slug, flow.shape(), allow_data_loss=True)
