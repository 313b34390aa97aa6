"""The README's "Testing your flows" examples are real: its signup.py, conftest.py and
test_signup.py, written to a project of their own, pass under pytest (in a child process, on this
session's server); its pgTAP example passes against a database with the signup flow compiled."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.support.paths import ROOT, subprocess_env
from tests.support.pgtap import run_pgtap_file


def _section() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(r"^## Testing your flows\n(.*?)(?=^## )", text, re.S | re.M)
    assert match, "the README lost its Testing your flows section"
    return match.group(1)


def _block(lang: str, first_line: str) -> str:
    match = re.search(rf"```{lang}\n({re.escape(first_line)}\n.*?)```", _section(), re.S)
    assert match, f"the README's testing section lost its {first_line!r} block"
    return match.group(1)


def test_readme_python_testing_example_passes(tmp_path: Path, pg_server: Any) -> None:
    for name in ("signup.py", "conftest.py", "test_signup.py"):
        (tmp_path / name).write_text(_block("python", f"# {name}"), encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=tmp_path, capture_output=True,
        text=True, timeout=240,
        env=subprocess_env({"PGFLOW_TESTING_SERVER": pg_server.dsn("postgres")},
                           drop=("DATABASE_URL", "PGFLOW_TEST_DSN", "PYTEST_ADDOPTS")),
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "2 passed" in proc.stdout


@pytest.fixture
def signup_pgtap_dsn(pg_server: Any, pgtap_template: str, tmp_path: Path) -> Iterator[str]:
    """A database like the pgTAP one (pgTAP, pgflow_testing) with the README's signup flow."""
    path = tmp_path / "signup.py"
    path.write_text(_block("python", "# signup.py"), encoding="utf-8")
    spec = importlib.util.spec_from_file_location("readme_signup", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    name = f"readme_{uuid.uuid4().hex[:12]}"
    with pg_server.janitor(name, template_dbname=pgtap_template):
        dsn = pg_server.dsn(name)
        with psycopg.connect(dsn, autocommit=True) as conn:
            for stmt in module.signup.compile():
                conn.execute(stmt)
        yield dsn


def test_readme_pgtap_example_passes(signup_pgtap_dsn: str, tmp_path: Path) -> None:
    path = tmp_path / "test_signup.test.sql"
    path.write_text(_block("sql", "-- test_signup.test.sql (pgTAP)"), encoding="utf-8")
    count, failures, out = run_pgtap_file(signup_pgtap_dsn, path)
    assert count == 2 and not failures, "\n".join(failures) + "\n" + out[-4000:]
