"""``.pgflow/dev.env``: the one line ``DATABASE_URL=...`` that ``pgflow dev`` writes while it runs
and that the other commands read when run in the same directory without --dsn/DATABASE_URL."""

from __future__ import annotations

from pathlib import Path

DEV_DIR = ".pgflow"
"""The directory, under the current one, that holds the dev server's data and files."""
ENV_FILE = "dev.env"
"""The file in DEV_DIR with ``DATABASE_URL=...`` (shell and dotenv syntax)."""


def env_path(directory: Path | None = None) -> Path:
    return (directory or Path.cwd()) / DEV_DIR / ENV_FILE


def dev_env_url(directory: Path | None = None) -> str | None:
    """The ``DATABASE_URL`` of ``<directory or cwd>/.pgflow/dev.env``, or None without one."""
    try:
        text = env_path(directory).read_text(encoding="utf-8")
    except OSError:
        return None
    for line in text.splitlines():
        name, sep, value = line.strip().partition("=")
        if sep and name.strip() == "DATABASE_URL" and value.strip():
            return value.strip().strip("'\"")
    return None


def write_dev_env(url: str, directory: Path | None = None) -> Path:
    """Write ``DATABASE_URL=<url>`` (replacing the file atomically); return its path."""
    path = env_path(directory)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(f"DATABASE_URL={url}\n", encoding="utf-8")
    tmp.replace(path)
    return path


def remove_dev_env(directory: Path | None = None) -> None:
    env_path(directory).unlink(missing_ok=True)
