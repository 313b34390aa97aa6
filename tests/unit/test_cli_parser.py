"""The CLI's parser without a process or a database: the command registry's contract, the
numeric option validators, and the text table."""

from __future__ import annotations

import argparse
import importlib

import pytest

from pgflow.cli import build_parser
from pgflow.cli.commands import COMMANDS
from pgflow.cli.options import bounded, non_negative_float, positive_float, positive_int
from pgflow.cli.output import text_table

# the positional arguments a command needs to parse (no command runs here)
POSITIONALS = {
    "compile": ["m:f"], "worker": ["m:f"], "start": ["f"], "status": ["00000000-0000-0000-0000-000000000000"],
    "schedule": ["list"],
    "cancel": ["00000000-0000-0000-0000-000000000000"], "retry": ["00000000-0000-0000-0000-000000000000"],
    "resume": ["00000000-0000-0000-0000-000000000000"], "prune": ["--older-than", "7d"],
    "inspect": ["00000000-0000-0000-0000-000000000000"],
}


@pytest.mark.parametrize("name", COMMANDS)
def test_every_registered_command_builds_its_parser_and_runs_through_run(name: str) -> None:
    module = importlib.import_module(f"pgflow.cli.commands.{name}")
    sub = argparse.ArgumentParser().add_subparsers()
    parser = module.add_parser(sub)
    assert parser.prog.endswith(f" {name}")
    assert parser.epilog is not None and parser.epilog.startswith("examples:")
    assert build_parser().parse_args([name, *POSITIONALS.get(name, [])]).run_command is module.run


@pytest.mark.parametrize(
    ("parse", "text", "value"),
    [
        (positive_int, "3", 3), (positive_float, "0.5", 0.5), (non_negative_float, "0", 0.0),
        (non_negative_float, "2", 2.0),
    ],
)
def test_bounded_values_pass_through(parse: object, text: str, value: float) -> None:
    assert parse(text) == value  # type: ignore[operator]


@pytest.mark.parametrize(
    ("parse", "text", "message"),
    [
        (positive_int, "abc", "not an integer: 'abc'"),
        (positive_int, "0", "must be at least 1, got 0"),
        (positive_int, "1.5", "not an integer: '1.5'"),
        (positive_float, "x", "not a number: 'x'"),
        (positive_float, "0", "must be greater than 0, got 0"),
        (positive_float, "nan", "must be greater than 0, got nan"),
        (non_negative_float, "-1", "must be 0 or more, got -1"),
        (non_negative_float, "nan", "must be 0 or more, got nan"),
        (bounded(int, 5), "4", "must be at least 5, got 4"),
    ],
)
def test_bounded_values_refused_with_the_rule_broken(parse: object, text: str, message: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError) as info:
        parse(text)  # type: ignore[operator]
    assert str(info.value) == message


def test_text_table_aligns_columns_and_trims_trailing_spaces() -> None:
    assert text_table(["A", "LONGER"], [["xyz", None], ["q", "v"]]).splitlines() == [
        "A    LONGER",
        "xyz",
        "q    v",
    ]
