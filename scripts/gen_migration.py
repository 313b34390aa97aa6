#!/usr/bin/env python3
"""Generates migrations/ from sql/ (the declarative source of truth).

The current release's migration is sql/*.sql concatenated in name order, each file under a
banner naming it. Earlier releases' migrations are frozen: they are never regenerated (the
migrator refuses edited files). Usage:

    python scripts/gen_migration.py          # write the current migration
    python scripts/gen_migration.py --check  # exit 1 if it is out of date

The real proof that sql/ and migrations/ agree is tests/migration/test_schema_sync.py, which
builds a database from each and compares their catalogs.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SQL = ROOT / "sql"
# The migration generated from sql/ for the release under development.
CURRENT = ROOT / "migrations" / "20261122000000_pgflow_initial.sql"
HEADER = "-- Generated from sql/ by scripts/gen_migration.py: edit sql/, then regenerate. Do not edit.\n"


def render() -> str:
    parts = [HEADER]
    for path in sorted(SQL.glob("*.sql")):
        parts.append(f"\n-- ==== sql/{path.name} ====\n")
        parts.append(path.read_text(encoding="utf-8").rstrip("\n") + "\n")
    return "".join(parts)


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        if not CURRENT.exists() or CURRENT.read_text(encoding="utf-8") != text:
            print(f"{CURRENT.relative_to(ROOT)} is out of date: run `python scripts/gen_migration.py`")
            return 1
        return 0
    CURRENT.write_text(text, encoding="utf-8")
    print(f"wrote {CURRENT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
