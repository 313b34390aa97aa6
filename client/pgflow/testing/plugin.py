"""pytest fixtures for testing your flows against a real, migrated throwaway database.

Enable it in the ``conftest.py`` at your tests' root (it is not auto-loaded: an auto-loaded plugin
would import pgflow and psycopg in every pytest run of every project installed beside it)::

    pytest_plugins = ["pgflow.testing.plugin"]

or per run with ``pytest -p pgflow.testing.plugin``. Nothing happens until a test asks for one of
the fixtures; the first that does starts the server (once per session).

Fixtures:
  * ``pgflow_dsn``: the URL of a fresh database for this test (pgmq, pgflow and the
    ``pgflow_testing`` SQL helpers installed, the flows of ``pgflow_flows`` compiled), dropped after.
  * ``pgflow_run``: :func:`~pgflow.testing.run_to_completion` bound to that database:
    ``pgflow_run(flow, input, handlers={...})``; ``await pgflow_run.run_async(flow, input)``.
  * ``pgflow_flows``: the flows compiled into each database: those the ini option ``pgflow_flows``
    names (``module:attribute``, one a line); override the fixture to choose others.
  * ``pgflow_test_server``: the server (session): embedded, started from the local PostgreSQL
    binaries, or the existing one whose URL is in ``PGFLOW_TESTING_SERVER``.
  * ``pgflow_template``: the migrated template database each test's database is cloned from.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from pgflow.dsl import Flow
    from pgflow.testing.databases import TestServer
    from pgflow.testing.result import FlowRunResult

INI_FLOWS = "pgflow_flows"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        INI_FLOWS,
        type="linelist",
        default=[],
        help="pgflow.testing: flows (module:attribute, one a line) compiled into every test database",
    )


@pytest.fixture(scope="session")
def pgflow_test_server() -> Iterator[TestServer]:
    from pgflow.testing.databases import TestServer

    server = TestServer().start()
    try:
        yield server
    finally:
        server.stop()


def _ini_flows(config: pytest.Config) -> list[Flow]:
    from pgflow.cli.flows import load_flow

    return [load_flow(spec) for spec in config.getini(INI_FLOWS)]


@pytest.fixture(scope="session")
def pgflow_template(pgflow_test_server: TestServer, pytestconfig: pytest.Config) -> str:
    return pgflow_test_server.create_template(flows=_ini_flows(pytestconfig))


@pytest.fixture
def pgflow_flows(pytestconfig: pytest.Config) -> list[Flow]:
    return _ini_flows(pytestconfig)


@pytest.fixture
def pgflow_dsn(pgflow_test_server: TestServer, pgflow_template: str, pgflow_flows: list[Flow]) -> Iterator[str]:
    from pgflow.testing.databases import compile_flows

    dsn = pgflow_test_server.create_database(pgflow_template)
    try:
        compile_flows(dsn, pgflow_flows)
        yield dsn
    finally:
        pgflow_test_server.drop_database(dsn)


class BoundRunner:
    """:func:`~pgflow.testing.run_to_completion` with the test's database filled in."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn

    def __call__(
        self, flow: Flow, input: Any, *, handlers: Mapping[str, Callable[..., Any]] | None = None, **kwargs: Any
    ) -> FlowRunResult:
        from pgflow.testing.runner import run_to_completion

        return run_to_completion(flow, input, dsn=self.dsn, handlers=handlers, **kwargs)

    async def run_async(
        self, flow: Flow, input: Any, *, handlers: Mapping[str, Callable[..., Any]] | None = None, **kwargs: Any
    ) -> FlowRunResult:
        from pgflow.testing.runner import arun_to_completion

        return await arun_to_completion(flow, input, dsn=self.dsn, handlers=handlers, **kwargs)


@pytest.fixture
def pgflow_run(pgflow_dsn: str) -> BoundRunner:
    return BoundRunner(pgflow_dsn)
