#!/usr/bin/env python3
"""Generates migrations/ from sql/ (the declarative source of truth).

Released migrations are frozen (the migrator refuses edited files); they are listed in
migrations/RELEASED, one file name a line. The migration under development, CURRENT, is generated:

  * with no release yet, it is every sql/*.sql file concatenated in name order;
  * after a release, it is every sql/ file whose text differs from its last appearance in the
    released migrations (new files included), in name order. This replays cleanly only for files
    that are idempotent by themselves (`create or replace function ...`, `create index if not
    exists`, ...): a changed table, type or other non-replayable file stops the generator with a
    message, because it needs a hand-written ALTER (put it in sql/ as its own `alter ...` file).

Each file appears under a banner `-- ==== sql/<name> ====`, which is also how later runs find it.

    python scripts/gen_migration.py          # write the current migration
    python scripts/gen_migration.py --check  # exit 1 if it is out of date

Optional schemas (not applied by `pgflow migrate` unless asked, e.g. `--with-testing`) live in
sql/optional/<schema>/ and are generated, whole, into migrations/optional/<schema>.sql (OPTIONAL):
each of their files must be idempotent by itself, as the script is applied again on upgrade.

The proof that sql/ and migrations/ agree is tests/migration/test_schema_sync.py, which builds a
database from each and compares their catalogs.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SQL = ROOT / "sql"
MIGRATIONS = ROOT / "migrations"
CURRENT = MIGRATIONS / "20261122120000_pgflow_0_2_0.sql"
HEADER = "-- Generated from sql/ by scripts/gen_migration.py: edit sql/, then regenerate. Do not edit.\n"
OPTIONAL = {MIGRATIONS / "optional" / "pgflow_testing.sql": SQL / "optional" / "pgflow_testing"}
OPTIONAL_HEADER = (
    "-- Generated from sql/optional/{name}/ by scripts/gen_migration.py: edit those files, then regenerate.\n"
    "-- Optional: not applied by `pgflow migrate` (use `pgflow migrate --with-testing`, or apply this file).\n"
    "-- Idempotent: safe to apply again.\n"
)
BANNER = re.compile(r"^-- ==== sql/(\S+) ====$", re.M)
REPLAYABLE = re.compile(
    r"^\s*(?:--[^\n]*\n\s*)*(create or replace function|create or replace view|create index if not exists|do \$\$|"
    r"select |comment on|revoke |grant |alter )",
    re.I,
)


def released() -> list[Path]:
    listing = MIGRATIONS / "RELEASED"
    if not listing.exists():
        return []
    names = [ln.strip() for ln in listing.read_text().splitlines() if ln.strip() and not ln.startswith("#")]
    return [MIGRATIONS / n for n in names]


def released_texts() -> dict[str, str]:
    """sql/ file name -> its text as last shipped in a released migration."""
    texts: dict[str, str] = {}
    for path in released():
        body = path.read_text(encoding="utf-8")
        marks = list(BANNER.finditer(body))
        for i, m in enumerate(marks):
            end = marks[i + 1].start() if i + 1 < len(marks) else len(body)
            texts[m.group(1)] = body[m.end() + 1:end].rstrip("\n") + "\n"
    return texts


def render() -> str:
    shipped = released_texts()
    parts = [HEADER]
    for path in sorted(SQL.glob("*.sql")):
        text = path.read_text(encoding="utf-8").rstrip("\n") + "\n"
        if shipped and shipped.get(path.name) == text:
            continue
        if shipped and path.name in shipped and not REPLAYABLE.match(text):
            raise SystemExit(
                f"sql/{path.name} changed since the last release and cannot be replayed as it is: "
                "write the change as its own `alter ...` file in sql/ and keep this file's new text"
            )
        parts.append(f"\n-- ==== sql/{path.name} ====\n")
        parts.append(text)
    return "".join(parts)


def render_optional(source: Path) -> str:
    """An optional schema's script: its sql/optional/<schema>/ files in name order, under banners."""
    parts = [OPTIONAL_HEADER.format(name=source.name)]
    for path in sorted(source.glob("*.sql")):
        parts.append(f"\n-- ==== sql/optional/{source.name}/{path.name} ====\n")
        parts.append(path.read_text(encoding="utf-8").rstrip("\n") + "\n")
    return "".join(parts)


def main(argv: list[str]) -> int:
    outputs = {CURRENT: render()} | {target: render_optional(source) for target, source in OPTIONAL.items()}
    if "--check" in argv:
        stale = [p for p, text in outputs.items() if not p.exists() or p.read_text(encoding="utf-8") != text]
        for p in stale:
            print(f"{p.relative_to(ROOT)} is out of date: run `python scripts/gen_migration.py`")
        return 1 if stale else 0
    for p, text in outputs.items():
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text, encoding="utf-8")
        print(f"wrote {p.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
