"""Slug and option validation for the DSL, and its error type."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final, Literal, TypeVar, cast

from pgflow.dsl._jsjson import js_json
from pgflow.errors import PgflowError

if TYPE_CHECKING:
    pass



StepType = Literal["single", "map"]
FailureMode = Literal["fail", "skip", "skip-cascade"]
FAILURE_MODES: Final[tuple[str, ...]] = ("fail", "skip", "skip-cascade")
MAX_SLUG_LENGTH: Final = 128
RESERVED_SLUGS: Final[tuple[str, ...]] = ("run",)
_SLUG_CHARS = re.compile(r"^[A-Za-z0-9_]+$")

Handler = Callable[..., Any]
H = TypeVar("H", bound=Callable[..., Any])


class FlowDefinitionError(PgflowError, ValueError):
    """A flow definition is invalid: a bad slug, a duplicate step, an unknown dependency, an
    option out of range or a malformed condition. Raised while the flow is being built."""


# --------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------


def validate_slug(slug: object, what: str = "Slug") -> str:
    """Check a flow or step slug against pgflow's rules (the DSL's ``validateSlug`` and the SQL
    ``pgflow.is_valid_slug``): a non-empty string of at most 128 letters, digits and
    underscores, not starting with a digit, and not the reserved word ``run``."""
    if not isinstance(slug, str):
        raise FlowDefinitionError(f"{what} must be a string, got {type(slug).__name__}")
    if slug == "":
        raise FlowDefinitionError(f"{what} cannot be empty")
    if len(slug) > MAX_SLUG_LENGTH:
        raise FlowDefinitionError(f"{what} cannot be longer than {MAX_SLUG_LENGTH} characters: {slug[:40]!r}...")
    if slug[0].isdigit():
        raise FlowDefinitionError(f"{what} cannot start with a number: {slug!r}")
    if not _SLUG_CHARS.match(slug) or not slug.isascii():
        raise FlowDefinitionError(
            f"{what} can only contain letters, digits and underscores ([a-zA-Z0-9_]): {slug!r}"
        )
    if slug in RESERVED_SLUGS:
        raise FlowDefinitionError(f"{what} cannot be a reserved word ({', '.join(RESERVED_SLUGS)}): {slug!r}")
    return slug


def _check_int(name: str, value: int | None, minimum: int) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise FlowDefinitionError(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise FlowDefinitionError(f"{name} must be greater than or equal to {minimum}, got {value}")
    return value


def _check_jitter(value: float | None) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise FlowDefinitionError(f"retry_jitter must be a fraction between 0 and 1, got {value!r}")
    return float(value)


def _check_mode(name: str, value: str | None) -> FailureMode | None:
    if value is None:
        return None
    if value not in FAILURE_MODES:
        raise FlowDefinitionError(f"{name} must be one of {', '.join(map(repr, FAILURE_MODES))}, got {value!r}")
    return cast(FailureMode, value)


def _check_pattern(name: str, value: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise FlowDefinitionError(
            f"{name} must be a dict (a JSON containment pattern), got {type(value).__name__}"
        )
    try:
        js_json(value)
        json.dumps(value, allow_nan=False)  # NaN/Infinity: JSON.stringify would quietly write null
    except (TypeError, ValueError) as exc:
        raise FlowDefinitionError(f"{name} must be JSON-serialisable: {exc}") from None
    # A private deep copy, read-only at the top: later edits to the caller's dict do not leak in.
    return MappingProxyType(copy.deepcopy(dict(value)))

