"""Options several commands share, the validators of numeric options, and the help layout
(a wrapped description, an "examples:" epilog) every command gets."""

from __future__ import annotations

import argparse
import math
import textwrap
from collections.abc import Callable
from typing import TypeAlias, TypeVar

N = TypeVar("N", int, float)

DSN_HELP = "database URL (default: $DATABASE_URL)"
FLOW_SPEC_HELP = (
    "a flow as module:attribute (e.g. myapp.flows:greet), or path/to/file.py:attribute; "
    "the attribute may be omitted when the module defines exactly one Flow"
)
FORMATTER = argparse.RawDescriptionHelpFormatter
# what a command's add_parser receives: the top-level parser's subparsers (a string: the class is
# generic only to type checkers)
Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def examples(text: str) -> str:
    """An epilog: "examples:" and the given lines, dedented and indented by two."""
    return "examples:\n" + textwrap.indent(textwrap.dedent(text).strip("\n"), "  ")


def add_command(
    subparsers: Subparsers,
    name: str,
    *,
    help: str,
    description: str,
    example_lines: str,
) -> argparse.ArgumentParser:
    """A subcommand's parser with the house layout: one-line help in the command list, the
    description wrapped at 90 columns, and its examples."""
    return subparsers.add_parser(
        name, help=help, description=textwrap.fill(description, 90), epilog=examples(example_lines),
        formatter_class=FORMATTER,
    )


def add_dsn(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dsn", help=DSN_HELP)


def bounded(kind: type[N], minimum: N, *, exclusive: bool = False) -> Callable[[str], N]:
    """An argparse ``type=`` that parses ``kind`` and refuses values below ``minimum`` (or equal
    to it, when ``exclusive``) with a message that says which bound was broken."""
    noun = "an integer" if kind is int else "a number"
    if exclusive:
        rule = f"greater than {minimum:g}"
    else:
        rule = "0 or more" if minimum == 0 else f"at least {minimum:g}"

    def parse(text: str) -> N:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not {noun}: {text!r}") from None
        if (isinstance(value, float) and math.isnan(value)) or value < minimum or (exclusive and value == minimum):
            shown = text if kind is float else value
            raise argparse.ArgumentTypeError(f"must be {rule}, got {shown}")
        return value

    parse.__name__ = kind.__name__  # argparse names the type in "invalid <type> value" messages
    return parse


positive_int = bounded(int, 1)
positive_float = bounded(float, 0.0, exclusive=True)
non_negative_float = bounded(float, 0.0)
