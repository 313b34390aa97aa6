"""The SQL client: a thin typed layer over pgflow's SQL API.

Two classes with the same methods: :class:`PgflowSqlClient` (sync, over a psycopg ``Connection``
or ``psycopg_pool.ConnectionPool``) and :class:`AsyncPgflowSqlClient` (``AsyncConnection`` or
``AsyncConnectionPool``). Constructors do no I/O; the caller opens and closes what it passes in.

Every call is ``select * from pgflow.fn(name => %(name)s, ...)`` with named arguments, as
pgflow's own clients call it (the statements are in :mod:`pgflow.queries`). Every write method
takes an optional ``conn=``: the statement then runs on that connection, inside whatever
transaction the caller has open there, so a run can be started atomically with the caller's own
writes (and disappears if they roll back). Without ``conn=`` a pooled connection is used
(committed when returned), or the client's connection: in autocommit mode as is, otherwise inside
``conn.transaction()`` (committed, or a savepoint when a transaction is already open).

Outputs and inputs are JSON. They are serialised and checked here, before any SQL runs: a value
that is not JSON (sets, NaN, objects), holds a NUL character (jsonb cannot store ``\\u0000``)
or is larger than ``max_output_bytes`` (default 10 MiB of UTF-8 JSON) raises
:class:`~pgflow.errors.InvalidOutput` naming the step and task. Error messages are sanitised
(NUL and lone surrogates replaced) and cut to ``max_error_chars``.

psycopg errors are translated by :func:`pgflow.errors.map_sql_error`.

The package: ``_async`` (the async client, written by hand), ``_sync`` (the sync client,
generated from it by ``scripts/async_to_sync.py``: do not edit), ``_async_control`` /
``_sync_control`` (the run-control methods, a mixin of each client, generated the same way),
``_base`` (what both share that does no I/O), ``_values`` (encoding values, decoding rows by
column name).
"""

from pgflow.client._async import AsyncPgflowSqlClient, listen_for_tasks
from pgflow.client._async_control import DEFAULT_PRUNE_BATCH
from pgflow.client._sync import PgflowSqlClient
from pgflow.client._values import (
    DEFAULT_MAX_ERROR_CHARS,
    DEFAULT_MAX_OUTPUT_BYTES,
    Completion,
    encode_json,
    sanitize_error_message,
)
from pgflow.queries import EVENTS_CHANNEL, MAINTENANCE_LOCK_KEY, TASKS_CHANNEL

__all__ = [
    "DEFAULT_MAX_ERROR_CHARS",
    "DEFAULT_MAX_OUTPUT_BYTES",
    "DEFAULT_PRUNE_BATCH",
    "EVENTS_CHANNEL",
    "MAINTENANCE_LOCK_KEY",
    "TASKS_CHANNEL",
    "AsyncPgflowSqlClient",
    "Completion",
    "PgflowSqlClient",
    "encode_json",
    "listen_for_tasks",
    "sanitize_error_message",
]
