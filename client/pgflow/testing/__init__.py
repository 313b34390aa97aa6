"""Test helpers for your own flows.

* :func:`run_to_completion` / :func:`arun_to_completion`: run a flow's handlers in your test's
  process, through the real SQL, until the run ends; handlers replaceable per call; returns a
  :class:`FlowRunResult` (status, output, each step's output and error, each task, the handlers'
  exceptions).
* :mod:`pgflow.testing.plugin`: pytest fixtures (a migrated throwaway database per test, the
  flows compiled, ``pgflow_run``); enable with ``pytest_plugins = ["pgflow.testing.plugin"]``.
* :class:`TestServer`: the throwaway databases behind the fixtures, usable without pytest.
* For tests written in SQL (pgTAP): the optional ``pgflow_testing`` schema
  (``pgflow migrate --with-testing``): ``complete_next``, ``fail_next``, ``run_to_completion``.
"""

from pgflow.testing.databases import SERVER_ENV, TestServer, compile_flows
from pgflow.testing.result import FlowRunResult, HandlerError, StepResult, TaskResult
from pgflow.testing.runner import DEFAULT_TIMEOUT, arun_to_completion, run_to_completion

__all__ = [
    "DEFAULT_TIMEOUT",
    "SERVER_ENV",
    "FlowRunResult",
    "HandlerError",
    "StepResult",
    "TaskResult",
    "TestServer",
    "arun_to_completion",
    "compile_flows",
    "run_to_completion",
]
