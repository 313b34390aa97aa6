"""JSON and SQL text exactly as pgflow's TypeScript compiler writes them (``JSON.stringify``)."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    pass



# --------------------------------------------------------------------------------------------
# JSON exactly as JavaScript's JSON.stringify renders it
# --------------------------------------------------------------------------------------------

_ESCAPES: Final = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_NEEDS_ESCAPE = re.compile('["\\\\\x00-\x1f\ud800-\udfff]')
_ARRAY_INDEX = re.compile(r"^(?:0|[1-9][0-9]*)$")


def _js_string(s: str) -> str:
    def esc(m: re.Match[str]) -> str:
        c = m.group(0)
        return _ESCAPES.get(c) or f"\\u{ord(c):04x}"

    return '"' + _NEEDS_ESCAPE.sub(esc, s) + '"'


def _js_number(x: float) -> str:
    """Number.prototype.toString for a finite double (ECMA-262 Number::toString)."""
    if x == 0:
        return "0"
    if x < 0:
        return "-" + _js_number(-x)
    # repr() gives the shortest round-tripping digits, as JS does; only the layout differs.
    _sign, digit_tuple, exponent = Decimal(repr(x)).normalize().as_tuple()
    digits = "".join(map(str, digit_tuple))
    k = len(digits)
    n = k + int(exponent)  # value = 0.<digits> * 10**n
    if k <= n <= 21:
        return digits + "0" * (n - k)
    if 0 < n <= 21:
        return digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return "0." + "0" * (-n) + digits
    e = n - 1
    head = digits[0] + ("." + digits[1:] if k > 1 else "")
    return f"{head}e{'+' if e >= 0 else '-'}{abs(e)}"


def _js_key_order(keys: Iterable[str]) -> list[str]:
    # JS objects list integer-like keys (array indices) first, ascending, then the rest in
    # insertion order.
    keys = list(keys)
    index_keys = sorted((k for k in keys if _ARRAY_INDEX.match(k) and int(k) < 2**32 - 1), key=int)
    is_index = set(index_keys)
    return index_keys + [k for k in keys if k not in is_index]


def js_json(value: Any) -> str:
    """Serialise ``value`` as compact JSON, exactly as ``JSON.stringify`` would: no spaces,
    non-ASCII kept, lone surrogates escaped, integer-valued floats without ``.0``, JS exponent
    notation, NaN/Infinity as ``null``, integer-like object keys first. Accepts dicts (string
    keys), lists, tuples, str, int, float, bool and None.

    One deliberate difference: Python ints are written exactly, whereas JS would first round
    one beyond 2**53 to a double (and print 10**30 as ``1e+30``); both parse to the same jsonb
    numeric where JS's value is exact."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return _js_string(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _js_number(value) if math.isfinite(value) else "null"
    if isinstance(value, Mapping):
        for k in value:
            if not isinstance(k, str):
                raise TypeError(f"object keys must be strings, got {k!r}")
        return "{" + ",".join(f"{_js_string(k)}:{js_json(value[k])}" for k in _js_key_order(value)) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(js_json(v) for v in value) + "]"
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable")


def _sql_literal(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"

