"""Value handling of the SQL client that needs no database: JSON encoding, error-message
sanitising, SQL error mapping, row parsing."""

from __future__ import annotations

import json
import math
import uuid

import psycopg
import pytest
from psycopg import errors as pg_errors

from pgflow.client import encode_json, sanitize_error_message
from pgflow.errors import (
    DatabaseError,
    InvalidInput,
    InvalidOutput,
    PgflowError,
    SchemaVersionError,
    TransientDatabaseError,
    map_sql_error,
)
from pgflow.types import RunStatus, RunWithStates, StepStatus


def test_encode_json_is_compact_and_keeps_unicode() -> None:
    assert encode_json({"a": [1, "é", None]}, what="x", limit=None) == '{"a":[1,"é",null]}'


@pytest.mark.parametrize("value", [{1, 2}, object(), math.nan, {"x": math.inf}])
def test_encode_json_rejects_non_json_naming_what(value: object) -> None:
    with pytest.raises(InvalidOutput, match="output of step 'save' task 3"):
        encode_json(value, what="output of step 'save' task 3", limit=None)


def test_encode_json_enforces_the_size_limit() -> None:
    encode_json("x" * 98, what="out", limit=100)  # 100 bytes with the quotes
    with pytest.raises(InvalidOutput, match=r"101 bytes of JSON, over the limit of 100 bytes"):
        encode_json("x" * 99, what="out", limit=100)


def test_encode_json_counts_utf8_bytes_not_characters() -> None:
    with pytest.raises(InvalidOutput, match="over the limit"):
        encode_json("é" * 50, what="out", limit=100)  # 100 bytes + 2 quotes


def test_encode_json_rejects_nul_but_not_an_escaped_backslash_u0000() -> None:
    with pytest.raises(InvalidOutput, match="NUL"):
        encode_json({"k": "a\x00b"}, what="out", limit=None)
    text = encode_json({"k": "a\\u0000b"}, what="out", limit=None)  # a literal backslash-u0000
    assert json.loads(text) == {"k": "a\\u0000b"}


def test_encode_json_rejects_lone_surrogates() -> None:
    with pytest.raises(InvalidOutput, match="surrogate"):
        encode_json("\ud800", what="out", limit=None)


def test_encode_json_raises_the_requested_error_class() -> None:
    with pytest.raises(InvalidInput) as info:
        encode_json({1, 2}, what="input of flow 'f'", limit=None, error=InvalidInput)
    assert not isinstance(info.value, InvalidOutput)


def test_sanitize_error_message() -> None:
    assert sanitize_error_message("a\x00b") == "a\\x00b"
    assert sanitize_error_message("bad \ud800 surrogate") == "bad ? surrogate"
    cut = sanitize_error_message("x" * 50, limit=10)
    assert cut.startswith("x" * 10) and "truncated, 50 characters" in cut
    assert sanitize_error_message(ValueError("boom")) == "boom"


def test_map_sql_error_classifies() -> None:
    assert isinstance(map_sql_error(psycopg.OperationalError("server closed the connection")), TransientDatabaseError)
    assert isinstance(map_sql_error(pg_errors.SerializationFailure("x")), TransientDatabaseError)
    missing = map_sql_error(pg_errors.UndefinedFunction("function pgflow.start_tasks(...) does not exist"))
    assert isinstance(missing, SchemaVersionError) and "pgflow migrate" in str(missing)
    assert isinstance(
        map_sql_error(pg_errors.InvalidTextRepresentation("invalid input syntax for type uuid")), InvalidInput
    )
    other = map_sql_error(pg_errors.UniqueViolation("duplicate key"), flow_slug="f")
    assert type(other) is DatabaseError and "flow_slug 'f'" in str(other)
    assert all(issubclass(type(e), PgflowError) for e in (missing, other))


def test_run_with_states_parses_json_from_sql() -> None:
    rid = uuid.uuid4()
    doc = {
        "run": {
            "run_id": str(rid),
            "flow_slug": "f",
            "status": "completed",
            "input": {"a": 1},
            "output": {"s": 1},
            "remaining_steps": 0,
            "started_at": "2026-05-10T12:00:00.123456+00:00",
            "completed_at": "2026-05-10T12:00:01+00:00",
            "failed_at": None,
        },
        "steps": [
            {
                "flow_slug": "f",
                "run_id": str(rid),
                "step_slug": s,
                "status": "completed",
                "remaining_tasks": 0,
                "initial_tasks": 1,
                "remaining_deps": 0,
                "output": 1,
                "error_message": None,
                "skip_reason": None,
                "created_at": "2026-05-10T12:00:00+00:00",
                "started_at": None,
                "completed_at": None,
                "failed_at": None,
                "skipped_at": None,
                "a_future_column": True,
            }
            for s in ("z", "a")
        ],
    }
    state = RunWithStates.from_json(doc)
    assert state.run.run_id == rid and state.run.status is RunStatus.COMPLETED
    assert state.run.started_at.microsecond == 123456
    assert [s.step_slug for s in state.steps] == ["a", "z"]
    assert state.step("z").status is StepStatus.COMPLETED
