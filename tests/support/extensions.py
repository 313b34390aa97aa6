"""Makes an extension available on the test server for the duration of a block, by writing its
control file and install script into the server's extension directory (root is needed for that,
as for installing any extension; the suite runs as root in CI and on the dev machines). Files
that were already there are left alone, and the ones written are removed afterwards, so the rest
of the suite sees plain Debian PostgreSQL."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from pathlib import Path


def extension_dir() -> Path:
    sharedir = subprocess.run(["pg_config", "--sharedir"], capture_output=True, text=True, check=True).stdout
    return Path(sharedir.strip()) / "extension"


@contextlib.contextmanager
def offered_extension(name: str, version: str, script: str, comment: str) -> Iterator[bool]:
    """Yields True when this block wrote the files (False: the server already offers `name`)."""
    ext = extension_dir()
    control, install = ext / f"{name}.control", ext / f"{name}--{version}.sql"
    created = not control.exists()
    if created:
        install.write_text(script, encoding="utf-8")
        control.write_text(
            f"comment = '{comment}'\ndefault_version = '{version}'\nrelocatable = false\n"
            "superuser = false\ntrusted = true\n",
            encoding="utf-8",
        )
    try:
        yield created
    finally:
        if created:
            control.unlink(missing_ok=True)
            install.unlink(missing_ok=True)
