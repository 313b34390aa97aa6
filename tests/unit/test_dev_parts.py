"""The parts of `pgflow dev` that need no server: the file watcher, .pgflow/dev.env, and the URL
the other commands pick from it."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import pytest

from pgflow.cli.runtime import dsn
from pgflow.dev.env import dev_env_url, remove_dev_env, write_dev_env
from pgflow.dev.watch import SourceWatcher, spec_files
from pgflow.errors import PgflowError


def _touch(path: Path, text: str, mtime_ns: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    os.utime(path, ns=(mtime_ns, mtime_ns))  # explicit times: no dependence on the clock's granularity


def test_the_watcher_reports_added_modified_and_removed_python_files_under_the_project(tmp_path: Path) -> None:
    t = 1_700_000_000_000_000_000
    _touch(tmp_path / "flows.py", "a = 1\n", t)
    _touch(tmp_path / "pkg" / "helpers.py", "b = 1\n", t)
    _touch(tmp_path / "notes.txt", "not python\n", t)
    watcher = SourceWatcher(tmp_path)
    assert watcher.count == 2
    assert watcher.changed() == []

    _touch(tmp_path / "flows.py", "a = 2\n", t + 1_000_000)  # same size, a later mtime
    _touch(tmp_path / "pkg" / "new.py", "c = 1\n", t)
    (tmp_path / "pkg" / "helpers.py").unlink()
    _touch(tmp_path / "notes.txt", "still not python\n", t + 1)
    assert watcher.changed() == [tmp_path / "flows.py", tmp_path / "pkg" / "helpers.py", tmp_path / "pkg" / "new.py"]
    assert watcher.changed() == []


def test_the_watcher_skips_hidden_directories_caches_and_virtualenvs(tmp_path: Path) -> None:
    t = 1_700_000_000_000_000_000
    _touch(tmp_path / "flows.py", "", t)
    for skipped in (".pgflow/x.py", ".git/hooks/y.py", "__pycache__/z.py", "node_modules/m/n.py"):
        _touch(tmp_path / skipped, "", t)
    _touch(tmp_path / "venv" / "pyvenv.cfg", "home = /usr\n", t)
    _touch(tmp_path / "venv" / "lib" / "site.py", "", t)
    watcher = SourceWatcher(tmp_path)
    assert watcher.count == 1
    _touch(tmp_path / "venv" / "lib" / "site.py", "changed = True\n", t + 5)
    _touch(tmp_path / ".pgflow" / "x.py", "changed = True\n", t + 5)
    assert watcher.changed() == []


def test_flow_specs_name_their_source_files_and_files_outside_the_project_are_watched_too(tmp_path: Path) -> None:
    import pgflow.examples.article_digest as digest

    files = spec_files(["flows.py:greet", "pgflow.examples.article_digest:flow", "no_such_module_xyz:f"], tmp_path)
    assert files == [tmp_path / "flows.py", Path(digest.__file__).resolve()]
    watcher = SourceWatcher(tmp_path, files)
    assert watcher.count == 1  # flows.py does not exist yet; the example module does
    _touch(tmp_path / "flows.py", "", 1_700_000_000_000_000_000)
    assert watcher.changed() == [tmp_path / "flows.py"]


def test_dev_env_is_written_read_and_removed(tmp_path: Path) -> None:
    assert dev_env_url(tmp_path) is None
    (tmp_path / ".pgflow").mkdir()
    path = write_dev_env("postgresql://postgres@127.0.0.1:5555/postgres", tmp_path)
    assert path.read_text() == "DATABASE_URL=postgresql://postgres@127.0.0.1:5555/postgres\n"
    assert dev_env_url(tmp_path) == "postgresql://postgres@127.0.0.1:5555/postgres"
    path.write_text("# a comment\nOTHER=1\nDATABASE_URL='postgresql://x@h/db'\n")
    assert dev_env_url(tmp_path) == "postgresql://x@h/db"
    remove_dev_env(tmp_path)
    assert dev_env_url(tmp_path) is None
    remove_dev_env(tmp_path)  # gone already: no error


def test_commands_take_dsn_then_database_url_then_the_dev_env_of_the_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    with pytest.raises(PgflowError, match=r"or set DATABASE_URL, or run `pgflow dev` in this directory"):
        dsn(argparse.Namespace(dsn=None))
    (tmp_path / ".pgflow").mkdir()
    write_dev_env("postgresql://dev@127.0.0.1:1/dev", tmp_path)
    assert dsn(argparse.Namespace(dsn=None)) == "postgresql://dev@127.0.0.1:1/dev"
    monkeypatch.setenv("DATABASE_URL", "postgresql://env@h/env")
    assert dsn(argparse.Namespace(dsn=None)) == "postgresql://env@h/env"
    assert dsn(argparse.Namespace(dsn="postgresql://flag@h/flag")) == "postgresql://flag@h/flag"
