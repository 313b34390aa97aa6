"""The commands, in the order ``pgflow --help`` lists them. Each is a module of this package
with ``add_parser(subparsers) -> ArgumentParser`` (its options, help and examples) and
``run(args) -> int`` (its exit code). Adding a command: a new module here and its name below."""

from __future__ import annotations

COMMANDS: tuple[str, ...] = (
    "migrate",
    "compile",
    "worker",
    "start",
    "status",
    "inspect",
    "runs",
    "cancel",
    "retry",
    "resume",
    "prune",
    "maintain",
    "schedule",
    "ui",
    "demo",
    "dev",
)
