"""pgflow-py: pgflow's SQL workflow engine on plain PostgreSQL + pgmq, driven from Python.

The pieces: :class:`Flow` (the DSL, compiles to ``pgflow.create_flow``/``add_step``),
:class:`Worker` (polls, runs handlers, reports), :func:`serve` (a worker inside your own asyncio
program), :class:`PgflowSqlClient` / :class:`AsyncPgflowSqlClient` (thin typed calls of the SQL
functions), :func:`migrate`.
Importing this package does no I/O.
"""

from pgflow.client import AsyncPgflowSqlClient, PgflowSqlClient
from pgflow.dsl import Flow, FlowDefinitionError
from pgflow.errors import (
    FlowNotFound,
    FlowShapeMismatch,
    IdempotencyConflict,
    InvalidInput,
    InvalidOutput,
    MigrationError,
    PgflowError,
    RunNotFound,
    RunStateError,
    SchemaVersionError,
    StepNotFound,
)
from pgflow.migrator import migrate
from pgflow.serving import Serving, serve
from pgflow.types import Context, RunStatus, StepStatus, TaskStatus
from pgflow.worker import RetryAfter, Worker

__all__ = [
    "AsyncPgflowSqlClient",
    "Context",
    "Flow",
    "FlowDefinitionError",
    "FlowNotFound",
    "FlowShapeMismatch",
    "IdempotencyConflict",
    "InvalidInput",
    "InvalidOutput",
    "MigrationError",
    "PgflowError",
    "PgflowSqlClient",
    "RetryAfter",
    "RunNotFound",
    "RunStateError",
    "RunStatus",
    "SchemaVersionError",
    "Serving",
    "StepNotFound",
    "StepStatus",
    "TaskStatus",
    "Worker",
    "migrate",
    "serve",
]
__version__ = "0.1.0"
