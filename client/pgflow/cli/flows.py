"""Loading a Flow from user code: ``module:attribute`` or ``path/to/file.py:attribute``."""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pgflow.errors import PgflowError

if TYPE_CHECKING:
    from pgflow.dsl import Flow


def load_flow(spec: str) -> Flow:
    """Import ``module:attr`` (or ``path/file.py:attr``) and return the Flow it names. Without
    ``:attr`` the module must define exactly one Flow at top level."""
    from pgflow.dsl import Flow

    module_ref, _, attr = spec.partition(":")
    if not module_ref:
        raise PgflowError(f"bad flow reference {spec!r}: expected module:attribute, e.g. myapp.flows:greet")
    if module_ref.endswith(".py") or os.sep in module_ref or "/" in module_ref:
        path = Path(module_ref).resolve()
        if not path.is_file():
            raise PgflowError(f"no such file: {module_ref}")
        name = f"_pgflow_user_{path.stem}"
        mod_spec = importlib.util.spec_from_file_location(name, path)
        if mod_spec is None or mod_spec.loader is None:
            raise PgflowError(f"cannot import {module_ref}")
        module = importlib.util.module_from_spec(mod_spec)
        sys.modules[name] = module
        sys.path.insert(0, str(path.parent))  # sibling imports, as `python file.py` would allow
        try:
            mod_spec.loader.exec_module(module)
        except PgflowError:
            raise
        except Exception as exc:
            raise PgflowError(f"importing {module_ref} failed: {type(exc).__name__}: {exc}") from exc
    else:
        if "" not in sys.path and os.getcwd() not in sys.path:
            sys.path.insert(0, os.getcwd())  # like `python -m`: modules in the current directory
        try:
            module = importlib.import_module(module_ref)
        except ModuleNotFoundError as exc:
            if exc.name and module_ref.startswith(exc.name):
                raise PgflowError(f"cannot import module {module_ref!r}: no module named {exc.name!r}") from exc
            raise PgflowError(f"importing {module_ref} failed: {type(exc).__name__}: {exc}") from exc
        except PgflowError:
            raise
        except Exception as exc:
            raise PgflowError(f"importing {module_ref} failed: {type(exc).__name__}: {exc}") from exc
    if attr:
        obj: Any = module
        for part in attr.split("."):
            if not hasattr(obj, part):
                raise PgflowError(f"{module_ref} has no attribute {attr!r}")
            obj = getattr(obj, part)
    else:
        found = {k: v for k, v in vars(module).items() if isinstance(v, Flow)}
        if len(found) != 1:
            names = ", ".join(sorted(found)) or "none"
            raise PgflowError(
                f"{module_ref} defines {len(found)} flows ({names}): name one as {module_ref}:<attribute>"
            )
        obj = next(iter(found.values()))
    if not isinstance(obj, Flow):
        raise PgflowError(f"{spec} is a {type(obj).__name__}, not a pgflow.dsl.Flow")
    return obj
